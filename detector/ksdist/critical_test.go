package ksdist

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// randomLevel draws a p-value threshold log-uniformly in [1e-12, 0.1]:
// the range drift thresholds (α = hop/(ERT·tests)) and their resolve and
// severe companions fall in.
func randomLevel(rng *rand.Rand) float64 {
	return math.Pow(10, -1-11*rng.Float64())
}

// TestKolmogorovCriticalDecisions: for random (n, level) the critical
// value x* separates the statistics kstwo.sf calls significant from the
// others: sf(x*) < level <= sf(x* − 1 ulp), and for random d the decision
// d >= x* equals sf(n, d) < level.
func TestKolmogorovCriticalDecisions(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	cases, decisions := 300, 0
	if testing.Short() {
		cases = 60
	}
	for range cases {
		n := 1 + int(math.Pow(10, 5*rng.Float64())) // 1 .. 100000
		level := randomLevel(rng)
		x := KolmogorovCritical(n, level)
		if !(x > 0 && x <= 1) {
			t.Fatalf("n=%d level=%g: critical %v", n, level, x)
		}
		if p := KolmogorovSF(n, x); !(p < level) {
			t.Errorf("n=%d level=%g: sf(x*=%v) = %v, not below", n, level, x, p)
		}
		if below := math.Nextafter(x, 0); KolmogorovSF(n, below) < level {
			t.Errorf("n=%d level=%g: sf just below x*=%v is %v, already below", n, level, x, KolmogorovSF(n, below))
		}
		for range 40 {
			// Half the draws near x*, half anywhere.
			d := rng.Float64()
			if rng.IntN(2) == 0 {
				d = x * (1 + 0.02*(rng.Float64()-0.5))
			}
			decisions++
			if got, want := d >= x, KolmogorovSF(n, d) < level; got != want {
				t.Errorf("n=%d level=%g d=%v: critical decision %v, p-value decision %v (sf %v, x* %v)",
					n, level, d, got, want, KolmogorovSF(n, d), x)
			}
		}
	}
	t.Logf("%d decisions compared", decisions)
}

// TestTwoSampCriticalHDecisions: for random (n1, n2, level, method) the
// critical lattice distance h* separates the significant h: p(h*) < level
// <= p(h* − 1), and for random h the decision h >= h* equals
// TwoSampPValueH(h) < level. Sizes are kept below a few thousand so the
// exact p-values stay affordable in a unit test.
func TestTwoSampCriticalHDecisions(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	cases, decisions := 400, 0
	if testing.Short() {
		cases = 30
	}
	for i := range cases {
		n1 := 2 + int(math.Pow(10, 3*rng.Float64())) // 2 .. 1000
		n2 := 2 + int(math.Pow(10, 3.3*rng.Float64()))
		if i%5 == 0 {
			n2 = n1 // the equal-n (square) path
		}
		method := []Method{Auto, Exact, Asymp}[rng.IntN(3)]
		level := randomLevel(rng)
		p := func(h int64) float64 {
			v, _ := TwoSampPValueH(h, n1, n2, method)
			return v
		}
		lcm := TwoSampLCM(n1, n2)
		h := TwoSampCriticalH(n1, n2, level, method)
		if h < 0 || h > lcm+1 {
			t.Fatalf("n=%d,%d level=%g: critical h %d outside [0, %d]", n1, n2, level, h, lcm+1)
		}
		if h <= lcm && !(p(h) < level) {
			t.Errorf("n=%d,%d %v level=%g: p(h*=%d) = %v, not below", n1, n2, method, level, h, p(h))
		}
		if h > 0 && p(h-1) < level {
			t.Errorf("n=%d,%d %v level=%g: p(h*−1=%d) = %v, already below", n1, n2, method, level, h-1, p(h-1))
		}
		for range 8 {
			var hh int64
			if rng.IntN(2) == 0 {
				hh = rng.Int64N(lcm + 1)
			} else {
				hh = max(0, min(lcm, h+rng.Int64N(21)-10))
			}
			decisions++
			if got, want := hh >= h, p(hh) < level; got != want {
				t.Errorf("n=%d,%d %v level=%g h=%d: critical decision %v, p-value decision %v (p %v, h* %d)",
					n1, n2, method, level, hh, got, want, p(hh), h)
			}
		}
	}
	t.Logf("%d decisions compared", decisions)
}

// TestKolmogorovSFBoundedError: where KolmogorovSFBounded replaces
// Durbin's matrix or Pomeranz's recursion by Pelz–Good, the sf is above
// 0.9 (n > 140) or 3e-4 (30 <= n <= 140) and the substitute is within
// 1e-5 (n > 140) or 1e-4 of it; elsewhere it is KolmogorovSF bit for bit.
func TestKolmogorovSFBoundedError(t *testing.T) {
	check := func(ns []int, ds func(n int) []float64, minSF, tol float64) {
		worst := 0.0
		for _, n := range ns {
			for _, d := range ds(n) {
				got, exact := KolmogorovSFBounded(n, d)
				want := KolmogorovSF(n, d)
				if exact {
					if got != want {
						t.Errorf("n=%d d=%v: bounded %v, sf %v", n, d, got, want)
					}
					continue
				}
				if want < minSF {
					t.Errorf("n=%d d=%v: substituted where sf = %v", n, d, want)
				}
				worst = math.Max(worst, math.Abs(got-want))
				if math.Abs(got-want) > tol {
					t.Errorf("n=%d d=%v: Pelz–Good %v, exact %v", n, d, got, want)
				}
			}
		}
		t.Logf("n %d..%d: largest |Pelz–Good − exact| where substituted: %.3g", ns[0], ns[len(ns)-1], worst)
	}
	check([]int{141, 200, 500, 980, 1000, 3000, 10000, 50000, 100000}, func(n int) []float64 {
		var ds []float64
		for i := 1; i <= 100; i++ {
			ds = append(ds, float64(i)/100*2*math.Pow(1.4/float64(n), 2.0/3))
		}
		return ds
	}, 0.9, 1e-5)
	var small []int
	for n := 2; n <= 140; n++ {
		small = append(small, n)
	}
	check(small, func(n int) []float64 {
		var ds []float64
		for i := 1; i < 200; i++ {
			ds = append(ds, float64(i)/200)
		}
		return ds
	}, 3e-4, 1e-4)
}

// BenchmarkCriticalSearch is the one-time cost of a critical value: the
// exact two-sample search at n = 1000 against a whole reference of m
// values, and kstwo's at n = 980, at level 1e-7.
func BenchmarkCriticalSearch(b *testing.B) {
	for _, m := range []int{2000, 10000} {
		b.Run(fmt.Sprintf("twosamp/n=1000/m=%d", m), func(b *testing.B) {
			for range b.N {
				if h := TwoSampCriticalH(1000, m, 1e-7, Auto); h <= 0 {
					b.Fatal(h)
				}
			}
		})
	}
	b.Run("kstwo/n=980", func(b *testing.B) {
		for range b.N {
			if x := KolmogorovCritical(980, 1e-7); !(x > 0) {
				b.Fatal(x)
			}
		}
	})
}
