package detector

// Evidence: what an alert (or a look at a feature) shows of the two
// distributions, computed from the window's reference-cell counts and the
// reference sketch alone. Pure: no I/O, no clock; computed only when an
// alert is published or a view asks, never per event.

import (
	"cmp"
	"math"
	"slices"

	"github.com/driftd/driftd/window"
)

// Evidence explains a test result: the numbers an engineer looks at to see
// what changed. Which parts are set depends on the feature and the test:
// numeric features (ks, mean_shift, out_of_range) carry Window, Reference,
// KS and Direction; categorical features (chi2) carry Categories and
// Unseen; the quality tests (missing, invalid, out_of_range) carry
// Quality.
type Evidence struct {
	// Window and Reference summarise the valid values of both sides:
	// moments (exact) and quantiles (from the reference cells).
	Window    *Distribution `json:"window,omitempty"`
	Reference *Distribution `json:"reference,omitempty"`
	// KS is where the KS distance is attained, with both CDFs there.
	KS *KSPoint `json:"ks,omitempty"`
	// Direction says which way the window moved.
	Direction *Direction `json:"direction,omitempty"`
	// Categories are the categories contributing most to the change,
	// largest |window share − reference share| first (at most 8).
	Categories []CategoryShare `json:"categories,omitempty"`
	// Unseen describes values outside the reference's categories.
	Unseen *Unseen `json:"unseen,omitempty"`
	// Quality compares a data-quality ratio with the reference's.
	Quality *Quality `json:"quality,omitempty"`
}

// Distribution summarises the valid values of a window or reference.
type Distribution struct {
	N      int64   `json:"n"`
	Mean   float64 `json:"mean"`
	StdDev float64 `json:"stddev"`
	// Quantiles p5, p25, p50, p75, p95. Within a reference cell values
	// are taken as spread evenly; a quantile that falls below the
	// reference minimum or above its maximum is reported as that bound
	// (BelowMin and AboveMax say how much of the window lies there).
	P5  float64 `json:"p5"`
	P25 float64 `json:"p25"`
	P50 float64 `json:"p50"`
	P75 float64 `json:"p75"`
	P95 float64 `json:"p95"`
	// BelowMin and AboveMax are the shares of values below the
	// reference minimum and above its maximum (window only).
	BelowMin float64 `json:"below_min,omitempty"`
	AboveMax float64 `json:"above_max,omitempty"`
}

// KSPoint is where the window and reference CDFs are farthest apart.
type KSPoint struct {
	// Value is the point x; Side is "at" when the CDFs are compared at x
	// (F(x) = share ≤ x) and "below" when just below it (share < x).
	Value float64 `json:"value"`
	Side  string  `json:"side"`
	// WindowCDF and ReferenceCDF are the two CDFs there; Distance is
	// |WindowCDF − ReferenceCDF|, the KS distance D.
	WindowCDF    float64 `json:"window_cdf"`
	ReferenceCDF float64 `json:"reference_cdf"`
	Distance     float64 `json:"distance"`
}

// Direction says how the window moved against the reference.
type Direction struct {
	// Shift is "up" or "down" when the means differ by more than 0.1
	// reference standard deviations (the default mean-shift gate), else
	// "none"; ShiftSD is the signed
	// difference in reference standard deviations.
	Shift   string  `json:"shift"`
	ShiftSD float64 `json:"shift_sd"`
	// Spread is "wider" or "narrower" when the standard deviations
	// differ by more than 10%, else "same"; SDRatio is window over
	// reference.
	Spread  string  `json:"spread"`
	SDRatio float64 `json:"sd_ratio"`
}

// CategoryShare is one category's share of the window and of the
// reference. Other marks the cell of every value outside the reference's
// top categories (Value is then empty).
type CategoryShare struct {
	Value     string  `json:"value"`
	Other     bool    `json:"other,omitempty"`
	Window    float64 `json:"window"`
	Reference float64 `json:"reference"`
	Count     int64   `json:"count"`
}

// Unseen describes the window's values outside the reference's top
// categories. When the reference has no "other" mass (ReferenceShare 0)
// they are categories the training data never had.
type Unseen struct {
	Share          float64 `json:"share"`
	Count          int64   `json:"count"`
	ReferenceShare float64 `json:"reference_share"`
	// Examples are the most frequent such values seen recently, with
	// approximate counts (a bounded sketch; empty when the window was
	// built from panes).
	Examples []CategoryCount `json:"examples,omitempty"`
}

// Quality compares one data-quality ratio of the window with the
// reference's.
type Quality struct {
	Window    float64 `json:"window"`
	Reference float64 `json:"reference"`
	Count     int64   `json:"count"`
	N         int64   `json:"n"`
	// Ratio is Window / Reference (0 when the reference ratio is 0).
	Ratio float64 `json:"ratio,omitempty"`
	// BelowMin and AboveMax split an out-of-range ratio.
	BelowMin float64 `json:"below_min,omitempty"`
	AboveMax float64 `json:"above_max,omitempty"`
}

// Explain computes the evidence for test on a window of feature ref,
// given the window's cells (value cells, then missing and invalid, in the
// layout the detector counts them in) and the moments of its valid
// values. examples are recently seen values outside a categorical
// reference's top categories (may be nil).
func Explain(ref *FeatureRef, test Test, cells []uint32, moments window.Moments, examples []CategoryCount) *Evidence {
	layout := refLayout(ref)
	if len(cells) != layout.Cells() {
		return nil
	}
	var total, valid int64
	for i, c := range cells {
		total += int64(c)
		if i < layout.Valid {
			valid += int64(c)
		}
	}
	missing, invalid := int64(cells[layout.Missing()]), int64(cells[layout.Invalid()])
	ev := &Evidence{}
	switch test {
	case TestMissing:
		ev.Quality = qualityOf(missing, total, ref.Missing, ref.Total())
	case TestInvalid:
		ev.Quality = qualityOf(invalid, total, ref.Invalid, ref.Total())
	}
	switch ref.Kind {
	case Numeric:
		if test == TestOutOfRange && valid > 0 {
			below, above := int64(cells[0]), int64(cells[layout.Valid-1])
			p0 := 2 / (float64(ref.Count) + 1)
			q := &Quality{Window: float64(below+above) / float64(valid), Reference: p0, Count: below + above, N: valid,
				BelowMin: float64(below) / float64(valid), AboveMax: float64(above) / float64(valid)}
			q.Ratio = q.Window / p0
			ev.Quality = q
		}
		if test == TestKS || test == TestMeanShift || test == TestScale || test == TestCUSUM || test == TestOutOfRange {
			numericEvidence(ev, ref, cells[:layout.Valid], valid, moments)
		}
	case Categorical:
		if test == TestChi2 {
			categoricalEvidence(ev, ref, cells[:layout.Valid], valid, examples)
		}
	}
	if ev.Window == nil && ev.Quality == nil && ev.Categories == nil && ev.Unseen == nil {
		return nil
	}
	return ev
}

// refLayout is the window layout of a feature's reference.
func refLayout(ref *FeatureRef) window.Layout {
	if ref.Kind == Categorical {
		return window.Layout{Valid: len(ref.Categories) + 1}
	}
	if ref.Count == 0 || len(ref.Breakpoints) == 0 {
		return window.Layout{Valid: 1}
	}
	return window.Layout{Valid: 2*len(ref.Breakpoints) + 1}
}

// CellLayout is the layout of the cells a window of ref is counted in:
// numeric features have 2r+1 value cells (below q_1, at q_1, between q_1
// and q_2, …, above q_r), categorical ones a cell per reference category
// and one for all others; missing and invalid follow.
func CellLayout(ref *FeatureRef) window.Layout { return refLayout(ref) }

func qualityOf(k, n, refK, refN int64) *Quality {
	if n <= 0 {
		return nil
	}
	q := &Quality{Window: float64(k) / float64(n), Count: k, N: n}
	if refN > 0 {
		q.Reference = float64(refK) / float64(refN)
	}
	if q.Reference > 0 {
		q.Ratio = q.Window / q.Reference
	}
	return q
}

func numericEvidence(ev *Evidence, ref *FeatureRef, cells []uint32, valid int64, moments window.Moments) {
	if ref.Count == 0 || len(ref.Breakpoints) == 0 || valid == 0 {
		return
	}
	q := ref.Breakpoints
	w := &Distribution{N: valid, Mean: moments.Mean, StdDev: moments.StdDev(),
		BelowMin: float64(cells[0]) / float64(valid), AboveMax: float64(cells[len(cells)-1]) / float64(valid)}
	w.P5, w.P25, w.P50, w.P75, w.P95 = windowQuantile(q, cells, valid, 0.05), windowQuantile(q, cells, valid, 0.25),
		windowQuantile(q, cells, valid, 0.5), windowQuantile(q, cells, valid, 0.75), windowQuantile(q, cells, valid, 0.95)
	r := &Distribution{N: ref.Count, Mean: ref.Mean, StdDev: ref.StdDev()}
	r.P5, r.P25, r.P50, r.P75, r.P95 = ReferenceQuantile(ref, 0.05), ReferenceQuantile(ref, 0.25),
		ReferenceQuantile(ref, 0.5), ReferenceQuantile(ref, 0.75), ReferenceQuantile(ref, 0.95)
	ev.Window, ev.Reference = w, r
	ev.KS = ksPoint(q, ref.Ranks, cells, valid, ref.Count)
	d := &Direction{Shift: "none", Spread: "same"}
	if sd := r.StdDev; sd > 0 {
		d.ShiftSD = (w.Mean - r.Mean) / sd
		d.SDRatio = w.StdDev / sd
	} else if w.Mean != r.Mean {
		d.ShiftSD = math.Copysign(math.MaxFloat64, w.Mean-r.Mean)
	}
	switch {
	case d.ShiftSD > 0.1:
		d.Shift = "up"
	case d.ShiftSD < -0.1:
		d.Shift = "down"
	}
	switch {
	case moments.N < 2 || r.StdDev == 0:
	case d.SDRatio > 1.1:
		d.Spread = "wider"
	case d.SDRatio < 1/1.1:
		d.Spread = "narrower"
	}
	ev.Direction = d
}

// windowQuantile is the p-quantile of a window counted in the reference
// cells of breakpoints q: values within a cell between two breakpoints are
// taken as spread evenly, values below q_1 or above q_r as at that bound.
func windowQuantile(q []float64, cells []uint32, n int64, p float64) float64 {
	target := p * float64(n)
	var cum float64
	for i, c := range cells {
		if c == 0 {
			continue
		}
		next := cum + float64(c)
		if next >= target {
			switch {
			case i == 0:
				return q[0]
			case i == len(cells)-1:
				return q[len(q)-1]
			case i%2 == 1: // = q_j
				return q[(i-1)/2]
			default: // between q_j and q_j+1
				j := i/2 - 1
				frac := (target - cum) / float64(c)
				return q[j] + frac*(q[j+1]-q[j])
			}
		}
		cum = next
	}
	return q[len(q)-1]
}

// ReferenceQuantile is the p-quantile of a numeric reference: the step CDF
// of an exact reference, else linear between breakpoints.
func ReferenceQuantile(ref *FeatureRef, p float64) float64 {
	q, ranks := ref.Breakpoints, ref.Ranks
	if len(q) == 0 || ref.Count == 0 {
		return 0
	}
	target := p * float64(ref.Count)
	j, _ := slices.BinarySearchFunc(ranks, target, func(r int64, t float64) int { return cmp.Compare(float64(r), t) })
	switch {
	case j >= len(q):
		return q[len(q)-1]
	case j == 0 || ref.Exact:
		return q[j]
	}
	lo, hi := float64(ranks[j-1]), float64(ranks[j])
	if hi == lo {
		return q[j]
	}
	return q[j-1] + (target-lo)/(hi-lo)*(q[j]-q[j-1])
}

// ksPoint finds where |W/n − R/m| is largest, scanning like ksDistance:
// just below q_1, then at each q_j and just below q_j+1.
func ksPoint(q []float64, ranks []int64, cells []uint32, n, m int64) *KSPoint {
	fn, fm := float64(n), float64(m)
	cum := float64(cells[0])
	best := &KSPoint{Value: q[0], Side: "below", WindowCDF: cum / fn}
	best.Distance = best.WindowCDF
	for j := range q {
		rj := float64(ranks[j]) / fm
		cum += float64(cells[2*j+1])
		if d := math.Abs(cum/fn - rj); d > best.Distance {
			*best = KSPoint{Value: q[j], Side: "at", WindowCDF: cum / fn, ReferenceCDF: rj, Distance: d}
		}
		cum += float64(cells[2*j+2])
		if j+1 < len(q) {
			if d := math.Abs(cum/fn - rj); d > best.Distance {
				*best = KSPoint{Value: q[j+1], Side: "below", WindowCDF: cum / fn, ReferenceCDF: rj, Distance: d}
			}
		}
	}
	return best
}

func categoricalEvidence(ev *Evidence, ref *FeatureRef, cells []uint32, valid int64, examples []CategoryCount) {
	if valid == 0 || ref.Count == 0 {
		return
	}
	k := len(ref.Categories)
	shares := make([]CategoryShare, 0, k+1)
	for i := 0; i <= k; i++ {
		s := CategoryShare{Window: float64(cells[i]) / float64(valid), Count: int64(cells[i])}
		if i < k {
			s.Value = ref.Categories[i].Value
			s.Reference = float64(ref.Categories[i].Count) / float64(ref.Count)
		} else {
			s.Other = true
			s.Reference = float64(ref.Other) / float64(ref.Count)
		}
		if s.Window != s.Reference {
			shares = append(shares, s)
		}
	}
	slices.SortStableFunc(shares, func(a, b CategoryShare) int {
		return cmp.Compare(math.Abs(b.Window-b.Reference), math.Abs(a.Window-a.Reference))
	})
	ev.Categories = shares[:min(len(shares), 8)]
	other := int64(cells[k])
	if other > 0 {
		ev.Unseen = &Unseen{Share: float64(other) / float64(valid), Count: other,
			ReferenceShare: float64(ref.Other) / float64(ref.Count), Examples: slices.Clone(examples)}
	}
}

// CDFPoints returns, for each breakpoint q_j of a numeric reference, the
// reference CDF R_j/m and the window's CDF at q_j and just below it, from
// the window's value cells: what the KS distance compares.
func CDFPoints(ref *FeatureRef, cells []uint32) (windowAt, windowBelow, reference []float64) {
	q := ref.Breakpoints
	if ref.Kind != Numeric || len(q) == 0 || len(cells) < 2*len(q)+1 {
		return nil, nil, nil
	}
	var n float64
	for _, c := range cells[:2*len(q)+1] {
		n += float64(c)
	}
	windowAt, windowBelow, reference = make([]float64, len(q)), make([]float64, len(q)), make([]float64, len(q))
	cum := float64(cells[0])
	for j := range q {
		reference[j] = float64(ref.Ranks[j]) / float64(ref.Count)
		if n > 0 {
			windowBelow[j] = cum / n
		}
		cum += float64(cells[2*j+1])
		if n > 0 {
			windowAt[j] = cum / n
		}
		cum += float64(cells[2*j+2])
	}
	return windowAt, windowBelow, reference
}
