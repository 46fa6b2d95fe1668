package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/driftd/driftd/detector"
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
		{map[string]string{"DRIFTD_ERT": "lots"}, "DRIFTD_ERT: want a number, got \"lots\""},
		{map[string]string{"DRIFTD_ERT": "0.5"}, "DRIFTD_ERT: must be a finite number ≥ 1"},
		{map[string]string{"DRIFTD_CHECKPOINT_INTERVAL": "soon"}, "DRIFTD_CHECKPOINT_INTERVAL: want a duration"},
		{map[string]string{"DRIFTD_INPUT_FORMAT": "avro"}, "DRIFTD_INPUT_FORMAT: is \"avro\"; accepted: canonical, flat"},
		{map[string]string{"DRIFTD_WINDOW_SIZE": "1000", "DRIFTD_WINDOW_HOP": "300"}, "DRIFTD_WINDOW_SIZE / DRIFTD_WINDOW_HOP: window: size 1000 must be a multiple of hop 300"},
		{map[string]string{"DRIFTD_BROKERS": "kafka"}, "DRIFTD_BROKERS: \"kafka\" is not host:port"},
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
	// The correlation break: the multivariate feature fires, the
	// features' own tests stay silent.
	_, brk, _ := strings.Cut(text, "phase 7/7")
	if !regexp.MustCompile(`FIRING\s+churn/3 multivariate\.reconstruction_error (ks|mean_shift)`).MatchString(brk) {
		t.Error("the correlation break raised no multivariate alert")
	}
	if m := regexp.MustCompile(`FIRING\s+churn/3 (tenure_days|monthly_charges|sessions_per_week) \S+`).FindString(brk); m != "" {
		t.Errorf("per-feature alert during the correlation break: %s", m)
	}
	// The model goes stale: labels no longer follow the score, features
	// and scores unchanged — performance alerts, and no feature's.
	_, stale, _ := strings.Cut(text, "phase 6/7")
	stale, _, _ = strings.Cut(stale, "phase 7/7")
	if !regexp.MustCompile(`FIRING\s+churn/3 performance (roc_auc|precision|log_loss|brier)`).MatchString(stale) {
		t.Error("the stale model raised no performance alert")
	}
	if m := regexp.MustCompile(`FIRING\s+churn/3 (tenure_days|monthly_charges|sessions_per_week|plan|prediction) \S+`).FindString(stale); m != "" {
		t.Errorf("drift alert while only the labels changed: %s", m)
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

// TestReferenceBuildMultivariate: `reference build --multivariate` on a
// CSV whose columns a and b are correlated (0.8), then a replay in which
// the correlation flips half-way with every marginal unchanged: only the
// derived multivariate feature (and the dataset share it moves) alerts,
// after the flip.
func TestReferenceBuildMultivariate(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(19, 19))
	draw := func(rho float64) (float64, float64, float64) {
		x, y := rng.NormFloat64(), rng.NormFloat64()
		return 50 + 10*x, 3 + rho*x + math.Sqrt(1-rho*rho)*y, rng.NormFloat64()
	}
	var csv strings.Builder
	csv.WriteString("a,b,c\n")
	for range 20000 {
		a, b, c := draw(0.8)
		fmt.Fprintf(&csv, "%.4f,%.4f,%.4f\n", a, b, c)
	}
	train := filepath.Join(dir, "train.csv")
	os.WriteFile(train, []byte(csv.String()), 0o644)
	ref := filepath.Join(dir, "ref.json")
	if code, _, stderr := runCmd(t, "reference", "build", "--input", train, "--model", "m", "--multivariate", "--multivariate-features", "a,b,c", "--out", ref); code != 0 {
		t.Fatalf("build exit %d: %s", code, stderr)
	}
	code, show, _ := runCmd(t, "reference", "show", "--reference", ref)
	if code != 0 || !strings.Contains(show, "multivariate: multivariate.reconstruction_error = PCA reconstruction error of a, b, c; 2 of 3 components") {
		t.Fatalf("show: %d %s", code, show)
	}
	var events strings.Builder
	for i := range 6000 {
		rho := 0.8
		if i >= 3000 {
			rho = -0.8
		}
		a, b, c := draw(rho)
		fmt.Fprintf(&events, `{"model":"m","features":{"a":%.4f,"b":%.4f,"c":%.4f}}`+"\n", a, b, c)
	}
	in := filepath.Join(dir, "events.jsonl")
	os.WriteFile(in, []byte(events.String()), 0o644)
	code, out, stderr := runCmd(t, "replay", "--reference", ref, "--input", in)
	if code != 0 {
		t.Fatalf("replay exit %d: %s", code, stderr)
	}
	firing := 0
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatal(err)
		}
		if line["type"] != "alert" || line["status"] != "firing" {
			continue
		}
		switch line["feature"] {
		case detector.MultivariateFeature:
			firing++
			if seq := line["window"].(map[string]any)["last_seq"].(float64); seq <= 3000 {
				t.Fatalf("alert before the flip: %s", sc.Text())
			}
		case "*":
		default:
			t.Fatalf("per-feature alert on unchanged marginals: %s", sc.Text())
		}
	}
	if firing == 0 {
		t.Fatal("the correlation flip raised no multivariate alert")
	}
	if code, _, stderr := runCmd(t, "reference", "build", "--input", train, "--model", "m", "--multivariate", "--multivariate-variance", "1.5"); code != 2 || !strings.Contains(stderr, "variance share") {
		t.Fatalf("bad variance share: exit %d, %s", code, stderr)
	}
}

// TestReplaySegments: `reference build --segment country` on a CSV whose
// spend differs by country, then `replay --segment-keys country` of
// events in which spend shifts by 0.5 sd in FR only, from the middle on:
// FR's alerts name the segment; no other segment alerts.
func TestReplaySegments(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(29, 29))
	countries := []string{"DE", "FR", "IT", "ES", "NL", "PL"}
	row := func(shiftFR bool) (string, float64, float64) {
		c := countries[rng.IntN(len(countries))]
		spend := 100 + 20*rng.NormFloat64()
		if c == "DE" {
			spend += 40 // DE is not the population: it needs its own reference
		}
		if shiftFR && c == "FR" {
			spend += 10
		}
		return c, spend, rng.NormFloat64()
	}
	var csv strings.Builder
	csv.WriteString("country,spend,visits\n")
	for range 30000 {
		c, s, v := row(false)
		fmt.Fprintf(&csv, "%s,%.3f,%.3f\n", c, s, v)
	}
	train := filepath.Join(dir, "train.csv")
	os.WriteFile(train, []byte(csv.String()), 0o644)
	ref := filepath.Join(dir, "ref.json")
	if code, _, stderr := runCmd(t, "reference", "build", "--input", train, "--model", "shop", "--segment", "country", "--out", ref); code != 0 {
		t.Fatalf("build exit %d: %s", code, stderr)
	}
	code, show, _ := runCmd(t, "reference", "show", "--reference", ref)
	if code != 0 || !strings.Contains(show, "segment country=DE: own reference") {
		t.Fatalf("show: %d %s", code, show)
	}
	var events strings.Builder
	for i := range 60000 {
		c, s, v := row(i >= 30000)
		fmt.Fprintf(&events, `{"model":"shop","features":{"country":%q,"spend":%.3f,"visits":%.3f}}`+"\n", c, s, v)
	}
	in := filepath.Join(dir, "events.jsonl")
	os.WriteFile(in, []byte(events.String()), 0o644)
	code, out, stderr := runCmd(t, "replay", "--reference", ref, "--input", in, "--segment-keys", "country", "--alerts-only")
	if code != 0 {
		t.Fatalf("replay exit %d: %s", code, stderr)
	}
	fr := 0
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var a detector.Alert
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil || a.Status != detector.Firing {
			continue
		}
		switch {
		case a.Segment == "country=FR":
			fr++
			if a.Window.LastSeq <= 30000/6 {
				t.Errorf("FR alert before the shift: %s", a.Summary)
			}
		case a.Segment == "" && (a.Feature == "spend" || a.Feature == "*"):
			// the global window may see the diluted shift
		default:
			t.Errorf("unexpected alert: %s", a.Summary)
		}
	}
	if fr == 0 {
		t.Fatalf("the shift in FR raised no FR alert:\n%s", out)
	}
	if code, _, stderr := runCmd(t, "replay", "--reference", ref, "--input", in, "--segment-keys", "country", "--segment-max", "0"); code != 2 || !strings.Contains(stderr, "segment max") {
		t.Fatalf("bad segment max: exit %d, %s", code, stderr)
	}
}

// TestReplayPerformance: `reference build --label label --prediction
// prediction` on a labelled validation set (JSON lines with the canonical
// label field), then `replay --performance` of predictions with request
// IDs and, on separate lines 50 events later, their labels. Half-way the
// model's signal decays (the labels follow the score less) while the
// score distribution is unchanged: a roc_auc alert on feature
// "performance" fires after the change, and no drift alert at all.
func TestReplayPerformance(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(39, 39))
	draw := func(rho float64) (x, score float64, positive bool) {
		x = rng.NormFloat64()
		score = 1 / (1 + math.Exp(-(-2 + 1.5*x)))
		z := rho*x + math.Sqrt(1-rho*rho)*rng.NormFloat64()
		return x, score, rng.Float64() < 1/(1+math.Exp(-(-2+1.5*z)))
	}
	b2i := map[bool]int{false: 0, true: 1}
	var train strings.Builder
	for range 20000 {
		x, s, y := draw(1)
		fmt.Fprintf(&train, `{"model":"m","features":{"x":%.5f},"prediction":%.6f,"label":%d}`+"\n", x, s, b2i[y])
	}
	trainPath := filepath.Join(dir, "validation.jsonl")
	os.WriteFile(trainPath, []byte(train.String()), 0o644)
	ref := filepath.Join(dir, "ref.json")
	code, _, stderr := runCmd(t, "reference", "build", "--input", trainPath, "--model", "m", "--label", "label", "--prediction", "prediction", "--threshold", "0.3", "--out", ref)
	if code != 0 || !strings.Contains(stderr, "performance on 20000 labelled rows") {
		t.Fatalf("build exit %d: %s", code, stderr)
	}
	code, show, _ := runCmd(t, "reference", "show", "--reference", ref)
	if code != 0 || !strings.Contains(show, "performance (binary, label label, score prediction, threshold 0.3): 20000 rows") || strings.Contains(show, "\nlabel ") {
		t.Fatalf("show: %d %s", code, show)
	}
	var events strings.Builder
	var pendingLabels []string
	const n, change = 12000, 6000
	for i := range n {
		rho := 1.0
		if i >= change {
			rho = 0.3
		}
		x, s, y := draw(rho)
		fmt.Fprintf(&events, `{"model":"m","request_id":"r%d","timestamp":%d,"features":{"x":%.5f},"prediction":%.6f}`+"\n", i, 1_800_000_000_000+int64(i)*10, x, s)
		pendingLabels = append(pendingLabels, fmt.Sprintf(`{"model":"m","request_id":"r%d","timestamp":%d,"label":%d}`, i, 1_800_000_000_000+int64(i)*10+500, b2i[y]))
		if len(pendingLabels) > 50 {
			events.WriteString(pendingLabels[0] + "\n")
			pendingLabels = pendingLabels[1:]
		}
	}
	events.WriteString(`{"model":"m","request_id":"nobody","label":1}` + "\n")
	in := filepath.Join(dir, "events.jsonl")
	os.WriteFile(in, []byte(events.String()), 0o644)
	code, out, stderr := runCmd(t, "replay", "--reference", ref, "--input", in, "--performance")
	if code != 0 {
		t.Fatalf("replay exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "11950 joined to a label") || !strings.Contains(stderr, "1 labels without a prediction") || !strings.Contains(stderr, "50 pending at the end") {
		t.Errorf("join summary: %s", stderr)
	}
	var aucAlert map[string]any
	perfLines := 0
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatal(err)
		}
		switch line["type"] {
		case "performance":
			perfLines++
		case "alert":
			if line["feature"] != "performance" {
				t.Errorf("drift alert on an unchanged score distribution: %v", line["summary"])
				continue
			}
			if line["status"] == "firing" && line["test"] == "roc_auc" && aucAlert == nil {
				aucAlert = line
			}
		}
	}
	if perfLines == 0 {
		t.Fatal("no performance evaluation lines")
	}
	if aucAlert == nil {
		t.Fatal("the decayed model raised no roc_auc alert")
	}
	if seq := aucAlert["window"].(map[string]any)["last_seq"].(float64); seq <= change-50 {
		t.Fatalf("roc_auc alert before the change: %v", aucAlert["summary"])
	}
	t.Logf("%v", aucAlert["summary"])
	if code, _, _ := runCmd(t, "reference", "build", "--input", trainPath, "--model", "m", "--label", "label"); code != 2 {
		t.Fatalf("--label without --prediction: exit %d", code)
	}
}

// TestConfigSegmentsAndPerformance: the segment and performance variables
// are read, and bad values exit 2 naming the variable.
func TestConfigSegmentsAndPerformance(t *testing.T) {
	base := []string{"DRIFTD_BROKERS=localhost:9092", "DRIFTD_REFERENCES_ENABLED=true"}
	cfg, err := loadConfig(append(base, "DRIFTD_SEGMENT_KEYS=country,device", "DRIFTD_SEGMENT_MAX=5",
		"DRIFTD_PERFORMANCE=true", "DRIFTD_LABEL_TOPIC=labels", "DRIFTD_LABEL_HORIZON=2h", "DRIFTD_MAX_PENDING_PREDICTIONS=100", "DRIFTD_PERFORMANCE_WINDOW=400"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.Segments.Keys, []string{"country", "device"}) || cfg.Segments.Max != 5 ||
		!cfg.Performance.Enabled || cfg.Performance.LabelTopic != "labels" || cfg.Performance.Horizon != 2*time.Hour ||
		cfg.Performance.MaxPending != 100 || cfg.Performance.Window != 400 {
		t.Fatalf("config %+v %+v", cfg.Segments, cfg.Performance)
	}
	for _, tc := range []struct{ env, name string }{
		{"DRIFTD_SEGMENT_MAX=0", "DRIFTD_SEGMENT_MAX"},
		{"DRIFTD_LABEL_TOPIC=labels", "DRIFTD_LABEL_TOPIC"}, // without DRIFTD_PERFORMANCE
		{"DRIFTD_MODE=stage1", "DRIFTD_SEGMENT_KEYS"},
	} {
		env := append(slices.Clone(base), "DRIFTD_SEGMENT_KEYS=country", tc.env)
		if tc.name != "DRIFTD_SEGMENT_MAX" && tc.name != "DRIFTD_SEGMENT_KEYS" {
			env = append(slices.Clone(base), tc.env)
		}
		_, err := loadConfig(env)
		if err == nil || !strings.Contains(err.Error(), tc.name) {
			t.Errorf("%s: error %v, want one naming %s", tc.env, err, tc.name)
		}
	}
	if _, err := loadConfig(append(base, "DRIFTD_PERFORMANCE=true", "DRIFTD_MAX_PENDING_PREDICTIONS=0")); err == nil || !strings.Contains(err.Error(), "DRIFTD_MAX_PENDING_PREDICTIONS") {
		t.Errorf("max pending 0: %v", err)
	}
}

// TestReplayRegressionPerformance: `reference build --task regression`
// on a CSV with a numeric label column, then `replay --performance` of
// predictions and their labels where the model's errors grow half-way:
// mae or rmse alerts name the metric, after the change.
func TestReplayRegressionPerformance(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(49, 49))
	var csv strings.Builder
	csv.WriteString("x,prediction,price\n")
	for range 10000 {
		x := rng.NormFloat64()
		y := 100 + 20*x + 5*rng.NormFloat64()
		fmt.Fprintf(&csv, "%.5f,%.4f,%.4f\n", x, 100+20*x, y)
	}
	train := filepath.Join(dir, "validation.csv")
	os.WriteFile(train, []byte(csv.String()), 0o644)
	ref := filepath.Join(dir, "ref.json")
	code, _, stderr := runCmd(t, "reference", "build", "--input", train, "--model", "price", "--task", "regression", "--label", "price", "--prediction", "prediction", "--out", ref)
	if code != 0 || !strings.Contains(stderr, "performance on 10000 labelled rows") {
		t.Fatalf("build exit %d: %s", code, stderr)
	}
	if _, show, _ := runCmd(t, "reference", "show", "--reference", ref); !strings.Contains(show, "performance (regression, label price, prediction prediction): 10000 rows") {
		t.Fatalf("show: %s", show)
	}
	var events strings.Builder
	for i := range 8000 {
		x := rng.NormFloat64()
		noise := 5.0
		if i >= 4000 {
			noise = 8
		}
		y := 100 + 20*x + noise*rng.NormFloat64()
		fmt.Fprintf(&events, `{"model":"price","request_id":"q%d","features":{"x":%.5f},"prediction":%.4f}`+"\n", i, x, 100+20*x)
		fmt.Fprintf(&events, `{"model":"price","request_id":"q%d","label":%.4f}`+"\n", i, y)
	}
	in := filepath.Join(dir, "events.jsonl")
	os.WriteFile(in, []byte(events.String()), 0o644)
	code, out, stderr := runCmd(t, "replay", "--reference", ref, "--input", in, "--performance", "--alerts-only")
	if code != 0 || !strings.Contains(stderr, "8000 joined") {
		t.Fatalf("replay exit %d: %s", code, stderr)
	}
	fired := 0
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var a detector.Alert
		if json.Unmarshal(sc.Bytes(), &a) != nil || a.Status != detector.Firing {
			continue
		}
		if a.Feature != "performance" || (a.Test != "mae" && a.Test != "rmse") || a.Window.LastSeq <= 4000 {
			t.Errorf("unexpected alert: %s", a.Summary)
		}
		fired++
	}
	if fired == 0 {
		t.Fatalf("growing errors raised no mae/rmse alert:\n%s", out)
	}
}
