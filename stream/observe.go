package stream

// Metrics the pipeline keeps current outside the per-event path: group
// lag, references, model counters.

import (
	"context"
	"maps"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/driftd/driftd/detector"
)

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
	refs := s.lanes[0].proc.refs // what the processors use
	s.metrics.SetReferences(refs)
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
	now := time.Now()
	active := map[string]bool{} // model versions with events since the last pass
	for _, t := range s.tasks() {
		for key, m := range t.monitors {
			st := m.Stats()
			prev := s.prevStats[m]
			if st.Observed != prev.Observed || s.lastEvent[key].IsZero() {
				active[key] = true
			}
			if s.stale[key] && st.Observed == prev.Observed {
				// Silent: its gauges stay cleared.
				s.prevStats[m] = st
				seen[m] = true
				mem += st.WindowBytesTotal
				continue
			}
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
	s.observeStaleness(now, active)
	s.metrics.WindowMemory.Set(float64(mem))
	s.metrics.EventsNoReference.Add(float64(c.NoReference - s.reported.NoReference))
	s.metrics.BadTimestamps.Add(float64(c.BadTimestamp - s.reported.BadTimestamp))
	if c.TimeUnitSuspect > 0 && s.reported.TimeUnitSuspect == 0 && s.log != nil {
		s.log.Warn("numeric event timestamps look like the other unit: check DRIFTD_TIMESTAMP_UNIT (Unix seconds read as milliseconds fall in 1970-1973)",
			"timestamp_unit", string(s.pcfg.TimeUnit), "events", c.TimeUnitSuspect)
	}
	s.reported = c
}

// observeStaleness keeps driftd_model_last_event_timestamp_seconds current
// and, after StaleAfter without events of a model version, resolves its
// firing alerts with reason "stale" and clears its gauges. active are the
// model versions with events since the last pass (or first seen).
func (s *Service) observeStaleness(now time.Time, active map[string]bool) {
	refs := s.lanes[0].proc.refs
	for key := range active {
		s.lastEvent[key] = now
		delete(s.stale, key)
		if ref := refs[key]; ref != nil {
			s.metrics.ModelLastEvent.WithLabelValues(ref.Model, ref.Version).Set(float64(now.Unix()))
		}
	}
	for key, last := range s.lastEvent {
		ref := refs[key]
		if ref == nil {
			delete(s.lastEvent, key) // reference removed: its series are gone
			delete(s.stale, key)
			continue
		}
		if s.cfg.StaleAfter <= 0 || s.stale[key] || now.Sub(last) < s.cfg.StaleAfter {
			continue
		}
		s.stale[key] = true
		resolved := 0
		for _, l := range s.lanes {
			for _, t := range l.proc.tasks {
				if m := t.monitors[key]; m != nil && m.ResolveStale(&l.proc.Out, s.cfg.StaleAfter) {
					resolved++
				}
			}
			if len(l.proc.Out.Alerts) > 0 {
				s.collect(l)
				s.alerts = append(s.alerts, l.alerts...)
				s.alertPending = append(s.alertPending, l.alertPending...)
				clear(l.alerts)
				clear(l.alertPending)
				l.alerts, l.alertPending = l.alerts[:0], l.alertPending[:0]
			}
		}
		s.metrics.ClearModelGauges(ref.Model, ref.Version)
		s.log.Info("model version stale: no events; firing alerts resolved, gauges cleared", "key", key,
			"last_event", last.UTC().Format(time.RFC3339), "stale_after", s.cfg.StaleAfter, "monitors_resolved", resolved)
	}
}
