package stream

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/driftd/driftd/detector"
)

// TestCheckpointInBackground: a checkpoint is written while consumption
// goes on. The broker holds back every write to the state topic (it
// answers with a retriable error): once a checkpoint is under way,
// driftd keeps consuming and processes the events that follow (with
// checkpoints written synchronously it would stop at that checkpoint),
// starts no other checkpoint, and commits no offset the held-back
// checkpoint covers. Once the state topic
// accepts writes again, the checkpoints complete, the offsets are
// committed, and the state read back equals an uninterrupted run's.
func TestCheckpointInBackground(t *testing.T) {
	k := newTestKafka(t, kfake.SeedTopics(1))
	cfg := k.config()
	cfg.ReferencesEnabled = false
	cfg.CheckpointInterval = 100 * time.Millisecond
	k.createInput(1)
	k.ensureTopics(cfg)
	td, err := kadm.NewClient(k.client()).ListTopics(context.Background(), cfg.StateTopic)
	if err != nil {
		t.Fatal(err)
	}
	stateID := [16]byte(td[cfg.StateTopic].ID)
	var blocked atomic.Bool
	var refused atomic.Int64
	k.refuseProduce(cfg.StateTopic, stateID, &blocked, &refused)

	ref := churnReference(t)
	registry := NewRegistry()
	registry.Set(ref)
	window := detector.WindowConfig{Size: 400, Hop: 50}
	rng := rand.New(rand.NewPCG(11, 11))
	var first, second [][]byte
	for i := range 3000 {
		v := churnEvent(rng, 0).json(i)
		if i < 1000 {
			first = append(first, v)
		} else {
			second = append(second, v)
		}
	}
	cl := k.client()
	k.produce(cl, first...)
	svc, _, stop := runService(t, cfg, registry, window)
	waitProcessed(t, svc, 1000, 30*time.Second)
	time.Sleep(3 * cfg.CheckpointInterval) // a checkpoint of the first 1000 is durable
	committedBefore := k.committed(cfg.Group)[0]
	if committedBefore != 1000 {
		t.Fatalf("committed %d before holding back the state topic, want 1000", committedBefore)
	}
	blocked.Store(true)
	k.produce(cl, second[:1000]...)
	waitCond(t, 30*time.Second, "a checkpoint held back", func() bool { return refused.Load() > 0 })
	// A checkpoint is in flight and cannot complete; the events that
	// follow are processed all the same.
	k.produce(cl, second[1000:]...)
	waitProcessed(t, svc, 3000, 30*time.Second)
	time.Sleep(5 * cfg.CheckpointInterval)
	if c := k.committed(cfg.Group)[0]; c != committedBefore {
		t.Fatalf("committed offset %d while the checkpoint covering it was held back (was %d)", c, committedBefore)
	}
	t.Logf("3000 events processed while %d writes to the state topic were refused; committed offset stayed at %d", refused.Load(), committedBefore)
	blocked.Store(false)
	deadline := time.Now().Add(30 * time.Second)
	for k.committed(cfg.Group)[0] != 3000 {
		if time.Now().After(deadline) {
			t.Fatalf("committed %d of 3000 after the state topic accepted writes again", k.committed(cfg.Group)[0])
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	want, _ := offlineRun(t, k.readAll(cfg.InputTopics[0]), ref, window)
	opts, _ := cfg.ClientOpts()
	id := TaskID{Topic: cfg.InputTopics[0], Partition: 0}
	restored, err := restoreState(t.Context(), opts, cfg.StateTopic, []TaskID{id}, map[string]*detector.Reference{ref.Key(): ref}, nil, window, detector.SegmentConfig{}, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if got, wantState := snapshot(t, &Task{monitors: restored[id].monitors}), snapshot(t, want.Tasks()[id]); string(got) != string(wantState) {
		t.Fatalf("restored state (%d bytes) differs from an uninterrupted run's (%d bytes)", len(got), len(wantState))
	}
}
