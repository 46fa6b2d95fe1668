package detector

import (
	"github.com/driftd/driftd/detector/ksdist"
)

// critTable caches KS critical values by (distribution, sizes, level). A
// count window has a fixed n and a feature a fixed threshold, so each
// feature needs a handful of entries: one per level (threshold, the
// resolve side's √threshold, the severe threshold) and per valid count the
// window has seen. The entries are shared by the features of a monitor, so
// features with the same reference size share their searches. The table
// is not safe for concurrent use (nor is the monitor that owns it).
type critTable struct {
	kolmogorovD map[critKey]float64
	twoSampleH  map[critKey]int64
	// cusumH: CUSUM thresholds by (k, bias variance, level).
	cusumH map[[3]float64]float64
	// direct: decide by the p-value itself, computed once per
	// evaluation. Time windows use it: their n and threshold follow the
	// traffic, so a cached critical value would rarely be used twice and
	// each search costs several p-values.
	direct bool
}

type critKey struct {
	method ksdist.Method // two-sample only
	n, m   int           // kstwo: n = n_eff, m = 0
	level  float64
}

// critTableMax bounds each map; past it the map starts afresh (time
// windows, whose n changes with the traffic, would otherwise grow it).
const critTableMax = 4096

func newCritTable() *critTable {
	return &critTable{kolmogorovD: map[critKey]float64{}, twoSampleH: map[critKey]int64{}, cusumH: map[[3]float64]float64{}}
}

// kolmogorov returns the smallest D with kstwo.sf(neff, D) < level.
func (t *critTable) kolmogorov(neff int, level float64) float64 {
	k := critKey{n: neff, level: level}
	if v, ok := t.kolmogorovD[k]; ok {
		return v
	}
	v := ksdist.KolmogorovCritical(neff, level)
	if len(t.kolmogorovD) >= critTableMax {
		clear(t.kolmogorovD)
	}
	t.kolmogorovD[k] = v
	return v
}

// twoSampH returns the smallest lattice distance h with
// ksdist.TwoSampPValueH(h, n, m, method) < level (lcm+1 if none).
func (t *critTable) twoSampH(n, m int, level float64, method ksdist.Method) int64 {
	k := critKey{method: method, n: n, m: m, level: level}
	if v, ok := t.twoSampleH[k]; ok {
		return v
	}
	v := ksdist.TwoSampCriticalH(n, m, level, method)
	if len(t.twoSampleH) >= critTableMax {
		clear(t.twoSampleH)
	}
	t.twoSampleH[k] = v
	return v
}
