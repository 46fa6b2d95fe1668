package detector

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// ReferenceSchema is the schema tag of encoded references.
const ReferenceSchema = "driftd.reference/v1"

// Limits on decoded references. They bound the memory a hostile or broken
// reference can make driftd allocate.
const (
	MaxFeatures    = 10000
	MaxBreakpoints = 16384
	MaxCategories  = 4096
	MaxNameLen     = 256
	MaxValueLen    = 1024
)

// Kind is the type of a feature.
type Kind string

// Feature kinds.
const (
	Numeric     Kind = "numeric"
	Categorical Kind = "categorical"
)

// Reference describes the training (or baseline) distribution of one model
// version: one FeatureRef per monitored feature, prediction outputs
// included (named "prediction" or "prediction.<key>").
type Reference struct {
	Schema   string        `json:"schema"`
	ID       string        `json:"id"`
	Model    string        `json:"model"`
	Version  string        `json:"version"`
	Created  time.Time     `json:"created,omitzero"`
	Rows     int64         `json:"rows"`
	Source   string        `json:"source,omitempty"`
	Features []*FeatureRef `json:"features"`
	// Multivariate is the PCA model of the numeric features, when the
	// reference was built with one; its derived feature is in Features.
	Multivariate *Multivariate `json:"multivariate,omitempty"`
	// Segments are references of segments (see SegmentConfig), built
	// from each segment's own training rows; a segment without one is
	// compared with the model's reference.
	Segments []*SegmentRef `json:"segments,omitempty"`
	// Performance is the model's performance on a labelled validation
	// set, when the reference was built with labels.
	Performance *PerformanceRef `json:"performance,omitempty"`
}

// FeatureRef is the reference sketch of one feature.
//
// Numeric: the exact step CDF on Breakpoints — Ranks[j] is the number of
// reference values ≤ Breakpoints[j] — built by sorting the data. The first
// breakpoint is the minimum and the last the maximum. The CDF of the data
// between two breakpoints differs from the step CDF by at most CDFError
// (the largest mass strictly between neighbouring breakpoints), which is 0
// when every distinct value is a breakpoint (Exact).
//
// Categorical: the counts of the top categories, the count of all others,
// and the number of distinct values.
type FeatureRef struct {
	Name    string `json:"name"`
	Kind    Kind   `json:"kind"`
	Count   int64  `json:"count"`   // valid values
	Missing int64  `json:"missing"` // null or absent
	Invalid int64  `json:"invalid"` // wrong type, NaN, ±Inf

	Mean        float64   `json:"mean,omitempty"`
	Variance    float64   `json:"variance,omitempty"` // sample variance (n−1)
	Min         float64   `json:"min,omitempty"`
	Max         float64   `json:"max,omitempty"`
	Breakpoints []float64 `json:"breakpoints,omitempty"`
	Ranks       []int64   `json:"ranks,omitempty"`
	CDFError    float64   `json:"cdf_error,omitempty"`
	Exact       bool      `json:"exact,omitempty"`

	Categories []CategoryCount `json:"categories,omitempty"`
	Other      int64           `json:"other,omitempty"`
	Distinct   int64           `json:"distinct,omitempty"`
}

// CategoryCount is the count of one category in the reference.
type CategoryCount struct {
	Value string `json:"value"`
	Count int64  `json:"count"`
}

// Total is the number of reference rows that concern this feature.
func (f *FeatureRef) Total() int64 { return f.Count + f.Missing + f.Invalid }

// StdDev is the reference standard deviation.
func (f *FeatureRef) StdDev() float64 { return math.Sqrt(f.Variance) }

// Key is "model/version", the Kafka key of a reference record.
func (r *Reference) Key() string { return r.Model + "/" + r.Version }

// Feature returns the named feature, or nil.
func (r *Reference) Feature(name string) *FeatureRef {
	for _, f := range r.Features {
		if f.Name == name {
			return f
		}
	}
	return nil
}

// FieldError is a decoding or validation error naming the offending field.
type FieldError struct {
	Field string // JSON path, e.g. features[3].breakpoints[17]
	Err   error
}

func (e *FieldError) Error() string { return "reference: " + e.Field + ": " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e *FieldError) Unwrap() error { return e.Err }

func fieldErr(field string, format string, args ...any) error {
	return &FieldError{Field: field, Err: fmt.Errorf(format, args...)}
}

// Validate checks every invariant the detector relies on, returning a
// *FieldError naming the first offending field.
func (r *Reference) Validate() error {
	if r.Schema != ReferenceSchema {
		return fieldErr("schema", "is %q, want %q", r.Schema, ReferenceSchema)
	}
	if r.Model == "" {
		return fieldErr("model", "is empty")
	}
	if err := checkName("model", r.Model); err != nil {
		return err
	}
	if err := checkName("version", r.Version); err != nil {
		return err
	}
	if r.Rows < 0 {
		return fieldErr("rows", "is negative (%d)", r.Rows)
	}
	if len(r.Features) == 0 {
		return fieldErr("features", "is empty")
	}
	if len(r.Features) > MaxFeatures {
		return fieldErr("features", "has %d entries, more than %d", len(r.Features), MaxFeatures)
	}
	seen := make(map[string]bool, len(r.Features))
	for i, f := range r.Features {
		path := fmt.Sprintf("features[%d]", i)
		if f == nil {
			return fieldErr(path, "is null")
		}
		if f.Name == "" {
			return fieldErr(path+".name", "is empty")
		}
		if err := checkName(path+".name", f.Name); err != nil {
			return err
		}
		if seen[f.Name] {
			return fieldErr(path+".name", "%q appears twice", f.Name)
		}
		seen[f.Name] = true
		if err := f.validate(path); err != nil {
			return err
		}
	}
	if err := r.validateSegments(); err != nil {
		return err
	}
	if r.Performance != nil {
		if err := r.Performance.validate(); err != nil {
			return err
		}
	}
	if r.Multivariate != nil {
		return r.Multivariate.validate(r)
	}
	if r.Feature(MultivariateFeature) != nil {
		return fieldErr("features", "%q is reserved for a multivariate reference", MultivariateFeature)
	}
	return nil
}

func checkName(field, s string) error {
	if len(s) > MaxNameLen {
		return fieldErr(field, "is %d bytes long, more than %d", len(s), MaxNameLen)
	}
	if strings.ContainsAny(s, "/\x00\n") {
		return fieldErr(field, "%q contains '/', NUL or a newline", s)
	}
	return nil
}

func finite(field string, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return fieldErr(field, "is %v", v)
	}
	return nil
}

func (f *FeatureRef) validate(path string) error {
	for _, c := range []struct {
		name string
		v    int64
	}{{"count", f.Count}, {"missing", f.Missing}, {"invalid", f.Invalid}, {"other", f.Other}, {"distinct", f.Distinct}} {
		if c.v < 0 {
			return fieldErr(path+"."+c.name, "is negative (%d)", c.v)
		}
	}
	if f.Count > math.MaxInt64/4 || f.Missing > math.MaxInt64/4 || f.Invalid > math.MaxInt64/4 {
		return fieldErr(path+".count", "is too large")
	}
	switch f.Kind {
	case Numeric:
		return f.validateNumeric(path)
	case Categorical:
		return f.validateCategorical(path)
	default:
		return fieldErr(path+".kind", "is %q, want %q or %q", f.Kind, Numeric, Categorical)
	}
}

func (f *FeatureRef) validateNumeric(path string) error {
	for _, c := range []struct {
		name string
		v    float64
	}{{"mean", f.Mean}, {"variance", f.Variance}, {"min", f.Min}, {"max", f.Max}, {"cdf_error", f.CDFError}} {
		if err := finite(path+"."+c.name, c.v); err != nil {
			return err
		}
	}
	if f.Variance < 0 {
		return fieldErr(path+".variance", "is negative (%v)", f.Variance)
	}
	if f.CDFError < 0 || f.CDFError > 1 {
		return fieldErr(path+".cdf_error", "is %v, outside [0, 1]", f.CDFError)
	}
	if len(f.Categories) > 0 || f.Other != 0 {
		return fieldErr(path+".categories", "set on a numeric feature")
	}
	if f.Count == 0 {
		if len(f.Breakpoints) != 0 {
			return fieldErr(path+".breakpoints", "present with count 0")
		}
		return nil
	}
	nb := len(f.Breakpoints)
	if nb == 0 {
		return fieldErr(path+".breakpoints", "is empty but count is %d", f.Count)
	}
	if nb > MaxBreakpoints {
		return fieldErr(path+".breakpoints", "has %d entries, more than %d", nb, MaxBreakpoints)
	}
	if len(f.Ranks) != nb {
		return fieldErr(path+".ranks", "has %d entries, breakpoints has %d", len(f.Ranks), nb)
	}
	for j, q := range f.Breakpoints {
		// The paths are formatted only on failure: a reference has
		// thousands of breakpoints.
		if math.IsNaN(q) || math.IsInf(q, 0) {
			return fieldErr(fmt.Sprintf("%s.breakpoints[%d]", path, j), "is %v", q)
		}
		if j > 0 && !(f.Breakpoints[j-1] < q) {
			return fieldErr(fmt.Sprintf("%s.breakpoints[%d]", path, j), "%v is not greater than the previous %v (breakpoints must be strictly increasing)", q, f.Breakpoints[j-1])
		}
		rk := f.Ranks[j]
		if rk < 1 || rk > f.Count || (j > 0 && rk <= f.Ranks[j-1]) {
			return fieldErr(fmt.Sprintf("%s.ranks[%d]", path, j), "%d is not in (previous rank, count=%d]", rk, f.Count)
		}
	}
	if f.Ranks[nb-1] != f.Count {
		return fieldErr(path+".ranks", "last rank %d differs from count %d", f.Ranks[nb-1], f.Count)
	}
	if f.Breakpoints[0] != f.Min || f.Breakpoints[nb-1] != f.Max {
		return fieldErr(path+".breakpoints", "must start at min (%v) and end at max (%v)", f.Min, f.Max)
	}
	if slack := 1e-9 * math.Max(1, math.Max(math.Abs(f.Min), math.Abs(f.Max))); f.Mean < f.Min-slack || f.Mean > f.Max+slack {
		return fieldErr(path+".mean", "%v lies outside [min, max] = [%v, %v]", f.Mean, f.Min, f.Max)
	}
	if f.Exact && f.CDFError != 0 {
		return fieldErr(path+".cdf_error", "is %v but exact is set", f.CDFError)
	}
	return nil
}

func (f *FeatureRef) validateCategorical(path string) error {
	if len(f.Breakpoints) > 0 || len(f.Ranks) > 0 {
		return fieldErr(path+".breakpoints", "set on a categorical feature")
	}
	if len(f.Categories) > MaxCategories {
		return fieldErr(path+".categories", "has %d entries, more than %d", len(f.Categories), MaxCategories)
	}
	if f.Count > 0 && len(f.Categories) == 0 {
		return fieldErr(path+".categories", "is empty but count is %d", f.Count)
	}
	sum := f.Other
	seen := make(map[string]bool, len(f.Categories))
	for j, c := range f.Categories {
		p := func() string { return fmt.Sprintf("%s.categories[%d]", path, j) }
		if len(c.Value) > MaxValueLen {
			return fieldErr(p()+".value", "is %d bytes long, more than %d", len(c.Value), MaxValueLen)
		}
		if seen[c.Value] {
			return fieldErr(p()+".value", "%q appears twice", c.Value)
		}
		seen[c.Value] = true
		if c.Count <= 0 {
			return fieldErr(p()+".count", "is %d, must be positive", c.Count)
		}
		sum += c.Count
		if sum > f.Count {
			break
		}
	}
	if sum != f.Count {
		return fieldErr(path+".categories", "counts plus other sum to %d, count is %d", sum, f.Count)
	}
	if f.Distinct < int64(len(f.Categories)) || (f.Other > 0 && f.Distinct == int64(len(f.Categories))) {
		return fieldErr(path+".distinct", "%d does not fit %d categories and other=%d", f.Distinct, len(f.Categories), f.Other)
	}
	return nil
}

// MaxReferenceBytes is the largest encoded reference DecodeReference reads.
const MaxReferenceBytes = 64 << 20

// DecodeReference parses and validates an encoded reference. It rejects
// unknown fields, trailing data, inputs larger than MaxReferenceBytes and
// every invariant violation, with an error naming the field.
func DecodeReference(data []byte) (*Reference, error) {
	if len(data) > MaxReferenceBytes {
		return nil, fieldErr("$", "reference is %d bytes, more than %d", len(data), MaxReferenceBytes)
	}
	var r Reference
	floats, fast := decodeFastTokens(data, &r)
	if !fast {
		r = Reference{}
		if err := decodeStrict(data, &r); err != nil {
			return nil, err
		}
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	if fast && idMatchesTokens(&r, data, floats) {
		return &r, nil
	}
	if want := r.computeID(); r.ID != want {
		return nil, fieldErr("id", "is %q, the content hashes to %q", r.ID, want)
	}
	return &r, nil
}

// ReadReference decodes a reference from r (see DecodeReference).
func ReadReference(r io.Reader) (*Reference, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxReferenceBytes+1))
	if err != nil {
		return nil, err
	}
	return DecodeReference(data)
}

func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return &FieldError{Field: te.Field, Err: fmt.Errorf("cannot hold a JSON %s", te.Value)}
		}
		return &FieldError{Field: "$", Err: err}
	}
	if dec.More() {
		return fieldErr("$", "trailing data after the reference")
	}
	if _, err := dec.Token(); err != io.EOF {
		return fieldErr("$", "trailing data after the reference")
	}
	return nil
}

// Encode returns the reference as indented JSON, with its ID set from the
// content.
func (r *Reference) Encode() ([]byte, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	r.ID = r.computeID()
	return json.MarshalIndent(r, "", "  ")
}

// computeID hashes everything but the ID and the creation time, so the
// same statistics always get the same ID.
func (r *Reference) computeID() string {
	c := *r
	c.ID, c.Created, c.Source = "", time.Time{}, ""
	data, ok := appendIDJSON(make([]byte, 0, 64<<10), &c)
	if !ok {
		var err error
		if data, err = json.Marshal(&c); err != nil {
			return ""
		}
	}
	return idOf(data)
}

// idOf is the ID of a reference's encoding.
func idOf(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:12])
}
