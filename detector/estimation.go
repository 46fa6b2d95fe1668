package detector

import (
	"math"
	"slices"
)

// EstimationRef is what confidence-based performance estimation (CBPE)
// needs of a binary classifier's labelled validation set: a calibration
// map of the score and the performance it estimates on the validation
// set itself, with the null variances of those estimates.
//
// The score axis is cut into cells by Breakpoints (ascending, distinct,
// the decision threshold among them): cell 0 holds the scores below
// Breakpoints[0], cell k the scores in [Breakpoints[k−1], Breakpoints[k]),
// the last cell the scores at or above the last breakpoint. Calibrated[k]
// is the probability that a row whose score falls in cell k is positive:
// an isotonic regression of the label on the cells (non-decreasing in the
// score). Counts[k] is the number of validation rows in cell k.
type EstimationRef struct {
	// Method is "cbpe".
	Method      string    `json:"method"`
	Breakpoints []float64 `json:"breakpoints"`
	Calibrated  []float64 `json:"calibrated"`
	Counts      []int64   `json:"counts"`
	// ThresholdCell is the first cell predicted positive: Breakpoints[
	// ThresholdCell−1] is the decision threshold.
	ThresholdCell int `json:"threshold_cell"`
	// ROCAUC, Precision and Recall are the estimates on the validation
	// set's own cells; their variances are per row: the null variance of
	// an estimate on n rows drawn like the validation set is Variance/n
	// (delta method).
	ROCAUC            float64 `json:"roc_auc"`
	ROCAUCVariance    float64 `json:"roc_auc_variance"`
	Precision         float64 `json:"precision"`
	PrecisionVariance float64 `json:"precision_variance"`
	Recall            float64 `json:"recall"`
	RecallVariance    float64 `json:"recall_variance"`
}

// EstimationCBPE is EstimationRef.Method.
const EstimationCBPE = "cbpe"

func (e *EstimationRef) validate(threshold float64) error {
	const path = "performance.estimation"
	r := len(e.Breakpoints) + 1
	switch {
	case e.Method != EstimationCBPE:
		return fieldErr(path+".method", "is %q, want %q", e.Method, EstimationCBPE)
	case len(e.Breakpoints) < 1 || len(e.Breakpoints) > 1<<16:
		return fieldErr(path+".breakpoints", "has %d breakpoints, want 1 to %d", len(e.Breakpoints), 1<<16)
	case len(e.Calibrated) != r || len(e.Counts) != r:
		return fieldErr(path+".calibrated", "has %d calibrated values and %d counts for %d cells", len(e.Calibrated), len(e.Counts), r)
	case e.ThresholdCell < 1 || e.ThresholdCell >= r || e.Breakpoints[e.ThresholdCell-1] != threshold:
		return fieldErr(path+".threshold_cell", "is %d: its lower breakpoint is not the threshold %v", e.ThresholdCell, threshold)
	}
	for i, b := range e.Breakpoints {
		if math.IsNaN(b) || math.IsInf(b, 0) || (i > 0 && b <= e.Breakpoints[i-1]) {
			return fieldErr(path+".breakpoints", "must be finite and strictly increasing (index %d is %v)", i, b)
		}
	}
	for i, c := range e.Calibrated {
		if !(c >= 0 && c <= 1) || (i > 0 && c < e.Calibrated[i-1]) {
			return fieldErr(path+".calibrated", "must be probabilities, non-decreasing (index %d is %v)", i, c)
		}
		if e.Counts[i] < 0 || e.Counts[i] > 1<<40 {
			return fieldErr(path+".counts", "index %d is %d, want 0 to 2^40", i, e.Counts[i])
		}
	}
	if slices.Max(e.Counts) == 0 {
		return fieldErr(path+".counts", "are all zero")
	}
	for _, c := range []struct {
		name string
		v    float64
	}{
		{"roc_auc", e.ROCAUC}, {"precision", e.Precision}, {"recall", e.Recall},
	} {
		if !(c.v >= 0 && c.v <= 1) {
			return fieldErr(path+"."+c.name, "is %v, want [0, 1]", c.v)
		}
	}
	for _, c := range []struct {
		name string
		v    float64
	}{
		{"roc_auc_variance", e.ROCAUCVariance}, {"precision_variance", e.PrecisionVariance}, {"recall_variance", e.RecallVariance},
	} {
		if !(c.v >= 0 && c.v < 1e6) {
			return fieldErr(path+"."+c.name, "is %v, want a finite variance", c.v)
		}
	}
	return nil
}

// Total is the number of validation rows of the cells.
func (e *EstimationRef) Total() int64 {
	var n int64
	for _, c := range e.Counts {
		n += c
	}
	return n
}
