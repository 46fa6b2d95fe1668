package window

import "math"

// Moments is a running count, mean and sum of squared deviations (M2) of a
// set of values, updated with Welford's algorithm. Two Moments merge exactly
// with Chan, Golub and LeVeque's formula, so the moments of a window are the
// merge of the moments of its panes.
//
// The zero value is an empty set.
type Moments struct {
	N    float64 // number of values
	Mean float64 // arithmetic mean; 0 when N == 0
	M2   float64 // sum of squared deviations from Mean
}

// Add adds one value. It is the per-event hot path: a subtraction, a
// division and two multiply-adds.
func (m *Moments) Add(x float64) {
	m.N++
	delta := x - m.Mean
	m.Mean += delta / m.N
	m.M2 += delta * (x - m.Mean)
}

// Merge returns the moments of the union of the values of m and o
// (Chan et al., Stanford CS-TR-79-773).
func (m Moments) Merge(o Moments) Moments {
	switch {
	case o.N == 0:
		return m
	case m.N == 0:
		return o
	}
	n := m.N + o.N
	delta := o.Mean - m.Mean
	return Moments{
		N:    n,
		Mean: m.Mean + delta*o.N/n,
		M2:   m.M2 + o.M2 + delta*delta*m.N*o.N/n,
	}
}

// Sub returns the moments of the values of m that are not in o, where o is
// a subset of m (the inverse of Merge). Subtraction loses precision when o
// holds most of m's values, so the windows do not use it: they rebuild
// their moments by merging the panes still inside.
func (m Moments) Sub(o Moments) Moments {
	if o.N == 0 {
		return m
	}
	n := m.N - o.N
	if n <= 0 {
		return Moments{}
	}
	mean := (m.N*m.Mean - o.N*o.Mean) / n
	delta := o.Mean - mean
	m2 := m.M2 - o.M2 - delta*delta*n*o.N/m.N
	if m2 < 0 {
		m2 = 0 // rounding; a variance is never negative
	}
	return Moments{N: n, Mean: mean, M2: m2}
}

// Variance is the sample variance (divisor N−1); 0 for fewer than two values.
func (m Moments) Variance() float64 {
	if m.N < 2 {
		return 0
	}
	return m.M2 / (m.N - 1)
}

// StdDev is the sample standard deviation.
func (m Moments) StdDev() float64 { return math.Sqrt(m.Variance()) }
