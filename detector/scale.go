package detector

import (
	"math"

	"github.com/driftd/driftd/detector/celltest"
)

// scaleTest tests the window's spread against the reference's on the
// reference cells (see celltest.NewScale): the window's mean absolute
// deviation G_w of its cell scores from the reference median, against the
// null distribution of that mean derived from the reference — valid in
// the tails for any shape, like the mean test. The effect is
// |log(G_w/G_ref)|, the log of the dispersion ratio (a variance × 1.5 is
// about 0.2); below the resolve band of its gate the p-value is the
// normal approximation.
func (c *compiled) scaleTest(s Snapshot, p *Policy) (Result, bool) {
	if c.scale == nil {
		return Result{}, false
	}
	w := c.cellScores(&s).scale
	if w.N < 2 {
		return Result{}, false
	}
	ref := c.scale.Centre()
	// G_w = G_ref + D·sd; an all-at-the-median window has G_w = 0, whose
	// log ratio is capped at a millionth of G_ref.
	win := math.Max(ref+w.D*c.scale.SD(), ref*1e-6)
	r := Result{
		Statistic: w.D / math.Sqrt(1/float64(w.N)+1/float64(c.ref.Count)),
		Effect:    math.Abs(math.Log(win / ref)), N: w.N, Reference: ref,
	}
	if gate := p.gate(TestScale); gate > 0 && r.Effect < p.ResolveFactor*gate {
		r.PValue, r.Method = c.scale.NormalPValue(w), celltest.MethodNormal
		return r, true
	}
	c.tailResult(&r, c.scale, w)
	return r, true
}

// cellScores are a window's positions for the mean and scale tests,
// computed the first time either test asks during an evaluation: from
// the window's score sums when the snapshot has them, else in one pass
// over the cells.
type cellScores struct {
	done        bool
	mean, scale celltest.Window
}

func (c *compiled) cellScores(s *Snapshot) *cellScores {
	cs := &c.scores
	if cs.done {
		return cs
	}
	cs.done = true
	switch {
	case s.sums != nil:
		cs.mean = c.mean.PaneWindow(s.sums.Mean)
		if c.scale != nil {
			cs.scale = c.scale.PaneWindow(s.sums.Scale)
		}
	case c.mean == nil:
		if c.scale != nil {
			cs.scale = scoreOne(c.scale, s)
		}
	default:
		if s.Counts16 != nil {
			cs.mean, cs.scale = celltest.ScorePair(c.mean, c.scale, s.Counts16)
		} else {
			cs.mean, cs.scale = celltest.ScorePair(c.mean, c.scale, s.Counts)
		}
	}
	return cs
}

func scoreOne(t *celltest.Mean, s *Snapshot) celltest.Window {
	if s.Counts16 != nil {
		return celltest.Score(t, s.Counts16)
	}
	return celltest.Score(t, s.Counts)
}
