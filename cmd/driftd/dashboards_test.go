package main

// Checks of the Grafana dashboards (deploy/grafana/dashboards) and the
// Prometheus rules (deploy/prometheus) with the real Prometheus tools,
// without making github.com/prometheus/prometheus a dependency:
//
//   - TestDashboards: every panel, variable and annotation query parses as
//     PromQL (`promtool check rules` on a generated file with one recording
//     rule per query) and uses the provisioned datasource.
//   - TestDashboardsLive: `driftd demo` scraped by a real Prometheus; every
//     query returns data once the demo's drift phases have run, the alert
//     rules evaluate cleanly, and /metrics passes `promtool check metrics`.
//   - TestPrometheusRules: `promtool check rules`, `promtool test rules`
//     and `promtool check config` on deploy/prometheus.
//
// The promtool/prometheus tests skip when the binaries are not on PATH
// (Debian: apt-get install prometheus); the live one also in -short mode.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	yaml "go.yaml.in/yaml/v2"
)

// ---- dashboard model (the fields the tests look at) ----

type dsRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type gTarget struct {
	RefID      string `json:"refId"`
	Expr       string `json:"expr"`
	Datasource *dsRef `json:"datasource"`
}

type gPanel struct {
	ID         int       `json:"id"`
	Type       string    `json:"type"`
	Title      string    `json:"title"`
	Datasource *dsRef    `json:"datasource"`
	Targets    []gTarget `json:"targets"`
	Panels     []gPanel  `json:"panels"` // a collapsed row's panels
}

type gVar struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Datasource *dsRef          `json:"datasource"`
	Query      json.RawMessage `json:"query"`
}

type gAnnotation struct {
	Name       string `json:"name"`
	BuiltIn    int    `json:"builtIn"`
	Datasource *dsRef `json:"datasource"`
	Expr       string `json:"expr"`
}

type gDashboard struct {
	UID           string   `json:"uid"`
	Title         string   `json:"title"`
	SchemaVersion int      `json:"schemaVersion"`
	Panels        []gPanel `json:"panels"`
	Templating    struct {
		List []gVar `json:"list"`
	} `json:"templating"`
	Annotations struct {
		List []gAnnotation `json:"list"`
	} `json:"annotations"`
	file string
}

// promQuery is one PromQL expression of a dashboard.
type promQuery struct {
	where string // dashboard / panel / target, for messages
	expr  string // with Grafana variables
	label string // label_values(expr, label): the label the variable lists
}

func grafanaDir(t *testing.T) string { return filepath.Join(repoRoot(t), "deploy", "grafana") }

func loadDashboards(t *testing.T) []gDashboard {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(grafanaDir(t), "dashboards", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 2 {
		t.Fatalf("want the overview and feature dashboards in deploy/grafana/dashboards, found %v", files)
	}
	var out []gDashboard
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d gDashboard
		dec := json.NewDecoder(bytes.NewReader(data))
		if err := dec.Decode(&d); err != nil {
			t.Fatalf("%s: %v (datasources must be {\"type\", \"uid\"} objects)", f, err)
		}
		d.file = filepath.Base(f)
		out = append(out, d)
	}
	return out
}

// provisionedDatasourceUID is the uid of deploy/grafana's Prometheus
// datasource.
func provisionedDatasourceUID(t *testing.T) string {
	t.Helper()
	var ds struct {
		Datasources []struct {
			Type string `yaml:"type"`
			UID  string `yaml:"uid"`
		} `yaml:"datasources"`
	}
	readYAML(t, filepath.Join(grafanaDir(t), "provisioning", "datasources", "prometheus.yml"), &ds)
	for _, d := range ds.Datasources {
		if d.Type == "prometheus" && d.UID != "" {
			return d.UID
		}
	}
	t.Fatal("no prometheus datasource with a fixed uid is provisioned")
	return ""
}

func walkPanels(ps []gPanel, fn func(gPanel)) {
	for _, p := range ps {
		fn(p)
		walkPanels(p.Panels, fn)
	}
}

var labelValuesRE = regexp.MustCompile(`^\s*label_values\(\s*(.*?)\s*,\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*$`)
var queryResultRE = regexp.MustCompile(`^\s*query_result\(\s*(.*)\s*\)\s*$`)

// dashboardQueries collects a dashboard's queries: panel targets
// (including a collapsed row's panels), query variables and annotations.
func dashboardQueries(t *testing.T, d gDashboard) []promQuery {
	t.Helper()
	var qs []promQuery
	walkPanels(d.Panels, func(p gPanel) {
		for _, tg := range p.Targets {
			where := fmt.Sprintf("%s: panel %d %q, target %s", d.file, p.ID, p.Title, tg.RefID)
			if strings.TrimSpace(tg.Expr) == "" {
				t.Errorf("%s: no expr", where)
				continue
			}
			qs = append(qs, promQuery{where: where, expr: tg.Expr})
		}
	})
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		where := fmt.Sprintf("%s: variable %s", d.file, v.Name)
		q := variableQuery(t, where, v.Query)
		if m := labelValuesRE.FindStringSubmatch(q); m != nil {
			qs = append(qs, promQuery{where: where, expr: m[1], label: m[2]})
		} else if m := queryResultRE.FindStringSubmatch(q); m != nil {
			qs = append(qs, promQuery{where: where, expr: m[1]})
		} else {
			t.Errorf("%s: query %q is not label_values(selector, label) or query_result(expr)", where, q)
		}
	}
	for _, a := range d.Annotations.List {
		if a.BuiltIn != 0 {
			continue
		}
		qs = append(qs, promQuery{where: fmt.Sprintf("%s: annotation %q", d.file, a.Name), expr: a.Expr})
	}
	return qs
}

// variableQuery reads a variable's query: a string (old format) or an
// object with a "query" field (Grafana 10+).
func variableQuery(t *testing.T, where string, raw json.RawMessage) string {
	t.Helper()
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var o struct {
		Query string `json:"query"`
	}
	if err := json.Unmarshal(raw, &o); err != nil {
		t.Errorf("%s: query %s: %v", where, raw, err)
	}
	return o.Query
}

var grafanaVarRE = regexp.MustCompile(`\$\{([A-Za-z0-9_]+)(?::[A-Za-z0-9_]+)?\}|\$([A-Za-z_][A-Za-z0-9_]*)|\[\[([A-Za-z0-9_]+)\]\]`)

// substitute replaces Grafana variables ($name, ${name}, ${name:fmt},
// [[name]]) with plain values; an unknown variable is an error.
func substitute(expr string, vals map[string]string) (string, error) {
	var missing []string
	out := grafanaVarRE.ReplaceAllStringFunc(expr, func(m string) string {
		sm := grafanaVarRE.FindStringSubmatch(m)
		name := sm[1] + sm[2] + sm[3]
		v, ok := vals[name]
		if !ok {
			missing = append(missing, name)
			return m
		}
		return v
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("unknown variables %v", missing)
	}
	return out, nil
}

func TestDashboards(t *testing.T) {
	dashboards := loadDashboards(t)
	dsUID := provisionedDatasourceUID(t)
	uids := map[string]string{}
	var all []promQuery
	for _, d := range dashboards {
		if d.UID == "" {
			t.Errorf("%s: no fixed uid", d.file)
		} else if prev, dup := uids[d.UID]; dup {
			t.Errorf("%s and %s share the uid %q", prev, d.file, d.UID)
		}
		uids[d.UID] = d.file
		if d.Title == "" {
			t.Errorf("%s: no title", d.file)
		}
		if d.SchemaVersion < 36 {
			t.Errorf("%s: schemaVersion %d; datasource-by-uid references need 36 or later", d.file, d.SchemaVersion)
		}
		checkDS := func(where string, ds *dsRef) {
			if ds == nil {
				t.Errorf("%s: no datasource", where)
			} else if ds.UID != dsUID || ds.Type != "prometheus" {
				t.Errorf("%s: datasource %+v, want the provisioned {prometheus %s}", where, *ds, dsUID)
			}
		}
		ids := map[int]bool{}
		panels := 0
		walkPanels(d.Panels, func(p gPanel) {
			where := fmt.Sprintf("%s: panel %d %q", d.file, p.ID, p.Title)
			if ids[p.ID] {
				t.Errorf("%s: duplicate panel id", where)
			}
			ids[p.ID] = true
			if p.Type == "row" {
				return
			}
			panels++
			checkDS(where, p.Datasource)
			if len(p.Targets) == 0 {
				t.Errorf("%s: no queries", where)
			}
			for _, tg := range p.Targets {
				if tg.Datasource != nil {
					checkDS(where+" target "+tg.RefID, tg.Datasource)
				}
			}
		})
		if panels == 0 {
			t.Errorf("%s: no panels", d.file)
		}
		for _, v := range d.Templating.List {
			if v.Type == "query" {
				checkDS(d.file+": variable "+v.Name, v.Datasource)
			}
		}
		for _, a := range d.Annotations.List {
			if a.BuiltIn == 0 {
				checkDS(d.file+": annotation "+a.Name, a.Datasource)
			}
		}
		all = append(all, dashboardQueries(t, d)...)
	}
	// The feature dashboard is driven by model and feature variables over
	// series that exist at every metrics detail level: the per-model
	// evaluations counter, and driftd_drifting (at summary, for firing
	// features only).
	for _, d := range dashboards {
		if d.UID != "driftd-feature" {
			continue
		}
		for name, want := range map[string]string{"model": "label_values(driftd_evaluations_total", "feature": "label_values(driftd_drifting{"} {
			i := slices.IndexFunc(d.Templating.List, func(v gVar) bool { return v.Name == name })
			if i < 0 {
				t.Errorf("%s: no %s variable", d.file, name)
				continue
			}
			if q := variableQuery(t, d.file, d.Templating.List[i].Query); !strings.Contains(q, want) {
				t.Errorf("%s: variable %s lists %q, want %s…", d.file, name, q, want)
			}
		}
	}
	if _, ok := uids["driftd-overview"]; !ok {
		t.Errorf("dashboard uids %v, want driftd-overview", uids)
	}
	if _, ok := uids["driftd-feature"]; !ok {
		t.Errorf("dashboard uids %v, want driftd-feature", uids)
	}

	// Every query must be valid PromQL: check them with Prometheus' own
	// parser through promtool.
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not on PATH (Debian: apt-get install prometheus): PromQL of the dashboards not checked")
	}
	vals := map[string]string{"model": "churn", "version": "3", "feature": "tenure_days",
		"__rate_interval": "1m", "__interval": "1m", "__range": "1h"}
	var rules []recRule
	for i, q := range all {
		expr, err := substitute(q.expr, vals)
		if err != nil {
			t.Errorf("%s: %v", q.where, err)
			continue
		}
		rules = append(rules, recRule{Record: fmt.Sprintf("dashboard:query_%d", i), Expr: expr})
	}
	out, err := promtoolCheckRules(t, promtool, rules)
	if err != nil {
		var list strings.Builder
		for i, q := range all {
			fmt.Fprintf(&list, "  dashboard:query_%d  %s\n      %s\n", i, q.where, q.expr)
		}
		t.Fatalf("promtool check rules on the dashboard queries: %v\n%s\nqueries:\n%s", err, out, list.String())
	}
	t.Logf("%d dashboard queries are valid PromQL", len(rules))
}

type recRule struct {
	Record string `yaml:"record"`
	Expr   string `yaml:"expr"`
}

// promtoolCheckRules writes rules as one rule group and runs `promtool
// check rules` on it.
func promtoolCheckRules(t *testing.T, promtool string, rules []recRule) (string, error) {
	t.Helper()
	file := struct {
		Groups []struct {
			Name  string    `yaml:"name"`
			Rules []recRule `yaml:"rules"`
		} `yaml:"groups"`
	}{}
	file.Groups = append(file.Groups, struct {
		Name  string    `yaml:"name"`
		Rules []recRule `yaml:"rules"`
	}{Name: "dashboards", Rules: rules})
	data, err := yaml.Marshal(file)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "dashboard-queries.yml")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(promtool, "check", "rules", path).CombinedOutput()
	return string(out), err
}

// ---- deploy/prometheus ----

func TestPrometheusRules(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not on PATH (Debian: apt-get install prometheus)")
	}
	dir := filepath.Join(repoRoot(t), "deploy", "prometheus")
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command(promtool, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
			return
		}
		t.Logf("promtool %s:\n%s", strings.Join(args, " "), bytes.TrimSpace(out))
	}
	run("check", "rules", "driftd-rules.yml")
	run("test", "rules", "driftd-rules.test.yml")

	// prometheus.yml names its rule files by their path in the container:
	// check a copy that points at the repository's files instead.
	p := loadCompose(t)
	prom := composeService(t, p, "prometheus")
	host, _ := composePrometheusConfig(t, p)
	data, err := os.ReadFile(host)
	if err != nil {
		t.Fatal(err)
	}
	var cfg yaml.MapSlice
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	for i, item := range cfg {
		if item.Key != "rule_files" {
			continue
		}
		list, _ := item.Value.([]any)
		for j, rf := range list {
			s, _ := rf.(string)
			if hp, ok := hostPath(prom, s); ok {
				list[j] = hp
			}
		}
		cfg[i].Value = list
	}
	data, err = yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(t.TempDir(), "prometheus.yml")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	run("check", "config", tmp)
}

// ---- live: driftd demo + Prometheus ----

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// lineLog collects a process' output and reports the first line that
// contains a marker.
type lineLog struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	partial []byte
	marker  string
	seen    chan struct{}
	once    sync.Once
}

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		if l.marker != "" && bytes.Contains(l.partial[:i], []byte(l.marker)) {
			l.once.Do(func() { close(l.seen) })
		}
		l.partial = l.partial[i+1:]
	}
	return len(p), nil
}

func (l *lineLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// startProcess starts a command that is interrupted (then killed after
// 5 s) when the test ends. The channel is closed when it has exited.
func startProcess(t *testing.T, stdout, stderr io.Writer, name string, args ...string) <-chan struct{} {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("starting %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait() //nolint:errcheck // the exit status of an interrupted process is not interesting
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return done
}

func waitHTTP(t *testing.T, u string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		resp, err := http.Get(u)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after %s (last error: %v)", u, timeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

type apiResult struct {
	resultType string
	series     []map[string]string // labels of each vector/matrix element
}

// instantQuery runs a PromQL query at a fixed time through the HTTP API.
func instantQuery(base, expr string, at time.Time) (apiResult, error) {
	v := url.Values{"query": {expr}, "time": {strconv.FormatFloat(float64(at.UnixMilli())/1000, 'f', 3, 64)}}
	resp, err := http.PostForm(base+"/api/v1/query", v)
	if err != nil {
		return apiResult{}, err
	}
	defer resp.Body.Close()
	var body struct {
		Status    string `json:"status"`
		ErrorType string `json:"errorType"`
		Error     string `json:"error"`
		Data      struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return apiResult{}, fmt.Errorf("HTTP %s: %w", resp.Status, err)
	}
	if body.Status != "success" {
		return apiResult{}, fmt.Errorf("%s: %s", body.ErrorType, body.Error)
	}
	r := apiResult{resultType: body.Data.ResultType}
	switch r.resultType {
	case "vector", "matrix":
		var elems []struct {
			Metric map[string]string `json:"metric"`
		}
		if err := json.Unmarshal(body.Data.Result, &elems); err != nil {
			return r, err
		}
		for _, e := range elems {
			r.series = append(r.series, e.Metric)
		}
	default: // scalar, string: one value
		r.series = []map[string]string{{}}
	}
	return r, nil
}

func goCommand() (string, error) {
	if p, err := exec.LookPath("go"); err == nil {
		return p, nil
	}
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(p); err != nil {
		return "", errors.New("go command not found")
	}
	return p, nil
}

// demoFeatures are the churn model's features in `driftd demo`:
// numeric first, then the categorical one.
var demoFeatures = []string{"monthly_charges", "tenure_days", "prediction", "plan"}

func TestDashboardsLive(t *testing.T) {
	if testing.Short() {
		t.Skip("live dashboard test (driftd demo + Prometheus at three metrics detail levels, ~2 min): skipped with -short")
	}
	promBin, err1 := exec.LookPath("prometheus")
	promtool, err2 := exec.LookPath("promtool")
	if err1 != nil || err2 != nil {
		t.Skip("prometheus and promtool not on PATH (Debian: apt-get install prometheus): live dashboard test skipped")
	}
	goBin, err := goCommand()
	if err != nil {
		t.Skip(err)
	}
	dir := t.TempDir()

	// The real binary, as a user runs it.
	bin := filepath.Join(dir, "driftd")
	build := exec.Command(goBin, "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	// Every metrics detail level; top-1 at drifting so some of the demo's
	// four features have no per-feature series.
	for _, lv := range []struct{ detail, topK string }{{"all", "3"}, {"drifting", "1"}, {"summary", "3"}} {
		t.Run(lv.detail, func(t *testing.T) { dashboardsLive(t, bin, promtool, promBin, lv.detail, lv.topK) })
	}
}

// perFeatureFamily matches the series that exist only for the features in
// the metrics detail set (all of them at DRIFTD_METRICS_DETAIL=all, none at
// summary).
var perFeatureFamily = regexp.MustCompile(`driftd_(window_(events|mean|stddev|missing_ratio|invalid_ratio|out_of_range_ratio)|reference_(mean|stddev)|feature_|test_)`)

// dashboardsLive runs `driftd demo` at one metrics detail level, scraped by
// a real Prometheus loaded with the alert rules, and runs every dashboard
// query against it.
func dashboardsLive(t *testing.T, bin, promtool, promBin, detail, topK string) {
	dir := t.TempDir()

	metricsAddr, promAddr := freeAddr(t), freeAddr(t)
	rulesFile := filepath.Join(repoRoot(t), "deploy", "prometheus", "driftd-rules.yml")
	promCfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - %q
scrape_configs:
  - job_name: driftd
    static_configs:
      - targets: [%q]
`, rulesFile, metricsAddr)
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(promCfg), 0o644); err != nil {
		t.Fatal(err)
	}
	promLog := &lineLog{}
	promExited := startProcess(t, promLog, promLog, promBin, "--config.file="+cfgPath, "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+promAddr, "--log.level=warn")
	promURL := "http://" + promAddr
	select {
	case <-promExited:
		t.Fatalf("prometheus exited:\n%s", promLog.String())
	default:
	}
	waitHTTP(t, promURL+"/-/ready", 30*time.Second)

	// Scale 0.4: stable 4.8 s, skew 4.8 s, fix 4 s, gradual shift 9.6 s,
	// null spike from ~23 s. --loop keeps the process (and /metrics) up
	// until the test ends.
	demoOut := &lineLog{marker: "phase 5/7", seen: make(chan struct{})}
	demoErr := &lineLog{}
	exited := startProcess(t, demoOut, demoErr, bin, "demo", "--scale", "0.4", "--loop", "--http-addr", metricsAddr,
		"--metrics-detail", detail, "--metrics-top-k", topK)
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf(format+"\n--- demo stdout:\n%s\n--- demo stderr:\n%s\n--- prometheus:\n%s",
			append(args, demoOut.String(), demoErr.String(), promLog.String())...)
	}
	select {
	case <-demoOut.seen:
	case <-exited:
		fail("driftd demo exited early")
	case <-time.After(60 * time.Second):
		fail("driftd demo did not reach its null-spike phase in 60 s")
	}
	// A few scrapes into the null spike: the gradual shift's alerts are
	// firing, plan's missing ratio is up, some records went to the DLQ.
	time.Sleep(3 * time.Second)
	at := time.Now()
	t.Logf("querying at %s, %s into the demo's null-spike phase", at.Format(time.TimeOnly), 3*time.Second)

	if r, err := instantQuery(promURL, `up{job="driftd"} == 1`, at); err != nil || len(r.series) == 0 {
		fail("Prometheus does not scrape driftd at %s (err %v)", metricsAddr, err)
	}

	vals := map[string]string{"model": "churn", "version": "3",
		"__rate_interval": "15s", "__interval": "5s", "__range": "5m"}
	queries := 0
	for _, d := range loadDashboards(t) {
		for _, q := range dashboardQueries(t, d) {
			features := []string{""}
			if strings.Contains(q.expr, "$feature") || strings.Contains(q.expr, "${feature") {
				features = demoFeatures
			}
			var tried []string
			ok := false
			for _, f := range features {
				vals["feature"] = f
				expr, err := substitute(q.expr, vals)
				if err != nil {
					t.Errorf("%s: %v", q.where, err)
					break
				}
				queries++
				r, err := instantQuery(promURL, expr, at)
				if err != nil {
					t.Errorf("%s: %s: %v", q.where, expr, err)
					break
				}
				if len(r.series) == 0 {
					tried = append(tried, expr)
					continue
				}
				if q.label != "" {
					var got []string
					for _, s := range r.series {
						if v, ok := s[q.label]; ok && !slices.Contains(got, v) {
							got = append(got, v)
						}
					}
					want := map[string][]string{"model": {"churn"}, "version": {"3"}, "feature": demoFeatures}[q.label]
					for _, w := range want {
						// Below "all", only the features in the detail
						// set (or firing) have series.
						if !slices.Contains(got, w) && (q.label != "feature" || detail == "all") {
							t.Errorf("%s: label %s has values %v, missing %s", q.where, q.label, got, w)
						}
					}
					if q.label == "feature" && len(got) == 0 {
						t.Errorf("%s: no feature listed", q.where)
					}
				}
				ok = true
				break
			}
			switch {
			case ok || len(tried) == 0:
			case detail == "summary" && perFeatureFamily.MatchString(q.expr):
				// No per-feature series at summary: the panel is empty.
			case len(features) > 1:
				t.Errorf("%s: no data for any of the demo's features:\n  %s", q.where, strings.Join(tried, "\n  "))
			default:
				t.Errorf("%s: no data: %s", q.where, tried[0])
			}
			// "... or vector(0)" hides a metric without samples: say so.
			if left, found := strings.CutSuffix(q.expr, " or vector(0)"); found {
				vals["feature"] = demoFeatures[0]
				if expr, err := substitute(left, vals); err == nil {
					if r, err := instantQuery(promURL, expr, at); err == nil && len(r.series) == 0 {
						t.Logf("note: %s: %s has no samples in the demo (shown as 0)", q.where, expr)
					}
				}
			}
		}
	}
	t.Logf("%d dashboard queries run against the demo", queries)

	// The alert rules evaluate without errors against driftd's real
	// metrics, and the drift ones are active (pending: `for: 1m`).
	checkRules(t, promURL)
	for alert, active := range map[string]bool{"DriftdFeatureDrifting": true, "DriftdDatasetDrift": true,
		"DriftdDown": false, "DriftdDLQSpike": false, "DriftdConsumerLagHigh": false} {
		r, err := instantQuery(promURL, fmt.Sprintf(`ALERTS{alertname=%q}`, alert), at)
		if err != nil {
			t.Errorf("ALERTS{alertname=%q}: %v", alert, err)
			continue
		}
		if got := len(r.series) > 0; got != active {
			t.Errorf("alert %s active=%v during the demo's drift, want %v (%v)", alert, got, active, r.series)
		}
	}

	// /metrics passes promtool's linter.
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	check := exec.Command(promtool, "check", "metrics")
	check.Stdin = bytes.NewReader(metrics)
	if out, err := check.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics on driftd demo's /metrics: %v\n%s", err, out)
	}
}

// checkRules asserts that Prometheus loaded driftd-rules.yml and that
// every rule's last evaluation succeeded.
func checkRules(t *testing.T, promURL string) {
	t.Helper()
	resp, err := http.Get(promURL + "/api/v1/rules")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Data struct {
			Groups []struct {
				Name  string `json:"name"`
				Rules []struct {
					Name      string `json:"name"`
					Health    string `json:"health"`
					LastError string `json:"lastError"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, g := range body.Data.Groups {
		for _, r := range g.Rules {
			n++
			if r.Health != "ok" {
				t.Errorf("rule %s/%s: health %q %s", g.Name, r.Name, r.Health, r.LastError)
			}
		}
	}
	if n == 0 {
		t.Error("Prometheus loaded no rules from deploy/prometheus/driftd-rules.yml")
	}
}
