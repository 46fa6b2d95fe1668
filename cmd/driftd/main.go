// Command driftd is a streaming drift detector for machine-learning models
// in production: it reads inference events from Kafka, keeps sliding
// windows per model and feature, compares them with reference sketches of
// the training data, publishes drift alerts to Kafka and exposes window
// metrics to Prometheus.
//
// Usage:
//
//	driftd run                 the daemon (configured by DRIFTD_* variables)
//	driftd demo                everything on an embedded broker, with injected drift
//	driftd reference build     build a reference from a training set (CSV or JSON lines)
//	driftd reference show      print a reference's summary
//	driftd reference publish   publish a reference to the reference topic
//	driftd replay              run the detector over a file of events, offline
//	driftd report              the same, written as a self-contained HTML drift report
//	driftd bench               load generation and throughput measurement
//	driftd config vars         every DRIFTD_* variable with its default
//	driftd config check        validate the environment like `driftd run`, print the result
//	driftd version            print the version, commit and Go version
//
// driftd is licensed under the Apache License, Version 2.0 (the LICENSE
// file at the top of the repository); the licences of the modules it is
// built from are in THIRD_PARTY_LICENSES.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// usageError is a bad command line or configuration: exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

const usage = `driftd — streaming drift detection for ML models on Kafka

Commands:
  run                  run the daemon (configuration: DRIFTD_* environment variables, see README)
  demo                 run a self-contained demo on an embedded Kafka broker
  reference build      build a reference sketch from a training set
  reference show       summarise a reference file
  reference publish    publish a reference to the compacted reference topic
  replay               run the detector over a file of events and print evaluations and alerts
  report               run the detector over a file of events and write an HTML drift report
  bench                generate load and measure throughput
  config vars          list every DRIFTD_* variable with its default
  config check         validate the DRIFTD_* environment and print the effective configuration
  version              print the version

Run "driftd <command> -h" for a command's flags (help exits 0).

Exit status: 0 success; 1 failure while running; 2 bad usage or configuration
(unknown flag or variable, invalid value, an input file that cannot be opened
or read as its kind), with a message naming the flag or variable.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run dispatches a command and maps its error to an exit code: 0 success,
// 1 failure, 2 bad usage or configuration.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signalContext()
	defer stop()
	err := dispatch(ctx, args, stdin, stdout, stderr)
	var ue *usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		// -h or --help: the flag set printed the command's usage.
		return 0
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, "driftd:", err)
		return 2
	default:
		fmt.Fprintln(stderr, "driftd:", err)
		return 1
	}
}

// signalContext is cancelled by the first SIGINT or SIGTERM; a second one
// exits at once.
func signalContext() (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case <-ch:
			cancel()
		case <-done:
			return
		}
		select {
		case <-ch:
			fmt.Fprintln(os.Stderr, "driftd: second signal, exiting now")
			os.Exit(130)
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		close(done)
		cancel()
	}
}

func dispatch(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usagef("no command given")
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "run":
		return cmdRun(ctx, rest, stdout, stderr)
	case "demo":
		return cmdDemo(ctx, rest, stdout, stderr)
	case "reference":
		return cmdReference(ctx, rest, stdin, stdout, stderr)
	case "replay":
		return cmdReplay(ctx, rest, stdin, stdout, stderr)
	case "report":
		return cmdReport(ctx, rest, stdin, stdout, stderr)
	case "bench":
		return cmdBench(ctx, rest, stdout, stderr)
	case "config":
		return cmdConfig(rest, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "driftd", currentBuild())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return usagef("unknown command %q", cmd)
	}
}
