package stream

import (
	"context"
	"encoding/json"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/driftd/driftd/detector"
)

// TestServiceSegments runs the service with DRIFTD_SEGMENT_KEYS=plan on
// the embedded broker: 4000 stable events, then 6000 in which tenure_days
// shifts up by 0.35 sd (63 days) for the enterprise plan only (a quarter of
// the events; the global window sees 0.09 sd, under the 0.1 gate). The
// enterprise segment's alerts reach the alert topic keyed by their
// segment, no other segment alerts, and the segment metrics are exported.
func TestServiceSegments(t *testing.T) {
	k := newTestKafka(t)
	cfg := k.config()
	k.createInput(1)
	k.ensureTopics(cfg)
	cl := k.client()
	ref := churnReference(t)
	if err := PublishReference(t.Context(), cl, cfg.ReferenceTopic, ref); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 7))
	var values [][]byte
	for i := range 10000 {
		e := churnEvent(rng, 0)
		if i >= 4000 && e.features["plan"] == "enterprise" {
			e.features["tenure_days"] = e.features["tenure_days"].(float64) + 63
		}
		values = append(values, e.json(i))
	}
	k.produce(cl, values...)

	reg := prometheus.NewRegistry()
	svc, err := NewService(ServiceOptions{
		Config:    cfg,
		Processor: ProcessorConfig{Window: detector.DefaultWindow(), Segments: detector.SegmentConfig{Keys: []string{"plan"}, Max: 20}},
		Registry:  NewRegistry(),
		Metrics:   NewMetrics(reg, 0),
		Log:       slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: testLogLevel()})),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx, 20*time.Second) }()
	waitProcessed(t, svc, uint64(len(values)), 60*time.Second)
	// The pipeline exports monitor stats at most once a second, at the
	// end of a poll (an empty poll too).
	for deadline := time.Now().Add(30 * time.Second); counterValue(t, reg, "driftd_segments") == 0 && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Fatalf("metric lint: %v %v", err, problems)
	}
	if got := counterValue(t, reg, "driftd_segments"); got != 3 {
		t.Errorf("driftd_segments = %v, want 3 (basic, pro, enterprise)", got)
	}
	firing := counterValue(t, reg, "driftd_segment_alerts_firing")
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("service did not stop")
	}

	enterprise := 0
	for _, r := range k.readAll(cfg.AlertTopic) {
		var a detector.Alert
		if err := json.Unmarshal(r.Value, &a); err != nil {
			t.Fatal(err)
		}
		if string(r.Key) != a.Key() {
			t.Errorf("record key %q, alert key %q", r.Key, a.Key())
		}
		switch {
		case a.Segment == "plan=enterprise" && strings.HasSuffix(string(r.Key), "/plan=enterprise"):
			enterprise++
			if a.Status == detector.Firing && a.Window.LastSeq <= 1000 {
				t.Errorf("enterprise alert before the shift: %s", a.Summary)
			}
		default:
			t.Errorf("unexpected alert: %s", a.Summary)
		}
	}
	if enterprise == 0 {
		t.Fatal("the shift in the enterprise plan raised no segment alert")
	}
	if firing == 0 {
		t.Error("driftd_segment_alerts_firing is 0 while the enterprise alert fires")
	}
}

// TestServiceSegmentsRestart: segment windows and their alert states are
// checkpointed with their model's. A service consumes the stream of
// TestServiceSegments (the enterprise plan shifts from event 4000) and
// stops; a second one restores three segments before any new event and
// takes 4000 more shifted events without firing any enterprise alert
// again — a segment that started empty would, its window being all
// shifted.
func TestServiceSegmentsRestart(t *testing.T) {
	k := newTestKafka(t)
	cfg := k.config()
	k.createInput(1)
	k.ensureTopics(cfg)
	cl := k.client()
	ref := churnReference(t)
	if err := PublishReference(t.Context(), cl, cfg.ReferenceTopic, ref); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 7))
	events := func(from, to int) [][]byte {
		var values [][]byte
		for i := from; i < to; i++ {
			e := churnEvent(rng, 0)
			if i >= 4000 && e.features["plan"] == "enterprise" {
				e.features["tenure_days"] = e.features["tenure_days"].(float64) + 63
			}
			values = append(values, e.json(i))
		}
		return values
	}
	segments := ProcessorConfig{Window: detector.DefaultWindow(), Segments: detector.SegmentConfig{Keys: []string{"plan"}, Max: 20}}
	stopped := func(stop func() error) {
		if err := stop(); err != nil {
			t.Fatal(err)
		}
	}
	first := events(0, 10000)
	k.produce(cl, first...)
	svc, _, stop := runServiceWith(t, cfg, NewRegistry(), segments)
	waitProcessed(t, svc, uint64(len(first)), 60*time.Second)
	stopped(stop)
	firing := func() map[string]int {
		out := map[string]int{}
		for _, r := range k.readAll(cfg.AlertTopic) {
			var a detector.Alert
			if err := json.Unmarshal(r.Value, &a); err != nil {
				t.Fatal(err)
			}
			if a.Segment == "" {
				t.Errorf("global alert: %s", a.Summary)
			}
			if a.Status == detector.Firing && a.Update == 0 { // updates re-publish a firing alert
				out[a.Key()]++
			}
		}
		return out
	}
	before := firing()
	if len(before) == 0 {
		t.Fatal("the first run raised no segment alert")
	}

	svc, reg, stop := runServiceWith(t, cfg, NewRegistry(), segments)
	for deadline := time.Now().Add(30 * time.Second); counterValue(t, reg, "driftd_segments") < 3 && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
	}
	if got := counterValue(t, reg, "driftd_segments"); got != 3 {
		t.Fatalf("driftd_segments = %v after the restart, before any new event; want 3 restored", got)
	}
	second := events(10000, 14000)
	k.produce(cl, second...)
	waitProcessed(t, svc, uint64(len(second)), 60*time.Second)
	stopped(stop)
	after := firing()
	for key, n := range after {
		if n != 1 {
			t.Errorf("%s fired %d times over the two runs, want once", key, n)
		}
	}
	t.Logf("firing segment alerts over both runs: %v", after)
}
