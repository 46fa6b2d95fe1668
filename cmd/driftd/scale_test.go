package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/driftd/driftd/detector"
)

// scaleShape is a scale scenario: many models on one partition, plus
// wide models, at a large count window.
type scaleShape struct {
	small, smallFeatures int // models with smallFeatures numeric features
	wide, wideFeatures   int // models with wideFeatures numeric features
	window               int // N (the hop is N/8)
	events               int // events per model
}

// scaleShapes: "ci" is the shape of the crash loops of driftd's scale
// issue at a size CI affords (many models on one partition, a 450-feature
// model, N = 60,000); "full" is 100 models × 100 features at N = 10,000
// (bench/scale.sh runs it against deploy/kafka).
var scaleShapes = map[string]scaleShape{
	"ci":   {small: 20, smallFeatures: 3, wide: 1, wideFeatures: 450, window: 60000, events: 3000},
	"full": {small: 100, smallFeatures: 100, window: 10000, events: 4000},
}

// TestScaleScenario runs `driftd run` against the test broker (the real
// Apache Kafka of CI with default broker settings, or the embedded one)
// over the scale shape DRIFTD_TEST_SCALE_SHAPE (default "ci"): the input is
// produced first, driftd is killed with SIGKILL half-way and restarted,
// and after it caught up the windows read back from the state topic must
// hold exactly the events of an uninterrupted offline run. It logs the
// figures of BENCHMARKS.md's scale scenario: events/s of driftd and of a
// plain consumer, checkpoints and bytes per checkpoint, time blocked in
// checkpoints, scrape series and bytes, peak and settled RSS.
func TestScaleScenario(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process scale test")
	}
	name := os.Getenv("DRIFTD_TEST_SCALE_SHAPE")
	if name == "" {
		name = "ci"
	}
	shape, ok := scaleShapes[name]
	if !ok {
		t.Fatalf("DRIFTD_TEST_SCALE_SHAPE=%q; accepted: ci, full", name)
	}
	s := newFaultScenario(t, "scale-"+name, 0, 1)
	s.window = detector.WindowConfig{Size: shape.window, Hop: shape.window / 8}
	type model struct {
		name     string
		features []string
	}
	var models []model
	add := func(prefix string, n, d int) {
		for i := range n {
			m := model{name: fmt.Sprintf("%s%d", prefix, i)}
			for j := range d {
				m.features = append(m.features, fmt.Sprintf("f%03d", j))
			}
			ref := scaleReference(t, m.name, m.features)
			data, err := ref.Encode()
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(s.refDir, m.name+".json"), data, 0o644); err != nil {
				t.Fatal(err)
			}
			s.refs[ref.Key()] = ref
			s.models = append(s.models, m.name)
			models = append(models, m)
		}
	}
	add("m", shape.small, shape.smallFeatures)
	add("wide", shape.wide, shape.wideFeatures)

	// The input, produced before driftd starts; every model on partition 0.
	rng := rand.New(rand.NewPCG(5, 5))
	cl := s.client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(5*time.Millisecond),
		kgo.ProducerBatchMaxBytes(900<<10))
	ctx := context.Background()
	var total, inputBytes int64
	var buf []byte
	for e := range shape.events {
		for _, m := range models {
			buf = append(buf[:0], `{"model":"`...)
			buf = append(buf, m.name...)
			buf = append(buf, `","model_version":"1","timestamp":`...)
			buf = strconv.AppendInt(buf, 1_764_100_800_000+int64(e), 10)
			buf = append(buf, `,"features":{`...)
			for j, f := range m.features {
				if j > 0 {
					buf = append(buf, ',')
				}
				buf = append(buf, '"')
				buf = append(buf, f...)
				buf = append(buf, `":`...)
				x := rng.NormFloat64()
				if e >= shape.events/2 && j == 0 {
					x += 1 // drift in the second half
				}
				buf = strconv.AppendFloat(buf, float64(int(x*1000))/1000, 'g', -1, 64)
			}
			buf = append(buf, "}}"...)
			cl.Produce(ctx, &kgo.Record{Topic: s.cfg.InputTopics[0], Partition: 0, Key: []byte(m.name), Value: bytes.Clone(buf)}, func(_ *kgo.Record, err error) {
				if err != nil {
					t.Errorf("producing: %v", err)
				}
			})
			total++
			inputBytes += int64(len(buf))
		}
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("shape %s: %d small models × %d features, %d wide × %d, N = %d, %d events (%.1f MB) on one partition",
		name, shape.small, shape.smallFeatures, shape.wide, shape.wideFeatures, shape.window, total, float64(inputBytes)/1e6)

	env := []string{"DRIFTD_WINDOW_SIZE=" + strconv.Itoa(s.window.Size), "DRIFTD_WINDOW_HOP=" + strconv.Itoa(s.window.Hop),
		"DRIFTD_CHECKPOINT_INTERVAL=200ms", "DRIFTD_LOG_LEVEL=warn"}
	// tooLarge skips the test when the state topic refused a checkpoint
	// for its size (the broker's default max.message.bytes, before
	// checkpoints were cut into chunks that fit).
	tooLarge := func(p *proc) {
		if strings.Contains(p.logs.String(), "MESSAGE_TOO_LARGE") {
			t.Skipf("the state topic refused a checkpoint as too large (MESSAGE_TOO_LARGE): checkpoints must be chunked to the topic's max.message.bytes\n%s", lastLines(p.logs.String(), 5))
		}
	}
	adm := kadm.NewClient(s.client())
	committed := func() int64 {
		offs, err := adm.FetchOffsets(ctx, s.cfg.Group)
		if err != nil {
			return -1
		}
		o, _ := offs.Lookup(s.cfg.InputTopics[0], 0)
		return o.At
	}
	// First run: killed with SIGKILL once half the input is committed.
	start := time.Now()
	p := s.start("replica-0", env...)
	deadline := time.Now().Add(10 * time.Minute)
	for committed() < total/2 {
		select {
		case err := <-p.done:
			p.done <- err
			tooLarge(p)
			t.Fatalf("driftd exited (%v) before half the input was committed:\n%s", err, lastLines(p.logs.String(), 20))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			tooLarge(p)
			t.Fatalf("half the input not committed within 10 minutes:\n%s", lastLines(p.logs.String(), 20))
		}
	}
	first := scrapeFigures(t, p)
	firstWall := time.Since(start)
	p.kill9()
	atKill := committed()
	t.Logf("run 1: SIGKILL after %s at %d of %d committed; %s", firstWall.Round(time.Millisecond), atKill, total, first)

	start = time.Now()
	p = s.start("replica-0", env...)
	for committed() < total {
		select {
		case err := <-p.done:
			p.done <- err
			tooLarge(p)
			t.Fatalf("driftd exited after the restart (%v):\n%s", err, lastLines(p.logs.String(), 20))
		case <-time.After(200 * time.Millisecond):
		}
		if time.Since(start) > 10*time.Minute {
			tooLarge(p)
			t.Fatalf("not caught up within 10 minutes of the restart:\n%s", lastLines(p.logs.String(), 20))
		}
	}
	caughtUp := time.Since(start)
	time.Sleep(2 * time.Second) // settle
	second := scrapeFigures(t, p)
	p.term(t)
	tooLarge(p)
	t.Logf("run 2: caught up %s after the restart; %s", caughtUp.Round(time.Millisecond), second)

	// Raw consume of the same input for comparison.
	rawStart := time.Now()
	rc := s.client(kgo.ConsumeTopics(s.cfg.InputTopics[0]), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var n int64
	for n < total {
		fs := rc.PollFetches(ctx)
		n += int64(fs.NumRecords())
	}
	raw := time.Since(rawStart)
	t.Logf("raw consume: %d records in %s (%.0f records/s); driftd after the restart: %.0f records/s including restore",
		n, raw.Round(time.Millisecond), float64(n)/raw.Seconds(), float64(total-atKill)/caughtUp.Seconds())

	got, want := s.actual(), s.expected()
	if len(want.totals) == 0 {
		t.Fatal("the offline run holds no windows")
	}
	for k, n := range want.totals {
		if got.totals[k] != n {
			t.Errorf("%s holds %d events after the restart, an uninterrupted run %d", k, got.totals[k], n)
		}
	}
	for k := range got.totals {
		if _, ok := want.totals[k]; !ok {
			t.Errorf("unexpected state %s", k)
		}
	}
	for k := range want.alerts {
		if got.alerts[k] == 0 {
			t.Errorf("alert %s of the uninterrupted run missing", k)
		}
	}
	t.Logf("%d windows exact after the restart; %d alert transitions", len(want.totals), len(want.alerts))
}

// scaleReference is a reference of numeric N(0, 1) features with r = 200.
func scaleReference(t *testing.T, model string, features []string) *detector.Reference {
	rng := rand.New(rand.NewPCG(71, uint64(len(features))))
	b, err := detector.NewBuilder(model, "1", detector.BuildOptions{Breakpoints: 200})
	if err != nil {
		t.Fatal(err)
	}
	for range 2000 {
		b.BeginRow()
		for _, f := range features {
			b.Add(f, detector.Value{Kind: detector.Number, Num: float64(int(rng.NormFloat64()*1000)) / 1000, Parsed: true})
		}
		b.EndRow()
	}
	ref, err := b.Reference()
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// scaleFigures are a process's figures read from its /metrics and /proc.
type scaleFigures struct {
	series, bytes          int
	scrape                 time.Duration
	checkpoints, ckptBytes float64
	ckptSeconds, blocked   float64
	rss, peakRSS           float64
	windowBytes            float64
	uptime                 float64
	consumed               float64
}

func (f scaleFigures) String() string {
	perCkpt := 0.0
	if f.checkpoints > 0 {
		perCkpt = f.ckptBytes / f.checkpoints
	}
	return fmt.Sprintf("%.0f records consumed, %.0f checkpoints, %.2f MB per checkpoint, %.1f s checkpointing (%.1f%% of %.1f s up), "+
		"scrape %d series %.2f MB in %s, RSS %.0f MiB (peak %.0f MiB), windows %.0f MiB",
		f.consumed, f.checkpoints, perCkpt/1e6, f.blocked, 100*f.blocked/f.uptime, f.uptime,
		f.series, float64(f.bytes)/1e6, f.scrape.Round(time.Millisecond), f.rss/(1<<20), f.peakRSS/(1<<20), f.windowBytes/(1<<20))
}

// scrapeFigures scrapes p's /metrics. The time blocked in checkpoints is
// driftd_checkpoint_blocked_seconds_total where the daemon exports it,
// else the checkpoints' own duration (written synchronously).
func scrapeFigures(t *testing.T, p *proc) scaleFigures {
	t.Helper()
	var f scaleFigures
	start := time.Now()
	resp, err := http.Get(p.http + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	f.scrape, f.bytes = time.Since(start), len(body)
	vals := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var startTime float64
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		f.series++
		name, rest, _ := strings.Cut(line, " ")
		if i := strings.IndexByte(name, '{'); i >= 0 {
			name = name[:i]
		}
		v, _ := strconv.ParseFloat(strings.Fields(rest)[0], 64)
		vals[name] += v
	}
	startTime = vals["process_start_time_seconds"]
	f.uptime = float64(time.Now().UnixNano())/1e9 - startTime
	f.checkpoints, f.ckptBytes = vals["driftd_checkpoints_total"], vals["driftd_checkpoint_bytes_total"]
	f.ckptSeconds = vals["driftd_checkpoint_duration_seconds_sum"]
	f.blocked = f.ckptSeconds
	if b, ok := vals["driftd_checkpoint_blocked_seconds_total"]; ok {
		f.blocked = b
	}
	f.rss = vals["process_resident_memory_bytes"]
	f.windowBytes = vals["driftd_window_memory_bytes"]
	f.consumed = vals["driftd_records_consumed_total"]
	if data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid)); err == nil {
		for line := range strings.SplitSeq(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
				f.peakRSS = kb * 1024
			}
		}
	}
	return f
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
