package detector

// Small statistical tests and distances that match scipy (or, for PSI,
// Evidently). All functions are pure and allocation-free.

import (
	"math"

	"gonum.org/v1/gonum/mathext"
	"gonum.org/v1/gonum/stat/distuv"
)

// welchNormalDF is the degrees of freedom above which WelchTTest uses the
// normal tail instead of Student's t. At df = 1e7 the two differ by a
// relative O(t⁴/df), below 1e-10 absolute for any p.
const welchNormalDF = 1e7

// WelchTTest returns Welch's unequal-variance two-sample t statistic, its
// Welch–Satterthwaite degrees of freedom and the two-sided p-value, given
// each sample's size, mean and (unbiased, ddof=1) variance. It equals
// scipy.stats.ttest_ind_from_stats(mean1, sqrt(var1), n1, mean2, sqrt(var2),
// n2, equal_var=False) (scipy's _unequal_var_ttest_denom and
// _ttest_ind_from_stats):
//
//	a = var1/n1, b = var2/n2, t = (mean1−mean2)/√(a+b),
//	df = (a+b)² / (a²/(n1−1) + b²/(n2−1)), p = 2·sf_t(|t|; df).
//
// df is computed as 1/(r1²/(n1−1) + r2²/(n2−1)) with r = a/(a+b), which is
// the same number but cannot overflow or underflow. The tail uses gonum's
// distuv.StudentsT; above df = 1e7 (or df = +Inf) it uses the normal tail
// 2·Φ(−|t|) (distuv.Normal.CDF, which stays accurate far into the tail).
//
// Degenerate input, where scipy gives NaN, is defined so that no NaN leaks:
//   - n1 < 2 or n2 < 2 (a variance is undefined): t = 0, df = 0, p = 1.
//   - var1 = var2 = 0: df = 1 (scipy's choice). Equal means give t = 0 and
//     p = 1; different means give t = ±Inf and p = 0.
//
// Invalid input (a NaN or infinite argument, or a negative variance)
// returns NaN for all three results.
func WelchTTest(n1, mean1, var1, n2, mean2, var2 float64) (t, df, p float64) {
	for _, v := range [...]float64{n1, mean1, var1, n2, mean2, var2} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return math.NaN(), math.NaN(), math.NaN()
		}
	}
	if var1 < 0 || var2 < 0 {
		return math.NaN(), math.NaN(), math.NaN()
	}
	if n1 < 2 || n2 < 2 {
		return 0, 0, 1
	}
	vn1 := var1 / n1
	vn2 := var2 / n2
	s := vn1 + vn2
	d := mean1 - mean2
	if s == 0 {
		switch {
		case d == 0:
			return 0, 1, 1
		case d > 0:
			return math.Inf(1), 1, 0
		default:
			return math.Inf(-1), 1, 0
		}
	}
	r1, r2 := vn1/s, vn2/s
	df = 1 / (r1*r1/(n1-1) + r2*r2/(n2-1))
	t = d / math.Sqrt(s)
	return t, df, tTwoSided(t, df)
}

// tTwoSided returns 2·P(T > |t|) for Student's t with df > 0 degrees of
// freedom, switching to the normal tail above welchNormalDF.
func tTwoSided(t, df float64) float64 {
	if math.IsNaN(t) {
		return math.NaN()
	}
	at := math.Abs(t)
	var p float64
	if df > welchNormalDF || math.IsInf(df, 1) {
		p = 2 * distuv.UnitNormal.CDF(-at)
	} else {
		p = 2 * distuv.StudentsT{Mu: 0, Sigma: 1, Nu: df}.Survival(at)
	}
	return clip01(p)
}

// ChiSquareGOF returns Pearson's chi-square goodness-of-fit statistic
// Σ(o−e)²/e, its degrees of freedom k−1 and the p-value P(χ²_{k−1} >= stat).
// It equals scipy.stats.chisquare(f_obs=observed, f_exp=expected) (ddof=0).
// The tail is gonum's distuv.ChiSquared.Survival.
//
// The caller guarantees that the two slices have equal sums (scipy raises
// when they differ by more than a relative 1.5e-8; this does not check) and
// that every expected count is positive.
//
// A single category (k = 1) gives df = 0 and p = 1 (scipy: NaN). Invalid
// input — slices of different or zero length, an expected count that is
// not positive, or a NaN/Inf anywhere — returns (NaN, 0, NaN).
func ChiSquareGOF(observed, expected []float64) (stat float64, df int, p float64) {
	if len(observed) == 0 || len(observed) != len(expected) {
		return math.NaN(), 0, math.NaN()
	}
	for i, e := range expected {
		o := observed[i]
		if !(e > 0) || math.IsInf(e, 0) || math.IsNaN(o) || math.IsInf(o, 0) {
			return math.NaN(), 0, math.NaN()
		}
		diff := o - e
		stat += diff * diff / e
	}
	df = len(observed) - 1
	if df == 0 {
		return stat, 0, 1
	}
	if math.IsInf(stat, 1) {
		return stat, df, 0
	}
	return stat, df, clip01(distuv.ChiSquared{K: float64(df)}.Survival(stat))
}

// JensenShannonDistance returns the Jensen–Shannon distance between the
// distributions proportional to p and q, in bits: √((KL(p‖m) + KL(q‖m))/2)
// with m = (p+q)/2 and base-2 logarithms. It equals
// scipy.spatial.distance.jensenshannon(p, q, base=2): each input is
// normalised to sum 1 first, zero entries contribute 0, and the result lies
// in [0, 1]. (gonum's stat.JensenShannon is the divergence in nats; the
// distance is √(JS/ln 2).)
//
// A tiny negative divergence from rounding is clamped to 0 (scipy would
// return NaN). Invalid input — slices of different or zero length, a
// negative or non-finite entry, or a slice summing to 0 — returns NaN.
func JensenShannonDistance(p, q []float64) float64 {
	if len(p) == 0 || len(p) != len(q) {
		return math.NaN()
	}
	var sp, sq float64
	for i := range p {
		if !(p[i] >= 0) || !(q[i] >= 0) || math.IsInf(p[i], 0) || math.IsInf(q[i], 0) {
			return math.NaN()
		}
		sp += p[i]
		sq += q[i]
	}
	if !(sp > 0) || !(sq > 0) {
		return math.NaN()
	}
	var left, right float64
	for i := range p {
		pi := p[i] / sp
		qi := q[i] / sq
		m := (pi + qi) / 2.0
		left += relEntr(pi, m)
		right += relEntr(qi, m)
	}
	js := (left + right) / math.Ln2
	if js < 0 {
		js = 0
	}
	return math.Sqrt(js / 2.0)
}

// relEntr mirrors scipy.special.rel_entr (xsf::rel_entr, scipy >= 1.14):
// x·log(x/y) for x, y > 0, computed as x·log1p((x−y)/y) when 1/2 < x/y < 2
// and as x·(log x − log y) when x/y under- or overflows; 0 if x = 0 <= y;
// +Inf otherwise.
func relEntr(x, y float64) float64 {
	if x <= 0 || y <= 0 {
		if x == 0 && y >= 0 {
			return 0
		}
		return math.Inf(1)
	}
	ratio := x / y
	if 0.5 < ratio && ratio < 2 {
		return x * math.Log1p((x-y)/y)
	}
	if 0x1p-1022 < ratio && !math.IsInf(ratio, 1) {
		return x * math.Log(ratio)
	}
	return x * (math.Log(x) - math.Log(y))
}

// psiZeroProportion replaces an empty bin's proportion in PSI.
const psiZeroProportion = 1e-4

// PSI returns the population stability index Σ(a−e)·ln(a/e) between the
// reference (expected) and current (actual) histograms, where e and a are
// the bin proportions. Both inputs may be counts or proportions; each is
// normalised to sum 1 first. A zero proportion on either side is replaced
// by 1e-4 (without renormalising), the convention of Evidently's psi stat
// test (stattests/psi.py), so an empty bin adds a large but finite term.
// PSI is symmetric in its two arguments and is 0 for identical histograms.
//
// Invalid input — slices of different or zero length, a negative or
// non-finite entry, or a slice summing to 0 — returns NaN.
func PSI(expected, actual []float64) float64 {
	if len(expected) == 0 || len(expected) != len(actual) {
		return math.NaN()
	}
	var se, sa float64
	for i := range expected {
		e, a := expected[i], actual[i]
		if !(e >= 0) || !(a >= 0) || math.IsInf(e, 0) || math.IsInf(a, 0) {
			return math.NaN()
		}
		se += e
		sa += a
	}
	if !(se > 0) || !(sa > 0) {
		return math.NaN()
	}
	var psi float64
	for i := range expected {
		e := expected[i] / se
		a := actual[i] / sa
		if e == 0 {
			e = psiZeroProportion
		}
		if a == 0 {
			a = psiZeroProportion
		}
		psi += (a - e) * math.Log(a/e)
	}
	return psi
}

// BinomialSF returns P(X >= k) for X ~ Binomial(n, p). It equals
// scipy.stats.binom.sf(k−1, n, p). For 1 <= k <= n and 0 < p < 1 it is the
// regularized incomplete beta I_p(k, n−k+1) (gonum mathext.RegIncBeta).
// The edges are exact: k <= 0 gives 1, k > n gives 0, p = 0 gives 0 for
// k >= 1, and p = 1 gives 1 for k <= n.
//
// Invalid input — n < 0, or p NaN or outside [0, 1] — returns NaN.
func BinomialSF(k, n int64, p float64) float64 {
	if n < 0 || math.IsNaN(p) || p < 0 || p > 1 {
		return math.NaN()
	}
	switch {
	case k <= 0:
		return 1
	case k > n:
		return 0
	case p == 0:
		return 0
	case p == 1:
		return 1
	}
	return clip01(mathext.RegIncBeta(float64(k), float64(n-k+1), p))
}

// clip01 clamps a probability to [0, 1].
func clip01(p float64) float64 {
	if p < 0 {
		return 0
	}
	if p > 1 {
		return 1
	}
	return p
}
