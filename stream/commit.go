package stream

// Checkpoints and offset commits (at-least-once mode).

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// maybeCheckpoint writes a checkpoint when one is due (or when forced)
// and commits the offsets it covers. Without state it commits after every
// poll. A due checkpoint is encoded here and written in the background
// while consumption goes on; its offsets are committed once it is
// durable, at a later call. One checkpoint is in flight at a time: while
// it is being written, the next one waits (consumption does not). A
// forced checkpoint (shutdown) is written and committed before it
// returns.
func (s *Service) maybeCheckpoint(ctx context.Context, force bool) error {
	if s.cfg.CheckpointInterval == 0 {
		return s.commit(ctx, s.tasks())
	}
	if p := s.inflight; p != nil && p.finished() {
		if err := s.finishCheckpoint(ctx); err != nil {
			return err
		}
	}
	if force {
		return s.checkpoint(ctx, s.tasks())
	}
	if s.inflight != nil || time.Since(s.lastCheckpoint) < s.cfg.CheckpointInterval {
		return nil
	}
	start := time.Now()
	err := s.startCheckpoint(ctx, s.tasks())
	s.metrics.CheckpointSeconds.Observe(time.Since(start).Seconds())
	return err
}

// checkpoint writes the state of the given tasks and commits their
// offsets before it returns (after the checkpoint in flight, if any). A
// failure leaves the offsets uncommitted: the events will be replayed,
// and the double-buffered state keeps the previous complete checkpoint
// (see state.go).
func (s *Service) checkpoint(ctx context.Context, tasks map[TaskID]*Task) error {
	start := time.Now()
	err := s.finishCheckpoint(ctx)
	if err == nil {
		err = s.startCheckpoint(ctx, tasks)
	}
	if err == nil {
		err = s.finishCheckpoint(ctx)
	}
	s.metrics.CheckpointSeconds.Observe(time.Since(start).Seconds())
	return err
}

// pendingCheckpoint is a checkpoint whose records are being produced.
type pendingCheckpoint struct {
	done    chan struct{} // closed once every record is acknowledged or failed
	mu      sync.Mutex
	left    int
	err     error // the first produce error
	written []stateWrite
	tasks   map[TaskID]*Task
	offsets map[TaskID]int64 // the next offset of each task it covers
	size    int
}

func (p *pendingCheckpoint) finished() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// startCheckpoint encodes a checkpoint of the given tasks and starts
// producing it. Its monitors are clean from here on: events processed
// while it is written make them dirty for the next checkpoint.
func (s *Service) startCheckpoint(ctx context.Context, tasks map[TaskID]*Task) error {
	s.lastCheckpoint = time.Now()
	s.gen++
	p := &pendingCheckpoint{done: make(chan struct{}), tasks: tasks, offsets: make(map[TaskID]int64, len(tasks))}
	var recs []*kgo.Record
	for id, t := range tasks {
		r, n, w, err := checkpointRecords(s.cfg.StateTopic, t, s.gen, false, s.stateLimit, s.stateHook())
		if err != nil {
			return err
		}
		recs, p.size, p.written = append(recs, r...), p.size+n, append(p.written, w...)
		p.offsets[id] = t.Next
	}
	s.inflight = p
	p.left = len(recs)
	if p.left == 0 {
		close(p.done)
		return nil
	}
	for _, r := range recs {
		s.cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			p.mu.Lock()
			defer p.mu.Unlock()
			if err != nil && p.err == nil {
				p.err = err
			}
			if p.left--; p.left == 0 {
				close(p.done)
			}
		})
	}
	return nil
}

// finishCheckpoint waits for the checkpoint in flight, if any, and
// commits the offsets it covers.
func (s *Service) finishCheckpoint(ctx context.Context) error {
	p := s.inflight
	if p == nil {
		return nil
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	s.inflight = nil
	if p.err != nil {
		s.metrics.CheckpointErrors.Inc()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("writing checkpoint: %w", p.err)
	}
	stateWritten(p.written)
	if p.size > 0 {
		s.metrics.CheckpointBytes.Add(float64(p.size))
	}
	s.metrics.Checkpoints.Inc()
	return s.commitOffsets(ctx, p.tasks, p.offsets)
}

// forgetInflight drops tasks no longer owned from the checkpoint in
// flight: their offsets cannot be committed.
func (s *Service) forgetInflight(tasks map[TaskID]*Task) {
	if p := s.inflight; p != nil {
		for id := range tasks {
			delete(p.tasks, id)
			delete(p.offsets, id)
		}
	}
}

// commit commits the next offset of every task that processed records.
func (s *Service) commit(ctx context.Context, tasks map[TaskID]*Task) error {
	next := make(map[TaskID]int64, len(tasks))
	for id, t := range tasks {
		next[id] = t.Next
	}
	return s.commitOffsets(ctx, tasks, next)
}

// commitOffsets commits the given next offsets of tasks.
func (s *Service) commitOffsets(ctx context.Context, tasks map[TaskID]*Task, next map[TaskID]int64) error {
	offsets := map[string]map[int32]kgo.EpochOffset{}
	for id, t := range tasks {
		if next[id] < 0 || next[id] == t.committed {
			continue
		}
		if offsets[id.Topic] == nil {
			offsets[id.Topic] = map[int32]kgo.EpochOffset{}
		}
		offsets[id.Topic][id.Partition] = kgo.EpochOffset{Epoch: -1, Offset: next[id]}
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
	for id, t := range tasks {
		if next[id] >= 0 {
			t.committed = next[id]
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
