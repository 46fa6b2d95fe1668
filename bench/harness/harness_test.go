package harness

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/driftd/driftd/bench/gen"
	"github.com/driftd/driftd/detector"
	"github.com/driftd/driftd/stream"
	"github.com/driftd/driftd/stream/codec"
)

// testEnv runs the modes that need no daemon (--write-dir, --peer-result,
// --inprocess); the --kafka mode is tested through cmd/driftd.
func testEnv() Env {
	return Env{Version: "test", ReferenceFromFile: testReferenceFromFile}
}

// testReferenceFromFile builds a reference from flat JSON rows.
func testReferenceFromFile(_ context.Context, path, model, ver string, categorical []string, _ io.Writer) (*detector.Reference, error) {
	b, err := detector.NewBuilder(model, ver, detector.BuildOptions{Categorical: categorical})
	if err != nil {
		return nil, err
	}
	dec, err := codec.NewRowDecoder(codec.Flat, 0)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	for line := range bytes.Lines(data) {
		ev, err := dec.Decode(bytes.TrimSuffix(line, []byte("\n")))
		if err != nil {
			return nil, err
		}
		b.BeginRow()
		for _, fl := range [][]codec.Field{ev.Features, ev.Prediction} {
			for _, f := range fl {
				if err := b.Add(string(f.Name), f.Value); err != nil {
					return nil, err
				}
			}
		}
		b.EndRow()
	}
	return b.Reference()
}

// runCmd runs `driftd bench` (args[0] is "bench") and returns the exit
// code driftd would give: 0, 1, or 2 for a usage error.
func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	err := Run(context.Background(), testEnv(), args[1:], &out, &errb)
	var ue *UsageError
	switch {
	case err == nil:
	case errors.As(err, &ue):
		code = 2
	default:
		code = 1
	}
	if err != nil {
		errb.WriteString(err.Error())
	}
	return code, out.String(), errb.String()
}

// TestBenchWriteDir checks the directory format bench/peers reads
// (common.py Bench, gen_stream.py): meta.json's fields, flat reference
// rows, canonical events, and the drift after the change point.
func TestBenchWriteDir(t *testing.T) {
	dir := t.TempDir()
	code, out, stderr := runCmd(t, "bench", "--write-dir", dir, "--events", "6000", "--change-point", "4000",
		"--reference-rows", "3000", "--numeric", "12", "--categorical", "3", "--drifted", "f00,f03", "--shift", "1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(out, "stream.jsonl") {
		t.Fatalf("summary: %s", out)
	}
	var meta map[string]any
	data, err := os.ReadFile(filepath.Join(dir, "meta.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &meta); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"events", "change_point", "numeric_features", "categorical_features", "drifted_features", "drift", "window", "hop", "seed"} {
		if _, ok := meta[k]; !ok {
			t.Errorf("meta.json has no %q", k)
		}
	}
	if meta["events"].(float64) != 6000 || meta["change_point"].(float64) != 4000 || meta["window"].(float64) != 1000 || meta["hop"].(float64) != 125 {
		t.Errorf("meta.json: %v", meta)
	}
	if got := meta["numeric_features"].([]any); len(got) != 12 || got[0] != "f00" || got[11] != "f11" {
		t.Errorf("numeric_features %v", got)
	}
	if got := meta["categorical_features"].([]any); len(got) != 3 || got[2] != "c02" {
		t.Errorf("categorical_features %v", got)
	}
	if got := meta["drifted_features"].([]any); len(got) != 2 || got[1] != "f03" {
		t.Errorf("drifted_features %v", got)
	}

	rows := readJSONLines(t, filepath.Join(dir, "reference.jsonl"))
	if len(rows) != 3000 {
		t.Fatalf("%d reference rows", len(rows))
	}
	for _, k := range []string{"f00", "f11", "c00", "c02", "prediction"} {
		if _, ok := rows[0][k]; !ok {
			t.Errorf("reference row has no %q: %v", k, rows[0])
		}
	}
	if _, ok := rows[0]["c00"].(string); !ok {
		t.Errorf("c00 is not a string: %v", rows[0]["c00"])
	}
	events := readJSONLines(t, filepath.Join(dir, "stream.jsonl"))
	if len(events) != 6000 {
		t.Fatalf("%d events", len(events))
	}
	for _, k := range []string{"model", "model_version", "timestamp", "request_id", "features", "prediction"} {
		if _, ok := events[0][k]; !ok {
			t.Errorf("event has no %q: %v", k, events[0])
		}
	}
	// Mean of f00 (drifted by 1 sd), f01 (not drifted) before and after.
	mean := func(from, to int, f string) float64 {
		var s float64
		for _, e := range events[from:to] {
			s += e["features"].(map[string]any)[f].(float64)
		}
		return s / float64(to-from)
	}
	if d := mean(4000, 6000, "f00") - mean(0, 4000, "f00"); math.Abs(d-1) > 0.15 {
		t.Errorf("f00 shifted by %.3f, want 1", d)
	}
	if d := mean(4000, 6000, "f01") - mean(0, 4000, "f01"); math.Abs(d) > 0.15 {
		t.Errorf("f01 shifted by %.3f, want 0", d)
	}
	// The same events as in memory (gen.Generate), byte for byte.
	raw, _ := os.ReadFile(filepath.Join(dir, "stream.jsonl"))
	cfg := gen.Defaults()
	cfg.Numeric, cfg.Categorical, cfg.Drifted, cfg.Shift = 12, 3, []string{"f00", "f03"}, 1
	evs := gen.Generate(cfg, 6000, 4000)
	lines := bytes.Split(bytes.TrimSuffix(raw, []byte("\n")), []byte("\n"))
	if len(lines) != evs.Len() {
		t.Fatalf("stream.jsonl has %d lines, gen.Generate %d events", len(lines), evs.Len())
	}
	for i, l := range lines {
		if !bytes.Equal(l, evs.At(i)) {
			t.Fatalf("stream.jsonl line %d differs from gen.Generate:\n%s\n%s", i+1, l, evs.At(i))
		}
	}
}

func readJSONLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("%s line %d: %v", path, len(out)+1, err)
		}
		out = append(out, m)
	}
	return out
}

// TestBenchPeerResult runs --peer-result on a small directory: the result
// has bench/peers' fields, positive measurements, no false alarm and a
// detection of the drifted feature within two windows.
func TestBenchPeerResult(t *testing.T) {
	dir := t.TempDir()
	if code, _, stderr := runCmd(t, "bench", "--write-dir", dir, "--events", "5000", "--reference-rows", "5000"); code != 0 {
		t.Fatalf("write-dir exit %d: %s", code, stderr)
	}
	code, out, stderr := runCmd(t, "bench", "--peer-result", "--dir", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var res map[string]any
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for _, k := range []string{"name", "version", "values", "cpu_seconds", "values_per_cpu_second", "detection_delay_events",
		"false_alarms_stable", "setup_seconds", "notes", "cpu_seconds_detect_only", "events_processed"} {
		if _, ok := res[k]; !ok {
			t.Errorf("no %q in %s", k, out)
		}
	}
	positive := []string{"values", "cpu_seconds", "values_per_cpu_second", "setup_seconds", "cpu_seconds_detect_only", "values_per_cpu_second_detect_only"}
	for _, k := range positive {
		if v, _ := res[k].(float64); !(v > 0) {
			t.Errorf("%s = %v, want > 0", k, res[k])
		}
	}
	if res["values"].(float64) != 5000*26 {
		t.Errorf("values %v, want 5000 × 26", res["values"])
	}
	if res["false_alarms_stable"].(float64) != 0 {
		t.Errorf("false alarms: %v", res["false_alarms_stable"])
	}
	if d, ok := res["detection_delay_drifted_feature_events"].(float64); !ok || d < 0 || d > 2000 {
		t.Errorf("delay on the drifted feature: %v", res["detection_delay_drifted_feature_events"])
	}
	if res["detect_only_same_alarms"] != true {
		t.Errorf("the pre-decoded run raised different alerts")
	}
}

// TestBenchInProcess runs --inprocess on tiny sizes.
func TestBenchInProcess(t *testing.T) {
	code, out, stderr := runCmd(t, "bench", "--inprocess", "--events", "5000", "--rounds", "1", "--reference-rows", "2000", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var res inprocResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(res.Rounds) != 1 || res.Events != 5000 {
		t.Fatalf("%+v", res)
	}
	for name, v := range map[string]float64{"A": res.MedianA, "B": res.MedianB, "C": res.MedianC, "A/C": res.RatioAC,
		"A CPU": res.Rounds[0].ACPU, "evaluations": float64(res.EvaluationsPerRound)} {
		if !(v > 0) || math.IsInf(v, 0) {
			t.Errorf("%s = %v, want > 0", name, v)
		}
	}
	if res.AllocsPerEventA > 0.5 { // 0.01 per event at 200,000 events; one per event would be a regression
		t.Errorf("%v allocations per event in A", res.AllocsPerEventA)
	}
	// The text report.
	code, out, stderr = runCmd(t, "bench", "--inprocess", "--events", "2000", "--rounds", "2", "--reference-rows", "2000")
	if code != 0 || !strings.Contains(out, "median") || !strings.Contains(out, "A/C = ") {
		t.Fatalf("exit %d: %s %s", code, out, stderr)
	}
}

// BenchmarkProcessor is driftd's in-process path (--inprocess's A) as a
// Go benchmark, for profiles:
//
//	go test ./bench/harness -run XXX -bench Processor -benchmem -cpuprofile cpu.out -memprofile mem.out
func BenchmarkProcessor(b *testing.B) {
	cfg := gen.Defaults()
	evs := gen.Generate(cfg, 20000, 10000)
	ref, err := generatedReference(cfg, 20000)
	if err != nil {
		b.Fatal(err)
	}
	registry := stream.NewRegistry()
	registry.Set(ref)
	proc, err := stream.NewProcessor(stream.ProcessorConfig{Format: codec.Canonical, Window: detector.DefaultWindow()}, registry)
	if err != nil {
		b.Fatal(err)
	}
	task := proc.Task(stream.TaskID{Topic: "bench"})
	b.SetBytes(int64(evs.Bytes() / evs.Len()))
	b.ReportAllocs()
	n := evs.Len()
	for i := 0; b.Loop(); i++ {
		if err := proc.Process(task, evs.At(i%n), int64(i), int64(i)); err != nil {
			b.Fatal(err)
		}
		proc.Out.Reset()
	}
}
