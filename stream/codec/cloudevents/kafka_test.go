package cloudevents_test

import (
	"encoding/json"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/driftd/driftd/detector"
	"github.com/driftd/driftd/stream/codec"
	"github.com/driftd/driftd/stream/codec/cloudevents"
	"github.com/driftd/driftd/stream/codec/internal/pipelinetest"
)

// TestKServeLoggerTopic runs the pipeline on one topic carrying KServe
// payload-logger CloudEvents: requests in binary mode, responses in
// structured mode, KServe v1 bodies. Stable traffic raises no alert;
// shifting x raises one on x.
func TestKServeLoggerTopic(t *testing.T) {
	const topic = "kserve-logger"
	p := pipelinetest.Start(t, pipelinetest.Options{
		Topics:      []string{topic},
		InputFormat: "cloudevents",
		Formats:     map[string]codec.NewRecordDecoder{"cloudevents": cloudevents.New(cloudevents.Config{VersionAttribute: "modelversion"})},
		References:  []*detector.Reference{pipelinetest.Reference(t, "churn", "3")},
	})
	rng := rand.New(rand.NewPCG(5, 6))
	records := 0
	now := time.Now().UTC()
	send := func(shift float64, batches int) {
		var recs []*kgo.Record
		for i := range batches {
			rows := pipelinetest.Rows(rng, 8, shift)
			inst := make([]map[string]any, len(rows))
			preds := make([]float64, len(rows))
			for j, r := range rows {
				inst[j] = map[string]any{"x": r.X, "plan": r.Plan}
				preds[j] = r.Score
			}
			body, _ := json.Marshal(map[string]any{"instances": inst})
			ts := now.Add(time.Duration(records+i) * time.Millisecond).Format(time.RFC3339Nano)
			recs = append(recs, &kgo.Record{Topic: topic, Value: body, Headers: []kgo.RecordHeader{
				{Key: "ce_specversion", Value: []byte("1.0")}, {Key: "ce_id", Value: []byte("id")},
				{Key: "ce_source", Value: []byte("http://churn-predictor/")}, {Key: "ce_type", Value: []byte(cloudevents.TypeRequest)},
				{Key: "ce_inferenceservicename", Value: []byte("churn")}, {Key: "ce_modelversion", Value: []byte("3")},
				{Key: "ce_time", Value: []byte(ts)}, {Key: "content-type", Value: []byte("application/json")}}})
			ev, _ := json.Marshal(map[string]any{"specversion": "1.0", "id": "id", "source": "http://churn-predictor/",
				"type": cloudevents.TypeResponse, "inferenceservicename": "churn", "modelversion": "3", "time": ts,
				"datacontenttype": "application/json", "data": map[string]any{"predictions": preds}})
			recs = append(recs, &kgo.Record{Topic: topic, Value: ev, Headers: []kgo.RecordHeader{{Key: "content-type", Value: []byte("application/cloudevents+json")}}})
		}
		p.Produce(recs...)
		records += len(recs)
	}
	send(0, 250)
	p.WaitConsumed(uint64(records))
	if c := p.Counters(); c.Processed != uint64(records) {
		t.Fatalf("processed %d of %d records (rejected %v)", c.Processed, records, c.Rejected)
	}
	if f := pipelinetest.Firing(p.Alerts()); len(f) > 0 {
		t.Fatalf("stable traffic raised alerts: %v", f)
	}
	send(1.5, 150)
	p.WaitConsumed(uint64(records))
	alerts := p.WaitAlerts(func(a detector.Alert) bool { return a.Feature == "x" })
	if f := pipelinetest.Firing(alerts); !slices.ContainsFunc(f, func(s string) bool { return s == "x/ks" || s == "x/mean_shift" }) {
		t.Errorf("shifted x raised no alert on x; firing: %v", f)
	}
}
