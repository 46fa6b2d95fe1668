package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// replayFixture writes a reference of one N(0, 1) feature and n events of
// it (timestamps 2 ms apart, event extra added at line futureAt when > 0).
func replayFixture(t *testing.T, n, futureAt int) (ref, events string) {
	t.Helper()
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(4, 4))
	var csv strings.Builder
	csv.WriteString("x\n")
	for range 5000 {
		fmt.Fprintf(&csv, "%.4f\n", rng.NormFloat64())
	}
	train := filepath.Join(dir, "train.csv")
	os.WriteFile(train, []byte(csv.String()), 0o644)
	ref = filepath.Join(dir, "ref.json")
	if code, _, stderr := runCmd(t, "reference", "build", "--input", train, "--model", "m", "--out", ref); code != 0 {
		t.Fatalf("build: %d %s", code, stderr)
	}
	var ev strings.Builder
	for i := range n {
		ts := int64(1_700_000_000_000 + 2*i)
		if futureAt > 0 && i == futureAt {
			ts += 86_400_000
		}
		fmt.Fprintf(&ev, `{"model":"m","model_version":"","timestamp":%d,"features":{"x":%.4f}}`+"\n", ts, rng.NormFloat64())
	}
	events = filepath.Join(dir, "events.jsonl")
	os.WriteFile(events, []byte(ev.String()), 0o644)
	return ref, events
}

// TestReplaySmallWindows: a window smaller than min_events is refused
// naming both (it used to run zero evaluations and exit 0); a size that 8
// does not divide gets a hop chosen for it (it used to be refused).
func TestReplaySmallWindows(t *testing.T) {
	ref, events := replayFixture(t, 600, 0)
	code, _, stderr := runCmd(t, "replay", "--reference", ref, "--input", events, "--window-size", "50", "--hop", "5")
	if code != 2 || !strings.Contains(stderr, "min_events 100") || !strings.Contains(stderr, "window size 50") {
		t.Fatalf("window 50 < min_events 100: exit %d, %s", code, stderr)
	}
	code, out, stderr := runCmd(t, "replay", "--reference", ref, "--input", events, "--window-size", "50", "--min-events", "50")
	if code != 0 {
		t.Fatalf("window 50, min-events 50, default hop: exit %d, %s", code, stderr)
	}
	// 600 events, hop 5, first evaluation at 50 events: 111 evaluations
	// of one feature.
	if !strings.Contains(stderr, " 111 evaluations") || !strings.Contains(out, `"type":"evaluation"`) {
		t.Fatalf("evaluations: %s", stderr)
	}
}

// TestReplayFutureSummary: replay's summary counts late, future and
// dropped events; one event a day ahead is future, the rest on time.
func TestReplayFutureSummary(t *testing.T) {
	ref, events := replayFixture(t, 3000, 1000)
	code, _, stderr := runCmd(t, "replay", "--reference", ref, "--input", events, "--window-time", "1s", "--hop-time", "125ms")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "event time: 0 late, 1 future, 1 events dropped") {
		t.Fatalf("summary: %s", stderr)
	}
}

// TestConfigSmallWindow: DRIFTD_WINDOW_SIZE below DRIFTD_MIN_EVENTS is a
// configuration error naming both; a size that 8 does not divide is
// accepted with its chosen hop.
func TestConfigSmallWindow(t *testing.T) {
	_, err := loadConfig([]string{"DRIFTD_WINDOW_SIZE=50"})
	if err == nil || !strings.Contains(err.Error(), "DRIFTD_MIN_EVENTS") || !strings.Contains(err.Error(), "DRIFTD_WINDOW_SIZE") {
		t.Fatalf("size 50: %v", err)
	}
	cfg, err := loadConfig([]string{"DRIFTD_WINDOW_SIZE=100"})
	if err != nil || cfg.Window.Hop != 10 {
		t.Fatalf("size 100: hop %d, %v", cfg.Window.Hop, err)
	}
}

// TestReferenceBuildLeavesOutColumn: a column of 1e200-scale values is
// named, left out, the others are written, and the exit status is 1.
func TestReferenceBuildLeavesOutColumn(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(5, 5))
	var csv strings.Builder
	csv.WriteString("age,huge\n")
	for range 1000 {
		fmt.Fprintf(&csv, "%.2f,%g\n", 40+10*rng.NormFloat64(), 1e200*rng.NormFloat64())
	}
	train := filepath.Join(dir, "train.csv")
	os.WriteFile(train, []byte(csv.String()), 0o644)
	out := filepath.Join(dir, "ref.json")
	code, _, stderr := runCmd(t, "reference", "build", "--input", train, "--model", "m", "--out", out)
	if code != 1 || !strings.Contains(stderr, `column "huge" left out`) || !strings.Contains(stderr, `1 column(s) left out of the reference: "huge"`) {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	code, show, _ := runCmd(t, "reference", "show", "--reference", out)
	if code != 0 || !strings.Contains(show, "age") || strings.Contains(show, "huge") {
		t.Fatalf("show: %d %s", code, show)
	}
}

// TestReplayOverflow: events of order 1e200 on an N(0, 1) feature used to
// stop replay with "json: unsupported value: NaN" (exit 1, output cut).
// Now every line is JSON, mean_shift is undefined with its reason while the
// value is in the window, and the summary counts the undefined results.
func TestReplayOverflow(t *testing.T) {
	ref, _ := replayFixture(t, 10, 0)
	rng := rand.New(rand.NewPCG(6, 6))
	var ev strings.Builder
	for i := range 2000 {
		x := rng.NormFloat64()
		if i == 700 {
			x = 1e200
		}
		fmt.Fprintf(&ev, `{"model":"m","model_version":"","features":{"x":%g}}`+"\n", x)
	}
	events := filepath.Join(t.TempDir(), "events.jsonl")
	os.WriteFile(events, []byte(ev.String()), 0o644)
	for _, quiet := range []bool{false, true} {
		args := []string{"replay", "--reference", ref, "--input", events}
		if quiet {
			args = append(args, "--alerts-only")
		}
		code, out, stderr := runCmd(t, args...)
		if code != 0 || strings.Contains(stderr, "NaN") || !strings.Contains(stderr, "test results undefined") || !strings.Contains(stderr, "overflow") {
			t.Fatalf("alerts-only=%v: exit %d: %s", quiet, code, stderr)
		}
		undefined := 0
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if line == "" {
				continue
			}
			var v map[string]any
			if err := json.Unmarshal([]byte(line), &v); err != nil {
				t.Fatalf("line %q: %v", line, err)
			}
			if v["undefined"] != nil {
				undefined++
			}
		}
		if !quiet && undefined == 0 {
			t.Fatal("no undefined result in the evaluation lines")
		}
	}
}
