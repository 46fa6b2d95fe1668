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
	if testing.Short() {
		t.Skip("runs the daemon")
	}
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "inference.events", "inference.labels"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close) // after the daemon (startPerfDaemon) stops
	rng := rand.New(rand.NewPCG(71, 71))
	draw := func(rho float64) (x, score float64, positive bool) {
		x = rng.NormFloat64()
		score = 1 / (1 + math.Exp(-(-2 + 1.5*x)))
		z := rho*x + math.Sqrt(1-rho*rho)*rng.NormFloat64()
		return x, score, rng.Float64() < 1/(1+math.Exp(-(-2+1.5*z)))
	}
	b, _ := detector.NewBuilder("m", "1", detector.BuildOptions{})
	var pairs []perf.Pair
	for range 20000 {
		x, s, y := draw(1)
		b.BeginRow()
		b.Add("x", detector.Value{Kind: detector.Number, Num: x, Parsed: true})
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

	var auc *detector.Alert
	deadline := time.Now().Add(30 * time.Second)
	for auc == nil && time.Now().Before(deadline) {
		fctx, fcancel := context.WithTimeout(ctx, time.Second)
		fs := cl.PollFetches(fctx)
		fcancel()
		fs.EachRecord(func(r *kgo.Record) {
			var a detector.Alert
			if err := json.Unmarshal(r.Value, &a); err != nil {
				t.Fatal(err)
			}
			if a.Feature != perf.Feature {
				t.Errorf("drift alert on an unchanged score distribution: %s", a.Summary)
				return
			}
			if a.Test == perf.TestROCAUC && a.Status == detector.Firing && auc == nil {
				auc = &a
			}
		})
	}
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
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	d, err := newDaemon(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.run(ctx, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.ConsumeTopics(cfg.Stream.AlertTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return d, cl, ctx
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
