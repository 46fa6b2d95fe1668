// Package pipelinetest runs driftd's pipeline (stream.Service) on an
// in-process Kafka broker (kfake) for the input formats' integration
// tests: records in a format go in through the Kafka protocol, alerts and
// dead letters come out.
package pipelinetest

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/driftd/driftd/detector"
	"github.com/driftd/driftd/stream"
	"github.com/driftd/driftd/stream/codec"
)

// Options configure a pipeline.
type Options struct {
	// Topics are the input topics; InputFormat is DRIFTD_INPUT_FORMAT.
	Topics      []string
	InputFormat string
	Formats     map[string]codec.NewRecordDecoder
	References  []*detector.Reference
	// Window defaults to 400 events with a hop of 200.
	Window detector.WindowConfig
}

// Pipeline is a running service on its own broker.
type Pipeline struct {
	t       testing.TB
	cluster *kfake.Cluster
	cfg     stream.Config
	svc     *stream.Service
	cl      *kgo.Client
}

var seq atomic.Int64

// Start runs a service; it stops at the end of the test.
func Start(t testing.TB, o Options) *Pipeline {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	n := seq.Add(1)
	cfg := stream.Defaults()
	cfg.Brokers = c.ListenAddrs()
	cfg.Group = fmt.Sprintf("g%d", n)
	cfg.InputTopics = o.Topics
	cfg.InputFormat = o.InputFormat
	cfg.TopicPartitions, cfg.TopicReplication = 1, 1
	cfg.CheckpointInterval = 500 * time.Millisecond
	registry := stream.NewRegistry()
	for _, r := range o.References {
		registry.Set(r)
	}
	if o.Window.Size == 0 && o.Window.Time == 0 {
		o.Window = detector.WindowConfig{Size: 400, Hop: 200}
	}
	svc, err := stream.NewService(stream.ServiceOptions{
		Config:    cfg,
		Processor: stream.ProcessorConfig{Window: o.Window},
		Registry:  registry,
		Metrics:   stream.NewMetrics(prometheus.NewRegistry(), 0),
		Log:       slog.New(slog.DiscardHandler),
		Formats:   o.Formats,
	})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx, 10*time.Second) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("service: %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Error("service did not stop within 60s")
		}
	})
	return &Pipeline{t: t, cluster: c, cfg: cfg, svc: svc, cl: cl}
}

// Brokers returns the broker addresses.
func (p *Pipeline) Brokers() []string { return p.cfg.Brokers }

// Produce writes records and waits for them.
func (p *Pipeline) Produce(recs ...*kgo.Record) {
	p.t.Helper()
	if err := p.cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		p.t.Fatal(err)
	}
}

// WaitConsumed waits until the service has consumed n records.
func (p *Pipeline) WaitConsumed(n uint64) {
	p.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for p.svc.Processed() < n {
		if time.Now().After(deadline) {
			p.t.Fatalf("consumed %d of %d records in 60s", p.svc.Processed(), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Counters returns the processing counters (call after WaitConsumed).
func (p *Pipeline) Counters() stream.Counters { return p.svc.Counters() }

// Alerts returns the alert records produced so far, decoded.
func (p *Pipeline) Alerts() []detector.Alert {
	var out []detector.Alert
	for _, r := range p.read(p.cfg.AlertTopic) {
		var a detector.Alert
		if len(r.Value) == 0 {
			continue
		}
		if err := json.Unmarshal(r.Value, &a); err != nil {
			p.t.Fatalf("alert %s: %v", r.Value, err)
		}
		out = append(out, a)
	}
	return out
}

// DeadLetters returns the dead-letter records produced so far.
func (p *Pipeline) DeadLetters() []*kgo.Record { return p.read(p.cfg.DLQTopic) }

// WaitDeadLetters waits for n dead letters.
func (p *Pipeline) WaitDeadLetters(n int) []*kgo.Record {
	p.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		recs := p.read(p.cfg.DLQTopic)
		if len(recs) >= n || time.Now().After(deadline) {
			return recs
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// WaitAlerts waits until an alert satisfying ok was produced, or 30 s.
func (p *Pipeline) WaitAlerts(ok func(detector.Alert) bool) []detector.Alert {
	deadline := time.Now().Add(30 * time.Second)
	for {
		as := p.Alerts()
		for _, a := range as {
			if ok(a) {
				return as
			}
		}
		if time.Now().After(deadline) {
			return as
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (p *Pipeline) read(topic string) []*kgo.Record {
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.cfg.Brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		p.t.Fatal(err)
	}
	defer cl.Close()
	var out []*kgo.Record
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
		fs := cl.PollFetches(ctx)
		cancel()
		n := 0
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r); n++ })
		if n == 0 {
			return out
		}
	}
}

// Firing returns the features with a firing alert, as "feature/test".
func Firing(alerts []detector.Alert) []string {
	state := map[string]string{}
	for _, a := range alerts {
		state[a.Feature+"/"+string(a.Test)] = string(a.Status)
	}
	var out []string
	for k, s := range state {
		if strings.EqualFold(s, "firing") {
			out = append(out, k)
		}
	}
	return out
}

// Row is one synthetic event of the test model: x ~ N(shift, 1), plan
// categorical, score ~ U(0, 1).
type Row struct {
	X     float64
	Plan  string
	Score float64
}

// Rows draws n rows; shift moves x.
func Rows(rng *rand.Rand, n int, shift float64) []Row {
	plans := []string{"basic", "pro", "pro", "enterprise"}
	out := make([]Row, n)
	for i := range out {
		out[i] = Row{X: shift + rng.NormFloat64(), Plan: plans[rng.IntN(len(plans))], Score: rng.Float64()}
	}
	return out
}

// Reference builds the reference of model/version from 20000 unshifted
// rows: features x and plan, and the prediction.
func Reference(t testing.TB, model, version string) *detector.Reference {
	b, err := detector.NewBuilder(model, version, detector.BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range Rows(rand.New(rand.NewPCG(7, 7)), 20000, 0) {
		b.BeginRow()
		b.Add("x", detector.Value{Kind: detector.Number, Num: r.X, Parsed: true})
		b.Add("plan", detector.Value{Kind: detector.String, Text: []byte(r.Plan)})
		b.Add(detector.PredictionFeature, detector.Value{Kind: detector.Number, Num: r.Score, Parsed: true})
		b.EndRow()
	}
	ref, err := b.Reference()
	if err != nil {
		t.Fatal(err)
	}
	return ref
}
