package detector

import (
	"math/bits"

	"github.com/driftd/driftd/detector/celltest"
	"github.com/driftd/driftd/window"
)

// Count windows and stage 2 give the mean and scale tests their window's
// cell-score sums from per-pane sums: a pane's are summed once, when it
// closes (count windows: from its events' cells; stage 2: from its cell
// counts), and an evaluation adds up the ≤ Size/Hop panes the window
// holds — O(Hop + Size/Hop) instead of a pass over the 2r+1 cells
// (≈ 37,000 instructions at r = 1000). The window's sums are added up
// afresh from the panes at every evaluation rather than kept as a running
// total, so no rounding error accumulates; both modes sum a pane in
// increasing cell order and the panes oldest first, so they compute the
// same bits. The sums are derived data: a restored window's are
// recomputed from its cells or panes, not checkpointed. Event-time
// windows keep the pass over the counts.

// paneScores are the mean and scale tests' score sums of one pane's
// events, or of a window's.
type paneScores struct{ mean, scale celltest.PaneSum }

func (p *paneScores) add(o paneScores) {
	p.mean.Add(o.mean)
	p.scale.Add(o.scale)
}

// newPaneScores returns the ring of pane sums of a window of panes
// panes, or nil for a feature without mean or scale test (a categorical
// or constant one).
func newPaneScores(c *compiled, panes int) []paneScores {
	if c.mean == nil && c.scale == nil {
		return nil
	}
	return make([]paneScores, panes)
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

// stageSnapshot is the snapshot of a stage-2 window after p, its newest
// pane, was pushed.
func (f *featureState) stageSnapshot(p *window.Pane) Snapshot {
	s := Snapshot{Counts: f.pw.Counts(), Moments: f.pw.Moments(), Centre: f.c.centre, N: int64(f.pw.N())}
	if f.panes != nil {
		f.sumCounts(f.pw.Pushed()-1, p)
		s.sums = f.windowSums(f.pw.Pushed())
	}
	return s
}

// windowSums adds up the sums of the panes a window holds after closed
// panes, oldest first.
func (f *featureState) windowSums(closed uint64) *paneScores {
	f.sums = paneScores{}
	for i := closed - min(closed, uint64(len(f.panes))); i < closed; i++ {
		f.sums.add(f.panes[i%uint64(len(f.panes))])
	}
	return &f.sums
}

// slot returns pane i's sums, emptied.
func (f *featureState) slot(i uint64) *paneScores {
	p := &f.panes[i%uint64(len(f.panes))]
	*p = paneScores{}
	return p
}

// addCell adds k events of cell c to pane sums p.
func (f *featureState) addCell(p *paneScores, c int, k int64) {
	if f.c.mean != nil {
		f.c.mean.AddCell(&p.mean, c, k)
	}
	if f.c.scale != nil {
		f.c.scale.AddCell(&p.scale, c, k)
	}
}

// sumPanes recomputes the pane sums of a restored window.
func (f *featureState) sumPanes() {
	if f.panes == nil {
		return
	}
	if f.pw != nil {
		panes := f.pw.Panes()
		for i := range panes {
			f.sumCounts(f.pw.Pushed()-uint64(len(panes)-i), &panes[i])
		}
		return
	}
	var scratch paneScratch
	closed := f.cw.Closed()
	for i := closed - min(closed, uint64(len(f.panes))); i < closed; i++ {
		f.sumPane(i, &scratch)
	}
}

// sumCounts sums stage-2 pane i, p, from its counts (in cell order).
func (f *featureState) sumCounts(i uint64, p *window.Pane) {
	s := f.slot(i)
	for _, c := range p.Counts {
		f.addCell(s, int(c.Cell), int64(c.Count))
	}
}

// sumPane sums closed pane i of the count window from its events' cells,
// counted into scratch and read back in increasing cell order (no sort).
// A pane some of whose events have left the window is left at zero: the
// window drops the rest of it at the next pane close, before the next
// evaluation.
func (f *featureState) sumPane(i uint64, scratch *paneScratch) {
	s := f.slot(i)
	first, second, ok := f.cw.PaneCells(i)
	if !ok {
		return
	}
	cells := f.c.layout.Cells()
	if len(scratch.counts) < cells {
		scratch.counts = make([]uint16, cells)
		scratch.seen = make([]uint64, (cells+63)/64)
	}
	for _, part := range [2][]uint16{first, second} {
		for _, c := range part {
			scratch.counts[c]++
			scratch.seen[c>>6] |= 1 << (c & 63)
		}
	}
	for wi := range (cells + 63) / 64 {
		word := scratch.seen[wi]
		for word != 0 {
			c := wi<<6 | bits.TrailingZeros64(word)
			f.addCell(s, c, int64(scratch.counts[c]))
			scratch.counts[c] = 0
			word &= word - 1
		}
		scratch.seen[wi] = 0
	}
}
