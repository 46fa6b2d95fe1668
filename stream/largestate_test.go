package stream

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/driftd/driftd/detector"
)

// wideReference is a model of n numeric features f000.. and a prediction.
func wideReference(t testing.TB, n int) *detector.Reference {
	b, err := detector.NewBuilder("wide", "1", detector.BuildOptions{Breakpoints: 100})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 7))
	for range 5000 {
		b.BeginRow()
		for j := range n {
			b.Add(fmt.Sprintf("f%03d", j), detector.Value{Kind: detector.Number, Num: rng.NormFloat64(), Parsed: true})
		}
		b.Add("prediction", detector.Value{Kind: detector.Number, Num: rng.Float64(), Parsed: true})
		b.EndRow()
	}
	ref, err := b.Reference()
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

func wideEvents(n, features int) [][]byte {
	rng := rand.New(rand.NewPCG(8, 8))
	out := make([][]byte, n)
	for i := range out {
		fs := make(map[string]any, features)
		for j := range features {
			fs[fmt.Sprintf("f%03d", j)] = float64(int(rng.NormFloat64()*1000)) / 1000
		}
		out[i], _ = json.Marshal(map[string]any{
			"model": "wide", "model_version": "1", "request_id": "r-" + strconv.Itoa(i),
			"timestamp": time.UnixMilli(1_764_100_800_000 + int64(i)).UTC().Format(time.RFC3339Nano),
			"features":  fs, "prediction": rng.Float64(),
		})
	}
	return out
}

// TestServiceLargeStateFitsTopic runs a model whose state is larger than
// a stock broker's max.message.bytes (1 MiB): 50 features, N = 12,000.
// The checkpoint is cut into records the state topic accepts, both when
// driftd creates the topic (1 MiB) and when the topic exists with a
// smaller max.message.bytes (128 KiB), in a transaction in exactly-once
// mode too, and a replica restores the exact
// state of an uninterrupted run. Earlier, the checkpoint failed with
// MESSAGE_TOO_LARGE.
func TestServiceLargeStateFitsTopic(t *testing.T) {
	const features, events = 50, 12000
	ref := wideReference(t, features)
	values := wideEvents(events, features)
	window := detector.WindowConfig{Size: events, Hop: 1000}
	for _, tc := range []struct {
		name  string
		topic int // max.message.bytes of a pre-created state topic; 0: driftd creates it
		eos   bool
	}{{"created", 0, false}, {"small-topic", 128 << 10, false}, {"exactly-once", 128 << 10, true}} {
		t.Run(tc.name, func(t *testing.T) {
			k := newTestKafka(t)
			cfg := k.config()
			cfg.ReferencesEnabled = false
			cfg.CheckpointInterval = time.Hour // the final checkpoint only
			cfg.ExactlyOnce = tc.eos
			k.createInput(1)
			limit := DefaultStateMaxMessageBytes
			if tc.topic > 0 {
				limit = tc.topic
				resp, err := kadm.NewClient(k.client()).CreateTopic(context.Background(), 1, 1, map[string]*string{
					"cleanup.policy": kadm.StringPtr("compact"), "max.message.bytes": kadm.StringPtr(strconv.Itoa(tc.topic)),
				}, cfg.StateTopic)
				if err == nil {
					err = resp.Err
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			cl := k.client()
			topic := cfg.InputTopics[0]
			recs := make([]*kgo.Record, len(values))
			for i, v := range values {
				recs[i] = &kgo.Record{Topic: topic, Value: v}
			}
			if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
				t.Fatal(err)
			}
			registry := NewRegistry()
			registry.Set(ref)
			svc, _, stop := runService(t, cfg, registry, window)
			waitProcessed(t, svc, events, 120*time.Second)
			if err := stop(); err != nil {
				t.Fatalf("service: %v", err)
			}
			if got, err := StateRecordLimit(context.Background(), kadm.NewClient(k.client()), cfg.StateTopic); got != limit {
				t.Errorf("state topic max.message.bytes %d (%v), want %d", got, err, limit)
			}

			want, _ := offlineRun(t, k.readAll(topic), ref, window)
			opts, _ := cfg.ClientOpts()
			id := TaskID{Topic: topic, Partition: 0}
			restored, err := restoreState(t.Context(), opts, cfg.StateTopic, []TaskID{id}, map[string]*detector.Reference{ref.Key(): ref}, nil, window, detector.SegmentConfig{}, nil, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			wantState := snapshot(t, want.Tasks()[id])
			if len(wantState) < 1<<20 {
				t.Fatalf("state is %d bytes; the test wants more than 1 MiB", len(wantState))
			}
			if got := snapshot(t, &Task{monitors: restored[id].monitors}); !bytes.Equal(got, wantState) {
				t.Errorf("restored state (%d bytes) differs from an uninterrupted run's (%d bytes)", len(got), len(wantState))
			}
			// Read after the restore, which waited for the transaction
			// markers of exactly-once mode (written after EndTxn returns).
			stateRecs := k.readAll(cfg.StateTopic)
			chunks, biggest := 0, 0
			for _, r := range stateRecs {
				biggest = max(biggest, len(r.Key)+len(r.Value))
				if bytes.HasPrefix(r.Value, []byte(segmentMagic)) {
					chunks++
				}
			}
			t.Logf("%d state records, %d segment chunks, largest %d bytes (topic accepts %d)", len(stateRecs), chunks, biggest, limit)
			if biggest+101 > limit {
				t.Errorf("a state record of %d bytes, more than the topic's %d", biggest, limit)
			}
			if chunks < 2 {
				t.Errorf("%d segment chunks: the state should not fit one record", chunks)
			}

		})
	}
}
