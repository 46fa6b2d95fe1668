package detector

// Read-only views of a monitor for the HTTP API and the drift view. The
// monitor is not safe for concurrent use, so its owner calls these at a
// point where no event is being applied and hands the copies on.

import (
	"bytes"
	"slices"

	"github.com/driftd/driftd/window"
)

// Mark is the worst result of one test over a stretch of evaluations:
// the one with the largest effect relative to its gate, and whether any
// evaluation was drifting or firing. Views keep a history of marks.
type Mark struct {
	Evaluations     uint64  // evaluations in the stretch (0: none)
	Statistic       float64 // of the worst result
	PValue          float64
	Effect          float64
	Threshold       float64
	EffectThreshold float64
	Drifting        bool // any evaluation drifting
	Firing          bool // firing at any evaluation
}

func (k *Mark) observe(r *Result) {
	score := func(effect, gate float64) float64 {
		if gate > 0 {
			return effect / gate
		}
		return effect
	}
	if k.Evaluations == 0 || score(r.Effect, r.EffectThreshold) > score(k.Effect, k.EffectThreshold) {
		k.Statistic, k.PValue, k.Effect = r.Statistic, r.PValue, r.Effect
		k.Threshold, k.EffectThreshold = r.Threshold, r.EffectThreshold
	}
	k.Evaluations++
	k.Drifting = k.Drifting || r.Drifting
	k.Firing = k.Firing || r.Firing
}

// unseenSketch keeps the most frequent recent values that fell outside a
// categorical reference's top categories: a space-saving sketch of a few
// slots whose counts halve at every evaluation. Adding compares at most
// len(slots) short strings and allocates only while a slot's buffer grows.
type unseenSketch struct {
	slots [8]struct {
		name  []byte
		count uint32
	}
}

// maxUnseenName bounds the bytes kept of one value.
const maxUnseenName = 128

func (u *unseenSketch) add(v []byte) {
	if u == nil {
		return
	}
	v = v[:min(len(v), maxUnseenName)]
	low := 0
	for i := range u.slots {
		s := &u.slots[i]
		if s.count > 0 && bytes.Equal(s.name, v) {
			s.count++
			return
		}
		if s.count < u.slots[low].count {
			low = i
		}
	}
	s := &u.slots[low]
	s.name = append(s.name[:0], v...)
	s.count++
}

func (u *unseenSketch) decay() {
	for i := range u.slots {
		u.slots[i].count /= 2
	}
}

func (u *unseenSketch) examples() []CategoryCount {
	if u == nil {
		return nil
	}
	var out []CategoryCount
	for _, s := range u.slots {
		if s.count > 0 {
			out = append(out, CategoryCount{Value: string(s.name), Count: int64(s.count)})
		}
	}
	slices.SortFunc(out, func(a, b CategoryCount) int { return int(b.Count - a.Count) })
	return out
}

// cells copies a snapshot's counts to 32 bits.
func (s *Snapshot) cells() []uint32 {
	if s.Counts16 != nil {
		out := make([]uint32, len(s.Counts16))
		for i, c := range s.Counts16 {
			out[i] = uint32(c)
		}
		return out
	}
	return slices.Clone(s.Counts)
}

// explain computes the evidence of test on the window the feature was
// just evaluated on.
func (f *featureState) explain(t Test, s Snapshot) *Evidence {
	return Explain(f.c.ref, t, s.cells(), finiteMoments(s.absMoments()), f.unseen.examples())
}

// FeatureView is a copy of one feature's state as of its last evaluation.
type FeatureView struct {
	Name string
	Kind Kind
	// Ref is the feature's reference sketch (shared, never modified).
	Ref *FeatureRef
	// Tests are the feature's tests, Alarms their alert states.
	Tests  []Test
	Alarms []AlarmState
	// Evaluations counts the feature's evaluations; Window, Mean, StdDev
	// and Results are those of the last one (Results holds the tests
	// that ran).
	Evaluations  uint64
	Window       WindowInfo
	Mean, StdDev float64
	Results      []Result
	// Lifetime counts of values.
	Values, Missing, Invalid uint64
	// Policy is the feature's effective policy.
	Policy Policy
}

// ModelView is a copy of a monitor's state for views.
type ModelView struct {
	Reference     *Reference
	Window        WindowConfig
	Stats         ModelStats
	DatasetFiring bool
	DatasetShare  float64
	DatasetSince  uint64
	Policy        Policy
	Features      []FeatureView
}

// View copies the monitor's state. Call it where no event is being
// applied (the monitor is not safe for concurrent use).
func (m *Monitor) View() ModelView {
	v := ModelView{Reference: m.ref, Window: m.cfg, Stats: m.Stats(), DatasetFiring: m.dataset.Firing,
		DatasetShare: m.datasetShare, DatasetSince: m.dataset.Since, Policy: m.policy,
		Features: make([]FeatureView, len(m.features))}
	for i, f := range m.features {
		v.Features[i] = FeatureView{
			Name: f.name, Kind: f.c.ref.Kind, Ref: f.c.ref, Tests: f.c.tests, Alarms: slices.Clone(f.alarms),
			Evaluations: f.evals, Window: f.lastInfo, Mean: f.lastMean, StdDev: f.lastSD, Results: slices.Clone(f.last),
			Values: f.values, Missing: f.missing, Invalid: f.invalid, Policy: f.policy,
		}
	}
	return v
}

// FeatureDetail is a copy of one feature's current window: the counts per
// cell (see CellLayout), the moments of its valid values, and recent
// values outside a categorical reference's top categories.
type FeatureDetail struct {
	Cells    []uint32
	Moments  window.Moments
	Examples []CategoryCount
}

// Detail copies the current window of the named feature; ok is false for
// an unknown feature. Like View, call it where no event is being applied.
func (m *Monitor) Detail(feature string) (d FeatureDetail, ok bool) {
	idx, found := m.byName[feature]
	if !found {
		return d, false
	}
	f := m.features[idx]
	var s Snapshot
	switch {
	case f.cw != nil:
		s = Snapshot{Counts16: f.cw.Counts(), Moments: f.cw.Moments()}
	case f.pw != nil:
		s = Snapshot{Counts: f.pw.Counts(), Moments: f.pw.Moments()}
	default:
		s = Snapshot{Counts: f.tw.Counts(), Moments: f.tw.Moments()}
	}
	s.Centre = f.c.centre
	return FeatureDetail{Cells: s.cells(), Moments: finiteMoments(s.absMoments()), Examples: f.unseen.examples()}, true
}

// finiteMoments returns m, or empty moments when they overflowed float64
// (JSON has no ±Inf; the mean_shift result says why).
func finiteMoments(m window.Moments) window.Moments {
	if !isFinite(m.Mean) || !isFinite(m.M2) {
		return window.Moments{}
	}
	return m
}

// TakeMarks calls fn with every feature's marks since the last call (one
// per test, aligned with the feature's tests) and starts new ones. fn must
// not keep marks.
func (m *Monitor) TakeMarks(fn func(feature string, tests []Test, marks []Mark)) {
	for _, f := range m.features {
		fn(f.name, f.c.tests, f.marks)
		clear(f.marks)
	}
}
