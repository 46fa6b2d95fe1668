package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// TestConfigErrors: a bad setting exits with code 2 and a message that
// names the variable and, where it has a set, the accepted values.
func TestConfigErrors(t *testing.T) {
	cases := []struct {
		env  map[string]string
		want string // in the message
	}{
		{map[string]string{"DRIFTD_SASL_MECHANISM": "GSSAPI"}, "DRIFTD_SASL_MECHANISM: is \"GSSAPI\"; accepted: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512"},
		{map[string]string{"DRIFTD_ERT": "lots"}, "DRIFTD_ERT: is \"lots\"; accepted: a number"},
		{map[string]string{"DRIFTD_ERT": "0.5"}, "DRIFTD_ERT: is 0.5; accepted: a finite number ≥ 1"},
		{map[string]string{"DRIFTD_CHECKPOINT_INTERVAL": "soon"}, "DRIFTD_CHECKPOINT_INTERVAL: is \"soon\"; accepted: a duration"},
		{map[string]string{"DRIFTD_INPUT_FORMAT": "avro"}, "DRIFTD_INPUT_FORMAT: is \"avro\"; accepted: canonical, flat"},
		{map[string]string{"DRIFTD_WINDOW_SIZE": "1000", "DRIFTD_WINDOW_HOP": "300"}, "DRIFTD_WINDOW_HOP: is 300, which does not divide DRIFTD_WINDOW_SIZE (1000)"},
		{map[string]string{"DRIFTD_BROKERS": "kafka"}, "DRIFTD_BROKERS: entry 1 \"kafka\" is not host:port"},
		{map[string]string{"DRIFTD_LOG_LEVEL": "loud"}, "DRIFTD_LOG_LEVEL: is \"loud\"; accepted: debug, info, warn, error"},
		{map[string]string{"DRIFTD_WINDOW_SIZ": "10"}, "DRIFTD_WINDOW_SIZ: unknown variable"},
		{map[string]string{"DRIFTD_REFERENCE_FILE": "/nonexistent/ref.json"}, "DRIFTD_REFERENCE_FILE:"},
		{map[string]string{"DRIFTD_SASL_MECHANISM": "PLAIN"}, "DRIFTD_SASL_USERNAME: must be set"},
		{map[string]string{"DRIFTD_EXACTLY_ONCE": "true", "DRIFTD_CHECKPOINT_INTERVAL": "0s"}, "DRIFTD_EXACTLY_ONCE: needs state"},
		{map[string]string{"DRIFTD_DISABLED_TESTS": "ks,t_test"}, "DRIFTD_DISABLED_TESTS: has unknown test \"t_test\""},
	}
	for _, tc := range cases {
		var environ []string
		for k, v := range tc.env {
			environ = append(environ, k+"="+v)
		}
		_, err := loadConfig(environ)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want it to contain %q", tc.env, err, tc.want)
			continue
		}
		var ue *usageError
		if !asUsage(err, &ue) {
			t.Errorf("%v: %T is not a usage error (exit code 2)", tc.env, err)
		}
	}
	// And through the command line: exit code 2, message on stderr.
	t.Setenv("DRIFTD_HYSTERESIS", "0")
	var stderr bytes.Buffer
	if code := run([]string{"run"}, nil, &bytes.Buffer{}, &stderr); code != 2 || !strings.Contains(stderr.String(), "DRIFTD_HYSTERESIS") {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
}

func asUsage(err error, target **usageError) bool {
	ue, ok := err.(*usageError)
	*target = ue
	return ok
}

func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

// TestReferenceBuildAndReplay drives the offline commands on files: a CSV
// training set with one malformed line, then a replay of events in which
// the training–serving skew begins half-way.
func TestReferenceBuildAndReplay(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(9, 9))
	var csv strings.Builder
	csv.WriteString("tenure_days,monthly_charges,plan\n")
	for range 5000 {
		fmt.Fprintf(&csv, "%.2f,%.2f,%s\n", 365+180*rng.NormFloat64(), 70+20*rng.NormFloat64(), []string{"basic", "pro"}[rng.IntN(2)])
	}
	csv.WriteString("12,13\n") // line 5002: one field short
	train := filepath.Join(dir, "train.csv")
	os.WriteFile(train, []byte(csv.String()), 0o644)
	ref := filepath.Join(dir, "ref.json")
	code, _, stderr := runCmd(t, "reference", "build", "--input", train, "--model", "churn", "--version", "3", "--out", ref)
	if code != 0 {
		t.Fatalf("build exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "line 5002: 2 fields, header has 3") || !strings.Contains(stderr, "1 of 5001 lines were malformed") {
		t.Fatalf("malformed line not reported: %s", stderr)
	}
	code, show, _ := runCmd(t, "reference", "show", "--reference", ref)
	if code != 0 || !strings.Contains(show, "tenure_days") || !strings.Contains(show, "categorical") {
		t.Fatalf("show: %d %s", code, show)
	}

	var events strings.Builder
	for i := range 3000 {
		tenure := 365 + 180*rng.NormFloat64()
		if i >= 1500 {
			tenure /= 365
		}
		fmt.Fprintf(&events, `{"model":"churn","model_version":"3","features":{"tenure_days":%.2f,"monthly_charges":%.2f,"plan":%q}}`+"\n",
			tenure, 70+20*rng.NormFloat64(), []string{"basic", "pro"}[rng.IntN(2)])
	}
	events.WriteString("{oops\n")
	in := filepath.Join(dir, "events.jsonl")
	os.WriteFile(in, []byte(events.String()), 0o644)
	code, out, stderr := runCmd(t, "replay", "--reference", ref, "--input", in)
	if code != 0 {
		t.Fatalf("replay exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "line 3001: not_json") || !strings.Contains(stderr, "1 malformed") {
		t.Fatalf("malformed event not reported: %s", stderr)
	}
	var evals, firing int
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("output is not JSON lines: %q", sc.Text())
		}
		switch line["type"] {
		case "evaluation":
			evals++
			for _, k := range []string{"model", "version", "feature", "test", "statistic", "p_value", "effect", "threshold", "n", "drifting"} {
				if _, ok := line[k]; !ok {
					t.Fatalf("evaluation line lacks %q: %s", k, sc.Text())
				}
			}
		case "alert":
			if line["status"] == "firing" && line["feature"] == "tenure_days" {
				firing++
				if seq := line["window"].(map[string]any)["last_seq"].(float64); seq <= 1500 {
					t.Fatalf("alert before the skew began: %s", sc.Text())
				}
			} else if line["feature"] != "*" {
				t.Fatalf("unexpected alert: %s", sc.Text())
			}
		}
	}
	if evals == 0 || firing < 2 {
		t.Fatalf("%d evaluation lines, %d tenure_days alerts", evals, firing)
	}
	// Unusable arguments: exit 2 with a message.
	if code, _, stderr := runCmd(t, "replay", "--reference", filepath.Join(dir, "missing.json"), "--input", in); code != 2 || !strings.Contains(stderr, "missing.json") {
		t.Fatalf("missing reference: exit %d, %s", code, stderr)
	}
	if code, _, _ := runCmd(t, "replay", "--input", in); code != 2 {
		t.Fatalf("no reference: exit %d", code)
	}
	if code, _, _ := runCmd(t, "frobnicate"); code != 2 {
		t.Fatalf("unknown command: exit %d", code)
	}
}

// TestDemo runs the demo, shortened, on its embedded broker: the stable
// phase raises no alert and the skew raises tenure_days alerts.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo")
	}
	var out, errb bytes.Buffer
	code := run([]string{"demo", "--scale", "0.2", "--http-addr", "127.0.0.1:0"}, nil, &out, &errb)
	if code != 0 {
		t.Fatalf("demo exit %d: %s\n%s", code, errb.String(), out.String())
	}
	text := out.String()
	t.Log(text)
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
	if !strings.Contains(text, "embedded Kafka broker") || !strings.Contains(text, "/metrics") {
		t.Fatal("the demo does not print the broker and metrics addresses")
	}
	if !regexp.MustCompile(`drift view: http://127\.0\.0\.1:\d+/ui/`).MatchString(text) {
		t.Fatal("the demo does not print the drift view's URL")
	}
	// Every alert line is followed by the link to its page.
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		if strings.Contains(l, "FIRING ") || strings.Contains(l, "UPDATE ") || strings.Contains(l, "resolved ") {
			if i+1 >= len(lines) || !regexp.MustCompile(`^\s+http://127\.0\.0\.1:\d+/ui/(feature|model)\?model=churn&version=3`).MatchString(lines[i+1]) {
				t.Errorf("alert line without its page: %q", l)
			}
		}
	}
}

// TestRunLifecycle runs `driftd run` as a subprocess against an embedded
// broker: it becomes ready, serves metrics that pass promtool, and exits 0
// promptly on SIGTERM.
func TestRunLifecycle(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "inference.events"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	dir := t.TempDir()
	bin := filepath.Join(dir, "driftd")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	ref, err := demoReference(2000)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := ref.Encode()
	refFile := filepath.Join(dir, "ref.json")
	os.WriteFile(refFile, data, 0o644)
	port := freePort(t)
	cmd := exec.Command(bin, "run")
	cmd.Env = append(os.Environ(), "DRIFTD_BROKERS="+cluster.ListenAddrs()[0], "DRIFTD_REFERENCE_FILE="+refFile,
		"DRIFTD_HTTP_ADDR=127.0.0.1:"+port, "DRIFTD_TOPIC_PARTITIONS=3", "DRIFTD_TOPIC_REPLICATION=1", "DRIFTD_SHUTDOWN_TIMEOUT=10s")
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	base := "http://127.0.0.1:" + port
	waitFor(t, 30*time.Second, func() bool { return httpOK(base + "/ready") })
	for _, path := range []string{"/ui/", "/api/v1/models"} {
		if !httpOK(base + path) {
			t.Errorf("%s does not answer 200", path)
		}
	}
	if !httpOK(base + "/healthz") {
		t.Fatal("/healthz not ok")
	}
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	scrape := new(bytes.Buffer)
	scrape.ReadFrom(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"driftd_build_info", "driftd_references 1", "driftd_reference_info", "driftd_kafka_"} {
		if !strings.Contains(scrape.String(), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if promtool, err := exec.LookPath("promtool"); err == nil {
		check := exec.Command(promtool, "check", "metrics")
		check.Stdin = bytes.NewReader(scrape.Bytes())
		if out, err := check.CombinedOutput(); err != nil {
			t.Errorf("promtool check metrics: %v\n%s", err, out)
		}
	} else {
		t.Log("promtool not installed: skipping its lint (CI installs it)")
	}
	start := time.Now()
	cmd.Process.Signal(syscall.SIGTERM) // what Kubernetes and Docker send
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, logs.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("no exit within 15s of SIGTERM\n%s", logs.String())
	}
	t.Logf("stopped %s after SIGTERM", time.Since(start).Round(time.Millisecond))
	if !strings.Contains(logs.String(), "driftd stopped") {
		t.Fatalf("no orderly stop in the logs:\n%s", logs.String())
	}
}

func httpOK(url string) bool {
	resp, err := http.Get(url)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func waitFor(t *testing.T, d time.Duration, cond func() bool) {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freePort(t *testing.T) string {
	l, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := strings.Cut(l.Addr().String(), ":")
	return port
}
