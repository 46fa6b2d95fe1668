package stream

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/driftd/driftd/detector"
)

// TestServiceAlertTopicDeleted: the alert topic deleted while driftd runs
// is created again and the alerts land in it, in both delivery modes;
// with DRIFTD_CREATE_TOPICS=false driftd stops with an error that says
// what happened. Before, it exited 1 after ~18 s with "unknown topic or
// partition", and a restart was needed.
func TestServiceAlertTopicDeleted(t *testing.T) {
	for _, c := range []struct {
		eos, create bool
	}{{false, true}, {true, true}, {false, false}} {
		t.Run(fmt.Sprintf("eos_%v_create_%v", c.eos, c.create), func(t *testing.T) {
			k := newTestKafka(t)
			cfg := k.config()
			cfg.ExactlyOnce = c.eos
			k.createInput(1)
			k.ensureTopics(cfg)
			cfg.CreateTopics = c.create
			cl := k.client()
			adm := kadm.NewClient(cl)
			if err := PublishReference(t.Context(), cl, cfg.ReferenceTopic, churnReference(t)); err != nil {
				t.Fatal(err)
			}
			svc := newStartupService(t, cfg)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- svc.Run(ctx, 20*time.Second) }()
			stop := func() error { cancel(); return <-done }
			k.produce(cl, []byte("not json"))
			waitCond(t, 30*time.Second, "first record committed", func() bool { return committedAt(adm, cfg.InputTopics[0], cfg.Group) == 1 })

			resp, err := adm.DeleteTopics(t.Context(), cfg.AlertTopic)
			if err == nil {
				err = resp.Error()
			}
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(31, 31))
			var values [][]byte
			for i := range 1500 {
				values = append(values, churnEvent(rng, 1).json(i)) // skewed: alerts
			}
			k.produce(cl, values...)
			if !c.create {
				var err error
				select {
				case err = <-done:
				case <-time.After(90 * time.Second):
					t.Fatal("the service neither stopped nor recreated the topic")
				}
				if err == nil || !strings.Contains(err.Error(), cfg.AlertTopic) || !strings.Contains(err.Error(), "no longer exists") ||
					!strings.Contains(err.Error(), "DRIFTD_CREATE_TOPICS=false") {
					t.Fatalf("error %v, want one saying the alert topic no longer exists", err)
				}
				return
			}
			waitProcessed(t, svc, 1501, 60*time.Second)
			waitCond(t, 90*time.Second, "all records committed", func() bool { return committedAt(adm, cfg.InputTopics[0], cfg.Group) == 1501 })
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			firing := 0
			for _, r := range k.readAll(cfg.AlertTopic) {
				var a detector.Alert
				if json.Unmarshal(r.Value, &a) == nil && a.Status == detector.Firing {
					firing++
				}
			}
			if firing == 0 {
				t.Fatal("no alert in the recreated alert topic")
			}
		})
	}
}

// committedAt is the group's committed offset of input partition 0, or -1
// (also while the group does not exist yet).
func committedAt(adm *kadm.Client, topic, group string) int64 {
	resp, err := adm.FetchOffsets(context.Background(), group)
	if err != nil {
		return -1
	}
	if o, ok := resp.Lookup(topic, 0); ok && o.Err == nil {
		return o.At
	}
	return -1
}
