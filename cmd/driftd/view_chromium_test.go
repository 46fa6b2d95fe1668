package main

// The drift view as a person sees it: headless Chromium loads every page
// of a running demo and of a generated report, the tests check what is
// drawn and that the browser reported no error, and screenshots are
// saved. They run when DRIFTD_TEST_CHROMIUM names a Chromium binary
// (.ci/run installs Debian's chromium); DRIFTD_TEST_SCREENSHOTS names the
// folder for the screenshots (default: a temporary one).
//
//	DRIFTD_TEST_CHROMIUM=$(command -v chromium) DRIFTD_TEST_SCREENSHOTS=/tmp/driftd-shots \
//	  go test ./cmd/driftd -run 'Chromium' -v

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/driftd/driftd/detector"
	"github.com/driftd/driftd/stream/web"
)

// browser is a headless Chromium that records every error it reports.
type browser struct {
	t      *testing.T
	ctx    context.Context
	shots  string
	mu     sync.Mutex
	errors []string
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	exe := os.Getenv("DRIFTD_TEST_CHROMIUM")
	if exe == "" {
		t.Skip("DRIFTD_TEST_CHROMIUM not set (a Chromium binary, e.g. Debian's chromium)")
	}
	shots := os.Getenv("DRIFTD_TEST_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.WindowSize(1360, 900), chromedp.Flag("hide-scrollbars", true), chromedp.Flag("force-prefers-reduced-motion", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	b := &browser{t: t, shots: shots}
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithListener(func(ev any) {
		var msg string
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeWarning {
				var parts []string
				for _, a := range ev.Args {
					parts = append(parts, string(a.Value))
				}
				msg = "console " + string(ev.Type) + ": " + strings.Join(parts, " ")
			}
		case *runtime.EventExceptionThrown:
			msg = "exception: " + ev.ExceptionDetails.Text
		case *log.EventEntryAdded:
			if ev.Entry.Level == log.EntryLevelError || ev.Entry.Level == log.EntryLevelWarning {
				msg = fmt.Sprintf("log %s %s: %s %s", ev.Entry.Level, ev.Entry.Source, ev.Entry.Text, ev.Entry.URL)
			}
		}
		if msg != "" {
			b.mu.Lock()
			b.errors = append(b.errors, msg)
			b.mu.Unlock()
		}
	}))
	t.Cleanup(func() { cancel(); cancelAlloc() })
	b.ctx = ctx
	// Starting the tab enables the runtime and log domains.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return b
}

// load opens a URL, waits for it, checks that the browser reported no
// error, and saves a full-page screenshot (and, with viewport, one of the
// first screen) under name.
func (b *browser) load(url, name string, viewport bool) {
	b.t.Helper()
	b.mu.Lock()
	b.errors = nil
	b.mu.Unlock()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitReady("body"), chromedp.Sleep(200*time.Millisecond)); err != nil {
		b.t.Fatalf("%s: %v", url, err)
	}
	full, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("%s: screenshot: %v", url, err)
	}
	var first []byte
	if viewport {
		if first, err = chromedp.Run(ctx, chromedp.CaptureScreenshot()); err != nil {
			b.t.Fatalf("%s: screenshot: %v", url, err)
		}
	}
	b.mu.Lock()
	errs := b.errors
	b.mu.Unlock()
	if len(errs) > 0 {
		b.t.Errorf("%s: the browser reported:\n%s", url, strings.Join(errs, "\n"))
	}
	b.save(name+".png", full)
	if viewport {
		b.save(name+"-screen.png", first)
	}
}

func (b *browser) save(name string, png []byte) {
	path := filepath.Join(b.shots, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot %s", path)
}

// eval evaluates a JavaScript expression over the loaded page through the
// DevTools protocol (the page itself runs no script).
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// charts returns, per chart kind, the data-series count each chart
// declares and the series paths it has.
type chartInfo struct {
	Kind     string `json:"kind"`
	Declared int    `json:"declared"`
	Paths    int    `json:"paths"`
}

func (b *browser) charts() []chartInfo {
	return eval[[]chartInfo](b, `[...document.querySelectorAll('svg[data-chart]')].map(s => ({kind: s.dataset.chart, declared: +s.dataset.series,
		paths: s.querySelectorAll('path.series').length}))`)
}

func countKind(cs []chartInfo, kind string) int {
	n := 0
	for _, c := range cs {
		if c.Kind == kind {
			n++
		}
	}
	return n
}

// checkCharts: every chart draws the series it declares, and the kinds
// wanted are there with the given series count.
func checkCharts(t *testing.T, page string, cs []chartInfo, want map[string][2]int) {
	t.Helper()
	for _, c := range cs {
		if c.Declared != c.Paths {
			t.Errorf("%s: %s chart declares %d series, draws %d", page, c.Kind, c.Declared, c.Paths)
		}
	}
	for kind, w := range want {
		n := 0
		for _, c := range cs {
			if c.Kind == kind {
				n++
				if c.Paths != w[1] {
					t.Errorf("%s: %s chart with %d series, want %d", page, kind, c.Paths, w[1])
				}
			}
		}
		if n != w[0] {
			t.Errorf("%s: %d %s charts, want %d", page, n, kind, w[0])
		}
	}
}

var viewURL = regexp.MustCompile(`drift view: (http://\S+)/ui/`)

// TestDemoViewInChromium runs the demo, waits for the training–serving
// skew to fire, and loads every page of the view.
func TestDemoViewInChromium(t *testing.T) {
	b := newBrowser(t)
	if testing.Short() {
		t.Skip("runs the demo for ~20 s")
	}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- cmdDemo(ctx, []string{"--http-addr", "127.0.0.1:0", "--duration", "2m", "--rate", "2000"}, pw, io.Discard)
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	var base string
	var linesMu sync.Mutex
	var lines []string
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		if m := viewURL.FindStringSubmatch(sc.Text()); m != nil {
			base = m[1]
			break
		}
	}
	if base == "" {
		t.Fatal("the demo printed no view URL")
	}
	go func() {
		for sc.Scan() {
			linesMu.Lock()
			lines = append(lines, sc.Text())
			linesMu.Unlock()
		}
	}()
	// Wait until the skew fires (phase 2 starts at 12 s).
	deadline := time.Now().Add(60 * time.Second)
	var model web.ModelResponse
	for {
		if time.Now().After(deadline) {
			t.Fatal("tenure_days never fired")
		}
		time.Sleep(500 * time.Millisecond)
		resp, err := http.Get(base + "/api/v1/model?model=churn&version=3")
		if err != nil {
			continue
		}
		model = web.ModelResponse{}
		err = json.NewDecoder(resp.Body).Decode(&model)
		resp.Body.Close()
		// Until the model's first evaluation the API answers 404 with an
		// error object, which decodes into a response without a model.
		if err == nil && resp.StatusCode == http.StatusOK && model.Model != nil && len(model.Features) > 0 && model.Features[0].State == "firing" && model.Status == "drift" {
			break
		}
	}

	b.load(base+"/ui/", "demo-overview", true)
	rows := eval[int](b, `document.querySelectorAll('table.models tbody tr').length`)
	if rows != 1 {
		t.Errorf("overview: %d model rows, want 1", rows)
	}
	status := eval[string](b, `document.querySelector('table.models tbody tr .badge').textContent`)
	if status != "drift" {
		t.Errorf("overview: status %q, want drift", status)
	}

	b.load(base+"/ui/model?model=churn&version=3", "demo-model", true)
	states := eval[[]string](b, `[...document.querySelectorAll('tr.feature')].map(r => r.dataset.state)`)
	// Every feature of the demo's reference: its columns, the prediction
	// and the multivariate reconstruction error.
	nFeatures := len(model.Features)
	if nFeatures < 4 {
		t.Errorf("API: %d features of the demo model, want at least 4", nFeatures)
	}
	if len(states) != nFeatures || states[0] != "firing" {
		t.Errorf("model page: feature states %v, want %d with the first firing", states, nFeatures)
	}
	first := eval[string](b, `document.querySelector('tr.feature').dataset.feature`)
	if first != "tenure_days" && first != "prediction" {
		t.Errorf("first-ranked feature %q, want tenure_days (or the prediction it moves)", first)
	}
	checkCharts(t, "model", b.charts(), map[string][2]int{"sparkline": {nFeatures, 1}})

	for _, f := range model.Features {
		b.load(base+web.FeaturePath("churn", "3", f.Name, ""), "demo-feature-"+f.Name, f.Name == "tenure_days")
		cs := b.charts()
		tests := len(f.Tests)
		want := map[string][2]int{"history": {3 * tests, 1}}
		if f.Kind == detector.Numeric {
			want["cdf"], want["histogram"] = [2]int{1, 2}, [2]int{1, 2}
		} else {
			want["categories"] = [2]int{1, 2}
		}
		checkCharts(t, f.Name, cs, want)
		h1 := eval[string](b, `document.querySelector('h1').textContent`)
		if !strings.HasPrefix(h1, f.Name) {
			t.Errorf("feature page title %q", h1)
		}
		if f.Name == "tenure_days" {
			ks := eval[string](b, `document.querySelector('svg[data-chart=cdf] .ks-label').textContent`)
			if !strings.HasPrefix(ks, "D = 0.9") {
				t.Errorf("KS label %q, want D ≈ 0.98 under the skew", ks)
			}
			firingRows := eval[int](b, `document.querySelectorAll('table.tests tr.firing').length`)
			if firingRows < 2 {
				t.Errorf("%d firing tests on the tenure_days page, want ks and mean_shift", firingRows)
			}
		}
	}
	// Every alert line of the demo names the feature's page.
	linesMu.Lock()
	defer linesMu.Unlock()
	n := 0
	for _, line := range lines {
		if strings.Contains(line, "FIRING") || strings.Contains(line, "UPDATE") {
			n++
		}
		if strings.Contains(line, "/ui/feature?model=") && !strings.HasPrefix(strings.TrimSpace(line), base+"/ui/feature?model=churn&version=3&feature=") {
			t.Errorf("alert link %q", line)
		}
	}
	if n == 0 {
		t.Error("no alert line read")
	}
}

// TestReportInChromium generates a report from a reference and a file of
// events with a training–serving skew, and loads it.
func TestReportInChromium(t *testing.T) {
	b := newBrowser(t)
	// The error check itself: a page that logs an error must be caught.
	if err := chromedp.Do(b.ctx, chromedp.Navigate(`data:text/html,<p>x</p><script>console.error("seen")</script>`), chromedp.Sleep(300*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	b.mu.Lock()
	caught := len(b.errors) > 0
	b.mu.Unlock()
	if !caught {
		t.Fatal("the browser's console errors are not seen")
	}
	dir := t.TempDir()
	ref, err := demoReference(20000)
	if err != nil {
		t.Fatal(err)
	}
	refPath := filepath.Join(dir, "churn-3.json")
	data, _ := json.Marshal(ref)
	if err := os.WriteFile(refPath, data, 0o644); err != nil {
		t.Fatal(err)
	}
	events := filepath.Join(dir, "events.jsonl")
	f, err := os.Create(events)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	at := time.Date(2026, 11, 25, 20, 0, 0, 0, time.UTC)
	for i := range 12000 {
		e := stableEvent(rng)
		if i >= 6000 && i < 9000 {
			e.tenure /= 365
			e.predict()
		}
		f.Write(e.json(int64(i), at.Add(time.Duration(i)*50*time.Millisecond)))
		f.Write([]byte("\n"))
	}
	f.Close()
	out := filepath.Join(dir, "report.html")
	if err := cmdReport(context.Background(), []string{"--reference", refPath, "--input", events, "--out", out, "--json", filepath.Join(dir, "report.json")}, nil, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	b.load("file://"+out, "report", true)
	sections := eval[int](b, `document.querySelectorAll('section.report-page').length`)
	if sections != 5 {
		t.Errorf("%d report sections, want 5 (the model and its 4 features)", sections)
	}
	cs := b.charts()
	checkCharts(t, "report", cs, map[string][2]int{"cdf": {3, 2}, "histogram": {3, 2}, "categories": {1, 2}, "sparkline": {4, 1}})
	if countKind(cs, "timeline") == 0 {
		t.Error("report: no alert timeline")
	}
	// Links between sections are fragments that exist.
	broken := eval[[]string](b, `[...document.querySelectorAll('a[href^="#"]')].map(a => a.getAttribute('href')).filter(h => !document.getElementById(h.slice(1)))`)
	if len(broken) > 0 {
		t.Errorf("report: links to missing sections %v", broken)
	}
	external := eval[[]string](b, `[...document.querySelectorAll('[src],link[href],a[href^="http"]')].map(e => e.outerHTML)`)
	if len(external) > 1 || (len(external) == 1 && !strings.Contains(external[0], `href="data:,"`)) {
		t.Errorf("report: external resources %v", external)
	}
}
