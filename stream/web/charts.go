package web

// SVG charts, made in Go. Every chart is an <svg class="chart"> with a
// data-chart kind and a data-series count, and one <path class="series">
// per series, so tests (and people with a DOM inspector) can tell what is
// drawn. All text goes through esc.

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/driftd/driftd/detector"
)

func esc(s string) string { return html.EscapeString(s) }

// num formats a number for people: 4 significant digits, no exponent for
// everyday magnitudes.
func num(x float64) string {
	switch {
	case math.IsNaN(x):
		return "–"
	case x == 0:
		return "0"
	case math.Abs(x) >= 1e6 || math.Abs(x) < 1e-3:
		return strconv.FormatFloat(x, 'g', 3, 64)
	}
	s := strconv.FormatFloat(x, 'f', max(0, 3-int(math.Floor(math.Log10(math.Abs(x))))), 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// pval formats a p-value.
func pval(p float64) string {
	if p == 0 {
		return "0"
	}
	if p < 1e-3 {
		return strconv.FormatFloat(p, 'e', 1, 64)
	}
	return strconv.FormatFloat(p, 'f', 3, 64)
}

type svg struct {
	b            strings.Builder
	w, h         float64
	l, r, t, bot float64 // margins
}

func newSVG(kind string, series int, w, h float64, label string) *svg {
	s := &svg{w: w, h: h, l: 58, r: 14, t: 14, bot: 34}
	fmt.Fprintf(&s.b, `<svg class="chart" data-chart="%s" data-series="%d" viewBox="0 0 %g %g" role="img" aria-label="%s" xmlns="http://www.w3.org/2000/svg">`,
		esc(kind), series, w, h, esc(label))
	return s
}

func (s *svg) plotW() float64 { return s.w - s.l - s.r }
func (s *svg) plotH() float64 { return s.h - s.t - s.bot }

func (s *svg) raw(format string, args ...any) { fmt.Fprintf(&s.b, format, args...) }

func (s *svg) text(x, y float64, anchor, class, text string) {
	fmt.Fprintf(&s.b, `<text x="%.1f" y="%.1f" text-anchor="%s" class="%s">%s</text>`, x, y, anchor, class, esc(text))
}

func (s *svg) path(class, series, d, title string) {
	if series != "" {
		fmt.Fprintf(&s.b, `<path class="series %s" data-series="%s" d="%s"><title>%s</title></path>`, class, esc(series), d, esc(title))
		return
	}
	fmt.Fprintf(&s.b, `<path class="%s" d="%s"><title>%s</title></path>`, class, d, esc(title))
}

func (s *svg) done() template.HTML {
	s.b.WriteString(`</svg>`)
	return template.HTML(s.b.String()) //nolint:gosec // every text and attribute above is escaped or numeric
}

// axes draws a frame, horizontal grid lines at yTicks and labels.
func (s *svg) axes(xLabels [][2]string, yTicks []float64, yPos func(float64) float64, yFmt func(float64) string) {
	s.raw(`<rect class="frame" x="%.1f" y="%.1f" width="%.1f" height="%.1f"/>`, s.l, s.t, s.plotW(), s.plotH())
	for _, v := range yTicks {
		y := yPos(v)
		s.raw(`<line class="grid" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f"/>`, s.l, s.w-s.r, y, y)
		s.text(s.l-6, y+4, "end", "tick", yFmt(v))
	}
	for i, xl := range xLabels {
		x, _ := strconv.ParseFloat(xl[0], 64)
		anchor := "middle"
		if i == 0 && len(xLabels) > 1 && x <= s.l+1 {
			anchor = "start"
		} else if i == len(xLabels)-1 && len(xLabels) > 1 && x >= s.w-s.r-1 {
			anchor = "end"
		}
		s.text(x, s.h-s.bot+16, anchor, "tick", xl[1])
	}
}

// niceTicks returns about n round values spanning [lo, hi].
func niceTicks(lo, hi float64, n int) []float64 {
	if !(hi > lo) {
		return []float64{lo}
	}
	raw := (hi - lo) / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var out []float64
	for v := math.Ceil(lo/step) * step; v <= hi+step*1e-9; v += step {
		out = append(out, v)
	}
	return out
}

type scale struct{ d0, d1, r0, r1 float64 }

func (sc scale) at(v float64) float64 {
	if sc.d1 == sc.d0 {
		return (sc.r0 + sc.r1) / 2
	}
	return sc.r0 + (v-sc.d0)/(sc.d1-sc.d0)*(sc.r1-sc.r0)
}

// valueDomain is the x range of a numeric feature's charts: the middle
// 99% of the reference and of the window, padded, within the reference
// range (values beyond it are only known to be beyond it).
func valueDomain(ref *detector.FeatureRef, cells []uint32) (float64, float64) {
	q := ref.Breakpoints
	lo, hi := detector.ReferenceQuantile(ref, 0.005), detector.ReferenceQuantile(ref, 0.995)
	if cells != nil {
		if wl, wh, ok := windowRange(ref, cells); ok {
			lo, hi = math.Min(lo, wl), math.Max(hi, wh)
		}
	}
	if !(hi > lo) {
		lo, hi = q[0], q[len(q)-1]
	}
	if !(hi > lo) {
		lo, hi = lo-1, hi+1
	}
	pad := (hi - lo) * 0.04
	return lo - pad, hi + pad
}

// windowRange is the window's p1..p99 range from its cells.
func windowRange(ref *detector.FeatureRef, cells []uint32) (float64, float64, bool) {
	at, below, _ := detector.CDFPoints(ref, cells)
	if at == nil || at[len(at)-1] == 0 && below[0] == 0 {
		return 0, 0, false
	}
	q := ref.Breakpoints
	lo, hi := q[0], q[len(q)-1]
	for j := range q {
		if at[j] >= 0.01 {
			lo = q[j]
			break
		}
	}
	for j := len(q) - 1; j >= 0; j-- {
		if below[j] <= 0.99 {
			hi = q[j]
			break
		}
	}
	return lo, hi, true
}

// cdfChart overlays the window's and the reference's CDFs and marks where
// the KS distance is attained.
func cdfChart(ref *detector.FeatureRef, cells []uint32, ks *detector.KSPoint) template.HTML {
	at, below, refCDF := detector.CDFPoints(ref, cells)
	if at == nil {
		return ""
	}
	q := ref.Breakpoints
	s := newSVG("cdf", 2, 680, 300, "CDF of the window and the reference")
	lo, hi := valueDomain(ref, cells)
	xs := scale{lo, hi, s.l, s.w - s.r}
	ys := scale{0, 1, s.h - s.bot, s.t}
	var xl [][2]string
	for _, v := range niceTicks(lo, hi, 6) {
		xl = append(xl, [2]string{strconv.FormatFloat(xs.at(v), 'f', 1, 64), num(v)})
	}
	s.axes(xl, []float64{0, 0.25, 0.5, 0.75, 1}, ys.at, func(v float64) string { return num(v) })
	s.raw(`<clipPath id="plot-cdf"><rect x="%.1f" y="%.1f" width="%.1f" height="%.1f"/></clipPath><g clip-path="url(#plot-cdf)">`,
		s.l, s.t-2, s.plotW(), s.plotH()+4)
	step := max(1, len(q)/400)
	var rd, wd strings.Builder
	fmt.Fprintf(&rd, "M%.1f %.1f", xs.at(lo), ys.at(0))
	fmt.Fprintf(&wd, "M%.1f %.1f", xs.at(lo), ys.at(below[0]))
	for j := 0; j < len(q); j++ {
		if j%step != 0 && j != len(q)-1 && (ks == nil || q[j] != ks.Value) {
			continue
		}
		x := xs.at(q[j])
		prev := 0.0
		if j > 0 {
			prev = refCDF[j-1]
		}
		if ref.Exact || j == 0 {
			fmt.Fprintf(&rd, " L%.1f %.1f L%.1f %.1f", x, ys.at(prev), x, ys.at(refCDF[j]))
		} else {
			fmt.Fprintf(&rd, " L%.1f %.1f", x, ys.at(refCDF[j]))
		}
		fmt.Fprintf(&wd, " L%.1f %.1f L%.1f %.1f", x, ys.at(below[j]), x, ys.at(at[j]))
	}
	fmt.Fprintf(&rd, " L%.1f %.1f", xs.at(hi), ys.at(1))
	fmt.Fprintf(&wd, " L%.1f %.1f", xs.at(hi), ys.at(1))
	s.path("ref", "reference", rd.String(), "reference CDF")
	s.path("win", "window", wd.String(), "window CDF")
	if ks != nil {
		x := xs.at(ks.Value)
		s.raw(`<line class="ks" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f"><title>%s</title></line>`, x, x, ys.at(ks.WindowCDF), ys.at(ks.ReferenceCDF),
			esc(fmt.Sprintf("KS distance D = %s at x = %s (window %s, reference %s)", num(ks.Distance), num(ks.Value), num(ks.WindowCDF), num(ks.ReferenceCDF))))
	}
	s.raw(`</g>`)
	if ks != nil {
		x := xs.at(ks.Value)
		y := (ys.at(ks.WindowCDF) + ys.at(ks.ReferenceCDF)) / 2
		anchor, dx := "start", 6.0
		if x > s.l+s.plotW()*0.7 {
			anchor, dx = "end", -6
		}
		s.text(x+dx, y, anchor, "ks-label", fmt.Sprintf("D = %s at %s", num(ks.Distance), num(ks.Value)))
	}
	s.legend([][2]string{{"ref", "reference"}, {"win", "window"}})
	return s.done()
}

func (s *svg) legend(items [][2]string) {
	x := s.l + 8
	for _, it := range items {
		s.raw(`<rect class="key %s" x="%.1f" y="%.1f" width="12" height="4"/>`, it[0], x, s.t+8)
		s.text(x+16, s.t+13, "start", "legend", it[1])
		x += 24 + 7*float64(len(it[1]))
	}
}

// interpCDF evaluates a CDF known at breakpoints (below[j] just below
// q_j, at[j] at q_j) between them, linearly; below q_1 it is below[0],
// from q_r on at[r−1].
func interpCDF(q, below, at []float64, x float64) float64 {
	if x < q[0] {
		return below[0]
	}
	if x >= q[len(q)-1] {
		return at[len(q)-1]
	}
	j := sortSearch(q, x) // q[j-1] ≤ x < q[j]
	if q[j-1] == x {
		return at[j-1]
	}
	return at[j-1] + (below[j]-at[j-1])*(x-q[j-1])/(q[j]-q[j-1])
}

func sortSearch(q []float64, x float64) int {
	lo, hi := 0, len(q)
	for lo < hi {
		m := (lo + hi) / 2
		if q[m] <= x {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// histChart shows the share of values per bin of equal width for the
// reference and the window, from the reference cells; the window's values
// below the reference minimum and above its maximum get bars of their own.
func histChart(ref *detector.FeatureRef, cells []uint32) template.HTML {
	at, below, refCDF := detector.CDFPoints(ref, cells)
	if at == nil {
		return ""
	}
	q := ref.Breakpoints
	refBelow := make([]float64, len(q))
	refAt := refCDF
	for j := range q {
		if j > 0 {
			refBelow[j] = refCDF[j-1]
		}
		if !ref.Exact {
			refBelow[j] = refAt[j] // a sketch: mass spread between breakpoints
		}
	}
	lo, hi := valueDomain(ref, cells)
	const bins = 40
	width := (hi - lo) / bins
	refMass, winMass := make([]float64, bins), make([]float64, bins)
	peak := 0.0
	for i := range bins {
		a, b := lo+float64(i)*width, lo+float64(i+1)*width
		refMass[i] = interpCDF(q, refBelow, refAt, b) - interpCDF(q, refBelow, refAt, a)
		winMass[i] = interpCDF(q, below, at, b) - interpCDF(q, below, at, a)
		peak = math.Max(peak, math.Max(refMass[i], winMass[i]))
	}
	outBelow, outAbove := below[0], 1-at[len(q)-1]
	peak = math.Max(peak, math.Max(outBelow, outAbove))
	if peak == 0 {
		peak = 1
	}
	s := newSVG("histogram", 2, 680, 240, "share of values per bin, window and reference")
	s.l = 70
	s.r = 70
	xs := scale{lo, hi, s.l, s.w - s.r}
	ys := scale{0, peak * 1.08, s.h - s.bot, s.t}
	var xl [][2]string
	for _, v := range niceTicks(lo, hi, 6) {
		xl = append(xl, [2]string{strconv.FormatFloat(xs.at(v), 'f', 1, 64), num(v)})
	}
	s.axes(xl, niceTicks(0, peak*1.08, 4), ys.at, func(v float64) string { return num(100*v) + "%" })
	var rd, wd strings.Builder
	bw := xs.at(lo+width) - xs.at(lo)
	for i := range bins {
		x := xs.at(lo + float64(i)*width)
		if refMass[i] > 0 {
			fmt.Fprintf(&rd, "M%.1f %.1fH%.1fV%.1fH%.1fZ", x+1, ys.at(0), x+bw-1, ys.at(refMass[i]), x+1)
		}
		if winMass[i] > 0 {
			fmt.Fprintf(&wd, "M%.1f %.1fH%.1fV%.1fH%.1fZ", x+bw*0.25, ys.at(0), x+bw*0.75, ys.at(winMass[i]), x+bw*0.25)
		}
	}
	// Out-of-range bars, beside the plot.
	if outBelow > 0 {
		fmt.Fprintf(&wd, "M%.1f %.1fH%.1fV%.1fH%.1fZ", s.l-54, ys.at(0), s.l-38, ys.at(outBelow), s.l-54)
		s.text(s.l-46, s.h-s.bot+16, "middle", "tick", "< min")
	}
	if outAbove > 0 {
		fmt.Fprintf(&wd, "M%.1f %.1fH%.1fV%.1fH%.1fZ", s.w-s.r+38, ys.at(0), s.w-s.r+54, ys.at(outAbove), s.w-s.r+38)
		s.text(s.w-s.r+46, s.h-s.bot+16, "middle", "tick", "> max")
	}
	s.path("ref bar", "reference", rd.String(), "reference share per bin")
	s.path("win bar", "window", wd.String(), "window share per bin")
	s.legend([][2]string{{"ref", "reference"}, {"win", "window"}})
	return s.done()
}

// categoryChart compares window and reference shares per category.
func categoryChart(ref *detector.FeatureRef, cells []uint32) template.HTML {
	k := len(ref.Categories)
	if len(cells) < k+1 || ref.Count == 0 {
		return ""
	}
	var valid float64
	for _, c := range cells[:k+1] {
		valid += float64(c)
	}
	type row struct {
		label    string
		win, ref float64
	}
	var rows []row
	for i := 0; i <= k; i++ {
		r := row{label: "(other / unseen)"}
		if i < k {
			r.label, r.ref = ref.Categories[i].Value, float64(ref.Categories[i].Count)/float64(ref.Count)
		} else {
			r.ref = float64(ref.Other) / float64(ref.Count)
		}
		if valid > 0 {
			r.win = float64(cells[i]) / valid
		}
		rows = append(rows, r)
	}
	// The 14 largest by either share, then "other" if not among them.
	order := make([]int, len(rows))
	for i := range order {
		order[i] = i
	}
	sortByDesc(order, func(i int) float64 { return math.Max(rows[i].win, rows[i].ref) })
	order = order[:min(len(order), 14)]
	h := 24*float64(len(order)) + 50
	s := newSVG("categories", 2, 680, h, "share per category, window and reference")
	s.l, s.r = 170, 130
	xs := scale{0, 1, s.l, s.w - s.r}
	peak := 0.0
	for _, i := range order {
		peak = math.Max(peak, math.Max(rows[i].win, rows[i].ref))
	}
	xs.d1 = math.Min(1, math.Max(peak*1.1, 0.05))
	var xl [][2]string
	for _, v := range niceTicks(0, xs.d1, 5) {
		xl = append(xl, [2]string{strconv.FormatFloat(xs.at(v), 'f', 1, 64), num(100*v) + "%"})
	}
	s.axes(xl, nil, nil, nil)
	var rd, wd strings.Builder
	for n, i := range order {
		r := rows[i]
		y := s.t + 8 + 24*float64(n)
		label := r.label
		if len([]rune(label)) > 24 {
			label = string([]rune(label)[:23]) + "…"
		}
		s.raw(`<text x="%.1f" y="%.1f" text-anchor="end" class="cat"><title>%s</title>%s</text>`, s.l-6, y+12, esc(r.label), esc(label))
		fmt.Fprintf(&rd, "M%.1f %.1fH%.1fV%.1fH%.1fZ", s.l, y, xs.at(r.ref), y+8, s.l)
		fmt.Fprintf(&wd, "M%.1f %.1fH%.1fV%.1fH%.1fZ", s.l, y+9, xs.at(r.win), y+17, s.l)
		s.text(s.w-s.r+8, y+14, "start", "tick", num(100*r.win)+"% vs "+num(100*r.ref)+"%")
	}
	s.path("ref bar", "reference", rd.String(), "reference share")
	s.path("win bar", "window", wd.String(), "window share")
	return s.done()
}

func sortByDesc(idx []int, key func(int) float64) {
	for i := 1; i < len(idx); i++ {
		for j := i; j > 0 && key(idx[j]) > key(idx[j-1]); j-- {
			idx[j], idx[j-1] = idx[j-1], idx[j]
		}
	}
}

// metric picks one value of a history point.
type metric int

const (
	metricEffect metric = iota
	metricPValue
	metricStatistic
)

// historyChart draws one test's history of one metric against its
// threshold, shading the points where the alert fired.
func historyChart(times []HistoryTime, points []Point, tests, ti int, m metric, threshold float64, title string) template.HTML {
	n := len(times)
	if n == 0 || tests == 0 || len(points) < n*tests {
		return ""
	}
	value := func(p Point) float64 {
		switch m {
		case metricPValue:
			return -math.Log10(math.Max(float64(p.PValue), 1e-300))
		case metricStatistic:
			return float64(p.Statistic)
		}
		return float64(p.Effect)
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for i := range n {
		p := points[i*tests+ti]
		if p.Flags&PointEvaluated == 0 {
			continue
		}
		v := value(p)
		if math.IsInf(v, 0) || math.IsNaN(v) {
			continue
		}
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	thr := threshold
	if m == metricPValue && threshold > 0 {
		thr = -math.Log10(threshold)
	}
	series := 1
	if math.IsInf(lo, 1) {
		lo, hi, series = 0, 1, 0
	}
	if threshold > 0 {
		lo, hi = math.Min(lo, thr), math.Max(hi, thr)
	}
	lo = math.Min(lo, 0)
	if m == metricPValue {
		hi = math.Min(hi, 40)
		thr = math.Min(thr, 40)
	}
	if !(hi > lo) {
		hi = lo + 1
	}
	hi += (hi - lo) * 0.08
	s := newSVG("history", series, 330, 150, title)
	s.l, s.bot, s.t = 46, 26, 20
	xs := scale{0, float64(max(n-1, 1)), s.l, s.w - s.r}
	ys := scale{lo, hi, s.h - s.bot, s.t}
	yFmt := num
	if m == metricPValue {
		yFmt = func(v float64) string {
			if v == 0 {
				return "1"
			}
			return "1e-" + num(v)
		}
	}
	yTicks := niceTicks(lo, hi, 3)
	if m == metricPValue {
		var ints []float64
		for _, v := range niceTicks(lo, hi, 4) {
			if v == math.Trunc(v) {
				ints = append(ints, v)
			}
		}
		if len(ints) < 2 {
			ints = []float64{0, math.Max(1, math.Floor(hi))}
		}
		yTicks = ints
	}
	s.axes(timeLabels(times, xs), yTicks, ys.at, yFmt)
	s.text(s.l, 13, "start", "chart-title", title)
	// Firing shading.
	for i := range n {
		if points[i*tests+ti].Flags&PointFiring != 0 {
			x0, x1 := xs.at(float64(i)-0.5), xs.at(float64(i)+0.5)
			s.raw(`<rect class="firing-band" x="%.1f" y="%.1f" width="%.1f" height="%.1f"/>`, math.Max(x0, s.l), s.t, math.Min(x1, s.w-s.r)-math.Max(x0, s.l), s.plotH())
		}
	}
	if threshold > 0 {
		y := ys.at(thr)
		s.raw(`<line class="threshold" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f"><title>threshold %s</title></line>`, s.l, s.w-s.r, y, y, esc(num(threshold)))
	}
	if series > 0 {
		var d strings.Builder
		pen := false
		for i := range n {
			p := points[i*tests+ti]
			if p.Flags&PointEvaluated == 0 {
				pen = false
				continue
			}
			v := math.Min(value(p), hi)
			cmd := "L"
			if !pen {
				cmd = "M"
			}
			fmt.Fprintf(&d, "%s%.1f %.1f", cmd, xs.at(float64(i)), ys.at(v))
			pen = true
		}
		s.path("line", title, d.String(), title)
	}
	return s.done()
}

// timeLabels labels the first and last points of a history axis.
func timeLabels(times []HistoryTime, xs scale) [][2]string {
	if len(times) == 0 {
		return nil
	}
	label := func(t HistoryTime) string {
		if t.At.Year() < 2000 {
			return "event " + strconv.FormatUint(t.Seq, 10)
		}
		return t.At.UTC().Format("15:04:05")
	}
	out := [][2]string{{strconv.FormatFloat(xs.r0, 'f', 1, 64), label(times[0])}}
	if len(times) > 1 {
		out = append(out, [2]string{strconv.FormatFloat(xs.r1, 'f', 1, 64), label(times[len(times)-1])})
	}
	return out
}

// sparkline is the feature's score (largest effect/gate) per history
// point; the dashed line is the gate (score 1).
func sparkline(points []Point, tests int, gates []float64) template.HTML {
	if tests == 0 || len(points) < tests {
		return template.HTML(`<svg class="spark" data-chart="sparkline" data-series="0" viewBox="0 0 140 26" width="140" height="26" xmlns="http://www.w3.org/2000/svg"></svg>`)
	}
	n := len(points) / tests
	scores := make([]float64, n)
	firing := make([]bool, n)
	evaluated := make([]bool, n)
	peak := 2.0
	for i := range n {
		for j := range tests {
			p := points[i*tests+j]
			if p.Flags&PointEvaluated == 0 {
				continue
			}
			evaluated[i] = true
			sc := float64(p.Effect)
			if j < len(gates) && gates[j] > 0 {
				sc /= gates[j]
			}
			scores[i] = math.Max(scores[i], sc)
			firing[i] = firing[i] || p.Flags&PointFiring != 0
		}
		peak = math.Max(peak, scores[i])
	}
	peak = math.Min(peak, 50)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="spark" data-chart="sparkline" data-series="1" viewBox="0 0 140 26" width="140" height="26" xmlns="http://www.w3.org/2000/svg">`)
	xs := scale{0, float64(max(n-1, 1)), 2, 138}
	ys := scale{0, peak, 24, 2}
	fmt.Fprintf(&b, `<line class="threshold" x1="2" x2="138" y1="%.1f" y2="%.1f"/>`, ys.at(1), ys.at(1))
	for i := range n {
		if firing[i] {
			fmt.Fprintf(&b, `<rect class="firing-band" x="%.1f" y="1" width="%.1f" height="24"/>`, xs.at(float64(i)-0.5), xs.at(1)-xs.at(0))
		}
	}
	var d strings.Builder
	pen := false
	for i := range n {
		if !evaluated[i] {
			pen = false
			continue
		}
		cmd := "L"
		if !pen {
			cmd = "M"
		}
		fmt.Fprintf(&d, "%s%.1f %.1f", cmd, xs.at(float64(i)), ys.at(math.Min(scores[i], peak)))
		pen = true
	}
	fmt.Fprintf(&b, `<path class="series line" data-series="score" d="%s"><title>largest effect / gate per point</title></path></svg>`, d.String())
	return template.HTML(b.String()) //nolint:gosec // numbers only
}

// timelineChart shows when each test's alert fired, from the alerts
// kept, over [from, to].
func timelineChart(alerts []AlertEntry, tests []detector.Test, from, to time.Time) template.HTML {
	if len(tests) == 0 || !to.After(from) {
		return ""
	}
	h := 22*float64(len(tests)) + 44
	s := newSVG("timeline", len(tests), 680, h, "alert timeline per test")
	s.l = 110
	xs := scale{0, to.Sub(from).Seconds(), s.l, s.w - s.r}
	s.raw(`<rect class="frame" x="%.1f" y="%.1f" width="%.1f" height="%.1f"/>`, s.l, s.t, s.plotW(), s.plotH())
	label := func(t time.Time) string {
		if t.Year() < 2000 {
			return "event time " + strconv.FormatInt(t.UnixMilli(), 10)
		}
		return t.UTC().Format("15:04:05")
	}
	s.text(s.l, s.h-s.bot+16, "start", "tick", label(from))
	s.text(s.w-s.r, s.h-s.bot+16, "end", "tick", label(to))
	for i, t := range tests {
		y := s.t + 6 + 22*float64(i)
		s.text(s.l-6, y+11, "end", "cat", string(t))
		// Alerts are newest first; walk oldest first.
		var d strings.Builder
		var open *time.Time
		for k := len(alerts) - 1; k >= 0; k-- {
			a := &alerts[k]
			if a.Test != t {
				continue
			}
			at := a.Received
			switch {
			case a.Status == detector.Firing && open == nil:
				open = &at
			case a.Status == detector.Resolved && open != nil:
				x0, x1 := xs.at(math.Max(0, open.Sub(from).Seconds())), xs.at(math.Min(to.Sub(from).Seconds(), at.Sub(from).Seconds()))
				fmt.Fprintf(&d, "M%.1f %.1fH%.1fV%.1fH%.1fZ", x0, y, math.Max(x1, x0+2), y+14, x0)
				open = nil
			}
			if a.Status == detector.Firing {
				x := xs.at(math.Max(0, at.Sub(from).Seconds()))
				s.raw(`<line class="alert-mark" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f"><title>%s</title></line>`, x, x, y-2, y+16, esc(a.Summary))
			}
		}
		if open != nil {
			x0 := xs.at(math.Max(0, open.Sub(from).Seconds()))
			fmt.Fprintf(&d, "M%.1f %.1fH%.1fV%.1fH%.1fZ", x0, y, math.Max(s.w-s.r, x0+2), y+14, x0)
		}
		s.path("firing", string(t), d.String(), string(t)+" firing")
	}
	return s.done()
}
