package stream

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/driftd/driftd/detector"
	"github.com/driftd/driftd/stream/codec"
)

// Metrics are driftd's Prometheus metrics, registered on a registry the
// caller creates (never the global one). Label sets are small and fixed:
// model, version, feature, test for detection; topic, reason, status for
// I/O.
//
// Per-feature series (the families labelled by feature) are most of the
// series of a daemon with many models, so their number is bounded by a
// detail level (MetricsOptions.Detail): DetailAll exports every feature;
// DetailDrifting (the default of `driftd run`) only the features with a
// firing alert and the TopK features of each model version by effect;
// DetailSummary only per-model-version series plus driftd_drifting for
// firing alerts. Series of a feature that leaves the detail set are
// deleted. A cap on the features exported per model version protects
// Prometheus from wide models; evaluations beyond it are counted in
// driftd_metric_series_overflow_total and not exported. Window mean and
// standard deviation (and the reference's) exist for numeric features
// only.
//
// Families (all prefixed driftd_):
//
//	records_consumed_total{topic}                  records read from input topics
//	decode_retries_total{topic}                    records rewound: their decoder could not reach a schema registry
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
	DecodeRetries     *prometheus.CounterVec
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
	// Segments (DRIFTD_SEGMENT_KEYS): per-segment monitors, events sent
	// to "other" past the cap, firing alerts per segment.
	Segments            *prometheus.GaugeVec
	SegmentOverflow     *prometheus.CounterVec
	SegmentAlertsFiring *prometheus.GaugeVec

	maxFeatures int
	detail      MetricsDetail
	topK        int
	mu          sync.Mutex
	// live maps each model/version with a reference to its reference ID:
	// alerts of another reference (retired: replaced or removed) are
	// published but not exported, or they would re-create the series
	// DeleteModel removed.
	live    map[string]string
	models  map[mvKey]*modelSeries
	touched []*modelSeries // models evaluated in the current batch
	order   []rankedFeature
}

// MetricsDetail is how much per-feature detail the metrics export.
type MetricsDetail string

// Detail levels.
const (
	// DetailSummary exports per-model-version series only, plus
	// driftd_drifting for each firing (feature, test).
	DetailSummary MetricsDetail = "summary"
	// DetailDrifting adds every per-feature series of the features with a
	// firing alert and of the TopK features of each model version by
	// effect.
	DetailDrifting MetricsDetail = "drifting"
	// DetailAll exports every feature (up to MaxFeatures per model
	// version).
	DetailAll MetricsDetail = "all"
)

// MetricsDetails lists the detail levels.
var MetricsDetails = []MetricsDetail{DetailSummary, DetailDrifting, DetailAll}

// MetricsOptions configure NewMetricsWith.
type MetricsOptions struct {
	Detail MetricsDetail // "" → DetailDrifting
	// TopK is, at DetailDrifting, how many features of each model
	// version are exported besides the firing ones, ranked by their
	// largest test effect. A feature enters the set at rank < TopK and
	// leaves it at rank ≥ 2·TopK, so a feature near the boundary does not
	// make its series come and go at every evaluation. ≤ 0: 3.
	TopK int
	// MaxFeatures caps the features exported per model version (≤ 0:
	// 500).
	MaxFeatures int
}

// mvKey identifies a model version without building a string per event.
type mvKey struct{ model, version string }

// modelSeries is the exported state of one model version.
type modelSeries struct {
	model, version string
	features       map[string]*featureGauges // features whose per-feature series exist
	rank           map[string]*featureRank   // detail levels below all: every evaluated feature
	firingOnly     map[ftKey]prometheus.Gauge
	evaluations    prometheus.Counter
	overflow       prometheus.Counter
	dirty          bool
}

type ftKey struct {
	feature string
	test    detector.Test
}

// featureRank is what the detail set is chosen by.
type featureRank struct {
	score  float64 // largest test effect at the last evaluation
	firing bool    // some test of the feature is firing
	member bool    // in the detail set
}

type rankedFeature struct {
	name string
	r    *featureRank
}

type featureGauges struct {
	events, mean, sd, refMean, refSD, missing, invalid, oor, psi prometheus.Gauge
	missingTotal, invalidTotal                                   prometheus.Counter
	tests                                                        map[detector.Test]*testGauges
}

type testGauges struct{ stat, p, effect, threshold, gate, drifting prometheus.Gauge }

const ns = "driftd"

// NewMetrics creates the metrics at DetailAll and registers them on reg.
// maxFeatures caps the features exported per model version (≤ 0: 500).
func NewMetrics(reg prometheus.Registerer, maxFeatures int) *Metrics {
	return NewMetricsWith(reg, MetricsOptions{Detail: DetailAll, MaxFeatures: maxFeatures})
}

// ParseMetricsDetail checks a detail level's name.
func ParseMetricsDetail(s string) (MetricsDetail, error) {
	for _, d := range MetricsDetails {
		if string(d) == s {
			return d, nil
		}
	}
	return "", fmt.Errorf("is %q; accepted: summary, drifting, all", s)
}

// NewMetricsWith creates the metrics and registers them on reg.
func NewMetricsWith(reg prometheus.Registerer, o MetricsOptions) *Metrics {
	maxFeatures := o.MaxFeatures
	if maxFeatures <= 0 {
		maxFeatures = 500
	}
	if o.Detail == "" {
		o.Detail = DetailDrifting
	}
	if o.TopK <= 0 {
		o.TopK = 3
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
		DecodeRetries:     counter("decode_retries_total", "Records fetched again because their decoder could not reach a dependency (a schema registry); backpressure, not dead letters.", "topic"),
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
		TestStatistic:      gauge("test_statistic", "Test statistic at the last evaluation (KS D, mean-shift z, chi-square, ratio).", mvft...),
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
			Help: "Time the pipeline was blocked by checkpoints: encoding one (it is then written in the background); on revocation and shutdown, writing it and committing its offsets.", Buckets: prometheus.ExponentialBuckets(1e-3, 3, 10)}),
		CheckpointBytes:     prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "checkpoint_bytes_total", Help: "Bytes of checkpoint records written."}),
		Commits:             prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "commits_total", Help: "Offset commits."}),
		CommitErrors:        prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "commit_errors_total", Help: "Offset commits that failed."}),
		AssignedParts:       prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "assigned_partitions", Help: "Input partitions assigned to this replica."}),
		WindowMemory:        prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "window_memory_bytes", Help: "Memory held by feature windows."}),
		SeriesOverflow:      counter("metric_series_overflow_total", "Evaluations not exported because the model has more features than the metrics cap.", mv...),
		Segments:            gauge("segments", "Segments with their own windows (\"other\" included), per model version.", mv...),
		SegmentOverflow:     counter("segment_overflow_events_total", "Events sent to the segment \"other\" because the model version had DRIFTD_SEGMENT_MAX segments.", mv...),
		SegmentAlertsFiring: gauge("segment_alerts_firing", "Firing alerts of a segment's windows.", "model", "version", "segment"),
		maxFeatures:         maxFeatures,
		detail:              o.Detail,
		topK:                o.TopK,
		models:              map[mvKey]*modelSeries{},
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
		m.DecodeRetries.WithLabelValues(t)
	}
	for _, r := range codec.Reasons {
		m.RecordsDLQ.WithLabelValues(dlq, string(r))
	}
}

// Detail is the metrics' detail level.
func (m *Metrics) Detail() MetricsDetail { return m.detail }

// model returns the exported state of a model version, created on first
// use.
func (m *Metrics) model(model, version string) *modelSeries {
	k := mvKey{model, version}
	ms := m.models[k]
	if ms == nil {
		ms = &modelSeries{model: model, version: version, features: map[string]*featureGauges{},
			evaluations: m.Evaluations.WithLabelValues(model, version)}
		if m.detail != DetailAll {
			ms.rank = map[string]*featureRank{}
			ms.firingOnly = map[ftKey]prometheus.Gauge{}
		}
		m.models[k] = ms
	}
	return ms
}

// gauges returns the per-feature series of a feature, creating them (nil
// past the cap).
func (m *Metrics) gauges(ms *modelSeries, feature string) *featureGauges {
	if g := ms.features[feature]; g != nil {
		return g
	}
	if len(ms.features) >= m.maxFeatures {
		return nil
	}
	l := prometheus.Labels{"model": ms.model, "version": ms.version, "feature": feature}
	g := &featureGauges{
		events:  m.WindowEvents.With(l),
		missing: m.MissingRatio.With(l), invalid: m.InvalidRatio.With(l),
		missingTotal: m.FeatureMissing.With(l), invalidTotal: m.FeatureInvalid.With(l),
		tests: map[detector.Test]*testGauges{},
	}
	ms.features[feature] = g
	return g
}

// deleteFeature removes every per-feature series of a feature.
func (m *Metrics) deleteFeature(ms *modelSeries, feature string) {
	g := ms.features[feature]
	if g == nil {
		return
	}
	for _, v := range []*prometheus.GaugeVec{m.WindowEvents, m.WindowMean, m.WindowStdDev, m.ReferenceMean, m.ReferenceStdDev,
		m.MissingRatio, m.InvalidRatio, m.OutOfRangeRatio, m.PSI} {
		v.DeleteLabelValues(ms.model, ms.version, feature)
	}
	m.FeatureMissing.DeleteLabelValues(ms.model, ms.version, feature)
	m.FeatureInvalid.DeleteLabelValues(ms.model, ms.version, feature)
	for t := range g.tests {
		for _, v := range []*prometheus.GaugeVec{m.TestStatistic, m.TestPValue, m.TestEffect, m.TestThreshold, m.TestEffectGate, m.Drifting} {
			v.DeleteLabelValues(ms.model, ms.version, feature, string(t))
		}
	}
	delete(ms.features, feature)
}

func (g *featureGauges) test(m *Metrics, ms *modelSeries, feature string, t detector.Test) *testGauges {
	if tg := g.tests[t]; tg != nil {
		return tg
	}
	l := prometheus.Labels{"model": ms.model, "version": ms.version, "feature": feature, "test": string(t)}
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
	if m.detail != DetailAll {
		// Rank first, so a feature that enters the detail set in this
		// batch is exported from this evaluation on.
		for i := range evals {
			e := &evals[i]
			ms := m.model(e.Model, e.Version)
			r := ms.rank[e.Feature]
			if r == nil {
				r = &featureRank{}
				ms.rank[e.Feature] = r
			}
			r.score, r.firing = math.Inf(-1), false
			for _, res := range e.Results {
				if !math.IsNaN(res.Effect) && res.Effect > r.score {
					r.score = res.Effect
				}
				r.firing = r.firing || res.Firing
			}
			if !ms.dirty {
				ms.dirty = true
				m.touched = append(m.touched, ms)
			}
		}
		for _, ms := range m.touched {
			m.reselect(ms)
			ms.dirty = false
		}
		clear(m.touched)
		m.touched = m.touched[:0]
	}
	var last *modelSeries
	for i := range evals {
		e := &evals[i]
		ms := last
		if ms == nil || ms.model != e.Model || ms.version != e.Version {
			ms = m.model(e.Model, e.Version)
			last = ms
		}
		ms.evaluations.Inc()
		var g *featureGauges
		if m.detail == DetailAll || ms.rank[e.Feature].member {
			g = m.gauges(ms, e.Feature)
		}
		if g == nil {
			if m.detail == DetailAll {
				m.overflowed(ms)
			} else {
				m.firingOnly(ms, e.Feature, e.Results)
			}
			continue
		}
		m.export(refs, ms, g, e)
	}
}

func (m *Metrics) overflowed(ms *modelSeries) {
	if ms.overflow == nil {
		ms.overflow = m.SeriesOverflow.WithLabelValues(ms.model, ms.version)
	}
	ms.overflow.Inc()
}

// firingOnly keeps driftd_drifting of a feature outside the detail set:
// a series with value 1 while the (feature, test) fires, none otherwise.
func (m *Metrics) firingOnly(ms *modelSeries, feature string, results []detector.Result) {
	for _, r := range results {
		m.setFiringOnly(ms, feature, r.Test, r.Firing)
	}
}

func (m *Metrics) setFiringOnly(ms *modelSeries, feature string, t detector.Test, firing bool) {
	k := ftKey{feature, t}
	g := ms.firingOnly[k]
	switch {
	case firing && g == nil:
		g = m.Drifting.WithLabelValues(ms.model, ms.version, feature, string(t))
		g.Set(1)
		ms.firingOnly[k] = g
	case !firing && g != nil:
		m.Drifting.DeleteLabelValues(ms.model, ms.version, feature, string(t))
		delete(ms.firingOnly, k)
	}
}

// reselect recomputes a model version's detail set from its features'
// ranks and deletes the series of the features that left it.
func (m *Metrics) reselect(ms *modelSeries) {
	if m.detail == DetailSummary {
		return
	}
	m.order = m.order[:0]
	for name, r := range ms.rank {
		m.order = append(m.order, rankedFeature{name, r})
	}
	slices.SortFunc(m.order, func(a, b rankedFeature) int {
		if c := cmp.Compare(b.r.score, a.r.score); c != 0 {
			return c
		}
		return cmp.Compare(a.name, b.name)
	})
	members := 0
	for i, f := range m.order {
		want := f.r.firing || i < m.topK || (f.r.member && i < 2*m.topK)
		if want && members >= m.maxFeatures {
			want = false
			if f.r.firing {
				m.overflowed(ms)
			}
		}
		if want {
			members++
			if !f.r.member {
				// Its full series replace the firing-only ones.
				for k := range ms.firingOnly {
					if k.feature == f.name {
						delete(ms.firingOnly, k)
					}
				}
			}
		} else if f.r.member {
			m.deleteFeature(ms, f.name)
		}
		f.r.member = want
	}
	clear(m.order)
}

// export sets the per-feature series of one evaluation.
func (m *Metrics) export(refs map[string]*detector.Reference, ms *modelSeries, g *featureGauges, e *detector.Evaluation) {
	n := float64(e.Window.N)
	g.events.Set(n)
	if n > 0 {
		g.missing.Set(float64(e.Window.Missing) / n)
		g.invalid.Set(float64(e.Window.Invalid) / n)
	}
	if e.Kind == detector.Numeric {
		// Moments only for numeric features: a categorical feature has
		// none (a constant 0 would draw as a flat line).
		if g.mean == nil {
			g.mean = m.WindowMean.WithLabelValues(ms.model, ms.version, e.Feature)
			g.sd = m.WindowStdDev.WithLabelValues(ms.model, ms.version, e.Feature)
		}
		g.mean.Set(e.Mean)
		g.sd.Set(e.StdDev)
		// A model version's reference does not change (a new one
		// deletes the version's series), so its moments are set once.
		if g.refMean == nil {
			if ref := refs[e.Model+"/"+e.Version]; ref != nil {
				if f := ref.Feature(e.Feature); f != nil {
					g.refMean = m.ReferenceMean.WithLabelValues(ms.model, ms.version, e.Feature)
					g.refSD = m.ReferenceStdDev.WithLabelValues(ms.model, ms.version, e.Feature)
					g.refMean.Set(f.Mean)
					g.refSD.Set(f.StdDev())
				}
			}
		}
	}
	for _, r := range e.Results {
		tg := g.test(m, ms, e.Feature, r.Test)
		tg.stat.Set(r.Statistic)
		tg.p.Set(r.PValue)
		tg.effect.Set(r.Effect)
		tg.threshold.Set(r.Threshold)
		tg.gate.Set(r.EffectThreshold)
		tg.drifting.Set(b2f(r.Firing))
		switch r.Test {
		case detector.TestOutOfRange:
			if g.oor == nil {
				g.oor = m.OutOfRangeRatio.WithLabelValues(ms.model, ms.version, e.Feature)
			}
			g.oor.Set(r.Statistic)
		case detector.TestChi2:
			if g.psi == nil {
				g.psi = m.PSI.WithLabelValues(ms.model, ms.version, e.Feature)
			}
			g.psi.Set(r.PSI)
		}
	}
}

// SetReferences records the references in use (model/version → ID).
func (m *Metrics) SetReferences(refs map[string]*detector.Reference) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.live = make(map[string]string, len(refs))
	for key, ref := range refs {
		m.live[key] = ref.ID
	}
}

// ObserveAlert marks a published alert. Alerts of a reference no longer
// in use (resolved by its replacement or removal) change no series.
func (m *Metrics) ObserveAlert(a *detector.Alert) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if id, ok := m.live[a.Model+"/"+a.Version]; m.live != nil && (!ok || id != a.ReferenceID) {
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
	if a.Segment != "" {
		return // segment alerts are counted in SegmentAlertsFiring
	}
	if a.Test == detector.TestDataset {
		m.ModelDrifting.WithLabelValues(a.Model, a.Version).Set(v)
		return
	}
	ms := m.model(a.Model, a.Version)
	if m.detail == DetailAll {
		if g := m.gauges(ms, a.Feature); g != nil {
			g.test(m, ms, a.Feature, a.Test).drifting.Set(v)
		}
		return
	}
	if g := ms.features[a.Feature]; g != nil {
		g.test(m, ms, a.Feature, a.Test).drifting.Set(v)
		return
	}
	m.setFiringOnly(ms, a.Feature, a.Test, v == 1)
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
	if s.SegmentFiring != nil {
		m.Segments.WithLabelValues(model, version).Set(float64(s.Segments))
		m.SegmentOverflow.WithLabelValues(model, version).Add(float64(s.SegmentOverflow - min(prev.SegmentOverflow, s.SegmentOverflow)))
		for seg, n := range s.SegmentFiring {
			m.SegmentAlertsFiring.WithLabelValues(model, version, seg).Set(float64(n))
		}
	}
	ms := m.model(model, version)
	for i, f := range s.Features {
		var g *featureGauges
		if m.detail == DetailAll {
			g = m.gauges(ms, f.Name)
		} else {
			g = ms.features[f.Name]
		}
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
		m.ModelDrifting, m.Evaluations, m.AlertsPublished, m.ReferenceInfo, m.SeriesOverflow, m.ModelLastEvent,
		m.Segments, m.SegmentOverflow, m.SegmentAlertsFiring} {
		v.DeletePartialMatch(l)
	}
	delete(m.models, mvKey{model, version})
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
	// counters they hold are found again by label).
	delete(m.models, mvKey{model, version})
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
