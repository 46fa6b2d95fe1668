package main

import (
	"bytes"

	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fastjson"

	"github.com/driftd/driftd/detector"
	"github.com/driftd/driftd/detector/perf"
	"github.com/driftd/driftd/stream"
)

// performanceConfig is realized-performance monitoring in `driftd run`
// (DRIFTD_PERFORMANCE and friends).
type performanceConfig struct {
	Enabled    bool          `env:"PERFORMANCE"`
	LabelTopic string        `env:"LABEL_TOPIC"`
	Horizon    time.Duration `env:"LABEL_HORIZON"`
	MaxPending int           `env:"MAX_PENDING_PREDICTIONS"`
	Window     int           `env:"PERFORMANCE_WINDOW"`
}

func defaultPerformanceConfig() performanceConfig {
	j := perf.DefaultJoinConfig()
	return performanceConfig{Horizon: j.Horizon, MaxPending: j.MaxPending, Window: perf.DefaultConfig().Window}
}

func (c performanceConfig) validate() error {
	if c.Horizon <= 0 {
		return usagef("DRIFTD_LABEL_HORIZON: is %s; accepted: a positive duration like 24h", c.Horizon)
	}
	if err := (perf.JoinConfig{Horizon: c.Horizon, MaxPending: c.MaxPending}).Validate(); err != nil {
		return usagef("DRIFTD_MAX_PENDING_PREDICTIONS: %v; accepted: 1 to 268435456", err)
	}
	if err := c.perf().Validate(); err != nil {
		return usagef("DRIFTD_PERFORMANCE_WINDOW: %v; accepted: 2 to 1048576 pairs", err)
	}
	return nil
}

func (c performanceConfig) perf() perf.Config {
	pc := perf.DefaultConfig()
	pc.Window, pc.Hop = c.Window, max(1, c.Window/8)
	return pc
}

// perfHook joins the labels on the input (or label) topics to the
// predictions and runs the performance monitors. Records of every lane
// pass through it, so it holds a lock.
type perfHook struct {
	mu       sync.Mutex
	parser   fastjson.Parser
	joiner   *perf.Joiner
	registry *stream.Registry
	gen      uint64
	refs     map[string]*detector.Reference
	policies *detector.Policies
	cfg      perf.Config
	monitors map[string]*perf.Monitor // by model/version; nil: no performance reference
	key      []byte

	est estimators // CBPE

	delay    prometheus.Histogram
	metric   *prometheus.GaugeVec
	labelled uint64 // label events consumed

	classRecall *prometheus.GaugeVec // multiclass
	classBuf    []byte
}

func newPerfHook(c performanceConfig, registry *stream.Registry, policies *detector.Policies, reg prometheus.Registerer) (*perfHook, error) {
	j, err := perf.NewJoiner(perf.JoinConfig{Horizon: c.Horizon, MaxPending: c.MaxPending})
	if err != nil {
		return nil, err
	}
	h := &perfHook{joiner: j, registry: registry, policies: policies, cfg: c.perf(), monitors: map[string]*perf.Monitor{},
		delay: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "driftd", Name: "performance_label_delay_seconds",
			Help: "Event time from a prediction to its label, for the joined pairs.", Buckets: prometheus.ExponentialBuckets(1, 4, 10)}),
		metric: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "driftd", Name: "performance_metric",
			Help: "A model version's performance on its last window of joined pairs (metric: roc_auc, average_precision, log_loss, brier, precision, recall, positive_rate, predicted_positive_rate; estimated from the scores without labels: estimated_roc_auc, estimated_precision, estimated_recall)."},
			[]string{"model", "version", "metric"}),
	}
	h.classRecall = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "driftd", Name: "performance_class_recall",
		Help: "A multiclass model version's recall of one class on its last window of joined pairs (classes of the reference labelled in the window)."},
		[]string{"model", "version", "class"})
	reg.MustRegister(h.delay, h.metric, h, h.classRecall)
	return h, nil
}

// Record implements stream.RecordHook.
func (h *perfHook) Record(value []byte, recordMS int64, out *detector.Output) bool {
	if !bytes.Contains(value, []byte(`"request_id"`)) && !bytes.Contains(value, []byte(`"label"`)) && !h.wanted(value) {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	v, err := h.parser.ParseBytes(value)
	if err != nil || v.Type() != fastjson.TypeObject {
		return false // the decoder dead-letters it
	}
	model, version := v.GetStringBytes("model"), v.GetStringBytes("model_version")
	label, pred, features := v.Get("label"), v.Get("prediction"), v.Get("features")
	labelEvent := label != nil && pred == nil && features == nil && len(model) > 0
	if len(model) == 0 {
		return false
	}
	m := h.monitor(model, version)
	h.est.refresh(h.refs, h.gen)
	if m == nil {
		if labelEvent {
			h.labelled++
		}
		return labelEvent
	}
	ts := recordMS
	if t := v.Get("timestamp"); t != nil {
		switch t.Type() {
		case fastjson.TypeNumber:
			ts = int64(t.GetFloat64())
		case fastjson.TypeString:
			if tt, err := time.Parse(time.RFC3339Nano, string(t.GetStringBytes())); err == nil {
				ts = tt.UnixMilli()
			}
		}
	}
	requestID := v.GetStringBytes("request_id")
	regression := m.Reference().Task == detector.PerformanceRegression
	target, hasLabel := 0.0, false
	if label != nil {
		target, hasLabel = fastLabel(label, regression)
	}
	score, hasScore := 0.0, false
	if pred != nil && pred.Type() == fastjson.TypeNumber {
		score, hasScore = pred.GetFloat64(), true
	}
	if m.Reference().Task == detector.PerformanceMulticlass {
		score, hasScore, target, hasLabel = h.fastClasses(m, pred, label)
	}
	var alerts []detector.Alert
	if hasScore {
		h.estimate(h.key, score, &alerts)
	}
	switch {
	case hasScore && hasLabel:
		h.add(m, perf.Pair{Score: score, Positive: target == 1, Target: target}, &alerts)
	case hasScore && len(requestID) > 0:
		h.joiner.Prediction(model, version, requestID, score, ts)
	case labelEvent && hasLabel && len(requestID) > 0:
		before := h.joiner.Stats().DelaySumMS
		if p, ok := h.joiner.Label(model, version, requestID, target, ts); ok {
			h.delay.Observe(float64(h.joiner.Stats().DelaySumMS-before) / 1000)
			h.add(m, p, &alerts)
		}
	}
	if labelEvent {
		h.labelled++
	}
	out.Alerts = append(out.Alerts, alerts...)
	return labelEvent
}

func fastLabel(v *fastjson.Value, regression bool) (float64, bool) {
	switch v.Type() {
	case fastjson.TypeTrue:
		return 1, !regression
	case fastjson.TypeFalse:
		return 0, !regression
	case fastjson.TypeNumber:
		return labelTarget(detector.Value{Kind: detector.Number, Num: v.GetFloat64(), Parsed: true}, regression)
	case fastjson.TypeString:
		return labelTarget(detector.Value{Kind: detector.String, Text: v.GetStringBytes()}, regression)
	}
	return 0, false
}

// monitor returns the performance monitor of a model version, following
// reference changes; nil when its reference has no performance section.
func (h *perfHook) monitor(model, version []byte) *perf.Monitor {
	if g := h.registry.Generation(); g != h.gen || h.refs == nil {
		h.refs, h.gen = h.registry.Snapshot()
		for k, m := range h.monitors {
			if ref := h.refs[k]; m != nil && (ref == nil || ref.Performance != m.Reference()) {
				delete(h.monitors, k)
			} else if m == nil {
				delete(h.monitors, k)
			}
		}
	}
	h.key = append(append(append(h.key[:0], model...), '/'), version...)
	if m, ok := h.monitors[string(h.key)]; ok {
		return m
	}
	var m *perf.Monitor
	if ref := h.refs[string(h.key)]; ref != nil && ref.Performance != nil {
		m, _ = perf.NewMonitor(ref, h.policies.Model(ref.Model, ref.Version), h.cfg) // the configuration was validated
	}
	if m != nil || len(h.monitors) < 10000 {
		h.monitors[string(h.key)] = m
	}
	return m
}

func (h *perfHook) add(m *perf.Monitor, p perf.Pair, alerts *[]detector.Alert) {
	ev := m.Add(p, alerts)
	if ev == nil {
		return
	}
	if ev.Multiclass != nil {
		h.setMulticlassMetrics(ev)
		return
	}
	met := &ev.Metrics
	values := map[string]float64{
		"roc_auc": met.ROCAUC, "average_precision": met.AveragePrecision, "log_loss": met.LogLoss, "brier": met.Brier,
		"precision": met.Precision(), "recall": met.Recall(), "positive_rate": met.PositiveRate(), "predicted_positive_rate": met.PredictedPositiveRate(),
	}
	if g := &ev.Regression; g.N > 0 {
		values = map[string]float64{"mae": g.MAE, "rmse": g.RMSE(), "bias": g.Bias}
	}
	for name, x := range values {
		if x == x { // not NaN: a window without a class has no AUC
			h.metric.WithLabelValues(ev.Model, ev.Version, name).Set(x)
		}
	}
}

var perfDescs = struct {
	predictions, joined, expired, evicted, duplicates, orphans, labels, pending, coverage *prometheus.Desc
}{
	predictions: prometheus.NewDesc("driftd_performance_predictions_total", "Predictions with a request ID of models whose reference has a performance section.", nil, nil),
	joined:      prometheus.NewDesc("driftd_performance_joined_total", "Predictions joined to their label.", nil, nil),
	expired:     prometheus.NewDesc("driftd_performance_expired_total", "Predictions dropped without a label after DRIFTD_LABEL_HORIZON.", nil, nil),
	evicted:     prometheus.NewDesc("driftd_performance_evicted_total", "Predictions dropped because DRIFTD_MAX_PENDING_PREDICTIONS were waiting.", nil, nil),
	duplicates:  prometheus.NewDesc("driftd_performance_duplicate_predictions_total", "Predictions whose request ID was already waiting (the first is kept).", nil, nil),
	orphans:     prometheus.NewDesc("driftd_performance_orphan_labels_total", "Labels without a waiting prediction.", nil, nil),
	labels:      prometheus.NewDesc("driftd_performance_label_events_total", "Label events consumed.", nil, nil),
	pending:     prometheus.NewDesc("driftd_performance_pending_predictions", "Predictions waiting for their label.", nil, nil),
	coverage:    prometheus.NewDesc("driftd_performance_label_coverage_ratio", "Joined / (joined + expired + evicted) predictions.", nil, nil),
}

// Describe implements prometheus.Collector.
func (h *perfHook) Describe(ch chan<- *prometheus.Desc) {
	d := perfDescs
	for _, x := range []*prometheus.Desc{d.predictions, d.joined, d.expired, d.evicted, d.duplicates, d.orphans, d.labels, d.pending, d.coverage} {
		ch <- x
	}
}

// Collect implements prometheus.Collector: the joiner's counts, read
// under the lock.
func (h *perfHook) Collect(ch chan<- prometheus.Metric) {
	h.mu.Lock()
	s, labels := h.joiner.Stats(), h.labelled
	h.mu.Unlock()
	d := perfDescs
	c := func(desc *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(v))
	}
	c(d.predictions, s.Predictions)
	c(d.joined, s.Joined)
	c(d.expired, s.Expired)
	c(d.evicted, s.Evicted)
	c(d.duplicates, s.Duplicates)
	c(d.orphans, s.Orphans)
	c(d.labels, labels)
	ch <- prometheus.MustNewConstMetric(d.pending, prometheus.GaugeValue, float64(s.Pending))
	ch <- prometheus.MustNewConstMetric(d.coverage, prometheus.GaugeValue, s.Coverage())
}
