package perf

import (
	"encoding/json"
	"math"
	"os"
	"testing"
)

// golden is testdata/perf/golden.json, written by
// testdata/perf/gen_golden.py with scikit-learn and scipy.
type golden struct {
	Datasets []struct {
		Name               string
		Threshold          float64
		Scores             []float64
		Labels             []int
		ROCAUC             float64 `json:"roc_auc"`
		AveragePrecision   float64 `json:"average_precision"`
		LogLoss            float64 `json:"log_loss"`
		LogLossVar         float64 `json:"log_loss_var"`
		Brier              float64
		BrierVar           float64 `json:"brier_var"`
		Precision, Recall  float64
		Positives          int64
		PredictedPositives int64 `json:"predicted_positives"`
		TruePositives      int64 `json:"true_positives"`
	} `json:"datasets"`
	AUCDrop []struct {
		Ref, Win float64
		RefPos   int64   `json:"ref_pos"`
		RefNeg   int64   `json:"ref_neg"`
		WinPos   int64   `json:"win_pos"`
		WinNeg   int64   `json:"win_neg"`
		SEWin    float64 `json:"se_win"`
		Z, P     float64
	} `json:"auc_drop"`
	Welch []struct {
		NWin    float64 `json:"n_win"`
		MeanWin float64 `json:"mean_win"`
		VarWin  float64 `json:"var_win"`
		NRef    float64 `json:"n_ref"`
		MeanRef float64 `json:"mean_ref"`
		VarRef  float64 `json:"var_ref"`
		T, P    float64
	} `json:"welch_greater"`
	Fisher []struct {
		K, N, KR, NR    int64
		Less            float64
		TwoSidedDoubled float64 `json:"two_sided_doubled"`
	} `json:"fisher"`
}

func loadGolden(t *testing.T) *golden {
	data, err := os.ReadFile("../../testdata/perf/golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var g golden
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Datasets) < 5 || len(g.AUCDrop) < 5 || len(g.Welch) < 5 || len(g.Fisher) < 10 {
		t.Fatalf("golden file incomplete: %d datasets, %d auc, %d welch, %d fisher", len(g.Datasets), len(g.AUCDrop), len(g.Welch), len(g.Fisher))
	}
	return &g
}

func close(got, want, tol float64) bool {
	return math.Abs(got-want) <= tol*math.Max(1, math.Abs(want))
}

// TestGoldenMetrics: the window metrics equal scikit-learn's
// roc_auc_score, average_precision_score, log_loss, brier_score_loss,
// precision_score and recall_score on the golden data sets (ties, a rare
// class, scores of exactly 0 and 1), to 1e-12.
func TestGoldenMetrics(t *testing.T) {
	g := loadGolden(t)
	for _, d := range g.Datasets {
		pairs := make([]Pair, len(d.Scores))
		for i, s := range d.Scores {
			pairs[i] = Pair{Score: s, Positive: d.Labels[i] == 1}
		}
		m, _ := Compute(pairs, d.Threshold, nil)
		for _, c := range []struct {
			name      string
			got, want float64
		}{
			{"roc_auc", m.ROCAUC, d.ROCAUC}, {"average_precision", m.AveragePrecision, d.AveragePrecision},
			{"log_loss", m.LogLoss, d.LogLoss}, {"log_loss_var", m.LogLossVar, d.LogLossVar},
			{"brier", m.Brier, d.Brier}, {"brier_var", m.BrierVar, d.BrierVar},
			{"precision", m.Precision(), d.Precision}, {"recall", m.Recall(), d.Recall},
		} {
			if !close(c.got, c.want, 1e-12) {
				t.Errorf("%s %s = %.17g, scikit-learn %.17g", d.Name, c.name, c.got, c.want)
			}
		}
		if m.Positives != d.Positives || m.PredictedPositives != d.PredictedPositives || m.TruePositives != d.TruePositives {
			t.Errorf("%s counts %d/%d/%d, want %d/%d/%d", d.Name, m.Positives, m.PredictedPositives, m.TruePositives, d.Positives, d.PredictedPositives, d.TruePositives)
		}
	}
}

// TestGoldenTests: the Hanley–McNeil AUC test, the one-sided Welch test
// (scipy ttest_ind_from_stats, alternative="greater") and Fisher's exact
// tests of a window's rate against the reference's (scipy fisher_exact,
// alternative="less"; the doubled tail of scipy's hypergeom) to 1e-9
// relative.
func TestGoldenTests(t *testing.T) {
	g := loadGolden(t)
	for _, c := range g.AUCDrop {
		if se := HanleyMcNeilSE(c.Win, c.WinPos, c.WinNeg); !close(se, c.SEWin, 1e-12) {
			t.Errorf("SE(%v, %d, %d) = %v, want %v", c.Win, c.WinPos, c.WinNeg, se, c.SEWin)
		}
		z, p := AUCDropTest(c.Ref, c.Win, c.RefPos, c.RefNeg, c.WinPos, c.WinNeg)
		if !close(z, c.Z, 1e-12) || !close(p, c.P, 1e-9) {
			t.Errorf("AUC %v→%v: z %v p %v, scipy z %v p %v", c.Ref, c.Win, z, p, c.Z, c.P)
		}
	}
	for _, c := range g.Welch {
		tt, _, p := LossIncreaseTest(c.NWin, c.MeanWin, c.VarWin, c.NRef, c.MeanRef, c.VarRef)
		if !close(tt, c.T, 1e-12) || !close(p, c.P, 1e-9) {
			t.Errorf("Welch %+v: t %v p %v, scipy t %v p %v", c, tt, p, c.T, c.P)
		}
	}
	for _, c := range g.Fisher {
		if p := RateDropTest(c.K, c.N, c.KR, c.NR); !close(p, c.Less, 1e-9) {
			t.Errorf("fisher less %d/%d vs %d/%d: %v, scipy %v", c.K, c.N, c.KR, c.NR, p, c.Less)
		}
		if p := RateChangeTest(c.K, c.N, c.KR, c.NR); !close(p, c.TwoSidedDoubled, 1e-9) {
			t.Errorf("fisher two-sided %d/%d vs %d/%d: %v, scipy %v", c.K, c.N, c.KR, c.NR, p, c.TwoSidedDoubled)
		}
	}
}

type goldenRegression struct {
	Regressions []struct {
		Name                 string
		Predictions, Targets []float64
		MAE                  float64 `json:"mae"`
		MAEVar               float64 `json:"mae_var"`
		MSE                  float64 `json:"mse"`
		MSEVar               float64 `json:"mse_var"`
		RMSE                 float64 `json:"rmse"`
		Bias                 float64 `json:"bias"`
		ErrorVar             float64 `json:"error_var"`
	} `json:"regressions"`
	WelchTwoSided []struct {
		NWin    float64 `json:"n_win"`
		MeanWin float64 `json:"mean_win"`
		VarWin  float64 `json:"var_win"`
		NRef    float64 `json:"n_ref"`
		MeanRef float64 `json:"mean_ref"`
		VarRef  float64 `json:"var_ref"`
		T, P    float64
	} `json:"welch_two_sided"`
}

// TestGoldenRegression: MAE, MSE, RMSE (scikit-learn
// mean_absolute_error, mean_squared_error), the bias and the variances
// (numpy, ddof=1) to 1e-12; the bias test equals scipy's two-sided
// ttest_ind_from_stats to 1e-9.
func TestGoldenRegression(t *testing.T) {
	data, err := os.ReadFile("../../testdata/perf/golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var g goldenRegression
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Regressions) < 3 || len(g.WelchTwoSided) < 3 {
		t.Fatalf("golden file incomplete: %d regressions, %d tests", len(g.Regressions), len(g.WelchTwoSided))
	}
	for _, d := range g.Regressions {
		pairs := make([]Pair, len(d.Predictions))
		for i := range pairs {
			pairs[i] = Pair{Score: d.Predictions[i], Target: d.Targets[i]}
		}
		m := ComputeRegression(pairs)
		for _, c := range []struct {
			name      string
			got, want float64
		}{
			{"mae", m.MAE, d.MAE}, {"mae_var", m.MAEVar, d.MAEVar}, {"mse", m.MSE, d.MSE}, {"mse_var", m.MSEVar, d.MSEVar},
			{"rmse", m.RMSE(), d.RMSE}, {"bias", m.Bias, d.Bias}, {"error_var", m.ErrorVar, d.ErrorVar},
		} {
			if !close(c.got, c.want, 1e-12) {
				t.Errorf("%s %s = %.17g, want %.17g", d.Name, c.name, c.got, c.want)
			}
		}
	}
	for _, c := range g.WelchTwoSided {
		tt, p := MeanChangeTest(c.NWin, c.MeanWin, c.VarWin, c.NRef, c.MeanRef, c.VarRef)
		if !close(tt, c.T, 1e-12) || !close(p, c.P, 1e-9) {
			t.Errorf("Welch two-sided %+v: t %v p %v, scipy t %v p %v", c, tt, p, c.T, c.P)
		}
	}
}
