package web

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/driftd/driftd/detector"
	"github.com/driftd/driftd/stream"
)

// Hostile names: markup, quotes, an empty version, a very long name.
var (
	hostileModel   = `<script>alert("m")`
	hostileVersion = `"'><img src=x onerror=alert(1)>`
	hostileFeature = `<td><script>alert('f')"` + strings.Repeat("x", 200)
	hostileCat     = `<b onmouseover="alert(1)">pro`
)

// scenario builds a monitor for a model of three features — a numeric
// feature that drifts (hostile name), a stable numeric one, a categorical
// one whose values turn to a category the reference never had — and
// feeds it stable traffic, then drift, syncing the store as the pipeline
// would.
type scenario struct {
	m     *detector.Monitor
	store *Store
	out   detector.Output
	seq   int64
	rng   *rand.Rand
	now   time.Time
}

func newScenario(t *testing.T, model, version, drifting string, cfg Config) *scenario {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	b, err := detector.NewBuilder(model, version, detector.BuildOptions{Categorical: []string{"plan"}})
	if err != nil {
		t.Fatal(err)
	}
	for range 20000 {
		b.BeginRow()
		b.Add(drifting, detector.Value{Kind: detector.Number, Num: 100 + 10*rng.NormFloat64(), Parsed: true})
		b.Add("stable", detector.Value{Kind: detector.Number, Num: rng.NormFloat64(), Parsed: true})
		b.Add("plan", detector.Value{Kind: detector.String, Text: []byte([]string{"basic", "pro", hostileCat}[rng.IntN(3)])})
		b.EndRow()
	}
	ref, err := b.Reference()
	if err != nil {
		t.Fatal(err)
	}
	m, err := detector.NewMonitor(ref, nil, detector.DefaultWindow())
	if err != nil {
		t.Fatal(err)
	}
	return &scenario{m: m, store: NewStore(cfg), rng: rng, now: time.Date(2026, 11, 25, 20, 0, 0, 0, time.UTC)}
}

// feed sends n events; shift moves the drifting feature, unseen sends
// the categorical feature to a new category.
func (s *scenario) feed(n int, shift float64, unseen bool, drifting string) {
	for range n {
		s.seq++
		s.now = s.now.Add(10 * time.Millisecond)
		if !s.m.Begin(detector.GroupFeatures, s.now.UnixMilli(), s.seq, &s.out) {
			continue
		}
		s.m.Value(0, []byte(drifting), detector.Value{Kind: detector.Number, Num: 100 + shift + 10*s.rng.NormFloat64(), Parsed: true})
		s.m.Value(1, []byte("stable"), detector.Value{Kind: detector.Number, Num: s.rng.NormFloat64(), Parsed: true})
		plan := []string{"basic", "pro", hostileCat}[s.rng.IntN(3)]
		if unseen && s.rng.IntN(2) == 0 {
			plan = "PRO<" // an upstream rename
		}
		s.m.Value(2, []byte("plan"), detector.Value{Kind: detector.String, Text: []byte(plan)})
		s.m.End(&s.out)
		for i := range s.out.Alerts {
			s.store.RecordAlert(s.now, &s.out.Alerts[i])
		}
		s.out.Reset()
		if s.seq%250 == 0 {
			s.store.Sync(s.now, []stream.TaskMonitors{{Task: stream.TaskID{Topic: "in", Partition: 0}, Monitors: map[string]*detector.Monitor{"k": s.m}}})
		}
	}
}

func testConfig() Config {
	return Config{History: 20, HistoryInterval: time.Second, SnapshotInterval: time.Second}
}

func get(t *testing.T, h http.Handler, path string) (int, string, http.Header) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	return rec.Code, rec.Body.String(), rec.Header()
}

// TestAPIAndRanking: the drifting feature fires and ranks first, every
// feature carries every test's last result, and the feature endpoint has
// the reference CDF, the window's cells and CDF, history and alerts.
func TestAPIAndRanking(t *testing.T) {
	s := newScenario(t, "churn", "3", "tenure_days", testConfig())
	s.feed(3000, 0, false, "tenure_days")
	s.feed(3000, 30, true, "tenure_days")
	h := s.store.Handler("test")

	code, body, _ := get(t, h, "/api/v1/models")
	var models ModelsResponse
	if code != 200 || json.Unmarshal([]byte(body), &models) != nil || len(models.Models) != 1 {
		t.Fatalf("models: %d %s", code, body)
	}
	if m := models.Models[0]; m.Status != "drift" && m.Status != "alert" || m.FiringAlerts == 0 || m.LastAlert == nil {
		t.Errorf("model summary %+v, want firing alerts and a last alert", m)
	}

	code, body, _ = get(t, h, "/api/v1/model?model=churn&version=3")
	var model ModelResponse
	if code != 200 || json.Unmarshal([]byte(body), &model) != nil {
		t.Fatalf("model: %d %s", code, body)
	}
	if len(model.Features) != 3 || model.Features[0].Name != "tenure_days" || model.Features[0].State != "firing" || model.Features[0].Rank != 1 {
		t.Fatalf("ranking: first %+v", model.Features[0])
	}
	for _, f := range model.Features {
		want := len(detector.NumericTests)
		if f.Kind == detector.Categorical {
			want = len(detector.CategoricalTests)
		}
		ran := 0
		for _, ts := range f.Tests {
			if ts.Last != nil {
				ran++
			}
		}
		if len(f.Tests) != want || ran != want {
			t.Errorf("%s: %d tests, %d with a last result; want %d", f.Name, len(f.Tests), ran, want)
		}
	}

	code, body, _ = get(t, h, "/api/v1/feature?model=churn&version=3&feature=tenure_days")
	var f FeatureResponse
	if code != 200 || json.Unmarshal([]byte(body), &f) != nil {
		t.Fatalf("feature: %d %s", code, body)
	}
	if f.Reference == nil || len(f.Reference.Breakpoints) == 0 || len(f.Reference.Ranks) != len(f.Reference.Breakpoints) {
		t.Fatal("feature without the reference CDF")
	}
	w := f.Window
	if w == nil || len(w.Cells) != 2*len(f.Reference.Breakpoints)+3 || w.N != 1000 || len(w.CDFAt) != len(f.Reference.Breakpoints) {
		t.Fatalf("window detail %+v", w)
	}
	if ev := w.Evidence["ks"]; ev == nil || ev.Direction.Shift != "up" || ev.KS.Distance < 0.5 {
		t.Errorf("evidence %+v", ev)
	}
	if len(f.History) == 0 || len(f.History) > 20 {
		t.Errorf("%d history points, want 1..20", len(f.History))
	}
	if len(f.Alerts) == 0 || f.Alerts[0].Evidence == nil {
		t.Errorf("feature alerts %d, the newest with evidence?", len(f.Alerts))
	}

	code, body, _ = get(t, h, "/api/v1/feature?model=churn&version=3&feature=plan")
	if code != 200 || json.Unmarshal([]byte(body), &f) != nil {
		t.Fatalf("plan: %d %s", code, body)
	}
	if u := f.Window.Evidence["chi2"].Unseen; u == nil || u.Share < 0.3 || len(u.Examples) == 0 || u.Examples[0].Value != "PRO<" {
		t.Errorf("unseen evidence %+v, want PRO< at about half the window", u)
	}
	if code, _, _ := get(t, h, "/api/v1/feature?model=churn&version=3&feature=nope"); code != 404 {
		t.Errorf("unknown feature: %d", code)
	}
}

var (
	tagPattern    = regexp.MustCompile(`<([a-zA-Z][a-zA-Z0-9]*)([^>]*)>`)
	quotedPattern = regexp.MustCompile(`"[^"]*"`)
	attrPattern   = regexp.MustCompile(`\s([a-zA-Z:-]+)=`)
	allowedTags   = func() map[string]bool {
		m := map[string]bool{}
		for _, t := range strings.Fields(`html head meta link title style body header main footer a span h1 h2 h3 p div table thead tbody tr th td
			code i b details summary pre section svg path text rect line g clipPath`) {
			m[t] = true
		}
		return m
	}()
)

// hostileMarkup returns the first real tag of the page that is not one
// the view makes, or that has an event-handler attribute or a javascript:
// URL. Names are escaped, so every raw '<' starts a real tag, and quotes
// inside attribute values are escaped, so stripping "…" leaves the
// attribute names.
func hostileMarkup(page string) string {
	for _, m := range tagPattern.FindAllStringSubmatch(page, -1) {
		if !allowedTags[m[1]] {
			return m[0]
		}
		if strings.Contains(strings.ToLower(m[2]), "javascript:") {
			return m[0]
		}
		for _, a := range attrPattern.FindAllStringSubmatch(quotedPattern.ReplaceAllString(m[2], `""`), -1) {
			if strings.HasPrefix(strings.ToLower(a[1]), "on") {
				return m[0]
			}
		}
	}
	return ""
}

// TestHostileNamesEscaped renders every page and the report with names
// made of markup: nothing of them may become markup.
func TestHostileNamesEscaped(t *testing.T) {
	s := newScenario(t, hostileModel, hostileVersion, hostileFeature, testConfig())
	s.feed(2000, 0, false, hostileFeature)
	s.feed(2000, 30, true, hostileFeature)
	h := s.store.Handler(`<script>v</script>`)
	q := func(feature string) string {
		return "model=" + url.QueryEscape(hostileModel) + "&version=" + url.QueryEscape(hostileVersion) + "&feature=" + url.QueryEscape(feature)
	}
	pages := []string{"/ui/", "/ui/model?" + q(""), "/ui/feature?" + q(hostileFeature), "/ui/feature?" + q("plan"), "/ui/feature?" + q("stable")}
	for _, p := range pages {
		code, body, hdr := get(t, h, p)
		if code != 200 {
			t.Fatalf("%s: %d\n%s", p, code, body)
		}
		if m := hostileMarkup(body); m != "" {
			t.Errorf("%s: hostile markup in the page: %.200s", p, m)
		}
		if !strings.Contains(body, "&lt;script&gt;") {
			t.Errorf("%s: the hostile name is not shown escaped", p)
		}
		if csp := hdr.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("%s: CSP %q", p, csp)
		}
	}
	// Links to the feature page carry the names as query parameters
	// that round-trip.
	_, body, _ := get(t, h, "/ui/model?"+q(""))
	if !strings.Contains(body, `href="/ui/feature?model=`+url.QueryEscape(hostileModel)) {
		t.Error("model page does not link to the feature page by query")
	}
	var b bytes.Buffer
	if err := s.store.WriteReport(&b, "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	if m := hostileMarkup(b.String()); m != "" {
		t.Errorf("report: hostile markup %.200s", m)
	}
	// The check itself finds what an unescaped name would make.
	if hostileMarkup(`<td>`+hostileVersion+`</td>`) == "" || hostileMarkup(`<p>`+hostileCat+`</p>`) == "" {
		t.Error("hostileMarkup misses unescaped markup")
	}
}

// TestReportSelfContained: a report is one HTML file with a section per
// model and per feature, links between them by fragment, and nothing
// loaded from anywhere.
func TestReportSelfContained(t *testing.T) {
	s := newScenario(t, "churn", "3", "tenure_days", Config{})
	s.store = NewReportStore(16)
	s.feed(2000, 0, false, "tenure_days")
	s.feed(4000, 30, false, "tenure_days")
	s.store.Flush(s.now, []stream.TaskMonitors{{Monitors: map[string]*detector.Monitor{"k": s.m}}})
	var b bytes.Buffer
	if err := s.store.WriteReport(&b, "test", s.now); err != nil {
		t.Fatal(err)
	}
	html := b.String()
	for _, bad := range []string{"<script", "src=", `href="http`, `href="/`, "@import", "url(http"} {
		if strings.Contains(html, bad) {
			t.Errorf("report contains %q", bad)
		}
	}
	if n := strings.Count(html, `<section class="report-page"`); n != 4 {
		t.Errorf("%d report pages, want 4 (the model and its 3 features)", n)
	}
	id := anchor("feature", "churn", "3", "tenure_days")
	if !strings.Contains(html, `id="`+id+`"`) || !strings.Contains(html, `href="#`+id+`"`) {
		t.Error("no fragment link to the feature's section")
	}
	// The history spans the whole input in at most 16 points.
	m := s.store.Snapshot().Models[0]
	if len(m.History) < 8 || len(m.History) > 16 {
		t.Fatalf("%d history points, want 8..16", len(m.History))
	}
	if first, last := m.History[0].Seq, m.History[len(m.History)-1].Seq; first > 1000 || last < 5000 {
		t.Errorf("history spans events %d..%d, want the whole input (≤1000 .. ≥5000)", first, last)
	}
	var js bytes.Buffer
	if err := s.store.WriteReportJSON(&js, s.now); err != nil {
		t.Fatal(err)
	}
	var r ReportJSON
	if err := json.Unmarshal(js.Bytes(), &r); err != nil || len(r.Models) != 1 || len(r.Models[0].Features) != 3 {
		t.Fatalf("JSON report: %v %+v", err, r)
	}
}

// TestSyncNeverWaitsForReaders: a handler holding the store's lock (or
// many readers) never stops the pipeline's Sync.
func TestSyncNeverWaitsForReaders(t *testing.T) {
	s := newScenario(t, "churn", "3", "tenure_days", testConfig())
	s.store.mu.Lock()
	done := make(chan struct{})
	go func() {
		s.feed(2000, 0, false, "tenure_days")
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Sync blocked on a reader's lock")
	}
	s.store.mu.Unlock()
	if len(s.store.Snapshot().Models) != 1 {
		t.Error("no snapshot published")
	}
}

// TestWaitDetail: a feature whose cells are not copied yet (more cells
// than DetailCells, not firing) is asked for and gets them at the next
// sync.
func TestWaitDetail(t *testing.T) {
	s := newScenario(t, "churn", "3", "tenure_days", testConfig())
	s.feed(1000, 0, false, "tenure_days")
	k := featureKey{modelKey{"churn", "3"}, "stable"}
	// Pretend the cells were not copied.
	_, f := s.store.Snapshot().find(k)
	f.Detail = nil
	got := make(chan *Feature, 1)
	go func() {
		_, f := s.store.waitDetail(context.Background(), k, 5*time.Second)
		got <- f
	}()
	time.Sleep(50 * time.Millisecond)
	s.feed(250, 0, false, "tenure_days") // the next sync
	if f := <-got; f == nil || f.Detail == nil {
		t.Fatal("no detail after the next sync")
	}
}
