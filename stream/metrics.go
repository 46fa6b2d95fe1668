package stream

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/driftd/driftd/detector"
	"github.com/driftd/driftd/stream/codec"
)

// Metrics are driftd's Prometheus metrics, registered on a registry the
// caller creates (never the global one). Label sets are small and fixed:
// model, version, feature, test for detection; topic, reason, status for
// I/O. A cap on the features exported per model version protects
// Prometheus from wide models; evaluations beyond it are counted in
// driftd_metric_series_overflow_total and not exported.
//
// Families (all prefixed driftd_):
//
//	records_consumed_total{topic}                  records read from input topics
//	events_processed_total{model,version}          events applied or counted
//	events_no_reference_total                      events of models without a reference
//	records_dlq_total{topic,reason}                records dead-lettered
//	dead_letters_truncated_total                   dead letters cut to fit the DLQ topic's max.message.bytes
//	topics_recreated_total                         output topics created again after they disappeared
//	events_bad_timestamp_total                     unparseable timestamps (record time used)
//	events_late_total{model,version}               late for an event-time window
//	events_future_total{model,version}             event time too far ahead of the watermark
//	unexpected_features_total{model,version}       values of features not in the reference
//	feature_missing_total{model,version,feature}   missing values
//	feature_invalid_total{model,version,feature}   invalid values
//	window_events{model,version,feature}           events in the last evaluated window
//	window_mean / window_stddev {…feature}         window moments of valid values
//	reference_mean / reference_stddev {…feature}   reference moments
//	window_missing_ratio / window_invalid_ratio / window_out_of_range_ratio {…feature}
//	feature_psi{model,version,feature}             PSI of categorical features
//	test_statistic / test_p_value / test_effect {model,version,feature,test}
//	test_threshold / test_effect_threshold {…test} the p-value threshold and effect gate
//	drifting{model,version,feature,test}           1 while the alert is firing
//	model_drift_share{model,version}               share of features with a firing alert
//	model_drifting{model,version}                  1 while the dataset-level alert fires
//	evaluations_total{model,version}
//	model_last_event_timestamp_seconds{model,version} when an event of the model version was last processed
//	evaluation_duration_seconds                    time to process an event that closed panes, per evaluation
//	alerts_published_total{model,version,status}
//	reference_info{model,version,reference_id}     1 per loaded reference
//	references                                     references loaded
//	consumer_lag_records{topic,partition}          high watermark minus next offset
//	consumer_group_lag_records{topic,partition}    end minus committed offset, polled every 10 s
//	produce_buffered_records                       records waiting for broker acks
//	produce_errors_total{topic}
//	checkpoints_total / checkpoint_errors_total / checkpoint_duration_seconds / checkpoint_bytes_total
//	commits_total / commit_errors_total
//	assigned_partitions
//	window_memory_bytes                            memory held by windows
//	metric_series_overflow_total{model,version}
type Metrics struct {
	RecordsConsumed   *prometheus.CounterVec
	EventsProcessed   *prometheus.CounterVec
	EventsNoReference prometheus.Counter
	RecordsDLQ        *prometheus.CounterVec
	// DeadLettersTruncated counts dead letters whose value was cut to
	// fit the DLQ topic.
	DeadLettersTruncated prometheus.Counter
	// TopicsRecreated counts output topics created again after they
	// disappeared while running.
	TopicsRecreated    prometheus.Counter
	BadTimestamps      prometheus.Counter
	LateEvents         *prometheus.CounterVec
	FutureEvents       *prometheus.CounterVec
	UnexpectedFeatures *prometheus.CounterVec
	FeatureMissing     *prometheus.CounterVec
	FeatureInvalid     *prometheus.CounterVec

	WindowEvents    *prometheus.GaugeVec
	WindowMean      *prometheus.GaugeVec
	WindowStdDev    *prometheus.GaugeVec
	ReferenceMean   *prometheus.GaugeVec
	ReferenceStdDev *prometheus.GaugeVec
	MissingRatio    *prometheus.GaugeVec
	InvalidRatio    *prometheus.GaugeVec
	OutOfRangeRatio *prometheus.GaugeVec
	PSI             *prometheus.GaugeVec
	TestStatistic   *prometheus.GaugeVec
	TestPValue      *prometheus.GaugeVec
	TestEffect      *prometheus.GaugeVec
	TestThreshold   *prometheus.GaugeVec
	TestEffectGate  *prometheus.GaugeVec
	Drifting        *prometheus.GaugeVec
	ModelDriftShare *prometheus.GaugeVec
	ModelDrifting   *prometheus.GaugeVec
	Evaluations     *prometheus.CounterVec
	// ModelLastEvent is when an event of the model version was last
	// processed (Unix seconds, to the second).
	ModelLastEvent    *prometheus.GaugeVec
	EvaluationSeconds prometheus.Histogram
	AlertsPublished   *prometheus.CounterVec
	ReferenceInfo     *prometheus.GaugeVec
	References        prometheus.Gauge
	ConsumerLag       *prometheus.GaugeVec
	GroupLag          *prometheus.GaugeVec
	ProduceBuffered   prometheus.Gauge
	ProduceErrors     *prometheus.CounterVec
	Checkpoints       prometheus.Counter
	CheckpointErrors  prometheus.Counter
	CheckpointSeconds prometheus.Histogram
	CheckpointBytes   prometheus.Counter
	Commits           prometheus.Counter
	CommitErrors      prometheus.Counter
	AssignedParts     prometheus.Gauge
	WindowMemory      prometheus.Gauge
	SeriesOverflow    *prometheus.CounterVec

	maxFeatures int
	mu          sync.Mutex
	exported    map[string]map[string]*featureGauges // model/version → feature → gauges
	overflow    map[string]prometheus.Counter
	// live maps each model/version with a reference to its reference ID:
	// alerts of another reference (retired: replaced or removed) are
	// published but not exported, or they would re-create the series
	// DeleteModel removed.
	live map[string]string
}

type featureGauges struct {
	events, mean, sd, refMean, refSD, missing, invalid, oor, psi prometheus.Gauge
	missingTotal, invalidTotal                                   prometheus.Counter
	lastMissing, lastInvalid                                     uint64
	tests                                                        map[detector.Test]*testGauges
}

type testGauges struct{ stat, p, effect, threshold, gate, drifting prometheus.Gauge }

const ns = "driftd"

// NewMetrics creates the metrics and registers them on reg. maxFeatures
// caps the features exported per model version (≤ 0: 500).
func NewMetrics(reg prometheus.Registerer, maxFeatures int) *Metrics {
	if maxFeatures <= 0 {
		maxFeatures = 500
	}
	mv := []string{"model", "version"}
	mvf := []string{"model", "version", "feature"}
	mvft := []string{"model", "version", "feature", "test"}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: name, Help: help}, labels)
		reg.MustRegister(c)
		return c
	}
	gauge := func(name, help string, labels ...string) *prometheus.GaugeVec {
		g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: name, Help: help}, labels)
		reg.MustRegister(g)
		return g
	}
	single := func(c prometheus.Collector) { reg.MustRegister(c) }
	m := &Metrics{
		RecordsConsumed:   counter("records_consumed_total", "Records read from the input topics.", "topic"),
		EventsProcessed:   counter("events_processed_total", "Decoded events of models with a reference.", mv...),
		EventsNoReference: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "events_no_reference_total", Help: "Decoded events of model versions without a reference (counted, no state kept)."}),
		RecordsDLQ:        counter("records_dlq_total", "Records sent to the dead-letter topic, by reason.", "topic", "reason"),
		DeadLettersTruncated: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "dead_letters_truncated_total",
			Help: "Dead letters whose value was truncated to fit the DLQ topic's max.message.bytes."}),
		TopicsRecreated: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "topics_recreated_total",
			Help: "Output topics created again after they disappeared while driftd was running (DRIFTD_CREATE_TOPICS)."}),
		BadTimestamps:      prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "events_bad_timestamp_total", Help: "Events whose timestamp could not be parsed; the record timestamp was used."}),
		LateEvents:         counter("events_late_total", "Events too late for their event-time window.", mv...),
		FutureEvents:       counter("events_future_total", "Events whose time is too far ahead of the event-time watermark (DRIFTD_WINDOW_MAX_FUTURE).", mv...),
		UnexpectedFeatures: counter("unexpected_features_total", "Values of features that are not in the reference (schema changes).", mv...),
		FeatureMissing:     counter("feature_missing_total", "Missing (null or absent) values per feature.", mvf...),
		FeatureInvalid:     counter("feature_invalid_total", "Invalid values (wrong type, NaN, ±Inf) per feature.", mvf...),
		WindowEvents:       gauge("window_events", "Events in the feature's window at its last evaluation.", mvf...),
		WindowMean:         gauge("window_mean", "Mean of the valid values in the window.", mvf...),
		WindowStdDev:       gauge("window_stddev", "Standard deviation of the valid values in the window.", mvf...),
		ReferenceMean:      gauge("reference_mean", "Mean of the feature in the reference.", mvf...),
		ReferenceStdDev:    gauge("reference_stddev", "Standard deviation of the feature in the reference.", mvf...),
		MissingRatio:       gauge("window_missing_ratio", "Share of missing values in the window.", mvf...),
		InvalidRatio:       gauge("window_invalid_ratio", "Share of invalid values in the window.", mvf...),
		OutOfRangeRatio:    gauge("window_out_of_range_ratio", "Share of valid values outside the reference [min, max].", mvf...),
		PSI:                gauge("feature_psi", "Population stability index of a categorical feature's window.", mvf...),
		TestStatistic:      gauge("test_statistic", "Test statistic at the last evaluation (KS D, Welch t, chi-square, ratio).", mvft...),
		TestPValue:         gauge("test_p_value", "P-value at the last evaluation.", mvft...),
		TestEffect:         gauge("test_effect", "Effect size at the last evaluation (D−ε, |Δμ|/σ, JS distance, ratio increase).", mvft...),
		TestThreshold:      gauge("test_threshold", "Calibrated p-value threshold of the test.", mvft...),
		TestEffectGate:     gauge("test_effect_threshold", "Effect-size gate of the test.", mvft...),
		Drifting:           gauge("drifting", "1 while the alert of the feature's test is firing.", mvft...),
		ModelDriftShare:    gauge("model_drift_share", "Share of the model's features with a firing alert.", mv...),
		ModelDrifting:      gauge("model_drifting", "1 while the model's dataset-level drift alert is firing.", mv...),
		Evaluations:        counter("evaluations_total", "Feature window evaluations.", mv...),
		ModelLastEvent: gauge("model_last_event_timestamp_seconds",
			"When driftd last processed an event of the model version (Unix time, seconds; wall clock, not event time).", mv...),
		EvaluationSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "evaluation_duration_seconds",
			Help: "Processing time of an event that closed panes, divided by the evaluations it ran.", Buckets: prometheus.ExponentialBuckets(1e-6, 4, 10)}),
		AlertsPublished: counter("alerts_published_total", "Alerts published (acknowledged by the broker).", "model", "version", "status"),
		ReferenceInfo:   gauge("reference_info", "1 for each loaded reference.", "model", "version", "reference_id"),
		References:      prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "references", Help: "References loaded."}),
		ConsumerLag:     gauge("consumer_lag_records", "High watermark minus the next offset to process, per assigned partition, as the pipeline last saw it.", "topic", "partition"),
		GroupLag:        gauge("consumer_group_lag_records", "End offset minus the group's committed offset, per partition this replica owns, every DRIFTD_GROUP_LAG_INTERVAL (grows while the pipeline is blocked).", "topic", "partition"),
		ProduceBuffered: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "produce_buffered_records", Help: "Records produced and not yet acknowledged by the broker."}),
		ProduceErrors:   counter("produce_errors_total", "Produce attempts that failed (retried until they succeed).", "topic"),
		Checkpoints:     prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "checkpoints_total", Help: "Checkpoints of window state written."}),
		CheckpointErrors: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "checkpoint_errors_total",
			Help: "Checkpoints that failed (offsets are then not committed)."}),
		CheckpointSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "checkpoint_duration_seconds",
			Help: "Time to write a checkpoint and commit its offsets.", Buckets: prometheus.ExponentialBuckets(1e-3, 3, 10)}),
		CheckpointBytes: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "checkpoint_bytes_total", Help: "Bytes of checkpoint records written."}),
		Commits:         prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "commits_total", Help: "Offset commits."}),
		CommitErrors:    prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "commit_errors_total", Help: "Offset commits that failed."}),
		AssignedParts:   prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "assigned_partitions", Help: "Input partitions assigned to this replica."}),
		WindowMemory:    prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "window_memory_bytes", Help: "Memory held by feature windows."}),
		SeriesOverflow:  counter("metric_series_overflow_total", "Evaluations not exported because the model has more features than the metrics cap.", mv...),
		maxFeatures:     maxFeatures,
		exported:        map[string]map[string]*featureGauges{},
		overflow:        map[string]prometheus.Counter{},
		live:            map[string]string{},
	}
	for _, c := range []prometheus.Collector{m.EventsNoReference, m.DeadLettersTruncated, m.TopicsRecreated, m.BadTimestamps, m.EvaluationSeconds, m.References, m.ProduceBuffered,
		m.Checkpoints, m.CheckpointErrors, m.CheckpointSeconds, m.CheckpointBytes, m.Commits, m.CommitErrors, m.AssignedParts, m.WindowMemory} {
		single(c)
	}
	return m
}

// InitTopics creates the series of topic-level counters at 0, so a rate
// over them exists before the first event ("avoid missing metrics").
func (m *Metrics) InitTopics(inputs []string, dlq string) {
	for _, t := range inputs {
		m.RecordsConsumed.WithLabelValues(t)
	}
	for _, r := range codec.Reasons {
		m.RecordsDLQ.WithLabelValues(dlq, string(r))
	}
}

func (m *Metrics) gauges(model, version, feature string) *featureGauges {
	key := model + "/" + version
	fm := m.exported[key]
	if fm == nil {
		fm = map[string]*featureGauges{}
		m.exported[key] = fm
	}
	if g := fm[feature]; g != nil {
		return g
	}
	if len(fm) >= m.maxFeatures {
		return nil
	}
	l := prometheus.Labels{"model": model, "version": version, "feature": feature}
	g := &featureGauges{
		events: m.WindowEvents.With(l), mean: m.WindowMean.With(l), sd: m.WindowStdDev.With(l),
		refMean: m.ReferenceMean.With(l), refSD: m.ReferenceStdDev.With(l),
		missing: m.MissingRatio.With(l), invalid: m.InvalidRatio.With(l), oor: m.OutOfRangeRatio.With(l),
		missingTotal: m.FeatureMissing.With(l), invalidTotal: m.FeatureInvalid.With(l),
		tests: map[detector.Test]*testGauges{},
	}
	fm[feature] = g
	return g
}

func (g *featureGauges) test(m *Metrics, model, version, feature string, t detector.Test) *testGauges {
	if tg := g.tests[t]; tg != nil {
		return tg
	}
	l := prometheus.Labels{"model": model, "version": version, "feature": feature, "test": string(t)}
	tg := &testGauges{
		stat: m.TestStatistic.With(l), p: m.TestPValue.With(l), effect: m.TestEffect.With(l),
		threshold: m.TestThreshold.With(l), gate: m.TestEffectGate.With(l), drifting: m.Drifting.With(l),
	}
	g.tests[t] = tg
	return tg
}

// ObserveEvaluations exports the evaluations of a batch.
func (m *Metrics) ObserveEvaluations(refs map[string]*detector.Reference, evals []detector.Evaluation) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range evals {
		e := &evals[i]
		m.Evaluations.WithLabelValues(e.Model, e.Version).Inc()
		g := m.gauges(e.Model, e.Version, e.Feature)
		if g == nil {
			key := e.Model + "/" + e.Version
			c := m.overflow[key]
			if c == nil {
				c = m.SeriesOverflow.WithLabelValues(e.Model, e.Version)
				m.overflow[key] = c
			}
			c.Inc()
			continue
		}
		n := float64(e.Window.N)
		g.events.Set(n)
		if n > 0 {
			g.missing.Set(float64(e.Window.Missing) / n)
			g.invalid.Set(float64(e.Window.Invalid) / n)
		}
		if e.Kind == detector.Numeric {
			g.mean.Set(e.Mean)
			g.sd.Set(e.StdDev)
			if ref := refs[e.Model+"/"+e.Version]; ref != nil {
				if f := ref.Feature(e.Feature); f != nil {
					g.refMean.Set(f.Mean)
					g.refSD.Set(f.StdDev())
				}
			}
		}
		for _, r := range e.Results {
			tg := g.test(m, e.Model, e.Version, e.Feature, r.Test)
			tg.stat.Set(r.Statistic)
			tg.p.Set(r.PValue)
			tg.effect.Set(r.Effect)
			tg.threshold.Set(r.Threshold)
			tg.gate.Set(r.EffectThreshold)
			tg.drifting.Set(b2f(r.Firing))
			switch r.Test {
			case detector.TestOutOfRange:
				g.oor.Set(r.Statistic)
			case detector.TestChi2:
				if g.psi == nil {
					g.psi = m.PSI.WithLabelValues(e.Model, e.Version, e.Feature)
				}
				g.psi.Set(r.PSI)
			}
		}
	}
}

// SetReferences records the references in use (model/version → ID).
func (m *Metrics) SetReferences(refs map[string]*detector.Reference) {
	m.mu.Lock()
	defer m.mu.Unlock()
	clear(m.live)
	for key, ref := range refs {
		m.live[key] = ref.ID
	}
}

// ObserveAlert marks a published alert. Alerts of a reference no longer
// in use (resolved by its replacement or removal) change no series.
func (m *Metrics) ObserveAlert(a *detector.Alert) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if id, ok := m.live[a.Model+"/"+a.Version]; !ok || id != a.ReferenceID {
		return
	}
	m.AlertsPublished.WithLabelValues(a.Model, a.Version, string(a.Status)).Inc()
	v := 0.0
	if a.Status == detector.Firing {
		v = 1
	}
	if a.Reason == detector.ReasonStale {
		return // the model's gauges were cleared (ClearModelGauges)
	}
	if a.Test == detector.TestDataset {
		m.ModelDrifting.WithLabelValues(a.Model, a.Version).Set(v)
		return
	}
	if g := m.gauges(a.Model, a.Version, a.Feature); g != nil {
		g.test(m, a.Model, a.Version, a.Feature, a.Test).drifting.Set(v)
	}
}

// ObserveModel exports a monitor's counters and state. prev holds the
// counts already exported for it, so counters only ever add.
func (m *Metrics) ObserveModel(ref *detector.Reference, s detector.ModelStats, prev *detector.ModelStats) {
	m.mu.Lock()
	defer m.mu.Unlock()
	model, version := ref.Model, ref.Version
	m.ModelDriftShare.WithLabelValues(model, version).Set(s.DatasetShare)
	m.ModelDrifting.WithLabelValues(model, version).Set(b2f(s.DatasetDrifting))
	if d := s.Late - prev.Late; s.Late > prev.Late {
		m.LateEvents.WithLabelValues(model, version).Add(float64(d))
	}
	if s.Future > prev.Future {
		m.FutureEvents.WithLabelValues(model, version).Add(float64(s.Future - prev.Future))
	}
	if s.Unexpected > prev.Unexpected {
		m.UnexpectedFeatures.WithLabelValues(model, version).Add(float64(s.Unexpected - prev.Unexpected))
	}
	for i, f := range s.Features {
		g := m.gauges(model, version, f.Name)
		if g == nil {
			continue
		}
		var pf detector.FeatureStats
		if i < len(prev.Features) && prev.Features[i].Name == f.Name {
			pf = prev.Features[i]
		}
		if f.Missing > pf.Missing {
			g.missingTotal.Add(float64(f.Missing - pf.Missing))
		}
		if f.Invalid > pf.Invalid {
			g.invalidTotal.Add(float64(f.Invalid - pf.Invalid))
		}
	}
}

// DeleteModel removes every series of a model version that is gone.
func (m *Metrics) DeleteModel(model, version string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l := prometheus.Labels{"model": model, "version": version}
	for _, v := range []interface {
		DeletePartialMatch(prometheus.Labels) int
	}{m.EventsProcessed, m.LateEvents, m.FutureEvents, m.UnexpectedFeatures, m.FeatureMissing, m.FeatureInvalid, m.WindowEvents, m.WindowMean,
		m.WindowStdDev, m.ReferenceMean, m.ReferenceStdDev, m.MissingRatio, m.InvalidRatio, m.OutOfRangeRatio, m.PSI,
		m.TestStatistic, m.TestPValue, m.TestEffect, m.TestThreshold, m.TestEffectGate, m.Drifting, m.ModelDriftShare,
		m.ModelDrifting, m.Evaluations, m.AlertsPublished, m.ReferenceInfo, m.SeriesOverflow, m.ModelLastEvent} {
		v.DeletePartialMatch(l)
	}
	delete(m.exported, model+"/"+version)
	delete(m.overflow, model+"/"+version)
}

// ClearModelGauges removes the window, test and drift gauges of a model
// version that went silent (they describe traffic that stopped); counters,
// reference_info and model_last_event_timestamp_seconds stay. The gauges
// come back at the model's next evaluation.
func (m *Metrics) ClearModelGauges(model, version string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l := prometheus.Labels{"model": model, "version": version}
	for _, v := range []*prometheus.GaugeVec{m.WindowEvents, m.WindowMean, m.WindowStdDev, m.ReferenceMean, m.ReferenceStdDev,
		m.MissingRatio, m.InvalidRatio, m.OutOfRangeRatio, m.PSI, m.TestStatistic, m.TestPValue, m.TestEffect,
		m.TestThreshold, m.TestEffectGate, m.Drifting, m.ModelDriftShare, m.ModelDrifting} {
		v.DeletePartialMatch(l)
	}
	// The per-feature handles point at deleted series: forget them (the
	// feature counters they hold are found again by label).
	delete(m.exported, model+"/"+version)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
