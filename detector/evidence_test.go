package detector

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/driftd/driftd/window"
)

// countCells counts values into the cells of a numeric reference the way
// a window does, returning the cells (with missing and invalid) and the
// moments of the values.
func countCells(t *testing.T, ref *FeatureRef, xs []float64, missing int) ([]uint32, window.Moments) {
	t.Helper()
	b, err := window.NewBreaks(ref.Breakpoints)
	if err != nil {
		t.Fatal(err)
	}
	l := b.Layout()
	cells := make([]uint32, l.Cells())
	var m window.Moments
	for _, x := range xs {
		cells[b.Cell(x)]++
		m.Add(x)
	}
	cells[l.Missing()] += uint32(missing)
	return cells, m
}

func normalFeature(t *testing.T, rng *rand.Rand, rows int, mean, sd float64) *FeatureRef {
	t.Helper()
	b, _ := NewBuilder("m", "1", BuildOptions{})
	for range rows {
		b.BeginRow()
		b.Add("x", Value{Kind: Number, Num: mean + sd*rng.NormFloat64(), Parsed: true})
		b.EndRow()
	}
	ref, err := b.Reference()
	if err != nil {
		t.Fatal(err)
	}
	return ref.Features[0]
}

// TestExplainNumeric checks numeric evidence against what the inputs make
// true: a reference N(0, 1) of 50,000 rows and windows of 4,000 values.
func TestExplainNumeric(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	ref := normalFeature(t, rng, 50000, 0, 1)
	z := func(p float64) float64 { return math.Sqrt2 * math.Erfinv(2*p-1) }
	cases := []struct {
		name          string
		mean, sd      float64
		shift, spread string
	}{
		// 1: a shift of one sd: quantiles move by 1, spread stays.
		{"shift up", 1, 1, "up", "same"},
		// 2: the same downwards.
		{"shift down", -1, 1, "down", "same"},
		// 3: twice the spread, same centre.
		{"wider", 0, 2, "none", "wider"},
		// 4: half the spread.
		{"narrower", 0, 0.5, "none", "narrower"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			xs := make([]float64, 4000)
			for i := range xs {
				xs[i] = c.mean + c.sd*rng.NormFloat64()
			}
			cells, mom := countCells(t, ref, xs, 0)
			ev := Explain(ref, TestKS, cells, mom, nil)
			if ev == nil || ev.Window == nil || ev.Reference == nil || ev.KS == nil || ev.Direction == nil {
				t.Fatalf("evidence incomplete: %+v", ev)
			}
			if ev.Direction.Shift != c.shift || ev.Direction.Spread != c.spread {
				t.Errorf("direction %+v, want shift %s spread %s", ev.Direction, c.shift, c.spread)
			}
			// Quantiles of N(mean, sd) from 4,000 values: within
			// 0.1 sd (sampling) plus the width of the reference cell
			// the true quantile lies in (values are taken as spread
			// evenly within a cell, which is wide where the reference
			// has little mass).
			w, r := ev.Window, ev.Reference
			q := ref.Breakpoints
			for i, p := range []float64{0.05, 0.25, 0.5, 0.75, 0.95} {
				got := []float64{w.P5, w.P25, w.P50, w.P75, w.P95}[i]
				want := c.mean + c.sd*z(p)
				j, _ := slices.BinarySearch(q, want)
				width := 0.0
				if j > 0 && j < len(q) {
					width = q[j] - q[j-1]
				}
				if math.Abs(got-want) > 0.1*c.sd+width {
					t.Errorf("window p%.0f = %.3f, want %.3f", 100*p, got, want)
				}
				gotRef := []float64{r.P5, r.P25, r.P50, r.P75, r.P95}[i]
				if math.Abs(gotRef-z(p)) > 0.05 {
					t.Errorf("reference p%.0f = %.3f, want %.3f", 100*p, gotRef, z(p))
				}
			}
			if math.Abs(w.Mean-mom.Mean) > 1e-12 || math.Abs(r.Mean-ref.Mean) > 1e-12 || r.N != ref.Count || w.N != 4000 {
				t.Errorf("moments: window %+v reference %+v", w, r)
			}
			// The KS point is where the detector's D is attained.
			d, _, _ := ksDistance(cells[:2*len(ref.Breakpoints)+1+2], ref.Ranks, 4000, ref.Count)
			if math.Abs(ev.KS.Distance-d) > 1e-12 || math.Abs(math.Abs(ev.KS.WindowCDF-ev.KS.ReferenceCDF)-d) > 1e-12 {
				t.Errorf("KS point %+v, detector D = %v", ev.KS, d)
			}
			// The reference CDF reported is the reference's at that
			// value: R_j/m at q_j, R_{j-1}/m just below q_j.
			j, _ := slices.BinarySearch(ref.Breakpoints, ev.KS.Value)
			want := float64(ref.Ranks[j]) / float64(ref.Count)
			if ev.KS.Side == "below" {
				want = 0
				if j > 0 {
					want = float64(ref.Ranks[j-1]) / float64(ref.Count)
				}
			}
			if ev.KS.ReferenceCDF != want {
				t.Errorf("reference CDF %v at %v (%s), want %v", ev.KS.ReferenceCDF, ev.KS.Value, ev.KS.Side, want)
			}
		})
	}
}

// TestExplainOutOfRange: values past the reference range are reported as
// below-min/above-max shares, and quantiles there clamp to the bounds.
func TestExplainOutOfRange(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	ref := normalFeature(t, rng, 10000, 0, 1)
	xs := make([]float64, 1000)
	for i := range xs {
		xs[i] = rng.NormFloat64()
		if i < 100 {
			xs[i] = 1000 // 10% far above the maximum
		}
	}
	cells, mom := countCells(t, ref, xs, 0)
	ev := Explain(ref, TestOutOfRange, cells, mom, nil)
	if ev.Quality == nil || math.Abs(ev.Quality.AboveMax-0.1) > 0.001 || ev.Quality.BelowMin > 0.001 {
		t.Fatalf("quality %+v, want above_max 0.1", ev.Quality)
	}
	if ev.Window.P95 != ref.Max || ev.Window.AboveMax < 0.1 {
		t.Errorf("p95 %v (max %v), above_max %v", ev.Window.P95, ref.Max, ev.Window.AboveMax)
	}
	if ev.Quality.Ratio != ev.Quality.Window/ev.Quality.Reference {
		t.Errorf("ratio %v", ev.Quality.Ratio)
	}
}

// TestExplainQuality: missing evidence compares the window's ratio with
// the reference's.
func TestExplainQuality(t *testing.T) {
	ref := &FeatureRef{Name: "x", Kind: Numeric, Count: 90, Missing: 10, Breakpoints: []float64{1, 2}, Ranks: []int64{45, 90}, Mean: 1.5, Variance: 0.25, Min: 1, Max: 2}
	cells, mom := countCells(t, ref, []float64{1, 2, 1.5, 2, 1, 2}, 4) // 4 of 10 missing
	ev := Explain(ref, TestMissing, cells, mom, nil)
	if ev == nil || ev.Quality == nil {
		t.Fatal("no quality evidence")
	}
	q := ev.Quality
	if q.Window != 0.4 || q.Reference != 0.1 || q.Count != 4 || q.N != 10 || math.Abs(q.Ratio-4) > 1e-12 {
		t.Errorf("quality %+v, want window 0.4, reference 0.1, ratio 4", q)
	}
	if ev.Window != nil {
		t.Errorf("missing evidence carries a distribution: %+v", ev.Window)
	}
}

// TestExplainCategorical: the category that moved most comes first, and
// a category the reference never had shows as unseen with its examples.
func TestExplainCategorical(t *testing.T) {
	ref := &FeatureRef{Name: "plan", Kind: Categorical, Count: 1000, Distinct: 3,
		Categories: []CategoryCount{{"basic", 500}, {"pro", 300}, {"enterprise", 200}}}
	// Window of 100: basic 50, pro 5, enterprise 20, and 25 of "PRO".
	cells := []uint32{50, 5, 20, 25, 0, 0}
	ev := Explain(ref, TestChi2, cells, window.Moments{}, []CategoryCount{{"PRO", 25}})
	if ev == nil || len(ev.Categories) == 0 {
		t.Fatal("no category evidence")
	}
	// pro: 0.05 vs 0.30 (|Δ| 0.25) ties other: 0.25 vs 0; pro is
	// first by order; enterprise 0.20 = 0.20 is not listed, basic
	// 0.5 = 0.5 neither.
	if got := ev.Categories[0]; got.Value != "pro" || got.Window != 0.05 || got.Reference != 0.3 {
		t.Errorf("first category %+v, want pro 0.05 vs 0.3", got)
	}
	if len(ev.Categories) != 2 || !ev.Categories[1].Other {
		t.Errorf("categories %+v, want pro and other", ev.Categories)
	}
	u := ev.Unseen
	if u == nil || u.Share != 0.25 || u.Count != 25 || u.ReferenceShare != 0 || len(u.Examples) != 1 || u.Examples[0].Value != "PRO" {
		t.Errorf("unseen %+v", u)
	}
}

// TestUnseenSketch: the sketch keeps the most frequent values among
// more distinct values than it has slots.
func TestUnseenSketch(t *testing.T) {
	var u unseenSketch
	for i := range 1000 {
		u.add([]byte("PRO"))
		if i%10 == 0 {
			u.add([]byte{byte('a' + i%26), byte('a' + i/26%26)}) // 100 rare names
		}
	}
	ex := u.examples()
	if len(ex) == 0 || ex[0].Value != "PRO" || ex[0].Count < 900 {
		t.Fatalf("examples %+v, want PRO first with ≥ 900", ex)
	}
	u.decay()
	if got := u.examples()[0].Count; got != ex[0].Count/2 {
		t.Errorf("after decay %d, want %d", got, ex[0].Count/2)
	}
	allocs := testing.AllocsPerRun(100, func() { u.add([]byte("PRO")) })
	if allocs != 0 {
		t.Errorf("adding a known value allocates %v times", allocs)
	}
}

// TestAlertEvidenceAndUpdates feeds a gradual training–serving skew: a
// growing share of events carries tenure_days/365. The KS alert fires
// when the effect first passes the gate and must then be updated as the
// effect grows, each update with a larger effect than the last
// published, and carry evidence pointing down.
func TestAlertEvidenceAndUpdates(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	b, _ := NewBuilder("churn", "3", BuildOptions{})
	for range 50000 {
		b.BeginRow()
		b.Add("tenure_days", Value{Kind: Number, Num: 365 + 180*rng.NormFloat64(), Parsed: true})
		b.EndRow()
	}
	ref, err := b.Reference()
	if err != nil {
		t.Fatal(err)
	}
	s := newSim(t, ref, DefaultPolicy(), DefaultWindow())
	s.names = [][]byte{[]byte("tenure_days")}
	for range 2000 { // stable
		s.event([]float64{365 + 180*rng.NormFloat64()})
	}
	if len(s.alerts) != 0 {
		t.Fatalf("alerts under no drift: %v", s.alerts)
	}
	// The skew reaches 10% of events first, then all of them.
	for i := range 4000 {
		x := 365 + 180*rng.NormFloat64()
		if rng.Float64() < min(1, 0.1+float64(i)/2000) {
			x /= 365
		}
		s.event([]float64{x})
	}
	var ks []Alert
	for _, a := range s.alerts {
		if a.Test == TestKS {
			ks = append(ks, a)
		}
	}
	if len(ks) < 2 {
		t.Fatalf("KS alerts %d, want a firing and at least one update", len(ks))
	}
	if ks[0].Status != Firing || ks[0].Update != 0 {
		t.Fatalf("first KS alert %+v", ks[0])
	}
	last := ks[0].Effect
	for i, a := range ks[1:] {
		if a.Status != Firing || a.Update != i+1 || a.PreviousEffect != last || !(a.Effect > last) {
			t.Errorf("update %d: status %s update %d effect %v previous %v (last published %v)", i+1, a.Status, a.Update, a.Effect, a.PreviousEffect, last)
		}
		if !(a.Effect >= 1.5*last || (a.Severe && !ks[i].Severe)) {
			t.Errorf("update %d with effect %v over %v and severity %v → %v: not material", i+1, a.Effect, last, ks[i].Severe, a.Severe)
		}
		last = a.Effect
	}
	// The last published effect is within the update factor of where
	// the drift ended (D ≈ 0.98): consumers are never left with an
	// effect smaller than 1/1.5 of the current one.
	var finalD float64
	for _, r := range s.m.View().Features[0].Results {
		if r.Test == TestKS {
			finalD = r.Effect
		}
	}
	if finalD < 0.95 || ks[len(ks)-1].Effect*1.5 < finalD {
		t.Errorf("last published effect %v, final D %v", ks[len(ks)-1].Effect, finalD)
	}
	ids := map[string]bool{}
	for _, a := range ks {
		if ids[a.ID] {
			t.Errorf("duplicate alert id %s", a.ID)
		}
		ids[a.ID] = true
		ev := a.Evidence
		if ev == nil || ev.Direction == nil || ev.Direction.Shift != "down" || ev.KS == nil || ev.Window == nil {
			t.Fatalf("alert without downward evidence: %+v", ev)
		}
		if math.Abs(ev.KS.Distance-a.Statistic) > 1e-12 {
			t.Errorf("evidence D %v, alert statistic %v", ev.KS.Distance, a.Statistic)
		}
	}
	if p50 := ks[len(ks)-1].Evidence.Window.P50; p50 > 5 {
		t.Errorf("window median %v, want ≈ 1 (tenure/365)", p50)
	}
}

// TestNoUpdateForSteadyDrift: a constant drift is published while the
// window fills with it (firing, perhaps an update as the effect grows)
// and then never again while its effect stays put.
func TestNoUpdateForSteadyDrift(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	ref := normalReference(t, rng, 1, 50000, 0, 1)
	s := newSim(t, ref, DefaultPolicy(), DefaultWindow())
	for range 1000 {
		s.event([]float64{rng.NormFloat64()})
	}
	for range 20000 {
		s.event([]float64{0.5 + rng.NormFloat64()})
	}
	n := map[Test]int{}
	for _, a := range s.alerts {
		n[a.Test]++
		if a.Window.LastSeq > 3000 {
			t.Errorf("published after the window filled with the drift: %s", a.Summary)
		}
	}
	if n[TestKS] < 1 || n[TestKS] > 2 || n[TestMeanShift] < 1 || n[TestMeanShift] > 2 {
		t.Errorf("alerts per test %v, want a firing and at most one update each", n)
	}
}
