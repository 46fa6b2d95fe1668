package ksdist

// Golden tests against scipy. testdata/scipy/golden.json is written by
// testdata/scipy/gen_golden.py (see its header); every expectation below is
// a number scipy computed, and every case records which scipy code path
// produced it, so these tests check the routing as well as the values.
//
// Helpers meant for reuse by other tests in package ksdist:
//   - loadGolden(tb) returns the parsed file (parsed once per test binary).
//   - goldenSamples(c) regenerates the two samples of a ks_2samp case.
//   - goldenUniforms(seed, n) is the raw xorshift64* stream.
//   - ks2MergeH(x, y) is a plain exact ECDF merge giving h = D·lcm.

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"sync"
	"testing"
)

const goldenPath = "../../testdata/scipy/golden.json"

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

type goldenKSTwoCase struct {
	Group   string  `json:"group"`
	N       int     `json:"n"`
	D       float64 `json:"d"`
	SF      float64 `json:"sf"`
	CDF     float64 `json:"cdf"`
	Path    string  `json:"path"`
	CDFPath string  `json:"cdf_path"`
}

type goldenSmirnovCase struct {
	Group string  `json:"group"`
	N     int     `json:"n"`
	D     float64 `json:"d"`
	SF    float64 `json:"sf"`
	Path  string  `json:"path"`
}

type goldenKolmogorovCase struct {
	X    float64 `json:"x"`
	SF   float64 `json:"sf"`
	Path string  `json:"path"`
}

// goldenFile is the parsed testdata/scipy/golden.json.
type goldenFile struct {
	Generator    string                 `json:"generator"`
	ScipyVersion string                 `json:"scipy_version"`
	NumpyVersion string                 `json:"numpy_version"`
	KS2Samp      []goldenKS2Case        `json:"ks2samp"`
	KSTwo        []goldenKSTwoCase      `json:"kstwo"`
	Smirnov      []goldenSmirnovCase    `json:"smirnov"`
	Kolmogorov   []goldenKolmogorovCase `json:"kolmogorov"`
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

// ks2MergeH computes the two-sample KS statistic by a plain merge of the
// sorted samples, as scipy defines it: both ECDFs are right-continuous
// (counts of values <= t) and are compared at every pooled value t, so tied
// values move both ECDFs together. It returns the exact lattice distance
// h = max_t |c1(t)·(lcm/n1) − c2(t)·(lcm/n2)| and lcm = lcm(n1, n2)
// (D = h/lcm), and dFloat = max_t |c1/n1 − c2/n2| in float64, which is what
// scipy's method='asymp' reports.
func ks2MergeH(x, y []float64) (h, lcm int64, dFloat float64) {
	xs, ys := slices.Clone(x), slices.Clone(y)
	slices.Sort(xs)
	slices.Sort(ys)
	n1, n2 := int64(len(xs)), int64(len(ys))
	g := GCD(n1, n2)
	lcm = n1 / g * n2
	s1, s2 := lcm/n1, lcm/n2
	var i, j int
	for i < len(xs) || j < len(ys) {
		var t float64
		if j >= len(ys) || (i < len(xs) && xs[i] <= ys[j]) {
			t = xs[i]
		} else {
			t = ys[j]
		}
		for i < len(xs) && xs[i] <= t {
			i++
		}
		for j < len(ys) && ys[j] <= t {
			j++
		}
		diff := int64(i)*s1 - int64(j)*s2
		if diff < 0 {
			diff = -diff
		}
		h = max(h, diff)
		dFloat = max(dFloat, math.Abs(float64(i)/float64(n1)-float64(j)/float64(n2)))
	}
	return h, lcm, dFloat
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

// pathMethod maps a golden ks_2samp path label to the method Go reports.
func pathMethod(path string) Method {
	switch path {
	case "exact_square", "exact_inside", "exact_h0":
		return Exact
	default: // "asymp", "asymp_int32", "asymp_exact_failed"
		return Asymp
	}
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

	count := func(labels []string) map[string]int {
		m := map[string]int{}
		for _, l := range labels {
			m[l]++
		}
		return m
	}
	need := func(family string, got map[string]int, want map[string]int) {
		t.Helper()
		for path, min := range want {
			if got[path] < min {
				t.Errorf("%s: %d cases on path %q, want >= %d", family, got[path], path, min)
			}
		}
		t.Logf("%s paths: %v", family, got)
	}

	var auto, exact, asymp, kspath []string
	for _, c := range g.KS2Samp {
		auto = append(auto, c.PathAuto)
		exact = append(exact, c.PathExact)
		asymp = append(asymp, c.PathAsymp)
		kspath = append(kspath, c.KSTwoPath)
	}
	need("ks2samp auto", count(auto), map[string]int{
		"exact_square": 12, "exact_inside": 12, "exact_h0": 1, "asymp_exact_failed": 2, "asymp": 8})
	need("ks2samp exact", count(exact), map[string]int{
		"exact_square": 15, "exact_inside": 16, "asymp_int32": 1, "asymp_exact_failed": 2})
	need("ks2samp asymp", count(asymp), map[string]int{"asymp": 35})
	need("ks2samp asymp kstwo", count(kspath), map[string]int{
		"large_smirnov": 5, "large_pelz_good": 5, "small_pomeranz": 2})

	var sf, cdf []string
	for _, c := range g.KSTwo {
		sf = append(sf, c.Path)
		cdf = append(cdf, c.CDFPath)
	}
	need("kstwo sf", count(sf), map[string]int{
		"x_ge_1": 2, "x_le_0": 2, "t_le_half": 3, "t_le_1": 6, "t_ge_n_minus_1": 3, "x_ge_half": 4,
		"small_durbin": 6, "small_pomeranz": 6, "small_smirnov": 3,
		"large_370": 3, "large_smirnov": 5, "large_durbin": 5, "large_pelz_good": 7})
	need("kstwo cdf", count(cdf), map[string]int{"large_cdf_one": 10, "large_pelz_good": 10})
	bigPG := 0
	for _, c := range g.KSTwo {
		if c.Path == "large_pelz_good" && c.N > 100000 {
			bigPG++
		}
	}
	if bigPG < 2 {
		t.Errorf("kstwo: %d Pelz–Good cases with n > 100000, want >= 2", bigPG)
	}

	var sm []string
	for _, c := range g.Smirnov {
		sm = append(sm, c.Path)
	}
	need("smirnov", count(sm), map[string]int{
		"n_eq_1": 1, "x_eq_0": 1, "x_eq_1": 1, "x_le_1_over_n": 5, "underflow": 5,
		"x_ge_1_minus_1_over_n": 5, "n_gt_1e6": 5, "upper_sum": 3, "lower_sum": 20})

	var ko []string
	for _, c := range g.Kolmogorov {
		ko = append(ko, c.Path)
	}
	need("kolmogorov", count(ko), map[string]int{"series_small_x": 10, "series_large_x": 10})
}

// TestGoldenKS2Samp regenerates each case's samples, recomputes D by an
// exact merge (validating the generator against scipy's D), and checks the
// p-value and the path for method auto, exact and asymp, through both
// TwoSampPValue (float D, as scipy receives it) and TwoSampPValueH
// (integer h).
func TestGoldenKS2Samp(t *testing.T) {
	g := loadGolden(t)
	pe := newErrTracker("ks_2samp p (all methods)", 1e-6).withRel(1e-10)
	de := newErrTracker("ks_2samp D", 1e-12)
	for _, c := range g.KS2Samp {
		label := c.Group + "/" + c.Name
		x, y := goldenSamples(c)
		h, lcm, dFloat := ks2MergeH(x, y)
		if h != c.H || lcm != c.LCM {
			t.Errorf("%s: merge gives h/lcm = %d/%d, golden %d/%d", label, h, lcm, c.H, c.LCM)
		}
		if got := TwoSampLCM(c.N1, c.N2); got != c.LCM {
			t.Errorf("%s: TwoSampLCM = %d, want %d", label, got, c.LCM)
		}
		de.check(t, label+" h/lcm", float64(h)/float64(lcm), c.D)
		de.check(t, label+" float D", dFloat, c.DAsymp)

		type run struct {
			method Method
			p      float64
			path   string
		}
		for _, r := range []run{{Auto, c.PAuto, c.PathAuto}, {Exact, c.PExact, c.PathExact}, {Asymp, c.PAsymp, c.PathAsymp}} {
			wantUsed := pathMethod(r.path)
			// scipy's D: h/lcm for exact, the float difference for asymp.
			// scipy's D: h/lcm once the exact path was attempted, the
			// float ECDF difference otherwise.
			d := c.D
			if r.path == "asymp" || r.path == "asymp_int32" {
				d = c.DAsymp
			}
			p, used := TwoSampPValue(d, c.N1, c.N2, r.method)
			pe.check(t, fmt.Sprintf("%s %v (d)", label, r.method), p, r.p)
			if used != wantUsed {
				t.Errorf("%s %v: used %v, scipy path %s", label, r.method, used, r.path)
			}
			ph, usedH := TwoSampPValueH(c.H, c.N1, c.N2, r.method)
			pe.check(t, fmt.Sprintf("%s %v (h)", label, r.method), ph, r.p)
			if usedH != wantUsed {
				t.Errorf("%s %v (h): used %v, scipy path %s", label, r.method, usedH, r.path)
			}
		}
		if _, path := kolmogn(c.NEff, c.DAsymp, false); path.String() != c.KSTwoPath {
			t.Errorf("%s: kstwo path for n_eff=%d d=%v is %v, scipy %s", label, c.NEff, c.DAsymp, path, c.KSTwoPath)
		}
	}
	de.log(t)
	pe.log(t)
}

// TestGoldenKolmogorovSF checks kstwo.sf and kstwo.cdf over the targeted
// cases (one group per _kolmogn branch) and a grid of n × d, and that Go
// takes the same branch as scipy for every case.
func TestGoldenKolmogorovSF(t *testing.T) {
	g := loadGolden(t)
	byPath := map[string]*errTracker{}
	all := newErrTracker("kstwo sf+cdf (all)", 1e-6).withRel(1e-9)
	for _, c := range g.KSTwo {
		label := fmt.Sprintf("%s n=%d d=%v", c.Group, c.N, c.D)
		sf, path := kolmogn(c.N, c.D, false)
		if path.String() != c.Path {
			t.Errorf("%s: sf path %v, scipy %s", label, path, c.Path)
		}
		cdf, cpath := kolmogn(c.N, c.D, true)
		if cpath.String() != c.CDFPath {
			t.Errorf("%s: cdf path %v, scipy %s", label, cpath, c.CDFPath)
		}
		e := byPath[c.Path]
		if e == nil {
			e = newErrTracker("kstwo sf "+c.Path, 1e-6)
			byPath[c.Path] = e
		}
		e.check(t, label+" sf", sf, c.SF)
		all.check(t, label+" sf", sf, c.SF)
		all.check(t, label+" cdf", cdf, c.CDF)
	}
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range byPath {
			if !yield(k) {
				return
			}
		}
	}) {
		byPath[k].log(t)
	}
	all.log(t)
}

// TestGoldenSmirnov checks scipy.special.smirnov across every branch of
// xsf's _smirnov, including n > 10⁶.
func TestGoldenSmirnov(t *testing.T) {
	g := loadGolden(t)
	e := newErrTracker("smirnov", 1e-6).withRel(1e-9)
	for _, c := range g.Smirnov {
		label := fmt.Sprintf("%s n=%d d=%v", c.Group, c.N, c.D)
		got, path := smirnov(c.N, c.D)
		if path.String() != c.Path {
			t.Errorf("%s: path %v, scipy %s", label, path, c.Path)
		}
		e.check(t, label, got, c.SF)
	}
	e.log(t)
}

// TestGoldenKolmogorovLimit checks scipy.special.kolmogorov on both series.
func TestGoldenKolmogorovLimit(t *testing.T) {
	g := loadGolden(t)
	e := newErrTracker("kolmogorov", 1e-6).withRel(1e-13)
	for _, c := range g.Kolmogorov {
		e.check(t, fmt.Sprintf("x=%v", c.X), KolmogorovLimitSF(c.X), c.SF)
	}
	e.log(t)
}
