package main

// End-to-end checks of `driftd bench` through the command (its daemon is
// this binary's); the harness's own tests are in bench/harness.

import (
	"encoding/json"
	"math"
	"testing"
)

// TestBenchKafka runs --kafka against the embedded broker on tiny sizes,
// with the alert-latency scenario on small windows.
func TestBenchKafka(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker")
	}
	code, out, stderr := runCmd(t, "bench", "--kafka", "--events", "5000", "--rounds", "1", "--reference-rows", "2000",
		"--window", "200", "--hop", "25", "--latency-cycles", "3", "--latency-rate", "4000", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	// The fields of the harness's JSON report this test reads.
	type stats struct {
		N   int     `json:"n"`
		P50 float64 `json:"p50_ms"`
	}
	var res struct {
		Events int `json:"events"`
		Rounds []struct {
			RawEventsPerSecond    float64 `json:"raw_events_per_second"`
			DriftdEventsPerSecond float64 `json:"driftd_events_per_second"`
			DriftdCPUSeconds      float64 `json:"driftd_cpu_seconds"`
			DriftdAlertsPublished int64   `json:"driftd_alerts_published"`
		} `json:"rounds"`
		Ratio               float64 `json:"ratio_driftd_over_raw"`
		MedianCPUPerMillion float64 `json:"median_driftd_cpu_seconds_per_million"`
		MaxPeakRSSBytes     int64   `json:"max_driftd_peak_rss_bytes"`
		Latency             *struct {
			Alerts          int   `json:"alerts"`
			Firing          int   `json:"firing"`
			Resolved        int   `json:"resolved"`
			SeenByConsumer  int   `json:"seen_by_alert_consumer"`
			Unmatched       int   `json:"unmatched"`
			NotPaneBoundary int   `json:"not_at_pane_boundary"`
			ConsumedToAck   stats `json:"consumed_to_ack"`
			ConsumedToSeen  stats `json:"consumed_to_seen"`
		} `json:"latency"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(res.Rounds) != 1 || res.Events != 5000 {
		t.Fatalf("%+v", res)
	}
	r := res.Rounds[0]
	for name, v := range map[string]float64{"raw": r.RawEventsPerSecond, "driftd": r.DriftdEventsPerSecond, "ratio": res.Ratio,
		"CPU": r.DriftdCPUSeconds, "CPU per million": res.MedianCPUPerMillion, "peak RSS": float64(res.MaxPeakRSSBytes),
		"alerts published": float64(r.DriftdAlertsPublished)} {
		if !(v > 0) || math.IsInf(v, 0) {
			t.Errorf("%s = %v, want > 0", name, v)
		}
	}
	l := res.Latency
	if l == nil || l.Alerts == 0 || l.ConsumedToAck.N == 0 || !(l.ConsumedToAck.P50 > 0) || l.Unmatched != 0 || l.NotPaneBoundary != 0 {
		t.Fatalf("latency: %+v", l)
	}
	if l.Firing == 0 || l.Resolved == 0 {
		t.Errorf("want both firing and resolved alerts: %+v", l)
	}
	if l.SeenByConsumer != l.Alerts || l.ConsumedToSeen.N == 0 {
		t.Errorf("alert consumer saw %d of %d alerts", l.SeenByConsumer, l.Alerts)
	}
}

// TestBenchUsage: a bench command line without exactly one mode is a
// usage error (exit 2).
func TestBenchUsage(t *testing.T) {
	for _, args := range [][]string{
		{"bench"},
		{"bench", "--inprocess", "--kafka"},
		{"bench", "--peer-result"},
		{"bench", "--inprocess", "--window", "1000", "--hop", "300"},
		{"bench", "--kafka", "--compression", "brotli"},
		{"bench", "--write-dir", "x", "--drifted", "g7"},
	} {
		if code, _, stderr := runCmd(t, args...); code != 2 {
			t.Errorf("%v: exit %d (%s), want 2", args, code, stderr)
		}
	}
}
