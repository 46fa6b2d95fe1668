package detector

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
)

// Test names a statistical test run on a feature window.
type Test string

// Tests. Numeric features run ks, mean_shift, scale, cusum (count
// windows), missing, invalid and out_of_range; categorical features run chi2, missing and invalid. The
// dataset-level alert uses the pseudo-test "dataset".
const (
	TestKS         Test = "ks"
	TestMeanShift  Test = "mean_shift"
	TestScale      Test = "scale"
	TestCUSUM      Test = "cusum"
	TestChi2       Test = "chi2"
	TestMissing    Test = "missing"
	TestInvalid    Test = "invalid"
	TestOutOfRange Test = "out_of_range"
	TestDataset    Test = "dataset"
)

// NumericTests and CategoricalTests list the tests of each feature kind in
// the order results are reported.
var (
	NumericTests     = []Test{TestKS, TestMeanShift, TestScale, TestCUSUM, TestMissing, TestInvalid, TestOutOfRange}
	CategoricalTests = []Test{TestChi2, TestMissing, TestInvalid}
)

func knownTest(t Test) bool {
	return slices.Contains(NumericTests, t) || slices.Contains(CategoricalTests, t)
}

// KS p-value methods (see ksdist.TwoSampPValue).
const (
	KSMethodAuto  = "auto"
	KSMethodExact = "exact"
	KSMethodAsymp = "asymp"
)

// Policy decides when a test result counts as drift and when alerts fire.
// A result is drifting when its p-value is below the calibrated threshold
// AND its effect size passes the test's gate; an alert fires after
// Hysteresis consecutive drifting evaluations and resolves after
// ResolveHysteresis clean ones.
type Policy struct {
	// ERT is the target expected number of events of one model between
	// two false alarms (default 1e7). The per-test p-value threshold is
	// hop/(ERT·tests): the union bound over the model's tests and over
	// the ERT/hop evaluations in ERT events.
	ERT float64 `json:"ert,omitempty" env:"ERT"`
	// Hysteresis is k: fire after k consecutive drifting evaluations,
	// resolve after ResolveHysteresis clean ones (default 2).
	Hysteresis int `json:"hysteresis,omitempty" env:"HYSTERESIS"`
	// DatasetDriftShare: the model is drifting as a whole when at least
	// this share of its features has a firing alert (default 0.2).
	DatasetDriftShare float64 `json:"dataset_drift_share,omitempty" env:"DATASET_DRIFT_SHARE"`
	// KSMinEffect gates KS: D − ε, the distance net of the reference
	// sketch's error bound (default 0.1).
	KSMinEffect float64 `json:"ks_min_effect,omitempty" env:"KS_MIN_EFFECT"`
	// MeanShiftMinEffect gates the mean-shift test: |Δμ|/σ_ref (default
	// 0.1 reference standard deviations).
	MeanShiftMinEffect float64 `json:"mean_shift_min_effect,omitempty" env:"MEAN_SHIFT_MIN_EFFECT"`
	// ScaleMinEffect gates the scale test: |log(G_w/G_ref)|, the log
	// ratio of the window's and the reference's mean absolute deviations
	// from the reference median (default 0.1: spread up or down by
	// about 10 %).
	ScaleMinEffect float64 `json:"scale_min_effect,omitempty" env:"SCALE_MIN_EFFECT"`
	// JSMinEffect gates chi-square: the Jensen–Shannon distance, base 2,
	// between window and reference proportions (default 0.1).
	JSMinEffect float64 `json:"js_min_effect,omitempty" env:"JS_MIN_EFFECT"`
	// QualityMinEffect gates the missing, invalid and out-of-range
	// tests: the increase of the ratio over the reference (default 0.05).
	QualityMinEffect float64 `json:"quality_min_effect,omitempty" env:"QUALITY_MIN_EFFECT"`
	// ImmediateFactor: a drifting result whose effect is at least this
	// many times its gate and whose p-value is below the threshold by the
	// same factor cubed fires at once, without waiting for hysteresis
	// (default 5; 0 disables by setting a negative value). Blatant
	// breakage — a unit error, a constant column — pages on its first
	// evaluation.
	ImmediateFactor float64 `json:"immediate_factor,omitempty" env:"IMMEDIATE_FACTOR"`
	// ResolveFactor sets the resolve side of the hysteresis: a firing
	// alert counts an evaluation as clean only when its effect falls
	// below ResolveFactor × gate or its p-value rises above
	// threshold^(1/4) (default 0.5). Like a Schmitt trigger, this keeps
	// a drift hovering at the gate from flapping between firing and
	// resolved.
	ResolveFactor float64 `json:"resolve_factor,omitempty" env:"RESOLVE_FACTOR"`
	// ResolveHysteresis is how many clean evaluations in a row resolve a
	// firing alert (default 6: at the default hop of N/8 the evidence
	// must stay gone while three quarters of the window's events are
	// replaced). Consecutive evaluations share most of their events, so
	// Hysteresis clean ones can be one noisy stretch of a drift that is
	// still there; the price is a later resolve (about 4·hop events more
	// than with 2).
	ResolveHysteresis int `json:"resolve_hysteresis,omitempty" env:"RESOLVE_HYSTERESIS"`
	// UpdateFactor: a firing alert is published again, as an update,
	// when its effect stays at least this many times the effect last
	// published for Hysteresis evaluations, or when it turns severe
	// (default 1.5; 0 disables updates). Consumers then see how large
	// the drift became, not only how it started.
	UpdateFactor float64 `json:"update_factor,omitempty" env:"UPDATE_FACTOR"`
	// MinEvents: windows with fewer events are not evaluated (default
	// 100). Count windows evaluate from their first closed pane.
	MinEvents int `json:"min_events,omitempty" env:"MIN_EVENTS"`
	// KSMethod is "auto" (scipy's rule: the exact two-sample p-value
	// when the reference is kept whole and both sizes are ≤ 10000),
	// "exact" or "asymp" (default auto).
	KSMethod string `json:"ks_method,omitempty" env:"KS_METHOD"`
	// CUSUMShift is the mean shift the cusum test is tuned for, in
	// standard deviations of the feature (default 0.25): its reference
	// value is half of it on the pane-score scale. Smaller shifts are
	// still detected, later; larger ones sooner. Count windows only.
	CUSUMShift float64 `json:"cusum_shift,omitempty" env:"CUSUM_SHIFT"`
	// Disabled lists tests not to run.
	Disabled []Test `json:"disabled_tests,omitempty" env:"DISABLED_TESTS" envSeparator:","`
}

// DefaultPolicy returns the documented defaults.
func DefaultPolicy() Policy {
	return Policy{
		ERT:                1e7,
		Hysteresis:         2,
		DatasetDriftShare:  0.2,
		KSMinEffect:        0.1,
		MeanShiftMinEffect: 0.1,
		ScaleMinEffect:     0.1,
		JSMinEffect:        0.1,
		QualityMinEffect:   0.05,
		ImmediateFactor:    5,
		ResolveFactor:      0.5,
		ResolveHysteresis:  6,
		UpdateFactor:       1.5,
		MinEvents:          100,
		KSMethod:           KSMethodAuto,
		CUSUMShift:         0.25,
	}
}

// PolicyError is an invalid policy setting. Field is the JSON name of the
// setting (the environment variable is DRIFTD_ + its upper case).
type PolicyError struct {
	Field string
	Msg   string
}

func (e *PolicyError) Error() string { return e.Field + " " + e.Msg }

func policyErr(field, format string, args ...any) error {
	return &PolicyError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Validate checks the policy, naming the offending field.
func (p Policy) Validate() error {
	switch {
	case !(p.ERT >= 1) || math.IsInf(p.ERT, 0):
		return policyErr("ert", "is %v; accepted: a finite number ≥ 1", p.ERT)
	case p.Hysteresis < 1 || p.Hysteresis > 1000:
		return policyErr("hysteresis", "is %d; accepted: 1 to 1000", p.Hysteresis)
	case !(p.DatasetDriftShare > 0 && p.DatasetDriftShare <= 1):
		return policyErr("dataset_drift_share", "is %v; accepted: a number in (0, 1]", p.DatasetDriftShare)
	case !(p.KSMinEffect >= 0 && p.KSMinEffect <= 1):
		return policyErr("ks_min_effect", "is %v; accepted: a number in [0, 1]", p.KSMinEffect)
	case !(p.MeanShiftMinEffect >= 0) || math.IsInf(p.MeanShiftMinEffect, 0):
		return policyErr("mean_shift_min_effect", "is %v; accepted: a finite number ≥ 0", p.MeanShiftMinEffect)
	case !(p.ScaleMinEffect >= 0) || math.IsInf(p.ScaleMinEffect, 0):
		return policyErr("scale_min_effect", "is %v; accepted: a finite number ≥ 0", p.ScaleMinEffect)
	case !(p.JSMinEffect >= 0 && p.JSMinEffect <= 1):
		return policyErr("js_min_effect", "is %v; accepted: a number in [0, 1]", p.JSMinEffect)
	case !(p.QualityMinEffect >= 0 && p.QualityMinEffect <= 1):
		return policyErr("quality_min_effect", "is %v; accepted: a number in [0, 1]", p.QualityMinEffect)
	case math.IsNaN(p.ImmediateFactor) || math.IsInf(p.ImmediateFactor, 0):
		return policyErr("immediate_factor", "is %v; accepted: a finite number (0 or less: no immediate firing)", p.ImmediateFactor)
	case !(p.ResolveFactor >= 0 && p.ResolveFactor <= 1):
		return policyErr("resolve_factor", "is %v; accepted: a number in [0, 1]", p.ResolveFactor)
	case p.ResolveHysteresis < 1 || p.ResolveHysteresis > 1000:
		return policyErr("resolve_hysteresis", "is %d; accepted: 1 to 1000", p.ResolveHysteresis)
	case p.UpdateFactor != 0 && !(p.UpdateFactor > 1) || math.IsInf(p.UpdateFactor, 0):
		return policyErr("update_factor", "is %v; accepted: 0 (no updates) or a finite number > 1", p.UpdateFactor)
	case p.MinEvents < 1:
		return policyErr("min_events", "is %d; accepted: a whole number ≥ 1", p.MinEvents)
	case !(p.CUSUMShift > 0 && p.CUSUMShift <= 10):
		return policyErr("cusum_shift", "is %v; accepted: a number in (0, 10] (standard deviations; disable the test with disabled_tests=cusum)", p.CUSUMShift)
	}
	switch p.KSMethod {
	case KSMethodAuto, KSMethodExact, KSMethodAsymp:
	default:
		return policyErr("ks_method", "is %q; accepted: auto, exact, asymp", p.KSMethod)
	}
	for _, t := range p.Disabled {
		if !knownTest(t) {
			return policyErr("disabled_tests", "has unknown test %q; accepted: a comma-separated list of ks, mean_shift, scale, cusum, chi2, missing, invalid, out_of_range", t)
		}
	}
	return nil
}

// Enabled reports whether test t runs.
func (p Policy) Enabled(t Test) bool { return !slices.Contains(p.Disabled, t) }

func (p Policy) gate(t Test) float64 {
	switch t {
	case TestKS:
		return p.KSMinEffect
	case TestMeanShift, TestCUSUM:
		return p.MeanShiftMinEffect
	case TestScale:
		return p.ScaleMinEffect
	case TestChi2:
		return p.JSMinEffect
	default:
		return p.QualityMinEffect
	}
}

// PolicyFile is the JSON policy file: defaults for every model, then
// overrides per model (key "model" or "model/version") and per feature.
// Fields left out keep the value of the level above.
//
//	{"defaults": {"ert": 1e8},
//	 "models": {"churn": {"hysteresis": 3,
//	                      "features": {"plan": {"js_min_effect": 0.2}}}}}
type PolicyFile struct {
	Defaults json.RawMessage        `json:"defaults,omitempty"`
	Models   map[string]ModelPolicy `json:"models,omitempty"`
}

// ModelPolicy overrides the policy for one model and its features.
type ModelPolicy struct {
	Policy   json.RawMessage            `json:"policy,omitempty"`
	Features map[string]json.RawMessage `json:"features,omitempty"`
}

// Policies resolves the effective policy of every model and feature.
// The zero value uses DefaultPolicy everywhere.
type Policies struct {
	base   Policy
	models map[string]modelPolicies
}

type modelPolicies struct {
	policy   Policy
	features map[string]Policy
}

// NewPolicies returns policies with base as the default for every model.
func NewPolicies(base Policy) (*Policies, error) {
	if err := base.Validate(); err != nil {
		return nil, err
	}
	return &Policies{base: base, models: map[string]modelPolicies{}}, nil
}

// ParsePolicies parses a policy file on top of base.
func ParsePolicies(data []byte, base Policy) (*Policies, error) {
	var f PolicyFile
	if err := decodeStrict(data, &f); err != nil {
		return nil, policyDecodeErr("", err)
	}
	if len(f.Defaults) > 0 {
		if err := overlay(&base, f.Defaults, "defaults"); err != nil {
			return nil, err
		}
	}
	ps, err := NewPolicies(base)
	if err != nil {
		return nil, fmt.Errorf("policy: defaults: %w", err)
	}
	for model, mp := range f.Models {
		p := base
		if len(mp.Policy) > 0 {
			if err := overlay(&p, mp.Policy, "models."+model+".policy"); err != nil {
				return nil, err
			}
		}
		m := modelPolicies{policy: p, features: map[string]Policy{}}
		for feature, raw := range mp.Features {
			fp := p
			if err := overlay(&fp, raw, "models."+model+".features."+feature); err != nil {
				return nil, err
			}
			m.features[feature] = fp
		}
		ps.models[model] = m
	}
	return ps, nil
}

// policyDecodeErr words a JSON error of the policy file at path (a
// dotted path into the file, "" for the top level): "policy: path.field:
// error", without the "reference:" of reference decoding errors.
func policyDecodeErr(path string, err error) error {
	var fe *FieldError
	if !errors.As(err, &fe) {
		return fmt.Errorf("policy: %s: %w", path, err)
	}
	field := fe.Field
	switch {
	case field == "$" && path == "":
		field = "file"
	case field == "$":
		field = path
	case path != "":
		field = path + "." + field
	}
	return fmt.Errorf("policy: %s: %w", field, fe.Err)
}

func overlay(p *Policy, raw json.RawMessage, path string) error {
	if err := decodeStrict(raw, p); err != nil {
		return policyDecodeErr(path, err)
	}
	if err := p.Validate(); err != nil {
		return fmt.Errorf("policy: %s: %w", path, err)
	}
	return nil
}

// Model returns the policy of a model version: the "model/version" entry,
// else the "model" entry, else the defaults.
func (ps *Policies) Model(model, version string) Policy {
	if ps == nil {
		return DefaultPolicy()
	}
	if m, ok := ps.lookup(model, version); ok {
		return m.policy
	}
	return ps.base
}

// Feature returns the policy of one feature of a model version.
func (ps *Policies) Feature(model, version, feature string) Policy {
	if ps == nil {
		return DefaultPolicy()
	}
	m, ok := ps.lookup(model, version)
	if !ok {
		return ps.base
	}
	if p, ok := m.features[feature]; ok {
		return p
	}
	return m.policy
}

func (ps *Policies) lookup(model, version string) (modelPolicies, bool) {
	if m, ok := ps.models[model+"/"+version]; ok {
		return m, true
	}
	m, ok := ps.models[model]
	return m, ok
}

// CheckWindow reports a policy that would leave a count window of cfg
// blind: a min_events above the window size means no window ever holds
// enough events to be evaluated. The error names the policy level
// ("defaults" or the model and feature) and both values. Event-time
// windows hold as many events as the traffic brings and are not checked.
func (ps *Policies) CheckWindow(cfg WindowConfig) error {
	if ps == nil || cfg.TimeBased() || cfg.Size <= 0 {
		return nil
	}
	check := func(where string, p Policy) error {
		if p.MinEvents > cfg.Size {
			return fmt.Errorf("%s: min_events %d exceeds the window size %d: no window would ever be evaluated; lower min_events to at most %d or enlarge the window",
				where, p.MinEvents, cfg.Size, cfg.Size)
		}
		return nil
	}
	if err := check("defaults", ps.base); err != nil {
		return err
	}
	for _, model := range slices.Sorted(maps.Keys(ps.models)) {
		m := ps.models[model]
		if err := check("models."+model, m.policy); err != nil {
			return err
		}
		for _, feature := range slices.Sorted(maps.Keys(m.features)) {
			if err := check("models."+model+".features."+feature, m.features[feature]); err != nil {
				return err
			}
		}
	}
	return nil
}
