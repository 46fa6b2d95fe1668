package stream

// Lanes: partitions spread over processors that run in parallel.

import (
	"encoding/json"
	"hash/fnv"
	"maps"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/driftd/driftd/detector"
	"github.com/driftd/driftd/stream/codec"
)

// lane is one processor and the output it queued: tasks (partitions) are
// spread over lanes by hash and a poll's lanes run in parallel, each on
// its own partitions, so no state is shared and no lock is taken per
// event.
type lane struct {
	proc         *Processor
	parts        []kgo.FetchTopicPartition
	alerts, dlq  []*kgo.Record
	alertPending []detector.Alert
	// retries are partitions whose decoder could not decode a record
	// for a reason not the record's (a schema registry that does not
	// answer): the partition is rewound to it and retried.
	retries []retryAt
	rec     codec.Record
}

// retryAt is a record to consume again.
type retryAt struct {
	id     TaskID
	offset kgo.EpochOffset
	err    error
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
		c.TimeUnitSuspect += p.TimeUnitSuspect
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
		s.retry = append(s.retry, l.retries...)
		clear(l.retries)
		l.retries = l.retries[:0]
	}
	if len(s.retry) > 0 {
		s.rewind()
	}
}

// rewind makes the consumer fetch the records in s.retry again and waits
// a little: a decoder dependency that does not answer (a schema registry)
// holds the partition back — backpressure — instead of dead-lettering
// records that are not at fault. Called from the polling goroutine before
// the rebalance is allowed (see kgo.Client.SetOffsets).
func (s *Service) rewind() {
	offsets := map[string]map[int32]kgo.EpochOffset{}
	for _, r := range s.retry {
		if offsets[r.id.Topic] == nil {
			offsets[r.id.Topic] = map[int32]kgo.EpochOffset{}
		}
		offsets[r.id.Topic][r.id.Partition] = r.offset
		s.metrics.DecodeRetries.WithLabelValues(r.id.Topic).Inc()
	}
	s.log.Warn("input held back: its decoder cannot decode it now; retrying", "partitions", len(s.retry), "topic", s.retry[0].id.Topic, "offset", s.retry[0].offset.Offset, "err", s.retry[0].err)
	s.cl.SetOffsets(offsets)
	clear(s.retry)
	s.retry = s.retry[:0]
	time.Sleep(retryPause)
}

// retryPause is the wait after a rewind.
const retryPause = 500 * time.Millisecond

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
	dec := proc.RecordDecoder(p.Topic)
	done := 0
	for _, r := range p.Records {
		var derr *codec.Error
		switch {
		case s.cfg.Mode == ModeStage2:
			derr = proc.ProcessPane(task, r.Value, r.Offset)
		case dec != nil:
			l.rec = codec.Record{Topic: r.Topic, Key: r.Key, Value: r.Value, Headers: r.Headers, TimestampMS: r.Timestamp.UnixMilli()}
			if err := proc.ProcessRecord(task, dec, &l.rec, r.Offset); err != nil {
				if de, ok := err.(*codec.Error); ok {
					derr = de
				} else {
					l.retries = append(l.retries, retryAt{id: id, offset: kgo.EpochOffset{Epoch: r.LeaderEpoch, Offset: r.Offset}, err: err})
				}
			}
		default:
			derr = proc.Process(task, r.Value, r.Timestamp.UnixMilli(), r.Offset)
		}
		if len(l.retries) > 0 && l.retries[len(l.retries)-1].id == id {
			break // this partition's remaining records are fetched again
		}
		done++
		if derr != nil {
			l.dlq = append(l.dlq, s.dlqRecord(r, derr))
		}
		if len(proc.Out.Alerts) > 0 || len(proc.Out.Evaluations) > 0 || len(proc.Out.Panes) > 0 {
			s.collect(l)
		}
	}
	l.rec = codec.Record{}
	consumed.Add(float64(done))
	s.processedTotal.Add(uint64(done))
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
		if s.alertURL != nil {
			a.URL = s.alertURL(a)
		}
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
