package stream

import (
	"context"
	"crypto/rand"
	mrand "math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/driftd/driftd/detector"
)

// TestServiceOversizedDeadLetter: a record larger than the DLQ topic's
// max.message.bytes is dead-lettered as a truncated copy, with its headers
// and the reason, in both delivery modes; the pipeline commits past it.
// Before the fix, exactly-once mode aborted every transaction for ever
// (the refused dead letter aborted it, the replay produced it again).
func TestServiceOversizedDeadLetter(t *testing.T) {
	for _, eos := range []bool{false, true} {
		t.Run(map[bool]string{false: "at_least_once", true: "exactly_once"}[eos], func(t *testing.T) {
			k := newTestKafka(t)
			cfg := k.config()
			cfg.ExactlyOnce = eos
			cfg.MaxEventBytes = 64 << 10
			k.createInput(1)
			// The DLQ topic refuses records over 20 kB.
			adm := kadm.NewClient(k.client())
			resp, err := adm.CreateTopic(t.Context(), 1, 1, map[string]*string{"max.message.bytes": kadm.StringPtr("20000")}, cfg.DLQTopic)
			if err == nil {
				err = resp.Err
			}
			if err != nil {
				t.Fatal(err)
			}
			k.ensureTopics(cfg)
			cl := k.client()
			if err := PublishReference(t.Context(), cl, cfg.ReferenceTopic, churnReference(t)); err != nil {
				t.Fatal(err)
			}
			big := make([]byte, 100_000) // incompressible: compression cannot save it
			rand.Read(big)
			rng := mrand.New(mrand.NewPCG(1, 1))
			var values [][]byte
			for i := range 500 {
				if i == 250 {
					values = append(values, big)
				}
				values = append(values, churnEvent(rng, 0).json(i))
			}
			k.produce(cl, values...)
			total := uint64(len(values))

			svc, reg, stop := runService(t, cfg, NewRegistry(), detector.DefaultWindow())
			waitProcessed(t, svc, total, 60*time.Second)
			end := k.endOffsets()
			deadline := time.Now().Add(60 * time.Second)
			for k.committed(cfg.Group)[0] != end[0] {
				if time.Now().After(deadline) {
					t.Fatalf("committed %v, want the end %v: the pipeline is stuck", k.committed(cfg.Group), end)
				}
				time.Sleep(100 * time.Millisecond)
			}
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			if got := counterValue(t, reg, "driftd_records_consumed_total"); got != float64(total) {
				t.Errorf("records consumed %v, want %d (each once: no aborted transaction replayed)", got, total)
			}
			if got := counterValue(t, reg, "driftd_dead_letters_truncated_total"); got != 1 {
				t.Errorf("dead letters truncated %v, want 1", got)
			}
			dlq := k.readAll(cfg.DLQTopic)
			if len(dlq) != 1 {
				t.Fatalf("%d dead letters, want 1", len(dlq))
			}
			d := dlq[0]
			if header(d, HeaderReason) != "too_large" || header(d, HeaderSourceOffset) != "250" ||
				header(d, HeaderValueTruncated) != strconv.Itoa(len(big)) || header(d, HeaderTruncation) != TruncationRecordTooLarge {
				t.Errorf("dead letter headers %v", d.Headers)
			}
			if len(d.Value) == 0 || len(d.Value) >= 20000 || string(d.Value) != string(big[:len(d.Value)]) {
				t.Errorf("dead letter value: %d bytes, want a prefix of the record under 20000 bytes", len(d.Value))
			}
		})
	}
}

// TestServiceDeadLettersRefusedTogether: dead letters that each fit the
// DLQ topic but are refused batched together are dead-lettered without
// their values, in both modes (exactly-once: after one aborted
// transaction), and the pipeline goes on.
func TestServiceDeadLettersRefusedTogether(t *testing.T) {
	for _, eos := range []bool{false, true} {
		t.Run(map[bool]string{false: "at_least_once", true: "exactly_once"}[eos], func(t *testing.T) {
			k := newTestKafka(t)
			cfg := k.config()
			cfg.ExactlyOnce = eos
			k.createInput(1)
			adm := kadm.NewClient(k.client())
			resp, err := adm.CreateTopic(t.Context(), 1, 1, map[string]*string{"max.message.bytes": kadm.StringPtr("20000")}, cfg.DLQTopic)
			if err == nil {
				err = resp.Err
			}
			if err != nil {
				t.Fatal(err)
			}
			k.ensureTopics(cfg)
			cl := k.client()
			var values [][]byte
			for range 4 {
				v := make([]byte, 12_000)
				rand.Read(v)
				values = append(values, v)
			}
			k.produce(cl, values...)
			svc, _, stop := runService(t, cfg, NewRegistry(), detector.DefaultWindow())
			waitProcessed(t, svc, 4, 60*time.Second)
			ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			defer cancel()
			for k.committed(cfg.Group)[0] != 4 {
				if ctx.Err() != nil {
					t.Fatalf("committed %v, want 4: the pipeline is stuck", k.committed(cfg.Group))
				}
				time.Sleep(100 * time.Millisecond)
			}
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			offsets := map[string]bool{}
			for _, d := range k.readAll(cfg.DLQTopic) {
				if header(d, HeaderReason) != "not_json" {
					t.Errorf("reason %q", header(d, HeaderReason))
				}
				if len(d.Value) != 12_000 && header(d, HeaderValueTruncated) != "12000" {
					t.Errorf("a dead letter of %d bytes without %s", len(d.Value), HeaderValueTruncated)
				}
				offsets[header(d, HeaderSourceOffset)] = true
			}
			if len(offsets) != 4 {
				t.Errorf("dead letters of offsets %v, want all 4", offsets)
			}
		})
	}
}
