package perf

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// JoinConfig bounds the predictions waiting for their label.
type JoinConfig struct {
	// Horizon is how long (in event time) a prediction waits for its
	// label (default 24h); older ones are dropped and counted as
	// expired.
	Horizon time.Duration
	// MaxPending caps the predictions waiting (default 1,000,000); past
	// it the oldest is dropped and counted as evicted.
	MaxPending int
	// HoldLabels caps the labels held for a prediction not seen yet
	// (HoldLabel): they wait up to Horizon too, and are counted as
	// orphans when they leave unjoined. 0: none are held.
	HoldLabels int
}

// DefaultJoinConfig returns the defaults.
func DefaultJoinConfig() JoinConfig {
	return JoinConfig{Horizon: 24 * time.Hour, MaxPending: 1_000_000}
}

// Validate checks the settings.
func (c JoinConfig) Validate() error {
	if c.Horizon <= 0 {
		return errors.New("label horizon must be positive")
	}
	if c.MaxPending < 1 || c.MaxPending > 1<<28 {
		return fmt.Errorf("max pending predictions must be in 1..%d, got %d", 1<<28, c.MaxPending)
	}
	if c.HoldLabels < 0 || c.HoldLabels > 1<<28 {
		return fmt.Errorf("held labels must be in 0..%d, got %d", 1<<28, c.HoldLabels)
	}
	return nil
}

// JoinStats count what the joiner did.
type JoinStats struct {
	Predictions uint64 // predictions with a request ID offered
	Joined      uint64 // predictions joined to a label
	Expired     uint64 // dropped unlabelled after the horizon
	Evicted     uint64 // dropped because MaxPending was reached
	Duplicates  uint64 // predictions whose request ID was already pending (the first is kept)
	Orphans     uint64 // labels without a pending prediction (held ones: when they leave unjoined)
	Pending     int    // predictions waiting now
	Held        int    // labels waiting for their prediction now
	// DelaySumMS and DelayMaxMS sum and bound the label delays (label
	// event time − prediction event time) of the joined pairs.
	DelaySumMS, DelayMaxMS int64
}

// Coverage is the share of the predictions that left the pending state
// with a label: joined / (joined + expired + evicted).
func (s JoinStats) Coverage() float64 {
	done := s.Joined + s.Expired + s.Evicted
	if done == 0 {
		return 0
	}
	return float64(s.Joined) / float64(done)
}

type pending struct {
	score  float64
	timeMS int64
	id     uint64 // the queue entry that owns it
}

type queued struct {
	key    string
	timeMS int64
	id     uint64
}

// Joiner joins predictions to labels by (model, version, request ID).
// Memory is bounded by MaxPending. Not safe for concurrent use.
type Joiner struct {
	cfg       JoinConfig
	pending   map[string]pending
	queue     []queued // arrival order; entries of joined predictions are skipped
	head      int
	nextID    uint64
	watermark int64
	stats     *JoinStats
	key       []byte
	// blocks are the full blocks of joinBlockSize arrivals the last
	// checkpoint wrote as segments, by block number (see AppendState);
	// alive marks, per block, the numbers of the predictions waiting.
	blocks map[uint64]*joinBlock
	alive  map[uint64]*aliveBlock
	// held are labels waiting for their prediction, heldQueue their
	// arrival order (pending.score is the label).
	held      map[string]pending
	heldQueue []queued
	heldHead  int
	heldID    uint64
}

// HoldLabel keeps a label whose prediction has not been seen (on another
// partition, or behind in a replay) until the prediction arrives
// (JoinHeld), the horizon passes or HoldLabels are held; without room it
// is an orphan at once. A repeated request ID keeps the first label.
func (j *Joiner) HoldLabel(model, version, requestID []byte, label float64, timeMS int64) {
	j.advance(timeMS)
	if j.cfg.HoldLabels == 0 {
		j.stats.Orphans++
		return
	}
	k := j.keyOf(model, version, requestID)
	if _, dup := j.held[string(k)]; dup {
		j.stats.Orphans++
		return
	}
	for len(j.held) >= j.cfg.HoldLabels && j.dropHeld() {
	}
	j.holdLabel(string(k), pending{score: label, timeMS: timeMS})
}

func (j *Joiner) holdLabel(key string, l pending) {
	if j.held == nil {
		j.held = map[string]pending{}
	}
	j.heldID++
	l.id = j.heldID
	j.held[key] = l
	j.heldQueue = append(j.heldQueue, queued{key: key, timeMS: l.timeMS, id: l.id})
}

// JoinHeld joins a prediction to its held label, if one waits here.
func (j *Joiner) JoinHeld(model, version, requestID []byte, score float64, timeMS int64) (p Pair, ok bool) {
	if len(j.held) == 0 {
		return Pair{}, false
	}
	k := j.keyOf(model, version, requestID)
	l, found := j.held[string(k)]
	if !found {
		return Pair{}, false
	}
	delete(j.held, string(k))
	j.stats.Predictions++
	j.stats.Joined++
	d := max(0, l.timeMS-timeMS)
	j.stats.DelaySumMS += d
	j.stats.DelayMaxMS = max(j.stats.DelayMaxMS, d)
	return Pair{Score: score, Positive: l.score == 1, Target: l.score}, true
}

// dropHeld drops the oldest held label as an orphan.
func (j *Joiner) dropHeld() bool {
	if _, ok := popOldest(j.heldQueue, &j.heldHead, j.held); ok {
		j.stats.Orphans++
		return true
	}
	return false
}

// popOldest removes the oldest entry of an arrival queue (from *head on)
// that is still in m, from the queue and from m, and returns it; entries
// whose key left m, or came back under another id, are skipped.
func popOldest(queue []queued, head *int, m map[string]pending) (queued, bool) {
	for *head < len(queue) {
		q := queue[*head]
		queue[*head] = queued{}
		*head++
		if e, ok := m[q.key]; ok && e.id == q.id {
			delete(m, q.key)
			return q, true
		}
	}
	return queued{}, false
}

// NewJoiner returns a joiner.
func NewJoiner(cfg JoinConfig) (*Joiner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Joiner{cfg: cfg, pending: map[string]pending{}, stats: &JoinStats{}}, nil
}

// ShareStats makes the joiner count into s (the joiners of several input
// partitions add up to one set of counts); Stats then returns s with
// this joiner's pending predictions.
func (j *Joiner) ShareStats(s *JoinStats) { j.stats = s }

// Waiting reports whether a prediction waits for this label.
func (j *Joiner) Waiting(model, version, requestID []byte) bool {
	_, ok := j.pending[string(j.keyOf(model, version, requestID))]
	return ok
}

// Pending returns the number of predictions waiting.
func (j *Joiner) Pending() int { return len(j.pending) }

// Oldest returns the event time of the oldest prediction waiting; ok is
// false when none waits.
func (j *Joiner) Oldest() (timeMS int64, ok bool) {
	for j.head < len(j.queue) {
		q := j.queue[j.head]
		if pd, live := j.pending[q.key]; live && pd.id == q.id {
			return q.timeMS, true
		}
		j.queue[j.head] = queued{}
		j.head++
	}
	return 0, false
}

// Evict drops the oldest prediction waiting, counted as evicted (when
// several joiners share a cap).
func (j *Joiner) Evict() bool {
	if j.dropOldest() {
		j.stats.Evicted++
		return true
	}
	return false
}

func (j *Joiner) keyOf(model, version, requestID []byte) []byte {
	j.key = append(append(append(append(append(j.key[:0], model...), 0), version...), 0), requestID...)
	return j.key
}

// Prediction records a prediction's score, waiting for its label.
func (j *Joiner) Prediction(model, version, requestID []byte, score float64, timeMS int64) {
	j.stats.Predictions++
	k := j.keyOf(model, version, requestID)
	if _, dup := j.pending[string(k)]; dup {
		j.stats.Duplicates++
		return
	}
	j.advance(timeMS)
	for len(j.pending) >= j.cfg.MaxPending {
		if !j.dropOldest() {
			break
		}
		j.stats.Evicted++
	}
	j.nextID++
	key := string(k)
	j.pending[key] = pending{score: score, timeMS: timeMS, id: j.nextID}
	j.setAlive(j.nextID)
	j.queue = append(j.queue, queued{key: key, timeMS: timeMS, id: j.nextID})
}

// Label joins a label to its pending prediction and returns the pair; ok
// is false (the label counted as an orphan) when no prediction waits. The
// label is the numeric target, 1 for a binary positive and 0 otherwise.
func (j *Joiner) Label(model, version, requestID []byte, label float64, timeMS int64) (p Pair, ok bool) {
	j.advance(timeMS)
	k := j.keyOf(model, version, requestID)
	pd, found := j.pending[string(k)]
	if !found {
		j.stats.Orphans++
		return Pair{}, false
	}
	delete(j.pending, string(k))
	j.clearAlive(pd.id)
	j.stats.Joined++
	d := max(0, timeMS-pd.timeMS)
	j.stats.DelaySumMS += d
	j.stats.DelayMaxMS = max(j.stats.DelayMaxMS, d)
	return Pair{Score: pd.score, Positive: label == 1, Target: label}, true
}

// advance moves the watermark to timeMS and expires the predictions older
// than the horizon.
func (j *Joiner) advance(timeMS int64) {
	j.watermark = max(j.watermark, timeMS)
	limit := j.watermark - j.cfg.Horizon.Milliseconds()
	for j.head < len(j.queue) && j.queue[j.head].timeMS < limit {
		if j.dropOldest() {
			j.stats.Expired++
		}
	}
	for j.heldHead < len(j.heldQueue) && j.heldQueue[j.heldHead].timeMS < limit {
		j.dropHeld()
	}
	if live := len(j.heldQueue) - j.heldHead; (j.heldHead > 1024 && j.heldHead*2 > len(j.heldQueue)) || (live > 4096 && len(j.held)*4 < live) {
		j.heldQueue = slices.DeleteFunc(j.heldQueue[j.heldHead:], func(q queued) bool {
			l, ok := j.held[q.key]
			return !ok || l.id != q.id
		})
		j.heldHead = 0
	}
	j.compact()
}

// dropOldest drops the oldest queue entry, reporting whether it was still
// pending.
func (j *Joiner) dropOldest() bool {
	q, ok := popOldest(j.queue, &j.head, j.pending)
	if ok {
		j.clearAlive(q.id)
	}
	return ok
}

// compact reclaims the queue's consumed head and drops the entries of
// joined predictions once they dominate.
func (j *Joiner) compact() {
	if j.head > 1024 && j.head*2 > len(j.queue) {
		j.queue = append(j.queue[:0], j.queue[j.head:]...)
		j.head = 0
	}
	if live := len(j.queue) - j.head; live > 4096 && len(j.pending)*4 < live {
		out := j.queue[:0]
		for _, q := range j.queue[j.head:] {
			if pd, ok := j.pending[q.key]; ok && pd.id == q.id {
				out = append(out, q)
			}
		}
		clear(j.queue[len(out):])
		j.queue, j.head = out, 0
	}
}

// Stats returns the counts.
func (j *Joiner) Stats() JoinStats {
	s := *j.stats
	s.Pending, s.Held = len(j.pending), len(j.held)
	return s
}
