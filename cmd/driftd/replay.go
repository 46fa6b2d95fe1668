package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/driftd/driftd/detector"
	"github.com/driftd/driftd/detector/perf"
	"github.com/driftd/driftd/stream"
	"github.com/driftd/driftd/stream/codec"
)

// evaluationLine is one line of `driftd replay` output per test result.
type evaluationLine struct {
	Type       string `json:"type"` // "evaluation"
	Model      string `json:"model"`
	Version    string `json:"version"`
	Feature    string `json:"feature"`
	Evaluation uint64 `json:"evaluation"`
	Seq        uint64 `json:"seq"`
	*detector.Result
}

type alertLine struct {
	Type string `json:"type"` // "alert"
	*detector.Alert
}

// windowFlags are the window and policy flags shared by replay and bench.
type windowFlags struct {
	size, hop          *int
	wtime, htime, late *time.Duration
	maxFuture          *time.Duration
	ert                *float64
	hysteresis         *int
	minEvents          *int
	policy             *string
}

func addWindowFlags(fs interface {
	Int(string, int, string) *int
	Duration(string, time.Duration, string) *time.Duration
	Float64(string, float64, string) *float64
	String(string, string, string) *string
}) *windowFlags {
	def := detector.DefaultPolicy()
	return &windowFlags{
		size:       fs.Int("window-size", 1000, "count window size N in events"),
		hop:        fs.Int("hop", 0, "count window hop H in events (default N/8, or the divisor of N nearest it)"),
		wtime:      fs.Duration("window-time", 0, "event-time window size T (enables time windows)"),
		htime:      fs.Duration("hop-time", 0, "event-time window hop S (default T/8)"),
		late:       fs.Duration("lateness", 0, "allowed lateness of event times"),
		maxFuture:  fs.Duration("max-future", 0, "how far ahead of the watermark an event time may be (default: the window length)"),
		ert:        fs.Float64("ert", def.ERT, "target expected events per model between false alarms"),
		hysteresis: fs.Int("hysteresis", def.Hysteresis, "consecutive drifting evaluations to fire (and clean ones to resolve)"),
		minEvents:  fs.Int("min-events", def.MinEvents, "windows with fewer events are not evaluated; at most the window size"),
		policy:     fs.String("policy", "", "policy `FILE` (JSON) with per-model and per-feature overrides"),
	}
}

func (w *windowFlags) resolve() (detector.WindowConfig, *detector.Policies, error) {
	cfg := detector.WindowConfig{Size: *w.size, Hop: *w.hop, Time: *w.wtime, TimeHop: *w.htime, Lateness: *w.late, MaxFuture: *w.maxFuture}
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return cfg, nil, usagef("%v", err)
	}
	base := detector.DefaultPolicy()
	base.ERT = *w.ert
	base.Hysteresis = *w.hysteresis
	base.MinEvents = *w.minEvents
	if err := base.Validate(); err != nil {
		return cfg, nil, usagef("--min-events: %v", err)
	}
	ps, err := loadPolicies(*w.policy, base)
	if err != nil {
		return cfg, nil, usagef("%v", err)
	}
	if err := ps.CheckWindow(cfg); err != nil {
		return cfg, nil, usagef("--window-size / --min-events (or --policy): %v", err)
	}
	return cfg, ps, nil
}

func cmdReplay(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("replay", stderr)
	refs := fs.String("reference", "", "reference `FILES`, comma-separated (one per model version)")
	in := fs.String("input", "", "events `FILE` (JSON lines); - for stdin")
	format := fs.String("format", string(codec.Canonical), "event format: canonical or flat")
	quietEvals := fs.Bool("alerts-only", false, "print alerts only, not every evaluation")
	segKeys := fs.String("segment-keys", "", "comma-separated features whose values give segments with their own windows (as DRIFTD_SEGMENT_KEYS)")
	segMax := fs.Int("segment-max", 20, "segments kept per model version; later values go to \"other\" (as DRIFTD_SEGMENT_MAX)")
	performance := fs.Bool("performance", false, "join predictions to labels by request_id and test the realized performance of models whose reference has a performance section")
	horizon := fs.Duration("label-horizon", 24*time.Hour, "how long (event time) a prediction waits for its label")
	maxPending := fs.Int("max-pending", 1_000_000, "predictions waiting for a label at most; past it the oldest is dropped (counted)")
	perfWindow := fs.Int("performance-window", 1000, "joined pairs per performance window (hop: an eighth)")
	wf := addWindowFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *refs == "" || *in == "" {
		return usagef("replay: --reference and --input are required")
	}
	wcfg, policies, err := wf.resolve()
	if err != nil {
		return err
	}
	var pr *perfReplay
	if *performance {
		pcfg := perf.DefaultConfig()
		pcfg.Window, pcfg.Hop = *perfWindow, max(1, *perfWindow/8)
		if err := pcfg.Validate(); err != nil {
			return usagef("replay: %v", err)
		}
		joiner, err := perf.NewJoiner(perf.JoinConfig{Horizon: *horizon, MaxPending: *maxPending})
		if err != nil {
			return usagef("replay: %v", err)
		}
		pr = &perfReplay{joiner: joiner, monitors: map[string]*perf.Monitor{}, cfg: pcfg}
	}
	registry := stream.NewRegistry()
	for _, path := range splitList(*refs) {
		ref, err := loadReferenceFile(path)
		if err != nil {
			return usagef("replay: %v", err)
		}
		registry.Set(ref)
	}
	if pr != nil {
		refs, _ := registry.Snapshot()
		pr.refs = func(key string) *detector.Reference { return refs[key] }
		pr.policies = policies
	}
	proc, err := stream.NewProcessor(stream.ProcessorConfig{Format: codec.Format(*format), Policies: policies, Window: wcfg,
		Segments: detector.SegmentConfig{Keys: splitList(*segKeys), Max: *segMax}}, registry)
	if err != nil {
		return usagef("replay: %v", err)
	}
	src, err := openInput(*in, stdin)
	if err != nil {
		return usagef("replay: %v", err)
	}
	defer src.Close()

	w := bufio.NewWriterSize(stdout, 1<<16)
	defer w.Flush()
	enc := json.NewEncoder(w)
	task := proc.Task(stream.TaskID{Topic: *in})
	sc := bufio.NewScanner(src)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	var line int64
	var stats rowStats
	var firing, resolved, evaluations, undefined int
	var firstUndefined string
	for sc.Scan() {
		line++
		if line%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		text := sc.Bytes()
		if strings.TrimSpace(string(text)) == "" {
			continue
		}
		if pr != nil {
			labelEvent := pr.line(text, line)
			if err := pr.flush(enc, *quietEvals, &firing, &resolved); err != nil {
				return err
			}
			if labelEvent {
				continue
			}
		}
		// Events without a timestamp are placed by their line number
		// (milliseconds), so count windows work on any file.
		if derr := proc.Process(task, text, line, line); derr != nil {
			reportBad(stderr, &stats, line, derr)
			continue
		}
		stats.rows++
		for i := range proc.Out.Evaluations {
			e := &proc.Out.Evaluations[i]
			evaluations++
			for j := range e.Results {
				if r := &e.Results[j]; r.Undefined != "" {
					if undefined == 0 {
						firstUndefined = fmt.Sprintf("%s/%s %s %s at event %d: %s", e.Model, e.Version, e.Feature, r.Test, e.Window.LastSeq, r.Undefined)
					}
					undefined++
				}
			}
			if *quietEvals {
				continue
			}
			for j := range e.Results {
				if err := enc.Encode(evaluationLine{
					Type: "evaluation", Model: e.Model, Version: e.Version, Feature: e.Feature,
					Evaluation: e.Number, Seq: e.Window.LastSeq, Result: &e.Results[j],
				}); err != nil {
					return err
				}
			}
		}
		for i := range proc.Out.Alerts {
			a := &proc.Out.Alerts[i]
			if a.Status == detector.Firing {
				firing++
			} else {
				resolved++
			}
			if err := enc.Encode(alertLine{Type: "alert", Alert: a}); err != nil {
				return err
			}
		}
		proc.Out.Reset()
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("replay: line %d: %w", line+1, err)
	}
	c := proc.Counters
	var late, future uint64
	for _, m := range task.Monitors() {
		st := m.Stats()
		late, future = late+st.Late, future+st.Future
	}
	fmt.Fprintf(stderr, "replay: %d lines, %d events processed, %d malformed, %d without a reference, %d evaluations, %d alerts firing, %d resolved\n",
		line, c.Processed, stats.bad, c.NoReference, evaluations, firing, resolved)
	if pr != nil {
		pr.summary(stderr)
	}
	// Late and future count per group (features, prediction) of an event;
	// dropped counts events applied to no window at all.
	fmt.Fprintf(stderr, "replay: event time: %d late, %d future, %d events dropped\n", late, future, c.Skipped)
	if undefined > 0 {
		fmt.Fprintf(stderr, "replay: %d test results undefined (never drifting), the first %s\n", undefined, firstUndefined)
	}
	for key, n := range proc.UnknownModels() {
		fmt.Fprintf(stderr, "replay: %d events for %s, which has no reference\n", n, key)
	}
	return nil
}
