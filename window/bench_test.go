package window

import (
	"math/rand/v2"
	"runtime"
	"testing"
)

// benchValues are normal values: the per-value benchmarks cycle through
// them so the branch predictor cannot learn one path.
func benchValues(n int) []float64 {
	rng := rand.New(rand.NewPCG(1, 1))
	xs := make([]float64, n)
	for i := range xs {
		xs[i] = rng.NormFloat64() * 10
	}
	return xs
}

// BenchmarkWindowUpdate is the per-value cost of a numeric feature: the
// reference-cell search over r = 1000 breakpoints and the count-window
// update (ring, counts, Welford), at N = 1000, H = 125.
func BenchmarkWindowUpdate(b *testing.B) {
	br := testBreaks(b, 1000)
	w, _ := NewCountWindow(br.Layout(), 1000, 125)
	xs := benchValues(4096)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		x := xs[i&4095]
		w.Add(br.Cell(x), x)
	}
}

// BenchmarkCell is the reference-cell search alone (r = 1000).
func BenchmarkCell(b *testing.B) {
	br := testBreaks(b, 1000)
	xs := benchValues(4096)
	b.ReportAllocs()
	sink := 0
	for i := range b.N {
		sink += br.Cell(xs[i&4095])
	}
	runtime.KeepAlive(sink)
}

// BenchmarkWindowBytes reports the memory of one feature window at r = 1000
// for N = 1000 and N = 10000, measured as heap growth over 1000 windows.
func BenchmarkWindowBytes(b *testing.B) {
	for _, size := range []int{1000, 10000} {
		b.Run(map[int]string{1000: "N=1000", 10000: "N=10000"}[size], func(b *testing.B) {
			br := testBreaks(b, 1000)
			b.ReportAllocs()
			var perWindow float64
			for range b.N {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				ws := make([]*CountWindow, 1000)
				for i := range ws {
					ws[i], _ = NewCountWindow(br.Layout(), size, size/8)
				}
				runtime.ReadMemStats(&after)
				perWindow = float64(after.HeapAlloc-before.HeapAlloc) / float64(len(ws))
				runtime.KeepAlive(ws)
			}
			b.ReportMetric(perWindow, "bytes/window")
		})
	}
}
