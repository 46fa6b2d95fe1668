package detector

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// ckptEvent is one scripted event: values of features f00..f02 (numeric)
// and c00 (categorical), an event time and an input offset.
type ckptEvent struct {
	offset  int64
	timeMS  int64
	xs      [3]float64
	cat     string
	missing bool
}

func ckptReference(t testing.TB) *Reference {
	rng := rand.New(rand.NewPCG(21, 21))
	b, _ := NewBuilder("m", "1", BuildOptions{Breakpoints: 200})
	for range 20000 {
		b.BeginRow()
		for j := range 3 {
			b.Add(fmt.Sprintf("f%02d", j), num(rng.NormFloat64()))
		}
		b.Add("c00", str(string(rune('a'+rng.IntN(4)))))
		b.EndRow()
	}
	ref, err := b.Reference()
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// ckptEvents drifts f01 and c00 in the middle so alerts fire and resolve.
func ckptEvents(n int) []ckptEvent {
	rng := rand.New(rand.NewPCG(22, 22))
	evs := make([]ckptEvent, n)
	for i := range evs {
		e := &evs[i]
		e.offset = int64(100 + i)
		e.timeMS = 1_700_000_000_000 + int64(i)*40 + rng.Int64N(300) // out of order
		for j := range e.xs {
			e.xs[j] = rng.NormFloat64()
		}
		e.cat = string(rune('a' + rng.IntN(4)))
		if i > n/3 && i < 2*n/3 {
			e.xs[1] += 1
			e.cat = "a"
		}
		e.missing = rng.IntN(50) == 0
	}
	return evs
}

var ckptNames = [][]byte{[]byte("f00"), []byte("f01"), []byte("f02"), []byte("c00")}

func feed(m *Monitor, e ckptEvent, out *Output) {
	if !m.Begin(GroupFeatures, e.timeMS, e.offset, out) {
		return
	}
	for j, x := range e.xs {
		if j == 2 && e.missing {
			continue
		}
		m.Value(j, ckptNames[j], num(x))
	}
	m.Value(3, ckptNames[3], str(e.cat))
	m.End(out)
}

// roundTrip encodes and decodes every record, as the state topic would.
func roundTrip(t *testing.T, cps []FeatureCheckpoint) []FeatureCheckpoint {
	out := make([]FeatureCheckpoint, len(cps))
	for i := range cps {
		data, err := EncodeCheckpoint(&cps[i])
		if err != nil {
			t.Fatal(err)
		}
		cp, err := DecodeCheckpoint(data)
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		out[i] = *cp
	}
	return out
}

// TestCheckpointExact interrupts a run at many points, restores from the
// checkpoint (after an encode/decode round trip) and checks that the rest
// of the run — every evaluation and alert — equals the uninterrupted run.
// The partial case takes the records of f00 and c00 at one point and those
// of f01 and f02 later (a crash while writing a checkpoint), restores from
// the mix and replays from the older point: events must not be counted
// twice for the newer features, nor lost for the older ones.
func TestCheckpointExact(t *testing.T) {
	ref := ckptReference(t)
	evs := ckptEvents(6000)
	for _, cfg := range []WindowConfig{
		{Size: 400, Hop: 50},
		{Time: 16 * time.Second, TimeHop: 2 * time.Second, Lateness: 500 * time.Millisecond},
	} {
		// Uninterrupted run, collecting everything after each index.
		full, _ := NewMonitor(ref, nil, cfg)
		var fullOut Output
		type mark struct{ evals, alerts int }
		marks := make([]mark, len(evs)+1)
		for i, e := range evs {
			marks[i] = mark{len(fullOut.Evaluations), len(fullOut.Alerts)}
			feed(full, e, &fullOut)
		}
		if len(fullOut.Alerts) < 4 {
			t.Fatalf("%+v: scenario produced only %d alerts", cfg, len(fullOut.Alerts))
		}
		checked := 0
		for _, cut := range []int{0, 1, 49, 50, 399, 401, 2000, 2999, 4321} {
			for _, partial := range []bool{false, true} {
				cut2 := cut
				if partial {
					cut2 = cut + 137
				}
				m, _ := NewMonitor(ref, nil, cfg)
				var o Output
				var cps []FeatureCheckpoint
				for i, e := range evs[:cut2] {
					if i == cut {
						for _, cp := range m.Checkpoint() {
							if cp.Feature == "f00" || cp.Feature == "c00" || !partial {
								cp.Offset = e.offset
								cps = append(cps, cp)
							}
						}
					}
					feed(m, e, &o)
				}
				if partial {
					for _, cp := range m.Checkpoint() {
						if cp.Feature == "f01" || cp.Feature == "f02" {
							cp.Offset = evs[cut2].offset
							cps = append(cps, cp)
						}
					}
				} else if cut == cut2 && len(cps) == 0 {
					for _, cp := range m.Checkpoint() {
						cp.Offset = evs[cut].offset
						cps = append(cps, cp)
					}
				}
				r, err := RestoreMonitor(ref, nil, cfg, roundTrip(t, cps))
				if err != nil {
					t.Fatalf("cut %d partial %v: %v", cut, partial, err)
				}
				var ro Output
				for _, e := range evs[cut:] { // replay from the oldest record
					feed(r, e, &ro)
				}
				wantEvals := fullOut.Evaluations[marks[cut].evals:]
				wantAlerts := fullOut.Alerts[marks[cut].alerts:]
				if partial {
					// Evaluations of f01/f02 between cut and cut2 were
					// already made before the crash; they are not redone.
					// A count window evaluates in End, after its event's
					// seq; a time window in Begin, before it: so events up
					// to seq skip closed panes at LastSeq ≤ skip (count)
					// or < skip (time).
					done := func(lastSeq uint64) bool {
						skip := r.features[r.byName["f01"]].skip
						if cfg.TimeBased() {
							return lastSeq < skip
						}
						return lastSeq <= skip
					}
					var keep []Evaluation
					for _, e := range wantEvals {
						if (e.Feature == "f01" || e.Feature == "f02") && done(e.Window.LastSeq) {
							continue
						}
						keep = append(keep, e)
					}
					wantEvals = keep
					var keepA []Alert
					for _, a := range wantAlerts {
						if (a.Feature == "f01" || a.Feature == "f02") && done(a.Window.LastSeq) {
							continue
						}
						keepA = append(keepA, a)
					}
					wantAlerts = keepA
				}
				if !sameEvals(ro.Evaluations, wantEvals) {
					t.Fatalf("%s cut %d partial %v: %d evaluations after restore, want %d (or contents differ)", cfg.info().Kind, cut, partial, len(ro.Evaluations), len(wantEvals))
				}
				checked++
				got := ro.Alerts
				if partial {
					// With records of different ages, the dataset share
					// during the catch-up mixes old and new feature
					// states; the stream layer never restores such a mix
					// (it restores complete checkpoints only), so only
					// feature alerts must match here.
					got, wantAlerts = featureAlerts(got), featureAlerts(wantAlerts)
				}
				if !reflect.DeepEqual(alertIDs(got), alertIDs(wantAlerts)) {
					t.Fatalf("%s cut %d partial %v: alerts %v, want %v", cfg.info().Kind, cut, partial, alertIDs(got), alertIDs(wantAlerts))
				}
			}
		}
		if checked != 18 {
			t.Fatalf("checked %d restores, want 18", checked)
		}
	}
}

func sameEvals(a, b []Evaluation) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Feature != y.Feature || x.Number != y.Number || x.Window.LastSeq != y.Window.LastSeq || x.Window.N != y.Window.N ||
			!reflect.DeepEqual(x.Results, y.Results) || !(x.Mean == y.Mean || math.IsNaN(x.Mean) && math.IsNaN(y.Mean)) {
			return false
		}
	}
	return true
}

func featureAlerts(as []Alert) []Alert {
	var out []Alert
	for _, a := range as {
		if a.Test != TestDataset {
			out = append(out, a)
		}
	}
	return out
}

func alertIDs(as []Alert) []string {
	var ids []string
	for _, a := range as {
		ids = append(ids, a.Feature+"/"+string(a.Test)+"/"+string(a.Status)+"/"+a.ID)
	}
	return ids
}

func TestRestoreRejectsMismatches(t *testing.T) {
	ref := ckptReference(t)
	cfg := WindowConfig{Size: 400, Hop: 50}
	m, _ := NewMonitor(ref, nil, cfg)
	var o Output
	for _, e := range ckptEvents(500) {
		feed(m, e, &o)
	}
	cps := m.Checkpoint()
	other := *ref
	other.ID = "sha256:000000000000000000000000"
	if _, err := RestoreMonitor(&other, nil, cfg, cps); err != ErrStaleCheckpoint {
		t.Errorf("other reference: %v, want ErrStaleCheckpoint", err)
	}
	if _, err := RestoreMonitor(ref, nil, WindowConfig{Size: 800, Hop: 50}, cps); err == nil {
		t.Error("checkpoint of another window size accepted")
	}
	bad := append([]FeatureCheckpoint(nil), cps...)
	bad[0].Window = bad[0].Window[:len(bad[0].Window)-3]
	if _, err := RestoreMonitor(ref, nil, cfg, bad); err == nil {
		t.Error("truncated window state accepted")
	}
}

// FuzzDecodeCheckpoint: decoding and restoring arbitrary bytes never
// panics, and whatever restores runs.
func FuzzDecodeCheckpoint(f *testing.F) {
	ref := ckptReference(f)
	for _, cfg := range []WindowConfig{{Size: 40, Hop: 10}, {Time: 4 * time.Second, TimeHop: time.Second}} {
		m, _ := NewMonitor(ref, nil, cfg)
		var o Output
		for _, e := range ckptEvents(120) {
			feed(m, e, &o)
		}
		for _, cp := range m.Checkpoint() {
			data, _ := EncodeCheckpoint(&cp)
			f.Add(data, cfg.TimeBased())
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, timeBased bool) {
		cp, err := DecodeCheckpoint(data)
		if err != nil {
			return
		}
		cfg := WindowConfig{Size: 40, Hop: 10}
		if timeBased {
			cfg = WindowConfig{Time: 4 * time.Second, TimeHop: time.Second}
		}
		cp.ReferenceID = ref.ID
		m, err := RestoreMonitor(ref, nil, cfg, []FeatureCheckpoint{*cp})
		if err != nil {
			return
		}
		var o Output
		for _, e := range ckptEvents(60) {
			feed(m, e, &o)
		}
	})
}
