package ksdist

import (
	"math"
)

// Critical values. A test with a fixed p-value threshold α and fixed sample
// sizes rejects exactly when its statistic reaches the smallest value whose
// p-value is below α. Finding that value costs a search over p-values once;
// every later decision is one comparison, whatever the statistic, so the
// cost of a decision no longer depends on where D falls (the exact
// two-sample recursion costs O(max(n1,n2)·D·min(n1,n2)), Durbin's matrix
// O(m³ log n)). The searches assume the p-value is non-increasing in the
// statistic, which it is mathematically; where the floating-point
// evaluation is not (at a branch switch, by a few ulps), the decision
// follows the search's bracket, and the tests document the cases.

// KolmogorovCritical returns the smallest float64 x in [0, 1] such that
// KolmogorovSF(n, x) < alpha: a statistic d rejects at level alpha exactly
// when d >= x (for the monotone part of KolmogorovSF; see the package
// notes above). It returns +Inf when no x rejects (alpha <= 0) and 0 when
// every x does (alpha > 1). n must be positive.
//
// Cost: one bisection over the float64 bit patterns between two bracketing
// values taken from the limiting distribution, about 64 evaluations of
// KolmogorovSF near the critical value, where it costs 1–15k instructions
// for the usual thresholds.
func KolmogorovCritical(n int, alpha float64) float64 {
	if !(alpha > 0) {
		return math.Inf(1)
	}
	if alpha > 1 {
		return 0
	}
	sig := func(x float64) bool { return KolmogorovSF(n, x) < alpha }
	if !sig(1) {
		return math.Inf(1) // sf(1) = 0 < alpha for every alpha > 0; defensive
	}
	if sig(0) {
		return 0
	}
	// Bracket from the limiting distribution: √n·D_n → K, whose critical
	// value z solves KolmogorovLimitSF(z) = alpha; the finite-n value is
	// within a factor of two of z/√n for every n and alpha of interest,
	// and the loops below widen the bracket when it is not.
	z := limitCritical(alpha)
	guess := math.Min(1, z/math.Sqrt(float64(n)))
	lo, hi := guess/2, math.Min(1, guess*2)
	for lo > 0 && sig(lo) {
		lo /= 4
		if lo < 1e-300 {
			lo = 0
		}
	}
	for hi < 1 && !sig(hi) {
		hi = math.Min(1, hi*2)
	}
	// Invariant: !sig(lo), sig(hi). Positive float64 values are ordered
	// like their bit patterns.
	loBits, hiBits := math.Float64bits(lo), math.Float64bits(hi)
	for hiBits-loBits > 1 {
		mid := loBits + (hiBits-loBits)/2
		if sig(math.Float64frombits(mid)) {
			hiBits = mid
		} else {
			loBits = mid
		}
	}
	return math.Float64frombits(hiBits)
}

// limitCritical returns z with KolmogorovLimitSF(z) ≈ alpha, by bisection
// (KolmogorovLimitSF is cheap: a few terms of a series).
func limitCritical(alpha float64) float64 {
	lo, hi := 0.0, 40.0
	for range 60 {
		mid := (lo + hi) / 2
		if KolmogorovLimitSF(mid) < alpha {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi
}

// TwoSampCriticalH returns the smallest lattice distance h in [0, lcm]
// (lcm = TwoSampLCM(n1, n2)) such that TwoSampPValueH(h, n1, n2, method)
// < alpha, or lcm+1 when no h rejects: a statistic h rejects at level
// alpha exactly when h >= the result. It returns -1 when n1 or n2 is not
// positive or the lcm overflows.
//
// Cost: a search started at the asymptotic critical value, galloping to a
// bracket and bisecting it — usually 6–15 evaluations of
// TwoSampPValueH near the critical value. On the exact unequal-n path each
// costs O(max(n1,n2)·D·min(n1,n2)) (≈ 50M instructions at 1000 × 10000,
// D = 0.1), so callers compute it once per (n1, n2, alpha) and keep it.
func TwoSampCriticalH(n1, n2 int, alpha float64, method Method) int64 {
	lcm := TwoSampLCM(n1, n2)
	if lcm == 0 {
		return -1
	}
	sig := func(h int64) bool {
		p, _ := TwoSampPValueH(h, n1, n2, method)
		return p < alpha
	}
	// p(lcm) (D = 1) is not checked up front: on the inside method it
	// costs the whole lattice, n1·n2 cells. The search only reaches it
	// when nothing below rejects.
	if sig(0) {
		return 0
	}
	m, n := float64(max(n1, n2)), float64(min(n1, n2))
	neff := max(int(math.RoundToEven(m*n/(m+n))), 1)
	x := KolmogorovCritical(neff, alpha)
	guess := lcm
	if x <= 1 {
		guess = min(max(int64(math.Ceil(x*float64(lcm))), 1), lcm)
	}
	// Gallop from the guess to a bracket lo < hi with !sig(lo), sig(hi).
	var lo, hi int64
	if sig(guess) {
		hi = guess
		step := int64(1)
		lo = max(hi-step, 0)
		for lo > 0 && sig(lo) {
			hi = lo
			step *= 2
			lo = max(hi-step, 0)
		}
	} else {
		lo = guess
		step := int64(1)
		hi = min(lo+step, lcm)
		for !sig(hi) {
			if hi == lcm {
				return lcm + 1
			}
			lo = hi
			step *= 2
			hi = min(lo+step, lcm)
		}
	}
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		if sig(mid) {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi
}

// TwoSampExactCost estimates the work of TwoSampPValueH(h, n1, n2, Exact)
// in lattice cells (each a few tens of instructions): n + h for equal
// sizes (the product of _compute_prob_outside_square), and
// max(n1,n2)·min(2·h/(lcm/min(n1,n2))+1, min(n1,n2)+1) for the inside
// method. Callers use it to decide whether an exact p-value fits a cost
// budget.
func TwoSampExactCost(h int64, n1, n2 int) int64 {
	if h <= 0 || n1 <= 0 || n2 <= 0 {
		return 0
	}
	if n1 == n2 {
		return int64(n1) + h
	}
	big, small := int64(max(n1, n2)), int64(min(n1, n2))
	g := GCD(big, small)
	// Band half-width in the small sample's units: h/(big/g) (+1 for the
	// ceilings).
	band := 2*(h/(big/g)+1) + 1
	return big * min(band, small+1)
}

// KolmogorovSFBounded is KolmogorovSF at a cost bounded independently of
// n and d. Where KolmogorovSF would run Durbin's matrix for n > 140 (its
// cost grows as n·(n·d)³, about 2M instructions at n = 980, d = 0.0125),
// or Durbin's matrix or the Pomeranz recursion for 30 <= n <= 140 (up to
// ~1.5M instructions at n = 123, d = 0.18), it uses the Pelz–Good
// approximation instead and reports exact = false. Those regions have
// n·d^1.5 <= 1.4 (n > 140), where the sf is above 0.9, or n·d² <= 4
// (n <= 140), where it is above 3e-4: away from drift thresholds, and
// the decisions use critical values anyway. The absolute error there is
// below 1e-5 for n > 140 and 1e-4 for n >= 30 (3.1e-6 and 8.6e-5 on
// TestKolmogorovSFBoundedError's grid). Below n = 30 the exact branches
// are cheap and kept.
func KolmogorovSFBounded(n int, d float64) (p float64, exact bool) {
	if n >= 30 && n <= 100000 && d > 0 && d < 0.5 {
		fn := float64(n)
		t := fn * d
		nx2 := t * d
		if t > 1 && t < fn-1 {
			if n <= 140 && nx2 <= 4 {
				return clip01(1 - kolmognPelzGood(n, d)), false
			}
			if n > 140 && nx2 < 2.2 && fn*math.Pow(d, 1.5) <= 1.4 {
				return clip01(1 - kolmognPelzGood(n, d)), false
			}
		}
	}
	p, _ = kolmogn(n, d, false)
	return p, true
}
