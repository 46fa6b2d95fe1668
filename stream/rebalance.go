package stream

// Group rebalances: state restored on assignment, checkpointed on
// revocation.

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// onAssigned restores the state of newly assigned partitions. With
// BlockRebalanceOnPoll it never runs concurrently with the pipeline.
func (s *Service) onAssigned(ctx context.Context, _ *kgo.Client, assigned map[string][]int32) {
	defer s.joined.Store(true)
	var ids []TaskID
	for t, ps := range assigned {
		for _, p := range ps {
			ids = append(ids, TaskID{Topic: t, Partition: p})
		}
	}
	s.metrics.AssignedParts.Add(float64(len(ids)))
	s.mu.Lock()
	if s.assigned == nil {
		s.assigned = map[TaskID]bool{}
	}
	for _, id := range ids {
		s.assigned[id] = true
	}
	s.assignedCount.Store(int64(len(s.assigned)))
	s.mu.Unlock()
	if len(ids) == 0 {
		return
	}
	if s.cfg.CheckpointInterval == 0 {
		for _, id := range ids {
			s.laneOf(id).proc.Task(id)
		}
		return
	}
	s.restore(ctx, ids)
}

func (s *Service) restore(ctx context.Context, ids []TaskID) {
	for _, l := range s.lanes {
		l.proc.Refresh()
	}
	refs, _ := s.registry.Snapshot()
	for attempt := 0; ; attempt++ {
		rctx, cancel := context.WithTimeout(ctx, restoreTimeout)
		restored, err := restoreState(rctx, s.opts, s.cfg.StateTopic, ids, refs, s.pcfg.Policies, s.pcfg.Window, s.pcfg.Segments, s.stateHook(), s.log)
		cancel()
		if err == nil {
			for id, rt := range restored {
				s.laneOf(id).proc.InstallTask(id, rt.monitors, -1).stored = rt.stored
				s.gen = max(s.gen, rt.gen)
				if len(rt.monitors) > 0 {
					s.log.Info("restored window state", "task", id, "models", slices.Sorted(maps.Keys(rt.monitors)), "generation", rt.gen)
				}
			}
			return
		}
		if ctx.Err() != nil {
			return
		}
		s.log.Error("restoring window state failed; retrying", "tasks", ids, "attempt", attempt+1, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(min(time.Duration(attempt+1)*time.Second, 10*time.Second)):
		}
	}
}

// onRevoked checkpoints and commits the revoked partitions, so their new
// owner resumes exactly where this replica stopped, then drops them.
func (s *Service) onRevoked(ctx context.Context, _ *kgo.Client, revoked map[string][]int32) {
	s.unassign(revoked)
	tasks := s.revokedTasks(revoked)
	if len(tasks) == 0 {
		return
	}
	if s.sess == nil && s.cfg.CheckpointInterval > 0 {
		if err := s.publish(ctx); err != nil {
			s.fail(fmt.Errorf("publishing before revocation: %w", err))
		} else if err := s.checkpoint(ctx, tasks); err != nil {
			s.fail(fmt.Errorf("checkpoint on revocation: %w", err))
		}
	} else if s.sess == nil {
		if err := s.publish(ctx); err != nil {
			s.fail(fmt.Errorf("publishing before revocation: %w", err))
		} else if err := s.commit(ctx, tasks); err != nil {
			s.fail(err)
		}
	}
	// In exactly-once mode the session aborts the open transaction; the
	// new owner restores from the last committed one.
	s.dropTasks(tasks)
}

// onLost drops partitions taken away by a fatal group error; nothing can
// be committed for them.
func (s *Service) onLost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	s.unassign(lost)
	tasks := s.revokedTasks(lost)
	s.forgetInflight(tasks)
	s.dropTasks(tasks)
}

// unassign forgets partitions for readiness (which needs at least one).
func (s *Service) unassign(parts map[string][]int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for t, ps := range parts {
		for _, p := range ps {
			delete(s.assigned, TaskID{Topic: t, Partition: p})
		}
	}
	s.assignedCount.Store(int64(len(s.assigned)))
}

func (s *Service) revokedTasks(parts map[string][]int32) map[TaskID]*Task {
	tasks := map[TaskID]*Task{}
	for t, ps := range parts {
		for _, p := range ps {
			id := TaskID{Topic: t, Partition: p}
			if task := s.laneOf(id).proc.tasks[id]; task != nil {
				tasks[id] = task
			}
		}
	}
	return tasks
}

func (s *Service) dropTasks(tasks map[TaskID]*Task) {
	s.mu.Lock()
	for id := range tasks {
		delete(s.assigned, id)
	}
	s.mu.Unlock()
	for id := range tasks {
		s.laneOf(id).proc.DropTask(id)
		if h := s.stateHook(); h != nil {
			h.DropTask(id)
		}
		s.metrics.ConsumerLag.DeleteLabelValues(id.Topic, strconv.Itoa(int(id.Partition)))
		s.metrics.AssignedParts.Dec()
	}
}
