package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/driftd/driftd/detector"
	"github.com/driftd/driftd/stream/codec"
)

// DLQ record headers. The value and key are the original record's.
const (
	HeaderReason          = "driftd-reason"
	HeaderError           = "driftd-error"
	HeaderSourceTopic     = "driftd-source-topic"
	HeaderSourcePartition = "driftd-source-partition"
	HeaderSourceOffset    = "driftd-source-offset"
)

// Service is the daemon's Kafka pipeline: a consumer group on the input
// topics feeding a Processor, publishing alerts and dead letters, and
// checkpointing window state.
//
// Delivery. Offsets are committed only after the effects of the events
// before them are durable: alerts and DLQ records acknowledged by the
// brokers, and window state checkpointed to the state topic. With
// checkpoints off, offsets are committed after every poll (windows start
// empty after a restart). With ExactlyOnce, alerts, DLQ records,
// checkpoints and offsets go in one transaction per checkpoint interval.
type Service struct {
	retry    []retryAt
	cfg      Config
	pcfg     ProcessorConfig
	registry *Registry
	metrics  *Metrics
	log      *slog.Logger
	opts     []kgo.Opt // brokers, TLS, SASL
	hooks    []kgo.Hook
	observer Observer
	alertURL func(*detector.Alert) string

	cl    *kgo.Client
	sess  *kgo.GroupTransactSession
	lanes []*lane // processing in parallel, a share of the partitions each

	joined         atomic.Bool
	refsLoaded     atomic.Bool
	processedTotal atomic.Uint64
	// health (see health.go)
	health         health
	phase          atomic.Value // string: a start-up phase, or phaseRunning
	assignedCount  atomic.Int64
	lastBrokerRead atomic.Int64 // Unix ns
	lastProgress   atomic.Int64 // Unix ns
	txnAborted     bool         // the last transaction aborted (pipeline-owned)

	// pipeline-owned (also touched by group callbacks, which
	// BlockRebalanceOnPoll serialises with the pipeline)
	alerts, dlq    []*kgo.Record
	alertPending   []detector.Alert
	gen            uint64
	stateLimit     int // largest record batch the state topic accepts
	lastCheckpoint time.Time
	inflight       *pendingCheckpoint // being written (at-least-once mode)
	lastStats      time.Time
	prevStats      map[*detector.Monitor]detector.ModelStats
	refGen         uint64
	txnErr         error // produce failures in the open transaction
	dlqMaxBytes    int   // the DLQ topic's max.message.bytes
	// staleness: when each model version last had events, and those
	// found silent for StaleAfter
	lastEvent map[string]time.Time
	stale     map[string]bool
	reported  Counters // processor counters already exported

	mu sync.Mutex // guards failure and assigned
	// failure is set by a group callback that could not do its job
	// (e.g. a checkpoint on revoke failed); the pipeline stops with it.
	failure error
	// assigned are the input partitions this replica owns, for the lag
	// watcher.
	assigned map[TaskID]bool
	// dlqRefused are the source records (topic/partition/offset) whose
	// dead letter the DLQ topic refused for its size in an aborted
	// transaction: replayed, they are dead-lettered without their value.
	dlqRefused map[string]bool
}

// ServiceOptions are the dependencies of a Service.
type ServiceOptions struct {
	Config    Config
	Processor ProcessorConfig
	Registry  *Registry
	Metrics   *Metrics
	Log       *slog.Logger
	// Hooks are franz-go hooks (e.g. kprom) for the pipeline's client.
	Hooks []kgo.Hook
	// Observer, if set, follows the pipeline for read-only views.
	Observer Observer
	// Formats are the input formats beyond the built-in canonical and
	// flat, by the name DRIFTD_INPUT_FORMAT gives them.
	Formats map[string]codec.NewRecordDecoder
	// AlertURL, if set, gives the link an alert carries in its url field.
	AlertURL func(*detector.Alert) string
}

// resolveFormats turns DRIFTD_INPUT_FORMAT into the processor's decoders.
func resolveFormats(o *ServiceOptions) error {
	def, perTopic, err := codec.ParseTopicFormats(o.Config.InputFormat, o.Config.InputTopics)
	if err != nil {
		return cfgErr("INPUT_FORMAT", "%v", err)
	}
	lookup := func(name string) (codec.NewRecordDecoder, error) {
		if slices.Contains(codec.Formats, codec.Format(name)) {
			return func(env codec.Env) (codec.RecordDecoder, error) {
				return codec.NewValueDecoder(codec.Format(name), env.MaxBytes)
			}, nil
		}
		if mk := o.Formats[name]; mk != nil {
			return mk, nil
		}
		accepted := []string{string(codec.Canonical), string(codec.Flat)}
		for n := range o.Formats {
			accepted = append(accepted, n)
		}
		slices.Sort(accepted[2:])
		return nil, cfgErr("INPUT_FORMAT", "unknown format %q; accepted: %s", name, strings.Join(accepted, ", "))
	}
	if slices.Contains(codec.Formats, codec.Format(def)) {
		o.Processor.Format = codec.Format(def)
	} else {
		o.Processor.Format = codec.Canonical // unused: every topic has a record decoder
		if o.Processor.DefaultDecoder, err = lookup(def); err != nil {
			return err
		}
	}
	if len(perTopic) > 0 {
		o.Processor.TopicDecoders = map[string]codec.NewRecordDecoder{}
	}
	for topic, name := range perTopic {
		mk, err := lookup(name)
		if err != nil {
			return err
		}
		o.Processor.TopicDecoders[topic] = mk
	}
	return nil
}

// NewService validates the configuration and returns a service.
func NewService(o ServiceOptions) (*Service, error) {
	if err := o.Config.Validate(); err != nil {
		return nil, err
	}
	opts, err := o.Config.ClientOpts()
	if err != nil {
		return nil, err
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	o.Processor.MaxBytes = o.Config.MaxEventBytes
	if err := resolveFormats(&o); err != nil {
		return nil, err
	}
	o.Processor.TimeUnit = o.Config.TimestampUnit
	switch o.Config.Mode {
	case ModeStage1:
		o.Processor.Window.Stage = detector.StageEmit
	case ModeStage2:
		o.Processor.Window.Stage = detector.StageMerge
	}
	workers := o.Config.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	var lanes []*lane
	for range workers {
		proc, err := NewProcessor(o.Processor, o.Registry)
		if err != nil {
			return nil, err
		}
		proc.OnEvaluations = func(seconds float64, n int) {
			for range n {
				o.Metrics.EvaluationSeconds.Observe(seconds / float64(n))
			}
		}
		lanes = append(lanes, &lane{proc: proc})
	}
	return &Service{
		cfg: o.Config, pcfg: o.Processor, registry: o.Registry, metrics: o.Metrics, log: o.Log, opts: opts, hooks: o.Hooks, lanes: lanes,
		observer: o.Observer, alertURL: o.AlertURL,
		prevStats:  map[*detector.Monitor]detector.ModelStats{},
		dlqRefused: map[string]bool{},
		lastEvent:  map[string]time.Time{},
		stale:      map[string]bool{},
		health:     health{now: time.Now},
		stateLimit: DefaultStateMaxMessageBytes,
	}, nil
}

// Processed is the number of records processed or dead-lettered so far.
func (s *Service) Processed() uint64 { return s.processedTotal.Load() }

func (s *Service) fail(err error) {
	s.mu.Lock()
	if s.failure == nil {
		s.failure = err
	}
	s.mu.Unlock()
}

func (s *Service) failed() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failure
}

// Run runs the pipeline until ctx is cancelled, then shuts down within
// shutdown: it stops polling, publishes what is pending, writes a final
// checkpoint, commits, and leaves the group.
func (s *Service) Run(ctx context.Context, shutdown time.Duration) error {
	s.phase.Store(phaseConnecting)
	s.markProgress()
	if err := s.connect(ctx); err != nil {
		if ctx.Err() != nil {
			return nil // stopped while starting
		}
		return err
	}
	s.metrics.InitTopics(s.cfg.InputTopics, s.cfg.DLQTopic)

	// References: the topic is read to its end before the group is
	// joined, so restored state finds its references.
	var wg sync.WaitGroup
	refCtx, stopRefs := context.WithCancel(context.WithoutCancel(ctx))
	defer func() { stopRefs(); wg.Wait() }()
	s.phase.Store(phaseReferences)
	s.markProgress()
	if s.cfg.ReferencesEnabled {
		loaded := make(chan struct{})
		loader := &ReferenceLoader{Topic: s.cfg.ReferenceTopic, Registry: s.registry, Log: s.log}
		wg.Add(1)
		refErr := make(chan error, 1)
		go func() {
			defer wg.Done()
			refErr <- loader.Run(refCtx, s.opts, loaded)
		}()
		select {
		case <-loaded:
		case err := <-refErr:
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("loading references: %w", err)
		case <-ctx.Done():
			return nil
		}
	}
	s.refsLoaded.Store(true)
	if s.registry.Len() == 0 {
		s.log.Warn("no references loaded yet; events are counted but not monitored until one is published", "topic", s.cfg.ReferenceTopic)
	}
	for _, l := range s.lanes {
		l.proc.Refresh()
	}
	s.refGen = s.registry.Generation()
	s.observeReferences()

	s.phase.Store(phaseJoining)
	s.markProgress()
	if err := s.startGroup(); err != nil {
		return err
	}
	s.phase.Store(phaseRunning)
	if s.cfg.GroupLagInterval > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.watchLag(refCtx, s.cfg.GroupLagInterval)
		}()
	}
	// Output work (produce, checkpoint, commit) started before a
	// shutdown signal is allowed to finish within the shutdown deadline:
	// cancelling it midway would fail records the broker may already have.
	octx, ocancel := graceContext(ctx, shutdown)
	defer ocancel()
	runErr := s.loop(ctx, octx)

	// Shutdown: bounded by the deadline, independent of ctx.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdown)
	defer cancel()
	if runErr == nil {
		runErr = s.flushAndCommit(sctx, true)
	}
	s.closeClients(sctx)
	return runErr
}

func (s *Service) groupOpts() []kgo.Opt {
	keyed := kgo.StickyKeyPartitioner(nil)
	opts := append(slices.Clone(s.opts),
		kgo.ConsumerGroup(s.cfg.Group),
		kgo.SessionTimeout(s.cfg.SessionTimeout),
		kgo.ConsumeTopics(s.inputTopics()...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(s.onAssigned),
		kgo.OnPartitionsRevoked(s.onRevoked),
		kgo.OnPartitionsLost(s.onLost),
		kgo.RecordPartitioner(statePartitioner{stateTopic: s.cfg.StateTopic, panesTopic: s.cfg.PanesTopic, keyed: keyed}),
		kgo.MaxBufferedRecords(s.cfg.MaxBufferedRecords),
		kgo.ProducerLinger(time.Millisecond),
		// No batch larger than the state topic accepts (the other
		// topics' records are small).
		kgo.ProducerBatchMaxBytes(int32(s.stateLimit)),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	)
	opts = append(opts, kgo.WithLogger(kgoLogger{s.log.With("client", "group")}), kgo.WithHooks(brokerHook{s}))
	if s.cfg.InstanceID != "" {
		opts = append(opts, kgo.InstanceID(s.cfg.InstanceID))
	}
	if len(s.hooks) > 0 {
		// Client metrics (kprom) describe the pipeline's client only:
		// a hook registers its metrics once.
		opts = append(opts, kgo.WithHooks(s.hooks...))
	}
	return opts
}

// inputTopics are the topics the pipeline consumes: the input topics, or
// the panes topic in stage 2.
func (s *Service) inputTopics() []string {
	if s.cfg.Mode == ModeStage2 {
		return []string{s.cfg.PanesTopic}
	}
	return s.cfg.InputTopics
}

func (s *Service) startGroup() error {
	opts := s.groupOpts()
	if s.cfg.ExactlyOnce {
		id := s.cfg.TransactionalID
		if id == "" {
			id = s.cfg.Group + "-" + s.cfg.ClientID
		}
		opts = append(opts, kgo.TransactionalID(id), kgo.RequireStableFetchOffsets(), kgo.TransactionTimeout(time.Minute))
		sess, err := kgo.NewGroupTransactSession(opts...)
		if err != nil {
			return err
		}
		s.sess, s.cl = sess, sess.Client()
		return nil
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	s.cl = cl
	return nil
}

func (s *Service) closeClients(ctx context.Context) {
	if s.sess != nil {
		s.sess.Close()
		return
	}
	if s.cl != nil {
		s.cl.LeaveGroupContext(ctx) //nolint:errcheck // best effort on the way out
		s.cl.Close()
	}
}

// inflightPoll is the longest poll while a checkpoint is being written
// and the next is due.
const inflightPoll = 20 * time.Millisecond

// poll waits for records at most until the next checkpoint is due, so an
// idle stream still checkpoints and commits what it processed last.
func (s *Service) poll(ctx context.Context) kgo.Fetches {
	wait := time.Second
	if s.cfg.CheckpointInterval > 0 {
		wait = max(time.Millisecond, s.cfg.CheckpointInterval-time.Since(s.lastCheckpoint))
		if s.inflight != nil {
			// The next checkpoint waits for the one being written; its
			// offsets are committed after the poll that sees it done.
			wait = max(wait, inflightPoll)
		}
	}
	pctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	if s.sess != nil {
		return s.sess.PollRecords(pctx, s.cfg.MaxPollRecords)
	}
	return s.cl.PollRecords(pctx, s.cfg.MaxPollRecords)
}

func (s *Service) allowRebalance() {
	if s.sess != nil {
		s.sess.AllowRebalance()
		return
	}
	s.cl.AllowRebalance()
}

func (s *Service) loop(ctx, octx context.Context) error {
	s.lastCheckpoint = time.Now()
	txnOpen := false
	for {
		if err := s.failed(); err != nil {
			return err
		}
		fetches := s.poll(ctx)
		if fetches.IsClientClosed() {
			return nil
		}
		if ctx.Err() != nil {
			s.allowRebalance()
			return nil
		}
		fetches.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				s.log.Warn("fetch error", "topic", t, "partition", p, "err", err)
			}
		})
		if s.sess != nil && !txnOpen {
			if err := s.sess.Begin(); err != nil {
				s.allowRebalance()
				return fmt.Errorf("beginning a transaction: %w", err)
			}
			txnOpen = true
		}
		s.refreshReferences()
		idle := fetches.NumRecords() == 0
		s.process(fetches)
		var err error
		if s.sess != nil {
			err = s.produceInTxn(octx)
			if err == nil && time.Since(s.lastCheckpoint) >= s.cfg.CheckpointInterval {
				err = s.endTransaction(octx)
				txnOpen = false
			}
		} else {
			err = s.publish(octx)
			if err == nil {
				err = s.maybeCheckpoint(octx, false)
			}
		}
		s.maybeObserveStats()
		s.syncObserver()
		s.allowRebalance()
		if err != nil {
			if octx.Err() != nil {
				return nil
			}
			return err
		}
		// Progress, for liveness: an idle poll (nothing pending), or
		// records made durable — published and checkpointed as due in
		// at-least-once mode, a committed transaction in exactly-once
		// mode (endTransaction marks it).
		if (idle && !s.txnAborted) || s.sess == nil {
			s.markProgress()
		}
	}
}

// graceContext returns a context that ends grace after ctx ends.
func graceContext(ctx context.Context, grace time.Duration) (context.Context, context.CancelFunc) {
	gctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(grace, cancel)
		context.AfterFunc(gctx, func() { t.Stop() })
	})
	return gctx, func() { stop(); cancel() }
}

// readStateLimit reads the state topic's effective max.message.bytes;
// state records are cut to fit it.
func (s *Service) readStateLimit(ctx context.Context, adm *kadm.Client) (int, error) {
	if s.cfg.CheckpointInterval == 0 {
		return DefaultStateMaxMessageBytes, nil
	}
	limit, err := StateRecordLimit(ctx, adm, s.cfg.StateTopic)
	if limit == 0 {
		return 0, err
	}
	if err != nil {
		s.log.Warn("assuming the broker default max.message.bytes for the state topic", "bytes", limit, "err", err)
	}
	s.log.Info("state records fit the state topic", "topic", s.cfg.StateTopic, "max_message_bytes", limit)
	return limit, nil
}

// stateHook returns the record hook when it keeps state per task.
func (s *Service) stateHook() TaskStateHook {
	h, _ := s.pcfg.Records.(TaskStateHook)
	return h
}
