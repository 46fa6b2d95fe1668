package detector

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkDecodeReference is the cost of loading one reference from its
// encoded form (what driftd does for every record of the reference
// topic): 20 numeric features with r = 1000 breakpoints from 20,000 rows.
// MB/s is per encoded byte.
//
//	go test ./detector -run XXX -bench DecodeReference -count 6 | benchstat -
func BenchmarkDecodeReference(b *testing.B) {
	rng := rand.New(rand.NewPCG(41, 41))
	ref := normalReference(b, rng, 20, 20000, 0, 1)
	data, err := ref.Encode()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeReference(data); err != nil {
			b.Fatal(err)
		}
	}
}
