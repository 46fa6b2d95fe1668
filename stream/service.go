package stream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"maps"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

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
	cfg      Config
	pcfg     ProcessorConfig
	registry *Registry
	metrics  *Metrics
	log      *slog.Logger
	opts     []kgo.Opt // brokers, TLS, SASL
	hooks    []kgo.Hook

	cl    *kgo.Client
	sess  *kgo.GroupTransactSession
	lanes []*lane // processing in parallel, a share of the partitions each

	joined         atomic.Bool
	refsLoaded     atomic.Bool
	processedTotal atomic.Uint64

	// pipeline-owned (also touched by group callbacks, which
	// BlockRebalanceOnPoll serialises with the pipeline)
	alerts, dlq    []*kgo.Record
	alertPending   []detector.Alert
	gen            uint64
	lastCheckpoint time.Time
	lastStats      time.Time
	prevStats      map[*detector.Monitor]detector.ModelStats
	refGen         uint64
	txnErr         error    // produce failures in the open transaction
	reported       Counters // processor counters already exported

	mu sync.Mutex // guards failure and assigned
	// failure is set by a group callback that could not do its job
	// (e.g. a checkpoint on revoke failed); the pipeline stops with it.
	failure error
	// assigned are the input partitions this replica owns, for the lag
	// watcher.
	assigned map[TaskID]bool
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
	o.Processor.Format = o.Config.InputFormat
	o.Processor.MaxBytes = o.Config.MaxEventBytes
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
		prevStats: map[*detector.Monitor]detector.ModelStats{},
	}, nil
}

// Ready reports whether the service has joined its group and loaded the
// references present at start.
func (s *Service) Ready() bool { return s.joined.Load() && s.refsLoaded.Load() }

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
	adm, err := kgo.NewClient(s.opts...)
	if err != nil {
		return err
	}
	_, err = EnsureTopics(ctx, kadm.NewClient(adm), &s.cfg)
	adm.Close()
	if ctx.Err() != nil {
		return nil // stopped while starting
	}
	if err != nil {
		return err
	}
	s.metrics.InitTopics(s.cfg.InputTopics, s.cfg.DLQTopic)

	// References: the topic is read to its end before the group is
	// joined, so restored state finds its references.
	var wg sync.WaitGroup
	refCtx, stopRefs := context.WithCancel(context.WithoutCancel(ctx))
	defer func() { stopRefs(); wg.Wait() }()
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

	if err := s.startGroup(); err != nil {
		return err
	}
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
		kgo.ProducerBatchMaxBytes(16<<20),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	)
	opts = append(opts, kgo.WithLogger(kgoLogger{s.log.With("client", "group")}))
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

// poll waits for records at most until the next checkpoint is due, so an
// idle stream still checkpoints and commits what it processed last.
func (s *Service) poll(ctx context.Context) kgo.Fetches {
	wait := time.Second
	if s.cfg.CheckpointInterval > 0 {
		wait = max(time.Millisecond, s.cfg.CheckpointInterval-time.Since(s.lastCheckpoint))
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
		s.allowRebalance()
		if err != nil {
			if octx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

// watchLag exports, every interval, the group's lag on the partitions
// this replica owns: end offset minus committed offset, as the brokers see
// it. Unlike driftd_consumer_lag_records, which the pipeline updates as it
// processes, it keeps growing while the pipeline is blocked (backpressure).
func (s *Service) watchLag(ctx context.Context, interval time.Duration) {
	cl, err := kgo.NewClient(s.opts...)
	if err != nil {
		return
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	shown := map[TaskID]bool{}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		lags, err := adm.Lag(ctx, s.cfg.Group)
		if err != nil {
			continue
		}
		s.mu.Lock()
		mine := maps.Clone(s.assigned)
		s.mu.Unlock()
		gl := lags[s.cfg.Group].Lag
		for id := range mine {
			if l, ok := gl.Lookup(id.Topic, id.Partition); ok && l.Err == nil && l.Lag >= 0 {
				s.metrics.GroupLag.WithLabelValues(id.Topic, strconv.Itoa(int(id.Partition))).Set(float64(l.Lag))
				shown[id] = true
			}
		}
		for id := range shown {
			if !mine[id] {
				s.metrics.GroupLag.DeleteLabelValues(id.Topic, strconv.Itoa(int(id.Partition)))
				delete(shown, id)
			}
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

// lane is one processor and the output it queued: tasks (partitions) are
// spread over lanes by hash and a poll's lanes run in parallel, each on
// its own partitions, so no state is shared and no lock is taken per
// event.
type lane struct {
	proc         *Processor
	parts        []kgo.FetchTopicPartition
	alerts, dlq  []*kgo.Record
	alertPending []detector.Alert
}

// Counters sums the lanes' processor counters. Call it from the pipeline
// goroutine or after Run returned.
func (s *Service) Counters() Counters {
	c := Counters{Rejected: map[codec.Reason]uint64{}}
	for _, l := range s.lanes {
		p := &l.proc.Counters
		c.Consumed += p.Consumed
		c.Processed += p.Processed
		c.NoReference += p.NoReference
		c.BadTimestamp += p.BadTimestamp
		c.Skipped += p.Skipped
		c.MonitorErrors += p.MonitorErrors
		c.PanesDuplicate += p.PanesDuplicate
		c.PanesMismatched += p.PanesMismatched
		for r, n := range p.Rejected {
			c.Rejected[r] += n
		}
	}
	return c
}

// laneOf is the lane of a task.
func (s *Service) laneOf(id TaskID) *lane {
	if len(s.lanes) == 1 {
		return s.lanes[0]
	}
	h := fnv.New32a()
	h.Write([]byte(id.Topic))
	return s.lanes[(int(h.Sum32())+int(id.Partition))%len(s.lanes)]
}

// tasks returns every task of every lane.
func (s *Service) tasks() map[TaskID]*Task {
	out := map[TaskID]*Task{}
	for _, l := range s.lanes {
		maps.Copy(out, l.proc.tasks)
	}
	return out
}

// process runs a poll's records through the lanes, in parallel when more
// than one has work, then queues their output in lane order.
func (s *Service) process(fetches kgo.Fetches) {
	busy := 0
	fetches.EachPartition(func(p kgo.FetchTopicPartition) {
		if len(p.Records) == 0 {
			return
		}
		l := s.laneOf(TaskID{Topic: p.Topic, Partition: p.Partition})
		if len(l.parts) == 0 {
			busy++
		}
		l.parts = append(l.parts, p)
	})
	if busy > 1 {
		var wg sync.WaitGroup
		for _, l := range s.lanes {
			if len(l.parts) > 0 {
				wg.Go(func() { s.runLane(l) })
			}
		}
		wg.Wait()
	} else {
		for _, l := range s.lanes {
			if len(l.parts) > 0 {
				s.runLane(l)
			}
		}
	}
	for _, l := range s.lanes {
		s.alerts = append(s.alerts, l.alerts...)
		s.dlq = append(s.dlq, l.dlq...)
		s.alertPending = append(s.alertPending, l.alertPending...)
		clear(l.alerts)
		clear(l.dlq)
		clear(l.alertPending)
		l.alerts, l.dlq, l.alertPending = l.alerts[:0], l.dlq[:0], l.alertPending[:0]
	}
}

func (s *Service) runLane(l *lane) {
	for _, p := range l.parts {
		s.processPartition(l, p)
	}
	clear(l.parts)
	l.parts = l.parts[:0]
}

// processPartition runs the records of one partition through a lane's
// processor and queues the resulting alerts and dead letters.
func (s *Service) processPartition(l *lane, p kgo.FetchTopicPartition) {
	id := TaskID{Topic: p.Topic, Partition: p.Partition}
	proc := l.proc
	task := proc.Task(id)
	consumed := s.metrics.RecordsConsumed.WithLabelValues(p.Topic)
	for _, r := range p.Records {
		var derr *codec.Error
		if s.cfg.Mode == ModeStage2 {
			derr = proc.ProcessPane(task, r.Value, r.Offset)
		} else {
			derr = proc.Process(task, r.Value, r.Timestamp.UnixMilli(), r.Offset)
		}
		if derr != nil {
			l.dlq = append(l.dlq, s.dlqRecord(r, derr))
		}
		if len(proc.Out.Alerts) > 0 || len(proc.Out.Evaluations) > 0 || len(proc.Out.Panes) > 0 {
			s.collect(l)
		}
	}
	consumed.Add(float64(len(p.Records)))
	s.processedTotal.Add(uint64(len(p.Records)))
	lag := max(0, p.HighWatermark-task.Next)
	s.metrics.ConsumerLag.WithLabelValues(p.Topic, strconv.Itoa(int(p.Partition))).Set(float64(lag))
}

// collect turns a lane's processor output into metrics and records.
func (s *Service) collect(l *lane) {
	out := &l.proc.Out
	if len(out.Evaluations) > 0 {
		s.metrics.ObserveEvaluations(l.proc.refs, out.Evaluations)
	}
	for i := range out.Alerts {
		a := &out.Alerts[i]
		value, err := json.Marshal(a)
		if err != nil {
			s.log.Error("encoding alert", "key", a.Key(), "err", err)
			continue
		}
		l.alerts = append(l.alerts, &kgo.Record{Topic: s.cfg.AlertTopic, Key: []byte(a.Key()), Value: value,
			Headers: []kgo.RecordHeader{{Key: "content-type", Value: []byte("application/json")}}})
		l.alertPending = append(l.alertPending, *a)
	}
	for i := range out.Panes {
		p := &out.Panes[i]
		value, err := detector.EncodePaneRecord(p)
		if err != nil {
			s.log.Error("encoding pane", "key", p.Key(), "err", err)
			continue
		}
		// Queued with the alerts: produced and acknowledged before the
		// input offsets that produced them are committed.
		l.alerts = append(l.alerts, &kgo.Record{Topic: s.cfg.PanesTopic, Key: []byte(p.Key()), Value: value})
	}
	out.Reset()
}

func (s *Service) dlqRecord(r *kgo.Record, derr *codec.Error) *kgo.Record {
	headers := append(slices.Clone(r.Headers),
		kgo.RecordHeader{Key: HeaderReason, Value: []byte(derr.Reason)},
		kgo.RecordHeader{Key: HeaderError, Value: []byte(derr.Error())},
		kgo.RecordHeader{Key: HeaderSourceTopic, Value: []byte(r.Topic)},
		kgo.RecordHeader{Key: HeaderSourcePartition, Value: []byte(strconv.Itoa(int(r.Partition)))},
		kgo.RecordHeader{Key: HeaderSourceOffset, Value: []byte(strconv.FormatInt(r.Offset, 10))},
	)
	s.metrics.RecordsDLQ.WithLabelValues(s.cfg.DLQTopic, string(derr.Reason)).Inc()
	return &kgo.Record{Topic: s.cfg.DLQTopic, Key: r.Key, Value: r.Value, Headers: headers, Timestamp: r.Timestamp}
}

// publish produces the queued alerts and dead letters and waits until the
// brokers acknowledged all of them. Retriable errors are retried by the
// client without limit (a slow or unavailable output stops the pipeline:
// backpressure, nothing dropped); a record the broker refuses for good
// fails the run, except a dead letter too large for the DLQ topic, which
// is re-sent without its value (the headers keep where to find it).
func (s *Service) publish(ctx context.Context) error {
	recs := append(s.alerts, s.dlq...)
	if len(recs) == 0 {
		return nil
	}
	s.metrics.ProduceBuffered.Set(float64(len(recs)))
	results := s.cl.ProduceSync(ctx, recs...)
	s.metrics.ProduceBuffered.Set(0)
	var retry []*kgo.Record
	for _, res := range results {
		if res.Err == nil {
			continue
		}
		s.metrics.ProduceErrors.WithLabelValues(res.Record.Topic).Inc()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if res.Record.Topic == s.cfg.DLQTopic && errors.Is(res.Err, kerr.MessageTooLarge) {
			r := res.Record
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: "driftd-value-dropped", Value: []byte(strconv.Itoa(len(r.Value)))})
			r.Value = nil
			retry = append(retry, r)
			continue
		}
		return fmt.Errorf("producing to %s: %w", res.Record.Topic, res.Err)
	}
	if len(retry) > 0 {
		if err := s.cl.ProduceSync(ctx, retry...).FirstErr(); err != nil {
			return fmt.Errorf("producing to %s: %w", s.cfg.DLQTopic, err)
		}
	}
	s.alertsPublished()
	s.alerts, s.dlq = s.alerts[:0], s.dlq[:0]
	return nil
}

func (s *Service) alertsPublished() {
	for i := range s.alertPending {
		s.metrics.ObserveAlert(&s.alertPending[i])
		a := &s.alertPending[i]
		s.log.Info("alert", "status", a.Status, "key", a.Key(), "id", a.ID, "summary", a.Summary)
	}
	clear(s.alertPending)
	s.alertPending = s.alertPending[:0]
}

// maybeCheckpoint writes a checkpoint when one is due (or when forced)
// and commits the offsets it covers. Without state it commits after every
// poll.
func (s *Service) maybeCheckpoint(ctx context.Context, force bool) error {
	if s.cfg.CheckpointInterval == 0 {
		return s.commit(ctx, s.tasks())
	}
	if !force && time.Since(s.lastCheckpoint) < s.cfg.CheckpointInterval {
		return nil
	}
	return s.checkpoint(ctx, s.tasks())
}

// checkpoint writes the state of the given tasks and commits their
// offsets. A failure leaves the offsets uncommitted: the events will be
// replayed, and the double-buffered state keeps the previous complete
// checkpoint.
func (s *Service) checkpoint(ctx context.Context, tasks map[TaskID]*Task) error {
	start := time.Now()
	s.lastCheckpoint = start
	s.gen++
	var recs []*kgo.Record
	var size int
	var written []*detector.Monitor
	for _, t := range tasks {
		r, n, w, err := checkpointRecords(s.cfg.StateTopic, t, s.gen, false)
		if err != nil {
			return err
		}
		recs, size, written = append(recs, r...), size+n, append(written, w...)
	}
	if len(recs) > 0 {
		if err := s.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			s.metrics.CheckpointErrors.Inc()
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("writing checkpoint: %w", err)
		}
		for _, m := range written {
			m.MarkClean()
		}
		s.metrics.CheckpointBytes.Add(float64(size))
	}
	s.metrics.Checkpoints.Inc()
	err := s.commit(ctx, tasks)
	s.metrics.CheckpointSeconds.Observe(time.Since(start).Seconds())
	return err
}

// commit commits the next offset of every task that processed records.
func (s *Service) commit(ctx context.Context, tasks map[TaskID]*Task) error {
	offsets := map[string]map[int32]kgo.EpochOffset{}
	for id, t := range tasks {
		if t.Next < 0 || t.Next == t.committed {
			continue
		}
		if offsets[id.Topic] == nil {
			offsets[id.Topic] = map[int32]kgo.EpochOffset{}
		}
		offsets[id.Topic][id.Partition] = kgo.EpochOffset{Epoch: -1, Offset: t.Next}
	}
	if len(offsets) == 0 {
		return nil
	}
	var cerr error
	s.cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			cerr = err
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if e := kerr.ErrorForCode(p.ErrorCode); e != nil && cerr == nil {
					cerr = fmt.Errorf("committing %s/%d: %w", t.Topic, p.Partition, e)
				}
			}
		}
	})
	if cerr != nil {
		s.metrics.CommitErrors.Inc()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// A failed commit is not fatal: the next one covers it, and
		// replayed events are skipped by offset.
		s.log.Warn("offset commit failed", "err", cerr)
		return nil
	}
	s.metrics.Commits.Inc()
	for _, t := range tasks {
		if t.Next >= 0 {
			t.committed = t.Next
		}
	}
	return nil
}

// flushAndCommit is the shutdown path: publish, checkpoint, commit.
func (s *Service) flushAndCommit(ctx context.Context, final bool) error {
	if s.cl == nil {
		return nil
	}
	if s.sess != nil {
		if err := s.produceInTxn(ctx); err != nil {
			return err
		}
		return s.endTransaction(ctx)
	}
	if err := s.publish(ctx); err != nil {
		return err
	}
	return s.maybeCheckpoint(ctx, final)
}

// onAssigned restores the state of newly assigned partitions. With
// BlockRebalanceOnPoll it never runs concurrently with the pipeline.
func (s *Service) onAssigned(ctx context.Context, _ *kgo.Client, assigned map[string][]int32) {
	defer s.joined.Store(true)
	var ids []TaskID
	for t, ps := range assigned {
		for _, p := range ps {
			ids = append(ids, TaskID{Topic: t, Partition: p})
		}
	}
	s.metrics.AssignedParts.Add(float64(len(ids)))
	s.mu.Lock()
	if s.assigned == nil {
		s.assigned = map[TaskID]bool{}
	}
	for _, id := range ids {
		s.assigned[id] = true
	}
	s.mu.Unlock()
	if len(ids) == 0 {
		return
	}
	if s.cfg.CheckpointInterval == 0 {
		for _, id := range ids {
			s.laneOf(id).proc.Task(id)
		}
		return
	}
	s.restore(ctx, ids)
}

func (s *Service) restore(ctx context.Context, ids []TaskID) {
	for _, l := range s.lanes {
		l.proc.Refresh()
	}
	refs, _ := s.registry.Snapshot()
	for attempt := 0; ; attempt++ {
		rctx, cancel := context.WithTimeout(ctx, restoreTimeout)
		restored, err := restoreState(rctx, s.opts, s.cfg.StateTopic, ids, refs, s.pcfg.Policies, s.pcfg.Window, s.log)
		cancel()
		if err == nil {
			for id, rt := range restored {
				s.laneOf(id).proc.InstallTask(id, rt.monitors, -1)
				s.gen = max(s.gen, rt.gen)
				if len(rt.monitors) > 0 {
					s.log.Info("restored window state", "task", id, "models", slices.Sorted(maps.Keys(rt.monitors)), "generation", rt.gen)
				}
			}
			return
		}
		if ctx.Err() != nil {
			return
		}
		s.log.Error("restoring window state failed; retrying", "tasks", ids, "attempt", attempt+1, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(min(time.Duration(attempt+1)*time.Second, 10*time.Second)):
		}
	}
}

// onRevoked checkpoints and commits the revoked partitions, so their new
// owner resumes exactly where this replica stopped, then drops them.
func (s *Service) onRevoked(ctx context.Context, _ *kgo.Client, revoked map[string][]int32) {
	tasks := s.revokedTasks(revoked)
	if len(tasks) == 0 {
		return
	}
	if s.sess == nil && s.cfg.CheckpointInterval > 0 {
		if err := s.publish(ctx); err != nil {
			s.fail(fmt.Errorf("publishing before revocation: %w", err))
		} else if err := s.checkpoint(ctx, tasks); err != nil {
			s.fail(fmt.Errorf("checkpoint on revocation: %w", err))
		}
	} else if s.sess == nil {
		if err := s.publish(ctx); err != nil {
			s.fail(fmt.Errorf("publishing before revocation: %w", err))
		} else if err := s.commit(ctx, tasks); err != nil {
			s.fail(err)
		}
	}
	// In exactly-once mode the session aborts the open transaction; the
	// new owner restores from the last committed one.
	s.dropTasks(tasks)
}

// onLost drops partitions taken away by a fatal group error; nothing can
// be committed for them.
func (s *Service) onLost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	s.dropTasks(s.revokedTasks(lost))
}

func (s *Service) revokedTasks(parts map[string][]int32) map[TaskID]*Task {
	tasks := map[TaskID]*Task{}
	for t, ps := range parts {
		for _, p := range ps {
			id := TaskID{Topic: t, Partition: p}
			if task := s.laneOf(id).proc.tasks[id]; task != nil {
				tasks[id] = task
			}
		}
	}
	return tasks
}

func (s *Service) dropTasks(tasks map[TaskID]*Task) {
	s.mu.Lock()
	for id := range tasks {
		delete(s.assigned, id)
	}
	s.mu.Unlock()
	for id := range tasks {
		s.laneOf(id).proc.DropTask(id)
		s.metrics.ConsumerLag.DeleteLabelValues(id.Topic, strconv.Itoa(int(id.Partition)))
		s.metrics.AssignedParts.Dec()
	}
}

// produceInTxn produces the queued alerts and dead letters inside the
// open transaction.
func (s *Service) produceInTxn(ctx context.Context) error {
	recs := append(s.alerts, s.dlq...)
	if len(recs) == 0 {
		return nil
	}
	e := kgo.AbortingFirstErrPromise(s.cl)
	for _, r := range recs {
		s.sess.Produce(ctx, r, e.Promise())
	}
	s.alerts, s.dlq = s.alerts[:0], s.dlq[:0]
	s.txnErr = errors.Join(s.txnErr, e.Err())
	return nil
}

// endTransaction writes the checkpoint into the open transaction and
// commits it with the consumed offsets. If the transaction aborts (a
// rebalance, a failed produce), the in-memory state has applied events
// that were not committed: every task is dropped and restored from the
// last committed checkpoint, and the events are consumed again.
func (s *Service) endTransaction(ctx context.Context) error {
	s.lastCheckpoint = time.Now()
	s.gen++
	var written []*detector.Monitor
	e := kgo.AbortingFirstErrPromise(s.cl)
	for _, t := range s.tasks() {
		recs, n, w, err := checkpointRecords(s.cfg.StateTopic, t, s.gen, false)
		if err != nil {
			return err
		}
		for _, r := range recs {
			s.sess.Produce(ctx, r, e.Promise())
		}
		written = append(written, w...)
		s.metrics.CheckpointBytes.Add(float64(n))
	}
	txnErr := errors.Join(s.txnErr, e.Err())
	s.txnErr = nil
	committed, err := s.sess.End(ctx, kgo.TransactionEndTry(txnErr == nil))
	if committed {
		for _, m := range written {
			m.MarkClean()
		}
		s.metrics.Checkpoints.Inc()
		s.metrics.Commits.Inc()
		s.alertsPublished()
		return nil
	}
	s.metrics.CheckpointErrors.Inc()
	clear(s.alertPending)
	s.alertPending = s.alertPending[:0]
	if ctx.Err() != nil {
		return ctx.Err()
	}
	s.log.Warn("transaction aborted; restoring state from the last committed checkpoint", "err", errors.Join(err, txnErr))
	ids := slices.Collect(maps.Keys(s.tasks()))
	for _, id := range ids {
		s.laneOf(id).proc.DropTask(id)
	}
	s.restore(ctx, ids)
	return nil
}

// refreshReferences applies reference changes and keeps the reference
// metrics current.
func (s *Service) refreshReferences() {
	gen := s.registry.Generation()
	if gen == s.refGen {
		return
	}
	old := s.lanes[0].proc.refs
	for _, l := range s.lanes {
		l.proc.Refresh()
		if len(l.proc.Out.Alerts) > 0 {
			s.collect(l) // retired monitors resolved their alerts
		}
	}
	s.refGen = gen
	for key, ref := range old {
		if now := s.lanes[0].proc.refs[key]; now == nil || now.ID != ref.ID {
			s.metrics.DeleteModel(ref.Model, ref.Version)
		}
	}
	for _, l := range s.lanes {
		s.alerts = append(s.alerts, l.alerts...)
		s.alertPending = append(s.alertPending, l.alertPending...)
		l.alerts, l.alertPending = l.alerts[:0], l.alertPending[:0]
	}
	s.observeReferences()
}

func (s *Service) observeReferences() {
	refs, _ := s.registry.Snapshot()
	s.metrics.References.Set(float64(len(refs)))
	for _, ref := range refs {
		s.metrics.ReferenceInfo.WithLabelValues(ref.Model, ref.Version, ref.ID).Set(1)
	}
}

// maybeObserveStats exports monitor counters at most once a second.
func (s *Service) maybeObserveStats() {
	if time.Since(s.lastStats) < time.Second {
		return
	}
	s.lastStats = time.Now()
	c := s.Counters()
	mem := 0
	seen := map[*detector.Monitor]bool{}
	for _, t := range s.tasks() {
		for _, m := range t.monitors {
			st := m.Stats()
			prev := s.prevStats[m]
			s.metrics.ObserveModel(m.Reference(), st, &prev)
			if d := st.Observed - prev.Observed; d > 0 {
				s.metrics.EventsProcessed.WithLabelValues(m.Reference().Model, m.Reference().Version).Add(float64(d))
			}
			s.prevStats[m] = st
			seen[m] = true
			mem += st.WindowBytesTotal
		}
	}
	for m := range s.prevStats {
		if !seen[m] {
			delete(s.prevStats, m)
		}
	}
	s.metrics.WindowMemory.Set(float64(mem))
	s.metrics.EventsNoReference.Add(float64(c.NoReference - s.reported.NoReference))
	s.metrics.BadTimestamps.Add(float64(c.BadTimestamp - s.reported.BadTimestamp))
	s.reported = c
}
