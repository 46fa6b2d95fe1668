package stream

// Read-only views: the pipeline hands its monitors to an Observer at its
// synchronisation points, between polls, where no event is being applied.

import (
	"time"

	"github.com/driftd/driftd/detector"
)

// Observer follows the pipeline for read-only views (the HTTP API and the
// drift view). Its methods run on the pipeline goroutine: they must return
// quickly, and must not keep the monitors beyond the call.
type Observer interface {
	// Sync is called after every poll's output was handled, when no event
	// is being applied: the monitors may be read (View, Detail,
	// TakeMarks) during the call.
	Sync(now time.Time, tasks []TaskMonitors)
	// AlertsPublished receives alerts once the brokers acknowledged them
	// (in exactly-once mode, once their transaction committed).
	AlertsPublished(alerts []detector.Alert)
}

// TaskMonitors are the monitors of one input partition, by model/version.
type TaskMonitors struct {
	Task     TaskID
	Monitors map[string]*detector.Monitor
}

// Monitors lists a processor's monitors by task, for an Observer.
func (p *Processor) Monitors() []TaskMonitors {
	out := make([]TaskMonitors, 0, len(p.tasks))
	for id, t := range p.tasks {
		out = append(out, TaskMonitors{Task: id, Monitors: t.monitors})
	}
	return out
}

// syncObserver hands every lane's monitors to the observer.
func (s *Service) syncObserver() {
	if s.observer == nil {
		return
	}
	var all []TaskMonitors
	for _, l := range s.lanes {
		all = append(all, l.proc.Monitors()...)
	}
	s.observer.Sync(time.Now(), all)
}
