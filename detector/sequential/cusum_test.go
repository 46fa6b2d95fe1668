package sequential

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestARLTextbook: Siegmund's approximation against the tabulated exact
// ARLs of the one-sided normal CUSUM (Montgomery, Introduction to
// Statistical Quality Control, 7th ed., Table 9.3; k = 0.5): h = 4 gives
// 336 in control and 8.38 at a 1σ shift, h = 5 gives 930 and 10.4.
// Siegmund is within 2 % of them.
func TestARLTextbook(t *testing.T) {
	for i, c := range []struct{ mu, h, want float64 }{
		{0, 4, 336},  // 1: in control, h = 4
		{1, 4, 8.38}, // 2: 1σ shift, h = 4
		{0, 5, 930},  // 3: in control, h = 5
		{1, 5, 10.4}, // 4: 1σ shift, h = 5
	} {
		got := ARL(c.mu, 0.5, c.h)
		if math.Abs(got/c.want-1) > 0.02 {
			t.Errorf("%d: ARL(μ=%v, k=0.5, h=%v) = %.4g, want %.4g ± 2 %%", i+1, c.mu, c.h, got, c.want)
		}
		// The table's three digits.
		if got := ARLExact(c.mu, 0.5, c.h); math.Abs(got/c.want-1) > 0.005 {
			t.Errorf("%d: ARLExact(μ=%v, k=0.5, h=%v) = %.4g, want %.4g ± 0.5 %%", i+1, c.mu, c.h, got, c.want)
		}
	}
	// Continuity at Δ = 0, where the formula switches to its series.
	if a, b := ARL(0.5, 0.5, 3), ARL(0.5+1e-6, 0.5, 3); math.Abs(a/b-1) > 1e-4 {
		t.Errorf("ARL jumps at Δ = 0: %v vs %v", a, b)
	}
}

// TestThresholdInvertsRate: Threshold gives the h whose Rate is the
// target, and larger targets give lower thresholds.
func TestThresholdInvertsRate(t *testing.T) {
	prev := math.Inf(1)
	for _, rate := range []float64{1e-9, 1e-7, 1e-5, 1e-3} {
		for _, k := range []float64{0.25, 0.5, 1.4} {
			h, err := Threshold(k, 0.0025, rate)
			if err != nil {
				t.Fatal(err)
			}
			if got := Rate(h, k, 0.0025); math.Abs(got/rate-1) > 1e-6 {
				t.Errorf("k %v rate %v: Rate(Threshold) = %v", k, rate, got)
			}
		}
		h, _ := Threshold(0.5, 0, rate)
		if !(h < prev) {
			t.Errorf("threshold %v at rate %v is not below %v at a smaller rate", h, rate, prev)
		}
		prev = h
	}
	for _, bad := range [][3]float64{{-1, 0, 1e-3}, {0.5, 0, 0}, {0.5, 0, 1}, {0.5, -1, 1e-3}, {math.NaN(), 0, 1e-3}} {
		if _, err := Threshold(bad[0], bad[1], bad[2]); err == nil {
			t.Errorf("Threshold%v accepted", bad)
		}
	}
}

// simulateRate runs a two-sided CUSUM over streams of panes, each stream
// with its own bias c ~ N(0, tau2) and N(c, 1) scores, restarting after
// every signal, and returns the signals per pane.
func simulateRate(rng *rand.Rand, k, h, tau2 float64, streams, panes int) float64 {
	signals := 0
	for range streams {
		c := math.Sqrt(tau2) * rng.NormFloat64()
		var s State
		for range panes {
			s.Step(c+rng.NormFloat64(), 0, k)
			if s.Statistic() >= h {
				signals++
				s.Reset()
			}
		}
	}
	return float64(signals) / float64(streams*panes)
}

// TestRateBySimulation: the false-alarm rate Rate predicts is the one a
// simulated CUSUM shows, for reference values from small to the large ones
// driftd uses on 125-event panes (k = 1.4) and with the bias of a 50,000-row
// reference (τ² = 125/50,000) and of a small one (τ² = 0.05). The
// tolerance is 4 standard errors of the simulated count plus 8 % for the
// approximation (Siegmund's is within a few per cent for these k).
func TestRateBySimulation(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	for i, c := range []struct{ k, tau2, rate float64 }{
		{0.25, 0, 2e-3},     // 1: small k, no bias
		{0.5, 0, 2e-3},      // 2: the textbook k
		{1.4, 0, 2e-3},      // 3: driftd's default on 125-event panes
		{1.4, 0.0025, 2e-3}, // 4: with a 50,000-row reference's bias
		{0.5, 0.05, 2e-3},   // 5: a small reference: bias matters
	} {
		h, err := Threshold(c.k, c.tau2, c.rate)
		if err != nil {
			t.Fatal(err)
		}
		const streams, panes = 2000, 2000
		got := simulateRate(rng, c.k, h, c.tau2, streams, panes)
		se := math.Sqrt(c.rate / (streams * panes))
		if math.Abs(got-c.rate) > 4*se+0.08*c.rate {
			t.Errorf("%d: k %v τ² %v h %.3f: simulated rate %.4g, predicted %.4g", i+1, c.k, c.tau2, h, got, c.rate)
		}
		t.Logf("%d: k %v τ² %v h %.3f: simulated %.4g predicted %.4g", i+1, c.k, c.tau2, h, got, c.rate)
		if c.tau2 > 0.01 {
			// Ignoring the bias would understate the rate.
			if h0, _ := Threshold(c.k, 0, c.rate); simulateRate(rng, c.k, h0, c.tau2, streams, panes) < 1.3*c.rate {
				t.Errorf("%d: the bias does not raise the rate at the unbiased threshold: the case tests nothing", i+1)
			}
		}
	}
}

// TestStateShift: the CUSUM signals a sustained shift and estimates it.
func TestStateShift(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var s State
	for range 200 {
		z := -2 + rng.NormFloat64()
		s.Step(z, z/10, 0.5) // the pane's own shift: its score over √n, n = 100
	}
	if s.Down < 100 || s.Up > 10 {
		t.Fatalf("after 200 panes at −2: S⁺ %v S⁻ %v", s.Up, s.Down)
	}
	if est := s.Shift(); math.Abs(est+0.2) > 0.03 {
		t.Errorf("shift estimate %v, want −0.2 ± 0.03", est)
	}
	if !s.Valid() {
		t.Error("a running state is not valid")
	}
	s.Reset()
	if s.Statistic() != 0 || s.Shift() != 0 {
		t.Error("reset left state")
	}
	for _, bad := range []State{{Up: -1, UpPanes: 1}, {Up: 1}, {Down: math.Inf(1), DownPanes: 2}, {UpPanes: 3}, {Up: math.NaN(), UpPanes: 1},
		{Up: 1, UpPanes: 1, UpShift: math.NaN()}, {DownShift: 0.5}} {
		if bad.Valid() {
			t.Errorf("%+v is valid", bad)
		}
	}
}
