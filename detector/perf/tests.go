package perf

import (
	"math"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/driftd/driftd/detector"
	"github.com/driftd/driftd/detector/celltest"
)

// Tests of the window's performance against the reference's. Every test
// is one-sided towards a worse model, except positive_rate (a class-prior
// shift either way).
const (
	TestROCAUC       detector.Test = "roc_auc"
	TestLogLoss      detector.Test = "log_loss"
	TestBrier        detector.Test = "brier"
	TestPrecision    detector.Test = "precision"
	TestRecall       detector.Test = "recall"
	TestPositiveRate detector.Test = "positive_rate"
)

// Regression tests.
const (
	TestMAE  detector.Test = "mae"
	TestRMSE detector.Test = "rmse"
	TestBias detector.Test = "bias"
)

// Tests lists the binary classifier's performance tests in evaluation
// order.
var Tests = []detector.Test{TestROCAUC, TestLogLoss, TestBrier, TestPrecision, TestRecall, TestPositiveRate}

// RegressionTests lists a regression model's performance tests.
var RegressionTests = []detector.Test{TestMAE, TestRMSE, TestBias}

// MeanChangeTest is Welch's two-sided test of a change of the mean
// (detector.WelchTTest).
func MeanChangeTest(nWin, meanWin, varWin, nRef, meanRef, varRef float64) (t, p float64) {
	t, _, p = detector.WelchTTest(nWin, meanWin, varWin, nRef, meanRef, varRef)
	if math.IsNaN(p) {
		return t, 1
	}
	return t, p
}

// HanleyMcNeilSE is the standard error of an ROC-AUC a estimated from
// positives and negatives (Hanley & McNeil 1982):
//
//	Q1 = a/(2−a), Q2 = 2a²/(1+a),
//	SE² = (a(1−a) + (P−1)(Q1−a²) + (N−1)(Q2−a²)) / (P·N).
func HanleyMcNeilSE(a float64, positives, negatives int64) float64 {
	p, n := float64(positives), float64(negatives)
	q1, q2 := a/(2-a), 2*a*a/(1+a)
	v := (a*(1-a) + (p-1)*(q1-a*a) + (n-1)*(q2-a*a)) / (p * n)
	return math.Sqrt(max(v, 0))
}

// AUCDropTest tests whether the window's ROC-AUC is below the
// reference's: z = (AUC_ref − AUC_win)/√(SE_win² + SE_ref²) with
// Hanley–McNeil standard errors (the two samples are independent), p =
// Φ(−z).
func AUCDropTest(ref, win float64, refPos, refNeg, winPos, winNeg int64) (z, p float64) {
	se := math.Hypot(HanleyMcNeilSE(win, winPos, winNeg), HanleyMcNeilSE(ref, refPos, refNeg))
	if se == 0 {
		switch {
		case win < ref:
			return math.Inf(1), 0
		default:
			return 0, 1
		}
	}
	z = (ref - win) / se
	return z, distuv.UnitNormal.CDF(-z)
}

// LossIncreaseTest is Welch's one-sided test of whether the window's mean
// loss exceeds the reference's: the t and df of detector.WelchTTest, p =
// P(T_df ≥ t).
func LossIncreaseTest(nWin, meanWin, varWin, nRef, meanRef, varRef float64) (t, df, p float64) {
	t, df, p2 := detector.WelchTTest(nWin, meanWin, varWin, nRef, meanRef, varRef)
	if math.IsNaN(p2) {
		return t, df, 1
	}
	if t > 0 {
		return t, df, p2 / 2
	}
	return t, df, 1 - p2/2
}

// RateDropTest is Fisher's exact one-sided test of whether k successes in
// n trials of the window show a lower rate than kr in nr of the
// reference: P(X ≤ k) for X hypergeometric, n draws from n + nr of which
// k + kr are successes. Conditioning on the margins accounts for the
// reference's own sampling error, which an exact binomial against the
// reference rate ignores (its false alarms grow as the validation set
// shrinks).
func RateDropTest(k, n, kr, nr int64) float64 {
	if n == 0 || nr == 0 {
		return 1
	}
	return celltest.HyperTail(k, n, k+kr, n+nr, -1)
}

// RateChangeTest is Fisher's exact two-sided test of k in n against kr in
// nr, as the doubled smaller tail (capped at 1).
func RateChangeTest(k, n, kr, nr int64) float64 {
	if n == 0 || nr == 0 {
		return 1
	}
	lo := celltest.HyperTail(k, n, k+kr, n+nr, -1)
	hi := celltest.HyperTail(k, n, k+kr, n+nr, +1)
	return min(1, 2*min(lo, hi))
}

// step feeds a result to its alarm state as the drift tests do: a
// firing alert holds while the result is on the resolve side's holding
// band, fires after Hysteresis drifting results in a row (at once when
// severe) and resolves after ResolveHysteresis clean ones. It reports a
// transition.
func step(a *detector.AlarmState, r *Result, p detector.Policy, seq uint64) bool {
	if a.Firing {
		return a.Step(r.holding, false, p.ResolveHysteresis, seq)
	}
	return a.Step(r.Drifting, r.Severe, p.Hysteresis, seq)
}
