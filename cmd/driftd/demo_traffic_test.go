package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
)

// TestDemoOIP runs the demo on MLServer's Kafka topics (OIP v2 requests
// and responses, read with the oip format): no alert while stable, a
// tenure_days alert on the training–serving skew, a performance alert
// when the model goes stale (the labels join the responses' rows by
// <id>/<row>), the multivariate feature on the correlation break (the
// requests carry every column), and the malformed requests
// dead-lettered.
func TestDemoOIP(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo")
	}
	var out, errb bytes.Buffer
	code := run([]string{"demo", "--format", "oip", "--scale", "0.2", "--http-addr", "127.0.0.1:0"}, nil, &out, &errb)
	if code != 0 {
		t.Fatalf("demo exit %d: %s\n%s", code, errb.String(), out.String())
	}
	text := out.String()
	t.Log(text)
	if !strings.Contains(text, "OIP v2 requests on mlserver-input") {
		t.Fatal("the demo does not say it uses MLServer's topics")
	}
	stable, rest, ok := strings.Cut(text, "phase 2/7")
	if !ok {
		t.Fatal("the demo never reached phase 2")
	}
	if strings.Contains(stable, "FIRING") {
		t.Fatal("an alert fired during the stable phase")
	}
	if !regexp.MustCompile(`FIRING\s+churn/3 tenure_days (ks|mean_shift)`).MatchString(rest) {
		t.Fatal("the training–serving skew raised no tenure_days alert")
	}
	_, brk, _ := strings.Cut(text, "phase 7/7")
	if !regexp.MustCompile(`FIRING\s+churn/3 multivariate\.reconstruction_error (ks|mean_shift)`).MatchString(brk) {
		t.Error("the correlation break raised no multivariate alert")
	}
	_, stale, _ := strings.Cut(text, "phase 6/7")
	stale, _, _ = strings.Cut(stale, "phase 7/7")
	if !regexp.MustCompile(`FIRING\s+churn/3 performance (roc_auc|precision|log_loss|brier)`).MatchString(stale) {
		t.Error("the stale model raised no performance alert")
	}
	m := regexp.MustCompile(`produced (\d+) events \((\d+) malformed`).FindStringSubmatch(text)
	if m == nil || m[2] == "0" {
		t.Fatalf("no malformed requests counted: %v", m)
	}
}

func TestDemoFormatUsage(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"demo", "--format", "avro"}, nil, &out, &errb); code != 2 || !strings.Contains(errb.String(), "--format") {
		t.Fatalf("exit %d, stderr %q: want 2 naming --format", code, errb.String())
	}
}
