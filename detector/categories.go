package detector

import "math"

// otherShare is the expected share of future values outside a categorical
// reference's kept categories. When the reference kept every category it
// saw, the share of the "other" cell in the reference is 0, yet new
// categories keep coming: the Good–Turing estimate of the missing mass,
// N1/m (N1 the categories seen exactly once), estimates how often. When
// the reference has a tail in "other", its share Other/m already counts
// values outside the kept set, new ones included. So the share is
// max(Other, N1, 1)/m: the floor of one value in m leaves room for a new
// category now and then even without singletons. Raising it further would
// make the two-sided chi-square fire on windows with fewer "other" values
// than expected.
func otherShare(f *FeatureRef) float64 {
	if f.Count == 0 {
		return 0
	}
	var singletons int64
	for _, c := range f.Categories {
		if c.Count == 1 {
			singletons++
		}
	}
	return float64(max(f.Other, singletons, 1)) / float64(f.Count)
}

// otherChi2 is the chi-square test of a window whose "other" cell (values
// outside the reference's kept categories) expects fewer than 5 values:
// there the chi-square approximation would fail, and pooling the cell
// would dilute a new category among old ones. The other cell gets its own
// exact one-sided binomial test against its expected share (see
// otherShare), the kept categories a chi-square among
// themselves, and the p-value is the Bonferroni combination of the two.
func (c *compiled) otherChi2(s *Snapshot, n int64, r *Result) {
	k := c.otherCell()
	other := s.count(k)
	pOther := BinomialSF(other, n, c.props[k])
	pKnown := 1.0
	if known := n - other; known > 0 {
		obs, exp := pool(s, c.known, float64(known), c.scrat)
		if len(obs) >= 2 {
			stat, df, pv := ChiSquareGOF(obs, exp)
			r.Statistic, r.DF, pKnown = stat, float64(df), pv
		}
	}
	r.PValue = math.Min(1, 2*math.Min(pOther, pKnown))
}
