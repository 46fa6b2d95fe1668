package detector

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"unsafe"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat"
)

// MultivariateFeature is the name of the derived feature that carries each
// event's PCA reconstruction error.
const MultivariateFeature = "multivariate.reconstruction_error"

// Limits on the multivariate section of a reference.
const (
	// MaxMultivariateInputs bounds the numeric features a PCA is fitted
	// on (the components are a k×p matrix).
	MaxMultivariateInputs = 512
)

// Multivariate is the PCA model of a reference's numeric features: a
// change in their joint distribution (a correlation that breaks) with
// unchanged marginals is invisible to per-feature tests but moves the
// reconstruction error of the events.
//
// An event's inputs are standardized, z_i = (x_i − Means[i]) / Scales[i]
// (a missing or invalid input is imputed with its mean, z_i = 0), projected
// on the Components (k orthonormal rows of length p) and reconstructed;
// the Euclidean distance between z and its reconstruction is the value of
// the derived numeric feature named Feature, whose reference sketch (in
// Reference.Features) was built from rows held out of the fit, so that it
// is not optimistic.
type Multivariate struct {
	Feature    string      `json:"feature"`
	Inputs     []string    `json:"inputs"`
	Means      []float64   `json:"means"`
	Scales     []float64   `json:"scales"`
	Components [][]float64 `json:"components"`
	// VarianceShare is the share of the standardized variance the kept
	// components explain.
	VarianceShare float64 `json:"variance_share"`
	// FitRows and HoldoutRows are the training rows the PCA was fitted on
	// and those the reference error distribution comes from.
	FitRows     int64 `json:"fit_rows"`
	HoldoutRows int64 `json:"holdout_rows"`
}

// MultivariateOptions configures the PCA fitted at reference build.
type MultivariateOptions struct {
	// Variance is the share of the standardized variance the kept
	// components must explain (default 0.65). At most p−1 components are
	// kept, so the reconstruction error is never identically zero.
	Variance float64
	// Holdout is the share of rows held out of the fit, on which the
	// reference distribution of the error is measured (default 0.25).
	// Every ⌈1/Holdout⌉-th row, evenly spread, is held out.
	Holdout float64
	// Features restricts the inputs to the named numeric features
	// (default: every numeric feature with a positive variance, the
	// prediction excluded).
	Features []string
}

func (o *MultivariateOptions) defaults() error {
	if o.Variance == 0 {
		o.Variance = 0.65
	}
	if o.Holdout == 0 {
		o.Holdout = 0.25
	}
	if !(o.Variance > 0 && o.Variance < 1) {
		return fmt.Errorf("multivariate variance share must be in (0, 1), got %v", o.Variance)
	}
	if !(o.Holdout > 0 && o.Holdout < 1) {
		return fmt.Errorf("multivariate holdout share must be in (0, 1), got %v", o.Holdout)
	}
	return nil
}

// holdoutRow reports whether row i (0-based) is held out: rows where
// ⌊(i+1)·h⌋ steps up, evenly spread over the file.
func holdoutRow(i int64, h float64) bool {
	return math.Floor(float64(i+1)*h) > math.Floor(float64(i)*h)
}

func (mv *Multivariate) validate(r *Reference) error {
	const path = "multivariate"
	p := len(mv.Inputs)
	if mv.Feature == "" {
		return fieldErr(path+".feature", "is empty")
	}
	derived := r.Feature(mv.Feature)
	if derived == nil || derived.Kind != Numeric {
		return fieldErr(path+".feature", "%q is not a numeric feature of the reference", mv.Feature)
	}
	if GroupOf(mv.Feature) != GroupFeatures {
		return fieldErr(path+".feature", "%q is a prediction name", mv.Feature)
	}
	if p < 2 || p > MaxMultivariateInputs {
		return fieldErr(path+".inputs", "has %d entries, want 2..%d", p, MaxMultivariateInputs)
	}
	seen := map[string]bool{}
	for i, name := range mv.Inputs {
		f := r.Feature(name)
		switch {
		case name == mv.Feature:
			return fieldErr(fmt.Sprintf("%s.inputs[%d]", path, i), "is the derived feature itself")
		case f == nil || f.Kind != Numeric || GroupOf(name) != GroupFeatures:
			return fieldErr(fmt.Sprintf("%s.inputs[%d]", path, i), "%q is not a numeric feature of the reference", name)
		case seen[name]:
			return fieldErr(fmt.Sprintf("%s.inputs[%d]", path, i), "%q appears twice", name)
		}
		seen[name] = true
	}
	if len(mv.Means) != p || len(mv.Scales) != p {
		return fieldErr(path+".means", "means and scales need %d entries, have %d and %d", p, len(mv.Means), len(mv.Scales))
	}
	for i := range p {
		if err := finite(fmt.Sprintf("%s.means[%d]", path, i), mv.Means[i]); err != nil {
			return err
		}
		if s := mv.Scales[i]; !(s > 0) || math.IsInf(s, 0) {
			return fieldErr(fmt.Sprintf("%s.scales[%d]", path, i), "is %v, must be positive and finite", s)
		}
	}
	k := len(mv.Components)
	if k < 1 || k >= p {
		return fieldErr(path+".components", "has %d rows, want 1..%d", k, p-1)
	}
	for j, row := range mv.Components {
		if len(row) != p {
			return fieldErr(fmt.Sprintf("%s.components[%d]", path, j), "has %d entries, want %d", len(row), p)
		}
		var norm float64
		for i, v := range row {
			if err := finite(fmt.Sprintf("%s.components[%d][%d]", path, j, i), v); err != nil {
				return err
			}
			norm += v * v
		}
		if math.Abs(norm-1) > 1e-6 {
			return fieldErr(fmt.Sprintf("%s.components[%d]", path, j), "has norm² %v, want 1", norm)
		}
	}
	if !(mv.VarianceShare > 0 && mv.VarianceShare <= 1) {
		return fieldErr(path+".variance_share", "is %v, want (0, 1]", mv.VarianceShare)
	}
	if mv.FitRows < 0 || mv.HoldoutRows < 0 {
		return fieldErr(path+".fit_rows", "row counts must not be negative")
	}
	return nil
}

// fitMultivariate fits the PCA on the rows of cols (one column per input,
// NaN for a missing value) not held out, and returns the model and the
// reconstruction errors of the held-out rows.
func fitMultivariate(names []string, cols [][]float64, rows int64, o MultivariateOptions) (*Multivariate, []float64, error) {
	p := len(names)
	mv := &Multivariate{Feature: MultivariateFeature, Inputs: names, Means: make([]float64, p), Scales: make([]float64, p)}
	var fitIdx, holdIdx []int
	for i := range rows {
		if holdoutRow(i, o.Holdout) {
			holdIdx = append(holdIdx, int(i))
		} else {
			fitIdx = append(fitIdx, int(i))
		}
	}
	if len(fitIdx) < p+1 || len(holdIdx) < 2 {
		return nil, nil, fmt.Errorf("multivariate: %d fit and %d held-out rows are too few for %d features", len(fitIdx), len(holdIdx), p)
	}
	mv.FitRows, mv.HoldoutRows = int64(len(fitIdx)), int64(len(holdIdx))
	for j, col := range cols {
		var xs []float64
		for _, i := range fitIdx {
			if x := col[i]; !math.IsNaN(x) {
				xs = append(xs, x)
			}
		}
		if len(xs) < 2 {
			return nil, nil, fmt.Errorf("multivariate: feature %q has %d values in the fit rows", names[j], len(xs))
		}
		mean, variance := meanVariance(xs)
		if !(variance > 0) {
			return nil, nil, fmt.Errorf("multivariate: feature %q is constant in the fit rows", names[j])
		}
		mv.Means[j], mv.Scales[j] = mean, math.Sqrt(variance)
	}
	z := mat.NewDense(len(fitIdx), p, nil)
	for r, i := range fitIdx {
		for j, col := range cols {
			if x := col[i]; !math.IsNaN(x) {
				z.Set(r, j, (x-mv.Means[j])/mv.Scales[j])
			}
		}
	}
	var pc stat.PC
	if !pc.PrincipalComponents(z, nil) {
		return nil, nil, fmt.Errorf("multivariate: the PCA did not converge")
	}
	vars := pc.VarsTo(nil)
	var total float64
	for _, v := range vars {
		total += v
	}
	k, kept := 0, 0.0
	for k < p-1 {
		kept += vars[k]
		k++
		if kept >= o.Variance*total {
			break
		}
	}
	var vecs mat.Dense
	pc.VectorsTo(&vecs)
	mv.Components = make([][]float64, k)
	for c := range k {
		row := make([]float64, p)
		var norm float64
		for j := range p {
			row[j] = vecs.At(j, c)
			norm += row[j] * row[j]
		}
		norm = math.Sqrt(norm)
		for j := range row {
			row[j] /= norm
		}
		mv.Components[c] = row
	}
	mv.VarianceShare = math.Min(1, kept/total)
	proj := newProjection(mv)
	errs := make([]float64, 0, len(holdIdx))
	for _, i := range holdIdx {
		for j, col := range cols {
			proj.set(j, col[i])
		}
		errs = append(errs, proj.error())
	}
	return mv, errs, nil
}

// projection computes reconstruction errors of one event at a time,
// allocation-free.
type projection struct {
	mv    *Multivariate
	x     []float64 // the event's raw inputs (NaN: missing)
	z, c  []float64
	comps []float64 // k×p, row-major
}

func newProjection(mv *Multivariate) *projection {
	p, k := len(mv.Inputs), len(mv.Components)
	pr := &projection{mv: mv, x: make([]float64, p), z: make([]float64, p), c: make([]float64, k), comps: make([]float64, 0, k*p)}
	for _, row := range mv.Components {
		pr.comps = append(pr.comps, row...)
	}
	pr.reset()
	return pr
}

func (pr *projection) reset() {
	for i := range pr.x {
		pr.x[i] = math.NaN()
	}
}

func (pr *projection) set(i int, x float64) {
	if math.IsInf(x, 0) {
		x = math.NaN()
	}
	pr.x[i] = x
}

// error returns the reconstruction error of the inputs set since the last
// reset and resets them.
func (pr *projection) error() float64 {
	mv, p := pr.mv, len(pr.x)
	for i, x := range pr.x {
		if math.IsNaN(x) {
			pr.z[i] = 0 // imputed with the mean
		} else {
			pr.z[i] = (x - mv.Means[i]) / mv.Scales[i]
		}
	}
	z := pr.z[:p]
	for j := range pr.c {
		row := pr.comps[j*p : (j+1)*p]
		row = row[:len(z)]
		var s float64
		for i, v := range row {
			s += v * z[i]
		}
		pr.c[j] = s
	}
	// The residual, in place: z − Σ c_j·component_j.
	for j, cj := range pr.c {
		row := pr.comps[j*p : (j+1)*p]
		row = row[:len(z)]
		for i, v := range row {
			z[i] -= cj * v
		}
	}
	var ss float64
	for _, r := range z {
		ss += r * r
	}
	pr.reset()
	return math.Sqrt(ss)
}

// multivariateState is a monitor's PCA projection: which feature feeds
// which input, and the derived feature's index.
type multivariateState struct {
	proj    *projection
	derived int
}

// setInput records the value of input i of the event in progress; values
// that are not finite numbers count as missing (imputed).
func (s *multivariateState) setInput(i int, v Value) {
	if v.Kind != Number {
		return
	}
	x := v.Num
	if !v.Parsed {
		var err error
		x, err = strconv.ParseFloat(unsafe.String(unsafe.SliceData(v.Text), len(v.Text)), 64)
		if err != nil {
			return
		}
	}
	s.proj.set(i, x)
}

// newMultivariateState wires ref's PCA to the monitor's features.
func (m *Monitor) newMultivariateState(mv *Multivariate) {
	s := &multivariateState{proj: newProjection(mv), derived: m.byName[mv.Feature]}
	for i, name := range mv.Inputs {
		m.features[m.byName[name]].mvInput = i
	}
	m.mv = s
}

// multivariateInputs lists the features a PCA is fitted on: the named ones
// or every numeric feature of the features group with a positive
// variance, in name order.
func multivariateInputs(ref *Reference, only []string) ([]string, error) {
	var names []string
	for _, f := range ref.Features {
		if len(only) > 0 && !slices.Contains(only, f.Name) {
			continue
		}
		if f.Kind != Numeric || GroupOf(f.Name) != GroupFeatures || f.Name == MultivariateFeature {
			if len(only) > 0 {
				return nil, fmt.Errorf("multivariate: %q is not a numeric feature", f.Name)
			}
			continue
		}
		if f.Count < 2 || !(f.Variance > 0) {
			if len(only) > 0 {
				return nil, fmt.Errorf("multivariate: feature %q is constant or empty", f.Name)
			}
			continue
		}
		names = append(names, f.Name)
	}
	for _, n := range only {
		if !slices.Contains(names, n) {
			return nil, fmt.Errorf("multivariate: feature %q is not in the training set", n)
		}
	}
	if len(names) < 2 {
		return nil, fmt.Errorf("multivariate: %d usable numeric features, need at least 2", len(names))
	}
	if len(names) > MaxMultivariateInputs {
		return nil, fmt.Errorf("multivariate: %d numeric features, more than %d (choose some with --multivariate-features)", len(names), MaxMultivariateInputs)
	}
	return names, nil
}
