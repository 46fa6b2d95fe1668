package perf

import (
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/driftd/driftd/detector"
)

// classModel is a multiclass classifier: the label drawn from priors,
// the prediction the label with the class's recall, else another class
// drawn in proportion to confuse (a row of weights per label).
type classModel struct {
	classes []string
	priors  []float64
	recall  []float64
}

func (cm classModel) draw(rng *rand.Rand) (label, pred int) {
	u := rng.Float64()
	label = len(cm.priors) - 1
	for i, p := range cm.priors {
		if u < p {
			label = i
			break
		}
		u -= p
	}
	if rng.Float64() < cm.recall[label] {
		return label, label
	}
	// A wrong class: the majority class (0) twice as often as any other.
	for {
		j := rng.IntN(len(cm.classes) + 1)
		if j == len(cm.classes) {
			j = 0
		}
		if j != label {
			return label, j
		}
	}
}

var fiveClasses = classModel{
	classes: []string{"card", "cash", "crypto", "transfer", "voucher"},
	priors:  []float64{0.4, 0.3, 0.15, 0.1, 0.05},
	recall:  []float64{0.92, 0.85, 0.75, 0.7, 0.8},
}

func classReference(t testing.TB, rng *rand.Rand, cm classModel, n int) *detector.Reference {
	labels, preds := make([]string, n), make([]string, n)
	for i := range n {
		y, p := cm.draw(rng)
		labels[i], preds[i] = cm.classes[y], cm.classes[p]
	}
	pr, err := BuildMulticlassReference(labels, preds, "prediction", "label")
	if err != nil {
		t.Fatal(err)
	}
	return &detector.Reference{Schema: detector.ReferenceSchema, ID: "sha256:test", Model: "payments", Version: "2", Performance: pr}
}

// addClass feeds one pair by class names, as the daemon does.
func addClass(m *Monitor, cm classModel, y, p int, alerts *[]detector.Alert) *Evaluation {
	return m.Add(Pair{Score: m.ClassIndex([]byte(cm.classes[p])), Target: m.ClassIndex([]byte(cm.classes[y]))}, alerts)
}

// TestMulticlassNoDegradation: 1,000,000 joined pairs of a five-class
// model as validated (50,000 validation rows; the rarest class 5%),
// production policy: no alert (the ERT of 10^7 allows 0.1). With the
// threshold alone (ERT 2·10^4, gates, hysteresis and immediate firing
// off, 2,000,000 pairs) the thresholds hop/(ERT·7) over the 7 tests
// (accuracy, macro_f1, five recalls) allow 100 drifting results by the
// union bound; the count must stay under 1.5× that and, not to be
// vacuous, above a twentieth; macro_f1 alone (its own share of the
// budget, 100/7) must stay under 2× its share, a check of the
// delta-method z test's tail.
func TestMulticlassNoDegradation(t *testing.T) {
	if testing.Short() {
		t.Skip("3M-pair simulation")
	}
	rng := rand.New(rand.NewPCG(81, 81))
	ref := classReference(t, rng, fiveClasses, 50000)
	m := newTestMonitor(t, ref, detector.DefaultPolicy())
	if got := len(m.tests()); got != 7 {
		t.Fatalf("%d tests, want 7", got)
	}
	var alerts []detector.Alert
	for range 1_000_000 {
		y, p := fiveClasses.draw(rng)
		addClass(m, fiveClasses, y, p, &alerts)
	}
	if len(alerts) > 0 {
		t.Fatalf("%d false alarms, first %s", len(alerts), alerts[0].Summary)
	}
	pol := detector.DefaultPolicy()
	pol.ERT, pol.Hysteresis, pol.ImmediateFactor = 2e4, 1, -1
	m = newTestMonitor(t, ref, pol)
	m.cfg.RateMinDrop = 0
	drifting := map[detector.Test]int{}
	total := 0
	const pairs = 2_000_000
	for range pairs {
		y, p := fiveClasses.draw(rng)
		if ev := addClass(m, fiveClasses, y, p, &alerts); ev != nil {
			for _, r := range ev.Results {
				if r.Drifting {
					drifting[r.Test]++
					total++
				}
			}
		}
	}
	bound := pairs / pol.ERT
	t.Logf("threshold only: %d drifting results %v, union bound %.0f", total, drifting, bound)
	if float64(total) > 1.5*bound || float64(total) < bound/20 {
		t.Fatalf("%d drifting results, want within [%.2f, %.1f]", total, bound/20, 1.5*bound)
	}
	if f1 := drifting[TestMacroF1]; float64(f1) > 2*bound/7 {
		t.Fatalf("macro_f1: %d drifting results, its share of the bound is %.1f", f1, bound/7)
	}
}

// TestMulticlassRareClassCollapse: after 20,000 pairs the rarest class
// (voucher, 5%) is recognised 10% of the time instead of 80%, its rows
// going to the majority class. The label marginals do not move and
// accuracy drops by 0.035 only (under its 0.05 gate); recall:voucher must
// fire within two windows (2000 pairs) of the change, naming the class,
// and nothing may fire before the change.
func TestMulticlassRareClassCollapse(t *testing.T) {
	rng := rand.New(rand.NewPCG(82, 82))
	ref := classReference(t, rng, fiveClasses, 50000)
	m := newTestMonitor(t, ref, detector.DefaultPolicy())
	broken := fiveClasses
	broken.recall = []float64{0.92, 0.85, 0.75, 0.7, 0.1}
	var alerts []detector.Alert
	const change = 20000
	var last *Evaluation
	for i := range change + 4000 {
		cm := fiveClasses
		if i >= change {
			cm = broken
		}
		y, p := cm.draw(rng)
		if y == 4 && p != 4 && i >= change {
			p = 0 // the collapsed class goes to the majority
		}
		if ev := addClass(m, cm, y, p, &alerts); ev != nil {
			last = ev
		}
	}
	first := map[detector.Test]detector.Alert{}
	for _, a := range alerts {
		if a.Status != detector.Firing {
			continue
		}
		if a.Window.LastSeq <= change {
			t.Errorf("alert before the change: %s", a.Summary)
		}
		if _, ok := first[a.Test]; !ok {
			first[a.Test] = a
		}
	}
	rec, ok := first[ClassRecallTest("voucher")]
	if !ok {
		t.Fatalf("recall:voucher did not fire; alerts %v", alerts)
	}
	t.Logf("recall:voucher fired %d pairs after the change: %s", rec.Window.LastSeq-change, rec.Summary)
	for test, a := range first {
		t.Logf("fired: %s (%d pairs after)", test, a.Window.LastSeq-change)
	}
	if rec.Feature != Feature || rec.Window.LastSeq-change > 2000 || !strings.Contains(rec.Summary, "recall:voucher") {
		t.Fatalf("recall:voucher alert %+v: want feature %q within 2000 pairs, the class in the summary", rec, Feature)
	}
	w := last.Multiclass
	if d := math.Abs(float64(w.Support(4))/float64(w.N) - 0.05); d > 0.03 {
		t.Errorf("voucher's share of the labels is %v, want about 0.05", float64(w.Support(4))/float64(w.N))
	}
	if w.Recall(4) > 0.3 {
		t.Errorf("voucher's recall in the last window %v, want the collapse", w.Recall(4))
	}
}

// TestMacroF1DeltaVariance: the delta-method variance of macro-F1 — what
// the macro_f1 test's z divides by — matches the Monte Carlo variance of
// macro-F1 over 4000 windows of 1000 pairs (five classes, the rarest 5%)
// to 10%, and so does the mean of the per-window estimates.
func TestMacroF1DeltaVariance(t *testing.T) {
	rng := rand.New(rand.NewPCG(83, 83))
	const windows, n = 4000, 1000
	pairs := make([]Pair, n)
	var cm ClassMetrics
	var sum, sumSq, estimates float64
	all := []bool{true, true, true, true, true}
	for range windows {
		for i := range pairs {
			y, p := fiveClasses.draw(rng)
			pairs[i] = Pair{Score: float64(p), Target: float64(y)}
		}
		ComputeMulticlass(pairs, 5, &cm)
		f1, v := cm.MacroF1(all)
		sum += f1
		sumSq += f1 * f1
		estimates += v
	}
	mean := sum / windows
	empirical := (sumSq - windows*mean*mean) / (windows - 1)
	estimate := estimates / windows
	t.Logf("macro-F1 mean %.4f, Monte Carlo variance %.4g, mean delta-method variance %.4g", mean, empirical, estimate)
	if math.Abs(estimate/empirical-1) > 0.1 {
		t.Fatalf("delta-method variance %.4g vs Monte Carlo %.4g: off by more than 10%%", estimate, empirical)
	}
}

// TestClassIndex: reference classes map to their sorted index; names the
// reference does not know get distinct indices ≥ K (a label and a
// prediction of the same unknown class agree), up to 64, then a negative
// index that never counts as correct; the confusion matrix puts every
// unknown class in "other".
func TestClassIndex(t *testing.T) {
	ref := classReference(t, rand.New(rand.NewPCG(84, 84)), fiveClasses, 5000)
	m := newTestMonitor(t, ref, detector.DefaultPolicy())
	for i, c := range fiveClasses.classes {
		if got := m.ClassIndex([]byte(c)); got != float64(i) {
			t.Errorf("%s: index %v, want %d", c, got, i)
		}
	}
	a, b := m.ClassIndex([]byte("gift")), m.ClassIndex([]byte("loan"))
	if a < 5 || b < 5 || a == b || m.ClassIndex([]byte("gift")) != a {
		t.Fatalf("unknown classes: %v %v", a, b)
	}
	for i := range 100 {
		m.ClassIndex([]byte{'x', byte(i)})
	}
	over := m.ClassIndex([]byte("yet another"))
	if over >= 0 || len(m.mc.unseen) != maxUnseenClasses {
		t.Fatalf("past the bound: index %v, %d unknown names kept", over, len(m.mc.unseen))
	}
	var cm ClassMetrics
	ComputeMulticlass([]Pair{{Score: a, Target: a}, {Score: b, Target: a}, {Score: over, Target: over}, {Score: 0, Target: 0}, {Score: 0, Target: a}}, 5, &cm)
	if cm.Correct != 2 || cm.Cell(5, 5) != 3 || cm.Cell(5, 0) != 1 || cm.Cell(0, 0) != 1 || cm.Accuracy() != 0.4 {
		t.Fatalf("confusion %v, correct %d", cm.Confusion, cm.Correct)
	}
	if !math.IsNaN(cm.Recall(1)) || cm.Recall(0) != 1 || cm.F1(0) != 2.0/3 {
		t.Fatalf("recall(1) %v recall(0) %v F1(0) %v", cm.Recall(1), cm.Recall(0), cm.F1(0))
	}
}

// TestBuildMulticlassReferenceErrors: bad validation sets are errors
// naming the problem, never a crash.
func TestBuildMulticlassReferenceErrors(t *testing.T) {
	many := make([]string, 0, 150)
	for i := range 150 {
		many = append(many, strings.Repeat("c", i+1))
	}
	for _, c := range []struct {
		labels, preds []string
		want          string
	}{
		{[]string{"a", "b"}, []string{"a"}, "2 labels for 1 predictions"},
		{[]string{"a"}, []string{"a"}, "need at least 2"},
		{[]string{"a", ""}, []string{"a", "b"}, "row 2: empty class name"},
		{[]string{"a", "a", "a"}, []string{"a", "b", "c"}, "at least two classes"},
		{many, many, "more than 100 classes"},
	} {
		_, err := BuildMulticlassReference(c.labels, c.preds, "prediction", "label")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v/%v: error %v, want %q", c.labels, c.preds, err, c.want)
		}
	}
}

// BenchmarkMulticlassWindow: one joined pair of a multiclass model, its
// class names mapped to indices, added to a window of 1,000 evaluated
// every 125 (confusion matrix, accuracy, macro-F1 of the window and of
// the reference over the classes present, K recall tests) amortised.
func BenchmarkMulticlassWindow(b *testing.B) {
	for _, k := range []int{5, 50} {
		b.Run(strconv.Itoa(k)+"_classes", func(b *testing.B) {
			cm := classModel{}
			for i := range k {
				cm.classes = append(cm.classes, "class-"+strconv.Itoa(i))
				cm.priors = append(cm.priors, 1/float64(k))
				cm.recall = append(cm.recall, 0.8)
			}
			rng := rand.New(rand.NewPCG(85, 85))
			m := newTestMonitor(b, classReference(b, rng, cm, 50000), detector.DefaultPolicy())
			names := make([][]byte, k)
			for i, c := range cm.classes {
				names[i] = []byte(c)
			}
			draws := make([][2]int, 4096)
			for i := range draws {
				draws[i][0], draws[i][1] = cm.draw(rng)
			}
			var alerts []detector.Alert
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				d := draws[i%len(draws)]
				m.Add(Pair{Score: m.ClassIndex(names[d[1]]), Target: m.ClassIndex(names[d[0]])}, &alerts)
				alerts = alerts[:0]
			}
		})
	}
}

// FuzzMulticlassMonitor: any multiclass reference that validates drives a
// monitor over any pairs (class indices in and out of range, negative,
// NaN) without a panic, and every result has a p-value in [0, 1] and a
// finite value and reference in [0, 1].
func FuzzMulticlassMonitor(f *testing.F) {
	b, err := detector.NewBuilder("m", "1", detector.BuildOptions{})
	if err != nil {
		f.Fatal(err)
	}
	for i := range 200 {
		b.BeginRow()
		b.Add("x", detector.Value{Kind: detector.Number, Num: float64(i), Parsed: true})
		b.EndRow()
	}
	base, err := b.Reference()
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte{3, 40, 5, 5, 3, 30, 2, 2, 3, 10}, []byte{0, 0, 1, 1, 2, 2, 0, 1, 1, 2, 2, 0, 7, 7, 255, 3})
	f.Add([]byte{2, 0, 0, 0, 9}, []byte{1, 1, 1, 0})
	f.Add([]byte{4, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1}, []byte{0, 1, 2, 3, 4, 5})
	f.Fuzz(func(t *testing.T, confusion, pairs []byte) {
		if len(confusion) == 0 {
			return
		}
		k := 2 + int(confusion[0])%5
		pr := &detector.PerformanceRef{Task: detector.PerformanceMulticlass, Prediction: "prediction", Label: "label"}
		var correct int64
		for i := range k {
			pr.Classes = append(pr.Classes, strconv.Itoa(i))
			row := make([]int64, k)
			for j := range k {
				if at := 1 + i*k + j; at < len(confusion) {
					row[j] = int64(confusion[at])
				}
				pr.Count += row[j]
			}
			correct += row[i]
			pr.Confusion = append(pr.Confusion, row)
		}
		if pr.Count > 0 {
			pr.Accuracy = float64(correct) / float64(pr.Count)
		}
		ref := *base
		ref.Performance = pr
		if ref.Validate() != nil {
			return
		}
		cfg := DefaultConfig()
		cfg.Window, cfg.Hop = 8, 2
		pol := detector.DefaultPolicy()
		pol.MinEvents = 2
		m, err := NewMonitor(&ref, pol, cfg)
		if err != nil {
			t.Fatal(err)
		}
		index := func(c byte) float64 {
			switch c {
			case 255:
				return math.NaN()
			case 254:
				return -1
			}
			return m.ClassIndex([]byte(strconv.Itoa(int(c) % 12)))
		}
		var alerts []detector.Alert
		for i := 0; i+1 < len(pairs); i += 2 {
			ev := m.Add(Pair{Score: index(pairs[i]), Target: index(pairs[i+1])}, &alerts)
			if ev == nil {
				continue
			}
			for _, r := range ev.Results {
				if !(r.PValue >= 0 && r.PValue <= 1) || !(r.Value >= 0 && r.Value <= 1) || !(r.Reference >= 0 && r.Reference <= 1) {
					t.Fatalf("%s: value %v reference %v p %v", r.Test, r.Value, r.Reference, r.PValue)
				}
			}
		}
	})
}
