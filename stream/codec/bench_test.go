package codec

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/driftd/driftd/detector"
)

// benchEvents are canonical events with 20 numeric and 5 categorical
// features, the shape `driftd bench` generates.
func benchEvents(n int) [][]byte {
	rng := rand.New(rand.NewPCG(1, 2))
	out := make([][]byte, n)
	for i := range out {
		var b strings.Builder
		fmt.Fprintf(&b, `{"model":"bench","model_version":"1","timestamp":"2026-11-25T20:%02d:%02d.%03dZ","request_id":"r-%d","features":{`, i/60%60, i%60, i%1000, i)
		for j := range 20 {
			fmt.Fprintf(&b, `"f%02d":%.6g,`, j, rng.NormFloat64())
		}
		for j := range 5 {
			fmt.Fprintf(&b, `"c%02d":"%c",`, j, 'a'+rng.IntN(8))
		}
		s := strings.TrimSuffix(b.String(), ",")
		out[i] = []byte(s + fmt.Sprintf(`},"prediction":%.4f}`, rng.Float64()))
	}
	return out
}

func BenchmarkDecode(b *testing.B) {
	evs := benchEvents(1024)
	var bytes int64
	for _, e := range evs {
		bytes += int64(len(e))
	}
	b.Run("driftd", func(b *testing.B) {
		d, _ := NewDecoder(Canonical, 0)
		b.SetBytes(bytes / int64(len(evs)))
		b.ReportAllocs()
		for i := range b.N {
			if _, err := d.Decode(evs[i&1023]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json-map", func(b *testing.B) {
		b.SetBytes(bytes / int64(len(evs)))
		b.ReportAllocs()
		for i := range b.N {
			var m map[string]any
			if err := json.Unmarshal(evs[i&1023], &m); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkDecodeValues decodes an event and reads every numeric value,
// as the detector does: the decoder's own conversion where it made one,
// strconv.ParseFloat otherwise.
func BenchmarkDecodeValues(b *testing.B) {
	evs := benchEvents(1024)
	d, _ := NewDecoder(Canonical, 0)
	b.ReportAllocs()
	b.ResetTimer()
	var sum float64
	for i := range b.N {
		ev, err := d.Decode(evs[i&1023])
		if err != nil {
			b.Fatal(err)
		}
		for _, f := range ev.Features {
			if f.Value.Kind != detector.Number {
				continue
			}
			x := f.Value.Num
			if !f.Value.Parsed {
				x, _ = strconv.ParseFloat(string(f.Value.Text), 64)
			}
			sum += x
		}
	}
	runtime.KeepAlive(sum)
}
