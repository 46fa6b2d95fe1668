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
	return &Breaks{q: q}, nil
}

// Len is the number of breakpoints r.
func (b *Breaks) Len() int { return len(b.q) }

// Layout is the window layout for these breakpoints.
func (b *Breaks) Layout() Layout { return Layout{Valid: 2*len(b.q) + 1} }

// Cell returns the value cell of x, which must not be NaN. The search is a
// branch-free binary search: it costs the same ~log2(r) steps for every
// value, which keeps the per-event cost flat and predictable.
func (b *Breaks) Cell(x float64) int {
	q := b.q
	base, n := 0, len(q)
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
	// base = #{q_i ≤ x}
	if base > 0 && q[base-1] == x {
		return 2*base - 1
	}
	return 2 * base
}

// OutOfRange reports whether a value cell lies outside [q_1, q_r], i.e.
// below the reference minimum or above its maximum when the breakpoints
// include both ends.
func (b *Breaks) OutOfRange(cell int) bool {
	return cell == 0 || cell == 2*len(b.q)
}
