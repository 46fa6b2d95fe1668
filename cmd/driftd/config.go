package main

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
	promweb "github.com/prometheus/exporter-toolkit/web"

	"github.com/driftd/driftd/detector"
	"github.com/driftd/driftd/stream"
	"github.com/driftd/driftd/stream/web"
)

// config is everything `driftd run` reads from DRIFTD_* variables. Each
// part belongs to its package (stream.Config, detector.Policy,
// detector.WindowConfig); this struct composes them and adds the process
// settings.
type config struct {
	Stream stream.Config         `envPrefix:"DRIFTD_"`
	Policy detector.Policy       `envPrefix:"DRIFTD_"`
	Window detector.WindowConfig `envPrefix:"DRIFTD_"`
	// Segments: windows per segment value (DRIFTD_SEGMENT_KEYS).
	Segments detector.SegmentConfig `envPrefix:"DRIFTD_"`
	// Performance: realized performance from labels (DRIFTD_PERFORMANCE).
	Performance performanceConfig `envPrefix:"DRIFTD_"`
	Server      serverConfig      `envPrefix:"DRIFTD_"`
	Web         web.Config        `envPrefix:"DRIFTD_"`
	// Formats configures the input formats beyond canonical and flat.
	Formats formatsConfig `envPrefix:"DRIFTD_"`
}

type serverConfig struct {
	HTTPAddr        string        `env:"HTTP_ADDR"`
	ProbeAddr       string        `env:"PROBE_ADDR"`
	WebConfigFile   string        `env:"WEB_CONFIG_FILE"`
	ReferenceFiles  []string      `env:"REFERENCE_FILE" envSeparator:","`
	PolicyFile      string        `env:"POLICY_FILE"`
	MetricsFeatures int           `env:"METRICS_MAX_FEATURES"`
	MetricsDetail   string        `env:"METRICS_DETAIL"`
	MetricsTopK     int           `env:"METRICS_TOP_K"`
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT"`
	LogLevel        string        `env:"LOG_LEVEL"`
	LogFormat       string        `env:"LOG_FORMAT"`
}

func defaultConfig() config {
	return config{
		Stream: stream.Defaults(),
		Policy: detector.DefaultPolicy(),
		// Hop 0: the default hop, chosen for the size (detector.DefaultHop).
		Window:      detector.WindowConfig{Size: detector.DefaultWindow().Size},
		Segments:    detector.SegmentConfig{Max: 20},
		Performance: defaultPerformanceConfig(),
		Web:         web.Defaults(),
		Server: serverConfig{
			HTTPAddr:        ":9108",
			MetricsFeatures: 500,
			MetricsDetail:   string(stream.DetailDrifting),
			MetricsTopK:     3,
			ShutdownTimeout: 30 * time.Second,
			LogLevel:        "info",
			LogFormat:       "text",
		},
	}
}

// loadConfig reads the configuration from environ (os.Environ form) over
// the defaults and validates it. Every error names the variable.
func loadConfig(environ []string) (config, error) {
	vars := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vars[k] = v
		}
	}
	cfg := defaultConfig()
	if err := unknownVars(vars); err != nil {
		return cfg, err
	}
	if err := emptyVars(vars); err != nil {
		return cfg, err
	}
	if err := env.ParseWithOptions(&cfg, env.Options{Environment: vars}); err != nil {
		return cfg, namedParseError(vars, err)
	}
	return cfg, cfg.validate()
}

// emptyVars rejects a variable set to the empty string when its default
// is not empty: the parser would silently keep the default (an empty
// DRIFTD_BROKERS would mean localhost:9092).
func emptyVars(vars map[string]string) error {
	defaults, err := configValues(defaultConfig())
	if err != nil {
		return err
	}
	types := envTypes()
	for _, key := range envKeys() {
		if v, ok := vars[key]; ok && strings.TrimSpace(v) == "" && defaults[key] != "" {
			return usagef("%s: is empty; accepted: %s (unset it for the default %s)", key, typeWord(types[key]), defaults[key])
		}
	}
	return nil
}

// namedParseError finds which variable failed to parse by parsing each
// set variable alone, and says what it should look like.
func namedParseError(vars map[string]string, err error) error {
	for _, key := range envKeys() {
		v, ok := vars[key]
		if !ok {
			continue
		}
		probe := defaultConfig()
		if perr := env.ParseWithOptions(&probe, env.Options{Environment: map[string]string{key: v}}); perr != nil {
			var pe env.ParseError
			msg := perr.Error()
			var agg env.AggregateError
			if errors.As(perr, &agg) && len(agg.Errors) > 0 && errors.As(agg.Errors[0], &pe) {
				msg = fmt.Sprintf("is %q; accepted: %s", v, typeWord(pe.Type))
			}
			return usagef("%s: %s", key, msg)
		}
	}
	return usagef("%v", err)
}

// typeWord says what a variable of type t accepts.
func typeWord(t reflect.Type) string {
	if t == nil {
		return "a value"
	}
	if t == durationType {
		return "a duration like 30s or 5m"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "a boolean (true or false)"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "a whole number"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number ≥ 0"
	case reflect.Slice:
		return "a comma-separated list"
	}
	return "a non-empty value"
}

// envTypes maps every variable to the Go type of its setting.
func envTypes() map[string]reflect.Type {
	out := map[string]reflect.Type{}
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			if p, ok := f.Tag.Lookup("envPrefix"); ok && f.Type.Kind() == reflect.Struct {
				walk(f.Type, prefix+p)
				continue
			}
			if name, _, _ := strings.Cut(f.Tag.Get("env"), ","); name != "" && name != "-" {
				out[prefix+name] = f.Type
			}
		}
	}
	walk(reflect.TypeFor[config](), "")
	return out
}

// envKeys lists every DRIFTD_* variable driftd reads, sorted.
func envKeys() []string {
	cfg := defaultConfig()
	params, err := env.GetFieldParamsWithOptions(&cfg, env.Options{})
	if err != nil {
		panic(err) // the struct tags are static; a failure is a programming error
	}
	keys := make([]string, 0, len(params))
	for _, p := range params {
		keys = append(keys, p.Key)
	}
	sort.Strings(keys)
	return keys
}

// unknownVars rejects DRIFTD_ variables driftd does not know: a typo
// would otherwise silently keep a default.
func unknownVars(vars map[string]string) error {
	known := envKeys()
	for k := range vars {
		// DRIFTD_TEST_* configure the test suite, DRIFTD_KAFKA_* the test
		// broker script (deploy/kafka), DRIFTD_BENCH_* the benchmarks.
		if strings.HasPrefix(k, "DRIFTD_") && !slices.Contains(known, k) &&
			!strings.HasPrefix(k, "DRIFTD_TEST_") && !strings.HasPrefix(k, "DRIFTD_KAFKA_") && !strings.HasPrefix(k, "DRIFTD_BENCH_") {
			return usagef("%s: unknown variable (driftd reads: %s)", k, strings.Join(known, ", "))
		}
	}
	return nil
}

func (c *config) validate() error {
	var ce *stream.ConfigError
	if err := c.Stream.Validate(); errors.As(err, &ce) {
		return usagef("%v", err)
	} else if err != nil {
		return usagef("%v", err)
	}
	if err := c.Formats.validate(c.Stream); err != nil {
		return err
	}
	var pe *detector.PolicyError
	if err := c.Policy.Validate(); errors.As(err, &pe) {
		return usagef("DRIFTD_%s: %s", strings.ToUpper(pe.Field), pe.Msg)
	} else if err != nil {
		return usagef("%v", err)
	}
	if err := c.validateWindow(); err != nil {
		return err
	}
	c.Window = c.Window.WithDefaults()
	if err := c.Window.Validate(); err != nil {
		v := "DRIFTD_WINDOW_SIZE / DRIFTD_WINDOW_HOP"
		if c.Window.TimeBased() {
			v = "DRIFTD_WINDOW_TIME / DRIFTD_WINDOW_TIME_HOP / DRIFTD_WINDOW_LATENESS / DRIFTD_WINDOW_MAX_FUTURE"
		}
		return usagef("%s: %v; accepted: see Windows in the README", v, err)
	}
	if !c.Window.TimeBased() && c.Policy.MinEvents > c.Window.Size {
		return usagef("DRIFTD_MIN_EVENTS: is %d, more than the %d events of a window (DRIFTD_WINDOW_SIZE): no window would be evaluated; accepted: 1 to %d",
			c.Policy.MinEvents, c.Window.Size, c.Window.Size)
	}
	if err := c.Performance.validate(); err != nil {
		return err
	}
	if c.Performance.LabelTopic != "" && !c.Performance.Enabled {
		return usagef("DRIFTD_LABEL_TOPIC: set, but DRIFTD_PERFORMANCE is false; accepted: empty, or a topic with DRIFTD_PERFORMANCE=true")
	}
	if err := c.Segments.Validate(); err != nil {
		return usagef("%s: %v; accepted: see Segments in the README", segmentVar(err), err)
	}
	if c.Segments.Enabled() && c.Stream.Mode != "" && c.Stream.Mode != stream.ModeSingle {
		return usagef("DRIFTD_SEGMENT_KEYS: segments need DRIFTD_MODE=single, got %q", c.Stream.Mode)
	}
	if c.Performance.Enabled && c.Stream.Mode == stream.ModeStage2 {
		return usagef("DRIFTD_PERFORMANCE: stage 2 reads panes, not events; enable it on a single-mode replica")
	}
	if ps, err := detector.NewPolicies(c.Policy); err == nil {
		if err := ps.CheckWindow(c.Window); err != nil {
			return usagef("DRIFTD_MIN_EVENTS / DRIFTD_WINDOW_SIZE: %v", err)
		}
	}
	if err := c.Web.Validate(); err != nil {
		return usagef("%v", err)
	}
	s := c.Server
	if err := checkListenAddr(s.HTTPAddr); err != nil {
		return usagef("DRIFTD_HTTP_ADDR: %q %v; accepted: [host]:port with a port in 0..65535, e.g. :9108", s.HTTPAddr, err)
	}
	switch {
	case s.ProbeAddr != "" && checkListenAddr(s.ProbeAddr) != nil:
		return usagef("DRIFTD_PROBE_ADDR: %q %v; accepted: [host]:port with a port in 0..65535, or empty (no separate probe listener)", s.ProbeAddr, checkListenAddr(s.ProbeAddr))
	case s.ProbeAddr != "" && s.ProbeAddr == s.HTTPAddr:
		return usagef("DRIFTD_PROBE_ADDR: is %q, the same as DRIFTD_HTTP_ADDR; accepted: another address, or empty (no separate probe listener)", s.ProbeAddr)
	case s.MetricsFeatures < 1:
		return usagef("DRIFTD_METRICS_MAX_FEATURES: is %d; accepted: a positive count", s.MetricsFeatures)
	case s.MetricsTopK < 1:
		return usagef("DRIFTD_METRICS_TOP_K: is %d; accepted: a positive count", s.MetricsTopK)
	case s.ShutdownTimeout < time.Second:
		return usagef("DRIFTD_SHUTDOWN_TIMEOUT: is %s; accepted: at least 1s", s.ShutdownTimeout)
	case !slices.Contains([]string{"debug", "info", "warn", "error"}, s.LogLevel):
		return usagef("DRIFTD_LOG_LEVEL: is %q; accepted: debug, info, warn, error", s.LogLevel)
	case !slices.Contains([]string{"text", "json"}, s.LogFormat):
		return usagef("DRIFTD_LOG_FORMAT: is %q; accepted: text, json", s.LogFormat)
	}
	if _, err := stream.ParseMetricsDetail(s.MetricsDetail); err != nil {
		return usagef("DRIFTD_METRICS_DETAIL: %v", err)
	}
	for i, f := range s.ReferenceFiles {
		if strings.TrimSpace(f) == "" {
			return usagef("DRIFTD_REFERENCE_FILE: entry %d is empty; accepted: a comma-separated list of reference files", i+1)
		}
		if _, err := os.Stat(f); err != nil {
			return usagef("DRIFTD_REFERENCE_FILE: %v; accepted: a comma-separated list of reference files", err)
		}
	}
	if s.PolicyFile != "" {
		if _, err := loadPolicies(s.PolicyFile, c.Policy); err != nil {
			return usagef("DRIFTD_POLICY_FILE: %v; accepted: a JSON policy file (see the README's policy file)", err)
		}
	}
	if s.WebConfigFile != "" {
		if _, err := os.Stat(s.WebConfigFile); err != nil {
			return usagef("DRIFTD_WEB_CONFIG_FILE: %v; accepted: a web configuration file (YAML, as Prometheus exporters read)", err)
		}
		if err := promweb.Validate(s.WebConfigFile); err != nil {
			return usagef("DRIFTD_WEB_CONFIG_FILE: %s: %v; accepted: a web configuration file (YAML, as Prometheus exporters read)", s.WebConfigFile, err)
		}
	}
	return nil
}

// validateWindow checks each window variable on its own, before the
// combined check of the window package: negative values, and event-time
// settings without an event-time window, are errors rather than silently
// ignored.
func (c *config) validateWindow() error {
	w := c.Window
	for _, d := range []struct {
		name string
		v    time.Duration
		what string
	}{
		{"DRIFTD_WINDOW_TIME", w.Time, "0 (count windows) or a positive duration like 10m"},
		{"DRIFTD_WINDOW_TIME_HOP", w.TimeHop, "0 (a default of DRIFTD_WINDOW_TIME/8) or a positive duration dividing DRIFTD_WINDOW_TIME"},
		{"DRIFTD_WINDOW_LATENESS", w.Lateness, "0 or a positive duration of at most 64 hops"},
		{"DRIFTD_WINDOW_MAX_FUTURE", w.MaxFuture, "0 (one window length) or a positive duration"},
	} {
		if d.v < 0 {
			return usagef("%s: is %s; accepted: %s", d.name, d.v, d.what)
		}
	}
	switch {
	case w.Time == 0 && w.TimeHop > 0:
		return usagef("DRIFTD_WINDOW_TIME_HOP: is %s but DRIFTD_WINDOW_TIME is 0 (count windows); accepted: 0, or set DRIFTD_WINDOW_TIME", w.TimeHop)
	case w.Time == 0 && w.MaxFuture > 0:
		return usagef("DRIFTD_WINDOW_MAX_FUTURE: is %s but DRIFTD_WINDOW_TIME is 0 (count windows); accepted: 0, or set DRIFTD_WINDOW_TIME", w.MaxFuture)
	case w.Time == 0 && w.Lateness > 0:
		return usagef("DRIFTD_WINDOW_LATENESS: is %s but DRIFTD_WINDOW_TIME is 0 (count windows); accepted: 0, or set DRIFTD_WINDOW_TIME", w.Lateness)
	case w.Size < 1 || w.Size > math.MaxUint16:
		return usagef("DRIFTD_WINDOW_SIZE: is %d; accepted: 1 to %d events", w.Size, math.MaxUint16)
	case w.Hop < 0 || w.Hop > w.Size:
		return usagef("DRIFTD_WINDOW_HOP: is %d; accepted: 0 (DRIFTD_WINDOW_SIZE/8) or a divisor of DRIFTD_WINDOW_SIZE (%d)", w.Hop, w.Size)
	case w.Time == 0 && w.Hop > 0 && w.Size%w.Hop != 0:
		return usagef("DRIFTD_WINDOW_HOP: is %d, which does not divide DRIFTD_WINDOW_SIZE (%d); accepted: 0 (DRIFTD_WINDOW_SIZE/8) or a divisor of DRIFTD_WINDOW_SIZE", w.Hop, w.Size)
	}
	if w.Time > 0 {
		w = w.WithDefaults()
		switch {
		case w.TimeHop > w.Time || w.Time%w.TimeHop != 0:
			return usagef("DRIFTD_WINDOW_TIME_HOP: is %s, which does not divide DRIFTD_WINDOW_TIME (%s); accepted: 0 (DRIFTD_WINDOW_TIME/8) or a divisor of DRIFTD_WINDOW_TIME", w.TimeHop, w.Time)
		case w.Time/w.TimeHop > 4096:
			return usagef("DRIFTD_WINDOW_TIME_HOP: is %s, %d panes per window of %s; accepted: at most 4096 panes per window", w.TimeHop, w.Time/w.TimeHop, w.Time)
		case w.Lateness/w.TimeHop > 64:
			return usagef("DRIFTD_WINDOW_LATENESS: is %s, more than 64 hops of %s; accepted: 0 to %s", w.Lateness, w.TimeHop, 64*w.TimeHop)
		}
	}
	return nil
}

// checkListenAddr checks a listen address: [host]:port with a port
// number in 0..65535 or a service name.
func checkListenAddr(addr string) error {
	if addr == "" {
		return errors.New("is empty")
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return errors.New("is not [host]:port")
	}
	if n, err := strconv.Atoi(port); err == nil {
		if n < 0 || n > 65535 {
			return fmt.Errorf("has port %d, outside 0..65535", n)
		}
		return nil
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return fmt.Errorf("has port %q, not a number in 0..65535", port)
	}
	return nil
}

// metricsOptions are the metrics settings of c.
func (c serverConfig) metricsOptions() stream.MetricsOptions {
	return stream.MetricsOptions{Detail: stream.MetricsDetail(c.MetricsDetail), TopK: c.MetricsTopK, MaxFeatures: c.MetricsFeatures}
}

func newLogger(c serverConfig, w *os.File) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// loadPolicies returns base for every model, with the policy file at path
// (when path is not empty) on top.
func loadPolicies(path string, base detector.Policy) (*detector.Policies, error) {
	if path == "" {
		return detector.NewPolicies(base)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return detector.ParsePolicies(data, base)
}

// segmentVar names the variable of a segment configuration error.
func segmentVar(err error) string {
	if strings.Contains(err.Error(), "segment max") {
		return "DRIFTD_SEGMENT_MAX"
	}
	return "DRIFTD_SEGMENT_KEYS"
}
