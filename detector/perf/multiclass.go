package perf

import (
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/driftd/driftd/detector"
)

// Multiclass classifiers. A joined multiclass pair carries class indices
// in its float fields: Pair.Score is the predicted class, Pair.Target the
// label, both indices into the reference's classes (Monitor.ClassIndex).
// An index ≥ K (the number of reference classes) is a class the reference
// does not know, "other" (distinct names get distinct indices, so a label
// and a prediction of the same unknown class still agree); a negative
// index is an unknown class past the per-monitor bound, never counted as
// correct.

// Multiclass tests; the recall of each class is ClassRecallTest(class).
const (
	TestAccuracy detector.Test = "accuracy"
	TestMacroF1  detector.Test = "macro_f1"
)

// ClassRecallTest names the recall test of one class: "recall:<class>".
func ClassRecallTest(class string) detector.Test { return detector.Test("recall:" + class) }

// maxUnseenClasses bounds the class names outside the reference that a
// monitor tells apart; the others share a negative index.
const maxUnseenClasses = 64

// ClassMetrics are a set of multiclass pairs' counts: the confusion
// matrix over the K reference classes and "other" (index K), and the
// correct predictions.
type ClassMetrics struct {
	K          int
	Names      []string // the reference classes (in an Evaluation; shared, not to be modified)
	N, Correct int64
	// Confusion is (K+1)×(K+1), row-major: row the label, column the
	// predicted class.
	Confusion []int64
}

// ComputeMulticlass counts pairs over k reference classes into m, reusing
// its confusion matrix.
func ComputeMulticlass(pairs []Pair, k int, m *ClassMetrics) {
	cells := (k + 1) * (k + 1)
	if cap(m.Confusion) < cells {
		m.Confusion = make([]int64, cells)
	}
	m.Confusion = m.Confusion[:cells]
	clear(m.Confusion)
	m.K, m.N, m.Correct = k, int64(len(pairs)), 0
	for _, p := range pairs {
		label, pred := classSlot(p.Target, k), classSlot(p.Score, k)
		m.Confusion[label*(k+1)+pred]++
		if p.Target == p.Score && p.Target >= 0 {
			m.Correct++
		}
	}
}

// classSlot is the confusion row or column of a class index.
func classSlot(index float64, k int) int {
	if index >= 0 && index < float64(k) {
		return int(index)
	}
	return k
}

// Cell is the count of pairs labelled label and predicted pred.
func (m *ClassMetrics) Cell(label, pred int) int64 { return m.Confusion[label*(m.K+1)+pred] }

// Support is the count of pairs labelled c.
func (m *ClassMetrics) Support(c int) int64 {
	var s int64
	for j := 0; j <= m.K; j++ {
		s += m.Cell(c, j)
	}
	return s
}

// Predicted is the count of pairs predicted c.
func (m *ClassMetrics) Predicted(c int) int64 {
	var s int64
	for i := 0; i <= m.K; i++ {
		s += m.Cell(i, c)
	}
	return s
}

// Accuracy is the share of correct predictions (NaN without pairs).
func (m *ClassMetrics) Accuracy() float64 { return float64(m.Correct) / float64(m.N) }

// Recall of class c: correct among the pairs labelled c (NaN without
// any).
func (m *ClassMetrics) Recall(c int) float64 { return float64(m.Cell(c, c)) / float64(m.Support(c)) }

// F1 of class c, 2·TP/(support + predicted) (NaN when c is neither a
// label nor a prediction).
func (m *ClassMetrics) F1(c int) float64 {
	return 2 * float64(m.Cell(c, c)) / float64(m.Support(c)+m.Predicted(c))
}

// Present marks the reference classes that occur as a label or as a
// prediction; grown from scratch.
func (m *ClassMetrics) Present(scratch []bool) []bool {
	scratch = append(scratch[:0], make([]bool, m.K)...)
	for i := 0; i <= m.K; i++ {
		for j := 0; j <= m.K; j++ {
			if m.Cell(i, j) > 0 {
				if i < m.K {
					scratch[i] = true
				}
				if j < m.K {
					scratch[j] = true
				}
			}
		}
	}
	return scratch
}

// MacroF1 is the mean F1 of the reference classes in the set classes,
// with the delta-method variance of that estimate under multinomial
// sampling of the confusion cells (see MacroF1DropTest). A class of the
// set that occurs neither as a label nor as a prediction has no F1 and is
// left out; NaN when none remains.
//
// With p_ij the cell shares, d_c = row_c + column_c and S the classes
// averaged, F = (1/|S|) Σ_{c∈S} 2 p_cc/d_c has the gradient
//
//	∂F/∂p_ij = (2/|S|) (1{i=j∈S}/d_i − 1{i∈S} p_ii/d_i² − 1{j∈S} p_jj/d_j²),
//
// and Var F ≈ (Σ p_ij g_ij² − (Σ p_ij g_ij)²)/n.
func (m *ClassMetrics) MacroF1(classes []bool) (f1, variance float64) {
	k := m.K
	n := float64(m.N)
	d := make([]float64, k) // row + column shares, 0 for classes left out
	size := 0
	for c := range k {
		if !classes[c] {
			continue
		}
		if s := m.Support(c) + m.Predicted(c); s > 0 {
			d[c] = float64(s) / n
			f1 += 2 * float64(m.Cell(c, c)) / float64(s)
			size++
		}
	}
	if size == 0 {
		return math.NaN(), math.NaN()
	}
	f1 /= float64(size)
	share := func(c int) float64 { // p_cc/d_c², 0 outside S
		if c >= k || d[c] == 0 {
			return 0
		}
		return float64(m.Cell(c, c)) / n / (d[c] * d[c])
	}
	var sumG, sumG2 float64
	for i := 0; i <= k; i++ {
		for j := 0; j <= k; j++ {
			cnt := m.Cell(i, j)
			if cnt == 0 {
				continue
			}
			g := -share(i) - share(j)
			if i == j && i < k && d[i] > 0 {
				g += 1 / d[i]
			}
			g *= 2 / float64(size)
			p := float64(cnt) / n
			sumG += p * g
			sumG2 += p * g * g
		}
	}
	return f1, max(0, sumG2-sumG*sumG) / n
}

// MacroF1DropTest tests whether the window's macro-F1 is below the
// reference's (both over the same classes): z = (F_ref − F_win)/√(V_win +
// V_ref) with delta-method variances (the samples are independent), p =
// Φ(−z).
func MacroF1DropTest(ref, refVar, win, winVar float64) (z, p float64) {
	se := math.Sqrt(refVar + winVar)
	if !(se > 0) {
		if win < ref {
			return math.Inf(1), 0
		}
		return 0, 1
	}
	z = (ref - win) / se
	return z, distuv.UnitNormal.CDF(-z)
}

// BuildMulticlassReference measures a multiclass classifier on a
// labelled validation set: labels[i] is row i's class, predictions[i]
// the predicted class. The classes are the names seen as either, sorted.
func BuildMulticlassReference(labels, predictions []string, prediction, label string) (*detector.PerformanceRef, error) {
	if len(labels) != len(predictions) {
		return nil, fmt.Errorf("%d labels for %d predictions", len(labels), len(predictions))
	}
	if len(labels) < 2 {
		return nil, fmt.Errorf("%d labelled rows, need at least 2", len(labels))
	}
	index := map[string]int{}
	for i := range labels {
		if labels[i] == "" || predictions[i] == "" {
			return nil, fmt.Errorf("row %d: empty class name", i+1)
		}
		index[labels[i]], index[predictions[i]] = 0, 0
		if len(index) > detector.MaxClasses {
			return nil, fmt.Errorf("more than %d classes (row %d); is the label column a class?", detector.MaxClasses, i+1)
		}
	}
	classes := make([]string, 0, len(index))
	for c := range index {
		classes = append(classes, c)
	}
	slices.Sort(classes)
	for i, c := range classes {
		index[c] = i
	}
	k := len(classes)
	pairs := make([]Pair, len(labels))
	for i := range labels {
		pairs[i] = Pair{Score: float64(index[predictions[i]]), Target: float64(index[labels[i]])}
	}
	var m ClassMetrics
	ComputeMulticlass(pairs, k, &m)
	confusion := make([][]int64, k)
	labelled := 0
	for i := range confusion {
		confusion[i] = make([]int64, k)
		for j := range k {
			confusion[i][j] = m.Cell(i, j)
		}
		if m.Support(i) > 0 {
			labelled++
		}
	}
	if labelled < 2 {
		return nil, fmt.Errorf("%d labelled rows of %d class(es): at least two classes are needed", m.N, labelled)
	}
	all := make([]bool, k)
	for i := range all {
		all[i] = true
	}
	f1, _ := m.MacroF1(all)
	return &detector.PerformanceRef{
		Task: detector.PerformanceMulticlass, Prediction: prediction, Label: label, Count: m.N,
		MulticlassRef: detector.MulticlassRef{Classes: classes, Confusion: confusion, Accuracy: m.Accuracy(), MacroF1: f1},
	}, nil
}

// multiclass is a Monitor's state for a multiclass model.
type multiclass struct {
	index   map[string]int // reference classes
	unseen  map[string]int // other classes seen, up to maxUnseenClasses
	ref     ClassMetrics   // the reference's confusion matrix
	tests   []detector.Test
	classOf []int // the class of each test, −1 for accuracy and macro_f1
	alarms  []detector.AlarmState
	win     ClassMetrics
	present []bool
	inRef   []bool // the classes present in the reference
}

func newMulticlass(ref *detector.PerformanceRef) *multiclass {
	k := len(ref.Classes)
	mc := &multiclass{index: make(map[string]int, k), unseen: map[string]int{},
		tests: []detector.Test{TestAccuracy, TestMacroF1}, classOf: []int{-1, -1}}
	mc.ref = ClassMetrics{K: k, N: ref.Count, Confusion: make([]int64, (k+1)*(k+1))}
	for i, c := range ref.Classes {
		mc.index[c] = i
		for j, x := range ref.Confusion[i] {
			mc.ref.Confusion[i*(k+1)+j] = x
		}
		mc.ref.Correct += ref.Confusion[i][i]
	}
	for i, c := range ref.Classes {
		if mc.ref.Support(i) > 0 { // a class only ever predicted has no reference recall
			mc.tests = append(mc.tests, ClassRecallTest(c))
			mc.classOf = append(mc.classOf, i)
		}
	}
	mc.alarms = make([]detector.AlarmState, len(mc.tests))
	mc.inRef = mc.ref.Present(nil)
	return mc
}

// ClassIndex is the class index of a class name for the pairs of a
// multiclass monitor (see Pair): its reference index, an index ≥ K for a
// class the reference does not know, −1 past maxUnseenClasses such names
// (and on a monitor that is not multiclass).
func (m *Monitor) ClassIndex(name []byte) float64 {
	mc := m.mc
	if mc == nil {
		return -1
	}
	if i, ok := mc.index[string(name)]; ok {
		return float64(i)
	}
	if i, ok := mc.unseen[string(name)]; ok {
		return float64(i)
	}
	if len(mc.unseen) >= maxUnseenClasses {
		return -1
	}
	i := mc.ref.K + len(mc.unseen)
	mc.unseen[string(name)] = i
	return float64(i)
}

func (m *Monitor) evaluateMulticlass(alerts *[]detector.Alert) *Evaluation {
	mc := m.mc
	ComputeMulticlass(m.ring[:m.n], mc.ref.K, &mc.win)
	m.evals++
	alpha := m.Alpha()
	info := detector.WindowInfo{Kind: "count", Size: int64(m.cfg.Window), Hop: int64(m.cfg.Hop), N: mc.win.N,
		FirstSeq: m.seq - uint64(m.n) + 1, LastSeq: m.seq}
	snapshot := mc.win
	snapshot.Confusion = slices.Clone(mc.win.Confusion)
	snapshot.Names = m.ref.Classes
	ev := &Evaluation{Model: m.model, Version: m.version, Number: m.evals, Window: info, Metrics: Metrics{N: mc.win.N},
		Multiclass: &snapshot}
	mc.present = mc.win.Present(mc.present)
	for i, in := range mc.inRef {
		mc.present[i] = mc.present[i] && in
	}
	for i, t := range mc.tests {
		r, ok := m.testMulticlass(t, mc.classOf[i], alpha)
		if !ok {
			continue
		}
		a := &mc.alarms[i]
		if step(a, &r, m.policy, m.seq) {
			*alerts = append(*alerts, m.alert(r, a.Firing, info))
		}
		ev.Results = append(ev.Results, r)
	}
	m.last = ev
	return ev
}

// testMulticlass runs one multiclass test: the exact binomial test of
// accuracy and of a class's recall against the reference rate, the
// delta-method z test of macro-F1 over the reference classes present in
// the window (the reference's macro-F1 recomputed over the same
// classes). ok is false for the recall of a class absent from the
// window's labels.
func (m *Monitor) testMulticlass(t detector.Test, class int, alpha float64) (r Result, ok bool) {
	mc := m.mc
	w, ref := &mc.win, &mc.ref
	r = Result{Test: t, Threshold: alpha, EffectThreshold: m.cfg.RateMinDrop}
	switch {
	case t == TestAccuracy:
		p0 := ref.Accuracy()
		r.Value, r.Reference = w.Accuracy(), p0
		r.Statistic, r.PValue = r.Value, RateDropTest(w.Correct, w.N, ref.Correct, ref.N)
	case t == TestMacroF1:
		win, winVar := w.MacroF1(mc.present)
		if math.IsNaN(win) {
			return r, false
		}
		refF1, refVar := ref.MacroF1(mc.present)
		r.Value, r.Reference = win, refF1
		r.Statistic, r.PValue = MacroF1DropTest(refF1, refVar, win, winVar)
	default:
		support := w.Support(class)
		if support == 0 {
			return r, false
		}
		p0 := ref.Recall(class)
		r.Value, r.Reference = w.Recall(class), p0
		r.Statistic, r.PValue = r.Value, RateDropTest(w.Cell(class, class), support, ref.Cell(class, class), ref.Support(class))
	}
	r.Effect = r.Reference - r.Value
	m.decide(&r, alpha)
	return r, true
}
