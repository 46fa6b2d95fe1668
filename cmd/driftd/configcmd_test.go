package main

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/driftd/driftd/stream"
)

// TestConfigVarsRoundTrip: every variable driftd reads is listed, and the
// listed values, read back as the environment, give the same
// configuration — for the defaults and for a configuration with every
// kind of value changed.
func TestConfigVarsRoundTrip(t *testing.T) {
	var out bytes.Buffer
	if code := run([]string{"config", "vars"}, nil, &out, &out); code != 0 {
		t.Fatalf("config vars: exit %d\n%s", code, out.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	keys := envKeys()
	if len(lines) != len(keys) {
		t.Fatalf("config vars printed %d lines, driftd reads %d variables", len(lines), len(keys))
	}
	for i, l := range lines {
		if k, _, _ := strings.Cut(l, "="); k != keys[i] {
			t.Errorf("line %d: %q, want variable %s", i, l, keys[i])
		}
	}
	roundTrip := func(name string, environ []string) {
		t.Helper()
		cfg, err := loadConfig(environ)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		vars, err := configValues(cfg)
		if err != nil {
			t.Fatal(err)
		}
		var again []string
		for k, v := range vars {
			again = append(again, k+"="+v)
		}
		back, err := loadConfig(again)
		if err != nil {
			t.Fatalf("%s: rendered values do not load: %v\n%v", name, err, again)
		}
		if !reflect.DeepEqual(cfg, back) {
			t.Errorf("%s: round trip changed the configuration:\n%+v\n%+v", name, cfg, back)
		}
	}
	roundTrip("defaults", lines)
	roundTrip("changed", []string{
		"DRIFTD_BROKERS=k1:9092,k2:9093", "DRIFTD_SESSION_TIMEOUT=1m30s", "DRIFTD_ERT=3.3e8", "DRIFTD_RESOLVE_FACTOR=0.333",
		"DRIFTD_DISABLED_TESTS=ks,invalid", "DRIFTD_TOPIC_REPLICATION=3", "DRIFTD_CREATE_TOPICS=false", "DRIFTD_INPUT_FORMAT=flat",
		"DRIFTD_WINDOW_SIZE=2000", "DRIFTD_WINDOW_HOP=250", "DRIFTD_EXACTLY_ONCE=true", "DRIFTD_SASL_MECHANISM=SCRAM-SHA-512",
		"DRIFTD_SASL_USERNAME=u", "DRIFTD_SASL_PASSWORD=p w=d", "DRIFTD_MODE=stage2",
	})
}

// TestConfigCheck: the effective configuration is printed with passwords
// redacted; an unknown variable is the same exit-2 error as for `run`.
func TestConfigCheck(t *testing.T) {
	t.Setenv("DRIFTD_SASL_MECHANISM", "PLAIN")
	t.Setenv("DRIFTD_SASL_USERNAME", "driftd")
	t.Setenv("DRIFTD_SASL_PASSWORD", "hunter2")
	t.Setenv("DRIFTD_WINDOW_SIZE", "4000")
	var out, errOut bytes.Buffer
	if code := run([]string{"config", "check"}, nil, &out, &errOut); code != 0 {
		t.Fatalf("config check: exit %d\n%s", code, errOut.String())
	}
	for _, want := range []string{"DRIFTD_SASL_PASSWORD=<redacted>\n", "DRIFTD_SASL_USERNAME=driftd\n", "DRIFTD_WINDOW_SIZE=4000\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("config check output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "hunter2") {
		t.Error("config check printed the password")
	}
	t.Setenv("DRIFTD_WINDOW_SIZ", "10")
	errOut.Reset()
	if code := run([]string{"config", "check"}, nil, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "DRIFTD_WINDOW_SIZ: unknown variable") {
		t.Fatalf("unknown variable: exit %d, %q", code, errOut.String())
	}
}

// TestEnvStringRejectsUnknownTypes: a setting of a type the renderer does
// not know is an error, not a silently missing variable.
func TestEnvStringRejectsUnknownTypes(t *testing.T) {
	type odd struct {
		M map[string]int `env:"M"`
	}
	if err := walkEnv(reflect.ValueOf(odd{}), "DRIFTD_", map[string]string{}); err == nil || !strings.Contains(err.Error(), "DRIFTD_M") {
		t.Fatalf("err = %v, want one naming DRIFTD_M", err)
	}
}

// TestMetricsDetailConfig: the metrics detail level and top-K are read
// from DRIFTD_METRICS_DETAIL / DRIFTD_METRICS_TOP_K (default drifting, 3)
// and a bad value is a usage error naming the variable.
func TestMetricsDetailConfig(t *testing.T) {
	cfg, err := loadConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	if o := cfg.Server.metricsOptions(); o.Detail != stream.DetailDrifting || o.TopK != 3 || o.MaxFeatures != 500 {
		t.Errorf("default metrics options %+v, want drifting, top-3, 500 features", o)
	}
	cfg, err = loadConfig([]string{"DRIFTD_METRICS_DETAIL=summary", "DRIFTD_METRICS_TOP_K=7"})
	if err != nil {
		t.Fatal(err)
	}
	if o := cfg.Server.metricsOptions(); o.Detail != stream.DetailSummary || o.TopK != 7 {
		t.Errorf("metrics options %+v, want summary, top-7", o)
	}
	for _, kv := range []string{"DRIFTD_METRICS_DETAIL=verbose", "DRIFTD_METRICS_TOP_K=0"} {
		_, err := loadConfig([]string{kv})
		var ue *usageError
		name, _, _ := strings.Cut(kv, "=")
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: error %v, want a usage error naming %s", kv, err, name)
		}
	}
}
