package web

import (
	"cmp"
	"context"
	"math"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/driftd/driftd/detector"
	"github.com/driftd/driftd/stream"
)

// Bounds of what a Store keeps.
const (
	// DetailCells bounds the window cells copied at every snapshot for
	// all features together (8 MiB); past it only the features that fire
	// or were looked at in the last WatchFor have their cells copied.
	DetailCells = 1 << 21
	// MaxWatched bounds the features looked at that keep their cells
	// copied.
	MaxWatched = 256
	// WatchFor is how long a feature page keeps its feature's cells
	// copied after it was requested.
	WatchFor = 10 * time.Minute
	// MaxAlerts is the alerts kept per model version.
	MaxAlerts = 200
	// ModelGone is how long a model version no longer monitored (its
	// partitions moved, its reference was removed) stays in the view.
	ModelGone = 10 * time.Minute
)

// Snapshot is an immutable copy of everything the view shows.
type Snapshot struct {
	Taken  time.Time `json:"taken"`
	Models []*Model  `json:"models"`
}

// Model is one model version in a snapshot.
type Model struct {
	Model            string              `json:"model"`
	Version          string              `json:"version"`
	ReferenceID      string              `json:"reference_id"`
	Status           string              `json:"status"` // drift, alert, ok, warming, gone
	Firing           int                 `json:"firing_alerts"`
	FeatureCount     int                 `json:"feature_count"`
	DriftShare       float64             `json:"drift_share"`
	DatasetFiring    bool                `json:"dataset_firing"`
	DatasetThreshold float64             `json:"dataset_threshold"`
	Events           uint64              `json:"events"`
	Unexpected       uint64              `json:"unexpected_values,omitempty"`
	UnexpectedNames  []string            `json:"unexpected_names,omitempty"`
	Partitions       []string            `json:"partitions"`
	Window           detector.WindowInfo `json:"window"`
	LastAlert        *AlertEntry         `json:"last_alert,omitempty"`
	Features         []*Feature          `json:"features"` // ranked: firing first, then by score
	Reference        *detector.Reference `json:"-"`
	Alerts           []AlertEntry        `json:"-"` // newest first
	History          []HistoryTime       `json:"-"`
	Policy           detector.Policy     `json:"-"`
	Seen             time.Time           `json:"-"`
	byName           map[string]*Feature
}

// Feature is one feature of a model version in a snapshot.
type Feature struct {
	Name  string        `json:"name"`
	Kind  detector.Kind `json:"kind"`
	Rank  int           `json:"rank"`
	Score float64       `json:"score"` // largest effect/gate over the tests of the last evaluation
	// State is firing (an alert fires), drifting (a result is drifting,
	// not yet firing), ok, or warming (not evaluated yet).
	State       string              `json:"state"`
	Evaluations uint64              `json:"evaluations"`
	Window      detector.WindowInfo `json:"window"`
	Mean        float64             `json:"mean"`
	StdDev      float64             `json:"stddev"`
	Tests       []TestState         `json:"tests"`
	Values      uint64              `json:"values_total"`
	Missing     uint64              `json:"missing_total"`
	Invalid     uint64              `json:"invalid_total"`
	// Internal: the reference, history points (ticks × tests) and the
	// window detail, when copied.
	Ref      *detector.FeatureRef    `json:"-"`
	History  []Point                 `json:"-"`
	Detail   *detector.FeatureDetail `json:"-"`
	DetailAt time.Time               `json:"-"`
}

// TestState is one test of a feature: its alert state and last result.
type TestState struct {
	Test    detector.Test    `json:"test"`
	Firing  bool             `json:"firing"`
	Since   uint64           `json:"since,omitempty"` // event sequence of the last transition
	Updates int              `json:"updates,omitempty"`
	Gate    float64          `json:"effect_threshold"`
	Last    *detector.Result `json:"last,omitempty"` // nil: did not run at the last evaluation
}

// Point is one history point of one test: the worst evaluation since the
// previous point (largest effect relative to the gate).
type Point struct {
	Statistic, PValue, Effect float32
	Flags                     uint8
}

// Point flags.
const (
	PointEvaluated uint8 = 1 << iota
	PointDrifting
	PointFiring
)

// HistoryTime is when a history point was taken: the wall clock (live) or
// the window's last event time (report), and the model's event sequence.
type HistoryTime struct {
	At  time.Time `json:"at"`
	Seq uint64    `json:"seq"`
}

// AlertEntry is a published alert as the view keeps it.
type AlertEntry struct {
	Received time.Time `json:"received"`
	detector.Alert
}

type modelKey struct{ model, version string }

type featureKey struct {
	modelKey
	feature string
}

// Store keeps what the view shows. The pipeline feeds it (Sync,
// AlertsPublished, from one goroutine); readers call Snapshot, which
// never blocks and never waits for the pipeline.
type Store struct {
	cfg Config
	cur atomic.Pointer[published]

	mu     sync.Mutex // guards wanted; the pipeline only TryLocks it
	wanted map[featureKey]time.Time

	// pipeline-owned
	models   map[modelKey]*modelState
	lastSnap time.Time
	lastHist time.Time
	dirty    bool // alerts arrived since the last snapshot
	watched  map[featureKey]time.Time
	// Report mode: a point per Sync call, halving the resolution when
	// the history is full, so the whole input fits.
	decimate bool
	stride   int
	calls    int
}

type published struct {
	snap *Snapshot
	done chan struct{} // closed when a newer snapshot is published
}

type modelState struct {
	refID    string
	times    []HistoryTime
	features map[string]*featureHist
	alerts   []AlertEntry // oldest first
	seen     time.Time
	last     *Model
}

type featureHist struct {
	points   []Point // ticks × tests, immutable once published
	tests    int
	detail   *detector.FeatureDetail
	detailAt time.Time
}

// NewStore returns an empty store.
func NewStore(cfg Config) *Store {
	s := &Store{cfg: cfg, models: map[modelKey]*modelState{}, wanted: map[featureKey]time.Time{}, watched: map[featureKey]time.Time{}, stride: 1}
	s.cur.Store(&published{snap: &Snapshot{}, done: make(chan struct{})})
	return s
}

// NewReportStore returns a store for an offline run: every Sync call is a
// history point until the history is full, then pairs of points merge
// (keeping the worse), so the history always spans the whole input.
func NewReportStore(points int) *Store {
	s := NewStore(Config{History: points, HistoryInterval: time.Nanosecond, SnapshotInterval: time.Nanosecond})
	s.decimate = true
	return s
}

// Config returns the store's configuration.
func (s *Store) Config() Config { return s.cfg }

// Snapshot returns the current snapshot. It never blocks.
func (s *Store) Snapshot() *Snapshot { return s.cur.Load().snap }

// want asks the pipeline to copy a feature's window at its next sync.
func (s *Store) want(k featureKey) {
	s.mu.Lock()
	if len(s.wanted) < MaxWatched {
		s.wanted[k] = time.Now()
	}
	s.mu.Unlock()
}

// waitDetail returns the feature with its window detail, asking for it
// and waiting for the next snapshot (at most wait) when it has none.
func (s *Store) waitDetail(ctx context.Context, k featureKey, wait time.Duration) (*Model, *Feature) {
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	asked := false
	for {
		p := s.cur.Load()
		m, f := p.snap.find(k)
		if f == nil || f.Detail != nil {
			return m, f
		}
		if !asked {
			s.want(k)
			asked = true
		}
		select {
		case <-p.done:
		case <-deadline.C:
			return m, f
		case <-ctx.Done():
			return m, f
		}
	}
}

func (sn *Snapshot) model(k modelKey) *Model {
	for _, m := range sn.Models {
		if m.Model == k.model && m.Version == k.version {
			return m
		}
	}
	return nil
}

func (sn *Snapshot) find(k featureKey) (*Model, *Feature) {
	m := sn.model(k.modelKey)
	if m == nil {
		return nil, nil
	}
	return m, m.byName[k.feature]
}

// AlertsPublished records alerts the brokers acknowledged. It implements
// stream.Observer.
func (s *Store) AlertsPublished(alerts []detector.Alert) {
	now := time.Now()
	for i := range alerts {
		s.RecordAlert(now, &alerts[i])
	}
}

// RecordAlert records one alert received at the given time (pipeline
// goroutine only).
func (s *Store) RecordAlert(received time.Time, a *detector.Alert) {
	k := modelKey{a.Model, a.Version}
	ms := s.models[k]
	if ms == nil {
		ms = &modelState{features: map[string]*featureHist{}, seen: received}
		s.models[k] = ms
	}
	// Copy on write: published snapshots share the old slice.
	n := len(ms.alerts)
	keep := ms.alerts[max(0, n-MaxAlerts+1):]
	ms.alerts = append(slices.Clip(keep), AlertEntry{Received: received, Alert: *a})
	s.dirty = true
}

// Sync copies the pipeline's state when a snapshot or a history point
// is due. It implements stream.Observer; it runs on the pipeline
// goroutine, which owns the monitors during the call. In report mode it
// only takes history points; Flush publishes the snapshot.
func (s *Store) Sync(now time.Time, tasks []stream.TaskMonitors) {
	s.refreshWatched(now)
	due := now.Sub(s.lastSnap) >= s.cfg.SnapshotInterval || s.dirty || s.missingWatched()
	tick := s.cfg.History > 0 && now.Sub(s.lastHist) >= s.cfg.HistoryInterval
	if s.decimate {
		s.calls++
		due, tick = false, s.calls%s.stride == 0
	}
	if due || tick {
		s.sync(now, tasks, due, tick)
	}
}

// Flush publishes a snapshot now (the end of a report).
func (s *Store) Flush(now time.Time, tasks []stream.TaskMonitors) {
	s.sync(now, tasks, true, false)
}

type chosen struct {
	m     *detector.Monitor
	parts []string
	view  detector.ModelView
}

func (s *Store) sync(now time.Time, tasks []stream.TaskMonitors, due, tick bool) {
	// One monitor per model version: the partition with the most events
	// (a model's events should share a partition; see the README).
	byKey := map[modelKey]*chosen{}
	for _, t := range tasks {
		for _, m := range t.Monitors {
			ref := m.Reference()
			k := modelKey{ref.Model, ref.Version}
			c := byKey[k]
			if c == nil {
				c = &chosen{}
				byKey[k] = c
			}
			c.parts = append(c.parts, t.Task.String())
			if v := m.View(); c.m == nil || v.Stats.Observed > c.view.Stats.Observed {
				c.m, c.view = m, v
			}
		}
	}
	for k, c := range byKey {
		ms := s.models[k]
		if ms == nil || ms.refID != c.view.Reference.ID {
			old := ms
			ms = &modelState{refID: c.view.Reference.ID, features: map[string]*featureHist{}}
			if old != nil {
				ms.alerts = old.alerts
			}
			s.models[k] = ms
		}
		ms.seen = now
		if tick {
			s.addPoints(ms, c.m, c.view, now)
		}
	}
	if tick {
		s.lastHist = now
	}
	if due {
		s.snapshot(now, byKey)
	}
}

func (s *Store) snapshot(now time.Time, byKey map[modelKey]*chosen) {
	totalCells := 0
	for _, c := range byKey {
		for _, f := range c.view.Features {
			totalCells += detector.CellLayout(f.Ref).Cells()
		}
	}
	snap := &Snapshot{Taken: now}
	for k, c := range byKey {
		ms := s.models[k]
		sort.Strings(c.parts)
		model := s.buildModel(k, ms, c.view, c.parts)
		for _, f := range model.Features {
			fh := ms.features[f.Name]
			if fh == nil {
				fh = &featureHist{tests: len(f.Tests)}
				ms.features[f.Name] = fh
			}
			if totalCells <= DetailCells || f.State == "firing" || !s.watched[featureKey{k, f.Name}].IsZero() {
				if d, ok := c.m.Detail(f.Name); ok {
					fh.detail, fh.detailAt = &d, now
				}
			}
			f.Detail, f.DetailAt = fh.detail, fh.detailAt
		}
		ms.last = model
		snap.Models = append(snap.Models, model)
	}
	// Model versions no longer monitored here stay a while, marked gone.
	for k, ms := range s.models {
		if byKey[k] != nil {
			continue
		}
		if now.Sub(ms.seen) > ModelGone && !s.decimate {
			delete(s.models, k)
			continue
		}
		if ms.last != nil {
			m := *ms.last
			m.Status, m.Alerts, m.LastAlert = "gone", newestFirst(ms.alerts), lastAlert(ms.alerts)
			snap.Models = append(snap.Models, &m)
		} else if len(ms.alerts) > 0 {
			snap.Models = append(snap.Models, &Model{Model: k.model, Version: k.version, Status: "gone",
				Alerts: newestFirst(ms.alerts), LastAlert: lastAlert(ms.alerts), byName: map[string]*Feature{}})
		}
	}
	slices.SortFunc(snap.Models, func(a, b *Model) int {
		return cmp.Or(cmp.Compare(statusOrder(a.Status), statusOrder(b.Status)), cmp.Compare(a.Model, b.Model), cmp.Compare(a.Version, b.Version))
	})
	s.lastSnap, s.dirty = now, false
	s.publish(snap)
}

func (s *Store) publish(snap *Snapshot) {
	next := &published{snap: snap, done: make(chan struct{})}
	prev := s.cur.Swap(next)
	close(prev.done)
}

func statusOrder(status string) int {
	switch status {
	case "drift":
		return 0
	case "alert":
		return 1
	case "ok":
		return 2
	case "warming":
		return 3
	}
	return 4
}

// refreshWatched takes the features requested by handlers, without ever
// waiting for them, and forgets those not requested for WatchFor.
func (s *Store) refreshWatched(now time.Time) {
	if s.mu.TryLock() {
		for k, at := range s.wanted {
			if s.watched[k].Before(at) {
				s.watched[k] = at
			}
		}
		clear(s.wanted)
		s.mu.Unlock()
	}
	for k, at := range s.watched {
		if now.Sub(at) > WatchFor || len(s.watched) > MaxWatched {
			delete(s.watched, k)
		}
	}
}

// missingWatched reports whether a watched feature has no detail yet.
func (s *Store) missingWatched() bool {
	for k := range s.watched {
		ms := s.models[k.modelKey]
		if ms == nil {
			continue
		}
		if fh := ms.features[k.feature]; fh == nil || fh.detail == nil {
			return true
		}
	}
	return false
}

// addPoints appends a history point to every feature of a model.
func (s *Store) addPoints(ms *modelState, m *detector.Monitor, v detector.ModelView, now time.Time) {
	k := s.cfg.History
	ht := HistoryTime{At: now, Seq: v.Stats.Events[detector.GroupFeatures]}
	if s.decimate {
		ht.At = time.Time{}
		for _, f := range v.Features {
			if f.Window.End.After(ht.At) {
				ht.At = f.Window.End
			}
			ht.Seq = max(ht.Seq, f.Window.LastSeq)
		}
	}
	full := len(ms.times) >= k
	if full && s.decimate {
		s.stride *= 2
	}
	ms.times = appendTick(ms.times, ht, k, full && s.decimate)
	m.TakeMarks(func(name string, tests []detector.Test, marks []detector.Mark) {
		fh := ms.features[name]
		if fh == nil {
			fh = &featureHist{tests: len(tests)}
			ms.features[name] = fh
		}
		pts := make([]Point, len(marks))
		for i, mk := range marks {
			if mk.Evaluations == 0 {
				continue
			}
			p := Point{Statistic: float32(mk.Statistic), PValue: float32(mk.PValue), Effect: float32(mk.Effect), Flags: PointEvaluated}
			if mk.Drifting {
				p.Flags |= PointDrifting
			}
			if mk.Firing {
				p.Flags |= PointFiring
			}
			pts[i] = p
		}
		// A feature first seen after the model's first point gets
		// empty points before its first.
		want := (len(ms.times) - 1) * fh.tests
		if full && s.decimate {
			fh.points = decimatePoints(fh.points, fh.tests)
		} else if full {
			fh.points = fh.points[min(len(fh.points), fh.tests):]
		}
		if len(fh.points) < want {
			fh.points = append(make([]Point, want-len(fh.points)), fh.points...)
		}
		next := make([]Point, 0, len(fh.points)+len(pts))
		fh.points = append(append(next, fh.points...), pts...)
	})
}

// appendTick adds a point time, dropping the oldest (or, decimating,
// merging pairs) when k are held.
func appendTick(times []HistoryTime, t HistoryTime, k int, decimate bool) []HistoryTime {
	var out []HistoryTime
	switch {
	case len(times) >= k && decimate:
		for i := 1; i < len(times); i += 2 {
			out = append(out, times[i])
		}
		if len(times)%2 == 1 {
			out = append(out, times[len(times)-1])
		}
	case len(times) >= k:
		out = append(out, times[1:]...)
	default:
		out = append(out, times...)
	}
	return append(out, t)
}

// decimatePoints merges pairs of ticks, keeping the worse point of each
// test and the union of the flags.
func decimatePoints(points []Point, tests int) []Point {
	ticks := len(points) / max(tests, 1)
	out := make([]Point, 0, (ticks+1)/2*tests)
	for i := 0; i < ticks; i += 2 {
		for j := range tests {
			p := points[i*tests+j]
			if i+1 < ticks {
				q := points[(i+1)*tests+j]
				if q.Flags&PointEvaluated != 0 && (p.Flags&PointEvaluated == 0 || q.Effect > p.Effect) {
					q.Flags |= p.Flags
					p = q
				} else {
					p.Flags |= q.Flags
				}
			}
			out = append(out, p)
		}
	}
	return out
}

func (s *Store) buildModel(k modelKey, ms *modelState, v detector.ModelView, parts []string) *Model {
	m := &Model{
		Model: k.model, Version: k.version, ReferenceID: v.Reference.ID, Reference: v.Reference,
		FeatureCount: len(v.Features), DriftShare: v.DatasetShare, DatasetFiring: v.DatasetFiring,
		DatasetThreshold: v.Policy.DatasetDriftShare, Events: v.Stats.Observed, Unexpected: v.Stats.Unexpected,
		UnexpectedNames: slices.Sorted(slices.Values(v.Stats.UnexpectedNames)), Partitions: parts,
		Alerts: newestFirst(ms.alerts), LastAlert: lastAlert(ms.alerts), History: ms.times, Policy: v.Policy,
		Seen: ms.seen, byName: make(map[string]*Feature, len(v.Features)),
	}
	m.Window = detector.WindowInfo{Kind: "count", Size: int64(v.Window.Size), Hop: int64(v.Window.Hop)}
	if v.Window.TimeBased() {
		m.Window = detector.WindowInfo{Kind: "time", Size: v.Window.Time.Milliseconds(), Hop: v.Window.TimeHop.Milliseconds()}
	}
	evaluated := false
	for i := range v.Features {
		fv := &v.Features[i]
		f := &Feature{Name: fv.Name, Kind: fv.Kind, Evaluations: fv.Evaluations, Window: fv.Window, Mean: fv.Mean, StdDev: fv.StdDev,
			Values: fv.Values, Missing: fv.Missing, Invalid: fv.Invalid, Ref: fv.Ref, State: "ok"}
		drifting := false
		for ti, t := range fv.Tests {
			ts := TestState{Test: t, Firing: fv.Alarms[ti].Firing, Since: fv.Alarms[ti].Since, Updates: fv.Alarms[ti].Updates, Gate: gateOf(fv.Policy, t)}
			for ri := range fv.Results {
				if r := &fv.Results[ri]; r.Test == t {
					ts.Last, ts.Gate = r, r.EffectThreshold
					drifting = drifting || r.Drifting
					if score := scoreOf(r); score > f.Score {
						f.Score = score
					}
				}
			}
			if ts.Firing {
				m.Firing++
			}
			f.Tests = append(f.Tests, ts)
		}
		switch {
		case slices.ContainsFunc(f.Tests, func(t TestState) bool { return t.Firing }):
			f.State = "firing"
		case fv.Evaluations == 0:
			f.State = "warming"
		case drifting:
			f.State = "drifting"
		}
		evaluated = evaluated || fv.Evaluations > 0
		if fh := ms.features[f.Name]; fh != nil {
			f.History = fh.points
		}
		m.Features = append(m.Features, f)
		m.byName[f.Name] = f
	}
	slices.SortStableFunc(m.Features, func(a, b *Feature) int {
		return cmp.Or(cmp.Compare(stateOrder(a.State), stateOrder(b.State)), cmp.Compare(b.Score, a.Score), cmp.Compare(a.Name, b.Name))
	})
	for i, f := range m.Features {
		f.Rank = i + 1
	}
	switch {
	case v.DatasetFiring:
		m.Status = "drift"
	case m.Firing > 0:
		m.Status = "alert"
	case evaluated:
		m.Status = "ok"
	default:
		m.Status = "warming"
	}
	return m
}

func stateOrder(state string) int {
	switch state {
	case "firing":
		return 0
	case "drifting":
		return 1
	case "ok":
		return 2
	}
	return 3
}

// scoreOf is a result's effect relative to its gate: ≥ 1 past the gate.
func scoreOf(r *detector.Result) float64 {
	if r.EffectThreshold > 0 {
		return r.Effect / r.EffectThreshold
	}
	if r.Effect > 0 {
		return math.Min(r.Effect*10, 1e9)
	}
	return 0
}

// gateOf is the effect gate of test t under policy p, as results report
// it (EffectThreshold); unknown tests report their gate in their results.
func gateOf(p detector.Policy, t detector.Test) float64 {
	switch t {
	case detector.TestKS:
		return p.KSMinEffect
	case detector.TestMeanShift, detector.TestCUSUM:
		return p.MeanShiftMinEffect
	case detector.TestScale:
		return p.ScaleMinEffect
	case detector.TestChi2:
		return p.JSMinEffect
	case detector.TestMissing, detector.TestInvalid, detector.TestOutOfRange:
		return p.QualityMinEffect
	}
	return 0
}

func newestFirst(alerts []AlertEntry) []AlertEntry {
	out := slices.Clone(alerts)
	slices.Reverse(out)
	return out
}

func lastAlert(alerts []AlertEntry) *AlertEntry {
	if len(alerts) == 0 {
		return nil
	}
	a := alerts[len(alerts)-1]
	return &a
}
