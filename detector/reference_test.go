package detector

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
)

func buildNumeric(t testing.TB, name string, xs []float64, r int) *Reference {
	b, err := NewBuilder("m", "1", BuildOptions{Breakpoints: r})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range xs {
		b.BeginRow()
		if err := b.Add(name, Value{Kind: Number, Num: x, Parsed: true}); err != nil {
			t.Fatal(err)
		}
		b.EndRow()
	}
	ref, err := b.Reference()
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// TestCellKSMatchesScipy counts each golden ks_2samp case's first sample in
// the cells of a reference built from the second and checks D (to 1e-12),
// the p-value (to 1e-6, where the exact one is reported) and the decision
// at levels around it against scipy.stats.ks_2samp(method='auto').
// The reference keeps every distinct value (r ≥ distinct), so its step CDF
// is the second sample's ECDF and the comparison is exact.
func TestCellKSMatchesScipy(t *testing.T) {
	g := loadGolden(t)
	checked, approx := 0, 0
	for _, c := range g.KS2Samp {
		x, y := goldenSamples(c)
		distinct := map[float64]bool{}
		for _, v := range y {
			distinct[v] = true
		}
		if len(distinct) > MaxBreakpoints {
			continue // a sketch, not the sample: not comparable with scipy
		}
		ref := buildNumeric(t, "v", y, MaxBreakpoints)
		f := ref.Features[0]
		if !f.Exact || f.CDFError != 0 {
			t.Fatalf("%s: reference of %d distinct values is not exact", c.Name, len(distinct))
		}
		comp, err := compile(f)
		if err != nil {
			t.Fatal(err)
		}
		counts := make([]uint32, comp.layout.Cells())
		for _, v := range x {
			counts[comp.breaks.Cell(v)]++
		}
		p := DefaultPolicy()
		r, ok := comp.ks(Snapshot{Counts: counts}, int64(len(x)), &p)
		if !ok {
			t.Fatalf("%s: no KS result", c.Name)
		}
		if math.Abs(r.Statistic-c.D) > 1e-12 {
			t.Errorf("%s: D = %.17g, scipy %.17g", c.Name, r.Statistic, c.D)
		}
		// The reported p-value is scipy's where the exact computation
		// fits the evaluation's budget; else it is kstwo's (marked).
		if !r.PValueApprox && math.Abs(r.PValue-c.PAuto) > 1e-6 {
			t.Errorf("%s: p = %.17g (%s), scipy %.17g (%s)", c.Name, r.PValue, r.Method, c.PAuto, c.PathAuto)
		}
		// The decision at any level is scipy's p < level: levels on both
		// sides of scipy's p, and a grid.
		r.Test = TestKS
		for _, level := range []float64{c.PAuto * 1.001, c.PAuto * 0.999, 0.05} {
			if got, want := comp.below(&r, level), c.PAuto < level; got != want {
				t.Errorf("%s: significant at %.6g = %v, scipy p %.17g", c.Name, level, got, c.PAuto)
			}
		}
		if r.PValueApprox {
			approx++
		}
		checked++
	}
	if checked < 20 {
		t.Fatalf("only %d golden cases were comparable", checked)
	}
	t.Logf("%d cases, %d with an approximate reported p-value", checked, approx)
}

// TestBuildBreakpoints checks the reference CDF against the data it was
// built from: every breakpoint's rank is the exact count of values ≤ it,
// the ends are the minimum and maximum, and the stored error bound is the
// largest mass strictly between neighbouring breakpoints — at most about
// 1/(r−1) — and zero when every distinct value is kept.
func TestBuildBreakpoints(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	cases := []struct {
		name  string
		xs    []float64
		r     int
		exact bool
	}{
		// Continuous values, far more distinct values than r.
		{"normal", normals(rng, 20000), 100, false},
		// Heavy atoms: ties must stay whole (an atom is never split).
		{"atoms", atoms(rng, 20000), 50, false},
		// Fewer distinct values than r: every value is a breakpoint.
		{"few distinct", ints(rng, 20000, 40), 100, true},
		// Exactly r distinct values.
		{"r distinct", ints(rng, 5000, 100), 100, true},
		// One value.
		{"constant", make([]float64, 10), 100, true},
	}
	for _, tc := range cases {
		ref := buildNumeric(t, "v", tc.xs, tc.r)
		f := ref.Features[0]
		sorted := slices.Clone(tc.xs)
		slices.Sort(sorted)
		if f.Exact != tc.exact {
			t.Errorf("%s: exact=%v want %v", tc.name, f.Exact, tc.exact)
		}
		if len(f.Breakpoints) > tc.r {
			t.Errorf("%s: %d breakpoints, r = %d", tc.name, len(f.Breakpoints), tc.r)
		}
		if f.Breakpoints[0] != sorted[0] || f.Breakpoints[len(f.Breakpoints)-1] != sorted[len(sorted)-1] {
			t.Errorf("%s: ends %v..%v, data %v..%v", tc.name, f.Breakpoints[0], f.Breakpoints[len(f.Breakpoints)-1], sorted[0], sorted[len(sorted)-1])
		}
		var worst int
		for j, q := range f.Breakpoints {
			le := sort.Search(len(sorted), func(i int) bool { return sorted[i] > q })
			if int64(le) != f.Ranks[j] {
				t.Fatalf("%s: rank of %v is %d, data has %d values ≤ it", tc.name, q, f.Ranks[j], le)
			}
			if j+1 < len(f.Breakpoints) {
				lt := sort.SearchFloat64s(sorted, f.Breakpoints[j+1])
				worst = max(worst, lt-le)
			}
		}
		if want := float64(worst) / float64(len(sorted)); f.CDFError != want {
			t.Errorf("%s: cdf_error %v, largest open-cell mass %v", tc.name, f.CDFError, want)
		}
		if f.CDFError > 1.0/float64(tc.r-1)+1e-12 {
			t.Errorf("%s: cdf_error %v exceeds 1/(r−1) = %v", tc.name, f.CDFError, 1.0/float64(tc.r-1))
		}
		mean, variance := 0.0, 0.0
		for _, x := range tc.xs {
			mean += x
		}
		mean /= float64(len(tc.xs))
		for _, x := range tc.xs {
			variance += (x - mean) * (x - mean)
		}
		variance /= float64(len(tc.xs) - 1)
		if math.Abs(f.Mean-mean) > 1e-9 || math.Abs(f.Variance-variance) > 1e-9*math.Max(1, variance) {
			t.Errorf("%s: mean/var %v/%v, want %v/%v", tc.name, f.Mean, f.Variance, mean, variance)
		}
	}
}

func normals(rng *rand.Rand, n int) []float64 {
	xs := make([]float64, n)
	for i := range xs {
		xs[i] = rng.NormFloat64()
	}
	return xs
}

func atoms(rng *rand.Rand, n int) []float64 {
	xs := make([]float64, n)
	for i := range xs {
		switch u := rng.Float64(); {
		case u < 0.3:
			xs[i] = 0 // 30% atom
		case u < 0.4:
			xs[i] = 1 // 10% atom
		default:
			xs[i] = rng.NormFloat64()
		}
	}
	return xs
}

func ints(rng *rand.Rand, n, k int) []float64 {
	xs := make([]float64, n)
	for i := range xs {
		xs[i] = float64(i % k) // all k values present
		if i >= k {
			xs[i] = float64(rng.IntN(k))
		}
	}
	return xs
}

func TestBuildCategoricalAndKinds(t *testing.T) {
	b, _ := NewBuilder("m", "v", BuildOptions{TopK: 2, Categorical: []string{"zip"}})
	rows := []map[string]Value{
		{"plan": str("pro"), "zip": num(94103), "age": num(30)},
		{"plan": str("pro"), "zip": num(94103), "age": num(40)},
		{"plan": str("basic"), "zip": num(10001), "age": {Kind: Null}},
		{"plan": str("free"), "zip": num(94103), "age": str("n/a")},
		{"plan": {Kind: Other}, "age": num(50)},
	}
	for _, r := range rows {
		b.BeginRow()
		for k, v := range r {
			b.Add(k, v)
		}
		b.EndRow()
	}
	ref, err := b.Reference()
	if err != nil {
		t.Fatal(err)
	}
	plan, zip, age := ref.Feature("plan"), ref.Feature("zip"), ref.Feature("age")
	// plan: pro×2 kept; basic and free tie at 1, "basic" wins by name;
	// "free" goes to other; the object is invalid.
	if plan.Kind != Categorical || !reflect.DeepEqual(plan.Categories, []CategoryCount{{"pro", 2}, {"basic", 1}}) ||
		plan.Other != 1 || plan.Distinct != 3 || plan.Invalid != 1 || plan.Count != 4 {
		t.Errorf("plan = %+v", plan)
	}
	// zip is forced categorical: numbers become their shortest text;
	// absent in the last row → missing.
	if zip.Kind != Categorical || zip.Categories[0] != (CategoryCount{"94103", 3}) || zip.Missing != 1 {
		t.Errorf("zip = %+v", zip)
	}
	// age: 3 numbers, 1 string → 75% numbers < 95%: categorical by inference.
	if age.Kind != Categorical || age.Missing != 1 {
		t.Errorf("age = %+v", age)
	}
}

func str(s string) Value  { return Value{Kind: String, Text: []byte(s)} }
func num(x float64) Value { return Value{Kind: Number, Num: x, Parsed: true} }

func TestReferenceRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	b, _ := NewBuilder("churn", "3", BuildOptions{Breakpoints: 64})
	for range 5000 {
		b.BeginRow()
		b.Add("tenure_days", num(365+180*rng.NormFloat64()))
		b.Add("plan", str([]string{"basic", "pro", "enterprise"}[rng.IntN(3)]))
		if rng.IntN(10) > 0 {
			b.Add("discount", num(float64(rng.IntN(5))*0.05))
		}
		b.Add("prediction", num(rng.Float64()))
		b.EndRow()
	}
	ref, err := b.Reference()
	if err != nil {
		t.Fatal(err)
	}
	data, err := ref.Encode()
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeReference(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ref, back) {
		t.Fatal("decoded reference differs from the encoded one")
	}
	again, _ := back.Encode()
	if string(again) != string(data) {
		t.Fatal("re-encoding changed the bytes")
	}
	if !strings.HasPrefix(ref.ID, "sha256:") || len(ref.ID) != 7+24 {
		t.Fatalf("id %q", ref.ID)
	}
	if ref.Feature("discount").Missing != 5000-int64(ref.Feature("discount").Count) {
		t.Fatalf("discount missing %d", ref.Feature("discount").Missing)
	}
	if GroupOf("prediction") != GroupPrediction || GroupOf("prediction.churn") != GroupPrediction || GroupOf("predictions") != GroupFeatures {
		t.Fatal("GroupOf")
	}
}

// TestDecodeReferenceRejects feeds malformed and hostile references; each
// must fail with an error that names the offending field.
func TestDecodeReferenceRejects(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	ref := buildNumeric(t, "x", normals(rng, 1000), 16)
	good, _ := ref.Encode()
	mutate := func(f func(m map[string]any)) []byte {
		var m map[string]any
		json.Unmarshal(good, &m)
		f(m)
		data, _ := json.Marshal(m)
		return data
	}
	feat := func(m map[string]any) map[string]any { return m["features"].([]any)[0].(map[string]any) }
	cases := []struct {
		name  string
		data  []byte
		field string
	}{
		{"not json", []byte("{"), "$"},
		{"trailing data", append(append([]byte{}, good...), []byte(" {}")...), "$"},
		{"wrong schema", mutate(func(m map[string]any) { m["schema"] = "driftd.reference/v0" }), "schema"},
		{"unknown field", mutate(func(m map[string]any) { m["extra"] = 1 }), "$"},
		{"no model", mutate(func(m map[string]any) { m["model"] = "" }), "model"},
		{"slash in model", mutate(func(m map[string]any) { m["model"] = "a/b" }), "model"},
		{"no features", mutate(func(m map[string]any) { m["features"] = []any{} }), "features"},
		{"null feature", mutate(func(m map[string]any) { m["features"] = []any{nil} }), "features[0]"},
		{"bad kind", mutate(func(m map[string]any) { feat(m)["kind"] = "ordinal" }), "features[0].kind"},
		{"negative count", mutate(func(m map[string]any) { feat(m)["missing"] = -1 }), "features[0].missing"},
		{"string count", mutate(func(m map[string]any) { feat(m)["count"] = "10" }), "features.count"},
		{"unsorted breakpoints", mutate(func(m map[string]any) {
			q := feat(m)["breakpoints"].([]any)
			q[3], q[4] = q[4], q[3]
		}), "features[0].breakpoints[4]"},
		{"rank beyond count", mutate(func(m map[string]any) {
			r := feat(m)["ranks"].([]any)
			r[len(r)-1] = 5000.0
		}), "features[0].ranks[15]"},
		{"ranks length", mutate(func(m map[string]any) { feat(m)["ranks"] = feat(m)["ranks"].([]any)[1:] }), "features[0].ranks"},
		{"nan-like variance", mutate(func(m map[string]any) { feat(m)["variance"] = -1.0 }), "features[0].variance"},
		{"cdf error > 1", mutate(func(m map[string]any) { feat(m)["cdf_error"] = 2.0 }), "features[0].cdf_error"},
		{"huge breakpoints", mutate(func(m map[string]any) {
			q := make([]any, MaxBreakpoints+1)
			for i := range q {
				q[i] = float64(i)
			}
			feat(m)["breakpoints"] = q
		}), "features[0].breakpoints"},
		{"id mismatch", mutate(func(m map[string]any) { m["id"] = "sha256:000000000000000000000000" }), "id"},
		{"duplicate feature", mutate(func(m map[string]any) {
			fs := m["features"].([]any)
			m["features"] = append(fs, fs[0])
		}), "features[1].name"},
	}
	for _, tc := range cases {
		_, err := DecodeReference(tc.data)
		var fe *FieldError
		if !errors.As(err, &fe) {
			t.Errorf("%s: error %v, want a *FieldError", tc.name, err)
			continue
		}
		if fe.Field != tc.field {
			t.Errorf("%s: error names %q, want %q (%v)", tc.name, fe.Field, tc.field, err)
		}
	}
	// NaN cannot be written in JSON; a literal is a syntax error.
	if _, err := DecodeReference([]byte(strings.Replace(string(good), `"mean": `, `"mean": NaN, "x":`, 1))); err == nil {
		t.Error("NaN literal accepted")
	}
}

// FuzzDecodeReference: the decoder never panics, and whatever it accepts
// re-encodes to an equal reference and can drive a Monitor.
func FuzzDecodeReference(f *testing.F) {
	rng := rand.New(rand.NewPCG(8, 8))
	b, _ := NewBuilder("m", "1", BuildOptions{Breakpoints: 8, TopK: 3})
	for range 200 {
		b.BeginRow()
		b.Add("n", num(math.Round(rng.NormFloat64()*10)))
		b.Add("c", str(string(rune('a'+rng.IntN(5)))))
		b.EndRow()
	}
	ref, _ := b.Reference()
	good, _ := ref.Encode()
	f.Add(good)
	f.Add([]byte(`{"schema":"driftd.reference/v1"}`))
	f.Add([]byte(`{"schema":"driftd.reference/v1","model":"m","features":[{"name":"x","kind":"numeric","count":1,"breakpoints":[1],"ranks":[1],"min":1,"max":1,"mean":1}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeReference(data)
		if err != nil {
			return
		}
		again, err := r.Encode()
		if err != nil {
			t.Fatalf("accepted reference does not encode: %v", err)
		}
		r2, err := DecodeReference(again)
		if err != nil || !reflect.DeepEqual(r, r2) {
			t.Fatalf("round trip failed: %v", err)
		}
		m, err := NewMonitor(r, nil, WindowConfig{Size: 8, Hop: 4})
		if err != nil {
			t.Fatalf("accepted reference rejected by NewMonitor: %v", err)
		}
		var out Output
		for i := range 16 {
			m.Begin(GroupFeatures, int64(i), int64(i), &out)
			for j, ft := range r.Features {
				m.Value(j, []byte(ft.Name), num(float64(i)))
			}
			m.End(&out)
		}
	})
}
