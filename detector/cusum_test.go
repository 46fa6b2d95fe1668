package detector

import (
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"

	"github.com/driftd/driftd/detector/celltest"
	"github.com/driftd/driftd/detector/sequential"
	"github.com/driftd/driftd/window"
)

// TestPaneZShapes: the normal score of a pane (celltest PaneZ on the
// pane's cells) is standard normal under the null for every numeric
// shape of the H0 suite, whatever its skew or discreteness: over 10,000
// panes of 125 fresh values against a 50,000-row reference, its mean is
// within 4 standard errors of 0 (plus the reference's own bias, sd
// √(125/50,000) = 0.05, which every pane shares), its standard deviation
// within [0.85, 1.06] (the mid-p score of a discrete mean is a little
// narrower than the randomized one, which is exactly N(0, 1)), and its
// upper and lower 1 % and 0.1 % tails no heavier than the normal's
// beyond 4 binomial standard errors plus 50 % (these tails are what the
// CUSUM's false-alarm rate rests on).
func TestPaneZShapes(t *testing.T) {
	if testing.Short() {
		t.Skip("simulation")
	}
	rng := rand.New(rand.NewPCG(41, 43))
	const hop, panes, refRows = 125, 10_000, 50_000
	for _, sh := range h0Shapes() {
		if sh.categorical || sh.name == "constant" {
			continue
		}
		t.Run(sh.name, func(t *testing.T) {
			mean, breaks := shapeMean(t, sh.gen, rng, refRows)
			cells := make([]uint16, hop)
			var sum, sum2 float64
			var up2, up3, lo2, lo3 int
			table := mean.NewPaneTable(hop)
			worst := 0.0
			for range panes {
				for i := range cells {
					cells[i] = uint16(breaks.Cell(sh.gen(rng).Num))
				}
				w := celltest.PaneScore(mean, cells, nil)
				z := mean.PaneZ(w)
				// The table the monitor uses agrees with the direct score.
				if zt := mean.PaneZTable(table, w); math.Abs(zt-z) > worst {
					worst = math.Abs(zt - z)
				}
				sum += z
				sum2 += z * z
				switch {
				case z > 3.09:
					up3++
					up2++
				case z > 2.326:
					up2++
				case z < -3.09:
					lo3++
					lo2++
				case z < -2.326:
					lo2++
				}
			}
			if worst > 1e-3 {
				t.Errorf("table and direct pane scores differ by up to %.2g", worst)
			}
			m := sum / panes
			sd := math.Sqrt(sum2/panes - m*m)
			t.Logf("%s: mean %.4f sd %.4f; beyond ±2.326: %d/%d, beyond ±3.09: %d/%d (normal: %d, %d)", sh.name, m, sd, lo2, up2, lo3, up3, panes/100, panes/1000)
			if math.Abs(m) > 4/math.Sqrt(panes)+4*math.Sqrt(float64(hop)/refRows) {
				t.Errorf("mean %.4f: not centred", m)
			}
			if sd < 0.85 || sd > 1.06 {
				t.Errorf("sd %.4f: not standard", sd)
			}
			bound := func(p float64) int { return int(1.5*p*panes + 4*math.Sqrt(p*panes)) }
			for _, c := range []struct {
				name string
				n    int
				p    float64
			}{{"upper 1 %", up2, 0.01}, {"lower 1 %", lo2, 0.01}, {"upper 0.1 %", up3, 0.001}, {"lower 0.1 %", lo3, 0.001}} {
				if c.n > bound(c.p) {
					t.Errorf("%s tail: %d panes, normal %g, bound %d", c.name, c.n, c.p*panes, bound(c.p))
				}
			}
		})
	}
}

// poissonLower is the largest k with P(Poisson(lambda) ≤ k) ≤ level: a
// count of k or less fails.
func poissonLower(lambda, level float64) int {
	term := math.Exp(-lambda)
	cdf := term
	k := 0
	for cdf <= level {
		k++
		term *= lambda / float64(k)
		cdf += term
	}
	return k - 1
}

// TestCUSUMH0Shapes is the cusum test's false-alarm check over the H0
// suite's numeric shapes, sharper than TestH0Shapes can be at its α: per
// shape, 4 references of 50,000 rows (the rate is an average over the
// references' sampling error, see sequential.Rate) and 10,000 panes of
// MinCUSUMPane (100) fresh values each — the smallest panes the test runs
// on, where the saddlepoint errs most — scored as the monitor scores them
// and fed to a two-sided CUSUM with the default k (shift 0.25:
// k = 0.25·√100/2 = 1.25) and the h of a
// target rate of 2e-3 signals per pane, restarting after each signal. The
// expected count is λ = 80; a shape fails when its count reaches the
// Poisson(λ) upper 1e-4 point (8 shapes: a valid detector fails with
// probability below 0.1 %). The normal shape must also stay above the
// lower 1e-4 point: the threshold is calibrated, not merely
// conservative. (Discrete and skewed shapes signal less: their mid-p
// scores are narrower than N(0, 1).) DRIFTD_TEST_CUSUM_PANES sets the
// panes per reference (default 10,000).
func TestCUSUMH0Shapes(t *testing.T) {
	if testing.Short() {
		t.Skip("simulation")
	}
	panes := 10_000
	if v := os.Getenv("DRIFTD_TEST_CUSUM_PANES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1000 {
			t.Fatalf("DRIFTD_TEST_CUSUM_PANES=%q: want an integer ≥ 1000", v)
		}
		panes = n
	}
	const hop, refs, refRows, rate = MinCUSUMPane, 4, 50_000, 2e-3
	k := DefaultPolicy().CUSUMShift * math.Sqrt(hop) / 2
	h, err := sequential.Threshold(k, float64(hop)/refRows, rate)
	if err != nil {
		t.Fatal(err)
	}
	lambda := float64(refs*panes) * rate
	upper, lower := poissonUpper(lambda, 1e-4), poissonLower(lambda, 1e-4)
	rng := rand.New(rand.NewPCG(47, 53))
	for _, sh := range h0Shapes() {
		if sh.categorical || sh.name == "constant" {
			continue
		}
		signals := 0
		for range refs {
			mean, breaks := shapeMean(t, sh.gen, rng, refRows)
			cells := make([]uint16, hop)
			var s sequential.State
			table := mean.NewPaneTable(hop) // as the monitor scores panes
			for range panes {
				for i := range cells {
					cells[i] = uint16(breaks.Cell(sh.gen(rng).Num))
				}
				w := celltest.PaneScore(mean, cells, nil)
				s.Step(mean.PaneZTable(table, w), w.D, k)
				if s.Statistic() >= h {
					signals++
					s.Reset()
				}
			}
		}
		t.Logf("%-14s k %.3f h %.3f: %d signals in %d panes, λ %.0f, fail at ≥ %d or (normal) ≤ %d", sh.name, k, h, signals, refs*panes, lambda, upper, lower)
		if signals >= upper {
			t.Errorf("%s: %d false signals, more than a valid rate %g allows (fail at ≥ %d)", sh.name, signals, rate, upper)
		}
		if sh.name == "normal" && signals <= lower {
			t.Errorf("normal: %d false signals, far fewer than the target λ = %.0f: the threshold is not calibrated", signals, lambda)
		}
	}
}

// shapeMean builds a one-feature reference of rows values of gen and
// returns its mean test's null and its cell breaks.
func shapeMean(t *testing.T, gen func(*rand.Rand) Value, rng *rand.Rand, rows int) (*celltest.Mean, *window.Breaks) {
	t.Helper()
	b, err := NewBuilder("z", "1", BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for range rows {
		b.BeginRow()
		if err := b.Add("x", gen(rng)); err != nil {
			t.Fatal(err)
		}
		b.EndRow()
	}
	ref, err := b.Reference()
	if err != nil {
		t.Fatal(err)
	}
	f := ref.Features[0]
	breaks, err := window.NewBreaks(f.Breakpoints)
	if err != nil {
		t.Fatal(err)
	}
	return celltest.NewMean(f.Breakpoints, f.Ranks, f.Exact), breaks
}
