package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/driftd/driftd/detector"
	"github.com/driftd/driftd/detector/perf"
)

// Estimated performance (CBPE): with DRIFTD_PERFORMANCE (replay:
// --performance), every prediction of a model version whose reference has
// a performance estimation section feeds its perf.Estimator, labels or
// not.

// estimate feeds a prediction to the estimator of its model version
// (ref, h.key) in a partition, if its reference has an estimation
// section, and exports the estimates. Called under h.mu after h.refresh.
func (h *perfHook) estimate(t *perfTask, ref *detector.Reference, score float64, alerts *[]detector.Alert) {
	if ref.Performance.Estimation == nil {
		return
	}
	x := t.state.Estimators[string(h.key)]
	if x == nil {
		x, _ = perf.NewEstimator(ref, h.policies.Model(ref.Model, ref.Version), h.cfg) // the configuration was validated
		t.state.Estimators[string(h.key)] = x
	}
	ev := x.Add(score, alerts)
	if ev == nil {
		return
	}
	for name, v := range estimateValues(ev) {
		if v == v { // not NaN: no expected positive or predicted positive
			h.metric.WithLabelValues(ev.Model, ev.Version, name).Set(v)
		}
	}
}

func estimateValues(ev *perf.Estimate) map[string]float64 {
	return map[string]float64{
		string(perf.TestEstimatedROCAUC): ev.ROCAUC, string(perf.TestEstimatedPrecision): ev.Precision,
		string(perf.TestEstimatedRecall): ev.Recall,
	}
}

// estimatedLine is a replayed window's estimated performance.
type estimatedLine struct {
	Type       string  `json:"type"`
	Model      string  `json:"model"`
	Version    string  `json:"version"`
	Evaluation uint64  `json:"evaluation"`
	Seq        uint64  `json:"seq"`
	N          int64   `json:"n"`
	ROCAUC     float64 `json:"estimated_roc_auc"`
	Precision  float64 `json:"estimated_precision"`
	Recall     float64 `json:"estimated_recall"`
}

// estimate feeds a replayed prediction to its model version's estimator.
func (r *perfReplay) estimate(key string, prediction json.RawMessage) {
	var score float64
	if prediction == nil || json.Unmarshal(prediction, &score) != nil {
		return
	}
	x, ok := r.estimators[key]
	if !ok {
		if ref := r.refs(key); ref != nil && ref.Performance != nil && ref.Performance.Estimation != nil {
			x, _ = perf.NewEstimator(ref, r.policies.Model(ref.Model, ref.Version), r.cfg) // the configuration was validated
		}
		if r.estimators == nil {
			r.estimators = map[string]*perf.Estimator{}
		}
		r.estimators[key] = x
	}
	if x == nil {
		return
	}
	if ev := x.Add(score, &r.alerts); ev != nil {
		r.estimates = append(r.estimates, ev)
	}
}

// flushEstimates writes the estimates collected since the last call.
func (r *perfReplay) flushEstimates(enc *json.Encoder, quiet bool) error {
	for _, ev := range r.estimates {
		if quiet {
			continue
		}
		if err := enc.Encode(estimatedLine{Type: "estimated_performance", Model: ev.Model, Version: ev.Version, Evaluation: ev.Number,
			Seq: ev.Window.LastSeq, N: ev.Window.N, ROCAUC: finite(ev.ROCAUC), Precision: finite(ev.Precision), Recall: finite(ev.Recall)}); err != nil {
			return err
		}
	}
	r.estimates = r.estimates[:0]
	return nil
}

// estimationNote adds the CBPE calibration to a binary reference
// performance section and says so; without it (too few rows, a class the
// calibration leaves empty) the reference is still built, and the note
// says why estimation is off.
func estimationNote(w io.Writer, pr *detector.PerformanceRef, pairs []perf.Pair) {
	est, err := perf.BuildEstimation(pairs, pr.Threshold)
	if err != nil {
		fmt.Fprintf(w, "reference build: performance estimation (CBPE) left out: %v\n", err)
		return
	}
	pr.Estimation = est
	fmt.Fprintf(w, "reference build: performance estimation (CBPE): %d score cells calibrated; estimated roc_auc %.4f, precision %.4f, recall %.4f\n",
		len(est.Calibrated), est.ROCAUC, est.Precision, est.Recall)
}
