package window

import (
	"fmt"
	"slices"
)

// CellCount is the number of events in one cell.
type CellCount struct {
	Cell  uint16
	Count uint32
}

// Pane is the mergeable summary of consecutive events of one feature: the
// events per cell (sparse, sorted by cell, no zero counts) and the moments
// of its valid numeric values. Panes add and subtract exactly.
type Pane struct {
	Counts  []CellCount
	Moments Moments
}

// N is the number of events in the pane.
func (p *Pane) N() uint64 {
	var n uint64
	for _, c := range p.Counts {
		n += uint64(c.Count)
	}
	return n
}

// Validate checks that the pane fits layout: cells in range, sorted,
// no zero counts, moments consistent with the counts.
func (p *Pane) Validate(layout Layout) error {
	for i, c := range p.Counts {
		if int(c.Cell) >= layout.Cells() {
			return fmt.Errorf("window: pane cell %d out of range (%d cells)", c.Cell, layout.Cells())
		}
		if c.Count == 0 {
			return fmt.Errorf("window: pane cell %d has a zero count", c.Cell)
		}
		if i > 0 && c.Cell <= p.Counts[i-1].Cell {
			return fmt.Errorf("window: pane cells not strictly increasing at %d", i)
		}
	}
	if p.Moments.N < 0 || p.Moments.M2 < 0 || p.Moments.N > float64(p.N()) {
		return fmt.Errorf("window: pane moments (n=%v, m2=%v) inconsistent with %d events", p.Moments.N, p.Moments.M2, p.N())
	}
	return nil
}

// PaneBuilder accumulates events into one pane. It keeps a dense count
// array plus the list of touched cells, so adding is O(1) and building the
// sparse pane is O(touched cells), independent of the layout size.
type PaneBuilder struct {
	counts  []uint32
	touched []uint16
	moments Moments
	n       uint64
}

// NewPaneBuilder returns an empty builder for layout.
func NewPaneBuilder(layout Layout) *PaneBuilder {
	return &PaneBuilder{counts: make([]uint32, layout.Cells())}
}

// Add records a valid numeric value x in cell.
func (b *PaneBuilder) Add(cell int, x float64) {
	b.moments.Add(x)
	b.AddCell(cell)
}

// AddCell records an event without a numeric value.
func (b *PaneBuilder) AddCell(cell int) {
	if b.counts[cell] == 0 {
		b.touched = append(b.touched, uint16(cell))
	}
	b.counts[cell]++
	b.n++
}

// N is the number of events added since the last Reset.
func (b *PaneBuilder) N() uint64 { return b.n }

// Pane returns the accumulated pane. The builder keeps its content.
func (b *PaneBuilder) Pane() Pane {
	slices.Sort(b.touched)
	p := Pane{Counts: make([]CellCount, len(b.touched)), Moments: b.moments}
	for i, c := range b.touched {
		p.Counts[i] = CellCount{Cell: c, Count: b.counts[c]}
	}
	return p
}

// Reset empties the builder in O(touched cells).
func (b *PaneBuilder) Reset() {
	for _, c := range b.touched {
		b.counts[c] = 0
	}
	b.touched = b.touched[:0]
	b.moments = Moments{}
	b.n = 0
}

// PaneWindow is a sliding window over the last Panes closed panes: the
// window of time-based windows (one pane per hop of event time) and of the
// second stage of two-stage mode (panes produced by other replicas). It
// keeps per-cell totals, adding a pane's counts when it enters and
// subtracting them when it leaves, and rebuilds the moments by merging the
// panes at evaluation, which stays exact.
type PaneWindow struct {
	layout Layout
	panes  []Pane // ring of the last len(panes) panes
	pushed uint64
	counts []uint32
	n      uint64
}

// NewPaneWindow returns an empty window of capacity panes.
func NewPaneWindow(layout Layout, capacity int) (*PaneWindow, error) {
	if err := layout.Validate(); err != nil {
		return nil, err
	}
	if capacity <= 0 || capacity > 1<<16 {
		return nil, fmt.Errorf("window: pane window capacity must be in 1..65536, got %d", capacity)
	}
	return &PaneWindow{
		layout: layout,
		panes:  make([]Pane, capacity),
		counts: make([]uint32, layout.Cells()),
	}, nil
}

// Layout is the window's cell layout.
func (w *PaneWindow) Layout() Layout { return w.layout }

// Capacity is the number of panes the window spans.
func (w *PaneWindow) Capacity() int { return len(w.panes) }

// Push adds a closed pane, evicting the oldest when the window is full.
// The pane must be valid for the layout (see Pane.Validate); Push takes
// ownership of it.
func (w *PaneWindow) Push(p Pane) {
	slot := w.pushed % uint64(len(w.panes))
	if w.pushed >= uint64(len(w.panes)) {
		old := &w.panes[slot]
		for _, c := range old.Counts {
			w.counts[c.Cell] -= c.Count
			w.n -= uint64(c.Count)
		}
	}
	for _, c := range p.Counts {
		w.counts[c.Cell] += c.Count
		w.n += uint64(c.Count)
	}
	w.panes[slot] = p
	w.pushed++
}

// Last is the pane pushed last; read only. The window must not be empty.
func (w *PaneWindow) Last() *Pane {
	return &w.panes[(w.pushed-1)%uint64(len(w.panes))]
}

// Pushed is the number of panes pushed since the window started.
func (w *PaneWindow) Pushed() uint64 { return w.pushed }

// N is the number of events in the window.
func (w *PaneWindow) N() uint64 { return w.n }

// Counts returns the per-cell totals; read only.
func (w *PaneWindow) Counts() []uint32 { return w.counts }

// Moments merges the moments of the panes in the window.
func (w *PaneWindow) Moments() Moments {
	var m Moments
	for i := range w.held() {
		m = m.Merge(w.panes[(w.pushed-w.held()+i)%uint64(len(w.panes))].Moments)
	}
	return m
}

func (w *PaneWindow) held() uint64 {
	return min(w.pushed, uint64(len(w.panes)))
}

// Panes returns the panes in the window, oldest first (for checkpoints).
// The panes are shared with the window: do not modify them.
func (w *PaneWindow) Panes() []Pane {
	out := make([]Pane, 0, w.held())
	for i := range w.held() {
		out = append(out, w.panes[(w.pushed-w.held()+i)%uint64(len(w.panes))])
	}
	return out
}

// RestorePaneWindow rebuilds a window from its panes (oldest first) and the
// number of panes ever pushed.
func RestorePaneWindow(layout Layout, capacity int, panes []Pane, pushed uint64) (*PaneWindow, error) {
	w, err := NewPaneWindow(layout, capacity)
	if err != nil {
		return nil, err
	}
	if len(panes) > capacity || uint64(len(panes)) != min(pushed, uint64(capacity)) {
		return nil, fmt.Errorf("window: %d panes do not match %d pushed into a window of %d", len(panes), pushed, capacity)
	}
	w.pushed = pushed - uint64(len(panes))
	for i := range panes {
		if err := panes[i].Validate(layout); err != nil {
			return nil, fmt.Errorf("pane %d: %w", i, err)
		}
		w.Push(panes[i])
	}
	return w, nil
}
