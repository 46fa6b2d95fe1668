package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/driftd/driftd/bench/harness"
	"github.com/driftd/driftd/detector"
)

// cmdBench is `driftd bench` (bench/harness), run with this binary's
// daemon and configuration.
func cmdBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	err := harness.Run(ctx, benchEnv(), args, stdout, stderr)
	if ue, ok := errors.AsType[*harness.UsageError](err); ok {
		return usagef("%s", ue.Msg)
	}
	return err
}

// benchEnv gives the harness the daemon of `driftd run`.
func benchEnv() harness.Env {
	return harness.Env{
		Version: version(),
		Defaults: func() harness.Config {
			c := defaultConfig()
			return harness.Config{Stream: c.Stream, Policy: c.Policy, Window: c.Window, Metrics: c.Server.metricsOptions()}
		},
		Validate: func(hc harness.Config) error {
			c := benchConfig(hc)
			return c.validate()
		},
		NewDaemon: func(hc harness.Config, log *slog.Logger) (harness.Daemon, error) {
			d, err := newDaemon(benchConfig(hc), log)
			if err != nil {
				return nil, err
			}
			return benchDaemon{d}, nil
		},
		ReferenceFromFile: referenceFromFile,
	}
}

// benchConfig is the daemon configuration of a harness configuration:
// the defaults, a system-chosen HTTP port and warnings only.
func benchConfig(hc harness.Config) config {
	c := defaultConfig()
	c.Stream, c.Policy, c.Window = hc.Stream, hc.Policy, hc.Window
	c.Server.MetricsDetail, c.Server.MetricsTopK, c.Server.MetricsFeatures = string(hc.Metrics.Detail), hc.Metrics.TopK, hc.Metrics.MaxFeatures
	c.Server.HTTPAddr = "127.0.0.1:0"
	c.Server.LogLevel = "warn"
	return c
}

type benchDaemon struct{ d *daemon }

func (b benchDaemon) Run(ctx context.Context) error { return b.d.run(ctx, nil) }
func (b benchDaemon) Processed() uint64             { return b.d.svc.Processed() }
func (b benchDaemon) Gatherer() prometheus.Gatherer { return b.d.reg }

// referenceFromFile builds a reference from flat training rows (or
// events), like `driftd reference build`.
func referenceFromFile(ctx context.Context, path, model, ver string, categorical []string, stderr io.Writer) (*detector.Reference, error) {
	b, err := detector.NewBuilder(model, ver, detector.BuildOptions{Categorical: categorical})
	if err != nil {
		return nil, err
	}
	src, err := openInput(path, nil)
	if err != nil {
		return nil, usagef("bench: %v", err)
	}
	defer src.Close()
	var stats rowStats
	if err := readJSONL(ctx, src, b, newProgress(stderr, src.size, true), stderr, &stats); err != nil {
		return nil, err
	}
	if stats.rows == 0 {
		return nil, fmt.Errorf("bench: %s has no usable rows", path)
	}
	ref, err := b.Reference()
	if err != nil {
		return nil, err
	}
	ref.Source = filepath.Base(path)
	return ref, nil
}
