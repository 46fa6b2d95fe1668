package detector

import (
	"fmt"
	"math"
	"math/bits"
	"unsafe"

	"github.com/driftd/driftd/detector/celltest"
	"github.com/driftd/driftd/detector/ksdist"
	"github.com/driftd/driftd/detector/sequential"
	"github.com/driftd/driftd/window"
)

// Result is the outcome of one test on one feature window.
type Result struct {
	Test Test `json:"test"`
	// Statistic is the test statistic: KS D against the reference step
	// CDF, the standardized cell-score mean difference z (mean_shift),
	// the chi-square statistic, or the window ratio for the quality
	// tests.
	Statistic float64 `json:"statistic"`
	PValue    float64 `json:"p_value"`
	// Effect is the effect size the gate applies to: D − ε (KS),
	// |Δμ|/σ_ref (mean shift), the Jensen–Shannon distance (chi2), the
	// increase of the ratio over the reference (quality tests).
	Effect          float64 `json:"effect"`
	Threshold       float64 `json:"threshold"`
	EffectThreshold float64 `json:"effect_threshold"`
	// N is the number of window events the test used.
	N        int64 `json:"n"`
	Drifting bool  `json:"drifting"`
	// Severe marks a drifting result far past both thresholds
	// (see Policy.ImmediateFactor).
	Severe bool `json:"severe,omitempty"`
	// Firing is the alert state of the (feature, test) after this
	// evaluation.
	Firing bool `json:"firing"`
	// Holding is the looser condition that keeps a firing alert firing:
	// the resolve side of the hysteresis (see Policy.ResolveFactor).
	Holding bool `json:"-"`
	// DF is the degrees of freedom (mean_shift, chi2).
	DF float64 `json:"df,omitempty"`
	// PSI is the population stability index (chi2).
	PSI float64 `json:"psi,omitempty"`
	// Method is the KS method used: "exact" (the exact two-sample
	// distribution of D; the reference is whole) or "asymp" (kstwo at
	// n_eff on D − ε). The decision compares the effect with Critical,
	// computed once from that distribution. mean_shift and scale:
	// "saddlepoint", "lattice_saddlepoint", "fisher" or "normal" (see
	// celltest).
	Method string `json:"method,omitempty"`
	// Critical is the KS critical value at Threshold: the test is
	// significant exactly when Effect >= Critical (see ksCritical). It is
	// set when the effect passes the gate (else no decision needed it).
	Critical float64 `json:"critical,omitempty"`
	// PValueApprox marks a KS p-value computed by kstwo at n_eff because
	// the exact one (Method "exact", or Durbin's matrix) costs more than
	// an evaluation may; the decision still follows Method's
	// distribution through Critical. mean_shift and scale past the
	// resolve band of a count window: the normal approximation, while
	// the decision compares D with critical values of Method's tail
	// (alerts carry the exact tail).
	PValueApprox bool `json:"p_value_approx,omitempty"`
	// Reference is the reference value the window is compared with:
	// the mean (mean_shift) or the ratio (quality tests).
	Reference float64 `json:"reference,omitempty"`
	// Undefined, when set, says why the test could not be computed on
	// this window (a float64 overflow, a non-finite statistic); the
	// result is then never drifting and its p-value is reported as 1.
	Undefined string `json:"undefined,omitempty"`
}

// isFinite reports whether x is neither NaN nor ±Inf.
func isFinite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// Snapshot is what the tests see of a feature window: per-cell counts
// (value cells, then missing and invalid) and the moments of the valid
// numeric values. Counts are 32-bit (Counts) or, for count windows of at
// most 65535 events, 16-bit (Counts16); exactly one is set.
type Snapshot struct {
	Counts   []uint32
	Counts16 []uint16
	// Moments are those of x − Centre: windows accumulate values
	// relative to the reference mean, so an offset such as 1e15 costs no
	// digits (see compiled.centre).
	Moments window.Moments
	Centre  float64
	// CUSUM is the feature's CUSUM after the pane that just closed
	// (count windows; nil elsewhere: the cusum test does not apply).
	CUSUM *sequential.State
	// N, when positive, is the sum of the counts, which the window
	// keeps anyway (0: sum them).
	N int64
	// sums, for count windows, are the window's mean and scale score
	// sums, added up from its panes' (nil: the tests sum the counts).
	sums *celltest.PairSum
}

// absMoments returns the moments of the values themselves.
func (s *Snapshot) absMoments() window.Moments {
	m := s.Moments
	if m.N > 0 {
		m.Mean += s.Centre
	}
	return m
}

// count returns the events in cell i.
func (s *Snapshot) count(i int) int64 {
	if s.Counts16 != nil {
		return int64(s.Counts16[i])
	}
	return int64(s.Counts[i])
}

// total returns the events in the snapshot.
func (s *Snapshot) total() int64 {
	if s.N > 0 {
		return s.N
	}
	var t int64
	for _, c := range s.Counts16 {
		t += int64(c)
	}
	for _, c := range s.Counts {
		t += int64(c)
	}
	return t
}

// compiled is a FeatureRef prepared for counting and testing.
type compiled struct {
	ref    *FeatureRef
	layout window.Layout
	breaks *window.Breaks // numeric with count > 0
	cats   map[string]int // categorical: category → cell
	props  []float64      // categorical: expected share per value cell (other: see otherShare)
	known  []float64      // categorical: kept categories' shares among themselves
	tests  []Test         // tests that apply
	scrat  *evalScratch   // reused buffers
	nilRef bool           // numeric feature with no valid reference values
	oorP0  float64        // reference out-of-range probability
	refMs  window.Moments // reference moments (mean_shift)
	mean   *celltest.Mean // null of the cell-score mean (mean_shift); nil: constant reference
	scale  *celltest.Mean // null of the mean absolute deviation (scale); nil: no spread or two values
	cusum  *cusumNull     // the cusum test's setup (count windows); nil: not applicable
	kscell []int64        // Ranks, for the KS scan
	scores cellScores     // this evaluation's cell scores (mean_shift, scale)
	centre float64        // numeric: the reference mean; windows hold moments of x − centre
	crit   *critTable     // KS critical values, shared by a monitor's features
	// tailCrit caches the mean_shift and scale critical values of this
	// feature (see tailBelow).
	tailCrit map[tailKey]float64
}

type tailKey struct {
	scale, upper bool
	n            int64
	level        float64
}

type evalScratch struct {
	obs, exp, winP []float64
	ks             ksDecision
}

func compile(f *FeatureRef) (*compiled, error) {
	c := &compiled{ref: f, scrat: &evalScratch{}, crit: newCritTable()}
	switch f.Kind {
	case Numeric:
		c.tests = NumericTests
		if f.Count == 0 {
			c.nilRef = true
			c.layout = window.Layout{Valid: 1}
			return c, nil
		}
		b, err := window.NewBreaks(f.Breakpoints)
		if err != nil {
			return nil, fmt.Errorf("feature %q: %w", f.Name, err)
		}
		c.breaks, c.layout = b, b.Layout()
		c.kscell = f.Ranks
		// A fresh exchangeable draw falls outside the range of m
		// reference values with probability 2/(m+1).
		c.oorP0 = 2 / (float64(f.Count) + 1)
		c.refMs = window.Moments{N: float64(f.Count), Mean: f.Mean, M2: f.Variance * float64(f.Count-1)}
		c.mean = celltest.NewMean(f.Breakpoints, f.Ranks, f.Exact)
		c.scale = celltest.NewScale(f.Breakpoints, f.Ranks, f.Exact)
		c.centre = f.Mean
	case Categorical:
		c.tests = CategoricalTests
		k := len(f.Categories)
		c.layout = window.Layout{Valid: k + 1} // categories, then "other"
		c.cats = make(map[string]int, k)
		c.props = make([]float64, k+1)
		for i, cat := range f.Categories {
			c.cats[cat.Value] = i
			if f.Count > 0 {
				c.props[i] = float64(cat.Count) / float64(f.Count)
			}
		}
		if f.Count > 0 {
			// New categories have their own expected share in the
			// other cell (see otherShare).
			o := otherShare(f)
			scale := (1 - o) / (1 - float64(f.Other)/float64(f.Count))
			for i := range k {
				c.props[i] *= scale
			}
			c.props[k] = o
			c.known = make([]float64, k)
			for i := range c.known {
				c.known[i] = c.props[i] / (1 - c.props[k])
			}
		}
	default:
		return nil, fmt.Errorf("feature %q: unknown kind %q", f.Name, f.Kind)
	}
	if err := c.layout.Validate(); err != nil {
		return nil, fmt.Errorf("feature %q: %w", f.Name, err)
	}
	return c, nil
}

// otherCell is the categorical "other" cell.
func (c *compiled) otherCell() int { return len(c.ref.Categories) }

// evaluate runs every enabled test on a snapshot. alpha is the p-value
// threshold for each test. It appends to out and returns it.
func (c *compiled) evaluate(s Snapshot, p *Policy, alpha float64, out []Result) []Result {
	l := c.layout
	c.scores = cellScores{}
	total := s.total()
	missing := s.count(l.Missing())
	invalid := s.count(l.Invalid())
	valid := total - missing - invalid
	for _, t := range c.tests {
		if !p.Enabled(t) {
			continue
		}
		var r Result
		var ok bool
		switch t {
		case TestKS:
			r, ok = c.ks(s, valid, p)
		case TestMeanShift:
			r, ok = c.meanShift(s, p)
		case TestScale:
			r, ok = c.scaleTest(s, p)
		case TestCUSUM:
			r, ok = c.cusumTest(s, alpha)
		case TestChi2:
			r, ok = c.chi2(s, valid)
		case TestMissing:
			r, ok = rateTest(missing, total, c.ref.Missing, c.ref.Total())
		case TestInvalid:
			r, ok = rateTest(invalid, total, c.ref.Invalid, c.ref.Total())
		case TestOutOfRange:
			if c.breaks == nil {
				continue
			}
			oor := s.count(0) + s.count(l.Valid-1)
			r, ok = rateTestP(oor, valid, c.oorP0)
			if ok {
				// The window's values share one reference range: the
				// null count is beta-binomial, not binomial.
				r.PValue = OutOfRangeSF(oor, valid, c.ref.Count)
			}
		}
		if !ok {
			continue
		}
		r.Test = t
		r.Threshold = alpha
		r.EffectThreshold = p.gate(t)
		if r.Undefined == "" {
			r.Undefined = nonFinite(&r)
		}
		if r.Undefined != "" {
			out = append(out, r)
			continue
		}
		r.Drifting = r.Effect >= r.EffectThreshold && r.Effect > 0 && c.below(&r, alpha)
		// The resolve side needs the evidence clearly gone: the p-value
		// back above threshold^(1/4) (≈ 0.02 at 1.25e-7), or the effect
		// below ResolveFactor × gate. √threshold let noise in a window
		// still drifting resolve an alert, which re-fired an evaluation
		// or two later.
		r.Holding = r.Drifting || (r.Effect >= p.ResolveFactor*r.EffectThreshold && r.Effect > 0 && c.below(&r, math.Sqrt(math.Sqrt(alpha))))
		// The cusum test fires on its first crossing anyway; its
		// p-value is not on the scale the severity rule reads.
		if f := p.ImmediateFactor; r.Drifting && f > 0 && t != TestCUSUM {
			r.Severe = r.Effect >= f*r.EffectThreshold && c.below(&r, alpha/(f*f*f))
		}
		if t == TestKS && r.Effect >= r.EffectThreshold && r.Effect > 0 {
			if kd := &c.scrat.ks; c.crit.direct {
				// The decision computed the exact p-value: report it.
				r.PValue, r.PValueApprox = kd.decisionP(), false
			} else {
				// Past the gate the decision consulted it: no new search.
				r.Critical = c.ksCritical(alpha)
			}
		}
		out = append(out, r)
	}
	return out
}

// nonFinite names the first NaN among a result's numbers, the sign of a
// computation that went wrong: the result is undefined rather than given a
// made-up p-value. (±Inf statistics and effects are legitimate — a shift
// against a constant reference — and are reported as ±MaxFloat64.)
func nonFinite(r *Result) string {
	switch {
	case math.IsNaN(r.PValue) || math.IsInf(r.PValue, 0):
		return "p-value is not a number"
	case math.IsNaN(r.Statistic):
		return "statistic is not a number"
	case math.IsNaN(r.Effect):
		return "effect is not a number"
	case math.IsNaN(r.DF):
		return "degrees of freedom are not a number"
	}
	return ""
}

// ks computes D exactly against the reference step CDF from the cell
// counts. The decision (see below) compares D with a critical value: on
// scipy's exact two-sample path when the reference is whole (every
// distinct value a breakpoint) and the policy allows it, else on kstwo at
// n_eff = round(n·m/(n+m)) for D − ε, which is conservative for a sketch
// whose CDF may be off by ε between breakpoints. The reported p-value is
// the exact one when that is cheap, else kstwo's (PValueApprox).
func (c *compiled) ks(s Snapshot, n int64, p *Policy) (Result, bool) {
	if c.breaks == nil || n == 0 {
		return Result{}, false
	}
	m := c.ref.Count
	var d float64
	var num int64
	var exact bool
	if s.Counts16 != nil {
		d, num, exact = ksDistance(s.Counts16, c.kscell, n, m)
	} else {
		d, num, exact = ksDistance(s.Counts, c.kscell, n, m)
	}
	method := ksdist.Asymp
	if c.ref.Exact && p.KSMethod != KSMethodAsymp {
		method = ksdist.Auto
		if p.KSMethod == KSMethodExact {
			method = ksdist.Exact
		}
	}
	kd := &c.scrat.ks
	if method != ksdist.Asymp && exact && n <= math.MaxInt32 && m <= math.MaxInt32 {
		// h = D·lcm(n, m) = num/gcd(n, m), exactly.
		h := num / ksdist.GCD(n, m)
		*kd = ksDecision{exact: true, method: method, n: int(n), m: int(m), h: h}
		r := Result{Statistic: d, Effect: d, N: n, Method: ksdist.Asymp.String()}
		resolved := ksdist.ResolveMethod(int(n), int(m), method)
		if resolved == ksdist.Exact {
			r.Method = ksdist.Exact.String()
		}
		if resolved == ksdist.Exact && ksdist.TwoSampExactCost(h, int(n), int(m)) <= ksExactCostBudget {
			r.PValue, _ = ksdist.TwoSampPValueH(h, int(n), int(m), method)
			return r, true
		}
		// kstwo at n_eff on h/lcm: what TwoSampPValueH computes on its
		// asymptotic path, with Durbin's matrix bounded.
		lcm := float64(ksdist.TwoSampLCM(int(n), int(m)))
		var pexact bool
		r.PValue, pexact = ksdist.KolmogorovSFBounded(ksNEff(n, m, true), float64(h)/lcm)
		r.PValueApprox = resolved == ksdist.Exact || !pexact
		return r, true
	}
	eps := c.ref.CDFError
	r := Result{Statistic: d, Effect: math.Max(0, d-eps), N: n}
	en := ksNEff(n, m, false)
	*kd = ksDecision{neff: en, x: r.Effect}
	var pexact bool
	r.PValue, pexact = ksdist.KolmogorovSFBounded(en, r.Effect)
	r.PValueApprox = !pexact
	r.Method = ksdist.Asymp.String()
	return r, true
}

// ksExactCostBudget is the largest exact two-sample p-value computation,
// in lattice cells (ksdist.TwoSampExactCost, ≈ 20 instructions each), that
// an evaluation runs for the reported p-value.
const ksExactCostBudget = 1000

// ksNEff is the effective sample size round(n·m/(n+m)), at least 1: half
// to even as scipy's ks_2samp on its exact path's fallback (even = true),
// half away from zero on the sketch path.
func ksNEff(n, m int64, even bool) int {
	en := float64(n) * float64(m) / float64(n+m)
	if even {
		return max(int(math.RoundToEven(en)), 1)
	}
	return max(int(math.Round(en)), 1)
}

// ksDecision is what the last ks call left for the decisions: the exact
// lattice distance or the asymptotic statistic, and their sizes.
type ksDecision struct {
	exact  bool
	method ksdist.Method
	n, m   int
	h      int64
	neff   int
	x      float64
	// p is the decision's p-value once computed (critTable.direct).
	p     float64
	haveP bool
}

// decisionP returns the p-value of the decision's distribution (the one
// the critical values come from), computing it once per evaluation.
func (kd *ksDecision) decisionP() float64 {
	if !kd.haveP {
		if kd.exact {
			kd.p, _ = ksdist.TwoSampPValueH(kd.h, kd.n, kd.m, kd.method)
		} else {
			kd.p = ksdist.KolmogorovSF(kd.neff, kd.x)
		}
		kd.haveP = true
	}
	return kd.p
}

// below reports whether the result is significant at level a: its p-value
// is below a. For KS it compares the statistic with the critical value at
// a (see ksCritical), which gives the same answer as the p-value of the
// decision's distribution at a bounded cost.
func (c *compiled) below(r *Result, a float64) bool {
	switch {
	case r.Test == TestMeanShift && r.PValueApprox:
		return c.tailBelow(false, c.mean, c.scores.mean, a)
	case r.Test == TestScale && r.PValueApprox:
		return c.tailBelow(true, c.scale, c.scores.scale, a)
	case r.Test != TestKS:
		return r.PValue < a
	}
	kd := &c.scrat.ks
	if c.crit.direct {
		return kd.decisionP() < a
	}
	if kd.exact {
		return kd.h >= c.crit.twoSampH(kd.n, kd.m, a, kd.method)
	}
	return kd.x >= c.crit.kolmogorov(kd.neff, a)
}

// tailBelow decides a mean_shift or scale window at level a by the
// critical value of its exact tail, cached per (n, level, side).
func (c *compiled) tailBelow(scale bool, t *celltest.Mean, w celltest.Window, a float64) bool {
	k := tailKey{scale: scale, n: w.N, level: a, upper: w.D > 0}
	d, ok := c.tailCrit[k]
	if !ok {
		d, _ = t.Critical(w.N, a, k.upper)
		if c.tailCrit == nil || len(c.tailCrit) >= critTableMax {
			c.tailCrit = map[tailKey]float64{}
		}
		c.tailCrit[k] = d
	}
	return math.Abs(w.D) >= d
}

// ksCritical returns the last ks call's critical value at level a in units
// of D (the exact path's h/lcm, or kstwo's critical D − ε), +Inf when no D
// is significant.
func (c *compiled) ksCritical(a float64) float64 {
	kd := &c.scrat.ks
	if kd.exact {
		h := c.crit.twoSampH(kd.n, kd.m, a, kd.method)
		lcm := ksdist.TwoSampLCM(kd.n, kd.m)
		if h > lcm {
			return math.Inf(1)
		}
		return float64(h) / float64(lcm)
	}
	return c.crit.kolmogorov(kd.neff, a)
}

// ksDistance returns D = max over x of |W(x)/n − R(x)/m|, where W and R
// are the window and reference counts ≤ x, compared at each breakpoint and
// just below the next one: the reference step CDF is constant on
// [q_j, q_{j+1}), so these points cover every x. The window's CDF just
// below q_{j+1} is at least its value at q_j, so the largest excess over
// the reference can only come from the former and the largest deficit
// from the latter: one comparison each per breakpoint.
//
// The scan runs on integers — W·m − R·n — so D is exact and num = D·n·m
// is returned for the exact p-value. Counts too large for 63 bits fall back to float64 (exact =
// false).
func ksDistance[C uint16 | uint32](counts []C, ranks []int64, n, m int64) (d float64, num int64, exact bool) {
	hi64, nm := bits.Mul64(uint64(n), uint64(m))
	if hi64 != 0 || nm >= 1<<63 {
		return ksDistanceFloat(counts, ranks, n, m), 0, false
	}
	r := len(ranks)
	cum := int64(counts[0]) * m
	hi := cum // max of W·m − R·n (R = 0 below q_1)
	lo := int64(0)
	// The cells after cell 0 come in pairs (= q_j, between q_j and
	// q_{j+1}); reading them as [2]C lets the loop run without bounds
	// checks, and addressing pair j by its byte offset, advanced by one
	// add, spares count windows' 16-bit cells an address computation per
	// load (an index scaled by 4 does not fold into a 16-bit load):
	// 20 instructions per breakpoint for both cell widths.
	cells := counts[1 : 2*r+1]
	base, size := unsafe.Pointer(unsafe.SliceData(cells)), 2*unsafe.Sizeof(cells[0])
	var off uintptr
	for _, rank := range ranks {
		pair := (*[2]C)(unsafe.Add(base, off))
		off += size
		t := rank * n
		cum += int64(pair[0]) * m
		lo = min(lo, cum-t) // at q_j
		cum += int64(pair[1]) * m
		hi = max(hi, cum-t) // just below q_{j+1}
	}
	num = max(hi, -lo)
	if nm < 1<<53 {
		return float64(num) / float64(nm), num, true
	}
	return float64(num) / float64(n) / float64(m), num, true
}

// ksDistanceFloat is ksDistance in float64, for counts whose products
// overflow 63 bits.
func ksDistanceFloat[C uint16 | uint32](counts []C, ranks []int64, n, m int64) float64 {
	fn, fm := float64(n), float64(m)
	cum := float64(counts[0])
	best := cum / fn
	for j, rk := range ranks {
		rj := float64(rk) / fm
		cum += float64(counts[2*j+1])
		best = math.Max(best, math.Abs(cum/fn-rj))
		cum += float64(counts[2*j+2])
		best = math.Max(best, math.Abs(cum/fn-rj))
	}
	return best
}

// meanShift tests the window's mean against the reference on the
// reference cells (see celltest): each window value counts as its
// reference interval's score (values outside the reference range as its
// ends), and the window's cell-score mean is compared with the null
// distribution derived from the reference's interval masses — a
// saddlepoint tail (lattice-corrected for lattice-valued features) or
// Fisher's exact test for two-valued ones, valid in the tails whatever the
// feature's shape. The effect is the standardized shift |Δμ|/σ_ref of the
// cell-score means. Below the resolve band of the effect gate the result
// cannot drift or hold, so the p-value is the normal approximation
// (method "normal"), which costs no saddlepoint search.
func (c *compiled) meanShift(s Snapshot, p *Policy) (Result, bool) {
	if c.mean == nil {
		return Result{}, false
	}
	if m := s.Moments; !isFinite(m.Mean) || !isFinite(m.M2) {
		// The p-value below never sees the raw values, but the window
		// mean reported alongside would be meaningless: say so.
		return Result{N: int64(m.N), PValue: 1, Reference: c.ref.Mean,
			Undefined: "window moments overflow float64: values too far from the reference mean"}, true
	}
	w := c.cellScores(&s).mean
	if w.N < 2 {
		return Result{}, false
	}
	delta := math.Abs(w.D) * c.mean.SD()
	var effect float64
	switch sd := c.ref.StdDev(); {
	case sd > 0:
		effect = delta / sd
	case delta > 0:
		effect = math.Inf(1)
	}
	r := Result{
		Statistic: w.D / math.Sqrt(1/float64(w.N)+1/float64(c.ref.Count)),
		Effect:    effect, N: w.N, Reference: c.ref.Mean,
	}
	if gate := p.gate(TestMeanShift); gate > 0 && effect < p.ResolveFactor*gate {
		r.PValue, r.Method = c.mean.NormalPValue(w), celltest.MethodNormal
		return r, true
	}
	c.tailResult(&r, c.mean, w)
	return r, true
}

// tailResult sets the p-value of a mean_shift or scale result whose
// effect is past the resolve band. Count windows decide by critical
// values of the exact tail (see below and celltest.Mean.Critical), so an
// evaluation costs no saddlepoint search once those are known: the
// p-value reported with it is the normal approximation, marked
// PValueApprox, and the exact tail is computed only for a result that
// goes into an alert (exactPValue). Time windows, whose n follows the
// traffic, and two-valued features compute the exact p-value each time.
func (c *compiled) tailResult(r *Result, t *celltest.Mean, w celltest.Window) {
	if c.crit.direct || t.TwoValued() {
		r.PValue, r.Method = t.PValue(w)
		return
	}
	r.PValue, r.Method, r.PValueApprox = t.NormalPValue(w), t.Method(), true
}

// exactPValue replaces an approximate mean_shift or scale p-value (see
// tailResult) by the exact tail of this evaluation's window, for the
// alert it goes into.
func (c *compiled) exactPValue(r *Result) {
	if !r.PValueApprox {
		return
	}
	switch r.Test {
	case TestMeanShift:
		r.PValue, r.Method = c.mean.PValue(c.scores.mean)
	case TestScale:
		r.PValue, r.Method = c.scale.PValue(c.scores.scale)
	default:
		return
	}
	r.PValueApprox = false
}

// chi2 is the chi-square goodness-of-fit test of the window's category
// counts against the reference proportions over the top-K categories plus
// "other". Cells whose expected count is below 5 are pooled (smallest
// first) until the pool's is at least 5. Categories the reference never
// saw are in "other", which expects the reference's other share or, when
// the reference kept every category, the unseen share (Good–Turing, see
// otherShare); when that is below 5
// values the other cell is tested on its own (see otherChi2). The effect size is the Jensen–Shannon distance
// (base 2) over the unpooled cells; the PSI is reported alongside.
func (c *compiled) chi2(s Snapshot, n int64) (Result, bool) {
	if c.cats == nil || n == 0 || c.ref.Count == 0 {
		return Result{}, false
	}
	k := len(c.props)
	sc := c.scrat
	sc.winP = sc.winP[:0]
	for i := 0; i < k; i++ {
		sc.winP = append(sc.winP, float64(s.count(i))/float64(n))
	}
	js := JensenShannonDistance(sc.winP, c.props)
	psi := PSI(c.props, sc.winP)
	r := Result{Effect: js, PSI: psi, N: n}
	if c.props[k-1]*float64(n) < 5 {
		c.otherChi2(&s, n, &r)
		return r, true
	}
	obs, exp := pool(&s, c.props, float64(n), sc)
	if len(obs) < 2 {
		// One cell left: nothing to test; the distance still shows.
		r.PValue = 1
		return r, true
	}
	stat, df, pv := ChiSquareGOF(obs, exp)
	r.Statistic, r.DF, r.PValue = stat, float64(df), pv
	return r, true
}

// pool merges cells with expected count < 5 into one pooled cell,
// smallest expected first, and merges the pool into the smallest remaining
// cell if it stays below 5.
func pool(s *Snapshot, props []float64, n float64, sc *evalScratch) (obs, exp []float64) {
	obs, exp = sc.obs[:0], sc.exp[:0]
	var pObs, pExp float64
	pooled := false
	for i, p := range props {
		e := p * n
		if e < 5 {
			pObs += float64(s.count(i))
			pExp += e
			pooled = true
			continue
		}
		obs = append(obs, float64(s.count(i)))
		exp = append(exp, e)
	}
	if pooled {
		if pExp >= 5 || len(obs) == 0 {
			obs = append(obs, pObs)
			exp = append(exp, pExp)
		} else {
			small := 0
			for i := range exp {
				if exp[i] < exp[small] {
					small = i
				}
			}
			obs[small] += pObs
			exp[small] += pExp
		}
	}
	sc.obs, sc.exp = obs, exp
	return obs, exp
}

// rateTest tests whether the window's ratio k/n of missing (or invalid)
// values exceeds the reference ratio refK/refN: a one-sided exact binomial
// test, with the increase of the ratio as effect size. A lower ratio than
// the reference is never drift.
func rateTest(k, n, refK, refN int64) (Result, bool) {
	if refN <= 0 {
		return rateTestP(k, n, 0)
	}
	return rateTestP(k, n, float64(refK)/float64(refN))
}

func rateTestP(k, n int64, p0 float64) (Result, bool) {
	if n <= 0 {
		return Result{}, false
	}
	ratio := float64(k) / float64(n)
	return Result{
		Statistic: ratio,
		PValue:    BinomialSF(k, n, p0),
		Effect:    ratio - p0,
		N:         n,
		Reference: p0,
	}, true
}
