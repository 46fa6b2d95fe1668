package detector

import (
	"strings"
	"testing"
)

func TestPolicies(t *testing.T) {
	ps, err := ParsePolicies([]byte(`{
		"defaults": {"ert": 1e8},
		"models": {
			"churn":   {"policy": {"hysteresis": 3}, "features": {"plan": {"js_min_effect": 0.2, "disabled_tests": ["invalid"]}}},
			"churn/4": {"policy": {"hysteresis": 5}}
		}}`), DefaultPolicy())
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		model, version, feature string
		check                   func(Policy) bool
		why                     string
	}{
		{"other", "1", "x", func(p Policy) bool { return p.ERT == 1e8 && p.Hysteresis == 2 }, "defaults apply to unlisted models"},
		{"churn", "3", "tenure", func(p Policy) bool { return p.ERT == 1e8 && p.Hysteresis == 3 }, "the model entry overrides the defaults"},
		{"churn", "3", "plan", func(p Policy) bool {
			return p.Hysteresis == 3 && p.JSMinEffect == 0.2 && !p.Enabled(TestInvalid) && p.Enabled(TestChi2)
		}, "a feature entry overrides its model's"},
		{"churn", "4", "plan", func(p Policy) bool { return p.Hysteresis == 5 && p.JSMinEffect == 0.1 }, "model/version wins over model, and has no feature entries"},
	}
	for _, c := range cases {
		if p := ps.Feature(c.model, c.version, c.feature); !c.check(p) {
			t.Errorf("%s/%s %s: %+v (%s)", c.model, c.version, c.feature, p, c.why)
		}
	}
	if ps.Model("churn", "3").Hysteresis != 3 {
		t.Error("Model() ignores the model entry")
	}
	for _, bad := range []struct{ file, want string }{
		{`{"defaults": {"ert": 0}}`, "ert"},
		{`{"models": {"m": {"features": {"f": {"ks_min_effect": 2}}}}}`, "models.m.features.f"},
		{`{"models": {"m": {"policy": {"hysteresiss": 2}}}}`, "hysteresiss"},
		{`{"models": {"m": {"features": {"f": {"disabled_tests": ["t"]}}}}}`, "unknown test"},
		// JSON errors name the policy file's path, not "reference:".
		{`{"defaults": {"ert": "x"}}`, "policy: defaults.ert: cannot hold a JSON string"},
		{`{"model": {}}`, "policy: file: json: unknown field \"model\""},
		{`{"defaults": {}} {}`, "policy: file: trailing data"},
		{`{"models": {"m": {"policy": []}}}`, "policy: models.m.policy: json: cannot unmarshal array"},
	} {
		_, err := ParsePolicies([]byte(bad.file), DefaultPolicy())
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: error %v, want it to mention %q", bad.file, err, bad.want)
		}
		if err != nil && strings.Contains(err.Error(), "reference") {
			t.Errorf("%s: policy error %q speaks of a reference", bad.file, err)
		}
	}
}

// TestAlarmStep walks the hysteresis state machine (k = 2).
func TestAlarmStep(t *testing.T) {
	var a AlarmState
	steps := []struct {
		drifting, severe, changed, firing bool
		why                               string
	}{
		{true, false, false, false, "1st drifting evaluation: not yet"},
		{false, false, false, false, "a clean one resets the streak"},
		{true, false, false, false, "drifting again: streak 1"},
		{true, false, true, true, "2nd in a row: fires"},
		{true, false, false, true, "still drifting: no new transition"},
		{false, false, false, true, "1 clean: still firing"},
		{true, false, false, true, "drifting again resets the clean streak"},
		{false, false, false, true, "1 clean"},
		{false, false, true, false, "2 clean in a row: resolves"},
		{true, true, true, true, "severe: fires at once"},
	}
	for i, s := range steps {
		changed := a.Step(s.drifting, s.severe, 2, uint64(i))
		if changed != s.changed || a.Firing != s.firing {
			t.Fatalf("step %d (%s): changed %v firing %v", i+1, s.why, changed, a.Firing)
		}
	}
}
