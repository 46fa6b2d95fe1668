package perf

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"runtime"
	"testing"
	"time"

	"github.com/driftd/driftd/detector"
)

// storedSegments is a state store for tests: the segments written so
// far, by sum.
type storedSegments map[detector.SegmentSum][]byte

func (s storedSegments) stored(sum detector.SegmentSum) bool { return s[sum] != nil }

// write stores the segments of an encoding that carry bytes and returns
// how many bytes were written (head included).
func (s storedSegments) write(t *testing.T, st *detector.SegmentedState) int {
	t.Helper()
	n := len(st.Head)
	for _, sg := range st.Segments {
		if sg.Data == nil {
			if s[sg.Sum] == nil {
				t.Fatalf("segment %x referenced without bytes and not stored", sg.Sum[:4])
			}
			continue
		}
		s[sg.Sum] = sg.Data
		n += len(sg.Data)
	}
	return n
}

// perfFixture is a binary model's performance reference with an
// estimation section.
func perfFixture(t *testing.T) *detector.Reference {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, 4))
	pairs := make([]Pair, 4000)
	for i := range pairs {
		pos := rng.Float64() < 0.3
		s := rng.Float64() * 0.7
		if pos {
			s += 0.3
		}
		pairs[i] = Pair{Score: s, Positive: pos}
	}
	pr, err := BuildReference(pairs, 0.5, "prediction", "label")
	if err != nil {
		t.Fatal(err)
	}
	if pr.Estimation, err = BuildEstimation(pairs, 0.5); err != nil {
		t.Fatal(err)
	}
	return &detector.Reference{ID: "ref-1", Model: "m", Version: "1", Performance: pr}
}

// TestPartitionStateRoundTrip: a partition's pending predictions,
// performance windows and estimator windows, checkpointed at random
// points while predictions and labels stream, restore into a state that
// then behaves exactly like the uninterrupted one (same pairs joined,
// same evaluations, same alerts, same counts); later checkpoints write
// the full blocks of pending predictions once and then only their
// bitmaps.
func TestPartitionStateRoundTrip(t *testing.T) {
	ref := perfFixture(t)
	policy := detector.DefaultPolicy()
	policy.ERT = 1e3 // alerts happen
	cfg := DefaultConfig()
	cfg.Window, cfg.Hop = 400, 50
	join := JoinConfig{Horizon: time.Hour, MaxPending: 50_000} // a third never labelled: ~20,000 wait at the end
	newState := func() *PartitionState {
		j, _ := NewJoiner(join)
		m, _ := NewMonitor(ref, policy, cfg)
		x, _ := NewEstimator(ref, policy, cfg)
		return &PartitionState{Joiner: j, Monitors: map[string]*Monitor{"m/1": m}, Estimators: map[string]*Estimator{"m/1": x}}
	}
	opts := RestoreOptions{Join: join,
		Monitor:   func(string) *Monitor { m, _ := NewMonitor(ref, policy, cfg); return m },
		Estimator: func(string) *Estimator { x, _ := NewEstimator(ref, policy, cfg); return x }}
	model, version := []byte("m"), []byte("1")
	// step feeds event i: a prediction, and the label of the prediction
	// made lag events earlier (two in three are labelled; the score's
	// signal fades after event 30,000 so the AUC test fires).
	type out struct {
		alerts []string
		evals  int
	}
	step := func(s *PartitionState, i int, o *out) {
		rng := rand.New(rand.NewPCG(uint64(i), 9))
		pos := rng.Float64() < 0.3
		score := rng.Float64() * 0.7
		if pos && (i < 30_000 || rng.Float64() < 0.3) {
			score += 0.3
		}
		id := []byte(fmt.Sprint("r", i))
		s.Joiner.Prediction(model, version, id, score, int64(i)*10)
		var alerts []detector.Alert
		if ev := s.Estimators["m/1"].Add(score, &alerts); ev != nil {
			o.evals++
		}
		if k := i - 700; k >= 0 && k%3 != 0 {
			lrng := rand.New(rand.NewPCG(uint64(k), 9))
			label := 0.0
			if lrng.Float64() < 0.3 {
				label = 1
			}
			if p, ok := s.Joiner.Label(model, version, []byte(fmt.Sprint("r", k)), label, int64(i)*10); ok {
				if ev := s.Monitors["m/1"].Add(p, &alerts); ev != nil {
					o.evals++
				}
			}
		}
		for _, a := range alerts {
			o.alerts = append(o.alerts, a.ID)
		}
	}
	const n = 60_000
	var want out
	ref0 := newState()
	for i := range n {
		step(ref0, i, &want)
	}
	if len(want.alerts) == 0 {
		t.Fatal("the uninterrupted run raised no alert: the test checks nothing about alarm state")
	}
	var got out
	s := newState()
	store := storedSegments{}
	rng := rand.New(rand.NewPCG(1, 2))
	restores, full, incremental := 0, 0, 0
	for i := range n {
		step(s, i, &got)
		if rng.IntN(2500) == 0 || i == n/2 {
			s.Next = int64(i + 1)
			enc := s.Encode(store.stored)
			w := store.write(t, enc)
			whole := len(enc.Head)
			for _, sg := range enc.Segments {
				whole += len(store[sg.Sum])
			}
			if w > whole/2 {
				full++
			} else {
				incremental++
			}
			r, skipped, err := DecodePartitionState(enc.Head, func(sum detector.SegmentSum) []byte { return store[sum] }, opts)
			if err != nil || len(skipped) > 0 {
				t.Fatalf("event %d: restore: %v %v", i, err, skipped)
			}
			if r.Next != int64(i+1) || r.Joiner.Pending() != s.Joiner.Pending() {
				t.Fatalf("event %d: restored next %d, %d pending; want %d, %d", i, r.Next, r.Joiner.Pending(), i+1, s.Joiner.Pending())
			}
			r.Joiner.ShareStats(s.Joiner.stats)
			// The restored joiner keeps the numbers: its next encoding
			// reuses every stored block.
			again := r.Encode(store.stored)
			for _, sg := range again.Segments {
				if sg.Data != nil {
					t.Fatalf("event %d: the restored state rewrites a block", i)
				}
			}
			s = r
			restores++
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("with %d restores: %d evaluations, alerts %v; uninterrupted: %d, %v", restores, got.evals, got.alerts, want.evals, want.alerts)
	}
	t.Logf("%d restores, %d alerts equal, %d pending at the end; checkpoints writing less than half the state: %d, more: %d", restores, len(want.alerts), s.Joiner.Pending(), incremental, full)
	if incremental < full {
		t.Fatal("most checkpoints wrote more than half the state: the blocks are not reused")
	}
}

// TestPartitionStateRejectsOtherReference: state of a changed reference
// is dropped, reported, and the rest restored.
func TestPartitionStateRejectsOtherReference(t *testing.T) {
	ref := perfFixture(t)
	policy, cfg := detector.DefaultPolicy(), DefaultConfig()
	j, _ := NewJoiner(DefaultJoinConfig())
	m, _ := NewMonitor(ref, policy, cfg)
	m.Add(Pair{Score: 0.7, Positive: true, Target: 1}, nil)
	j.Prediction([]byte("m"), []byte("1"), []byte("a"), 0.4, 5)
	s := &PartitionState{Next: 7, Joiner: j, Monitors: map[string]*Monitor{"m/1": m}}
	enc := s.Encode(func(detector.SegmentSum) bool { return false })
	other := *ref
	other.ID = "ref-2"
	r, skipped, err := DecodePartitionState(enc.Head, func(detector.SegmentSum) []byte { return nil }, RestoreOptions{Join: DefaultJoinConfig(),
		Monitor:   func(string) *Monitor { m, _ := NewMonitor(&other, policy, cfg); return m },
		Estimator: func(string) *Estimator { return nil }})
	if err != nil || len(skipped) != 1 || len(r.Monitors) != 0 || r.Joiner.Pending() != 1 || r.Next != 7 {
		t.Fatalf("restore with another reference: %v, skipped %v, %d monitors, %d pending", err, skipped, len(r.Monitors), r.Joiner.Pending())
	}
}

// FuzzRestoreState: the decoders of the performance state never panic
// and never accept trailing or out-of-range data silently.
func FuzzRestoreState(f *testing.F) {
	// Blocks of 16 predictions keep the inputs small (the fuzzer's
	// minimisation of 80 KB inputs takes minutes).
	defer func(n uint64) { joinBlockSize = n }(joinBlockSize)
	joinBlockSize = 16
	ref := &detector.Reference{ID: "r", Model: "m", Version: "1", Performance: &detector.PerformanceRef{Threshold: 0.5, Count: 10, Positives: 5}}
	j, _ := NewJoiner(DefaultJoinConfig())
	for i := range 40 {
		j.Prediction([]byte("m"), []byte("1"), []byte(fmt.Sprint(i)), 0.5, int64(i))
		if i%5 == 0 {
			j.Label([]byte("m"), []byte("1"), []byte(fmt.Sprint(i)), 1, int64(i))
		}
	}
	j.cfg.HoldLabels = 10
	j.HoldLabel([]byte("m"), []byte("1"), []byte("early"), 1, 50)
	m, _ := NewMonitor(ref, detector.DefaultPolicy(), DefaultConfig())
	m.Add(Pair{Score: 0.3}, nil)
	segs := storedSegments{}
	enc := (&PartitionState{Joiner: j, Monitors: map[string]*Monitor{"m/1": m}}).Encode(segs.stored)
	for _, sg := range enc.Segments {
		segs[sg.Sum] = sg.Data
		f.Add(enc.Head, sg.Data)
	}
	f.Fuzz(func(t *testing.T, head, seg []byte) {
		opts := RestoreOptions{Join: DefaultJoinConfig(),
			Monitor:   func(string) *Monitor { m, _ := NewMonitor(ref, detector.DefaultPolicy(), DefaultConfig()); return m },
			Estimator: func(string) *Estimator { return nil }}
		s, _, err := DecodePartitionState(head, func(detector.SegmentSum) []byte { return seg }, opts)
		if err != nil {
			return
		}
		// What decodes encodes again and decodes to the same pending set.
		enc := s.Encode(func(detector.SegmentSum) bool { return false })
		segs := storedSegments{}
		for _, sg := range enc.Segments {
			segs[sg.Sum] = sg.Data
		}
		again, _, err := DecodePartitionState(enc.Head, func(sum detector.SegmentSum) []byte { return segs[sum] }, opts)
		if err != nil || again.Joiner.Pending() != s.Joiner.Pending() || again.Next != s.Next {
			t.Fatalf("re-encoded state: %v; %d pending, want %d", err, again.Joiner.Pending(), s.Joiner.Pending())
		}
	})
}

// TestJoinStateProportional: with 1,000,000 predictions waiting, a
// checkpoint after 10,000 more arrive and 10,000 others are joined
// writes the new arrivals and a bit per older waiting prediction — a
// small fraction of the first checkpoint, which wrote them all.
func TestJoinStateProportional(t *testing.T) {
	if testing.Short() {
		t.Skip("a million predictions")
	}
	j, _ := NewJoiner(JoinConfig{Horizon: time.Hour, MaxPending: 2_000_000})
	m, v := []byte("churn"), []byte("3")
	id := func(i int) []byte { return fmt.Appendf(nil, "req-%d", i) }
	const n = 1_000_000
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range n {
		j.Prediction(m, v, id(i), 0.5, int64(i))
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	t.Logf("heap per waiting prediction (request IDs of 9–10 bytes): %.0f bytes", float64(after.HeapAlloc-before.HeapAlloc)/n)
	s := &PartitionState{Joiner: j}
	store := storedSegments{}
	start := time.Now()
	first := store.write(t, s.Encode(store.stored))
	firstTook := time.Since(start)
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range 10_000 {
		j.Prediction(m, v, id(n+i), 0.5, int64(n+i))
		j.Label(m, v, id(rng.IntN(n)), 1, int64(n+i))
	}
	start = time.Now()
	enc := s.Encode(store.stored)
	second := store.write(t, enc)
	secondTook := time.Since(start)
	t.Logf("%d waiting: first checkpoint %d bytes (%v), after 10,000 arrivals and 10,000 joins %d bytes (%v)", j.Pending(), first, firstTook, second, secondTook)
	if second*10 > first {
		t.Fatalf("the second checkpoint wrote %d bytes, more than a tenth of the first's %d", second, first)
	}
	r, _, err := DecodePartitionState(enc.Head, func(sum detector.SegmentSum) []byte { return store[sum] }, RestoreOptions{Join: j.cfg})
	if err != nil || r.Joiner.Pending() != j.Pending() {
		t.Fatalf("restore: %v, %d pending of %d", err, r.Joiner.Pending(), j.Pending())
	}
}
