// Package interop checks the input formats against encoders driftd did
// not write: confluent-kafka's Schema Registry serializers, KServe's
// Python SDK (OIP v2 JSON and gRPC protobuf) and the CloudEvents Python
// SDK (both Kafka content modes). produce.py encodes the traffic; this
// test serves it a Schema Registry (srfake over HTTP), feeds its records
// to the pipeline through the in-process broker and checks the alerts.
//
// It runs when DRIFTD_TEST_INTEROP_PYTHON names a Python with
// requirements.txt installed (.ci/run's interop step makes one).
package interop

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/driftd/driftd/detector"
	"github.com/driftd/driftd/stream/codec"
	"github.com/driftd/driftd/stream/codec/cloudevents"
	"github.com/driftd/driftd/stream/codec/confluent"
	"github.com/driftd/driftd/stream/codec/internal/pipelinetest"
	"github.com/driftd/driftd/stream/codec/oip"
	"github.com/driftd/driftd/stream/codec/oipproto"
)

type line struct {
	Topic   string      `json:"topic"`
	Phase   string      `json:"phase"`
	Key     []byte      `json:"key"`
	Value   []byte      `json:"value"`
	Headers [][2]string `json:"headers"`
}

// models are the model each producer writes, each checked on its own.
var models = []string{"avro-churn", "json-churn", "proto-churn", "kserve-churn", "seldon-churn", "ce-churn"}

func TestInteropProducers(t *testing.T) {
	python := os.Getenv("DRIFTD_TEST_INTEROP_PYTHON")
	if python == "" {
		t.Skip("set DRIFTD_TEST_INTEROP_PYTHON to a Python with requirements.txt installed")
	}
	reg := srfake.New()
	defer reg.Close()
	cmd := exec.Command(python, "produce.py", reg.URL())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("produce.py: %v\n%s", err, stderr.String())
	}
	phases := map[string][]*kgo.Record{}
	topics := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var l line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("produce.py output: %v", err)
		}
		r := &kgo.Record{Topic: l.Topic, Key: l.Key, Value: l.Value}
		for _, h := range l.Headers {
			v, err := base64.StdEncoding.DecodeString(h[1])
			if err != nil {
				t.Fatal(err)
			}
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: h[0], Value: v})
		}
		phases[l.Phase] = append(phases[l.Phase], r)
		topics[l.Topic] = true
	}
	t.Logf("produce.py: %d stable and %d shifted records on %d topics", len(phases["stable"]), len(phases["shifted"]), len(topics))

	cl, err := sr.NewClient(sr.URLs(reg.URL()))
	if err != nil {
		t.Fatal(err)
	}
	srFormat, err := confluent.New(confluent.Config{Client: cl})
	if err != nil {
		t.Fatal(err)
	}
	seldon, err := oipproto.New(oipproto.Config{})
	if err != nil {
		t.Fatal(err)
	}
	var refs []*detector.Reference
	for _, m := range models {
		refs = append(refs, pipelinetest.Reference(t, m, "3"))
	}
	var topicList []string
	for tp := range topics {
		topicList = append(topicList, tp)
	}
	p := pipelinetest.Start(t, pipelinetest.Options{
		Topics: topicList,
		InputFormat: "sr-avro=confluent,sr-json=confluent,sr-protobuf=confluent,kserve-v2-json=oip,kserve-logger=cloudevents," +
			"seldon.default.model.seldon-churn.inputs=oip-protobuf,seldon.default.model.seldon-churn.outputs=oip-protobuf",
		Formats: map[string]codec.NewRecordDecoder{
			"confluent": srFormat, "oip": oip.New(oip.Config{}), "oip-protobuf": seldon,
			"cloudevents": cloudevents.New(cloudevents.Config{VersionAttribute: "modelversion"}),
		},
		References: refs,
	})
	p.Produce(phases["stable"]...)
	p.WaitConsumed(uint64(len(phases["stable"])))
	if c := p.Counters(); c.Processed != uint64(len(phases["stable"])) || c.NoReference != 0 {
		t.Fatalf("processed %d of %d records, rejected %v, %d events without a reference", c.Processed, len(phases["stable"]), c.Rejected, c.NoReference)
	}
	if dl := p.DeadLetters(); len(dl) > 0 {
		t.Fatalf("%d dead letters; first: %s", len(dl), dl[0].Headers)
	}
	if firing := firingByModel(p.Alerts()); len(firing) > 0 {
		t.Fatalf("stable traffic raised alerts: %v", firing)
	}
	p.Produce(phases["shifted"]...)
	p.WaitConsumed(uint64(len(phases["stable"]) + len(phases["shifted"])))
	deadline := time.Now().Add(30 * time.Second)
	var firing map[string][]string
	for {
		firing = firingByModel(p.Alerts())
		missing := 0
		for _, m := range models {
			if !hasX(firing[m]) {
				missing++
			}
		}
		if missing == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	for _, m := range models {
		if !hasX(firing[m]) {
			t.Errorf("%s: shifted x raised no alert on x; firing: %v", m, firing[m])
		}
		// Any test of x may fire (a location shift also moves the scale
		// test's deviations from the reference median, and the cusum), and
		// dataset drift; nothing on plan or the prediction.
		for _, f := range firing[m] {
			if !strings.HasPrefix(f, "x/") && !strings.HasPrefix(f, "*/") {
				t.Errorf("%s: alert on an unshifted feature: %s", m, f)
			}
		}
	}
}

func hasX(fs []string) bool {
	for _, f := range fs {
		if f == "x/ks" || f == "x/mean_shift" {
			return true
		}
	}
	return false
}

// firingByModel returns the firing feature/test pairs of each model.
func firingByModel(alerts []detector.Alert) map[string][]string {
	state := map[string]map[string]detector.Status{}
	for _, a := range alerts {
		if state[a.Model] == nil {
			state[a.Model] = map[string]detector.Status{}
		}
		state[a.Model][a.Feature+"/"+string(a.Test)] = a.Status
	}
	out := map[string][]string{}
	for m, fs := range state {
		for f, s := range fs {
			if s == detector.Firing {
				out[m] = append(out[m], f)
			}
		}
	}
	return out
}
