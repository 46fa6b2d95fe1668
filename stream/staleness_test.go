package stream

import (
	"encoding/json"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/driftd/driftd/detector"
)

// seriesOfModel counts, per metric family, the series labelled with the
// model version.
func seriesOfModel(t *testing.T, reg *prometheus.Registry, model, version string) map[string]int {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var gotModel, gotVersion bool
			for _, l := range m.GetLabel() {
				gotModel = gotModel || (l.GetName() == "model" && l.GetValue() == model)
				gotVersion = gotVersion || (l.GetName() == "version" && l.GetValue() == version)
			}
			if gotModel && gotVersion {
				out[mf.GetName()]++
			}
		}
	}
	return out
}

func familyNames(m map[string]int) []string {
	var names []string
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// TestServiceStaleModel: a model version that goes silent for
// DRIFTD_STALE_AFTER has its firing alerts resolved with reason "stale" and
// its gauges cleared (driftd_model_last_event_timestamp_seconds stays);
// when events come back, so do the gauges. Before, its alerts stayed
// firing and its gauges frozen for ever.
func TestServiceStaleModel(t *testing.T) {
	k := newTestKafka(t)
	cfg := k.config()
	cfg.StaleAfter = 3 * time.Second
	k.createInput(1)
	k.ensureTopics(cfg)
	cl := k.client()
	if err := PublishReference(t.Context(), cl, cfg.ReferenceTopic, churnReference(t)); err != nil {
		t.Fatal(err)
	}
	svc, reg, stop := runService(t, cfg, NewRegistry(), detector.DefaultWindow())
	rng := rand.New(rand.NewPCG(9, 9))
	var values [][]byte
	for i := range 1500 {
		values = append(values, churnEvent(rng, 1).json(i)) // skewed: fires
	}
	k.produce(cl, values...)
	waitProcessed(t, svc, 1500, 60*time.Second)
	waitCond(t, 20*time.Second, "drifting gauges while events flow", func() bool {
		return counterValue(t, reg, "driftd_drifting") > 0
	})
	waitCond(t, 10*time.Second, "driftd_model_last_event_timestamp_seconds for churn/3", func() bool {
		return seriesOfModel(t, reg, "churn", "3")["driftd_model_last_event_timestamp_seconds"] == 1
	})
	// Silence: after 3 s the alerts resolve as stale and the gauges go.
	gauges := []string{"driftd_drifting", "driftd_window_events", "driftd_test_p_value", "driftd_reference_mean", "driftd_model_drift_share"}
	waitCond(t, 30*time.Second, "gauges cleared after the silence", func() bool {
		s := seriesOfModel(t, reg, "churn", "3")
		for _, g := range gauges {
			if s[g] > 0 {
				return false
			}
		}
		return true
	})
	after := seriesOfModel(t, reg, "churn", "3")
	for _, keep := range []string{"driftd_model_last_event_timestamp_seconds", "driftd_events_processed_total", "driftd_reference_info"} {
		if after[keep] == 0 {
			t.Errorf("%s was removed with the gauges (left: %v)", keep, familyNames(after))
		}
	}
	// Events again: gauges return.
	values = values[:0]
	for i := range 500 {
		values = append(values, churnEvent(rng, 0).json(2000+i))
	}
	k.produce(cl, values...)
	waitProcessed(t, svc, 2000, 60*time.Second)
	waitCond(t, 20*time.Second, "gauges back with events", func() bool {
		return seriesOfModel(t, reg, "churn", "3")["driftd_window_events"] > 0
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	firing := map[string]bool{}
	staleResolved := 0
	for _, r := range k.readAll(cfg.AlertTopic) {
		var a detector.Alert
		if err := json.Unmarshal(r.Value, &a); err != nil {
			t.Fatal(err)
		}
		key := a.Feature + "/" + string(a.Test)
		switch {
		case a.Status == detector.Firing:
			firing[key] = true
		case a.Status == detector.Resolved && a.Reason == detector.ReasonStale:
			if !firing[key] {
				t.Errorf("stale resolution of %s, which was not firing", key)
			}
			delete(firing, key)
			staleResolved++
		case a.Status == detector.Resolved:
			delete(firing, key)
		}
	}
	if staleResolved == 0 {
		t.Fatal("no alert resolved with reason stale")
	}
	t.Logf("%d alerts resolved as stale", staleResolved)
}

// TestServiceReferenceTombstoneSeries: a reference tombstone deletes every
// series of the model version; the test enumerates the whole registry.
// Before, the alerts its removal resolved re-created 46 series
// (drifting, reference_mean, window_events, alerts_published_total, …)
// after the deletion, which then stayed for ever.
func TestServiceReferenceTombstoneSeries(t *testing.T) {
	for _, eos := range []bool{false, true} {
		t.Run(map[bool]string{false: "at_least_once", true: "exactly_once"}[eos], func(t *testing.T) {
			k := newTestKafka(t)
			cfg := k.config()
			cfg.ExactlyOnce = eos
			k.createInput(1)
			k.ensureTopics(cfg)
			cl := k.client()
			if err := PublishReference(t.Context(), cl, cfg.ReferenceTopic, churnReference(t)); err != nil {
				t.Fatal(err)
			}
			registry := NewRegistry()
			svc, reg, stop := runService(t, cfg, registry, detector.DefaultWindow())
			rng := rand.New(rand.NewPCG(11, 11))
			var values [][]byte
			for i := range 1500 {
				values = append(values, churnEvent(rng, 1).json(i))
			}
			k.produce(cl, values...)
			waitProcessed(t, svc, 1500, 60*time.Second)
			waitCond(t, 30*time.Second, "alerts published", func() bool {
				return counterValue(t, reg, "driftd_alerts_published_total") > 0
			})
			if err := cl.ProduceSync(t.Context(), &kgo.Record{Topic: cfg.ReferenceTopic, Key: []byte("churn/3")}).FirstErr(); err != nil {
				t.Fatal(err)
			}
			waitCond(t, 20*time.Second, "reference removed", func() bool { return registry.Len() == 0 })
			// More events of the removed model: counted without a reference.
			values = values[:0]
			for i := range 200 {
				values = append(values, churnEvent(rng, 1).json(2000+i))
			}
			k.produce(cl, values...)
			waitProcessed(t, svc, 1700, 60*time.Second)
			time.Sleep(1500 * time.Millisecond) // a stats pass and a checkpoint interval
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			if left := seriesOfModel(t, reg, "churn", "3"); len(left) > 0 {
				t.Fatalf("series of churn/3 left after its tombstone: %v", left)
			}
			// The resolutions were published all the same.
			resolved := 0
			for _, r := range k.readAll(cfg.AlertTopic) {
				var a detector.Alert
				json.Unmarshal(r.Value, &a)
				if a.Status == detector.Resolved {
					resolved++
				}
			}
			if resolved == 0 {
				t.Error("no alert resolved by the tombstone")
			}
		})
	}
}
