package stream

import (
	"bytes"
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/driftd/driftd/detector"
)

// Window state lives on the compacted state topic, one record per
// (input partition, model, version, feature) and slot:
//
//	key   model/version/feature/<input topic>/<input partition>/<slot>
//	value driftd.state/v1 JSON (detector.FeatureCheckpoint)
//
// in state partition <input partition> mod <state partitions>. A
// checkpoint of generation g writes every feature of every model that saw
// events since the previous one into slot g mod 2 — double buffering: a
// crash while writing generation g can only leave slot g mod 2 incomplete,
// and slot (g−1) mod 2 still holds the previous complete checkpoint of that
// model. On restore, each model's newest complete slot wins (all features
// present with the same generation), so a model is always restored to one
// consistent point, never a mix.

func stateKey(cp *detector.FeatureCheckpoint, task TaskID, slot uint64) []byte {
	return []byte(cp.Key() + "/" + task.Topic + "/" + strconv.Itoa(int(task.Partition)) + "/" + strconv.FormatUint(slot, 10))
}

// statePartitioner routes state records to the partition set on the
// record, pane records by their model/version (so stage 2 sees all the
// features of a model in one partition and can compute dataset drift),
// and everything else by key hash, like the default partitioner.
type statePartitioner struct {
	stateTopic, panesTopic string
	keyed                  kgo.Partitioner
}

func (p statePartitioner) ForTopic(topic string) kgo.TopicPartitioner {
	switch topic {
	case p.stateTopic:
		return manualPartitioner{}
	case p.panesTopic:
		return modelPartitioner{}
	}
	return p.keyed.ForTopic(topic)
}

// modelPartitioner hashes the model/version prefix of a
// model/version/feature key.
type modelPartitioner struct{}

func (modelPartitioner) RequiresConsistency(*kgo.Record) bool { return true }
func (modelPartitioner) Partition(r *kgo.Record, n int) int {
	k := r.Key
	if i := bytes.IndexByte(k, '/'); i >= 0 {
		if j := bytes.IndexByte(k[i+1:], '/'); j >= 0 {
			k = k[:i+1+j]
		}
	}
	h := fnv.New32a()
	h.Write(k)
	return int(h.Sum32() % uint32(n))
}

type manualPartitioner struct{}

func (manualPartitioner) RequiresConsistency(*kgo.Record) bool { return true }
func (manualPartitioner) Partition(r *kgo.Record, n int) int   { return int(r.Partition) % n }

// checkpointRecords encodes the state of the dirty monitors of task as
// records of generation gen. It returns the records and their bytes.
func checkpointRecords(stateTopic string, task *Task, gen uint64, all bool) ([]*kgo.Record, int, []*detector.Monitor, error) {
	var recs []*kgo.Record
	var size int
	var written []*detector.Monitor
	for _, m := range task.monitors {
		if !m.Dirty() && !all {
			continue
		}
		cps := m.Checkpoint()
		for i := range cps {
			cp := &cps[i]
			cp.Topic, cp.Partition, cp.Offset = task.ID.Topic, task.ID.Partition, task.Next
			cp.Gen, cp.Features = gen, len(cps)
			data, err := detector.EncodeCheckpoint(cp)
			if err != nil {
				return nil, 0, nil, fmt.Errorf("encoding checkpoint of %s: %w", cp.Key(), err)
			}
			size += len(data)
			recs = append(recs, &kgo.Record{Topic: stateTopic, Partition: task.ID.Partition, Key: stateKey(cp, task.ID, gen%2), Value: data})
		}
		written = append(written, m)
	}
	return recs, size, written, nil
}

// restoredTask is what a state topic holds for one input partition.
type restoredTask struct {
	monitors map[string]*detector.Monitor
	gen      uint64 // highest generation seen
}

// restoreState reads the state partitions of the given input partitions
// and rebuilds their monitors. It reads each state partition up to its end
// as of the call (waiting for open transactions to resolve), keeps the
// newest complete checkpoint of every model, and drops state whose
// reference is gone or changed.
func restoreState(ctx context.Context, opts []kgo.Opt, stateTopic string, tasks []TaskID, refs map[string]*detector.Reference,
	policies *detector.Policies, window detector.WindowConfig, log *slog.Logger) (map[TaskID]*restoredTask, error) {
	out := map[TaskID]*restoredTask{}
	for _, t := range tasks {
		out[t] = &restoredTask{monitors: map[string]*detector.Monitor{}}
	}
	if len(tasks) == 0 {
		return out, nil
	}
	cl, err := kgo.NewClient(append(opts, kgo.KeepControlRecords(), kgo.FetchIsolationLevel(kgo.ReadCommitted()))...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, stateTopic)
	if err != nil {
		return nil, fmt.Errorf("state topic %s: %w", stateTopic, err)
	}
	nparts := int32(len(ends[stateTopic]))
	if nparts == 0 {
		return nil, fmt.Errorf("state topic %s has no partitions", stateTopic)
	}
	want := map[int32]bool{}
	for _, t := range tasks {
		want[t.Partition%nparts] = true
	}
	pending := map[int32]int64{}
	assign := map[int32]kgo.Offset{}
	for p := range want {
		o := ends[stateTopic][p]
		if o.Err != nil {
			return nil, fmt.Errorf("state topic %s partition %d: %w", stateTopic, p, o.Err)
		}
		if o.Offset > 0 {
			pending[p] = o.Offset
			assign[p] = kgo.NewOffset().AtStart()
		}
	}
	// records[task][model/version][slot][feature] = newest record in slot
	type slotRecs map[string]*detector.FeatureCheckpoint
	records := map[TaskID]map[string]*[2]slotRecs{}
	if len(assign) > 0 {
		cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{stateTopic: assign})
	}
	for len(pending) > 0 {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var ferr error
		fetches.EachError(func(_ string, p int32, err error) { ferr = fmt.Errorf("reading state partition %d: %w", p, err) })
		if ferr != nil {
			return nil, ferr
		}
		fetches.EachRecord(func(r *kgo.Record) {
			if end, ok := pending[r.Partition]; ok && r.Offset+1 >= end {
				delete(pending, r.Partition)
			}
			if r.Attrs.IsControl() || len(r.Value) == 0 {
				return
			}
			cp, err := detector.DecodeCheckpoint(r.Value)
			if err != nil {
				log.Warn("skipping unreadable state record", "partition", r.Partition, "offset", r.Offset, "err", err)
				return
			}
			id := TaskID{Topic: cp.Topic, Partition: cp.Partition}
			if _, ok := out[id]; !ok {
				return
			}
			byModel := records[id]
			if byModel == nil {
				byModel = map[string]*[2]slotRecs{}
				records[id] = byModel
			}
			mk := cp.Model + "/" + cp.Version
			slots := byModel[mk]
			if slots == nil {
				slots = &[2]slotRecs{{}, {}}
				byModel[mk] = slots
			}
			slots[cp.Gen%2][cp.Feature] = cp
			if cp.Gen > out[id].gen {
				out[id].gen = cp.Gen
			}
		})
	}
	for id, byModel := range records {
		for mk, slots := range byModel {
			best := newestComplete(slots[0], slots[1])
			if best == nil {
				log.Warn("no complete checkpoint; the model starts with empty windows", "task", id, "model", mk)
				continue
			}
			ref := refs[mk]
			if ref == nil {
				log.Info("dropping state of a model without a reference", "task", id, "model", mk)
				continue
			}
			m, err := detector.RestoreMonitor(ref, policies, window, best)
			if err != nil {
				log.Warn("not restoring state", "task", id, "model", mk, "err", err)
				continue
			}
			out[id].monitors[mk] = m
		}
	}
	return out, nil
}

// newestComplete returns the records of the newest complete slot: every
// record of the slot has the same generation and there are as many as the
// model has features.
func newestComplete(a, b map[string]*detector.FeatureCheckpoint) []detector.FeatureCheckpoint {
	complete := func(s map[string]*detector.FeatureCheckpoint) (uint64, bool) {
		var gen uint64
		n := 0
		for _, cp := range s {
			if n > 0 && cp.Gen != gen {
				return 0, false
			}
			gen = cp.Gen
			n++
			if cp.Features != len(s) {
				return 0, false
			}
		}
		return gen, n > 0
	}
	ga, oka := complete(a)
	gb, okb := complete(b)
	var pick map[string]*detector.FeatureCheckpoint
	switch {
	case oka && (!okb || ga > gb):
		pick = a
	case okb:
		pick = b
	default:
		return nil
	}
	out := make([]detector.FeatureCheckpoint, 0, len(pick))
	for _, cp := range pick {
		out = append(out, *cp)
	}
	return out
}

// restoreTimeout bounds one attempt to read state.
const restoreTimeout = 2 * time.Minute

// ReadState restores, without joining the group, the window state a
// replica taking over the given input partitions would get: for
// inspection and for tests that compare durable state with an
// uninterrupted run.
func ReadState(ctx context.Context, cfg Config, window detector.WindowConfig, policies *detector.Policies,
	refs map[string]*detector.Reference, tasks []TaskID) (map[TaskID]map[string]*detector.Monitor, error) {
	opts, err := cfg.ClientOpts()
	if err != nil {
		return nil, err
	}
	restored, err := restoreState(ctx, opts, cfg.StateTopic, tasks, refs, policies, window, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	out := map[TaskID]map[string]*detector.Monitor{}
	for id, rt := range restored {
		out[id] = rt.monitors
	}
	return out, nil
}
