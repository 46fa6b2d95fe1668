// Package perf monitors a binary classifier's realized performance:
// predictions joined to their labels by request ID within a horizon
// (Joiner, bounded pending state), windows of joined pairs, and the
// window's ROC-AUC, average precision, log loss, Brier score, precision,
// recall and positive rates tested against the performance the model had
// on its validation set (detector.PerformanceRef) with the alarm policy
// of the drift tests (Monitor).
//
// It does no I/O: the caller feeds predictions and labels and publishes
// the alerts.
package perf

import (
	"math"
	"slices"
)

// Pair is one prediction joined to its label.
type Pair struct {
	Score    float64 // the prediction: the probability of the positive class (binary), the estimate (regression)
	Positive bool    // the binary label
	Target   float64 // the numeric label (regression)
}

// logLossEps clips scores away from 0 and 1 in the log loss, as
// scikit-learn does (the machine epsilon of float64).
const logLossEps = 2.220446049250313e-16

// LogLoss is the log loss of one pair: −log p for a positive, −log(1−p)
// for a negative, with p clipped to [ε, 1−ε].
func LogLoss(p Pair) float64 {
	s := min(max(p.Score, logLossEps), 1-logLossEps)
	if p.Positive {
		return -math.Log(s)
	}
	return -math.Log1p(-s)
}

// Brier is the Brier loss of one pair, (p − y)².
func Brier(p Pair) float64 {
	y := 0.0
	if p.Positive {
		y = 1
	}
	d := p.Score - y
	return d * d
}

// Metrics are a set of pairs' performance.
type Metrics struct {
	N, Positives, PredictedPositives, TruePositives int64
	ROCAUC, AveragePrecision                        float64
	// Means and sample variances of the per-pair losses.
	LogLoss, LogLossVar, Brier, BrierVar float64
}

// Precision is TP / predicted positives (NaN without predicted
// positives).
func (m *Metrics) Precision() float64 {
	return float64(m.TruePositives) / float64(m.PredictedPositives)
}

// Recall is TP / positives (NaN without positives).
func (m *Metrics) Recall() float64 { return float64(m.TruePositives) / float64(m.Positives) }

// PositiveRate is the observed share of positives.
func (m *Metrics) PositiveRate() float64 { return float64(m.Positives) / float64(m.N) }

// PredictedPositiveRate is the share of scores at or above the threshold.
func (m *Metrics) PredictedPositiveRate() float64 {
	return float64(m.PredictedPositives) / float64(m.N)
}

// Compute returns the metrics of pairs at the decision threshold. scratch
// (may be nil) is reused for sorting; the grown slice is returned for the
// next call. ROC-AUC and average precision are NaN when a class is
// absent.
func Compute(pairs []Pair, threshold float64, scratch []Pair) (Metrics, []Pair) {
	var m Metrics
	m.N = int64(len(pairs))
	var ll, llSq, br, brSq float64
	for _, p := range pairs {
		if p.Positive {
			m.Positives++
		}
		if p.Score >= threshold {
			m.PredictedPositives++
			if p.Positive {
				m.TruePositives++
			}
		}
		l, b := LogLoss(p), Brier(p)
		ll += l
		llSq += l * l
		br += b
		brSq += b * b
	}
	n := float64(m.N)
	if m.N > 0 {
		m.LogLoss, m.Brier = ll/n, br/n
	}
	if m.N > 1 {
		m.LogLossVar = max(0, (llSq-n*m.LogLoss*m.LogLoss)/(n-1))
		m.BrierVar = max(0, (brSq-n*m.Brier*m.Brier)/(n-1))
	}
	scratch = append(scratch[:0], pairs...)
	m.ROCAUC, m.AveragePrecision = rankMetrics(scratch, m.Positives)
	return m, scratch
}

// rankMetrics sorts pairs by descending score and returns the ROC-AUC
// (the Mann–Whitney statistic, ties counted half) and the average
// precision Σ (R_k − R_{k−1}) P_k over the distinct score thresholds —
// scikit-learn's roc_auc_score and average_precision_score.
func rankMetrics(pairs []Pair, positives int64) (auc, ap float64) {
	neg := int64(len(pairs)) - positives
	if positives == 0 || neg == 0 {
		return math.NaN(), math.NaN()
	}
	slices.SortFunc(pairs, func(a, b Pair) int {
		switch {
		case a.Score > b.Score:
			return -1
		case a.Score < b.Score:
			return 1
		}
		return 0
	})
	var tp, fp int64   // above the current group
	var aucSum float64 // Σ over negatives of positives ranked above (+½ tied)
	for i := 0; i < len(pairs); {
		j := i
		var gp, gn int64
		for j < len(pairs) && pairs[j].Score == pairs[i].Score {
			if pairs[j].Positive {
				gp++
			} else {
				gn++
			}
			j++
		}
		aucSum += float64(gn) * (float64(tp) + 0.5*float64(gp))
		tp += gp
		fp += gn
		if gp > 0 {
			ap += float64(gp) / float64(positives) * float64(tp) / float64(tp+fp)
		}
		i = j
	}
	return aucSum / (float64(positives) * float64(neg)), ap
}

// RegressionMetrics are a set of regression pairs' errors: means and
// sample variances of |e|, e² and e, with e = prediction − target.
type RegressionMetrics struct {
	N                                        int64
	MAE, MAEVar, MSE, MSEVar, Bias, ErrorVar float64
}

// RMSE is the root of the mean squared error.
func (m *RegressionMetrics) RMSE() float64 { return math.Sqrt(m.MSE) }

// ComputeRegression returns the errors of regression pairs.
func ComputeRegression(pairs []Pair) RegressionMetrics {
	m := RegressionMetrics{N: int64(len(pairs))}
	if m.N == 0 {
		return m
	}
	n := float64(m.N)
	for _, p := range pairs {
		e := p.Score - p.Target
		m.MAE += math.Abs(e)
		m.MSE += e * e
		m.Bias += e
	}
	m.MAE, m.MSE, m.Bias = m.MAE/n, m.MSE/n, m.Bias/n
	if m.N < 2 {
		return m
	}
	for _, p := range pairs { // two passes: the variances keep their digits
		e := p.Score - p.Target
		da, ds, de := math.Abs(e)-m.MAE, e*e-m.MSE, e-m.Bias
		m.MAEVar += da * da
		m.MSEVar += ds * ds
		m.ErrorVar += de * de
	}
	m.MAEVar, m.MSEVar, m.ErrorVar = m.MAEVar/(n-1), m.MSEVar/(n-1), m.ErrorVar/(n-1)
	return m
}
