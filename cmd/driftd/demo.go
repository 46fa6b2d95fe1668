package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/driftd/driftd/detector"
	"github.com/driftd/driftd/detector/perf"
	"github.com/driftd/driftd/stream"
)

// phase is one step of the demo's traffic.
type phase struct {
	name     string
	seconds  float64
	describe string
	// event mutates a stable event; progress runs from 0 to 1 over the
	// phase.
	event func(e *demoEvent, progress float64, rng *rand.Rand)
	// badEvery > 0 sends a malformed record every badEvery events.
	badEvery int
	// servedOnly: event changes only what the model is served (a serving
	// bug), not the customers, so labels follow the unchanged features.
	servedOnly bool
	// stale: churn no longer follows the model's score.
	stale bool
}

type demoEvent struct {
	tenure, charges, score float64
	plan                   string
	planMissing            bool
	// sessions_per_week is logged with the demo's own traffic (not used
	// by the model): it goes with monthly_charges.
	sessions     float64
	withSessions bool
}

// demoSessionsChargesCorr is the correlation of sessions_per_week with
// monthly_charges: heavier users pay more.
const demoSessionsChargesCorr = 0.7

// withSessionsDrawn adds sessions_per_week to a stable event (the demo's
// own traffic and reference; the scenario tests draw without it).
func (e demoEvent) withSessionsDrawn(rng *rand.Rand) demoEvent {
	const r = demoSessionsChargesCorr
	e.sessions = 5 + 2*(r*(e.charges-70)/20+math.Sqrt(1-r*r)*rng.NormFloat64())
	e.withSessions = true
	return e
}

func stableEvent(rng *rand.Rand) demoEvent {
	tenure := 365 + 180*rng.NormFloat64()
	charges := 70 + 20*rng.NormFloat64()
	plans := []string{"basic", "basic", "pro", "pro", "pro", "enterprise"}
	e := demoEvent{tenure: tenure, charges: charges, plan: plans[rng.IntN(len(plans))]}
	e.predict()
	return e
}

// predict sets the churn score from the features the model is served —
// so a skewed feature moves the predictions too, as it would in
// production.
func (e *demoEvent) predict() {
	z := -1.2 - 0.004*(e.tenure-365) + 0.03*(e.charges-70)
	if e.plan == "enterprise" {
		z -= 0.5
	}
	e.score = 1 / (1 + math.Exp(-z))
}

// demoPhases is the scenario: stable traffic, a
// training–serving skew and its fix, a gradual shift, a null spike, a
// stale model, a correlation break.
func demoPhases(scale float64) []phase {
	return []phase{
		{name: "stable", seconds: 12 * scale, describe: "traffic drawn from the training distribution: no alert may fire",
			event: func(*demoEvent, float64, *rand.Rand) {}},
		{name: "training–serving skew", seconds: 12 * scale, describe: "the serving code sends tenure_days/365 instead of tenure_days",
			event: func(e *demoEvent, _ float64, _ *rand.Rand) { e.tenure /= 365 }, servedOnly: true},
		{name: "skew fixed", seconds: 10 * scale, describe: "the fix is deployed: tenure_days is back to normal, alerts resolve",
			event: func(*demoEvent, float64, *rand.Rand) {}},
		{name: "gradual shift", seconds: 24 * scale, describe: "monthly_charges drifts up by 0 → 30 (1.5 sd) over the phase",
			event: func(e *demoEvent, p float64, _ *rand.Rand) { e.charges += 30 * p }},
		{name: "null spike", seconds: 12 * scale, describe: "an upstream join breaks: plan is null in 40% of events; some records are malformed",
			event: func(e *demoEvent, _ float64, rng *rand.Rand) {
				e.charges += 30
				e.planMissing = rng.Float64() < 0.4
			}, badEvery: 997},
		{name: "model goes stale", seconds: 12 * scale, describe: "a competitor's offer: customers churn at the usual rate but no longer as the model scores them; features and scores unchanged, labels 50 events later",
			event: func(*demoEvent, float64, *rand.Rand) {}, stale: true},
		{name: "correlation break", seconds: 12 * scale, describe: "a client release logs sessions_per_week of the wrong account: its marginal is unchanged, its relation to monthly_charges is gone",
			event: func(e *demoEvent, _ float64, rng *rand.Rand) {
				if e.withSessions {
					e.sessions = 5 + 2*rng.NormFloat64()
				}
			}},
	}
}

// demoChurnRate is the share of churners when churn no longer follows
// the score (the "model goes stale" phase): about the training rate.
const demoChurnRate = 0.27

// demoLabel draws whether the customer of e churned: with the
// probability of the model's score on the customer's actual features
// (world), or at the base rate once the model is stale.
func demoLabel(world demoEvent, stale bool, rng *rand.Rand) bool {
	if stale {
		return rng.Float64() < demoChurnRate
	}
	return rng.Float64() < world.score
}

func demoLabelJSON(requestID string, now time.Time, churned bool) []byte {
	data, _ := json.Marshal(map[string]any{
		"model": "churn", "model_version": "3", "timestamp": now.UTC().Format(time.RFC3339Nano),
		"request_id": requestID, "label": churned,
	})
	return data
}

func (e demoEvent) json(seq int64, now time.Time) []byte {
	features := map[string]any{"tenure_days": round(e.tenure, 2), "monthly_charges": round(e.charges, 2), "plan": e.plan}
	if e.withSessions {
		features["sessions_per_week"] = round(e.sessions, 2)
	}
	if e.planMissing {
		features["plan"] = nil
	}
	data, _ := json.Marshal(map[string]any{
		"model": "churn", "model_version": "3", "timestamp": now.UTC().Format(time.RFC3339Nano),
		"request_id": fmt.Sprintf("r-%d", seq), "features": features, "prediction": round(e.score, 4),
	})
	return data
}

func round(x float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(x*p) / p
}

// demoReference builds the churn model's reference from a synthetic
// training set of rows stable traffic is drawn from.
func demoReference(rows int) (*detector.Reference, error) {
	return buildDemoReference(rows, detector.BuildOptions{})
}

// demoReferenceMultivariate is the demo's reference: demoReference with
// sessions_per_week, a PCA on the numeric features (the derived feature
// multivariate.reconstruction_error) and the model's performance on
// labelled rows (churn drawn with the score's probability).
func demoReferenceMultivariate(rows int) (*detector.Reference, error) {
	ref, err := buildDemoReference(rows, detector.BuildOptions{Multivariate: &detector.MultivariateOptions{}})
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(2026, 12))
	pairs := make([]perf.Pair, rows)
	for i := range pairs {
		e := stableEvent(rng)
		e.score = round(e.score, 4)
		pairs[i] = perf.Pair{Score: e.score, Positive: demoLabel(e, false, rng)}
	}
	if ref.Performance, err = perf.BuildReference(pairs, 0.5, "prediction", "label"); err != nil {
		return nil, err
	}
	return ref, nil
}

func buildDemoReference(rows int, opts detector.BuildOptions) (*detector.Reference, error) {
	rng := rand.New(rand.NewPCG(2026, 11))
	b, err := detector.NewBuilder("churn", "3", opts)
	if err != nil {
		return nil, err
	}
	for range rows {
		e := stableEvent(rng)
		if opts.Multivariate != nil {
			e = e.withSessionsDrawn(rng)
		}
		b.BeginRow()
		b.Add("tenure_days", detector.Value{Kind: detector.Number, Num: round(e.tenure, 2), Parsed: true})
		b.Add("monthly_charges", detector.Value{Kind: detector.Number, Num: round(e.charges, 2), Parsed: true})
		b.Add("plan", detector.Value{Kind: detector.String, Text: []byte(e.plan)})
		if opts.Multivariate != nil { // the demo's own traffic logs sessions_per_week
			b.Add("sessions_per_week", detector.Value{Kind: detector.Number, Num: round(e.sessions, 2), Parsed: true})
		}
		b.Add("prediction", detector.Value{Kind: detector.Number, Num: round(e.score, 4), Parsed: true})
		b.EndRow()
	}
	ref, err := b.Reference()
	if err != nil {
		return nil, err
	}
	ref.Source = "synthetic churn training set"
	return ref, nil
}

func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", stderr)
	duration := fs.Duration("duration", 0, "stop after this long (default: the scenario's length)")
	rate := fs.Int("rate", 2000, "events per second")
	scale := fs.Float64("scale", 1, "stretch (>1) or shrink (<1) every phase")
	brokers := fs.String("brokers", "", "use this Kafka cluster instead of the embedded broker (host:port,...)")
	produceOnly := fs.Bool("produce-only", false, "only publish the reference and produce traffic (a traffic generator for an external driftd)")
	loop := fs.Bool("loop", false, "repeat the scenario until stopped")
	httpAddr := fs.String("http-addr", "127.0.0.1:9108", "metrics and health endpoint of the embedded daemon")
	topic := fs.String("topic", "inference.events", "input topic (canonical format)")
	format := fs.String("format", "canonical", "traffic format: canonical (driftd's JSON events, labels on the same topic), or oip (MLServer's Kafka topics mlserver-input and mlserver-output: Open Inference Protocol v2 requests and responses of 8 rows; labels on --topic, request IDs <id>/<row>)")
	metricsDetail := fs.String("metrics-detail", "drifting", "per-feature metrics: summary, drifting or all (as DRIFTD_METRICS_DETAIL)")
	metricsTopK := fs.Int("metrics-top-k", 3, "features per model exported by effect at --metrics-detail drifting (as DRIFTD_METRICS_TOP_K)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *rate < 10 || *rate > 1_000_000 {
		return usagef("demo: --rate must be in 10..1000000")
	}
	if *scale <= 0 {
		return usagef("demo: --scale must be positive")
	}
	if _, err := stream.ParseMetricsDetail(*metricsDetail); err != nil {
		return usagef("demo: --metrics-detail: %v", err)
	}
	if *metricsTopK < 1 {
		return usagef("demo: --metrics-top-k must be positive")
	}
	if !slices.Contains(demoFormats, *format) {
		return usagef("demo: --format is %q; accepted: %s", *format, strings.Join(demoFormats, ", "))
	}
	if *produceOnly && *brokers == "" {
		return usagef("demo: --produce-only needs --brokers")
	}
	phases := demoPhases(*scale)
	var total float64
	for _, p := range phases {
		total += p.seconds
	}
	if *duration == 0 && !*loop {
		*duration = time.Duration(total*float64(time.Second)) + 3*time.Second
	}
	start := time.Now()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if *duration > 0 {
		var c2 context.CancelFunc
		ctx, c2 = context.WithTimeout(ctx, *duration)
		defer c2()
	}

	cfg := defaultConfig()
	cfg.Stream.InputTopics = []string{*topic}
	enc, labels := canonicalRecords(*topic), !*produceOnly
	if *format == "oip" {
		// Labels (canonical label events) on the demo's topic, joined
		// to the responses' rows by <id>/<row>.
		cfg.Stream.InputTopics = []string{"mlserver-input", "mlserver-output"}
		cfg.Stream.InputFormat = "mlserver-input=oip,mlserver-output=oip"
		cfg.Performance.LabelTopic = *topic
		enc = oipRecords("mlserver-input", "mlserver-output")
	}
	cfg.Stream.CheckpointInterval = 2 * time.Second
	cfg.Performance.Enabled = labels
	cfg.Server.HTTPAddr = *httpAddr
	cfg.Server.LogLevel = "warn"
	cfg.Server.MetricsDetail = *metricsDetail
	cfg.Server.MetricsTopK = *metricsTopK
	if *brokers != "" {
		cfg.Stream.Brokers = splitList(*brokers)
	} else {
		// MLServer keys its records by request ID, so a model's rows
		// share a partition only on a topic of one.
		parts := int32(3)
		if *format == "oip" {
			parts = 1
		}
		cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(parts, cfg.Stream.InputTopics...))
		if err != nil {
			return fmt.Errorf("starting the embedded broker: %w", err)
		}
		defer cluster.Close()
		cfg.Stream.Brokers = cluster.ListenAddrs()
		cfg.Stream.TopicPartitions = 3
		cfg.Stream.TopicReplication = 1
	}
	if err := cfg.validate(); err != nil {
		// The demo's settings come from its flags: name them.
		return usagef("demo: %s", strings.NewReplacer("DRIFTD_HTTP_ADDR", "--http-addr", "DRIFTD_BROKERS", "--brokers",
			"DRIFTD_INPUT_TOPICS", "--topic").Replace(err.Error()))
	}
	out := &syncWriter{w: stdout}
	out.printf("driftd demo — %s\n", version())
	if *brokers == "" {
		out.printf("  embedded Kafka broker (kfake, in-process, loopback only) at %s\n", cfg.Stream.Brokers[0])
		out.printf("  poke at it with kcat:  kcat -b %s -L   |   kcat -b %s -C -t drift.alerts -f '%%k %%s\\n'\n", cfg.Stream.Brokers[0], cfg.Stream.Brokers[0])
	} else {
		out.printf("  Kafka at %s\n", strings.Join(cfg.Stream.Brokers, ","))
	}

	opts, err := cfg.Stream.ClientOpts()
	if err != nil {
		return err
	}
	producer, err := kgo.NewClient(append(opts, kgo.ProducerLinger(5*time.Millisecond), kgo.AllowAutoTopicCreation())...)
	if err != nil {
		return err
	}
	defer producer.Close()

	// Topics, then the reference on the reference topic — the way a
	// training pipeline hands a new model version to driftd.
	if _, err := stream.EnsureTopics(ctx, kadm.NewClient(producer), &cfg.Stream); err != nil {
		return err
	}
	t0 := time.Now()
	ref, err := demoReferenceMultivariate(50000)
	if err != nil {
		return err
	}
	if err := stream.PublishReference(ctx, producer, cfg.Stream.ReferenceTopic, ref); err != nil {
		return fmt.Errorf("publishing the reference: %w", err)
	}
	out.printf("  reference %s/%s (%s, 50,000 training rows, %d features) published to %s in %s\n",
		ref.Model, ref.Version, ref.ID, len(ref.Features), cfg.Stream.ReferenceTopic, time.Since(t0).Round(time.Millisecond))

	var wg sync.WaitGroup
	errs := make(chan error, 3)
	var alertsSeen atomic.Int64
	var d *daemon
	if !*produceOnly {
		// The view's address goes into every alert's url, so listen
		// first (the port may be chosen by the system).
		l, err := net.Listen("tcp", *httpAddr)
		if err != nil {
			return usagef("demo: --http-addr: %v", err)
		}
		base := "http://" + l.Addr().String()
		cfg.Web.URL = base
		cfg.Web.SnapshotInterval = time.Second
		cfg.Web.HistoryInterval = time.Second
		cfg.Web.History = 240
		d, err = newDaemon(cfg, slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
		if err != nil {
			l.Close()
			return err
		}
		d.listener = l
		out.printf("  drift view: %s/ui/   (every alert below links to its feature's page)\n", base)
		out.printf("  metrics: %s/metrics   JSON API: %s/api/v1/models   health: /healthz   readiness: /ready\n", base, base)
		wg.Add(2)
		go func() {
			defer wg.Done()
			if err := d.run(ctx, nil); err != nil {
				errs <- fmt.Errorf("daemon: %w", err)
				cancel()
			}
		}()
		go func() {
			defer wg.Done()
			printAlerts(ctx, opts, cfg.Stream.AlertTopic, start, out, &alertsSeen)
		}()
	}
	out.printf("  window %d events, hop %d; ERT %.0g events; alerts print as they arrive on %s\n\n",
		cfg.Window.Size, cfg.Window.Hop, cfg.Policy.ERT, cfg.Stream.AlertTopic)

	if *format == "oip" {
		out.printf("  traffic: MLServer's Kafka topics — OIP v2 requests on mlserver-input (model in the mlserver-model header), responses on mlserver-output; labels on %s, joined to the responses' rows by <id>/<row>\n", *topic)
	}
	produced, bad, records, perr := produceScenario(ctx, producer, enc, *topic, phases, *rate, *loop, labels, start, out)
	if perr != nil && !errors.Is(perr, context.Canceled) && !errors.Is(perr, context.DeadlineExceeded) {
		errs <- perr
	}
	// Let the daemon catch up with what was produced and publish the
	// last alerts (at most 15 s), then stop.
	if ctx.Err() == nil && d != nil {
		deadline := time.Now().Add(15 * time.Second)
		for d.svc.Processed() < uint64(records) && time.Now().Before(deadline) && ctx.Err() == nil {
			time.Sleep(50 * time.Millisecond)
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	cancel()
	wg.Wait()
	close(errs)
	out.printf("\n%s produced %d events (%d malformed, sent to the DLQ); %d alerts received\n",
		stamp(start), produced, bad, alertsSeen.Load())
	return <-errs
}

// produceScenario produces the phases' events at rate per second as enc
// encodes them, and returns the events, the malformed ones and the
// records produced. With labels, each event's label follows 50 events
// later on labelTopic.
func produceScenario(ctx context.Context, cl *kgo.Client, enc demoEncoder, labelTopic string, phases []phase, rate int, loop, labels bool, start time.Time, out *syncWriter) (produced, bad, records int64, err error) {
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	tick := 20 * time.Millisecond
	perTick := float64(rate) * tick.Seconds()
	var carry float64
	var seq int64
	var pendingLabels [][]byte
	var evs []demoEvent
	var bads, churned []bool
	var perr atomic.Value
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			perr.CompareAndSwap(nil, err)
		}
	}
	for {
		for i, ph := range phases {
			out.printf("%s phase %d/%d: %s — %s\n", stamp(start), i+1, len(phases), ph.name, ph.describe)
			phaseStart := time.Now()
			length := time.Duration(ph.seconds * float64(time.Second))
			ticker := time.NewTicker(tick)
			for elapsed := time.Duration(0); elapsed < length; elapsed = time.Since(phaseStart) {
				select {
				case <-ctx.Done():
					ticker.Stop()
					return produced, bad, records, ctx.Err()
				case <-ticker.C:
				}
				if e, ok := perr.Load().(error); ok {
					ticker.Stop()
					return produced, bad, records, e
				}
				carry += perTick
				n := int(carry)
				carry -= float64(n)
				now := time.Now()
				evs, bads, churned = evs[:0], bads[:0], churned[:0]
				first := seq + 1
				for range n {
					seq++
					isBad := ph.badEvery > 0 && seq%int64(ph.badEvery) == 0
					e := stableEvent(rng).withSessionsDrawn(rng)
					if isBad {
						bad++
						churned = append(churned, false)
					} else {
						world := e
						ph.event(&e, float64(elapsed)/float64(length), rng)
						e.predict()
						if !ph.servedOnly {
							world = e
						}
						churned = append(churned, demoLabel(world, ph.stale, rng))
					}
					evs, bads = append(evs, e), append(bads, isBad)
				}
				recs, ids := enc(evs, bads, first, now)
				for _, r := range recs {
					cl.Produce(ctx, r, promise)
					records++
				}
				for i, id := range ids {
					if labels && !bads[i] {
						pendingLabels = append(pendingLabels, demoLabelJSON(id, now, churned[i]))
					}
				}
				produced += int64(n)
				for len(pendingLabels) > 50 {
					cl.Produce(ctx, &kgo.Record{Topic: labelTopic, Key: []byte("churn"), Value: pendingLabels[0]}, promise)
					pendingLabels = pendingLabels[1:]
					records++
				}
			}
			ticker.Stop()
		}
		if !loop {
			return produced, bad, records, cl.Flush(ctx)
		}
	}
}

// printAlerts consumes the alert topic and prints each alert as a line.
func printAlerts(ctx context.Context, opts []kgo.Opt, topic string, start time.Time, out *syncWriter, seen *atomic.Int64) {
	cl, err := kgo.NewClient(append(opts, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		out.printf("alert consumer: %v\n", err)
		return
	}
	defer cl.Close()
	for {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil || fetches.IsClientClosed() {
			return
		}
		fetches.EachRecord(func(r *kgo.Record) {
			var a detector.Alert
			if err := json.Unmarshal(r.Value, &a); err != nil {
				out.printf("%s unreadable alert at offset %d: %v\n", stamp(start), r.Offset, err)
				return
			}
			seen.Add(1)
			mark := "FIRING  "
			if a.Status == detector.Resolved {
				mark = "resolved"
			}
			if a.Update > 0 {
				mark = "UPDATE  "
			}
			out.printf("%s %s %s\n", stamp(start), mark, a.Summary)
			if a.URL != "" {
				out.printf("%s          %s\n", strings.Repeat(" ", len(stamp(start))), a.URL)
			}
		})
	}
}

func stamp(start time.Time) string {
	d := time.Since(start)
	return fmt.Sprintf("[%02d:%04.1f]", int(d.Minutes()), math.Mod(d.Seconds(), 60))
}

// syncWriter serialises lines from several goroutines.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) printf(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintf(s.w, format, args...)
}
