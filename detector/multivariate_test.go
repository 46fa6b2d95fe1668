package detector

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// correlated draws (x0, x1, x2): x0 and x1 standard normal with
// correlation rho, x2 an independent N(5, 2²). Every marginal is the same
// whatever rho.
func correlated(rng *rand.Rand, rho float64, xs []float64) {
	a, b := rng.NormFloat64(), rng.NormFloat64()
	xs[0] = a
	xs[1] = rho*a + math.Sqrt(1-rho*rho)*b
	xs[2] = 5 + 2*rng.NormFloat64()
}

// multivariateReference builds a reference of f00, f01, f02 (see
// correlated, rho = 0.8) with a PCA keeping 65% of the variance.
func multivariateReference(t testing.TB, rng *rand.Rand, rows int) *Reference {
	b, err := NewBuilder("sim", "1", BuildOptions{Multivariate: &MultivariateOptions{}})
	if err != nil {
		t.Fatal(err)
	}
	names := featureNames(3)
	xs := make([]float64, 3)
	for range rows {
		correlated(rng, 0.8, xs)
		b.BeginRow()
		for i, n := range names {
			if err := b.Add(string(n), Value{Kind: Number, Num: xs[i], Parsed: true}); err != nil {
				t.Fatal(err)
			}
		}
		b.EndRow()
	}
	ref, err := b.Reference()
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// TestMultivariateBuild: the PCA of (x0, x1, x2) with corr(x0, x1) = 0.8
// has standardized variances 1.8, 1 and 0.2, so keeping 65% of the
// variance takes two components (1.8/3 = 0.6 < 0.65 ≤ 2.8/3 = 0.93); the
// discarded direction is (z0 − z1)/√2, of variance 0.2, so the reference
// reconstruction error |r| of a held-out row has E[r²] ≈ 0.2. A quarter of
// the rows are held out. The reference round-trips through its encoding.
func TestMultivariateBuild(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 41))
	ref := multivariateReference(t, rng, 40000)
	mv := ref.Multivariate
	if mv == nil {
		t.Fatal("no multivariate section")
	}
	if len(mv.Components) != 2 {
		t.Fatalf("%d components kept, want 2", len(mv.Components))
	}
	if math.Abs(mv.VarianceShare-2.8/3) > 0.01 {
		t.Errorf("variance share %v, want ≈ %v", mv.VarianceShare, 2.8/3)
	}
	if mv.FitRows != 30000 || mv.HoldoutRows != 10000 {
		t.Errorf("fit %d, holdout %d rows, want 30000 and 10000", mv.FitRows, mv.HoldoutRows)
	}
	// The discarded direction is orthogonal to both kept components.
	d := []float64{1 / math.Sqrt2, -1 / math.Sqrt2, 0}
	for j, c := range mv.Components {
		if dot := c[0]*d[0] + c[1]*d[1] + c[2]*d[2]; math.Abs(dot) > 0.02 {
			t.Errorf("component %d %v is not orthogonal to (z0−z1)/√2 (dot %v)", j, c, dot)
		}
	}
	f := ref.Feature(MultivariateFeature)
	if f == nil || f.Count != 10000 {
		t.Fatalf("derived feature %+v, want 10000 held-out values", f)
	}
	if ms := f.Variance + f.Mean*f.Mean; math.Abs(ms-0.2) > 0.01 {
		t.Errorf("reference E[error²] = %v, want ≈ 0.2", ms)
	}
	data, err := ref.Encode()
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeReference(data)
	if err != nil {
		t.Fatal(err)
	}
	if back.ID != ref.ID || back.Multivariate == nil || len(back.Multivariate.Components) != 2 {
		t.Fatalf("round trip lost the multivariate section (id %s → %s)", ref.ID, back.ID)
	}
}

// TestMultivariateReferenceRejects: a decoded reference whose PCA section
// does not fit its features is rejected with the field named.
func TestMultivariateReferenceRejects(t *testing.T) {
	rng := rand.New(rand.NewPCG(42, 42))
	base := multivariateReference(t, rng, 4000)
	for _, tc := range []struct {
		name, field string
		mutate      func(r *Reference)
	}{
		{"component not unit", "multivariate.components[0]", func(r *Reference) { r.Multivariate.Components[0][0] *= 2 }},
		{"component length", "multivariate.components[1]", func(r *Reference) { r.Multivariate.Components[1] = r.Multivariate.Components[1][:2] }},
		{"as many components as inputs", "multivariate.components", func(r *Reference) {
			r.Multivariate.Components = append(r.Multivariate.Components, []float64{1, 0, 0})
		}},
		{"unknown input", "multivariate.inputs[2]", func(r *Reference) { r.Multivariate.Inputs[2] = "nope" }},
		{"derived as input", "multivariate.inputs[0]", func(r *Reference) { r.Multivariate.Inputs[0] = MultivariateFeature }},
		{"zero scale", "multivariate.scales[1]", func(r *Reference) { r.Multivariate.Scales[1] = 0 }},
		{"NaN mean", "multivariate.means[0]", func(r *Reference) { r.Multivariate.Means[0] = math.NaN() }},
		{"derived feature absent", "multivariate.feature", func(r *Reference) { r.Multivariate.Feature = "f09" }},
		{"reserved name without PCA", "features", func(r *Reference) { r.Multivariate = nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, err := base.Encode()
			if err != nil {
				t.Fatal(err)
			}
			r, err := DecodeReference(data)
			if err != nil {
				t.Fatal(err)
			}
			tc.mutate(r)
			err = r.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("error %v, want one naming %s", err, tc.field)
			}
		})
	}
	if _, err := NewBuilder("m", "1", BuildOptions{Multivariate: &MultivariateOptions{Variance: 1}}); err == nil {
		t.Error("variance share 1 accepted")
	}
	b, _ := NewBuilder("m", "1", BuildOptions{Multivariate: &MultivariateOptions{}})
	for i := range 100 {
		b.BeginRow()
		b.Add("only", Value{Kind: Number, Num: float64(i), Parsed: true})
		b.EndRow()
	}
	if _, err := b.Reference(); err == nil || !strings.Contains(err.Error(), "at least 2") {
		t.Errorf("one numeric feature: error %v, want 'at least 2'", err)
	}
}

// mvSim feeds correlated events (see correlated) to a monitor of a
// multivariate reference.
func mvSim(t *testing.T, seed uint64, p Policy) (*sim, *rand.Rand) {
	rng := rand.New(rand.NewPCG(seed, seed))
	ref := multivariateReference(t, rng, 40000)
	s := newSim(t, ref, p, DefaultWindow())
	s.names = featureNames(3)
	return s, rng
}

// TestMultivariateCorrelationFlip: from event 20,000 the correlation of
// x0 and x1 flips from 0.8 to −0.8. Every marginal is unchanged, so no
// per-feature test may fire (their false-alarm rate is the ERT's); the
// discarded direction (z0 − z1)/√2 now has variance 1.8 instead of 0.2,
// so E[r²] of the reconstruction error goes from 0.2 to 1.8, and the
// derived feature's tests are drifting from the first evaluation past the
// change: with the hysteresis of 2 evaluations the alert fires within two
// panes (250 events).
func TestMultivariateCorrelationFlip(t *testing.T) {
	s, rng := mvSim(t, 43, DefaultPolicy())
	xs := make([]float64, 3)
	const change = 20000
	for i := range change + 5000 {
		rho := 0.8
		if i >= change {
			rho = -0.8
		}
		correlated(rng, rho, xs)
		s.event(xs)
	}
	var first *Alert
	for i, a := range s.firing() {
		switch a.Feature {
		case MultivariateFeature:
			if first == nil {
				first = &s.firing()[i]
			}
		case DatasetFeature:
		default:
			t.Errorf("per-feature alert on unchanged marginals: %s", a.Summary)
		}
	}
	if first == nil {
		t.Fatal("the correlation flip was not detected")
	}
	if first.Window.LastSeq <= change {
		t.Fatalf("multivariate alert before the change: %s", first.Summary)
	}
	delay := first.Window.LastSeq - change
	t.Logf("first multivariate alert %s after %d events: %s", first.Test, delay, first.Summary)
	if delay > 250 {
		t.Fatalf("detected %d events after the flip, want ≤ 250 (two panes)", delay)
	}
}

// TestMultivariateNoDrift runs the production policy over 2,000,000
// events without drift (3 features and the derived one, 16,000
// evaluations of each): the ERT of 10^7 events allows 0.2 false alarms in
// expectation; more than one would be a failure at the 2% level. The
// threshold alone is checked as in TestThresholdCalibration: at ERT = 2000
// with the gates and hysteresis off, the derived feature's KS and
// mean-shift tests hold 2 of the monitor's 20 tests, so the union bound
// allows them 2/20 · 10^6/2000 = 50 drifting results in expectation.
// Windows overlap, so results come in clusters; the count must stay under
// twice the bound, and above a tenth of it (a threshold that never fires
// would pass the first check).
func TestMultivariateNoDrift(t *testing.T) {
	if testing.Short() {
		t.Skip("3M-event simulation")
	}
	s, rng := mvSim(t, 44, DefaultPolicy())
	xs := make([]float64, 3)
	for range 2_000_000 {
		correlated(rng, 0.8, xs)
		s.event(xs)
	}
	t.Logf("production policy: %d evaluations, drifting results %v, firing %d", s.evals, s.drifting, len(s.firing()))
	if n := len(s.firing()); n > 1 {
		t.Fatalf("%d false alarms in 2e6 events at ERT 1e7: %s", n, s.firing()[0].Summary)
	}

	p := DefaultPolicy()
	p.ERT = 2000
	p.KSMinEffect, p.MeanShiftMinEffect, p.QualityMinEffect = 0, 0, 0
	p.Hysteresis = 1
	p.ImmediateFactor = -1
	s, rng = mvSim(t, 45, p)
	derived := 0
	const events = 1_000_000
	for range events {
		correlated(rng, 0.8, xs)
		s.seq++
		s.m.Begin(GroupFeatures, s.seq, s.seq, &s.out)
		for i, x := range xs {
			s.m.Value(i, s.names[i], Value{Kind: Number, Num: x, Parsed: true})
		}
		s.m.End(&s.out)
		for _, e := range s.out.Evaluations {
			for _, r := range e.Results {
				if r.Drifting {
					s.drifting[r.Test]++
					if e.Feature == MultivariateFeature && (r.Test == TestKS || r.Test == TestMeanShift) {
						derived++
					}
				}
			}
		}
		s.out.Reset()
	}
	bound := 2.0 / 20 * events / p.ERT
	t.Logf("threshold only: derived ks/mean_shift drifting results %d vs bound %.0f; drifting results %v", derived, bound, s.drifting)
	if float64(derived) > 2*bound || float64(derived) < bound/10 {
		t.Fatalf("%d derived-feature drifting results, want within [%.0f, %.0f]", derived, bound/10, 2*bound)
	}
}

// TestMultivariateMissingInputsImputed: an event without x1 is
// reconstructed with x1 at its mean, and the derived feature is never
// missing; an event that names the derived feature itself has it counted
// as unexpected, not used.
func TestMultivariateMissingInputsImputed(t *testing.T) {
	s, rng := mvSim(t, 46, DefaultPolicy())
	xs := make([]float64, 3)
	for range 1000 {
		correlated(rng, 0.8, xs)
		s.seq++
		s.m.Begin(GroupFeatures, s.seq, s.seq, &s.out)
		s.m.Value(0, s.names[0], Value{Kind: Number, Num: xs[0], Parsed: true})
		s.m.Value(1, s.names[2], Value{Kind: Number, Num: xs[2], Parsed: true})
		s.m.Value(2, []byte(MultivariateFeature), Value{Kind: Number, Num: 1e9, Parsed: true})
		s.m.End(&s.out)
		s.out.Reset()
	}
	st := s.m.Stats()
	if st.Unexpected != 1000 {
		t.Errorf("%d unexpected values, want 1000 (the derived name sent by the producer)", st.Unexpected)
	}
	for _, f := range st.Features {
		if f.Name == MultivariateFeature && (f.Values != 1000 || f.Missing != 0) {
			t.Errorf("derived feature: %d values, %d missing; want 1000, 0", f.Values, f.Missing)
		}
		if f.Name == "f01" && f.Missing != 1000 {
			t.Errorf("f01: %d missing, want 1000", f.Missing)
		}
	}
	if mean := s.m.features[s.m.byName[MultivariateFeature]].cw.Moments().Mean; mean > 5 {
		t.Errorf("mean reconstruction error %v: the producer's 1e9 was used", mean)
	}
}

// TestMultivariateNoAllocs: the projection adds no allocation per event.
func TestMultivariateNoAllocs(t *testing.T) {
	s, rng := mvSim(t, 47, DefaultPolicy())
	xs := make([]float64, 3)
	step := func() {
		correlated(rng, 0.8, xs)
		s.seq++
		s.m.Begin(GroupFeatures, s.seq, s.seq, &s.out)
		for i, x := range xs {
			s.m.Value(i, s.names[i], Value{Kind: Number, Num: x, Parsed: true})
		}
		s.m.End(&s.out)
		s.out.Reset()
	}
	for range 3000 {
		step()
	}
	if a := testing.AllocsPerRun(1000, step); a != 0 {
		t.Fatalf("%v allocations per event", a)
	}
}

// BenchmarkMonitorEventMultivariate is BenchmarkMonitorEvent (20 numeric
// features, N = 1000, H = 125, r = 1000) with a PCA on the 20 features
// (independent N(0, 1) columns, so 65% of the variance takes 13
// components): the projection and the derived feature's window are the
// difference. "projection" is the reconstruction error alone.
func BenchmarkMonitorEventMultivariate(b *testing.B) {
	rng := rand.New(rand.NewPCG(48, 48))
	const d = 20
	bld, err := NewBuilder("sim", "1", BuildOptions{Multivariate: &MultivariateOptions{}})
	if err != nil {
		b.Fatal(err)
	}
	names := featureNames(d)
	for range 20000 {
		bld.BeginRow()
		for _, n := range names {
			bld.Add(string(n), Value{Kind: Number, Num: rng.NormFloat64(), Parsed: true})
		}
		bld.EndRow()
	}
	ref, err := bld.Reference()
	if err != nil {
		b.Fatal(err)
	}
	vals := make([][d]float64, 4096)
	for i := range vals {
		for j := range vals[i] {
			vals[i][j] = rng.NormFloat64()
		}
	}
	b.Run("event", func(b *testing.B) {
		m, err := NewMonitor(ref, nil, DefaultWindow())
		if err != nil {
			b.Fatal(err)
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
		b.ReportMetric(float64(len(ref.Multivariate.Components)), "components")
	})
	b.Run("projection", func(b *testing.B) {
		pr := newProjection(ref.Multivariate)
		b.ReportAllocs()
		var sink float64
		for i := range b.N {
			v := &vals[i&4095]
			for j := range v {
				pr.set(j, v[j])
			}
			sink += pr.error()
		}
		if math.IsNaN(sink) {
			b.Fatal("NaN error")
		}
	})
}
