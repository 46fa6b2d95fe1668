package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/driftd/driftd/detector"
	"github.com/driftd/driftd/detector/perf"
)

// TestDaemonPerformance runs the daemon with DRIFTD_PERFORMANCE=true on an
// embedded broker: 8000 predictions on the input topic, then their labels
// on DRIFTD_LABEL_TOPIC. From the 4000th prediction on, the labels follow
// the score less (ROC-AUC about 0.82 → 0.67) while the score distribution
// is unchanged: a roc_auc alert on feature "performance" reaches the
// alert topic, no drift alert does, and the join counters are exported.
func TestDaemonPerformance(t *testing.T) {
	cluster := perfCluster(t, "inference.events", "inference.labels")
	draw := fadingModel(71)
	ref := fadingReference(t, draw, true)
	d, cl, ctx := startPerfDaemon(t, cluster, ref, "inference.labels")
	const n, change = 8000, 4000
	base := int64(1_800_000_000_000)
	var labels []*kgo.Record
	for i := range n {
		rho := 1.0
		if i >= change {
			rho = 0.3
		}
		x, s, y := draw(rho)
		ev := fmt.Sprintf(`{"model":"m","model_version":"1","request_id":"r%d","timestamp":%d,"features":{"x":%.5f},"prediction":%.6f}`, i, base+int64(i)*10, x, s)
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "inference.events", Key: []byte("m"), Value: []byte(ev)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		lab := fmt.Sprintf(`{"model":"m","model_version":"1","request_id":"r%d","timestamp":%d,"label":%v}`, i, base+int64(i)*10+2000, y)
		labels = append(labels, &kgo.Record{Topic: "inference.labels", Key: []byte("m"), Value: []byte(lab)})
	}
	// Labels after their predictions were consumed: the two topics are
	// read concurrently.
	waitMetric(t, d, "driftd_performance_predictions_total", n)
	if err := cl.ProduceSync(ctx, labels...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	waitMetric(t, d, "driftd_performance_joined_total", n)

	auc := firstAlert(t, ctx, cl, 30*time.Second, func(a *detector.Alert) bool {
		if a.Feature != perf.Feature {
			t.Errorf("drift alert on an unchanged score distribution: %s", a.Summary)
			return false
		}
		return a.Test == perf.TestROCAUC && a.Status == detector.Firing
	})
	if auc == nil {
		t.Fatal("no roc_auc alert on the alert topic")
	}
	t.Log(auc.Summary)
	if auc.Window.LastSeq <= change {
		t.Fatalf("roc_auc alert before the change: %s", auc.Summary)
	}
	if problems, err := testutil.GatherAndLint(d.reg); err != nil || len(problems) > 0 {
		t.Fatalf("metric lint: %v %v", err, problems)
	}
	for _, name := range []string{"driftd_performance_metric", "driftd_performance_label_delay_seconds", "driftd_performance_label_coverage_ratio"} {
		if n, err := testutil.GatherAndCount(d.reg, name); err != nil || n == 0 {
			t.Errorf("%s: %d series (%v)", name, n, err)
		}
	}
}

// startPerfDaemon runs the daemon with DRIFTD_PERFORMANCE on the embedded
// cluster with ref as its reference file (labels on labelTopic, if set)
// until the test ends, and returns it, a client consuming the alert topic
// from the start, and the context the daemon runs in.
func startPerfDaemon(t *testing.T, cluster *kfake.Cluster, ref *detector.Reference, labelTopic string) (*daemon, *kgo.Client, context.Context) {
	t.Helper()
	return startPerfDaemonWith(t, cluster, ref, labelTopic)
}

// startPerfDaemonWith is startPerfDaemon with changes to the
// configuration.
func startPerfDaemonWith(t *testing.T, cluster *kfake.Cluster, ref *detector.Reference, labelTopic string, tweak ...func(*config)) (*daemon, *kgo.Client, context.Context) {
	t.Helper()
	d, stop := runPerfDaemon(t, cluster, ref, labelTopic, tweak...)
	t.Cleanup(stop)
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.ConsumeTopics(d.cfg.Stream.AlertTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return d, cl, t.Context()
}

// runPerfDaemon starts the daemon of startPerfDaemon; stop shuts it down
// gracefully (final checkpoint and commit) and fails the test on an
// error.
func runPerfDaemon(t *testing.T, cluster *kfake.Cluster, ref *detector.Reference, labelTopic string, tweak ...func(*config)) (d *daemon, stop func()) {
	t.Helper()
	data, err := ref.Encode()
	if err != nil {
		t.Fatal(err)
	}
	refFile := filepath.Join(t.TempDir(), "ref.json")
	if err := os.WriteFile(refFile, data, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := defaultConfig()
	cfg.Stream.Brokers = cluster.ListenAddrs()
	cfg.Stream.TopicPartitions, cfg.Stream.TopicReplication = 1, 1
	cfg.Stream.CheckpointInterval = time.Second
	cfg.Server.HTTPAddr = "127.0.0.1:0"
	cfg.Server.ReferenceFiles = []string{refFile}
	cfg.Performance.Enabled, cfg.Performance.LabelTopic = true, labelTopic
	for _, f := range tweak {
		f(&cfg)
	}
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	if d, err = newDaemon(cfg, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.run(ctx, nil) }()
	var once sync.Once
	return d, func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
		})
	}
}

// waitMetric waits until the daemon's metric reaches want.
func waitMetric(t *testing.T, d *daemon, name string, want float64) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		got := metricSum(t, d, name)
		if got >= want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v after 60 s, want %v", name, got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestDaemonPerformanceRestart: the join and the performance windows
// survive restarts. Daemon A consumes 8000 predictions and the labels of
// the first 4000 (the signal fades from prediction 3000 on) and stops; B
// restores the 4000 predictions still waiting, joins all 4000 late
// labels (none orphaned) and then holds 500 labels that come before their
// predictions; it stops, and C restores the held labels and joins them
// when the predictions come. The roc_auc alert fires once over the three
// runs: a restored window does not fire again, and an empty one would
// have (its pairs are all after the change).
func TestDaemonPerformanceRestart(t *testing.T) {
	cluster := perfCluster(t, "inference.events", "inference.labels")
	draw := fadingModel(72)
	ref := fadingReference(t, draw, true)
	const n, change, early = 8000, 3000, 500
	base := int64(1_800_000_000_000)
	var preds, labels []*kgo.Record
	for i := range n + early {
		rho := 1.0
		if i >= change {
			rho = 0.3
		}
		x, s, y := draw(rho)
		ev := fmt.Sprintf(`{"model":"m","model_version":"1","request_id":"r%d","timestamp":%d,"features":{"x":%.5f},"prediction":%.6f}`, i, base+int64(i)*10, x, s)
		preds = append(preds, &kgo.Record{Topic: "inference.events", Key: []byte("m"), Value: []byte(ev)})
		lab := fmt.Sprintf(`{"model":"m","model_version":"1","request_id":"r%d","timestamp":%d,"label":%v}`, i, base+int64(i)*10+2000, y)
		labels = append(labels, &kgo.Record{Topic: "inference.labels", Key: []byte("m"), Value: []byte(lab)})
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.ConsumeTopics(defaultConfig().Stream.AlertTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	ctx := t.Context()
	produce := func(recs []*kgo.Record) {
		t.Helper()
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	expect := func(d *daemon, name string, want float64) {
		t.Helper()
		if got := metricSum(t, d, name); got != want {
			t.Fatalf("%s = %v, want %v", name, got, want)
		}
	}

	a, stopA := runPerfDaemon(t, cluster, ref, "inference.labels")
	produce(preds[:n])
	waitMetric(t, a, "driftd_performance_predictions_total", n)
	produce(labels[:n/2])
	waitMetric(t, a, "driftd_performance_joined_total", n/2)
	stopA()

	bd, stopB := runPerfDaemon(t, cluster, ref, "inference.labels")
	waitMetric(t, bd, "driftd_performance_pending_predictions", n/2) // restored
	produce(labels[n/2 : n])
	waitMetric(t, bd, "driftd_performance_joined_total", n/2)
	produce(labels[n:])
	waitMetric(t, bd, "driftd_performance_held_labels", early)
	expect(bd, "driftd_performance_orphan_labels_total", 0)
	expect(bd, "driftd_performance_pending_predictions", 0)
	stopB()

	c, stopC := runPerfDaemon(t, cluster, ref, "inference.labels")
	t.Cleanup(stopC)
	waitMetric(t, c, "driftd_performance_held_labels", early) // restored
	produce(preds[n:])
	waitMetric(t, c, "driftd_performance_joined_total", early)
	expect(c, "driftd_performance_held_labels", 0)
	expect(c, "driftd_performance_orphan_labels_total", 0)
	expect(c, "driftd_performance_predictions_total", early)

	var firing []detector.Alert
	for quiet := 0; quiet < 3; {
		fctx, fcancel := context.WithTimeout(ctx, time.Second)
		fs := cl.PollFetches(fctx)
		fcancel()
		if fs.NumRecords() == 0 {
			quiet++
		}
		fs.EachRecord(func(r *kgo.Record) {
			var al detector.Alert
			if err := json.Unmarshal(r.Value, &al); err != nil {
				t.Fatal(err)
			}
			if al.Feature == perf.Feature && al.Test == perf.TestROCAUC {
				if al.Status != detector.Firing {
					t.Errorf("roc_auc %s: %s", al.Status, al.Summary)
				}
				firing = append(firing, al)
			}
		})
	}
	if len(firing) != 1 {
		for _, al := range firing {
			t.Log(al.Summary, al.Window.LastSeq)
		}
		t.Fatalf("%d firing roc_auc alerts over three runs, want 1", len(firing))
	}
	t.Logf("roc_auc fired once, at pair %d: %s", firing[0].Window.LastSeq, firing[0].Summary)
}

// TestDaemonPerformanceOIP: predictions in OIP v2 responses (MLServer's
// Kafka output, batches of 4 rows) join their labels by the response's id
// and row, "<id>/<row>": 8000 predictions in 2000 responses, the labels
// on their own topic (canonical label events) after them; all join, and
// the signal's fade from prediction 4000 on fires roc_auc.
func TestDaemonPerformanceOIP(t *testing.T) {
	cluster := perfCluster(t, "mlserver-output", "inference.labels")
	draw := fadingModel(73)
	ref := fadingReference(t, draw, false)
	d, cl, ctx := startPerfDaemonWith(t, cluster, ref, "inference.labels", func(c *config) {
		c.Stream.InputTopics = []string{"mlserver-output"}
		c.Stream.InputFormat = "mlserver-output=oip"
	})
	const n, change, batch = 8000, 4000, 4
	var responses, labels []*kgo.Record
	for r := range n / batch {
		var scores []string
		for j := range batch {
			i := r*batch + j
			rho := 1.0
			if i >= change {
				rho = 0.3
			}
			_, s, y := draw(rho)
			scores = append(scores, fmt.Sprintf("%.6f", s))
			// No timestamps: OIP responses carry none, so both sides use
			// the record times.
			lab := fmt.Sprintf(`{"model":"m","model_version":"1","request_id":"q%d/%d","label":%v}`, r, j, y)
			labels = append(labels, &kgo.Record{Topic: "inference.labels", Key: []byte("m"), Value: []byte(lab)})
		}
		resp := fmt.Sprintf(`{"model_name":"m","model_version":"1","id":"q%d","outputs":[{"name":"predict_proba","shape":[%d,1],"datatype":"FP64","data":[%s]}]}`,
			r, batch, strings.Join(scores, ","))
		responses = append(responses, &kgo.Record{Topic: "mlserver-output", Value: []byte(resp)})
	}
	if err := cl.ProduceSync(ctx, responses...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	waitMetric(t, d, "driftd_performance_predictions_total", n)
	if err := cl.ProduceSync(ctx, labels...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	waitMetric(t, d, "driftd_performance_joined_total", n)
	if got := metricSum(t, d, "driftd_performance_orphan_labels_total"); got != 0 {
		t.Fatalf("%v orphan labels", got)
	}
	auc := firstAlert(t, ctx, cl, 30*time.Second, func(a *detector.Alert) bool {
		return a.Test == perf.TestROCAUC && a.Status == detector.Firing
	})
	if auc == nil {
		t.Fatal("no roc_auc alert on the alert topic")
	}
	if auc.Window.LastSeq <= change {
		t.Fatalf("roc_auc alert before the change: %s", auc.Summary)
	}
	t.Log(auc.Summary)
}

// fadingModel draws (x, score, label) of a binary model: the score is the
// model's logistic score of x, the label follows a variable correlated
// rho with x — 1: the model is right; lower: its signal fades while the
// scores keep their distribution.
func fadingModel(seed uint64) func(rho float64) (x, score float64, positive bool) {
	rng := rand.New(rand.NewPCG(seed, seed))
	return func(rho float64) (x, score float64, positive bool) {
		x = rng.NormFloat64()
		score = 1 / (1 + math.Exp(-(-2 + 1.5*x)))
		z := rho*x + math.Sqrt(1-rho*rho)*rng.NormFloat64()
		return x, score, rng.Float64() < 1/(1+math.Exp(-(-2+1.5*z)))
	}
}

// fadingReference is the reference of model m/1 from 20,000 draws of the
// unfaded model: the prediction (and x, withX) and a performance section
// at threshold 0.3.
func fadingReference(t *testing.T, draw func(rho float64) (x, score float64, positive bool), withX bool) *detector.Reference {
	t.Helper()
	b, _ := detector.NewBuilder("m", "1", detector.BuildOptions{})
	var pairs []perf.Pair
	for range 20000 {
		x, s, y := draw(1)
		b.BeginRow()
		if withX {
			b.Add("x", detector.Value{Kind: detector.Number, Num: x, Parsed: true})
		}
		b.Add("prediction", detector.Value{Kind: detector.Number, Num: s, Parsed: true})
		b.EndRow()
		pairs = append(pairs, perf.Pair{Score: s, Positive: y})
	}
	ref, err := b.Reference()
	if err != nil {
		t.Fatal(err)
	}
	if ref.Performance, err = perf.BuildReference(pairs, 0.3, "prediction", "label"); err != nil {
		t.Fatal(err)
	}
	return ref
}

// perfCluster is the embedded broker of a daemon performance test, with
// the given topics (one partition each); the test is skipped in -short
// mode. It closes after the daemon (startPerfDaemon) stops.
func perfCluster(t *testing.T, topics ...string) *kfake.Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the daemon")
	}
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, topics...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	return cluster
}

// firstAlert reads the alert topic until an alert matches, for at most
// within, and returns it (nil if none did). match sees every alert read
// and may fail the test on one.
func firstAlert(t *testing.T, ctx context.Context, cl *kgo.Client, within time.Duration, match func(a *detector.Alert) bool) *detector.Alert {
	t.Helper()
	var found *detector.Alert
	for deadline := time.Now().Add(within); found == nil && time.Now().Before(deadline); {
		fctx, fcancel := context.WithTimeout(ctx, time.Second)
		fs := cl.PollFetches(fctx)
		fcancel()
		fs.EachRecord(func(r *kgo.Record) {
			var a detector.Alert
			if err := json.Unmarshal(r.Value, &a); err != nil {
				t.Fatal(err)
			}
			if match(&a) && found == nil {
				found = &a
			}
		})
	}
	return found
}
