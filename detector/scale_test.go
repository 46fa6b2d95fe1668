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
