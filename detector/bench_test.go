package detector

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"

	"github.com/driftd/driftd/window"
)

// benchFeature is a numeric feature with r = 1000 breakpoints built from
// 100,000 N(0, 1) values, and the cell counts of a 1000-event window
// shifted by shift reference standard deviations.
func benchFeature(b *testing.B, shift float64) (*compiled, Snapshot) {
	return benchFeatureAt(b, shift, 1)
}

func benchFeatureScaled(b *testing.B, variance float64) (*compiled, Snapshot) {
	return benchFeatureAt(b, 0, math.Sqrt(variance))
}

func benchFeatureAt(b *testing.B, shift, sd float64) (*compiled, Snapshot) {
	c, xs := benchValues(b, shift, sd)
	return c, cellSnapshot(c, xs)
}

// benchValues is benchFeatureAt's feature and its window's 1000 values.
func benchValues(b *testing.B, shift, sd float64) (*compiled, []float64) {
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
	win := make([]float64, 1000)
	for i := range win {
		win[i] = sd*rng.NormFloat64() + shift
	}
	return c, win
}

// cellSnapshot is the snapshot of a window holding xs given by its cell
// counts, as event-time windows give theirs.
func cellSnapshot(c *compiled, xs []float64) Snapshot {
	s := Snapshot{Counts: make([]uint32, c.layout.Cells())}
	for _, x := range xs {
		s.Counts[c.breaks.Cell(x)]++
		s.Moments.Add(x)
	}
	return s
}

// benchEvaluate runs b.N evaluations of a count window holding xs (hop
// DefaultHop(len(xs))) as the monitor makes one when a pane closes: the
// closed pane's score sums and the window's (countSnapshot), then
// compiled.evaluate with its decisions. It returns the last results.
func benchEvaluate(b *testing.B, c *compiled, xs []float64, p *Policy) []Result {
	f := countFeature(b, c, len(xs), DefaultHop(len(xs)))
	var scratch paneScratch
	for _, x := range xs {
		if f.addValue(x) {
			f.countSnapshot(&scratch)
		}
	}
	return benchSnapshots(b, c, p, func() Snapshot { return f.countSnapshot(&scratch) })
}

// benchSnapshots runs b.N evaluations of the snapshots snapshot takes. It
// returns the last results.
func benchSnapshots(b *testing.B, c *compiled, p *Policy, snapshot func() Snapshot) []Result {
	// The first call fills the critical-value caches, as a feature's
	// first evaluations past the gate do once.
	out := c.evaluate(snapshot(), p, 1e-7, nil)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		out = c.evaluate(snapshot(), p, 1e-7, out[:0])
	}
	return out
}

// benchEvaluateTime runs b.N evaluations of an event-time window holding
// xs in 8 panes of 1 s (len(xs)/8 events each) as the monitor makes one
// when the watermark closes a pane: the closed pane's score sums and the
// window's (timeSnapshot), then compiled.evaluate with its decisions. It
// returns the last results.
func benchEvaluateTime(b *testing.B, c *compiled, xs []float64, p *Policy) []Result {
	clock, err := window.NewTimeClock(8000, 1000, 0)
	if err != nil {
		b.Fatal(err)
	}
	// Time windows decide by the p-values themselves (critTable.direct),
	// as NewMonitor sets for them.
	c.crit.direct = true
	f := timeFeature(b, c, clock)
	var scratch paneScratch
	// One event past the last closes the window's eighth pane.
	for i := range len(xs) + 1 {
		pane, _ := clock.Observe(int64(i * 8000 / len(xs)))
		for due, ok := clock.Due(); ok; due, ok = clock.Due() {
			clock.Advance()
			f.tw.Close(due)
			f.timeSnapshot(&scratch)
		}
		if i < len(xs) {
			f.tw.Add(pane, c.breaks.Cell(xs[i]), xs[i]-c.centre)
		}
	}
	if f.tw.N() != uint64(len(xs)) {
		b.Fatalf("window of %d events, want %d", f.tw.N(), len(xs))
	}
	return benchSnapshots(b, c, p, func() Snapshot { return f.timeSnapshot(&scratch) })
}

// BenchmarkEvaluateKSWelch is one evaluation of a numeric feature at
// r = 1000 on a count window of 1000 events advancing by 125: the exact KS
// distance scan over the 2001 cells, its p-value, the mean test and the
// scale test (named for the Welch test the mean test replaced, so figures
// stay comparable), whose window sums come from the closed pane's (125
// events) and the window's 8 panes' (see benchEvaluate), through
// compiled.evaluate with its decisions (and the three rate tests). "h0"
// is a stable window (D ≈ 0.03), "drift" a window shifted by 0.5 sd
// (D ≈ 0.2).
func BenchmarkEvaluateKSWelch(b *testing.B) { benchShifts(b, benchEvaluate) }

// benchShifts runs eval on benchValues' feature and window, "h0" stable,
// "drift" shifted by 0.5 sd.
func benchShifts(b *testing.B, eval func(b *testing.B, c *compiled, xs []float64, p *Policy) []Result) {
	for _, tc := range []struct {
		name  string
		shift float64
	}{{"h0", 0}, {"drift", 0.5}} {
		b.Run(tc.name, func(b *testing.B) {
			c, xs := benchValues(b, tc.shift, 1)
			p := DefaultPolicy()
			eval(b, c, xs, &p)
		})
	}
}

// BenchmarkEvaluateTime is BenchmarkEvaluateKSWelch on an event-time
// window: 1000 events in 8 panes of 1 s, 32-bit cells, the closed pane's
// sums and the window's (see benchEvaluateTime).
func BenchmarkEvaluateTime(b *testing.B) { benchShifts(b, benchEvaluateTime) }

// BenchmarkScale is the scale test alone, its cell scores computed on
// their own: "h0" below the resolve band, "drift" a window with its
// variance × 1.5.
func BenchmarkScale(b *testing.B) {
	for _, tc := range []struct {
		name  string
		scale float64
	}{{"h0", 1}, {"drift", 1.5}} {
		b.Run(tc.name, func(b *testing.B) {
			c, s := benchFeatureScaled(b, tc.scale)
			p := DefaultPolicy()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				c.scores = cellScores{}
				if _, ok := c.scaleTest(s, &p); !ok {
					b.Fatal("no scale")
				}
			}
		})
	}
}

// BenchmarkMeanShift is the mean test alone at r = 1000: "h0" a stable
// window at the default gate (the effect is below the resolve band: the
// cell scan and the normal approximation), "h0_gates_off" the same window
// with the gate at 0 (the saddlepoint search runs), "drift" a window
// shifted by 0.5 sd (saddlepoint).
func BenchmarkMeanShift(b *testing.B) {
	for _, tc := range []struct {
		name  string
		shift float64
		gate  float64
	}{{"h0", 0, 0.1}, {"h0_gates_off", 0, 0}, {"drift", 0.5, 0.1}} {
		b.Run(tc.name, func(b *testing.B) {
			c, s := benchFeature(b, tc.shift)
			p := DefaultPolicy()
			p.MeanShiftMinEffect = tc.gate
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				c.scores = cellScores{} // as evaluate does
				if _, ok := c.meanShift(s, &p); !ok {
					b.Fatal("no mean shift")
				}
			}
		})
	}
}

// BenchmarkMonitorEvent is the detector's share of one event: routing 20
// numeric feature values to their windows (N = 1000, H = 125, r = 1000),
// with the evaluations every 125th event brings, amortised.
func BenchmarkMonitorEvent(b *testing.B) { benchMonitorEvent(b, nil) }

func benchMonitorEvent(b *testing.B, ps *Policies) {
	rng := rand.New(rand.NewPCG(32, 32))
	ref := normalReference(b, rng, 20, 20000, 0, 1)
	m, err := NewMonitor(ref, ps, DefaultWindow())
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

// syntheticReference is a reference of d numeric features with r
// breakpoints each, built directly (no training data), for memory tests.
func syntheticReference(model string, d, r int) *Reference {
	ref := &Reference{Schema: ReferenceSchema, Model: model, Version: "1", Rows: int64(r) * 100}
	for i := range d {
		f := &FeatureRef{Name: fmt.Sprintf("f%03d", i), Kind: Numeric, Count: int64(r) * 100, Min: 0, Max: float64(r - 1), Mean: float64(r-1) / 2, Variance: 1}
		f.Breakpoints = make([]float64, r)
		f.Ranks = make([]int64, r)
		for j := range r {
			f.Breakpoints[j] = float64(j)
			f.Ranks[j] = int64(j+1) * 100
		}
		f.CDFError = 0.001
		ref.Features = append(ref.Features, f)
	}
	ref.ID = ref.computeID()
	return ref
}

// BenchmarkMemory10kWindows reports the memory of 10,000 feature windows
// (100 models × 100 features, r = 1000) at N = 10,000, each window
// filled and evaluated once, references included: Go heap in use and the
// process's resident set.
func BenchmarkMemory10kWindows(b *testing.B) {
	if os.Getenv("DRIFTD_HEAP_PROFILE") != "" {
		runtime.MemProfileRate = 4096
	}
	for range b.N {
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		monitors := make([]*Monitor, 100)
		cfg := WindowConfig{Size: 10000, Hop: 1250}
		var out Output
		for i := range monitors {
			m, err := NewMonitor(syntheticReference(fmt.Sprintf("m%03d", i), 100, 1000), nil, cfg)
			if err != nil {
				b.Fatal(err)
			}
			monitors[i] = m
			names := featureNames(100)
			for e := range 10000 {
				m.Begin(GroupFeatures, int64(e), int64(e), &out)
				for j := range names {
					m.Value(j, names[j], Value{Kind: Number, Num: float64((e*7 + j) % 1000), Parsed: true})
				}
				m.End(&out)
				out.Reset()
			}
		}
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapInuse-before.HeapInuse)/(1<<20), "heap-MiB")
		if path := os.Getenv("DRIFTD_HEAP_PROFILE"); path != "" {
			writeHeapProfile(b, path) // where the memory goes, by allocation site
		}
		b.ReportMetric(float64(rssBytes())/(1<<20), "rss-MiB")
		// What a long-running process settles at once the runtime has
		// returned the start-up garbage to the OS.
		debug.FreeOSMemory()
		b.ReportMetric(float64(rssBytes())/(1<<20), "settled-rss-MiB")
		runtime.KeepAlive(monitors)
	}
}

// rssBytes is the process's resident set size (Linux), 0 elsewhere.
func rssBytes() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// BenchmarkCUSUMPane is the cusum test's cost per pane close, on a
// feature with r = 1000 breakpoints and panes of 125 events: the pane's
// cells counted in cell order and scored (the mean and scale sums, which
// the window's evaluation reuses), its normal score (the table;
// the saddlepoint where the table defers to it), the CUSUM step, and the
// result with its p-value — plus, to make the pane, 125 cells added to the
// window (≈ 20 instructions each), which the event path pays anyway. "h0"
// panes are drawn from the reference, "drift" panes are shifted 0.25 sd.
func BenchmarkCUSUMPane(b *testing.B) {
	for _, tc := range []struct {
		name  string
		shift float64
	}{{"h0", 0}, {"drift", 0.25}} {
		b.Run(tc.name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(33, 33))
			ref := normalReference(b, rng, 1, 100000, 0, 1)
			m, err := NewMonitor(ref, nil, DefaultWindow())
			if err != nil {
				b.Fatal(err)
			}
			f := m.features[0]
			// A full window, then 64 prepared panes fed in turn.
			for range 1000 {
				f.cw.Add(f.c.breaks.Cell(rng.NormFloat64()+tc.shift), 0)
			}
			panes := make([][]uint16, 64)
			for i := range panes {
				panes[i] = make([]uint16, 125)
				for j := range panes[i] {
					panes[i][j] = uint16(f.c.breaks.Cell(rng.NormFloat64() + tc.shift))
				}
			}
			alpha := m.Alpha(125)
			var scratch paneScratch
			s := Snapshot{CUSUM: &f.cusum}
			f.c.cusumTest(s, alpha) // the threshold search, once per monitor
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				for _, c := range panes[i&63] {
					f.cw.AddCell(int(c))
				}
				f.sumPane(f.cw.Closed()-1, &scratch)
				f.stepCUSUM(f.cw.Closed() - 1)
				if _, ok := f.c.cusumTest(s, alpha); !ok {
					b.Fatal("no result")
				}
				if f.cusum.Statistic() > 1e6 {
					f.cusum.Reset()
				}
			}
		})
	}
}

// BenchmarkMonitorEventNoCUSUM is BenchmarkMonitorEvent with the cusum
// test disabled: the difference is its amortised cost per event.
func BenchmarkMonitorEventNoCUSUM(b *testing.B) {
	p := DefaultPolicy()
	p.Disabled = []Test{TestCUSUM}
	ps, err := NewPolicies(p)
	if err != nil {
		b.Fatal(err)
	}
	benchMonitorEvent(b, ps)
}

// writeHeapProfile writes the live heap to path (pprof format), sampled
// every 4 KB allocated since the benchmark set the rate.
func writeHeapProfile(b *testing.B, path string) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.WriteHeapProfile(f); err != nil {
		b.Fatal(err)
	}
}
