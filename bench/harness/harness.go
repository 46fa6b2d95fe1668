// Package harness is `driftd bench`: the load generator and the
// throughput, memory and alert-latency measurements behind BENCHMARKS.md.
// cmd/driftd parses nothing itself: it hands the command line to Run with
// an Env that starts its daemon.
package harness

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/valyala/fastjson"

	"github.com/driftd/driftd/bench/gen"
	"github.com/driftd/driftd/bench/procstat"
	"github.com/driftd/driftd/detector"
	"github.com/driftd/driftd/stream"
	"github.com/driftd/driftd/stream/codec"
)

const benchUsage = `usage: driftd bench MODE [flags]

Modes (exactly one):

  --write-dir DIR
      Write a bench directory for bench/peers: meta.json, reference.jsonl
      (flat training rows) and stream.jsonl (canonical events, drifted from
      --change-point on).

  --peer-result --dir DIR
      Run driftd in-process over DIR/stream.jsonl with a reference built
      from DIR/reference.jsonl (window and hop from DIR/meta.json) and print
      driftd's result as one JSON object in bench/peers' format (for
      run_peers.py --driftd-result). cpu_seconds INCLUDES JSON decoding (the
      peers' figures exclude parsing); cpu_seconds_detect_only is the same
      detection on values decoded beforehand.

  --inprocess
      Throughput on generated events held in memory, in interleaved rounds:
      A driftd decode + window + detect (stream.Processor.Process),
      B driftd decode only, C the parse-only baseline (fastjson: full
      validation + DOM; see bench/jsonparse). Prints events/s per round,
      medians, A/C and A's allocations per event.

  --kafka [--brokers host:port]
      Against an embedded kfake broker (default) or a real cluster: produces
      --events events to a fresh topic once, then interleaved rounds of
      (a) a franz-go group consumer that only counts records and (b) the
      daemon end to end (fresh group, alert, state and DLQ topics per round),
      then the alert-latency scenario (drift switched on and off at a paced
      rate; see --latency-cycles).

Flags:
`

// benchOpts are the parsed flags of `driftd bench`.
type benchOpts struct {
	writeDir   string
	peerResult bool
	dir        string
	inprocess  bool
	kafka      bool

	events, numeric, categorical, changePoint, referenceRows int
	drifted                                                  string
	shift                                                    float64
	seed                                                     uint64
	window, hop, rounds                                      int

	brokers, compression       string
	partitions                 int
	latencyCycles, latencyRate int
	keepTopics                 bool
	jsonOut                    bool
	cpuProfile                 string
	stdout, stderr             io.Writer
	log                        *slog.Logger
	env                        Env
}

// Config is the part of driftd's configuration the Kafka benchmark sets.
type Config struct {
	Stream  stream.Config
	Policy  detector.Policy
	Window  detector.WindowConfig
	Metrics stream.MetricsOptions
}

// Daemon is a driftd daemon as the Kafka benchmark drives it.
type Daemon interface {
	// Run runs the daemon until ctx is done.
	Run(ctx context.Context) error
	// Processed is the number of records processed so far.
	Processed() uint64
	// Gatherer is the daemon's metrics registry.
	Gatherer() prometheus.Gatherer
}

// Env is what the command gives the harness.
type Env struct {
	Version   string
	Defaults  func() Config      // driftd's default configuration
	Validate  func(Config) error // driftd's configuration checks
	NewDaemon func(Config, *slog.Logger) (Daemon, error)
	// ReferenceFromFile builds a reference from a file of flat training
	// rows (or events), like `driftd reference build` (--peer-result).
	ReferenceFromFile func(ctx context.Context, path, model, version string, categorical []string, stderr io.Writer) (*detector.Reference, error)
}

// UsageError is a bad command line (driftd exits 2).
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

func usagef(format string, args ...any) error {
	return &UsageError{Msg: fmt.Sprintf(format, args...)}
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usagef("%s: %v", fs.Name(), err)
	}
	if fs.NArg() > 0 {
		return usagef("%s: unexpected argument %q", fs.Name(), fs.Arg(0))
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Run runs `driftd bench` with the arguments after "bench".
func Run(ctx context.Context, env Env, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &benchOpts{stdout: stdout, stderr: stderr, env: env}
	fs.StringVar(&o.writeDir, "write-dir", "", "mode: write a bench `DIR` for bench/peers")
	fs.BoolVar(&o.peerResult, "peer-result", false, "mode: print driftd's bench/peers result for --dir")
	fs.StringVar(&o.dir, "dir", "", "bench `DIR` to read (--peer-result)")
	fs.BoolVar(&o.inprocess, "inprocess", false, "mode: in-process throughput (driftd vs decode only vs parse-only baseline)")
	fs.BoolVar(&o.kafka, "kafka", false, "mode: Kafka throughput (raw consumer vs driftd) and alert latency")
	fs.IntVar(&o.events, "events", 0, "events to generate (default 200000; 500000 with --kafka)")
	fs.IntVar(&o.numeric, "numeric", 20, "numeric features f00…")
	fs.IntVar(&o.categorical, "categorical", 5, "categorical features c00…")
	fs.IntVar(&o.changePoint, "change-point", -1, "first drifted event (default: half of --events; ≥ --events: no drift)")
	fs.StringVar(&o.drifted, "drifted", "f00", "comma-separated numeric features shifted from the change point on")
	fs.Float64Var(&o.shift, "shift", 0.5, "shift of a drifted feature, in reference standard deviations")
	var seed int64
	fs.Int64Var(&seed, "seed", 1, "random seed")
	fs.IntVar(&o.referenceRows, "reference-rows", 50000, "training rows for the reference")
	fs.IntVar(&o.window, "window", 1000, "count window size (events)")
	fs.IntVar(&o.hop, "hop", 125, "count window hop (events)")
	fs.IntVar(&o.rounds, "rounds", 0, "measurement rounds (default 5 in-process, 3 with --kafka)")
	fs.StringVar(&o.brokers, "brokers", "", "Kafka bootstrap servers (--kafka; default: an embedded kfake broker)")
	fs.StringVar(&o.compression, "compression", "snappy", "producer compression for --kafka: none, snappy, lz4, zstd, gzip")
	fs.IntVar(&o.partitions, "partitions", 1, "--kafka: input partitions; with more than one, one model per partition (bench-0, bench-1, …), so driftd can process them in parallel")
	fs.IntVar(&o.latencyCycles, "latency-cycles", 8, "--kafka: drift on/off cycles of the alert-latency scenario (0: skip it)")
	fs.IntVar(&o.latencyRate, "latency-rate", 5000, "--kafka: events per second produced in the alert-latency scenario")
	fs.BoolVar(&o.keepTopics, "keep-topics", false, "--kafka --brokers: keep the bench's topics (default: delete them at the end)")
	fs.BoolVar(&o.jsonOut, "json", false, "--inprocess, --kafka: print one JSON object instead of the text report")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the run to `FILE`; samples carry a label phase=driftd|A|B|C|raw|latency|detect-only (go tool pprof -tagfocus phase=driftd)")
	fs.Usage = func() {
		fmt.Fprint(stderr, benchUsage)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	o.seed = uint64(seed)
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return usagef("bench: --cpuprofile: %v", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	modes := 0
	for _, on := range []bool{o.writeDir != "", o.peerResult, o.inprocess, o.kafka} {
		if on {
			modes++
		}
	}
	if modes != 1 {
		return usagef("bench: choose exactly one mode: --write-dir DIR, --peer-result --dir DIR, --inprocess or --kafka (see driftd bench -h)")
	}
	if o.peerResult {
		if o.dir == "" {
			return usagef("bench: --peer-result needs --dir DIR")
		}
		return benchPeerResult(ctx, o)
	}
	if o.dir != "" {
		return usagef("bench: --dir is for --peer-result")
	}
	if o.events == 0 {
		o.events = 200_000
		if o.kafka {
			o.events = 500_000
		}
	}
	if o.events < 1 || o.events > 100_000_000 {
		return usagef("bench: --events must be in 1..100000000")
	}
	if o.changePoint < 0 {
		o.changePoint = o.events / 2
	}
	if o.referenceRows < 100 {
		return usagef("bench: --reference-rows must be at least 100")
	}
	if err := (detector.WindowConfig{Size: o.window, Hop: o.hop}).Validate(); err != nil {
		return usagef("bench: --window/--hop: %v", err)
	}
	if o.rounds == 0 {
		o.rounds = 5
		if o.kafka {
			o.rounds = 3
		}
	}
	if o.rounds < 1 || o.rounds > 1000 {
		return usagef("bench: --rounds must be in 1..1000")
	}
	if err := o.genConfig().Validate(); err != nil {
		return usagef("bench: %v", err)
	}
	o.log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	switch {
	case o.writeDir != "":
		return benchWriteDir(ctx, o)
	case o.inprocess:
		return benchInProcess(ctx, o)
	default:
		if o.partitions < 1 || o.partitions > 64 {
			return usagef("bench: --partitions must be in 1..64")
		}
		if o.latencyCycles < 0 || o.latencyRate < 100 || o.latencyRate > 1_000_000 {
			return usagef("bench: --latency-cycles must be ≥ 0 and --latency-rate in 100..1000000")
		}
		if _, err := compressionCodec(o.compression); err != nil {
			return err
		}
		return benchKafka(ctx, o)
	}
}

func (o *benchOpts) genConfig() gen.Config {
	c := gen.Defaults()
	c.Numeric, c.Categorical = o.numeric, o.categorical
	c.Drifted = splitList(o.drifted)
	c.Shift = o.shift
	c.Seed = o.seed
	return c
}

// ---------------------------------------------------------------------------
// --write-dir

// benchMeta is meta.json of a bench directory (bench/peers/README.md).
type benchMeta struct {
	Events              int      `json:"events"`
	ChangePoint         int      `json:"change_point"`
	NumericFeatures     []string `json:"numeric_features"`
	CategoricalFeatures []string `json:"categorical_features"`
	DriftedFeatures     []string `json:"drifted_features"`
	Drift               string   `json:"drift"`
	Window              int      `json:"window"`
	Hop                 int      `json:"hop"`
	Seed                uint64   `json:"seed"`
	// Written by driftd bench, not by gen_stream.py.
	ReferenceRows int    `json:"reference_rows,omitempty"`
	Model         string `json:"model,omitempty"`
	ModelVersion  string `json:"model_version,omitempty"`
	Generator     string `json:"generator,omitempty"`
}

func benchWriteDir(ctx context.Context, o *benchOpts) error {
	cfg := o.genConfig()
	if err := os.MkdirAll(o.writeDir, 0o755); err != nil {
		return err
	}
	drifted := cfg.Drifted
	if drifted == nil {
		drifted = []string{}
	}
	meta := benchMeta{
		Events: o.events, ChangePoint: o.changePoint,
		NumericFeatures: cfg.NumericNames(), CategoricalFeatures: cfg.CategoricalNames(), DriftedFeatures: drifted,
		Drift:  fmt.Sprintf("mean shift of %g reference sd", cfg.Shift),
		Window: o.window, Hop: o.hop, Seed: cfg.Seed,
		ReferenceRows: o.referenceRows, Model: cfg.Model, ModelVersion: cfg.Version,
		Generator: "driftd bench --write-dir (bench/gen)",
	}
	data, err := json.MarshalIndent(meta, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(o.writeDir, "meta.json"), append(data, '\n'), 0o644); err != nil {
		return err
	}
	start := time.Now()
	g := gen.New(cfg, 1)
	refSize, err := writeLines(ctx, filepath.Join(o.writeDir, "reference.jsonl"), o.referenceRows, func(b []byte, _ int) []byte {
		return g.AppendRow(b)
	})
	if err != nil {
		return err
	}
	g = gen.New(cfg, 0)
	streamSize, err := writeLines(ctx, filepath.Join(o.writeDir, "stream.jsonl"), o.events, func(b []byte, i int) []byte {
		return g.AppendEvent(b, int64(i), i >= o.changePoint)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(o.stdout, "wrote %s in %s:\n  meta.json\n  reference.jsonl  %d training rows, %.1f MB\n  stream.jsonl     %d events, %.1f MB, change point %d, drifted %s (+%g sd)\n",
		o.writeDir, time.Since(start).Round(time.Millisecond), o.referenceRows, float64(refSize)/1e6,
		o.events, float64(streamSize)/1e6, o.changePoint, strings.Join(drifted, ","), cfg.Shift)
	return nil
}

// writeLines writes n lines made by line to path and returns the bytes
// written.
func writeLines(ctx context.Context, path string, n int, line func([]byte, int) []byte) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	var size int64
	var buf []byte
	for i := range n {
		if i%4096 == 0 && ctx.Err() != nil {
			f.Close()
			return 0, ctx.Err()
		}
		buf = append(line(buf[:0], i), '\n')
		size += int64(len(buf))
		if _, err := w.Write(buf); err != nil {
			f.Close()
			return 0, err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return 0, err
	}
	return size, f.Close()
}

// ---------------------------------------------------------------------------
// --peer-result

// peerResult is driftd's result in bench/peers' format (common.py's
// result(); the first fields are the ones run_peers.py merges), plus
// driftd's own figures.
type peerResult struct {
	Name                               string  `json:"name"`
	Version                            string  `json:"version"`
	Values                             int64   `json:"values"`
	CPUSeconds                         float64 `json:"cpu_seconds"`
	ValuesPerCPUSecond                 float64 `json:"values_per_cpu_second"`
	DetectionDelayEvents               *int    `json:"detection_delay_events"`
	FalseAlarmsStable                  int     `json:"false_alarms_stable"`
	SetupSeconds                       float64 `json:"setup_seconds"`
	Notes                              string  `json:"notes"`
	DetectionDelayDriftedFeatureEvents *int    `json:"detection_delay_drifted_feature_events"`
	AlarmsAfterChange                  int     `json:"alarms_after_change"`
	EventsProcessed                    int     `json:"events_processed"`
	EventRange                         [2]int  `json:"event_range"`
	StableEventsProcessed              int     `json:"stable_events_processed"`
	DriftedEventsProcessed             int     `json:"drifted_events_processed"`
	FirstFalseAlarmEvent               *int    `json:"first_false_alarm_event"`
	WallSeconds                        float64 `json:"wall_seconds"`
	SetupWallSeconds                   float64 `json:"setup_wall_seconds"`
	ParseCPUSeconds                    float64 `json:"parse_cpu_seconds"`
	ChangePoint                        int     `json:"change_point"`

	// driftd's own figures.
	CPUSecondsDetectOnly         float64          `json:"cpu_seconds_detect_only"`
	ValuesPerCPUSecondDetectOnly float64          `json:"values_per_cpu_second_detect_only"`
	WallSecondsDetectOnly        float64          `json:"wall_seconds_detect_only"`
	DetectOnlySameAlarms         bool             `json:"detect_only_same_alarms"`
	ValuesByKind                 map[string]int64 `json:"values_by_kind"`
	AllocsPerEvent               float64          `json:"allocs_per_event"`
	AllocBytesPerEvent           float64          `json:"alloc_bytes_per_event"`
	AlertsFiring                 int              `json:"alerts_firing"`
	AlertsResolved               int              `json:"alerts_resolved"`
	DatasetAlarms                int              `json:"dataset_alarms"`
	Evaluations                  int              `json:"evaluations"`
	MalformedLines               int              `json:"malformed_lines"`
	Window                       int              `json:"window"`
	Hop                          int              `json:"hop"`
	Alarms                       []alarmEvent     `json:"alarms"`
}

// alarmEvent is a firing alert placed at the stream index of the event
// that closed its window (bench/peers' alarm event).
type alarmEvent struct {
	Event   int    `json:"event"`
	Feature string `json:"feature"`
	Test    string `json:"test"`
}

func readBenchMeta(dir string) (benchMeta, error) {
	var m benchMeta
	data, err := os.ReadFile(filepath.Join(dir, "meta.json"))
	if err != nil {
		return m, usagef("bench: %v", err)
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return m, usagef("bench: %s: %v", filepath.Join(dir, "meta.json"), err)
	}
	if err := (detector.WindowConfig{Size: m.Window, Hop: m.Hop}).Validate(); err != nil {
		return m, usagef("bench: meta.json window %d / hop %d: %v", m.Window, m.Hop, err)
	}
	return m, nil
}

// splitLines returns the non-empty lines of data as events, compacting
// data in place (the newlines are dropped).
func splitLines(data []byte) *gen.Events {
	ev := &gen.Events{}
	w := 0
	rest := data
	for len(rest) > 0 {
		line := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			rest = nil
		}
		line = bytes.TrimRight(line, "\r")
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		w += copy(data[w:], line)
		ev.Ends = append(ev.Ends, w)
	}
	ev.Data = data[:w]
	return ev
}

func benchPeerResult(ctx context.Context, o *benchOpts) error {
	meta, err := readBenchMeta(o.dir)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(filepath.Join(o.dir, "stream.jsonl"))
	if err != nil {
		return usagef("bench: %v", err)
	}
	evs := splitLines(data)
	if evs.Len() == 0 {
		return fmt.Errorf("bench: %s has no events", filepath.Join(o.dir, "stream.jsonl"))
	}
	dec, _ := codec.NewDecoder(codec.Canonical, 0)
	first, derr := dec.Decode(evs.At(0))
	if derr != nil {
		return fmt.Errorf("bench: stream.jsonl line 1: %w", derr)
	}
	model, ver := string(first.Model), string(first.Version)

	// Setup: the reference from reference.jsonl, then the processor.
	setup := startMeasure()
	ref, err := o.env.ReferenceFromFile(ctx, filepath.Join(o.dir, "reference.jsonl"), model, ver, meta.CategoricalFeatures, o.stderr)
	if err != nil {
		return err
	}
	wcfg := detector.WindowConfig{Size: meta.Window, Hop: meta.Hop}
	policies, err := detector.NewPolicies(detector.DefaultPolicy())
	if err != nil {
		return err
	}
	proc, task, err := newBenchProcessor(ref, policies, wcfg)
	if err != nil {
		return err
	}
	setupM := setup.stop()

	// The whole path from the JSON bytes: decode + window + detect.
	var full runResult
	err = labelled(ctx, "driftd", func(ctx context.Context) (err error) {
		full, err = runProcessor(ctx, proc, task, evs, true)
		return err
	})
	if err != nil {
		return err
	}
	// The same detection on values decoded and parsed beforehand.
	pre, parseM, err := predecode(evs, ref)
	if err != nil {
		return err
	}
	var detect runResult
	err = labelled(ctx, "detect-only", func(ctx context.Context) (err error) {
		detect, err = runPredecoded(ctx, pre, ref, policies, wcfg)
		return err
	})
	if err != nil {
		return err
	}
	evs = nil // release the stream before the result is built

	// Alarm events, placed by group sequence number.
	place := func(a *detector.Alert) (alarmEvent, bool) {
		seqs := pre.featSeq
		if detector.GroupOf(a.Feature) == detector.GroupPrediction {
			seqs = pre.predSeq
		}
		if a.Window.LastSeq < 1 || int(a.Window.LastSeq) > len(seqs) {
			return alarmEvent{}, false
		}
		return alarmEvent{Event: int(seqs[a.Window.LastSeq-1]), Feature: a.Feature, Test: string(a.Test)}, true
	}
	res := peerResult{
		Name: "driftd", Version: o.env.Version, ChangePoint: meta.ChangePoint,
		Window: meta.Window, Hop: meta.Hop, Evaluations: full.evaluations,
		MalformedLines: full.rejected, ValuesByKind: pre.valuesByKind,
		AllocsPerEvent:     float64(full.mallocs) / float64(full.events),
		AllocBytesPerEvent: float64(full.allocBytes) / float64(full.events),
		Alarms:             []alarmEvent{},
	}
	for _, n := range pre.valuesByKind {
		res.Values += n
	}
	drifted := map[string]bool{}
	for _, f := range meta.DriftedFeatures {
		drifted[f] = true
	}
	for i := range full.alerts {
		a := &full.alerts[i]
		if a.Status != detector.Firing {
			res.AlertsResolved++
			continue
		}
		res.AlertsFiring++
		if a.Feature == detector.DatasetFeature {
			res.DatasetAlarms++
			continue
		}
		if ae, ok := place(a); ok {
			res.Alarms = append(res.Alarms, ae)
		}
	}
	sort.SliceStable(res.Alarms, func(i, j int) bool { return res.Alarms[i].Event < res.Alarms[j].Event })
	for _, a := range res.Alarms {
		switch {
		case a.Event < meta.ChangePoint:
			res.FalseAlarmsStable++
			if res.FirstFalseAlarmEvent == nil {
				res.FirstFalseAlarmEvent = ptr(a.Event)
			}
		default:
			res.AlarmsAfterChange++
			if res.DetectionDelayEvents == nil {
				res.DetectionDelayEvents = ptr(a.Event - meta.ChangePoint)
			}
			if drifted[a.Feature] && res.DetectionDelayDriftedFeatureEvents == nil {
				res.DetectionDelayDriftedFeatureEvents = ptr(a.Event - meta.ChangePoint)
			}
		}
	}
	n := full.events
	res.EventsProcessed = n
	res.EventRange = [2]int{0, n - 1}
	res.StableEventsProcessed = max(0, min(n, meta.ChangePoint))
	res.DriftedEventsProcessed = max(0, n-max(0, meta.ChangePoint))
	res.CPUSeconds = round6(full.m.cpu.Seconds())
	res.WallSeconds = round6(full.m.wall.Seconds())
	res.ValuesPerCPUSecond = math.Round(float64(res.Values)/full.m.cpu.Seconds()*10) / 10
	res.SetupSeconds = round6(setupM.cpu.Seconds())
	res.SetupWallSeconds = round6(setupM.wall.Seconds())
	res.ParseCPUSeconds = round6(parseM.cpu.Seconds())
	res.CPUSecondsDetectOnly = round6(detect.m.cpu.Seconds())
	res.WallSecondsDetectOnly = round6(detect.m.wall.Seconds())
	res.ValuesPerCPUSecondDetectOnly = math.Round(float64(res.Values)/detect.m.cpu.Seconds()*10) / 10
	res.DetectOnlySameAlarms = sameAlerts(full.alerts, detect.alerts)
	res.Notes = fmt.Sprintf("driftd %s in-process (stream.Processor, default policy: ERT 1e7, hysteresis 2, effect gates), "+
		"count window %d / hop %d, reference from reference.jsonl (%d rows, %d breakpoints per numeric feature). "+
		"cpu_seconds INCLUDES JSON decoding and number parsing of every event (the peers' exclude parsing); "+
		"cpu_seconds_detect_only = the same detection on values decoded beforehand (parse_cpu_seconds), "+
		"%.3g values/CPU s. values = %d events x %d monitored values (numeric %d, categorical %d, prediction %d). "+
		"Alarm events: firing alerts per (feature, test) at the window's last event, so a feature firing ks and "+
		"mean_shift counts twice; %d dataset-level alerts not counted. driftd fires once per episode (hysteresis) "+
		"and resolves; allocations %.3f per event.",
		o.env.Version, meta.Window, meta.Hop, ref.Rows, 1000, res.ValuesPerCPUSecondDetectOnly,
		n, len(ref.Features), pre.valuesByKind["numeric"], pre.valuesByKind["categorical"], pre.valuesByKind["prediction"],
		res.DatasetAlarms, res.AllocsPerEvent)
	enc := json.NewEncoder(o.stdout)
	return enc.Encode(res)
}

func ptr[T any](v T) *T { return &v }

func round6(x float64) float64 { return math.Round(x*1e6) / 1e6 }

// generatedReference builds the reference of generated events from rows
// training rows of the same generator (stream 1, as --write-dir's
// reference.jsonl), through the flat-row decoder.
func generatedReference(cfg gen.Config, rows int) (*detector.Reference, error) {
	b, err := detector.NewBuilder(cfg.Model, cfg.Version, detector.BuildOptions{Categorical: cfg.CategoricalNames()})
	if err != nil {
		return nil, err
	}
	dec, err := codec.NewRowDecoder(codec.Flat, 0)
	if err != nil {
		return nil, err
	}
	g := gen.New(cfg, 1)
	var buf []byte
	for range rows {
		buf = g.AppendRow(buf[:0])
		ev, err := dec.Decode(buf)
		if err != nil {
			return nil, fmt.Errorf("generated row: %w", err)
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
	ref, err := b.Reference()
	if err != nil {
		return nil, err
	}
	ref.Source = "driftd bench (generated)"
	return ref, nil
}

// measure is wall and process CPU time of a block.
type measure struct {
	wall, cpu time.Duration
}

type measuring struct {
	t0 time.Time
	c0 time.Duration
}

func startMeasure() measuring {
	c, _ := procstat.CPU()
	return measuring{t0: time.Now(), c0: c}
}

func (m measuring) stop() measure {
	c, _ := procstat.CPU()
	return measure{wall: time.Since(m.t0), cpu: c - m.c0}
}

// runResult is one pass of driftd over events.
type runResult struct {
	m                   measure
	events, rejected    int
	evaluations         int
	alerts              []detector.Alert
	mallocs, allocBytes uint64
}

// runProcessor runs every event through proc's task (decode + window +
// detect), measuring wall and CPU time of the loop only; allocations are
// counted around it. keepAlerts keeps the alerts (copied; an alert is
// rare).
func runProcessor(ctx context.Context, proc *stream.Processor, task *stream.Task, evs *gen.Events, keepAlerts bool) (runResult, error) {
	r := runResult{events: evs.Len()}
	runtime.GC()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	m := startMeasure()
	for i := range evs.Len() {
		if i&4095 == 0 && ctx.Err() != nil {
			return r, ctx.Err()
		}
		if proc.Process(task, evs.At(i), int64(i), int64(i)) != nil {
			r.rejected++
		}
		out := &proc.Out
		if len(out.Evaluations)+len(out.Alerts) > 0 {
			r.evaluations += len(out.Evaluations)
			if keepAlerts {
				r.alerts = append(r.alerts, out.Alerts...)
			}
			out.Reset()
		}
	}
	r.m = m.stop()
	runtime.ReadMemStats(&ms1)
	r.mallocs = ms1.Mallocs - ms0.Mallocs
	r.allocBytes = ms1.TotalAlloc - ms0.TotalAlloc
	return r, nil
}

// newBenchProcessor returns a processor for ref with one task whose
// monitor is already created: reference validation and window allocation
// are a one-time cost per model and partition, kept out of the measured
// loops.
func newBenchProcessor(ref *detector.Reference, policies *detector.Policies, wcfg detector.WindowConfig) (*stream.Processor, *stream.Task, error) {
	registry := stream.NewRegistry()
	registry.Set(ref)
	proc, err := stream.NewProcessor(stream.ProcessorConfig{Format: codec.Canonical, Policies: policies, Window: wcfg}, registry)
	if err != nil {
		return nil, nil, err
	}
	mon, err := detector.NewMonitor(ref, policies, wcfg)
	if err != nil {
		return nil, nil, err
	}
	task := proc.InstallTask(stream.TaskID{Topic: "bench"}, map[string]*detector.Monitor{ref.Key(): mon}, -1)
	return proc, task, nil
}

// predecoded holds events decoded and parsed beforehand, without
// pointers (so the collector does not scan it): what the peers get from
// their loaders.
type predecoded struct {
	events []preEvent
	fields []preField
	names  [][]byte
	texts  [][]byte
	// featSeq[k] / predSeq[k]: stream index of the model's (k+1)-th event
	// with features / a prediction (alert window sequence numbers).
	featSeq, predSeq []int32
	valuesByKind     map[string]int64
}

type preEvent struct {
	ts                 int64
	end                uint32 // fields[prev end : end]
	nFeat              uint16
	hasFeat, hasPred   bool
	monitored, decoded bool
}

type preField struct {
	num  float64
	text uint32
	name uint16
	kind detector.ValueKind
}

func (p *predecoded) value(f *preField) detector.Value {
	v := detector.Value{Kind: f.kind}
	switch f.kind {
	case detector.Number:
		v.Num, v.Parsed = f.num, true
	case detector.String, detector.Bool:
		v.Text = p.texts[f.text]
	}
	return v
}

// predecode decodes every event and parses its numbers, measuring the
// CPU time it takes.
func predecode(evs *gen.Events, ref *detector.Reference) (*predecoded, measure, error) {
	dec, err := codec.NewDecoder(codec.Canonical, 0)
	if err != nil {
		return nil, measure{}, err
	}
	kinds := map[string]string{}
	for _, f := range ref.Features {
		switch {
		case detector.GroupOf(f.Name) == detector.GroupPrediction:
			kinds[f.Name] = "prediction"
		case f.Kind == detector.Numeric:
			kinds[f.Name] = "numeric"
		default:
			kinds[f.Name] = "categorical"
		}
	}
	p := &predecoded{events: make([]preEvent, 0, evs.Len()), valuesByKind: map[string]int64{"numeric": 0, "categorical": 0, "prediction": 0}}
	nameIdx := map[string]uint16{}
	textIdx := map[string]uint32{}
	m := startMeasure()
	for i := range evs.Len() {
		ev, derr := dec.Decode(evs.At(i))
		pe := preEvent{ts: int64(i)}
		if derr == nil {
			pe.decoded = true
			pe.monitored = string(ev.Model) == ref.Model && string(ev.Version) == ref.Version
			if ev.HasTime {
				pe.ts = ev.TimeMS
			}
			pe.hasFeat, pe.hasPred = ev.HasFeatures, ev.HasPrediction
			pe.nFeat = uint16(len(ev.Features))
			for _, fl := range [][]codec.Field{ev.Features, ev.Prediction} {
				for _, f := range fl {
					ni, ok := nameIdx[string(f.Name)]
					if !ok {
						if len(p.names) >= math.MaxUint16 {
							return nil, measure{}, errors.New("bench: too many distinct feature names to pre-decode")
						}
						ni = uint16(len(p.names))
						nameIdx[string(f.Name)] = ni
						p.names = append(p.names, slices.Clone(f.Name))
					}
					pf := preField{name: ni, kind: f.Value.Kind}
					switch f.Value.Kind {
					case detector.Number:
						pf.num = f.Value.Num
						if !f.Value.Parsed {
							pf.num, _ = strconv.ParseFloat(string(f.Value.Text), 64) // ±Inf on overflow
						}
					case detector.String, detector.Bool:
						ti, ok := textIdx[string(f.Value.Text)]
						if !ok {
							if len(p.texts) >= 1<<24 {
								return nil, measure{}, errors.New("bench: too many distinct strings to pre-decode")
							}
							ti = uint32(len(p.texts))
							textIdx[string(f.Value.Text)] = ti
							p.texts = append(p.texts, slices.Clone(f.Value.Text))
						}
						pf.text = ti
					}
					if pe.monitored {
						if k, ok := kinds[string(f.Name)]; ok {
							p.valuesByKind[k]++
						}
					}
					p.fields = append(p.fields, pf)
				}
			}
			if pe.monitored && pe.hasFeat {
				p.featSeq = append(p.featSeq, int32(i))
			}
			if pe.monitored && pe.hasPred {
				p.predSeq = append(p.predSeq, int32(i))
			}
		}
		pe.end = uint32(len(p.fields))
		p.events = append(p.events, pe)
	}
	return p, m.stop(), nil
}

// runPredecoded runs the pre-decoded events through a monitor with the
// calls stream.Processor.Process makes, measuring the loop only.
func runPredecoded(ctx context.Context, p *predecoded, ref *detector.Reference, policies *detector.Policies, wcfg detector.WindowConfig) (runResult, error) {
	mon, err := detector.NewMonitor(ref, policies, wcfg)
	if err != nil {
		return runResult{}, err
	}
	r := runResult{events: len(p.events)}
	var out detector.Output
	runtime.GC()
	m := startMeasure()
	var start uint32
	for i := range p.events {
		e := &p.events[i]
		if i&4095 == 0 && ctx.Err() != nil {
			return r, ctx.Err()
		}
		fields := p.fields[start:e.end]
		start = e.end
		if !e.monitored {
			continue
		}
		mon.CountEvent()
		if e.hasFeat && mon.Begin(detector.GroupFeatures, e.ts, int64(i), &out) {
			for k := range fields[:e.nFeat] {
				f := &fields[k]
				mon.Value(k, p.names[f.name], p.value(f))
			}
			mon.End(&out)
		}
		if e.hasPred && mon.Begin(detector.GroupPrediction, e.ts, int64(i), &out) {
			for k := range fields[e.nFeat:] {
				f := &fields[int(e.nFeat)+k]
				mon.Value(k, p.names[f.name], p.value(f))
			}
			mon.End(&out)
		}
		if len(out.Evaluations)+len(out.Alerts) > 0 {
			r.evaluations += len(out.Evaluations)
			r.alerts = append(r.alerts, out.Alerts...)
			out.Reset()
		}
	}
	r.m = m.stop()
	return r, nil
}

func sameAlerts(a, b []detector.Alert) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].ID != b[i].ID {
			return false
		}
	}
	return true
}

// ---------------------------------------------------------------------------
// --inprocess

// parseBaseline is the parse-only baseline: the fastest parser in
// bench/jsonparse that validates the whole value (RFC 8259 grammar) and
// builds a DOM. fastjson's Parser alone skips number and escape
// validation, so it is validated first (bench/jsonparse TestStrictness).
type parseBaseline struct{ p fastjson.Parser }

const parseBaselineName = "fastjson ValidateBytes+Parser.ParseBytes"

func (b *parseBaseline) parse(v []byte) error {
	if err := fastjson.ValidateBytes(v); err != nil {
		return err
	}
	_, err := b.p.ParseBytes(v)
	return err
}

// inprocRound is one round of --inprocess: events per second of wall
// time and per second of process CPU time (user + system, all threads,
// so the collector's work counts). CPU rates are what a busy machine
// disturbs least: time spent waiting for a core is not counted.
type inprocRound struct {
	Round int     `json:"round"`
	A     float64 `json:"a_events_per_second"`
	B     float64 `json:"b_events_per_second"`
	C     float64 `json:"c_events_per_second"`
	ACPU  float64 `json:"a_events_per_cpu_second"`
	BCPU  float64 `json:"b_events_per_cpu_second"`
	CCPU  float64 `json:"c_events_per_cpu_second"`
	AC    float64 `json:"a_over_c"`
	ACCPU float64 `json:"a_over_c_cpu"`
}

// inprocResult is the --inprocess report.
type inprocResult struct {
	Mode                  string        `json:"mode"`
	Events                int           `json:"events"`
	BytesPerEvent         float64       `json:"bytes_per_event"`
	Numeric               int           `json:"numeric_features"`
	Categorical           int           `json:"categorical_features"`
	Window                int           `json:"window"`
	Hop                   int           `json:"hop"`
	A                     string        `json:"a"`
	B                     string        `json:"b"`
	C                     string        `json:"c"`
	Rounds                []inprocRound `json:"rounds"`
	MedianA               float64       `json:"median_a_events_per_second"`
	MedianB               float64       `json:"median_b_events_per_second"`
	MedianC               float64       `json:"median_c_events_per_second"`
	MedianACPU            float64       `json:"median_a_events_per_cpu_second"`
	MedianBCPU            float64       `json:"median_b_events_per_cpu_second"`
	MedianCCPU            float64       `json:"median_c_events_per_cpu_second"`
	RatioAC               float64       `json:"ratio_a_over_c"`
	RatioACCPU            float64       `json:"ratio_a_over_c_cpu"`
	MedianRoundRatioAC    float64       `json:"median_round_ratio_a_over_c"`
	MedianRoundRatioACCPU float64       `json:"median_round_ratio_a_over_c_cpu"`
	AllocsPerEventA       float64       `json:"allocs_per_event_a"`
	AllocBytesPerEventA   float64       `json:"alloc_bytes_per_event_a"`
	EvaluationsPerRound   int           `json:"evaluations_per_round"`
	AlertsPerRound        int           `json:"alerts_per_round"`
	GOMAXPROCS            int           `json:"gomaxprocs"`
	GCPercent             int           `json:"gc_percent"`
}

func benchInProcess(ctx context.Context, o *benchOpts) error {
	cfg := o.genConfig()
	fmt.Fprintf(o.stderr, "bench: generating %d events and a reference of %d rows…\n", o.events, o.referenceRows)
	evs := gen.Generate(cfg, o.events, o.changePoint)
	ref, err := generatedReference(cfg, o.referenceRows)
	if err != nil {
		return err
	}
	policies, err := detector.NewPolicies(detector.DefaultPolicy())
	if err != nil {
		return err
	}
	wcfg := detector.WindowConfig{Size: o.window, Hop: o.hop}
	res := inprocResult{
		Mode: "inprocess", Events: evs.Len(), BytesPerEvent: float64(evs.Bytes()) / float64(evs.Len()),
		Numeric: o.numeric, Categorical: o.categorical, Window: o.window, Hop: o.hop,
		A:          "driftd decode + window + detect (stream.Processor.Process)",
		B:          "driftd decode only (codec.Decoder.Decode)",
		C:          "parse-only baseline: " + parseBaselineName + " (full validation + DOM; bench/jsonparse)",
		GOMAXPROCS: runtime.GOMAXPROCS(0), GCPercent: gcPercent(),
	}
	if !o.jsonOut {
		fmt.Fprintf(o.stdout, "driftd bench --inprocess: %d events of %.0f bytes (%d numeric + %d categorical features + prediction), window %d/%d, %d rounds, GOMAXPROCS %d, GC percent %d\n",
			res.Events, res.BytesPerEvent, o.numeric, o.categorical, o.window, o.hop, o.rounds, res.GOMAXPROCS, res.GCPercent)
		fmt.Fprintf(o.stdout, "  A  %s\n  B  %s\n  C  %s\n", res.A, res.B, res.C)
		fmt.Fprintf(o.stdout, "events per second of wall time | per second of process CPU time\n%-7s %10s %10s %10s %6s | %10s %10s %10s %6s\n",
			"round", "A", "B", "C", "A/C", "A", "B", "C", "A/C")
	}
	var mallocs, allocBytes uint64
	dec, _ := codec.NewDecoder(codec.Canonical, 0)
	var base parseBaseline
	for r := 1; r <= o.rounds; r++ {
		// A: a fresh processor each round (empty windows).
		proc, task, err := newBenchProcessor(ref, policies, wcfg)
		if err != nil {
			return err
		}
		var a runResult
		err = labelled(ctx, "A", func(ctx context.Context) (err error) {
			a, err = runProcessor(ctx, proc, task, evs, false)
			return err
		})
		if err != nil {
			return err
		}
		if a.rejected > 0 {
			return fmt.Errorf("bench: driftd rejected %d generated events", a.rejected)
		}
		mallocs += a.mallocs
		allocBytes += a.allocBytes
		res.EvaluationsPerRound = a.evaluations
		var b measure
		err = labelled(ctx, "B", func(ctx context.Context) (err error) {
			b, err = timeLoop(ctx, evs, func(v []byte) error { _, err := dec.Decode(v); return err })
			return err
		})
		if err != nil {
			return err
		}
		var c measure
		err = labelled(ctx, "C", func(ctx context.Context) (err error) {
			c, err = timeLoop(ctx, evs, base.parse)
			return err
		})
		if err != nil {
			return err
		}
		n := float64(evs.Len())
		round := inprocRound{
			Round: r,
			A:     n / a.m.wall.Seconds(), B: n / b.wall.Seconds(), C: n / c.wall.Seconds(),
			ACPU: n / a.m.cpu.Seconds(), BCPU: n / b.cpu.Seconds(), CCPU: n / c.cpu.Seconds(),
		}
		round.AC, round.ACCPU = round.A/round.C, round.ACPU/round.CCPU
		res.Rounds = append(res.Rounds, round)
		if !o.jsonOut {
			fmt.Fprintf(o.stdout, "%-7d %10.0f %10.0f %10.0f %6.2f | %10.0f %10.0f %10.0f %6.2f\n",
				r, round.A, round.B, round.C, round.AC, round.ACPU, round.BCPU, round.CCPU, round.ACCPU)
		}
	}
	alerts, err := countAlerts(ctx, ref, policies, wcfg, evs)
	if err != nil {
		return err
	}
	res.AlertsPerRound = alerts
	pick := func(f func(inprocRound) float64) float64 {
		out := make([]float64, len(res.Rounds))
		for i, r := range res.Rounds {
			out[i] = f(r)
		}
		return median(out)
	}
	res.MedianA = pick(func(r inprocRound) float64 { return r.A })
	res.MedianB = pick(func(r inprocRound) float64 { return r.B })
	res.MedianC = pick(func(r inprocRound) float64 { return r.C })
	res.MedianACPU = pick(func(r inprocRound) float64 { return r.ACPU })
	res.MedianBCPU = pick(func(r inprocRound) float64 { return r.BCPU })
	res.MedianCCPU = pick(func(r inprocRound) float64 { return r.CCPU })
	res.RatioAC = res.MedianA / res.MedianC
	res.RatioACCPU = res.MedianACPU / res.MedianCCPU
	res.MedianRoundRatioAC = pick(func(r inprocRound) float64 { return r.AC })
	res.MedianRoundRatioACCPU = pick(func(r inprocRound) float64 { return r.ACCPU })
	total := float64(evs.Len() * o.rounds)
	res.AllocsPerEventA = float64(mallocs) / total
	res.AllocBytesPerEventA = float64(allocBytes) / total
	if o.jsonOut {
		return json.NewEncoder(o.stdout).Encode(res)
	}
	fmt.Fprintf(o.stdout, "%-7s %10.0f %10.0f %10.0f %6.2f | %10.0f %10.0f %10.0f %6.2f\n", "median",
		res.MedianA, res.MedianB, res.MedianC, res.MedianRoundRatioAC, res.MedianACPU, res.MedianBCPU, res.MedianCCPU, res.MedianRoundRatioACCPU)
	fmt.Fprintf(o.stdout, "A/C = %.2f wall, %.2f CPU (ratios of the medians; medians of the per-round ratios %.2f and %.2f; target ≥ 0.5)\n",
		res.RatioAC, res.RatioACCPU, res.MedianRoundRatioAC, res.MedianRoundRatioACCPU)
	fmt.Fprintf(o.stdout, "A: %.4f allocations and %.1f bytes per event (%d evaluations and %d alerts per round; the monitor is created before the loop)\n",
		res.AllocsPerEventA, res.AllocBytesPerEventA, res.EvaluationsPerRound, res.AlertsPerRound)
	return nil
}

// countAlerts runs the events once more to count the alerts (kept out of
// the timed rounds).
func countAlerts(ctx context.Context, ref *detector.Reference, policies *detector.Policies, wcfg detector.WindowConfig, evs *gen.Events) (int, error) {
	proc, task, err := newBenchProcessor(ref, policies, wcfg)
	if err != nil {
		return 0, err
	}
	r, err := runProcessor(ctx, proc, task, evs, true)
	return len(r.alerts), err
}

// timeLoop times f over every event.
func timeLoop(ctx context.Context, evs *gen.Events, f func([]byte) error) (measure, error) {
	runtime.GC()
	m := startMeasure()
	for i := range evs.Len() {
		if i&4095 == 0 && ctx.Err() != nil {
			return measure{}, ctx.Err()
		}
		if err := f(evs.At(i)); err != nil {
			return measure{}, fmt.Errorf("bench: event %d: %w", i, err)
		}
	}
	return m.stop(), nil
}

// gcPercent is the collector's target percentage in effect (driftd's
// main sets one; GOGC overrides it).
func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// percentile is the nearest-rank percentile (p in 0..100) of xs.
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	k := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[min(max(k, 0), len(s)-1)]
}

// ---------------------------------------------------------------------------
// --kafka

func compressionCodec(name string) (kgo.CompressionCodec, error) {
	switch name {
	case "none":
		return kgo.NoCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "zstd":
		return kgo.ZstdCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	}
	return kgo.NoCompression(), usagef("bench: --compression is %q; accepted: none, snappy, lz4, zstd, gzip", name)
}

// kafkaRound is one round of --kafka.
type kafkaRound struct {
	Round int `json:"round"`
	// Raw consumer: events/s from client creation to the last record,
	// and from the first poll that returned records ("steady").
	RawEventsPerSecond       float64 `json:"raw_events_per_second"`
	RawSteadyEventsPerSecond float64 `json:"raw_steady_events_per_second"`
	RawCPUSeconds            float64 `json:"raw_cpu_seconds"`
	// driftd: from the daemon's start to Processed() ≥ events, and from
	// the first time Processed() > 0 was seen.
	DriftdEventsPerSecond       float64 `json:"driftd_events_per_second"`
	DriftdSteadyEventsPerSecond float64 `json:"driftd_steady_events_per_second"`
	DriftdCPUSeconds            float64 `json:"driftd_cpu_seconds"`
	DriftdCPUSecondsPerMillion  float64 `json:"driftd_cpu_seconds_per_million"`
	DriftdPeakRSSBytes          int64   `json:"driftd_peak_rss_bytes"`
	DriftdRSSBeforeBytes        int64   `json:"driftd_rss_before_bytes"`
	DriftdShutdownSeconds       float64 `json:"driftd_shutdown_seconds"`
	DriftdAlertsPublished       int64   `json:"driftd_alerts_published"`
	Ratio                       float64 `json:"ratio_driftd_over_raw"`
	SteadyRatio                 float64 `json:"steady_ratio_driftd_over_raw"`
}

// kafkaResult is the --kafka report.
type kafkaResult struct {
	Mode                string       `json:"mode"`
	Broker              string       `json:"broker"`
	Brokers             []string     `json:"brokers"`
	Events              int          `json:"events"`
	BytesPerEvent       float64      `json:"bytes_per_event"`
	Compression         string       `json:"compression"`
	Partitions          int          `json:"partitions"`
	ProduceEventsPerSec float64      `json:"produce_events_per_second"`
	Window              int          `json:"window"`
	Hop                 int          `json:"hop"`
	Rounds              []kafkaRound `json:"rounds"`
	MedianRaw           float64      `json:"median_raw_events_per_second"`
	MedianDriftd        float64      `json:"median_driftd_events_per_second"`
	MedianRawSteady     float64      `json:"median_raw_steady_events_per_second"`
	MedianDriftdSteady  float64      `json:"median_driftd_steady_events_per_second"`
	Ratio               float64      `json:"ratio_driftd_over_raw"`
	SteadyRatio         float64      `json:"steady_ratio_driftd_over_raw"`
	MedianCPUPerMillion float64      `json:"median_driftd_cpu_seconds_per_million"`
	MaxPeakRSSBytes     int64        `json:"max_driftd_peak_rss_bytes"`
	CPUIncludesBroker   bool         `json:"cpu_includes_broker"`
	Latency             *latencyRes  `json:"latency,omitempty"`
	GOMAXPROCS          int          `json:"gomaxprocs"`
	GCPercent           int          `json:"gc_percent"`
	TopicPrefix         string       `json:"topic_prefix"`
	RSSIncludesBroker   bool         `json:"rss_includes_broker"`
}

func benchKafka(ctx context.Context, o *benchOpts) error {
	res := kafkaResult{Mode: "kafka", Compression: o.compression, Partitions: o.partitions, Window: o.window, Hop: o.hop,
		GOMAXPROCS: runtime.GOMAXPROCS(0), GCPercent: gcPercent()}
	base := o.env.Defaults()
	base.Window = detector.WindowConfig{Size: o.window, Hop: o.hop}
	if o.brokers == "" {
		cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
		if err != nil {
			return fmt.Errorf("starting the embedded broker: %w", err)
		}
		defer cluster.Close()
		base.Stream.Brokers = cluster.ListenAddrs()
		base.Stream.TopicReplication = 1
		res.Broker = "kfake (embedded, in-process)"
		res.CPUIncludesBroker, res.RSSIncludesBroker = true, true
	} else {
		base.Stream.Brokers = splitList(o.brokers)
		res.Broker = "external"
	}
	res.Brokers = base.Stream.Brokers
	prefix := fmt.Sprintf("driftd-bench.%s-%04x", time.Now().UTC().Format("20060102T150405"), rand.IntN(1<<16))
	res.TopicPrefix = prefix
	input := prefix + ".events"
	base.Stream.InputTopics = []string{input}
	base.Stream.ReferenceTopic = prefix + ".references"
	base.Stream.TopicPartitions = int32(o.partitions)
	roundCfg := func(name string) Config {
		c := base
		c.Stream.Group = prefix + "." + name + ".driftd"
		c.Stream.AlertTopic = prefix + "." + name + ".alerts"
		c.Stream.StateTopic = prefix + "." + name + ".state"
		c.Stream.DLQTopic = prefix + "." + name + ".dlq"
		c.Stream.PanesTopic = prefix + "." + name + ".panes"
		return c
	}
	if err := o.env.Validate(base); err != nil {
		return err
	}
	opts, err := base.Stream.ClientOpts()
	if err != nil {
		return err
	}
	comp, _ := compressionCodec(o.compression)
	admCl, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	if o.brokers != "" && !o.keepTopics {
		defer deleteTopics(context.WithoutCancel(ctx), adm, prefix+".", o.stderr)
	}
	if _, err := adm.CreateTopic(ctx, int32(o.partitions), base.Stream.TopicReplication, nil, input); err != nil {
		return fmt.Errorf("creating %s: %w", input, err)
	}
	first := roundCfg("r1")
	if _, err := stream.EnsureTopics(ctx, adm, &first.Stream); err != nil {
		return err
	}

	cfg := o.genConfig()
	fmt.Fprintf(o.stderr, "bench: %s at %s; topics %s.*\n", res.Broker, strings.Join(res.Brokers, ","), prefix)
	ref, err := generatedReference(cfg, o.referenceRows)
	if err != nil {
		return err
	}
	producer, err := kgo.NewClient(append(slices.Clone(opts), kgo.ProducerBatchCompression(comp), kgo.ProducerLinger(5*time.Millisecond),
		kgo.MaxBufferedRecords(100_000), kgo.RecordPartitioner(kgo.ManualPartitioner()))...)
	if err != nil {
		return err
	}
	defer producer.Close()
	// One model per partition: the same distribution under names
	// bench-0, bench-1, … when there are several.
	models := []string{cfg.Model}
	if o.partitions > 1 {
		models = nil
		for k := range o.partitions {
			models = append(models, fmt.Sprintf("%s-%d", cfg.Model, k))
		}
	}
	for _, model := range models {
		r := *ref
		r.Model = model
		if err := stream.PublishReference(ctx, producer, base.Stream.ReferenceTopic, &r); err != nil {
			return fmt.Errorf("publishing the reference: %w", err)
		}
	}

	// Produce the events once.
	fmt.Fprintf(o.stderr, "bench: generating and producing %d events…\n", o.events)
	var perr atomic.Value
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			perr.CompareAndSwap(nil, err)
		}
	}
	t0 := time.Now()
	var bytes int
	res.Events = 0
	for k, model := range models {
		mc := cfg
		mc.Model = model
		evs := gen.Generate(mc, o.events/len(models), o.changePoint/len(models))
		res.Events += evs.Len()
		bytes += evs.Bytes()
		key := []byte(model)
		for i := range evs.Len() {
			producer.Produce(ctx, &kgo.Record{Topic: input, Partition: int32(k), Key: key, Value: evs.At(i)}, promise)
		}
	}
	if err := producer.Flush(ctx); err != nil {
		return err
	}
	if e, ok := perr.Load().(error); ok {
		return fmt.Errorf("producing: %w", e)
	}
	res.BytesPerEvent = float64(bytes) / float64(res.Events)
	res.ProduceEventsPerSec = float64(res.Events) / time.Since(t0).Seconds()
	runtime.GC()
	debug.FreeOSMemory()

	if !o.jsonOut {
		fmt.Fprintf(o.stdout, "driftd bench --kafka: %s at %s, %d events of %.0f bytes in %d partition(s), one model each (%s; produced at %.0f events/s), window %d/%d, %d rounds, GOMAXPROCS %d, GC percent %d (both consumers run in this process)\n",
			res.Broker, strings.Join(res.Brokers, ","), res.Events, res.BytesPerEvent, o.partitions, o.compression, res.ProduceEventsPerSec, o.window, o.hop, o.rounds, res.GOMAXPROCS, res.GCPercent)
		fmt.Fprintf(o.stdout, "  a  raw: franz-go group consumer (fresh group) counting records\n  b  driftd: the daemon end to end (fresh group, alert/state/DLQ topics per round), until it processed every event\n")
		if res.CPUIncludesBroker {
			fmt.Fprintf(o.stdout, "  CPU and RSS are the process's and include the embedded broker\n")
		}
		fmt.Fprintf(o.stdout, "events/s from start (steady: from the first records)\n%-6s %24s %24s %6s %10s %10s %9s %7s\n",
			"round", "a raw", "b driftd", "b/a", "b CPU s", "CPU s/1M", "peak RSS", "alerts")
	}
	n := int64(res.Events)
	for r := 1; r <= o.rounds; r++ {
		var kr kafkaRound
		kr.Round = r
		var raw consumeTiming
		err = labelled(ctx, "raw", func(ctx context.Context) (err error) {
			raw, err = rawConsume(ctx, opts, input, fmt.Sprintf("%s.r%d.raw", prefix, r), n)
			return err
		})
		if err != nil {
			return fmt.Errorf("round %d, raw consumer: %w", r, err)
		}
		kr.RawEventsPerSecond, kr.RawSteadyEventsPerSecond, kr.RawCPUSeconds = raw.rate, raw.steady, round6(raw.cpu.Seconds())
		rc := roundCfg(fmt.Sprintf("r%d", r))
		if _, err := stream.EnsureTopics(ctx, adm, &rc.Stream); err != nil {
			return err
		}
		var dr consumeTiming
		err = labelled(ctx, "driftd", func(ctx context.Context) (err error) {
			dr, err = driftdRound(ctx, o.env, rc, n, o.log)
			return err
		})
		if err != nil {
			return fmt.Errorf("round %d, driftd: %w", r, err)
		}
		kr.DriftdEventsPerSecond, kr.DriftdSteadyEventsPerSecond = dr.rate, dr.steady
		kr.DriftdCPUSeconds = round6(dr.cpu.Seconds())
		kr.DriftdCPUSecondsPerMillion = round6(dr.cpu.Seconds() / (float64(n) / 1e6))
		kr.DriftdPeakRSSBytes, kr.DriftdRSSBeforeBytes = dr.peakRSS, dr.rssBefore
		kr.DriftdShutdownSeconds = round6(dr.shutdown.Seconds())
		kr.Ratio = kr.DriftdEventsPerSecond / kr.RawEventsPerSecond
		kr.SteadyRatio = kr.DriftdSteadyEventsPerSecond / kr.RawSteadyEventsPerSecond
		kr.DriftdAlertsPublished = dr.alerts
		res.Rounds = append(res.Rounds, kr)
		if !o.jsonOut {
			fmt.Fprintf(o.stdout, "%-6d %10.0f (%10.0f) %10.0f (%10.0f) %6.2f %10.2f %10.2f %6.0fMB %7d\n",
				r, kr.RawEventsPerSecond, kr.RawSteadyEventsPerSecond, kr.DriftdEventsPerSecond, kr.DriftdSteadyEventsPerSecond,
				kr.Ratio, kr.DriftdCPUSeconds, kr.DriftdCPUSecondsPerMillion, float64(kr.DriftdPeakRSSBytes)/1e6, kr.DriftdAlertsPublished)
		}
	}
	pick := func(f func(kafkaRound) float64) []float64 {
		out := make([]float64, len(res.Rounds))
		for i, r := range res.Rounds {
			out[i] = f(r)
		}
		return out
	}
	res.MedianRaw = median(pick(func(r kafkaRound) float64 { return r.RawEventsPerSecond }))
	res.MedianDriftd = median(pick(func(r kafkaRound) float64 { return r.DriftdEventsPerSecond }))
	res.MedianRawSteady = median(pick(func(r kafkaRound) float64 { return r.RawSteadyEventsPerSecond }))
	res.MedianDriftdSteady = median(pick(func(r kafkaRound) float64 { return r.DriftdSteadyEventsPerSecond }))
	res.Ratio = res.MedianDriftd / res.MedianRaw
	res.SteadyRatio = res.MedianDriftdSteady / res.MedianRawSteady
	res.MedianCPUPerMillion = median(pick(func(r kafkaRound) float64 { return r.DriftdCPUSecondsPerMillion }))
	for _, r := range res.Rounds {
		res.MaxPeakRSSBytes = max(res.MaxPeakRSSBytes, r.DriftdPeakRSSBytes)
	}
	if !o.jsonOut {
		fmt.Fprintf(o.stdout, "%-6s %10.0f (%10.0f) %10.0f (%10.0f) %6.2f %10s %10.2f %6.0fMB\n", "median",
			res.MedianRaw, res.MedianRawSteady, res.MedianDriftd, res.MedianDriftdSteady, res.Ratio, "", res.MedianCPUPerMillion, float64(res.MaxPeakRSSBytes)/1e6)
		fmt.Fprintf(o.stdout, "b/a = %.2f from start, %.2f steady (ratios of the medians; target ≥ 0.5 on real Kafka)\n", res.Ratio, res.SteadyRatio)
	}
	if o.latencyCycles > 0 {
		var lat *latencyRes
		err = labelled(ctx, "latency", func(ctx context.Context) (err error) {
			lat, err = alertLatency(ctx, o, base, roundCfg("latency"), adm, opts, comp, cfg)
			return err
		})
		if err != nil {
			return fmt.Errorf("alert latency: %w", err)
		}
		res.Latency = lat
		if !o.jsonOut {
			lat.print(o.stdout)
		}
	}
	if o.jsonOut {
		return json.NewEncoder(o.stdout).Encode(res)
	}
	return nil
}

// deleteTopics deletes the topics whose names start with prefix (best
// effort: failures are reported, not returned).
func deleteTopics(ctx context.Context, adm *kadm.Client, prefix string, stderr io.Writer) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	td, err := adm.ListTopics(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "bench: listing topics to delete: %v\n", err)
		return
	}
	var names []string
	for name := range td {
		if strings.HasPrefix(name, prefix) {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return
	}
	resp, err := adm.DeleteTopics(ctx, names...)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		fmt.Fprintf(stderr, "bench: deleting the bench topics %s*: %v\n", prefix, err)
		return
	}
	fmt.Fprintf(stderr, "bench: deleted %d topics %s*\n", len(names), prefix)
}

// consumeTiming is one timed consumption of n records.
type consumeTiming struct {
	rate, steady       float64 // events/s from start, and from the first records
	cpu                time.Duration
	peakRSS, rssBefore int64
	shutdown           time.Duration
	alerts             int64 // driftd_alerts_published_total after the shutdown
}

// roundTimeout bounds a round, so a stuck consumer fails the bench.
const roundTimeout = 10 * time.Minute

// rawConsume reads the topic with a fresh consumer group until it has n
// records, counting them and nothing else.
func rawConsume(ctx context.Context, opts []kgo.Opt, topic, group string, n int64) (consumeTiming, error) {
	ctx, cancel := context.WithTimeout(ctx, roundTimeout)
	defer cancel()
	runtime.GC()
	m := startMeasure()
	cl, err := kgo.NewClient(append(slices.Clone(opts),
		kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))...)
	if err != nil {
		return consumeTiming{}, err
	}
	defer cl.Close()
	var got, firstN int64
	var firstAt time.Time
	for got < n {
		fs := cl.PollRecords(ctx, 10000)
		if ctx.Err() != nil {
			return consumeTiming{}, fmt.Errorf("%d of %d records after %s: %w", got, n, time.Since(m.t0).Round(time.Millisecond), ctx.Err())
		}
		if fs.IsClientClosed() {
			return consumeTiming{}, errors.New("client closed")
		}
		k := int64(fs.NumRecords())
		got += k
		if k > 0 && firstAt.IsZero() {
			firstAt, firstN = time.Now(), got
		}
	}
	done := m.stop()
	t := consumeTiming{rate: float64(n) / done.wall.Seconds(), cpu: done.cpu}
	if el := done.wall - firstAt.Sub(m.t0); got > firstN && el > 0 {
		t.steady = float64(n-firstN) / el.Seconds()
	} else {
		t.steady = t.rate
	}
	return t, nil
}

// driftdRound runs the daemon with cfg until it has processed n records
// and stops it; the timing ends at n records, before the shutdown.
func driftdRound(ctx context.Context, env Env, cfg Config, n int64, log *slog.Logger) (consumeTiming, error) {
	ctx, cancel := context.WithTimeout(ctx, roundTimeout)
	defer cancel()
	runtime.GC()
	debug.FreeOSMemory()
	var t consumeTiming
	t.rssBefore, _ = procstat.RSS()
	procstat.ResetPeakRSS() //nolint:errcheck // without it the peak is the process's
	d, err := env.NewDaemon(cfg, log)
	if err != nil {
		return t, err
	}
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	errc := make(chan error, 1)
	m := startMeasure()
	go func() { errc <- d.Run(rctx) }()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	var firstN int64
	var firstAt time.Time
	for {
		p := int64(d.Processed())
		if p > 0 && firstAt.IsZero() {
			firstAt, firstN = time.Now(), p
		}
		if p >= n {
			break
		}
		select {
		case err := <-errc:
			return t, fmt.Errorf("daemon stopped after %d of %d records: %v", p, n, err)
		case <-ctx.Done():
			stop()
			<-errc
			return t, fmt.Errorf("%d of %d records after %s: %w", p, n, time.Since(m.t0).Round(time.Millisecond), ctx.Err())
		case <-tick.C:
		}
	}
	done := m.stop()
	t.peakRSS, _ = procstat.PeakRSS()
	t.rate, t.cpu = float64(n)/done.wall.Seconds(), done.cpu
	if el := done.wall - firstAt.Sub(m.t0); n > firstN && el > 0 {
		t.steady = float64(n-firstN) / el.Seconds()
	} else {
		t.steady = t.rate
	}
	s0 := time.Now()
	stop()
	if err := <-errc; err != nil {
		return t, fmt.Errorf("shutdown: %w", err)
	}
	t.shutdown = time.Since(s0)
	t.alerts = int64(counterSum(d.Gatherer(), "driftd_alerts_published_total"))
	return t, nil
}

// labelled runs f with the pprof label phase=name, which goroutines
// started by f inherit: `go tool pprof -tagfocus phase=driftd` keeps the
// daemon's samples of a --cpuprofile and drops the generator's, the
// broker's and the other phases'.
func labelled(ctx context.Context, name string, f func(context.Context) error) error {
	var err error
	pprof.Do(ctx, pprof.Labels("phase", name), func(ctx context.Context) { err = f(ctx) })
	return err
}

// counterSum adds up a counter family's series in reg.
func counterSum(reg prometheus.Gatherer, name string) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		return 0
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

// ---------------------------------------------------------------------------
// alert latency

// latencyHook records when driftd's consumer handed each input record to
// the pipeline (the poll that returned it) and when each alert record was
// acknowledged by the broker.
type latencyHook struct {
	input, alerts string
	consumed      []atomic.Int64 // by input offset, Unix ns
	mu            sync.Mutex
	acked         []ackedAlert
}

type ackedAlert struct {
	at    time.Time
	value []byte
}

// OnFetchRecordUnbuffered implements kgo.HookFetchRecordUnbuffered: for
// polled records it runs on the polling goroutine before the poll
// returns, i.e. when driftd receives the record.
func (h *latencyHook) OnFetchRecordUnbuffered(r *kgo.Record, polled bool) {
	if polled && r.Topic == h.input && r.Offset >= 0 && r.Offset < int64(len(h.consumed)) {
		h.consumed[r.Offset].Store(time.Now().UnixNano())
	}
}

// OnProduceRecordUnbuffered implements kgo.HookProduceRecordUnbuffered:
// it runs just before a produced record's promise, after the broker's
// acknowledgement.
func (h *latencyHook) OnProduceRecordUnbuffered(r *kgo.Record, err error) {
	if err != nil || r.Topic != h.alerts {
		return
	}
	now := time.Now()
	h.mu.Lock()
	h.acked = append(h.acked, ackedAlert{at: now, value: slices.Clone(r.Value)})
	h.mu.Unlock()
}

// latencyStats summarises latencies in milliseconds.
type latencyStats struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50_ms"`
	P90 float64 `json:"p90_ms"`
	P99 float64 `json:"p99_ms"`
	Max float64 `json:"max_ms"`
}

func newLatencyStats(ms []float64) latencyStats {
	if len(ms) == 0 {
		return latencyStats{}
	}
	return latencyStats{N: len(ms), P50: round3(percentile(ms, 50)), P90: round3(percentile(ms, 90)),
		P99: round3(percentile(ms, 99)), Max: round3(percentile(ms, 100))}
}

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }

// latencyRes is the alert-latency report.
type latencyRes struct {
	Description      string  `json:"description"`
	Rate             int     `json:"rate_events_per_second"`
	Cycles           int     `json:"cycles"`
	OnEvents         int     `json:"drift_on_events"`
	OffEvents        int     `json:"drift_off_events"`
	WarmupEvents     int     `json:"warmup_events"`
	Events           int     `json:"events"`
	AchievedRate     float64 `json:"achieved_rate_events_per_second"`
	Alerts           int     `json:"alerts"`
	Firing           int     `json:"firing"`
	Resolved         int     `json:"resolved"`
	SeenByConsumer   int     `json:"seen_by_alert_consumer"`
	Unmatched        int     `json:"unmatched"`
	NotPaneBoundary  int     `json:"not_at_pane_boundary"`
	ProcessedRecords uint64  `json:"processed_records"`
	// ConsumedToAck: tipping record returned by driftd's poll → the
	// alert acknowledged by the broker (on the alert topic).
	ConsumedToAck latencyStats `json:"consumed_to_ack"`
	// ConsumedToSeen: tipping record consumed → the alert received by a
	// separate consumer of the alert topic.
	ConsumedToSeen latencyStats `json:"consumed_to_seen"`
	// ProducedToSeen: the tipping record handed to the producer → the
	// alert received by the alert-topic consumer.
	ProducedToSeen latencyStats `json:"produced_to_seen"`
	// ConsumeLag: the tipping record handed to the producer → returned by
	// driftd's poll; LagRecords: records produced but not yet consumed
	// at that moment.
	ConsumeLag    latencyStats `json:"consume_lag"`
	MaxLagRecords int          `json:"max_lag_records"`
}

func (l *latencyRes) print(w io.Writer) {
	fmt.Fprintf(w, "\nalert latency: %d events at %d/s (achieved %.0f/s) after %d warm-up events; %d drift on/off cycles (%d drifted, %d clean events each)\n",
		l.Events-l.WarmupEvents, l.Rate, l.AchievedRate, l.WarmupEvents, l.Cycles, l.OnEvents, l.OffEvents)
	fmt.Fprintf(w, "  %d alerts (%d firing, %d resolved), %d seen by the alert consumer, %d unmatched, %d not at a pane boundary\n",
		l.Alerts, l.Firing, l.Resolved, l.SeenByConsumer, l.Unmatched, l.NotPaneBoundary)
	fmt.Fprintf(w, "  %-62s %5s %9s %9s %9s %9s\n", "ms", "n", "p50", "p90", "p99", "max")
	for _, row := range []struct {
		name string
		s    latencyStats
	}{
		{"tipping record consumed by driftd → alert acked on the topic", l.ConsumedToAck},
		{"tipping record consumed by driftd → alert read by a consumer", l.ConsumedToSeen},
		{"tipping record produced → alert read by a consumer", l.ProducedToSeen},
		{"consume lag of the tipping record (produced → consumed)", l.ConsumeLag},
	} {
		fmt.Fprintf(w, "  %-62s %5d %9.2f %9.2f %9.2f %9.2f\n", row.name, row.s.N, row.s.P50, row.s.P90, row.s.P99, row.s.Max)
	}
	fmt.Fprintf(w, "  records produced but not yet consumed when a tipping record was consumed: at most %d\n", l.MaxLagRecords)
	fmt.Fprintf(w, "  target: p99 ≤ 50 ms from the tipping record's consumption\n")
}

// alertLatency runs the latency scenario: the pipeline (stream.Service,
// as the daemon runs it, plus a hook that timestamps consumption and
// alert acknowledgements) on a fresh single-partition topic; warm-up
// events fill the windows, then events are produced at a steady rate with
// drift switched on and off. Each alert's window.last_seq names the event
// that closed the pane whose evaluation changed the alert's state: on a
// fresh topic with one model, event offset = last_seq − 1.
func alertLatency(ctx context.Context, o *benchOpts, base, cfg Config, adm *kadm.Client, opts []kgo.Opt, comp kgo.CompressionCodec, gcfg gen.Config) (*latencyRes, error) {
	ctx, cancel := context.WithTimeout(ctx, roundTimeout)
	defer cancel()
	input := strings.TrimSuffix(cfg.Stream.AlertTopic, ".alerts") + ".events"
	cfg.Stream.InputTopics = []string{input}
	if _, err := adm.CreateTopic(ctx, int32(o.partitions), base.Stream.TopicReplication, nil, input); err != nil {
		return nil, fmt.Errorf("creating %s: %w", input, err)
	}
	if _, err := stream.EnsureTopics(ctx, adm, &cfg.Stream); err != nil {
		return nil, err
	}
	l := &latencyRes{
		Description: "paced production with drift switched on and off; latencies from the moment driftd's poll returned the record " +
			"that closed the window (alert.window.last_seq) to the alert's broker acknowledgement (a produce hook on driftd's client) " +
			"and to its receipt by a separate alert-topic consumer",
		Rate: o.latencyRate, Cycles: o.latencyCycles,
		OnEvents: 2 * o.window, OffEvents: 3 * o.window, WarmupEvents: 2 * o.window,
	}
	total := l.WarmupEvents + l.Cycles*(l.OnEvents+l.OffEvents)
	l.Events = total
	hook := &latencyHook{input: input, alerts: cfg.Stream.AlertTopic, consumed: make([]atomic.Int64, total)}

	policies, err := detector.NewPolicies(cfg.Policy)
	if err != nil {
		return nil, err
	}
	svc, err := stream.NewService(stream.ServiceOptions{
		Config:    cfg.Stream,
		Processor: stream.ProcessorConfig{Policies: policies, Window: cfg.Window},
		Registry:  stream.NewRegistry(),
		Metrics:   stream.NewMetricsWith(prometheus.NewRegistry(), cfg.Metrics),
		Log:       o.log,
		Hooks:     []kgo.Hook{hook},
	})
	if err != nil {
		return nil, err
	}
	sctx, stopSvc := context.WithCancel(ctx)
	defer stopSvc()
	svcErr := make(chan error, 1)
	go func() { svcErr <- svc.Run(sctx, 30*time.Second) }()

	// The alert-topic consumer.
	type seenAlert struct {
		at    time.Time
		value []byte
	}
	var seenMu sync.Mutex
	var seen []seenAlert
	acl, err := kgo.NewClient(append(slices.Clone(opts), kgo.ConsumeTopics(cfg.Stream.AlertTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(time.Second))...)
	if err != nil {
		return nil, err
	}
	defer acl.Close()
	actx, stopAlerts := context.WithCancel(ctx)
	alertsDone := make(chan struct{})
	go func() {
		defer close(alertsDone)
		for {
			fs := acl.PollFetches(actx)
			now := time.Now()
			if actx.Err() != nil || fs.IsClientClosed() {
				return
			}
			fs.EachRecord(func(r *kgo.Record) {
				seenMu.Lock()
				seen = append(seen, seenAlert{at: now, value: slices.Clone(r.Value)})
				seenMu.Unlock()
			})
		}
	}()
	defer func() { stopAlerts(); <-alertsDone }()

	waitFor := func(cond func() bool, what string) error {
		for !cond() {
			select {
			case err := <-svcErr:
				return fmt.Errorf("driftd stopped while waiting for %s: %v", what, err)
			case <-ctx.Done():
				return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
			case <-time.After(time.Millisecond):
			}
		}
		return nil
	}
	if err := waitFor(svc.Ready, "the pipeline to be ready"); err != nil {
		return nil, err
	}
	producer, err := kgo.NewClient(append(slices.Clone(opts), kgo.ProducerBatchCompression(comp), kgo.ProducerLinger(0))...)
	if err != nil {
		return nil, err
	}
	defer producer.Close()
	var perr atomic.Value
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			perr.CompareAndSwap(nil, err)
		}
	}
	produced := make([]int64, total) // Unix ns when handed to the producer
	g := gen.New(gcfg, 7)
	key := []byte(gcfg.Model)
	produce := func(i int) {
		idx := i - l.WarmupEvents
		drifted := idx >= 0 && idx%(l.OnEvents+l.OffEvents) < l.OnEvents
		v := g.AppendEvent(nil, int64(i), drifted)
		produced[i] = time.Now().UnixNano()
		producer.Produce(ctx, &kgo.Record{Topic: input, Key: key, Value: v}, promise)
	}
	for i := range l.WarmupEvents {
		produce(i)
	}
	if err := producer.Flush(ctx); err != nil {
		return nil, err
	}
	if err := waitFor(func() bool { return svc.Processed() >= uint64(l.WarmupEvents) }, "the warm-up events"); err != nil {
		return nil, err
	}
	fmt.Fprintf(o.stderr, "bench: alert latency: producing %d events at %d/s…\n", total-l.WarmupEvents, l.Rate)
	start := time.Now()
	for i := l.WarmupEvents; i < total; {
		due := l.WarmupEvents + int(time.Since(start).Seconds()*float64(l.Rate))
		for ; i < total && i < due; i++ {
			produce(i)
		}
		if e, ok := perr.Load().(error); ok {
			return nil, fmt.Errorf("producing: %w", e)
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		time.Sleep(200 * time.Microsecond)
	}
	l.AchievedRate = float64(total-l.WarmupEvents) / time.Since(start).Seconds()
	if err := producer.Flush(ctx); err != nil {
		return nil, err
	}
	if err := waitFor(func() bool { return svc.Processed() >= uint64(total) }, "every event to be processed"); err != nil {
		return nil, err
	}
	// Let the last alerts reach the alert consumer.
	wantSeen := func() bool {
		hook.mu.Lock()
		acked := len(hook.acked)
		hook.mu.Unlock()
		seenMu.Lock()
		defer seenMu.Unlock()
		return len(seen) >= acked
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && !wantSeen() {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	l.ProcessedRecords = svc.Processed()
	stopSvc()
	if err := <-svcErr; err != nil {
		return nil, fmt.Errorf("driftd: %w", err)
	}
	stopAlerts()
	<-alertsDone

	// Match alerts to their tipping records by ID.
	type tipped struct {
		offset int
		firing bool
	}
	decodeAlert := func(v []byte) (string, tipped, bool) {
		var a detector.Alert
		if json.Unmarshal(v, &a) != nil || a.Window.LastSeq < 1 || int(a.Window.LastSeq) > total {
			return "", tipped{}, false
		}
		if a.Window.Kind == "count" && a.Window.Hop > 0 && a.Window.LastSeq%uint64(a.Window.Hop) != 0 {
			l.NotPaneBoundary++
		}
		return a.ID, tipped{offset: int(a.Window.LastSeq) - 1, firing: a.Status == detector.Firing}, true
	}
	var toAck, toSeen, fromProduce, lag []float64
	ackAt := map[string]time.Time{}
	for _, a := range hook.acked {
		id, t, ok := decodeAlert(a.value)
		if !ok {
			l.Unmatched++
			continue
		}
		l.Alerts++
		if t.firing {
			l.Firing++
		} else {
			l.Resolved++
		}
		ackAt[id] = a.at
		c := hook.consumed[t.offset].Load()
		if c == 0 {
			l.Unmatched++
			continue
		}
		toAck = append(toAck, ms(a.at.UnixNano()-c))
		lag = append(lag, ms(c-produced[t.offset]))
		// records produced by the time the tipping record was consumed
		k := sort.Search(len(produced), func(j int) bool { return produced[j] > c })
		l.MaxLagRecords = max(l.MaxLagRecords, k-(t.offset+1))
	}
	for _, s := range seen {
		id, t, ok := decodeAlert(s.value)
		if !ok {
			continue
		}
		if _, ok := ackAt[id]; !ok {
			continue
		}
		l.SeenByConsumer++
		if c := hook.consumed[t.offset].Load(); c != 0 {
			toSeen = append(toSeen, ms(s.at.UnixNano()-c))
		}
		fromProduce = append(fromProduce, ms(s.at.UnixNano()-produced[t.offset]))
	}
	l.ConsumedToAck = newLatencyStats(toAck)
	l.ConsumedToSeen = newLatencyStats(toSeen)
	l.ProducedToSeen = newLatencyStats(fromProduce)
	l.ConsumeLag = newLatencyStats(lag)
	if l.Alerts == 0 {
		return l, errors.New("no alerts: the scenario produced no state change")
	}
	return l, nil
}

func ms(ns int64) float64 { return float64(ns) / 1e6 }
