package detector

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
)

// TestOutOfRangeSFGolden: OutOfRangeSF against P(K ≥ k) of the
// beta-binomial(n, 2, m−1) summed at 60 digits by mpmath
// (testdata/scipy/gen_outofrange.py).
func TestOutOfRangeSFGolden(t *testing.T) {
	data, err := os.ReadFile("../testdata/scipy/outofrange.json")
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Cases []struct {
			K, N, M int64
			SF      float64 `json:"sf"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Cases) < 100 {
		t.Fatalf("%d golden cases", len(g.Cases))
	}
	for _, c := range g.Cases {
		got := OutOfRangeSF(c.K, c.N, c.M)
		if c.SF == 0 { // below the smallest float64
			if got > 1e-300 {
				t.Errorf("k=%d n=%d m=%d: %g, want an underflow to 0", c.K, c.N, c.M, got)
			}
			continue
		}
		// lgamma of numbers near 6e4 carries an absolute error of a few
		// 1e-12, which exp turns into a relative one.
		if rel := math.Abs(got-c.SF) / c.SF; !(rel <= 1e-9) {
			t.Errorf("k=%d n=%d m=%d: %.17g, want %.17g (rel err %.2g)", c.K, c.N, c.M, got, c.SF, rel)
		}
	}
	// Edges: one new value is outside with probability 2/(m+1).
	for _, m := range []int64{2, 10, 89, 1000} {
		if got, want := OutOfRangeSF(1, 1, m), 2/float64(m+1); math.Abs(got-want) > 1e-12*want {
			t.Errorf("n=1 m=%d: %v, want 2/(m+1) = %v", m, got, want)
		}
	}
	if OutOfRangeSF(0, 10, 5) != 1 || OutOfRangeSF(11, 10, 5) != 0 || OutOfRangeSF(3, 10, 1) != 1 {
		t.Error("edge cases")
	}
}

// TestOutOfRangeSmallReferenceNoDrift: 89-row references of 13
// features (the size of the wine data's training half) and held-out data
// of the same distributions, through the whole detector (count windows of
// 1000, default policy): the out-of-range test never fires, in any of 20
// seeded splits. With the binomial baseline 2/(m+1) a window was compared
// as if each value drew its own reference range, and a reference whose
// range happened to be narrow fired for good (5 of 10 splits of the wine
// data).
func TestOutOfRangeSmallReferenceNoDrift(t *testing.T) {
	const m, features, events = 89, 13, 6000
	names := make([][]byte, features)
	for j := range names {
		names[j] = []byte{'f', byte('a' + j)}
	}
	firedSplits, splits := 0, 20
	var worst float64 = 1
	for seed := range uint64(splits) {
		rng := rand.New(rand.NewPCG(seed, 89))
		// Skewed and heavy-tailed features, like the wine data's.
		draw := func(j int) float64 {
			switch j % 3 {
			case 0:
				return math.Exp(0.6 * rng.NormFloat64())
			case 1:
				return rng.NormFloat64()
			}
			return rng.ExpFloat64()
		}
		b, err := NewBuilder("wine", "1", BuildOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for range m {
			b.BeginRow()
			for j, name := range names {
				if err := b.Add(string(name), Value{Kind: Number, Num: draw(j), Parsed: true}); err != nil {
					t.Fatal(err)
				}
			}
			b.EndRow()
		}
		ref, err := b.Reference()
		if err != nil {
			t.Fatal(err)
		}
		mon, err := NewMonitor(ref, nil, DefaultWindow())
		if err != nil {
			t.Fatal(err)
		}
		var out Output
		fired := false
		for i := range int64(events) {
			if !mon.Begin(GroupFeatures, 1_700_000_000_000+i, i, &out) {
				t.Fatal("event skipped")
			}
			for j, name := range names {
				mon.Value(j, name, Value{Kind: Number, Num: draw(j), Parsed: true})
			}
			mon.End(&out)
			for _, e := range out.Evaluations {
				for _, r := range e.Results {
					if r.Test == TestOutOfRange {
						worst = min(worst, r.PValue)
					}
				}
			}
			fired = fired || slices.ContainsFunc(out.Alerts, func(a Alert) bool { return a.Test == TestOutOfRange && a.Status == Firing })
			out.Reset()
		}
		if fired {
			firedSplits++
		}
	}
	t.Logf("smallest out-of-range p-value over %d splits × %d features: %.3g", splits, features, worst)
	if firedSplits > 0 {
		t.Errorf("out_of_range fired in %d of %d no-drift splits", firedSplits, splits)
	}
}
