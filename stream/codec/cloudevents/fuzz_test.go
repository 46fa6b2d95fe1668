package cloudevents

import (
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/driftd/driftd/stream/codec"
)

// FuzzDecodeRecord: structured (value) and binary (headers plus value)
// CloudEvents decode to events or a *codec.Error with a known reason,
// never a panic. Seeds: testdata/fuzz/FuzzDecodeRecord.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(true, []byte(`{"specversion":"1.0","type":"org.kubeflow.serving.inference.request","inferenceservicename":"m","data":{"instances":[{"x":1}]}}`))
	f.Add(false, []byte(`{"predictions":[[0.1,0.9]]}`))
	f.Add(false, []byte(`{"instances":[[1,"a"]]}`))
	d, _ := New(Config{})(codec.Env{MaxBytes: 1 << 16, FeatureOrder: func(_, _ []byte) []string { return []string{"a", "b"} }})
	structured := []kgo.RecordHeader{{Key: "content-type", Value: []byte("application/cloudevents+json")}}
	binaryHeaders := []kgo.RecordHeader{{Key: "ce_specversion", Value: []byte("1.0")}, {Key: "ce_type", Value: []byte(TypeResponse)}, {Key: "ce_inferenceservicename", Value: []byte("m")}}
	f.Fuzz(func(t *testing.T, isStructured bool, value []byte) {
		h := binaryHeaders
		if isStructured {
			h = structured
		}
		evs, err := d.DecodeRecord(&codec.Record{Value: value, Headers: h})
		if err != nil {
			var ce *codec.Error
			if !errors.As(err, &ce) {
				t.Fatalf("error that is not a *codec.Error: %v", err)
			}
			return
		}
		for _, ev := range evs {
			if len(ev.Model) == 0 {
				t.Fatal("event without a model")
			}
		}
	})
}
