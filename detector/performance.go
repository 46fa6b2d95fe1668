package detector

import "math"

// PerformanceRef is a binary classifier's performance on a labelled
// validation set, measured at reference build (driftd reference build
// --label COL --prediction COL) and compared with the performance of
// windows of predictions joined to their labels (package detector/perf).
type PerformanceRef struct {
	// Task is "binary" (the score is the predicted probability of the
	// positive class) or "regression" (the prediction estimates a
	// numeric label).
	Task string `json:"task"`
	// Prediction is the score's feature name, Label the label's column.
	Prediction string `json:"prediction"`
	Label      string `json:"label"`
	// Threshold is the decision threshold: score ≥ Threshold predicts
	// positive.
	Threshold float64 `json:"threshold"`
	// Count labelled rows, of which Positives positive; PredictedPositives
	// with a score at or above the threshold, TruePositives of them
	// positive.
	Count              int64 `json:"count"`
	Positives          int64 `json:"positives"`
	PredictedPositives int64 `json:"predicted_positives"`
	TruePositives      int64 `json:"true_positives"`
	// ROCAUC and AveragePrecision (PR-AUC) of the scores.
	ROCAUC           float64 `json:"roc_auc"`
	AveragePrecision float64 `json:"average_precision"`
	// LogLoss and Brier are the means of the per-row losses, with their
	// sample variances (n−1), for Welch's test.
	LogLoss         float64 `json:"log_loss"`
	LogLossVariance float64 `json:"log_loss_variance"`
	Brier           float64 `json:"brier"`
	BrierVariance   float64 `json:"brier_variance"`

	// Regression: the means of the absolute error |ŷ − y|, the squared
	// error and the error ŷ − y (the bias), with their sample variances.
	MAE           float64 `json:"mae,omitempty"`
	MAEVariance   float64 `json:"mae_variance,omitempty"`
	MSE           float64 `json:"mse,omitempty"`
	MSEVariance   float64 `json:"mse_variance,omitempty"`
	Bias          float64 `json:"bias,omitempty"`
	ErrorVariance float64 `json:"error_variance,omitempty"`

	// Multiclass (Task "multiclass"): the classes and the validation
	// confusion matrix.
	MulticlassRef
	// Estimation, when set, lets a binary classifier's performance be
	// estimated from its scores alone (CBPE).
	Estimation *EstimationRef `json:"estimation,omitempty"`
}

// Performance tasks.
const (
	PerformanceTask       = "binary"
	PerformanceRegression = "regression"
	PerformanceMulticlass = "multiclass"
)

func (p *PerformanceRef) validate() error {
	const path = "performance"
	if p.Prediction == "" || p.Label == "" {
		return fieldErr(path+".prediction", "prediction and label names must be set")
	}
	switch p.Task {
	case PerformanceTask:
	case PerformanceRegression:
		return p.validateRegression()
	case PerformanceMulticlass:
		return p.validateMulticlass()
	default:
		return fieldErr(path+".task", "is %q, want %q, %q or %q", p.Task, PerformanceTask, PerformanceRegression, PerformanceMulticlass)
	}
	if !(p.Threshold > 0 && p.Threshold < 1) {
		return fieldErr(path+".threshold", "is %v, want (0, 1)", p.Threshold)
	}
	switch {
	case p.Count < 2 || p.Count > math.MaxInt64/4:
		return fieldErr(path+".count", "is %d, want at least 2", p.Count)
	case p.Positives < 1 || p.Positives >= p.Count:
		return fieldErr(path+".positives", "is %d of %d rows: both classes are needed", p.Positives, p.Count)
	case p.PredictedPositives < 0 || p.PredictedPositives > p.Count:
		return fieldErr(path+".predicted_positives", "is %d of %d rows", p.PredictedPositives, p.Count)
	case p.TruePositives < 0 || p.TruePositives > min(p.Positives, p.PredictedPositives):
		return fieldErr(path+".true_positives", "is %d, more than the positives or predicted positives", p.TruePositives)
	}
	for _, c := range []struct {
		name     string
		v        float64
		min, max float64
	}{
		{"roc_auc", p.ROCAUC, 0, 1}, {"average_precision", p.AveragePrecision, 0, 1},
		{"log_loss", p.LogLoss, 0, 40}, {"log_loss_variance", p.LogLossVariance, 0, 1600},
		{"brier", p.Brier, 0, 1}, {"brier_variance", p.BrierVariance, 0, 1},
	} {
		if !(c.v >= c.min && c.v <= c.max) {
			return fieldErr(path+"."+c.name, "is %v, want [%v, %v]", c.v, c.min, c.max)
		}
	}
	if p.Estimation != nil {
		return p.Estimation.validate(p.Threshold)
	}
	return nil
}

func (p *PerformanceRef) validateRegression() error {
	const path = "performance"
	if p.Count < 2 || p.Count > math.MaxInt64/4 {
		return fieldErr(path+".count", "is %d, want at least 2", p.Count)
	}
	for _, c := range []struct {
		name        string
		v           float64
		nonNegative bool
	}{
		{"mae", p.MAE, true}, {"mae_variance", p.MAEVariance, true}, {"mse", p.MSE, true},
		{"mse_variance", p.MSEVariance, true}, {"bias", p.Bias, false}, {"error_variance", p.ErrorVariance, true},
	} {
		if math.IsNaN(c.v) || math.IsInf(c.v, 0) || (c.nonNegative && c.v < 0) {
			return fieldErr(path+"."+c.name, "is %v", c.v)
		}
	}
	if p.Positives != 0 || p.PredictedPositives != 0 || p.TruePositives != 0 || p.ROCAUC != 0 || p.Estimation != nil {
		return fieldErr(path+".positives", "classification fields set on a regression")
	}
	return nil
}
