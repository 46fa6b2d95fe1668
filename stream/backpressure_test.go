package stream

import (
	"context"
	"encoding/json"
	"maps"
	"math/rand/v2"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/driftd/driftd/detector"
)

// TestBackpressure makes the alert topic unavailable for a while (the
// broker answers every produce to it with a retriable error) while traffic
// keeps arriving. driftd must stop consuming instead of dropping anything:
// the group's lag grows, the metrics show records waiting for the broker,
// memory stays bounded; once the topic is back, every event is processed
// and every alert of an uninterrupted run is published.
func TestBackpressure(t *testing.T) {
	k := newTestKafka(t, kfake.SeedTopics(1))
	cfg := k.config()
	k.createInput(1)
	k.ensureTopics(cfg)
	adm := kadm.NewClient(k.client())
	td, err := adm.ListTopics(context.Background(), cfg.AlertTopic)
	if err != nil {
		t.Fatal(err)
	}
	alertID := [16]byte(td[cfg.AlertTopic].ID)
	var blocked atomic.Bool
	var refused atomic.Int64
	blocked.Store(true)
	k.refuseProduce(cfg.AlertTopic, alertID, &blocked, &refused)

	ref := churnReference(t)
	registry := NewRegistry()
	registry.Set(ref)
	cfg.ReferencesEnabled = false
	cfg.MaxPollRecords = 500
	cfg.GroupLagInterval = 200 * time.Millisecond
	svc, reg, stop := runService(t, cfg, registry, detector.DefaultWindow())
	cl := k.client(kgo.ProducerLinger(5 * time.Millisecond))
	rng := rand.New(rand.NewPCG(8, 8))
	seq := 0
	send := func(n, skew int) {
		var vs [][]byte
		for range n {
			vs = append(vs, churnEvent(rng, skew).json(seq))
			seq++
		}
		k.produce(cl, vs...)
	}
	// Skewed traffic raises alerts, which cannot be published.
	send(2000, 1)
	deadline := time.Now().Add(20 * time.Second)
	for refused.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no alert was attempted")
		}
		time.Sleep(10 * time.Millisecond)
	}
	processedAtBlock := svc.Processed()
	var heapMax uint64
	for range 10 {
		send(20000, 0) // 200,000 more events arrive while blocked
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		heapMax = max(heapMax, ms.HeapAlloc)
	}
	time.Sleep(300 * time.Millisecond)
	if p := svc.Processed(); p > processedAtBlock+uint64(cfg.MaxPollRecords) {
		t.Fatalf("kept consuming while its output was blocked: %d → %d records", processedAtBlock, p)
	}
	if v := counterValue(t, reg, "driftd_produce_buffered_records"); v == 0 {
		t.Error("driftd_produce_buffered_records shows nothing waiting while the alert topic refuses writes")
	}
	lags, err := adm.Lag(context.Background(), cfg.Group)
	if err != nil {
		t.Fatal(err)
	}
	lag := lags[cfg.Group].Lag.Total()
	if lag < 150000 {
		t.Fatalf("group lag %d while blocked, want it to grow past 150000", lag)
	}
	// The exported group lag follows the broker's, though nothing is
	// processed meanwhile.
	deadline = time.Now().Add(10 * time.Second)
	for counterValue(t, reg, "driftd_consumer_group_lag_records") < 150000 {
		if time.Now().After(deadline) {
			t.Fatalf("driftd_consumer_group_lag_records = %v while blocked with lag %d", counterValue(t, reg, "driftd_consumer_group_lag_records"), lag)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("blocked: %d produce requests refused, lag %d, heap ≤ %.0f MB (test process, broker included)", refused.Load(), lag, float64(heapMax)/1e6)
	if heapMax > 1<<30 {
		t.Errorf("heap grew to %d bytes while blocked", heapMax)
	}

	blocked.Store(false)
	total := uint64(seq)
	waitProcessed(t, svc, total, 60*time.Second)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	_, want := offlineRun(t, k.readAll(cfg.InputTopics[0]), ref, detector.DefaultWindow())
	var got []detector.Alert
	for _, r := range k.readAll(cfg.AlertTopic) {
		var a detector.Alert
		json.Unmarshal(r.Value, &a)
		got = append(got, a)
	}
	g, w := alertSet(got), alertSet(want)
	if len(w) == 0 || !maps.Equal(g, w) {
		t.Fatalf("alerts after the outage %v, want %v", keys(g), keys(w))
	}
}

// refuseProduce makes the broker answer every write to topic (by name or
// ID) with a retriable error while blocked is set, counting the refused
// requests.
func (k *testKafka) refuseProduce(topic string, id [16]byte, blocked *atomic.Bool, refused *atomic.Int64) {
	k.cluster.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		k.cluster.KeepControl()
		pr := req.(*kmsg.ProduceRequest)
		if !blocked.Load() {
			return nil, nil, false
		}
		hit := false
		for _, tp := range pr.Topics {
			if tp.Topic == topic || tp.TopicID == id {
				hit = true
			}
		}
		if !hit {
			return nil, nil, false
		}
		refused.Add(1)
		resp := pr.ResponseKind().(*kmsg.ProduceResponse)
		for _, tp := range pr.Topics {
			rt := kmsg.NewProduceResponseTopic()
			rt.Topic, rt.TopicID = tp.Topic, tp.TopicID
			for _, p := range tp.Partitions {
				rp := kmsg.NewProduceResponseTopicPartition()
				rp.Partition = p.Partition
				rp.ErrorCode = kerr.NotEnoughReplicas.Code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil, true
	})
}
