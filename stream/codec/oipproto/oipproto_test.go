package oipproto

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/driftd/driftd/detector"
	"github.com/driftd/driftd/stream/codec"
	pb "github.com/driftd/driftd/stream/codec/oipproto/inferencepb"
)

func render(evs []codec.Event) string {
	var b strings.Builder
	for _, ev := range evs {
		b.WriteString(string(ev.Model) + "/" + string(ev.Version))
		if ev.RequestID != nil {
			b.WriteString(" id=" + string(ev.RequestID))
		}
		fs := ev.Features
		if ev.HasPrediction {
			b.WriteString(" P")
			fs = ev.Prediction
		}
		for _, f := range fs {
			switch f.Value.Kind {
			case detector.Number:
				fmt.Fprintf(&b, " %s=%g", f.Name, f.Value.Num)
			default:
				fmt.Fprintf(&b, " %s=%s", f.Name, f.Value.Text)
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

func le32(xs ...float32) []byte {
	out := make([]byte, 0, 4*len(xs))
	for _, x := range xs {
		out = binary.LittleEndian.AppendUint32(out, math.Float32bits(x))
	}
	return out
}

func lenPrefixed(ss ...string) []byte {
	var out []byte
	for _, s := range ss {
		out = binary.LittleEndian.AppendUint32(out, uint32(len(s)))
		out = append(out, s...)
	}
	return out
}

func mustMarshal(t *testing.T, m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeRecord(t *testing.T) {
	const in, out = "seldon.prod.model.churn.inputs", "seldon.prod.model.churn.outputs"
	cases := []struct {
		name   string
		topic  string
		msg    proto.Message
		raw    []byte
		want   string
		reason codec.Reason
	}{
		{
			// Typed contents, one tensor per column; the model from the
			// topic wins over Seldon's suffixed model_name.
			name: "typed request", topic: in,
			msg: &pb.ModelInferRequest{ModelName: "churn_1", ModelVersion: "3", Inputs: []*pb.ModelInferRequest_InferInputTensor{
				{Name: "x", Datatype: "FP64", Shape: []int64{2, 1}, Contents: &pb.InferTensorContents{Fp64Contents: []float64{1.5, -2}}},
				{Name: "plan", Datatype: "BYTES", Shape: []int64{2}, Contents: &pb.InferTensorContents{BytesContents: [][]byte{[]byte("pro"), []byte("basic")}}},
				{Name: "n", Datatype: "INT32", Shape: []int64{2}, Contents: &pb.InferTensorContents{IntContents: []int32{7, -1}}},
				{Name: "ok", Datatype: "BOOL", Shape: []int64{2}, Contents: &pb.InferTensorContents{BoolContents: []bool{true, false}}},
			}},
			want: "churn/3 x=1.5 plan=pro n=7 ok=true\nchurn/3 x=-2 plan=basic n=-1 ok=false\n",
		},
		{
			// raw_input_contents, little-endian: FP32 and length-prefixed
			// BYTES.
			name: "raw request", topic: in,
			msg: &pb.ModelInferRequest{ModelVersion: "3", Inputs: []*pb.ModelInferRequest_InferInputTensor{
				{Name: "x", Datatype: "FP32", Shape: []int64{2, 1}},
				{Name: "plan", Datatype: "BYTES", Shape: []int64{2, 1}},
			}, RawInputContents: [][]byte{le32(0.5, 4), lenPrefixed("pro", "enterprise")}},
			want: "churn/3 x=0.5 plan=pro\nchurn/3 x=4 plan=enterprise\n",
		},
		{
			// FP16 (1.0 = 0x3c00, -2.5 = 0xc100) only comes raw.
			name: "raw fp16", topic: in,
			msg: &pb.ModelInferRequest{Inputs: []*pb.ModelInferRequest_InferInputTensor{{Name: "h", Datatype: "FP16", Shape: []int64{2}}},
				RawInputContents: [][]byte{{0x00, 0x3c, 0x00, 0xc1}}},
			want: "churn/ h=1\nchurn/ h=-2.5\n",
		},
		{
			// The rows of a batch get request IDs <id>/<row>.
			name: "raw response", topic: out,
			msg: &pb.ModelInferResponse{ModelName: "churn_1", ModelVersion: "3", Id: "q7", Outputs: []*pb.ModelInferResponse_InferOutputTensor{
				{Name: "predict", Datatype: "FP32", Shape: []int64{2, 1}}}, RawOutputContents: [][]byte{le32(0.25, 0.75)}},
			want: "churn/3 id=q7/0 P prediction=0.25\nchurn/3 id=q7/1 P prediction=0.75\n",
		},
		{
			name: "typed response matrix", topic: out,
			msg: &pb.ModelInferResponse{Outputs: []*pb.ModelInferResponse_InferOutputTensor{
				{Name: "proba", Datatype: "FP64", Shape: []int64{1, 2}, Contents: &pb.InferTensorContents{Fp64Contents: []float64{0.1, 0.9}}}}},
			want: "churn/ P prediction.proba.0=0.1 prediction.proba.1=0.9\n",
		},
		{name: "not protobuf", topic: in, raw: []byte{0xff, 0xff, 0xff}, reason: codec.ReasonBadPayload},
		{name: "topic not matching", topic: "other", msg: &pb.ModelInferRequest{}, reason: codec.ReasonBadPayload},
		{name: "no inputs", topic: in, msg: &pb.ModelInferRequest{}, reason: codec.ReasonNoData},
		{
			name: "raw count mismatch", topic: in,
			msg: &pb.ModelInferRequest{Inputs: []*pb.ModelInferRequest_InferInputTensor{{Name: "x", Datatype: "FP32", Shape: []int64{1}}, {Name: "y", Datatype: "FP32", Shape: []int64{1}}},
				RawInputContents: [][]byte{le32(1)}},
			reason: codec.ReasonBadTensor,
		},
		{
			name: "raw size not whole", topic: in,
			msg: &pb.ModelInferRequest{Inputs: []*pb.ModelInferRequest_InferInputTensor{{Name: "x", Datatype: "FP32", Shape: []int64{1}}},
				RawInputContents: [][]byte{{1, 2, 3}}},
			reason: codec.ReasonBadTensor,
		},
		{
			name: "bytes length past the end", topic: in,
			msg: &pb.ModelInferRequest{Inputs: []*pb.ModelInferRequest_InferInputTensor{{Name: "s", Datatype: "BYTES", Shape: []int64{1}}},
				RawInputContents: [][]byte{{9, 0, 0, 0, 'a'}}},
			reason: codec.ReasonBadTensor,
		},
		{
			name: "shape mismatch", topic: in,
			msg:    &pb.ModelInferRequest{Inputs: []*pb.ModelInferRequest_InferInputTensor{{Name: "x", Datatype: "FP64", Shape: []int64{3}, Contents: &pb.InferTensorContents{Fp64Contents: []float64{1}}}}},
			reason: codec.ReasonBadTensor,
		},
	}
	mk, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	d, err := mk(codec.Env{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			value := tc.raw
			if tc.msg != nil {
				value = mustMarshal(t, tc.msg)
			}
			evs, err := d.DecodeRecord(&codec.Record{Topic: tc.topic, Value: value})
			if tc.reason != "" {
				var ce *codec.Error
				if !errors.As(err, &ce) || ce.Reason != tc.reason {
					t.Fatalf("got %q, %v; want reason %s", render(evs), err, tc.reason)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := render(evs); got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestTopicPattern(t *testing.T) {
	if _, err := New(Config{TopicPattern: `^models\.(?P<model>.+)$`}); err == nil {
		t.Error("a pattern without a kind group was accepted")
	}
	if _, err := New(Config{TopicPattern: `(`}); err == nil {
		t.Error("an invalid pattern was accepted")
	}
	mk, err := New(Config{TopicPattern: `^infer-(?P<kind>requests|responses)$`, Model: "fixed"})
	if err != nil {
		t.Fatal(err)
	}
	d, _ := mk(codec.Env{})
	value := mustMarshal(t, &pb.ModelInferResponse{Outputs: []*pb.ModelInferResponse_InferOutputTensor{
		{Name: "y", Datatype: "INT64", Shape: []int64{1}, Contents: &pb.InferTensorContents{Int64Contents: []int64{4}}}}})
	evs, err := d.DecodeRecord(&codec.Record{Topic: "infer-responses", Value: value})
	if err != nil {
		t.Fatal(err)
	}
	if got := render(evs); got != "fixed/ P prediction=4\n" {
		t.Errorf("got %q", got)
	}
}

func TestHalfToFloat(t *testing.T) {
	for _, tc := range []struct {
		h    uint16
		want float64
	}{{0x3c00, 1}, {0xc000, -2}, {0x7bff, 65504}, {0x0001, math.Ldexp(1, -24)}, {0x3555, 0.333251953125}, {0x7c00, math.Inf(1)}} {
		if got := halfToFloat(tc.h); got != tc.want {
			t.Errorf("halfToFloat(%#04x) = %g, want %g", tc.h, got, tc.want)
		}
	}
	if !math.IsNaN(halfToFloat(0x7e00)) {
		t.Error("0x7e00 is not NaN")
	}
}
