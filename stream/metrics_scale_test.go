package stream

import (
	"bytes"
	"flag"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/driftd/driftd/bench/gen"
	"github.com/driftd/driftd/detector"
	"github.com/driftd/driftd/stream/codec"
)

// scrapeStats is one scrape of a registry through the real handler.
type scrapeStats struct {
	series int           // samples in the exposition (histogram buckets count)
	bytes  int           // text exposition bytes
	took   time.Duration // gather and encode
}

func scrape(t testing.TB, reg *prometheus.Registry) scrapeStats {
	t.Helper()
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	rec := httptest.NewRecorder()
	start := time.Now()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	took := time.Since(start)
	body := rec.Body.Bytes()
	n := 0
	for line := range bytes.Lines(body) {
		if len(line) > 0 && line[0] != '#' {
			n++
		}
	}
	return scrapeStats{series: n, bytes: len(body), took: took}
}

// scaleModels builds models references of 90 numeric and 10 categorical
// features plus the prediction (101 features), from gen's rows; models
// with an index divisible by 10 drift in f00 and f01 after the first
// window.
func scaleModels(t testing.TB, models, rows int) ([]gen.Config, *Registry) {
	t.Helper()
	reg := NewRegistry()
	var cfgs []gen.Config
	for i := range models {
		cfg := gen.Defaults()
		cfg.Numeric, cfg.Categorical = 90, 10
		cfg.Model, cfg.Version, cfg.Seed = fmt.Sprintf("model-%03d", i), "1", uint64(i+1)
		cfg.Drifted, cfg.Shift = nil, 0
		if i%10 == 0 {
			cfg.Drifted, cfg.Shift = []string{"f00", "f01"}, 3
		}
		b, err := detector.NewBuilder(cfg.Model, cfg.Version, detector.BuildOptions{Categorical: cfg.CategoricalNames()})
		if err != nil {
			t.Fatal(err)
		}
		dec, err := codec.NewRowDecoder(codec.Flat, 0)
		if err != nil {
			t.Fatal(err)
		}
		g := gen.New(cfg, 1)
		var buf []byte
		for range rows {
			buf = g.AppendRow(buf[:0])
			ev, err := dec.Decode(buf)
			if err != nil {
				t.Fatal(err)
			}
			b.BeginRow()
			for _, fl := range [][]codec.Field{ev.Features, ev.Prediction} {
				for _, f := range fl {
					if err := b.Add(string(f.Name), f.Value); err != nil {
						t.Fatal(err)
					}
				}
			}
			b.EndRow()
		}
		ref, err := b.Reference()
		if err != nil {
			t.Fatal(err)
		}
		reg.Set(ref)
		cfgs = append(cfgs, cfg)
	}
	return cfgs, reg
}

// driveMetrics runs events of every model through a processor (window 200,
// hop 100: three evaluations of every feature) and exports what it
// produces into m, as the service does.
func driveMetrics(t testing.TB, cfgs []gen.Config, registry *Registry, m *Metrics) {
	t.Helper()
	proc, err := NewProcessor(ProcessorConfig{Format: codec.Canonical, Window: detector.WindowConfig{Size: 200, Hop: 100}}, registry)
	if err != nil {
		t.Fatal(err)
	}
	task := proc.Task(TaskID{Topic: "in"})
	gens := make([]*gen.Generator, len(cfgs))
	for i, c := range cfgs {
		gens[i] = gen.New(c, 0)
	}
	var buf []byte
	for ev := range 400 {
		for i := range cfgs {
			buf = gens[i].AppendEvent(buf[:0], int64(ev), ev >= 200)
			if derr := proc.Process(task, buf, int64(ev), int64(ev*len(cfgs)+i)); derr != nil {
				t.Fatal(derr)
			}
			if len(proc.Out.Evaluations) > 0 {
				m.ObserveEvaluations(proc.refs, proc.Out.Evaluations)
			}
			for j := range proc.Out.Alerts {
				m.ObserveAlert(&proc.Out.Alerts[j])
			}
			proc.Out.Reset()
		}
	}
	for _, mon := range task.Monitors() {
		m.ObserveModel(mon.Reference(), mon.Stats(), &detector.ModelStats{})
		m.ReferenceInfo.WithLabelValues(mon.Reference().Model, mon.Reference().Version, mon.Reference().ID).Set(1)
	}
}

// raceEnabled is set under the race detector (race_test.go).
var raceEnabled bool

var metricsScaleAll = flag.Bool("metrics-scale-all", false, "TestMetricsScale: measure the all detail level too (about 400,000 series)")

// TestMetricsScale: 100 models × 101 features (10,100 windows) at the
// summary and drifting detail levels (and all, with -metrics-scale-all);
// the default level stays within 50,000 series and 5 MB per scrape,
// collected in less than a second. The figures are those of BENCHMARKS.md
// ("Metric cardinality"):
//
//	go test ./stream -run TestMetricsScale -v -args -metrics-scale-all
func TestMetricsScale(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 100 references and runs 40,000 events: skipped with -short")
	}
	if raceEnabled {
		t.Skip("a cardinality and scrape-cost measurement: the race detector only slows it down")
	}
	cfgs, registry := scaleModels(t, 100, 1000)
	levels := []MetricsDetail{DetailSummary, DetailDrifting}
	if *metricsScaleAll {
		levels = append(levels, DetailAll)
	}
	for _, detail := range levels {
		reg := prometheus.NewRegistry()
		m := NewMetricsWith(reg, MetricsOptions{Detail: detail})
		driveMetrics(t, cfgs, registry, m)
		best := scrapeStats{took: time.Hour}
		for range 3 {
			s := scrape(t, reg)
			if s.took < best.took {
				best = s
			}
		}
		t.Logf("detail %-8s: %7d series, %10d bytes per scrape, collected in %s", detail, best.series, best.bytes, best.took.Round(time.Millisecond))
		if detail == DetailDrifting {
			if best.series > 50000 || best.bytes > 5<<20 || best.took > time.Second {
				t.Errorf("default detail: %d series, %d bytes, %s; want ≤ 50,000 series, ≤ 5 MiB, ≤ 1 s", best.series, best.bytes, best.took)
			}
			// The drifting features are exported in full.
			for i := 0; i < len(cfgs); i += 10 {
				if got := testutilGauge(t, reg, "driftd_window_mean", map[string]string{"model": cfgs[i].Model, "feature": "f00"}); !got {
					t.Errorf("%s f00 drifts but has no driftd_window_mean series", cfgs[i].Model)
				}
			}
		}
	}
}

// testutilGauge reports whether reg has a series of family name whose
// labels include want.
func testutilGauge(t testing.TB, reg prometheus.Gatherer, name string, want map[string]string) bool {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, mt := range mf.Metric {
			have := map[string]string{}
			for _, lp := range mt.Label {
				have[lp.GetName()] = lp.GetValue()
			}
			for k, v := range want {
				if have[k] != v {
					continue next
				}
			}
			return true
		}
	}
	return false
}
