package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
)

// TestDemoOIP runs the demo on MLServer's Kafka topics (OIP v2 requests
// and responses): no alert while stable, a tenure_days alert on the
// training–serving skew, the malformed requests dead-lettered and
// counted.
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
	if !strings.Contains(text, "mlserver-input") {
		t.Fatal("the demo does not say it uses MLServer's topics")
	}
	stable, rest, ok := strings.Cut(text, "phase 2/5")
	if !ok {
		t.Fatal("the demo never reached phase 2")
	}
	if strings.Contains(stable, "FIRING") {
		t.Fatal("an alert fired during the stable phase")
	}
	if !regexp.MustCompile(`FIRING\s+churn/3 tenure_days (ks|mean_shift)`).MatchString(rest) {
		t.Fatal("the training–serving skew raised no tenure_days alert")
	}
}
