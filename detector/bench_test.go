package detector

import (
	"math/rand/v2"
	"testing"
)

// benchFeature is a numeric feature with r = 1000 breakpoints built from
// 100,000 N(0, 1) values, and the cell counts of a 1000-event window
// shifted by shift reference standard deviations.
func benchFeature(b *testing.B, shift float64) (*compiled, Snapshot) {
	rng := rand.New(rand.NewPCG(31, 31))
	xs := make([]float64, 100000)
	for i := range xs {
		xs[i] = rng.NormFloat64()
	}
	ref := buildNumeric(b, "x", xs, 1000)
	c, err := compile(ref.Features[0])
	if err != nil {
		b.Fatal(err)
	}
	s := Snapshot{Counts: make([]uint32, c.layout.Cells())}
	for range 1000 {
		x := rng.NormFloat64() + shift
		s.Counts[c.breaks.Cell(x)]++
		s.Moments.Add(x)
	}
	return c, s
}

// BenchmarkEvaluateKSWelch is one evaluation of a numeric feature at
// r = 1000: the exact KS distance scan over the 2001 cells, its p-value,
// and Welch's test. "h0" is a stable window (D ≈ 0.03), "drift" a window
// shifted by 0.5 sd (D ≈ 0.2).
func BenchmarkEvaluateKSWelch(b *testing.B) {
	for _, tc := range []struct {
		name  string
		shift float64
	}{{"h0", 0}, {"drift", 0.5}} {
		b.Run(tc.name, func(b *testing.B) {
			c, s := benchFeature(b, tc.shift)
			p := DefaultPolicy()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, ok := c.ks(s, 1000, &p); !ok {
					b.Fatal("no ks")
				}
				if _, ok := c.meanShift(s); !ok {
					b.Fatal("no mean shift")
				}
			}
		})
	}
}

// BenchmarkMonitorEvent is the detector's share of one event: routing 20
// numeric feature values to their windows (N = 1000, H = 125, r = 1000),
// with the evaluations every 125th event brings, amortised.
func BenchmarkMonitorEvent(b *testing.B) {
	rng := rand.New(rand.NewPCG(32, 32))
	ref := normalReference(b, rng, 20, 20000, 0, 1)
	m, err := NewMonitor(ref, nil, DefaultWindow())
	if err != nil {
		b.Fatal(err)
	}
	names := featureNames(20)
	vals := make([][20]float64, 4096)
	for i := range vals {
		for j := range vals[i] {
			vals[i][j] = rng.NormFloat64()
		}
	}
	var out Output
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		m.Begin(GroupFeatures, int64(i), int64(i), &out)
		v := &vals[i&4095]
		for j := range v {
			m.Value(j, names[j], Value{Kind: Number, Num: v[j], Parsed: true})
		}
		m.End(&out)
		if len(out.Evaluations) > 64 {
			out.Reset()
		}
	}
	b.ReportMetric(float64(b.N)*20/b.Elapsed().Seconds(), "values/s")
}
