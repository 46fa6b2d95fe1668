package confluent

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/driftd/driftd/detector"
	"github.com/driftd/driftd/stream/codec"
)

const avroSchema = `{"type":"record","name":"Event","namespace":"churn","fields":[
	{"name":"model","type":"string"},
	{"name":"model_version","type":["null","string"],"default":null},
	{"name":"timestamp","type":{"type":"long","logicalType":"timestamp-millis"}},
	{"name":"request_id","type":"string"},
	{"name":"features","type":{"type":"record","name":"Features","fields":[
		{"name":"x","type":"double"},
		{"name":"plan","type":{"type":"enum","name":"Plan","symbols":["BASIC","PRO"]}},
		{"name":"y","type":["null","double"],"default":null},
		{"name":"active","type":"boolean"},
		{"name":"geo","type":{"type":"record","name":"Geo","fields":[{"name":"country","type":"string"}]}}]}},
	{"name":"prediction","type":"float"}]}`

const protoSchema = `syntax = "proto3";
package churn;
import "google/protobuf/timestamp.proto";
import "google/protobuf/wrappers.proto";
message Unused { string z = 1; }
message Event {
  enum Plan { BASIC = 0; PRO = 1; }
  message Features {
    double x = 1;
    Plan plan = 2;
    optional double y = 3;
    int64 n = 4;
    google.protobuf.DoubleValue w = 5;
  }
  string model = 1;
  string model_version = 2;
  google.protobuf.Timestamp timestamp = 3;
  Features features = 4;
  double prediction = 5;
}`

// render prints an event's fields sorted.
func render(evs []codec.Event) string {
	var b strings.Builder
	for _, ev := range evs {
		b.WriteString(string(ev.Model) + "/" + string(ev.Version))
		if ev.HasTime {
			fmt.Fprintf(&b, " @%d", ev.TimeMS)
		}
		if ev.RequestID != nil {
			b.WriteString(" id=" + string(ev.RequestID))
		}
		var parts []string
		for _, f := range append(append([]codec.Field{}, ev.Features...), ev.Prediction...) {
			switch f.Value.Kind {
			case detector.Number:
				parts = append(parts, fmt.Sprintf("%s=%g", f.Name, f.Value.Num))
			case detector.Null:
				parts = append(parts, string(f.Name)+"=null")
			default:
				parts = append(parts, fmt.Sprintf("%s=%s", f.Name, f.Value.Text))
			}
		}
		sort.Strings(parts)
		b.WriteString(" " + strings.Join(parts, " "))
	}
	return b.String()
}

func frame(id int, index []int, payload []byte) []byte {
	var h sr.ConfluentHeader
	b, err := h.AppendEncode(nil, id, index)
	if err != nil {
		panic(err)
	}
	return append(b, payload...)
}

// protoEvent encodes churn.Event by hand (field numbers of protoSchema):
// model, version, timestamp{seconds}, features{x, plan, n}, prediction.
func protoEvent() []byte {
	var features []byte
	features = binary.AppendUvarint(features, 1<<3|1) // x: fixed64
	features = binary.LittleEndian.AppendUint64(features, math.Float64bits(2.5))
	features = binary.AppendUvarint(features, 2<<3|0) // plan: varint
	features = binary.AppendUvarint(features, 1)
	// n = 0 is not written (proto3 default) and still a value.
	var ts []byte
	ts = binary.AppendUvarint(ts, 1<<3|0)
	ts = binary.AppendUvarint(ts, 1_795_636_800)
	var b []byte
	str := func(field int, s string) {
		b = binary.AppendUvarint(b, uint64(field)<<3|2)
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	str(1, "churn")
	str(2, "3")
	str(3, string(ts))
	str(4, string(features))
	b = binary.AppendUvarint(b, 5<<3|1)
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(0.75))
	return b
}

func TestDecodeRecord(t *testing.T) {
	reg := srfake.New()
	defer reg.Close()
	reg.SeedSchema("churn-avro-value", 1, 1, sr.Schema{Type: sr.TypeAvro, Schema: avroSchema})
	reg.SeedSchema("churn-proto-value", 1, 2, sr.Schema{Type: sr.TypeProtobuf, Schema: protoSchema})
	reg.SeedSchema("churn-json-value", 1, 3, sr.Schema{Type: sr.TypeJSON, Schema: `{"type":"object"}`})
	cl, err := sr.NewClient(sr.URLs(reg.URL()))
	if err != nil {
		t.Fatal(err)
	}
	mk, err := New(Config{Client: cl})
	if err != nil {
		t.Fatal(err)
	}
	d, err := mk(codec.Env{})
	if err != nil {
		t.Fatal(err)
	}
	avroPayload, err := avro.Marshal(avro.MustParse(avroSchema), map[string]any{
		"model": "churn", "model_version": "3", "timestamp": time.UnixMilli(1_795_636_800_000).UTC(), "request_id": "r1",
		"features":   map[string]any{"x": 1.5, "plan": "PRO", "y": nil, "active": true, "geo": map[string]any{"country": "PT"}},
		"prediction": float32(0.25),
	})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		value  []byte
		want   string
		reason codec.Reason
	}{
		{
			// Nested records flatten to dotted names (geo.country); the
			// null union is missing; the enum and bool are categorical;
			// request_id is the label join's key, not a feature.
			name: "avro", value: frame(1, nil, avroPayload),
			want: "churn/3 @1795636800000 id=r1 active=true geo.country=PT plan=PRO prediction=0.25 x=1.5 y=null",
		},
		{
			// Message index [1]: the second message. Unset optional y and
			// the unset wrapper w are missing; n = 0 is a value.
			name: "protobuf", value: frame(2, []int{1}, protoEvent()),
			want: "churn/3 @1795636800000 n=0 plan=PRO prediction=0.75 w=null x=2.5 y=null",
		},
		{
			name: "json schema", value: frame(3, nil, []byte(`{"model":"churn","model_version":"3","timestamp":"2026-11-25T20:00:00Z","features":{"x":4,"plan":"basic"},"prediction":{"score":0.5}}`)),
			want: "churn/3 @1795636800000 plan=basic prediction.score=0.5 x=4",
		},
		{name: "unknown schema ID", value: frame(99, nil, []byte{0}), reason: codec.ReasonSchemaNotFound},
		{name: "no magic byte", value: []byte(`{"x":1}`), reason: codec.ReasonBadPayload},
		{name: "avro payload cut short", value: frame(1, nil, avroPayload[:5]), reason: codec.ReasonBadPayload},
		{name: "message index out of range", value: frame(2, []int{5}, protoEvent()), reason: codec.ReasonBadPayload},
		{name: "json not json", value: frame(3, nil, []byte(`{"x":`)), reason: codec.ReasonNotJSON},
		{name: "no model", value: frame(3, nil, []byte(`{"x":1}`)), reason: codec.ReasonNoModel},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := d.DecodeRecord(&codec.Record{Value: tc.value})
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

// TestDescriptorSchema: confluent-kafka's Python ProtobufSerializer
// registers a schema as a base64 serialized FileDescriptorProto; it is
// read as such, its well-known imports included.
func TestDescriptorSchema(t *testing.T) {
	fdp := &descriptorpb.FileDescriptorProto{
		Name: proto.String("e.proto"), Package: proto.String("p"), Syntax: proto.String("proto3"),
		Dependency: []string{"google/protobuf/timestamp.proto"},
		MessageType: []*descriptorpb.DescriptorProto{{Name: proto.String("E"), Field: []*descriptorpb.FieldDescriptorProto{
			{Name: proto.String("model"), Number: proto.Int32(1), Type: descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum(), Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum()},
			{Name: proto.String("x"), Number: proto.Int32(2), Type: descriptorpb.FieldDescriptorProto_TYPE_DOUBLE.Enum(), Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum()},
			{Name: proto.String("timestamp"), Number: proto.Int32(3), Type: descriptorpb.FieldDescriptorProto_TYPE_MESSAGE.Enum(), TypeName: proto.String(".google.protobuf.Timestamp"), Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum()},
		}}},
	}
	raw, err := proto.Marshal(fdp)
	if err != nil {
		t.Fatal(err)
	}
	reg := srfake.New()
	defer reg.Close()
	reg.SeedSchema("e", 1, 7, sr.Schema{Type: sr.TypeProtobuf, Schema: base64.StdEncoding.EncodeToString(raw)})
	cl, _ := sr.NewClient(sr.URLs(reg.URL()))
	mk, _ := New(Config{Client: cl})
	d, _ := mk(codec.Env{})
	// model "m", x = 2 (fixed64), timestamp {seconds: 1795636800}.
	payload := []byte{0x0a, 0x01, 'm', 0x11}
	payload = binary.LittleEndian.AppendUint64(payload, math.Float64bits(2))
	ts := binary.AppendUvarint([]byte{0x08}, 1_795_636_800)
	payload = append(append(payload, 0x1a, byte(len(ts))), ts...)
	evs, err := d.DecodeRecord(&codec.Record{Value: frame(7, []int{0}, payload)})
	if err != nil {
		t.Fatal(err)
	}
	if got := render(evs); got != "m/ @1795636800000 x=2" {
		t.Errorf("got %q", got)
	}
}

// TestRegistryUnavailable checks that a registry that does not answer is
// not the record's fault (a plain error, so the pipeline retries rather
// than dead-letters), and that the same record decodes once it answers;
// the schema is then cached.
func TestRegistryUnavailable(t *testing.T) {
	reg := srfake.New()
	defer reg.Close()
	reg.SeedSchema("s", 1, 3, sr.Schema{Type: sr.TypeJSON, Schema: `{"type":"object"}`})
	var down atomic.Bool
	var requests atomic.Int64
	down.Store(true)
	reg.Intercept(func(w http.ResponseWriter, _ *http.Request) bool {
		requests.Add(1)
		if down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		}
		return false
	})
	cl, _ := sr.NewClient(sr.URLs(reg.URL()))
	mk, _ := New(Config{Client: cl, Model: "m", FetchTimeout: 2 * time.Second})
	d, _ := mk(codec.Env{})
	value := frame(3, nil, []byte(`{"x":1}`))
	_, err := d.DecodeRecord(&codec.Record{Value: value})
	var ce *codec.Error
	if err == nil || errors.As(err, &ce) {
		t.Fatalf("registry down: got %v, want an error that is not a *codec.Error", err)
	}
	down.Store(false)
	evs, err := d.DecodeRecord(&codec.Record{Value: value})
	if err != nil {
		t.Fatal(err)
	}
	if got := render(evs); got != "m/ x=1" {
		t.Errorf("got %q", got)
	}
	before := requests.Load()
	if _, err := d.DecodeRecord(&codec.Record{Value: value}); err != nil {
		t.Fatal(err)
	}
	if requests.Load() != before {
		t.Error("a cached schema was fetched again")
	}
}
