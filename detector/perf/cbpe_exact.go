package perf

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sort"
)

// The estimator at the resolution of the rows, as NannyML's CBPE
// computes it on a chunk: an isotonic calibration of the raw scores
// (scikit-learn's IsotonicRegression, out_of_bounds="clip") and the
// estimates over the sorted scores. The streaming Estimator works on
// score cells instead (O(cells) per window, no scores kept); this one
// is the yardstick its approximation is measured against, and checks the
// method against NannyML's golden values.

// Isotonic is a fitted isotonic regression: a non-decreasing piecewise
// linear map through (X[i], Y[i]), constant beyond the ends.
type Isotonic struct {
	X, Y []float64
}

// FitIsotonic fits the non-decreasing least-squares map from scores to
// labels, as scikit-learn's IsotonicRegression: rows sorted by score,
// the labels of tied scores averaged (weighted by their count), pool
// adjacent violators over the distinct scores.
func FitIsotonic(pairs []Pair) (*Isotonic, error) {
	if len(pairs) == 0 {
		return nil, fmt.Errorf("no rows to calibrate")
	}
	sorted := slices.Clone(pairs)
	slices.SortFunc(sorted, func(a, b Pair) int { return cmp.Compare(a.Score, b.Score) })
	if math.IsNaN(sorted[0].Score) || math.IsNaN(sorted[len(sorted)-1].Score) {
		return nil, fmt.Errorf("a score is NaN")
	}
	type block struct {
		sum, weight float64
		first, last int // distinct-score indices
	}
	var xs []float64
	var blocks []block
	for i := 0; i < len(sorted); {
		j := i
		var pos float64
		for j < len(sorted) && sorted[j].Score == sorted[i].Score {
			if sorted[j].Positive {
				pos++
			}
			j++
		}
		xs = append(xs, sorted[i].Score)
		blocks = append(blocks, block{sum: pos, weight: float64(j - i), first: len(xs) - 1, last: len(xs) - 1})
		for len(blocks) > 1 {
			a, b := blocks[len(blocks)-2], blocks[len(blocks)-1]
			if a.sum/a.weight <= b.sum/b.weight {
				break
			}
			blocks = blocks[:len(blocks)-1]
			blocks[len(blocks)-1] = block{sum: a.sum + b.sum, weight: a.weight + b.weight, first: a.first, last: b.last}
		}
		i = j
	}
	ys := make([]float64, len(xs))
	for _, b := range blocks {
		for k := b.first; k <= b.last; k++ {
			ys[k] = b.sum / b.weight
		}
	}
	return &Isotonic{X: xs, Y: ys}, nil
}

// Predict maps a score: linear interpolation between the fitted points,
// clipped to the fitted range.
func (f *Isotonic) Predict(x float64) float64 {
	n := len(f.X)
	switch {
	case x <= f.X[0]:
		return f.Y[0]
	case x >= f.X[n-1]:
		return f.Y[n-1]
	}
	i := sort.SearchFloat64s(f.X, x) // X[i-1] < x ≤ X[i]
	if f.X[i] == x {
		return f.Y[i]
	}
	t := (x - f.X[i-1]) / (f.X[i] - f.X[i-1])
	return f.Y[i-1] + t*(f.Y[i]-f.Y[i-1])
}

// EstimateRows returns the estimates of a chunk of raw scores calibrated
// by f, as NannyML's CBPE: each row counts as c = f(score) of a positive
// and 1 − c of a negative; the expected ROC curve runs over the rows in
// descending raw score (rows of one score share one c, so their order does
// not matter), its area by the trapezoidal rule; precision and recall
// come from the expected confusion matrix at score ≥ threshold.
func EstimateRows(scores []float64, f *Isotonic, threshold float64) Estimated {
	sorted := slices.Clone(scores)
	slices.SortFunc(sorted, func(a, b float64) int { return cmp.Compare(b, a) })
	var pos, neg, area, tp, pp float64
	for _, s := range sorted {
		c := f.Predict(s)
		area += (1 - c) * (pos + 0.5*c)
		pos += c
		neg += 1 - c
		if s >= threshold {
			tp += c
			pp++
		}
	}
	n := float64(len(scores))
	return Estimated{ROCAUC: area / (pos * neg), Precision: tp / pp, Recall: tp / pos, Positives: pos / n, PredictedPositives: pp / n}
}
