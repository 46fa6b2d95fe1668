package perf

import (
	"errors"
	"fmt"
	"math"

	"github.com/driftd/driftd/detector"
)

// Feature is the feature name of performance alerts.
const Feature = "performance"

// Config configures the performance windows and their effect gates.
type Config struct {
	// Window and Hop: windows of Window joined pairs, evaluated every Hop
	// pairs (defaults 1000 and Window/8).
	Window, Hop int
	// AUCMinDrop gates roc_auc: the drop below the reference's ROC-AUC
	// (default 0.03).
	AUCMinDrop float64
	// LossMinIncrease gates log_loss and brier: the relative increase of
	// the mean loss over the reference's (default 0.1, i.e. 10%).
	LossMinIncrease float64
	// RateMinDrop gates precision and recall: the drop below the
	// reference's (default 0.05).
	RateMinDrop float64
	// PositiveRateMinChange gates positive_rate: the relative change of
	// the share of positives (default 0.25).
	PositiveRateMinChange float64
	// ErrorMinIncrease gates mae and rmse: their relative increase
	// (default 0.1); BiasMinShift gates bias: the change of the mean
	// error in reference error standard deviations (default 0.1).
	ErrorMinIncrease, BiasMinShift float64
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{Window: 1000, Hop: 125, AUCMinDrop: 0.03, LossMinIncrease: 0.1, RateMinDrop: 0.05, PositiveRateMinChange: 0.25,
		ErrorMinIncrease: 0.1, BiasMinShift: 0.1}
}

// Validate checks the settings.
func (c Config) Validate() error {
	switch {
	case c.Window < 2 || c.Window > 1<<20:
		return fmt.Errorf("performance window must be in 2..%d pairs, got %d", 1<<20, c.Window)
	case c.Hop < 1 || c.Hop > c.Window:
		return fmt.Errorf("performance hop must be in 1..window (%d), got %d", c.Window, c.Hop)
	case !(c.AUCMinDrop >= 0 && c.LossMinIncrease >= 0 && c.RateMinDrop >= 0 && c.PositiveRateMinChange >= 0 && c.ErrorMinIncrease >= 0 && c.BiasMinShift >= 0):
		return errors.New("performance effect gates must not be negative")
	}
	return nil
}

// Result is one performance test on one window.
type Result struct {
	Test                       detector.Test
	Value, Reference           float64 // the window's metric and the reference's
	Statistic, PValue, Effect  float64
	Threshold, EffectThreshold float64
	Drifting, Severe           bool
	holding                    bool
}

// Evaluation is one evaluated window.
type Evaluation struct {
	Model, Version string
	Number         uint64
	Window         detector.WindowInfo
	Metrics        Metrics           // binary
	Regression     RegressionMetrics // regression
	Multiclass     *ClassMetrics     // multiclass, nil otherwise
	Results        []Result
}

// Monitor tests the realized performance of one model version. Not safe
// for concurrent use.
type Monitor struct {
	model, version, refID string
	ref                   *detector.PerformanceRef
	policy                detector.Policy
	cfg                   Config

	ring    []Pair
	next    int
	n       int
	seq     uint64 // pairs added
	alarms  [6]detector.AlarmState
	scratch []Pair
	evals   uint64
	last    *Evaluation
	mc      *multiclass // multiclass state, nil otherwise
}

// NewMonitor returns the performance monitor of ref's model version, nil
// and an error when ref has no performance section.
func NewMonitor(ref *detector.Reference, policy detector.Policy, cfg Config) (*Monitor, error) {
	if ref.Performance == nil {
		return nil, fmt.Errorf("reference %s of %s has no performance section (build it with --label and --prediction)", ref.ID, ref.Key())
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := &Monitor{model: ref.Model, version: ref.Version, refID: ref.ID, ref: ref.Performance, policy: policy, cfg: cfg,
		ring: make([]Pair, cfg.Window)}
	if ref.Performance.Task == detector.PerformanceMulticlass {
		m.mc = newMulticlass(ref.Performance)
	}
	return m, nil
}

// Reference returns the reference performance.
func (m *Monitor) Reference() *detector.PerformanceRef { return m.ref }

// Last returns the last evaluation, nil before the first.
func (m *Monitor) Last() *Evaluation { return m.last }

// Add adds a joined pair. When it completes a hop and the window holds at
// least the policy's MinEvents pairs, the window is evaluated: the
// evaluation is returned and the alerts it raised appended to alerts.
func (m *Monitor) Add(p Pair, alerts *[]detector.Alert) *Evaluation {
	m.ring[m.next] = p
	m.next = (m.next + 1) % len(m.ring)
	m.n = min(m.n+1, len(m.ring))
	m.seq++
	if m.seq%uint64(m.cfg.Hop) != 0 || m.n < max(m.policy.MinEvents, 2) {
		return nil
	}
	return m.evaluate(alerts)
}

// tests are the task's tests.
func (m *Monitor) tests() []detector.Test {
	if m.mc != nil {
		return m.mc.tests
	}
	if m.ref.Task == detector.PerformanceRegression {
		return RegressionTests
	}
	return Tests
}

// Alpha is the p-value threshold of every test: hop/(ERT·tests), at most
// 0.01, as for the drift tests.
func (m *Monitor) Alpha() float64 {
	return math.Min(0.01, float64(m.cfg.Hop)/(m.policy.ERT*float64(len(m.tests()))))
}

func (m *Monitor) evaluate(alerts *[]detector.Alert) *Evaluation {
	if m.mc != nil {
		return m.evaluateMulticlass(alerts)
	}
	var met Metrics
	var reg RegressionMetrics
	if m.ref.Task == detector.PerformanceRegression {
		reg = ComputeRegression(m.ring[:m.n])
		met.N = reg.N
	} else {
		met, m.scratch = Compute(m.ring[:m.n], m.ref.Threshold, m.scratch)
	}
	m.evals++
	alpha := m.Alpha()
	info := detector.WindowInfo{Kind: "count", Size: int64(m.cfg.Window), Hop: int64(m.cfg.Hop), N: met.N,
		FirstSeq: m.seq - uint64(m.n) + 1, LastSeq: m.seq}
	ev := &Evaluation{Model: m.model, Version: m.version, Number: m.evals, Window: info, Metrics: met, Regression: reg}
	for i, t := range m.tests() {
		var r Result
		var ok bool
		if m.ref.Task == detector.PerformanceRegression {
			r, ok = m.testRegression(t, &reg, alpha), true
		} else {
			r, ok = m.test(t, &met, alpha)
		}
		if !ok {
			continue
		}
		a := &m.alarms[i]
		if step(a, &r, m.policy, m.seq) {
			*alerts = append(*alerts, m.alert(r, a.Firing, info))
		}
		ev.Results = append(ev.Results, r)
	}
	m.last = ev
	return ev
}

// test runs one test; ok is false when the window cannot support it (a
// class absent, no predicted positive).
func (m *Monitor) test(t detector.Test, w *Metrics, alpha float64) (r Result, ok bool) {
	ref := m.ref
	r = Result{Test: t, Threshold: alpha}
	winNeg, refNeg := w.N-w.Positives, ref.Count-ref.Positives
	switch t {
	case TestROCAUC:
		if w.Positives == 0 || winNeg == 0 {
			return r, false
		}
		r.Value, r.Reference = w.ROCAUC, ref.ROCAUC
		r.Statistic, r.PValue = AUCDropTest(ref.ROCAUC, w.ROCAUC, ref.Positives, refNeg, w.Positives, winNeg)
		r.Effect, r.EffectThreshold = ref.ROCAUC-w.ROCAUC, m.cfg.AUCMinDrop
	case TestLogLoss, TestBrier:
		mean, variance, rmean, rvar := w.LogLoss, w.LogLossVar, ref.LogLoss, ref.LogLossVariance
		if t == TestBrier {
			mean, variance, rmean, rvar = w.Brier, w.BrierVar, ref.Brier, ref.BrierVariance
		}
		r.Value, r.Reference = mean, rmean
		r.Statistic, _, r.PValue = LossIncreaseTest(float64(w.N), mean, variance, float64(ref.Count), rmean, rvar)
		r.Effect, r.EffectThreshold = (mean-rmean)/math.Max(rmean, 1e-12), m.cfg.LossMinIncrease
	case TestPrecision:
		if w.PredictedPositives == 0 || ref.PredictedPositives == 0 {
			return r, false
		}
		p0 := float64(ref.TruePositives) / float64(ref.PredictedPositives)
		r.Value, r.Reference = w.Precision(), p0
		r.Statistic, r.PValue = r.Value, RateDropTest(w.TruePositives, w.PredictedPositives, ref.TruePositives, ref.PredictedPositives)
		r.Effect, r.EffectThreshold = p0-r.Value, m.cfg.RateMinDrop
	case TestRecall:
		if w.Positives == 0 {
			return r, false
		}
		p0 := float64(ref.TruePositives) / float64(ref.Positives)
		r.Value, r.Reference = w.Recall(), p0
		r.Statistic, r.PValue = r.Value, RateDropTest(w.TruePositives, w.Positives, ref.TruePositives, ref.Positives)
		r.Effect, r.EffectThreshold = p0-r.Value, m.cfg.RateMinDrop
	case TestPositiveRate:
		p0 := float64(ref.Positives) / float64(ref.Count)
		r.Value, r.Reference = w.PositiveRate(), p0
		r.Statistic, r.PValue = r.Value, RateChangeTest(w.Positives, w.N, ref.Positives, ref.Count)
		r.Effect, r.EffectThreshold = math.Abs(r.Value-p0)/p0, m.cfg.PositiveRateMinChange
	}
	m.decide(&r, alpha)
	return r, true
}

// testRegression runs one regression test: Welch's one-sided test on the
// absolute (mae) and squared (rmse) errors, two-sided on the error (bias).
func (m *Monitor) testRegression(t detector.Test, w *RegressionMetrics, alpha float64) Result {
	ref := m.ref
	r := Result{Test: t, Threshold: alpha}
	n, rn := float64(w.N), float64(ref.Count)
	switch t {
	case TestMAE:
		r.Value, r.Reference = w.MAE, ref.MAE
		r.Statistic, _, r.PValue = LossIncreaseTest(n, w.MAE, w.MAEVar, rn, ref.MAE, ref.MAEVariance)
		r.Effect, r.EffectThreshold = (w.MAE-ref.MAE)/math.Max(ref.MAE, 1e-300), m.cfg.ErrorMinIncrease
	case TestRMSE:
		r.Value, r.Reference = w.RMSE(), math.Sqrt(ref.MSE)
		r.Statistic, _, r.PValue = LossIncreaseTest(n, w.MSE, w.MSEVar, rn, ref.MSE, ref.MSEVariance)
		r.Effect, r.EffectThreshold = r.Value/math.Max(r.Reference, 1e-300)-1, m.cfg.ErrorMinIncrease
	case TestBias:
		r.Value, r.Reference = w.Bias, ref.Bias
		r.Statistic, r.PValue = MeanChangeTest(n, w.Bias, w.ErrorVar, rn, ref.Bias, ref.ErrorVariance)
		r.Effect, r.EffectThreshold = math.Abs(w.Bias-ref.Bias)/math.Max(math.Sqrt(ref.ErrorVariance), 1e-300), m.cfg.BiasMinShift
	}
	m.decide(&r, alpha)
	return r
}

// decide applies the alarm policy's thresholds to a result.
func (m *Monitor) decide(r *Result, alpha float64) {
	p := m.policy
	r.Drifting = r.PValue < alpha && r.Effect >= r.EffectThreshold
	r.Severe = r.Drifting && p.ImmediateFactor > 0 && r.Effect >= p.ImmediateFactor*r.EffectThreshold && r.PValue < alpha/125
	// The resolve side, as for the drift tests: a firing alert holds
	// while p ≤ α^(1/4) and the effect stays above ResolveFactor × gate.
	r.holding = r.Drifting || (r.PValue <= math.Sqrt(math.Sqrt(alpha)) && r.Effect >= p.ResolveFactor*r.EffectThreshold && r.Effect > 0)
}

func (m *Monitor) alert(r Result, firing bool, info detector.WindowInfo) detector.Alert {
	status, verb := detector.Resolved, "back to reference"
	if firing {
		status, verb = detector.Firing, "degraded"
		switch r.Test {
		case TestPositiveRate:
			verb = "class balance changed"
		case TestBias:
			verb = "bias changed"
		}
	}
	a := detector.Alert{
		Schema: detector.AlertSchema, Status: status, Model: m.model, Version: m.version, Feature: Feature, Test: r.Test,
		Statistic: r.Statistic, PValue: r.PValue, Effect: r.Effect, Threshold: r.Threshold, EffectThreshold: r.EffectThreshold,
		Severe: r.Severe && firing, Window: info, ReferenceID: m.refID, Evaluation: m.evals,
	}
	a.ID = detector.AlertID(a.Model, a.Version, a.Feature, a.Test, a.Status, a.ReferenceID, info.LastSeq)
	a.Summary = fmt.Sprintf("%s/%s performance %s: %s (%.4g vs reference %.4g; effect %.3g, gate %.3g; p %.3g, threshold %.3g; n=%d)",
		m.model, m.version, r.Test, verb, r.Value, r.Reference, r.Effect, r.EffectThreshold, r.PValue, r.Threshold, info.N)
	return a
}
