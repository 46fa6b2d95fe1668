package oipproto

import (
	"errors"
	"testing"

	"github.com/driftd/driftd/stream/codec"
)

// FuzzDecodeRecord: any value on a request or a response topic is events
// or a *codec.Error, never a panic. Seeds: testdata/fuzz/FuzzDecodeRecord.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(false, []byte{0x2a, 0x13, 0x0a, 0x01, 'x', 0x12, 0x04, 'F', 'P', '3', '2', 0x1a, 0x01, 0x01, 0x2a, 0x05, 0x35, 0x00, 0x00, 0x80, 0x3f})
	f.Add(true, []byte{0x2a, 0x0d, 0x0a, 0x01, 'y', 0x12, 0x04, 'F', 'P', '3', '2', 0x1a, 0x01, 0x01, 0x32, 0x04, 0x00, 0x00, 0x80, 0x3f})
	mk, _ := New(Config{Model: "m"})
	d, _ := mk(codec.Env{MaxBytes: 1 << 16})
	f.Fuzz(func(t *testing.T, response bool, value []byte) {
		topic := "seldon.ns.model.m.inputs"
		if response {
			topic = "seldon.ns.model.m.outputs"
		}
		evs, err := d.DecodeRecord(&codec.Record{Topic: topic, Value: value})
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
