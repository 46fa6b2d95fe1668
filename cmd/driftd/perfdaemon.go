package main

import (
	"bytes"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fastjson"

	"github.com/driftd/driftd/detector"
	"github.com/driftd/driftd/detector/perf"
	"github.com/driftd/driftd/stream"
	"github.com/driftd/driftd/stream/codec"
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
// pass through it, so it holds a lock. Its state is kept per input
// partition (a perf.PartitionState: the predictions of the partition's
// records waiting for labels, and the windows they feed) and checkpointed
// with the partition's window state (stream.TaskStateHook).
type perfHook struct {
	mu       sync.Mutex
	parser   fastjson.Parser
	join     perf.JoinConfig
	stats    perf.JoinStats // shared by the partitions' joiners
	tasks    map[stream.TaskID]*perfTask
	registry *stream.Registry
	gen      uint64
	refs     map[string]*detector.Reference
	policies *detector.Policies
	cfg      perf.Config
	key      []byte
	log      *slog.Logger

	// anyPerf is whether a reference of registry generation seen has a
	// performance section, for Event's lock-free fast path.
	anyPerf, seen atomic.Uint64

	delay    prometheus.Histogram
	metric   *prometheus.GaugeVec
	labelled uint64 // label events consumed

	classRecall *prometheus.GaugeVec // multiclass
	classBuf    []byte
}

// perfTask is the performance state of one input partition.
type perfTask struct {
	state *perf.PartitionState
	// skip: records before this offset are in the restored state.
	skip  int64
	dirty bool
}

func newPerfHook(c performanceConfig, registry *stream.Registry, policies *detector.Policies, reg prometheus.Registerer, log *slog.Logger) (*perfHook, error) {
	join := perf.JoinConfig{Horizon: c.Horizon, MaxPending: c.MaxPending, HoldLabels: max(1000, c.MaxPending/10)}
	if err := join.Validate(); err != nil {
		return nil, err
	}
	h := &perfHook{join: join, tasks: map[stream.TaskID]*perfTask{}, registry: registry, policies: policies, cfg: c.perf(), log: log,
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

// task returns the state of an input partition, creating it empty.
func (h *perfHook) task(id stream.TaskID) *perfTask {
	t := h.tasks[id]
	if t == nil {
		j, _ := perf.NewJoiner(h.join) // validated in newPerfHook
		j.ShareStats(&h.stats)
		t = &perfTask{state: &perf.PartitionState{Next: -1, Joiner: j, Monitors: map[string]*perf.Monitor{}, Estimators: map[string]*perf.Estimator{}}, skip: -1}
		h.tasks[id] = t
	}
	return t
}

// Record implements stream.RecordHook: it takes the label events
// (records with a label and neither features nor a prediction), which
// are not inference events; predictions come decoded (Event).
func (h *perfHook) Record(id stream.TaskID, offset int64, value []byte, recordMS int64, out *detector.Output) bool {
	if !bytes.Contains(value, []byte(`"label"`)) {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	v, err := h.parser.ParseBytes(value)
	if err != nil || v.Type() != fastjson.TypeObject {
		return false // the decoder dead-letters it
	}
	model, version := v.GetStringBytes("model"), v.GetStringBytes("model_version")
	label := v.Get("label")
	if label == nil || v.Get("prediction") != nil || v.Get("features") != nil || len(model) == 0 {
		return false // an inference event, maybe a joined pair: Event
	}
	h.labelled++
	h.refresh()
	if t := h.tasks[id]; t != nil && offset < t.skip {
		return true // in the restored state already
	}
	h.key = append(append(append(h.key[:0], model...), '/'), version...)
	ref := h.refs[string(h.key)]
	requestID := v.GetStringBytes("request_id")
	if ref == nil || ref.Performance == nil || len(requestID) == 0 {
		return true
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
	var alerts []detector.Alert
	h.label(id, ref, model, version, requestID, label, ts, &alerts)
	out.Alerts = append(out.Alerts, alerts...)
	return true
}

// predicted feeds a prediction without its label to the estimator and
// the join: to a label held for it, else to the predictions waiting.
func (h *perfHook) predicted(t *perfTask, m *perf.Monitor, ref *detector.Reference, model, version, requestID []byte, score float64, ts int64, alerts *[]detector.Alert) {
	t.dirty = true
	h.estimate(t, ref, score, alerts)
	if len(requestID) == 0 {
		return
	}
	for _, o := range h.tasks {
		if p, ok := o.state.Joiner.JoinHeld(model, version, requestID, score, ts); ok {
			o.dirty = true
			h.add(m, p, alerts)
			return
		}
	}
	h.makeRoom()
	t.state.Joiner.Prediction(model, version, requestID, score, ts)
}

// Event implements stream.EventHook: a decoded prediction event, of any
// input format, joined by its request ID (canonical: request_id; OIP:
// the response's id, <id>/<row> in a batch) or, carrying its label, a
// joined pair already. Its score is the prediction field the reference's
// performance section names (--prediction), or the only one; a
// multiclass model's is a class name, or the class of the largest of its
// per-class probabilities (<prediction>.<class>).
func (h *perfHook) Event(id stream.TaskID, offset int64, ev *codec.Event, recordMS int64, out *detector.Output) {
	if h.anyPerf.Load() == 0 && h.registry.Generation() == h.seen.Load() {
		return // no reference has a performance section: spare the lock
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.refresh()
	if t := h.tasks[id]; t != nil && offset < t.skip {
		return // in the restored state already
	}
	h.key = append(append(append(h.key[:0], ev.Model...), '/'), ev.Version...)
	ref := h.refs[string(h.key)]
	if ref == nil || ref.Performance == nil {
		return
	}
	t := h.task(id)
	m := h.monitor(t, ref)
	score, ok := eventScore(m, ev.Prediction, ref.Performance.Prediction)
	if !ok {
		return
	}
	ts := recordMS
	if ev.HasTime {
		ts = ev.TimeMS
	}
	var alerts []detector.Alert
	defer func() { out.Alerts = append(out.Alerts, alerts...) }()
	if ev.HasLabel {
		if target, ok := h.labelValue(m, &ev.Label); ok {
			t.dirty = true
			h.estimate(t, ref, score, &alerts)
			h.add(m, perf.Pair{Score: score, Positive: target == 1, Target: target}, &alerts)
			return
		}
	}
	h.predicted(t, m, ref, ev.Model, ev.Version, ev.RequestID, score, ts, &alerts)
}

// labelValue reads a decoded label: the numeric target (1 for a binary
// positive), for a multiclass model the class index.
func (h *perfHook) labelValue(m *perf.Monitor, v *detector.Value) (float64, bool) {
	if m.Reference().Task == detector.PerformanceMulticlass {
		return classOf(m, v)
	}
	return labelTarget(*v, m.Reference().Task == detector.PerformanceRegression)
}

// eventScore reads a decoded prediction: the field named name, or the
// only one. For a multiclass model: the class index of a class name, or
// of the largest of name.<class> probabilities.
func eventScore(m *perf.Monitor, fields []codec.Field, name string) (float64, bool) {
	var v *detector.Value
	for i := range fields {
		if f := &fields[i]; string(f.Name) == name || len(fields) == 1 {
			v = &f.Value
			break
		}
	}
	multiclass := m.Reference().Task == detector.PerformanceMulticlass
	switch {
	case v == nil && multiclass:
		return argmaxField(m, fields, name)
	case v == nil:
		return 0, false
	case multiclass:
		return classOf(m, v)
	case v.Kind != detector.Number:
		return 0, false
	case v.Parsed:
		return v.Num, true
	}
	x, err := strconv.ParseFloat(string(v.Text), 64)
	return x, err == nil
}

// classOf is the class index of a class name: a string, or a number as
// written.
func classOf(m *perf.Monitor, v *detector.Value) (float64, bool) {
	if v.Kind != detector.String && v.Kind != detector.Number {
		return 0, false
	}
	name := v.Text
	if v.Kind == detector.Number && len(name) == 0 {
		name = detector.AppendCategoryNumber(nil, v.Num) // a number decoded from binary
	}
	return m.ClassIndex(name), true // −1 past the unseen classes kept: "other"
}

// argmaxField is the class index of the largest per-class probability
// among the fields <prefix>.<class>.
func argmaxField(m *perf.Monitor, fields []codec.Field, prefix string) (float64, bool) {
	var best []byte
	bestP := math.Inf(-1)
	for i := range fields {
		f := &fields[i]
		if len(f.Name) <= len(prefix)+1 || string(f.Name[:len(prefix)]) != prefix || f.Name[len(prefix)] != '.' || f.Value.Kind != detector.Number {
			continue
		}
		p := f.Value.Num
		if !f.Value.Parsed {
			var err error
			if p, err = strconv.ParseFloat(string(f.Value.Text), 64); err != nil {
				continue
			}
		}
		if p > bestP {
			best, bestP = f.Name[len(prefix)+1:], p
		}
	}
	if best == nil {
		return 0, false
	}
	return m.ClassIndex(best), true
}

// labelOf reads a label event's label: the numeric target (1 for a
// binary positive), for a multiclass model the class index.
func (h *perfHook) labelOf(m *perf.Monitor, label *fastjson.Value) (float64, bool) {
	if m.Reference().Task != detector.PerformanceMulticlass {
		return fastLabel(label, m.Reference().Task == detector.PerformanceRegression)
	}
	if h.classBuf == nil {
		h.classBuf = make([]byte, 0, 64)
	}
	c, ok := fastClass(label, false, h.classBuf[:0])
	if !ok {
		return 0, false
	}
	return m.ClassIndex(c), true
}

// label joins a label event to its prediction, waiting in the partition
// the prediction came from; a label whose prediction has not been seen
// is held by the label's own partition (the prediction may be on a
// partition that is behind, as in a replay after a restart).
func (h *perfHook) label(id stream.TaskID, ref *detector.Reference, model, version, requestID []byte, label *fastjson.Value, ts int64, alerts *[]detector.Alert) {
	var owner *perfTask
	if t := h.tasks[id]; t != nil && t.state.Joiner.Waiting(model, version, requestID) {
		owner = t
	} else {
		for _, o := range h.tasks {
			if o.state.Joiner.Waiting(model, version, requestID) {
				owner = o
				break
			}
		}
	}
	if owner == nil {
		t := h.task(id)
		m := h.monitor(t, ref)
		if target, ok := h.labelOf(m, label); ok {
			t.dirty = true
			t.state.Joiner.HoldLabel(model, version, requestID, target, ts)
		}
		return
	}
	m := h.monitor(owner, ref)
	target, ok := h.labelOf(m, label)
	if !ok {
		return
	}
	owner.dirty = true
	before := h.stats.DelaySumMS
	if p, ok := owner.state.Joiner.Label(model, version, requestID, target, ts); ok {
		h.delay.Observe(float64(h.stats.DelaySumMS-before) / 1000)
		h.add(m, p, alerts)
	}
}

// makeRoom evicts the oldest waiting prediction of any partition while
// DRIFTD_MAX_PENDING_PREDICTIONS wait.
func (h *perfHook) makeRoom() {
	for {
		total := 0
		var oldest *perfTask
		var oldestMS int64
		for _, t := range h.tasks {
			j := t.state.Joiner
			total += j.Pending()
			if ms, ok := j.Oldest(); ok && (oldest == nil || ms < oldestMS) {
				oldest, oldestMS = t, ms
			}
		}
		if total < h.join.MaxPending || oldest == nil || !oldest.state.Joiner.Evict() {
			return
		}
		oldest.dirty = true
	}
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

// refresh follows reference changes: the monitors and estimators of
// changed references are dropped.
func (h *perfHook) refresh() {
	g := h.registry.Generation()
	if g == h.gen && h.refs != nil {
		return
	}
	h.refs, h.gen = h.registry.Snapshot()
	for _, t := range h.tasks {
		for k, m := range t.state.Monitors {
			if ref := h.refs[k]; m == nil || ref == nil || ref.Performance != m.Reference() {
				delete(t.state.Monitors, k)
			}
		}
		for k, x := range t.state.Estimators {
			if ref := h.refs[k]; x == nil || ref == nil || ref.Performance != x.Reference() {
				delete(t.state.Estimators, k)
			}
		}
	}
	any := uint64(0)
	for _, ref := range h.refs {
		if ref.Performance != nil {
			any = 1
			break
		}
	}
	h.anyPerf.Store(any)
	h.seen.Store(h.gen)
}

// monitor returns the performance monitor of ref (h.key) in a
// partition, creating it.
func (h *perfHook) monitor(t *perfTask, ref *detector.Reference) *perf.Monitor {
	if m := t.state.Monitors[string(h.key)]; m != nil {
		return m
	}
	m, _ := perf.NewMonitor(ref, h.policies.Model(ref.Model, ref.Version), h.cfg) // the configuration was validated
	t.state.Monitors[string(h.key)] = m
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

// CheckpointTask implements stream.TaskStateHook.
func (h *perfHook) CheckpointTask(id stream.TaskID, next int64, all bool, stored func(detector.SegmentSum) bool) (*detector.SegmentedState, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t := h.tasks[id]
	if t == nil || (!t.dirty && !all) {
		return nil, nil
	}
	t.state.Next = next
	t.dirty = false
	return t.state.Encode(stored), nil
}

// RestoreTask implements stream.TaskStateHook.
func (h *perfHook) RestoreTask(id stream.TaskID, head []byte, segment func(detector.SegmentSum) []byte) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.tasks, id)
	if head == nil {
		return nil
	}
	h.refresh()
	newMonitor := func(key string) *perf.Monitor {
		ref := h.refs[key]
		if ref == nil || ref.Performance == nil {
			return nil
		}
		m, _ := perf.NewMonitor(ref, h.policies.Model(ref.Model, ref.Version), h.cfg)
		return m
	}
	newEstimator := func(key string) *perf.Estimator {
		ref := h.refs[key]
		if ref == nil || ref.Performance == nil || ref.Performance.Estimation == nil {
			return nil
		}
		x, _ := perf.NewEstimator(ref, h.policies.Model(ref.Model, ref.Version), h.cfg)
		return x
	}
	s, skipped, err := perf.DecodePartitionState(head, segment, perf.RestoreOptions{Join: h.join, Monitor: newMonitor, Estimator: newEstimator})
	if err != nil {
		return err
	}
	for _, err := range skipped {
		h.log.Info("not restoring performance state", "task", id, "err", err)
	}
	s.Joiner.ShareStats(&h.stats)
	h.tasks[id] = &perfTask{state: s, skip: s.Next}
	h.log.Info("restored performance state", "task", id, "pending_predictions", s.Joiner.Pending(), "held_labels", s.Joiner.Stats().Held,
		"monitors", len(s.Monitors), "estimators", len(s.Estimators))
	return nil
}

// DropTask implements stream.TaskStateHook.
func (h *perfHook) DropTask(id stream.TaskID) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.tasks, id)
}

var perfDescs = struct {
	predictions, joined, expired, evicted, duplicates, orphans, labels, pending, held, coverage *prometheus.Desc
}{
	predictions: prometheus.NewDesc("driftd_performance_predictions_total", "Predictions with a request ID of models whose reference has a performance section.", nil, nil),
	joined:      prometheus.NewDesc("driftd_performance_joined_total", "Predictions joined to their label.", nil, nil),
	expired:     prometheus.NewDesc("driftd_performance_expired_total", "Predictions dropped without a label after DRIFTD_LABEL_HORIZON.", nil, nil),
	evicted:     prometheus.NewDesc("driftd_performance_evicted_total", "Predictions dropped because DRIFTD_MAX_PENDING_PREDICTIONS were waiting.", nil, nil),
	duplicates:  prometheus.NewDesc("driftd_performance_duplicate_predictions_total", "Predictions whose request ID was already waiting (the first is kept).", nil, nil),
	orphans:     prometheus.NewDesc("driftd_performance_orphan_labels_total", "Labels never joined: no prediction came within DRIFTD_LABEL_HORIZON, too many labels were held, or a repeated request ID.", nil, nil),
	held:        prometheus.NewDesc("driftd_performance_held_labels", "Labels waiting for a prediction not consumed yet.", nil, nil),
	labels:      prometheus.NewDesc("driftd_performance_label_events_total", "Label events consumed.", nil, nil),
	pending:     prometheus.NewDesc("driftd_performance_pending_predictions", "Predictions waiting for their label.", nil, nil),
	coverage:    prometheus.NewDesc("driftd_performance_label_coverage_ratio", "Joined / (joined + expired + evicted) predictions.", nil, nil),
}

// Describe implements prometheus.Collector.
func (h *perfHook) Describe(ch chan<- *prometheus.Desc) {
	d := perfDescs
	for _, x := range []*prometheus.Desc{d.predictions, d.joined, d.expired, d.evicted, d.duplicates, d.orphans, d.labels, d.pending, d.held, d.coverage} {
		ch <- x
	}
}

// Collect implements prometheus.Collector: the joiner's counts, read
// under the lock.
func (h *perfHook) Collect(ch chan<- prometheus.Metric) {
	h.mu.Lock()
	s, labels := h.stats, h.labelled
	for _, t := range h.tasks {
		st := t.state.Joiner.Stats()
		s.Pending += st.Pending
		s.Held += st.Held
	}
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
	ch <- prometheus.MustNewConstMetric(d.held, prometheus.GaugeValue, float64(s.Held))
	ch <- prometheus.MustNewConstMetric(d.coverage, prometheus.GaugeValue, s.Coverage())
}
