package detector

import (
	"github.com/driftd/driftd/detector/celltest"
	"github.com/driftd/driftd/window"
)

// Count windows, stage 2 and event-time windows (of at most
// maxTimePaneSums panes) give the mean and scale tests their window's
// cell-score sums from per-pane sums: a pane's are summed once, when it
// closes (count windows: from its events' cells; stage 2 and event-time
// windows: from its sparse cell counts, only the cells it touched), and
// an evaluation adds up the ≤ Size/Hop panes the window holds —
// O(Hop + Size/Hop) instead of a pass over the 2r+1 cells (at r = 1000
// ≈ 10,000 instructions for a pane of 125 events instead of ≈ 46,000 over
// 16-bit cells). The window's sums are added up afresh from the panes at
// every evaluation rather than kept as a running total, so no rounding
// error accumulates; both modes sum a pane in
// increasing cell order and the panes oldest first, so they compute the
// same bits. The sums are derived data: a restored window's are
// recomputed from its cells or panes, not checkpointed.
//
// An event-time pane takes events until the watermark closes it, late
// ones (within the allowed lateness) too, but the window evaluated is
// its PaneWindow of closed panes, which never change: an event whose pane
// has closed is late and dropped (window.TimeClock). So a time pane is
// summed once, at Close, like a stage-2 pane, and no sum goes stale.

// newPaneScores returns the ring of pane sums of a window of panes
// panes, or nil for a feature without mean test (a categorical or
// constant one; no mean test, no scale test).
func newPaneScores(c *compiled, panes int) []celltest.PairSum {
	if c.mean == nil {
		return nil
	}
	return make([]celltest.PairSum, panes)
}

// maxTimePaneSums is the most panes of an event-time window that are
// summed (it may have 4096): adding up the pane sums costs ≈ 37
// instructions a pane per evaluation, so past ≈ 1000 panes the pass over
// the cells (≈ 37,000 at r = 1000) is cheaper, and the window keeps it.
const maxTimePaneSums = 512

// newTimePaneScores is newPaneScores for an event-time window of panes
// panes: nil past maxTimePaneSums.
func newTimePaneScores(c *compiled, panes int) []celltest.PairSum {
	if panes > maxTimePaneSums {
		return nil
	}
	return newPaneScores(c, panes)
}

// countSnapshot is the snapshot of a count window whose pane just closed:
// it sums that pane's scores and gives the tests the window's sums (right
// after a close the window holds exactly its last closed panes).
func (f *featureState) countSnapshot(scratch *paneScratch) Snapshot {
	s := Snapshot{Counts16: f.cw.Counts(), Moments: f.cw.Moments(), Centre: f.c.centre, N: int64(f.cw.N())}
	if f.panes != nil {
		f.sumPane(f.cw.Closed()-1, scratch)
		s.sums = f.windowSums(f.cw.Closed())
	}
	return s
}

// timeSnapshot is the snapshot of an event-time window whose pane just
// closed.
func (f *featureState) timeSnapshot(scratch *paneScratch) Snapshot {
	return f.paneSnapshot(f.tw.Closed(), scratch)
}

// paneSnapshot is the snapshot of a window of panes pw (stage 2, or an
// event-time window's closed panes) right after a pane was pushed: it
// sums that pane's scores and gives the tests the window's sums.
func (f *featureState) paneSnapshot(pw *window.PaneWindow, scratch *paneScratch) Snapshot {
	s := Snapshot{Counts: pw.Counts(), Moments: pw.Moments(), Centre: f.c.centre, N: int64(pw.N())}
	if f.panes != nil {
		f.sumCounts(pw.Pushed()-1, pw.Last(), scratch)
		s.sums = f.windowSums(pw.Pushed())
	}
	return s
}

// paneWindow is the window of panes of a stage-2 or event-time feature,
// nil for a count window.
func (f *featureState) paneWindow() *window.PaneWindow {
	switch {
	case f.pw != nil:
		return f.pw
	case f.tw != nil:
		return f.tw.Closed()
	}
	return nil
}

// windowSums adds up the sums of the panes a window holds after closed
// panes, oldest first.
func (f *featureState) windowSums(closed uint64) *celltest.PairSum {
	f.sums = celltest.PairSum{}
	for i := closed - min(closed, uint64(len(f.panes))); i < closed; i++ {
		f.sums.Add(f.panes[i%uint64(len(f.panes))])
	}
	return &f.sums
}

// slot returns pane i's sums, emptied.
func (f *featureState) slot(i uint64) *celltest.PairSum {
	p := &f.panes[i%uint64(len(f.panes))]
	*p = celltest.PairSum{}
	return p
}

// sumPanes recomputes the pane sums of a restored window.
func (f *featureState) sumPanes() {
	if f.panes == nil {
		return
	}
	var scratch paneScratch
	if pw := f.paneWindow(); pw != nil {
		panes := pw.Panes()
		for i := range panes {
			f.sumCounts(pw.Pushed()-uint64(len(panes)-i), &panes[i], &scratch)
		}
		return
	}
	closed := f.cw.Closed()
	for i := closed - min(closed, uint64(len(f.panes))); i < closed; i++ {
		f.sumPane(i, &scratch)
	}
}

// paneScratch counts a pane's events per cell for celltest.AddCounted: a
// count per cell and a bitmap of the cells seen, shared by a monitor's
// features (grown to the largest layout). Reading the counts back through
// the bitmap sums a pane in increasing cell order, however it came (the
// events of a count window's pane, a stage-2 pane's counts), so both
// modes compute the same bits, and costs no sort.
type paneScratch struct {
	counts []uint32
	seen   []uint64
}

func (sc *paneScratch) grow(cells int) {
	if len(sc.counts) < cells {
		sc.counts = make([]uint32, cells)
		sc.seen = make([]uint64, (cells+63)/64)
	}
}

func (sc *paneScratch) add(c int, k uint32) {
	sc.counts[c] += k
	sc.seen[c>>6] |= 1 << (c & 63)
}

// addCells counts one event in each of cells.
func (sc *paneScratch) addCells(cells []uint16) {
	counts, seen := sc.counts, sc.seen
	for _, c := range cells {
		counts[c]++
		seen[c>>6] |= 1 << (c & 63)
	}
}

// sum adds the counted events to s and clears the scratch.
func (f *featureState) sum(s *celltest.PairSum, sc *paneScratch) {
	celltest.AddCounted(f.c.mean, f.c.scale, s, sc.counts, sc.seen)
}

// sumCounts sums pane i, p, of a window of panes from its counts.
func (f *featureState) sumCounts(i uint64, p *window.Pane, scratch *paneScratch) {
	s := f.slot(i)
	scratch.grow(f.c.layout.Cells())
	for _, c := range p.Counts {
		scratch.add(int(c.Cell), c.Count)
	}
	f.sum(s, scratch)
}

// sumPane sums closed pane i of the count window from its events' cells.
// A pane some of whose events have left the window is left at zero: the
// window drops the rest of it at the next pane close, before the next
// evaluation.
func (f *featureState) sumPane(i uint64, scratch *paneScratch) {
	s := f.slot(i)
	first, second, ok := f.cw.PaneCells(i)
	if !ok {
		return
	}
	scratch.grow(f.c.layout.Cells())
	scratch.addCells(first)
	scratch.addCells(second)
	f.sum(s, scratch)
}
