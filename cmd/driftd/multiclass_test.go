package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/valyala/fastjson"

	"github.com/driftd/driftd/detector"
	"github.com/driftd/driftd/detector/perf"
)

// shipping is the multiclass model of the tests: a label drawn from four
// classes (the rarest 5%), the predicted class right with the class's
// recall, else the majority class; x is a feature that tells the
// classes apart and does not change.
var shippingClasses = []string{"air", "rail", "road", "sea"}

func drawShipping(rng *rand.Rand, seaRecall float64) (x float64, label, pred int) {
	priors := []float64{0.2, 0.25, 0.5, 0.05}
	recall := []float64{0.85, 0.8, 0.9, seaRecall}
	u := rng.Float64()
	label = 3
	for i, p := range priors {
		if u < p {
			label = i
			break
		}
		u -= p
	}
	pred = label
	if rng.Float64() >= recall[label] {
		pred = (label + 1 + rng.IntN(3)) % 4
		if label == 3 {
			pred = 2
		}
	}
	return float64(label) + rng.NormFloat64(), label, pred
}

// probabilities renders a predicted class as an object of per-class
// probabilities whose argmax is pred.
func probabilities(pred int) string {
	parts := make([]string, len(shippingClasses))
	for i, c := range shippingClasses {
		p := 0.1
		if i == pred {
			p = 0.7
		}
		parts[i] = fmt.Sprintf("%q:%.2f", c, p)
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// TestReplayMulticlassPerformance: `reference build --task multiclass` on
// JSON lines with class names as label and prediction, and on a CSV with
// integer labels and per-class probability columns (argmax); `reference
// show` prints the classes; `replay --performance` of predictions (class
// names, and probability objects for half of them) and their labels 50
// events later, where the rare class "sea" collapses half-way (its
// recall 0.8 → 0.1, its rows predicted "road"): recall:sea fires after
// the change and names the class; evaluation lines carry accuracy,
// macro_f1 and the per-class recalls; a label of a class the reference
// does not know is counted, not a crash.
func TestReplayMulticlassPerformance(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(91, 91))
	var train strings.Builder
	var csv strings.Builder
	csv.WriteString("x,p.0,p.1,p.2,p.3,y\n")
	correct := 0
	for range 20000 {
		x, y, p := drawShipping(rng, 0.8)
		fmt.Fprintf(&train, `{"model":"ship","features":{"x":%.4f},"prediction":%q,"label":%q}`+"\n", x, shippingClasses[p], shippingClasses[y])
		probs := []float64{0.1, 0.1, 0.1, 0.1}
		probs[p] = 0.7
		fmt.Fprintf(&csv, "%.4f,%g,%g,%g,%g,%d\n", x, probs[0], probs[1], probs[2], probs[3], y)
		if y == p {
			correct++
		}
	}
	trainPath := filepath.Join(dir, "validation.jsonl")
	os.WriteFile(trainPath, []byte(train.String()), 0o644)
	ref := filepath.Join(dir, "ref.json")
	code, _, stderr := runCmd(t, "reference", "build", "--input", trainPath, "--model", "ship", "--task", "multiclass", "--label", "label", "--prediction", "prediction", "--out", ref)
	accuracy := fmt.Sprintf("accuracy %.4f", float64(correct)/20000)
	if code != 0 || !strings.Contains(stderr, "performance on 20000 labelled rows (0 without a usable label or prediction): 4 classes, "+accuracy) {
		t.Fatalf("build exit %d: %s", code, stderr)
	}
	code, show, _ := runCmd(t, "reference", "show", "--reference", ref)
	if code != 0 || !strings.Contains(show, "performance (multiclass, label label, prediction prediction): 20000 rows, 4 classes; "+accuracy) ||
		!strings.Contains(show, `class "sea"`) {
		t.Fatalf("show: %d %s", code, show)
	}
	csvPath := filepath.Join(dir, "validation.csv")
	os.WriteFile(csvPath, []byte(csv.String()), 0o644)
	code, _, stderr = runCmd(t, "reference", "build", "--input", csvPath, "--model", "ship", "--task", "multiclass", "--label", "y", "--prediction", "p", "--out", filepath.Join(dir, "ref2.json"))
	if code != 0 || !strings.Contains(stderr, "4 classes, "+accuracy) {
		t.Fatalf("CSV build with probability columns: exit %d: %s", code, stderr)
	}
	if _, show, _ := runCmd(t, "reference", "show", "--reference", filepath.Join(dir, "ref2.json")); !strings.Contains(show, `class "0"`) || !strings.Contains(show, `class "3"`) {
		t.Fatalf("integer classes: %s", show)
	}

	var events strings.Builder
	var pendingLabels []string
	const n, change = 12000, 6000
	for i := range n {
		seaRecall := 0.8
		if i >= change {
			seaRecall = 0.1
		}
		x, y, p := drawShipping(rng, seaRecall)
		pred := fmt.Sprintf("%q", shippingClasses[p])
		if i%2 == 1 {
			pred = probabilities(p)
		}
		fmt.Fprintf(&events, `{"model":"ship","request_id":"r%d","timestamp":%d,"features":{"x":%.4f},"prediction":%s}`+"\n", i, 1_800_000_000_000+int64(i)*10, x, pred)
		pendingLabels = append(pendingLabels, fmt.Sprintf(`{"model":"ship","request_id":"r%d","timestamp":%d,"label":%q}`, i, 1_800_000_000_000+int64(i)*10+500, shippingClasses[y]))
		if len(pendingLabels) > 50 {
			events.WriteString(pendingLabels[0] + "\n")
			pendingLabels = pendingLabels[1:]
		}
	}
	events.WriteString(`{"model":"ship","request_id":"extra","timestamp":1800000200000,"features":{"x":1},"prediction":"air"}` + "\n")
	events.WriteString(`{"model":"ship","request_id":"extra","timestamp":1800000200001,"label":"space"}` + "\n")
	in := filepath.Join(dir, "events.jsonl")
	os.WriteFile(in, []byte(events.String()), 0o644)
	code, out, stderr := runCmd(t, "replay", "--reference", ref, "--input", in, "--performance")
	if code != 0 {
		t.Fatalf("replay exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "11951 joined to a label") || !strings.Contains(stderr, "50 pending at the end") {
		t.Errorf("join summary: %s", stderr)
	}
	var recallAlert *detector.Alert
	var lastPerf multiclassLine
	perfLines := 0
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatal(err)
		}
		switch line.Type {
		case "performance":
			perfLines++
			lastPerf = multiclassLine{}
			if err := json.Unmarshal(sc.Bytes(), &lastPerf); err != nil {
				t.Fatal(err)
			}
		case "alert":
			var a alertLine
			if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
				t.Fatal(err)
			}
			if a.Alert.Feature != perf.Feature || a.Alert.Status != detector.Firing {
				continue
			}
			if a.Alert.Window.LastSeq <= change-50 {
				t.Errorf("performance alert before the change: %s", a.Alert.Summary)
			}
			if a.Alert.Test == perf.ClassRecallTest("sea") && recallAlert == nil {
				recallAlert = a.Alert
			}
		}
	}
	if perfLines == 0 {
		t.Fatal("no performance evaluation lines")
	}
	if lastPerf.N != 1000 || !(lastPerf.Accuracy > 0.7 && lastPerf.Accuracy < 0.95) || !(lastPerf.MacroF1 > 0.5) || len(lastPerf.Recall) < 3 ||
		lastPerf.Recall["sea"] > 0.4 {
		t.Errorf("last evaluation line %+v", lastPerf)
	}
	if recallAlert == nil {
		t.Fatal("the collapsed class raised no recall:sea alert")
	}
	t.Log(recallAlert.Summary)
	if !strings.Contains(recallAlert.Summary, "performance recall:sea: degraded") {
		t.Fatalf("summary does not name the metric and class: %s", recallAlert.Summary)
	}
	if code, _, stderr := runCmd(t, "reference", "build", "--input", trainPath, "--model", "ship", "--task", "ternary", "--label", "label", "--prediction", "prediction"); code != 2 || !strings.Contains(stderr, "multiclass") {
		t.Fatalf("--task ternary: exit %d %s", code, stderr)
	}
}

// TestDaemonMulticlassPerformance runs the daemon with
// DRIFTD_PERFORMANCE=true on an embedded broker: 8000 predictions of a
// multiclass model as per-class probability objects on the input topic,
// then their labels (class names) on DRIFTD_LABEL_TOPIC. From the 4000th
// on, the rare class "sea" is recognised 10% of the time instead of 80%:
// a recall:sea alert on feature "performance" reaches the alert topic,
// after the change, and the accuracy, macro_f1 and per-class recall
// gauges are exported (lint clean).
func TestDaemonMulticlassPerformance(t *testing.T) {
	cluster := perfCluster(t, "inference.events", "inference.labels")
	rng := rand.New(rand.NewPCG(92, 92))
	b, _ := detector.NewBuilder("ship", "1", detector.BuildOptions{})
	var labels, preds []string
	for range 20000 {
		x, y, p := drawShipping(rng, 0.8)
		b.BeginRow()
		b.Add("x", detector.Value{Kind: detector.Number, Num: x, Parsed: true})
		b.EndRow()
		labels, preds = append(labels, shippingClasses[y]), append(preds, shippingClasses[p])
	}
	ref, err := b.Reference()
	if err != nil {
		t.Fatal(err)
	}
	if ref.Performance, err = perf.BuildMulticlassReference(labels, preds, "prediction", "label"); err != nil {
		t.Fatal(err)
	}
	d, cl, ctx := startPerfDaemon(t, cluster, ref, "inference.labels")
	const n, change = 8000, 4000
	base := int64(1_800_000_000_000)
	var labelRecords []*kgo.Record
	for i := range n {
		seaRecall := 0.8
		if i >= change {
			seaRecall = 0.1
		}
		x, y, p := drawShipping(rng, seaRecall)
		ev := fmt.Sprintf(`{"model":"ship","model_version":"1","request_id":"r%d","timestamp":%d,"features":{"x":%.4f},"prediction":%s}`, i, base+int64(i)*10, x, probabilities(p))
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "inference.events", Key: []byte("ship"), Value: []byte(ev)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		lab := fmt.Sprintf(`{"model":"ship","model_version":"1","request_id":"r%d","timestamp":%d,"label":%q}`, i, base+int64(i)*10+2000, shippingClasses[y])
		labelRecords = append(labelRecords, &kgo.Record{Topic: "inference.labels", Key: []byte("ship"), Value: []byte(lab)})
	}
	waitMetric(t, d, "driftd_performance_predictions_total", n)
	if err := cl.ProduceSync(ctx, labelRecords...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	waitMetric(t, d, "driftd_performance_joined_total", n)

	recall := firstAlert(t, ctx, cl, 30*time.Second, func(a *detector.Alert) bool {
		if a.Feature == perf.Feature && a.Status == detector.Firing && a.Window.LastSeq <= change {
			t.Errorf("performance alert before the change: %s", a.Summary)
		}
		return a.Test == perf.ClassRecallTest("sea") && a.Status == detector.Firing
	})
	if recall == nil {
		t.Fatal("no recall:sea alert on the alert topic")
	}
	t.Log(recall.Summary)
	if problems, err := testutil.GatherAndLint(d.reg); err != nil || len(problems) > 0 {
		t.Fatalf("metric lint: %v %v", err, problems)
	}
	if n, err := testutil.GatherAndCount(d.reg, "driftd_performance_class_recall"); err != nil || n != 4 {
		t.Errorf("driftd_performance_class_recall: %d series (%v), want one per class", n, err)
	}
	if got := metricSum(t, d, "driftd_performance_metric"); !(got > 1 && got < 2) { // accuracy + macro_f1, both in (0.5, 1)
		t.Errorf("driftd_performance_metric sums to %v, want accuracy and macro_f1 only", got)
	}
}

// TestClassNames: class names read the same from a CSV cell, a JSON value
// and a record parsed by the daemon: numbers in their shortest form (3,
// 3.0 and "3" in a CSV are "3"), strings as they are, booleans as
// true/false; a probability object predicts its argmax; anything else is
// not a class.
func TestClassNames(t *testing.T) {
	for _, c := range []struct {
		v    detector.Value
		want string
		ok   bool
	}{
		{detector.Value{Kind: detector.Number, Text: []byte("3.0")}, "3", true},
		{detector.Value{Kind: detector.Number, Num: 3, Parsed: true}, "3", true},
		{detector.Value{Kind: detector.Number, Text: []byte("2.5")}, "2.5", true},
		{detector.Value{Kind: detector.String, Text: []byte("sea")}, "sea", true},
		{detector.Value{Kind: detector.Bool, Text: []byte("true")}, "true", true},
		{detector.Value{Kind: detector.String, Text: nil}, "", false},
		{detector.Value{Kind: detector.Null}, "", false},
		{detector.Value{Kind: detector.Number, Text: []byte("x")}, "", false},
	} {
		if got, ok := className(c.v); got != c.want || ok != c.ok {
			t.Errorf("className(%v %q) = %q %v, want %q %v", c.v.Kind, c.v.Text, got, ok, c.want, c.ok)
		}
	}
	var buf []byte
	for _, c := range []struct {
		raw        string
		want       string
		ok, predOK bool // as a label, as a prediction
	}{
		{`3`, "3", true, true},
		{`3.0`, "3", true, true},
		{`"sea"`, "sea", true, true},
		{`false`, "false", true, true},
		{`""`, "", false, false},
		{`null`, "", false, false},
		{`[1]`, "", false, false},
		{`{"air":0.2,"sea":0.7,"road":0.1}`, "sea", false, true},
		{`{"air":0.5,"sea":0.5}`, "air", false, true},
		{`{"air":"high"}`, "", false, false},
		{`{}`, "", false, false},
	} {
		got, ok := classJSON(json.RawMessage(c.raw))
		if ok != c.ok || (ok && got != c.want) {
			t.Errorf("classJSON(%s) = %q %v", c.raw, got, ok)
		}
		got, ok = predictedClassJSON(json.RawMessage(c.raw))
		if ok != c.predOK || (ok && got != c.want) {
			t.Errorf("predictedClassJSON(%s) = %q %v", c.raw, got, ok)
		}
		v := fastjson.MustParse(c.raw)
		b, ok := fastClass(v, false, buf)
		if ok != c.ok || (ok && string(b) != c.want) {
			t.Errorf("fastClass(%s, label) = %q %v", c.raw, b, ok)
		}
		b, ok = fastClass(v, true, buf)
		if ok != c.predOK || (ok && string(b) != c.want) {
			t.Errorf("fastClass(%s, prediction) = %q %v", c.raw, b, ok)
		}
	}
}

// TestReferenceBuildMulticlassErrors: a validation set with one labelled
// class is an error (exit 1) saying so; rows without a usable label are
// counted; a class with few labelled rows is warned about.
func TestReferenceBuildMulticlassErrors(t *testing.T) {
	dir := t.TempDir()
	one := filepath.Join(dir, "one.csv")
	os.WriteFile(one, []byte("x,pred,y\n1,a,a\n2,b,a\n3,a,a\n"), 0o644)
	code, _, stderr := runCmd(t, "reference", "build", "--input", one, "--model", "m", "--task", "multiclass", "--label", "y", "--prediction", "pred")
	if code != 1 || !strings.Contains(stderr, "at least two classes are needed") {
		t.Fatalf("one class: exit %d: %s", code, stderr)
	}
	var csv strings.Builder
	csv.WriteString("x,pred,y\n")
	for i := range 1000 {
		y := "big"
		if i%100 == 0 {
			y = "tiny"
		}
		fmt.Fprintf(&csv, "%d,%s,%s\n", i, y, y)
	}
	csv.WriteString("5,big,\n")
	few := filepath.Join(dir, "few.csv")
	os.WriteFile(few, []byte(csv.String()), 0o644)
	code, _, stderr = runCmd(t, "reference", "build", "--input", few, "--model", "m", "--task", "multiclass", "--label", "y", "--prediction", "pred", "--out", filepath.Join(dir, "ref.json"))
	if code != 0 || !strings.Contains(stderr, "performance on 1000 labelled rows (1 without a usable label or prediction): 2 classes, accuracy 1.0000") ||
		!strings.Contains(stderr, `class "tiny" has 10 labelled rows (fewer than 200)`) || strings.Contains(stderr, `class "big" has`) {
		t.Fatalf("exit %d: %s", code, stderr)
	}
}
