package detector

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
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

// roundTrip encodes and decodes every record, as the state topic would:
// each as a one-feature model state (records may come from different
// points here), and through the legacy JSON format too, which must give
// the same result.
func roundTrip(t *testing.T, cps []FeatureCheckpoint) []FeatureCheckpoint {
	out := make([]FeatureCheckpoint, len(cps))
	for i := range cps {
		data, err := EncodeModelState(cps[i : i+1])
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeModelState(data)
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		out[i] = got[0]
		legacy, err := EncodeLegacyCheckpoint(&cps[i])
		if err != nil {
			t.Fatal(err)
		}
		old, err := DecodeLegacyCheckpoint(legacy)
		if err != nil {
			t.Fatalf("decode legacy: %v", err)
		}
		if old.Features = 1; !reflect.DeepEqual(old, &out[i]) && !math.IsNaN(old.Share) {
			t.Fatalf("legacy and binary round trips differ:\n%+v\n%+v", old, &out[i])
		}
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
		{Size: 800, Hop: MinCUSUMPane}, // the cusum test runs: its sums are restored
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
		if cfg.Hop >= MinCUSUMPane {
			// The cusum sums must be non-zero across the cuts for the
			// restore to be tested.
			running := 0
			for _, e := range fullOut.Evaluations {
				for _, r := range e.Results {
					if r.Test == TestCUSUM && r.Statistic > 0 {
						running++
					}
				}
			}
			if running < 10 {
				t.Fatalf("%+v: only %d cusum results with a running sum", cfg, running)
			}
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
		cps := m.Checkpoint()
		data, _ := EncodeModelState(cps)
		f.Add(data, cfg.TimeBased())
		data, _ = EncodeModelState(cps[1:2])
		f.Add(data, cfg.TimeBased())
	}
	f.Fuzz(func(t *testing.T, data []byte, timeBased bool) {
		cps, err := DecodeModelState(data)
		if err != nil {
			return
		}
		// Whatever decodes encodes back to the same bytes (the
		// encoding is canonical: alarms and sources sorted).
		again, err := EncodeModelState(cps)
		if err != nil {
			t.Fatalf("re-encoding a decoded state: %v", err)
		}
		if back, err := DecodeModelState(again); err != nil || !reflect.DeepEqual(back, cps) && !hasNaN(cps) {
			t.Fatalf("decode(encode(decode(x))) differs: %v", err)
		}
		cfg := WindowConfig{Size: 40, Hop: 10}
		if timeBased {
			cfg = WindowConfig{Time: 4 * time.Second, TimeHop: time.Second}
		}
		for i := range cps {
			cps[i].ReferenceID = ref.ID
		}
		m, err := RestoreMonitor(ref, nil, cfg, cps)
		if err != nil {
			return
		}
		var o Output
		for _, e := range ckptEvents(60) {
			feed(m, e, &o)
		}
	})
}

func hasNaN(cps []FeatureCheckpoint) bool {
	for _, c := range cps {
		if c.Share != c.Share || c.Dataset.Effect != c.Dataset.Effect || c.Centre != nil && *c.Centre != *c.Centre {
			return true
		}
		for _, a := range c.Alarms {
			if a.Effect != a.Effect {
				return true
			}
		}
	}
	return false
}

// fillAll sets every field reachable from v (structs, pointers, slices,
// maps) to a non-zero value derived from seed, so a field the encoding
// forgets makes a round trip differ.
func fillAll(v reflect.Value, seed *int) {
	*seed++
	n := *seed
	switch v.Kind() {
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(n) * -7)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(n) * 1_000_003)
	case reflect.Float64:
		v.SetFloat(float64(n) + 0.25)
	case reflect.String:
		v.SetString(fmt.Sprintf("s%d", n))
	case reflect.Struct:
		for i := range v.NumField() {
			fillAll(v.Field(i), seed)
		}
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fillAll(v.Elem(), seed)
	case reflect.Array:
		for i := range v.Len() {
			fillAll(v.Index(i), seed)
		}
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			fillAll(s.Index(i), seed)
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for range 2 {
			k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			fillAll(k, seed)
			fillAll(e, seed)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	default:
		panic("fillAll: unhandled kind " + v.Kind().String())
	}
}

// TestModelStateKeepsEveryField fills every field of a checkpoint —
// alarm states (effect, severe, updates, grow, ...), group, clock, merge
// — with distinct values and checks the binary round trip keeps them
// all: a field added to the structs but not to the encoding fails here.
func TestModelStateKeepsEveryField(t *testing.T) {
	ref := ckptReference(t)
	m, _ := NewMonitor(ref, nil, WindowConfig{Size: 40, Hop: 10})
	var o Output
	for _, e := range ckptEvents(100) {
		feed(m, e, &o)
	}
	window := m.Checkpoint()[0].Window
	seed := 0
	cps := make([]FeatureCheckpoint, 3)
	for i := range cps {
		fillAll(reflect.ValueOf(&cps[i]).Elem(), &seed)
	}
	for i := range cps {
		c := &cps[i]
		// Model-wide fields are stored once; the features share them.
		c.Schema, c.Features = CheckpointSchemaV2, len(cps)
		c.Topic, c.Partition, c.Offset, c.Gen = cps[0].Topic, cps[0].Partition, cps[0].Offset, cps[0].Gen
		c.Model, c.Version, c.ReferenceID = cps[0].Model, cps[0].Version, cps[0].ReferenceID
		c.Dataset, c.Share, c.Unexpected, c.Duplicates = cps[0].Dataset, cps[0].Share, cps[0].Unexpected, cps[0].Duplicates
		c.Window = window
	}
	if a := cps[1].Alarms; len(a) != 2 {
		t.Fatalf("filler made %d alarms", len(a))
	}
	for _, a := range cps[1].Alarms {
		if !a.Firing || !a.Severe || a.Effect == 0 || a.Updates == 0 || a.Grow == 0 || a.Streak == 0 || a.Since == 0 {
			t.Fatalf("filler left an alarm field zero: %+v", a)
		}
	}
	data, err := EncodeModelState(cps)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeModelState(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, cps) {
		t.Fatalf("round trip differs:\n got %+v\nwant %+v", got, cps)
	}
	// Every strict prefix fails to decode, and so does any version
	// other than 2 and 3.
	for n := range len(data) {
		if _, err := DecodeModelState(data[:n]); err == nil {
			t.Fatalf("prefix of %d of %d bytes decoded", n, len(data))
		}
	}
	other := append([]byte(nil), data...)
	other[3] = 4
	if _, err := DecodeModelState(other); err == nil {
		t.Fatal("version 4 decoded")
	}
	// Version 2 (before the cusum state) still decodes: the same blob
	// without the cusum fields gives the same checkpoints without them.
	for i := range cps {
		if cps[i].CUSUM == nil || cps[i].CUSUM.Up == 0 || cps[i].CUSUM.DownPanes == 0 {
			t.Fatalf("filler left the cusum state empty: %+v", cps[i].CUSUM)
		}
	}
	old := slices.Clone(cps)
	for i := range old {
		old[i].CUSUM = nil
	}
	v2, err := EncodeModelState(old)
	if err != nil {
		t.Fatal(err)
	}
	v2 = removeCUSUMFlags(t, v2, old)
	v2[3] = 2
	back, err := DecodeModelState(v2)
	if err != nil {
		t.Fatalf("version 2: %v", err)
	}
	if !reflect.DeepEqual(back, old) {
		t.Fatalf("version 2 decodes differently:\n got %+v\nwant %+v", back, old)
	}
}

// TestModelStateSmallerThanJSON: the binary state of a monitor is well
// under the legacy JSON+base64 records it replaces.
func TestModelStateSmallerThanJSON(t *testing.T) {
	ref := ckptReference(t)
	m, _ := NewMonitor(ref, nil, WindowConfig{Size: 2000, Hop: 200})
	var o Output
	for _, e := range ckptEvents(3000) {
		feed(m, e, &o)
	}
	cps := m.Checkpoint()
	bin, err := EncodeModelState(cps)
	if err != nil {
		t.Fatal(err)
	}
	legacy := 0
	for i := range cps {
		b, _ := EncodeLegacyCheckpoint(&cps[i])
		legacy += len(b)
	}
	t.Logf("binary %d bytes, JSON %d bytes", len(bin), legacy)
	if float64(len(bin)) > 0.8*float64(legacy) {
		t.Errorf("binary state %d bytes, JSON %d: not compact", len(bin), legacy)
	}
}

// removeCUSUMFlags turns a version-3 blob of checkpoints without cusum
// state into the version-2 layout: it drops the "no cusum" flag byte
// that precedes each feature's window state.
func removeCUSUMFlags(t *testing.T, data []byte, cps []FeatureCheckpoint) []byte {
	t.Helper()
	out := slices.Clone(data)
	from := 0
	for i := range cps {
		tail := append([]byte{0}, binary.AppendUvarint(nil, uint64(len(cps[i].Window)))...)
		tail = append(tail, cps[i].Window...)
		at := bytes.Index(out[from:], tail)
		if at < 0 {
			t.Fatalf("feature %d: window state not found", i)
		}
		at += from
		out = append(out[:at], out[at+1:]...)
		from = at + len(tail) - 1
	}
	return out
}
