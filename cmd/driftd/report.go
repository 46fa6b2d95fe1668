package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/driftd/driftd/stream"
	"github.com/driftd/driftd/stream/codec"
	"github.com/driftd/driftd/stream/web"
)

// cmdReport runs the detector over a file of events, like replay, and
// writes the drift view as one self-contained HTML file (and, with
// --json, its JSON form).
func cmdReport(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("report", stderr)
	refs := fs.String("reference", "", "reference `FILES`, comma-separated (one per model version)")
	in := fs.String("input", "", "events `FILE` (JSON lines); - for stdin")
	format := fs.String("format", string(codec.Canonical), "event format: canonical or flat")
	unit := fs.String("timestamp-unit", string(codec.Millis), "unit of numeric event timestamps: ms (Unix milliseconds) or s (Unix seconds)")
	out := fs.String("out", "driftd-report.html", "HTML report `FILE`; - for stdout")
	jsonOut := fs.String("json", "", "also write the report as JSON to `FILE`")
	points := fs.Int("points", 200, "history points per feature (the whole input is spread over them)")
	wf := addWindowFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *refs == "" || *in == "" {
		return usagef("report: --reference and --input are required")
	}
	if *points < 2 || *points > 10000 {
		return usagef("report: --points must be in 2..10000")
	}
	wcfg, policies, err := wf.resolve()
	if err != nil {
		return err
	}
	registry := stream.NewRegistry()
	for _, path := range splitList(*refs) {
		ref, err := loadReferenceFile(path)
		if err != nil {
			return usagef("report: --reference: %v", err)
		}
		registry.Set(ref)
	}
	proc, err := stream.NewProcessor(stream.ProcessorConfig{Format: codec.Format(*format), TimeUnit: codec.TimeUnit(*unit), Policies: policies, Window: wcfg}, registry)
	if err != nil {
		return usagef("report: %v", err)
	}
	src, err := openInput(*in, stdin)
	if err != nil {
		return usagef("report: --input: %v", err)
	}
	defer src.Close()

	store := web.NewReportStore(*points)
	task := proc.Task(stream.TaskID{Topic: filepath.Base(*in)})
	sc := bufio.NewScanner(src)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	var line int64
	var stats rowStats
	var evaluations, alerts int
	for sc.Scan() {
		line++
		if line%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		text := sc.Bytes()
		if strings.TrimSpace(string(text)) == "" {
			continue
		}
		// Events without a timestamp are placed by their line number,
		// as in replay.
		if derr := proc.Process(task, text, line, line); derr != nil {
			reportBad(stderr, &stats, line, derr)
			continue
		}
		stats.rows++
		if len(proc.Out.Evaluations) == 0 && len(proc.Out.Alerts) == 0 {
			continue
		}
		evaluations += len(proc.Out.Evaluations)
		for i := range proc.Out.Alerts {
			a := &proc.Out.Alerts[i]
			alerts++
			at := a.Window.End
			store.RecordAlert(at, a)
		}
		if len(proc.Out.Evaluations) > 0 {
			store.Sync(time.Time{}, proc.Monitors())
		}
		proc.Out.Reset()
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("report: line %d: %w", line+1, err)
	}
	generated := time.Now().UTC()
	store.Flush(generated, proc.Monitors())
	if err := writeFileOrStdout(*out, stdout, func(w io.Writer) error { return store.WriteReport(w, version(), generated) }); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if *jsonOut != "" {
		if err := writeFileOrStdout(*jsonOut, stdout, func(w io.Writer) error { return store.WriteReportJSON(w, generated) }); err != nil {
			return fmt.Errorf("report: %w", err)
		}
	}
	c := proc.Counters
	if n := proc.Counters.TimeUnitSuspect; n > 0 {
		fmt.Fprintf(stderr, "report: warning: %d numeric timestamps look like %s; check --timestamp-unit (now %s)\n", n, suspectUnit(*unit), *unit)
	}
	fmt.Fprintf(stderr, "report: %d lines, %d events processed, %d malformed, %d without a reference, %d evaluations, %d alerts; wrote %s\n",
		line, c.Processed, stats.bad, c.NoReference, evaluations, alerts, *out)
	for key, n := range proc.UnknownModels() {
		fmt.Fprintf(stderr, "report: %d events for %s, which has no reference\n", n, key)
	}
	return nil
}

// writeFileOrStdout writes through write to path, or to stdout for "-";
// a file is written whole or not at all (renamed into place).
func writeFileOrStdout(path string, stdout io.Writer, write func(io.Writer) error) error {
	if path == "-" {
		return write(stdout)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".driftd-report-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	w := bufio.NewWriterSize(tmp, 1<<16)
	if err := write(w); err != nil {
		tmp.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
