package detector

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// catRun streams categorical values through a monitor of one feature
// "cat" and returns the firing chi2 alerts (with the sequence number of
// the event that fired them) and the drifting results per evaluation.
type catRun struct {
	m     *Monitor
	out   Output
	seq   int64
	fired []int64
	tally *h0Tally
}

func newCatRun(t *testing.T, ref *Reference, p Policy) *catRun {
	ps, err := NewPolicies(p)
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewMonitor(ref, ps, DefaultWindow())
	if err != nil {
		t.Fatal(err)
	}
	return &catRun{m: m, tally: newH0Tally()}
}

func (c *catRun) event(t *testing.T, v string) {
	c.seq++
	if !c.m.Begin(GroupFeatures, 1_700_000_000_000+c.seq, c.seq, &c.out) {
		t.Fatal("event skipped")
	}
	c.m.Value(0, []byte("cat"), Value{Kind: String, Text: []byte(v)})
	c.m.End(&c.out)
	for _, e := range c.out.Evaluations {
		for _, r := range e.Results {
			c.tally.add(e.Feature, r)
		}
	}
	for _, a := range c.out.Alerts {
		if a.Status == Firing && a.Test == TestChi2 {
			c.fired = append(c.fired, c.seq)
		}
	}
	c.out.Reset()
}

func catReference(t *testing.T, rows int, gen func() string) *Reference {
	b, err := NewBuilder("cat", "1", BuildOptions{Categorical: []string{"cat"}})
	if err != nil {
		t.Fatal(err)
	}
	for range rows {
		b.BeginRow()
		if err := b.Add("cat", Value{Kind: String, Text: []byte(gen())}); err != nil {
			t.Fatal(err)
		}
		b.EndRow()
	}
	ref, err := b.Reference()
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// TestNewCategoryDetected: a category the reference never had appears in
// 10 % of the events. It gets its own cell, expecting the unseen share
// (Good–Turing floor 1/m here: the reference has no singleton), tested
// exactly, so the p-value is tiny from the first pane on (≈ 12 new values
// against 0.006 expected); the Jensen–Shannon distance passes its gate
// 0.1 from the second pane (1.25 % of the window new: 0.079; 2.5 %:
// 0.112), and the alert fires at the third with hysteresis 2 — 375 events
// at most. When the new category was pooled into the smallest existing
// cell, it took 500 events.
func TestNewCategoryDetected(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	levels := []string{"a", "b", "c", "d"}
	old := func() string {
		u := rng.Float64()
		switch {
		case u < 0.4:
			return levels[0]
		case u < 0.7:
			return levels[1]
		case u < 0.9:
			return levels[2]
		}
		return levels[3]
	}
	ref := catReference(t, 20000, old)
	const change = 5000
	var worst int64
	for trial := range 10 {
		run := newCatRun(t, ref, DefaultPolicy())
		for range change {
			run.event(t, old())
		}
		if len(run.fired) > 0 {
			t.Fatalf("trial %d: alert before the change at event %d", trial, run.fired[0])
		}
		for range 2000 {
			if rng.Float64() < 0.1 {
				run.event(t, "new")
			} else {
				run.event(t, old())
			}
			if len(run.fired) > 0 {
				break
			}
		}
		if len(run.fired) == 0 {
			t.Fatalf("trial %d: a new category at 10%% not detected in 2000 events", trial)
		}
		delay := run.fired[0] - change
		worst = max(worst, delay)
	}
	t.Logf("worst delay over 10 trials: %d events", worst)
	if worst > 3*int64(DefaultWindow().Hop) {
		t.Fatalf("worst delay %d events, want ≤ %d (three panes)", worst, 3*DefaultWindow().Hop)
	}
}

// TestUnseenCategoriesNoDrift: a long-tailed categorical feature (5,000
// Zipf-distributed levels, top 64 kept) keeps producing categories the
// reference never had, at the rate the reference's singletons predict.
// With gates off at α = 1e-3 the chi-square episodes stay within the
// Poisson bound of TestH0Shapes, and the default policy raises no alert.
func TestUnseenCategoriesNoDrift(t *testing.T) {
	if testing.Short() {
		t.Skip("H0 simulation")
	}
	rng := rand.New(rand.NewPCG(9, 9))
	const levels = 5000
	cum := make([]float64, levels)
	var s float64
	for i := range cum {
		s += 1 / math.Pow(float64(i+1), 1.1)
		cum[i] = s
	}
	gen := func() string {
		u := rng.Float64() * s
		lo, hi := 0, levels-1
		for lo < hi {
			mid := (lo + hi) / 2
			if cum[mid] < u {
				lo = mid + 1
			} else {
				hi = mid
			}
		}
		return fmt.Sprintf("c%d", lo)
	}
	ref := catReference(t, 20000, gen)
	f := ref.Features[0]
	t.Logf("reference: %d categories kept, other %d of %d, distinct %d, other share %.4g", len(f.Categories), f.Other, f.Count, f.Distinct, otherShare(f))
	const alpha = 1e-3
	off := DefaultPolicy()
	off.JSMinEffect, off.QualityMinEffect = 0, 0
	off.Hysteresis, off.ImmediateFactor = 1, -1
	off.ERT = float64(DefaultWindow().Hop) / (alpha * float64(len(CategoricalTests)))
	runOff := newCatRun(t, ref, off)
	runDef := newCatRun(t, ref, DefaultPolicy())
	for range 300_000 {
		v := gen()
		runOff.event(t, v)
		runDef.event(t, v)
	}
	key := "cat/" + string(TestChi2)
	lambda := float64(runOff.tally.evals[key]) * alpha
	bound := poissonUpper(lambda, 1e-4)
	t.Logf("gates off: %d evaluations, %d below α, %d episodes (λ %.2f, at most %d allowed); default policy: %d alerts",
		runOff.tally.evals[key], runOff.tally.below[key], runOff.tally.episodes[key], lambda, bound-1, len(runDef.fired))
	if runOff.tally.episodes[key] >= bound {
		t.Errorf("%d episodes below α, at most %d allowed", runOff.tally.episodes[key], bound-1)
	}
	if len(runDef.fired) > 0 {
		t.Errorf("default policy: %d false alarms", len(runDef.fired))
	}
}
