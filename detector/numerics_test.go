package detector

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestLargeOffsetNoMeanShift: training and serving data are both
// 1e15 + N(0, 1). The values themselves are on a 0.125 grid at 1e15, but
// the two sides share it, so nothing differs; a window mean accumulated
// in absolute terms loses its low digits at every update (1e15 has no room
// for x/1000) and used to fire mean_shift (effect 0.25, p 1e-13). Moments
// taken relative to the reference mean keep them: the largest effect stays
// at sampling noise and no test drifts.
func TestLargeOffsetNoMeanShift(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 15))
	ref := normalReference(t, rng, 1, 20000, 1e15, 1)
	s := newSim(t, ref, DefaultPolicy(), DefaultWindow())
	worst := 0.0
	for range 20000 {
		s.seq++
		s.m.Begin(GroupFeatures, 1_700_000_000_000+s.seq, s.seq, &s.out)
		s.m.Value(0, s.names[0], Value{Kind: Number, Num: 1e15 + rng.NormFloat64(), Parsed: true})
		s.m.End(&s.out)
		for _, e := range s.out.Evaluations {
			for _, r := range e.Results {
				if r.Test == TestMeanShift {
					worst = math.Max(worst, r.Effect)
				}
				if r.Drifting {
					t.Errorf("evaluation %d: %s drifting (effect %g, p %g)", e.Number, r.Test, r.Effect, r.PValue)
				}
			}
			if math.Abs(e.Mean-1e15) > 1 {
				t.Errorf("evaluation %d: window mean %v", e.Number, e.Mean)
			}
		}
		s.alerts = append(s.alerts, s.out.Alerts...)
		s.out.Reset()
	}
	if len(s.alerts) > 0 {
		t.Errorf("%d alerts, first %s", len(s.alerts), s.alerts[0].Summary)
	}
	// 1000 values: the standard error of the mean is 0.032σ; 0.15 is
	// beyond 4.5 standard errors.
	if worst > 0.15 {
		t.Errorf("largest mean_shift effect %.3f", worst)
	}
	t.Logf("largest mean_shift effect over the run: %.4f", worst)
}

// TestOverflowIsUndefinedNotNaN: one event of 1e200 on an N(0, 1) feature
// overflows the window's sum of squares. Every evaluation must still
// encode as JSON (no NaN, no ±Inf), mean_shift must say it is undefined
// and why while the value is in the window (never a silent p = 1), the
// other tests go on (KS and out_of_range see the value), and once the
// value has left the window mean_shift is computed again.
func TestOverflowIsUndefinedNotNaN(t *testing.T) {
	rng := rand.New(rand.NewPCG(16, 16))
	ref := normalReference(t, rng, 1, 20000, 0, 1)
	s := newSim(t, ref, DefaultPolicy(), DefaultWindow())
	undefined, definedAfter, oorDrifting := 0, 0, 0
	for i := range 4000 {
		x := rng.NormFloat64()
		if i == 1500 {
			x = 1e200
		}
		s.seq++
		s.m.Begin(GroupFeatures, 1_700_000_000_000+s.seq, s.seq, &s.out)
		s.m.Value(0, s.names[0], Value{Kind: Number, Num: x, Parsed: true})
		s.m.End(&s.out)
		for _, e := range s.out.Evaluations {
			if _, err := json.Marshal(e); err != nil {
				t.Fatalf("evaluation %d does not encode: %v", e.Number, err)
			}
			inWindow := e.Window.FirstSeq <= 1501 && 1501 <= e.Window.LastSeq
			for _, r := range e.Results {
				switch {
				case r.Test == TestMeanShift && inWindow:
					if !strings.Contains(r.Undefined, "overflow") || r.Drifting {
						t.Errorf("evaluation %d: mean_shift with 1e200 in the window: undefined %q drifting %v", e.Number, r.Undefined, r.Drifting)
					}
					undefined++
				case r.Test == TestMeanShift && e.Window.FirstSeq > 1501:
					if r.Undefined != "" {
						t.Errorf("evaluation %d: mean_shift still undefined after the value left: %q", e.Number, r.Undefined)
					}
					definedAfter++
				case r.Test == TestOutOfRange && inWindow && r.Effect > 0:
					oorDrifting++
				}
			}
		}
		s.out.Reset()
	}
	if undefined == 0 || definedAfter == 0 || oorDrifting == 0 {
		t.Fatalf("undefined %d, defined after %d, out-of-range results with the value %d", undefined, definedAfter, oorDrifting)
	}
}

// TestBuildLeavesOutOverflowingColumn: a column of 1e200-scale values
// has a variance beyond float64. The build names it and builds the others.
func TestBuildLeavesOutOverflowingColumn(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 17))
	b, err := NewBuilder("m", "1", BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for range 2000 {
		b.BeginRow()
		b.Add("age", Value{Kind: Number, Num: 40 + 10*rng.NormFloat64(), Parsed: true})
		b.Add("huge", Value{Kind: Number, Num: 1e200 * rng.NormFloat64(), Parsed: true})
		b.Add("plan", Value{Kind: String, Text: []byte("basic")})
		b.EndRow()
	}
	ref, err := b.Reference()
	if err != nil {
		t.Fatal(err)
	}
	if ref.Feature("huge") != nil || ref.Feature("age") == nil || ref.Feature("plan") == nil {
		t.Fatalf("features %v", len(ref.Features))
	}
	sk := b.Skipped()
	if len(sk) != 1 || sk[0].Name != "huge" || !strings.Contains(sk[0].Reason, "overflows") {
		t.Fatalf("skipped %+v", sk)
	}
}

// TestRestoreShiftsAbsoluteMoments: a checkpoint without a centre holds
// absolute moments (earlier versions); restore moves them to the
// monitor's centre, so the window mean is the same value either way.
func TestRestoreShiftsAbsoluteMoments(t *testing.T) {
	rng := rand.New(rand.NewPCG(18, 18))
	ref := normalReference(t, rng, 1, 5000, 500, 3)
	s := newSim(t, ref, DefaultPolicy(), DefaultWindow())
	for range 1300 {
		s.event([]float64{500 + 3*rng.NormFloat64()})
	}
	f := s.m.features[0]
	centre := f.c.centre
	rel := f.cw.Moments()
	cps := s.m.Checkpoint()
	// As this version wrote it: same centre, same moments.
	m2, err := RestoreMonitor(ref, nil, DefaultWindow(), cps)
	if err != nil {
		t.Fatal(err)
	}
	if got := m2.features[0].cw.Moments(); got != rel {
		t.Fatalf("restored moments %+v, want %+v", got, rel)
	}
	// As an earlier version would have read it: no centre, so the stored
	// means are taken as absolute and moved by −centre.
	cps[0].Centre = nil
	m3, err := RestoreMonitor(ref, nil, DefaultWindow(), cps)
	if err != nil {
		t.Fatal(err)
	}
	if got := m3.features[0].cw.Moments(); math.Abs(got.Mean-(rel.Mean-centre)) > 1e-9 || got.M2 != rel.M2 {
		t.Fatalf("restored moments %+v, want mean %v", got, rel.Mean-centre)
	}
}
