package detector

import (
	"math"
)

// MaxClasses bounds the classes of a multiclass performance reference:
// each is a test (per-class recall) and a metric series.
const MaxClasses = 100

// MulticlassRef is a multiclass classifier's performance on a labelled
// validation set (PerformanceRef.Task "multiclass").
type MulticlassRef struct {
	// Classes are the class names seen in the validation set, as labels
	// or as predictions, sorted. A class outside them in production is
	// "other".
	Classes []string `json:"classes,omitempty"`
	// Confusion counts the validation rows by label (row) and predicted
	// class (column), both in the order of Classes.
	Confusion [][]int64 `json:"confusion,omitempty"`
	// Accuracy and MacroF1 (the unweighted mean of the classes' F1) of
	// the validation set, as computed from Confusion.
	Accuracy float64 `json:"accuracy,omitempty"`
	MacroF1  float64 `json:"macro_f1,omitempty"`
}

func (p *PerformanceRef) validateMulticlass() error {
	const path = "performance"
	if p.Estimation != nil {
		return fieldErr(path+".estimation", "is set on a multiclass model; estimation (CBPE) is for binary classifiers")
	}
	k := len(p.Classes)
	if k < 2 || k > MaxClasses {
		return fieldErr(path+".classes", "has %d classes, want 2 to %d", k, MaxClasses)
	}
	seen := make(map[string]bool, k)
	for _, c := range p.Classes {
		if c == "" || seen[c] {
			return fieldErr(path+".classes", "class %q is empty or repeated", c)
		}
		seen[c] = true
	}
	if len(p.Confusion) != k {
		return fieldErr(path+".confusion", "has %d rows, want one per class (%d)", len(p.Confusion), k)
	}
	var total, correct int64
	labelled := 0
	predicted := make([]bool, k)
	for _, row := range p.Confusion {
		for j := range min(len(row), k) {
			predicted[j] = predicted[j] || row[j] > 0
		}
	}
	for i, row := range p.Confusion {
		if len(row) != k {
			return fieldErr(path+".confusion", "row %d has %d cells, want %d", i, len(row), k)
		}
		var support int64
		for _, c := range row {
			if c < 0 || c > math.MaxInt64/4-total {
				return fieldErr(path+".confusion", "row %d has a cell %d", i, c)
			}
			total += c
			support += c
		}
		if support > 0 {
			labelled++
		} else if !predicted[i] {
			return fieldErr(path+".confusion", "class %q is neither a label nor a prediction", p.Classes[i])
		}
		correct += row[i]
	}
	switch {
	case p.Count < 2 || p.Count != total:
		return fieldErr(path+".count", "is %d, want at least 2 and the confusion matrix's total (%d)", p.Count, total)
	case labelled < 2:
		return fieldErr(path+".confusion", "has %d classes with labelled rows, want at least 2", labelled)
	case p.Positives != 0 || p.PredictedPositives != 0 || p.TruePositives != 0 || p.ROCAUC != 0 || p.MAE != 0:
		return fieldErr(path+".positives", "binary or regression fields set on a multiclass")
	case !(p.Accuracy >= 0 && p.Accuracy <= 1) || math.Abs(p.Accuracy-float64(correct)/float64(total)) > 1e-9:
		return fieldErr(path+".accuracy", "is %v, the confusion matrix says %v", p.Accuracy, float64(correct)/float64(total))
	case !(p.MacroF1 >= 0 && p.MacroF1 <= 1):
		return fieldErr(path+".macro_f1", "is %v, want [0, 1]", p.MacroF1)
	}
	return nil
}
