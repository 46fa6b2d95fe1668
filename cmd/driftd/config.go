package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"

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
	if err := env.ParseWithOptions(&cfg, env.Options{Environment: vars}); err != nil {
		return cfg, namedParseError(vars, err)
	}
	if err := unknownVars(vars); err != nil {
		return cfg, err
	}
	return cfg, cfg.validate()
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
				msg = fmt.Sprintf("want a %s, got %q", typeWord(pe.Type.String()), v)
			}
			return usagef("%s: %s", key, msg)
		}
	}
	return usagef("%v", err)
}

func typeWord(t string) string {
	switch t {
	case "time.Duration":
		return "duration like 30s or 5m"
	case "bool":
		return "boolean (true or false)"
	case "float64":
		return "number"
	case "int", "int16", "int32", "int64":
		return "whole number"
	}
	return t
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
	var pe *detector.PolicyError
	if err := c.Policy.Validate(); errors.As(err, &pe) {
		return usagef("DRIFTD_%s: %s", strings.ToUpper(pe.Field), pe.Msg)
	} else if err != nil {
		return usagef("%v", err)
	}
	c.Window = c.Window.WithDefaults()
	if err := c.Window.Validate(); err != nil {
		v := "DRIFTD_WINDOW_SIZE / DRIFTD_WINDOW_HOP"
		if c.Window.TimeBased() {
			v = "DRIFTD_WINDOW_TIME / DRIFTD_WINDOW_TIME_HOP / DRIFTD_WINDOW_LATENESS / DRIFTD_WINDOW_MAX_FUTURE"
		}
		return usagef("%s: %v", v, err)
	}
	if err := c.Performance.validate(); err != nil {
		return err
	}
	if c.Performance.LabelTopic != "" && !c.Performance.Enabled {
		return usagef("DRIFTD_LABEL_TOPIC: set, but DRIFTD_PERFORMANCE is false")
	}
	if err := c.Segments.Validate(); err != nil {
		return usagef("DRIFTD_SEGMENT_KEYS / DRIFTD_SEGMENT_MAX: %v", err)
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
	switch {
	case s.HTTPAddr == "":
		return usagef("DRIFTD_HTTP_ADDR: must not be empty (e.g. :9108)")
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
	for _, f := range s.ReferenceFiles {
		if _, err := os.Stat(f); err != nil {
			return usagef("DRIFTD_REFERENCE_FILE: %v", err)
		}
	}
	if s.PolicyFile != "" {
		if _, err := os.Stat(s.PolicyFile); err != nil {
			return usagef("DRIFTD_POLICY_FILE: %v", err)
		}
	}
	if s.WebConfigFile != "" {
		if _, err := os.Stat(s.WebConfigFile); err != nil {
			return usagef("DRIFTD_WEB_CONFIG_FILE: %v", err)
		}
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
