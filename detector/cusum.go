package detector

import (
	"math"

	"github.com/driftd/driftd/detector/celltest"
	"github.com/driftd/driftd/detector/sequential"
)

// The cusum test: a two-sided CUSUM on the panes of a count window (see
// package sequential). Each closed pane's cell-score mean is turned into
// a normal score z by its exact null distribution under the reference
// (celltest.Mean.PaneZ: standard normal whatever the feature's shape),
// and z feeds S⁺ and S⁻ with reference value k = δ·√hop/2 — half the
// pane-score shift of a mean shift of δ = Policy.CUSUMShift standard
// deviations of the cell scores. The threshold h is the one whose
// false-alarm rate per pane, from the exact average run length and
// averaged over the reference's own sampling error, equals the test's
// share of the ERT (the same α as every other test: hop/(ERT·tests)).
// The result's p-value is α·R(S)/R(h), R Siegmund's rate at threshold S:
// below α exactly when S ≥ h. The effect is the estimated shift in
// standard deviations: the mean of the panes' cell-score mean differences
// since the signalling side last left 0. The test fires on its first
// crossing (the CUSUM has accumulated the evidence hysteresis would wait
// for), is never severe, and starts afresh when its alert resolves.
//
// Count windows only, with panes of at least MinCUSUMPane events (single
// stage, and stage 2 of two-stage mode, whose panes are stage 1's panes of
// Hop events): event-time panes hold as many events as the traffic
// brings, for which k and h are not yet derived.

// cusumMethod is the Method of cusum results.
const cusumMethod = "cusum"

// cusumNull is a feature's CUSUM setup: k and the pane size it assumes.
type cusumNull struct {
	k    float64 // reference value, pane-score units
	hop  float64 // nominal pane size
	tau2 float64 // variance of the reference's bias in pane-score units: hop/m
	// threshold cache: the threshold at alpha, and Siegmund's rate there
	alpha, h, rateH float64
	// table of pane scores at the nominal pane size, built at the
	// first pane (see celltest.PaneTable); tabled marks it built.
	table  *celltest.PaneTable
	tabled bool
}

// paneZ is the normal score of a pane through the feature's table.
func (c *compiled) paneZ(w celltest.Window) float64 {
	cn := c.cusum
	if !cn.tabled {
		cn.table, cn.tabled = c.mean.NewPaneTable(int64(cn.hop)), true
	}
	return c.mean.PaneZTable(cn.table, w)
}

// MinCUSUMPane is the smallest pane (hop) the cusum test runs on. The
// pane scores rest on the saddlepoint tail of a pane's mean, whose
// relative error grows as the pane shrinks, most for heavy right tails:
// 25-event panes of a lognormal (σ 1) feature put 25 % more panes beyond
// the normal 1 % point than the normal does, and the CUSUM raised 4.6×
// its target false-alarm rate (bench/peers/seq_delay.py --hop 25). The
// H0 suite checks the test at this pane size (TestCUSUMH0Shapes).
const MinCUSUMPane = 100

// newCUSUMNull prepares the cusum test of a numeric feature on panes of
// hop events, or returns nil when it does not apply (no mean test: a
// constant reference; panes below MinCUSUMPane).
func newCUSUMNull(c *compiled, hop int, shift float64) *cusumNull {
	if c.mean == nil || hop < MinCUSUMPane || !(shift > 0) || c.ref.Count < 1 {
		return nil
	}
	n := float64(hop)
	return &cusumNull{k: shift * math.Sqrt(n) / 2, hop: n, tau2: n / float64(c.ref.Count)}
}

// threshold returns h at level alpha, from the monitor's cache (every
// feature with the same k, bias and alpha shares one search).
func (cn *cusumNull) threshold(alpha float64, cache map[[3]float64]float64) float64 {
	if alpha == cn.alpha && cn.h > 0 {
		return cn.h
	}
	key := [3]float64{cn.k, cn.tau2, alpha}
	h, ok := cache[key]
	if !ok {
		var err error
		if h, err = sequential.Threshold(cn.k, cn.tau2, alpha); err != nil {
			h = math.Inf(1) // unreachable α: never signal
		}
		if len(cache) >= critTableMax {
			clear(cache)
		}
		cache[key] = h
	}
	cn.alpha, cn.h = alpha, h
	cn.rateH = sequential.RateApprox(h, cn.k, cn.tau2)
	return h
}

// stepCUSUM feeds pane i, the one that just closed in a count window or
// was pushed into a stage-2 window, whose sums countSnapshot or
// paneSnapshot has taken, to the feature's CUSUM. Panes without valid
// values leave it as it is.
func (f *featureState) stepCUSUM(i uint64) {
	cn := f.c.cusum
	if cn == nil || f.panes == nil {
		return
	}
	if w := f.c.mean.PaneWindow(f.panes[i%uint64(len(f.panes))].Mean); w.N > 0 {
		f.cusum.Step(f.c.paneZ(w), w.D, cn.k)
	}
}

// cusumTest reports the feature's CUSUM at level alpha.
func (c *compiled) cusumTest(s Snapshot, alpha float64) (Result, bool) {
	cn := c.cusum
	if cn == nil || s.CUSUM == nil {
		return Result{}, false
	}
	st := s.CUSUM
	h := cn.threshold(alpha, c.crit.cusumH)
	stat := st.Statistic()
	r := Result{Statistic: stat, Critical: h, Method: cusumMethod, Reference: c.ref.Mean,
		N: int64(max(st.UpPanes, st.DownPanes)) * int64(cn.hop)}
	r.PValue = 1
	if stat > 0 && !math.IsInf(h, 1) {
		r.PValue = math.Min(1, alpha*sequential.RateApprox(stat, cn.k, cn.tau2)/cn.rateH)
		if stat >= h {
			// The decision is S ≥ h; keep the p-value on its side of α
			// where the approximation's ratio rounds.
			r.PValue = math.Min(r.PValue, math.Nextafter(alpha, 0))
		}
	}
	// The shift in standard deviations of the reference values: the
	// panes' mean differences are in score standard deviations.
	shift := math.Abs(st.Shift()) * c.mean.SD()
	switch sd := c.ref.StdDev(); {
	case sd > 0:
		r.Effect = shift / sd
	case shift > 0:
		r.Effect = math.Inf(1)
	}
	return r, true
}
