package procstat

import (
	"runtime"
	"testing"
)

func TestReadings(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("linux only")
	}
	c0, err := CPU()
	if err != nil {
		t.Fatal(err)
	}
	x := 0.0
	for i := range 20_000_000 {
		x += float64(i)
	}
	c1, _ := CPU()
	if c1 <= c0 || x == 0 {
		t.Fatalf("CPU did not advance: %v → %v", c0, c1)
	}
	rss, err := RSS()
	if err != nil || rss <= 0 {
		t.Fatalf("RSS %d, %v", rss, err)
	}
	peak, err := PeakRSS()
	if err != nil || peak < rss {
		t.Fatalf("peak %d < rss %d (%v)", peak, rss, err)
	}
	if err := ResetPeakRSS(); err != nil {
		t.Logf("reset: %v (read-only /proc?)", err)
	}
}
