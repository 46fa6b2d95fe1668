package confluent

import (
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/driftd/driftd/stream/codec"
)

// FuzzDecodeRecord frames a fuzzed payload with the ID of an Avro, a
// Protobuf or a JSON Schema schema (or an unknown ID): the result is
// events or a *codec.Error, never a panic, and a healthy registry never
// yields a retry error. Seeds: testdata/fuzz/FuzzDecodeRecord.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(uint8(0), []byte{0x0a, 'c', 'h', 'u', 'r', 'n'})
	f.Add(uint8(1), []byte{0x02, 0x02, 0x0a, 0x05, 'c', 'h', 'u', 'r', 'n'})
	f.Add(uint8(2), []byte(`{"model":"m","features":{"x":1},"prediction":0.5}`))
	reg := srfake.New()
	f.Cleanup(reg.Close)
	reg.SeedSchema("a", 1, 1, sr.Schema{Type: sr.TypeAvro, Schema: avroSchema})
	reg.SeedSchema("p", 1, 2, sr.Schema{Type: sr.TypeProtobuf, Schema: protoSchema})
	reg.SeedSchema("j", 1, 3, sr.Schema{Type: sr.TypeJSON, Schema: `{"type":"object"}`})
	cl, _ := sr.NewClient(sr.URLs(reg.URL()))
	mk, _ := New(Config{Client: cl})
	d, _ := mk(codec.Env{MaxBytes: 1 << 16})
	f.Fuzz(func(t *testing.T, which uint8, payload []byte) {
		id := []int{1, 2, 3, 4}[which%4]
		var h sr.ConfluentHeader
		value, _ := h.AppendEncode(nil, id, nil)
		if id == 2 {
			value = value[:5] // the payload starts with the message indexes
		}
		value = append(value, payload...)
		evs, err := d.DecodeRecord(&codec.Record{Value: value})
		if err != nil {
			var ce *codec.Error
			if !errors.As(err, &ce) {
				t.Fatalf("error that is not a *codec.Error: %v", err)
			}
			return
		}
		if len(evs) != 1 {
			t.Fatalf("%d events, want 1", len(evs))
		}
		if len(evs[0].Model) == 0 {
			t.Fatal("event without a model")
		}
	})
}
