package confluent_test

import (
	"math/rand/v2"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/driftd/driftd/detector"
	"github.com/driftd/driftd/stream/codec"
	"github.com/driftd/driftd/stream/codec/confluent"
	"github.com/driftd/driftd/stream/codec/internal/pipelinetest"
)

const schema = `{"type":"record","name":"Event","fields":[
	{"name":"model","type":"string"},{"name":"model_version","type":"string"},
	{"name":"x","type":"double"},{"name":"plan","type":["null","string"]},{"name":"prediction","type":"double"}]}`

// TestSchemaRegistryAvro runs the pipeline on Avro records in the Schema
// Registry wire format. While the registry answers 503 the records are
// held back (retried, no dead letters); once it answers they are all
// processed. Stable traffic raises no alert, shifted x does; an unknown
// schema ID is dead-lettered as schema_not_found.
func TestSchemaRegistryAvro(t *testing.T) {
	reg := srfake.New()
	defer reg.Close()
	id, _, err := reg.RegisterSchema("churn-value", sr.Schema{Type: sr.TypeAvro, Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	var down atomic.Bool
	down.Store(true)
	reg.Intercept(func(w http.ResponseWriter, _ *http.Request) bool {
		if down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		}
		return false
	})
	cl, err := sr.NewClient(sr.URLs(reg.URL()))
	if err != nil {
		t.Fatal(err)
	}
	mk, err := confluent.New(confluent.Config{Client: cl, FetchTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	p := pipelinetest.Start(t, pipelinetest.Options{
		Topics: []string{"churn"}, InputFormat: "confluent",
		Formats:    map[string]codec.NewRecordDecoder{"confluent": mk},
		References: []*detector.Reference{pipelinetest.Reference(t, "churn", "3")},
	})
	avroSchema := avro.MustParse(schema)
	var header sr.ConfluentHeader
	rng := rand.New(rand.NewPCG(8, 9))
	records := 0
	send := func(shift float64, n int) {
		var recs []*kgo.Record
		for _, r := range pipelinetest.Rows(rng, n, shift) {
			payload, err := avro.Marshal(avroSchema, map[string]any{"model": "churn", "model_version": "3", "x": r.X, "plan": r.Plan, "prediction": r.Score})
			if err != nil {
				t.Fatal(err)
			}
			v, _ := header.AppendEncode(nil, id, nil)
			recs = append(recs, &kgo.Record{Topic: "churn", Value: append(v, payload...)})
		}
		p.Produce(recs...)
		records += len(recs)
	}
	send(0, 200)
	time.Sleep(2 * time.Second)
	if c := p.Counters(); c.Consumed != 0 {
		t.Fatalf("registry down: %d records consumed, want 0 (held back)", c.Consumed)
	}
	if dl := p.DeadLetters(); len(dl) != 0 {
		t.Fatalf("registry down: %d dead letters, want 0", len(dl))
	}
	down.Store(false)
	send(0, 1800)
	p.WaitConsumed(uint64(records))
	if c := p.Counters(); c.Processed != uint64(records) {
		t.Fatalf("processed %d of %d records (rejected %v)", c.Processed, records, c.Rejected)
	}
	if f := pipelinetest.Firing(p.Alerts()); len(f) > 0 {
		t.Fatalf("stable traffic raised alerts: %v", f)
	}
	send(1.5, 1200)
	unknown, _ := header.AppendEncode(nil, id+100, nil)
	p.Produce(&kgo.Record{Topic: "churn", Value: append(unknown, 0)})
	records++
	p.WaitConsumed(uint64(records))
	alerts := p.WaitAlerts(func(a detector.Alert) bool { return a.Feature == "x" })
	if f := pipelinetest.Firing(alerts); !slices.ContainsFunc(f, func(s string) bool { return s == "x/ks" || s == "x/mean_shift" }) {
		t.Errorf("shifted x raised no alert on x; firing: %v", f)
	}
	dl := p.WaitDeadLetters(1)
	if len(dl) != 1 {
		t.Fatalf("%d dead letters, want 1", len(dl))
	}
	for _, h := range dl[0].Headers {
		if h.Key == "driftd-reason" && string(h.Value) != string(codec.ReasonSchemaNotFound) {
			t.Errorf("dead letter reason %s", h.Value)
		}
	}
}
