package detector

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/driftd/driftd/window"
)

// countFeature is a feature of c on a count window of size events
// advancing by hop, as NewMonitor makes one.
func countFeature(tb testing.TB, c *compiled, size, hop int) *featureState {
	cw, err := window.NewCountWindow(c.layout, size, hop)
	if err != nil {
		tb.Fatal(err)
	}
	return &featureState{c: c, cw: cw, panes: newPaneScores(c, size/hop)}
}

// addValue adds x to f's window as the monitor does; it reports whether
// a pane closed.
func (f *featureState) addValue(x float64) bool {
	return f.cw.Add(f.c.breaks.Cell(x), x-f.c.centre)
}

// TestPaneScoresMatchCells: the mean and scale tests' windows from the
// pane sums equal those of the pass over the cells, and so do the
// evaluations' decisions, on the numeric shapes of the H0 suite and
// 1e15 + N(0, 1), stable and then drifting, across a restore. The sums
// add the same terms in another order, so the standardized differences
// agree to 1e-12 (in reference standard deviations of one cell score,
// where each of the n = 1000 terms is O(1) and their rounding ≈ 1e-14);
// n and the upper count exactly.
func TestPaneScoresMatchCells(t *testing.T) {
	const tol = 1e-12
	shapes := []h0Shape{{name: "offset1e15", gen: func(rng *rand.Rand) Value {
		return Value{Kind: Number, Num: 1e15 + rng.NormFloat64(), Parsed: true}
	}}}
	for _, sh := range h0Shapes() {
		if !sh.categorical {
			shapes = append(shapes, sh)
		}
	}
	for _, sh := range shapes {
		t.Run(sh.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(41, 42))
			xs := make([]float64, 20000)
			for i := range xs {
				xs[i] = sh.gen(rng).Num
			}
			c, err := compile(buildNumeric(t, "x", xs, 1000).Features[0])
			if err != nil {
				t.Fatal(err)
			}
			f := countFeature(t, c, 1000, 125)
			var scratch paneScratch
			p := DefaultPolicy()
			var out, want []Result
			for i := range 12000 {
				// The second half drifts: shifted by a quarter of the
				// reference's spread, then spread 1.5×.
				x := sh.gen(rng).Num
				if i >= 6000 {
					x += 0.25 * math.Sqrt(c.ref.Variance)
				}
				if i >= 9000 {
					x = c.ref.Mean + 1.5*(x-c.ref.Mean)
				}
				if i == 4321 {
					// A restored window, mid-pane, on a new feature
					// state: its pane sums are recomputed.
					state := f.cw.State()
					f = countFeature(t, c, 1000, 125)
					if f.cw, err = window.RestoreCount(c.layout, state); err != nil {
						t.Fatal(err)
					}
					f.sumPanes()
				}
				if !f.addValue(x) {
					continue
				}
				s := f.countSnapshot(&scratch)
				if (s.sums != nil) != (c.mean != nil) {
					t.Fatalf("event %d: window sums %v on a feature with mean test %v", i, s.sums != nil, c.mean != nil)
				}
				c.scores = cellScores{}
				got := *c.cellScores(&s)
				cells := s
				cells.sums = nil
				c.scores = cellScores{}
				exp := *c.cellScores(&cells)
				if got.mean.N != exp.mean.N || got.mean.Upper != exp.mean.Upper || !(math.Abs(got.mean.D-exp.mean.D) <= tol) ||
					got.scale.N != exp.scale.N || !(math.Abs(got.scale.D-exp.scale.D) <= tol) {
					t.Fatalf("event %d: pane sums give %+v, the cells %+v", i, got, exp)
				}
				out = c.evaluate(s, &p, 1e-7, out[:0])
				want = c.evaluate(cells, &p, 1e-7, want[:0])
				if !sameDecisions(out, want) {
					t.Fatalf("event %d: decisions from pane sums %+v, from the cells %+v", i, out, want)
				}
			}
		})
	}
}

// sameDecisions reports whether two evaluations of one window made the
// same decisions on the same tests.
func sameDecisions(a, b []Result) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := &a[i], &b[i]
		if x.Test != y.Test || x.Drifting != y.Drifting || x.Holding != y.Holding || x.Severe != y.Severe || x.Undefined != y.Undefined {
			return false
		}
	}
	return true
}
