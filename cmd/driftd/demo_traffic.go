package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// demoFormats are the traffic formats of `driftd demo --format`.
var demoFormats = []string{"canonical", "oip"}

// demoEncoder turns one tick's events into records, and returns the
// request ID each event's prediction carries (for its label); the events
// marked bad become malformed records (dead letters, no ID). seq is the
// first event's sequence number.
type demoEncoder func(evs []demoEvent, bad []bool, seq int64, now time.Time) (recs []*kgo.Record, ids []string)

// canonicalRecords: one canonical JSON event per record on topic, request
// ID r-<seq>.
func canonicalRecords(topic string) demoEncoder {
	return func(evs []demoEvent, bad []bool, seq int64, now time.Time) ([]*kgo.Record, []string) {
		recs := make([]*kgo.Record, 0, len(evs))
		ids := make([]string, len(evs))
		for i, e := range evs {
			value := e.json(seq+int64(i), now)
			if bad[i] {
				value = []byte(`{"model":"churn","model_version":"3","features":`) // truncated: not JSON
			} else {
				ids[i] = fmt.Sprintf("r-%d", seq+int64(i))
			}
			recs = append(recs, &kgo.Record{Topic: topic, Key: []byte("churn"), Value: value})
		}
		return recs, ids
	}
}

// demoOIPBatch is the rows per request of the oip traffic.
const demoOIPBatch = 8

// oipRecords is MLServer's Kafka traffic: Open Inference Protocol v2
// requests as MLServer's pandas codec writes them (one [rows, 1] tensor
// per column) of up to demoOIPBatch rows on input, the model in the
// mlserver-model header and the request ID in the key, and each request's
// response (the score as output "predict") on output. A row's request ID
// for its label is <id>/<row> (<id> alone in a one-row request), as driftd
// reads OIP batches. A bad event is a malformed request of its own.
func oipRecords(input, output string) demoEncoder {
	headers := []kgo.RecordHeader{{Key: "mlserver-model", Value: []byte("churn")}, {Key: "mlserver-version", Value: []byte("3")}}
	return func(evs []demoEvent, bad []bool, seq int64, now time.Time) ([]*kgo.Record, []string) {
		var recs []*kgo.Record
		var rows []demoEvent
		ids := make([]string, len(evs))
		flush := func(first int64) {
			if len(rows) == 0 {
				return
			}
			id := []byte(fmt.Sprintf("r-%d", first))
			req, resp := oipBodies(string(id), rows)
			recs = append(recs, &kgo.Record{Topic: input, Key: id, Headers: headers, Value: req, Timestamp: now},
				&kgo.Record{Topic: output, Key: id, Value: resp, Timestamp: now})
			for j := range rows {
				ids[first-seq+int64(j)] = string(id)
				if len(rows) > 1 {
					ids[first-seq+int64(j)] = fmt.Sprintf("%s/%d", id, j)
				}
			}
			rows = rows[:0]
		}
		first := seq
		for i, e := range evs {
			if bad[i] {
				flush(first)
				recs = append(recs, &kgo.Record{Topic: input, Key: []byte(fmt.Sprintf("r-%d", seq+int64(i))), Headers: headers,
					Value: []byte(`{"inputs":[{"name":"tenure_days","shape":[1,1],`), Timestamp: now}) // truncated: not JSON
				first = seq + int64(i) + 1
				continue
			}
			rows = append(rows, e)
			if len(rows) == demoOIPBatch {
				flush(first)
				first = seq + int64(i) + 1
			}
		}
		flush(first)
		return recs, ids
	}
}

// oipBodies encodes rows as an OIP v2 request and its response.
func oipBodies(id string, rows []demoEvent) (req, resp []byte) {
	n := len(rows)
	tenure, charges, sessions, scores := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
	plans := make([]any, n)
	for i, e := range rows {
		tenure[i], charges[i], sessions[i], scores[i] = round(e.tenure, 2), round(e.charges, 2), round(e.sessions, 2), round(e.score, 4)
		if !e.planMissing {
			plans[i] = e.plan
		}
	}
	column := func(name, datatype string, data any) map[string]any {
		return map[string]any{"name": name, "shape": []int{n, 1}, "datatype": datatype, "data": data}
	}
	req, _ = json.Marshal(map[string]any{"id": id, "parameters": map[string]any{"content_type": "pd"}, "inputs": []any{
		column("tenure_days", "FP64", tenure),
		column("monthly_charges", "FP64", charges),
		column("plan", "BYTES", plans),
		column("sessions_per_week", "FP64", sessions),
	}})
	resp, _ = json.Marshal(map[string]any{"model_name": "churn", "model_version": "3", "id": id, "outputs": []any{
		column("predict", "FP64", scores),
	}})
	return req, resp
}
