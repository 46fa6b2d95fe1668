package detector

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestScaleDetection: one feature of 20 N(0, 1) features has its variance
// multiplied by 1.5 (sd × 1.22) after 5,000 events. KS cannot see it at
// its default gate (D ≈ 0.07 < 0.1) and the mean does not move; the scale
// test's effect |log(G_w/G_ref)| ≈ 0.2 passes its gate 0.1 once the window
// is mostly new, so the feature must alert within 2 windows (2,000
// events) at the default policy, in each of 10 trials, with no alert on
// any feature before the change.
func TestScaleDetection(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 21))
	ref := normalReference(t, rng, 20, 50000, 0, 1)
	var worst int64
	for trial := range 10 {
		s := newSim(t, ref, DefaultPolicy(), DefaultWindow())
		xs := make([]float64, 20)
		const change = 5000
		var first int64
		var test Test
		for i := int64(1); i <= change+4000 && first == 0; i++ {
			for j := range xs {
				xs[j] = rng.NormFloat64()
			}
			if i > change {
				xs[3] *= math.Sqrt(1.5)
			}
			s.event(xs)
			for _, a := range s.firing() {
				if i <= change {
					t.Fatalf("trial %d: alert before the change: %s", trial, a.Summary)
				}
				if a.Feature != "f03" {
					t.Fatalf("trial %d: alert on an unchanged feature: %s", trial, a.Summary)
				}
				if first == 0 {
					first, test = i-change, a.Test
				}
			}
		}
		if first == 0 {
			t.Fatalf("trial %d: variance × 1.5 not detected in 4000 events", trial)
		}
		t.Logf("trial %d: %s fired %d events after the change", trial, test, first)
		worst = max(worst, first)
	}
	if worst > 2000 {
		t.Fatalf("worst delay %d events, want ≤ 2000 (2 windows)", worst)
	}
}

// TestTailDirectMatchesCritical: count windows decide mean_shift and scale
// past the resolve band by cached critical values of the exact tail (their
// reported p-value is the normal approximation, marked approximate), time
// windows by the exact p-value itself; on the same windows and levels the
// two agree — on a skewed (lognormal σ 1.5) and a lattice (Poisson)
// feature, across shifts and spreads that straddle every level.
func TestTailDirectMatchesCritical(t *testing.T) {
	shapes := map[string]func(*rand.Rand) float64{
		"lognormal": func(r *rand.Rand) float64 { return math.Exp(1.5 * r.NormFloat64()) },
		"poisson": func(r *rand.Rand) float64 {
			k, l, p := 0.0, math.Exp(-3), 1.0
			for p *= r.Float64(); p > l; p *= r.Float64() {
				k++
			}
			return k
		},
	}
	checked := 0
	for name, draw := range shapes {
		rng := rand.New(rand.NewPCG(5, 5))
		xs := make([]float64, 20000)
		for i := range xs {
			xs[i] = draw(rng)
		}
		ref := buildNumeric(t, "x", xs, 1000)
		c, err := compile(ref.Features[0])
		if err != nil {
			t.Fatal(err)
		}
		direct, _ := compile(ref.Features[0])
		direct.crit.direct = true
		p := DefaultPolicy()
		for trial := range 60 {
			// Windows of 1000 with a shift and a spread change growing
			// with the trial: from nothing to gross drift.
			shift, spread := 0.02*float64(trial), 1+0.01*float64(trial)
			s := Snapshot{Counts: make([]uint32, c.layout.Cells())}
			for range 1000 {
				x := draw(rng)*spread + shift*(1+float64(trial%3))
				s.Counts[c.breaks.Cell(x)]++
				s.Moments.Add(x - c.centre)
			}
			for _, alpha := range []float64{1e-9, 1e-7, 1e-4} {
				a := c.evaluate(s, &p, alpha, nil)
				b := direct.evaluate(s, &p, alpha, nil)
				for i := range a {
					if a[i].Test != TestMeanShift && a[i].Test != TestScale {
						continue
					}
					if a[i].Drifting != b[i].Drifting || a[i].Holding != b[i].Holding || a[i].Severe != b[i].Severe {
						t.Errorf("%s trial %d α=%g %s: critical %v/%v/%v, direct %v/%v/%v (exact p %g)", name, trial, alpha, a[i].Test,
							a[i].Drifting, a[i].Holding, a[i].Severe, b[i].Drifting, b[i].Holding, b[i].Severe, b[i].PValue)
					}
					if a[i].PValueApprox {
						checked++
						// The alert path replaces the approximation by
						// the exact tail of the same window.
						r := a[i]
						c.scores = cellScores{}
						c.evaluate(s, &p, alpha, nil)
						c.exactPValue(&r)
						if r.PValueApprox || r.PValue != b[i].PValue || r.Method != b[i].Method {
							t.Errorf("%s trial %d %s: exact p %g (%s, approx %v), direct %g (%s)", name, trial, r.Test, r.PValue, r.Method, r.PValueApprox, b[i].PValue, b[i].Method)
						}
					}
				}
			}
		}
	}
	if checked < 50 {
		t.Fatalf("only %d results decided by critical values", checked)
	}
	t.Logf("%d results decided by critical values", checked)
}
