package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/driftd/driftd/detector"
	"github.com/driftd/driftd/detector/perf"
	"github.com/driftd/driftd/stream/codec"
)

func cmdReference(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, referenceUsage)
		return usagef("reference: want a subcommand: build, show or publish")
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, referenceUsage)
		return nil
	case "build":
		return cmdReferenceBuild(ctx, args[1:], stdin, stdout, stderr)
	case "show":
		return cmdReferenceShow(args[1:], stdout, stderr)
	case "publish":
		return cmdReferencePublish(ctx, args[1:], stdout, stderr)
	default:
		return usagef("reference: unknown subcommand %q (want build, show or publish)", args[0])
	}
}

const referenceUsage = `usage: driftd reference <subcommand> [flags]

Subcommands:
  build      build a reference from a training set (CSV or JSON lines)
  show       summarise a reference file
  publish    publish a reference to the compacted reference topic

Run "driftd reference <subcommand> -h" for its flags.
`

// newFlagSet returns a flag set that reports errors instead of exiting.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
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

func cmdReferenceBuild(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("reference build", stderr)
	input := fs.String("input", "", "training set: `FILE`.csv (with a header row), .jsonl (events or flat rows), .avro (Avro container file) or .parquet; - reads JSON lines from stdin")
	format := fs.String("format", "auto", "input format: auto (by extension), csv, jsonl, avro, parquet")
	model := fs.String("model", "", "model name (required)")
	ver := fs.String("version", "", "model version")
	categorical := fs.String("categorical", "", "comma-separated features to treat as categorical")
	numeric := fs.String("numeric", "", "comma-separated features to treat as numeric")
	breakpoints := fs.Int("breakpoints", 1000, "quantile breakpoints per numeric feature (r)")
	topK := fs.Int("top-k", 64, "categories kept per categorical feature")
	multivariate := fs.Bool("multivariate", false, "fit a PCA on the standardized numeric features and monitor each event's reconstruction error (feature "+detector.MultivariateFeature+")")
	mvVariance := fs.Float64("multivariate-variance", 0.65, "share of the standardized variance the kept principal components explain, in (0, 1)")
	mvHoldout := fs.Float64("multivariate-holdout", 0.25, "share of rows held out of the PCA fit to measure the reference reconstruction error, in (0, 1)")
	mvFeatures := fs.String("multivariate-features", "", "comma-separated numeric features for the PCA (default: all numeric features)")
	segment := fs.String("segment", "", "comma-separated segment keys (as DRIFTD_SEGMENT_KEYS): also build a reference per segment value")
	segMax := fs.Int("segment-max", 20, "segments given a reference of their own (the first seen)")
	segMinRows := fs.Int64("segment-min-rows", 1000, "training rows a segment needs for a reference of its own")
	label := fs.String("label", "", "label `COLUMN` of a validation set (0/1 or true/false; a number with --task regression; a class with --task multiclass): measure the model's performance for realized-performance monitoring (needs --prediction); the column is not a feature")
	prediction := fs.String("prediction", "", "prediction `COLUMN` (with --label): the probability of the positive class (binary), the estimate (regression), the predicted class or the prefix of per-class probability columns COLUMN.<class> (multiclass)")
	threshold := fs.Float64("threshold", 0.5, "decision threshold on the score for precision and recall (with --label)")
	task := fs.String("task", "binary", "the model's task with --label: binary (0/1 labels, the prediction a probability), regression (numeric labels) or multiclass (class labels, the prediction the predicted class or per-class probabilities PREDICTION.<class>)")
	out := fs.String("out", "", "output `FILE` (default: stdout)")
	quiet := fs.Bool("quiet", false, "no progress on stderr")
	exclude := fs.String("exclude", "", "comma-separated `COLUMNS` not to use as features")
	include := fs.String("include", "", "comma-separated `COLUMNS` to use as features although events treat them specially (model, model_version, timestamp, request_id, label)")
	rename := fs.String("rename", "", "comma-separated `OLD=NEW` column renames, e.g. score=prediction (exclude and include match either name)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *input == "" || *model == "" {
		return usagef("reference build: --input and --model are required")
	}
	plan, err := newColumnPlan(*exclude, *include, *rename)
	if err != nil {
		return usagef("reference build: %v", err)
	}
	opts := detector.BuildOptions{
		Breakpoints: *breakpoints, TopK: *topK,
		Categorical: splitList(*categorical), Numeric: splitList(*numeric),
	}
	if *multivariate {
		opts.Multivariate = &detector.MultivariateOptions{Variance: *mvVariance, Holdout: *mvHoldout, Features: splitList(*mvFeatures)}
	} else if *mvFeatures != "" {
		return usagef("reference build: --multivariate-features needs --multivariate")
	}
	if *segment != "" {
		opts.Segments = &detector.SegmentBuildOptions{Keys: splitList(*segment), Max: *segMax, MinRows: *segMinRows}
	}
	b, err := detector.NewBuilder(*model, *ver, opts)
	if err != nil {
		return usagef("reference build: %v", err)
	}
	var sink rowSink = b
	var collector *perfCollector
	if (*label == "") != (*prediction == "") {
		return usagef("reference build: --label and --prediction go together")
	}
	if *label != "" {
		if !(*threshold > 0 && *threshold < 1) {
			return usagef("reference build: --threshold must be in (0, 1), got %v", *threshold)
		}
		if *task != detector.PerformanceTask && *task != detector.PerformanceRegression && *task != detector.PerformanceMulticlass {
			return usagef("reference build: --task must be binary, regression or multiclass, got %q", *task)
		}
		collector = &perfCollector{next: b, label: *label, prediction: *prediction, regression: *task == detector.PerformanceRegression}
		if *task == detector.PerformanceMulticlass {
			collector.multiclass = newClassRows(*label, *prediction)
		}
		plan.pass[*label] = true // to the collector, which keeps it out of the features
		sink = collector
	}
	src, err := openInput(*input, stdin)
	if err != nil {
		return usagef("reference build: --input: %v", err)
	}
	defer src.Close()
	kind := *format
	if kind == "auto" {
		kind = "jsonl"
		switch strings.ToLower(filepath.Ext(*input)) {
		case ".csv":
			kind = "csv"
		case ".avro":
			kind = "avro"
		case ".parquet":
			kind = "parquet"
		}
	}
	prog := newProgress(stderr, src.size, *quiet)
	var stats rowStats
	switch kind {
	case "csv":
		err = readCSV(ctx, src, sink, plan, prog, stderr, &stats)
	case "jsonl", "json":
		err = readJSONL(ctx, src, sink, plan, prog, stderr, &stats)
	case "avro":
		plan.stderr, plan.eventFields = stderr, true
		err = readAvroFile(ctx, *input, plannedSink{sink, plan}, &stats)
	case "parquet":
		plan.stderr, plan.eventFields = stderr, true
		err = readParquetFile(ctx, *input, plannedSink{sink, plan}, &stats)
	default:
		return usagef("reference build: --format must be auto, csv, jsonl, avro or parquet, got %q", kind)
	}
	if err != nil {
		return err
	}
	prog.done(stats.rows)
	if stats.bad > 0 {
		fmt.Fprintf(stderr, "reference build: %d of %d lines were malformed and not used (listed above)\n", stats.bad, stats.rows+stats.bad)
	}
	if stats.rows == 0 {
		return fmt.Errorf("reference build: no usable rows in %s", *input)
	}
	if err := plan.unused(); err != nil {
		return usagef("reference build: %v", err)
	}
	ref, err := b.Reference()
	for _, s := range b.Skipped() {
		fmt.Fprintf(stderr, "reference build: column %q left out of the reference: %s\n", s.Name, s.Reason)
	}
	if err != nil {
		return fmt.Errorf("reference build: %w", err)
	}
	warnSmallReference(stderr, ref, detector.DefaultPolicy())
	for _, note := range b.SegmentNotes() {
		fmt.Fprintf(stderr, "reference build: %s\n", note)
	}
	if collector != nil {
		if collector.multiclass != nil {
			pr, err := multiclassReference(collector, stderr)
			if err != nil {
				return fmt.Errorf("reference build: performance: %w", err)
			}
			ref.Performance = pr
		} else if collector.regression {
			pr, err := perf.BuildRegressionReference(collector.pairs, *prediction, *label)
			if err != nil {
				return fmt.Errorf("reference build: performance: %w", err)
			}
			ref.Performance = pr
			fmt.Fprintf(stderr, "reference build: performance on %d labelled rows (%d without a usable label or prediction): mae %.4g, rmse %.4g, bias %.4g\n",
				pr.Count, collector.unlabelled, pr.MAE, math.Sqrt(pr.MSE), pr.Bias)
		} else {
			pr, err := perf.BuildReference(collector.pairs, *threshold, *prediction, *label)
			if err != nil {
				return fmt.Errorf("reference build: performance: %w", err)
			}
			ref.Performance = pr
			fmt.Fprintf(stderr, "reference build: performance on %d labelled rows (%d without a usable label or score): roc_auc %.4f, average precision %.4f, log loss %.4f, brier %.4f\n",
				pr.Count, collector.unlabelled, pr.ROCAUC, pr.AveragePrecision, pr.LogLoss, pr.Brier)
			estimationNote(stderr, pr, collector.pairs)
		}
	}
	ref.Created = time.Now().UTC().Truncate(time.Second)
	ref.Source = filepath.Base(*input)
	data, err := ref.Encode()
	if err != nil {
		return err
	}
	data = append(data, '\n')
	if *out == "" {
		if _, err = stdout.Write(data); err != nil {
			return err
		}
		return skippedErr(b.Skipped())
	}
	if err := os.WriteFile(*out, data, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "reference build: wrote %s (%s/%s, %d rows, %d features, id %s)\n", *out, ref.Model, ref.Version, ref.Rows, len(ref.Features), ref.ID)
	return skippedErr(b.Skipped())
}

// skippedErr is the exit status of a build that left columns out: the
// reference is written without them, and the command fails (exit 1) so
// a pipeline notices.
func skippedErr(skipped []detector.SkippedFeature) error {
	if len(skipped) == 0 {
		return nil
	}
	names := make([]string, len(skipped))
	for i, s := range skipped {
		names[i] = strconv.Quote(s.Name)
	}
	return fmt.Errorf("reference build: %d column(s) left out of the reference: %s", len(skipped), strings.Join(names, ", "))
}

// minReferenceRows is the fewest valid values a feature needs so that the
// reference's own sampling error stays below the KS gate: the 95% band of
// an empirical CDF of m values is about 1.36/√m wide (Kolmogorov), which
// is the gate (DRIFTD_KS_MIN_EFFECT) at m = (1.36/gate)².
func minReferenceRows(p detector.Policy) int64 {
	if p.KSMinEffect <= 0 {
		return 0
	}
	return int64(math.Ceil(math.Pow(1.36/p.KSMinEffect, 2)))
}

// warnSmallReference warns about features with too few valid values for
// the tests to tell drift from the reference's own sampling error.
func warnSmallReference(w io.Writer, ref *detector.Reference, p detector.Policy) {
	need := minReferenceRows(p)
	shown := 0
	for _, f := range ref.Features {
		if f.Count >= need {
			continue
		}
		if shown++; shown > 20 {
			continue
		}
		band := math.Inf(1)
		if f.Count > 0 {
			band = 1.36 / math.Sqrt(float64(f.Count))
		}
		msg := fmt.Sprintf("reference build: warning: feature %q has %d valid values, fewer than %d: the reference CDF is only known to ±%.2f (95%%), more than the KS gate of %.2f",
			f.Name, f.Count, need, band, p.KSMinEffect)
		if f.Kind == detector.Numeric && f.Count > 0 {
			msg += fmt.Sprintf(", and %.1f%% of events fall outside its range by chance (2/(m+1))", 200/float64(f.Count+1))
		}
		fmt.Fprintln(w, msg+"; small drifts will go unnoticed: use more rows")
	}
	if shown > 20 {
		fmt.Fprintf(w, "reference build: warning: %d more features have fewer than %d valid values\n", shown-20, need)
	}
}

type rowStats struct{ rows, bad int64 }

// input is an opened input file with its size (0 when unknown).
type input struct {
	io.Reader
	close func() error
	size  int64
	count *countingReader
}

func (i *input) Close() error { return i.close() }

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func openInput(path string, stdin io.Reader) (*input, error) {
	if path == "-" {
		cr := &countingReader{r: stdin}
		return &input{Reader: cr, close: func() error { return nil }, count: cr}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	var size int64
	if st, err := f.Stat(); err == nil {
		size = st.Size()
	}
	cr := &countingReader{r: f}
	return &input{Reader: cr, close: f.Close, size: size, count: cr}, nil
}

// progress prints a progress line on stderr at most once a second.
type progress struct {
	w     io.Writer
	size  int64
	quiet bool
	start time.Time
	last  time.Time
}

func newProgress(w io.Writer, size int64, quiet bool) *progress {
	now := time.Now()
	return &progress{w: w, size: size, quiet: quiet, start: now, last: now}
}

func (p *progress) tick(rows int64, read int64) {
	if p.quiet || rows%4096 != 0 {
		return
	}
	now := time.Now()
	if now.Sub(p.last) < time.Second {
		return
	}
	p.last = now
	if p.size > 0 {
		fmt.Fprintf(p.w, "  %d rows, %.1f MB of %.1f MB (%.0f%%)\n", rows, float64(read)/1e6, float64(p.size)/1e6, 100*float64(read)/float64(p.size))
	} else {
		fmt.Fprintf(p.w, "  %d rows, %.1f MB\n", rows, float64(read)/1e6)
	}
}

func (p *progress) done(rows int64) {
	if p.quiet || time.Since(p.start) < time.Second {
		return
	}
	fmt.Fprintf(p.w, "  %d rows in %s\n", rows, time.Since(p.start).Round(time.Millisecond))
}

// maxReported bounds the malformed lines printed; all are counted.
const maxReported = 100

func reportBad(stderr io.Writer, stats *rowStats, line int64, err error) {
	stats.bad++
	if stats.bad <= maxReported {
		fmt.Fprintf(stderr, "line %d: %v\n", line, err)
	} else if stats.bad == maxReported+1 {
		fmt.Fprintf(stderr, "(further malformed lines are counted, not listed)\n")
	}
}

// eventFields are the top-level fields of an event that are not
// features (the codec's flat rows skip the same ones); a training column
// of one of these names is not a feature unless --include names it.
// "prediction" is not among them: it is the prediction feature, as in
// events.
var eventFields = []string{"model", "model_version", "timestamp", "request_id", "label"}

// columnPlan is what reference build does with each input column or field:
// rename it, skip it, or use it as a feature.
type columnPlan struct {
	exclude, include map[string]bool
	rename           map[string]string
	seen             map[string]bool // names of --exclude, --include, --rename found in the input
	noted            map[string]bool // event fields skipped (reported once)
	pass             map[string]bool // passed on whatever their name (the --label column)
	stderr           io.Writer
	// eventFields: skip columns named like eventFields (CSV columns; in
	// JSON lines the decoder has already set the event's fields apart,
	// and a "label" inside "features" is a feature).
	eventFields bool
}

func newColumnPlan(exclude, include, rename string) (*columnPlan, error) {
	p := &columnPlan{exclude: map[string]bool{}, include: map[string]bool{}, rename: map[string]string{}, seen: map[string]bool{}, noted: map[string]bool{}, pass: map[string]bool{}}
	for _, c := range splitList(exclude) {
		p.exclude[c] = true
	}
	for _, c := range splitList(include) {
		if p.exclude[c] {
			return nil, fmt.Errorf("--include and --exclude both name %q", c)
		}
		p.include[c] = true
	}
	for _, kv := range splitList(rename) {
		old, nw, ok := strings.Cut(kv, "=")
		old, nw = strings.TrimSpace(old), strings.TrimSpace(nw)
		if !ok || old == "" || nw == "" {
			return nil, fmt.Errorf("--rename: %q is not OLD=NEW", kv)
		}
		if _, dup := p.rename[old]; dup {
			return nil, fmt.Errorf("--rename: %q is renamed twice", old)
		}
		if err := detector.CheckFeatureName(nw); err != nil {
			return nil, fmt.Errorf("--rename: new name %q: %v", nw, err)
		}
		p.rename[old] = nw
	}
	return p, nil
}

// feature returns the feature name of an input column, or false when the
// column is not a feature.
func (p *columnPlan) feature(name string) (string, bool) {
	final := name
	if nw, ok := p.rename[name]; ok {
		p.seen[name] = true
		final = nw
	}
	for _, n := range []string{name, final} {
		if p.exclude[n] {
			p.seen[n] = true
			return "", false
		}
	}
	for _, n := range []string{name, final} {
		if p.include[n] {
			p.seen[n] = true
			return final, true
		}
	}
	if p.eventFields && slices.Contains(eventFields, final) && !p.pass[final] {
		if !p.noted[final] && p.stderr != nil {
			fmt.Fprintf(p.stderr, "reference build: column %q is not a feature (events carry it as %s; --include %s to use it as one)\n", name, final, name)
		}
		p.noted[final] = true
		return "", false
	}
	return final, true
}

// plannedSink applies the column plan (--exclude, --include, --rename and
// the event fields left out) to the columns of Avro and Parquet files.
type plannedSink struct {
	rowSink
	plan *columnPlan
}

func (s plannedSink) Add(name string, v detector.Value) error {
	final, ok := s.plan.feature(name)
	if !ok {
		return nil
	}
	return s.rowSink.Add(final, v)
}

// unused reports names given to --exclude, --include or --rename that the
// input never had: most likely a typo.
func (p *columnPlan) unused() error {
	var missing []string
	for _, m := range []map[string]bool{p.exclude, p.include} {
		for n := range m {
			if !p.seen[n] {
				missing = append(missing, n)
			}
		}
	}
	for n := range p.rename {
		if !p.seen[n] {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return fmt.Errorf("--exclude, --include or --rename name columns the input does not have: %s", strings.Join(missing, ", "))
	}
	return nil
}

func readCSV(ctx context.Context, src *input, b rowSink, plan *columnPlan, prog *progress, stderr io.Writer, stats *rowStats) error {
	r := csv.NewReader(bufio.NewReaderSize(src, 1<<20))
	r.ReuseRecord = true
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if err != nil {
		return fmt.Errorf("reference build: reading the CSV header: %w", err)
	}
	plan.stderr, plan.eventFields = stderr, true
	// names[i] is column i's feature name, "" when it is not a feature.
	names := make([]string, len(header))
	first := map[string]int{}
	for i, h := range header {
		h = strings.TrimSpace(h)
		if i == 0 {
			h = strings.TrimPrefix(h, "\ufeff") // a byte-order mark (spreadsheet exports)
		}
		if h == "" {
			return usagef("reference build: CSV header: column %d has no name", i+1)
		}
		if !utf8.ValidString(h) {
			return usagef("reference build: CSV header: column %d name %q is not valid UTF-8 (convert the file to UTF-8)", i+1, h)
		}
		name, ok := plan.feature(h)
		if !ok {
			continue
		}
		if err := detector.CheckFeatureName(name); err != nil {
			return usagef("reference build: CSV header: column %d %q: %v", i+1, h, err)
		}
		if j, dup := first[name]; dup {
			return usagef("reference build: CSV header: columns %d and %d are both feature %q (use --rename or --exclude)", j+1, i+1, name)
		}
		first[name] = i
		names[i] = name
	}
	if len(first) == 0 {
		return usagef("reference build: CSV header: no column is a feature")
	}
	for {
		if stats.rows%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		rec, err := r.Read()
		if err == io.EOF {
			return nil
		}
		line, _ := r.FieldPos(0)
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				reportBad(stderr, stats, int64(pe.Line), pe.Err)
				continue
			}
			return err
		}
		if len(rec) != len(names) {
			reportBad(stderr, stats, int64(line), fmt.Errorf("%d fields, header has %d", len(rec), len(names)))
			continue
		}
		b.BeginRow()
		for i, cell := range rec {
			if names[i] == "" {
				continue
			}
			if err := b.Add(names[i], csvValue(cell)); err != nil {
				return fmt.Errorf("reference build: line %d: %w", line, err)
			}
		}
		b.EndRow()
		stats.rows++
		prog.tick(stats.rows, src.count.n)
	}
}

// csvValue types a CSV cell: empty is missing, a number is numeric,
// anything else is a string.
func csvValue(cell string) detector.Value {
	cell = strings.TrimSpace(cell)
	if cell == "" {
		return detector.Value{Kind: detector.Null}
	}
	if x, err := strconv.ParseFloat(cell, 64); err == nil {
		return detector.Value{Kind: detector.Number, Num: x, Parsed: true}
	}
	return detector.Value{Kind: detector.String, Text: []byte(cell)}
}

func readJSONL(ctx context.Context, src *input, b rowSink, plan *columnPlan, prog *progress, stderr io.Writer, stats *rowStats) error {
	canonical, _ := codec.NewRowDecoder(codec.Canonical, 64<<20)
	flat, _ := codec.NewRowDecoder(codec.Flat, 64<<20)
	sc := bufio.NewScanner(src)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	var line int64
	for sc.Scan() {
		line++
		if line%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		text := sc.Bytes()
		if len(strings.TrimSpace(string(text))) == 0 {
			continue
		}
		// An event with a "features" object is canonical; anything else
		// is a flat row.
		ev, err := canonical.Decode(text)
		if err != nil || !ev.HasFeatures {
			if ev2, err2 := flat.Decode(text); err2 == nil {
				ev, err = ev2, nil
			} else if err == nil {
				err = err2
			}
		}
		if err != nil {
			reportBad(stderr, stats, line, err)
			continue
		}
		b.BeginRow()
		if c, ok := b.(*perfCollector); ok {
			c.rawLine(text)
		}
		for _, fs := range [][]codec.Field{ev.Features, ev.Prediction} {
			for _, f := range fs {
				name, ok := plan.feature(string(f.Name))
				if !ok {
					continue
				}
				if err := b.Add(name, f.Value); err != nil {
					return fmt.Errorf("reference build: line %d: feature %q: %w", line, name, err)
				}
			}
		}
		b.EndRow()
		stats.rows++
		prog.tick(stats.rows, src.count.n)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reference build: line %d: %w", line+1, err)
	}
	return nil
}

func loadReferenceFile(path string) (*detector.Reference, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ref, err := detector.ReadReference(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return ref, nil
}

func cmdReferenceShow(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("reference show", stderr)
	path := fs.String("reference", "", "reference `FILE`")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *path == "" {
		return usagef("reference show: --reference is required")
	}
	ref, err := loadReferenceFile(*path)
	if err != nil {
		return usagef("reference show: --reference: %v", err)
	}
	fmt.Fprintf(stdout, "model %s version %q  id %s  rows %d  created %s  source %s\n",
		ref.Model, ref.Version, ref.ID, ref.Rows, ref.Created.Format(time.RFC3339), ref.Source)
	fmt.Fprintf(stdout, "%-28s %-11s %10s %8s %8s  %s\n", "feature", "kind", "count", "missing", "invalid", "summary")
	for _, f := range ref.Features {
		var sum string
		if f.Kind == detector.Numeric {
			sum = fmt.Sprintf("mean %.4g sd %.4g range [%.4g, %.4g]  %d breakpoints, cdf error %.2g", f.Mean, f.StdDev(), f.Min, f.Max, len(f.Breakpoints), f.CDFError)
		} else {
			top := make([]string, 0, 3)
			for i, c := range f.Categories {
				if i == 3 {
					break
				}
				top = append(top, fmt.Sprintf("%s %.1f%%", c.Value, 100*float64(c.Count)/float64(max(f.Count, 1))))
			}
			sum = fmt.Sprintf("%d distinct; top: %s", f.Distinct, strings.Join(top, ", "))
		}
		fmt.Fprintf(stdout, "%-28s %-11s %10d %8d %8d  %s\n", f.Name, f.Kind, f.Count, f.Missing, f.Invalid, sum)
	}
	for _, sg := range ref.Segments {
		fmt.Fprintf(stdout, "segment %s: own reference, %d rows\n", sg.Segment, sg.Rows)
	}
	if p := ref.Performance; p != nil && p.Task == detector.PerformanceMulticlass {
		showMulticlass(stdout, p)
	} else if p != nil && p.Task == detector.PerformanceRegression {
		fmt.Fprintf(stdout, "performance (regression, label %s, prediction %s): %d rows; mae %.4g, rmse %.4g, bias %.4g\n",
			p.Label, p.Prediction, p.Count, p.MAE, math.Sqrt(p.MSE), p.Bias)
	} else if p != nil {
		fmt.Fprintf(stdout, "performance (%s, label %s, score %s, threshold %g): %d rows, %d positive; roc_auc %.4f, average precision %.4f, log loss %.4f, brier %.4f, precision %.4f, recall %.4f\n",
			p.Task, p.Label, p.Prediction, p.Threshold, p.Count, p.Positives, p.ROCAUC, p.AveragePrecision, p.LogLoss, p.Brier,
			float64(p.TruePositives)/float64(max(p.PredictedPositives, 1)), float64(p.TruePositives)/float64(p.Positives))
		if e := p.Estimation; e != nil {
			fmt.Fprintf(stdout, "performance estimation (%s, %d score cells): estimated roc_auc %.4f, precision %.4f, recall %.4f\n",
				e.Method, len(e.Calibrated), e.ROCAUC, e.Precision, e.Recall)
		}
	}
	if mv := ref.Multivariate; mv != nil {
		fmt.Fprintf(stdout, "multivariate: %s = PCA reconstruction error of %s; %d of %d components keep %.1f%% of the variance; fit on %d rows, error sketched on %d held-out rows\n",
			mv.Feature, strings.Join(mv.Inputs, ", "), len(mv.Components), len(mv.Inputs), 100*mv.VarianceShare, mv.FitRows, mv.HoldoutRows)
	}
	return nil
}
