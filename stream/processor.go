package stream

import (
	"errors"
	"fmt"
	"time"

	"sort"
	"strings"
	"sync"

	"github.com/driftd/driftd/detector"
	"github.com/driftd/driftd/stream/codec"
)

// Registry holds the current reference of every model version. It is
// written by whoever loads references (a file at start, the reference
// topic at any time) and read by processors, which pick up changes at
// their next batch. Safe for concurrent use.
type Registry struct {
	mu   sync.Mutex
	refs map[string]*detector.Reference
	gen  uint64
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{refs: map[string]*detector.Reference{}} }

// Set installs ref as the reference of its model/version and reports
// whether it changed anything (a reference with the same ID is a no-op,
// so re-reading a compacted topic does not reset windows).
func (r *Registry) Set(ref *detector.Reference) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if old := r.refs[ref.Key()]; old != nil && old.ID == ref.ID {
		return false
	}
	r.refs[ref.Key()] = ref
	r.gen++
	return true
}

// Delete removes the reference of key ("model/version").
func (r *Registry) Delete(key string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.refs[key]; !ok {
		return false
	}
	delete(r.refs, key)
	r.gen++
	return true
}

// Len is the number of references.
func (r *Registry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.refs)
}

// Snapshot returns a copy of the references and the registry generation.
func (r *Registry) Snapshot() (map[string]*detector.Reference, uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := make(map[string]*detector.Reference, len(r.refs))
	for k, v := range r.refs {
		m[k] = v
	}
	return m, r.gen
}

// Generation changes whenever the set of references changes.
func (r *Registry) Generation() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.gen
}

// Keys lists the model/version keys, sorted.
func (r *Registry) Keys() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	keys := make([]string, 0, len(r.refs))
	for k := range r.refs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// TaskID is one input partition: the unit of state, as in Kafka Streams.
// Windows are kept per partition, so partitions can move between replicas
// with their state; producers should key records by model so that one
// model's events share a partition.
type TaskID struct {
	Topic     string
	Partition int32
}

func (t TaskID) String() string { return fmt.Sprintf("%s/%d", t.Topic, t.Partition) }

// Task is the state of one input partition: a monitor per model version
// seen in it and the next offset to process.
type Task struct {
	ID       TaskID
	monitors map[string]*detector.Monitor
	// Next is the offset after the last record processed.
	Next int64
	// committed is the last offset committed for the task.
	committed int64
	src       string
	// stored is what the state topic holds per model (see state.go).
	stored map[string]*storedModel
}

// Monitors returns the task's monitors by model/version key.
func (t *Task) Monitors() map[string]*detector.Monitor { return t.monitors }

// Counters count what a processor did. Every consumed record is exactly
// one of Processed or Rejected, so Processed + Rejected = Consumed.
type Counters struct {
	Consumed  uint64
	Processed uint64
	Rejected  map[codec.Reason]uint64
	// NoReference counts processed events of models without a reference:
	// counted, and no state is created for them.
	NoReference uint64
	// BadTimestamp counts events whose timestamp could not be parsed; the
	// record timestamp was used.
	BadTimestamp uint64
	// TimeUnitSuspect counts events whose numeric timestamp looks like
	// the other unit (seconds read as milliseconds, or the reverse); see
	// DRIFTD_TIMESTAMP_UNIT.
	TimeUnitSuspect uint64
	// Skipped counts events applied to no window: already applied before
	// the checkpoint a task was restored from, or late for an event-time
	// window (see detector.ModelStats.Late).
	Skipped uint64
	// MonitorErrors counts references a monitor could not be built for.
	MonitorErrors uint64
	// PanesDuplicate counts stage-2 panes already applied (a stage-1
	// replay); PanesMismatched counts panes built against another
	// reference than stage 2's (a rollout in progress).
	PanesDuplicate, PanesMismatched uint64
}

// Processor decodes record values and runs them through the monitors of
// their task. It is the heart of `driftd run` and `driftd replay`, free of
// Kafka so both share it. Not safe for concurrent use.
type Processor struct {
	dec      *codec.Decoder
	policies *detector.Policies
	window   detector.WindowConfig
	registry *Registry
	regGen   uint64
	refs     map[string]*detector.Reference
	tasks    map[TaskID]*Task

	// Out collects evaluations and alerts; the caller drains and resets it.
	Out      detector.Output
	Counters Counters
	// OnEvaluations, when set, receives the time spent on each event that
	// evaluated windows and the number of evaluations it ran (for the
	// evaluation-duration metric). Only such events are timed: whether an
	// event will close a pane is known before it is applied.
	OnEvaluations func(seconds float64, evaluations int)
	// unknownModels counts events per model/version without a reference,
	// for the first 100 such keys (bounded: a flood of random model names
	// cannot grow it).
	unknownModels map[string]uint64
	key           []byte
	// recordDecs decodes the topics of non-built-in formats (by topic);
	// defaultRec, when set, every other topic.
	recordDecs map[string]codec.RecordDecoder
	defaultRec codec.RecordDecoder
	featureBuf []string

	segments detector.SegmentConfig
	records  RecordHook
	events   EventHook // records, when it is one
	segKey   []byte
	segOut   detector.Output // segments' evaluations (not exported) and alerts
}

// ProcessorConfig configures a Processor.
type ProcessorConfig struct {
	Format   codec.Format
	MaxBytes int
	TimeUnit codec.TimeUnit     // of numeric timestamps; "" is milliseconds
	Policies *detector.Policies // nil: defaults
	Window   detector.WindowConfig
	// TopicDecoders gives the decoder of each topic whose format is not
	// Format; DefaultDecoder, when set, decodes every other topic instead
	// of Format. Each processor makes its own decoders.
	TopicDecoders  map[string]codec.NewRecordDecoder
	DefaultDecoder codec.NewRecordDecoder
	// Segments gives each model version windows per segment (see
	// detector.SegmentConfig); zero: none.
	Segments detector.SegmentConfig
	// Records, when set, sees every record value before it is decoded
	// (realized-performance monitoring joins labels to predictions
	// there). It is shared by all processors and must be safe for
	// concurrent use.
	Records RecordHook
}

// RecordHook sees the records of the input topics. Record returns true
// for a record that is not an inference event (a label event): the
// processor counts it as processed and does not decode it. Alerts it
// raises are appended to out. task and offset say where the record is
// from.
type RecordHook interface {
	Record(task TaskID, offset int64, value []byte, recordMS int64, out *detector.Output) (consumed bool)
}

// EventHook is a RecordHook that also sees the decoded prediction events
// of every format (with their request ID and label where the format
// carries them): Event is called for each before it is applied to the
// windows.
type EventHook interface {
	RecordHook
	Event(task TaskID, offset int64, ev *codec.Event, recordMS int64, out *detector.Output)
}

// TaskStateHook is a RecordHook with state of its own per input
// partition, checkpointed and restored with the window state (in the
// same generation, under the reserved identity HookStateModel/
// HookStateVersion). Its methods are called between polls, when no
// record is being processed.
type TaskStateHook interface {
	RecordHook
	// CheckpointTask returns the state of a task as a head and segments
	// (the head starting like detector.SegmentedState's, naming its
	// segments), nil when the task has none or, unless all is set, when
	// it has not changed since the last call. next is the offset of the
	// task's next record. stored reports whether a segment is stored
	// already: those may come without their bytes.
	CheckpointTask(id TaskID, next int64, all bool, stored func(detector.SegmentSum) bool) (*detector.SegmentedState, error)
	// RestoreTask replaces a task's state by a checkpointed one (head
	// nil: none, the task starts empty); segment returns the bytes of a
	// segment the head names. An error makes the caller try an older
	// complete generation.
	RestoreTask(id TaskID, head []byte, segment func(detector.SegmentSum) []byte) error
	// DropTask forgets a task (its partition was revoked or its state is
	// about to be restored again).
	DropTask(id TaskID)
}

// The identity a TaskStateHook's state is stored under (no reference can
// have a model name starting with a NUL byte).
const (
	HookStateModel   = "\x00driftd"
	HookStateVersion = "hook"
)

// NewProcessor returns a processor reading references from registry.
func NewProcessor(cfg ProcessorConfig, registry *Registry) (*Processor, error) {
	dec, err := codec.NewDecoder(cfg.Format, cfg.MaxBytes)
	if err != nil {
		return nil, err
	}
	if err := dec.SetTimeUnit(cfg.TimeUnit); err != nil {
		return nil, err
	}
	if err := cfg.Window.Validate(); err != nil {
		return nil, err
	}
	if err := cfg.Segments.Validate(); err != nil {
		return nil, err
	}
	p := &Processor{
		segments: cfg.Segments, records: cfg.Records,
		dec: dec, policies: cfg.Policies, window: cfg.Window, registry: registry,
		tasks:         map[TaskID]*Task{},
		unknownModels: map[string]uint64{},
		Counters:      Counters{Rejected: map[codec.Reason]uint64{}},
	}
	p.events, _ = cfg.Records.(EventHook)
	p.refs, p.regGen = registry.Snapshot()
	env := codec.Env{FeatureOrder: p.featureOrder, MaxBytes: cfg.MaxBytes}
	for topic, mk := range cfg.TopicDecoders {
		d, err := mk(env)
		if err != nil {
			return nil, fmt.Errorf("decoder of topic %s: %w", topic, err)
		}
		if p.recordDecs == nil {
			p.recordDecs = map[string]codec.RecordDecoder{}
		}
		p.recordDecs[topic] = d
	}
	if cfg.DefaultDecoder != nil {
		if p.defaultRec, err = cfg.DefaultDecoder(env); err != nil {
			return nil, fmt.Errorf("default decoder: %w", err)
		}
	}
	return p, nil
}

// featureOrder returns the features-group names of the reference of
// model/version in reference order (codec.Env.FeatureOrder).
func (p *Processor) featureOrder(model, version []byte) []string {
	p.key = append(append(append(p.key[:0], model...), '/'), version...)
	ref := p.refs[string(p.key)]
	if ref == nil {
		return nil
	}
	p.featureBuf = p.featureBuf[:0]
	for _, f := range ref.Features {
		if f.Name == detector.PredictionFeature || strings.HasPrefix(f.Name, detector.PredictionFeature+".") {
			continue
		}
		p.featureBuf = append(p.featureBuf, f.Name)
	}
	return p.featureBuf
}

// RecordDecoder returns the decoder of topic when its format is not a
// built-in value format (Process handles those), or nil.
func (p *Processor) RecordDecoder(topic string) codec.RecordDecoder {
	if d := p.recordDecs[topic]; d != nil {
		return d
	}
	return p.defaultRec
}

// ProcessRecord decodes one record with dec (see RecordDecoder) and
// applies its events to task t. A *codec.Error is for the caller to
// dead-letter. Any other error is not the record's fault (the decoder
// could not reach a schema registry): nothing was counted or applied and
// t.Next was not moved, so the caller retries the record later.
func (p *Processor) ProcessRecord(t *Task, dec codec.RecordDecoder, rec *codec.Record, offset int64) error {
	evs, err := dec.DecodeRecord(rec)
	if err != nil {
		de, ok := err.(*codec.Error)
		if !ok {
			return err
		}
		p.Counters.Consumed++
		t.Next = offset + 1
		p.Counters.Rejected[de.Reason]++
		return de
	}
	p.Counters.Consumed++
	t.Next = offset + 1
	p.Counters.Processed++
	for i := range evs {
		if p.events != nil && evs[i].HasPrediction {
			p.events.Event(t.ID, offset, &evs[i], rec.TimestampMS, &p.Out)
		}
		p.applyEvent(t, &evs[i], rec.TimestampMS, offset)
	}
	return nil
}

// Task returns the task of id, creating it empty.
func (p *Processor) Task(id TaskID) *Task {
	t := p.tasks[id]
	if t == nil {
		t = &Task{ID: id, monitors: map[string]*detector.Monitor{}, Next: -1, committed: -1}
		p.tasks[id] = t
	}
	return t
}

// Tasks returns the current tasks.
func (p *Processor) Tasks() map[TaskID]*Task { return p.tasks }

// DropTask forgets a task (its partition was revoked).
func (p *Processor) DropTask(id TaskID) { delete(p.tasks, id) }

// InstallTask replaces a task's monitors (restored from a checkpoint).
func (p *Processor) InstallTask(id TaskID, monitors map[string]*detector.Monitor, next int64) *Task {
	t := &Task{ID: id, monitors: monitors, Next: next, committed: -1}
	p.tasks[id] = t
	return t
}

// Refresh picks up reference changes. Monitors of a model whose reference
// changed or disappeared are retired: their firing alerts resolve (the
// reference they fired against is gone) and their windows start anew on
// the next event.
func (p *Processor) Refresh() {
	if p.registry.Generation() == p.regGen {
		return
	}
	p.refs, p.regGen = p.registry.Snapshot()
	for _, t := range p.tasks {
		for key, m := range t.monitors {
			if ref := p.refs[key]; ref == nil || ref.ID != m.Reference().ID {
				m.Retire(&p.Out)
				delete(t.monitors, key)
			}
		}
	}
}

// UnknownModels returns events counted per model/version without a
// reference (the first 100 keys).
func (p *Processor) UnknownModels() map[string]uint64 { return p.unknownModels }

// Process decodes one record value and applies it to task t. recordMS is
// the record timestamp (Unix ms), used when the event carries none; offset
// is the record's offset. A decoding failure is returned as a
// *codec.Error for the caller to dead-letter; everything else is counted.
func (p *Processor) Process(t *Task, value []byte, recordMS, offset int64) *codec.Error {
	p.Counters.Consumed++
	t.Next = offset + 1
	if p.records != nil && p.records.Record(t.ID, offset, value, recordMS, &p.Out) {
		p.Counters.Processed++
		return nil
	}
	ev, err := p.dec.Decode(value)
	if err != nil {
		de := err.(*codec.Error)
		p.Counters.Rejected[de.Reason]++
		return de
	}
	p.Counters.Processed++
	if p.events != nil && ev.HasPrediction {
		p.events.Event(t.ID, offset, ev, recordMS, &p.Out)
	}
	p.applyEvent(t, ev, recordMS, offset)
	return nil
}

// applyEvent runs one decoded event through the monitor of its model.
func (p *Processor) applyEvent(t *Task, ev *codec.Event, recordMS, offset int64) {
	p.key = append(append(append(p.key[:0], ev.Model...), '/'), ev.Version...)
	m := t.monitors[string(p.key)]
	if m == nil {
		ref := p.refs[string(p.key)]
		if ref == nil {
			p.Counters.NoReference++
			if n, ok := p.unknownModels[string(p.key)]; ok || len(p.unknownModels) < 100 {
				p.unknownModels[string(p.key)] = n + 1
			}
			return
		}
		var nerr error
		m, nerr = detector.NewMonitor(ref, p.policies, p.window)
		if nerr != nil {
			// The registry holds validated references, so this cannot
			// happen; if it does, count the event like one without a
			// reference rather than stop the stream.
			p.Counters.NoReference++
			p.Counters.MonitorErrors++
			return
		}
		t.monitors[ref.Key()] = m
	}
	m.CountEvent()
	var seg *detector.Monitor
	if p.segments.Enabled() && ev.HasFeatures {
		seg = p.segment(m, ev.Features)
	}
	ts := recordMS
	if ev.HasTime {
		ts = ev.TimeMS
		if ev.UnitSuspect {
			p.Counters.TimeUnitSuspect++
		}
	} else if ev.BadTime {
		p.Counters.BadTimestamp++
	}
	var start time.Time
	before := -1
	if p.OnEvaluations != nil && m.PaneDue(ts) {
		start, before = time.Now(), len(p.Out.Evaluations)
	}
	applied := false
	if ev.HasFeatures {
		applied = p.apply(m, detector.GroupFeatures, ev.Features, ts, offset, &p.Out)
	}
	if ev.HasPrediction {
		applied = p.apply(m, detector.GroupPrediction, ev.Prediction, ts, offset, &p.Out) || applied
	}
	if !applied {
		p.Counters.Skipped++
	}
	if seg != nil {
		// The segment's windows see the event too; its alerts join the
		// model's, its evaluations are not exported.
		if ev.HasFeatures {
			p.apply(seg, detector.GroupFeatures, ev.Features, ts, offset, &p.segOut)
		}
		if ev.HasPrediction {
			p.apply(seg, detector.GroupPrediction, ev.Prediction, ts, offset, &p.segOut)
		}
		p.Out.Alerts = append(p.Out.Alerts, p.segOut.Alerts...)
		p.segOut.Reset()
	}
	if before >= 0 {
		if n := len(p.Out.Evaluations) - before; n > 0 {
			p.OnEvaluations(time.Since(start).Seconds(), n)
		}
	}
	for i := range p.Out.Panes {
		if p.Out.Panes[i].Source == "" {
			p.Out.Panes[i].Source = t.source()
		}
	}
}

// apply runs one group of an event's values through a monitor and reports
// whether the monitor took it (not already applied, not late).
func (p *Processor) apply(m *detector.Monitor, g detector.Group, fields []codec.Field, ts, offset int64, out *detector.Output) bool {
	if !m.Begin(g, ts, offset, out) {
		return false
	}
	for i := range fields {
		m.Value(i, fields[i].Name, fields[i].Value)
	}
	m.End(out)
	return true
}

// segment returns the monitor of the event's segment, enabling segments
// on m first if needed (a monitor restored from a checkpoint).
func (p *Processor) segment(m *detector.Monitor, fields []codec.Field) *detector.Monitor {
	if m.Segments() == nil {
		if err := m.EnableSegments(p.segments, p.policies); err != nil {
			return nil
		}
	}
	p.segKey = p.segKey[:0]
	for i, key := range p.segments.Keys {
		var v detector.Value
		present := false
		for j := range fields {
			if string(fields[j].Name) == key {
				v, present = fields[j].Value, true
				break
			}
		}
		p.segKey = detector.AppendSegment(p.segKey, i, key, v, present)
	}
	return m.Segment(p.segKey)
}

func (t *Task) source() string {
	if t.src == "" {
		t.src = t.ID.String()
	}
	return t.src
}

// ProcessPane applies one record of the panes topic to task t (stage 2 of
// two-stage mode). A record that is not a valid pane is returned for the
// dead-letter topic.
func (p *Processor) ProcessPane(t *Task, value []byte, offset int64) *codec.Error {
	p.Counters.Consumed++
	t.Next = offset + 1
	rec, err := detector.DecodePaneRecord(value)
	if err != nil {
		p.Counters.Rejected[codec.ReasonBadPane]++
		return &codec.Error{Reason: codec.ReasonBadPane, Detail: err.Error()}
	}
	p.Counters.Processed++
	key := rec.Model + "/" + rec.Version
	m := t.monitors[key]
	if m == nil {
		ref := p.refs[key]
		if ref == nil {
			p.Counters.NoReference++
			return nil
		}
		var nerr error
		if m, nerr = detector.NewMonitor(ref, p.policies, p.window); nerr != nil {
			p.Counters.MonitorErrors++
			return nil
		}
		t.monitors[key] = m
	}
	applied, err := m.ApplyPane(rec, &p.Out)
	switch {
	case errors.Is(err, detector.ErrReferenceMismatch):
		p.Counters.PanesMismatched++
	case err != nil:
		p.Counters.Rejected[codec.ReasonBadPane]++
		p.Counters.Processed--
		return &codec.Error{Reason: codec.ReasonBadPane, Detail: err.Error()}
	case !applied:
		p.Counters.PanesDuplicate++
	}
	return nil
}
