package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/driftd/driftd/detector"
)

//go:embed templates/*.tmpl
var templateFS embed.FS

// links makes the URLs between pages: query URLs when served, fragments
// in a one-file report.
type links struct {
	report bool
}

func (l links) Overview() string {
	if l.report {
		return "#overview"
	}
	return "/ui/"
}

func (l links) Model(model, version string) string {
	if l.report {
		return "#" + anchor("model", model, version, "")
	}
	return ModelPath(model, version)
}

func (l links) Feature(model, version, feature string) string {
	if l.report {
		return "#" + anchor("feature", model, version, feature)
	}
	return FeaturePath(model, version, feature, "")
}

// anchor is a fragment ID for a page of a report: names are hex-encoded,
// so any name makes a valid, unique ID.
func anchor(kind, model, version, feature string) string {
	return fmt.Sprintf("%s-%x-%x-%x", kind, model, version, feature)
}

func templateFuncs() template.FuncMap {
	return template.FuncMap{
		"dict2": func(p page, a []recentAlert) alertListData { return alertListData{P: p, A: a} },
		"sub":   func(p page, body any) page { p.Body = body; return p },
		"num":   num,
		"pval":  pval,
		"pct": func(x float64) string {
			return num(100*x) + "%"
		},
		"short": func(s string, n int) string {
			r := []rune(s)
			if len(r) <= n {
				return s
			}
			return string(r[:n-1]) + "…"
		},
		"ago": func(now, t time.Time) string {
			if t.IsZero() {
				return ""
			}
			d := now.Sub(t).Round(time.Second)
			switch {
			case d < 0:
				return t.UTC().Format("15:04:05")
			case d < time.Minute:
				return fmt.Sprintf("%ds ago", int(d.Seconds()))
			case d < time.Hour:
				return fmt.Sprintf("%dm ago", int(d.Minutes()))
			case d < 48*time.Hour:
				return fmt.Sprintf("%dh ago", int(d.Hours()))
			}
			return t.UTC().Format("2006-01-02 15:04")
		},
		"clock": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			if t.Year() < 2000 {
				return "event time " + strconv.FormatInt(t.UnixMilli(), 10)
			}
			return t.UTC().Format("2006-01-02 15:04:05 UTC")
		},
		"barw": func(x float64) string { return strconv.FormatFloat(100*math.Max(0, math.Min(1, x)), 'f', 1, 64) },
		"json": func(v any) string {
			var b bytes.Buffer
			enc := newJSONEncoder(&b)
			enc.Encode(v) //nolint:errcheck // in-memory
			return b.String()
		},
	}
}

func parseTemplates() *template.Template {
	return template.Must(template.New("").Funcs(templateFuncs()).ParseFS(templateFS, "templates/*.tmpl"))
}

// page is what every template gets.
type page struct {
	Title   string
	Now     time.Time
	Taken   time.Time
	Links   links
	Refresh int
	Report  bool
	Version string
	Body    any
}

// overviewData is the models overview.
type overviewData struct {
	Models []*Model
	Recent []recentAlert
}

type recentAlert struct {
	AlertEntry
	Link string
}

func buildOverview(sn *Snapshot, l links) overviewData {
	d := overviewData{Models: sn.Models}
	for _, m := range sn.Models {
		for _, a := range m.Alerts[:min(len(m.Alerts), 20)] {
			link := l.Feature(a.Model, a.Version, a.Feature)
			if a.Feature == detector.DatasetFeature {
				link = l.Model(a.Model, a.Version)
			}
			d.Recent = append(d.Recent, recentAlert{a, link})
		}
	}
	slices.SortStableFunc(d.Recent, func(a, b recentAlert) int { return b.Received.Compare(a.Received) })
	d.Recent = d.Recent[:min(len(d.Recent), 20)]
	return d
}

// modelData is a model version's page.
type modelData struct {
	M      *Model
	Rows   []featureRow
	Alerts []recentAlert
}

type featureRow struct {
	F         *Feature
	Link      string
	Top       *TestState // the test with the largest score
	TopScore  float64
	Firing    []string
	Spark     template.HTML
	Missing   float64
	HasWindow bool
}

func buildModel(m *Model, l links) modelData {
	d := modelData{M: m}
	for _, f := range m.Features {
		r := featureRow{F: f, Link: l.Feature(m.Model, m.Version, f.Name), HasWindow: f.Window.N > 0}
		gates := make([]float64, len(f.Tests))
		for i := range f.Tests {
			t := &f.Tests[i]
			gates[i] = t.Gate
			if t.Firing {
				r.Firing = append(r.Firing, string(t.Test))
			}
			if t.Last != nil {
				if sc := scoreOf(t.Last); r.Top == nil || sc > r.TopScore {
					r.Top, r.TopScore = t, sc
				}
			}
		}
		if f.Window.N > 0 {
			r.Missing = float64(f.Window.Missing) / float64(f.Window.N)
		}
		r.Spark = sparkline(f.History, len(f.Tests), gates)
		d.Rows = append(d.Rows, r)
	}
	for _, a := range m.Alerts[:min(len(m.Alerts), 30)] {
		link := l.Feature(a.Model, a.Version, a.Feature)
		if a.Feature == detector.DatasetFeature {
			link = l.Model(a.Model, a.Version)
		}
		d.Alerts = append(d.Alerts, recentAlert{a, link})
	}
	return d
}

// featureData is a feature's page.
type featureData struct {
	M          *Model
	F          *Feature
	Anchor     string
	Focus      string
	Verdict    []string
	Evidence   *detector.Evidence // numeric or categorical, of the window now
	Quality    []qualityRow
	CDF        template.HTML
	Histogram  template.HTML
	Categories template.HTML
	History    []historyRow
	Timeline   template.HTML
	Alerts     []AlertEntry
	DetailAt   time.Time
	DetailN    int64
	NoDetail   bool
	Examples   []detector.CategoryCount
}

type qualityRow struct {
	Name              string
	Window, Reference float64
	Count, N          int64
	Gate              float64
	Firing            bool
}

type historyRow struct {
	Test                 detector.Test
	Stat, PValue, Effect template.HTML
	Firing               bool
	LastEffect, LastP    float64
	Gate, Threshold      float64
	Evaluated            bool
	StatName, EffectName string
	LastStat             float64
	LastN                int64
	Updates              int
	Since                uint64
}

func buildFeature(m *Model, f *Feature, focus string) featureData {
	d := featureData{M: m, F: f, Focus: focus, Anchor: anchor("feature", m.Model, m.Version, f.Name)}
	for _, a := range m.Alerts {
		if a.Feature == f.Name {
			d.Alerts = append(d.Alerts, a)
		}
	}
	ref := f.Ref
	if f.Detail != nil {
		cells := f.Detail.Cells
		d.DetailAt = f.DetailAt
		for i, c := range cells {
			if i < detector.CellLayout(ref).Valid {
				d.DetailN += int64(c)
			}
		}
		switch ref.Kind {
		case detector.Numeric:
			d.Evidence = detector.Explain(ref, detector.TestKS, cells, f.Detail.Moments, nil)
			if d.Evidence != nil && len(ref.Breakpoints) > 0 {
				d.CDF = cdfChart(ref, cells, d.Evidence.KS)
				d.Histogram = histChart(ref, cells)
			}
		case detector.Categorical:
			d.Evidence = detector.Explain(ref, detector.TestChi2, cells, f.Detail.Moments, f.Detail.Examples)
			d.Categories = categoryChart(ref, cells)
		}
		for _, t := range []detector.Test{detector.TestMissing, detector.TestInvalid, detector.TestOutOfRange} {
			ev := detector.Explain(ref, t, cells, f.Detail.Moments, nil)
			if ev == nil || ev.Quality == nil {
				continue
			}
			row := qualityRow{Name: string(t), Window: ev.Quality.Window, Reference: ev.Quality.Reference, Count: ev.Quality.Count, N: ev.Quality.N}
			for _, ts := range f.Tests {
				if ts.Test == t {
					row.Gate, row.Firing = ts.Gate, ts.Firing
				}
			}
			d.Quality = append(d.Quality, row)
		}
	} else {
		d.NoDetail = true
	}
	d.Verdict = verdict(f, d.Evidence)
	for i, ts := range f.Tests {
		row := historyRow{Test: ts.Test, Firing: ts.Firing, Gate: ts.Gate, StatName: statName(ts.Test), EffectName: effectName(ts.Test), Updates: ts.Updates, Since: ts.Since}
		if ts.Last != nil {
			row.Evaluated, row.LastEffect, row.LastP, row.Threshold, row.LastStat, row.LastN = true, ts.Last.Effect, ts.Last.PValue, ts.Last.Threshold, ts.Last.Statistic, ts.Last.N
		}
		threshold := row.Threshold // the p-value threshold of the last evaluation (constant for count windows)
		name := string(ts.Test)
		row.Stat = historyChart(m.History, f.History, len(f.Tests), i, metricStatistic, 0, name+": "+row.StatName)
		row.PValue = historyChart(m.History, f.History, len(f.Tests), i, metricPValue, threshold, name+": p-value")
		row.Effect = historyChart(m.History, f.History, len(f.Tests), i, metricEffect, ts.Gate, name+": "+row.EffectName)
		d.History = append(d.History, row)
	}
	from, to := timelineRange(m, d.Alerts)
	tests := make([]detector.Test, len(f.Tests))
	for i, t := range f.Tests {
		tests[i] = t.Test
	}
	d.Timeline = timelineChart(d.Alerts, tests, from, to)
	return d
}

func timelineRange(m *Model, alerts []AlertEntry) (time.Time, time.Time) {
	var from, to time.Time
	if len(m.History) > 0 {
		from, to = m.History[0].At, m.History[len(m.History)-1].At
	}
	for _, a := range alerts {
		if from.IsZero() || a.Received.Before(from) {
			from = a.Received
		}
		if a.Received.After(to) {
			to = a.Received
		}
	}
	if !to.After(from) {
		to = from.Add(time.Second)
	}
	return from, to
}

func statName(t detector.Test) string {
	switch t {
	case detector.TestKS:
		return "D"
	case detector.TestMeanShift:
		return "z (cell-score mean)"
	case detector.TestScale:
		return "z (mean absolute deviation)"
	case detector.TestCUSUM:
		return "S (CUSUM of pane scores)"
	case detector.TestChi2:
		return "χ²"
	case detector.TestMissing, detector.TestInvalid, detector.TestOutOfRange:
		return "ratio"
	}
	return "statistic"
}

func effectName(t detector.Test) string {
	switch t {
	case detector.TestKS:
		return "effect D−ε"
	case detector.TestMeanShift:
		return "effect |Δμ|/σ"
	case detector.TestScale:
		return "effect |log(G/G_ref)|"
	case detector.TestCUSUM:
		return "effect |Δμ|/σ (estimated shift)"
	case detector.TestChi2:
		return "effect JS distance"
	case detector.TestMissing, detector.TestInvalid, detector.TestOutOfRange:
		return "effect ratio increase"
	}
	return "effect"
}

// verdict says in a few plain sentences what the view shows.
func verdict(f *Feature, ev *detector.Evidence) []string {
	var out []string
	var firing []string
	for _, t := range f.Tests {
		if t.Firing {
			firing = append(firing, string(t.Test))
		}
	}
	switch {
	case len(firing) > 0:
		out = append(out, "Firing: "+strings.Join(firing, ", ")+".")
	case f.State == "drifting":
		out = append(out, "Drifting at the last evaluation, not firing yet (hysteresis).")
	case f.State == "warming":
		out = append(out, "Not evaluated yet: the window has fewer events than the policy's minimum.")
	default:
		out = append(out, "No drift: every test is within its thresholds.")
	}
	if ev == nil {
		return out
	}
	if w, r, dir := ev.Window, ev.Reference, ev.Direction; w != nil && r != nil && dir != nil {
		s := fmt.Sprintf("Window mean %s vs reference %s", num(w.Mean), num(r.Mean))
		if dir.Shift != "none" {
			s += fmt.Sprintf(" (shifted %s by %s reference sd)", dir.Shift, num(math.Abs(dir.ShiftSD)))
		}
		s += fmt.Sprintf("; median %s vs %s; sd %s vs %s", num(w.P50), num(r.P50), num(w.StdDev), num(r.StdDev))
		if dir.Spread != "same" {
			s += " (" + dir.Spread + ")"
		}
		out = append(out, s+".")
		if ev.KS != nil {
			out = append(out, fmt.Sprintf("Largest CDF gap D = %s at %s: %s of the window vs %s of the reference %s it.",
				num(ev.KS.Distance), num(ev.KS.Value), pctOf(ev.KS.WindowCDF), pctOf(ev.KS.ReferenceCDF), map[string]string{"at": "at or below", "below": "below"}[ev.KS.Side]))
		}
		if w.BelowMin > 0 || w.AboveMax > 0 {
			out = append(out, fmt.Sprintf("%s of the window is below the training minimum and %s above its maximum.", pctOf(w.BelowMin), pctOf(w.AboveMax)))
		}
	}
	if len(ev.Categories) > 0 {
		c := ev.Categories[0]
		name := strconvQuote(c.Value)
		if c.Other {
			name = "values outside the reference's categories"
		}
		out = append(out, fmt.Sprintf("Largest change: %s at %s of the window vs %s of the reference.", name, pctOf(c.Window), pctOf(c.Reference)))
	}
	if u := ev.Unseen; u != nil && u.ReferenceShare == 0 {
		s := fmt.Sprintf("%s of the window are categories the training data never had", pctOf(u.Share))
		if len(u.Examples) > 0 {
			var names []string
			for _, e := range u.Examples[:min(3, len(u.Examples))] {
				names = append(names, strconvQuote(e.Value))
			}
			s += ", e.g. " + strings.Join(names, ", ")
		}
		out = append(out, s+".")
	}
	return out
}

func pctOf(x float64) string { return num(100*x) + "%" }

func strconvQuote(s string) string {
	r := []rune(s)
	if len(r) > 60 {
		s = string(r[:59]) + "…"
	}
	return strconv.Quote(s)
}

// Handler serves the view under /ui/ and the JSON API under /api/v1/.
// version is shown in the page footer.
func (s *Store) Handler(version string) http.Handler {
	tmpl := parseTemplates()
	mux := http.NewServeMux()
	render := func(w http.ResponseWriter, r *http.Request, name, title string, sn *Snapshot, body any) {
		p := page{Title: title, Now: time.Now(), Taken: sn.Taken, Version: version, Body: body}
		if v, err := strconv.Atoi(r.URL.Query().Get("refresh")); err == nil && v >= 2 && v <= 3600 {
			p.Refresh = v
		}
		var b bytes.Buffer
		if err := tmpl.ExecuteTemplate(&b, name, p); err != nil {
			http.Error(w, "rendering: "+err.Error(), http.StatusInternalServerError)
			return
		}
		securityHeaders(w)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(b.Bytes()) //nolint:errcheck // the client went away
	}
	mux.HandleFunc("/ui/{$}", func(w http.ResponseWriter, r *http.Request) {
		sn := s.Snapshot()
		render(w, r, "overview", "driftd — models", sn, buildOverview(sn, links{}))
	})
	mux.HandleFunc("/ui", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ui/", http.StatusFound)
	})
	mux.HandleFunc("/ui/model", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		sn := s.Snapshot()
		m := sn.model(modelKey{q.Get("model"), q.Get("version")})
		if m == nil {
			notFound(w, r, tmpl, version, "No model "+strconv.Quote(q.Get("model"))+" version "+strconv.Quote(q.Get("version"))+" in the view (yet).")
			return
		}
		render(w, r, "model", "driftd — "+m.Model+"/"+m.Version, sn, buildModel(m, links{}))
	})
	mux.HandleFunc("/ui/feature", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		k := featureKey{modelKey{q.Get("model"), q.Get("version")}, q.Get("feature")}
		m, f := s.waitDetail(r.Context(), k, 3*time.Second)
		if f == nil {
			notFound(w, r, tmpl, version, "No feature "+strconv.Quote(k.feature)+" of model "+strconv.Quote(k.model)+" version "+strconv.Quote(k.version)+" in the view (yet).")
			return
		}
		render(w, r, "feature", "driftd — "+m.Model+"/"+m.Version+" "+f.Name, s.Snapshot(), buildFeature(m, f, q.Get("test")))
	})
	s.apiRoutes(mux)
	return mux
}

func securityHeaders(w http.ResponseWriter) {
	h := w.Header()
	// No script at all, styles only inline, images only inline: the
	// view works offline and a hostile name cannot run anything.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
}

func notFound(w http.ResponseWriter, r *http.Request, tmpl *template.Template, version, msg string) {
	securityHeaders(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusNotFound)
	tmpl.ExecuteTemplate(w, "notfound", page{Title: "driftd — not found", Now: time.Now(), Version: version, Body: msg}) //nolint:errcheck // the client went away
}
