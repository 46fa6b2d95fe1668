package oip_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/driftd/driftd/detector"
	"github.com/driftd/driftd/stream/codec"
	"github.com/driftd/driftd/stream/codec/internal/pipelinetest"
	"github.com/driftd/driftd/stream/codec/oip"
)

// mlserverRequest is an InferenceRequest as MLServer's pandas codec
// writes it: one [batch, 1] tensor per column.
func mlserverRequest(rows []pipelinetest.Row) []byte {
	xs := make([]float64, len(rows))
	plans := make([]string, len(rows))
	for i, r := range rows {
		xs[i], plans[i] = r.X, r.Plan
	}
	b, _ := json.Marshal(map[string]any{
		"parameters": map[string]any{"content_type": "pd"},
		"inputs": []any{
			map[string]any{"name": "x", "shape": []int{len(rows), 1}, "datatype": "FP64", "data": xs},
			map[string]any{"name": "plan", "shape": []int{len(rows), 1}, "datatype": "BYTES", "data": plans, "parameters": map[string]any{"content_type": "str"}},
		},
	})
	return b
}

func mlserverResponse(rows []pipelinetest.Row) []byte {
	ys := make([]float64, len(rows))
	for i, r := range rows {
		ys[i] = r.Score
	}
	b, _ := json.Marshal(map[string]any{
		"model_name": "churn", "model_version": "3", "id": "x",
		"outputs": []any{map[string]any{"name": "predict", "shape": []int{len(rows), 1}, "datatype": "FP64", "data": ys}},
	})
	return b
}

// TestMLServerTopics runs the pipeline on MLServer's Kafka topics: the
// requests on mlserver-input (model in the mlserver-model header, id in
// the key) and the responses on mlserver-output. Stable traffic raises
// no alert; shifting x raises a drift alert on x; a malformed request is
// dead-lettered with its reason.
func TestMLServerTopics(t *testing.T) {
	p := pipelinetest.Start(t, pipelinetest.Options{
		Topics:      []string{"mlserver-input", "mlserver-output"},
		InputFormat: "mlserver-input=oip,mlserver-output=oip",
		Formats:     map[string]codec.NewRecordDecoder{"oip": oip.New(oip.Config{})},
		References:  []*detector.Reference{pipelinetest.Reference(t, "churn", "3")},
	})
	rng := rand.New(rand.NewPCG(1, 2))
	headers := []kgo.RecordHeader{{Key: "mlserver-model", Value: []byte("churn")}, {Key: "mlserver-version", Value: []byte("3")}}
	records := 0
	send := func(shift float64, batches int) {
		var recs []*kgo.Record
		for i := range batches {
			rows := pipelinetest.Rows(rng, 8, shift)
			key := fmt.Appendf(nil, "req-%d-%d", records, i)
			recs = append(recs,
				&kgo.Record{Topic: "mlserver-input", Key: key, Headers: headers, Value: mlserverRequest(rows)},
				&kgo.Record{Topic: "mlserver-output", Key: key, Value: mlserverResponse(rows)})
		}
		p.Produce(recs...)
		records += len(recs)
	}
	send(0, 250) // 2000 rows
	p.WaitConsumed(uint64(records))
	c := p.Counters()
	if c.Processed != uint64(records) {
		t.Fatalf("processed %d of %d records (rejected %v)", c.Processed, records, c.Rejected)
	}
	if f := pipelinetest.Firing(p.Alerts()); len(f) > 0 {
		t.Fatalf("stable traffic raised alerts: %v", f)
	}
	send(1.5, 150)
	p.Produce(&kgo.Record{Topic: "mlserver-input", Headers: headers, Value: []byte(`{"inputs":[{"name":"x","shape":[2],"datatype":"FP64","data":[1]}]}`)})
	records++
	p.WaitConsumed(uint64(records))
	alerts := p.WaitAlerts(func(a detector.Alert) bool { return a.Feature == "x" })
	if f := pipelinetest.Firing(alerts); !slices.ContainsFunc(f, func(s string) bool { return s == "x/ks" || s == "x/mean_shift" }) {
		t.Errorf("shifted x raised no alert on x; firing: %v", f)
	}
	for _, f := range pipelinetest.Firing(alerts) {
		if f[:2] != "x/" && f[:2] != "*/" { // "*": the dataset-level test
			t.Errorf("alert on an unshifted feature: %s", f)
		}
	}
	dl := p.WaitDeadLetters(1)
	if len(dl) != 1 {
		t.Fatalf("%d dead letters, want 1", len(dl))
	}
	if got := header(dl[0], "driftd-reason"); got != string(codec.ReasonBadTensor) {
		t.Errorf("dead letter reason %q, want %s", got, codec.ReasonBadTensor)
	}
}

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}
