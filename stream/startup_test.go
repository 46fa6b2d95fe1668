package stream

import (
	"context"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/driftd/driftd/detector"
)

// freeAddr returns a local address nothing listens on (yet).
func freeAddr(t *testing.T) (string, int) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String(), l.Addr().(*net.TCPAddr).Port
}

func newStartupService(t *testing.T, cfg Config) *Service {
	svc, err := NewService(ServiceOptions{Config: cfg, Processor: ProcessorConfig{Window: detector.DefaultWindow()},
		Registry: NewRegistry(), Metrics: NewMetrics(prometheus.NewRegistry(), 0),
		Log: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: testLogLevel()}))})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// TestServiceStartsBeforeBroker: a service started before its broker
// retries with backoff, is not ready meanwhile, and runs once the broker
// is up. Before, it exited 1 at the first connection error.
func TestServiceStartsBeforeBroker(t *testing.T) {
	addr, port := freeAddr(t)
	cfg := Defaults()
	cfg.Brokers = []string{addr}
	cfg.TopicPartitions, cfg.TopicReplication = 1, 1
	cfg.StartupTimeout = time.Minute
	svc := newStartupService(t, cfg)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx, 10*time.Second) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	time.Sleep(3 * time.Second)
	select {
	case err := <-done:
		t.Fatalf("the service gave up while the broker was down: %v", err)
	default:
	}
	if ok, reason := svc.Readiness(); ok || !strings.Contains(reason, "connecting to the brokers") {
		t.Errorf("readiness while the broker is down: %v %q", ok, reason)
	}
	if ok, reason := svc.Liveness(); !ok {
		t.Errorf("not live while retrying: %s", reason)
	}
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(port), kfake.SeedTopics(1, "inference.events"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	waitCond(t, 60*time.Second, "ready once the broker is up", svc.Ready)
}

// TestServiceStartupTimeout: with no broker for DRIFTD_STARTUP_TIMEOUT the
// service exits with an error that says so.
func TestServiceStartupTimeout(t *testing.T) {
	addr, _ := freeAddr(t)
	cfg := Defaults()
	cfg.Brokers = []string{addr}
	cfg.StartupTimeout = 3 * time.Second
	svc := newStartupService(t, cfg)
	start := time.Now()
	err := svc.Run(t.Context(), 10*time.Second)
	if err == nil || !strings.Contains(err.Error(), "DRIFTD_STARTUP_TIMEOUT=3s") || !strings.Contains(err.Error(), strconv.Quote(addr)[1:len(addr)]) {
		t.Fatalf("error %v, want one naming DRIFTD_STARTUP_TIMEOUT and the broker", err)
	}
	if took := time.Since(start); took < 2*time.Second || took > 30*time.Second {
		t.Errorf("gave up after %s with DRIFTD_STARTUP_TIMEOUT=3s", took)
	}
}
