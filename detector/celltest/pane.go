package celltest

import (
	"math"
	"math/bits"
)

// PaneScore returns the cell-score mean of a pane relative to the
// reference, from the cells of its events (window cell indices, as
// window.CountWindow.LastPaneCells gives them; the missing and invalid
// cells after the 2r+1 value cells are skipped). It costs one score per
// event and allocates nothing. Upper is the count of the upper value of a
// two-valued feature.
func PaneScore(t *Mean, first, second []uint16) Window {
	var s PaneSum
	for _, part := range [2][]uint16{first, second} {
		for _, c := range part {
			t.AddCell(&s, int(c), 1)
		}
	}
	return t.PaneWindow(s)
}

// PaneSum accumulates a pane's cell scores (AddCell, PaneWindow).
type PaneSum struct {
	n, upper int64
	sum      float64
}

// AddCell adds count events of window cell cell to a pane's sum; cells
// past the 2r+1 value cells (missing, invalid) are skipped.
func (t *Mean) AddCell(s *PaneSum, cell int, count int64) {
	r := t.atoms
	if cell < 0 || cell > 2*r || count <= 0 {
		return
	}
	j := min(cell/2, r-1)
	if j == r-1 {
		s.upper += count
	}
	s.n += count
	s.sum += float64(count) * (t.score(j) - t.mu)
}

// Add adds to s the sum o of other events (another pane's): sums of
// disjoint sets of events add up to the sum of their union, so a window's
// sum is the sum of its panes'.
func (s *PaneSum) Add(o PaneSum) {
	s.n += o.n
	s.upper += o.upper
	s.sum += o.sum
}

// PairSum accumulates the sums of a mean test and the scale test of the
// same reference (NewMean and NewScale on one reference's breakpoints)
// over the same events (AddPair; PaneWindow on each).
type PairSum struct{ Mean, Scale PaneSum }

// Add adds to s the sums o of other events.
func (s *PairSum) Add(o PairSum) {
	s.Mean.Add(o.Mean)
	s.Scale.Add(o.Scale)
}

// AddCounted adds to s the events counted in counts (events per window
// cell) of the cells marked in seen (cell c: bit c%64 of seen[c/64]), in
// increasing cell order, and clears both: what AddCell adds for t and for
// sc (nil: the mean alone), to the bit, in one pass and without sorting.
// Cells past the 2r+1 value cells (missing, invalid) are skipped. The
// loop keeps few values live (the scale sums share the mean's counts, a
// missing scale test scores against 0), which keeps it out of the stack.
func AddCounted(t, sc *Mean, s *PairSum, counts []uint32, seen []uint64) {
	last, top := 2*t.atoms, t.atoms-1
	q, ranks, exact, heavy, mu := t.q[:top+1], t.ranks[:top+1], t.exact, t.heavy, t.mu
	var centre, muAbs float64
	if sc != nil {
		centre, muAbs = sc.centre, sc.mu
	}
	var n, upper int64
	sum, sumAbs := s.Mean.sum, s.Scale.sum
	for wi, word := range seen {
		for word != 0 {
			c := wi<<6 | bits.TrailingZeros64(word)
			word &= word - 1
			k := int64(counts[c])
			counts[c] = 0
			if c > last {
				continue
			}
			j := min(c/2, top)
			x, w := intervalValue(q, ranks, exact, heavy, j), float64(k)
			n += k
			if j == top {
				upper += k
			}
			sum += w * (x - mu)
			sumAbs += w * (math.Abs(x-centre) - muAbs)
		}
		seen[wi] = 0
	}
	s.Mean.n, s.Mean.upper, s.Mean.sum = s.Mean.n+n, s.Mean.upper+upper, sum
	if sc != nil {
		s.Scale.n, s.Scale.upper, s.Scale.sum = s.Scale.n+n, s.Scale.upper+upper, sumAbs
	}
}

// PaneWindow is the position relative to the null of the pane (or the
// window) whose sum s is, as Score gives it from a window's counts.
func (t *Mean) PaneWindow(s PaneSum) Window {
	if s.n == 0 {
		return Window{}
	}
	w := Window{N: s.n, D: s.sum * t.inv / float64(s.n)}
	if t.TwoValued() {
		w.Upper = s.upper
	}
	return w
}

// MaxPaneZ bounds the normal scores PaneZ returns: beyond it the
// probabilities are below 1e-16, where float64 and the saddlepoint stop
// being meaningful.
const MaxPaneZ = 8.0

// PaneZ returns the normal score of a pane: z = Φ⁻¹(F(D)), where F is the
// mid-distribution function of the pane's standardized cell-score mean
// D = (T_p − T_r)/sd under the reference taken as the distribution of the
// stream — the mean of N independent draws from the reference's atoms —
// so that z is standard normal under the null whatever the feature's
// shape. F(D) = P(D' < D) + ½·P(D' = D): the mid-p of a discrete mean, whose
// normal score has mean 0 and lighter tails than the randomized one's
// (which is exactly N(0, 1)). The tails come from the one-sample
// Lugannani–Rice saddlepoint, uncorrected at lattice points (which
// approximates the mid-p); two-valued features use the exact binomial
// mid-p, and a pane whose values all fall in the lowest (highest) atom
// the exact ½·p^N. The result is clamped to ±MaxPaneZ.
func (t *Mean) PaneZ(w Window) float64 {
	if w.N <= 0 || t.abs {
		return 0
	}
	var tail float64
	upper := w.D > 0
	switch {
	case t.TwoValued():
		tail = binomialMidTail(w.Upper, w.N, t.mass(1), upper)
	case w.D >= t.zmax*(1-1e-12):
		tail = 0.5 * math.Pow(t.mass(t.atoms-1), float64(w.N))
	case w.D <= t.zmin*(1-1e-12):
		tail = 0.5 * math.Pow(t.mass(0), float64(w.N))
	case w.D == 0:
		return 0
	default:
		tail = t.tailOne(w.N, w.D)
	}
	tail = math.Min(tail, 0.5)
	if !(tail > 0) {
		return math.Copysign(MaxPaneZ, w.D)
	}
	z := math.Sqrt2 * math.Erfcinv(2*tail) // Φ⁻¹(1 − tail)
	z = math.Min(z, MaxPaneZ)
	if !upper {
		z = -z
	}
	return z
}

// binomialMidTail is the mid-p tail of k upper values out of n, each
// upper with probability p: P(K > k) + ½P(K = k) (upper) or
// P(K < k) + ½P(K = k).
func binomialMidTail(k, n int64, p float64, upper bool) float64 {
	if k < 0 || k > n {
		return 0
	}
	if !(p > 0 && p < 1) {
		return 0.5
	}
	// Sum the pmf from k outwards, in the direction of the tail.
	logp := lchoose(n, k) + float64(k)*math.Log(p) + float64(n-k)*math.Log1p(-p)
	term := math.Exp(logp)
	sum := 0.5 * term
	x := k
	for {
		if upper {
			if x >= n {
				break
			}
			term *= float64(n-x) / float64(x+1) * p / (1 - p)
			x++
		} else {
			if x <= 0 {
				break
			}
			term *= float64(x) / float64(n-x+1) * (1 - p) / p
			x--
		}
		sum += term
		if term <= 1e-17*sum {
			break
		}
	}
	return sum
}

// tailOne is tail for one sample of n draws from the reference atoms
// (no reference term): P(D ≥ d) for d > 0, P(D ≤ d) for d < 0.
func (t *Mean) tailOne(n int64, d float64) float64 {
	return t.tailM(n, 0, d)
}

// PaneTable tabulates PaneZ for panes of one size, so that a pane costs
// an interpolation instead of a saddlepoint search (tens of microseconds
// at r = 1000). z − x, with x = D·√n the normal approximation, is smooth
// in x: it is tabulated on paneGrid points over |x| ≤ paneGridMax and
// interpolated linearly. An interval whose midpoint the interpolation
// misses by more than paneTol (steep parts: next to the ends of the
// reference's range, where z runs off to ±∞ and the exact extreme
// probabilities take over) is computed directly, and so are panes of
// another size and beyond the grid. It costs about 9·paneGrid bytes.
type PaneTable struct {
	n      int64
	dz     [paneGrid]float64  // z − x at the grid points
	direct [paneGrid - 1]bool // interval i: compute directly
}

// paneTol is the largest error of the table at an interval's midpoint.
const paneTol = 1e-3

const (
	paneGrid    = 73
	paneGridMax = 9.0
	paneStep    = 2 * paneGridMax / (paneGrid - 1)
)

// NewPaneTable tabulates PaneZ for panes of n values (a few milliseconds:
// paneGrid saddlepoint searches). It returns nil where a table would not
// help: two-valued features (their exact binomial score is cheap), the
// scale test, n < 2.
func (t *Mean) NewPaneTable(n int64) *PaneTable {
	if n < 2 || t.abs || t.TwoValued() {
		return nil
	}
	pt := &PaneTable{n: n}
	rn := math.Sqrt(float64(n))
	at := func(x float64) float64 { return t.PaneZ(Window{N: n, D: x / rn}) - x }
	for i := range paneGrid {
		pt.dz[i] = at(-paneGridMax + float64(i)*paneStep)
	}
	for i := range pt.direct {
		x := -paneGridMax + (float64(i)+0.5)*paneStep
		mid := at(x)
		pt.direct[i] = !(math.Abs(mid-(pt.dz[i]+pt.dz[i+1])/2) <= paneTol) ||
			math.Abs(x+mid) >= MaxPaneZ || math.Abs(x+pt.dz[i]) >= MaxPaneZ || math.Abs(x+pt.dz[i+1]) >= MaxPaneZ
	}
	return pt
}

// PaneZTable is PaneZ through the table pt (nil: directly).
func (t *Mean) PaneZTable(pt *PaneTable, w Window) float64 {
	if pt == nil || w.N != pt.n {
		return t.PaneZ(w)
	}
	x := w.D * math.Sqrt(float64(w.N))
	pos := (x + paneGridMax) / paneStep
	i := int(math.Floor(pos))
	if !(pos >= 0) || i >= paneGrid-1 {
		return t.PaneZ(w)
	}
	if pt.direct[i] {
		return t.PaneZ(w)
	}
	a, b := pt.dz[i], pt.dz[i+1]
	f := pos - float64(i)
	z := x + a + f*(b-a)
	return math.Max(-MaxPaneZ, math.Min(MaxPaneZ, z))
}
