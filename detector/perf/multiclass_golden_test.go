package perf

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/driftd/driftd/detector"
)

// goldenMulticlass is testdata/perf/golden_multiclass.json, written by
// testdata/perf/gen_golden_multiclass.py with scikit-learn and scipy.
type goldenMulticlass struct {
	Cases []struct {
		Name                string
		RefLabels           []string `json:"ref_labels"`
		RefPredictions      []string `json:"ref_predictions"`
		Labels, Predictions []string
		Classes, Present    []string
		RefAccuracy         float64 `json:"ref_accuracy"`
		RefMacroF1          float64 `json:"ref_macro_f1"`
		Accuracy            float64
		AccuracyP           float64 `json:"accuracy_p"`
		MacroF1             float64 `json:"macro_f1"`
		MacroF1Var          float64 `json:"macro_f1_var"`
		RefMacroF1Present   float64 `json:"ref_macro_f1_present"`
		RefMacroF1Var       float64 `json:"ref_macro_f1_var"`
		MacroF1Z            float64 `json:"macro_f1_z"`
		MacroF1P            float64 `json:"macro_f1_p"`
		Recalls             []struct {
			Class                string
			Recall, Reference, P float64
		}
	} `json:"cases"`
}

// TestGoldenMulticlass: on six reference/window pairs (unknown classes
// as labels and predictions, a reference class absent from the window,
// integer class names, a class only ever predicted, a 40-pair window) the
// reference's accuracy and macro-F1 equal scikit-learn's to 1e-12; the
// window's accuracy, per-class recall and macro-F1 (over the classes
// present) equal scikit-learn's to 1e-12; the binomial p-values of
// accuracy and recall equal scipy's binomtest (alternative="less") to
// 1e-9 relative; the delta-method variances of macro-F1 equal the
// script's numerical-gradient variances to 1e-6 relative, and so do the
// z and p of the macro-F1 test (scipy norm.cdf). Every test the monitor
// runs is checked, and no other runs.
func TestGoldenMulticlass(t *testing.T) {
	data, err := os.ReadFile("../../testdata/perf/golden_multiclass.json")
	if err != nil {
		t.Fatal(err)
	}
	var g goldenMulticlass
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Cases) < 6 {
		t.Fatalf("golden file incomplete: %d cases", len(g.Cases))
	}
	for _, c := range g.Cases {
		pr, err := BuildMulticlassReference(c.RefLabels, c.RefPredictions, "prediction", "label")
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		if len(pr.Classes) != len(c.Classes) {
			t.Fatalf("%s: classes %v, want %v", c.Name, pr.Classes, c.Classes)
		}
		for i := range c.Classes {
			if pr.Classes[i] != c.Classes[i] {
				t.Fatalf("%s: classes %v, want %v", c.Name, pr.Classes, c.Classes)
			}
		}
		if !close(pr.Accuracy, c.RefAccuracy, 1e-12) || !close(pr.MacroF1, c.RefMacroF1, 1e-12) {
			t.Errorf("%s: reference accuracy %v macro-F1 %v, scikit-learn %v %v", c.Name, pr.Accuracy, pr.MacroF1, c.RefAccuracy, c.RefMacroF1)
		}
		ref := &detector.Reference{Schema: detector.ReferenceSchema, ID: "sha256:test", Model: "m", Version: "1", Performance: pr}
		p := detector.DefaultPolicy()
		p.MinEvents = 2
		cfg := DefaultConfig()
		cfg.Window, cfg.Hop = len(c.Labels), len(c.Labels)
		m, err := NewMonitor(ref, p, cfg)
		if err != nil {
			t.Fatal(err)
		}
		var ev *Evaluation
		var alerts []detector.Alert
		for i := range c.Labels {
			ev = m.Add(Pair{Score: m.ClassIndex([]byte(c.Predictions[i])), Target: m.ClassIndex([]byte(c.Labels[i]))}, &alerts)
		}
		if ev == nil {
			t.Fatalf("%s: no evaluation", c.Name)
		}
		want := map[detector.Test]struct{ value, reference, p, z float64 }{
			TestAccuracy: {c.Accuracy, c.RefAccuracy, c.AccuracyP, c.Accuracy},
			TestMacroF1:  {c.MacroF1, c.RefMacroF1Present, c.MacroF1P, c.MacroF1Z},
		}
		for _, r := range c.Recalls {
			want[ClassRecallTest(r.Class)] = struct{ value, reference, p, z float64 }{r.Recall, r.Reference, r.P, r.Recall}
		}
		if len(ev.Results) != len(want) {
			t.Errorf("%s: %d results, want %d (%v)", c.Name, len(ev.Results), len(want), ev.Results)
		}
		for _, r := range ev.Results {
			w, ok := want[r.Test]
			if !ok {
				t.Errorf("%s: unexpected test %s", c.Name, r.Test)
				continue
			}
			tol := 1e-9
			if r.Test == TestMacroF1 {
				tol = 1e-6
			}
			if !close(r.Value, w.value, 1e-12) || !close(r.Reference, w.reference, 1e-12) || !close(r.PValue, w.p, tol) ||
				!close(r.Statistic, w.z, tol) {
				t.Errorf("%s %s: value %.15g ref %.15g p %.15g stat %.15g; want %.15g %.15g %.15g %.15g",
					c.Name, r.Test, r.Value, r.Reference, r.PValue, r.Statistic, w.value, w.reference, w.p, w.z)
			}
		}
		present := ev.Multiclass.Present(nil)
		if f1, v := ev.Multiclass.MacroF1(present); !close(f1, c.MacroF1, 1e-12) || !close(v, c.MacroF1Var, 1e-6) {
			t.Errorf("%s: window macro-F1 %v variance %v, want %v %v", c.Name, f1, v, c.MacroF1, c.MacroF1Var)
		}
		if f1, v := m.mc.ref.MacroF1(present); !close(f1, c.RefMacroF1Present, 1e-12) || !close(v, c.RefMacroF1Var, 1e-6) {
			t.Errorf("%s: reference macro-F1 %v variance %v, want %v %v", c.Name, f1, v, c.RefMacroF1Present, c.RefMacroF1Var)
		}
	}
}
