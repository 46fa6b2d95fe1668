package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// anyValue lists the variables for which every value is acceptable, with
// the reason; every other variable needs a bad-value case in
// TestConfigEveryVariable.
var anyValue = map[string]string{
	"DRIFTD_SASL_PASSWORD":            "any string is a password",
	"DRIFTD_TLS_SERVER_NAME":          "any string is a server name to verify (empty: the broker's host)",
	"DRIFTD_TRANSACTIONAL_ID":         "any string is a transactional ID (empty: derived from the group)",
	"DRIFTD_SCHEMA_REGISTRY_USERNAME": "any string is a user name (a password without it is refused: see DRIFTD_SCHEMA_REGISTRY_PASSWORD)",
}

// TestConfigEveryVariable: every DRIFTD_* variable `driftd config vars`
// lists has at least one bad value here, and each bad value makes `driftd
// config check` exit 2 with a message that names the variable and states
// the accepted values. A new variable without a case fails the test.
func TestConfigEveryVariable(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	notPEM := write("not.pem", "hello\n")
	missing := filepath.Join(dir, "missing.pem")
	badYAML := write("web.yml", "basic_auth_users: [unclosed\n")
	badWeb := write("web2.yml", "tls_server_config:\n  cert_file: /nonexistent/cert.pem\n  key_file: /nonexistent/key.pem\n")
	badPolicy := write("policy.json", `{"defaults": {"ert": "high"}}`)
	wrongPolicy := write("policy2.json", `{"defaults": {"hysteresis": 0}}`)

	type bad struct {
		env   map[string]string
		names string // the variable the message must name
		want  string // more of the message, optional
	}
	one := func(k, v string) map[string]string { return map[string]string{k: v} }
	cases := []bad{
		{one("DRIFTD_ALERT_TOPIC", "alerts!"), "DRIFTD_ALERT_TOPIC", `contains '!'`},
		{one("DRIFTD_CLOUDEVENTS_MODEL_ATTRIBUTE", "Service-Name"), "DRIFTD_CLOUDEVENTS_MODEL_ATTRIBUTE", "attribute name"},
		{one("DRIFTD_CLOUDEVENTS_VERSION_ATTRIBUTE", "model_version"), "DRIFTD_CLOUDEVENTS_VERSION_ATTRIBUTE", "attribute name"},
		{one("DRIFTD_EVENT_TIME_FIELD", "meta..ts"), "DRIFTD_EVENT_TIME_FIELD", "joined by dots"},
		{one("DRIFTD_INPUT_MODEL", "churn/v2"), "DRIFTD_INPUT_MODEL", "without '/'"},
		{one("DRIFTD_INPUT_MODEL_VERSION", "3\n"), "DRIFTD_INPUT_MODEL_VERSION", "without '/'"},
		{one("DRIFTD_LIVENESS_TIMEOUT", "-1s"), "DRIFTD_LIVENESS_TIMEOUT", "at least 1s"},
		{one("DRIFTD_OIP_TOPIC_PATTERN", "("), "DRIFTD_OIP_TOPIC_PATTERN", "regular expression"},
		{one("DRIFTD_PROBE_ADDR", ":99999"), "DRIFTD_PROBE_ADDR", "0..65535"},
		{one("DRIFTD_PRODUCER_COMPRESSION", "brotli"), "DRIFTD_PRODUCER_COMPRESSION", "gzip"},
		{one("DRIFTD_READINESS_BROKER_TIMEOUT", "-1s"), "DRIFTD_READINESS_BROKER_TIMEOUT", "at least 1s"},
		{one("DRIFTD_RESOLVE_HYSTERESIS", "0"), "DRIFTD_RESOLVE_HYSTERESIS", "1 to 1000"},
		{one("DRIFTD_SCALE_MIN_EFFECT", "-1"), "DRIFTD_SCALE_MIN_EFFECT", "≥ 0"},
		{map[string]string{"DRIFTD_SCHEMA_REGISTRY_URL": "http://sr:8081", "DRIFTD_SCHEMA_REGISTRY_CA_FILE": missing}, "DRIFTD_SCHEMA_REGISTRY_CA_FILE", "PEM"},
		{one("DRIFTD_SCHEMA_REGISTRY_CA_FILE", notPEM), "DRIFTD_SCHEMA_REGISTRY_CA_FILE", "DRIFTD_SCHEMA_REGISTRY_URL is empty"},
		{map[string]string{"DRIFTD_SCHEMA_REGISTRY_URL": "http://sr:8081", "DRIFTD_SCHEMA_REGISTRY_CERT_FILE": notPEM}, "DRIFTD_SCHEMA_REGISTRY_CERT_FILE", "neither"},
		{map[string]string{"DRIFTD_SCHEMA_REGISTRY_URL": "http://sr:8081", "DRIFTD_SCHEMA_REGISTRY_CERT_FILE": notPEM, "DRIFTD_SCHEMA_REGISTRY_KEY_FILE": notPEM}, "DRIFTD_SCHEMA_REGISTRY_CERT_FILE", "PEM"},
		{one("DRIFTD_SCHEMA_REGISTRY_KEY_FILE", notPEM), "DRIFTD_SCHEMA_REGISTRY_KEY_FILE", "DRIFTD_SCHEMA_REGISTRY_URL is empty"},
		{map[string]string{"DRIFTD_SCHEMA_REGISTRY_URL": "http://sr:8081", "DRIFTD_SCHEMA_REGISTRY_PASSWORD": "secret"}, "DRIFTD_SCHEMA_REGISTRY_PASSWORD", "USERNAME"},
		{one("DRIFTD_SCHEMA_REGISTRY_URL", "ftp://sr:8081"), "DRIFTD_SCHEMA_REGISTRY_URL", "http://"},
		{one("DRIFTD_STALE_AFTER", "-1s"), "DRIFTD_STALE_AFTER", "at least 1s"},
		{one("DRIFTD_STARTUP_TIMEOUT", "-1s"), "DRIFTD_STARTUP_TIMEOUT", "positive duration"},
		{one("DRIFTD_STATE_MAX_MESSAGE_BYTES", "10"), "DRIFTD_STATE_MAX_MESSAGE_BYTES", "65536"},
		{one("DRIFTD_TENSOR_COLUMNS", "a,,b"), "DRIFTD_TENSOR_COLUMNS", "feature names"},
		{one("DRIFTD_ALERT_TOPIC", "inference.events"), "DRIFTD_ALERT_TOPIC", "also an input topic"},
		{one("DRIFTD_BROKERS", ""), "DRIFTD_BROKERS", "is empty"},
		{one("DRIFTD_BROKERS", "kafka:notaport"), "DRIFTD_BROKERS", `port "notaport"`},
		{one("DRIFTD_BROKERS", "kafka:9092,,k2:9092"), "DRIFTD_BROKERS", "entry 2"},
		{one("DRIFTD_BROKERS", "kafka:70000"), "DRIFTD_BROKERS", "1 to 65535"},
		{one("DRIFTD_CHECKPOINT_INTERVAL", "-1s"), "DRIFTD_CHECKPOINT_INTERVAL", ""},
		{one("DRIFTD_CLIENT_ID", ""), "DRIFTD_CLIENT_ID", "is empty"},
		{one("DRIFTD_CREATE_TOPICS", "maybe"), "DRIFTD_CREATE_TOPICS", "boolean"},
		{one("DRIFTD_DATASET_DRIFT_SHARE", "0"), "DRIFTD_DATASET_DRIFT_SHARE", "(0, 1]"},
		{one("DRIFTD_DISABLED_TESTS", "ks,,chi2"), "DRIFTD_DISABLED_TESTS", "unknown test"},
		{one("DRIFTD_CUSUM_SHIFT", "0"), "DRIFTD_CUSUM_SHIFT", "(0, 10]"},
		{one("DRIFTD_CUSUM_SHIFT", "NaN"), "DRIFTD_CUSUM_SHIFT", "(0, 10]"},
		{one("DRIFTD_DLQ_TOPIC", "a/b"), "DRIFTD_DLQ_TOPIC", `contains '/'`},
		{one("DRIFTD_ERT", "-1"), "DRIFTD_ERT", "≥ 1"},
		{one("DRIFTD_EXACTLY_ONCE", "yes please"), "DRIFTD_EXACTLY_ONCE", "boolean"},
		{one("DRIFTD_GROUP", ""), "DRIFTD_GROUP", "is empty"},
		{one("DRIFTD_GROUP_LAG_INTERVAL", "-5s"), "DRIFTD_GROUP_LAG_INTERVAL", ""},
		{one("DRIFTD_HTTP_ADDR", ":99999"), "DRIFTD_HTTP_ADDR", "0..65535"},
		{one("DRIFTD_HTTP_ADDR", "9108"), "DRIFTD_HTTP_ADDR", "[host]:port"},
		{one("DRIFTD_HTTP_ADDR", ""), "DRIFTD_HTTP_ADDR", "is empty"},
		{one("DRIFTD_HYSTERESIS", "0"), "DRIFTD_HYSTERESIS", "1 to 1000"},
		{one("DRIFTD_IMMEDIATE_FACTOR", "NaN"), "DRIFTD_IMMEDIATE_FACTOR", "finite"},
		{one("DRIFTD_INPUT_FORMAT", "avro"), "DRIFTD_INPUT_FORMAT", "canonical, flat"},
		{one("DRIFTD_INPUT_TOPICS", "a,,b"), "DRIFTD_INPUT_TOPICS", "entry 2"},
		{one("DRIFTD_INPUT_TOPICS", "events topic"), "DRIFTD_INPUT_TOPICS", `contains ' '`},
		{one("DRIFTD_INPUT_TOPICS", "a,b,a"), "DRIFTD_INPUT_TOPICS", "twice"},
		{one("DRIFTD_INPUT_TOPICS", ""), "DRIFTD_INPUT_TOPICS", "is empty"},
		{one("DRIFTD_INPUT_TOPICS", strings.Repeat("t", 250)), "DRIFTD_INPUT_TOPICS", "250 characters"},
		{one("DRIFTD_INSTANCE_ID", "pod 0"), "DRIFTD_INSTANCE_ID", ""},
		{one("DRIFTD_JS_MIN_EFFECT", "1.5"), "DRIFTD_JS_MIN_EFFECT", "[0, 1]"},
		{one("DRIFTD_KS_METHOD", "fast"), "DRIFTD_KS_METHOD", "auto, exact, asymp"},
		{one("DRIFTD_KS_MIN_EFFECT", "-0.1"), "DRIFTD_KS_MIN_EFFECT", "[0, 1]"},
		{map[string]string{"DRIFTD_PERFORMANCE": "true", "DRIFTD_LABEL_HORIZON": "-1h"}, "DRIFTD_LABEL_HORIZON", "positive duration"},
		{one("DRIFTD_LABEL_TOPIC", "labels"), "DRIFTD_LABEL_TOPIC", "DRIFTD_PERFORMANCE is false"},
		{map[string]string{"DRIFTD_PERFORMANCE": "true", "DRIFTD_MAX_PENDING_PREDICTIONS": "0"}, "DRIFTD_MAX_PENDING_PREDICTIONS", "1 to 268435456"},
		{one("DRIFTD_METRICS_DETAIL", "bogus"), "DRIFTD_METRICS_DETAIL", "summary, drifting, all"},
		{one("DRIFTD_METRICS_TOP_K", "0"), "DRIFTD_METRICS_TOP_K", "positive count"},
		{one("DRIFTD_PERFORMANCE", "maybe"), "DRIFTD_PERFORMANCE", "boolean"},
		{map[string]string{"DRIFTD_PERFORMANCE": "true", "DRIFTD_PERFORMANCE_WINDOW": "0"}, "DRIFTD_PERFORMANCE_WINDOW", "2 to 1048576"},
		{one("DRIFTD_SEGMENT_KEYS", "a,,b"), "DRIFTD_SEGMENT_KEYS", ""},
		{map[string]string{"DRIFTD_SEGMENT_KEYS": "a", "DRIFTD_SEGMENT_MAX": "0"}, "DRIFTD_SEGMENT_MAX", ""},
		{one("DRIFTD_LOG_FORMAT", "xml"), "DRIFTD_LOG_FORMAT", "text, json"},
		{one("DRIFTD_LOG_LEVEL", "loud"), "DRIFTD_LOG_LEVEL", "debug, info"},
		{one("DRIFTD_MAX_BUFFERED_RECORDS", "10"), "DRIFTD_MAX_BUFFERED_RECORDS", "at least 100"},
		{one("DRIFTD_MAX_EVENT_BYTES", "1e9"), "DRIFTD_MAX_EVENT_BYTES", "whole number"},
		{one("DRIFTD_MAX_POLL_RECORDS", "0"), "DRIFTD_MAX_POLL_RECORDS", "1 to 1000000"},
		{one("DRIFTD_MEAN_SHIFT_MIN_EFFECT", "Inf"), "DRIFTD_MEAN_SHIFT_MIN_EFFECT", "finite"},
		{one("DRIFTD_METRICS_MAX_FEATURES", "0"), "DRIFTD_METRICS_MAX_FEATURES", "positive"},
		{one("DRIFTD_MIN_EVENTS", "0"), "DRIFTD_MIN_EVENTS", "≥ 1"},
		{one("DRIFTD_MIN_EVENTS", "5000"), "DRIFTD_MIN_EVENTS", "1 to 1000"},
		{map[string]string{"DRIFTD_MIN_EVENTS": "300", "DRIFTD_WINDOW_SIZE": "200", "DRIFTD_WINDOW_HOP": "50"}, "DRIFTD_MIN_EVENTS", "1 to 200"},
		{one("DRIFTD_MODE", "stage3"), "DRIFTD_MODE", "single, stage1, stage2"},
		{one("DRIFTD_PANES_TOPIC", ".."), "DRIFTD_PANES_TOPIC", "not a legal name"},
		{one("DRIFTD_POLICY_FILE", filepath.Join(dir, "none.json")), "DRIFTD_POLICY_FILE", "no such file"},
		{one("DRIFTD_POLICY_FILE", badPolicy), "DRIFTD_POLICY_FILE", "policy: defaults.ert"},
		{one("DRIFTD_POLICY_FILE", wrongPolicy), "DRIFTD_POLICY_FILE", "hysteresis is 0"},
		{one("DRIFTD_QUALITY_MIN_EFFECT", "2"), "DRIFTD_QUALITY_MIN_EFFECT", "[0, 1]"},
		{one("DRIFTD_REFERENCES_ENABLED", "on"), "DRIFTD_REFERENCES_ENABLED", "boolean"},
		{one("DRIFTD_REFERENCE_FILE", filepath.Join(dir, "none.json")), "DRIFTD_REFERENCE_FILE", "no such file"},
		{one("DRIFTD_REFERENCE_TOPIC", ""), "DRIFTD_REFERENCE_TOPIC", "is empty"},
		{one("DRIFTD_RESOLVE_FACTOR", "1.1"), "DRIFTD_RESOLVE_FACTOR", "[0, 1]"},
		{one("DRIFTD_SASL_MECHANISM", "GSSAPI"), "DRIFTD_SASL_MECHANISM", "PLAIN, SCRAM-SHA-256"},
		{one("DRIFTD_SASL_MECHANISM", "PLAIN"), "DRIFTD_SASL_USERNAME", "must be set"},
		{map[string]string{"DRIFTD_SASL_MECHANISM": "PLAIN", "DRIFTD_SASL_USERNAME": ""}, "DRIFTD_SASL_USERNAME", "must be set"},
		{one("DRIFTD_SESSION_TIMEOUT", "0s"), "DRIFTD_SESSION_TIMEOUT", "1s to 30m"},
		{one("DRIFTD_SHUTDOWN_TIMEOUT", "100ms"), "DRIFTD_SHUTDOWN_TIMEOUT", "at least 1s"},
		{one("DRIFTD_STATE_PARTITIONS", "-1"), "DRIFTD_STATE_PARTITIONS", "positive count"},
		{one("DRIFTD_STATE_TOPIC", "drift state"), "DRIFTD_STATE_TOPIC", ""},
		{one("DRIFTD_TIMESTAMP_UNIT", "us"), "DRIFTD_TIMESTAMP_UNIT", "ms (Unix milliseconds), s (Unix seconds)"},
		{one("DRIFTD_TLS_CA_FILE", missing), "DRIFTD_TLS_CA_FILE", "no such file"},
		{one("DRIFTD_TLS_CA_FILE", notPEM), "DRIFTD_TLS_CA_FILE", "no PEM certificate"},
		{map[string]string{"DRIFTD_TLS_CERT_FILE": notPEM, "DRIFTD_TLS_KEY_FILE": notPEM}, "DRIFTD_TLS_CERT_FILE", ""},
		{one("DRIFTD_TLS_CERT_FILE", notPEM), "DRIFTD_TLS_CERT_FILE", "set together"},
		{map[string]string{"DRIFTD_TLS_CERT_FILE": notPEM, "DRIFTD_TLS_KEY_FILE": missing}, "DRIFTD_TLS_KEY_FILE", "no such file"},
		{one("DRIFTD_TLS_ENABLED", "2"), "DRIFTD_TLS_ENABLED", "boolean"},
		{one("DRIFTD_TLS_INSECURE_SKIP_VERIFY", "sure"), "DRIFTD_TLS_INSECURE_SKIP_VERIFY", "boolean"},
		{one("DRIFTD_TLS_KEY_FILE", notPEM), "DRIFTD_TLS_CERT_FILE", "set together"},
		{one("DRIFTD_TOPIC_PARTITIONS", "0"), "DRIFTD_TOPIC_PARTITIONS", "-1 (broker default)"},
		{one("DRIFTD_TOPIC_REPLICATION", "-2"), "DRIFTD_TOPIC_REPLICATION", "-1 (broker default)"},
		{one("DRIFTD_UI_HISTORY", "-1"), "DRIFTD_UI_HISTORY", "0..10000"},
		{one("DRIFTD_UI_HISTORY_INTERVAL", "1ms"), "DRIFTD_UI_HISTORY_INTERVAL", "at least 100ms"},
		{one("DRIFTD_UI_SNAPSHOT_INTERVAL", "2h"), "DRIFTD_UI_SNAPSHOT_INTERVAL", "100ms..1h"},
		{one("DRIFTD_UI_URL", "driftd.example.com"), "DRIFTD_UI_URL", "https://"},
		{one("DRIFTD_UPDATE_FACTOR", "0.5"), "DRIFTD_UPDATE_FACTOR", "> 1"},
		{one("DRIFTD_WEB_CONFIG_FILE", filepath.Join(dir, "none.yml")), "DRIFTD_WEB_CONFIG_FILE", "no such file"},
		{one("DRIFTD_WEB_CONFIG_FILE", badYAML), "DRIFTD_WEB_CONFIG_FILE", "yaml"},
		{one("DRIFTD_WEB_CONFIG_FILE", badWeb), "DRIFTD_WEB_CONFIG_FILE", ""},
		{one("DRIFTD_WINDOW_HOP", "-1"), "DRIFTD_WINDOW_HOP", ""},
		{one("DRIFTD_WINDOW_HOP", "2000"), "DRIFTD_WINDOW_HOP", ""},
		{one("DRIFTD_WINDOW_HOP", "300"), "DRIFTD_WINDOW_HOP", "does not divide DRIFTD_WINDOW_SIZE"},
		{one("DRIFTD_WINDOW_LATENESS", "-1s"), "DRIFTD_WINDOW_LATENESS", "is -1s"},
		{one("DRIFTD_WINDOW_LATENESS", "1m"), "DRIFTD_WINDOW_LATENESS", "DRIFTD_WINDOW_TIME is 0"},
		{one("DRIFTD_WINDOW_MAX_FUTURE", "-1s"), "DRIFTD_WINDOW_MAX_FUTURE", "is -1s"},
		{one("DRIFTD_WINDOW_MAX_FUTURE", "1h"), "DRIFTD_WINDOW_MAX_FUTURE", "DRIFTD_WINDOW_TIME is 0"},
		{one("DRIFTD_WINDOW_SIZE", "0"), "DRIFTD_WINDOW_SIZE", "1 to 65535"},
		{one("DRIFTD_WINDOW_SIZE", "100000"), "DRIFTD_WINDOW_SIZE", "1 to 65535"},
		{one("DRIFTD_WINDOW_TIME", "-10m"), "DRIFTD_WINDOW_TIME", "is -10m"},
		{one("DRIFTD_WINDOW_TIME", "ten minutes"), "DRIFTD_WINDOW_TIME", "duration"},
		{one("DRIFTD_WINDOW_TIME_HOP", "-1m"), "DRIFTD_WINDOW_TIME_HOP", "is -1m"},
		{one("DRIFTD_WINDOW_TIME_HOP", "1m"), "DRIFTD_WINDOW_TIME_HOP", "DRIFTD_WINDOW_TIME is 0"},
		{map[string]string{"DRIFTD_WINDOW_TIME": "10m", "DRIFTD_WINDOW_TIME_HOP": "3m"}, "DRIFTD_WINDOW_TIME_HOP", "does not divide"},
		{map[string]string{"DRIFTD_WINDOW_TIME": "10m", "DRIFTD_WINDOW_TIME_HOP": "1s", "DRIFTD_WINDOW_LATENESS": "65s"}, "DRIFTD_WINDOW_LATENESS", "64 hops"},
		{map[string]string{"DRIFTD_WINDOW_TIME": "10h", "DRIFTD_WINDOW_TIME_HOP": "1s"}, "DRIFTD_WINDOW_TIME_HOP", "4096 panes"},
		{map[string]string{"DRIFTD_WINDOW_TIME": "10m", "DRIFTD_WINDOW_LATENESS": "-1s"}, "DRIFTD_WINDOW_LATENESS", "is -1s"},
		{one("DRIFTD_WORKERS", "1000"), "DRIFTD_WORKERS", "0 (one per CPU) to 256"},
	}

	covered := map[string]bool{}
	for _, c := range cases {
		for k := range c.env {
			if k == c.names {
				covered[k] = true
			}
		}
	}
	for _, key := range envKeys() {
		if !covered[key] && anyValue[key] == "" {
			t.Errorf("%s has no bad-value case: add one to TestConfigEveryVariable (or, if every value is acceptable, to anyValue with the reason)", key)
		}
	}
	for key := range anyValue {
		if _, ok := envTypes()[key]; !ok {
			t.Errorf("anyValue lists %s, which driftd does not read", key)
		}
	}

	for _, c := range cases {
		var desc []string
		for k, v := range c.env {
			desc = append(desc, k+"="+v)
		}
		t.Run(strings.Join(desc, " "), func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			var stdout, stderr bytes.Buffer
			code := run([]string{"config", "check"}, nil, &stdout, &stderr)
			msg := stderr.String()
			if code != 2 {
				t.Fatalf("exit %d, want 2; stderr %q", code, msg)
			}
			if !strings.HasPrefix(msg, "driftd: "+c.names+": ") && !strings.Contains(msg, " "+c.names+": ") {
				t.Errorf("message does not name %s first: %q", c.names, msg)
			}
			if !strings.Contains(msg, "accepted: ") {
				t.Errorf("message does not state the accepted values: %q", msg)
			}
			if c.want != "" && !strings.Contains(msg, c.want) {
				t.Errorf("message lacks %q: %q", c.want, msg)
			}
			if strings.Contains(msg, "reference:") {
				t.Errorf("message speaks of a reference: %q", msg)
			}
		})
	}
}
