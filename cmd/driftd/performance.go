package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/driftd/driftd/detector"
	"github.com/driftd/driftd/detector/perf"
)

// rowSink is what the training-set readers feed: a reference builder, or
// a perfCollector in front of one.
type rowSink interface {
	BeginRow()
	Add(name string, v detector.Value) error
	EndRow()
}

// perfCollector takes the label column out of the rows (it is not a
// feature) and pairs it with the prediction column, for the reference
// performance of `reference build --label --prediction`.
type perfCollector struct {
	next              rowSink
	label, prediction string
	regression        bool
	score             float64
	hasScore          bool
	target            float64
	hasLab            bool
	pairs             []perf.Pair
	unlabelled        int64      // rows without a usable label or score
	multiclass        *classRows // --task multiclass
}

func (c *perfCollector) BeginRow() {
	c.hasScore, c.hasLab = false, false
	if c.multiclass != nil {
		c.multiclass.begin()
	}
	c.next.BeginRow()
}

func (c *perfCollector) Add(name string, v detector.Value) error {
	if c.multiclass != nil {
		if c.multiclass.add(name, v) {
			return nil // the label is not a feature
		}
		return c.next.Add(name, v)
	}
	if name == c.label {
		c.target, c.hasLab = labelTarget(v, c.regression)
		return nil
	}
	if name == c.prediction && v.Kind == detector.Number {
		x := v.Num
		if !v.Parsed {
			var err error
			if x, err = strconv.ParseFloat(string(v.Text), 64); err != nil {
				x = -1
			}
		}
		c.score, c.hasScore = x, (x >= 0 && x <= 1) || (c.regression && !math.IsNaN(x) && !math.IsInf(x, 0))
	}
	return c.next.Add(name, v)
}

// rawLine reads the canonical "label" field of a JSON line, which the
// event decoder leaves out.
func (c *perfCollector) rawLine(text []byte) {
	if c.label != "label" || !bytes.Contains(text, []byte(`"label"`)) {
		return
	}
	var row struct {
		Label json.RawMessage `json:"label"`
	}
	if json.Unmarshal(text, &row) == nil && row.Label != nil {
		c.target, c.hasLab = labelJSONTarget(row.Label, c.regression)
		if c.multiclass != nil {
			c.multiclass.label, c.multiclass.hasLabel = classJSON(row.Label)
		}
	}
}

func (c *perfCollector) EndRow() {
	c.next.EndRow()
	if c.multiclass != nil {
		if !c.multiclass.end() {
			c.unlabelled++
		}
		return
	}
	if c.hasScore && c.hasLab {
		c.pairs = append(c.pairs, perf.Pair{Score: c.score, Positive: c.target == 1, Target: c.target})
	} else {
		c.unlabelled++
	}
}

// labelValue reads a binary label: 0/1, true/false, "0"/"1",
// "true"/"false".
func labelValue(v detector.Value) (positive, ok bool) {
	switch v.Kind {
	case detector.Number:
		x := v.Num
		if !v.Parsed {
			var err error
			if x, err = strconv.ParseFloat(string(v.Text), 64); err != nil {
				return false, false
			}
		}
		return x == 1, x == 0 || x == 1
	case detector.Bool, detector.String:
		switch string(v.Text) {
		case "1", "true":
			return true, true
		case "0", "false":
			return false, true
		}
	}
	return false, false
}

// labelTarget reads a label as a number: 0 or 1 for a binary model, any
// finite number for a regression.
func labelTarget(v detector.Value, regression bool) (float64, bool) {
	if !regression {
		positive, ok := labelValue(v)
		return b2f(positive), ok
	}
	if v.Kind != detector.Number && v.Kind != detector.String {
		return 0, false
	}
	x := v.Num
	if !v.Parsed || v.Kind == detector.String {
		var err error
		if x, err = strconv.ParseFloat(string(v.Text), 64); err != nil {
			return 0, false
		}
	}
	return x, !math.IsNaN(x) && !math.IsInf(x, 0)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// labelJSONTarget is labelTarget of a JSON value.
func labelJSONTarget(raw json.RawMessage, regression bool) (float64, bool) {
	if !regression {
		positive, ok := labelJSON(raw)
		return b2f(positive), ok
	}
	var x float64
	if json.Unmarshal(raw, &x) != nil {
		return 0, false
	}
	return x, !math.IsNaN(x) && !math.IsInf(x, 0)
}

func labelJSON(raw json.RawMessage) (positive, ok bool) {
	var x any
	if json.Unmarshal(raw, &x) != nil {
		return false, false
	}
	switch v := x.(type) {
	case float64:
		return labelValue(detector.Value{Kind: detector.Number, Num: v, Parsed: true})
	case bool:
		return v, true
	case string:
		return labelValue(detector.Value{Kind: detector.String, Text: []byte(v)})
	}
	return false, false
}

// perfReplay joins the predictions and labels of a replayed file and
// runs the performance monitors of the models whose reference has a
// performance section.
type perfReplay struct {
	joiner   *perf.Joiner
	monitors map[string]*perf.Monitor
	refs     func(key string) *detector.Reference
	policies *detector.Policies
	cfg      perf.Config
	alerts   []detector.Alert
	evals    []*perf.Evaluation
	noRef    int64

	estimators map[string]*perf.Estimator // CBPE, by model/version; nil: none
	estimates  []*perf.Estimate
}

type replayLine struct {
	Model      string          `json:"model"`
	Version    string          `json:"model_version"`
	RequestID  string          `json:"request_id"`
	Timestamp  json.RawMessage `json:"timestamp"`
	Features   json.RawMessage `json:"features"`
	Prediction json.RawMessage `json:"prediction"`
	Label      json.RawMessage `json:"label"`
}

// line looks at one input line. It reports whether the line is a label
// event (which the caller does not pass to the drift pipeline).
func (r *perfReplay) line(text []byte, lineMS int64) (labelEvent bool) {
	var ev replayLine
	if json.Unmarshal(text, &ev) != nil || ev.Model == "" {
		return false
	}
	ts := eventTime(ev.Timestamp, lineMS)
	labelEvent = ev.Label != nil && ev.Features == nil && ev.Prediction == nil
	r.estimate(ev.Model+"/"+ev.Version, ev.Prediction)
	if ev.RequestID == "" && !(ev.Label != nil && ev.Prediction != nil) {
		return labelEvent
	}
	m := r.monitor(ev.Model + "/" + ev.Version)
	if m == nil {
		return labelEvent
	}
	var score float64
	hasScore := ev.Prediction != nil && json.Unmarshal(ev.Prediction, &score) == nil
	target, hasLabel := 0.0, false
	if ev.Label != nil {
		target, hasLabel = labelJSONTarget(ev.Label, m.Reference().Task == detector.PerformanceRegression)
	}
	if m.Reference().Task == detector.PerformanceMulticlass {
		score, hasScore, target, hasLabel = replayClasses(m, ev.Prediction, ev.Label)
	}
	switch {
	case hasScore && hasLabel: // the canonical label field: joined already
		r.add(m, perf.Pair{Score: score, Positive: target == 1, Target: target})
	case hasScore:
		r.joiner.Prediction([]byte(ev.Model), []byte(ev.Version), []byte(ev.RequestID), score, ts)
	case labelEvent && hasLabel:
		if p, ok := r.joiner.Label([]byte(ev.Model), []byte(ev.Version), []byte(ev.RequestID), target, ts); ok {
			r.add(m, p)
		}
	}
	return labelEvent
}

func (r *perfReplay) monitor(key string) *perf.Monitor {
	if m, ok := r.monitors[key]; ok {
		return m
	}
	var m *perf.Monitor
	if ref := r.refs(key); ref != nil && ref.Performance != nil {
		m, _ = perf.NewMonitor(ref, r.policies.Model(ref.Model, ref.Version), r.cfg) // the configuration was validated
	} else {
		r.noRef++
	}
	r.monitors[key] = m
	return m
}

func (r *perfReplay) add(m *perf.Monitor, p perf.Pair) {
	if ev := m.Add(p, &r.alerts); ev != nil {
		r.evals = append(r.evals, ev)
	}
}

// eventTime reads an event's timestamp (RFC 3339 or Unix ms), else def.
func eventTime(raw json.RawMessage, def int64) int64 {
	if raw == nil {
		return def
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return t.UnixMilli()
		}
		return def
	}
	var ms float64
	if json.Unmarshal(raw, &ms) == nil {
		return int64(ms)
	}
	return def
}

type performanceLine struct {
	Type                  string  `json:"type"`
	Model                 string  `json:"model"`
	Version               string  `json:"version"`
	Evaluation            uint64  `json:"evaluation"`
	Seq                   uint64  `json:"seq"`
	N                     int64   `json:"n"`
	ROCAUC                float64 `json:"roc_auc"`
	AveragePrecision      float64 `json:"average_precision"`
	LogLoss               float64 `json:"log_loss"`
	Brier                 float64 `json:"brier"`
	Precision             float64 `json:"precision"`
	Recall                float64 `json:"recall"`
	PositiveRate          float64 `json:"positive_rate"`
	PredictedPositiveRate float64 `json:"predicted_positive_rate"`
}

type regressionLine struct {
	Type       string  `json:"type"`
	Model      string  `json:"model"`
	Version    string  `json:"version"`
	Evaluation uint64  `json:"evaluation"`
	Seq        uint64  `json:"seq"`
	N          int64   `json:"n"`
	MAE        float64 `json:"mae"`
	RMSE       float64 `json:"rmse"`
	Bias       float64 `json:"bias"`
}

// flush writes the evaluations (unless quiet) and alerts collected since
// the last call.
func (r *perfReplay) flush(enc *json.Encoder, quiet bool, firing, resolved *int) error {
	if err := r.flushEstimates(enc, quiet); err != nil {
		return err
	}
	for _, ev := range r.evals {
		if quiet {
			continue
		}
		if ev.Multiclass != nil {
			if err := enc.Encode(newMulticlassLine(ev)); err != nil {
				return err
			}
			continue
		}
		if ev.Regression.N > 0 {
			g := &ev.Regression
			if err := enc.Encode(regressionLine{Type: "performance", Model: ev.Model, Version: ev.Version, Evaluation: ev.Number,
				Seq: ev.Window.LastSeq, N: g.N, MAE: g.MAE, RMSE: g.RMSE(), Bias: g.Bias}); err != nil {
				return err
			}
			continue
		}
		m := &ev.Metrics
		if err := enc.Encode(performanceLine{Type: "performance", Model: ev.Model, Version: ev.Version, Evaluation: ev.Number,
			Seq: ev.Window.LastSeq, N: m.N, ROCAUC: finite(m.ROCAUC), AveragePrecision: finite(m.AveragePrecision),
			LogLoss: m.LogLoss, Brier: m.Brier, Precision: finite(m.Precision()), Recall: finite(m.Recall()),
			PositiveRate: m.PositiveRate(), PredictedPositiveRate: m.PredictedPositiveRate()}); err != nil {
			return err
		}
	}
	r.evals = r.evals[:0]
	for i := range r.alerts {
		if r.alerts[i].Status == detector.Firing {
			*firing++
		} else {
			*resolved++
		}
		if err := enc.Encode(alertLine{Type: "alert", Alert: &r.alerts[i]}); err != nil {
			return err
		}
	}
	r.alerts = r.alerts[:0]
	return nil
}

func finite(x float64) float64 {
	if x != x {
		return 0
	}
	return x
}

func (r *perfReplay) summary(w io.Writer) {
	s := r.joiner.Stats()
	mean := 0.0
	if s.Joined > 0 {
		mean = float64(s.DelaySumMS) / float64(s.Joined) / 1000
	}
	fmt.Fprintf(w, "replay: performance: %d predictions with a request ID, %d joined to a label (coverage %.3f), %d expired, %d evicted, %d labels without a prediction, %d pending at the end; label delay mean %.3gs, max %.3gs\n",
		s.Predictions, s.Joined, s.Coverage(), s.Expired, s.Evicted, s.Orphans, s.Pending, mean, float64(s.DelayMaxMS)/1000)
}
