package oipproto_test

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"

	"github.com/driftd/driftd/detector"
	"github.com/driftd/driftd/stream/codec"
	"github.com/driftd/driftd/stream/codec/internal/pipelinetest"
	"github.com/driftd/driftd/stream/codec/oipproto"
	pb "github.com/driftd/driftd/stream/codec/oipproto/inferencepb"
)

// TestSeldonTopics runs the pipeline on Seldon Core 2's model topics:
// raw-content requests on .inputs, typed-content responses on .outputs,
// the model named by the topic. Stable traffic raises no alert; shifting
// x raises one on x.
func TestSeldonTopics(t *testing.T) {
	const in, out = "seldon.default.model.churn.inputs", "seldon.default.model.churn.outputs"
	mk, err := oipproto.New(oipproto.Config{Version: "3"})
	if err != nil {
		t.Fatal(err)
	}
	p := pipelinetest.Start(t, pipelinetest.Options{
		Topics:      []string{in, out},
		InputFormat: "oip-protobuf",
		Formats:     map[string]codec.NewRecordDecoder{"oip-protobuf": mk},
		References:  []*detector.Reference{pipelinetest.Reference(t, "churn", "3")},
	})
	rng := rand.New(rand.NewPCG(3, 4))
	records := 0
	send := func(shift float64, batches int) {
		var recs []*kgo.Record
		for range batches {
			rows := pipelinetest.Rows(rng, 8, shift)
			var xs []byte
			var plans []byte
			scores := make([]float64, len(rows))
			for i, r := range rows {
				xs = binary.LittleEndian.AppendUint64(xs, math.Float64bits(r.X))
				plans = binary.LittleEndian.AppendUint32(plans, uint32(len(r.Plan)))
				plans = append(plans, r.Plan...)
				scores[i] = r.Score
			}
			n := int64(len(rows))
			req, _ := proto.Marshal(&pb.ModelInferRequest{ModelName: "churn_1", Inputs: []*pb.ModelInferRequest_InferInputTensor{
				{Name: "x", Datatype: "FP64", Shape: []int64{n, 1}}, {Name: "plan", Datatype: "BYTES", Shape: []int64{n, 1}}},
				RawInputContents: [][]byte{xs, plans}})
			resp, _ := proto.Marshal(&pb.ModelInferResponse{ModelName: "churn_1", Outputs: []*pb.ModelInferResponse_InferOutputTensor{
				{Name: "predict", Datatype: "FP64", Shape: []int64{n, 1}, Contents: &pb.InferTensorContents{Fp64Contents: scores}}}})
			recs = append(recs, &kgo.Record{Topic: in, Value: req}, &kgo.Record{Topic: out, Value: resp})
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
	p.Produce(&kgo.Record{Topic: in, Value: []byte{0xff, 0xff}})
	records++
	p.WaitConsumed(uint64(records))
	alerts := p.WaitAlerts(func(a detector.Alert) bool { return a.Feature == "x" })
	if f := pipelinetest.Firing(alerts); !slices.ContainsFunc(f, func(s string) bool { return s == "x/ks" || s == "x/mean_shift" }) {
		t.Errorf("shifted x raised no alert on x; firing: %v", f)
	}
	if dl := p.WaitDeadLetters(1); len(dl) != 1 {
		t.Errorf("%d dead letters, want 1", len(dl))
	}
}
