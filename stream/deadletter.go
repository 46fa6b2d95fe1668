package stream

// Dead letters the DLQ topic would refuse: a record larger than the
// topic's max.message.bytes is dead-lettered as a truncated copy, with its
// headers and a note saying so, in both delivery modes.

import (
	"context"
	"errors"
	"strconv"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Headers of a truncated dead letter.
const (
	// HeaderValueTruncated holds the original value's length in bytes when
	// the dead letter carries only a prefix of it.
	HeaderValueTruncated = "driftd-value-truncated"
	// HeaderTruncation says why the value was truncated.
	HeaderTruncation = "driftd-truncation-reason"
	// TruncationRecordTooLarge: the DLQ topic refuses records this large.
	TruncationRecordTooLarge = "record_too_large"
)

// defaultMaxMessageBytes is Kafka's default max.message.bytes, assumed
// when the DLQ topic's setting cannot be read.
const defaultMaxMessageBytes = 1048588

// dlqOverhead bounds what a record batch adds to a lone record: the v2
// batch header (61 bytes), the record's varints, and a margin.
const dlqOverhead = 1024

// maxMessageBytes reads a topic's max.message.bytes (the broker default
// when the topic does not set it).
func maxMessageBytes(ctx context.Context, adm *kadm.Client, topic string) (int, error) {
	rcs, err := adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		return 0, err
	}
	rc, err := rcs.On(topic, nil)
	if err != nil {
		return 0, err
	}
	if rc.Err != nil {
		return 0, rc.Err
	}
	for _, c := range rc.Configs {
		if c.Key == "max.message.bytes" && c.Value != nil {
			return strconv.Atoi(*c.Value)
		}
	}
	return 0, errors.New("max.message.bytes not reported")
}

// fitDeadLetter truncates the value of dead letter r so that the record
// fits the DLQ topic, or drops the value when drop is set (the topic
// refused the record once already, e.g. batched with others).
func (s *Service) fitDeadLetter(r *kgo.Record, drop bool) {
	limit := s.dlqMaxBytes
	if limit <= 0 {
		limit = defaultMaxMessageBytes
	}
	size := len(r.Key) + len(r.Value) + dlqOverhead
	for _, h := range r.Headers {
		size += len(h.Key) + len(h.Value) + 10
	}
	if !drop && size <= limit {
		return
	}
	keep := 0
	if !drop {
		keep = max(0, len(r.Value)-(size-limit)-64) // 64: the headers added below
	}
	r.Headers = append(r.Headers,
		kgo.RecordHeader{Key: HeaderValueTruncated, Value: []byte(strconv.Itoa(len(r.Value)))},
		kgo.RecordHeader{Key: HeaderTruncation, Value: []byte(TruncationRecordTooLarge)},
	)
	r.Value = r.Value[:keep:keep]
	s.metrics.DeadLettersTruncated.Inc()
}

// sourceKey identifies a dead letter's source record.
func sourceKey(topic string, partition int32, offset int64) string {
	return topic + "/" + strconv.Itoa(int(partition)) + "/" + strconv.FormatInt(offset, 10)
}

func deadLetterSource(r *kgo.Record) string {
	var t, p, o string
	for _, h := range r.Headers {
		switch h.Key {
		case HeaderSourceTopic:
			t = string(h.Value)
		case HeaderSourcePartition:
			p = string(h.Value)
		case HeaderSourceOffset:
			o = string(h.Value)
		}
	}
	return t + "/" + p + "/" + o
}

// refusedPromise wraps a produce promise of a dead letter: a refusal for
// size is remembered, so the record is dead-lettered without its value
// when the aborted transaction is replayed.
func (s *Service) refusedPromise(p func(*kgo.Record, error)) func(*kgo.Record, error) {
	return func(r *kgo.Record, err error) {
		if errors.Is(err, kerr.MessageTooLarge) || errors.Is(err, kerr.RecordListTooLarge) {
			s.mu.Lock()
			if len(s.dlqRefused) < 10000 {
				s.dlqRefused[deadLetterSource(r)] = true
			}
			s.mu.Unlock()
		}
		p(r, err)
	}
}

func (s *Service) wasRefused(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dlqRefused[key]
}
