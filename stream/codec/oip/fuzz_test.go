package oip

import (
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/driftd/driftd/stream/codec"
)

// FuzzDecodeRecord: any value is events or a *codec.Error with a known
// reason, never a panic or another error; events have a model and named
// fields. Seeds: testdata/fuzz/FuzzDecodeRecord.
func FuzzDecodeRecord(f *testing.F) {
	f.Add([]byte(`{"inputs":[{"name":"x","shape":[2,1],"datatype":"FP64","data":[1,2]},{"name":"p","shape":[2],"datatype":"BYTES","data":["a","b"]}]}`))
	f.Add([]byte(`{"model_name":"m","outputs":[{"name":"y","shape":[1,2],"datatype":"FP32","data":[[0.1,0.9]]}]}`))
	mk := New(Config{Columns: []string{"a", "b"}})
	d, _ := mk(codec.Env{MaxBytes: 1 << 16})
	headers := []kgo.RecordHeader{{Key: "mlserver-model", Value: []byte("m")}}
	f.Fuzz(func(t *testing.T, value []byte) {
		checkDecode(t, d, &codec.Record{Value: value, Headers: headers})
	})
}

func checkDecode(t *testing.T, d codec.RecordDecoder, r *codec.Record) {
	evs, err := d.DecodeRecord(r)
	if err != nil {
		var ce *codec.Error
		if !errors.As(err, &ce) {
			t.Fatalf("error that is not a *codec.Error: %v", err)
		}
		for _, known := range codec.Reasons {
			if ce.Reason == known {
				return
			}
		}
		t.Fatalf("unknown reason %q", ce.Reason)
	}
	for _, ev := range evs {
		if len(ev.Model) == 0 {
			t.Fatal("event without a model")
		}
		for _, fl := range append(ev.Features, ev.Prediction...) {
			if len(fl.Name) == 0 {
				t.Fatal("field without a name")
			}
		}
	}
}
