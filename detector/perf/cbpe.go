package perf

import (
	"fmt"
	"math"
	"slices"
	"sort"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/driftd/driftd/detector"
)

// Confidence-based performance estimation (CBPE): a binary classifier's
// ROC-AUC, precision and recall estimated from its scores alone, without
// labels, as NannyML's CBPE does. At reference build the validation set's
// labels give a calibration map of the score (an isotonic regression over
// score cells); online, a window of scores counted over those cells gives
// the expected confusion matrix at the threshold and the expected ROC
// curve — each score in cell k counts as c_k of a positive and 1 − c_k of
// a negative — in O(cells). The estimate is valid while the relation
// between score and label (the calibration) holds: it detects a drop of
// performance caused by a change of the score distribution (covariate
// shift), not a change of the concept.

// Estimated-performance tests: one-sided towards a worse model.
const (
	TestEstimatedROCAUC    detector.Test = "estimated_roc_auc"
	TestEstimatedPrecision detector.Test = "estimated_precision"
	TestEstimatedRecall    detector.Test = "estimated_recall"
)

// EstimatedTests lists the estimated-performance tests in evaluation
// order.
var EstimatedTests = []detector.Test{TestEstimatedROCAUC, TestEstimatedPrecision, TestEstimatedRecall}

// EstimationCells is the number of equal-count score cells of the
// calibration, before the decision threshold is added as a breakpoint
// and tied quantiles merge.
const EstimationCells = 100

// EstimationGrid adds the breakpoints of a regular grid of the score
// axis (steps of 1/EstimationGrid), which keep cells narrow in the tails
// where the quantiles are far apart.
const EstimationGrid = 50

// EstimationMinRows is the least number of labelled rows BuildEstimation
// accepts: 20 per cell on average.
const EstimationMinRows = 20 * EstimationCells

// BuildEstimation fits CBPE's calibration on a labelled validation set
// (the pairs of BuildReference): score cells at the quantiles of the
// scores plus the threshold, each cell's share of positives made
// non-decreasing by isotonic regression (pool adjacent violators,
// weighted by the cells' counts), the estimates on the set itself and
// their null variances.
func BuildEstimation(pairs []Pair, threshold float64) (*detector.EstimationRef, error) {
	if !(threshold > 0 && threshold < 1) {
		return nil, fmt.Errorf("threshold must be in (0, 1), got %v", threshold)
	}
	if len(pairs) < EstimationMinRows {
		return nil, fmt.Errorf("%d labelled rows, estimation needs at least %d", len(pairs), EstimationMinRows)
	}
	scores := make([]float64, len(pairs))
	for i, p := range pairs {
		if !(p.Score >= 0 && p.Score <= 1) {
			return nil, fmt.Errorf("row %d: score %v is not a probability in [0, 1]", i+1, p.Score)
		}
		scores[i] = p.Score
	}
	slices.Sort(scores)
	breaks := []float64{threshold}
	for i := 1; i < EstimationCells; i++ {
		breaks = append(breaks, scores[i*len(scores)/EstimationCells])
	}
	for i := 1; i < EstimationGrid; i++ {
		breaks = append(breaks, float64(i)/float64(EstimationGrid))
	}
	slices.Sort(breaks)
	breaks = slices.Compact(breaks)
	cells := len(breaks) + 1
	counts := make([]int64, cells)
	positives := make([]float64, cells)
	for _, p := range pairs {
		k := cellOf(breaks, p.Score)
		counts[k]++
		if p.Positive {
			positives[k]++
		}
	}
	est := &detector.EstimationRef{Method: detector.EstimationCBPE, Breakpoints: breaks, Counts: counts,
		Calibrated: isotonicCells(counts, positives), ThresholdCell: slices.Index(breaks, threshold) + 1}
	shares := make([]float64, cells)
	for k, c := range counts {
		shares[k] = float64(c) / float64(len(pairs))
	}
	m := estimateCells(shares, est.Calibrated, est.ThresholdCell)
	if math.IsNaN(m.ROCAUC) || math.IsNaN(m.Precision) || math.IsNaN(m.Recall) {
		return nil, fmt.Errorf("the calibrated scores leave a class or the predicted positives empty (roc_auc %v, precision %v, recall %v)",
			m.ROCAUC, m.Precision, m.Recall)
	}
	est.ROCAUC, est.Precision, est.Recall = m.ROCAUC, m.Precision, m.Recall
	est.ROCAUCVariance, est.PrecisionVariance, est.RecallVariance = nullVariances(shares, est.Calibrated, est.ThresholdCell, m)
	return est, nil
}

// cellOf returns the cell of a score: the number of breakpoints at or
// below it.
func cellOf(breaks []float64, score float64) int {
	return sort.Search(len(breaks), func(i int) bool { return breaks[i] > score })
}

// isotonicCells returns the non-decreasing sequence closest (weighted
// least squares) to the cells' shares of positives: pool adjacent
// violators over the non-empty cells; an empty cell takes the value of
// the nearest non-empty cell below it (above it, at the bottom).
func isotonicCells(counts []int64, positives []float64) []float64 {
	type block struct{ sum, weight float64 }
	var blocks []block
	var sizes []int // non-empty cells per block
	for k, c := range counts {
		if c == 0 {
			continue
		}
		blocks, sizes = append(blocks, block{positives[k], float64(c)}), append(sizes, 1)
		for len(blocks) > 1 {
			a, b := blocks[len(blocks)-2], blocks[len(blocks)-1]
			if a.sum/a.weight <= b.sum/b.weight {
				break
			}
			blocks = blocks[:len(blocks)-1]
			blocks[len(blocks)-1] = block{a.sum + b.sum, a.weight + b.weight}
			sizes[len(sizes)-2] += sizes[len(sizes)-1]
			sizes = sizes[:len(sizes)-1]
		}
	}
	cal := make([]float64, len(counts))
	if len(blocks) == 0 {
		return cal
	}
	b, left := 0, sizes[0]
	for k, c := range counts {
		switch {
		case c > 0 && left == 0:
			b++
			left = sizes[b]
			fallthrough
		case c > 0:
			left--
			cal[k] = blocks[b].sum / blocks[b].weight
		case k > 0 && (b > 0 || left < sizes[0]):
			cal[k] = cal[k-1] // empty: the value below
		default:
			cal[k] = blocks[0].sum / blocks[0].weight // empty at the bottom
		}
	}
	return cal
}

// Estimated is CBPE's estimate of a window's performance.
type Estimated struct {
	ROCAUC, Precision, Recall float64
	// Positives is the expected share of positives, PredictedPositives
	// the share of scores at or above the threshold.
	Positives, PredictedPositives float64
	// aucArea is the unnormalized expected area Σ p_j n_k over pairs with
	// j above k, ties half (kept for the gradient).
	aucArea float64
}

// estimateCells returns the estimates of cells holding the shares w of a
// window (or counts: only the ratios matter) with calibrated
// probabilities cal, the cells from t on predicted positive:
//
//	P = Σ w_k c_k, N = Σ w_k (1 − c_k),
//	AUC = Σ_k w_k c_k (Σ_{j<k} w_j (1 − c_j) + ½ w_k (1 − c_k)) / (P·N),
//	precision = Σ_{k≥t} w_k c_k / Σ_{k≥t} w_k, recall = Σ_{k≥t} w_k c_k / P.
func estimateCells(w, cal []float64, t int) Estimated {
	var pos, neg, negBelow, area, tp, pp float64
	for k, wk := range w {
		p, n := wk*cal[k], wk*(1-cal[k])
		area += p * (negBelow + 0.5*n)
		negBelow += n
		pos += p
		neg += n
		if k >= t {
			tp += p
			pp += wk
		}
	}
	return Estimated{ROCAUC: area / (pos * neg), Precision: tp / pp, Recall: tp / pos, Positives: pos, PredictedPositives: pp, aucArea: area}
}

// nullVariances returns the per-row variances of the three estimates of
// a window of n scores drawn with the cell probabilities q (summing to 1;
// the delta
// method: Var ≈ Σ q_k g_k² / n, g the gradient of the estimate in the
// shares; the estimates are homogeneous of degree 0 in the shares, so
// Σ q_k g_k = 0). m is estimateCells(q, cal, t).
func nullVariances(q, cal []float64, t int, m Estimated) (vAUC, vPrecision, vRecall float64) {
	pos, neg := m.Positives, 1-m.Positives
	posAbove, negBelow := m.Positives, 0.0
	for k, qk := range q {
		c := cal[k]
		posAbove -= qk * c
		// ∂(area)/∂w_k = (1−c_k)·Σ_{j>k} w_j c_j + c_k·Σ_{j<k} w_j (1−c_j) + w_k c_k (1−c_k)
		dArea := (1-c)*max(posAbove, 0) + c*negBelow + qk*c*(1-c)
		gAUC := dArea/(pos*neg) - m.ROCAUC*(c/pos+(1-c)/neg)
		gRecall := -m.Recall * c / pos
		var gPrecision float64
		if k >= t {
			gPrecision = (c - m.Precision) / m.PredictedPositives
			gRecall += c / pos
		}
		vAUC += qk * gAUC * gAUC
		vPrecision += qk * gPrecision * gPrecision
		vRecall += qk * gRecall * gRecall
		negBelow += qk * (1 - c)
	}
	return vAUC, vPrecision, vRecall
}

// EstimatedDropTest tests whether a window's estimate is below the
// reference's: z = (ref − win)/√(v·(1/n + 1/nRef)), v the per-row null
// variance of the estimate, p = Φ(−z).
func EstimatedDropTest(ref, win, variance float64, n, nRef int64) (z, p float64) {
	se := math.Sqrt(variance * (1/float64(n) + 1/float64(nRef)))
	if !(se > 0) {
		if win < ref {
			return math.Inf(1), 0
		}
		return 0, 1
	}
	z = (ref - win) / se
	return z, distuv.UnitNormal.CDF(-z)
}

// Estimate is one evaluated window of scores.
type Estimate struct {
	Model, Version string
	Number         uint64
	Window         detector.WindowInfo
	Estimated
	Results []Result
}

// Estimator estimates the performance of one model version from windows
// of its scores (labels not needed) and tests it against the reference's
// estimate with the alarm policy. Not safe for concurrent use.
type Estimator struct {
	model, version, refID string
	ref                   *detector.PerformanceRef
	est                   *detector.EstimationRef
	policy                detector.Policy
	cfg                   Config

	ring    []uint32 // cells of the window's scores
	counts  []float64
	next, n int
	seq     uint64
	invalid uint64 // scores that are not probabilities
	alarms  [3]detector.AlarmState
	evals   uint64
	last    *Estimate
}

// NewEstimator returns the estimator of ref's model version; an error
// when ref has no estimation section. The window counts scores: cfg's
// Window and Hop.
func NewEstimator(ref *detector.Reference, policy detector.Policy, cfg Config) (*Estimator, error) {
	if ref.Performance == nil || ref.Performance.Estimation == nil {
		return nil, fmt.Errorf("reference %s of %s has no performance estimation (build it with --label and --prediction, at least %d labelled rows)", ref.ID, ref.Key(), EstimationMinRows)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	est := ref.Performance.Estimation
	return &Estimator{model: ref.Model, version: ref.Version, refID: ref.ID, ref: ref.Performance, est: est, policy: policy, cfg: cfg,
		ring: make([]uint32, cfg.Window), counts: make([]float64, len(est.Calibrated))}, nil
}

// Reference returns the reference performance.
func (e *Estimator) Reference() *detector.PerformanceRef { return e.ref }

// Last returns the last estimate, nil before the first.
func (e *Estimator) Last() *Estimate { return e.last }

// Invalid returns the number of scores left out because they were not
// probabilities in [0, 1].
func (e *Estimator) Invalid() uint64 { return e.invalid }

// Alpha is the p-value threshold of every estimated test: hop/(ERT·3),
// at most 0.01.
func (e *Estimator) Alpha() float64 {
	return math.Min(0.01, float64(e.cfg.Hop)/(e.policy.ERT*float64(len(EstimatedTests))))
}

// Add adds a score. A score that is not a probability is counted and left
// out. When it completes a hop and the window holds at least the policy's
// MinEvents scores, the window is estimated and tested: the estimate is
// returned and the alerts it raised appended to alerts.
func (e *Estimator) Add(score float64, alerts *[]detector.Alert) *Estimate {
	if !(score >= 0 && score <= 1) {
		e.invalid++
		return nil
	}
	k := cellOf(e.est.Breakpoints, score)
	if e.n == len(e.ring) {
		e.counts[e.ring[e.next]]--
	}
	e.ring[e.next] = uint32(k)
	e.counts[k]++
	e.next = (e.next + 1) % len(e.ring)
	e.n = min(e.n+1, len(e.ring))
	e.seq++
	if e.seq%uint64(e.cfg.Hop) != 0 || e.n < max(e.policy.MinEvents, 2) {
		return nil
	}
	return e.evaluate(alerts)
}

func (e *Estimator) evaluate(alerts *[]detector.Alert) *Estimate {
	e.evals++
	n := int64(e.n)
	m := estimateCells(e.counts, e.est.Calibrated, e.est.ThresholdCell)
	m.Positives /= float64(n)
	m.PredictedPositives /= float64(n)
	m.aucArea = 0
	info := detector.WindowInfo{Kind: "count", Size: int64(e.cfg.Window), Hop: int64(e.cfg.Hop), N: n,
		FirstSeq: e.seq - uint64(e.n) + 1, LastSeq: e.seq}
	ev := &Estimate{Model: e.model, Version: e.version, Number: e.evals, Window: info, Estimated: m}
	alpha := e.Alpha()
	for i, t := range EstimatedTests {
		r := Result{Test: t, Threshold: alpha}
		var variance float64
		switch t {
		case TestEstimatedROCAUC:
			r.Value, r.Reference, variance, r.EffectThreshold = m.ROCAUC, e.est.ROCAUC, e.est.ROCAUCVariance, e.cfg.AUCMinDrop
		case TestEstimatedPrecision:
			r.Value, r.Reference, variance, r.EffectThreshold = m.Precision, e.est.Precision, e.est.PrecisionVariance, e.cfg.RateMinDrop
		case TestEstimatedRecall:
			r.Value, r.Reference, variance, r.EffectThreshold = m.Recall, e.est.Recall, e.est.RecallVariance, e.cfg.RateMinDrop
		}
		if math.IsNaN(r.Value) { // no expected positive or negative, or no predicted positive
			continue
		}
		r.Statistic, r.PValue = EstimatedDropTest(r.Reference, r.Value, variance, n, e.est.Total())
		r.Effect = r.Reference - r.Value
		decideResult(&r, alpha, e.policy)
		a := &e.alarms[i]
		if step(a, &r, e.policy, e.seq) {
			*alerts = append(*alerts, e.alert(r, a.Firing, info))
		}
		ev.Results = append(ev.Results, r)
	}
	e.last = ev
	return ev
}

// decideResult applies the alarm policy's thresholds to a result, as
// Monitor.decide.
func decideResult(r *Result, alpha float64, p detector.Policy) {
	r.Drifting = r.PValue < alpha && r.Effect >= r.EffectThreshold
	r.Severe = r.Drifting && p.ImmediateFactor > 0 && r.Effect >= p.ImmediateFactor*r.EffectThreshold && r.PValue < alpha/125
	r.holding = r.Drifting || (r.PValue <= math.Sqrt(math.Sqrt(alpha)) && r.Effect >= p.ResolveFactor*r.EffectThreshold && r.Effect > 0)
}

func (e *Estimator) alert(r Result, firing bool, info detector.WindowInfo) detector.Alert {
	status, verb := detector.Resolved, "back to reference"
	if firing {
		status, verb = detector.Firing, "degraded"
	}
	a := detector.Alert{
		Schema: detector.AlertSchema, Status: status, Model: e.model, Version: e.version, Feature: Feature, Test: r.Test,
		Statistic: r.Statistic, PValue: r.PValue, Effect: r.Effect, Threshold: r.Threshold, EffectThreshold: r.EffectThreshold,
		Severe: r.Severe && firing, Window: info, ReferenceID: e.refID, Evaluation: e.evals,
	}
	a.ID = detector.AlertID(a.Model, a.Version, a.Feature, a.Test, a.Status, a.ReferenceID, info.LastSeq)
	a.Summary = fmt.Sprintf("%s/%s performance %s (from the scores, without labels): %s (%.4g vs reference %.4g; effect %.3g, gate %.3g; p %.3g, threshold %.3g; n=%d)",
		e.model, e.version, r.Test, verb, r.Value, r.Reference, r.Effect, r.EffectThreshold, r.PValue, r.Threshold, info.N)
	return a
}
