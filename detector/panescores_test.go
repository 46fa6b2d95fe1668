package detector

import (
	"fmt"
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

// timeFeature is a feature of c on an event-time window of clock, as
// NewMonitor makes one.
func timeFeature(tb testing.TB, c *compiled, clock *window.TimeClock) *featureState {
	tw, err := window.NewTimeWindow(c.layout, clock)
	if err != nil {
		tb.Fatal(err)
	}
	return &featureState{c: c, tw: tw, panes: newTimePaneScores(c, clock.Panes())}
}

// paneScoresCase is one shape of TestPaneScoresMatchCells and its
// time-window analogue: the feature compiled from 20,000 of its values and
// the generator of the stream, stable and then drifting.
type paneScoresCase struct {
	sh  h0Shape
	rng *rand.Rand
	c   *compiled
	p   Policy
	out []Result
	exp []Result
}

// forPaneScoreShapes runs test on the numeric shapes of the H0 suite and
// 1e15 + N(0, 1).
func forPaneScoreShapes(t *testing.T, test func(t *testing.T, pc *paneScoresCase)) {
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
			test(t, &paneScoresCase{sh: sh, rng: rng, c: c, p: DefaultPolicy()})
		})
	}
}

// value is the stream's i-th value: from event 6000 on shifted by a
// quarter of the reference's spread, from 9000 on also spread 1.5×.
func (pc *paneScoresCase) value(i int) float64 {
	x := pc.sh.gen(pc.rng).Num
	if i >= 6000 {
		x += 0.25 * math.Sqrt(pc.c.ref.Variance)
	}
	if i >= 9000 {
		x = pc.c.ref.Mean + 1.5*(x-pc.c.ref.Mean)
	}
	return x
}

// check compares the evaluation of s from its window sums with the pass
// over its cells: the mean and scale windows (n and the upper count
// exactly, D within tol) and the decisions.
func (pc *paneScoresCase) check(t *testing.T, what string, s Snapshot, tol float64) {
	t.Helper()
	c := pc.c
	if (s.sums != nil) != (c.mean != nil) {
		t.Fatalf("%s: window sums %v on a feature with mean test %v", what, s.sums != nil, c.mean != nil)
	}
	c.scores = cellScores{}
	got := *c.cellScores(&s)
	cells := s
	cells.sums = nil
	c.scores = cellScores{}
	exp := *c.cellScores(&cells)
	if got.mean.N != exp.mean.N || got.mean.Upper != exp.mean.Upper || !(math.Abs(got.mean.D-exp.mean.D) <= tol) ||
		got.scale.N != exp.scale.N || !(math.Abs(got.scale.D-exp.scale.D) <= tol) {
		t.Fatalf("%s: pane sums give %+v, the cells %+v", what, got, exp)
	}
	pc.out = c.evaluate(s, &pc.p, 1e-7, pc.out[:0])
	pc.exp = c.evaluate(cells, &pc.p, 1e-7, pc.exp[:0])
	if !sameDecisions(pc.out, pc.exp) {
		t.Fatalf("%s: decisions from pane sums %+v, from the cells %+v", what, pc.out, pc.exp)
	}
}

// TestPaneScoresMatchCells: the mean and scale tests' windows from the
// pane sums of a count window equal those of the pass over the cells, and
// so do the evaluations' decisions, on the numeric shapes of the H0 suite
// and 1e15 + N(0, 1), stable and then drifting, across a restore. The
// sums add the same terms in another order, so the standardized
// differences agree to 1e-12 (in reference standard deviations of one
// cell score, where each of the n = 1000 terms is O(1) and their rounding
// ≈ 1e-14); n and the upper count exactly.
func TestPaneScoresMatchCells(t *testing.T) {
	forPaneScoreShapes(t, func(t *testing.T, pc *paneScoresCase) {
		c := pc.c
		f := countFeature(t, c, 1000, 125)
		var scratch paneScratch
		for i := range 12000 {
			x := pc.value(i)
			if i == 4321 {
				// A restored window, mid-pane, on a new feature
				// state: its pane sums are recomputed.
				state := f.cw.State()
				f = countFeature(t, c, 1000, 125)
				var err error
				if f.cw, err = window.RestoreCount(c.layout, state); err != nil {
					t.Fatal(err)
				}
				f.sumPanes()
			}
			if f.addValue(x) {
				pc.check(t, fmt.Sprintf("event %d", i), f.countSnapshot(&scratch), 1e-12)
			}
		}
	})
}

// TestTimePaneScoresMatchCells is TestPaneScoresMatchCells on an
// event-time window (8 panes of 1 s, 2.5 s allowed lateness, ≈ 125 events
// a pane) whose events come out of order: one in five is delayed by up to
// 4 s, so it lands in an open pane older than the newest (within the
// lateness) or is late and dropped. The window, restored mid-stream with
// panes open, recomputes its closed panes' sums; the same tolerance. The
// decisions are by the p-values themselves, as time windows decide.
func TestTimePaneScoresMatchCells(t *testing.T) {
	forPaneScoreShapes(t, func(t *testing.T, pc *paneScoresCase) {
		c := pc.c
		c.crit.direct = true // as NewMonitor sets for time windows
		const size, hop, lateness = 8000, 1000, 2500
		clock, err := window.NewTimeClock(size, hop, lateness)
		if err != nil {
			t.Fatal(err)
		}
		f := timeFeature(t, c, clock)
		var scratch paneScratch
		var late, older, evaluations int
		newest := int64(math.MinInt64)
		for i := range 12000 {
			x := pc.value(i)
			ms := int64(8 * i)
			if pc.rng.IntN(5) == 0 {
				ms -= pc.rng.Int64N(4000)
			}
			if i == 4321 {
				// A restored clock and window, panes open, on a new
				// feature state: its pane sums are recomputed.
				state, clockState := f.tw.State(), clock.State()
				clock, _ = window.NewTimeClock(size, hop, lateness)
				clock.Restore(clockState)
				f = timeFeature(t, c, clock)
				if f.tw, err = window.RestoreTime(c.layout, clock, state); err != nil {
					t.Fatal(err)
				}
				f.sumPanes()
			}
			pane, isLate := clock.Observe(ms)
			if isLate {
				late++
				continue
			}
			for {
				due, ok := clock.Due()
				if !ok {
					break
				}
				clock.Advance()
				if f.tw.Close(due) {
					evaluations++
					pc.check(t, fmt.Sprintf("event %d, pane %d", i, due), f.timeSnapshot(&scratch), 1e-12)
				}
			}
			if pane < newest {
				older++
			}
			newest = max(newest, pane)
			f.tw.Add(pane, c.breaks.Cell(x), x-c.centre)
		}
		// The stream must have exercised what the test is about.
		if late == 0 || older == 0 || evaluations < 80 {
			t.Fatalf("%d late events, %d in an older open pane, %d evaluations", late, older, evaluations)
		}
	})
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
