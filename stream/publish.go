package stream

// Output: alerts and dead letters, produced and acknowledged before the
// offsets that produced them are committed.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/driftd/driftd/stream/codec"
)

func (s *Service) dlqRecord(r *kgo.Record, derr *codec.Error) *kgo.Record {
	headers := append(slices.Clone(r.Headers),
		kgo.RecordHeader{Key: HeaderReason, Value: []byte(derr.Reason)},
		kgo.RecordHeader{Key: HeaderError, Value: []byte(derr.Error())},
		kgo.RecordHeader{Key: HeaderSourceTopic, Value: []byte(r.Topic)},
		kgo.RecordHeader{Key: HeaderSourcePartition, Value: []byte(strconv.Itoa(int(r.Partition)))},
		kgo.RecordHeader{Key: HeaderSourceOffset, Value: []byte(strconv.FormatInt(r.Offset, 10))},
	)
	s.metrics.RecordsDLQ.WithLabelValues(s.cfg.DLQTopic, string(derr.Reason)).Inc()
	dl := &kgo.Record{Topic: s.cfg.DLQTopic, Key: r.Key, Value: r.Value, Headers: headers, Timestamp: r.Timestamp}
	s.fitDeadLetter(dl, s.wasRefused(sourceKey(r.Topic, r.Partition, r.Offset)))
	return dl
}

// publish produces the queued alerts and dead letters and waits until the
// brokers acknowledged all of them. Retriable errors are retried by the
// client without limit (a slow or unavailable output stops the pipeline:
// backpressure, nothing dropped); a record the broker refuses for good
// fails the run, except a dead letter the DLQ topic refuses for its size
// (several truncated dead letters batched together), which is re-sent
// without its value (the headers keep where to find it).
func (s *Service) publish(ctx context.Context) error {
	recs := append(s.alerts, s.dlq...)
	if len(recs) == 0 {
		return nil
	}
	s.metrics.ProduceBuffered.Set(float64(len(recs)))
	results := s.cl.ProduceSync(ctx, recs...)
	s.metrics.ProduceBuffered.Set(0)
	var retry []*kgo.Record
	var missing []*kgo.Record
	for _, res := range results {
		if res.Err == nil {
			continue
		}
		s.metrics.ProduceErrors.WithLabelValues(res.Record.Topic).Inc()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(res.Err, kerr.UnknownTopicOrPartition) {
			missing = append(missing, res.Record)
			continue
		}
		if res.Record.Topic == s.cfg.DLQTopic && (errors.Is(res.Err, kerr.MessageTooLarge) || errors.Is(res.Err, kerr.RecordListTooLarge)) {
			r := res.Record
			if len(r.Value) > 0 {
				r.Headers = slices.DeleteFunc(r.Headers, func(h kgo.RecordHeader) bool {
					return h.Key == HeaderValueTruncated || h.Key == HeaderTruncation
				})
				r.Headers = append(r.Headers,
					kgo.RecordHeader{Key: HeaderValueTruncated, Value: []byte(strconv.Itoa(len(r.Value)))},
					kgo.RecordHeader{Key: HeaderTruncation, Value: []byte(TruncationRecordTooLarge)})
				r.Value = nil
			}
			retry = append(retry, r)
			continue
		}
		return fmt.Errorf("producing to %s: %w", res.Record.Topic, res.Err)
	}
	if len(missing) > 0 {
		if err := s.recreateTopics(ctx, missing[0].Topic); err != nil {
			return err
		}
		retry = append(retry, missing...)
	}
	if len(retry) > 0 {
		if err := s.cl.ProduceSync(ctx, retry...).FirstErr(); err != nil {
			return fmt.Errorf("producing to %s: %w", retry[0].Topic, err)
		}
	}
	s.alertsPublished()
	s.alerts, s.dlq = s.alerts[:0], s.dlq[:0]
	return nil
}

func (s *Service) alertsPublished() {
	if s.observer != nil && len(s.alertPending) > 0 {
		s.observer.AlertsPublished(s.alertPending)
	}
	for i := range s.alertPending {
		s.metrics.ObserveAlert(&s.alertPending[i])
		a := &s.alertPending[i]
		s.log.Info("alert", "status", a.Status, "key", a.Key(), "id", a.ID, "summary", a.Summary)
	}
	clear(s.alertPending)
	s.alertPending = s.alertPending[:0]
}

// recreateTopics handles an output topic that disappeared while running
// (deleted by an operator): with DRIFTD_CREATE_TOPICS it is created again
// like at start and the pipeline goes on; otherwise the error says what
// happened.
func (s *Service) recreateTopics(ctx context.Context, topic string) error {
	if !s.cfg.CreateTopics {
		return fmt.Errorf("topic %s no longer exists (deleted while driftd was running?) and DRIFTD_CREATE_TOPICS=false: create it again, then restart driftd", topic)
	}
	s.log.Warn("output topic missing (deleted while running?); creating it again", "topic", topic)
	if _, err := EnsureTopics(ctx, kadm.NewClient(s.cl), &s.cfg); err != nil {
		return fmt.Errorf("topic %s no longer exists (deleted while driftd was running?) and could not be created again: %w", topic, err)
	}
	s.metrics.TopicsRecreated.Inc()
	return nil
}
