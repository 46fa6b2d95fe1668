package detector

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"
)

// segmentStore is what a state topic holds of one model: segments by sum.
type segmentStore map[SegmentSum][]byte

// put stores the segments of s; a segment without data must be there
// already (the encoder took its sum from the known panes).
func (st segmentStore) put(t *testing.T, s *SegmentedState) (written int) {
	t.Helper()
	for _, seg := range s.Segments {
		if seg.Data == nil {
			if st[seg.Sum] == nil {
				t.Fatalf("segment %x referenced as known but never written", seg.Sum[:8])
			}
			continue
		}
		if sha256.Sum256(seg.Data) != seg.Sum {
			t.Fatalf("segment %x does not hash to its sum", seg.Sum[:8])
		}
		if st[seg.Sum] == nil {
			written += len(seg.Data)
		}
		st[seg.Sum] = seg.Data
	}
	return written
}

func (st segmentStore) get(s SegmentSum) []byte { return st[s] }

// TestSegmentedStateRoundTrip: a model state encoded as head and
// segments decodes to exactly the state encoded whole (v2 bytes), for
// count, event-time and stage-2 windows, empty, filling, full and with a
// partly evicted oldest pane; both when every pane is encoded afresh
// and when the panes of the previous checkpoint are passed as known.
func TestSegmentedStateRoundTrip(t *testing.T) {
	// Layouts of fewer than 256 cells (one byte per event) and of more.
	fine := func() *Reference {
		rng := rand.New(rand.NewPCG(22, 22))
		b, _ := NewBuilder("m", "1", BuildOptions{Breakpoints: 400})
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
	}()
	configs := []WindowConfig{
		{Size: 40, Hop: 10},
		{Size: 2000, Hop: 200},
		{Time: 4 * time.Second, TimeHop: time.Second},
	}
	for _, c := range []struct {
		ref  *Reference
		cfg  WindowConfig
		wide bool
	}{{ckptReference(t), configs[0], false}, {ckptReference(t), configs[1], false}, {ckptReference(t), configs[2], false}, {fine, configs[1], true}} {
		ref, cfg := c.ref, c.cfg
		t.Run(fmt.Sprintf("%+v/wide=%v", cfg, c.wide), func(t *testing.T) {
			m, err := NewMonitor(ref, nil, cfg)
			if err != nil {
				t.Fatal(err)
			}
			store := segmentStore{}
			var known PaneSums
			var o Output
			evs := ckptEvents(3100)
			done := 0
			for _, upTo := range []int{1, 9, 10, 35, 45, 47, 120, 1999, 2000, 2013, 2555, 3100} {
				for ; done < upTo; done++ {
					feed(m, evs[done], &o)
				}
				cps := m.Checkpoint()
				cps[0].Topic, cps[0].Offset, cps[0].Gen = "events", int64(upTo), uint64(upTo)
				want, err := EncodeModelState(cps)
				if err != nil {
					t.Fatal(err)
				}
				for _, k := range []PaneSums{nil, known} {
					s, err := EncodeModelSegments(cps, k)
					if err != nil {
						t.Fatal(err)
					}
					direct, err := m.CheckpointSegments("events", 0, int64(upTo), uint64(upTo), k)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(direct.Head, s.Head) || !reflect.DeepEqual(direct.Segments, s.Segments) || !reflect.DeepEqual(direct.Panes, s.Panes) {
						t.Fatalf("after %d events: CheckpointSegments differs from EncodeModelSegments(Checkpoint())", upTo)
					}
					store.put(t, s)
					got, panes, err := DecodeModelSegments(s.Head, store.get)
					if err != nil {
						t.Fatalf("after %d events: %v", upTo, err)
					}
					again, err := EncodeModelState(got)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(again, want) {
						t.Fatalf("after %d events (known %d panes): decoded state differs from the state encoded whole", upTo, len(k))
					}
					if len(panes) != len(s.Panes) {
						t.Fatalf("decoding found %d count panes, encoding %d", len(panes), len(s.Panes))
					}
					known = s.Panes
					if cfg.Hop >= MinCUSUMPane && upTo >= 2000 && !slices.ContainsFunc(cps, func(cp FeatureCheckpoint) bool { return cp.CUSUM != nil && cp.CUSUM.UpPanes+cp.CUSUM.DownPanes > 0 }) {
						t.Fatal("no cusum state in the checkpoint: the head's cusum sums are not tested")
					}
					if c.wide && upTo > 2000 && !hasWideCell(cps) {
						t.Fatal("no event in a cell above 255: the two-byte cells are not tested")
					}
				}
			}
		})
	}
}

// hasWideCell reports whether a count window holds an event in a cell
// above 255.
func hasWideCell(cps []FeatureCheckpoint) bool {
	for _, cp := range cps {
		if s, err := decodeCountState(cp.Window); err == nil && slices.Max(append(s.Cells, 0)) > 255 {
			return true
		}
	}
	return false
}

// TestSegmentedStateStage2: a stage-2 monitor's state round-trips too.
func TestSegmentedStateStage2(t *testing.T) {
	ref := ckptReference(t)
	s1, _ := NewMonitor(ref, nil, WindowConfig{Size: 400, Hop: 50, Stage: StageEmit})
	s2, err := NewMonitor(ref, nil, WindowConfig{Size: 400, Hop: 50, Stage: StageMerge})
	if err != nil {
		t.Fatal(err)
	}
	var o1, got Output
	for _, e := range ckptEvents(1000) {
		feed(s1, e, &o1)
		for _, p := range o1.Panes {
			p.Source = "events/0"
			if _, err := s2.ApplyPane(&p, &got); err != nil {
				t.Fatal(err)
			}
		}
		o1.Reset()
	}
	cps := s2.Checkpoint()
	want, _ := EncodeModelState(cps)
	s, err := EncodeModelSegments(cps, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Segments) < 2 {
		t.Fatalf("stage-2 state in %d segments; its closed panes should be segments", len(s.Segments))
	}
	store := segmentStore{}
	store.put(t, s)
	back, _, err := DecodeModelSegments(s.Head, store.get)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := EncodeModelState(back); !bytes.Equal(again, want) {
		t.Fatal("stage-2 state differs after the segmented round trip")
	}
}

// TestSegmentedStateIncremental: after a checkpoint, the next one with
// a few more events encodes only the panes closed since (plus the head),
// and its head is far smaller than the state encoded whole.
func TestSegmentedStateIncremental(t *testing.T) {
	ref := ckptReference(t)
	cfg := WindowConfig{Size: 2000, Hop: 200}
	m, _ := NewMonitor(ref, nil, cfg)
	var o Output
	evs := ckptEvents(3000)
	for _, e := range evs[:2500] {
		feed(m, e, &o)
	}
	first, err := EncodeModelSegments(m.Checkpoint(), nil)
	if err != nil {
		t.Fatal(err)
	}
	store := segmentStore{}
	store.put(t, first)
	for _, e := range evs[2500:2530] { // closes no pane (2500 is a pane boundary)
		feed(m, e, &o)
	}
	cps := m.Checkpoint()
	whole, _ := EncodeModelState(cps)
	second, err := EncodeModelSegments(cps, first.Panes)
	if err != nil {
		t.Fatal(err)
	}
	if n := store.put(t, second); n != 0 {
		t.Errorf("no pane closed, yet %d bytes of new segments", n)
	}
	t.Logf("whole state %d bytes; segmented head %d bytes", len(whole), len(second.Head))
	if len(second.Head) > len(whole)/5 {
		t.Errorf("head %d bytes of a %d-byte state", len(second.Head), len(whole))
	}
	for _, e := range evs[2530:2700] { // closes one pane per feature
		feed(m, e, &o)
	}
	third, err := EncodeModelSegments(m.Checkpoint(), second.Panes)
	if err != nil {
		t.Fatal(err)
	}
	encoded := 0
	for _, s := range third.Segments {
		if s.Data != nil {
			encoded++
		}
	}
	if features := len(cps); encoded == 0 || encoded > features {
		t.Errorf("one pane closed per feature (%d features), %d segments encoded", features, encoded)
	}
}

// FuzzDecodeModelSegments: decoding arbitrary heads and segments never
// panics, and whatever decodes encodes back to the same head.
func FuzzDecodeModelSegments(f *testing.F) {
	ref := ckptReference(f)
	for _, cfg := range []WindowConfig{{Size: 40, Hop: 10}, {Time: 4 * time.Second, TimeHop: time.Second}} {
		m, _ := NewMonitor(ref, nil, cfg)
		var o Output
		for _, e := range ckptEvents(125) {
			feed(m, e, &o)
		}
		s, _ := EncodeModelSegments(m.Checkpoint(), nil)
		f.Add(s.Head, s.Segments[0].Data)
	}
	f.Fuzz(func(t *testing.T, head, segment []byte) {
		sums, err := HeadSegments(head)
		if err != nil {
			return
		}
		cps, _, err := DecodeModelSegments(head, func(SegmentSum) []byte { return segment })
		if err != nil {
			return
		}
		if len(cps) == 0 || len(sums) > len(head) {
			t.Fatalf("decoded %d features from %d sums", len(cps), len(sums))
		}
		if _, err := EncodeModelState(cps); err != nil {
			t.Fatalf("re-encoding a decoded state: %v", err)
		}
	})
}
