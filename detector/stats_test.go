package detector

// Tests for stats.go that do not depend on scipy: documented edge cases,
// closed forms, symmetries and exact sums. The scipy comparisons live in
// golden_test.go.

import (
	"math"
	"math/big"
	"testing"
)

// TestWelchTTestCases covers hand-checkable values and every documented
// degenerate input.
func TestWelchTTestCases(t *testing.T) {
	inf := math.Inf(1)
	nan := math.NaN()
	cases := []struct {
		name                   string
		n1, m1, v1, n2, m2, v2 float64
		t, df, p               float64
		tol                    float64
	}{
		// Equal n and variances: t = Δ/√(2v/n), df = 2(n−1) exactly.
		// n=10, Δ=−1, v=1: t = −√5; p = 2·P(T18 > √5) (value from scipy.stats.t.sf).
		{"equal n, v", 10, 0, 1, 10, 1, 1, -math.Sqrt(5), 18, 0.03824961451611385, 1e-12},
		// Equal means: t = 0, p = 1 whatever the variances.
		{"equal means", 5, 2, 1, 9, 2, 4, 0, 1 / ((0.2/(0.2+4.0/9))*(0.2/(0.2+4.0/9))/4 + (4.0/9/(0.2+4.0/9))*(4.0/9/(0.2+4.0/9))/8), 1, 1e-12},
		// One variance 0: df = (n−1) of the other sample.
		{"one var zero", 3, 1, 0, 4, 2, 1, -2, 3, 0.13932596855884305, 1e-12},
		// n < 2: no variance; no evidence.
		{"n1<2", 1, 5, 0, 100, 0, 1, 0, 0, 1, 0},
		{"n2<2", 100, 5, 1, 0, 0, 0, 0, 0, 1, 0},
		// Both variances 0 (scipy: NaN for equal means, ±Inf and p=0 otherwise).
		{"zero var, equal means", 10, 3, 0, 20, 3, 0, 0, 1, 1, 0},
		{"zero var, m1>m2", 10, 3, 0, 20, 2, 0, inf, 1, 0, 0},
		{"zero var, m1<m2", 10, 2, 0, 20, 3, 0, -inf, 1, 0, 0},
		// Huge df: the normal tail, 2Φ(−8) = 1.244192114854348e-15 (scipy.stats.norm;
		// scipy.stats.t with df = 2e9 gives 1.2441928e-15, a relative 5e-7 away).
		{"huge df normal tail", 1e9, 8 * math.Sqrt(2e-9), 1, 1e9, 0, 1, 8, 2e9 - 2, 1.244192114854348e-15, 1e-27},
		// Invalid input.
		{"NaN mean", 10, nan, 1, 10, 0, 1, nan, nan, nan, 0},
		{"negative var", 10, 0, -1, 10, 0, 1, nan, nan, nan, 0},
		{"Inf n", inf, 0, 1, 10, 0, 1, nan, nan, nan, 0},
	}
	for _, c := range cases {
		tt, df, p := WelchTTest(c.n1, c.m1, c.v1, c.n2, c.m2, c.v2)
		if !sameFloat(tt, c.t, 1e-12*math.Max(1, math.Abs(c.t))) ||
			!sameFloat(df, c.df, 1e-9*math.Max(1, math.Abs(c.df))) ||
			!sameFloat(p, c.p, c.tol) {
			t.Errorf("%s: got t=%.17g df=%.17g p=%.17g; want t=%.17g df=%.17g p=%.17g",
				c.name, tt, df, p, c.t, c.df, c.p)
		}
	}
}

// TestWelchTTestSymmetry: swapping the samples negates t and leaves df and
// p unchanged; the p-value never leaves [0, 1].
func TestWelchTTestSymmetry(t *testing.T) {
	for _, c := range [][6]float64{
		{30, 1, 1, 40, 1.2, 1.5}, {7, -2, 9, 1000, 0, 0.1}, {5000, 0.01, 1, 5e6, 0, 1.2}, {2, 0, 1, 2, 100, 1},
	} {
		t1, df1, p1 := WelchTTest(c[0], c[1], c[2], c[3], c[4], c[5])
		t2, df2, p2 := WelchTTest(c[3], c[4], c[5], c[0], c[1], c[2])
		if t1 != -t2 || df1 != df2 || p1 != p2 || !(p1 >= 0 && p1 <= 1) {
			t.Errorf("%v: (%v %v %v) vs swapped (%v %v %v)", c, t1, df1, p1, t2, df2, p2)
		}
	}
}

// TestChiSquareGOFCases: with k = 3 cells (df = 2) the chi-square sf is
// exactly exp(−x/2), which gives an independent check of the tail.
func TestChiSquareGOFCases(t *testing.T) {
	obs := []float64{10, 20, 30}
	exp := []float64{12, 18, 30}
	stat, df, p := ChiSquareGOF(obs, exp)
	wantStat := 4.0/12 + 4.0/18
	if math.Abs(stat-wantStat) > 1e-15 || df != 2 || math.Abs(p-math.Exp(-wantStat/2)) > 1e-14 {
		t.Errorf("k=3: got %v %v %v, want %v 2 %v", stat, df, p, wantStat, math.Exp(-wantStat/2))
	}
	// df = 1: sf(x) = erfc(√(x/2)).
	stat, df, p = ChiSquareGOF([]float64{60, 40}, []float64{50, 50})
	if stat != 4 || df != 1 || math.Abs(p-math.Erfc(math.Sqrt(2))) > 1e-14 {
		t.Errorf("k=2: got %v %v %v, want 4 1 %v", stat, df, p, math.Erfc(math.Sqrt(2)))
	}
	// A perfect fit: stat 0, p 1.
	if stat, _, p := ChiSquareGOF([]float64{5, 5, 5, 5}, []float64{5, 5, 5, 5}); stat != 0 || p != 1 {
		t.Errorf("perfect fit: stat %v p %v", stat, p)
	}
	// One category: df 0, p 1 (documented; scipy gives NaN).
	if stat, df, p := ChiSquareGOF([]float64{7}, []float64{7}); stat != 0 || df != 0 || p != 1 {
		t.Errorf("k=1: %v %v %v", stat, df, p)
	}
	// Invalid input: NaN stat and p.
	for _, c := range []struct{ o, e []float64 }{
		{nil, nil}, {[]float64{1, 2}, []float64{3}}, {[]float64{1, 2}, []float64{3, 0}},
		{[]float64{1, math.NaN()}, []float64{1, 1}}, {[]float64{1, 2}, []float64{-1, 4}},
	} {
		if stat, _, p := ChiSquareGOF(c.o, c.e); !math.IsNaN(stat) || !math.IsNaN(p) {
			t.Errorf("ChiSquareGOF(%v, %v) = %v, %v; want NaN", c.o, c.e, stat, p)
		}
	}
}

// TestJensenShannonDistanceCases: bounds, symmetry and scale invariance.
func TestJensenShannonDistanceCases(t *testing.T) {
	// Identical distributions: 0. Disjoint supports: exactly 1 bit.
	if d := JensenShannonDistance([]float64{1, 2, 3}, []float64{2, 4, 6}); d != 0 {
		t.Errorf("proportional inputs: %v, want 0", d)
	}
	if d := JensenShannonDistance([]float64{1, 0}, []float64{0, 1}); d != 1 {
		t.Errorf("disjoint: %v, want 1", d)
	}
	// Half overlap: p = (1/2, 1/2, 0), q = (0, 1/2, 1/2); JS = 1/2 bit.
	if d := JensenShannonDistance([]float64{1, 1, 0}, []float64{0, 1, 1}); math.Abs(d-math.Sqrt(0.5)) > 1e-15 {
		t.Errorf("half overlap: %v, want √0.5", d)
	}
	p, q := []float64{0.1, 0.2, 0.7}, []float64{0.3, 0.3, 0.4}
	if a, b := JensenShannonDistance(p, q), JensenShannonDistance(q, p); a != b || !(a > 0 && a < 1) {
		t.Errorf("asymmetric or out of range: %v %v", a, b)
	}
	for _, c := range []struct{ p, q []float64 }{
		{nil, nil}, {[]float64{1}, []float64{1, 2}}, {[]float64{0, 0}, []float64{1, 1}},
		{[]float64{-1, 2}, []float64{1, 1}}, {[]float64{math.Inf(1), 1}, []float64{1, 1}},
	} {
		if d := JensenShannonDistance(c.p, c.q); !math.IsNaN(d) {
			t.Errorf("JensenShannonDistance(%v, %v) = %v, want NaN", c.p, c.q, d)
		}
	}
}

// TestPSICases: hand-computed values with and without empty bins.
func TestPSICases(t *testing.T) {
	// (0.6−0.5)ln(1.2) + (0.4−0.5)ln(0.8) = 0.1·ln 1.5.
	if got, want := PSI([]float64{50, 50}, []float64{60, 40}), 0.1*math.Log(1.5); math.Abs(got-want) > 1e-15 {
		t.Errorf("two bins: %v, want %v", got, want)
	}
	// Empty reference bin: e = (1, 1e-4) after replacement (no renormalising).
	want := (0.5-1)*math.Log(0.5) + (0.5-1e-4)*math.Log(0.5/1e-4)
	if got := PSI([]float64{10, 0}, []float64{5, 5}); math.Abs(got-want) > 1e-14 {
		t.Errorf("empty bin: %v, want %v", got, want)
	}
	if got := PSI([]float64{1, 2, 3}, []float64{2, 4, 6}); got != 0 {
		t.Errorf("identical proportions: %v, want 0", got)
	}
	if a, b := PSI([]float64{1, 2, 7}, []float64{3, 3, 4}), PSI([]float64{3, 3, 4}, []float64{1, 2, 7}); a != b {
		t.Errorf("PSI not symmetric: %v %v", a, b)
	}
	for _, c := range []struct{ e, a []float64 }{
		{nil, nil}, {[]float64{1}, []float64{1, 1}}, {[]float64{0, 0}, []float64{1, 1}}, {[]float64{1, -1}, []float64{1, 1}},
	} {
		if got := PSI(c.e, c.a); !math.IsNaN(got) {
			t.Errorf("PSI(%v, %v) = %v, want NaN", c.e, c.a, got)
		}
	}
}

// TestBinomialSFExact compares with the exact tail Σ_{i>=k} C(n,i)p^i(1−p)^(n−i)
// in rational arithmetic (p = 3/10, 1/2, 9/10 are exact decimals), and pins
// the documented edges.
func TestBinomialSFExact(t *testing.T) {
	for _, pr := range []struct {
		num, den int64
	}{{3, 10}, {1, 2}, {9, 10}, {1, 1000}} {
		p := float64(pr.num) / float64(pr.den)
		for _, n := range []int64{1, 2, 7, 30, 60} {
			for k := int64(-1); k <= n+1; k++ {
				want := binomTailRat(k, n, pr.num, pr.den)
				got := BinomialSF(k, n, p)
				if math.Abs(got-want) > 1e-13 || (want > 1e-290 && math.Abs(got-want)/want > 1e-10) {
					t.Errorf("BinomialSF(%d, %d, %v) = %.17g, want %.17g", k, n, p, got, want)
				}
			}
		}
	}
	nan := math.NaN()
	for _, c := range []struct {
		k, n int64
		p    float64
		want float64
	}{
		{0, 10, 0.3, 1}, {-5, 10, 0.3, 1}, {11, 10, 0.3, 0}, {1, 10, 0, 0}, {0, 10, 0, 1},
		{10, 10, 1, 1}, {11, 10, 1, 0}, {0, 0, 0.5, 1}, {1, 0, 0.5, 0},
		{1, -1, 0.5, nan}, {1, 10, -0.1, nan}, {1, 10, 1.1, nan}, {1, 10, nan, nan},
	} {
		if got := BinomialSF(c.k, c.n, c.p); !sameFloat(got, c.want, 0) {
			t.Errorf("BinomialSF(%d, %d, %v) = %v, want %v", c.k, c.n, c.p, got, c.want)
		}
	}
}

func binomTailRat(k, n, num, den int64) float64 {
	if k < 0 {
		k = 0
	}
	sum := new(big.Rat)
	for i := k; i <= n; i++ {
		term := new(big.Rat).SetInt(new(big.Int).Binomial(n, i))
		pi := new(big.Int).Exp(big.NewInt(num), big.NewInt(i), nil)
		qi := new(big.Int).Exp(big.NewInt(den-num), big.NewInt(n-i), nil)
		term.Mul(term, new(big.Rat).SetFrac(new(big.Int).Mul(pi, qi), new(big.Int).Exp(big.NewInt(den), big.NewInt(n), nil)))
		sum.Add(sum, term)
	}
	f, _ := sum.Float64()
	return f
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
