// Package celltest holds driftd's tests whose null distribution is derived
// from the reference sketch itself rather than assumed normal: the mean test
// on reference-cell scores (saddlepoint, lattice-corrected saddlepoint, or
// Fisher's exact test for two-valued features).
//
// A numeric reference is a step CDF on breakpoints q_0 < … < q_{r−1} with
// ranks R_j = #{reference values ≤ q_j}. It splits the line into r
// intervals: I_0 = (−∞, q_0] and I_j = (q_{j−1}, q_j] (the last one extended
// to +∞), holding R_0 and R_j − R_{j−1} of the m reference values. Every
// window value falls in exactly one interval, so the window's counts per
// interval are a multinomial sample; under the null hypothesis (window and
// reference drawn from the same distribution) its interval probabilities
// are the reference's. Giving each interval a score x_j — its value when
// the interval holds an atom, its midpoint otherwise — the window's
// cell-score mean T_w = Σ_j N_j x_j / n is a linear statistic of a
// multinomial, whose distribution is that of the mean of n independent
// draws from the atoms (x_j, p_j): bounded, with every moment, whatever the
// shape of the feature. Values outside the reference range count as the
// nearest end, so one huge value cannot make the test fire (the
// out-of-range test reports those).
package celltest

import (
	"cmp"
	"math"
	"slices"
	"unsafe"
)

// Methods of the mean test's p-value.
const (
	MethodSaddlepoint = "saddlepoint"         // Lugannani–Rice on the two-sample CGF
	MethodLattice     = "lattice_saddlepoint" // the same with a continuity correction
	MethodFisher      = "fisher"              // two-valued feature: Fisher's exact test
	MethodNormal      = "normal"              // below the effect band: normal approximation
)

// Mean is the null distribution of a window's cell-score mean, built from
// a numeric reference's breakpoints and ranks. It keeps only a few
// scalars; the atoms are recomputed from the breakpoints on each use, so a
// feature costs no extra memory.
type Mean struct {
	q     []float64 // breakpoints (shared with the reference, not copied)
	ranks []int64
	m     int64 // reference values
	exact bool  // every distinct reference value is a breakpoint
	heavy int64 // an interval with more mass than this holds an atom at q_j

	mu    float64 // score mean under the reference masses
	sd    float64 // score standard deviation
	inv   float64 // 1/sd
	zmin  float64 // smallest standardized score
	zmax  float64 // largest standardized score
	span  float64 // lattice span of the standardized scores (0: not a lattice)
	k3    float64 // third and fourth cumulants of one standardized score
	k4    float64
	atoms int

	// Scale test (NewScale): scores are |x_j − centre|, which are not
	// in breakpoint order; order sorts them, built on the first
	// saddlepoint search.
	abs    bool
	centre float64
	order  []int32
}

// NewMean prepares the mean test for a reference with breakpoints q and
// ranks (see package doc); exact marks a reference that keeps every
// distinct value. It returns nil when the test does not apply: no
// breakpoints, or every score equal (a constant feature).
func NewMean(q []float64, ranks []int64, exact bool) *Mean {
	return newMean(q, ranks, exact, false)
}

// NewScale prepares the scale test: the same construction on the scores
// |x_j − c|, the absolute deviations of the interval scores from the
// reference's median score c. Their window mean is a mean absolute
// deviation — a dispersion measure that exists for every shape — and its
// null distribution is derived exactly like the mean test's. It returns
// nil where the test does not apply: no spread, or two values (whose
// dispersion is a function of their mean).
func NewScale(q []float64, ranks []int64, exact bool) *Mean {
	if exact && len(q) <= 2 {
		return nil
	}
	return newMean(q, ranks, exact, true)
}

func newMean(q []float64, ranks []int64, exact, abs bool) *Mean {
	r := len(q)
	if r == 0 || len(ranks) != r || ranks[r-1] <= 0 {
		return nil
	}
	t := &Mean{q: q, ranks: ranks, m: ranks[r-1], exact: exact, atoms: r}
	if r > 1 {
		// Quantile breakpoints put about m/(r−1) values in each
		// interval; an interval with more than twice that holds a heavy
		// atom at its right end (heavy atoms are always breakpoints).
		t.heavy = 2 * t.m / int64(r-1)
	}
	if abs {
		// The median: the score of the first interval whose rank
		// reaches half the reference.
		j := 0
		for 2*ranks[j] < t.m {
			j++
		}
		t.centre = t.score(j)
		t.abs = true
	}
	// Mean and variance of the scores, two-pass, relative to the first
	// score so that offsets such as 1e15 cost no digits.
	c := t.score(0)
	var s1 float64
	for j := range r {
		s1 += t.mass(j) * (t.score(j) - c)
	}
	mu := c + s1
	var s2 float64
	for j := range r {
		d := t.score(j) - mu
		s2 += t.mass(j) * d * d
	}
	if !(s2 > 0) || math.IsInf(s2, 0) {
		return nil
	}
	t.mu, t.sd = mu, math.Sqrt(s2)
	t.inv = 1 / t.sd
	t.zmin, t.zmax = t.z(0), t.z(r-1)
	if abs {
		t.zmin, t.zmax = math.Inf(1), math.Inf(-1)
		for j := range r {
			t.zmin, t.zmax = math.Min(t.zmin, t.z(j)), math.Max(t.zmax, t.z(j))
		}
	}
	if exact {
		t.span = latticeSpan(q) * t.inv
	}
	var m3, m4 float64
	for j := range r {
		z := t.z(j)
		m3 += t.mass(j) * z * z * z
		m4 += t.mass(j) * z * z * z * z
	}
	t.k3, t.k4 = m3, m4-3
	return t
}

// score is x_j, the score of interval j.
func (t *Mean) score(j int) float64 {
	x := t.value(j)
	if t.abs {
		return math.Abs(x - t.centre)
	}
	return x
}

// value is the value interval j stands for: its right end if it holds
// an atom there, its midpoint otherwise. It is the mean test's score;
// the scale test's is its distance from the centre.
func (t *Mean) value(j int) float64 { return intervalValue(t.q, t.ranks, t.exact, t.heavy, j) }

// intervalValue is value for the breakpoints q and ranks of a Mean (for
// loops that hoist them).
func intervalValue(q []float64, ranks []int64, exact bool, heavy int64, j int) float64 {
	if j > 0 && !exact && ranks[j]-ranks[j-1] <= heavy {
		return q[j-1]/2 + q[j]/2
	}
	return q[j]
}

// mass is p_j, the reference share of interval j.
func (t *Mean) mass(j int) float64 {
	c := t.ranks[j]
	if j > 0 {
		c -= t.ranks[j-1]
	}
	return float64(c) / float64(t.m)
}

// z is the standardized score of interval j.
func (t *Mean) z(j int) float64 { return (t.score(j) - t.mu) * t.inv }

// SD is the standard deviation of one value's score under the reference:
// multiply a standardized difference by it to get the difference in the
// feature's units.
func (t *Mean) SD() float64 { return t.sd }

// Centre is the reference's cell-score mean (for the scale test: its mean
// absolute deviation from the median).
func (t *Mean) Centre() float64 { return t.mu }

// TwoValued reports whether the reference has exactly two values (a 0/1
// flag, say): the test is then Fisher's exact test.
func (t *Mean) TwoValued() bool { return t.exact && t.atoms == 2 }

// Window is a window's position relative to the null: n valid values,
// the standardized difference D = (T_w − T_r)/sd of its cell-score mean
// from the reference's, and (two-valued features) the count of the upper
// value.
type Window struct {
	N     int64
	D     float64
	Upper int64
}

// Score reads a window's cell counts, laid out as window.Breaks cells
// (2r+1 value cells: below q_0, at q_0, between q_0 and q_1, at q_1, …,
// above q_{r−1}), and returns its cell-score mean relative to the
// reference. It costs one pass over the cells.
func Score[C uint16 | uint32](t *Mean, counts []C) Window {
	r := t.atoms
	if len(counts) < 2*r+1 {
		return Window{}
	}
	if t.abs {
		return scoreAbs(t, counts)
	}
	// Interval 0 takes cells 0 and 1; interval j takes cells 2j and
	// 2j+1; the last one also takes the cell above the maximum. The
	// loop inlines score(j) − mu: scores relative to the centre, so
	// offsets such as 1e15 cost no digits.
	q, ranks, mu := t.q[:r], t.ranks[:r], t.mu
	w0 := int64(counts[0]) + int64(counts[1])
	n := w0
	sum := float64(w0) * (q[0] - mu)
	// Cells 2j and 2j+1 (j ≥ 1) come in pairs; viewing them as [2]C
	// lets the loop run without bounds checks.
	cells := counts[2 : 2*r]
	pairs := unsafe.Slice((*[2]C)(unsafe.Pointer(unsafe.SliceData(cells))), r-1)
	qs, rs := q[1:r], ranks[1:r]
	qs, rs = qs[:len(pairs)], rs[:len(pairs)]
	exact, heavy := t.exact, t.heavy
	prevQ, prevR := q[0], ranks[0]
	var w int64
	if exact {
		for j := range pairs {
			w = int64(pairs[j][0]) + int64(pairs[j][1])
			n += w
			sum += float64(w) * (qs[j] - mu)
		}
	} else {
		for j := range pairs {
			qj, rj := qs[j], rs[j]
			x := 0.5*prevQ + 0.5*qj
			if rj-prevR > heavy {
				x = qj
			}
			w = int64(pairs[j][0]) + int64(pairs[j][1])
			n += w
			sum += float64(w) * (x - mu)
			prevQ, prevR = qj, rj
		}
	}
	if top := int64(counts[2*r]); top > 0 {
		n += top
		w += top
		sum += float64(top) * (t.score(r-1) - mu)
	}
	if n == 0 {
		return Window{}
	}
	win := Window{N: n, D: sum * t.inv / float64(n)}
	if t.TwoValued() {
		win.Upper = w
	}
	return win
}

// ScorePair is Score for a mean test and the scale test of the same
// reference (NewMean and NewScale on the same breakpoints) in one pass
// over the cells.
func ScorePair[C uint16 | uint32](t, sc *Mean, counts []C) (mean, scale Window) {
	r := t.atoms
	if sc == nil || len(counts) < 2*r+1 {
		return Score(t, counts), Window{}
	}
	q, ranks, mu := t.q[:r], t.ranks[:r], t.mu
	c, muAbs := sc.centre, sc.mu
	w0 := int64(counts[0]) + int64(counts[1])
	n := w0
	sum := float64(w0) * (q[0] - mu)
	sumAbs := float64(w0) * (math.Abs(q[0]-c) - muAbs)
	cells := counts[2 : 2*r]
	pairs := unsafe.Slice((*[2]C)(unsafe.Pointer(unsafe.SliceData(cells))), r-1)
	qs, rs := q[1:r], ranks[1:r]
	qs, rs = qs[:len(pairs)], rs[:len(pairs)]
	exact, heavy := t.exact, t.heavy
	prevQ, prevR := q[0], ranks[0]
	for j := range pairs {
		qj, rj := qs[j], rs[j]
		x := 0.5*prevQ + 0.5*qj
		if exact || rj-prevR > heavy {
			x = qj
		}
		fw := float64(int64(pairs[j][0]) + int64(pairs[j][1]))
		n += int64(pairs[j][0]) + int64(pairs[j][1])
		sum += fw * (x - mu)
		sumAbs += fw * (math.Abs(x-c) - muAbs)
		prevQ, prevR = qj, rj
	}
	if top := int64(counts[2*r]); top > 0 {
		n += top
		sum += float64(top) * (t.score(r-1) - mu)
		sumAbs += float64(top) * (sc.score(r-1) - muAbs)
	}
	if n == 0 {
		return Window{}, Window{}
	}
	return Window{N: n, D: sum * t.inv / float64(n)}, Window{N: n, D: sumAbs * sc.inv / float64(n)}
}

// scoreAbs is Score for the scale test, one score(j) per interval.
func scoreAbs[C uint16 | uint32](t *Mean, counts []C) Window {
	r := t.atoms
	var n int64
	var sum float64
	for j := range r {
		w := int64(counts[2*j]) + int64(counts[2*j+1])
		if j == r-1 {
			w += int64(counts[2*r])
		}
		if w > 0 {
			n += w
			sum += float64(w) * (t.score(j) - t.mu)
		}
	}
	if n == 0 {
		return Window{}
	}
	return Window{N: n, D: sum * t.inv / float64(n)}
}

// PValue is the two-sided p-value of a window: twice the null probability
// of a cell-score mean difference at least as far from 0 on the observed
// side (capped at 1), and the method used. The null treats window and
// reference as independent samples of one distribution whose interval
// masses are the reference's: D = T_w − T_r has cumulant generating
// function K_D(s) = n·K(s/n) + m·K(−s/m), with K that of one standardized
// score. Its tail is the Lugannani–Rice saddlepoint approximation, with a
// continuity correction of half a lattice step when the reference's values
// lie on a lattice (integer counts, rounded amounts); two-valued features
// use Fisher's exact test on the count of the upper value.
func (t *Mean) PValue(w Window) (float64, string) {
	if w.N <= 0 {
		return 1, MethodSaddlepoint
	}
	if t.TwoValued() {
		return fisherTwoSided(w.Upper, w.N, t.ranks[1]-t.ranks[0], t.m), MethodFisher
	}
	d := w.D
	method := MethodSaddlepoint
	if t.span > 0 {
		// The window sum moves in steps of span; P(S ≥ s) = P(S > s − span/2).
		method = MethodLattice
		h := t.span / (2 * float64(w.N))
		if math.Abs(d) <= h {
			return 1, method
		}
		d -= math.Copysign(h, d)
	}
	p := 2 * t.tail(w.N, d)
	return math.Min(1, p), method
}

// NormalPValue is the two-sided normal approximation of PValue, for
// windows whose effect is too small to matter (see the detector's effect
// band): it costs no saddlepoint search.
func (t *Mean) NormalPValue(w Window) float64 {
	if w.N <= 0 {
		return 1
	}
	v := 1/float64(w.N) + 1/float64(t.m)
	return math.Min(1, math.Erfc(math.Abs(w.D)/math.Sqrt(2*v)))
}

// maxGroups bounds the atoms the saddlepoint search works on; each group
// of neighbouring atoms becomes two.
const maxGroups = 256

// atomSet is the null distribution the saddlepoint search works on: the
// reference's standardized scores, neighbours closer than a width h merged
// into groups, each group replaced by two equal atoms at its mean ± its
// standard deviation. That keeps each group's mass, mean and variance, so
// K(s) changes by O(s³h³) per unit mass — below 1e-4 in the exponent where
// p-values are near driftd's thresholds — while the search costs a few
// hundred exponentials instead of one per breakpoint. It lives on the
// stack: the search allocates nothing.
type atomSet struct {
	z, p       [2 * maxGroups]float64
	n          int
	zmin, zmax float64
}

func (t *Mean) atoms2(a *atomSet) {
	for h := 0.1; ; h *= 2 {
		if t.group(a, h) {
			return
		}
	}
}

// group fills a with groups of width ≤ h; false if they are too many.
func (t *Mean) group(a *atomSet, h float64) bool {
	a.n = 0
	groups := 0
	j := 0
	for j < t.atoms {
		z0 := t.zAt(j)
		var pm, s1 float64
		k := j
		for ; k < t.atoms; k++ {
			z := t.zAt(k)
			if z-z0 > h {
				break
			}
			pm += t.massAt(k)
			s1 += t.massAt(k) * (z - z0)
		}
		mean := z0 + s1/pm
		var s2 float64
		for i := j; i < k; i++ {
			d := t.zAt(i) - mean
			s2 += t.massAt(i) * d * d
		}
		if groups++; groups > maxGroups {
			return false
		}
		if sd := math.Sqrt(s2 / pm); k-j > 1 && sd > 0 {
			a.z[a.n], a.p[a.n] = mean-sd, pm/2
			a.z[a.n+1], a.p[a.n+1] = mean+sd, pm/2
			a.n += 2
		} else {
			a.z[a.n], a.p[a.n] = mean, pm
			a.n++
		}
		j = k
	}
	a.zmin, a.zmax = a.z[0], a.z[a.n-1]
	return true
}

// zAt and massAt are the i-th atom in increasing order of score.
func (t *Mean) zAt(i int) float64 {
	if t.order != nil {
		return t.z(int(t.order[i]))
	}
	return t.z(i)
}

func (t *Mean) massAt(i int) float64 {
	if t.order != nil {
		return t.mass(int(t.order[i]))
	}
	return t.mass(i)
}

// sortAtoms builds the score order of a scale test (absolute deviations
// are not in breakpoint order), once.
func (t *Mean) sortAtoms() {
	if !t.abs || t.order != nil {
		return
	}
	order := make([]int32, t.atoms)
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortStableFunc(order, func(a, b int32) int { return cmp.Compare(t.score(int(a)), t.score(int(b))) })
	t.order = order
}

// cgf returns K(s), K'(s) and K”(s) of one standardized score.
func (a *atomSet) cgf(s float64) (k, k1, k2 float64) {
	// Shift by the largest exponent so no term overflows.
	top := s * a.zmax
	if s < 0 {
		top = s * a.zmin
	}
	var s0, s1, s2 float64
	zs, ps := a.z[:a.n], a.p[:a.n]
	for j, z := range zs {
		e := ps[j] * math.Exp(s*z-top)
		s0 += e
		s1 += e * z
		s2 += e * z * z
	}
	k1 = s1 / s0
	k2 = math.Max(s2/s0-k1*k1, 0)
	return top + math.Log(s0), k1, k2
}

// cgfD returns K_D(u), K_D'(u), K_D”(u) of D = T_w − T_r.
func (t *Mean) cgfD(a *atomSet, u float64, n, m float64) (k, k1, k2 float64) {
	wk, wk1, wk2 := a.cgf(u / n)
	if m == 0 {
		return n * wk, wk1, wk2 / n // one sample: no reference term
	}
	v := -u / m
	var rk, rk1, rk2 float64
	if math.Abs(v)*math.Max(-a.zmin, a.zmax) <= 0.1 {
		// The reference's share: its cumulant series to the fourth
		// term, whose remainder is below 1e-3 of it here.
		rk = v*v/2 + t.k3*v*v*v/6 + t.k4*v*v*v*v/24
		rk1 = v + t.k3*v*v/2 + t.k4*v*v*v/6
		rk2 = 1 + t.k3*v + t.k4*v*v/2
	} else {
		rk, rk1, rk2 = a.cgf(v)
	}
	return n*wk + m*rk, wk1 - rk1, wk2/n + rk2/m
}

// tail returns P(D ≥ d) for d > 0 and P(D ≤ d) for d < 0.
func (t *Mean) tail(nWin int64, d float64) float64 {
	return t.tailM(nWin, t.m, d)
}

// tailM is tail against a reference of mRef values; mRef = 0 leaves the
// reference out (one sample: the window's mean against the reference
// masses taken as the truth).
func (t *Mean) tailM(nWin, mRef int64, d float64) float64 {
	n, m := float64(nWin), float64(mRef)
	v := 1 / n
	dlo, dhi := t.zmin-t.zmax, t.zmax-t.zmin
	if mRef > 0 {
		v += 1 / m
	} else {
		dlo, dhi = t.zmin, t.zmax
	}
	if d == 0 {
		return 0.5
	}
	// D ranges over (lo, hi); at or beyond its ends the probability is
	// 0 (the saddlepoint runs off to infinity).
	if d >= dhi || d <= dlo {
		return 0
	}
	// Solve K_D'(u) = d by Newton's method inside a bracket that
	// doubling establishes; bisect when a Newton step leaves it.
	t.sortAtoms()
	var a atomSet
	t.atoms2(&a)
	u := d / v
	lo, hi := math.Inf(-1), math.Inf(1)
	var k, k1, k2 float64
	for it := 0; it < 200; it++ {
		k, k1, k2 = t.cgfD(&a, u, n, m)
		g := k1 - d
		if g > 0 {
			hi = u
		} else {
			lo = u
		}
		var next float64
		switch {
		case k2 > 0:
			next = u - g/k2
		case g > 0:
			next = u - math.Abs(u) - 1
		default:
			next = u + math.Abs(u) + 1
		}
		if !(next > lo && next < hi) {
			switch {
			case math.IsInf(lo, -1):
				next = hi - 2*math.Max(1, math.Abs(hi))
			case math.IsInf(hi, 1):
				next = lo + 2*math.Max(1, math.Abs(lo))
			default:
				next = lo/2 + hi/2
			}
		}
		if math.Abs(next-u) <= 1e-12*math.Max(1, math.Abs(u)) {
			u = next
			k, k1, k2 = t.cgfD(&a, u, n, m)
			break
		}
		u = next
		if math.Abs(u/n) > 1e4 || mRef > 0 && math.Abs(u/m) > 1e4 {
			return 0 // the exponent is beyond float64: p underflows
		}
	}
	// Lugannani–Rice: w = sgn(u)·√(2(u·d − K_D(u))), z = u·√K_D''(u).
	e := u*d - k
	if !(e >= 0) {
		e = 0
	}
	w := math.Copysign(math.Sqrt(2*e), u)
	z := u * math.Sqrt(k2)
	if math.Abs(w) < 1e-3 || z == 0 {
		// Near the centre the formula cancels; the normal tail is
		// accurate there (p ≈ ½).
		return 0.5 * math.Erfc(math.Abs(d)/math.Sqrt(2*v))
	}
	var p float64
	if d > 0 {
		p = normalSF(w) + normalPDF(w)*(1/z-1/w)
	} else {
		p = normalSF(-w) - normalPDF(w)*(1/z-1/w)
	}
	return math.Max(0, math.Min(1, p))
}

func normalSF(x float64) float64  { return 0.5 * math.Erfc(x/math.Sqrt2) }
func normalPDF(x float64) float64 { return math.Exp(-x*x/2) / math.Sqrt(2*math.Pi) }

// latticeSpan returns the largest δ with every q_j − q_0 an integer
// multiple of δ (to 1e-9 relative), or 0 when there is none (or a single
// value).
func latticeSpan(q []float64) float64 {
	if len(q) < 2 {
		return 0
	}
	step := math.Inf(1)
	for j := 1; j < len(q); j++ {
		step = math.Min(step, q[j]-q[j-1])
	}
	// The gcd of the differences divides the smallest one: try
	// step/k for small k.
	for k := 1.0; k <= 12; k++ {
		d := step / k
		ok := true
		for j := 1; j < len(q) && ok; j++ {
			x := (q[j] - q[0]) / d
			ok = math.Abs(x-math.Round(x)) <= 1e-9*math.Max(1, x)
		}
		if ok {
			return d
		}
	}
	return 0
}

// fisherTwoSided is Fisher's exact test of a window with k upper values
// out of n against a reference with kr out of m: under the null, given
// the total k + kr, the window's count is hypergeometric. The two-sided
// p-value is twice the smaller tail, capped at 1.
func fisherTwoSided(k, n, kr, m int64) float64 {
	total := k + kr
	mean := float64(n) * float64(total) / float64(n+m)
	var p float64
	if float64(k) >= mean {
		p = HyperTail(k, n, total, n+m, +1)
	} else {
		p = HyperTail(k, n, total, n+m, -1)
	}
	return math.Min(1, 2*p)
}

// hyperTail returns P(X ≥ k) (dir +1) or P(X ≤ k) (dir −1) for X the
// number of marked items in n draws without replacement from N items of
// which K are marked. Terms are summed from k outwards until they no
// longer change the sum.
func HyperTail(k, n, K, N int64, dir int) float64 {
	lo, hi := max(0, n-(N-K)), min(n, K)
	if k < lo {
		if dir > 0 {
			return 1
		}
		return 0
	}
	if k > hi {
		if dir > 0 {
			return 0
		}
		return 1
	}
	logp := lchoose(K, k) + lchoose(N-K, n-k) - lchoose(N, n)
	term := math.Exp(logp)
	sum := term
	x := k
	for {
		var ratio float64
		if dir > 0 {
			if x >= hi {
				break
			}
			// P(x+1)/P(x)
			ratio = float64(K-x) * float64(n-x) / (float64(x+1) * float64(N-K-n+x+1))
			x++
		} else {
			if x <= lo {
				break
			}
			// P(x−1)/P(x)
			ratio = float64(x) * float64(N-K-n+x) / (float64(K-x+1) * float64(n-x+1))
			x--
		}
		term *= ratio
		sum += term
		if term <= 1e-17*sum {
			break
		}
	}
	return math.Min(1, sum)
}

func lchoose(n, k int64) float64 {
	a, _ := math.Lgamma(float64(n + 1))
	b, _ := math.Lgamma(float64(k + 1))
	c, _ := math.Lgamma(float64(n - k + 1))
	return a - b - c
}

// Method names the distribution PValue uses for this reference.
func (t *Mean) Method() string {
	switch {
	case t.TwoValued():
		return MethodFisher
	case t.span > 0:
		return MethodLattice
	}
	return MethodSaddlepoint
}

// Critical returns the smallest |D| at which a window of n values on the
// upper (D > 0) or lower side has a two-sided p-value (PValue) below
// level; +Inf when none has. PValue falls monotonically as |D| grows on
// either side, so a window is significant at level exactly when its |D|
// reaches this value — up to the search's resolution, 1e-9 of D's range.
// A count window has a fixed n and a feature a few fixed levels, so the
// search (about 45 saddlepoint tails) runs once per (n, level, side) and
// each evaluation then decides with one comparison. Two-valued features
// (Fisher's test) have no critical value here: +Inf with ok false.
func (t *Mean) Critical(n int64, level float64, upper bool) (d float64, ok bool) {
	if t.TwoValued() || n <= 0 {
		return math.Inf(1), false
	}
	sign := 1.0
	if !upper {
		sign = -1
	}
	p := func(d float64) float64 {
		v, _ := t.PValue(Window{N: n, D: sign * d})
		return v
	}
	hi := t.zmax - t.zmin // |D| ranges below this
	if !(p(hi*(1-1e-12)) < level) {
		return math.Inf(1), true
	}
	lo := 0.0 // p(lo) ≥ level
	for range 60 {
		mid := lo/2 + hi/2
		if p(mid) < level {
			hi = mid
		} else {
			lo = mid
		}
		if hi-lo <= 1e-9*(t.zmax-t.zmin) {
			break
		}
	}
	return hi, true
}
