package ksdist

// Tests for ksdist.go that do not depend on scipy: edge cases, exact
// combinatorial ground truth computed with big integers or big floats, and
// agreement between independent algorithms. The scipy comparisons live in
// golden_test.go.

import (
	"fmt"
	"math"
	"math/big"
	"testing"
)

// TestKolmogorovSFEdges pins the documented results for out-of-range input
// and the closed forms that need no algorithm at all.
func TestKolmogorovSFEdges(t *testing.T) {
	nan := math.NaN()
	cases := []struct {
		name    string
		n       int
		d       float64
		sf, cdf float64
	}{
		// Invalid input gives NaN (scipy: NaN for n <= 0 and for NaN d).
		{"n=0", 0, 0.1, nan, nan},
		{"n<0", -3, 0.1, nan, nan},
		{"NaN d", 10, nan, nan, nan},
		// Outside (0, 1) the distribution is degenerate.
		{"d<0", 10, -0.5, 1, 0},
		{"d=0", 10, 0, 1, 0},
		{"d=1", 10, 1, 0, 1},
		{"d>1", 10, 7, 0, 1},
		{"d=-Inf", 10, math.Inf(-1), 1, 0},
		{"d=+Inf", 10, math.Inf(1), 0, 1},
		// D_n >= 1/(2n) always, so P(D_n >= d) = 1 for d <= 1/(2n).
		{"t<=1/2", 100, 0.005, 1, 0},
		// n = 1: D_1 = max(U, 1-U) is uniform on [1/2, 1], so sf = 2(1-d).
		{"n=1 d=0.75", 1, 0.75, 0.5, 0.5},
		{"n=1 d=0.6", 1, 0.6, 0.8, 0.2},
		// t >= n-1: sf = 2(1-d)^n exactly (Ruben–Gambino); n=3, d=0.7.
		{"n=3 d=0.7", 3, 0.7, 2 * 0.3 * 0.3 * 0.3, 1 - 2*0.3*0.3*0.3},
	}
	for _, c := range cases {
		sf, cdf := KolmogorovSF(c.n, c.d), KolmogorovCDF(c.n, c.d)
		if !sameFloat(sf, c.sf, 1e-15) || !sameFloat(cdf, c.cdf, 1e-15) {
			t.Errorf("%s: sf, cdf = %v, %v; want %v, %v", c.name, sf, cdf, c.sf, c.cdf)
		}
	}
}

// sameFloat reports whether a and b are both NaN or within tol.
func sameFloat(a, b, tol float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	if math.IsInf(a, 0) || math.IsInf(b, 0) {
		return a == b
	}
	return math.Abs(a-b) <= tol
}

// TestKolmogorovSFDurbinVsPomeranz: Durbin's matrix method and the Pomeranz
// recursion are two independent exact algorithms for the same CDF, so they
// must agree wherever both are run, whichever one scipy's routing picks.
func TestKolmogorovSFDurbinVsPomeranz(t *testing.T) {
	worst := 0.0
	for _, n := range []int{2, 3, 5, 10, 17, 40, 80, 140} {
		for i := 1; i < 60; i++ {
			x := float64(i) / 120
			if float64(n)*x <= 1 || float64(n)*x >= float64(n)-1 || x >= 0.5 {
				continue // closed-form regions
			}
			a, b := kolmognDMTW(n, x), kolmognPomeranz(n, x)
			if e := math.Abs(a - b); e > worst {
				worst = e
			}
			if math.Abs(a-b) > 1e-12 {
				t.Errorf("n=%d x=%v: Durbin %.17g, Pomeranz %.17g", n, x, a, b)
			}
		}
	}
	t.Logf("max |Durbin - Pomeranz| = %.3g", worst)
}

// TestKolmogorovSFTwoSmirnovExact: for d >= 1/2 the events D+ >= d and
// D- >= d are disjoint, so P(D_n >= d) = 2·smirnov(n, d) exactly; the
// Durbin matrix must reproduce it.
func TestKolmogorovSFTwoSmirnovExact(t *testing.T) {
	for _, n := range []int{3, 4, 7, 12, 30} {
		for _, x := range []float64{0.5, 0.55, 0.6, 0.65} {
			if float64(n)*x >= float64(n)-1 {
				continue
			}
			want := 2 * SmirnovSF(n, x)
			got := 1 - kolmognDMTW(n, x)
			if math.Abs(got-want) > 1e-12 {
				t.Errorf("n=%d x=%v: 1-Durbin %.17g, 2·smirnov %.17g", n, x, got, want)
			}
		}
	}
}

// TestKolmogorovSFMonotone sweeps d across every routing boundary for
// several n: the sf must be non-increasing, and CDF + SF must be 1 wherever
// both come from the same branch. (For n > 140 and n·d² >= 2.2 scipy takes
// the sf from 2·smirnov, which drops the tiny two-sided intersection term,
// and the cdf from Pelz–Good or 1, so the two differ there by up to ~5e-7,
// in scipy as here.) A mis-ported branch shows up as a jump at its boundary.
func TestKolmogorovSFMonotone(t *testing.T) {
	for _, n := range []int{7, 60, 140, 141, 400, 1000, 20000, 150000} {
		prev := 1.0
		const steps = 2000
		worstRise, worstSum := 0.0, 0.0
		for i := 0; i <= steps; i++ {
			d := float64(i) / steps
			sf, sfPath := kolmogn(n, d, false)
			cdf, cdfPath := kolmogn(n, d, true)
			worstRise = math.Max(worstRise, sf-prev)
			if sf > prev+1e-12 {
				t.Errorf("n=%d d=%v (%v): sf %.17g rises from %.17g", n, d, sfPath, sf, prev)
			}
			if sfPath == cdfPath {
				worstSum = math.Max(worstSum, math.Abs(sf+cdf-1))
				if math.Abs(sf+cdf-1) > 1e-15 {
					t.Errorf("n=%d d=%v (%v): sf+cdf = %.17g", n, d, sfPath, sf+cdf)
				}
			}
			prev = sf
		}
		t.Logf("n=%d: max sf rise %.3g, max |sf+cdf-1| (same branch) %.3g", n, worstRise, worstSum)
	}
}

// TestSmirnovSFEdges pins the documented edge results and closed forms.
func TestSmirnovSFEdges(t *testing.T) {
	nan := math.NaN()
	cases := []struct {
		name string
		n    int
		d    float64
		want float64
	}{
		{"n=0", 0, 0.3, nan},
		{"NaN", 5, nan, nan},
		{"d<0 (extension)", 5, -1, 1},
		{"d>1 (extension)", 5, 2, 0},
		{"d=0", 5, 0, 1},
		{"d=1", 5, 1, 0},
		// n = 1: D+ = 1 - U is uniform, sf = 1 - d.
		{"n=1", 1, 0.3, 0.7},
		// d >= 1 - 1/n: sf = (1-d)^n.
		{"d>=1-1/n", 4, 0.8, math.Pow(0.2, 4)},
		// d <= 1/n: sf = 1 - d(1+d)^(n-1).
		{"d<=1/n", 4, 0.2, 1 - 0.2*math.Pow(1.2, 3)},
	}
	for _, c := range cases {
		if got := SmirnovSF(c.n, c.d); !sameFloat(got, c.want, 1e-15) {
			t.Errorf("%s: SmirnovSF(%d, %v) = %v, want %v", c.name, c.n, c.d, got, c.want)
		}
	}
}

// TestSmirnovSFBigFloat compares the float64 log-space sum with the
// Birnbaum–Tingey sum evaluated term by term in 256-bit big.Float
// arithmetic, an independent ground truth.
func TestSmirnovSFBigFloat(t *testing.T) {
	worst := 0.0
	for _, n := range []int{2, 5, 10, 25, 60, 150} {
		for _, d := range []float64{0.01, 0.05, 0.1, 0.137, 0.25, 0.4, 0.5, 0.71, 0.9} {
			want := smirnovBig(n, d)
			got := SmirnovSF(n, d)
			if want > 1e-300 {
				if rel := math.Abs(got-want) / want; rel > worst {
					worst = rel
				}
			}
			if math.Abs(got-want) > 1e-13*math.Max(want, 1e-3) {
				t.Errorf("n=%d d=%v: SmirnovSF %.17g, big %.17g", n, d, got, want)
			}
		}
	}
	t.Logf("max relative error vs big.Float: %.3g", worst)
}

// smirnovBig evaluates sf = d·Σ_{v=0}^{⌊n(1-d)⌋} C(n,v)(d+v/n)^(v-1)(1-d-v/n)^(n-v)
// with big.Float (terms with 1-d-v/n = 0 vanish).
func smirnovBig(n int, d float64) float64 {
	const prec = 256
	nf := new(big.Float).SetPrec(prec).SetInt64(int64(n))
	df := new(big.Float).SetPrec(prec).SetFloat64(d)
	sum := new(big.Float).SetPrec(prec)
	binom := new(big.Int)
	for v := 0; v <= n; v++ {
		vn := new(big.Float).SetPrec(prec).Quo(new(big.Float).SetPrec(prec).SetInt64(int64(v)), nf)
		a := new(big.Float).SetPrec(prec).Add(df, vn)                                      // d + v/n
		b := new(big.Float).SetPrec(prec).Sub(new(big.Float).SetPrec(prec).SetInt64(1), a) // 1 - d - v/n
		if b.Sign() <= 0 {
			break
		}
		term := new(big.Float).SetPrec(prec).SetInt(binom.Binomial(int64(n), int64(v)))
		term.Mul(term, bigPow(b, n-v, prec))
		if v == 0 {
			term.Quo(term, a) // (d)^(-1)
		} else {
			term.Mul(term, bigPow(a, v-1, prec))
		}
		sum.Add(sum, term)
	}
	sum.Mul(sum, df)
	f, _ := sum.Float64()
	return f
}

func bigPow(x *big.Float, k, prec int) *big.Float {
	r := new(big.Float).SetPrec(uint(prec)).SetInt64(1)
	base := new(big.Float).SetPrec(uint(prec)).Set(x)
	for ; k > 0; k >>= 1 {
		if k&1 == 1 {
			r.Mul(r, base)
		}
		base.Mul(base, base)
	}
	return r
}

// TestKolmogorovLimitSFSeries checks kolmogorov(x) against a long direct
// alternating series 2Σ(-1)^(k-1) exp(-2k²x²), valid everywhere but slow
// to converge for small x; and against published values.
func TestKolmogorovLimitSFSeries(t *testing.T) {
	for _, x := range []float64{0.3, 0.5, 0.7, 0.82, 0.83, 1, 1.2, 1.4, 1.6, 2, 3} {
		s := 0.0
		for k := 200; k >= 1; k-- {
			sign := 1.0
			if k%2 == 0 {
				sign = -1
			}
			s += sign * math.Exp(-2*float64(k*k)*x*x)
		}
		want := 2 * s
		if got := KolmogorovLimitSF(x); math.Abs(got-want) > 1e-14 {
			t.Errorf("x=%v: %.17g, series %.17g", x, got, want)
		}
	}
	// Classic critical values (x = scipy.special.kolmogi(p)): K(1.2238) = 0.10,
	// K(1.3581) = 0.05, K(1.6276) = 0.01.
	for _, c := range []struct{ x, p float64 }{{1.2238478702170823, 0.1}, {1.3580986393225507, 0.05}, {1.6276236115189504, 0.01}} {
		if got := KolmogorovLimitSF(c.x); math.Abs(got-c.p) > 1e-12 {
			t.Errorf("kolmogorov(%v) = %v, want %v", c.x, got, c.p)
		}
	}
	if KolmogorovLimitSF(0) != 1 || KolmogorovLimitSF(-1) != 1 || KolmogorovLimitSF(math.Inf(1)) != 0 || !math.IsNaN(KolmogorovLimitSF(math.NaN())) {
		t.Error("kolmogorov edge values wrong")
	}
}

// TestKS2SampExactBruteForce checks the exact two-sided p-value against a
// direct count of monotone lattice paths with big integers: p is the
// fraction of the C(n1+n2, n1) paths from (0,0) to (n1,n2) that touch
// |i·(lcm/n1) − j·(lcm/n2)| >= h (Hodges' definition of P(D >= h/lcm)).
// This is independent of both scipy recursions.
func TestKS2SampExactBruteForce(t *testing.T) {
	worst := 0.0
	for n1 := 1; n1 <= 11; n1++ {
		for n2 := 1; n2 <= 11; n2++ {
			lcm := TwoSampLCM(n1, n2)
			for h := int64(1); h <= lcm; h++ {
				want := ks2BruteForce(n1, n2, h)
				got, used := TwoSampPValueH(h, n1, n2, Exact)
				if used != Exact {
					// Only known fallback: n1 = n2, h = 1, where scipy's
					// product rounds to 1.0000000000000002 and it falls
					// back to kstwo.sf(1/n, round(n/2)), which is ~1.
					if n1 != n2 || h != 1 || math.Abs(got-1) > 1e-3 {
						t.Errorf("%dx%d h=%d: unexpected fallback to %v (p=%v)", n1, n2, h, used, got)
					}
					continue
				}
				if e := math.Abs(got - want); e > worst {
					worst = e
				}
				if math.Abs(got-want) > 1e-13 {
					t.Errorf("%dx%d h=%d: exact p %.17g, brute force %.17g", n1, n2, h, got, want)
				}
			}
		}
	}
	t.Logf("max abs error vs brute force: %.3g", worst)
}

// ks2BruteForce counts paths that stay strictly inside the band.
func ks2BruteForce(n1, n2 int, h int64) float64 {
	lcm := TwoSampLCM(n1, n2)
	s1, s2 := lcm/int64(n1), lcm/int64(n2)
	inside := func(i, j int) bool {
		d := int64(i)*s1 - int64(j)*s2
		return d < h && -d < h
	}
	cnt := make([][]*big.Int, n1+1)
	for i := range cnt {
		cnt[i] = make([]*big.Int, n2+1)
		for j := range cnt[i] {
			c := new(big.Int)
			if inside(i, j) {
				if i == 0 && j == 0 {
					c.SetInt64(1)
				}
				if i > 0 {
					c.Add(c, cnt[i-1][j])
				}
				if j > 0 {
					c.Add(c, cnt[i][j-1])
				}
			}
			cnt[i][j] = c
		}
	}
	total := new(big.Int).Binomial(int64(n1+n2), int64(n1))
	out := new(big.Rat).SetFrac(new(big.Int).Sub(total, cnt[n1][n2]), total)
	f, _ := out.Float64()
	return f
}

// TestKS2SampEqualNClosedForm checks the n1 = n2 path against the
// reflection-principle formula P(D >= h/n) = 2Σ_{k>=1} (-1)^(k+1)
// C(2n, n-kh)/C(2n, n), evaluated exactly with big.Rat, for larger n than
// the brute force reaches.
func TestKS2SampEqualNClosedForm(t *testing.T) {
	for _, n := range []int{25, 100, 333} {
		for _, h := range []int64{2, 3, 7, int64(n) / 5, int64(n) / 2, int64(n)} {
			sum := new(big.Int)
			for k := int64(1); k*h <= int64(n); k++ {
				term := new(big.Int).Binomial(int64(2*n), int64(n)-k*h)
				if k%2 == 1 {
					sum.Add(sum, term)
				} else {
					sum.Sub(sum, term)
				}
			}
			sum.Mul(sum, big.NewInt(2))
			want, _ := new(big.Rat).SetFrac(sum, new(big.Int).Binomial(int64(2*n), int64(n))).Float64()
			got, used := TwoSampPValueH(h, n, n, Auto)
			if used != Exact {
				// scipy's own fallback: the product rounded above 1
				// (e.g. n=333, h=3 gives 1.0000000000000002), so it
				// switches to asymp. That only happens where p ≈ 1.
				if raw := computeProbOutsideSquare(int64(n), h); raw <= 1 || math.Abs(got-want) > 1e-6 {
					t.Errorf("n=%d h=%d: fell back to %v (raw exact %v, p %v, want %v)", n, h, used, raw, got, want)
				}
				continue
			}
			if math.Abs(got-want) > 1e-13 || (want > 1e-200 && math.Abs(got-want)/want > 1e-10) {
				t.Errorf("n=%d h=%d: got %.17g (%v), want %.17g", n, h, got, used, want)
			}
		}
	}
}

// TestKS2SampRouting checks method selection and the documented edge cases.
func TestKS2SampRouting(t *testing.T) {
	cases := []struct {
		name   string
		d      float64
		n1, n2 int
		method Method
		used   Method
		p      float64 // checked when not NaN-expected and >= 0
	}{
		// auto: exact up to max(n1, n2) = 10000 (scipy's MAX_AUTO_N).
		{"auto 10000", 0.01, 10000, 10000, Auto, Exact, -1},
		{"auto 10001", 0.01, 10001, 10000, Auto, Asymp, -1},
		// exact: INT32 overflow check n1/g >= MaxInt32/(n2/g).
		{"exact 46342x46341", 0.01, 46342, 46341, Exact, Asymp, -1},
		{"exact 46341x46340", 0.0001, 46341, 46340, Exact, Exact, -1},
		{"exact 40000x40000", 0.01, 40000, 40000, Exact, Exact, -1},
		{"exact 46340x46339 lcm<2^31", 0.001, 46340, 46339, Exact, Exact, -1},
		{"asymp small", 0.5, 10, 10, Asymp, Asymp, -1},
		// D = 0 is the h = 0 short cut: p = 1.
		{"d=0", 0, 100, 70, Auto, Exact, 1},
		{"d<0", -0.3, 100, 70, Auto, Exact, 1},
		{"d=0 asymp", 0, 100, 70, Asymp, Asymp, 1},
		// Completely separated samples of 3 and 3: p = 2/C(6,3) = 0.1.
		{"separated 3x3", 1, 3, 3, Auto, Exact, 0.1},
		{"d>1 clamps to 1", 1.5, 3, 3, Auto, Exact, 0.1},
		// Separated 7 vs 3: 2/C(10,3) = 1/60 (scipy: 0.016666666666666666).
		{"separated 7x3", 1, 7, 3, Auto, Exact, 1.0 / 60},
	}
	for _, c := range cases {
		p, used := TwoSampPValue(c.d, c.n1, c.n2, c.method)
		if used != c.used {
			t.Errorf("%s: used %v, want %v", c.name, used, c.used)
		}
		if c.p >= 0 && math.Abs(p-c.p) > 1e-15 {
			t.Errorf("%s: p = %.17g, want %.17g", c.name, p, c.p)
		}
		if !(p >= 0 && p <= 1) {
			t.Errorf("%s: p = %v outside [0,1]", c.name, p)
		}
	}
	// Invalid input: NaN with the requested method echoed back.
	for _, c := range []struct {
		d      float64
		n1, n2 int
	}{{0.1, 0, 5}, {0.1, 5, -1}, {math.NaN(), 5, 5}} {
		if p, used := TwoSampPValue(c.d, c.n1, c.n2, Auto); !math.IsNaN(p) || used != Auto {
			t.Errorf("TwoSampPValue(%v, %d, %d) = %v, %v; want NaN, auto", c.d, c.n1, c.n2, p, used)
		}
	}
	if p, _ := TwoSampPValueH(3, 0, 5, Exact); !math.IsNaN(p) {
		t.Errorf("TwoSampPValueH with n1=0: %v, want NaN", p)
	}
	// h outside [0, lcm] is clamped.
	if p, _ := TwoSampPValueH(-4, 3, 3, Auto); p != 1 {
		t.Errorf("h<0: p = %v, want 1", p)
	}
	if p, _ := TwoSampPValueH(99, 3, 3, Auto); math.Abs(p-0.1) > 1e-15 {
		t.Errorf("h>lcm: p = %v, want 0.1", p)
	}
	// n1 = n2 = 1 under asymp: effective n rounds to 0 (scipy: NaN); we use 1.
	if p, _ := TwoSampPValue(1, 1, 1, Asymp); p != 0 {
		t.Errorf("1x1 asymp d=1: p = %v, want kstwo.sf(1, 1) = 0", p)
	}
	if TwoSampLCM(4, 6) != 12 || TwoSampLCM(0, 3) != 0 || TwoSampLCM(math.MaxInt64, math.MaxInt64-1) != 0 {
		t.Error("TwoSampLCM wrong")
	}
	for m, s := range map[Method]string{Auto: "auto", Exact: "exact", Asymp: "asymp", Method(9): "unknown"} {
		if m.String() != s {
			t.Errorf("Method(%d).String() = %q, want %q", int(m), m.String(), s)
		}
	}
}

// TestKS2SampHMatchesD: the float-D and integer-h entry points agree when
// D = h/lcm, for both exact paths and the asymptotic one.
func TestKS2SampHMatchesD(t *testing.T) {
	for _, c := range []struct{ n1, n2 int }{{50, 50}, {40, 70}, {1000, 999}, {3000, 4500}, {20000, 30000}} {
		lcm := TwoSampLCM(c.n1, c.n2)
		for _, frac := range []float64{0.01, 0.05, 0.1, 0.3} {
			h := int64(math.Round(frac * float64(lcm)))
			for _, m := range []Method{Auto, Exact, Asymp} {
				if m == Exact && c.n1 > 10000 && frac > 0.01 {
					continue // O(min(2Dn, n)·m) cells: too slow for a unit test
				}
				pd, ud := TwoSampPValue(float64(h)/float64(lcm), c.n1, c.n2, m)
				ph, uh := TwoSampPValueH(h, c.n1, c.n2, m)
				if pd != ph || ud != uh {
					t.Errorf("%dx%d h=%d %v: d-form %v (%v), h-form %v (%v)", c.n1, c.n2, h, m, pd, ud, ph, uh)
				}
			}
		}
	}
}

// TestKolmogorovSFNoAllocs: the paths a detector hits on every evaluation
// (Pelz–Good, 2·smirnov, small-n Durbin and Pomeranz, exact equal-n) do not
// allocate.
func TestKolmogorovSFNoAllocs(t *testing.T) {
	for _, c := range []struct {
		n int
		d float64
	}{{1000, 0.03}, {1000, 0.06}, {1000, 0.2}, {100, 0.08}, {100, 0.15}, {140, 0.3}, {5000, 0.01}} {
		if a := testing.AllocsPerRun(20, func() { KolmogorovSF(c.n, c.d) }); a != 0 {
			t.Errorf("KolmogorovSF(%d, %v): %v allocs/op", c.n, c.d, a)
		}
	}
	if a := testing.AllocsPerRun(20, func() { TwoSampPValueH(87, 1000, 1000, Auto) }); a != 0 {
		t.Errorf("TwoSampPValueH equal n: %v allocs/op", a)
	}
	if a := testing.AllocsPerRun(20, func() { TwoSampPValueH(4500, 100, 1000, Auto) }); a != 0 {
		t.Errorf("TwoSampPValueH 100x1000: %v allocs/op", a)
	}
}

// BenchmarkKolmogorovSF measures the window-evaluation cost for n = 1000:
// d = 0.03 is a typical no-drift value (Pelz–Good), d = 0.06 and d = 0.2
// take the 2·smirnov branch (the trapezoidal evaluation of the sum).
func BenchmarkKolmogorovSF(b *testing.B) {
	for _, c := range []struct {
		n int
		d float64
	}{{1000, 0.03}, {1000, 0.06}, {1000, 0.2}} {
		_, path := kolmogn(c.n, c.d, false)
		b.Run(fmt.Sprintf("n=%d/d=%v/%v", c.n, c.d, path), func(b *testing.B) {
			b.ReportAllocs()
			var sink float64
			for b.Loop() {
				sink += KolmogorovSF(c.n, c.d)
			}
			_ = sink
		})
	}
}

// BenchmarkKS2SampPValueH measures the exact two-sample paths.
func BenchmarkKS2SampPValueH(b *testing.B) {
	for _, c := range []struct {
		n1, n2 int
		d      float64
	}{{1000, 1000, 0.05}, {1000, 10000, 0.03}, {1000, 9999, 0.03}, {10000, 100000, 0.01}} {
		lcm := TwoSampLCM(c.n1, c.n2)
		h := int64(math.Round(c.d * float64(lcm)))
		b.Run(fmt.Sprintf("%dx%d/d=%v", c.n1, c.n2, c.d), func(b *testing.B) {
			b.ReportAllocs()
			var sink float64
			for b.Loop() {
				p, _ := TwoSampPValueH(h, c.n1, c.n2, Auto)
				sink += p
			}
			_ = sink
		})
	}
}

// smirnovFullSum is SmirnovSF with the lower sum added term by term as
// xsf does — two logarithms and one exponential per term, O(n) per call —
// instead of smirnovLowerSum: the oracle for the fast lower sum. Its
// relative error against scipy's double-double sum reaches ~4e-11 at
// n = 10⁶ (TestSmirnovSFScipyRef) and ~4e-12 at n = 10⁵.
func smirnovFullSum(n int, d float64) (float64, spath) {
	_, path, s := smirnovBranch(n, d)
	if path == spLowerSum {
		return clip01(s.termSum(false)), path
	}
	return smirnov(n, d)
}

// ksBenchNs and ksBenchDs are the benchmark grid: n_eff from a small
// window (140, the top of scipy's small-n routing) to 10⁵, and D from a
// typical no-drift value to a strongly drifted window.
var (
	ksBenchNs = []int{140, 1000, 10000, 100000}
	ksBenchDs = []float64{0.03, 0.06, 0.1, 0.2, 0.5}
)

// BenchmarkKolmogorovSFGrid measures KolmogorovSF over the n × d grid. The
// last name element is the _kolmogn branch taken.
func BenchmarkKolmogorovSFGrid(b *testing.B) {
	for _, n := range ksBenchNs {
		for _, d := range ksBenchDs {
			_, path := kolmogn(n, d, false)
			b.Run(fmt.Sprintf("n=%d/d=%v/%v", n, d, path), func(b *testing.B) {
				b.ReportAllocs()
				var sink float64
				for b.Loop() {
					sink += KolmogorovSF(n, d)
				}
				_ = sink
			})
		}
	}
}

// BenchmarkSmirnovSF measures SmirnovSF against the full-sum oracle over
// the same grid. The last name element is the _smirnov branch taken.
func BenchmarkSmirnovSF(b *testing.B) {
	impls := []struct {
		name string
		f    func(int, float64) (float64, spath)
	}{{"fast", smirnov}, {"fullsum", smirnovFullSum}}
	for _, impl := range impls {
		for _, n := range ksBenchNs {
			for _, d := range ksBenchDs {
				_, path := smirnov(n, d)
				b.Run(fmt.Sprintf("%s/n=%d/d=%v/%v", impl.name, n, d, path), func(b *testing.B) {
					b.ReportAllocs()
					var sink float64
					for b.Loop() {
						p, _ := impl.f(n, d)
						sink += p
					}
					_ = sink
				})
			}
		}
	}
}

// smirnovGridNs is the n axis of the SmirnovSF property test: every n up
// to 200, then 12 values per decade up to 10⁶ (smirnovMaxComputeN), plus
// the ends of the routing ranges.
func smirnovGridNs(short bool) []int {
	var ns []int
	step := 1
	if short {
		step = 7
	}
	for n := 2; n <= 200; n += step {
		ns = append(ns, n)
	}
	for i := 28; i <= 72; i++ { // 10^(i/12)
		if short && i%3 != 0 {
			continue
		}
		ns = append(ns, int(math.Round(math.Pow(10, float64(i)/12))))
	}
	return append(ns, 141, 999, 1000, 1001, 1000000)
}

// smirnovGridDs returns the d axis for one n. Up to n = 2000 it is dense: a
// grid in c = √n·d from 0.05 to 20 in steps of 0.05, a grid in d in steps
// of 0.01, and the points around 1/n, 1−1/n and KolmogorovSF's threshold
// n·d² = 2.2. Above, where the oracle costs O(n) per call, the c grid is
// coarser (0.25 up to 10⁵, then 12 values) and the d grid stops where the
// sf underflows. short thins all of it.
func smirnovGridDs(n int, short bool) []float64 {
	fn := float64(n)
	var cs []float64
	switch dc := 0.05; {
	case n > 100000:
		cs = []float64{0.3, 0.7, 1, 1.48, 1.49, 2, 3, 4.5, 6, 9, 13, 18.8}
	default:
		if n > 2000 {
			dc = 0.25
		}
		if short {
			dc *= 8
		}
		for c := 0.05; c <= 20; c += dc {
			cs = append(cs, c)
		}
	}
	var ds []float64
	for _, c := range cs {
		ds = append(ds, c/math.Sqrt(fn))
	}
	if n <= 2000 {
		dd := 0.01
		if short {
			dd = 0.07
		}
		for d := dd; d < 1; d += dd {
			ds = append(ds, d)
		}
	}
	return append(ds, 1/fn, math.Nextafter(1/fn, 2), 2/fn, 1-1/fn, math.Nextafter(1-1/fn, 0),
		math.Sqrt(2.2/fn), math.Nextafter(math.Sqrt(2.2/fn), 0))
}

// TestSmirnovSFMatchesFullSum is the property test of the fast lower sum
// against the term-by-term one (smirnovFullSum) over a dense (n, d) grid
// with n up to 10⁶: within 1e-10 relative where p > 1e-300, 1e-300
// absolute below. (The other branches are shared code, checked against
// scipy by TestGoldenSmirnov.) The oracle's own error is up to ~5e-11 at n = 10⁶ (it sums
// (v−1)·ln a + (n−v)·ln b in float64); TestSmirnovSFScipyRef and
// TestSmirnovTrapezoidMatchesExactSum bound the fast sum much more tightly.
func TestSmirnovSFMatchesFullSum(t *testing.T) {
	short := testing.Short()
	var cases, trap int
	worst := map[bool]float64{}
	worstAt := map[bool]string{}
	for _, n := range smirnovGridNs(short) {
		for _, d := range smirnovGridDs(n, short) {
			if n > 2000 && (2*float64(n)*d*d > -cephesMinLog || math.Sqrt(float64(n))*d < 0.25) {
				continue // underflow branch, or an O(n) sum in both: covered below n = 2000
			}
			got, path := smirnov(n, d)
			if path != spLowerSum {
				continue
			}
			want, _ := smirnovFullSum(n, d)
			cases++
			_, _, hi, lo := modNX(n, d)
			_, usedTrap := smirnovLowerSumMethod(n, n-int(math.Floor(hi))-1, d, hi, lo)
			if usedTrap {
				trap++
			}
			if want > 1e-300 {
				rel := math.Abs(got-want) / want
				if rel > worst[usedTrap] {
					worst[usedTrap], worstAt[usedTrap] = rel, fmt.Sprintf("n=%d d=%v p=%.3g", n, d, want)
				}
				if rel > 1e-10 {
					t.Errorf("n=%d d=%v (trapezoid %v): %.17g, oracle %.17g, rel err %.3g", n, d, usedTrap, got, want, rel)
				}
			} else if math.Abs(got-want) > 1e-300 {
				t.Errorf("n=%d d=%v: %v, oracle %v", n, d, got, want)
			}
		}
	}
	if cases == 0 || trap == 0 {
		t.Fatalf("%d lower-sum cases, %d by trapezoid: the grid misses the lower sum", cases, trap)
	}
	t.Logf("%d lower-sum cases, %d by trapezoid; max rel err vs the full sum: exact sum %.3g (%s), trapezoid %.3g (%s)",
		cases, trap, worst[false], worstAt[false], worst[true], worstAt[true])
}

// TestSmirnovTrapezoidMatchesExactSum compares the two evaluations of the
// lower sum with each other wherever the trapezoid applies, on a dense grid
// of n (141 to 10⁶) and c = √n·x (0.5 to the underflow limit, and the
// KolmogorovSF range n·x² >= 2.2 densely). Both use the same accurate term
// formula, so this isolates the error of replacing the sum by the integral
// and of the trapezoidal rule, without the oracle's own error. It also
// checks that the trapezoid takes over where intended: for KolmogorovSF's
// 2·smirnov branch (n·x² >= 2.2) at every n >= 1000.
func TestSmirnovTrapezoidMatchesExactSum(t *testing.T) {
	ns := []int{141, 200, 300, 500, 700, 1000, 1500, 2000, 3000, 5000, 10000, 30000, 100000, 1000000}
	if testing.Short() {
		ns = []int{300, 1000, 10000, 100000}
	}
	worst, worstAt, cases := 0.0, "", 0
	for _, n := range ns {
		fn := float64(n)
		for c := 0.5; 2*c*c < -cephesMinLog; c += 0.0625 {
			if n >= 100000 && int(c*16)%4 != 0 {
				continue // the exact sum costs O(√n/x) terms: thin out
			}
			x := c / math.Sqrt(fn)
			nxfl, _, hi, lo := modNX(n, x)
			vmax := n - nxfl - 1
			p, ok := smirnovTrapezoid(fn, x, hi, lo)
			if !ok {
				if n >= 1000 && c*c >= 2.2 {
					t.Errorf("n=%d c=%v: the trapezoid declined a KolmogorovSF-range case", n, c)
				}
				continue
			}
			want := smirnovExactSum(n, vmax, x, hi, lo)
			if want < 1e-300 {
				continue
			}
			cases++
			if rel := math.Abs(p-want) / want; rel > worst {
				worst, worstAt = rel, fmt.Sprintf("n=%d c=%v p=%.3g", n, c, want)
			}
			// Rounding: exp(ln p) carries ~1e-16·|ln p| from each rounding
			// of the ~|ln p|-sized logs, in both evaluations, and the exact
			// sum of up to ~n terms adds ~1e-16·√n.
			tol := 1e-13 + 2e-15*math.Abs(math.Log(want)) + 2e-16*math.Sqrt(fn)
			if rel := math.Abs(p-want) / want; rel > tol {
				t.Errorf("n=%d c=%v x=%v: trapezoid %.17g, exact sum %.17g, rel err %.3g", n, c, x, p, want, rel)
			}
		}
	}
	t.Logf("%d cases; max rel difference trapezoid vs exact sum %.3g (%s)", cases, worst, worstAt)
}

// TestSmirnovStoppingRule replays the stopping rule of both walks on the
// full sequence of terms (the exact sum) and of trapezoid nodes (on the
// production grid, from the production starting point, extended far past
// where the walks stop), over n from 2 to 10⁵ and c = √n·x from 0.1 to the
// underflow limit, and checks that everything the rule leaves out is below
// 2^-52 of the total: the guarantee argued above smirnovLowerSum.
func TestSmirnovStoppingRule(t *testing.T) {
	worst := math.Inf(-1) // log2 of the worst neglected fraction
	var worstAt string
	replay := func(label string, lnv []float64, i0 int) {
		top := math.Inf(-1)
		for _, l := range lnv {
			top = math.Max(top, l)
		}
		val := make([]float64, len(lnv))
		total := 0.0
		for i, l := range lnv {
			val[i] = math.Exp(l - top)
			total += val[i]
		}
		sum, hi, lo := 0.0, len(val), -1
		prev := math.Inf(1)
		for k := i0; k < len(val); k++ { // right walk
			sum += val[k]
			if val[k] <= smTailEps*sum && val[k] <= 0.5*prev {
				hi = k + 1
				break
			}
			prev = val[k]
		}
		prev = val[i0]
		for k := i0 - 1; k >= 0; k-- { // left walk
			sum += val[k]
			if val[k] <= smTailEps*sum && val[k] <= 0.5*prev {
				lo = k - 1
				break
			}
			prev = val[k]
		}
		left := 0.0
		for k := hi; k < len(val); k++ {
			left += val[k]
		}
		for k := 0; k <= lo; k++ {
			left += val[k]
		}
		if f := math.Log2(left / total); f > worst {
			worst, worstAt = f, label
		}
		if left > 0x1p-52*total {
			t.Errorf("%s: the stopping rule leaves out %.3g of the total", label, left/total)
		}
	}
	for _, n := range []int{2, 3, 5, 10, 30, 100, 141, 500, 1000, 10000, 100000} {
		fn := float64(n)
		for _, c := range []float64{0.1, 0.3, 0.5, 0.7, 1, 1.5, 2, 3, 5, 8, 13, 18} {
			x := c / math.Sqrt(fn)
			if x >= 1-1/fn || x <= 1/fn || 2*fn*x*x > -cephesMinLog {
				continue
			}
			nxfl, _, s, lo := modNX(n, x)
			vmax := n - nxfl - 1
			rn := stirlingRem(fn)
			// ln t(v) for 0 < v < n − s, with bn = n·b exactly.
			lnTerm := func(v, bn float64) float64 {
				w := fn - v
				E := smLogTerm(v, w, 1/v, 1/w, 1/(s+v), bn, s, lo, 1/s, rn, stirlingRem(v)+stirlingRem(w))
				return E + math.Log(s/(s+v)*math.Sqrt(fn/(2*math.Pi*v*w)))
			}
			// The exact sum's terms, v = 0..vmax, from its starting point.
			lnt := make([]float64, vmax+1)
			lnt[0] = fn * math.Log1p(-x)
			for v := 1; v <= vmax; v++ {
				w := fn - float64(v)
				lnt[v] = lnTerm(float64(v), (w-s)-lo)
			}
			v0 := max(1, min(int(math.Round(fn*smPeak(fn, x, s*x)-s)), vmax))
			replay(fmt.Sprintf("terms n=%d c=%v", n, c), lnt, v0)
			// The trapezoid integrand ln(t(v)·dv/du) on its node grid.
			if s < smTrapMinS || vmax+1 < smTrapMinTerms {
				continue
			}
			V, delta, vs, h := smTrapGrid(fn, x, s, lo)
			u0 := math.Log((vs + delta) / (V - vs))
			var lng []float64
			i0 := 0
			for k := -600; k <= 600; k++ { // nodes as smirnovTrapezoid computes them
				q := math.Exp(-(u0 + float64(k)*h))
				tau := 1 / (1 + q)
				v, bn := (V+delta)*tau-delta, (V+delta)*q*tau
				if v > 0 && bn*(1/(fn-v)) >= 0x1p-1022 {
					if k == 0 {
						i0 = len(lng)
					}
					lng = append(lng, lnTerm(v, bn)+math.Log(bn*tau))
				}
			}
			replay(fmt.Sprintf("nodes n=%d c=%v", n, c), lng, i0)
		}
	}
	t.Logf("largest fraction left out: 2^%.1f (%s)", worst, worstAt)
}

// TestSmirnovKernels checks the float64 kernels of the lower sum against
// the standard library and against high-precision values.
func TestSmirnovKernels(t *testing.T) {
	ulp := func(got, want float64) float64 {
		return math.Abs(got-want) / (math.Nextafter(math.Abs(want), math.Inf(1)) - math.Abs(want))
	}
	worstExp, worstLog := 0.0, 0.0
	for i := 0; i <= 200000; i++ {
		d := smMinExp + (709-smMinExp)*float64(i)/200000
		worstExp = math.Max(worstExp, ulp(smExp(d), math.Exp(d)))
		X := math.Exp(-700 + 1400*float64(i)/200000)
		worstLog = math.Max(worstLog, ulp(smLog(X), math.Log(X)))
	}
	for _, X := range []float64{1, 1.5, 0.75, math.Nextafter(1.5, 2), 0x1p-1022, math.MaxFloat64} {
		worstLog = math.Max(worstLog, ulp(smLog(X), math.Log(X)))
	}
	if worstExp > 2.5 || worstLog > 2.5 {
		t.Errorf("smExp max %.2f ulp, smLog max %.2f ulp vs math.Exp/math.Log", worstExp, worstLog)
	}
	// λ(y) = log1p(y) − y against a 200-bit series, relative error.
	worstLambda := 0.0
	for i := -1000; i <= 1000; i++ {
		y := float64(i) / 1000
		if y < -1.0/3 || y > 0.5 || y == 0 {
			continue
		}
		got := lambdaSeries(y/(2+y), y)
		want := bigLog1pMinusX(y)
		worstLambda = math.Max(worstLambda, math.Abs(got-want)/math.Abs(want))
	}
	if worstLambda > 4e-16 {
		t.Errorf("lambdaSeries max rel err %.3g", worstLambda)
	}
	// Stirling remainder: the table (k <= 15) and the series (k >= 16)
	// against mpmath values; r(16..32) spans the series' worst range.
	mp := map[int]float64{
		1: 0.08106146679532725822, 15: 0.005554733551962801371, 16: 0.0052076559196096404407,
		17: 0.0049013959484347378607, 20: 0.0041663196919969224575, 32: 0.0026040819192516564224,
	}
	for k, want := range mp {
		if got := stirlingRem(float64(k)); math.Abs(got-want) > 1e-18 {
			t.Errorf("r(%d) = %.20g, want %.20g", k, got, want)
		}
	}
	for _, c := range []struct{ k, r float64 }{
		{16.5, 0.0050498873315830020452}, {100.25, 0.00083125243837516676555},
		{10000.5, 8.3329166847215972406e-6}, {1e6, 8.3333333333330555556e-8},
	} {
		if got := stirlingRem(c.k); math.Abs(got-c.r) > 1e-18 {
			t.Errorf("r(%v) = %.20g, want %.20g", c.k, got, c.r)
		}
	}
	// Non-integer k < 16 goes through math.Lgamma (nodes in a negligible
	// tail only): a few 1e-16 absolute is all that is needed there.
	if got, want := stirlingRem(2.5), 0.033162873519936287; math.Abs(got-want) > 1e-14 {
		t.Errorf("r(2.5) = %.17g, want %.17g", got, want)
	}
	t.Logf("smExp %.2f ulp, smLog %.2f ulp, lambdaSeries rel err %.3g", worstExp, worstLog, worstLambda)
}

// bigLog1pMinusX returns log1p(y) − y for |y| < 1 by its series in 200-bit
// arithmetic: Σ_{k>=2} (−1)^(k+1)·y^k/k.
func bigLog1pMinusX(y float64) float64 {
	const prec = 200
	yb := new(big.Float).SetPrec(prec).SetFloat64(y)
	term := new(big.Float).SetPrec(prec).Mul(yb, yb) // y^k, k = 2
	sum := new(big.Float).SetPrec(prec)
	for k := 2; k < 400; k++ {
		q := new(big.Float).SetPrec(prec).Quo(term, new(big.Float).SetPrec(prec).SetInt64(int64(k)))
		if k%2 == 0 {
			sum.Sub(sum, q)
		} else {
			sum.Add(sum, q)
		}
		term.Mul(term, yb)
	}
	f, _ := sum.Float64()
	return f
}

// smirnovScipyRef holds scipy.special.smirnov(n, d) (scipy 1.17.1, whose
// xsf sums the Birnbaum–Tingey series in double-double arithmetic) for
// d = c/√n rounded to 6 digits, c ∈ {0.1, 0.3, 0.7, 1, 1.48, 2, 3, 4, 6, 8,
// 10, 13, 16, 18.8}, n from 10 to 10⁶. Generated by:
//
//	for n in ns: for c in cs:
//	    d = float('%.6g' % (c/math.sqrt(n))); print(n, d, smirnov(n, d))
var smirnovScipyRef = []struct {
	n    int
	d, p float64
}{
	{10, 0.0316228, 0.9581506507703811},
	{10, 0.0948683, 0.7855243198796991},
	{10, 0.221359, 0.32764344861739464},
	{10, 0.316228, 0.1092131630092956},
	{10, 0.468017, 0.007883911410234517},
	{10, 0.632456, 0.00010454253816847279},
	{10, 0.948683, 1.2665215833820204e-13},
	{20, 0.0223607, 0.9659619884305971},
	{20, 0.067082, 0.8007500348703604},
	{20, 0.156525, 0.34000891056996535},
	{20, 0.223607, 0.11641523990117895},
	{20, 0.330938, 0.009378512902345294},
	{20, 0.447214, 0.00018136692397729623},
	{20, 0.67082, 1.0370033205582344e-09},
	{20, 0.894427, 2.960943368659494e-20},
	{50, 0.0141421, 0.9718579527385521},
	{50, 0.0424264, 0.8126184386783268},
	{50, 0.0989949, 0.35211230184608633},
	{50, 0.141421, 0.12311448263681896},
	{50, 0.209304, 0.010613026756187801},
	{50, 0.282843, 0.0002474474122307382},
	{50, 0.424264, 5.555551430890471e-09},
	{50, 0.565685, 6.165593530699717e-16},
	{50, 0.848528, 1.3383155278366197e-41},
	{100, 0.01, 0.9732196650552324},
	{100, 0.03, 0.8190484857999243},
	{100, 0.07, 0.3585928039319217},
	{100, 0.1, 0.1265906584562817},
	{100, 0.148, 0.011200978965980293},
	{100, 0.2, 0.0002775963664037337},
	{100, 0.3, 8.859934946331458e-09},
	{100, 0.4, 2.9738087256808315e-15},
	{100, 0.6, 2.956411078198119e-35},
	{100, 0.8, 1.0741347867732602e-69},
	{141, 0.00842152, 0.9746537010244083},
	{141, 0.0252646, 0.8215378369957129},
	{141, 0.0589506, 0.3611295098045272},
	{141, 0.0842152, 0.12793649875340016},
	{141, 0.124638, 0.01141894646010991},
	{141, 0.16843, 0.0002882851956466738},
	{141, 0.252646, 1.0140603157941721e-08},
	{141, 0.336861, 4.482600693811366e-15},
	{141, 0.505291, 3.6320998070563947e-34},
	{141, 0.673722, 4.425039572469304e-64},
	{141, 0.842152, 2.6626403517942617e-113},
	{200, 0.00707107, 0.9756743139248167},
	{200, 0.0212132, 0.8236967314589844},
	{200, 0.0494975, 0.3633283801345935},
	{200, 0.0707107, 0.12909748821949638},
	{200, 0.104652, 0.01160160177623649},
	{200, 0.141421, 0.00029701418845558145},
	{200, 0.212132, 1.1200887763587057e-08},
	{200, 0.282843, 5.978412351265373e-15},
	{200, 0.424264, 1.7832286894170604e-33},
	{200, 0.565685, 2.968809634828629e-61},
	{200, 0.707107, 1.8150404090029102e-101},
	{200, 0.919239, 2.775200985347094e-219},
	{300, 0.0057735, 0.9764531645571953},
	{300, 0.0173205, 0.8257843399237214},
	{300, 0.0404145, 0.3654688691960968},
	{300, 0.057735, 0.13022220927440356},
	{300, 0.0854478, 0.011775340020671666},
	{300, 0.11547, 0.0003050086308653895},
	{300, 0.173205, 1.2162628912129193e-08},
	{300, 0.23094, 7.510505718297034e-15},
	{300, 0.34641, 5.747394188497117e-33},
	{300, 0.46188, 2.1138525090325723e-59},
	{300, 0.57735, 1.2290216985039661e-95},
	{300, 0.750555, 1.0855810378211826e-175},
	{300, 0.92376, 0.0},
	{500, 0.00447214, 0.9772973755333452},
	{500, 0.0134164, 0.8278946098251708},
	{500, 0.031305, 0.36763967194315494},
	{500, 0.0447214, 0.13135792641795105},
	{500, 0.0661876, 0.011946735102177173},
	{500, 0.0894427, 0.0003126350304311182},
	{500, 0.134164, 1.3049348744709475e-08},
	{500, 0.178885, 9.038205902273994e-15},
	{500, 0.268328, 1.3975012819232056e-32},
	{500, 0.357771, 4.258155862796119e-58},
	{500, 0.447214, 5.078511579107354e-92},
	{500, 0.581378, 2.731753540590124e-161},
	{500, 0.715542, 9.331253156783948e-260},
	{500, 0.840762, 0.0},
	{700, 0.00377964, 0.9777367165775704},
	{700, 0.0113389, 0.8290249152914745},
	{700, 0.0264575, 0.36880790613928105},
	{700, 0.0377964, 0.13196750653962327},
	{700, 0.0559387, 0.01203694289642899},
	{700, 0.0755929, 0.00031652084147015374},
	{700, 0.113389, 1.348338758958487e-08},
	{700, 0.151186, 9.805302272429622e-15},
	{700, 0.226779, 2.0262450530456154e-32},
	{700, 0.302372, 1.4138163778611602e-57},
	{700, 0.377964, 1.1633559795698263e-90},
	{700, 0.491354, 1.0135957231839344e-156},
	{700, 0.604743, 4.3999991701381824e-246},
	{700, 0.710573, 0.0},
	{1000, 0.00316228, 0.978140025298219},
	{1000, 0.00948683, 0.8300350185969944},
	{1000, 0.0221359, 0.3698555621874478},
	{1000, 0.0316228, 0.13251109533150057},
	{1000, 0.0468017, 0.012116615890081376},
	{1000, 0.0632456, 0.000319878637265441},
	{1000, 0.0948683, 1.3841960647800608e-08},
	{1000, 0.126491, 1.0448956562003756e-14},
	{1000, 0.189737, 2.6738993002514767e-32},
	{1000, 0.252982, 3.3856557492607587e-57},
	{1000, 0.316228, 1.0617528211139441e-89},
	{1000, 0.411096, 1.0997825522869944e-153},
	{1000, 0.505964, 5.916737352926369e-238},
	{1000, 0.594508, 0.0},
	{1500, 0.00258199, 0.9785159523674204},
	{1500, 0.00774597, 0.8309883433732631},
	{1500, 0.0180739, 0.3708442871751293},
	{1500, 0.0258199, 0.13302513415249692},
	{1500, 0.0382134, 0.012191084391532268},
	{1500, 0.0516398, 0.0003229475939471619},
	{1500, 0.0774597, 1.4155658943769528e-08},
	{1500, 0.10328, 1.1000067777001818e-14},
	{1500, 0.154919, 3.3227640417191457e-32},
	{1500, 0.206559, 6.588207825228044e-57},
	{1500, 0.258199, 5.537032163912951e-89},
	{1500, 0.335659, 1.6421724057253855e-151},
	{1500, 0.413118, 1.7559655019604267e-232},
	{1500, 0.485414, 0.0},
	{2000, 0.00223607, 0.9787407305724934},
	{2000, 0.0067082, 0.8315586138399308},
	{2000, 0.0156525, 0.37143454254166725},
	{2000, 0.0223607, 0.13333211075059684},
	{2000, 0.0330938, 0.012235092015299605},
	{2000, 0.0447214, 0.00032473031953335346},
	{2000, 0.067082, 1.4331583506658697e-08},
	{2000, 0.0894427, 1.1307338139850657e-14},
	{2000, 0.134164, 3.7067046294114435e-32},
	{2000, 0.178885, 9.169709025124652e-57},
	{2000, 0.223607, 1.2397882361705868e-88},
	{2000, 0.290689, 1.7803207595178006e-150},
	{2000, 0.357771, 5.755391485381814e-230},
	{2000, 0.420381, 3.61e-321},
	{5000, 0.00141421, 0.979275955271554},
	{5000, 0.00424264, 0.8329172097949189},
	{5000, 0.00989949, 0.37285096236448123},
	{5000, 0.0141421, 0.13406663132897798},
	{5000, 0.0209304, 0.012338837324098885},
	{5000, 0.0282843, 0.0003288384465871049},
	{5000, 0.0424264, 1.4710560245049944e-08},
	{5000, 0.0565685, 1.1937739017639472e-14},
	{5000, 0.0848528, 4.543136818612728e-32},
	{5000, 0.113137, 1.662566743167028e-56},
	{5000, 0.141421, 5.176428306055344e-88},
	{5000, 0.183848, 1.0914668585118807e-148},
	{5000, 0.226274, 9.628543622612661e-226},
	{5000, 0.265872, 8.47310948834e-313},
	{10000, 0.001, 0.9795458647842514},
	{10000, 0.003, 0.8336043920226321},
	{10000, 0.007, 0.3735678719185212},
	{10000, 0.01, 0.1344360315187895},
	{10000, 0.0148, 0.012391021539478984},
	{10000, 0.02, 0.00033084243196936547},
	{10000, 0.03, 1.4880605975313099e-08},
	{10000, 0.04, 1.2199812374762524e-14},
	{10000, 0.06, 4.8869562592394955e-32},
	{10000, 0.08, 2.037064160625327e-56},
	{10000, 0.1, 8.316556657975178e-88},
	{10000, 0.13, 4.145781482577482e-148},
	{10000, 0.16, 2.0748122605636528e-224},
	{10000, 0.188, 3.16250325101756e-310},
	{30000, 0.00057735, 0.9798216310502722},
	{30000, 0.00173205, 0.8343074371945688},
	{30000, 0.00404145, 0.37430298609516377},
	{30000, 0.0057735, 0.13481562702914737},
	{30000, 0.00854478, 0.012443819870400049},
	{30000, 0.011547, 0.0003328333547711572},
	{30000, 0.0173205, 1.5039314138433874e-08},
	{30000, 0.023094, 1.2426746017312095e-14},
	{30000, 0.034641, 5.160372161842334e-32},
	{30000, 0.046188, 2.3496592843738215e-56},
	{30000, 0.057735, 1.1498494034169562e-87},
	{30000, 0.0750555, 1.0083417820960288e-147},
	{30000, 0.092376, 1.5584094543772327e-223},
	{30000, 0.108542, 1.468882939408614e-308},
	{100000, 0.000316228, 0.9799920652938096},
	{100000, 0.000948683, 0.8347425061358216},
	{100000, 0.00221359, 0.374759514270236},
	{100000, 0.00316228, 0.13504987147689848},
	{100000, 0.00468017, 0.01247623098565176},
	{100000, 0.00632456, 0.00033402938294548485},
	{100000, 0.00948683, 1.5129287008913227e-08},
	{100000, 0.0126491, 1.2545102105391568e-14},
	{100000, 0.0189737, 5.281514694299525e-32},
	{100000, 0.0252982, 2.4847835898174264e-56},
	{100000, 0.0316228, 1.2962751367437202e-87},
	{100000, 0.0411096, 1.3860314150788853e-147},
	{100000, 0.0505964, 3.1678381611174667e-223},
	{100000, 0.0594508, 5.597567139510017e-308},
	{300000, 0.000182574, 0.9800794290349835},
	{300000, 0.000547723, 0.8349651278610553},
	{300000, 0.00127802, 0.3749912016978853},
	{300000, 0.00182574, 0.13517120898588125},
	{300000, 0.0027021, 0.012492686168844747},
	{300000, 0.00365148, 0.0003346464951857514},
	{300000, 0.00547723, 1.517240873849426e-08},
	{300000, 0.00730297, 1.2597893371706925e-14},
	{300000, 0.0109545, 5.327652579622814e-32},
	{300000, 0.0146059, 2.5336588154627824e-56},
	{300000, 0.0182574, 1.3477925571372395e-87},
	{300000, 0.0237346, 1.527092930575962e-147},
	{300000, 0.0292119, 3.892996869740655e-223},
	{300000, 0.0343239, 8.253132272104933e-308},
	{1000000, 0.0001, 0.9801333332277914},
	{1000000, 0.0003, 0.835103204488402},
	{1000000, 0.0007, 0.3751360361932797},
	{1000000, 0.001, 0.1352450897649141},
	{1000000, 0.00148, 0.01250298546353275},
	{1000000, 0.002, 0.0003350138551835359},
	{1000000, 0.003, 1.5199063759696346e-08},
	{1000000, 0.004, 1.2629092071695507e-14},
	{1000000, 0.006, 5.355708057358336e-32},
	{1000000, 0.008, 2.5539462269341367e-56},
	{1000000, 0.01, 1.3686652207740602e-87},
	{1000000, 0.013, 1.5820503968668436e-147},
	{1000000, 0.016, 4.2071728586461935e-223},
	{1000000, 0.0188, 9.47162603314836e-308},
}

// TestSmirnovSFScipyRef checks SmirnovSF against scipy at large n, where the
// golden file has few lower-sum cases, far below the 1e-10 target: 1e-13
// relative where p > 1e-10 and 1e-12 down to p = 1e-300 (ln p ~ −690 there
// carries ~1e-13 of rounding). It reports the full-sum oracle's error too.
func TestSmirnovSFScipyRef(t *testing.T) {
	worstHi, worstLo, worstOracle := 0.0, 0.0, 0.0
	var atHi, atLo string
	for _, c := range smirnovScipyRef {
		got := SmirnovSF(c.n, c.d)
		if c.p < 1e-300 {
			if math.Abs(got-c.p) > 1e-300 {
				t.Errorf("n=%d d=%v: %v, scipy %v", c.n, c.d, got, c.p)
			}
			continue
		}
		rel := math.Abs(got-c.p) / c.p
		tol := 1e-13
		if c.p > 1e-10 {
			if rel > worstHi {
				worstHi, atHi = rel, fmt.Sprintf("n=%d d=%v p=%.3g", c.n, c.d, c.p)
			}
		} else {
			tol = 1e-12
			if rel > worstLo {
				worstLo, atLo = rel, fmt.Sprintf("n=%d d=%v p=%.3g", c.n, c.d, c.p)
			}
		}
		if rel > tol {
			t.Errorf("n=%d d=%v: %.17g, scipy %.17g, rel err %.3g", c.n, c.d, got, c.p, rel)
		}
		if c.n <= 100000 || !testing.Short() {
			o, _ := smirnovFullSum(c.n, c.d)
			worstOracle = math.Max(worstOracle, math.Abs(o-c.p)/c.p)
		}
	}
	t.Logf("max rel err vs scipy: p > 1e-10: %.3g (%s); 1e-300 < p <= 1e-10: %.3g (%s); full-sum oracle: %.3g",
		worstHi, atHi, worstLo, atLo, worstOracle)
}

// TestKolmogorovPelzGoodPowers checks that kolmognPelzGood, which builds
// its integer powers by multiplication, matches the original port that
// called math.Pow for each (kolmognPelzGoodPow, kept as the reference) over
// the whole z range the routing sends it, z = √n·x < √18.
func TestKolmogorovPelzGoodPowers(t *testing.T) {
	worst := 0.0
	for _, n := range []int{141, 1000, 100000, 1000000} {
		for z := 0.03; z < 4.3; z += 0.001 {
			x := z / math.Sqrt(float64(n))
			got, want := kolmognPelzGood(n, x), kolmognPelzGoodPow(n, x)
			if d := math.Abs(got - want); d > worst {
				worst = d
			}
			if math.Abs(got-want) > 1e-14 {
				t.Errorf("n=%d z=%v: %.17g, with math.Pow %.17g", n, z, got, want)
			}
		}
	}
	t.Logf("max |difference| %.3g", worst)
}

// kolmognPelzGoodPow is the original port of _kolmogn_PelzGood, with
// math.Pow for every power: the reference for TestKolmogorovPelzGoodPowers.
func kolmognPelzGoodPow(n int, x float64) float64 {
	if x <= 0.0 {
		return 0
	}
	if x >= 1.0 {
		return 1
	}
	fn := float64(n)
	z := math.Sqrt(fn) * x
	zsquared, zthree, zfour, zsix := z*z, z*z*z, math.Pow(z, 4), math.Pow(z, 6)

	qlog := -ksPiSq / 8 / zsquared
	if qlog < ksMinLog { // z ~ 0.041743441416853426
		return 0
	}
	q := math.Exp(qlog)

	// Coefficients of the terms in the sums for K1, K2 and K3.
	k1a := -zsquared
	k1b := ksPiSq / 4

	k2a := 6*zsix + 2*zfour
	k2b := (2*zfour - 5*zsquared) * ksPiSq / 4
	k2c := ksPiFour * (1 - 2*zsquared) / 16

	k3d := ksPiSix * (5 - 30*zsquared) / 64
	k3c := ksPiFour * (-60*zsquared + 212*zfour) / 16
	k3b := ksPiSq * (135*zfour - 96*zsix) / 4
	k3a := -30*zsix - 90*math.Pow(z, 8)

	// Horner scheme for Σ c_i q^(i²) over odd i.
	var K0, K1, K2, K3 float64
	maxk := int(math.Ceil(16 * z / math.Pi))
	for k := maxk; k > 0; k-- {
		m := int64(2*k - 1) // Python ints in scipy: m**2, m**4, m**6 are exact
		msquared := float64(m * m)
		mfour := float64(m * m * m * m)
		msix := float64(m * m * m * m * m * m)
		qpower := math.Pow(q, float64(8*k))
		K0 = K0*qpower + 1.0
		K1 = K1*qpower + (k1a + k1b*msquared)
		K2 = K2*qpower + (k2a + k2b*msquared + k2c*mfour)
		K3 = K3*qpower + (k3a + k3b*msquared + k3c*mfour + k3d*msix)
	}
	K0, K1, K2, K3 = K0*q, K1*q, K2*q, K3*q
	K0, K1, K2, K3 = K0*ksSqrt2Pi, K1*ksSqrt2Pi, K2*ksSqrt2Pi, K3*ksSqrt2Pi
	// z**10 > 0 as z > 0.04
	K0 /= z
	K1 /= 6 * zfour
	K2 /= 72 * math.Pow(z, 7)
	K3 /= 6480 * math.Pow(z, 10)

	// The other sum, over all integers k:
	//   K2: (π² k²) q^(k²);  K3: (3π² k² z² - π⁴ k⁴) q^(k²)
	q = math.Exp(-ksPiSq / 2 / zsquared)
	sqrt3z := ksSqrt3 * z
	var k2extra, k3extra float64
	for k := maxk; k > 0; k-- {
		fk := float64(k)
		ksq := float64(k * k)
		qp := math.Pow(q, ksq)
		kspi := math.Pi * fk
		k2extra += ksq * qp
		k3extra += (sqrt3z + kspi) * (sqrt3z - kspi) * ksq * qp
	}
	k2extra *= ksPiSq * ksSqrt2Pi / (-36 * zthree)
	K2 += k2extra
	k3extra *= ksPiSq * ksSqrt2Pi / (216 * zsix)
	K3 += k3extra

	K1 /= math.Sqrt(fn)
	K2 /= fn
	K3 /= math.Pow(fn, 1.5)
	return K0 + K1 + K2 + K3
}
