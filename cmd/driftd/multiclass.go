package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/valyala/fastjson"

	"github.com/driftd/driftd/detector"
	"github.com/driftd/driftd/detector/perf"
)

// Multiclass models (`reference build --task multiclass`): the label is a
// class name (a string, or an integer), the prediction the predicted class
// — or, when the prediction is an object of per-class probabilities
// (columns "<prediction>.<class>" in a training file), its argmax.

// className reads a class name: a string as is, a number in its shortest
// form (3, 3.0 and "3" in a CSV are the class "3"), true/false.
func className(v detector.Value) (string, bool) {
	switch v.Kind {
	case detector.String, detector.Bool:
		return string(v.Text), len(v.Text) > 0
	case detector.Number:
		x := v.Num
		if !v.Parsed {
			var err error
			if x, err = strconv.ParseFloat(string(v.Text), 64); err != nil {
				return "", false
			}
		}
		return numberClass(x)
	}
	return "", false
}

func numberClass(x float64) (string, bool) {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "", false
	}
	return strconv.FormatFloat(x, 'g', -1, 64), true
}

// classJSON reads a class name from a JSON value.
func classJSON(raw json.RawMessage) (string, bool) {
	var x any
	if json.Unmarshal(raw, &x) != nil {
		return "", false
	}
	switch v := x.(type) {
	case string:
		return v, v != ""
	case float64:
		return numberClass(v)
	case bool:
		return strconv.FormatBool(v), true
	}
	return "", false
}

// predictedClassJSON reads a predicted class: a class name, or the
// argmax of an object of per-class probabilities (the first of tied
// maxima in the object's order).
func predictedClassJSON(raw json.RawMessage) (string, bool) {
	if c, ok := classJSON(raw); ok {
		return c, true
	}
	v, err := fastjson.ParseBytes(raw)
	if err != nil {
		return "", false
	}
	c, ok := argmaxClass(v)
	return string(c), ok
}

// argmaxClass is the key of an object's largest number.
func argmaxClass(v *fastjson.Value) ([]byte, bool) {
	obj, err := v.Object()
	if err != nil {
		return nil, false
	}
	var best []byte
	bestP := math.Inf(-1)
	obj.Visit(func(key []byte, p *fastjson.Value) {
		if x, err := p.Float64(); err == nil && x > bestP && len(key) > 0 {
			best, bestP = key, x
		}
	})
	return best, best != nil
}

// fastClass reads a class name from a fastjson value into buf: a string,
// a number, a boolean, or with predicted the argmax of an object.
func fastClass(v *fastjson.Value, predicted bool, buf []byte) ([]byte, bool) {
	switch v.Type() {
	case fastjson.TypeString:
		s := v.GetStringBytes()
		return s, len(s) > 0
	case fastjson.TypeNumber:
		x := v.GetFloat64()
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, false
		}
		return strconv.AppendFloat(buf[:0], x, 'g', -1, 64), true
	case fastjson.TypeTrue, fastjson.TypeFalse:
		return strconv.AppendBool(buf[:0], v.Type() == fastjson.TypeTrue), true
	case fastjson.TypeObject:
		if predicted {
			return argmaxClass(v)
		}
	}
	return nil, false
}

// classRows collects the label and predicted class of each row of a
// validation set for perfCollector.
type classRows struct {
	label, pred            string
	hasLabel, hasPred      bool
	probClass              string // argmax of "<prediction>.<class>" columns
	prob                   float64
	hasProb                bool
	labels, predictions    []string
	prefix                 string // "<prediction>."
	labelColumn, predictor string
}

func newClassRows(label, prediction string) *classRows {
	return &classRows{labelColumn: label, predictor: prediction, prefix: prediction + "."}
}

func (r *classRows) begin() {
	r.hasLabel, r.hasPred, r.hasProb = false, false, false
}

// add looks at one column; it reports whether the column is the label.
func (r *classRows) add(name string, v detector.Value) (isLabel bool) {
	switch {
	case name == r.labelColumn:
		r.label, r.hasLabel = className(v)
		return true
	case name == r.predictor:
		r.pred, r.hasPred = className(v)
	case strings.HasPrefix(name, r.prefix) && v.Kind == detector.Number:
		x := v.Num
		if !v.Parsed {
			var err error
			if x, err = strconv.ParseFloat(string(v.Text), 64); err != nil {
				return false
			}
		}
		if !math.IsNaN(x) && (!r.hasProb || x > r.prob) {
			r.probClass, r.prob, r.hasProb = name[len(r.prefix):], x, len(name) > len(r.prefix)
		}
	}
	return false
}

// end keeps the row's pair; false when it has no usable label or
// prediction.
func (r *classRows) end() bool {
	pred, ok := r.pred, r.hasPred
	if !ok && r.hasProb {
		pred, ok = r.probClass, true
	}
	if !ok || !r.hasLabel {
		return false
	}
	r.labels, r.predictions = append(r.labels, r.label), append(r.predictions, pred)
	return true
}

// minClassSupport is the labelled rows per class under which reference
// build warns that the class's reference recall is imprecise.
const minClassSupport = 200

// multiclassReference measures the collected validation rows.
func multiclassReference(c *perfCollector, stderr io.Writer) (*detector.PerformanceRef, error) {
	r := c.multiclass
	pr, err := perf.BuildMulticlassReference(r.labels, r.predictions, c.prediction, c.label)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(stderr, "reference build: performance on %d labelled rows (%d without a usable label or prediction): %d classes, accuracy %.4f, macro-F1 %.4f\n",
		pr.Count, c.unlabelled, len(pr.Classes), pr.Accuracy, pr.MacroF1)
	for i, class := range pr.Classes {
		var support int64
		for _, x := range pr.Confusion[i] {
			support += x
		}
		switch {
		case support == 0:
			fmt.Fprintf(stderr, "reference build: class %q is only ever predicted, never a label: it has no recall test\n", class)
		case support < minClassSupport:
			fmt.Fprintf(stderr, "reference build: class %q has %d labelled rows (fewer than %d): its recall test takes the reference recall %.3f as exact; a larger validation set makes it reliable\n",
				class, support, minClassSupport, float64(pr.Confusion[i][i])/float64(support))
		}
	}
	return pr, nil
}

// showMulticlass prints a multiclass performance section.
func showMulticlass(w io.Writer, p *detector.PerformanceRef) {
	fmt.Fprintf(w, "performance (multiclass, label %s, prediction %s): %d rows, %d classes; accuracy %.4f, macro-F1 %.4f\n",
		p.Label, p.Prediction, p.Count, len(p.Classes), p.Accuracy, p.MacroF1)
	for i, c := range p.Classes {
		var support, predicted int64
		for j := range p.Classes {
			support += p.Confusion[i][j]
			predicted += p.Confusion[j][i]
		}
		recall := "-"
		if support > 0 {
			recall = fmt.Sprintf("%.4f", float64(p.Confusion[i][i])/float64(support))
		}
		fmt.Fprintf(w, "  class %-20s %8d labelled %8d predicted  recall %s\n", strconv.Quote(c), support, predicted, recall)
	}
}

// replayClasses reads a replayed line's predicted class and label as the
// class indices of m's pairs.
func replayClasses(m *perf.Monitor, prediction, label json.RawMessage) (score float64, hasScore bool, target float64, hasLabel bool) {
	if prediction != nil {
		if c, ok := predictedClassJSON(prediction); ok {
			score, hasScore = m.ClassIndex([]byte(c)), true
		}
	}
	if label != nil {
		if c, ok := classJSON(label); ok {
			target, hasLabel = m.ClassIndex([]byte(c)), true
		}
	}
	return score, hasScore, target, hasLabel
}

// multiclassLine is replay's evaluation line of a multiclass model: the
// window's accuracy, macro-F1 (over the reference classes present) and
// the recall of each reference class labelled in the window.
type multiclassLine struct {
	Type       string             `json:"type"`
	Model      string             `json:"model"`
	Version    string             `json:"version"`
	Evaluation uint64             `json:"evaluation"`
	Seq        uint64             `json:"seq"`
	N          int64              `json:"n"`
	Accuracy   float64            `json:"accuracy"`
	MacroF1    float64            `json:"macro_f1"`
	Recall     map[string]float64 `json:"recall"`
}

func newMulticlassLine(ev *perf.Evaluation) multiclassLine {
	c := ev.Multiclass
	f1, _ := c.MacroF1(c.Present(nil))
	line := multiclassLine{Type: "performance", Model: ev.Model, Version: ev.Version, Evaluation: ev.Number, Seq: ev.Window.LastSeq,
		N: c.N, Accuracy: finite(c.Accuracy()), MacroF1: finite(f1), Recall: map[string]float64{}}
	for i, name := range c.Names {
		if c.Support(i) > 0 {
			line.Recall[name] = c.Recall(i)
		}
	}
	return line
}

// setMulticlassMetrics exports a multiclass evaluation: accuracy and
// macro_f1 in driftd_performance_metric, the recalls in
// driftd_performance_class_recall.
func (h *perfHook) setMulticlassMetrics(ev *perf.Evaluation) {
	c := ev.Multiclass
	if acc := c.Accuracy(); acc == acc {
		h.metric.WithLabelValues(ev.Model, ev.Version, "accuracy").Set(acc)
	}
	if f1, _ := c.MacroF1(c.Present(nil)); f1 == f1 {
		h.metric.WithLabelValues(ev.Model, ev.Version, "macro_f1").Set(f1)
	}
	for i, name := range c.Names {
		if c.Support(i) > 0 {
			h.classRecall.WithLabelValues(ev.Model, ev.Version, name).Set(c.Recall(i))
		}
	}
}
