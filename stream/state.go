package stream

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/driftd/driftd/detector"
)

// Window state lives on the compacted state topic, in state partition
// <input partition> mod <state partitions>. The unit of state is one model
// version in one input partition: its monitor, encoded as one
// driftd.state/v2 blob (detector.EncodeModelState), cut into chunks that
// fit the topic's max.message.bytes, and committed by a manifest:
//
//	key    v2/<topic>/<partition>/<model>/<version>/<slot>/c<i>   chunk i
//	value  "DSC" 2, the model's identity, slot, generation, i, bytes
//	key    v2/<topic>/<partition>/<model>/<version>/<slot>/m      manifest
//	value  "DSM" 2, the model's identity, slot, generation, chunk count,
//	       total length, SHA-256 of the blob
//
// (each key part is length-prefixed, so any model name is unambiguous).
// A checkpoint of generation g writes the chunks of every model that saw
// events since the previous one, then its manifest, into the slot that
// does not hold the model's newest complete generation — double
// buffering. The records of one model go to one partition in order, so a
// manifest is only in the log after all its chunks. A slot is complete
// when its manifest is there and its chunks 0..count−1 are all of the
// manifest's generation and hash to its sum; restore takes each model's
// newest complete slot. A write torn anywhere (a crash, a failed batch,
// however many batches the generation spans) leaves an incomplete slot
// that restore ignores, and the next write goes to that slot again, never
// over the newest complete one. Chunks a smaller rewrite no longer needs
// are deleted with tombstones, so compaction keeps two generations per
// model and nothing else.
//
// The driftd.state/v1 records of earlier releases (JSON, one per feature,
// key model/version/feature/<topic>/<partition>/<slot>) are read at
// upgrade when a model has no v2 state, and deleted by the model's first
// v2 checkpoint.
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

// State record magics (version 2).
const (
	chunkMagic    = "DSC\x02"
	manifestMagic = "DSM\x02"
	// stateRecordOverhead is what a record batch of one state record
	// adds to its key and value: the batch header (61 bytes) and the
	// record's framing (at most 40), with a margin.
	stateRecordOverhead = 512
	// minChunkPayload is the smallest useful chunk.
	minChunkPayload = 4 << 10
)

// storedModel is what the state topic holds for one model of a task, as
// far as this replica knows: the slot of its newest complete generation
// (-1: none), the chunk keys present in each slot, and the v1 keys
// still to delete.
type storedModel struct {
	last   int
	chunks [2]int
	legacy [][]byte
}

// stored returns the stored state of a model of the task.
func (t *Task) storedModel(key string) *storedModel {
	if t.stored == nil {
		t.stored = map[string]*storedModel{}
	}
	st := t.stored[key]
	if st == nil {
		st = &storedModel{last: -1}
		t.stored[key] = st
	}
	return st
}

// stateWrite is one model written by a checkpoint; applied once the
// checkpoint is durable (produced, or its transaction committed).
type stateWrite struct {
	m      *detector.Monitor
	st     *storedModel
	slot   int
	chunks int
}

// stateWritten applies the writes of a durable checkpoint: the monitors
// are clean, and each model's newest complete generation is in the slot
// just written.
func stateWritten(ws []stateWrite) {
	for _, w := range ws {
		w.m.MarkClean()
		w.st.last, w.st.chunks[w.slot], w.st.legacy = w.slot, w.chunks, nil
	}
}

// stateHead is the identity every state record of a model repeats.
type stateHead struct {
	task           TaskID
	model, version string
	slot           int
	gen            uint64
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func (h *stateHead) append(b []byte) []byte {
	b = appendString(b, h.task.Topic)
	b = binary.AppendVarint(b, int64(h.task.Partition))
	b = appendString(b, h.model)
	b = appendString(b, h.version)
	b = binary.AppendUvarint(b, uint64(h.slot))
	return binary.AppendUvarint(b, h.gen)
}

// keyPrefix is v2/<topic>/<partition>/<model>/<version>/<slot>/ with
// each part length-prefixed (<len>:<part>).
func (h *stateHead) keyPrefix() string {
	var b strings.Builder
	b.WriteString("v2/")
	for _, part := range []string{h.task.Topic, strconv.Itoa(int(h.task.Partition)), h.model, h.version} {
		b.WriteString(strconv.Itoa(len(part)))
		b.WriteByte(':')
		b.WriteString(part)
		b.WriteByte('/')
	}
	b.WriteString(strconv.Itoa(h.slot))
	b.WriteByte('/')
	return b.String()
}

// stateRecord is a decoded chunk or manifest.
type stateRecord struct {
	head     stateHead
	manifest bool
	index    int    // chunk
	data     []byte // chunk
	chunks   int    // manifest
	total    int    // manifest
	sum      [sha256.Size]byte
}

func decodeStateRecord(v []byte) (*stateRecord, error) {
	var r stateRecord
	switch {
	case bytes.HasPrefix(v, []byte(chunkMagic)):
	case bytes.HasPrefix(v, []byte(manifestMagic)):
		r.manifest = true
	default:
		return nil, errors.New("not a driftd.state/v2 record")
	}
	v = v[len(chunkMagic):]
	bad := errors.New("truncated or garbled state record")
	str := func() string {
		n, k := binary.Uvarint(v)
		if k <= 0 || n > uint64(len(v)-k) {
			v = nil
			return ""
		}
		s := string(v[k : k+int(n)])
		v = v[k+int(n):]
		return s
	}
	ok := true
	uvar := func(limit uint64) uint64 {
		n, k := binary.Uvarint(v)
		if k <= 0 || n > limit {
			ok = false
			return 0
		}
		v = v[k:]
		return n
	}
	r.head.task.Topic = str()
	p, k := binary.Varint(v)
	if k <= 0 || p < 0 || p > math.MaxInt32 {
		return nil, bad
	}
	v = v[k:]
	r.head.task.Partition = int32(p)
	r.head.model, r.head.version = str(), str()
	r.head.slot = int(uvar(1))
	r.head.gen = uvar(math.MaxUint64)
	if r.manifest {
		r.chunks = int(uvar(detector.MaxModelStateBytes))
		r.total = int(uvar(detector.MaxModelStateBytes))
		if !ok || len(v) != sha256.Size {
			return nil, bad
		}
		copy(r.sum[:], v)
	} else {
		r.index = int(uvar(detector.MaxModelStateBytes))
		r.data = v
	}
	if !ok || v == nil || r.head.task.Topic == "" || r.head.model == "" {
		return nil, bad
	}
	return &r, nil
}

// chunkPayload is the most blob bytes a chunk record may carry under
// limit, the largest record batch the state topic accepts.
func chunkPayload(limit int, h *stateHead) (int, error) {
	keyLen := len(h.keyPrefix()) + 12
	headLen := len(chunkMagic) + len(h.append(nil)) + binary.MaxVarintLen64
	n := limit - stateRecordOverhead - keyLen - headLen
	if n < minChunkPayload {
		return 0, fmt.Errorf("state topic max.message.bytes %d leaves no room for the state of %s/%s (its key is %d bytes)", limit, h.model, h.version, keyLen)
	}
	return n, nil
}

// checkpointRecords encodes the state of the dirty monitors of task (of
// all monitors when all is set) as records of generation gen, none
// larger than limit bytes as a batch of its own. It returns the records,
// their bytes and the writes to apply once they are durable.
func checkpointRecords(stateTopic string, task *Task, gen uint64, all bool, limit int) ([]*kgo.Record, int, []stateWrite, error) {
	var recs []*kgo.Record
	var size int
	var written []stateWrite
	keys := slices.Sorted(maps.Keys(task.monitors))
	for _, key := range keys {
		m := task.monitors[key]
		if !m.Dirty() && !all {
			continue
		}
		cps := m.Checkpoint()
		if len(cps) == 0 {
			continue
		}
		for i := range cps {
			cp := &cps[i]
			cp.Topic, cp.Partition, cp.Offset, cp.Gen = task.ID.Topic, task.ID.Partition, task.Next, gen
		}
		blob, err := detector.EncodeModelState(cps)
		if err != nil {
			return nil, 0, nil, fmt.Errorf("encoding the state of %s: %w", key, err)
		}
		st := task.storedModel(key)
		h := stateHead{task: task.ID, model: cps[0].Model, version: cps[0].Version, slot: 0, gen: gen}
		if st.last == 0 {
			h.slot = 1 // never over the newest complete generation
		}
		payload, err := chunkPayload(limit, &h)
		if err != nil {
			return nil, 0, nil, err
		}
		prefix := h.keyPrefix()
		head := h.append(nil)
		add := func(key string, value []byte) {
			recs = append(recs, &kgo.Record{Topic: stateTopic, Partition: task.ID.Partition, Key: []byte(key), Value: value})
			size += len(key) + len(value)
		}
		n := 0
		for off := 0; off < len(blob) || n == 0; off += payload {
			part := blob[off:min(off+payload, len(blob))]
			v := make([]byte, 0, len(chunkMagic)+len(head)+binary.MaxVarintLen64+len(part))
			v = append(append(v, chunkMagic...), head...)
			v = binary.AppendUvarint(v, uint64(n))
			add(prefix+"c"+strconv.Itoa(n), append(v, part...))
			n++
		}
		for i := n; i < st.chunks[h.slot]; i++ {
			add(prefix+"c"+strconv.Itoa(i), nil)
		}
		sum := sha256.Sum256(blob)
		v := append([]byte(manifestMagic), head...)
		v = binary.AppendUvarint(v, uint64(n))
		v = binary.AppendUvarint(v, uint64(len(blob)))
		add(prefix+"m", append(v, sum[:]...))
		for _, k := range st.legacy {
			add(string(k), nil)
		}
		written = append(written, stateWrite{m: m, st: st, slot: h.slot, chunks: n})
	}
	return recs, size, written, nil
}

// restoredTask is what a state topic holds for one input partition.
type restoredTask struct {
	monitors map[string]*detector.Monitor
	stored   map[string]*storedModel
	gen      uint64 // highest generation seen
}

// stateSlot is what the log holds for one slot of a model: its latest
// manifest and latest chunk per index.
type stateSlot struct {
	manifest *stateRecord
	chunks   map[int]*stateRecord
}

// modelRecords is what the log holds for one model of a task.
type modelRecords struct {
	slots  [2]stateSlot
	legacy [2]map[string]*detector.FeatureCheckpoint
	// legacyKeys are the v1 keys seen, to delete on the first write.
	legacyKeys map[string]bool
}

// keyRef locates a key's latest value, for tombstones.
type keyRef struct {
	mr      *modelRecords
	slot    int
	index   int // chunk index; -1: manifest
	feature string
	legacy  bool
}

// stateLog gathers the records of state partitions in log order.
type stateLog struct {
	tasks map[TaskID]map[string]*modelRecords
	keys  map[string]keyRef
	gens  map[TaskID]uint64
	log   *slog.Logger
}

func newStateLog(tasks []TaskID, log *slog.Logger) *stateLog {
	l := &stateLog{tasks: map[TaskID]map[string]*modelRecords{}, keys: map[string]keyRef{}, gens: map[TaskID]uint64{}, log: log}
	for _, t := range tasks {
		l.tasks[t] = map[string]*modelRecords{}
	}
	return l
}

func (l *stateLog) model(task TaskID, key string) *modelRecords {
	byModel := l.tasks[task]
	if byModel == nil {
		return nil
	}
	mr := byModel[key]
	if mr == nil {
		mr = &modelRecords{legacyKeys: map[string]bool{}}
		for i := range mr.slots {
			mr.slots[i].chunks = map[int]*stateRecord{}
			mr.legacy[i] = map[string]*detector.FeatureCheckpoint{}
		}
		byModel[key] = mr
	}
	return mr
}

// add takes the next record of a state partition.
func (l *stateLog) add(partition int32, offset int64, key, value []byte) {
	if len(value) == 0 { // a tombstone deletes the key's latest value
		ref, ok := l.keys[string(key)]
		if !ok {
			return
		}
		delete(l.keys, string(key))
		switch {
		case ref.legacy:
			delete(ref.mr.legacy[ref.slot], ref.feature)
		case ref.index < 0:
			ref.mr.slots[ref.slot].manifest = nil
		default:
			delete(ref.mr.slots[ref.slot].chunks, ref.index)
		}
		return
	}
	if value[0] == '{' {
		l.addLegacy(partition, offset, key, value)
		return
	}
	r, err := decodeStateRecord(value)
	if err != nil {
		l.log.Warn("skipping unreadable state record", "partition", partition, "offset", offset, "err", err)
		return
	}
	h := &r.head
	mr := l.model(h.task, h.model+"/"+h.version)
	if mr == nil {
		return // another input partition's state
	}
	l.gens[h.task] = max(l.gens[h.task], h.gen)
	slot := &mr.slots[h.slot]
	if r.manifest {
		slot.manifest = r
		l.keys[string(key)] = keyRef{mr: mr, slot: h.slot, index: -1}
	} else {
		slot.chunks[r.index] = r
		l.keys[string(key)] = keyRef{mr: mr, slot: h.slot, index: r.index}
	}
}

func (l *stateLog) addLegacy(partition int32, offset int64, key, value []byte) {
	cp, err := detector.DecodeLegacyCheckpoint(value)
	if err != nil {
		l.log.Warn("skipping unreadable state record", "partition", partition, "offset", offset, "err", err)
		return
	}
	id := TaskID{Topic: cp.Topic, Partition: cp.Partition}
	mr := l.model(id, cp.Model+"/"+cp.Version)
	if mr == nil {
		return
	}
	l.gens[id] = max(l.gens[id], cp.Gen)
	mr.legacy[cp.Gen%2][cp.Feature] = cp
	mr.legacyKeys[string(key)] = true
	l.keys[string(key)] = keyRef{mr: mr, slot: int(cp.Gen % 2), feature: cp.Feature, legacy: true}
}

// complete returns the blob of a slot when the slot is complete: its
// manifest names chunks that are all there, of its generation, and hash
// to its sum.
func (s *stateSlot) complete() ([]byte, bool) {
	m := s.manifest
	if m == nil || m.chunks == 0 {
		return nil, false
	}
	blob := make([]byte, 0, m.total)
	for i := range m.chunks {
		c := s.chunks[i]
		if c == nil || c.head.gen != m.head.gen || len(blob)+len(c.data) > m.total {
			return nil, false
		}
		blob = append(blob, c.data...)
	}
	if len(blob) != m.total || sha256.Sum256(blob) != m.sum {
		return nil, false
	}
	return blob, true
}

// stored is what a writer needs to know of the log: the newest complete
// slot and the chunk keys of each slot.
func (mr *modelRecords) stored(last int) *storedModel {
	st := &storedModel{last: last}
	for i := range mr.slots {
		for idx := range mr.slots[i].chunks {
			st.chunks[i] = max(st.chunks[i], idx+1)
		}
	}
	for k := range mr.legacyKeys {
		st.legacy = append(st.legacy, []byte(k))
	}
	slices.SortFunc(st.legacy, bytes.Compare)
	return st
}

// newest returns the features of the newest complete slot that decodes
// as the state of task and model, and that slot (-1 with none).
func (mr *modelRecords) newest(task TaskID, model string) ([]detector.FeatureCheckpoint, int, error) {
	type cand struct {
		slot int
		gen  uint64
		blob []byte
	}
	var cands []cand
	for i := range mr.slots {
		if blob, ok := mr.slots[i].complete(); ok {
			cands = append(cands, cand{i, mr.slots[i].manifest.head.gen, blob})
		}
	}
	slices.SortFunc(cands, func(a, b cand) int { return cmp.Compare(b.gen, a.gen) })
	var errs []error
	for _, c := range cands {
		cps, err := detector.DecodeModelState(c.blob)
		if err == nil && (cps[0].Topic != task.Topic || cps[0].Partition != task.Partition || cps[0].Model+"/"+cps[0].Version != model || cps[0].Gen != c.gen) {
			err = errors.New("state names another model or generation than its manifest")
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("generation %d: %w", c.gen, err))
			continue
		}
		return cps, c.slot, nil
	}
	return nil, -1, errors.Join(errs...)
}

// result rebuilds the monitors: each model from its newest complete
// generation (or, without one, from complete v1 records), dropping state
// whose reference is gone or changed.
func (l *stateLog) result(refs map[string]*detector.Reference, policies *detector.Policies, window detector.WindowConfig) map[TaskID]*restoredTask {
	out := map[TaskID]*restoredTask{}
	for id, byModel := range l.tasks {
		rt := &restoredTask{monitors: map[string]*detector.Monitor{}, stored: map[string]*storedModel{}, gen: l.gens[id]}
		out[id] = rt
		for mk, mr := range byModel {
			cps, slot, err := mr.newest(id, mk)
			if err != nil {
				l.log.Warn("unreadable state generation", "task", id, "model", mk, "err", err)
			}
			rt.stored[mk] = mr.stored(slot)
			if cps == nil {
				cps = newestComplete(mr.legacy[0], mr.legacy[1])
				if cps == nil {
					l.log.Warn("no complete checkpoint; the model starts with empty windows", "task", id, "model", mk)
					continue
				}
				l.log.Info("restoring driftd.state/v1 records; the next checkpoint rewrites them as v2", "task", id, "model", mk)
			}
			ref := refs[mk]
			if ref == nil {
				l.log.Info("dropping state of a model without a reference", "task", id, "model", mk)
				continue
			}
			m, err := detector.RestoreMonitor(ref, policies, window, cps)
			if err != nil {
				l.log.Warn("not restoring state", "task", id, "model", mk, "err", err)
				continue
			}
			rt.monitors[mk] = m
		}
	}
	return out
}

// restoreState reads the state partitions of the given input partitions
// and rebuilds their monitors. It reads each state partition up to its end
// as of the call (waiting for open transactions to resolve), keeps the
// newest complete checkpoint of every model, and drops state whose
// reference is gone or changed.
func restoreState(ctx context.Context, opts []kgo.Opt, stateTopic string, tasks []TaskID, refs map[string]*detector.Reference,
	policies *detector.Policies, window detector.WindowConfig, log *slog.Logger) (map[TaskID]*restoredTask, error) {
	l := newStateLog(tasks, log)
	if len(tasks) == 0 {
		return l.result(refs, policies, window), nil
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
			if r.Attrs.IsControl() {
				return
			}
			l.add(r.Partition, r.Offset, r.Key, r.Value)
		})
	}
	return l.result(refs, policies, window), nil
}

// newestComplete returns the v1 records of the newest complete slot:
// every record of the slot has the same generation and there are as many
// as the model has features.
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
