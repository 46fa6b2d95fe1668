package stream

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/driftd/driftd/detector"
)

// eval is a synthetic evaluation of one feature with a KS result of the
// given effect.
func eval(feature string, kind detector.Kind, effect float64, firing bool) detector.Evaluation {
	test := detector.TestKS
	if kind == detector.Categorical {
		test = detector.TestChi2
	}
	return detector.Evaluation{Model: "m", Version: "1", Feature: feature, Kind: kind,
		Window: detector.WindowInfo{N: 100}, Mean: 1, StdDev: 2,
		Results: []detector.Result{{Test: test, Statistic: effect, PValue: 0.5, Effect: effect, Firing: firing}}}
}

func hasSeries(t *testing.T, reg prometheus.Gatherer, name, feature string) bool {
	t.Helper()
	return testutilGauge(t, reg, name, map[string]string{"model": "m", "version": "1", "feature": feature})
}

// TestMetricsDetailDrifting: at the drifting level a model version exports
// its firing features and its top-K features by effect; a feature that
// falls to rank 2K loses every per-feature series.
func TestMetricsDetailDrifting(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetricsWith(reg, MetricsOptions{Detail: DetailDrifting, TopK: 1})
	m.ObserveEvaluations(nil, []detector.Evaluation{
		eval("a", detector.Numeric, 0.5, false), eval("b", detector.Numeric, 0.2, false),
		eval("c", detector.Numeric, 0.1, false), eval("d", detector.Numeric, 0.0, true),
	})
	for f, want := range map[string]bool{"a": true, "b": false, "c": false, "d": true} {
		for _, name := range []string{"driftd_window_events", "driftd_window_mean", "driftd_test_p_value", "driftd_drifting"} {
			if got := hasSeries(t, reg, name, f); got != want {
				t.Errorf("after the first evaluation: %s{feature=%q} exists=%v, want %v", name, f, got, want)
			}
		}
	}
	// b overtakes a; a is now at rank 2 (d firing, b, a): 2 ≥ 2K, out.
	m.ObserveEvaluations(nil, []detector.Evaluation{eval("a", detector.Numeric, 0.05, false), eval("b", detector.Numeric, 0.9, false)})
	for f, want := range map[string]bool{"a": false, "b": true, "d": true} {
		for _, name := range []string{"driftd_window_events", "driftd_window_mean", "driftd_window_stddev", "driftd_test_statistic", "driftd_drifting"} {
			if got := hasSeries(t, reg, name, f); got != want {
				t.Errorf("after b overtook a: %s{feature=%q} exists=%v, want %v", name, f, got, want)
			}
		}
	}
	// d resolves and falls behind everyone: its series go too.
	m.ObserveEvaluations(nil, []detector.Evaluation{eval("d", detector.Numeric, 0, false), eval("c", detector.Numeric, 0.3, false)})
	if hasSeries(t, reg, "driftd_drifting", "d") {
		t.Error("d resolved and ranks last, but driftd_drifting{feature=d} remains")
	}
	if !hasSeries(t, reg, "driftd_window_events", "b") {
		t.Error("b (top-1) lost its series")
	}
}

// TestMetricsDetailSummary: at the summary level no per-feature series
// exist but driftd_drifting of a firing test, deleted when it resolves.
func TestMetricsDetailSummary(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetricsWith(reg, MetricsOptions{Detail: DetailSummary})
	m.ObserveEvaluations(nil, []detector.Evaluation{eval("a", detector.Numeric, 0.5, true), eval("b", detector.Numeric, 0.9, false)})
	if !hasSeries(t, reg, "driftd_drifting", "a") {
		t.Error("a fires but driftd_drifting{feature=a} is missing")
	}
	for _, f := range []string{"a", "b"} {
		for _, name := range []string{"driftd_window_events", "driftd_window_mean", "driftd_test_p_value"} {
			if hasSeries(t, reg, name, f) {
				t.Errorf("summary level exports %s{feature=%q}", name, f)
			}
		}
	}
	if hasSeries(t, reg, "driftd_drifting", "b") {
		t.Error("b does not fire but has driftd_drifting")
	}
	if !testutilGauge(t, reg, "driftd_evaluations_total", map[string]string{"model": "m", "version": "1"}) {
		t.Error("per-model driftd_evaluations_total missing")
	}
	m.ObserveAlert(&detector.Alert{Model: "m", Version: "1", Feature: "a", Test: detector.TestKS, Status: detector.Resolved})
	if hasSeries(t, reg, "driftd_drifting", "a") {
		t.Error("a resolved but driftd_drifting{feature=a} remains")
	}
	m.ObserveAlert(&detector.Alert{Model: "m", Version: "1", Feature: "b", Test: detector.TestKS, Status: detector.Firing})
	if !hasSeries(t, reg, "driftd_drifting", "b") {
		t.Error("an alert on b fired but driftd_drifting{feature=b} is missing")
	}
}

// TestMetricsCategoricalNoMoments: a categorical feature has no window or
// reference mean/standard deviation series (a constant 0 would draw as a
// flat line); a numeric one has them.
func TestMetricsCategoricalNoMoments(t *testing.T) {
	for _, detail := range MetricsDetails {
		reg := prometheus.NewRegistry()
		m := NewMetricsWith(reg, MetricsOptions{Detail: detail, TopK: 5})
		ref := &detector.Reference{Model: "m", Version: "1", Features: []*detector.FeatureRef{
			{Name: "num", Kind: detector.Numeric, Mean: 3, Variance: 4}, {Name: "cat", Kind: detector.Categorical}}}
		m.ObserveEvaluations(map[string]*detector.Reference{"m/1": ref}, []detector.Evaluation{
			eval("num", detector.Numeric, 0.5, true), eval("cat", detector.Categorical, 0.5, true)})
		for _, name := range []string{"driftd_window_mean", "driftd_window_stddev", "driftd_reference_mean", "driftd_reference_stddev"} {
			if hasSeries(t, reg, name, "cat") {
				t.Errorf("%s: categorical feature exports %s", detail, name)
			}
			if want := detail != DetailSummary; hasSeries(t, reg, name, "num") != want {
				t.Errorf("%s: numeric feature: %s exists=%v, want %v", detail, name, !want, want)
			}
		}
		if want := detail != DetailSummary; hasSeries(t, reg, "driftd_feature_psi", "cat") != want {
			t.Errorf("%s: categorical feature: driftd_feature_psi exists=%v, want %v", detail, !want, want)
		}
	}
}
