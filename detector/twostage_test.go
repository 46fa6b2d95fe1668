package detector

import (
	"reflect"
	"testing"
)

// TestTwoStageMatchesSingleStage runs the same events through one
// single-stage monitor and through stage 1 → pane records → stage 2. With
// the model on one source, stage 2's windows are the single-stage windows
// pane for pane, so the evaluations and the alerts (IDs included) must be
// identical. Every pane is also delivered twice (a stage-1 replay), and
// stage 2 is checkpointed and restored mid-way. Panes of 100 events: the
// cusum test runs, in stage 2 on stage 1's panes.
func TestTwoStageMatchesSingleStage(t *testing.T) {
	ref := ckptReference(t)
	evs := ckptEvents(6000)
	single, _ := NewMonitor(ref, nil, WindowConfig{Size: 800, Hop: 100})
	s1, err := NewMonitor(ref, nil, WindowConfig{Size: 800, Hop: 100, Stage: StageEmit})
	if err != nil {
		t.Fatal(err)
	}
	s2, err := NewMonitor(ref, nil, WindowConfig{Size: 800, Hop: 100, Stage: StageMerge})
	if err != nil {
		t.Fatal(err)
	}
	var want, o1, got Output
	duplicates := 0
	for i, e := range evs {
		feed(single, e, &want)
		feed(s1, e, &o1)
		for _, p := range o1.Panes {
			p.Source = "events/0"
			data, err := EncodePaneRecord(&p)
			if err != nil {
				t.Fatal(err)
			}
			rec, err := DecodePaneRecord(data)
			if err != nil {
				t.Fatal(err)
			}
			for range 2 {
				applied, err := s2.ApplyPane(rec, &got)
				if err != nil {
					t.Fatal(err)
				}
				if !applied {
					duplicates++
				}
			}
		}
		o1.Reset()
		if i == 3001 {
			cps := s2.Checkpoint()
			if s2, err = RestoreMonitor(ref, nil, WindowConfig{Size: 800, Hop: 100, Stage: StageMerge}, roundTrip(t, cps)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if duplicates != len(evs)/100*4 {
		t.Fatalf("%d duplicate panes ignored, want %d", duplicates, len(evs)/100*4)
	}
	if !sameEvals(got.Evaluations, want.Evaluations) {
		t.Fatalf("stage 2 made %d evaluations, single stage %d (or they differ)", len(got.Evaluations), len(want.Evaluations))
	}
	if len(want.Alerts) < 4 || !reflect.DeepEqual(alertIDs(got.Alerts), alertIDs(want.Alerts)) {
		t.Fatalf("stage 2 alerts %v, single stage %v", alertIDs(got.Alerts), alertIDs(want.Alerts))
	}
	if _, err := s2.ApplyPane(&PaneRecord{Model: "m", Version: "1", Feature: "f00", ReferenceID: "sha256:other"}, &got); err != ErrReferenceMismatch {
		t.Fatalf("pane of another reference: %v", err)
	}
}

func FuzzDecodePaneRecord(f *testing.F) {
	ref := ckptReference(f)
	s1, _ := NewMonitor(ref, nil, WindowConfig{Size: 40, Hop: 10, Stage: StageEmit})
	s2, _ := NewMonitor(ref, nil, WindowConfig{Size: 40, Hop: 10, Stage: StageMerge})
	var o Output
	for _, e := range ckptEvents(30) {
		feed(s1, e, &o)
	}
	for _, p := range o.Panes {
		p.Source = "x/0"
		data, _ := EncodePaneRecord(&p)
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodePaneRecord(data)
		if err != nil {
			return
		}
		r.ReferenceID = ref.ID
		var out Output
		s2.ApplyPane(r, &out) // must not panic, whatever it holds
	})
}
