package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// TestProbesWithoutCredentials: with basic auth configured
// (DRIFTD_WEB_CONFIG_FILE), /metrics and the probes on DRIFTD_HTTP_ADDR
// need credentials, which kubelet cannot send; DRIFTD_PROBE_ADDR serves
// /healthz and /ready alone, without them, and nothing else.
func TestProbesWithoutCredentials(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "inference.events"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	dir := t.TempDir()
	ref, err := demoReference(500)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := ref.Encode()
	refFile := filepath.Join(dir, "ref.json")
	os.WriteFile(refFile, data, 0o644)
	webConfig := filepath.Join(dir, "web.yml")
	// bcrypt of "fakepassword"
	os.WriteFile(webConfig, []byte("basic_auth_users:\n  prom: $2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi\n"), 0o600)
	httpPort, probePort := freePort(t), freePort(t)
	cfg, err := loadConfig([]string{"DRIFTD_BROKERS=" + cluster.ListenAddrs()[0], "DRIFTD_REFERENCE_FILE=" + refFile,
		"DRIFTD_HTTP_ADDR=127.0.0.1:" + httpPort, "DRIFTD_PROBE_ADDR=127.0.0.1:" + probePort, "DRIFTD_WEB_CONFIG_FILE=" + webConfig,
		"DRIFTD_TOPIC_PARTITIONS=1", "DRIFTD_TOPIC_REPLICATION=1", "DRIFTD_SHUTDOWN_TIMEOUT=5s"})
	if err != nil {
		t.Fatal(err)
	}
	d, err := newDaemon(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- d.run(ctx, nil) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	status := func(url string, auth bool) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if auth {
			req.SetBasicAuth("prom", "fakepassword")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	main, probes := "http://127.0.0.1:"+httpPort, "http://127.0.0.1:"+probePort
	waitFor(t, 30*time.Second, func() bool { c, _ := status(probes+"/ready", false); return c == http.StatusOK })
	if c, body := status(probes+"/healthz", false); c != http.StatusOK || !strings.Contains(body, "ok") {
		t.Errorf("probe address /healthz without credentials: %d %q", c, body)
	}
	for _, path := range []string{"/metrics", "/healthz", "/ready"} {
		if c, _ := status(main+path, false); c != http.StatusUnauthorized {
			t.Errorf("main address %s without credentials: %d, want 401", path, c)
		}
		if c, _ := status(main+path, true); c != http.StatusOK {
			t.Errorf("main address %s with credentials: %d, want 200", path, c)
		}
	}
	if c, _ := status(probes+"/metrics", false); c != http.StatusNotFound {
		t.Errorf("probe address serves /metrics: %d, want 404", c)
	}
}
