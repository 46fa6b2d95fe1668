package stream

import (
	"errors"
	mrand "math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/driftd/driftd/detector"
)

// waitCond polls cond until it holds or d passes.
func waitCond(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestServiceReadiness: /ready follows the ability to make progress. A
// replica without partitions is not ready, nor is one whose brokers stopped
// answering; both become ready again when that changes. Before, readiness
// was "group joined once and references loaded": 200 through an outage
// and with no partitions.
func TestServiceReadiness(t *testing.T) {
	var down atomic.Bool
	k := newTestKafka(t, kfake.SeedTopics(1, "seed")) // kfake: the outage is simulated
	k.cluster.Control(func(kmsg.Request) (kmsg.Response, error, bool) {
		k.cluster.KeepControl()
		if down.Load() {
			return nil, errors.New("broker down"), true // closes the connection
		}
		return nil, nil, false
	})
	cfg := k.config()
	cfg.ReadinessBrokerTimeout = 2 * time.Second
	cfg.GroupLagInterval = 0
	k.createInput(1)
	k.ensureTopics(cfg)

	first, _, _ := runService(t, cfg, NewRegistry(), detector.DefaultWindow())
	waitCond(t, 30*time.Second, "first replica ready", first.Ready)

	// A second replica: one partition for two, so one of them is idle.
	cfg2 := cfg
	cfg2.ClientID = "driftd-test-2"
	second, _, stopSecond := runService(t, cfg2, NewRegistry(), detector.DefaultWindow())
	if ok, reason := second.Readiness(); ok || !strings.Contains(reason, "start") {
		// Not a strict check of timing: the second replica has not
		// joined yet right after it started.
		t.Logf("second replica at start: %v %q", ok, reason)
	}
	waitCond(t, 30*time.Second, "exactly one replica ready, the other without partitions", func() bool {
		r1, why1 := first.Readiness()
		r2, why2 := second.Readiness()
		idle := why1
		if r1 {
			idle = why2
		}
		return r1 != r2 && strings.Contains(idle, "no input partitions")
	})
	if err := stopSecond(); err != nil {
		t.Fatal(err)
	}
	waitCond(t, 30*time.Second, "first replica ready again with the partition back", first.Ready)

	// Outage: the broker closes every connection.
	down.Store(true)
	waitCond(t, 20*time.Second, "not ready during the outage", func() bool {
		ok, reason := first.Readiness()
		return !ok && strings.Contains(reason, "no answer from the brokers")
	})
	down.Store(false)
	waitCond(t, 30*time.Second, "ready after the outage", first.Ready)
}

// TestServiceLiveness: /healthz fails when the pipeline makes no progress
// with work pending (here: the DLQ topic refuses every write with a
// retriable error, so the records that need a dead letter can never be
// committed), stays live while idle, and recovers once the output does.
// Before, /healthz answered 200 whatever the pipeline did.
func TestServiceLiveness(t *testing.T) {
	for _, eos := range []bool{false, true} {
		t.Run(map[bool]string{false: "at_least_once", true: "exactly_once"}[eos], func(t *testing.T) {
			var refuse atomic.Bool
			k := newTestKafka(t, kfake.SeedTopics(1, "seed"))
			cfg := k.config()
			cfg.ExactlyOnce = eos
			cfg.LivenessTimeout = 3 * time.Second
			cfg.GroupLagInterval = 0
			k.createInput(1)
			k.ensureTopics(cfg)
			td, err := kadm.NewClient(k.client()).ListTopics(t.Context(), cfg.DLQTopic)
			if err != nil {
				t.Fatal(err)
			}
			dlqID := td[cfg.DLQTopic].ID
			k.cluster.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
				k.cluster.KeepControl()
				pr := req.(*kmsg.ProduceRequest)
				if !refuse.Load() {
					return nil, nil, false
				}
				hit := false
				for _, tp := range pr.Topics {
					hit = hit || tp.Topic == cfg.DLQTopic || tp.TopicID == dlqID // by ID from Produce v13
				}
				if !hit {
					return nil, nil, false
				}
				resp := pr.ResponseKind().(*kmsg.ProduceResponse)
				for _, tp := range pr.Topics {
					rt := kmsg.NewProduceResponseTopic()
					rt.Topic, rt.TopicID = tp.Topic, tp.TopicID
					for _, p := range tp.Partitions {
						rp := kmsg.NewProduceResponseTopicPartition()
						rp.Partition = p.Partition
						rp.ErrorCode = kerr.NotEnoughReplicas.Code // retriable: retried for ever
						rt.Partitions = append(rt.Partitions, rp)
					}
					resp.Topics = append(resp.Topics, rt)
				}
				return resp, nil, true
			})
			cl := k.client()
			svc, _, stop := runService(t, cfg, NewRegistry(), detector.DefaultWindow())
			waitCond(t, 30*time.Second, "ready", svc.Ready)

			// Idle for longer than the bound: still live.
			time.Sleep(4 * time.Second)
			if ok, reason := svc.Liveness(); !ok {
				t.Fatalf("idle pipeline not live: %s", reason)
			}

			refuse.Store(true)
			rng := mrand.New(mrand.NewPCG(3, 3))
			k.produce(cl, churnEvent(rng, 0).json(0), []byte("not json"), churnEvent(rng, 0).json(1))
			waitCond(t, 30*time.Second, "liveness fails while the dead letter cannot be written", func() bool {
				ok, reason := svc.Liveness()
				return !ok && strings.Contains(reason, "no progress")
			})
			refuse.Store(false)
			waitCond(t, 60*time.Second, "live again once the DLQ accepts", func() bool {
				ok, _ := svc.Liveness()
				return ok
			})
			waitCond(t, 60*time.Second, "the records committed", func() bool { return k.committed(cfg.Group)[0] == 3 })
			if err := stop(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestServiceLivenessStartupStall: a start-up step that never ends (here
// the reference topic's offsets are never answered) fails liveness after
// DRIFTD_LIVENESS_TIMEOUT and names the step.
func TestServiceLivenessStartupStall(t *testing.T) {
	k := newTestKafka(t, kfake.SeedTopics(1, "seed"))
	cfg := k.config()
	cfg.LivenessTimeout = 2 * time.Second
	k.createInput(1)
	k.ensureTopics(cfg)
	var stall atomic.Bool
	stall.Store(true)
	k.cluster.ControlKey(int16(kmsg.ListOffsets), func(kmsg.Request) (kmsg.Response, error, bool) {
		k.cluster.KeepControl()
		return nil, nil, stall.Load() // handled without a response: the client waits
	})
	svc, _, _ := runService(t, cfg, NewRegistry(), detector.DefaultWindow())
	waitCond(t, 20*time.Second, "liveness fails during the stalled start-up", func() bool {
		ok, reason := svc.Liveness()
		return !ok && strings.Contains(reason, "loading the references")
	})
	if ok, reason := svc.Readiness(); ok || !strings.Contains(reason, "loading the references") {
		t.Errorf("readiness during the stalled start-up: %v %q", ok, reason)
	}
	stall.Store(false)
}
