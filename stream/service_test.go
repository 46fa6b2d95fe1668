package stream

import (
	"encoding/json"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

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

	svc, _, stop := runService(t, cfg, NewRegistry(), detector.DefaultWindow())
	waitProcessed(t, svc, uint64(len(values)), 60*time.Second)
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	// Every record is either processed or in the DLQ.
	c := svc.proc.Counters
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
		got[a.Key()+"/"+string(a.Status)] = a
	}
	for _, key := range []string{"churn/3/tenure_days/ks/firing", "churn/3/tenure_days/mean_shift/firing", "churn/3/*/dataset/firing"} {
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

var _ = strconv.Itoa
