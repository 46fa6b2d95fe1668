package detector

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkDecodeReference is the cost of loading one reference from its
// encoded form (what driftd does for every record of the reference
// topic): 20 numeric features with r = 1000 breakpoints from 20,000 rows.
// MB/s is per encoded byte. "json" is the encoding/json path every
// reference took before the fast parser (decode, validation, ID check),
// "fast" DecodeReference. Interleaved:
//
//	for i in 1 2 3 4 5 6; do go test ./detector -run XXX -bench DecodeReference -benchtime 20x; done | benchstat -col /path -
func BenchmarkDecodeReference(b *testing.B) {
	rng := rand.New(rand.NewPCG(41, 41))
	ref := normalReference(b, rng, 20, 20000, 0, 1)
	data, err := ref.Encode()
	if err != nil {
		b.Fatal(err)
	}
	b.Run("path=json", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			var r Reference
			if err := decodeStrict(data, &r); err != nil {
				b.Fatal(err)
			}
			if err := r.Validate(); err != nil {
				b.Fatal(err)
			}
			if r.computeID() != r.ID {
				b.Fatal("id")
			}
		}
	})
	b.Run("path=fast", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := DecodeReference(data); err != nil {
				b.Fatal(err)
			}
		}
	})
}
