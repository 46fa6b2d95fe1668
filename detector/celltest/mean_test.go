package celltest

import (
	"encoding/json"
	"math"
	"os"
	"slices"
	"testing"
)

type goldenFile struct {
	Sets []struct {
		Name        string    `json:"name"`
		Kind        string    `json:"kind"`
		Breakpoints []float64 `json:"breakpoints"`
		Ranks       []int64   `json:"ranks"`
		Exact       bool      `json:"exact"`
		N           int64     `json:"n"`
		Replicates  float64   `json:"replicates"`
		Cases       []struct {
			D     float64 `json:"d"`
			Upper int64   `json:"upper"`
			Hits  float64 `json:"hits"`
			P     float64 `json:"p"`
		} `json:"cases"`
	} `json:"sets"`
}

// TestMeanGolden checks the mean test's p-values against the oracles of
// testdata/gen_golden.py: exact lattice convolutions (Poisson counts,
// rounded amounts, and the scale test's absolute deviations of both),
// scipy's hypergeometric tails (two-valued features) and
// Monte Carlo at moderate p (non-lattice sketches of a lognormal σ 1.5 and
// a zero-inflated exponential).
func TestMeanGolden(t *testing.T) {
	data, err := os.ReadFile("testdata/golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var g goldenFile
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Sets) == 0 {
		t.Fatal("no golden sets")
	}
	for _, set := range g.Sets {
		mt := NewMean(set.Breakpoints, set.Ranks, set.Exact)
		if set.Kind == "scale_lattice" {
			mt = NewScale(set.Breakpoints, set.Ranks, set.Exact)
		}
		if mt == nil {
			t.Fatalf("%s: NewMean returned nil", set.Name)
		}
		for _, c := range set.Cases {
			w := Window{N: set.N, D: c.D, Upper: c.Upper}
			got, method := mt.PValue(w)
			var tol float64
			switch set.Kind {
			case "fisher":
				// Exact test: only rounding of lgamma differences.
				if method != MethodFisher {
					t.Errorf("%s: method %s, want %s", set.Name, method, MethodFisher)
				}
				tol = 1e-9 * c.P
			case "lattice", "scale_lattice":
				if method != MethodLattice {
					t.Errorf("%s: method %s, want %s", set.Name, method, MethodLattice)
				}
				// Saddlepoint with continuity correction: within
				// 15% of the exact convolution below it, 25% above
				// (the correction errs on the conservative side, by
				// up to 20% at p ≈ 1e-14 for n = 100).
				tol = 0.15 * c.P
				if got > c.P {
					tol = 0.25 * c.P
				}
			case "montecarlo":
				if method != MethodSaddlepoint {
					t.Errorf("%s: method %s, want %s", set.Name, method, MethodSaddlepoint)
				}
				// 4 binomial standard errors of the Monte Carlo
				// estimate plus 10% for the approximation.
				tail := c.Hits / set.Replicates
				tol = 2*4*math.Sqrt(tail*(1-tail)/set.Replicates) + 0.1*c.P + 2*4/set.Replicates
			}
			if math.Abs(got-c.P) > tol {
				t.Errorf("%s d=%.4g upper=%d: p %.6g, want %.6g (±%.3g; ratio %.3f)", set.Name, c.D, c.Upper, got, c.P, tol, got/c.P)
			} else {
				t.Logf("%s d=%.4g upper=%d: p %.6g, oracle %.6g (ratio %.3f)", set.Name, c.D, c.Upper, got, c.P, got/c.P)
			}
		}
	}
}

// TestScorePair: the fused pass gives the same windows as Score on each
// test, on a sketch with heavy atoms and values outside the range.
func TestScorePair(t *testing.T) {
	q := []float64{-3, -1, 0, 0.5, 2, 7}
	ranks := []int64{10, 200, 600, 700, 950, 1000}
	for _, exact := range []bool{false, true} {
		mt, sc := NewMean(q, ranks, exact), NewScale(q, ranks, exact)
		counts := []uint32{2, 1, 30, 4, 100, 50, 60, 7, 90, 3, 20, 1, 5}
		m1, s1 := Score(mt, counts), Score(sc, counts)
		m2, s2 := ScorePair(mt, sc, counts)
		if m1.N != 373 || m2.N != m1.N || s2.N != s1.N {
			t.Fatalf("exact=%v: n %d %d %d %d", exact, m1.N, m2.N, s1.N, s2.N)
		}
		if math.Abs(m1.D-m2.D) > 1e-12 || math.Abs(s1.D-s2.D) > 1e-12 {
			t.Fatalf("exact=%v: mean %v vs %v, scale %v vs %v", exact, m1.D, m2.D, s1.D, s2.D)
		}
	}
}

// TestAddCounted: AddCounted adds to the bit what AddCell adds for each
// test, over every cell (below the range, on and between breakpoints,
// above it, missing), with and without the scale test, and clears its
// input.
func TestAddCounted(t *testing.T) {
	q := []float64{-3, -1, 0, 0.5, 2, 7}
	ranks := []int64{10, 200, 600, 700, 950, 1000}
	cells := 2*len(q) + 3
	for _, exact := range []bool{false, true} {
		mt, sc := NewMean(q, ranks, exact), NewScale(q, ranks, exact)
		var m, s PaneSum
		for cell := range cells {
			mt.AddCell(&m, cell, int64(cell%4+1))
			sc.AddCell(&s, cell, int64(cell%4+1))
		}
		for _, scale := range []*Mean{sc, nil} {
			counts, seen := make([]uint32, cells), make([]uint64, 1)
			for cell := range cells {
				counts[cell], seen[0] = uint32(cell%4+1), seen[0]|1<<cell
			}
			var pair PairSum
			AddCounted(mt, scale, &pair, counts, seen)
			want := PairSum{Mean: m}
			if scale != nil {
				want.Scale = s
			}
			if pair != want || m.n != 31 || seen[0] != 0 || slices.Max(counts) != 0 { // 31: the 13 value cells' counts
				t.Fatalf("exact=%v scale=%v: AddCounted %+v, AddCell %+v", exact, scale != nil, pair, want)
			}
		}
	}
}

// TestCritical checks Mean.Critical against PValue on the golden
// references (lattice, scale, Monte Carlo shapes): just past the critical
// |D| the p-value is below the level, just short of it not, on both sides
// and at levels from 1e-2 to 1e-12.
func TestCritical(t *testing.T) {
	data, err := os.ReadFile("testdata/golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var g goldenFile
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, set := range g.Sets {
		mt := NewMean(set.Breakpoints, set.Ranks, set.Exact)
		if set.Kind == "scale_lattice" {
			mt = NewScale(set.Breakpoints, set.Ranks, set.Exact)
		}
		if mt.TwoValued() {
			if _, ok := mt.Critical(set.N, 1e-3, true); ok {
				t.Errorf("%s: a critical value for a two-valued feature", set.Name)
			}
			continue
		}
		for _, level := range []float64{1e-2, 1e-4, 1e-7, 1e-12} {
			for _, upper := range []bool{true, false} {
				d, ok := mt.Critical(set.N, level, upper)
				if !ok {
					t.Fatalf("%s: no critical value", set.Name)
				}
				if math.IsInf(d, 1) {
					continue // no window that far out on this side
				}
				sign := 1.0
				if !upper {
					sign = -1
				}
				step := 1e-6 * (mt.zmax - mt.zmin)
				above, _ := mt.PValue(Window{N: set.N, D: sign * (d + step)})
				short, _ := mt.PValue(Window{N: set.N, D: sign * (d - step)})
				if !(above < level) {
					t.Errorf("%s level %g upper %v: critical %g, p just past %g, just short %g", set.Name, level, upper, d, above, short)
				}
				if short < level {
					t.Errorf("%s level %g upper %v: p %g just short of the critical %g is already below the level", set.Name, level, upper, short, d)
				}
				checked++
			}
		}
	}
	if checked < 20 {
		t.Fatalf("only %d critical values checked", checked)
	}
	t.Logf("%d critical values checked", checked)
}
