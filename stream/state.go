package stream

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
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
// version in one input partition: its monitor, encoded as a
// driftd.state/v3 head and segments (detector.EncodeModelSegments): each
// closed pane of each window is a segment named by its SHA-256, written
// once and referenced by every generation that still holds the pane; the
// head (open panes, alarm states, counters and the sums of the segments
// it needs) is itself a segment. A segment is cut into chunks that fit the
// topic's max.message.bytes, and a generation is committed by a manifest
// naming its head:
//
//	key    v3/<topic>/<partition>/<model>/<version>/s/<sum>/<n>/<i>
//	value  "DSS" 3, the model's identity, SHA-256, n, i, length, bytes
//	       (chunk i of n of the segment; <sum>: hex of its first 16 bytes)
//	key    v3/<topic>/<partition>/<model>/<version>/m<slot>
//	value  "DSM" 3, the model's identity, slot, generation, the head's
//	       SHA-256
//
// (each key part is length-prefixed, so any model name is unambiguous).
// A checkpoint of generation g writes, for every model that saw events
// since the previous one, the segments of its state the topic does not
// hold yet (in practice the head and the panes closed since), then its
// manifest, into the slot that does not hold the model's newest complete
// generation — double buffering. The records of one model go to one
// partition in order, so a manifest is only in the log after the
// segments it needs. A generation is complete when its manifest is there,
// and its head and every segment the head names are there whole, of the
// right length and hashing to their sums; restore takes each model's
// newest complete generation. Segments are never overwritten with other
// bytes (their keys are their contents), so a write torn anywhere (a
// crash, a failed batch, however many batches the generation spans)
// leaves an incomplete generation that restore ignores, and the next
// write goes to that slot again, never over the newest complete one.
// After its manifest, a checkpoint deletes with tombstones the segments
// that neither it nor the model's previous complete generation needs, so
// compaction keeps two generations per model and nothing else.
//
// Earlier formats are read at upgrade when a model has no newer state:
// driftd.state/v2 (one blob per model, v2/<topic>/<partition>/<model>/
// <version>/<slot>/c<i> chunks and .../m manifests) and driftd.state/v1
// (JSON, one record per feature, key model/version/feature/<topic>/
// <partition>/<slot>). The model's first v3 checkpoint deletes them.

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

// State record magics.
const (
	chunkMagic      = "DSC\x02" // v2 chunk (read at upgrade)
	manifestMagic   = "DSM\x02" // v2 manifest (read at upgrade)
	segmentMagic    = "DSS\x03"
	manifestMagicV3 = "DSM\x03"
	// stateRecordOverhead is what a record batch of one state record
	// adds to its key and value: the batch header (61 bytes) and the
	// record's framing (at most 40), with a margin.
	stateRecordOverhead = 512
	// minChunkPayload is the smallest useful chunk.
	minChunkPayload = 4 << 10
	// segmentKeyHex is how many bytes of a segment's sum its key shows.
	segmentKeyHex = 16
)

// segmentKey is one way a segment is stored: its sum and its chunk count.
type segmentKey struct {
	sum    detector.SegmentSum
	chunks int
}

// storedModel is what the state topic holds for one model of a task, as
// far as this replica knows.
type storedModel struct {
	// last is the slot of the newest complete generation (-1: none), and
	// lastRefs the segments it needs (its head first).
	last     int
	lastRefs []detector.SegmentSum
	// segments are the segments stored whole, by sum: their chunk count.
	segments map[detector.SegmentSum]int
	// maybe are segment records that may be in the log without being
	// known whole (a write not known durable, a torn write found at
	// restore, a tombstone not known durable): deleted once no
	// generation kept needs them.
	maybe map[segmentKey]bool
	// panes are the count-window panes of the last generation written,
	// valid for owner only.
	panes detector.PaneSums
	owner *detector.Monitor
	// legacy are v1 and v2 keys to delete after the next manifest.
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
	if st.segments == nil {
		st.segments = map[detector.SegmentSum]int{}
	}
	if st.maybe == nil {
		st.maybe = map[segmentKey]bool{}
	}
	return st
}

// stateWrite is one model written by a checkpoint; applied once the
// checkpoint is durable (produced, or its transaction committed).
type stateWrite struct {
	m       *detector.Monitor
	st      *storedModel
	slot    int
	refs    []detector.SegmentSum
	written []segmentKey
	deleted []segmentKey
	panes   detector.PaneSums
}

// stateWritten applies the writes of a durable checkpoint: each model's
// newest complete generation is the one just written, its segments are
// stored and those deleted are gone. (The monitors were marked clean
// when the checkpoint was encoded.)
func stateWritten(ws []stateWrite) {
	for _, w := range ws {
		st := w.st
		st.last, st.lastRefs, st.legacy = w.slot, w.refs, nil
		for _, k := range w.written {
			st.segments[k.sum] = k.chunks
			delete(st.maybe, k)
		}
		for _, k := range w.deleted {
			delete(st.maybe, k)
		}
		st.panes, st.owner = w.panes, w.m
	}
}

// stateHead is the identity every state record of a model repeats (slot
// and generation: manifests and v2 chunks only).
type stateHead struct {
	task           TaskID
	model, version string
	slot           int
	gen            uint64
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func (h *stateHead) appendIdentity(b []byte) []byte {
	b = appendString(b, h.task.Topic)
	b = binary.AppendVarint(b, int64(h.task.Partition))
	b = appendString(b, h.model)
	return appendString(b, h.version)
}

func (h *stateHead) append(b []byte) []byte {
	b = h.appendIdentity(b)
	b = binary.AppendUvarint(b, uint64(h.slot))
	return binary.AppendUvarint(b, h.gen)
}

// modelPrefix is <v>/<topic>/<partition>/<model>/<version>/ with each
// part length-prefixed (<len>:<part>).
func (h *stateHead) modelPrefix(v string) string {
	var b strings.Builder
	b.WriteString(v)
	b.WriteByte('/')
	for _, part := range []string{h.task.Topic, strconv.Itoa(int(h.task.Partition)), h.model, h.version} {
		b.WriteString(strconv.Itoa(len(part)))
		b.WriteByte(':')
		b.WriteString(part)
		b.WriteByte('/')
	}
	return b.String()
}

// keyPrefix is the v2 prefix of a slot: v2/.../<slot>/.
func (h *stateHead) keyPrefix() string {
	return h.modelPrefix("v2") + strconv.Itoa(h.slot) + "/"
}

func segmentChunkKey(prefix string, k segmentKey, i int) string {
	return prefix + "s/" + hex.EncodeToString(k.sum[:segmentKeyHex]) + "/" + strconv.Itoa(k.chunks) + "/" + strconv.Itoa(i)
}

// stateRecord is a decoded state record.
type stateRecord struct {
	head   stateHead
	kind   recordKind
	index  int    // chunk
	data   []byte // chunk
	chunks int    // v2 manifest, segment chunk
	total  int    // v2 manifest, segment chunk
	sum    [sha256.Size]byte
}

type recordKind int

const (
	chunkV2 recordKind = iota
	manifestV2
	segmentChunk
	manifestV3
)

func decodeStateRecord(v []byte) (*stateRecord, error) {
	var r stateRecord
	switch {
	case bytes.HasPrefix(v, []byte(chunkMagic)):
		r.kind = chunkV2
	case bytes.HasPrefix(v, []byte(manifestMagic)):
		r.kind = manifestV2
	case bytes.HasPrefix(v, []byte(segmentMagic)):
		r.kind = segmentChunk
	case bytes.HasPrefix(v, []byte(manifestMagicV3)):
		r.kind = manifestV3
	default:
		return nil, errors.New("not a driftd.state/v2 or v3 record")
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
	sum := func() {
		if len(v) < sha256.Size {
			ok = false
			return
		}
		copy(r.sum[:], v)
		v = v[sha256.Size:]
	}
	r.head.task.Topic = str()
	p, k := binary.Varint(v)
	if k <= 0 || p < 0 || p > math.MaxInt32 {
		return nil, bad
	}
	v = v[k:]
	r.head.task.Partition = int32(p)
	r.head.model, r.head.version = str(), str()
	if r.kind != segmentChunk {
		r.head.slot = int(uvar(1))
		r.head.gen = uvar(math.MaxUint64)
	}
	switch r.kind {
	case manifestV2:
		r.chunks = int(uvar(detector.MaxModelStateBytes))
		r.total = int(uvar(detector.MaxModelStateBytes))
		if !ok || len(v) != sha256.Size {
			return nil, bad
		}
		copy(r.sum[:], v)
	case chunkV2:
		r.index = int(uvar(detector.MaxModelStateBytes))
		r.data = v
	case manifestV3:
		sum()
		if ok && len(v) != 0 {
			return nil, bad
		}
	case segmentChunk:
		sum()
		r.chunks = int(uvar(detector.MaxModelStateBytes))
		r.index = int(uvar(detector.MaxModelStateBytes))
		r.total = int(uvar(detector.MaxModelStateBytes))
		if ok && (r.chunks == 0 || r.index >= r.chunks || len(v) > r.total) {
			return nil, bad
		}
		r.data = v
	}
	if !ok || v == nil || r.head.task.Topic == "" || r.head.model == "" {
		return nil, bad
	}
	return &r, nil
}

// segmentPayload is the most segment bytes a chunk record may carry
// under limit, the largest record batch the state topic accepts.
func segmentPayload(limit int, h *stateHead, prefix string) (int, error) {
	keyLen := len(prefix) + len("s/") + 2*segmentKeyHex + 24
	headLen := len(segmentMagic) + len(h.appendIdentity(nil)) + sha256.Size + 3*binary.MaxVarintLen64
	n := limit - stateRecordOverhead - keyLen - headLen
	if n < minChunkPayload {
		return 0, fmt.Errorf("state topic max.message.bytes %d leaves no room for the state of %s/%s (its key is %d bytes)", limit, h.model, h.version, keyLen)
	}
	return n, nil
}

// checkpointRecords encodes the state of the dirty monitors of task (of
// all monitors when all is set) as records of generation gen, none
// larger than limit bytes as a batch of its own: per model the segments
// the topic lacks, the manifest, then tombstones. It marks the monitors
// clean, and returns the records, their bytes and the writes to apply
// once they are durable.
func checkpointRecords(stateTopic string, task *Task, gen uint64, all bool, limit int, hook TaskStateHook) ([]*kgo.Record, int, []stateWrite, error) {
	var recs []*kgo.Record
	var size int
	var written []stateWrite
	add := func(key string, value []byte) {
		recs = append(recs, &kgo.Record{Topic: stateTopic, Partition: task.ID.Partition, Key: []byte(key), Value: value})
		size += len(key) + len(value)
	}
	// writeMonitor adds a monitor's state under key, identified as
	// model/version.
	writeMonitor := func(key string, m *detector.Monitor, model, version string) error {
		if !m.Dirty() && !all {
			return nil
		}
		st := task.storedModel(key)
		known := st.panes
		if st.owner != m {
			known = nil // panes of another monitor (reference reloaded)
		}
		state, err := m.CheckpointSegments(task.ID.Topic, task.ID.Partition, task.Next, gen, known)
		if err == nil && slices.ContainsFunc(state.Segments, func(s detector.StateSegment) bool { return s.Data == nil && st.segments[s.Sum] == 0 }) {
			// A known pane is no longer stored: encode them all.
			state, err = m.CheckpointSegments(task.ID.Topic, task.ID.Partition, task.Next, gen, nil)
		}
		if err != nil {
			return fmt.Errorf("encoding the state of %s: %w", key, err)
		}
		w, err := writeUnit(add, task.ID, st, model, version, gen, limit, state)
		if err != nil {
			return err
		}
		w.m, w.panes = m, state.Panes
		written = append(written, w)
		// Events from here on make the monitor dirty again, also while
		// the checkpoint is written in the background. A checkpoint that
		// fails ends the service (or, in exactly-once mode, the task is
		// restored from the last committed one).
		m.MarkClean()
		return nil
	}
	for _, key := range slices.Sorted(maps.Keys(task.monitors)) {
		m := task.monitors[key]
		ref := m.Reference()
		if err := writeMonitor(key, m, ref.Model, ref.Version); err != nil {
			return nil, 0, nil, err
		}
		// A segment's windows are a unit of their own, versioned
		// <version> NUL <segment> (a version has no NUL).
		segs := m.Segments()
		for _, name := range slices.Sorted(maps.Keys(segs)) {
			v := ref.Version + segmentSeparator + name
			if err := writeMonitor(key+segmentSeparator+name, segs[name], ref.Model, v); err != nil {
				return nil, 0, nil, err
			}
		}
	}
	if hook != nil {
		st := task.storedModel(HookStateModel + "/" + HookStateVersion)
		state, err := hook.CheckpointTask(task.ID, task.Next, all, func(sum detector.SegmentSum) bool { return st.segments[sum] > 0 })
		if err != nil {
			return nil, 0, nil, fmt.Errorf("encoding the record hook's state: %w", err)
		}
		if state != nil {
			if slices.ContainsFunc(state.Segments, func(s detector.StateSegment) bool { return s.Data == nil && st.segments[s.Sum] == 0 }) {
				return nil, 0, nil, errors.New("the record hook's state names a segment that is not stored without its bytes")
			}
			w, err := writeUnit(add, task.ID, st, HookStateModel, HookStateVersion, gen, limit, state)
			if err != nil {
				return nil, 0, nil, err
			}
			written = append(written, w)
		}
	}
	return recs, size, written, nil
}

// writeUnit adds the records of one model's state (or the hook's) to a
// checkpoint of generation gen: the segments the topic lacks, the
// manifest, then tombstones for the segments no longer needed. It
// returns the write to apply once the records are durable.
func writeUnit(add func(key string, value []byte), task TaskID, st *storedModel, model, version string, gen uint64, limit int, state *detector.SegmentedState) (stateWrite, error) {
	h := stateHead{task: task, model: model, version: version, slot: 0, gen: gen}
	if st.last == 0 {
		h.slot = 1 // never over the newest complete generation
	}
	prefix := h.modelPrefix("v3")
	payload, err := segmentPayload(limit, &h, prefix)
	if err != nil {
		return stateWrite{}, err
	}
	ident := h.appendIdentity(nil)
	headSum := detector.SegmentSum(sha256.Sum256(state.Head))
	segs := append([]detector.StateSegment{{Sum: headSum, Data: state.Head}}, state.Segments...)
	w := stateWrite{st: st, slot: h.slot, refs: make([]detector.SegmentSum, len(segs))}
	writing := map[segmentKey]bool{}
	for i, seg := range segs {
		w.refs[i] = seg.Sum
		if st.segments[seg.Sum] > 0 {
			continue
		}
		n := max(1, (len(seg.Data)+payload-1)/payload)
		k := segmentKey{sum: seg.Sum, chunks: n}
		if writing[k] {
			continue
		}
		for c := range n {
			part := seg.Data[c*payload : min((c+1)*payload, len(seg.Data))]
			v := make([]byte, 0, len(segmentMagic)+len(ident)+sha256.Size+3*binary.MaxVarintLen64+len(part))
			v = append(append(v, segmentMagic...), ident...)
			v = append(v, seg.Sum[:]...)
			v = binary.AppendUvarint(v, uint64(n))
			v = binary.AppendUvarint(v, uint64(c))
			v = binary.AppendUvarint(v, uint64(len(seg.Data)))
			add(segmentChunkKey(prefix, k, c), append(v, part...))
		}
		writing[k] = true
		st.maybe[k] = true
		w.written = append(w.written, k)
	}
	v := append([]byte(manifestMagicV3), h.append(nil)...)
	add(prefix+"m"+strconv.Itoa(h.slot), append(v, headSum[:]...))
	// Segments neither this generation nor the previous complete one
	// needs.
	keep := map[detector.SegmentSum]bool{}
	for _, s := range w.refs {
		keep[s] = true
	}
	for _, s := range st.lastRefs {
		keep[s] = true
	}
	var drop []segmentKey
	for sum, n := range st.segments {
		if !keep[sum] {
			drop = append(drop, segmentKey{sum: sum, chunks: n})
		}
	}
	for k := range st.maybe {
		if !writing[k] && (!keep[k.sum] || st.segments[k.sum] != k.chunks) {
			drop = append(drop, k)
		}
	}
	slices.SortFunc(drop, func(a, b segmentKey) int {
		return cmp.Or(bytes.Compare(a.sum[:], b.sum[:]), cmp.Compare(a.chunks, b.chunks))
	})
	drop = slices.Compact(drop)
	for _, k := range drop {
		for c := range k.chunks {
			add(segmentChunkKey(prefix, k, c), nil)
		}
		// Until the tombstones are known durable, the segment is
		// neither whole nor surely gone.
		if st.segments[k.sum] == k.chunks {
			delete(st.segments, k.sum)
		}
		st.maybe[k] = true
	}
	w.deleted = drop
	for _, k := range st.legacy {
		add(string(k), nil)
	}
	return w, nil
}

// segmentSeparator separates a model version from a segment in the
// identity of a segment's state.
const segmentSeparator = "\x00"

// restoredSegment is the state of a segment's windows, restored after
// its model's.
type restoredSegment struct {
	model, segment string
	cps            []detector.FeatureCheckpoint
	panes          detector.PaneSums
	st             *storedModel
}

// restoredTask is what a state topic holds for one input partition.
type restoredTask struct {
	monitors map[string]*detector.Monitor
	stored   map[string]*storedModel
	gen      uint64 // highest generation seen
}

// stateSlot is what the log holds for one v2 slot of a model: its
// latest manifest and latest chunk per index.
type stateSlot struct {
	manifest *stateRecord
	chunks   map[int]*stateRecord
}

// segmentChunks are the chunks of one segment key in the log.
type segmentChunks map[int]*stateRecord

// modelRecords is what the log holds for one model of a task.
type modelRecords struct {
	manifests [2]*stateRecord // v3
	segments  map[segmentKey]segmentChunks
	slots     [2]stateSlot // v2
	legacy    [2]map[string]*detector.FeatureCheckpoint
	// oldKeys are the v1 and v2 keys seen, to delete on the first write.
	oldKeys map[string]bool
}

// keyRef locates a key's latest value, for tombstones.
type keyRef struct {
	mr      *modelRecords
	kind    recordKind
	slot    int
	index   int // chunk index
	seg     segmentKey
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
		mr = &modelRecords{oldKeys: map[string]bool{}, segments: map[segmentKey]segmentChunks{}}
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
			delete(ref.mr.oldKeys, string(key))
		case ref.kind == manifestV2:
			ref.mr.slots[ref.slot].manifest = nil
			delete(ref.mr.oldKeys, string(key))
		case ref.kind == chunkV2:
			delete(ref.mr.slots[ref.slot].chunks, ref.index)
			delete(ref.mr.oldKeys, string(key))
		case ref.kind == manifestV3:
			ref.mr.manifests[ref.slot] = nil
		case ref.kind == segmentChunk:
			if sc := ref.mr.segments[ref.seg]; sc != nil {
				delete(sc, ref.index)
				if len(sc) == 0 {
					delete(ref.mr.segments, ref.seg)
				}
			}
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
	if prev, ok := l.keys[string(key)]; ok && prev.kind == segmentChunk && prev.mr == mr {
		// A key rewritten with another segment's chunk (not written by
		// driftd): its old value is gone.
		if sc := mr.segments[prev.seg]; sc != nil {
			delete(sc, prev.index)
		}
	}
	ref := keyRef{mr: mr, kind: r.kind, slot: h.slot, index: r.index}
	switch r.kind {
	case manifestV3:
		l.gens[h.task] = max(l.gens[h.task], h.gen)
		mr.manifests[h.slot] = r
	case segmentChunk:
		ref.seg = segmentKey{sum: r.sum, chunks: r.chunks}
		sc := mr.segments[ref.seg]
		if sc == nil {
			sc = segmentChunks{}
			mr.segments[ref.seg] = sc
		}
		sc[r.index] = r
	case manifestV2:
		l.gens[h.task] = max(l.gens[h.task], h.gen)
		mr.slots[h.slot].manifest = r
		mr.oldKeys[string(key)] = true
	case chunkV2:
		l.gens[h.task] = max(l.gens[h.task], h.gen)
		mr.slots[h.slot].chunks[r.index] = r
		mr.oldKeys[string(key)] = true
	}
	l.keys[string(key)] = ref
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
	mr.oldKeys[string(key)] = true
	l.keys[string(key)] = keyRef{mr: mr, slot: int(cp.Gen % 2), feature: cp.Feature, legacy: true}
}

// complete returns the blob of a v2 slot when the slot is complete: its
// manifest names chunks that are all there, of its generation, and hash
// to its sum.
func (s *stateSlot) complete() ([]byte, bool) {
	m := s.manifest
	if m == nil || m.chunks == 0 {
		return nil, false
	}
	n := 0
	for i := range m.chunks {
		c := s.chunks[i]
		if c == nil || c.head.gen != m.head.gen {
			return nil, false
		}
		n += len(c.data)
	}
	if n != m.total {
		return nil, false
	}
	blob := make([]byte, 0, n)
	for i := range m.chunks {
		blob = append(blob, s.chunks[i].data...)
	}
	if len(blob) != m.total || sha256.Sum256(blob) != m.sum {
		return nil, false
	}
	return blob, true
}

// whole returns a segment's bytes when all its chunks are there, agree
// on its length and hash to its sum.
func (sc segmentChunks) whole(k segmentKey) ([]byte, bool) {
	c0 := sc[0]
	if c0 == nil || len(sc) < k.chunks {
		return nil, false
	}
	n := 0
	for i := range k.chunks {
		c := sc[i]
		if c == nil || c.total != c0.total {
			return nil, false
		}
		n += len(c.data)
	}
	if n != c0.total {
		return nil, false
	}
	data := make([]byte, 0, n)
	for i := range k.chunks {
		data = append(data, sc[i].data...)
	}
	if len(data) != c0.total || sha256.Sum256(data) != k.sum {
		return nil, false
	}
	return data, true
}

// wholeSegments returns the segments of the log that are whole, by sum,
// and the keys of the others.
func (mr *modelRecords) wholeSegments() (map[detector.SegmentSum][]byte, map[detector.SegmentSum]int, []segmentKey) {
	data := map[detector.SegmentSum][]byte{}
	chunks := map[detector.SegmentSum]int{}
	var partial []segmentKey
	keys := slices.SortedFunc(maps.Keys(mr.segments), func(a, b segmentKey) int {
		return cmp.Or(bytes.Compare(a.sum[:], b.sum[:]), cmp.Compare(a.chunks, b.chunks))
	})
	for _, k := range keys {
		if _, dup := data[k.sum]; !dup {
			if b, ok := mr.segments[k].whole(k); ok {
				data[k.sum], chunks[k.sum] = b, k.chunks
				continue
			}
		}
		partial = append(partial, k)
	}
	return data, chunks, partial
}

// candidate is a complete generation of a model.
type candidate struct {
	gen  uint64
	slot int // v3 slot; -1: v2
	blob []byte
	refs []detector.SegmentSum // v3: head first
}

// complete returns the complete v3 generations of a model, newest
// first: a manifest whose head and every segment the head names are
// whole.
func (mr *modelRecords) complete(segs map[detector.SegmentSum][]byte) []candidate {
	var cands []candidate
	for i, m := range mr.manifests {
		if m == nil {
			continue
		}
		head := segs[m.sum]
		if head == nil {
			continue
		}
		sums, err := detector.HeadSegments(head)
		if err != nil || slices.ContainsFunc(sums, func(s detector.SegmentSum) bool { return segs[s] == nil }) {
			continue
		}
		cands = append(cands, candidate{gen: m.head.gen, slot: i, blob: head, refs: append([]detector.SegmentSum{m.sum}, sums...)})
	}
	slices.SortStableFunc(cands, func(a, b candidate) int { return cmp.Compare(b.gen, a.gen) })
	return cands
}

// newest decodes the newest complete generation of a model that decodes
// as the state of task and model, and returns it with its candidate
// (nil with none).
func (mr *modelRecords) newest(task TaskID, model string, segs map[detector.SegmentSum][]byte) ([]detector.FeatureCheckpoint, detector.PaneSums, *candidate, error) {
	cands := mr.complete(segs)
	for i := range mr.slots {
		if blob, ok := mr.slots[i].complete(); ok {
			cands = append(cands, candidate{gen: mr.slots[i].manifest.head.gen, slot: -1, blob: blob})
		}
	}
	slices.SortStableFunc(cands, func(a, b candidate) int { return cmp.Compare(b.gen, a.gen) })
	var errs []error
	for _, c := range cands {
		var cps []detector.FeatureCheckpoint
		var panes detector.PaneSums
		var err error
		if c.slot >= 0 {
			cps, panes, err = detector.DecodeModelSegments(c.blob, func(s detector.SegmentSum) []byte { return segs[s] })
		} else {
			cps, err = detector.DecodeModelState(c.blob)
		}
		base, _, _ := strings.Cut(model, segmentSeparator) // a segment's state names its model
		if err == nil && (cps[0].Topic != task.Topic || cps[0].Partition != task.Partition || cps[0].Model+"/"+cps[0].Version != base || cps[0].Gen != c.gen) {
			err = errors.New("state names another model or generation than its manifest")
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("generation %d: %w", c.gen, err))
			continue
		}
		return cps, panes, &c, nil
	}
	return nil, nil, nil, errors.Join(errs...)
}

// result rebuilds the monitors: each model from its newest complete
// generation (v3 or v2; without one, from complete v1 records), dropping
// state whose reference is gone or changed.
func (l *stateLog) result(refs map[string]*detector.Reference, policies *detector.Policies, window detector.WindowConfig, segCfg detector.SegmentConfig, hook TaskStateHook) map[TaskID]*restoredTask {
	out := map[TaskID]*restoredTask{}
	for id, byModel := range l.tasks {
		rt := &restoredTask{monitors: map[string]*detector.Monitor{}, stored: map[string]*storedModel{}, gen: l.gens[id]}
		out[id] = rt
		hookRestored := false
		var segments []restoredSegment
		for mk, mr := range byModel {
			segs, chunks, partial := mr.wholeSegments()
			if mk == HookStateModel+"/"+HookStateVersion {
				st := &storedModel{last: -1, segments: chunks, maybe: map[segmentKey]bool{}}
				for _, k := range partial {
					st.maybe[k] = true
				}
				rt.stored[mk] = st
				if hook == nil {
					continue
				}
				for _, c := range mr.complete(segs) {
					err := hook.RestoreTask(id, c.blob, func(s detector.SegmentSum) []byte { return segs[s] })
					if err == nil {
						st.last, st.lastRefs, hookRestored = c.slot, c.refs, true
						break
					}
					l.log.Warn("unreadable record hook state generation", "task", id, "generation", c.gen, "err", err)
				}
				continue
			}
			cps, panes, cand, err := mr.newest(id, mk, segs)
			if err != nil {
				l.log.Warn("unreadable state generation", "task", id, "model", mk, "err", err)
			}
			st := &storedModel{last: -1, segments: chunks, maybe: map[segmentKey]bool{}}
			for _, k := range partial {
				st.maybe[k] = true
			}
			for _, k := range slices.Sorted(maps.Keys(mr.oldKeys)) {
				st.legacy = append(st.legacy, []byte(k))
			}
			if cand != nil && cand.slot >= 0 {
				st.last, st.lastRefs = cand.slot, cand.refs
			}
			rt.stored[mk] = st
			if cps == nil {
				cps = newestComplete(mr.legacy[0], mr.legacy[1])
				if cps == nil {
					l.log.Warn("no complete checkpoint; the model starts with empty windows", "task", id, "model", mk)
					continue
				}
				l.log.Info("restoring driftd.state/v1 records; the next checkpoint rewrites them as v3", "task", id, "model", mk)
			} else if cand.slot < 0 {
				l.log.Info("restoring driftd.state/v2 records; the next checkpoint rewrites them as v3", "task", id, "model", mk)
			}
			if base, seg, ok := strings.Cut(mk, segmentSeparator); ok {
				segments = append(segments, restoredSegment{model: base, segment: seg, cps: cps, panes: panes, st: st})
				continue
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
			st.panes, st.owner = panes, m
		}
		// Segments once their model is restored.
		slices.SortFunc(segments, func(a, b restoredSegment) int {
			return cmp.Or(cmp.Compare(a.model, b.model), cmp.Compare(a.segment, b.segment))
		})
		for _, rs := range segments {
			m := rt.monitors[rs.model]
			if m == nil {
				l.log.Info("dropping segment state of a model not restored", "task", id, "model", rs.model, "segment", rs.segment)
				continue
			}
			if err := m.RestoreSegment(segCfg, policies, rs.segment, rs.cps); err != nil {
				l.log.Warn("not restoring segment state", "task", id, "model", rs.model, "segment", rs.segment, "err", err)
				continue
			}
			rs.st.panes, rs.st.owner = rs.panes, m.Segments()[rs.segment]
		}
		if hook != nil && !hookRestored {
			_ = hook.RestoreTask(id, nil, nil) // starts empty: cannot fail
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
	policies *detector.Policies, window detector.WindowConfig, segCfg detector.SegmentConfig, hook TaskStateHook, log *slog.Logger) (map[TaskID]*restoredTask, error) {
	l := newStateLog(tasks, log)
	if len(tasks) == 0 {
		return l.result(refs, policies, window, segCfg, hook), nil
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
	return l.result(refs, policies, window, segCfg, hook), nil
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
	restored, err := restoreState(ctx, opts, cfg.StateTopic, tasks, refs, policies, window, detector.SegmentConfig{}, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	out := map[TaskID]map[string]*detector.Monitor{}
	for id, rt := range restored {
		out[id] = rt.monitors
	}
	return out, nil
}
