package stream

// Health: readiness (can the service make progress now?) and liveness
// (has it stopped making progress with work pending?), for /ready and
// /healthz.

import (
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Start-up phases, as /ready reports them.
const (
	phaseConnecting = "connecting to the brokers"
	phaseReferences = "loading the references"
	phaseJoining    = "joining the consumer group"
	phaseRunning    = "running"
)

// health is what the probes read; every field is safe for concurrent use.
type health struct {
	now func() time.Time
}

// markProgress records that the pipeline moved: a start-up step done, an
// idle poll (nothing pending), or processed records made durable.
func (s *Service) markProgress() { s.lastProgress.Store(s.health.now().UnixNano()) }

// brokerHook records each successful read from a broker (fetch,
// heartbeat, metadata): readiness requires one within
// ReadinessBrokerTimeout.
type brokerHook struct{ s *Service }

var _ kgo.HookBrokerRead = brokerHook{}

func (h brokerHook) OnBrokerRead(_ kgo.BrokerMetadata, _ int16, _ int, _, _ time.Duration, err error) {
	if err == nil {
		h.s.lastBrokerRead.Store(h.s.health.now().UnixNano())
	}
}

// Readiness reports whether the service can make progress now: start-up
// finished (brokers reached, references loaded, group joined), at least
// one input partition assigned, and a broker answered within
// ReadinessBrokerTimeout. If not, reason says why.
func (s *Service) Readiness() (ready bool, reason string) {
	phase, _ := s.phase.Load().(string)
	if phase != phaseRunning {
		if phase == "" {
			phase = phaseConnecting
		}
		return false, "starting: " + phase
	}
	if !s.joined.Load() {
		return false, "joining the consumer group"
	}
	if bound := s.cfg.ReadinessBrokerTimeout; bound > 0 {
		last := time.Unix(0, s.lastBrokerRead.Load())
		if silent := s.health.now().Sub(last); silent > bound {
			return false, fmt.Sprintf("no answer from the brokers for %s (DRIFTD_READINESS_BROKER_TIMEOUT=%s)", silent.Round(time.Second), bound)
		}
	}
	if s.assignedCount.Load() <= 0 {
		return false, "no input partitions assigned (more replicas than partitions, or a rebalance in progress)"
	}
	return true, "ready"
}

// Ready reports Readiness without the reason.
func (s *Service) Ready() bool {
	ok, _ := s.Readiness()
	return ok
}

// Liveness reports whether the pipeline is making progress: it fails when
// nothing moved for LivenessTimeout while work was pending (records
// re-consumed by transactions that keep aborting, a start-up step or an
// output that does not return), so that an orchestrator restarts it. A
// pipeline waiting idle for records is live; so is one retrying to reach
// its brokers at start (bounded by StartupTimeout).
func (s *Service) Liveness() (live bool, reason string) {
	bound := s.cfg.LivenessTimeout
	if bound <= 0 {
		return true, "ok"
	}
	last := s.lastProgress.Load()
	if last == 0 {
		return true, "ok" // not started
	}
	if stalled := s.health.now().Sub(time.Unix(0, last)); stalled > bound {
		phase, _ := s.phase.Load().(string)
		what := "the pipeline"
		if phase != phaseRunning && phase != "" {
			what = "start-up (" + phase + ")"
		}
		return false, fmt.Sprintf("no progress of %s for %s with work pending (DRIFTD_LIVENESS_TIMEOUT=%s)", what, stalled.Round(time.Second), bound)
	}
	return true, "ok"
}
