package perf

import (
	"fmt"
	"math"

	"github.com/driftd/driftd/detector"
)

// BuildReference measures the performance of a labelled validation set:
// the reference the windows are tested against. prediction and label name
// the columns it came from.
func BuildReference(pairs []Pair, threshold float64, prediction, label string) (*detector.PerformanceRef, error) {
	if !(threshold > 0 && threshold < 1) {
		return nil, fmt.Errorf("threshold must be in (0, 1), got %v", threshold)
	}
	for i, p := range pairs {
		if !(p.Score >= 0 && p.Score <= 1) {
			return nil, fmt.Errorf("row %d: score %v is not a probability in [0, 1]", i+1, p.Score)
		}
	}
	m, _ := Compute(pairs, threshold, nil)
	if m.Positives == 0 || m.Positives == m.N {
		return nil, fmt.Errorf("%d labelled rows, %d positive: both classes are needed", m.N, m.Positives)
	}
	ref := &detector.PerformanceRef{
		Task: detector.PerformanceTask, Prediction: prediction, Label: label, Threshold: threshold,
		Count: m.N, Positives: m.Positives, PredictedPositives: m.PredictedPositives, TruePositives: m.TruePositives,
		ROCAUC: m.ROCAUC, AveragePrecision: m.AveragePrecision,
		LogLoss: m.LogLoss, LogLossVariance: m.LogLossVar, Brier: m.Brier, BrierVariance: m.BrierVar,
	}
	return ref, nil
}

// BuildRegressionReference measures a regression model's errors on a
// labelled validation set (Pair.Score the prediction, Pair.Target the
// label).
func BuildRegressionReference(pairs []Pair, prediction, label string) (*detector.PerformanceRef, error) {
	if len(pairs) < 2 {
		return nil, fmt.Errorf("%d labelled rows, need at least 2", len(pairs))
	}
	for i, p := range pairs {
		if math.IsNaN(p.Score) || math.IsInf(p.Score, 0) || math.IsNaN(p.Target) || math.IsInf(p.Target, 0) {
			return nil, fmt.Errorf("row %d: prediction %v or label %v is not finite", i+1, p.Score, p.Target)
		}
	}
	m := ComputeRegression(pairs)
	return &detector.PerformanceRef{
		Task: detector.PerformanceRegression, Prediction: prediction, Label: label, Count: m.N,
		MAE: m.MAE, MAEVariance: m.MAEVar, MSE: m.MSE, MSEVariance: m.MSEVar, Bias: m.Bias, ErrorVariance: m.ErrorVar,
	}, nil
}
