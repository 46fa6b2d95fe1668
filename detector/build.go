package detector

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// ValueKind is the JSON type of one feature value as it arrived.
type ValueKind uint8

// Value kinds. Null covers JSON null; an absent feature is missing too but
// is never passed as a Value.
const (
	Null ValueKind = iota
	Number
	String
	Bool
	Other // object or array: invalid for every feature kind
)

// Value is one feature value of an event or a training row. Text is the
// string's bytes (String), "true"/"false" (Bool) or the number's literal
// (Number); Num is the parsed number when the producer parsed it already.
// The detector never keeps Text.
type Value struct {
	Kind   ValueKind
	Num    float64
	Parsed bool // Num holds Text parsed as a float64
	Text   []byte
}

// BuildOptions configures reference building.
type BuildOptions struct {
	// Breakpoints is r, the number of quantile breakpoints of a numeric
	// feature (default 1000). Features with at most r distinct values
	// keep every value, which makes their reference CDF exact.
	Breakpoints int
	// TopK is the number of categories kept per categorical feature
	// (default 64); the rest are counted as "other".
	TopK int
	// Categorical and Numeric force the kind of the named features.
	// Otherwise a feature is numeric when at least NumericShare of its
	// non-null values are numbers, and categorical otherwise.
	Categorical, Numeric []string
	// NumericShare is the inference threshold above (default 0.95).
	NumericShare float64
	// Multivariate, when set, fits a PCA on the numeric features and adds
	// the derived reconstruction-error feature (see Multivariate).
	Multivariate *MultivariateOptions
	// Segments, when set, also builds a reference per segment value
	// (Reference.Segments).
	Segments *SegmentBuildOptions
}

func (o *BuildOptions) defaults() error {
	if o.Breakpoints == 0 {
		o.Breakpoints = 1000
	}
	if o.TopK == 0 {
		o.TopK = 64
	}
	if o.NumericShare == 0 {
		o.NumericShare = 0.95
	}
	switch {
	case o.Breakpoints < 2 || o.Breakpoints > MaxBreakpoints:
		return fmt.Errorf("breakpoints must be in 2..%d, got %d", MaxBreakpoints, o.Breakpoints)
	case o.TopK < 1 || o.TopK > MaxCategories:
		return fmt.Errorf("top-k must be in 1..%d, got %d", MaxCategories, o.TopK)
	case o.NumericShare <= 0 || o.NumericShare > 1:
		return fmt.Errorf("numeric share must be in (0, 1], got %v", o.NumericShare)
	}
	if o.Multivariate != nil {
		if err := o.Multivariate.defaults(); err != nil {
			return err
		}
	}
	if o.Segments != nil {
		if err := o.Segments.defaults(); err != nil {
			return err
		}
	}
	for _, c := range o.Categorical {
		if slices.Contains(o.Numeric, c) {
			return fmt.Errorf("feature %q is forced both numeric and categorical", c)
		}
	}
	return nil
}

// Builder builds a Reference from rows of a training set. It keeps every
// numeric value until Reference is called, so that the breakpoints and
// their ranks are exact.
type Builder struct {
	model, version string
	opts           BuildOptions
	features       map[string]*featureBuild
	order          []string
	groupRows      [numGroups]int64
	rowGroups      [numGroups]bool
	row            int64
	mvRows         []int64 // multivariate: rows (0-based) that carried features
	seg            *segmentBuild
	skipped        []SkippedFeature
}

// SkippedFeature is a column Reference left out because the detector
// could not use it, and why.
type SkippedFeature struct {
	Name   string
	Reason string
}

// Skipped lists the columns the last Reference call left out (see
// Reference).
func (b *Builder) Skipped() []SkippedFeature { return b.skipped }

type featureBuild struct {
	name    string
	group   Group
	present int64 // rows in which the feature appeared (null included)
	stamp   int64 // last row that set it
	nulls   int64
	nums    []float64
	nonNum  int64            // strings, bools, objects
	other   int64            // objects and arrays
	cats    map[string]int64 // string and bool values; numbers join if categorical
	dropped int64            // category values beyond the distinct cap
	col     []float64        // multivariate: the value of each row, NaN if none
}

// maxBuildDistinct caps the distinct categories tracked per feature while
// building, so a high-cardinality column (an ID) cannot exhaust memory.
const maxBuildDistinct = 1 << 20

// NewBuilder returns a builder for model and version.
func NewBuilder(model, version string, opts BuildOptions) (*Builder, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	if model == "" {
		return nil, fmt.Errorf("model must not be empty")
	}
	b := &Builder{model: model, version: version, opts: opts, features: map[string]*featureBuild{}}
	if opts.Segments != nil {
		b.seg = &segmentBuild{opts: *opts.Segments, builders: map[string]*Builder{}}
	}
	return b, nil
}

// BeginRow starts a row.
func (b *Builder) BeginRow() {
	b.row++
	b.rowGroups = [numGroups]bool{}
	if b.seg != nil {
		b.seg.row = b.seg.row[:0]
		b.seg.text = b.seg.text[:0]
	}
}

// Add records the value of feature name in the current row. A feature
// given twice in one row keeps the first value.
func (b *Builder) Add(name string, v Value) error {
	if err := checkName("feature", name); err != nil {
		return err
	}
	if b.seg != nil {
		b.seg.add(name, v)
	}
	f := b.features[name]
	if f == nil {
		if len(b.features) >= MaxFeatures {
			return fmt.Errorf("more than %d features", MaxFeatures)
		}
		f = &featureBuild{name: name, group: GroupOf(name), cats: map[string]int64{}}
		b.features[name] = f
		b.order = append(b.order, name)
	}
	if f.stamp == b.row {
		return nil
	}
	f.stamp = b.row
	f.present++
	b.rowGroups[f.group] = true
	switch v.Kind {
	case Null:
		f.nulls++
		return nil
	case Number:
		x := v.Num
		if !v.Parsed {
			var err error
			x, err = strconv.ParseFloat(string(v.Text), 64)
			if err != nil && !math.IsInf(x, 0) {
				f.nonNum++
				f.addCat(string(v.Text))
				return nil
			}
		}
		f.nums = append(f.nums, x)
		if b.opts.Multivariate != nil && f.group == GroupFeatures {
			for int64(len(f.col)) < b.row-1 {
				f.col = append(f.col, math.NaN())
			}
			f.col = append(f.col, x)
		}
	case String, Bool:
		f.nonNum++
		f.addCat(string(v.Text))
	default:
		f.nonNum++
		f.other++
	}
	return nil
}

func (f *featureBuild) addCat(s string) {
	if _, ok := f.cats[s]; !ok && len(f.cats) >= maxBuildDistinct {
		f.dropped++
		return
	}
	f.cats[s]++
}

// EndRow finishes the row: features of a group the row carried but that
// the row did not name are counted as missing (when Reference is built).
func (b *Builder) EndRow() {
	for g, seen := range b.rowGroups {
		if seen {
			b.groupRows[g]++
		}
	}
	if b.opts.Multivariate != nil && b.rowGroups[GroupFeatures] {
		b.mvRows = append(b.mvRows, b.row-1)
	}
	if b.seg != nil {
		b.seg.endRow(b)
	}
}

// Reference builds the reference. Features are sorted by name. A numeric
// column whose mean or variance overflows float64 (values of order 1e154
// and beyond) cannot be tested and is left out; Skipped names it and the
// others are built. It fails when no column is usable.
func (b *Builder) Reference() (*Reference, error) {
	if len(b.features) == 0 {
		return nil, fmt.Errorf("no features in %d rows", b.row)
	}
	b.skipped = nil
	ref := &Reference{Schema: ReferenceSchema, Model: b.model, Version: b.version, Rows: b.row}
	names := slices.Clone(b.order)
	slices.Sort(names)
	for _, name := range names {
		f := b.features[name]
		missing := f.nulls + (b.groupRows[f.group] - f.present)
		if missing < 0 {
			missing = f.nulls
		}
		var fr *FeatureRef
		if b.isCategorical(f) {
			fr = f.categorical(b.opts.TopK)
		} else {
			fr = f.numeric(b.opts.Breakpoints)
			if fr.Count > 0 && (!isFinite(fr.Mean) || !isFinite(fr.Variance)) {
				b.skipped = append(b.skipped, SkippedFeature{Name: name,
					Reason: fmt.Sprintf("its mean or variance overflows float64 (mean %g, variance %g; values range %g to %g)", fr.Mean, fr.Variance, fr.Min, fr.Max)})
				continue
			}
		}
		fr.Missing += missing
		ref.Features = append(ref.Features, fr)
	}
	if len(ref.Features) == 0 {
		return nil, fmt.Errorf("no usable features: %d left out", len(b.skipped))
	}
	if b.opts.Multivariate != nil {
		if err := b.addMultivariate(ref); err != nil {
			return nil, err
		}
	}
	if b.seg != nil {
		b.seg.addTo(ref)
	}
	if err := ref.Validate(); err != nil {
		return nil, err
	}
	ref.ID = ref.computeID()
	return ref, nil
}

func (b *Builder) isCategorical(f *featureBuild) bool {
	switch {
	case slices.Contains(b.opts.Categorical, f.name):
		return true
	case slices.Contains(b.opts.Numeric, f.name):
		return false
	}
	nonNull := int64(len(f.nums)) + f.nonNum
	if nonNull == 0 {
		return false
	}
	return float64(len(f.nums)) < b.opts.NumericShare*float64(nonNull)
}

func (f *featureBuild) numeric(r int) *FeatureRef {
	fr := &FeatureRef{Name: f.name, Kind: Numeric, Invalid: f.nonNum}
	xs := f.nums[:0]
	for _, x := range f.nums {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			fr.Invalid++
			continue
		}
		xs = append(xs, x)
	}
	f.nums = nil
	if len(xs) == 0 {
		return fr
	}
	slices.Sort(xs)
	fr.Count = int64(len(xs))
	fr.Min, fr.Max = xs[0], xs[len(xs)-1]
	fr.Mean, fr.Variance = meanVariance(xs)
	fr.Breakpoints, fr.Ranks, fr.CDFError = breakpoints(xs, r)
	fr.Exact = fr.CDFError == 0
	return fr
}

// meanVariance is the two-pass mean and sample variance, the most accurate
// of the simple methods; the sum is compensated (Neumaier) so a long column
// does not lose digits.
func meanVariance(xs []float64) (mean, variance float64) {
	var sum, c float64
	for _, x := range xs {
		t := sum + x
		if math.Abs(sum) >= math.Abs(x) {
			c += (sum - t) + x
		} else {
			c += (x - t) + sum
		}
		sum = t
	}
	n := float64(len(xs))
	mean = (sum + c) / n
	if len(xs) < 2 {
		return mean, 0
	}
	var ss float64
	for _, x := range xs {
		d := x - mean
		ss += d * d
	}
	return mean, ss / (n - 1)
}

// breakpoints picks at most r breakpoints from sorted values: every
// distinct value when there are at most r of them (error 0), otherwise the
// values at ranks ⌈i·m/(r−1)⌉ for i = 0..r−1 (the minimum, evenly spaced
// quantiles, the maximum), deduplicated. Heavy atoms are always chosen
// because some quantile rank falls inside them. It returns the
// breakpoints, the number of values ≤ each, and the largest mass strictly
// between two neighbouring breakpoints — the sup-norm error of the step
// CDF on the breakpoints.
func breakpoints(xs []float64, r int) (q []float64, ranks []int64, cdfError float64) {
	m := len(xs)
	distinct := 1
	for i := 1; i < m; i++ {
		if xs[i] != xs[i-1] {
			distinct++
		}
	}
	// upper returns the number of values ≤ xs[i] (i is any index of it).
	upper := func(i int) int {
		v := xs[i]
		j, _ := slices.BinarySearchFunc(xs[i:], v, func(a, b float64) int {
			if a <= b {
				return -1
			}
			return 1
		})
		return i + j
	}
	if distinct <= r {
		for i := 0; i < m; {
			up := upper(i)
			q = append(q, xs[i])
			ranks = append(ranks, int64(up))
			i = up
		}
		return q, ranks, 0
	}
	for i := 0; i < r; i++ {
		idx := int(math.Ceil(float64(i)*float64(m)/float64(r-1))) - 1
		idx = max(0, min(m-1, idx))
		if len(q) > 0 && xs[idx] == q[len(q)-1] {
			continue
		}
		q = append(q, xs[idx])
		ranks = append(ranks, int64(upper(idx)))
	}
	// Largest mass strictly between neighbours: values > q_j and < q_{j+1}.
	var worst int64
	for j := 0; j+1 < len(q); j++ {
		// values < q_{j+1}: lower bound of q_{j+1}
		lt, _ := slices.BinarySearch(xs, q[j+1])
		if between := int64(lt) - ranks[j]; between > worst {
			worst = between
		}
	}
	return q, ranks, float64(worst) / float64(m)
}

func (f *featureBuild) categorical(k int) *FeatureRef {
	fr := &FeatureRef{Name: f.name, Kind: Categorical, Invalid: f.other}
	var text []byte
	for _, x := range f.nums {
		text = AppendCategoryNumber(text[:0], x)
		f.addCat(string(text))
	}
	f.nums = nil
	cats := make([]CategoryCount, 0, len(f.cats))
	for v, c := range f.cats {
		if len(v) > MaxValueLen {
			fr.Other += c // too long to keep as a category
			continue
		}
		cats = append(cats, CategoryCount{Value: v, Count: c})
	}
	slices.SortFunc(cats, func(a, b CategoryCount) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return strings.Compare(a.Value, b.Value)
	})
	fr.Distinct = int64(len(f.cats)) + f.dropped
	if len(cats) > k {
		for _, c := range cats[k:] {
			fr.Other += c.Count
		}
		cats = cats[:k]
	}
	fr.Other += f.dropped
	fr.Categories = cats
	fr.Count = fr.Other
	for _, c := range cats {
		fr.Count += c.Count
	}
	if fr.Other > 0 && fr.Distinct == int64(len(cats)) {
		fr.Distinct++ // over-long values counted in other are distinct too
	}
	return fr
}

// AppendCategoryNumber appends the category text of a number used as a
// categorical value: the shortest decimal that round-trips ("3", "1.5"),
// so 3 and 3.0 are the same category in training rows and events.
func AppendCategoryNumber(dst []byte, x float64) []byte {
	return strconv.AppendFloat(dst, x, 'g', -1, 64)
}

// addMultivariate fits the PCA of the reference's numeric features and
// adds the derived feature's sketch, built from the held-out rows.
func (b *Builder) addMultivariate(ref *Reference) error {
	if ref.Feature(MultivariateFeature) != nil {
		return fmt.Errorf("multivariate: the training set has a feature named %q", MultivariateFeature)
	}
	names, err := multivariateInputs(ref, b.opts.Multivariate.Features)
	if err != nil {
		return err
	}
	cols := make([][]float64, len(names))
	for j, name := range names {
		col := b.features[name].col
		cols[j] = make([]float64, len(b.mvRows))
		for r, row := range b.mvRows {
			cols[j][r] = math.NaN()
			if row < int64(len(col)) {
				cols[j][r] = col[row]
			}
		}
		b.features[name].col = nil
	}
	mv, errs, err := fitMultivariate(names, cols, int64(len(b.mvRows)), *b.opts.Multivariate)
	if err != nil {
		return err
	}
	fb := &featureBuild{name: MultivariateFeature, group: GroupFeatures, nums: errs}
	ref.Features = append(ref.Features, fb.numeric(b.opts.Breakpoints))
	slices.SortFunc(ref.Features, func(x, y *FeatureRef) int { return strings.Compare(x.Name, y.Name) })
	ref.Multivariate = mv
	return nil
}
