package window

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// CountWindow is a sliding window over the last Size events of one feature,
// advancing in panes of Hop events: a pane closes every Hop events and the
// window then holds exactly the last Size/Hop panes.
//
// It stores the cell of every event in a ring (two bytes per event), the
// per-cell counts over the ring, and the Welford moments of every pane, so
//   - an event costs a ring write, two count updates and a Welford step;
//   - a closed pane's events leave the window one at a time as new events
//     overwrite them, which keeps the counts exact without storing a count
//     array per pane;
//   - memory is fixed at construction: 2·Size bytes of ring, 2 bytes per
//     cell, 24 bytes per pane — independent of traffic. A count window
//     holds at most 65535 events; larger windows are event-time windows.
//
// A CountWindow is not safe for concurrent use.
type CountWindow struct {
	layout Layout
	hop    int

	ring   []uint16 // cell of each event, oldest at head once full
	head   int      // next write position
	filled int      // events in the ring (≤ len(ring))
	// Events per cell over the ring. A count window holds at most 65535
	// events, so 16-bit counters suffice: half the memory of the cell
	// array, which is what 10,000 windows in one process need.
	counts []uint16

	panes   []Moments // moments of closed panes, a ring of Size/Hop
	closed  uint64    // panes closed since the window started
	cur     Moments   // moments of the open pane
	inPane  int       // events in the open pane
	evicted uint64    // events that have left the window
}

// NewCountWindow returns an empty window of size events advancing by hop
// events. size must be a positive multiple of hop.
func NewCountWindow(layout Layout, size, hop int) (*CountWindow, error) {
	if err := layout.Validate(); err != nil {
		return nil, err
	}
	if err := ValidateCount(size, hop); err != nil {
		return nil, err
	}
	w := &CountWindow{
		layout: layout,
		hop:    hop,
		ring:   make([]uint16, size),
		panes:  make([]Moments, size/hop),
	}
	w.counts = make([]uint16, layout.Cells())
	return w, nil
}

// ValidateCount checks count-window settings.
func ValidateCount(size, hop int) error {
	switch {
	case size <= 0:
		return fmt.Errorf("window: size must be positive, got %d", size)
	case hop <= 0:
		return fmt.Errorf("window: hop must be positive, got %d", hop)
	case hop > size:
		return fmt.Errorf("window: hop %d must not exceed size %d", hop, size)
	case size%hop != 0:
		return fmt.Errorf("window: size %d must be a multiple of hop %d", size, hop)
	case size > math.MaxUint16:
		return fmt.Errorf("window: size %d is larger than the %d events a count window holds (use an event-time window)", size, math.MaxUint16)
	}
	return nil
}

// Layout is the window's cell layout.
func (w *CountWindow) Layout() Layout { return w.layout }

// Size is the window length in events.
func (w *CountWindow) Size() int { return len(w.ring) }

// Hop is the pane length in events.
func (w *CountWindow) Hop() int { return w.hop }

// Add records a valid numeric value x in value cell cell. It reports
// whether the event closed a pane, which is when the window should be
// evaluated.
func (w *CountWindow) Add(cell int, x float64) bool {
	w.cur.Add(x)
	return w.push(cell)
}

// AddCell records an event that has no numeric value: a categorical value,
// a missing or an invalid value. It reports whether a pane closed.
func (w *CountWindow) AddCell(cell int) bool { return w.push(cell) }

func (w *CountWindow) push(cell int) bool {
	if w.filled == len(w.ring) {
		w.counts[w.ring[w.head]]--
		w.evicted++
	} else {
		w.filled++
	}
	w.ring[w.head] = uint16(cell)
	w.counts[cell]++
	w.head++
	if w.head == len(w.ring) {
		w.head = 0
	}
	w.inPane++
	if w.inPane < w.hop {
		return false
	}
	w.panes[w.closed%uint64(len(w.panes))] = w.cur
	w.closed++
	w.cur = Moments{}
	w.inPane = 0
	return true
}

// N is the number of events in the window.
func (w *CountWindow) N() int { return w.filled }

// LastPane returns the pane that closed last: the cells of the last Hop
// events and their moments. Call it right after Add or AddCell reported a
// closed pane. It allocates the returned pane.
func (w *CountWindow) LastPane() Pane {
	if w.closed == 0 {
		return Pane{}
	}
	n := min(w.hop, w.filled)
	cells := make([]uint16, n)
	for i := range n {
		cells[i] = w.ring[(w.head-n+i+len(w.ring))%len(w.ring)]
	}
	slices.Sort(cells)
	p := Pane{Moments: w.panes[(w.closed-1)%uint64(len(w.panes))]}
	for _, c := range cells {
		if k := len(p.Counts); k > 0 && p.Counts[k-1].Cell == c {
			p.Counts[k-1].Count++
			continue
		}
		p.Counts = append(p.Counts, CellCount{Cell: c, Count: 1})
	}
	return p
}

// Counts returns the per-cell event counts of the window (value cells,
// then missing and invalid). The slice is the window's own: read it, do
// not keep or modify it.
func (w *CountWindow) Counts() []uint16 { return w.counts }

// Moments returns the moments of the valid numeric values of the closed
// panes in the window. Right after a pane closes these are exactly the
// values the counts hold.
func (w *CountWindow) Moments() Moments {
	var m Moments
	n := uint64(len(w.panes))
	if w.closed < n {
		n = w.closed
	}
	for i := w.closed - n; i < w.closed; i++ {
		m = m.Merge(w.panes[i%uint64(len(w.panes))])
	}
	return m
}

// Closed is the number of panes closed since the window started.
func (w *CountWindow) Closed() uint64 { return w.closed }

// SizeBytes is the memory held by the window's buffers.
func (w *CountWindow) SizeBytes() int {
	return 2*len(w.ring) + 2*len(w.counts) + 24*len(w.panes) + 128
}

// CountState is the complete state of a CountWindow, for checkpoints.
type CountState struct {
	Size, Hop int
	Cells     []uint16  // cells of the events in the ring, oldest first
	Panes     []Moments // moments of the closed panes still in the window, oldest first
	Closed    uint64
	Open      Moments // moments of the open pane
	InPane    int
	Evicted   uint64
}

// State returns a copy of the window's state.
func (w *CountWindow) State() CountState {
	s := CountState{
		Size:    len(w.ring),
		Hop:     w.hop,
		Cells:   make([]uint16, 0, w.filled),
		Closed:  w.closed,
		Open:    w.cur,
		InPane:  w.inPane,
		Evicted: w.evicted,
	}
	start := 0
	if w.filled == len(w.ring) {
		start = w.head
	}
	for i := 0; i < w.filled; i++ {
		s.Cells = append(s.Cells, w.ring[(start+i)%len(w.ring)])
	}
	n := uint64(len(w.panes))
	if w.closed < n {
		n = w.closed
	}
	for i := w.closed - n; i < w.closed; i++ {
		s.Panes = append(s.Panes, w.panes[i%uint64(len(w.panes))])
	}
	return s
}

// Header returns the window's state without its cells (Cells nil), for
// checkpoints that take the cells they need with AppendCells.
func (w *CountWindow) Header() CountState {
	s := CountState{Size: len(w.ring), Hop: w.hop, Closed: w.closed, Open: w.cur, InPane: w.inPane, Evicted: w.evicted}
	n := uint64(len(w.panes))
	if w.closed < n {
		n = w.closed
	}
	s.Panes = make([]Moments, 0, n)
	for i := w.closed - n; i < w.closed; i++ {
		s.Panes = append(s.Panes, w.panes[i%uint64(len(w.panes))])
	}
	return s
}

// AppendCells appends to dst the cells of n events the window holds,
// from the from-th oldest: State().Cells[from:from+n] without copying
// the rest. It panics if the window holds fewer than from+n events.
func (w *CountWindow) AppendCells(dst []uint16, from, n int) []uint16 {
	if from < 0 || n < 0 || from+n > w.filled {
		panic(fmt.Sprintf("window: cells %d..%d of %d held", from, from+n, w.filled))
	}
	start := 0
	if w.filled == len(w.ring) {
		start = w.head
	}
	i := (start + from) % len(w.ring)
	for n > 0 {
		k := min(n, len(w.ring)-i)
		dst = append(dst, w.ring[i:i+k]...)
		n -= k
		i = 0
	}
	return dst
}

// RestoreCount rebuilds a window from its state. It checks the state for
// consistency, so a corrupted checkpoint is an error, not a wrong window.
func RestoreCount(layout Layout, s CountState) (*CountWindow, error) {
	w, err := NewCountWindow(layout, s.Size, s.Hop)
	if err != nil {
		return nil, err
	}
	switch {
	case len(s.Cells) > s.Size:
		return nil, fmt.Errorf("window: state holds %d events for a window of %d", len(s.Cells), s.Size)
	case s.InPane < 0 || s.InPane >= s.Hop:
		return nil, fmt.Errorf("window: open pane holds %d events, hop is %d", s.InPane, s.Hop)
	case len(s.Panes) > len(w.panes) || uint64(len(s.Panes)) > s.Closed:
		return nil, fmt.Errorf("window: state holds %d panes, at most %d allowed", len(s.Panes), min(uint64(len(w.panes)), s.Closed))
	case uint64(len(s.Panes)) < min(uint64(len(w.panes)), s.Closed):
		return nil, errors.New("window: state is missing closed panes")
	case uint64(len(s.Cells)) != min(uint64(s.Size), s.Closed*uint64(s.Hop)+uint64(s.InPane)):
		return nil, fmt.Errorf("window: state holds %d events, its pane counts imply %d", len(s.Cells), min(uint64(s.Size), s.Closed*uint64(s.Hop)+uint64(s.InPane)))
	case s.Open.N > float64(s.InPane):
		return nil, errors.New("window: open pane moments count more values than events")
	}
	for i, c := range s.Cells {
		if int(c) >= layout.Cells() {
			return nil, fmt.Errorf("window: event %d in cell %d, layout has %d cells", i, c, layout.Cells())
		}
		w.ring[i] = c
		w.counts[c]++
	}
	w.filled = len(s.Cells)
	w.head = w.filled % len(w.ring)
	for i, p := range s.Panes {
		if p.N < 0 || p.N > float64(s.Hop) || p.M2 < 0 {
			return nil, fmt.Errorf("window: pane %d has impossible moments", i)
		}
		w.panes[(s.Closed-uint64(len(s.Panes))+uint64(i))%uint64(len(w.panes))] = p
	}
	w.closed = s.Closed
	w.cur = s.Open
	w.inPane = s.InPane
	w.evicted = s.Evicted
	return w, nil
}

// LastPaneCells returns the cells of the pane that closed last, in event
// order: the ring's last Hop entries, as two slices of the ring (the
// second is empty unless the pane wraps around its end). Call it right
// after Add or AddCell reported a closed pane; the slices are the
// window's own and valid until the next event. It does not allocate.
func (w *CountWindow) LastPaneCells() (first, second []uint16) {
	first, second, _ = w.PaneCells(w.closed - 1)
	return first, second
}

// PaneCells returns the cells of closed pane i (panes are numbered from 0
// since the window started, as Closed counts them), in event order, as
// LastPaneCells does for the last one. ok is false, and the slices nil,
// when pane i is not closed or some of its events have left the window
// (the oldest pane while the open one fills). It does not allocate.
func (w *CountWindow) PaneCells(i uint64) (first, second []uint16, ok bool) {
	// The events since the start are the closed panes' and the open
	// pane's; the newest is at head−1 and pane i's first is back from
	// it by total − i·hop.
	hop := uint64(w.hop)
	total := w.closed*hop + uint64(w.inPane)
	if i >= w.closed || total-i*hop > uint64(w.filled) {
		return nil, nil, false
	}
	start := w.head - int(total-i*hop)
	if start < 0 {
		start += len(w.ring)
	}
	end := start + w.hop
	if end <= len(w.ring) {
		return w.ring[start:end], nil, true
	}
	return w.ring[start:], w.ring[:end-len(w.ring)], true
}
