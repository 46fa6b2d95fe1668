package detector

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// TestDefaultHop: the default hop divides the size and is N/8 when 8
// divides N, else the divisor nearest N/8 on a log scale.
func TestDefaultHop(t *testing.T) {
	for _, c := range []struct{ size, want int }{
		{1000, 125}, // 8 divides 1000
		{60000, 7500},
		{50, 5},    // divisors 1 2 5 10 25 50; 50/8 = 6.25, log-nearest 5
		{100, 10},  // 12.5: 10 (log distance 0.22) beats 20 (0.47)
		{997, 997}, // prime: 1 is 4.8 away in log, 997 2.1
		{1, 1},
		{12, 2}, // 1.5: 1 (0.41) and 2 (0.29)
	} {
		got := DefaultHop(c.size)
		if got != c.want || c.size%got != 0 {
			t.Errorf("DefaultHop(%d) = %d, want %d", c.size, got, c.want)
		}
		cfg := WindowConfig{Size: c.size}.WithDefaults()
		if err := cfg.Validate(); err != nil {
			t.Errorf("size %d with its default hop: %v", c.size, err)
		}
	}
}

// TestCheckWindowMinEvents: a count window smaller than min_events would
// never be evaluated; the check names both, at every policy level.
func TestCheckWindowMinEvents(t *testing.T) {
	ps, err := NewPolicies(DefaultPolicy())
	if err != nil {
		t.Fatal(err)
	}
	err = ps.CheckWindow(WindowConfig{Size: 50, Hop: 5})
	if err == nil || !strings.Contains(err.Error(), "min_events 100") || !strings.Contains(err.Error(), "window size 50") {
		t.Fatalf("size 50, min_events 100: %v", err)
	}
	if err := ps.CheckWindow(WindowConfig{Size: 100, Hop: 10}); err != nil {
		t.Fatalf("size 100: %v", err)
	}
	if err := ps.CheckWindow(WindowConfig{Time: time.Minute, TimeHop: time.Second}); err != nil {
		t.Fatalf("time window: %v", err)
	}
	ps, err = ParsePolicies([]byte(`{"models":{"churn":{"features":{"plan":{"min_events":500}}}}}`), DefaultPolicy())
	if err != nil {
		t.Fatal(err)
	}
	err = ps.CheckWindow(WindowConfig{Size: 400, Hop: 50})
	if err == nil || !strings.Contains(err.Error(), "models.churn.features.plan") {
		t.Fatalf("feature override: %v", err)
	}
}

// TestFutureEventDoesNotBlind: on a time window, one event stamped a day
// ahead used to move the watermark so that every later event was late and
// a real change went unseen. It is now counted future and the change is
// detected as without it.
func TestFutureEventDoesNotBlind(t *testing.T) {
	run := func(withFuture bool) (alerts int, st ModelStats) {
		rng := rand.New(rand.NewPCG(21, 21))
		ref := normalReference(t, rng, 1, 20000, 0, 1)
		cfg := WindowConfig{Time: 10 * time.Second, TimeHop: time.Second}.WithDefaults()
		s := newSim(t, ref, DefaultPolicy(), cfg)
		const start = 1_700_000_000_000
		for i := range 30000 {
			ms := int64(start + i*2) // 500 events a second
			x := rng.NormFloat64()
			if i >= 15000 {
				x += 1 // the real change
			}
			if withFuture && i == 5000 {
				ms += 86_400_000
			}
			s.seq++
			if !s.m.Begin(GroupFeatures, ms, s.seq, &s.out) {
				continue
			}
			s.m.Value(0, s.names[0], Value{Kind: Number, Num: x, Parsed: true})
			s.m.End(&s.out)
			for _, a := range s.out.Alerts {
				if a.Status == Firing {
					alerts++
				}
			}
			s.out.Reset()
		}
		return alerts, s.m.Stats()
	}
	base, _ := run(false)
	got, st := run(true)
	if base == 0 {
		t.Fatal("the change is not detected even without the future event")
	}
	if got != base || st.Future != 1 || st.Late != 0 {
		t.Fatalf("with a future event: %d alerts (without: %d), future %d, late %d", got, base, st.Future, st.Late)
	}
}
