package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/driftd/driftd/detector"
	"github.com/driftd/driftd/detector/perf"
	"github.com/driftd/driftd/stream"
	"github.com/driftd/driftd/stream/codec"
)

// benchTask is the input partition of benchmarked records.
var benchTask = stream.TaskID{Topic: "inference", Partition: 0}

// cbpeDraw draws one row of an over-confident model: a latent x ~ N(0,
// sd²), the label positive with probability sigmoid(−1.2 + 1.4x), the
// score sigmoid(1.6·(−1.2 + 1.4x)). A narrower sd crowds the scores where
// the model is unsure: the true ROC-AUC drops (0.81 → 0.69 at sd 0.5).
func cbpeDraw(rng *rand.Rand, sd float64) (x, score float64, positive int) {
	x = sd * rng.NormFloat64()
	z := -1.2 + 1.4*x
	score = 1 / (1 + math.Exp(-1.6*z))
	if rng.Float64() < 1/(1+math.Exp(-z)) {
		positive = 1
	}
	return x, score, positive
}

// TestReplayEstimatedPerformance: `reference build --label --prediction`
// on 20,000 labelled rows stores the CBPE calibration (the build and
// `reference show` say so); `replay --performance` of predictions without
// labels or request IDs writes estimated_performance lines, and when the
// population narrows half-way an estimated_roc_auc alert on feature
// "performance" fires after the change and none before it. A validation
// set too small for the calibration still builds, without estimation.
func TestReplayEstimatedPerformance(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(81, 81))
	var train strings.Builder
	for range 20000 {
		x, s, y := cbpeDraw(rng, 1)
		fmt.Fprintf(&train, `{"model":"m","features":{"x":%.5f},"prediction":%.6f,"label":%d}`+"\n", x, s, y)
	}
	trainPath := filepath.Join(dir, "validation.jsonl")
	os.WriteFile(trainPath, []byte(train.String()), 0o644)
	ref := filepath.Join(dir, "ref.json")
	code, _, stderr := runCmd(t, "reference", "build", "--input", trainPath, "--model", "m", "--label", "label", "--prediction", "prediction", "--threshold", "0.5", "--out", ref)
	if code != 0 || !strings.Contains(stderr, "performance estimation (CBPE): 1") {
		t.Fatalf("build exit %d: %s", code, stderr)
	}
	code, show, _ := runCmd(t, "reference", "show", "--reference", ref)
	if code != 0 || !strings.Contains(show, "performance estimation (cbpe, ") {
		t.Fatalf("show: %d %s", code, show)
	}
	var events strings.Builder
	const n, change = 12000, 6000
	for i := range n {
		sd := 1.0
		if i >= change {
			sd = 0.5
		}
		x, s, _ := cbpeDraw(rng, sd)
		fmt.Fprintf(&events, `{"model":"m","timestamp":%d,"features":{"x":%.5f},"prediction":%.6f}`+"\n", 1_800_000_000_000+int64(i)*10, x, s)
	}
	in := filepath.Join(dir, "events.jsonl")
	os.WriteFile(in, []byte(events.String()), 0o644)
	code, out, stderr := runCmd(t, "replay", "--reference", ref, "--input", in, "--performance")
	if code != 0 {
		t.Fatalf("replay exit %d: %s", code, stderr)
	}
	var fired map[string]any
	estimates := 0
	var firstAUC, lastAUC float64
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatal(err)
		}
		switch line["type"] {
		case "estimated_performance":
			if line["seq"].(float64) == change {
				firstAUC = line["estimated_roc_auc"].(float64)
			}
			lastAUC = line["estimated_roc_auc"].(float64)
			estimates++
		case "alert":
			if line["feature"] != "performance" || line["status"] != "firing" {
				continue
			}
			if seq := line["window"].(map[string]any)["last_seq"].(float64); seq <= change {
				t.Errorf("performance alert before the change: %v", line["summary"])
			}
			if line["test"] == string(perf.TestEstimatedROCAUC) && fired == nil {
				fired = line
			}
		}
	}
	// Every 125 scores (the hop), from the 125th: the policy's 100
	// events are there.
	if want := n / 125; estimates != want {
		t.Errorf("%d estimated_performance lines, want %d", estimates, want)
	}
	t.Logf("estimated roc_auc %.4f before, %.4f after", firstAUC, lastAUC)
	if !(firstAUC > 0.78 && lastAUC < 0.72) {
		t.Errorf("estimated roc_auc %.4f before and %.4f after the change, want about 0.81 and 0.69", firstAUC, lastAUC)
	}
	if fired == nil {
		t.Fatal("the narrowed population raised no estimated_roc_auc alert")
	}
	t.Logf("%v", fired["summary"])

	// Too few labelled rows for the calibration: built without it.
	small := filepath.Join(dir, "small.jsonl")
	os.WriteFile(small, []byte(strings.Join(strings.SplitAfter(train.String(), "\n")[:1000], "")), 0o644)
	code, _, stderr = runCmd(t, "reference", "build", "--input", small, "--model", "m", "--label", "label", "--prediction", "prediction", "--out", filepath.Join(dir, "small.json"))
	if code != 0 || !strings.Contains(stderr, "performance estimation (CBPE) left out: 1000 labelled rows, estimation needs at least 2000") {
		t.Fatalf("small build exit %d: %s", code, stderr)
	}
}

// TestDaemonEstimatedPerformance runs the daemon with
// DRIFTD_PERFORMANCE=true on an embedded broker, with a reference that
// has the CBPE calibration: 8000 predictions without labels or request
// IDs, the population narrowing from the 4000th on. An estimated_roc_auc
// alert on feature "performance" reaches the alert topic after the
// change, and driftd_performance_metric exports the estimates.
func TestDaemonEstimatedPerformance(t *testing.T) {
	cluster := perfCluster(t, "inference.events")
	rng := rand.New(rand.NewPCG(82, 82))
	b, _ := detector.NewBuilder("m", "1", detector.BuildOptions{})
	var pairs []perf.Pair
	for range 20000 {
		x, s, y := cbpeDraw(rng, 1)
		b.BeginRow()
		b.Add("x", detector.Value{Kind: detector.Number, Num: x, Parsed: true})
		b.Add("prediction", detector.Value{Kind: detector.Number, Num: s, Parsed: true})
		b.EndRow()
		pairs = append(pairs, perf.Pair{Score: s, Positive: y == 1})
	}
	ref, err := b.Reference()
	if err != nil {
		t.Fatal(err)
	}
	if ref.Performance, err = perf.BuildReference(pairs, 0.5, "prediction", "label"); err != nil {
		t.Fatal(err)
	}
	if ref.Performance.Estimation, err = perf.BuildEstimation(pairs, 0.5); err != nil {
		t.Fatal(err)
	}
	d, cl, ctx := startPerfDaemon(t, cluster, ref, "")
	const n, change = 8000, 4000
	base := int64(1_800_000_000_000)
	var records []*kgo.Record
	for i := range n {
		sd := 1.0
		if i >= change {
			sd = 0.5
		}
		x, s, _ := cbpeDraw(rng, sd)
		ev := fmt.Sprintf(`{"model":"m","model_version":"1","timestamp":%d,"features":{"x":%.5f},"prediction":%.6f}`, base+int64(i)*10, x, s)
		records = append(records, &kgo.Record{Topic: "inference.events", Key: []byte("m"), Value: []byte(ev)})
	}
	if err := cl.ProduceSync(ctx, records...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	fired := firstAlert(t, ctx, cl, 60*time.Second, func(a *detector.Alert) bool {
		if a.Feature != perf.Feature || a.Status != detector.Firing {
			return false // the drift of x and of the score is expected
		}
		if a.Window.LastSeq <= change {
			t.Errorf("performance alert before the change: %s", a.Summary)
		}
		return a.Test == perf.TestEstimatedROCAUC
	})
	if fired == nil {
		t.Fatal("no estimated_roc_auc alert on the alert topic")
	}
	t.Log(fired.Summary)
	if problems, err := testutil.GatherAndLint(d.reg); err != nil || len(problems) > 0 {
		t.Fatalf("metric lint: %v %v", err, problems)
	}
	got := cbpeGauge(t, d, "driftd_performance_metric", map[string]string{"model": "m", "version": "1", "metric": "estimated_roc_auc"})
	if !(got > 0.6 && got < 0.75) {
		t.Errorf("driftd_performance_metric{metric=\"estimated_roc_auc\"} = %v, want the narrowed population's 0.69 or so", got)
	}
}

// cbpeGauge returns the value of the gauge series name{labels}, NaN when
// it is not exported.
func cbpeGauge(t *testing.T, d *daemon, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := d.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if v, ok := labels[l.GetName()]; ok && v != l.GetValue() {
					continue series
				}
			}
			return m.GetGauge().GetValue()
		}
	}
	return math.NaN()
}

// BenchmarkPerfHookPrediction: the performance hook on a canonical
// prediction event without request ID or label (one feature and the
// score) — the record's scan for a label, then the decoded event — for a
// model whose reference has the CBPE calibration (estimated), for one
// with a performance section without it, and for one without a
// performance section (the lock-free check).
func BenchmarkPerfHookPrediction(b *testing.B) {
	rng := rand.New(rand.NewPCG(83, 83))
	bld, _ := detector.NewBuilder("m", "1", detector.BuildOptions{})
	var pairs []perf.Pair
	for range 20000 {
		x, s, y := cbpeDraw(rng, 1)
		bld.BeginRow()
		bld.Add("x", detector.Value{Kind: detector.Number, Num: x, Parsed: true})
		bld.Add("prediction", detector.Value{Kind: detector.Number, Num: s, Parsed: true})
		bld.EndRow()
		pairs = append(pairs, perf.Pair{Score: s, Positive: y == 1})
	}
	base, err := bld.Reference()
	if err != nil {
		b.Fatal(err)
	}
	values := make([][]byte, 1024)
	for i := range values {
		x, s, _ := cbpeDraw(rng, 1)
		values[i] = []byte(fmt.Sprintf(`{"model":"m","model_version":"1","timestamp":%d,"features":{"x":%.5f},"prediction":%.6f}`, 1_800_000_000_000+i, x, s))
	}
	events := make([]*codec.Event, len(values))
	for i, v := range values {
		d, _ := codec.NewDecoder(codec.Canonical, 1<<16)
		ev, err := d.Decode(v)
		if err != nil {
			b.Fatal(err)
		}
		events[i] = ev
	}
	for _, name := range []string{"estimation", "none", "no_performance"} {
		estimation := name == "estimation"
		b.Run(name, func(b *testing.B) {
			pr, err := perf.BuildReference(pairs, 0.5, "prediction", "label")
			if err != nil {
				b.Fatal(err)
			}
			if estimation {
				if pr.Estimation, err = perf.BuildEstimation(pairs, 0.5); err != nil {
					b.Fatal(err)
				}
			}
			ref := *base
			if name != "no_performance" {
				ref.Performance = pr
			}
			registry := stream.NewRegistry()
			if !registry.Set(&ref) {
				b.Fatal("reference not set")
			}
			policies, err := detector.NewPolicies(detector.DefaultPolicy())
			if err != nil {
				b.Fatal(err)
			}
			h, err := newPerfHook(defaultPerformanceConfig(), registry, policies, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
			if err != nil {
				b.Fatal(err)
			}
			var out detector.Output
			feed := func(i int) {
				k := i % len(values)
				if !h.Record(benchTask, int64(i), values[k], 0, &out) {
					h.Event(benchTask, int64(i), events[k], 0, &out)
				}
			}
			for i := range 200 { // the first event looks at the references; 125 make an estimate
				feed(i)
			}
			if (name == "no_performance") != (h.anyPerf.Load() == 0) || h.seen.Load() != registry.Generation() {
				b.Fatalf("any performance %d, seen generation %d of %d", h.anyPerf.Load(), h.seen.Load(), registry.Generation())
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				out.Alerts = out.Alerts[:0]
				feed(200 + i)
			}
			b.StopTimer()
			if x := h.task(benchTask).state.Estimators["m/1"]; estimation && (x == nil || x.Last() == nil) {
				b.Fatal("no estimate")
			}
		})
	}
}
