package stream

import (
	"encoding/json"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/driftd/driftd/detector"
	"github.com/driftd/driftd/stream/codec"
)

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// TestServiceEndToEnd runs the daemon's pipeline on a broker: a reference
// published to the reference topic, stable traffic, then the training–
// serving skew, plus one malformed record of each kind. It checks the
// alerts on the alert topic (keys, fields), the dead letters (reason and
// source headers, value unchanged), that every record is either processed
// or dead-lettered, and that the committed offsets reach the end.
func TestServiceEndToEnd(t *testing.T) {
	k := newTestKafka(t)
	cfg := k.config()
	k.createInput(3)
	k.ensureTopics(cfg)
	cl := k.client()
	ref := churnReference(t)
	if err := PublishReference(t.Context(), cl, cfg.ReferenceTopic, ref); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	var values [][]byte
	for i := range 3000 {
		values = append(values, churnEvent(rng, 0).json(i))
	}
	for i := 3000; i < 5000; i++ {
		values = append(values, churnEvent(rng, 1).json(i))
	}
	bad := map[codec.Reason][]byte{
		codec.ReasonNotJSON:           []byte(`{"model":"churn",`),
		codec.ReasonNoModel:           []byte(`{"features":{"tenure_days":1}}`),
		codec.ReasonNoData:            []byte(`{"model":"churn"}`),
		codec.ReasonFeaturesNotObject: []byte(`{"model":"churn","features":[1,2]}`),
		codec.ReasonTooLarge:          append([]byte(`{"model":"churn","features":{"x":"`), make([]byte, 2<<20)...),
	}
	for _, v := range bad {
		values = append(values, v)
	}
	// The too-large value must be producible: raise the client's limit.
	big := k.client(kgo.ProducerBatchMaxBytes(8 << 20))
	k.produce(big, values...)

	svc, reg, stop := runService(t, cfg, NewRegistry(), detector.DefaultWindow())
	waitProcessed(t, svc, uint64(len(values)), 60*time.Second)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	// The exposition passes client_golang's linter (promtool's rules).
	problems, err := testutil.GatherAndLint(reg)
	if err != nil || len(problems) > 0 {
		t.Fatalf("metric lint: %v %v", err, problems)
	}
	for name, want := range map[string]float64{
		"driftd_records_dlq_total":         float64(len(bad)),
		"driftd_records_consumed_total":    float64(len(values)),
		"driftd_events_no_reference_total": 0,
	} {
		if got := counterValue(t, reg, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}

	// Every record is either processed or in the DLQ.
	c := svc.Counters()
	rejected := uint64(0)
	for _, n := range c.Rejected {
		rejected += n
	}
	if c.Consumed != uint64(len(values)) || c.Processed+rejected != c.Consumed {
		t.Fatalf("consumed %d, processed %d + rejected %d; produced %d", c.Consumed, c.Processed, rejected, len(values))
	}

	dlq := k.readAll(cfg.DLQTopic)
	if len(dlq) != len(bad) {
		t.Fatalf("%d dead letters, want %d", len(dlq), len(bad))
	}
	for _, r := range dlq {
		reason := codec.Reason(header(r, HeaderReason))
		want, ok := bad[reason]
		if !ok {
			t.Fatalf("dead letter with reason %q", reason)
		}
		if string(r.Value) != string(want) && reason != codec.ReasonTooLarge {
			t.Errorf("%s: value changed", reason)
		}
		if header(r, HeaderSourceTopic) != cfg.InputTopics[0] || header(r, HeaderSourcePartition) == "" || header(r, HeaderSourceOffset) == "" {
			t.Errorf("%s: source headers missing: %v", reason, r.Headers)
		}
	}

	alerts := k.readAll(cfg.AlertTopic)
	got := map[string]detector.Alert{}
	for _, r := range alerts {
		var a detector.Alert
		if err := json.Unmarshal(r.Value, &a); err != nil {
			t.Fatal(err)
		}
		if string(r.Key) != a.Key() || a.Schema != detector.AlertSchema || a.ID == "" || a.ReferenceID != ref.ID {
			t.Fatalf("alert record key %q, alert %+v", r.Key, a)
		}
		if a.Update > 0 {
			// An update of a firing alert whose effect grew: it
			// follows the first firing with a larger effect.
			if first, ok := got[a.Key()+"/firing"]; !ok || a.Status != detector.Firing || !(a.Effect > first.Effect) {
				t.Errorf("update %d of %s without a smaller first firing", a.Update, a.Key())
			}
			continue
		}
		got[a.Key()+"/"+string(a.Status)] = a
	}
	// tenure_days/365 also squeezes the spread: the scale test fires
	// too, and so does the cusum test on the shifted mean.
	if len(got) != 5 {
		t.Errorf("%d first firings, want 5: %v", len(got), keys(got))
	}
	// Every alert record was counted as published, updates included.
	if n := counterValue(t, reg, "driftd_alerts_published_total"); n != float64(len(alerts)) {
		t.Errorf("driftd_alerts_published_total = %v, %d alert records", n, len(alerts))
	}
	for _, key := range []string{"churn/3/tenure_days/ks/firing", "churn/3/tenure_days/mean_shift/firing", "churn/3/tenure_days/scale/firing", "churn/3/*/dataset/firing"} {
		a, ok := got[key]
		if !ok {
			t.Fatalf("missing alert %s; got %v", key, keys(got))
		}
		if a.Test != detector.TestDataset && (a.Window.N == 0 || a.Effect < a.EffectThreshold || a.PValue >= a.Threshold) {
			t.Errorf("%s: inconsistent alert %+v", key, a)
		}
	}
	for key := range got {
		if key[:len("churn/3/tenure_days")] != "churn/3/tenure_days" && key != "churn/3/*/dataset/firing" {
			t.Errorf("unexpected alert %s", key)
		}
	}
	// The skew fired on its first evaluation: one pane after event 3000.
	if seq := got["churn/3/tenure_days/ks/firing"].Window.LastSeq; seq > 3125+125 {
		t.Errorf("ks fired at event %d, want within two panes of the skew at 3000", seq)
	}

	committed, ends := k.committed(cfg.Group), k.endOffsets()
	for p, end := range ends {
		if committed[p] != end {
			t.Errorf("partition %d: committed %d, end %d", p, committed[p], end)
		}
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestServiceStableTrafficNoAlert: 200,000 events drawn from the
// reference distribution raise no alert at the default ERT of 10^7
// (expected false alarms in 2e5 events: at most 0.02).
func TestServiceStableTrafficNoAlert(t *testing.T) {
	if testing.Short() {
		t.Skip("200k events")
	}
	k := newTestKafka(t)
	cfg := k.config()
	k.createInput(3)
	k.ensureTopics(cfg)
	cl := k.client(kgo.ProducerLinger(5 * time.Millisecond))
	ref := churnReference(t)
	registry := NewRegistry()
	registry.Set(ref)
	cfg.ReferencesEnabled = false
	rng := rand.New(rand.NewPCG(2, 2))
	const n = 200_000
	batch := make([][]byte, 0, 10000)
	for i := range n {
		batch = append(batch, churnEvent(rng, 0).json(i))
		if len(batch) == cap(batch) {
			k.produce(cl, batch...)
			batch = batch[:0]
		}
	}
	svc, reg, stop := runService(t, cfg, registry, detector.DefaultWindow())
	waitProcessed(t, svc, n, 3*time.Minute)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if alerts := k.readAll(cfg.AlertTopic); len(alerts) != 0 {
		t.Fatalf("%d alerts on stable traffic; first: %s", len(alerts), alerts[0].Value)
	}
	evals := counterValue(t, reg, "driftd_evaluations_total")
	// 200,000 events over 3 partitions, 4 features per model, one
	// evaluation per 125 events per group and partition.
	if evals < 6000 {
		t.Fatalf("only %v evaluations: the stream was not evaluated", evals)
	}
}

// offlineRun processes the records of a topic with a Processor, partition
// by partition in offset order: what one uninterrupted run computes.
func offlineRun(t testing.TB, recs []*kgo.Record, ref *detector.Reference, window detector.WindowConfig) (*Processor, []detector.Alert) {
	registry := NewRegistry()
	registry.Set(ref)
	p, err := NewProcessor(ProcessorConfig{Format: codec.Canonical, Window: window}, registry)
	if err != nil {
		t.Fatal(err)
	}
	var alerts []detector.Alert
	for _, r := range recs {
		task := p.Task(TaskID{Topic: r.Topic, Partition: r.Partition})
		p.Process(task, r.Value, r.Timestamp.UnixMilli(), r.Offset)
		alerts = append(alerts, p.Out.Alerts...)
		p.Out.Reset()
	}
	return p, alerts
}

// featureTotals sums, per partition and feature, the values, missing and
// invalid counts the monitors applied: with no loss and no double
// counting they equal the events of the partition.
func featureTotals(p *Processor) map[string]uint64 {
	out := map[string]uint64{}
	for id, task := range p.Tasks() {
		for _, m := range task.Monitors() {
			for _, f := range m.Stats().Features {
				out[id.String()+"/"+f.Name] = f.Values + f.Missing + f.Invalid
			}
		}
	}
	return out
}

// durableTotals restores the state a replica taking over all partitions
// would get, and sums it like featureTotals.
func durableTotals(t testing.TB, k *testKafka, cfg Config, ref *detector.Reference, window detector.WindowConfig) map[string]uint64 {
	opts, _ := cfg.ClientOpts()
	var ids []TaskID
	for p := range k.endOffsets() {
		ids = append(ids, TaskID{Topic: cfg.InputTopics[0], Partition: p})
	}
	restored, err := restoreState(t.Context(), opts, cfg.StateTopic, ids, map[string]*detector.Reference{ref.Key(): ref}, nil, window, detector.SegmentConfig{}, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	p := &Processor{tasks: map[TaskID]*Task{}}
	for id, rt := range restored {
		p.InstallTask(id, rt.monitors, -1)
	}
	return featureTotals(p)
}

func alertSet(as []detector.Alert) map[string]bool {
	out := map[string]bool{}
	for _, a := range as {
		out[a.Key()+"/"+string(a.Status)+"/"+a.ID] = true
	}
	return out
}

// TestServiceRestartExact stops the service gracefully in the middle of
// a drift scenario and starts it again: the second run resumes from the
// checkpoint, and the final windows hold exactly the counts of an
// uninterrupted run (no event lost or counted twice), with the same alerts.
func TestServiceRestartExact(t *testing.T) {
	k := newTestKafka(t)
	cfg := k.config()
	k.createInput(3)
	k.ensureTopics(cfg)
	ref := churnReference(t)
	registry := NewRegistry()
	registry.Set(ref)
	cfg.ReferencesEnabled = false
	rng := rand.New(rand.NewPCG(3, 3))
	var values [][]byte
	for i := range 30000 {
		skew := 0
		if i >= 15000 {
			skew = 1
		}
		values = append(values, churnEvent(rng, skew).json(i))
	}
	cl := k.client(kgo.ProducerLinger(5 * time.Millisecond))
	k.produce(cl, values...)
	window := detector.DefaultWindow()

	var alerts []*kgo.Record
	svcA, _, stopA := runService(t, cfg, registry, window)
	waitProcessed(t, svcA, 12000, 60*time.Second)
	if err := stopA(); err != nil {
		t.Fatal(err)
	}
	first := svcA.Processed()
	svcB, _, stopB := runService(t, cfg, registry, window)
	waitProcessed(t, svcB, uint64(len(values))-first, 60*time.Second)
	time.Sleep(200 * time.Millisecond) // let a replayed tail, if any, show up
	if err := stopB(); err != nil {
		t.Fatal(err)
	}
	t.Logf("first run processed %d records, second %d", first, svcB.Processed())
	if first+svcB.Processed() != uint64(len(values)) {
		t.Errorf("records consumed %d + %d, want %d in total (a graceful restart replays nothing)", first, svcB.Processed(), len(values))
	}
	alerts = k.readAll(cfg.AlertTopic)

	want, wantAlerts := offlineRun(t, k.readAll(cfg.InputTopics[0]), ref, window)
	got, exp := durableTotals(t, k, cfg, ref, window), featureTotals(want)
	if len(exp) == 0 {
		t.Fatal("offline run has no state")
	}
	for key, n := range exp {
		if got[key] != n {
			t.Errorf("%s: %d values after restart, %d in an uninterrupted run", key, got[key], n)
		}
	}
	var gotAlerts []detector.Alert
	for _, r := range alerts {
		var a detector.Alert
		json.Unmarshal(r.Value, &a)
		gotAlerts = append(gotAlerts, a)
	}
	if g, w := alertSet(gotAlerts), alertSet(wantAlerts); len(w) == 0 || len(g) != len(w) {
		t.Errorf("alerts %v, want %v", keys(g), keys(w))
	} else {
		for id := range w {
			if !g[id] {
				t.Errorf("missing alert %s", id)
			}
		}
	}
	if len(gotAlerts) != len(wantAlerts) {
		t.Errorf("%d alert records, %d transitions: a graceful restart must not republish", len(gotAlerts), len(wantAlerts))
	}
}

// TestReferenceHotReload publishes references while the service runs:
// a new reference replaces the model's monitor (its firing alerts
// resolve, naming the old reference), publishing the old one again rolls
// back, and a tombstone removes the model.
func TestReferenceHotReload(t *testing.T) {
	k := newTestKafka(t)
	cfg := k.config()
	k.createInput(1)
	k.ensureTopics(cfg)
	cl := k.client()
	v1 := churnReference(t)
	if err := PublishReference(t.Context(), cl, cfg.ReferenceTopic, v1); err != nil {
		t.Fatal(err)
	}
	registry := NewRegistry()
	svc, _, stop := runService(t, cfg, registry, detector.DefaultWindow())
	rng := rand.New(rand.NewPCG(5, 5))
	var sent uint64
	send := func(n, skew int) {
		var vs [][]byte
		for i := range n {
			vs = append(vs, churnEvent(rng, skew).json(int(sent)+i))
		}
		k.produce(cl, vs...)
		sent += uint64(n)
		waitProcessed(t, svc, sent, 30*time.Second)
	}
	waitRef := func(id string) {
		deadline := time.Now().Add(20 * time.Second)
		for {
			refs, _ := registry.Snapshot()
			if r := refs["churn/3"]; (r == nil && id == "") || (r != nil && r.ID == id) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("registry never got reference %q", id)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitRef(v1.ID)
	send(1500, 1) // skewed: fires against v1

	// v2: a reference of the skewed data (say the model was retrained on
	// it). The firing alerts of v1 resolve; the skewed traffic is now
	// normal.
	v2 := churnReferenceOf(t, 20000, 1, rng)
	if err := PublishReference(t.Context(), cl, cfg.ReferenceTopic, v2); err != nil {
		t.Fatal(err)
	}
	waitRef(v2.ID)
	send(1500, 1)
	// Roll back: v1 again; the skewed traffic fires again, against v1.
	if err := PublishReference(t.Context(), cl, cfg.ReferenceTopic, v1); err != nil {
		t.Fatal(err)
	}
	waitRef(v1.ID)
	send(1500, 1)
	// Tombstone: the model is no longer monitored.
	if err := cl.ProduceSync(t.Context(), &kgo.Record{Topic: cfg.ReferenceTopic, Key: []byte("churn/3")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	waitRef("")
	noRefBefore := svc.Counters().NoReference
	send(200, 0)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got := svc.Counters().NoReference - noRefBefore; got != 200 {
		t.Errorf("%d events counted without a reference after the tombstone, want 200", got)
	}
	var firingV1, resolvedV1, firingV2 int
	for _, r := range k.readAll(cfg.AlertTopic) {
		var a detector.Alert
		json.Unmarshal(r.Value, &a)
		if a.Feature != "tenure_days" || a.Test != detector.TestKS {
			continue
		}
		switch {
		case a.ReferenceID == v1.ID && a.Status == detector.Firing:
			firingV1++
		case a.ReferenceID == v1.ID && a.Status == detector.Resolved:
			resolvedV1++
		case a.ReferenceID == v2.ID && a.Status == detector.Firing:
			firingV2++
		}
	}
	// v1 fires, resolves on the switch to v2, fires again after the
	// rollback, and resolves on the tombstone; v2 never fires.
	if firingV1 != 2 || resolvedV1 != 2 || firingV2 != 0 {
		t.Fatalf("tenure_days ks alerts: v1 firing %d resolved %d, v2 firing %d; want 2, 2, 0", firingV1, resolvedV1, firingV2)
	}
}

// TestTopicsReportedWhenCreationOff: with DRIFTD_CREATE_TOPICS=false and
// topics missing, the service exits with a message listing them.
func TestTopicsReportedWhenCreationOff(t *testing.T) {
	k := newTestKafka(t)
	cfg := k.config()
	k.createInput(1)
	cfg.CreateTopics = false
	svc, err := NewService(ServiceOptions{Config: cfg, Processor: ProcessorConfig{Window: detector.DefaultWindow()}, Registry: NewRegistry(), Metrics: NewMetrics(prometheus.NewRegistry(), 0)})
	if err != nil {
		t.Fatal(err)
	}
	err = svc.Run(t.Context(), time.Second)
	if err == nil || !strings.Contains(err.Error(), cfg.AlertTopic+" (cleanup.policy=compact)") || !strings.Contains(err.Error(), cfg.DLQTopic) {
		t.Fatalf("error %v, want the missing topics listed", err)
	}
}

// TestTwoStageService runs stage 1 (events → panes) and stage 2 (panes →
// tests) as two services with their own groups, and compares stage 2's
// alerts with a single-stage run over the same events: with the model in
// one input partition, the windows are identical, so are the alert IDs.
func TestTwoStageService(t *testing.T) {
	k := newTestKafka(t)
	base := k.config()
	k.createInput(3)
	ref := churnReference(t)
	registry := NewRegistry()
	registry.Set(ref)
	rng := rand.New(rand.NewPCG(6, 6))
	var values [][]byte
	for i := range 12000 {
		values = append(values, churnEvent(rng, (i/3000)%2).json(i))
	}
	stage1, stage2 := base, base
	stage1.Mode, stage1.Group, stage1.ReferencesEnabled = ModeStage1, base.Group+"-s1", false
	stage2.Mode, stage2.Group, stage2.ReferencesEnabled = ModeStage2, base.Group+"-s2", false
	k.ensureTopics(stage1)
	k.produce(k.client(), values...)
	window := detector.DefaultWindow()
	svc1, _, stop1 := runService(t, stage1, registry, window)
	svc2, _, stop2 := runService(t, stage2, registry, window)
	waitProcessed(t, svc1, uint64(len(values)), 60*time.Second)
	// Stage 2 receives one pane per feature per 125 events.
	wantPanes := uint64(len(values) / 125 * len(ref.Features))
	waitProcessed(t, svc2, wantPanes, 60*time.Second)
	if err := stop1(); err != nil {
		t.Fatal(err)
	}
	if err := stop2(); err != nil {
		t.Fatal(err)
	}
	_, want := offlineRun(t, k.readAll(base.InputTopics[0]), ref, window)
	var got []detector.Alert
	for _, r := range k.readAll(base.AlertTopic) {
		var a detector.Alert
		json.Unmarshal(r.Value, &a)
		got = append(got, a)
	}
	g, w := alertSet(got), alertSet(want)
	if len(w) < 4 || len(g) != len(w) {
		t.Fatalf("two-stage alerts %v, single-stage %v", keys(g), keys(w))
	}
	for id := range w {
		if !g[id] {
			t.Errorf("two-stage run lacks %s", id)
		}
	}
}
