package window

import (
	"fmt"
)

// TimeClock assigns events to panes of event time and decides when panes
// close. Times are integers in a unit the caller chooses (driftd uses Unix
// milliseconds); the clock never reads a real clock.
//
// Pane k covers [k·Hop, (k+1)·Hop). The watermark is the largest event
// time seen minus the allowed lateness; pane k closes once the watermark
// reaches its end. An event whose pane has already closed is late: the
// clock reports it so the caller counts it instead of silently dropping it.
//
// An event further ahead of the watermark than the clock's maximum future
// (SetMaxFuture) is future: Future reports it, and the caller counts it
// instead of letting one bogus timestamp — a day ahead — move the
// watermark and make every later event late. FutureAccept consecutive
// future events are taken as a real jump of event time (a stream
// resuming after a pause longer than the bound): the last of them is
// accepted.
type TimeClock struct {
	size, hop, lateness int64
	started             bool
	maxTime             int64
	next                int64 // oldest pane not yet closed
	maxFuture           int64 // 0: no bound
	futureRun           int   // consecutive future events
}

// FutureAccept is the number of consecutive future events after which the
// clock accepts the last one as a real jump of event time.
const FutureAccept = 8

// SetMaxFuture bounds how far ahead of the watermark an event may be
// (see Future); 0 removes the bound.
func (c *TimeClock) SetMaxFuture(d int64) { c.maxFuture = max(d, 0) }

// Future reports whether an event at time t is further than the maximum
// future ahead of the watermark; call it before Observe and skip the event
// when it reports true. The first event, with no watermark yet, is never
// future; neither is the FutureAccept-th future event in a row.
func (c *TimeClock) Future(t int64) bool {
	if !c.started || c.maxFuture == 0 || t-c.Watermark() <= c.maxFuture {
		c.futureRun = 0
		return false
	}
	c.futureRun++
	if c.futureRun >= FutureAccept {
		c.futureRun = 0
		return false
	}
	return true
}

// NewTimeClock returns a clock for windows of size time units advancing by
// hop, with the given allowed lateness. size must be a positive multiple
// of hop and lateness non-negative.
func NewTimeClock(size, hop, lateness int64) (*TimeClock, error) {
	if err := ValidateTime(size, hop, lateness); err != nil {
		return nil, err
	}
	return &TimeClock{size: size, hop: hop, lateness: lateness}, nil
}

// ValidateTime checks time-window settings.
func ValidateTime(size, hop, lateness int64) error {
	switch {
	case size <= 0:
		return fmt.Errorf("window: time size must be positive, got %d", size)
	case hop <= 0:
		return fmt.Errorf("window: time hop must be positive, got %d", hop)
	case hop > size:
		return fmt.Errorf("window: time hop %d must not exceed size %d", hop, size)
	case size%hop != 0:
		return fmt.Errorf("window: time size %d must be a multiple of hop %d", size, hop)
	case size/hop > 4096:
		return fmt.Errorf("window: %d panes per window is more than the supported 4096", size/hop)
	case lateness < 0:
		return fmt.Errorf("window: lateness must not be negative, got %d", lateness)
	case lateness/hop > 64:
		return fmt.Errorf("window: lateness %d spans more than 64 hops of %d", lateness, hop)
	}
	return nil
}

// Panes is the number of panes in a window.
func (c *TimeClock) Panes() int { return int(c.size / c.hop) }

// OpenSlots is the most panes that can be open at once.
func (c *TimeClock) OpenSlots() int { return int(c.lateness/c.hop) + 3 }

// PaneOf is the pane that holds time t.
func (c *TimeClock) PaneOf(t int64) int64 {
	k := t / c.hop
	if t%c.hop != 0 && t < 0 {
		k--
	}
	return k
}

// PaneStart is the start time of pane k.
func (c *TimeClock) PaneStart(k int64) int64 { return k * c.hop }

// Observe records an event at time t and returns its pane, or late = true
// when that pane has already closed. Call Due (and close the due panes)
// before adding the event to its pane.
func (c *TimeClock) Observe(t int64) (pane int64, late bool) {
	pane = c.PaneOf(t)
	if !c.started {
		c.started = true
		c.maxTime = t
		c.next = pane
		return pane, false
	}
	if pane < c.next {
		return pane, true
	}
	if t > c.maxTime {
		c.maxTime = t
	}
	return pane, false
}

// Watermark is the largest event time seen minus the allowed lateness.
func (c *TimeClock) Watermark() int64 { return c.maxTime - c.lateness }

// Due returns the oldest open pane if the watermark has passed its end.
// The caller closes it and calls Advance; repeat until Due reports false.
// After a jump in event time longer than a window, Due skips the panes that
// would be empty anyway so a bogus timestamp cannot make the caller loop.
func (c *TimeClock) Due() (pane int64, ok bool) {
	if !c.started {
		return 0, false
	}
	wm := c.Watermark()
	if (c.next+1)*c.hop > wm {
		return 0, false
	}
	// Panes ending at or before the watermark are due. If more are due
	// than a window and the open slots hold, the oldest are empty of any
	// event that could still count: skip to keep the loop bounded.
	lastDue := c.PaneOf(wm) - 1
	if span := int64(c.Panes() + c.OpenSlots()); lastDue-c.next > span {
		c.next = lastDue - span
	}
	return c.next, true
}

// Advance marks the pane returned by Due as closed.
func (c *TimeClock) Advance() { c.next++ }

// ClockState is the state of a TimeClock, for checkpoints.
type ClockState struct {
	Started bool
	MaxTime int64
	Next    int64
}

// State returns the clock's state.
func (c *TimeClock) State() ClockState {
	return ClockState{Started: c.started, MaxTime: c.maxTime, Next: c.next}
}

// Restore sets the clock's state.
func (c *TimeClock) Restore(s ClockState) {
	c.started, c.maxTime, c.next = s.Started, s.MaxTime, s.Next
}

// TimeWindow is one feature's window over event time: open panes being
// filled (at most TimeClock.OpenSlots of them) and a PaneWindow of closed
// panes. A TimeClock shared by the features of a model drives it.
type TimeWindow struct {
	layout Layout
	open   []*PaneBuilder // by pane id modulo len(open); allocated on first use
	openID []int64        // pane id held by each slot, −1 when free
	closed *PaneWindow
	// closedThrough is the newest pane this window has closed; Close is
	// idempotent for older panes, which keeps restore after a partial
	// checkpoint exact.
	closedThrough int64
	haveClosed    bool
}

// NewTimeWindow returns an empty window for the panes of clock.
func NewTimeWindow(layout Layout, clock *TimeClock) (*TimeWindow, error) {
	pw, err := NewPaneWindow(layout, clock.Panes())
	if err != nil {
		return nil, err
	}
	w := &TimeWindow{
		layout: layout,
		open:   make([]*PaneBuilder, clock.OpenSlots()),
		openID: make([]int64, clock.OpenSlots()),
		closed: pw,
	}
	for i := range w.openID {
		w.openID[i] = -1
	}
	return w, nil
}

// Layout is the window's cell layout.
func (w *TimeWindow) Layout() Layout { return w.layout }

func (w *TimeWindow) slot(pane int64) *PaneBuilder {
	i := int(uint64(pane) % uint64(len(w.open)))
	b := w.open[i]
	if b == nil {
		b = NewPaneBuilder(w.layout)
		w.open[i] = b
	}
	if w.openID[i] != pane {
		// The slot held an older pane that was never closed (its
		// events arrived after the clock skipped it): it is stale.
		b.Reset()
		w.openID[i] = pane
	}
	return b
}

// Add records a valid numeric value in pane.
func (w *TimeWindow) Add(pane int64, cell int, x float64) { w.slot(pane).Add(cell, x) }

// AddCell records an event without a numeric value in pane.
func (w *TimeWindow) AddCell(pane int64, cell int) { w.slot(pane).AddCell(cell) }

// Close closes pane (adding it to the window even when empty) and reports
// whether it did; closing a pane at or before one already closed does
// nothing.
func (w *TimeWindow) Close(pane int64) bool {
	if w.haveClosed && pane <= w.closedThrough {
		return false
	}
	i := int(uint64(pane) % uint64(len(w.open)))
	var p Pane
	if w.openID[i] == pane && w.open[i] != nil {
		p = w.open[i].Pane()
		w.open[i].Reset()
		w.openID[i] = -1
	}
	w.closed.Push(p)
	w.closedThrough, w.haveClosed = pane, true
	return true
}

// Closed is the window of closed panes, for reading its panes (the
// caller sums each as it closes); panes enter it by Close only.
func (w *TimeWindow) Closed() *PaneWindow { return w.closed }

// N is the number of events in the closed panes of the window.
func (w *TimeWindow) N() uint64 { return w.closed.N() }

// Counts returns the per-cell totals of the closed panes; read only.
func (w *TimeWindow) Counts() []uint32 { return w.closed.Counts() }

// Moments merges the moments of the closed panes.
func (w *TimeWindow) Moments() Moments { return w.closed.Moments() }

// TimeState is the state of a TimeWindow, for checkpoints.
type TimeState struct {
	Open          []OpenPane
	Closed        []Pane // oldest first
	Pushed        uint64
	ClosedThrough int64
	HaveClosed    bool
}

// OpenPane is a pane still being filled.
type OpenPane struct {
	ID   int64
	Pane Pane
}

// State returns a copy of the window's state.
func (w *TimeWindow) State() TimeState {
	s := TimeState{
		Closed:        w.closed.Panes(),
		Pushed:        w.closed.Pushed(),
		ClosedThrough: w.closedThrough,
		HaveClosed:    w.haveClosed,
	}
	for i, b := range w.open {
		if b != nil && w.openID[i] >= 0 && b.N() > 0 {
			s.Open = append(s.Open, OpenPane{ID: w.openID[i], Pane: b.Pane()})
		}
	}
	return s
}

// RestoreTime rebuilds a window from its state.
func RestoreTime(layout Layout, clock *TimeClock, s TimeState) (*TimeWindow, error) {
	w, err := NewTimeWindow(layout, clock)
	if err != nil {
		return nil, err
	}
	pw, err := RestorePaneWindow(layout, clock.Panes(), s.Closed, s.Pushed)
	if err != nil {
		return nil, err
	}
	w.closed = pw
	w.closedThrough, w.haveClosed = s.ClosedThrough, s.HaveClosed
	if len(s.Open) > len(w.open) {
		return nil, fmt.Errorf("window: %d open panes, at most %d allowed", len(s.Open), len(w.open))
	}
	for _, op := range s.Open {
		if op.ID < 0 {
			return nil, fmt.Errorf("window: open pane id %d is negative", op.ID)
		}
		if err := op.Pane.Validate(layout); err != nil {
			return nil, fmt.Errorf("open pane %d: %w", op.ID, err)
		}
		i := int(uint64(op.ID) % uint64(len(w.open)))
		if w.openID[i] >= 0 {
			return nil, fmt.Errorf("window: open panes %d and %d share a slot", w.openID[i], op.ID)
		}
		b := w.slot(op.ID)
		for _, c := range op.Pane.Counts {
			if b.counts[c.Cell] == 0 {
				b.touched = append(b.touched, c.Cell)
			}
			b.counts[c.Cell] += c.Count
			b.n += uint64(c.Count)
		}
		b.moments = op.Pane.Moments
	}
	return w, nil
}
