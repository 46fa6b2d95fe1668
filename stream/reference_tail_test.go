package stream

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/driftd/driftd/detector"
)

// TestReferenceLoaderReadsToEnd: the reference topic is read "to the end"
// by offsets. Before, start-up waited for a record at the end offset and
// hung (no /ready, nothing consumed) when the topic ended with a
// transaction marker — a reference published by a transactional producer,
// committed or aborted — or when its records had been deleted to the end.
func TestReferenceLoaderReadsToEnd(t *testing.T) {
	v1 := churnReference(t)
	v2 := churnReferenceOf(t, 2000, 1, rand.New(rand.NewPCG(2, 2)))
	cases := []struct {
		name    string
		publish func(t *testing.T, k *testKafka, topic string)
		want    string // reference ID of churn/3 once loaded ("": none)
	}{
		{"plain", func(t *testing.T, k *testKafka, topic string) {
			publishRef(t, k.client(), topic, v1)
		}, v1.ID},
		{"transaction_committed", func(t *testing.T, k *testKafka, topic string) {
			publishRefTxn(t, k, topic, v1, true)
		}, v1.ID},
		{"transaction_aborted_last", func(t *testing.T, k *testKafka, topic string) {
			publishRefTxn(t, k, topic, v1, true)
			publishRefTxn(t, k, topic, v2, false)
		}, v1.ID},
		{"deleted_to_end", func(t *testing.T, k *testKafka, topic string) {
			cl := k.client()
			publishRef(t, cl, topic, v1)
			adm := kadm.NewClient(cl)
			// Kafka refuses to delete records of a compact-only topic.
			if _, err := adm.AlterTopicConfigs(t.Context(), []kadm.AlterConfig{{Name: "cleanup.policy", Value: kadm.StringPtr("compact,delete")}}, topic); err != nil {
				t.Fatal(err)
			}
			ends, err := adm.ListEndOffsets(t.Context(), topic)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := adm.DeleteRecords(t.Context(), ends.Offsets())
			if err == nil {
				err = resp.Error()
			}
			if err != nil {
				t.Fatal(err)
			}
		}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			k := newTestKafka(t)
			cfg := k.config()
			k.createInput(1)
			k.ensureTopics(cfg)
			c.publish(t, k, cfg.ReferenceTopic)
			registry := NewRegistry()
			loader := &ReferenceLoader{Topic: cfg.ReferenceTopic, Registry: registry, Log: slog.New(slog.DiscardHandler)}
			opts, err := cfg.ClientOpts()
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			loaded := make(chan struct{})
			done := make(chan error, 1)
			go func() { done <- loader.Run(ctx, opts, loaded) }()
			select {
			case <-loaded:
			case err := <-done:
				t.Fatalf("loader stopped: %v", err)
			case <-time.After(20 * time.Second):
				t.Fatal("the references present at start were never reported loaded")
			}
			refs, _ := registry.Snapshot()
			got := ""
			if r := refs["churn/3"]; r != nil {
				got = r.ID
			}
			if got != c.want {
				t.Errorf("churn/3 reference %q, want %q", got, c.want)
			}
			cancel()
			<-done
		})
	}
}

func publishRef(t *testing.T, cl *kgo.Client, topic string, ref *detector.Reference) {
	t.Helper()
	if err := PublishReference(t.Context(), cl, topic, ref); err != nil {
		t.Fatal(err)
	}
}

// publishRefTxn publishes ref in a transaction, committed or aborted.
func publishRefTxn(t *testing.T, k *testKafka, topic string, ref *detector.Reference, commit bool) {
	t.Helper()
	cl := k.client(kgo.TransactionalID(k.prefix + "-publisher"))
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	publishRef(t, cl, topic, ref)
	if err := cl.EndTransaction(t.Context(), kgo.TransactionEndTry(commit)); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	// The broker writes the transaction's markers after EndTransaction
	// returns: wait until the last stable offset reaches the end, so the
	// reference is "present at start" of the loader.
	adm := kadm.NewClient(k.client())
	deadline := time.Now().Add(20 * time.Second)
	for {
		stable, err1 := adm.ListCommittedOffsets(t.Context(), topic)
		ends, err2 := adm.ListEndOffsets(t.Context(), topic)
		if err1 == nil && err2 == nil {
			s, _ := stable.Lookup(topic, 0)
			e, _ := ends.Lookup(topic, 0)
			if s.Offset == e.Offset {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the transaction's marker was never written")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
