package perf

import (
	"errors"
	"fmt"
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
	return nil
}

// JoinStats count what the joiner did.
type JoinStats struct {
	Predictions uint64 // predictions with a request ID offered
	Joined      uint64 // predictions joined to a label
	Expired     uint64 // dropped unlabelled after the horizon
	Evicted     uint64 // dropped because MaxPending was reached
	Duplicates  uint64 // predictions whose request ID was already pending (the first is kept)
	Orphans     uint64 // labels without a pending prediction
	Pending     int    // predictions waiting now
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
	stats     JoinStats
	key       []byte
}

// NewJoiner returns a joiner.
func NewJoiner(cfg JoinConfig) (*Joiner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Joiner{cfg: cfg, pending: map[string]pending{}}, nil
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
	j.compact()
}

// dropOldest drops the oldest queue entry, reporting whether it was still
// pending.
func (j *Joiner) dropOldest() bool {
	for j.head < len(j.queue) {
		q := j.queue[j.head]
		j.queue[j.head] = queued{}
		j.head++
		if pd, ok := j.pending[q.key]; ok && pd.id == q.id {
			delete(j.pending, q.key)
			return true
		}
	}
	return false
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
	s := j.stats
	s.Pending = len(j.pending)
	return s
}
