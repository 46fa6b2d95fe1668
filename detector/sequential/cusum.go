// Package sequential holds driftd's change detectors on pane-level
// statistics: a two-sided CUSUM on normal scores of pane means (see
// celltest.Mean.PaneZ), whose threshold comes from the target false-alarm
// rate through Siegmund's approximation of the average run length.
//
// A CUSUM accumulates evidence across panes: with z_i the pane scores,
// standard normal under the null,
//
//	S⁺_i = max(0, S⁺_{i−1} + z_i − k),  S⁻_i = max(0, S⁻_{i−1} − z_i − k),
//
// and it signals when either reaches h. k is half the shift it is tuned
// for (in pane-score units), h sets the average run length ARL₀ between
// false signals. A sustained shift of δ per pane (δ > k) brings S to h in
// about (h + 1.166)/(δ − k) panes: the detector sees shifts far smaller
// than a window test can, at the price of a delay that grows as the shift
// shrinks.
//
// The package does no I/O and keeps no clock.
package sequential

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/integrate/quad"
)

// siegmundRho is Siegmund's correction for the overshoot of a normal
// random walk over the boundary: 2·0.583 = 1.166 (Siegmund 1985, eq.
// 2.55; 0.583 = −ζ(1/2)/√(2π)).
const siegmundRho = 1.166

// ARL is Siegmund's approximation of the average run length of a
// one-sided CUSUM with reference value k and threshold h whose increments
// are N(mu, 1):
//
//	ARL = (exp(−2Δb) + 2Δb − 1) / (2Δ²),  Δ = mu − k,  b = h + 1.166,
//
// b² at Δ = 0.
func ARL(mu, k, h float64) float64 {
	d := mu - k
	b := h + siegmundRho
	x := 2 * d * b
	if math.Abs(x) < 1e-4 {
		// Series of (e^{−x} + x − 1)/x² · b²·2 = b²(1 − x/3 + x²/12).
		return b * b * (1 - x/3 + x*x/12)
	}
	return (math.Exp(-x) + x - 1) / (2 * d * d)
}

// ARLExact is the average run length of a one-sided CUSUM (k, h) on
// N(mu, 1) increments, started at 0, from Page's integral equation
//
//	L(s) = 1 + L(0)·Φ(k − mu − s) + ∫₀ʰ L(y) φ(y − s + k − mu) dy
//
// solved by the Nyström method on Gauss–Legendre nodes (Goel and Wu
// 1971). Siegmund's ARL is off by up to 20 % for the large reference
// values driftd uses on big panes (k ≈ 1.4: its overshoot constant is
// that of a small drift); this is exact to the quadrature, which
// TestARLTextbook checks against the tabulated values.
func ARLExact(mu, k, h float64) float64 {
	if h <= 0 {
		return 1
	}
	n := min(max(int(math.Ceil(3*h))+16, 24), 128)
	y := make([]float64, n)
	w := make([]float64, n)
	quad.Legendre{}.FixedLocations(y, w, 0, h)
	// Unknowns L(y_1..y_n), then L(0); rows: (I − K)L = 1.
	dim := n + 1
	a := make([]float64, dim*(dim+1)) // augmented matrix
	row := func(i int, s float64) {
		r := a[i*(dim+1) : (i+1)*(dim+1)]
		for j := range n {
			r[j] = -w[j] * normalPDF(y[j]-s+k-mu)
		}
		r[n] = -normalCDF(k - mu - s)
		r[i] += 1
		r[dim] = 1
	}
	for i := range n {
		row(i, y[i])
	}
	row(n, 0)
	if x, ok := solve(a, dim); ok && x[n] >= 1 {
		return x[n]
	}
	return ARL(mu, k, h)
}

// solve solves the augmented dim×(dim+1) system in place by Gaussian
// elimination with partial pivoting and returns the solution.
func solve(a []float64, dim int) ([]float64, bool) {
	c := dim + 1
	for col := range dim {
		p := col
		for r := col + 1; r < dim; r++ {
			if math.Abs(a[r*c+col]) > math.Abs(a[p*c+col]) {
				p = r
			}
		}
		if a[p*c+col] == 0 {
			return nil, false
		}
		if p != col {
			for j := range c {
				a[p*c+j], a[col*c+j] = a[col*c+j], a[p*c+j]
			}
		}
		piv := a[col*c+col]
		for r := col + 1; r < dim; r++ {
			f := a[r*c+col] / piv
			if f == 0 {
				continue
			}
			for j := col; j < c; j++ {
				a[r*c+j] -= f * a[col*c+j]
			}
		}
	}
	x := make([]float64, dim)
	for r := dim - 1; r >= 0; r-- {
		s := a[r*c+dim]
		for j := r + 1; j < dim; j++ {
			s -= a[r*c+j] * x[j]
		}
		x[r] = s / a[r*c+r]
	}
	return x, true
}

func normalPDF(x float64) float64 { return math.Exp(-x*x/2) / math.Sqrt(2*math.Pi) }
func normalCDF(x float64) float64 { return 0.5 * math.Erfc(-x/math.Sqrt2) }

// Rate is the expected number of signals per pane of a two-sided CUSUM
// (k, h) on scores that are N(c, 1), averaged over a bias c ~ N(0, tau2)
// common to all panes: 1/ARL⁺(c) + 1/ARL⁻(c) (the sides signal almost
// independently at the thresholds of interest), integrated over c. The
// bias is the reference's own sampling error — a reference of m values
// is off the population's mean by about σ/√m, which a pane of n values
// sees as a shift of N(0, n/m) in score units — so the rate is the
// false-alarm rate of a stream drawn from the population the reference
// was sampled from. The ARLs are ARLExact's.
func Rate(h, k, tau2 float64) float64 {
	return rate(h, k, tau2, ARLExact)
}

// RateApprox is Rate on Siegmund's ARL: cheap enough to turn a CUSUM
// statistic into a p-value at every evaluation.
func RateApprox(h, k, tau2 float64) float64 {
	return rate(h, k, tau2, ARL)
}

func rate(h, k, tau2 float64, arl func(mu, k, h float64) float64) float64 {
	if !(tau2 > 0) {
		return 2 / arl(0, k, h)
	}
	// A trapezoid with step τ over ±8τ: on a Gaussian weight times a
	// smooth function its error is of order exp(−2π²) ≈ 3·10⁻⁹ relative,
	// far below the precision of the ARL. The grid is symmetric, so the
	// lower side at c is the upper side at −c.
	tau := math.Sqrt(tau2)
	const half = 8
	var sum, wsum float64
	for i := -half; i <= half; i++ {
		c := float64(i) * tau
		wt := math.Exp(-float64(i*i) / 2)
		sum += wt * 2 / arl(c, k, h)
		wsum += wt
	}
	return sum / wsum
}

// Threshold returns the h at which a two-sided CUSUM with reference value
// k signals at rate (signals per pane, 0 < rate < 1) under the null with
// reference bias variance tau2 (see Rate).
func Threshold(k, tau2, rate float64) (float64, error) {
	switch {
	case !(k >= 0) || math.IsInf(k, 0):
		return 0, fmt.Errorf("sequential: reference value k is %v; want a finite number ≥ 0", k)
	case !(rate > 0 && rate < 1):
		return 0, fmt.Errorf("sequential: rate is %v; want a number in (0, 1)", rate)
	case !(tau2 >= 0) || math.IsInf(tau2, 0):
		return 0, fmt.Errorf("sequential: bias variance is %v; want a finite number ≥ 0", tau2)
	}
	// Siegmund's threshold first (bracket, then bisect: RateApprox is
	// cheap), then the secant method on log Rate, which is nearly linear
	// in h: a few exact evaluations.
	approx := func(h float64) float64 { return RateApprox(h, k, tau2) }
	h0, err := bisect(approx, rate)
	if err != nil {
		return 0, fmt.Errorf("sequential: %w (k %v)", err, k)
	}
	f := func(h float64) float64 { return math.Log(Rate(h, k, tau2)) - math.Log(rate) }
	h1 := h0 + 0.1
	f0, f1 := f(h0), f(h1)
	for range 30 {
		if math.Abs(f1) < 1e-9 || f1 == f0 {
			break
		}
		h2 := max(h1-f1*(h1-h0)/(f1-f0), 0)
		h0, f0 = h1, f1
		h1, f1 = h2, f(h2)
	}
	if !(math.Abs(f1) < 1e-6) {
		// Not converged (never seen): the exact rate by bisection.
		return bisect(func(h float64) float64 { return Rate(h, k, tau2) }, rate)
	}
	return h1, nil
}

// bisect finds the h ≥ 0 with r(h) = target for a decreasing r.
func bisect(r func(float64) float64, target float64) (float64, error) {
	lo, hi := 0.0, 1.0
	for r(hi) > target {
		lo, hi = hi, 2*hi
		if hi > 1e6 {
			return 0, fmt.Errorf("no threshold reaches rate %v", target)
		}
	}
	if r(lo) <= target {
		return lo, nil
	}
	for range 60 {
		mid := lo/2 + hi/2
		if r(mid) > target {
			lo = mid
		} else {
			hi = mid
		}
	}
	return hi, nil
}

// State is the running state of one two-sided CUSUM. Up and Down are S⁺
// and S⁻; UpPanes and DownPanes count the panes since each was last 0,
// and UpShift and DownShift sum the panes' shifts over those panes, for
// the shift estimate.
type State struct {
	Up, Down           float64
	UpPanes, DownPanes uint64
	UpShift, DownShift float64
}

// Step adds a pane of score z with reference value k; shift is the
// pane's own measure of the shift (its standardized mean difference),
// averaged over the run for the estimate.
func (s *State) Step(z, shift, k float64) {
	s.Up = math.Max(0, s.Up+z-k)
	s.Down = math.Max(0, s.Down-z-k)
	s.UpPanes, s.UpShift = run(s.Up, s.UpPanes, s.UpShift, shift)
	s.DownPanes, s.DownShift = run(s.Down, s.DownPanes, s.DownShift, shift)
}

func run(v float64, n uint64, sum, shift float64) (uint64, float64) {
	if v == 0 {
		return 0, 0
	}
	return n + 1, sum + shift
}

// Reset starts the CUSUM afresh (after an alert resolves).
func (s *State) Reset() { *s = State{} }

// Statistic is max(S⁺, S⁻).
func (s *State) Statistic() float64 { return math.Max(s.Up, s.Down) }

// Shift estimates the shift since the larger side last left 0: the mean
// of the panes' shifts over that run (signed), 0 while both sums are 0.
// Unlike the classical k + S/panes (Montgomery, Introduction to
// Statistical Quality Control, §9.1) it is not capped when the scores
// are (a pane score saturates far in the tail; a pane mean does not).
func (s *State) Shift() float64 {
	switch {
	case s.Up >= s.Down && s.UpPanes > 0:
		return s.UpShift / float64(s.UpPanes)
	case s.Down > s.Up && s.DownPanes > 0:
		return s.DownShift / float64(s.DownPanes)
	}
	return 0
}

// Valid reports whether a restored state is possible: finite, non-negative
// sums, zero exactly when their pane counts are.
func (s *State) Valid() bool {
	ok := func(v float64, n uint64, shift float64) bool {
		return v >= 0 && !math.IsInf(v, 0) && (v == 0) == (n == 0) &&
			!math.IsNaN(shift) && !math.IsInf(shift, 0) && (n > 0 || shift == 0)
	}
	return ok(s.Up, s.UpPanes, s.UpShift) && ok(s.Down, s.DownPanes, s.DownShift)
}
