package detector

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
			lcm := KS2SampLCM(n1, n2)
			for h := int64(1); h <= lcm; h++ {
				want := ks2BruteForce(n1, n2, h)
				got, used := KS2SampPValueH(h, n1, n2, KSExact)
				if used != KSExact {
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
	lcm := KS2SampLCM(n1, n2)
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
			got, used := KS2SampPValueH(h, n, n, KSAuto)
			if used != KSExact {
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
		method KSMethod
		used   KSMethod
		p      float64 // checked when not NaN-expected and >= 0
	}{
		// auto: exact up to max(n1, n2) = 10000 (scipy's MAX_AUTO_N).
		{"auto 10000", 0.01, 10000, 10000, KSAuto, KSExact, -1},
		{"auto 10001", 0.01, 10001, 10000, KSAuto, KSAsymp, -1},
		// exact: INT32 overflow check n1/g >= MaxInt32/(n2/g).
		{"exact 46342x46341", 0.01, 46342, 46341, KSExact, KSAsymp, -1},
		{"exact 46341x46340", 0.0001, 46341, 46340, KSExact, KSExact, -1},
		{"exact 40000x40000", 0.01, 40000, 40000, KSExact, KSExact, -1},
		{"exact 46340x46339 lcm<2^31", 0.001, 46340, 46339, KSExact, KSExact, -1},
		{"asymp small", 0.5, 10, 10, KSAsymp, KSAsymp, -1},
		// D = 0 is the h = 0 short cut: p = 1.
		{"d=0", 0, 100, 70, KSAuto, KSExact, 1},
		{"d<0", -0.3, 100, 70, KSAuto, KSExact, 1},
		{"d=0 asymp", 0, 100, 70, KSAsymp, KSAsymp, 1},
		// Completely separated samples of 3 and 3: p = 2/C(6,3) = 0.1.
		{"separated 3x3", 1, 3, 3, KSAuto, KSExact, 0.1},
		{"d>1 clamps to 1", 1.5, 3, 3, KSAuto, KSExact, 0.1},
		// Separated 7 vs 3: 2/C(10,3) = 1/60 (scipy: 0.016666666666666666).
		{"separated 7x3", 1, 7, 3, KSAuto, KSExact, 1.0 / 60},
	}
	for _, c := range cases {
		p, used := KS2SampPValue(c.d, c.n1, c.n2, c.method)
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
		if p, used := KS2SampPValue(c.d, c.n1, c.n2, KSAuto); !math.IsNaN(p) || used != KSAuto {
			t.Errorf("KS2SampPValue(%v, %d, %d) = %v, %v; want NaN, auto", c.d, c.n1, c.n2, p, used)
		}
	}
	if p, _ := KS2SampPValueH(3, 0, 5, KSExact); !math.IsNaN(p) {
		t.Errorf("KS2SampPValueH with n1=0: %v, want NaN", p)
	}
	// h outside [0, lcm] is clamped.
	if p, _ := KS2SampPValueH(-4, 3, 3, KSAuto); p != 1 {
		t.Errorf("h<0: p = %v, want 1", p)
	}
	if p, _ := KS2SampPValueH(99, 3, 3, KSAuto); math.Abs(p-0.1) > 1e-15 {
		t.Errorf("h>lcm: p = %v, want 0.1", p)
	}
	// n1 = n2 = 1 under asymp: effective n rounds to 0 (scipy: NaN); we use 1.
	if p, _ := KS2SampPValue(1, 1, 1, KSAsymp); p != 0 {
		t.Errorf("1x1 asymp d=1: p = %v, want kstwo.sf(1, 1) = 0", p)
	}
	if KS2SampLCM(4, 6) != 12 || KS2SampLCM(0, 3) != 0 || KS2SampLCM(math.MaxInt64, math.MaxInt64-1) != 0 {
		t.Error("KS2SampLCM wrong")
	}
	for m, s := range map[KSMethod]string{KSAuto: "auto", KSExact: "exact", KSAsymp: "asymp", KSMethod(9): "unknown"} {
		if m.String() != s {
			t.Errorf("KSMethod(%d).String() = %q, want %q", int(m), m.String(), s)
		}
	}
}

// TestKS2SampHMatchesD: the float-D and integer-h entry points agree when
// D = h/lcm, for both exact paths and the asymptotic one.
func TestKS2SampHMatchesD(t *testing.T) {
	for _, c := range []struct{ n1, n2 int }{{50, 50}, {40, 70}, {1000, 999}, {3000, 4500}, {20000, 30000}} {
		lcm := KS2SampLCM(c.n1, c.n2)
		for _, frac := range []float64{0.01, 0.05, 0.1, 0.3} {
			h := int64(math.Round(frac * float64(lcm)))
			for _, m := range []KSMethod{KSAuto, KSExact, KSAsymp} {
				if m == KSExact && c.n1 > 10000 && frac > 0.01 {
					continue // O(min(2Dn, n)·m) cells: too slow for a unit test
				}
				pd, ud := KS2SampPValue(float64(h)/float64(lcm), c.n1, c.n2, m)
				ph, uh := KS2SampPValueH(h, c.n1, c.n2, m)
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
	if a := testing.AllocsPerRun(20, func() { KS2SampPValueH(87, 1000, 1000, KSAuto) }); a != 0 {
		t.Errorf("KS2SampPValueH equal n: %v allocs/op", a)
	}
	if a := testing.AllocsPerRun(20, func() { KS2SampPValueH(4500, 100, 1000, KSAuto) }); a != 0 {
		t.Errorf("KS2SampPValueH 100x1000: %v allocs/op", a)
	}
}

// BenchmarkKolmogorovSF measures the window-evaluation cost for n = 1000:
// d = 0.03 is a typical no-drift value (Pelz–Good), d = 0.06 and d = 0.2
// take the 2·smirnov branch (an O(n) sum).
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
		lcm := KS2SampLCM(c.n1, c.n2)
		h := int64(math.Round(c.d * float64(lcm)))
		b.Run(fmt.Sprintf("%dx%d/d=%v", c.n1, c.n2, c.d), func(b *testing.B) {
			b.ReportAllocs()
			var sink float64
			for b.Loop() {
				p, _ := KS2SampPValueH(h, c.n1, c.n2, KSAuto)
				sink += p
			}
			_ = sink
		})
	}
}

// smirnovFullSum is the original port of xsf's _smirnov, kept verbatim as
// the oracle for the fast SmirnovSF: it evaluates every term of the
// Birnbaum–Tingey sum in float64 log space (two logarithms and one
// exponential per term, O(n) per call). Its relative error against scipy's
// double-double sum is about 1e-11 at n = 10⁶ (golden grid n=1000000
// d=0.001: 2.0e-11) and below 4e-12 for n <= 10⁵.
func smirnovFullSum(n int, d float64) (float64, spath) {
	if n <= 0 || math.IsNaN(d) {
		return math.NaN(), spInvalid
	}
	if d < 0 {
		return 1, spXlt0
	}
	if d > 1 {
		return 0, spXgt1
	}
	x := d
	if n == 1 {
		return 1 - x, spNeq1
	}
	if x == 0 {
		return 1, spXeq0
	}
	if x == 1 {
		return 0, spXeq1
	}
	fn := float64(n)

	nxfl, alpha, nxHi, nxLo := modNX(n, x)
	n1mxfl := n - nxfl
	if alpha != 0 {
		n1mxfl--
	}
	n1mxceil := n - nxfl
	// If alpha is 0, the last term is not wanted in either sum.
	if alpha == 0 {
		n1mxfl--
		n1mxceil++
	}

	// Special case: x <= 1/n.
	if nxfl == 0 || (nxfl == 1 && alpha == 0) {
		t := math.Exp(float64(n-1) * math.Log1p(x)) // (1+x)^(n-1)
		cdf := x * t
		return clip01(1 - cdf), spXle1OverN
	}
	// Special case: the sf underflows.
	if -2*fn*x*x < cephesMinLog {
		return 0, spUnderflow
	}
	// Special case: x >= 1 - 1/n.
	if nxfl >= n-1 {
		return clip01(math.Pow(1-x, fn)), spXge1m1OverN
	}
	// Special case: n too big to sum; p ~ exp(-(6nx+1)²/(18n)).
	if n > smirnovMaxComputeN {
		logp := -math.Pow(6.0*fn*x+1, 2) / 18.0 / fn
		if logp < -math.Ln2 {
			return clip01(math.Exp(logp)), spNgt1e6
		}
		cdf := -math.Expm1(logp)
		return clip01(1 - cdf), spNgt1e6
	}

	// Use the upper sum if n is large enough, x small enough and the number
	// of terms small enough (xsf's bUseUpperSum).
	nUpperTerms := n - n1mxceil + 1
	useUpper := nUpperTerms <= 1 && x < 0.5
	useUpper = useUpper ||
		(n >= smUpperSumMinN && nUpperTerms <= smUpperMaxTerms && x <= 0.5/math.Sqrt(fn))

	// Terms A_v = x·C(n,v)·(x+v/n)^(v-1)·(1-x-v/n)^(n-v), summed in
	// linear space from log-space pieces. C(n,v) is carried as
	// cman·2^cexp (as xsf does) so no logarithm is needed for it.
	// x+v/n = (v + n·x)/n and 1-x-v/n = ((n-v) - n·x)/n use the exact
	// product n·x = nxHi + nxLo.
	logx := math.Log(x)

	var sum float64
	start, step, nTerms := 0, 1, n1mxfl+1
	if useUpper {
		start, step, nTerms = n, -1, n-n1mxceil+1
		sum = x * math.Exp(float64(n-1)*math.Log1p(x)) // v = n: x·(1+x)^(n-1)
	} else {
		sum = math.Exp(fn * math.Log1p(-x)) // v = 0: x·(1-x)^n/x
	}
	cman, cexp := math.Frexp(fn) // C(n, j) = cman·2^cexp, starting at C(n, 1)
	vmid := n / 2
	const eps = 0x1p-52
	for j := 1; j < nTerms; j++ {
		v := start + j*step
		a := ((float64(v) + nxHi) + nxLo) / fn   // x + v/n
		b := ((float64(n-v) - nxHi) - nxLo) / fn // 1 - x - v/n
		sign := 1.0
		if b < 0 { // upper sum only
			b = -b
			if (n-v)%2 == 1 {
				sign = -1
			}
		}
		L := logx + float64(v-1)*math.Log(a) + float64(n-v)*math.Log(b) + float64(cexp)*math.Ln2
		aj := sign * cman * math.Exp(L)
		if !math.IsInf(aj, 0) && !math.IsNaN(aj) && aj != 0 {
			sum += aj
		}
		// Safe to terminate early?
		if aj != 0 {
			if 4*float64(nTerms-j)*math.Abs(aj) < eps*sum && j != nTerms-1 {
				break
			}
		} else if j > vmid {
			break
		}
		// C(n, j+1) from C(n, j).
		var e int
		cman, e = math.Frexp(cman * (float64(n-j) / float64(j+1)))
		cexp += e
	}
	if useUpper {
		return clip01(1 - sum), spUpperSum // the upper sum is the cdf
	}
	return clip01(sum), spLowerSum
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
