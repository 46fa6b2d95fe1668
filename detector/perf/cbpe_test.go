package perf

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/driftd/driftd/detector"
)

// cbpeGolden is testdata/cbpe/golden.json, written by
// testdata/cbpe/gen_golden.py with NannyML's CBPE.
type cbpeGolden struct {
	Threshold float64
	Chunk     int
	Reference struct {
		Scores             []float64
		Labels             []int
		EstimatedROCAUC    []float64 `json:"estimated_roc_auc"`
		EstimatedPrecision []float64 `json:"estimated_precision"`
		EstimatedRecall    []float64 `json:"estimated_recall"`
	}
	CalibrationPoints []float64 `json:"calibration_points"`
	Calibrated        []float64
	Chunks            []struct {
		Mu, Sd             float64
		Scores             []float64
		EstimatedROCAUC    float64 `json:"estimated_roc_auc"`
		EstimatedPrecision float64 `json:"estimated_precision"`
		EstimatedRecall    float64 `json:"estimated_recall"`
		RealizedROCAUC     float64 `json:"realized_roc_auc"`
	}
}

func loadCBPEGolden(t *testing.T) (*cbpeGolden, []Pair) {
	data, err := os.ReadFile("../../testdata/cbpe/golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var g cbpeGolden
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Reference.Scores) < EstimationMinRows || len(g.Reference.Labels) != len(g.Reference.Scores) || len(g.Chunks) < 5 ||
		len(g.Reference.EstimatedROCAUC) != len(g.Reference.Scores)/g.Chunk || len(g.Calibrated) != len(g.CalibrationPoints) {
		t.Fatalf("golden file incomplete: %d reference rows, %d chunks", len(g.Reference.Scores), len(g.Chunks))
	}
	pairs := make([]Pair, len(g.Reference.Scores))
	for i, s := range g.Reference.Scores {
		pairs[i] = Pair{Score: s, Positive: g.Reference.Labels[i] == 1}
	}
	return &g, pairs
}

// TestCBPEGoldenExact: the row-level estimator is NannyML's CBPE. The
// isotonic calibration fitted on the reference maps the probe scores as
// NannyML's calibrator does (1e-12), and the estimated ROC-AUC, precision
// and recall of every 2,000-row chunk — the reference's own five and five
// analysis chunks with shifted score distributions — equal NannyML's to
// 1e-6 (NannyML rounds the cumulative expected counts of its ROC curve to
// 5 decimals; nothing else differs).
func TestCBPEGoldenExact(t *testing.T) {
	g, pairs := loadCBPEGolden(t)
	f, err := FitIsotonic(pairs)
	if err != nil {
		t.Fatal(err)
	}
	for i, x := range g.CalibrationPoints {
		if got := f.Predict(x); math.Abs(got-g.Calibrated[i]) > 1e-12 {
			t.Errorf("calibrated(%v) = %.15g, NannyML %.15g", x, got, g.Calibrated[i])
		}
	}
	check := func(name string, scores []float64, auc, precision, recall float64) {
		e := EstimateRows(scores, f, g.Threshold)
		for _, c := range []struct {
			metric    string
			got, want float64
		}{{"roc_auc", e.ROCAUC, auc}, {"precision", e.Precision, precision}, {"recall", e.Recall, recall}} {
			if math.Abs(c.got-c.want) > 1e-6 {
				t.Errorf("%s: estimated %s %.9f, NannyML %.9f", name, c.metric, c.got, c.want)
			}
		}
	}
	for i := range g.Reference.EstimatedROCAUC {
		scores := g.Reference.Scores[i*g.Chunk : (i+1)*g.Chunk]
		check("reference chunk "+string(rune('1'+i)), scores, g.Reference.EstimatedROCAUC[i], g.Reference.EstimatedPrecision[i], g.Reference.EstimatedRecall[i])
	}
	for i, c := range g.Chunks {
		check("analysis chunk "+string(rune('1'+i)), c.Scores, c.EstimatedROCAUC, c.EstimatedPrecision, c.EstimatedRecall)
	}
}

// cbpeTolerance is how far the streaming estimator (score cells, the
// calibration fitted on the cells) may stand from NannyML's row-level
// estimate on a 2,000-row chunk.
const cbpeTolerance = 0.01

// TestCBPEGoldenStreaming: the Estimator built by BuildEstimation from
// the golden reference, with windows of 2,000 scores hopping by 2,000 (the
// chunks), estimates every analysis chunk within cbpeTolerance of NannyML.
// The difference is the method's: the estimator calibrates and ranks at
// the resolution of about 100 score cells (rows of one cell are tied)
// where NannyML works on every row.
func TestCBPEGoldenStreaming(t *testing.T) {
	g, pairs := loadCBPEGolden(t)
	pr, err := BuildReference(pairs, g.Threshold, "prediction", "label")
	if err != nil {
		t.Fatal(err)
	}
	if pr.Estimation, err = BuildEstimation(pairs, g.Threshold); err != nil {
		t.Fatal(err)
	}
	ref := &detector.Reference{Schema: detector.ReferenceSchema, ID: "sha256:golden", Model: "m", Version: "1", Performance: pr}
	cfg := DefaultConfig()
	cfg.Window, cfg.Hop = g.Chunk, g.Chunk
	e, err := NewEstimator(ref, detector.DefaultPolicy(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var alerts []detector.Alert
	var worst float64
	for i, c := range g.Chunks {
		var ev *Estimate
		for _, s := range c.Scores {
			if x := e.Add(s, &alerts); x != nil {
				ev = x
			}
		}
		if ev == nil || ev.Window.N != int64(g.Chunk) {
			t.Fatalf("chunk %d: no estimate of a full window (%+v)", i+1, ev)
		}
		for _, m := range []struct {
			metric    string
			got, want float64
		}{{"roc_auc", ev.ROCAUC, c.EstimatedROCAUC}, {"precision", ev.Precision, c.EstimatedPrecision}, {"recall", ev.Recall, c.EstimatedRecall}} {
			d := math.Abs(m.got - m.want)
			worst = max(worst, d)
			if d > cbpeTolerance {
				t.Errorf("chunk %d (x ~ N(%v, %v²)): estimated %s %.4f, NannyML %.4f", i+1, c.Mu, c.Sd, m.metric, m.got, m.want)
			}
		}
	}
	t.Logf("largest difference from NannyML: %.4f (%d cells)", worst, len(pr.Estimation.Calibrated))
	// The reference's own estimate: the cells' estimate on the whole set is
	// close to the mean of NannyML's chunk estimates on it.
	var mean float64
	for _, x := range g.Reference.EstimatedROCAUC {
		mean += x / float64(len(g.Reference.EstimatedROCAUC))
	}
	if math.Abs(pr.Estimation.ROCAUC-mean) > cbpeTolerance {
		t.Errorf("reference estimated roc_auc %.4f, NannyML's chunks %.4f", pr.Estimation.ROCAUC, mean)
	}
}

// cbpeModel draws a score from a latent x ~ N(mu, sd²) of an
// over-confident model: the label is positive with probability
// sigmoid(a + b·x), the score is sigmoid(1.6·(a + b·x)). Narrowing sd
// crowds the scores where the model is unsure: the true ROC-AUC drops.
func cbpeModel(rng *rand.Rand, mu, sd float64) Pair {
	z := -1.2 + 1.4*(mu+sd*rng.NormFloat64())
	return Pair{Score: 1 / (1 + math.Exp(-1.6*z)), Positive: rng.Float64() < 1/(1+math.Exp(-z))}
}

// cbpeReference builds the reference of n rows of cbpeModel: the score as
// the feature "prediction", its performance and estimation.
func cbpeReference(t testing.TB, rng *rand.Rand, n int) *detector.Reference {
	b, err := detector.NewBuilder("churn", "3", detector.BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pairs := make([]Pair, n)
	for i := range pairs {
		pairs[i] = cbpeModel(rng, 0, 1)
		b.BeginRow()
		if err := b.Add("prediction", detector.Value{Kind: detector.Number, Num: pairs[i].Score, Parsed: true}); err != nil {
			t.Fatal(err)
		}
		b.EndRow()
	}
	ref, err := b.Reference()
	if err != nil {
		t.Fatal(err)
	}
	pr, err := BuildReference(pairs, 0.5, "prediction", "label")
	if err != nil {
		t.Fatal(err)
	}
	if pr.Estimation, err = BuildEstimation(pairs, 0.5); err != nil {
		t.Fatal(err)
	}
	ref.Performance = pr
	return ref
}

// TestCBPENullVariance: the delta-method standard error of each estimate
// matches the spread of the estimates over 2,000 independent windows of
// 1,000 scores drawn like the reference (within 10%: the sampling error of
// a standard deviation from 2,000 draws is 1.6%), and their mean is the
// reference's estimate (within a third of a standard error: the
// reference's own sampling error is √(1000/50000) = 0.14 of one, the
// mean's 0.02).
func TestCBPENullVariance(t *testing.T) {
	rng := rand.New(rand.NewPCG(71, 71))
	ref := cbpeReference(t, rng, 50000)
	est := ref.Performance.Estimation
	const n, windows = 1000, 2000
	counts := make([]float64, len(est.Calibrated))
	var sum, sumSq [3]float64
	for range windows {
		clear(counts)
		for range n {
			counts[cellOf(est.Breakpoints, cbpeModel(rng, 0, 1).Score)]++
		}
		m := estimateCells(counts, est.Calibrated, est.ThresholdCell)
		for i, x := range []float64{m.ROCAUC, m.Precision, m.Recall} {
			sum[i] += x
			sumSq[i] += x * x
		}
	}
	for i, c := range []struct {
		name          string
		ref, variance float64
	}{{"roc_auc", est.ROCAUC, est.ROCAUCVariance}, {"precision", est.Precision, est.PrecisionVariance}, {"recall", est.Recall, est.RecallVariance}} {
		mean := sum[i] / windows
		sd := math.Sqrt((sumSq[i] - windows*mean*mean) / (windows - 1))
		se := math.Sqrt(c.variance / n)
		t.Logf("%s: reference %.4f, windows mean %.4f sd %.5f, delta-method se %.5f", c.name, c.ref, mean, sd, se)
		if math.Abs(sd/se-1) > 0.1 {
			t.Errorf("%s: windows sd %.5f, delta-method se %.5f", c.name, sd, se)
		}
		if math.Abs(mean-c.ref) > se/3 {
			t.Errorf("%s: windows mean %.5f, reference %.5f (se %.5f)", c.name, mean, c.ref, se)
		}
	}
}

// TestCBPENoDrift: 2,000,000 scores drawn like the reference, production
// policy: the ERT of 10^7 allows 0.2 false alarms, more than one fails at
// the 2% level. With the threshold alone (ERT 2·10^4, gates and
// hysteresis off, 10^6 scores) the union bound allows 50 drifting results
// over the 3 tests; the count must stay under 1.5× that and, not to be
// vacuous, above a twentieth.
func TestCBPENoDrift(t *testing.T) {
	if testing.Short() {
		t.Skip("3M-score simulation")
	}
	rng := rand.New(rand.NewPCG(72, 72))
	ref := cbpeReference(t, rng, 50000)
	e, err := NewEstimator(ref, detector.DefaultPolicy(), DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	var alerts []detector.Alert
	for range 2_000_000 {
		e.Add(cbpeModel(rng, 0, 1).Score, &alerts)
	}
	if len(alerts) > 1 {
		t.Fatalf("%d false alarms, first %s", len(alerts), alerts[0].Summary)
	}
	p := detector.DefaultPolicy()
	p.ERT, p.Hysteresis, p.ImmediateFactor = 2e4, 1, -1
	cfg := DefaultConfig()
	cfg.AUCMinDrop, cfg.RateMinDrop = 0, 0
	if e, err = NewEstimator(ref, p, cfg); err != nil {
		t.Fatal(err)
	}
	drifting := map[detector.Test]int{}
	total := 0
	for range 1_000_000 {
		if ev := e.Add(cbpeModel(rng, 0, 1).Score, &alerts); ev != nil {
			for _, r := range ev.Results {
				if r.Drifting {
					drifting[r.Test]++
					total++
				}
			}
		}
	}
	bound := 1e6 / p.ERT
	t.Logf("threshold only: %d drifting results %v, union bound %.0f", total, drifting, bound)
	if float64(total) > 1.5*bound || float64(total) < bound/20 {
		t.Fatalf("%d drifting results, want within [%.1f, %.0f]", total, bound/20, 1.5*bound)
	}
}

// TestCBPEDetectsScoreShift: after 20,000 scores the population narrows
// (x ~ N(0, 0.5²)): the scores crowd the middle, where the model is
// unsure, and the true ROC-AUC falls from about 0.81 to 0.69 — labels are
// not needed to see it. estimated_roc_auc must fire within two windows
// (2,000 scores) of the change and not before it, and the window's
// estimate must be within 0.03 of the realized ROC-AUC of the same
// window's (hidden) labels. When the population comes back, the alert
// resolves within three windows and nothing fires again.
func TestCBPEDetectsScoreShift(t *testing.T) {
	rng := rand.New(rand.NewPCG(73, 73))
	ref := cbpeReference(t, rng, 50000)
	e, err := NewEstimator(ref, detector.DefaultPolicy(), DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	var alerts []detector.Alert
	const change = 20000
	window := make([]Pair, 0, 1000)
	var last *Estimate
	for i := range change + 4000 {
		sd := 1.0
		if i >= change {
			sd = 0.5
		}
		p := cbpeModel(rng, 0, sd)
		if len(window) == cap(window) {
			window = append(window[:0], window[1:]...)
		}
		window = append(window, p)
		if ev := e.Add(p.Score, &alerts); ev != nil {
			last = ev
		}
	}
	realized, _ := Compute(window, 0.5, nil)
	t.Logf("last window: estimated roc_auc %.4f, realized %.4f; reference estimate %.4f", last.ROCAUC, realized.ROCAUC, ref.Performance.Estimation.ROCAUC)
	if math.Abs(last.ROCAUC-realized.ROCAUC) > 0.03 {
		t.Errorf("estimated roc_auc %.4f, realized %.4f", last.ROCAUC, realized.ROCAUC)
	}
	var fired *detector.Alert
	for i, a := range alerts {
		if a.Status != detector.Firing {
			continue
		}
		if a.Window.LastSeq <= change {
			t.Errorf("alert before the change: %s", a.Summary)
		}
		if a.Test == TestEstimatedROCAUC && fired == nil {
			fired = &alerts[i]
		}
	}
	if fired == nil {
		t.Fatalf("estimated_roc_auc did not fire; alerts %v", alerts)
	}
	t.Logf("estimated_roc_auc fired %d scores after the change: %s", fired.Window.LastSeq-change, fired.Summary)
	if fired.Feature != Feature || fired.Window.LastSeq-change > 2000 || !strings.Contains(fired.Summary, "without labels") {
		t.Fatalf("alert %+v: want feature %q within 2000 scores", fired, Feature)
	}
	// The population comes back: the alert resolves (the resolve side's
	// six clean evaluations after the window has left the narrowed scores)
	// and nothing fires again.
	alerts = alerts[:0]
	const back = change + 4000
	for range 6000 {
		e.Add(cbpeModel(rng, 0, 1).Score, &alerts)
	}
	var resolved *detector.Alert
	for i, a := range alerts {
		switch {
		case a.Status == detector.Firing:
			t.Errorf("fired after the population came back: %s", a.Summary)
		case a.Test == TestEstimatedROCAUC && resolved == nil:
			resolved = &alerts[i]
		}
	}
	if resolved == nil {
		t.Fatalf("estimated_roc_auc did not resolve; alerts %v", alerts)
	}
	t.Logf("resolved %d scores after the population came back: %s", resolved.Window.LastSeq-back, resolved.Summary)
	if resolved.Window.LastSeq-back > 3000 {
		t.Fatalf("resolved %d scores after the population came back, want within 3000", resolved.Window.LastSeq-back)
	}
}

// TestCBPEBadInput: scores that are not probabilities are counted and
// left out; a reference without estimation, too few rows, a bad threshold
// and broken estimation sections are clear errors.
func TestCBPEBadInput(t *testing.T) {
	rng := rand.New(rand.NewPCG(74, 74))
	ref := cbpeReference(t, rng, 5000)
	e, err := NewEstimator(ref, detector.DefaultPolicy(), DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	var alerts []detector.Alert
	for _, s := range []float64{math.NaN(), -0.1, 1.5, math.Inf(1)} {
		if e.Add(s, &alerts) != nil {
			t.Fatalf("score %v evaluated", s)
		}
	}
	if e.Invalid() != 4 || e.n != 0 {
		t.Fatalf("invalid %d, window %d: want 4 and 0", e.Invalid(), e.n)
	}
	noEst := *ref
	pr := *ref.Performance
	pr.Estimation = nil
	noEst.Performance = &pr
	if _, err := NewEstimator(&noEst, detector.DefaultPolicy(), DefaultConfig()); err == nil || !strings.Contains(err.Error(), "no performance estimation") {
		t.Errorf("reference without estimation: %v", err)
	}
	pairs := make([]Pair, EstimationMinRows-1)
	for i := range pairs {
		pairs[i] = cbpeModel(rng, 0, 1)
	}
	if _, err := BuildEstimation(pairs, 0.5); err == nil || !strings.Contains(err.Error(), "at least") {
		t.Errorf("too few rows: %v", err)
	}
	pairs = append(pairs, Pair{Score: 2})
	if _, err := BuildEstimation(pairs, 0.5); err == nil || !strings.Contains(err.Error(), "row 2000") {
		t.Errorf("score 2: %v", err)
	}
	if _, err := BuildEstimation(pairs, 1); err == nil {
		t.Error("threshold 1 accepted")
	}
	if _, err := FitIsotonic(nil); err == nil {
		t.Error("no rows calibrated")
	}
	// A stored reference whose estimation section is broken fails
	// validation naming the field.
	for _, c := range []struct {
		field string
		spoil func(*detector.EstimationRef)
	}{
		{"calibrated", func(x *detector.EstimationRef) { x.Calibrated[3], x.Calibrated[4] = 0.9, 0.1 }},
		{"threshold_cell", func(x *detector.EstimationRef) { x.ThresholdCell++ }},
		{"breakpoints", func(x *detector.EstimationRef) { x.Breakpoints[2] = x.Breakpoints[1] }},
		{"method", func(x *detector.EstimationRef) { x.Method = "dle" }},
		{"calibrated", func(x *detector.EstimationRef) { x.Counts = x.Counts[1:] }},
		{"roc_auc_variance", func(x *detector.EstimationRef) { x.ROCAUCVariance = math.NaN() }},
		{"counts", func(x *detector.EstimationRef) { x.Counts[0] = math.MaxInt64 }},
		{"recall", func(x *detector.EstimationRef) { x.Recall = 1.5 }},
	} {
		data, err := json.Marshal(ref)
		if err != nil {
			t.Fatal(err)
		}
		var spoilt detector.Reference
		if err := json.Unmarshal(data, &spoilt); err != nil {
			t.Fatal(err)
		}
		if err := spoilt.Validate(); err != nil {
			t.Fatalf("unspoilt reference: %v", err)
		}
		c.spoil(spoilt.Performance.Estimation)
		var fe *detector.FieldError
		if err := spoilt.Validate(); !errors.As(err, &fe) || fe.Field != "performance.estimation."+c.field {
			t.Errorf("spoilt %s: %v", c.field, err)
		}
	}
}

// TestIsotonicCells: pool adjacent violators on cell counts — a
// violating pair pools to its weighted mean, empty cells take their
// neighbour's value.
func TestIsotonicCells(t *testing.T) {
	// Why: cells 1 and 2 (0.8 then 0.2, weights 10 and 30) violate and pool
	// to (8+6)/40 = 0.35; cell 0 (0.1) stays; the empty cell 3 takes 0.35;
	// cell 4 is 0.9; the empty cell 5 at the top takes 0.9.
	got := isotonicCells([]int64{10, 10, 30, 0, 10, 0}, []float64{1, 8, 6, 0, 9, 0})
	want := []float64{0.1, 0.35, 0.35, 0.35, 0.9, 0.9}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-12 {
			t.Fatalf("isotonicCells = %v, want %v", got, want)
		}
	}
	// An empty bottom cell takes the first non-empty cell's value.
	if got := isotonicCells([]int64{0, 4}, []float64{0, 1}); got[0] != 0.25 || got[1] != 0.25 {
		t.Fatalf("empty bottom cell: %v", got)
	}
}

// BenchmarkEstimatorAdd: one score into the estimator, windows of 1000
// scores evaluated every 125 (the evaluation's cost amortized).
func BenchmarkEstimatorAdd(b *testing.B) {
	rng := rand.New(rand.NewPCG(75, 75))
	ref := cbpeReference(b, rng, 20000)
	e, err := NewEstimator(ref, detector.DefaultPolicy(), DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	scores := make([]float64, 4096)
	for i := range scores {
		scores[i] = cbpeModel(rng, 0, 1).Score
	}
	var alerts []detector.Alert
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		e.Add(scores[i%len(scores)], &alerts)
	}
}

// BenchmarkEstimateWindow compares one window's estimate from the score
// cells (O(cells)) with the row-level estimate (sort of the window's 1000
// scores and a calibration per row).
func BenchmarkEstimateWindow(b *testing.B) {
	rng := rand.New(rand.NewPCG(76, 76))
	pairs := make([]Pair, 20000)
	for i := range pairs {
		pairs[i] = cbpeModel(rng, 0, 1)
	}
	est, err := BuildEstimation(pairs, 0.5)
	if err != nil {
		b.Fatal(err)
	}
	f, err := FitIsotonic(pairs)
	if err != nil {
		b.Fatal(err)
	}
	scores := make([]float64, 1000)
	counts := make([]float64, len(est.Calibrated))
	for i := range scores {
		scores[i] = cbpeModel(rng, 0, 1).Score
		counts[cellOf(est.Breakpoints, scores[i])]++
	}
	b.Run("cells", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			estimateCells(counts, est.Calibrated, est.ThresholdCell)
		}
	})
	b.Run("rows", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			EstimateRows(scores, f, 0.5)
		}
	})
}
