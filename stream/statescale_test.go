package stream

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/driftd/driftd/detector"
)

// TestStateScale measures checkpoints at scale on a real broker: the
// bytes written per checkpoint and the fraction of the run the pipeline
// spent checkpointing. It runs only with DRIFTD_STATE_SCALE set to a
// scenario, models×features×window×events (e.g. 20x26x10000x300000),
// and DRIFTD_TEST_BROKERS; DRIFTD_STATE_SCALE_TOPIC_BYTES pre-creates the
// state topic with that max.message.bytes (default: driftd creates it).
// All models share one input partition. See BENCHMARKS.md.
func TestStateScale(t *testing.T) {
	spec := os.Getenv("DRIFTD_STATE_SCALE")
	if spec == "" || os.Getenv("DRIFTD_TEST_BROKERS") == "" {
		t.Skip("set DRIFTD_STATE_SCALE=models x features x window x events and DRIFTD_TEST_BROKERS")
	}
	var dims [4]int
	parts := strings.Split(spec, "x")
	if len(parts) != 4 {
		t.Fatalf("DRIFTD_STATE_SCALE=%q: want models x features x window x events", spec)
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 {
			t.Fatalf("DRIFTD_STATE_SCALE=%q: %q is not a positive count", spec, p)
		}
		dims[i] = n
	}
	models, features, size, events := dims[0], dims[1], dims[2], dims[3]
	interval := 2 * time.Second
	if v := os.Getenv("DRIFTD_STATE_SCALE_INTERVAL"); v != "" {
		var err error
		if interval, err = time.ParseDuration(v); err != nil {
			t.Fatal(err)
		}
	}

	k := newTestKafka(t)
	cfg := k.config()
	cfg.ReferencesEnabled = false
	cfg.CheckpointInterval = interval
	k.createInput(1)
	if v := os.Getenv("DRIFTD_STATE_SCALE_TOPIC_BYTES"); v != "" {
		resp, err := kadm.NewClient(k.client()).CreateTopic(context.Background(), 1, 1, map[string]*string{
			"cleanup.policy": kadm.StringPtr("compact"), "max.message.bytes": kadm.StringPtr(v),
		}, cfg.StateTopic)
		if err == nil {
			err = resp.Err
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	registry := NewRegistry()
	names := make([]string, features)
	for j := range names {
		names[j] = fmt.Sprintf("f%03d", j)
	}
	rng := rand.New(rand.NewPCG(5, 5))
	for m := range models {
		b, err := detector.NewBuilder(fmt.Sprintf("m%03d", m), "1", detector.BuildOptions{Breakpoints: 100})
		if err != nil {
			t.Fatal(err)
		}
		for range 2000 {
			b.BeginRow()
			for _, n := range names {
				b.Add(n, detector.Value{Kind: detector.Number, Num: rng.NormFloat64(), Parsed: true})
			}
			b.EndRow()
		}
		ref, err := b.Reference()
		if err != nil {
			t.Fatal(err)
		}
		registry.Set(ref)
	}

	// Produce the events: models round-robin, two-decimal values.
	cl := k.client(kgo.ProducerLinger(5*time.Millisecond), kgo.MaxBufferedRecords(20000))
	topic := cfg.InputTopics[0]
	start := time.Now()
	var perr error
	var buf []byte
	for i := range events {
		buf = buf[:0]
		buf = append(buf, `{"model":"m`...)
		buf = fmt.Appendf(buf, "%03d", i%models)
		buf = append(buf, `","model_version":"1","timestamp":"`...)
		buf = time.UnixMilli(1_764_100_800_000+int64(i)).UTC().AppendFormat(buf, time.RFC3339Nano)
		buf = append(buf, `","features":{`...)
		for j, n := range names {
			if j > 0 {
				buf = append(buf, ',')
			}
			buf = append(buf, '"')
			buf = append(buf, n...)
			buf = append(buf, `":`...)
			buf = strconv.AppendFloat(buf, float64(int(rng.NormFloat64()*100))/100, 'f', -1, 64)
		}
		buf = append(buf, "}}"...)
		cl.Produce(context.Background(), &kgo.Record{Topic: topic, Value: append([]byte(nil), buf...)}, func(_ *kgo.Record, err error) {
			if err != nil && perr == nil {
				perr = err
			}
		})
	}
	if err := cl.Flush(context.Background()); err != nil || perr != nil {
		t.Fatal(err, perr)
	}
	t.Logf("produced %d events of %d bytes in %s", events, len(buf), time.Since(start).Round(time.Millisecond))

	window := detector.WindowConfig{Size: size, Hop: size / 8}
	svc, reg, stop := runService(t, cfg, registry, window)
	waitProcessed(t, svc, 1, 2*time.Minute)
	start = time.Now() // from the first event (after the group join)
	for last, since := svc.Processed(), time.Now(); svc.Processed() < uint64(events); time.Sleep(20 * time.Millisecond) {
		if n := svc.Processed(); n != last {
			last, since = n, time.Now()
		} else if time.Since(since) > time.Minute {
			t.Fatalf("stalled at %d of %d events: %v", n, events, stop())
		}
	}
	if err := stop(); err != nil { // with the final checkpoint
		t.Fatalf("service: %v", err)
	}
	wall := time.Since(start)
	ckpts := counterValue(t, reg, "driftd_checkpoints_total")
	bytes := counterValue(t, reg, "driftd_checkpoint_bytes_total")
	secs := histogramSum(t, reg, "driftd_checkpoint_duration_seconds")
	t.Logf("scenario %d models x %d features, N = %d, %d events, interval %s", models, features, size, events, interval)
	t.Logf("processed and stopped in %s (%.0f events/s); %.0f checkpoints (the last at shutdown), %.1f MB written, %.2f MB per checkpoint",
		wall.Round(time.Millisecond), float64(events)/wall.Seconds(), ckpts, bytes/1e6, bytes/1e6/ckpts)
	t.Logf("checkpointing took %.2f s in all: %.1f%% of the run", secs, 100*secs/wall.Seconds())
}

func histogramSum(t testing.TB, reg *prometheus.Registry, name string) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetHistogram().GetSampleSum()
			}
		}
	}
	return sum
}
