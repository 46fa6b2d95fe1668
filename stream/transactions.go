package stream

// Exactly-once mode: alerts, dead letters, checkpoints and offsets in one
// transaction per checkpoint interval.

import (
	"context"
	"errors"
	"maps"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// produceInTxn produces the queued alerts and dead letters inside the
// open transaction.
func (s *Service) produceInTxn(ctx context.Context) error {
	recs := append(s.alerts, s.dlq...)
	if len(recs) == 0 {
		return nil
	}
	e := kgo.AbortingFirstErrPromise(s.cl)
	for _, r := range recs {
		p := e.Promise()
		if r.Topic == s.cfg.DLQTopic {
			p = s.refusedPromise(p)
		}
		s.sess.Produce(ctx, r, p)
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
	var written []stateWrite
	e := kgo.AbortingFirstErrPromise(s.cl)
	for _, t := range s.tasks() {
		recs, n, w, err := checkpointRecords(s.cfg.StateTopic, t, s.gen, false, s.stateLimit, s.stateHook())
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
	s.txnAborted = !committed
	if committed {
		s.markProgress()
		stateWritten(written)
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
	if errors.Is(txnErr, kerr.UnknownTopicOrPartition) {
		// An output topic disappeared: every replay would abort again.
		if rerr := s.recreateTopics(ctx, "an output topic"); rerr != nil {
			return rerr
		}
	}
	ids := slices.Collect(maps.Keys(s.tasks()))
	for _, id := range ids {
		s.laneOf(id).proc.DropTask(id)
		if h := s.stateHook(); h != nil {
			h.DropTask(id)
		}
	}
	s.restore(ctx, ids)
	return nil
}
