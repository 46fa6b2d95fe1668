package detector

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"
	"unsafe"

	"github.com/driftd/driftd/detector/celltest"
	"github.com/driftd/driftd/detector/sequential"
	"github.com/driftd/driftd/window"
)

// Group separates the features an event carries from its prediction
// outputs. Inference services often log them separately, so each group
// has its own window clock: an event without a prediction does not make
// the prediction "missing".
type Group uint8

// Groups.
const (
	GroupFeatures Group = iota
	GroupPrediction
	numGroups
)

// PredictionFeature is the feature name of a scalar prediction; object
// predictions become "prediction.<key>".
const PredictionFeature = "prediction"

// GroupOf returns the group of a feature name.
func GroupOf(name string) Group {
	if name == PredictionFeature || (len(name) > len(PredictionFeature) && name[:len(PredictionFeature)+1] == PredictionFeature+".") {
		return GroupPrediction
	}
	return GroupFeatures
}

// WindowConfig chooses count or event-time windows.
type WindowConfig struct {
	// Size and Hop: count windows of Size events advancing by Hop
	// (a pane closes, and the window is evaluated, every Hop events).
	Size int `env:"WINDOW_SIZE"`
	Hop  int `env:"WINDOW_HOP"`
	// Time, TimeHop, Lateness: event-time windows when Time > 0.
	Time     time.Duration `env:"WINDOW_TIME"`
	TimeHop  time.Duration `env:"WINDOW_TIME_HOP"`
	Lateness time.Duration `env:"WINDOW_LATENESS"`
	// MaxFuture bounds how far ahead of the watermark an event's time
	// may be (0: the window length T); later events are counted as
	// future and move nothing (see window.TimeClock.Future).
	MaxFuture time.Duration `env:"WINDOW_MAX_FUTURE"`
	// Stage is the monitor's role in two-stage mode (count windows only).
	Stage Stage `env:"-"`
}

// Stage is a monitor's role in two-stage mode, for models too hot for one
// partition: stage 1 turns events into panes, stage 2 merges the panes of
// a feature — from any number of stage-1 replicas — and runs the tests.
type Stage uint8

// Stages.
const (
	// StageSingle decodes, windows and tests in one place.
	StageSingle Stage = iota
	// StageEmit turns events into panes of Hop events (Output.Panes).
	StageEmit
	// StageMerge keeps windows of Size/Hop panes fed by ApplyPane.
	StageMerge
)

// DefaultWindow is 1000 events advancing by 125.
func DefaultWindow() WindowConfig { return WindowConfig{Size: 1000, Hop: 125} }

// WithDefaults fills the hops left at zero: an eighth of the window — for
// a count window, the divisor of Size nearest Size/8 (see DefaultHop).
func (c WindowConfig) WithDefaults() WindowConfig {
	if c.Time > 0 && c.TimeHop == 0 {
		c.TimeHop = c.Time / 8
	}
	if c.Time == 0 && c.Hop == 0 {
		c.Hop = DefaultHop(c.Size)
	}
	return c
}

// DefaultHop is the default hop of a count window of size events: size/8
// when 8 divides size, else the divisor of size nearest size/8 on a log
// scale (ties to the smaller hop, which evaluates more often): 50 → 5,
// 100 → 10, 1000 → 125, 997 (prime) → 997, a tumbling window. A hop must
// divide the size because the window is a ring of whole panes.
func DefaultHop(size int) int {
	if size <= 0 {
		return 1
	}
	if size%8 == 0 {
		return size / 8
	}
	target := math.Log(float64(size) / 8)
	best, bestDist := 1, math.Inf(1)
	for d := 1; d*d <= size; d++ {
		if size%d != 0 {
			continue
		}
		for _, h := range []int{d, size / d} {
			dist := math.Abs(math.Log(float64(h)) - target)
			if dist < bestDist || (dist == bestDist && h < best) {
				best, bestDist = h, dist
			}
		}
	}
	return best
}

// maxFuture is MaxFuture, or the window length when it is 0.
func (c WindowConfig) maxFuture() time.Duration {
	if c.MaxFuture > 0 {
		return c.MaxFuture
	}
	return c.Time
}

// TimeBased reports whether the windows are event-time windows.
func (c WindowConfig) TimeBased() bool { return c.Time > 0 }

// Validate checks the window settings.
func (c WindowConfig) Validate() error {
	if c.MaxFuture < 0 {
		return fmt.Errorf("window: max future must not be negative, got %s", c.MaxFuture)
	}
	if c.Stage != StageSingle && c.TimeBased() {
		return errors.New("two-stage mode works on count windows; unset the event-time window")
	}
	if c.TimeBased() {
		return window.ValidateTime(c.Time.Milliseconds(), c.TimeHop.Milliseconds(), c.Lateness.Milliseconds())
	}
	return window.ValidateCount(c.Size, c.Hop)
}

func (c WindowConfig) info() WindowInfo {
	if c.TimeBased() {
		return WindowInfo{Kind: "time", Size: c.Time.Milliseconds(), Hop: c.TimeHop.Milliseconds()}
	}
	return WindowInfo{Kind: "count", Size: int64(c.Size), Hop: int64(c.Hop)}
}

// Evaluation is the outcome of evaluating one feature window.
type Evaluation struct {
	Model, Version, Feature string
	Kind                    Kind
	Number                  uint64 // evaluations of this feature so far
	Window                  WindowInfo
	Mean, StdDev            float64 // window moments of the valid values
	Results                 []Result
}

// Output collects what a batch of events produced. The caller resets it;
// the Results of its Evaluations live in chunks the Output reuses after a
// Reset, so evaluating allocates nothing once the chunks have grown.
type Output struct {
	Evaluations []Evaluation
	Alerts      []Alert
	Panes       []PaneRecord // stage 1 of two-stage mode

	chunks     [][]Result
	chunk, pos int
}

// results returns an empty slice with room for n results, valid until the
// next Reset.
func (o *Output) results(n int) []Result {
	for o.chunk < len(o.chunks) && o.pos+n > len(o.chunks[o.chunk]) {
		o.chunk++
		o.pos = 0
	}
	if o.chunk == len(o.chunks) {
		o.chunks = append(o.chunks, make([]Result, max(512, n)))
		o.pos = 0
	}
	s := o.chunks[o.chunk][o.pos : o.pos : o.pos+n]
	o.pos += n
	return s
}

// Reset empties the output, keeping its memory.
func (o *Output) Reset() {
	clear(o.Evaluations)
	o.Evaluations = o.Evaluations[:0]
	clear(o.Alerts)
	o.Alerts = o.Alerts[:0]
	clear(o.Panes)
	o.Panes = o.Panes[:0]
	o.chunk, o.pos = 0, 0
}

// Monitor runs driftd's detection for one model version: it routes event
// values to per-feature windows, evaluates them when a pane closes, and
// turns results into alerts through the alarm policy. It does no I/O and
// takes event times as parameters. It is not safe for concurrent use.
//
// Per event the caller calls Begin, Value for each feature, then End.
type Monitor struct {
	ref      *Reference
	policy   Policy
	cfg      WindowConfig
	features []*featureState
	byName   map[string]int
	groups   [numGroups]*groupState
	tests    int // enabled tests over all features: the Bonferroni divisor
	crit     *critTable

	mv           *multivariateState // nil without a PCA in the reference
	segs         *segmentState      // per-segment monitors, nil without segments
	segment      string             // the segment of a per-segment monitor
	budgetSplit  float64            // the share of the false-alarm budget is 1/budgetSplit (0: 1)
	dataset      AlarmState
	datasetShare float64
	dirty        bool // events since the last checkpoint

	// event in progress
	cur     *groupState
	curSeq  uint64
	curPane int64
	active  bool
	due     []int
	scr     []byte
	// paneCells is the scratch for a closed pane's cells (sumPane,
	// sumCounts).
	paneCells paneScratch

	// counters for metrics
	observed        uint64
	unexpected      uint64
	unexpectedNames map[string]struct{}
	duplicates      uint64
}

type groupState struct {
	group    Group
	features []int
	order    []int // position in the event → feature index, learnt
	seq      uint64
	// resume: events at input offsets below resumeOffset were already
	// applied before the checkpoint this group was restored from.
	resumeOffset int64

	clock     *window.TimeClock
	late      uint64
	future    uint64
	paneTimes []timeRange // count windows: event-time range of each closed pane
	closed    uint64
	curTimes  timeRange
}

type timeRange struct{ Min, Max int64 }

func (t *timeRange) add(ms int64) {
	if t.Min == 0 && t.Max == 0 {
		t.Min, t.Max = ms, ms
		return
	}
	t.Min, t.Max = min(t.Min, ms), max(t.Max, ms)
}

type featureState struct {
	name   string
	group  Group
	c      *compiled
	policy Policy
	cw     *window.CountWindow
	tw     *window.TimeWindow
	pw     *window.PaneWindow // stage 2
	merge  *mergeState        // stage 2
	stamp  uint64             // group seq of the last event that set this feature
	skip   uint64             // restored ahead of its group: ignore events with seq ≤ skip
	alarms []AlarmState
	evals  uint64
	cusum  sequential.State // the cusum test's running sums (see cusum.go)
	// The mean and scale score sums of the closed panes, a ring like the
	// window's, and of the window (see panescores.go).
	panes []celltest.PairSum
	sums  celltest.PairSum
	// lifetime counts
	values, missing, invalid uint64

	// For views (see View, Detail, TakeMarks): the last evaluation's
	// results, window and moments; per test the worst result since the
	// marks were last taken; recent values outside a categorical
	// reference's top categories.
	last     []Result
	lastInfo WindowInfo
	lastMean float64
	lastSD   float64
	marks    []Mark
	unseen   *unseenSketch
	mvInput  int // position among the PCA inputs, or -1
}

// NewMonitor returns a monitor for ref with the given policies and window
// configuration (hops left at 0 take their defaults, see WithDefaults).
// policies may be nil for the defaults.
func NewMonitor(ref *Reference, policies *Policies, cfg WindowConfig) (*Monitor, error) {
	if err := ref.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := &Monitor{
		ref:             ref,
		policy:          policies.Model(ref.Model, ref.Version),
		cfg:             cfg,
		byName:          make(map[string]int, len(ref.Features)),
		unexpectedNames: map[string]struct{}{},
		crit:            newCritTable(),
	}
	m.crit.direct = cfg.TimeBased()
	for g := range m.groups {
		gs := &groupState{group: Group(g), resumeOffset: math.MinInt64}
		if cfg.TimeBased() {
			gs.clock, _ = window.NewTimeClock(cfg.Time.Milliseconds(), cfg.TimeHop.Milliseconds(), cfg.Lateness.Milliseconds())
			gs.clock.SetMaxFuture(cfg.maxFuture().Milliseconds())
		} else {
			gs.paneTimes = make([]timeRange, cfg.Size/cfg.Hop)
		}
		m.groups[g] = gs
	}
	for i, fr := range ref.Features {
		c, err := compile(fr)
		if err != nil {
			return nil, err
		}
		c.crit = m.crit
		f := &featureState{name: fr.Name, group: GroupOf(fr.Name), c: c, policy: policies.Feature(ref.Model, ref.Version, fr.Name), mvInput: -1}
		f.alarms = make([]AlarmState, len(c.tests))
		f.last = make([]Result, 0, len(c.tests))
		f.marks = make([]Mark, len(c.tests))
		if c.cats != nil {
			f.unseen = &unseenSketch{}
		}
		switch {
		case cfg.TimeBased():
			f.tw, err = window.NewTimeWindow(c.layout, m.groups[f.group].clock)
			f.panes = newTimePaneScores(c, m.groups[f.group].clock.Panes())
		case cfg.Stage == StageEmit:
			f.cw, err = window.NewCountWindow(c.layout, cfg.Hop, cfg.Hop) // one pane
		case cfg.Stage == StageMerge:
			f.pw, err = window.NewPaneWindow(c.layout, cfg.Size/cfg.Hop)
			f.merge = newMergeState(cfg.Size / cfg.Hop)
			f.panes = newPaneScores(c, cfg.Size/cfg.Hop)
		default:
			f.cw, err = window.NewCountWindow(c.layout, cfg.Size, cfg.Hop)
			f.panes = newPaneScores(c, cfg.Size/cfg.Hop)
		}
		if err != nil {
			return nil, fmt.Errorf("feature %q: %w", fr.Name, err)
		}
		// The cusum test runs on count windows with panes of at least
		// MinCUSUMPane events; like the other tests it counts in the
		// Bonferroni divisor wherever it is enabled, also on features
		// where it cannot apply (a constant).
		cusumWindows := !cfg.TimeBased() && cfg.Stage != StageEmit && cfg.Hop >= MinCUSUMPane
		if cusumWindows && f.policy.Enabled(TestCUSUM) {
			c.cusum = newCUSUMNull(c, cfg.Hop, f.policy.CUSUMShift)
		}
		for _, t := range c.tests {
			if f.policy.Enabled(t) && (t != TestCUSUM || cusumWindows) {
				m.tests++
			}
		}
		m.features = append(m.features, f)
		m.byName[fr.Name] = i
		gs := m.groups[f.group]
		gs.features = append(gs.features, i)
	}
	if ref.Multivariate != nil {
		m.newMultivariateState(ref.Multivariate)
	}
	return m, nil
}

// Reference returns the monitor's reference.
func (m *Monitor) Reference() *Reference { return m.ref }

// Window returns the window configuration.
func (m *Monitor) Window() WindowConfig { return m.cfg }

// Alpha is the per-test p-value threshold for an evaluation that covers
// hopEvents new events: hopEvents/(ERT·tests), capped at 0.01; halved
// with segments (see EnableSegments).
func (m *Monitor) Alpha(hopEvents float64) float64 {
	a := math.Max(1, hopEvents) / (m.policy.ERT * float64(max(m.tests, 1)) * math.Max(1, m.budgetSplit))
	return math.Min(a, 0.01)
}

// Begin starts an event of group g with event time eventMS (Unix
// milliseconds) read at input offset (use a running counter when there is
// no offset). It reports false when the event must be skipped: already
// applied before the checkpoint the monitor was restored from, or late
// for an event-time window (counted). Skipped events need no Value or End.
func (m *Monitor) Begin(g Group, eventMS int64, offset int64, out *Output) bool {
	gs := m.groups[g]
	if offset < gs.resumeOffset {
		return false
	}
	if gs.clock != nil {
		if gs.clock.Future(eventMS) {
			gs.future++
			m.dirty = true
			return false
		}
		pane, late := gs.clock.Observe(eventMS)
		if late {
			gs.late++
			m.dirty = true
			return false
		}
		m.closeDuePanes(gs, out)
		m.curPane = pane
	} else {
		gs.curTimes.add(eventMS)
	}
	gs.seq++
	m.cur, m.curSeq, m.active = gs, gs.seq, true
	m.dirty = true
	return true
}

// Value sets feature name, found at position pos among the event's
// values, to v. A name not in the reference counts as unexpected (a
// schema change); a name given twice keeps the first value.
func (m *Monitor) Value(pos int, name []byte, v Value) {
	gs := m.cur
	idx := m.lookup(gs, pos, name)
	if idx < 0 || (m.mv != nil && idx == m.mv.derived) { // the derived feature is never an input
		m.unexpected++
		if len(m.unexpectedNames) < 64 && len(name) <= MaxNameLen {
			if _, seen := m.unexpectedNames[string(name)]; !seen { // the lookup does not allocate
				m.unexpectedNames[string(name)] = struct{}{}
			}
		}
		return
	}
	f := m.features[idx]
	if f.stamp == m.curSeq {
		m.duplicates++
		return
	}
	f.stamp = m.curSeq
	if f.mvInput >= 0 {
		m.mv.setInput(f.mvInput, v)
	}
	if m.curSeq <= f.skip {
		return
	}
	m.apply(idx, f, v)
}

// lookup finds the feature of a name. Producers send features in a stable
// order, so the index at each position is learnt and checked with one
// string comparison before falling back to the map.
func (m *Monitor) lookup(gs *groupState, pos int, name []byte) int {
	if pos < len(gs.order) {
		if idx := gs.order[pos]; idx >= 0 && m.features[idx].name == unsafe.String(unsafe.SliceData(name), len(name)) {
			return idx
		}
	}
	idx, ok := m.byName[string(name)]
	if !ok || m.features[idx].group != gs.group {
		return -1
	}
	if pos < 4*len(m.features)+8 {
		for len(gs.order) <= pos {
			gs.order = append(gs.order, -1)
		}
		gs.order[pos] = idx
	}
	return idx
}

func (m *Monitor) apply(idx int, f *featureState, v Value) {
	c := f.c
	l := c.layout
	cell := l.Invalid()
	var x float64
	numeric := false
	switch v.Kind {
	case Null:
		cell = l.Missing()
		f.missing++
	case Number:
		x = v.Num
		if !v.Parsed {
			var err error
			x, err = strconv.ParseFloat(unsafe.String(unsafe.SliceData(v.Text), len(v.Text)), 64)
			if err != nil && !math.IsInf(x, 0) {
				break // not a number at all
			}
		}
		if c.cats != nil {
			m.scr = AppendCategoryNumber(m.scr[:0], x)
			cell = c.category(m.scr)
			if cell == c.otherCell() {
				f.unseen.add(m.scr)
			}
		} else if !math.IsNaN(x) && !math.IsInf(x, 0) {
			numeric = true
			if c.breaks != nil {
				cell = c.breaks.Cell(x)
			} else {
				cell = 0
			}
		}
	case String, Bool:
		if c.cats != nil {
			cell = c.category(v.Text)
			if cell == c.otherCell() {
				f.unseen.add(v.Text)
			}
		}
	}
	if cell == l.Invalid() {
		f.invalid++
	} else if cell != l.Missing() {
		f.values++
	}
	if f.cw != nil {
		var closed bool
		if numeric {
			closed = f.cw.Add(cell, x-c.centre)
		} else {
			closed = f.cw.AddCell(cell)
		}
		if closed {
			m.due = append(m.due, idx)
		}
		return
	}
	if numeric {
		f.tw.Add(m.curPane, cell, x-c.centre)
	} else {
		f.tw.AddCell(m.curPane, cell)
	}
}

func (c *compiled) category(text []byte) int {
	if i, ok := c.cats[string(text)]; ok {
		return i
	}
	return c.otherCell()
}

// End finishes the event: features of the group the event did not carry
// are missing; windows whose pane closed are evaluated and their results
// and alerts appended to out.
func (m *Monitor) End(out *Output) {
	if !m.active {
		return
	}
	gs := m.cur
	if m.mv != nil && gs.group == GroupFeatures {
		// The reconstruction error of the event's numeric features is
		// the derived feature's value (the projection resets its inputs).
		f := m.features[m.mv.derived]
		f.stamp = m.curSeq
		x := m.mv.proj.error()
		if m.curSeq > f.skip {
			m.apply(m.mv.derived, f, Value{Kind: Number, Num: x, Parsed: true})
		}
	}
	for _, idx := range gs.features {
		f := m.features[idx]
		if f.stamp != m.curSeq {
			f.stamp = m.curSeq
			if m.curSeq > f.skip {
				m.apply(idx, f, Value{Kind: Null})
			}
		}
	}
	m.active = false
	if gs.clock != nil {
		return // time windows evaluate when the watermark closes panes
	}
	if gs.seq%uint64(m.cfg.Hop) == 0 {
		gs.paneTimes[gs.closed%uint64(len(gs.paneTimes))] = gs.curTimes
		gs.closed++
		gs.curTimes = timeRange{}
	}
	if len(m.due) == 0 {
		return
	}
	info := m.countWindowInfo(gs)
	if m.cfg.Stage == StageEmit {
		m.emitPanes(gs, info, out)
		return
	}
	for _, idx := range m.due {
		f := m.features[idx]
		s := f.countSnapshot(&m.paneCells)
		if f.c.cusum != nil {
			f.stepCUSUM(f.cw.Closed() - 1)
			s.CUSUM = &f.cusum
		}
		m.evaluate(f, s, info, float64(m.cfg.Hop), out)
	}
	m.due = m.due[:0]
	m.updateDataset(gs.seq, info, out)
}

func (m *Monitor) countWindowInfo(gs *groupState) WindowInfo {
	info := m.cfg.info()
	info.LastSeq = gs.seq
	panes := min(gs.closed, uint64(len(gs.paneTimes)))
	var tr timeRange
	for i := gs.closed - panes; i < gs.closed; i++ {
		p := gs.paneTimes[i%uint64(len(gs.paneTimes))]
		if p == (timeRange{}) {
			continue
		}
		if tr == (timeRange{}) {
			tr = p
		}
		tr.Min, tr.Max = min(tr.Min, p.Min), max(tr.Max, p.Max)
	}
	info.Start, info.End = time.UnixMilli(tr.Min).UTC(), time.UnixMilli(tr.Max).UTC()
	return info
}

// closeDuePanes closes the panes the watermark has passed, evaluating
// every feature of the group after each.
func (m *Monitor) closeDuePanes(gs *groupState, out *Output) {
	for {
		pane, ok := gs.clock.Due()
		if !ok {
			return
		}
		gs.clock.Advance()
		info := m.cfg.info()
		info.LastSeq = gs.seq
		info.Start = time.UnixMilli(gs.clock.PaneStart(pane - int64(gs.clock.Panes()) + 1)).UTC()
		info.End = time.UnixMilli(gs.clock.PaneStart(pane+1) - 1).UTC()
		evaluated := false
		for _, idx := range gs.features {
			f := m.features[idx]
			if !f.tw.Close(pane) {
				continue
			}
			evaluated = true
			m.evaluate(f, f.timeSnapshot(&m.paneCells), info, m.paneEvents(f), out)
		}
		if evaluated {
			m.updateDataset(gs.seq, info, out)
		}
	}
}

// paneEvents estimates the events per pane of a time window for the
// threshold: the window's events divided by its panes.
func (m *Monitor) paneEvents(f *featureState) float64 {
	return float64(f.tw.N()) / float64(m.cfg.Time/m.cfg.TimeHop)
}

func (m *Monitor) evaluate(f *featureState, s Snapshot, info WindowInfo, hopEvents float64, out *Output) {
	n := s.total()
	if n < int64(f.policy.MinEvents) {
		return
	}
	f.evals++
	l := f.c.layout
	info.N = n
	info.Missing = s.count(l.Missing())
	info.Invalid = s.count(l.Invalid())
	info.FirstSeq = info.LastSeq - uint64(n) + 1
	if info.LastSeq < uint64(n) {
		info.FirstSeq = 1
	}
	alpha := m.Alpha(hopEvents)
	results := f.c.evaluate(s, &f.policy, alpha, out.results(len(f.c.tests)))
	for i := range results {
		r := &results[i]
		// JSON has no NaN or ±Inf: an undefined result (see
		// Result.Undefined) reports p = 1 with its reason; a legitimate
		// infinity (a shift against a constant reference) ±MaxFloat64.
		if r.Undefined != "" {
			r.PValue = 1
		}
		r.Statistic = finiteOr(r.Statistic, 0)
		r.Effect = finiteOr(r.Effect, 0)
		r.PValue = finiteOr(r.PValue, 1)
		r.DF = finiteOr(r.DF, 0)
		r.PSI = finiteOr(r.PSI, 0)
		r.Reference = finiteOr(r.Reference, 0)
		r.Critical = finiteOr(r.Critical, 0)
		ti := f.testIndex(r.Test)
		a := &f.alarms[ti]
		drifting := r.Drifting
		if a.Firing {
			drifting = r.Holding
		}
		k := f.policy.Hysteresis
		switch {
		case a.Firing:
			k = f.policy.ResolveHysteresis
		case r.Test == TestCUSUM:
			// The CUSUM has accumulated its evidence over the panes
			// already: it fires on its first crossing (h is set for
			// that), not after Hysteresis more.
			k = 1
		}
		changed := a.Step(drifting, r.Severe, k, info.LastSeq)
		if changed && !a.Firing && r.Test == TestCUSUM {
			f.cusum.Reset() // resolved: start afresh
		}
		r.Firing = a.Firing
		f.marks[ti].observe(r)
		previous := a.Effect
		update := !changed && a.grown(r, f.policy.UpdateFactor, f.policy.Hysteresis)
		if !changed && !update {
			continue
		}
		// The alert carries the exact tail (see compiled.tailResult).
		f.c.exactPValue(r)
		status := Resolved
		if a.Firing {
			status = Firing
			a.published(r, update)
		}
		al := Alert{
			Schema: AlertSchema, Status: status,
			Model: m.ref.Model, Version: m.ref.Version, Feature: f.name, Test: r.Test,
			Statistic: r.Statistic, PValue: r.PValue, Effect: r.Effect,
			Threshold: r.Threshold, EffectThreshold: r.EffectThreshold, Severe: r.Severe && status == Firing,
			Window: info, ReferenceID: m.ref.ID, Evaluation: f.evals,
			Evidence: f.explain(r.Test, s),
		}
		if update {
			al.Update, al.PreviousEffect = a.Updates, previous
		}
		m.stampAlert(&al, info.LastSeq)
		al.Summary = summary(&al)
		out.Alerts = append(out.Alerts, al)
	}
	mom := finiteMoments(s.absMoments())
	f.last = append(f.last[:0], results...)
	f.lastInfo, f.lastMean, f.lastSD = info, mom.Mean, mom.StdDev()
	if f.unseen != nil {
		f.unseen.decay()
	}
	out.Evaluations = append(out.Evaluations, Evaluation{
		Model: m.ref.Model, Version: m.ref.Version, Feature: f.name, Kind: f.c.ref.Kind,
		Number: f.evals, Window: info, Mean: mom.Mean, StdDev: mom.StdDev(), Results: results,
	})
}

func (f *featureState) testIndex(t Test) int {
	for i, x := range f.c.tests {
		if x == t {
			return i
		}
	}
	return 0
}

// firing reports whether the feature has at least one firing alert.
func (f *featureState) firing() bool {
	for _, a := range f.alarms {
		if a.Firing {
			return true
		}
	}
	return false
}

func (m *Monitor) updateDataset(seq uint64, info WindowInfo, out *Output) {
	n := 0
	for _, f := range m.features {
		if f.firing() {
			n++
		}
	}
	share := float64(n) / float64(len(m.features))
	m.datasetShare = share
	want := share >= m.policy.DatasetDriftShare
	if want == m.dataset.Firing {
		return
	}
	m.dataset = AlarmState{Firing: want, Since: seq}
	status := Resolved
	if want {
		status = Firing
	}
	info.N, info.Missing, info.Invalid = 0, 0, 0
	drifting := make([]string, 0, n)
	for _, f := range m.features {
		if f.firing() {
			drifting = append(drifting, f.name)
		}
	}
	al := Alert{
		Schema: AlertSchema, Status: status,
		Model: m.ref.Model, Version: m.ref.Version, Feature: DatasetFeature, Test: TestDataset,
		Statistic: share, Effect: share, EffectThreshold: m.policy.DatasetDriftShare, PValue: 1,
		Window: info, ReferenceID: m.ref.ID,
		Dataset: &DatasetInfo{Share: share, Drifting: drifting, Features: len(m.features), Threshold: m.policy.DatasetDriftShare},
	}
	if want {
		al.PValue = 0
	}
	m.stampAlert(&al, seq)
	al.Summary = summary(&al)
	out.Alerts = append(out.Alerts, al)
}

// CountEvent counts one event routed to the monitor (whatever its
// groups), for metrics.
func (m *Monitor) CountEvent() { m.observed++ }

// PaneDue reports whether the next event may close a pane: for count
// windows when a group is one event short of a hop, for time windows when
// an event at eventMS would move the watermark past an open pane. It is a
// cheap hint for timing evaluations, not part of the detection.
func (m *Monitor) PaneDue(eventMS int64) bool {
	for _, gs := range m.groups {
		if gs.clock == nil {
			if len(gs.features) > 0 && (gs.seq+1)%uint64(m.cfg.Hop) == 0 {
				return true
			}
			continue
		}
		st := gs.clock.State()
		if st.Started && (st.Next+1)*m.cfg.TimeHop.Milliseconds() <= max(st.MaxTime, eventMS)-m.cfg.Lateness.Milliseconds() {
			return true
		}
	}
	return false
}

// FeatureStats are a feature's lifetime counts and current state, for
// metrics.
type FeatureStats struct {
	Name                     string
	Values, Missing, Invalid uint64
	Firing                   []Test
}

// ModelStats are a monitor's counts and state, for metrics.
type ModelStats struct {
	Observed         uint64 // events routed to the monitor
	Events           [numGroups]uint64
	Late             uint64
	Future           uint64 // event time too far ahead of the watermark
	Unexpected       uint64
	UnexpectedNames  []string
	DuplicateValues  uint64
	DatasetShare     float64
	DatasetDrifting  bool
	Features         []FeatureStats
	WindowBytesTotal int
	// Segments is the number of per-segment monitors ("other"
	// included); SegmentOverflow counts the events sent to "other"
	// because the cap was reached; SegmentFiring is the firing alerts
	// per segment.
	Segments        int
	SegmentOverflow uint64
	SegmentFiring   map[string]int
}

// Stats returns the monitor's counts and state.
func (m *Monitor) Stats() ModelStats {
	s := ModelStats{
		Observed: m.observed, Unexpected: m.unexpected, DuplicateValues: m.duplicates,
		DatasetShare: m.datasetShare, DatasetDrifting: m.dataset.Firing,
	}
	for g, gs := range m.groups {
		s.Events[g] = gs.seq
		s.Late += gs.late
		s.Future += gs.future
	}
	for name := range m.unexpectedNames {
		s.UnexpectedNames = append(s.UnexpectedNames, name)
	}
	for _, f := range m.features {
		fs := FeatureStats{Name: f.name, Values: f.values, Missing: f.missing, Invalid: f.invalid}
		for i, a := range f.alarms {
			if a.Firing {
				fs.Firing = append(fs.Firing, f.c.tests[i])
			}
		}
		s.Features = append(s.Features, fs)
		if f.cw != nil {
			s.WindowBytesTotal += f.cw.SizeBytes()
		}
	}
	if m.segs != nil {
		s.Segments, s.SegmentOverflow = len(m.segs.monitors), m.segs.overflow
		s.SegmentFiring = make(map[string]int, len(m.segs.monitors))
		for name, sm := range m.segs.monitors {
			n := 0
			for _, f := range sm.features {
				for _, a := range f.alarms {
					if a.Firing {
						n++
					}
				}
			}
			s.SegmentFiring[name] = n
			for _, f := range sm.features {
				if f.cw != nil {
					s.WindowBytesTotal += f.cw.SizeBytes()
				}
			}
		}
	}
	return s
}

// Retire resolves every firing alert of the monitor and of its segments,
// which are being replaced (the reference changed or was removed). The
// resolved alerts say why in their summary.
func (m *Monitor) Retire(out *Output) {
	m.resolveAll(out, "", "because reference "+m.ref.ID+" was replaced or removed")
}

// ResolveStale resolves every firing alert of the monitor (and of its
// segments) because its model version sent no events for silence: the
// alerts carry reason ReasonStale. The windows are kept; the alarms start
// again from "not firing" when events come back. It reports whether
// anything resolved.
func (m *Monitor) ResolveStale(out *Output, silence time.Duration) bool {
	n := len(out.Alerts)
	m.resolveAll(out, ReasonStale, "because the model version sent no events for "+silence.String()+" (stale)")
	if len(out.Alerts) > n {
		m.dirty = true // the next checkpoint keeps the alarms resolved
		return true
	}
	return false
}

func (m *Monitor) resolveAll(out *Output, reason, why string) {
	if m.segs != nil {
		for _, name := range append(slices.Clone(m.segs.order), OtherSegment) {
			if sm := m.segs.monitors[name]; sm != nil {
				sm.resolveAll(out, reason, why)
			}
		}
	}
	for _, f := range m.features {
		for i := range f.alarms {
			a := &f.alarms[i]
			if !a.Firing {
				continue
			}
			gs := m.groups[f.group]
			*a = AlarmState{Since: gs.seq}
			if f.c.tests[i] == TestCUSUM {
				f.cusum.Reset()
			}
			al := Alert{
				Schema: AlertSchema, Status: Resolved,
				Model: m.ref.Model, Version: m.ref.Version, Feature: f.name, Test: f.c.tests[i],
				PValue: 1, Window: WindowInfo{Kind: m.cfg.info().Kind, LastSeq: gs.seq},
				ReferenceID: m.ref.ID, Evaluation: f.evals,
			}
			m.stampAlert(&al, gs.seq)
			al.Summary = fmt.Sprintf("%s %s %s: resolved %s", al.where(), al.Feature, al.Test, why)
			al.Reason = reason
			out.Alerts = append(out.Alerts, al)
		}
	}
	if m.dataset.Firing {
		seq := m.groups[GroupFeatures].seq
		m.dataset = AlarmState{Since: seq}
		al := Alert{
			Schema: AlertSchema, Status: Resolved, Model: m.ref.Model, Version: m.ref.Version,
			Feature: DatasetFeature, Test: TestDataset, PValue: 1, ReferenceID: m.ref.ID,
			Window: WindowInfo{Kind: m.cfg.info().Kind, LastSeq: seq},
		}
		m.stampAlert(&al, seq)
		al.Summary = fmt.Sprintf("%s: dataset drift resolved %s", al.where(), why)
		al.Reason = reason
		m.datasetShare = 0
		out.Alerts = append(out.Alerts, al)
	}
}

// stampAlert sets an alert's segment and its ID.
func (m *Monitor) stampAlert(al *Alert, seq uint64) {
	al.Segment = m.segment
	al.ID = alertID(al.Model, al.Version, al.Feature, al.Test, al.Status, al.ReferenceID, seq)
	if al.Segment != "" {
		al.ID = alertID(al.Model, al.Version, al.Feature+"\x00"+al.Segment, al.Test, al.Status, al.ReferenceID, seq)
	}
}
