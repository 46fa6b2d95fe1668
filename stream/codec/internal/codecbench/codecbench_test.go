// Package codecbench measures each input format's decoder against a
// parse-only baseline of the same bytes, interleaved in one run (see
// BENCHMARKS.md, "Input formats"). Run with DRIFTD_BENCH_CODECS=1.
package codecbench

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"
	"google.golang.org/protobuf/proto"

	"github.com/driftd/driftd/stream/codec"
	"github.com/driftd/driftd/stream/codec/cloudevents"
	"github.com/driftd/driftd/stream/codec/confluent"
	"github.com/driftd/driftd/stream/codec/oip"
	"github.com/driftd/driftd/stream/codec/oipproto"
	pb "github.com/driftd/driftd/stream/codec/oipproto/inferencepb"
)

const (
	batch   = 8 // rows per OIP / CloudEvents request
	numeric = 8 // numeric features per row
	cats    = 2 // categorical features per row
	records = 512
)

type workload struct {
	name     string
	events   int // events per record
	recs     []*codec.Record
	decoder  codec.RecordDecoder
	baseline func(r *codec.Record) error
}

func names() []string {
	var out []string
	for j := range numeric {
		out = append(out, fmt.Sprintf("f%d", j))
	}
	for j := range cats {
		out = append(out, fmt.Sprintf("c%d", j))
	}
	return out
}

func oipRequest(rng *rand.Rand) map[string]any {
	var inputs []any
	for j := range numeric {
		data := make([]float64, batch)
		for i := range data {
			data[i] = rng.NormFloat64()
		}
		inputs = append(inputs, map[string]any{"name": fmt.Sprintf("f%d", j), "shape": []int{batch, 1}, "datatype": "FP64", "data": data})
	}
	for j := range cats {
		data := make([]string, batch)
		for i := range data {
			data[i] = string(rune('a' + rng.IntN(8)))
		}
		inputs = append(inputs, map[string]any{"name": fmt.Sprintf("c%d", j), "shape": []int{batch, 1}, "datatype": "BYTES", "data": data})
	}
	return map[string]any{"model_name": "bench", "model_version": "1", "inputs": inputs}
}

func workloads(t testing.TB) []workload {
	rng := rand.New(rand.NewPCG(1, 2))
	var ws []workload

	// OIP v2 JSON (MLServer pandas codec).
	w := workload{name: "oip (JSON)", events: batch}
	for range records {
		b, _ := json.Marshal(oipRequest(rng))
		w.recs = append(w.recs, &codec.Record{Value: b})
	}
	w.decoder, _ = oip.New(oip.Config{})(codec.Env{})
	w.baseline = func(r *codec.Record) error { var v any; return json.Unmarshal(r.Value, &v) }
	ws = append(ws, w)

	// OIP v2 Protobuf, raw contents (Seldon Core 2).
	w = workload{name: "oip-protobuf (raw)", events: batch}
	for range records {
		m := &pb.ModelInferRequest{ModelName: "bench", ModelVersion: "1"}
		for j := range numeric {
			var raw []byte
			for range batch {
				raw = append(raw, make([]byte, 8)...)
				x := rng.NormFloat64()
				putF64(raw[len(raw)-8:], x)
			}
			m.Inputs = append(m.Inputs, &pb.ModelInferRequest_InferInputTensor{Name: fmt.Sprintf("f%d", j), Datatype: "FP64", Shape: []int64{batch, 1}})
			m.RawInputContents = append(m.RawInputContents, raw)
		}
		for j := range cats {
			var raw []byte
			for range batch {
				raw = append(raw, 1, 0, 0, 0, byte('a'+rng.IntN(8)))
			}
			m.Inputs = append(m.Inputs, &pb.ModelInferRequest_InferInputTensor{Name: fmt.Sprintf("c%d", j), Datatype: "BYTES", Shape: []int64{batch, 1}})
			m.RawInputContents = append(m.RawInputContents, raw)
		}
		b, _ := proto.Marshal(m)
		w.recs = append(w.recs, &codec.Record{Topic: "seldon.ns.model.bench.inputs", Value: b})
	}
	mk, _ := oipproto.New(oipproto.Config{})
	w.decoder, _ = mk(codec.Env{})
	var req pb.ModelInferRequest
	w.baseline = func(r *codec.Record) error { return proto.Unmarshal(r.Value, &req) }
	ws = append(ws, w)

	// CloudEvents, binary mode, OIP v2 body.
	w = workload{name: "cloudevents (binary, OIP body)", events: batch}
	for range records {
		b, _ := json.Marshal(oipRequest(rng))
		w.recs = append(w.recs, &codec.Record{Value: b, Headers: []kgo.RecordHeader{
			{Key: "ce_specversion", Value: []byte("1.0")}, {Key: "ce_type", Value: []byte(cloudevents.TypeRequest)},
			{Key: "ce_id", Value: []byte("x")}, {Key: "ce_source", Value: []byte("s")}, {Key: "ce_inferenceservicename", Value: []byte("bench")},
			{Key: "ce_time", Value: []byte("2026-11-25T20:00:00Z")}, {Key: "content-type", Value: []byte("application/json")}}})
	}
	w.decoder, _ = cloudevents.New(cloudevents.Config{})(codec.Env{})
	w.baseline = func(r *codec.Record) error { var v any; return json.Unmarshal(r.Value, &v) }
	ws = append(ws, w)

	// Schema Registry framed Avro, JSON Schema.
	reg := srfake.New()
	t.Cleanup(reg.Close)
	var fields []map[string]any
	for _, n := range names() {
		typ := "double"
		if n[0] == 'c' {
			typ = "string"
		}
		fields = append(fields, map[string]any{"name": n, "type": typ})
	}
	schemaJSON, _ := json.Marshal(map[string]any{"type": "record", "name": "E", "fields": append([]map[string]any{
		{"name": "model", "type": "string"}, {"name": "model_version", "type": "string"}}, fields...)})
	reg.SeedSchema("avro", 1, 1, sr.Schema{Type: sr.TypeAvro, Schema: string(schemaJSON)})
	reg.SeedSchema("json", 1, 2, sr.Schema{Type: sr.TypeJSON, Schema: `{"type":"object"}`})
	cl, _ := sr.NewClient(sr.URLs(reg.URL()))
	mkc, _ := confluent.New(confluent.Config{Client: cl})
	as := avro.MustParse(string(schemaJSON))
	var h sr.ConfluentHeader
	row := func() map[string]any {
		m := map[string]any{"model": "bench", "model_version": "1"}
		for _, n := range names() {
			if n[0] == 'c' {
				m[n] = string(rune('a' + rng.IntN(8)))
			} else {
				m[n] = rng.NormFloat64()
			}
		}
		return m
	}
	w = workload{name: "confluent (Avro)", events: 1}
	for range records {
		p, err := avro.Marshal(as, row())
		if err != nil {
			t.Fatal(err)
		}
		v, _ := h.AppendEncode(nil, 1, nil)
		w.recs = append(w.recs, &codec.Record{Value: append(v, p...)})
	}
	w.decoder, _ = mkc(codec.Env{})
	w.baseline = func(r *codec.Record) error { var v any; return avro.Unmarshal(as, r.Value[5:], &v) }
	ws = append(ws, w)
	w = workload{name: "confluent (JSON Schema)", events: 1}
	for range records {
		p, _ := json.Marshal(row())
		v, _ := h.AppendEncode(nil, 2, nil)
		w.recs = append(w.recs, &codec.Record{Value: append(v, p...)})
	}
	w.decoder, _ = mkc(codec.Env{})
	w.baseline = func(r *codec.Record) error {
		d := json.NewDecoder(bytes.NewReader(r.Value[5:]))
		d.UseNumber()
		var v map[string]any
		return d.Decode(&v)
	}
	ws = append(ws, w)
	return ws
}

func putF64(b []byte, x float64) { binary.LittleEndian.PutUint64(b, math.Float64bits(x)) }

// TestDecoderThroughput prints each decoder's throughput (events/s) and
// its ratio to the parse-only baseline, medians of interleaved rounds.
func TestDecoderThroughput(t *testing.T) {
	if os.Getenv("DRIFTD_BENCH_CODECS") == "" {
		t.Skip("set DRIFTD_BENCH_CODECS=1 to measure")
	}
	ws := workloads(t)
	for _, w := range ws { // every record must decode
		for _, r := range w.recs {
			evs, err := w.decoder.DecodeRecord(r)
			if err != nil || len(evs) != w.events {
				t.Fatalf("%s: %d events, %v", w.name, len(evs), err)
			}
			if err := w.baseline(r); err != nil {
				t.Fatalf("%s baseline: %v", w.name, err)
			}
		}
	}
	const rounds = 9
	dec := make([][]float64, len(ws))
	base := make([][]float64, len(ws))
	ratio := make([][]float64, len(ws))
	timeIt := func(f func(r *codec.Record) error, recs []*codec.Record) float64 {
		n := 0
		start := time.Now()
		for time.Since(start) < 300*time.Millisecond {
			for _, r := range recs {
				f(r) //nolint:errcheck // checked above
			}
			n += len(recs)
		}
		return float64(n) / time.Since(start).Seconds()
	}
	for range rounds {
		for i, w := range ws {
			d := timeIt(func(r *codec.Record) error { _, err := w.decoder.DecodeRecord(r); return err }, w.recs)
			b := timeIt(w.baseline, w.recs)
			dec[i] = append(dec[i], d)
			base[i] = append(base[i], b)
			ratio[i] = append(ratio[i], d/b)
		}
	}
	med := func(xs []float64) float64 { s := slices.Clone(xs); slices.Sort(s); return s[len(s)/2] }
	var out bytes.Buffer
	fmt.Fprintf(&out, "| format | record | decoder records/s | events/s | parse-only records/s | ratio (median of %d) |\n|---|---|---|---|---|---|\n", rounds)
	for i, w := range ws {
		fmt.Fprintf(&out, "| %s | %d B, %d events | %.0f | %.0f | %.0f | %.2f |\n", w.name, len(w.recs[0].Value), w.events, med(dec[i]), med(dec[i])*float64(w.events), med(base[i]), med(ratio[i]))
	}
	t.Log("\n" + out.String())
}
