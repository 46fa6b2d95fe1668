package window

import (
	"errors"
	"fmt"
	"math"
)

// MaxCells is the largest number of cells a window supports: cell indexes
// are stored in 16 bits per event.
const MaxCells = math.MaxUint16

// Layout describes the cells of one feature's window. Values fall into
// Valid cells numbered 0..Valid−1 (reference cells for a numeric feature,
// reference categories plus "other" for a categorical one). Two more cells
// follow: Missing (null or absent) and Invalid (a value of the wrong type,
// NaN, ±Inf), so that data-quality counts travel with the distribution
// counts through panes, windows and checkpoints.
type Layout struct {
	Valid int // number of value cells
}

// Missing is the cell index of missing values.
func (l Layout) Missing() int { return l.Valid }

// Invalid is the cell index of invalid values.
func (l Layout) Invalid() int { return l.Valid + 1 }

// Cells is the total number of cells, value cells plus the two quality
// cells.
func (l Layout) Cells() int { return l.Valid + 2 }

// Validate reports whether the layout fits the 16-bit cell index.
func (l Layout) Validate() error {
	if l.Valid < 1 {
		return fmt.Errorf("window: layout needs at least one value cell, got %d", l.Valid)
	}
	if l.Cells() > MaxCells {
		return fmt.Errorf("window: layout has %d cells, more than the %d supported", l.Cells(), MaxCells)
	}
	return nil
}

// Breaks maps numeric values to reference cells. With breakpoints
// q_1 < … < q_r there are 2r+1 value cells:
//
//	cell 0       x < q_1
//	cell 2j−1    x = q_j          (j = 1..r)
//	cell 2j      q_j < x < q_j+1  (cell 2r: x > q_r)
//
// Counting a window in these cells gives its empirical CDF exactly at every
// breakpoint and just below it, which is all the KS distance against a step
// CDF on the breakpoints needs.
type Breaks struct {
	q []float64
	// An equal-width bucket index over [q_1, q_r]: the breakpoints ≤ the
	// start of bucket b are q[:lo[b]]. A value's bucket narrows the
	// binary search to the few breakpoints inside it, so a lookup
	// touches one line of the index and one or two of q, instead of the
	// ~log2(r) lines of a plain binary search — which matters when the
	// breakpoints of many features compete for the cache.
	lo    []uint16
	min   float64
	scale float64 // buckets per unit of value
}

// NewBreaks returns the cell map for breakpoints q, which must be finite and
// strictly increasing. q is not copied and must not be modified afterwards.
func NewBreaks(q []float64) (*Breaks, error) {
	if len(q) == 0 {
		return nil, errors.New("window: no breakpoints")
	}
	if 2*len(q)+1+2 > MaxCells {
		return nil, fmt.Errorf("window: %d breakpoints need more than %d cells", len(q), MaxCells)
	}
	for i, v := range q {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("window: breakpoint %d is %v", i, v)
		}
		if i > 0 && !(q[i-1] < v) {
			return nil, fmt.Errorf("window: breakpoints not strictly increasing at %d (%v after %v)", i, v, q[i-1])
		}
	}
	b := &Breaks{q: q, min: q[0]}
	b.buildIndex()
	return b, nil
}

// buildIndex sizes the bucket index at one bucket per breakpoint (at
// least 16, at most 32768): most buckets hold zero, one or two
// breakpoints, and the index costs two bytes per breakpoint.
func (b *Breaks) buildIndex() {
	q := b.q
	span := q[len(q)-1] - q[0]
	nb := min(32768, max(16, len(q)))
	if !(span > 0) || math.IsInf(span, 0) || math.IsInf(float64(nb)/span, 0) {
		return // one breakpoint, or a range too extreme to bucket: plain search
	}
	b.scale = float64(nb) / span
	b.lo = make([]uint16, nb+1)
	j := 0
	for k := 0; k <= nb; k++ {
		// Breakpoints strictly below bucket k's start value are before it.
		for j < len(q) && b.bucketOf(q[j]) < k {
			j++
		}
		b.lo[k] = uint16(j)
	}
}

// bucketOf is the bucket of x, clamped to the index.
func (b *Breaks) bucketOf(x float64) int {
	f := (x - b.min) * b.scale
	if !(f > 0) {
		return 0
	}
	if f >= float64(len(b.lo)-1) {
		return len(b.lo) - 2
	}
	return int(f)
}

// Layout is the window layout for these breakpoints.
func (b *Breaks) Layout() Layout { return Layout{Valid: 2*len(b.q) + 1} }

// Cell returns the value cell of x, which must not be NaN. The search is a
// branch-free binary search: it costs the same ~log2(r) steps for every
// value, which keeps the per-event cost flat and predictable.
func (b *Breaks) Cell(x float64) int {
	q := b.q
	base, n := 0, len(q)
	if b.lo != nil {
		// Every breakpoint in an earlier bucket is < x and every one in
		// a later bucket > x (bucketOf is monotone), so the number of
		// breakpoints ≤ x lies in [lo[k], lo[k+1]]: scan the bucket's
		// few breakpoints.
		k := b.bucketOf(x)
		base, n = int(b.lo[k]), int(b.lo[k+1])
		if n-base <= 8 {
			j := base
			for j < n && q[j] <= x {
				j++
			}
			return cellOf(q, j, x)
		}
		n -= base
	}
	for n > 1 {
		half := n >> 1
		if q[base+half] <= x {
			base += half
		}
		n -= half
	}
	// Every q[i] with i < base is ≤ x; q[base] decides the last step.
	if q[base] <= x {
		base++
	}
	return cellOf(q, base, x)
}

// cellOf is the cell of x given le = #{q_i ≤ x}.
func cellOf(q []float64, le int, x float64) int {
	if le > 0 && q[le-1] == x {
		return 2*le - 1
	}
	return 2 * le
}
