package stream

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/driftd/driftd/detector"
)

// runWithOutput runs a service over skewed events and one malformed
// record, so that it produces alerts and a dead letter, and returns when
// they are committed.
func runWithOutput(t *testing.T, k *testKafka, cfg Config) {
	t.Helper()
	k.createInput(1)
	k.ensureTopics(cfg)
	cl := k.client()
	if err := PublishReference(t.Context(), cl, cfg.ReferenceTopic, churnReference(t)); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(21, 21))
	values := [][]byte{[]byte("{not json")}
	for i := range 1500 {
		values = append(values, churnEvent(rng, 1).json(i))
	}
	k.produce(cl, values...)
	svc, _, stop := runService(t, cfg, NewRegistry(), detector.DefaultWindow())
	waitProcessed(t, svc, uint64(len(values)), 60*time.Second)
	waitCond(t, 60*time.Second, "offsets committed", func() bool { return k.committed(cfg.Group)[0] == int64(len(values)) })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// TestServiceProducerCompression: what driftd produces is compressed with
// DRIFTD_PRODUCER_COMPRESSION, gzip by default (readable by every
// mainstream client without extras). Before, it was always snappy.
func TestServiceProducerCompression(t *testing.T) {
	// Kafka's record batch attribute codes.
	codes := map[string]uint8{"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
	for _, name := range []string{"", "none", "zstd"} {
		label := name
		if label == "" {
			label = "default"
		}
		t.Run(label, func(t *testing.T) {
			k := newTestKafka(t)
			cfg := k.config()
			if name != "" {
				cfg.ProducerCompression = name
			}
			want := codes[cfg.ProducerCompression]
			if name == "" && want != codes["gzip"] {
				t.Fatalf("default compression %q, want gzip", cfg.ProducerCompression)
			}
			runWithOutput(t, k, cfg)
			for _, topic := range []string{cfg.DLQTopic, cfg.AlertTopic} {
				recs := k.readAll(topic)
				if len(recs) == 0 {
					t.Fatalf("nothing on %s", topic)
				}
				for _, r := range recs {
					if got := r.Attrs.CompressionType(); got != want {
						t.Fatalf("%s: a batch compressed with codec %d, want %d (%s)", topic, got, want, cfg.ProducerCompression)
					}
				}
			}
		})
	}
}

// TestServiceKafkaPythonReadsOutput: kafka-python, without its optional
// compression libraries, reads driftd's alerts and dead letters with the
// default compression. It runs when DRIFTD_TEST_PYTHON names a Python
// with kafka-python installed (CI pins it).
func TestServiceKafkaPythonReadsOutput(t *testing.T) {
	python := os.Getenv("DRIFTD_TEST_PYTHON")
	if python == "" {
		t.Skip("set DRIFTD_TEST_PYTHON to a Python with kafka-python")
	}
	k := newTestKafka(t)
	cfg := k.config()
	runWithOutput(t, k, cfg)
	script, _ := filepath.Abs(filepath.Join("testdata", "kafka_python_read.py"))
	out, err := exec.Command(python, script, k.brokers[0], cfg.AlertTopic, cfg.DLQTopic).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("kafka-python: %v\n%s", err, stderr)
	}
	var got map[string][]struct {
		Value   string            `json:"value"`
		Headers map[string]string `json:"headers"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if n := len(got[cfg.DLQTopic]); n != 1 || got[cfg.DLQTopic][0].Value != "{not json" || got[cfg.DLQTopic][0].Headers[HeaderReason] != "not_json" {
		t.Errorf("kafka-python read the DLQ as %+v", got[cfg.DLQTopic])
	}
	alerts := got[cfg.AlertTopic]
	if len(alerts) == 0 {
		t.Fatal("kafka-python read no alert")
	}
	for _, a := range alerts {
		var al detector.Alert
		if err := json.Unmarshal([]byte(a.Value), &al); err != nil || al.Schema != detector.AlertSchema {
			t.Errorf("kafka-python read an alert that does not decode: %q", a.Value)
		}
	}
	t.Logf("kafka-python read %d alerts and %d dead letters", len(alerts), len(got[cfg.DLQTopic]))
}
