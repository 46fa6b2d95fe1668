package stream

// Checkpoints and offset commits (at-least-once mode).

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

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
// checkpoint (see state.go).
func (s *Service) checkpoint(ctx context.Context, tasks map[TaskID]*Task) error {
	start := time.Now()
	s.lastCheckpoint = start
	s.gen++
	var recs []*kgo.Record
	var size int
	var written []stateWrite
	for _, t := range tasks {
		r, n, w, err := checkpointRecords(s.cfg.StateTopic, t, s.gen, false, s.stateLimit)
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
		stateWritten(written)
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
