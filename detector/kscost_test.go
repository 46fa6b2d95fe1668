package detector

import (
	"fmt"
	"testing"
)

// ksCostCase builds the worst cases of the KS test's cost: a reference of
// m values on a grid of 1000 distinct values (whole: every value a
// breakpoint) and a window of n events whose KS distance to it is about d.
// The window holds one event per grid value from a shift on and the rest
// on the top value, so W(x) trails the reference CDF by ≈ d.
func ksCostCase(tb testing.TB, m, n int, d float64) (*compiled, Snapshot) {
	c, win := ksCostValues(tb, m, n, d)
	return c, cellSnapshot(c, win)
}

// ksCostValues is ksCostCase's feature and its window's values.
func ksCostValues(tb testing.TB, m, n int, d float64) (*compiled, []float64) {
	xs := make([]float64, m)
	for i := range xs {
		xs[i] = float64(i % 1000)
	}
	ref := buildNumeric(tb, "x", xs, 1000)
	c, err := compile(ref.Features[0])
	if err != nil {
		tb.Fatal(err)
	}
	win := make([]float64, n)
	shifted := int(d * float64(n))
	for i := range win {
		win[i] = 999
		if i < n-shifted {
			win[i] = float64(i * 1000 / n)
		}
	}
	return c, win
}

// BenchmarkEvaluateKSWorst is one whole evaluation (every numeric test) of
// the cases whose KS p-value used to cost the most: the exact two-sample
// path with a whole reference of 10,000 values at D = 0.03, 0.1, 0.3
// (n = 1000), and kstwo's Durbin branch at n_eff ≈ 980, D ≈ 0.012 (policy
// ks_method asymp, reference of 100,000 values), and the Pomeranz
// recursion of small windows (n_eff ≈ 124, D ≈ 0.18). α = 1e-7. The
// window is a count window of n events with the default hop (125, 110,
// 31), evaluated as the monitor does at a pane close (benchEvaluate).
func BenchmarkEvaluateKSWorst(b *testing.B) {
	type tc struct {
		name   string
		m, n   int
		d      float64
		method string
	}
	var cases []tc
	for _, d := range []float64{0.03, 0.1, 0.3} {
		cases = append(cases, tc{fmt.Sprintf("exact/m=10000/d=%g", d), 10000, 1000, d, KSMethodAuto})
	}
	cases = append(cases, tc{"durbin/n=990/d=0.012", 100000, 990, 0.013, KSMethodAsymp})
	cases = append(cases, tc{"pomeranz/n=124/d=0.18", 100000, 124, 0.18, KSMethodAsymp})
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			c, xs := ksCostValues(b, tc.m, tc.n, tc.d)
			p := DefaultPolicy()
			p.KSMethod = tc.method
			out := benchEvaluate(b, c, xs, &p)
			b.ReportMetric(out[0].Statistic, "D")
		})
	}
}

// TestKSDirectMatchesCritical: time windows decide by the p-value itself
// (critTable.direct), count windows by cached critical values; on the
// same windows and levels the two agree, on the exact path and on kstwo's.
func TestKSDirectMatchesCritical(t *testing.T) {
	for _, tc := range []struct {
		m, n   int
		d      float64
		method string
	}{{10000, 1000, 0.03, KSMethodAuto}, {2000, 1000, 0.08, KSMethodAuto}, {3000, 500, 0.12, KSMethodAuto},
		{100000, 990, 0.013, KSMethodAsymp}, {100000, 990, 0.09, KSMethodAsymp}, {100000, 124, 0.18, KSMethodAsymp}} {
		c, s := ksCostCase(t, tc.m, tc.n, tc.d)
		p := DefaultPolicy()
		p.KSMethod = tc.method
		p.KSMinEffect = 0 // decide at every D
		direct, _ := ksCostCase(t, tc.m, tc.n, tc.d)
		direct.crit.direct = true
		for _, alpha := range []float64{1e-9, 1e-7, 1e-5, 1e-3, 1e-2} {
			a := c.evaluate(s, &p, alpha, nil)[0]
			b := direct.evaluate(s, &p, alpha, nil)[0]
			if a.Test != TestKS || b.Test != TestKS {
				t.Fatal("first result is not KS")
			}
			if a.Drifting != b.Drifting || a.Holding != b.Holding || a.Severe != b.Severe {
				t.Errorf("m=%d n=%d D=%.3f α=%g: critical %v/%v/%v, direct %v/%v/%v (p %g)", tc.m, tc.n, a.Statistic, alpha,
					a.Drifting, a.Holding, a.Severe, b.Drifting, b.Holding, b.Severe, b.PValue)
			}
		}
	}
}
