package detector

// Golden tests against scipy. testdata/scipy/golden.json is written by
// testdata/scipy/gen_golden.py (see its header); every expectation below is
// a number scipy computed. The Kolmogorov–Smirnov families are checked in
// package ksdist; this file checks the other tests' statistics and keeps
// the ks_2samp cases for the cell-count KS tests (reference_test.go).
//
// Helpers meant for reuse by other tests in package detector:
//   - loadGolden(tb) returns the parsed file (parsed once per test binary).
//   - goldenSamples(c) regenerates the two samples of a ks_2samp case.
//   - goldenUniforms(seed, n) is the raw xorshift64* stream.

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sync"
	"testing"
)

const goldenPath = "../testdata/scipy/golden.json"

// goldenTransform maps a uniform u to a sample value exactly as the
// generator does: "affine" is a + b·u; "grid" is a + b·(floor(u·k)/k).
type goldenTransform struct {
	Kind string  `json:"kind"`
	A    float64 `json:"a"`
	B    float64 `json:"b"`
	K    int     `json:"k"`
}

// apply evaluates the transform with one rounding per operation, in the
// generator's order. float64(...) forbids fusing b·u + a into an FMA.
func (tr goldenTransform) apply(u float64) float64 {
	switch tr.Kind {
	case "affine":
		return tr.A + float64(tr.B*u)
	case "grid":
		k := float64(tr.K)
		q := float64(math.Floor(float64(u*k)) / k)
		return tr.A + float64(tr.B*q)
	}
	panic("golden: unknown transform kind " + tr.Kind)
}

// goldenKS2Case is one scipy.stats.ks_2samp case.
type goldenKS2Case struct {
	Group      string          `json:"group"`
	Name       string          `json:"name"`
	N1         int             `json:"n1"`
	N2         int             `json:"n2"`
	Seed1      uint64          `json:"seed1"`
	Seed2      uint64          `json:"seed2"`
	Transform1 goldenTransform `json:"transform1"`
	Transform2 goldenTransform `json:"transform2"`
	D          float64         `json:"d"`       // ks_2samp statistic, method='auto'
	DAsymp     float64         `json:"d_asymp"` // statistic as the float ECDF difference (method='asymp')
	H          int64           `json:"h"`       // exact lattice distance, D = h/lcm
	LCM        int64           `json:"lcm"`
	PAuto      float64         `json:"p_auto"`
	PathAuto   string          `json:"path_auto"`
	PExact     float64         `json:"p_exact"`
	PathExact  string          `json:"path_exact"`
	PAsymp     float64         `json:"p_asymp"`
	PathAsymp  string          `json:"path_asymp"`
	NEff       int             `json:"n_eff"`
	KSTwoPath  string          `json:"kstwo_path"` // _kolmogn branch for (n_eff, d_asymp)
}

type goldenWelchCase struct {
	N1    float64 `json:"n1"`
	Mean1 float64 `json:"mean1"`
	Var1  float64 `json:"var1"`
	N2    float64 `json:"n2"`
	Mean2 float64 `json:"mean2"`
	Var2  float64 `json:"var2"`
	T     float64 `json:"t"`
	DF    float64 `json:"df"`
	P     float64 `json:"p"`
}

type goldenChiSquareCase struct {
	Observed []float64 `json:"observed"`
	Expected []float64 `json:"expected"`
	Stat     float64   `json:"stat"`
	DF       int       `json:"df"`
	P        float64   `json:"p"`
}

type goldenJSCase struct {
	P    []float64 `json:"p"`
	Q    []float64 `json:"q"`
	Dist float64   `json:"dist"`
}

type goldenPSICase struct {
	Expected []float64 `json:"expected"`
	Actual   []float64 `json:"actual"`
	PSI      float64   `json:"psi"`
}

type goldenBinomCase struct {
	K  int64   `json:"k"`
	N  int64   `json:"n"`
	P  float64 `json:"p"`
	SF float64 `json:"sf"`
}

// goldenFile is the parsed testdata/scipy/golden.json.
type goldenFile struct {
	Generator     string                `json:"generator"`
	ScipyVersion  string                `json:"scipy_version"`
	NumpyVersion  string                `json:"numpy_version"`
	KS2Samp       []goldenKS2Case       `json:"ks2samp"`
	Welch         []goldenWelchCase     `json:"welch"`
	ChiSquare     []goldenChiSquareCase `json:"chisquare"`
	JensenShannon []goldenJSCase        `json:"jensenshannon"`
	PSI           []goldenPSICase       `json:"psi"`
	BinomSF       []goldenBinomCase     `json:"binom_sf"`
}

var (
	goldenOnce sync.Once
	goldenData *goldenFile
	goldenErr  error
)

// loadGolden parses ../testdata/scipy/golden.json once per test binary and
// fails the test if it cannot. Callers must not modify the result.
func loadGolden(tb testing.TB) *goldenFile {
	tb.Helper()
	goldenOnce.Do(func() {
		raw, err := os.ReadFile(goldenPath)
		if err != nil {
			goldenErr = err
			return
		}
		var g goldenFile
		if err := json.Unmarshal(raw, &g); err != nil {
			goldenErr = fmt.Errorf("parse %s: %w", goldenPath, err)
			return
		}
		goldenData = &g
	})
	if goldenErr != nil {
		tb.Fatalf("load golden file: %v", goldenErr)
	}
	return goldenData
}

// xorshift64star is Vigna's xorshift64* generator; next returns a uniform
// in [0, 1) with 53 random bits, as gen_golden.py's xorshift64star does.
type xorshift64star struct{ x uint64 }

func (r *xorshift64star) next() float64 {
	r.x ^= r.x >> 12
	r.x ^= r.x << 25
	r.x ^= r.x >> 27
	out := r.x * 2685821657736338717
	return float64(out>>11) * 0x1p-53
}

// goldenUniforms returns the first n outputs of xorshift64* seeded with
// seed (which must be non-zero).
func goldenUniforms(seed uint64, n int) []float64 {
	if seed == 0 {
		panic("golden: xorshift64* seed must be non-zero")
	}
	r := xorshift64star{x: seed}
	u := make([]float64, n)
	for i := range u {
		u[i] = r.next()
	}
	return u
}

// goldenSamples regenerates the two samples of a ks_2samp golden case,
// bit-identical to the ones scipy saw (unsorted, in generation order).
func goldenSamples(c goldenKS2Case) (x, y []float64) {
	x = goldenUniforms(c.Seed1, c.N1)
	for i, u := range x {
		x[i] = c.Transform1.apply(u)
	}
	y = goldenUniforms(c.Seed2, c.N2)
	for i, u := range y {
		y[i] = c.Transform2.apply(u)
	}
	return x, y
}

// errTracker records the worst absolute and relative errors of a family of
// comparisons and fails on any absolute error above tol.
type errTracker struct {
	name           string
	tol            float64
	n              int
	maxAbs, maxRel float64
	worstA, worstR string
	relFloor       float64 // relative errors are tracked only where |want| > relFloor
	relTol         float64 // if > 0, also fail on a relative error above relTol there
}

func newErrTracker(name string, tol float64) *errTracker {
	return &errTracker{name: name, tol: tol, relFloor: 1e-10}
}

// withRel adds a relative tolerance (checked where |want| > 1e-10): a
// regression guard far tighter than the 1e-6 absolute requirement, with
// about 10-100x margin over the errors observed on linux/amd64.
func (e *errTracker) withRel(relTol float64) *errTracker {
	e.relTol = relTol
	return e
}

func (e *errTracker) check(t *testing.T, label string, got, want float64) {
	t.Helper()
	e.n++
	if math.IsNaN(got) || math.IsNaN(want) {
		if !(math.IsNaN(got) && math.IsNaN(want)) {
			t.Errorf("%s %s: got %v, want %v", e.name, label, got, want)
		}
		return
	}
	if math.IsInf(want, 0) || math.IsInf(got, 0) {
		if got != want {
			t.Errorf("%s %s: got %v, want %v", e.name, label, got, want)
		}
		return
	}
	abs := math.Abs(got - want)
	if abs > e.maxAbs {
		e.maxAbs, e.worstA = abs, label
	}
	if math.Abs(want) > e.relFloor {
		rel := abs / math.Abs(want)
		if rel > e.maxRel {
			e.maxRel, e.worstR = rel, label
		}
		if e.relTol > 0 && rel > e.relTol {
			t.Errorf("%s %s: got %.17g, want %.17g (rel err %.3g > %.3g)", e.name, label, got, want, rel, e.relTol)
		}
	}
	if abs > e.tol {
		t.Errorf("%s %s: got %.17g, want %.17g (abs err %.3g > %.3g)", e.name, label, got, want, abs, e.tol)
	}
}

func (e *errTracker) log(t *testing.T) {
	t.Helper()
	t.Logf("%-28s n=%4d  max abs err %.3g (%s)  max rel err (|want|>%.0e) %.3g (%s)",
		e.name, e.n, e.maxAbs, e.worstA, e.relFloor, e.maxRel, e.worstR)
}

// TestGoldenCoverage guards against an empty or truncated golden file: each
// family must hold its cases and every scipy code path must be exercised.
// The minimum counts are those of the committed file.
func TestGoldenCoverage(t *testing.T) {
	g := loadGolden(t)
	if g.ScipyVersion == "" || g.NumpyVersion == "" {
		t.Errorf("golden file lacks scipy/numpy versions: %q %q", g.ScipyVersion, g.NumpyVersion)
	}
	t.Logf("golden.json: scipy %s, numpy %s", g.ScipyVersion, g.NumpyVersion)

	if len(g.KS2Samp) < 35 {
		t.Errorf("ks2samp: %d cases, want >= 35", len(g.KS2Samp))
	}
	for _, fam := range []struct {
		name string
		got  int
		min  int
	}{
		{"welch", len(g.Welch), 14},
		{"chisquare", len(g.ChiSquare), 8},
		{"jensenshannon", len(g.JensenShannon), 8},
		{"psi", len(g.PSI), 8},
		{"binom_sf", len(g.BinomSF), 19},
	} {
		if fam.got < fam.min {
			t.Errorf("%s: %d cases, want >= %d", fam.name, fam.got, fam.min)
		}
	}
}

// TestGoldenWelch checks scipy.stats.ttest_ind_from_stats(equal_var=False).
func TestGoldenWelch(t *testing.T) {
	g := loadGolden(t)
	pe := newErrTracker("welch p", 1e-6).withRel(1e-5) // normal tail above df 1e7: ~1e-7
	te := newErrTracker("welch t (relative)", 1e-9)
	fe := newErrTracker("welch df (relative)", 1e-9)
	for _, c := range g.Welch {
		label := fmt.Sprintf("n=%v/%v", c.N1, c.N2)
		tt, df, p := WelchTTest(c.N1, c.Mean1, c.Var1, c.N2, c.Mean2, c.Var2)
		pe.check(t, label, p, c.P)
		// t and df are checked relative to their size.
		te.check(t, label, relRatio(tt, c.T), 1)
		fe.check(t, label, relRatio(df, c.DF), 1)
	}
	pe.log(t)
	te.log(t)
	fe.log(t)
}

// TestGoldenChiSquare checks scipy.stats.chisquare(f_obs, f_exp).
func TestGoldenChiSquare(t *testing.T) {
	g := loadGolden(t)
	pe := newErrTracker("chisquare p", 1e-6).withRel(1e-12)
	se := newErrTracker("chisquare stat (relative)", 1e-12)
	for _, c := range g.ChiSquare {
		label := fmt.Sprintf("k=%d", len(c.Observed))
		stat, df, p := ChiSquareGOF(c.Observed, c.Expected)
		if df != c.DF {
			t.Errorf("%s: df %d, want %d", label, df, c.DF)
		}
		pe.check(t, label, p, c.P)
		se.check(t, label, relRatio(stat, c.Stat), 1)
	}
	pe.log(t)
	se.log(t)
}

// TestGoldenJensenShannon checks scipy.spatial.distance.jensenshannon(base=2).
func TestGoldenJensenShannon(t *testing.T) {
	g := loadGolden(t)
	e := newErrTracker("jensenshannon", 1e-12)
	for i, c := range g.JensenShannon {
		e.check(t, fmt.Sprintf("case %d", i), JensenShannonDistance(c.P, c.Q), c.Dist)
	}
	e.log(t)
}

// TestGoldenPSI checks PSI against the generator's numpy transcription of
// Evidently's formula.
func TestGoldenPSI(t *testing.T) {
	g := loadGolden(t)
	e := newErrTracker("psi", 1e-12)
	for i, c := range g.PSI {
		e.check(t, fmt.Sprintf("case %d", i), PSI(c.Expected, c.Actual), c.PSI)
	}
	e.log(t)
}

// TestGoldenBinomialSF checks scipy.stats.binom.sf(k-1, n, p).
func TestGoldenBinomialSF(t *testing.T) {
	g := loadGolden(t)
	e := newErrTracker("binom sf", 1e-6).withRel(1e-8)
	for _, c := range g.BinomSF {
		e.check(t, fmt.Sprintf("k=%d n=%d p=%v", c.K, c.N, c.P), BinomialSF(c.K, c.N, c.P), c.SF)
	}
	e.log(t)
}

// relRatio returns got/want, or 1 when both are 0, so that a relative
// comparison can go through errTracker.
func relRatio(got, want float64) float64 {
	if got == 0 && want == 0 {
		return 1
	}
	return got / want
}
