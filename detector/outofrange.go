package detector

import "math"

// OutOfRangeSF is the p-value of the out-of-range test: P(K ≥ k), where K
// is the number of n new values that fall outside the range [min, max] of
// m reference values, when all n + m values are exchangeable draws of one
// continuous distribution (no drift).
//
// One new value falls outside with probability 2/(m+1), but the n values
// of a window share the one reference range, so K is not binomial: the
// probability outside the range is 1 − U, where U = F(max) − F(min) is
// Beta(m−1, 2), and K is beta-binomial(n, 2, m−1) — far more spread than
// Binomial(n, 2/(m+1)) when m is small (an 89-row reference). Its tail has
// a closed form: with L = n − k,
//
//	P(K ≥ k) = C(L+m−1, m−1) · ((n+1) − (m−1)·L/m) / C(n+m, m)
//
// (sum (j+1)·C(n−j+m−2, m−2)/C(n+m, m) over j ≥ k with the hockey-stick
// identity). Ties in the reference (discrete data) make values outside
// the range rarer, so the test stays conservative.
func OutOfRangeSF(k, n, m int64) float64 {
	switch {
	case k <= 0:
		return 1
	case k > n:
		return 0
	case m < 2:
		return 1 // no range to fall outside of by chance: nothing to test
	}
	L := n - k
	fm := float64(m)
	bracket := float64(n+1) - (fm-1)*float64(L)/fm
	logp := lchoose(L+m-1, m-1) - lchoose(n+m, m) + math.Log(bracket)
	return math.Min(1, math.Exp(logp))
}

// lchoose is log C(a, b).
func lchoose(a, b int64) float64 {
	if b < 0 || b > a {
		return math.Inf(-1)
	}
	if b == 0 || b == a {
		return 0
	}
	la, _ := math.Lgamma(float64(a) + 1)
	lb, _ := math.Lgamma(float64(b) + 1)
	lc, _ := math.Lgamma(float64(a-b) + 1)
	return la - lb - lc
}
