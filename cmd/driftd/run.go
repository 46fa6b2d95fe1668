package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"

	"github.com/driftd/driftd/detector"
	"github.com/driftd/driftd/detector/perf"
	"github.com/driftd/driftd/stream"
	driftview "github.com/driftd/driftd/stream/web"
)

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("run", stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: driftd run\n\nThe daemon is configured by DRIFTD_* environment variables; see the README's configuration table.")
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(os.Environ())
	if err != nil {
		return err
	}
	log := newLogger(cfg.Server, os.Stderr)
	d, err := newDaemon(cfg, log)
	if err != nil {
		return err
	}
	return d.run(ctx, nil)
}

// daemon is the wiring of `driftd run` (and of the demo, which runs the
// same daemon against its embedded broker).
type daemon struct {
	cfg      config
	log      *slog.Logger
	reg      *prometheus.Registry
	gatherer prometheus.Gatherer
	registry *stream.Registry
	svc      *stream.Service
	view     *driftview.Store
	listener net.Listener
	// probeListener serves /healthz and /ready without TLS or auth
	// (DRIFTD_PROBE_ADDR), or is nil.
	probeListener net.Listener
}

func newDaemon(cfg config, log *slog.Logger) (*daemon, error) {
	cfg.Window = cfg.Window.WithDefaults() // a hop left at 0 (the default) is chosen for the size
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	bi := currentBuild()
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "driftd", Name: "build_info",
		Help: "1, labelled with the driftd version, the commit and the Go version it was built with."}, []string{"version", "revision", "goversion"})
	buildInfo.WithLabelValues(bi.Version, bi.Commit, bi.GoVersion).Set(1)
	reg.MustRegister(buildInfo)
	// kprom registers on a registry of its own: two of its gauges are
	// named *_total, which `promtool check metrics` rejects, and the
	// gatherer below exports them without the suffix.
	kreg := prometheus.NewRegistry()
	kp := kprom.NewMetrics("driftd", kprom.Subsystem("kafka"), kprom.Registerer(kreg), kprom.Gatherer(kreg))
	metrics := stream.NewMetricsWith(reg, cfg.Server.metricsOptions())

	registry := stream.NewRegistry()
	if len(cfg.Server.ReferenceFiles) > 0 {
		refs, err := stream.LoadReferenceFiles(cfg.Server.ReferenceFiles)
		if err != nil {
			return nil, usagef("DRIFTD_REFERENCE_FILE: %v", err)
		}
		for _, r := range refs {
			registry.Set(r)
			log.Info("reference loaded from file", "key", r.Key(), "id", r.ID, "features", len(r.Features))
		}
	}
	if !cfg.Stream.ReferencesEnabled && registry.Len() == 0 {
		return nil, usagef("DRIFTD_REFERENCE_FILE: no references (set it, or DRIFTD_REFERENCES_ENABLED=true to read the reference topic)")
	}
	policies, err := loadPolicies(cfg.Server.PolicyFile, cfg.Policy)
	if err != nil {
		return nil, usagef("DRIFTD_POLICY_FILE: %v", err)
	}
	if err := policies.CheckWindow(cfg.Window); err != nil {
		return nil, usagef("DRIFTD_POLICY_FILE / DRIFTD_WINDOW_SIZE: %v", err)
	}
	view := driftview.NewStore(cfg.Web)
	var alertURL func(*detector.Alert) string
	if base := cfg.Web.URL; base != "" {
		alertURL = func(a *detector.Alert) string {
			feature := a.Feature
			if feature == perf.Feature {
				feature = detector.DatasetFeature // performance has no feature page: the model's
			}
			return driftview.AlertURL(base, a.Model, a.Version, feature, string(a.Test))
		}
	}
	pcfg := stream.ProcessorConfig{Policies: policies, Window: cfg.Window.WithDefaults(), Segments: cfg.Segments}
	if cfg.Performance.Enabled {
		hook, err := newPerfHook(cfg.Performance, registry, policies, reg, log)
		if err != nil {
			return nil, usagef("DRIFTD_PERFORMANCE: %v", err)
		}
		pcfg.Records = hook
		if t := cfg.Performance.LabelTopic; t != "" && !slices.Contains(cfg.Stream.InputTopics, t) {
			cfg.Stream.InputTopics = append(slices.Clone(cfg.Stream.InputTopics), t)
		}
	}
	svc, err := stream.NewService(stream.ServiceOptions{
		Config:    cfg.Stream,
		Processor: pcfg,
		Registry:  registry,
		Metrics:   metrics,
		Log:       log,
		Hooks:     []kgo.Hook{kp},
		Observer:  view,
		AlertURL:  alertURL,
		Formats:   cfg.Formats.inputFormats(),
	})
	if err != nil {
		var ce *stream.ConfigError
		if errors.As(err, &ce) {
			return nil, usagef("%v", err)
		}
		return nil, err
	}
	return &daemon{cfg: cfg, log: log, reg: reg, gatherer: prometheus.Gatherers{reg, gaugeTotalRenamer{kreg}}, registry: registry, svc: svc, view: view}, nil
}

// listen opens the HTTP listener (so the demo can print its address
// before serving).
func (d *daemon) listen() error {
	if d.listener != nil {
		return nil
	}
	l, err := net.Listen("tcp", d.cfg.Server.HTTPAddr)
	if err != nil {
		return fmt.Errorf("DRIFTD_HTTP_ADDR: %w", err)
	}
	d.listener = l
	if addr := d.cfg.Server.ProbeAddr; addr != "" {
		pl, err := net.Listen("tcp", addr)
		if err != nil {
			l.Close()
			d.listener = nil
			return fmt.Errorf("DRIFTD_PROBE_ADDR: %w", err)
		}
		d.probeListener = pl
	}
	return nil
}

// probes registers /healthz (liveness) and /ready (readiness); both answer
// 503 with the reason when they fail.
func (d *daemon) probes(mux *http.ServeMux) {
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		if ok, reason := d.svc.Liveness(); !ok {
			http.Error(w, "not live: "+reason, http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/ready", func(w http.ResponseWriter, _ *http.Request) {
		if ok, reason := d.svc.Readiness(); !ok {
			http.Error(w, "not ready: "+reason, http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
}

// run serves HTTP and runs the pipeline until ctx ends, then stops both in
// reverse order within the shutdown timeout. started, if not nil, is
// called once the HTTP server listens.
func (d *daemon) run(ctx context.Context, started func(addr string)) error {
	if err := d.listen(); err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(d.gatherer, promhttp.HandlerOpts{Registry: d.reg, EnableOpenMetrics: true}))
	d.probes(mux)
	view := d.view.Handler(version())
	mux.Handle("/ui", view)
	mux.Handle("/ui/", view)
	mux.Handle("/api/v1/", view)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintf(w, "driftd %s\n\n/ui/            drift view\n/api/v1/models  JSON API (models; /api/v1/model, /api/v1/feature, /api/v1/alerts)\n/metrics        Prometheus metrics\n/healthz        liveness (the pipeline makes progress)\n/ready          readiness (started, partitions assigned, brokers answering)\n", version())
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	webConfig := d.cfg.Server.WebConfigFile
	httpErr := make(chan error, 1)
	go func() {
		err := web.Serve(d.listener, srv, &web.FlagConfig{WebConfigFile: &webConfig}, d.log)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		httpErr <- err
	}()
	if d.probeListener != nil {
		// The probes alone, without TLS or basic auth: kubelet cannot
		// authenticate to the main address.
		probeMux := http.NewServeMux()
		d.probes(probeMux)
		probeSrv := &http.Server{Handler: probeMux, ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := probeSrv.Serve(d.probeListener); err != nil && !errors.Is(err, http.ErrServerClosed) {
				d.log.Error("probe server stopped", "err", err)
			}
		}()
		defer probeSrv.Close()
	}
	if started != nil {
		started(d.listener.Addr().String())
	}
	d.log.Info("driftd started", "version", version(), "brokers", d.cfg.Stream.Brokers, "inputs", d.cfg.Stream.InputTopics,
		"http", d.listener.Addr().String(), "references", d.registry.Keys())

	// Start order: HTTP, then the pipeline. Stop order: the pipeline
	// (flush, checkpoint, commit, leave the group), then HTTP, so the
	// final metrics stay scrapeable while the pipeline drains.
	pctx, stopPipeline := context.WithCancel(ctx)
	defer stopPipeline()
	runErr := make(chan error, 1)
	go func() { runErr <- d.svc.Run(pctx, d.cfg.Server.ShutdownTimeout) }()
	var err error
	select {
	case err = <-runErr:
	case err = <-httpErr:
		if err == nil {
			err = errors.New("metrics server stopped")
		}
		err = fmt.Errorf("http: %w", err)
		stopPipeline()
		<-runErr
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.cfg.Server.ShutdownTimeout)
	defer cancel()
	srv.Shutdown(sctx) //nolint:errcheck // closing on the way out
	d.log.Info("driftd stopped", "processed", d.svc.Processed(), "err", err)
	return err
}

// gaugeTotalRenamer drops the "_total" suffix from gauge families, which
// Prometheus naming reserves for counters.
type gaugeTotalRenamer struct{ g prometheus.Gatherer }

func (r gaugeTotalRenamer) Gather() ([]*dto.MetricFamily, error) {
	mfs, err := r.g.Gather()
	for _, mf := range mfs {
		if mf.GetType() == dto.MetricType_GAUGE && strings.HasSuffix(mf.GetName(), "_total") {
			name := strings.TrimSuffix(mf.GetName(), "_total")
			mf.Name = &name
		}
	}
	return mfs, err
}
