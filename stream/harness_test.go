package stream

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/driftd/driftd/detector"
)

// testKafka is the broker of an integration test: Apache Kafka when
// DRIFTD_TEST_BROKERS is set (CI starts one from deploy/kafka), the
// in-process kfake otherwise. Every test gets its own topics and group.
type testKafka struct {
	t       testing.TB
	brokers []string
	cluster *kfake.Cluster
	prefix  string
	real    bool
	// cfgHook adjusts every configuration (security settings).
	cfgHook func(*Config)
}

var testSeq struct {
	sync.Mutex
	n int
}

func newTestKafka(t testing.TB, opts ...kfake.Opt) *testKafka {
	testSeq.Lock()
	testSeq.n++
	n := testSeq.n
	testSeq.Unlock()
	prefix := fmt.Sprintf("t%d-%d-%s", time.Now().UnixNano()%1e9, n, strings.NewReplacer("/", "-", " ", "-").Replace(t.Name()))
	if b := os.Getenv("DRIFTD_TEST_BROKERS"); b != "" && len(opts) == 0 {
		return &testKafka{t: t, brokers: strings.Split(b, ","), prefix: prefix, real: true}
	}
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return &testKafka{t: t, brokers: c.ListenAddrs(), cluster: c, prefix: prefix}
}

// config returns a stream configuration with this test's topics.
func (k *testKafka) config() Config {
	c := Defaults()
	c.Brokers = k.brokers
	c.Group = k.prefix + "-group"
	c.ClientID = "driftd-test"
	c.InputTopics = []string{k.prefix + "-events"}
	c.AlertTopic = k.prefix + "-alerts"
	c.DLQTopic = k.prefix + "-dlq"
	c.ReferenceTopic = k.prefix + "-references"
	c.StateTopic = k.prefix + "-state"
	c.PanesTopic = k.prefix + "-panes"
	c.TopicPartitions = 3
	c.TopicReplication = 1
	c.CheckpointInterval = 500 * time.Millisecond
	if k.cfgHook != nil {
		k.cfgHook(&c)
	}
	return c
}

func (k *testKafka) client(extra ...kgo.Opt) *kgo.Client {
	cfg := k.config()
	opts, err := cfg.ClientOpts()
	if err != nil {
		k.t.Fatal(err)
	}
	cl, err := kgo.NewClient(append(opts, extra...)...)
	if err != nil {
		k.t.Fatal(err)
	}
	k.t.Cleanup(cl.Close)
	return cl
}

// createTopics creates the input topic (producers own it).
func (k *testKafka) createInput(partitions int32) {
	adm := kadm.NewClient(k.client())
	cfg := k.config()
	resp, err := adm.CreateTopic(context.Background(), partitions, 1, nil, cfg.InputTopics[0])
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		k.t.Fatal(err)
	}
}

// ensureTopics creates driftd's topics the way the service does.
func (k *testKafka) ensureTopics(cfg Config) {
	if _, err := EnsureTopics(context.Background(), kadm.NewClient(k.client()), &cfg); err != nil {
		k.t.Fatal(err)
	}
}

// produce writes values to the input topic, keyed by model, and waits.
func (k *testKafka) produce(cl *kgo.Client, values ...[]byte) {
	topic := k.config().InputTopics[0]
	recs := make([]*kgo.Record, len(values))
	for i, v := range values {
		recs[i] = &kgo.Record{Topic: topic, Key: []byte("churn"), Value: v}
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		k.t.Fatal(err)
	}
}

// readAll reads a topic from the start to its current end.
func (k *testKafka) readAll(topic string) []*kgo.Record {
	cl := k.client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ends, err := kadm.NewClient(cl).ListCommittedOffsets(ctx, topic)
	if err != nil {
		k.t.Fatal(err)
	}
	pending := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			pending[o.Partition] = o.Offset
		}
	})
	var out []*kgo.Record
	for len(pending) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			k.t.Fatalf("reading %s: timed out with %v pending", topic, pending)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if end, ok := pending[r.Partition]; ok && r.Offset+1 >= end {
				delete(pending, r.Partition)
			}
			if !r.Attrs.IsControl() {
				out = append(out, r)
			}
		})
	}
	return out
}

// committed returns the group's committed offsets for the input topic.
func (k *testKafka) committed(group string) map[int32]int64 {
	adm := kadm.NewClient(k.client())
	resp, err := adm.FetchOffsets(context.Background(), group)
	if err != nil {
		k.t.Fatal(err)
	}
	out := map[int32]int64{}
	resp.Each(func(o kadm.OffsetResponse) {
		if o.Topic == k.config().InputTopics[0] {
			out[o.Partition] = o.At
		}
	})
	return out
}

func (k *testKafka) endOffsets() map[int32]int64 {
	adm := kadm.NewClient(k.client())
	ends, err := adm.ListEndOffsets(context.Background(), k.config().InputTopics[0])
	if err != nil {
		k.t.Fatal(err)
	}
	out := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out
}

// churnReference is a churn model: tenure_days ~ N(365, 180),
// monthly_charges ~ N(70, 20), plan categorical, a prediction score.
func churnReference(t testing.TB) *detector.Reference {
	return churnReferenceOf(t, 50000, 0, rand.New(rand.NewPCG(100, 100)))
}

// churnReferenceOf builds the churn reference from rows drawn with the
// given skew (see churnEvent).
func churnReferenceOf(t testing.TB, rows, skew int, rng *rand.Rand) *detector.Reference {
	b, err := detector.NewBuilder("churn", "3", detector.BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for range rows {
		b.BeginRow()
		e := churnEvent(rng, skew)
		for k, v := range e.features {
			switch x := v.(type) {
			case float64:
				b.Add(k, detector.Value{Kind: detector.Number, Num: x, Parsed: true})
			case string:
				b.Add(k, detector.Value{Kind: detector.String, Text: []byte(x)})
			}
		}
		b.Add("prediction", detector.Value{Kind: detector.Number, Num: e.prediction, Parsed: true})
		b.EndRow()
	}
	ref, err := b.Reference()
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

type churn struct {
	features   map[string]any
	prediction float64
}

// churnEvent draws an event; skew > 0 serves tenure_days/365 (a
// training–serving skew).
func churnEvent(rng *rand.Rand, skew int) churn {
	tenure := 365 + 180*rng.NormFloat64()
	if skew > 0 {
		tenure /= 365
	}
	plans := []string{"basic", "pro", "pro", "enterprise"}
	return churn{
		features: map[string]any{
			"tenure_days":     tenure,
			"monthly_charges": 70 + 20*rng.NormFloat64(),
			"plan":            plans[rng.IntN(len(plans))],
		},
		prediction: rng.Float64(),
	}
}

func (c churn) json(seq int) []byte {
	data, _ := json.Marshal(map[string]any{
		"model": "churn", "model_version": "3", "request_id": fmt.Sprintf("r-%d", seq),
		"timestamp": time.UnixMilli(1_764_100_800_000 + int64(seq)).UTC().Format(time.RFC3339Nano),
		"features":  c.features, "prediction": c.prediction,
	})
	return data
}

// runService starts a service and returns a stop function that cancels it
// and returns its error.
func runService(t testing.TB, cfg Config, registry *Registry, window detector.WindowConfig) (*Service, *prometheus.Registry, func() error) {
	return runServiceWith(t, cfg, registry, ProcessorConfig{Window: window})
}

// runServiceWith is runService with a processor configuration.
func runServiceWith(t testing.TB, cfg Config, registry *Registry, pcfg ProcessorConfig) (*Service, *prometheus.Registry, func() error) {
	reg := prometheus.NewRegistry()
	svc, err := NewService(ServiceOptions{
		Config:    cfg,
		Processor: pcfg,
		Registry:  registry,
		Metrics:   NewMetrics(reg, 0),
		Log:       slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: testLogLevel()})),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx, 20*time.Second) }()
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(60 * time.Second):
			t.Fatal("service did not stop within 60s")
			return nil
		}
	}
	t.Cleanup(func() { stop() })
	return svc, reg, stop
}

// waitProcessed waits until the service has consumed n records.
func waitProcessed(t testing.TB, svc *Service, n uint64, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for svc.Processed() < n {
		if time.Now().After(deadline) {
			t.Fatalf("processed %d of %d records in %s", svc.Processed(), n, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// counterValue sums a metric family over its series.
func counterValue(t testing.TB, reg *prometheus.Registry, name string) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			}
		}
	}
	return sum
}

func testLogLevel() slog.Level {
	if os.Getenv("DRIFTD_TEST_LOG") != "" {
		return slog.LevelDebug
	}
	return slog.LevelWarn
}
