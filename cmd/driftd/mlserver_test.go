package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/driftd/driftd/detector"
)

// TestInteropMLServer runs MLServer (PyPI mlserver + mlserver-sklearn, the
// versions pinned in testdata/mlserver/requirements.txt) with its Kafka
// server on the broker of DRIFTD_TEST_BROKERS, serving a scikit-learn
// model trained by testdata/mlserver/train.py. Requests encoded by
// MLServer's own pandas codec go to its input topic; MLServer writes the
// responses; driftd reads both topics with the oip format against a
// reference built by `driftd reference build` from the training set.
//
// 5,000 rows like the training data raise no alert; 5,000 rows with the
// charges column shifted by one standard deviation raise a firing alert on
// charges, and on no other input.
//
// It runs when DRIFTD_TEST_MLSERVER names the bin folder of a Python
// environment with requirements.txt installed (.ci/run makes one) and
// DRIFTD_TEST_BROKERS a Kafka broker MLServer can reach.
func TestInteropMLServer(t *testing.T) {
	bin, brokers := os.Getenv("DRIFTD_TEST_MLSERVER"), os.Getenv("DRIFTD_TEST_BROKERS")
	if bin == "" || brokers == "" {
		t.Skip("set DRIFTD_TEST_MLSERVER (a Python bin folder with testdata/mlserver/requirements.txt) and DRIFTD_TEST_BROKERS")
	}
	python := filepath.Join(bin, "python")
	scripts, err := filepath.Abs("testdata/mlserver")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	mustRun(t, exec.Command(python, filepath.Join(scripts, "train.py"), dir))
	refFile := filepath.Join(dir, "churn.json")
	mustRun(t, exec.Command(driftdBinary(t), "reference", "build", "--quiet", "--input", filepath.Join(dir, "train.csv"),
		"--model", "churn", "--version", "1", "--out", refFile))

	prefix := fmt.Sprintf("mlserver-%d", time.Now().UnixNano()%1e9)
	in, out := prefix+"-input", prefix+"-output"
	admin, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := kadm.NewClient(admin).CreateTopics(ctx, 1, 1, nil, in, out); err != nil {
		t.Fatal(err)
	}

	// MLServer with its Kafka server; HTTP for its readiness only.
	httpPort := freePort(t)
	ml := exec.Command(filepath.Join(bin, "mlserver"), "start", filepath.Join(dir, "model"))
	ml.Env = append(os.Environ(),
		"MLSERVER_KAFKA_ENABLED=true", "MLSERVER_KAFKA_SERVERS="+brokers,
		"MLSERVER_KAFKA_TOPIC_INPUT="+in, "MLSERVER_KAFKA_TOPIC_OUTPUT="+out,
		"MLSERVER_HOST=127.0.0.1", "MLSERVER_HTTP_PORT="+httpPort,
		"MLSERVER_GRPC_PORT="+freePort(t), "MLSERVER_METRICS_PORT="+freePort(t),
		"MLSERVER_PARALLEL_WORKERS=0")
	mlLog, err := os.Create(filepath.Join(dir, "mlserver.log"))
	if err != nil {
		t.Fatal(err)
	}
	ml.Stdout, ml.Stderr = mlLog, mlLog
	ml.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := ml.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { ml.Wait(); close(exited) }()
	defer func() {
		syscall.Kill(-ml.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			syscall.Kill(-ml.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		if t.Failed() {
			b, _ := os.ReadFile(mlLog.Name())
			t.Logf("MLServer's log:\n%s", b)
		}
	}()
	waitHTTP(t, "http://127.0.0.1:"+httpPort+"/v2/models/churn/ready", 3*time.Minute)

	cfg := defaultConfig()
	cfg.Stream.Brokers = strings.Split(brokers, ",")
	cfg.Stream.Group = prefix + "-group"
	cfg.Stream.InputTopics = []string{in, out}
	cfg.Stream.InputFormat = in + "=oip," + out + "=oip"
	cfg.Stream.AlertTopic, cfg.Stream.DLQTopic, cfg.Stream.StateTopic = prefix+"-alerts", prefix+"-dlq", prefix+"-state"
	cfg.Stream.ReferenceTopic, cfg.Stream.PanesTopic = prefix+"-refs", prefix+"-panes"
	cfg.Stream.TopicPartitions, cfg.Stream.TopicReplication = 1, 1
	cfg.Stream.CheckpointInterval = time.Second
	// MLServer's requests carry the model in a header but no version
	// (model-settings.json gives it; the responses carry it).
	cfg.Formats.InputModelVersion = "1"
	cfg.Window = detector.WindowConfig{Size: 2000}
	cfg.Server.HTTPAddr = "127.0.0.1:0"
	cfg.Server.ReferenceFiles = []string{refFile}
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	d, err := newDaemon(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	dctx, dcancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- d.run(dctx, nil) }()
	defer func() {
		dcancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	alerts, err := kgo.NewClient(kgo.SeedBrokers(cfg.Stream.Brokers...), kgo.ConsumeTopics(cfg.Stream.AlertTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer alerts.Close()
	firing := map[string]detector.Alert{} // feature/test → the latest state
	readAlerts := func() {
		for {
			fctx, fcancel := context.WithTimeout(ctx, 2*time.Second)
			fs := alerts.PollFetches(fctx)
			fcancel()
			if fs.NumRecords() == 0 {
				return
			}
			fs.EachRecord(func(r *kgo.Record) {
				var a detector.Alert
				if err := json.Unmarshal(r.Value, &a); err != nil {
					t.Fatalf("alert: %v: %s", err, r.Value)
				}
				if a.Status == detector.Firing {
					firing[a.Feature+"/"+string(a.Test)] = a
				} else {
					delete(firing, a.Feature+"/"+string(a.Test))
				}
			})
		}
	}

	const requests, batch = 200, 25
	produce := func(shift float64, seed int, records float64) {
		c := exec.Command(python, filepath.Join(scripts, "produce.py"), brokers, in,
			fmt.Sprint(requests), fmt.Sprint(batch), fmt.Sprint(shift), fmt.Sprint(seed))
		c.Dir = scripts
		mustRun(t, c)
		// The requests and MLServer's responses to them.
		waitMetric(t, d, "driftd_records_consumed_total", records)
		waitMetric(t, d, "driftd_events_processed_total", records*batch) // a row per event
	}

	produce(0, 1, 2*requests)
	if n := metricSum(t, d, "driftd_records_dlq_total"); n != 0 {
		t.Fatalf("%v dead letters of MLServer's traffic", n)
	}
	if n := metricSum(t, d, "driftd_events_no_reference_total"); n != 0 {
		t.Fatalf("%v events without a reference (model or version not recognised)", n)
	}
	readAlerts()
	if len(firing) > 0 {
		t.Fatalf("alerts firing on traffic like the training data: %v", keys(firing))
	}

	produce(15, 2, 4*requests)
	readAlerts()
	if _, ok := firing["charges/ks"]; !ok {
		t.Fatalf("no firing ks alert on charges after a one-sd shift; firing: %v", keys(firing))
	}
	for k := range firing {
		if f := strings.SplitN(k, "/", 2)[0]; f == "tenure" || f == "usage" {
			t.Errorf("alert on an unchanged input: %s: %s", k, firing[k].Summary)
		}
	}
	t.Logf("firing after the shift: %v", keys(firing))
}

func mustRun(t *testing.T, c *exec.Cmd) {
	t.Helper()
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(c.Args, " "), err, out)
	}
}

// metricSum is the sum of a metric's series.
func metricSum(t *testing.T, d *daemon, name string) float64 {
	t.Helper()
	mfs, err := d.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	return sum
}

func keys(m map[string]detector.Alert) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}
