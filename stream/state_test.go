package stream

import (
	"bytes"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/driftd/driftd/detector"
	"github.com/driftd/driftd/stream/codec"
)

// stateFixture processes churn events into one task and writes its
// checkpoints as records, the way the service does, into an in-memory
// log of the state partition.
type stateFixture struct {
	t      *testing.T
	ref    *detector.Reference
	window detector.WindowConfig
	values [][]byte
	limit  int
	id     TaskID
}

func newStateFixture(t *testing.T, events int) *stateFixture {
	rng := rand.New(rand.NewPCG(9, 9))
	f := &stateFixture{t: t, ref: churnReference(t), window: detector.WindowConfig{Size: 2000, Hop: 200},
		id: TaskID{Topic: "events", Partition: 2}}
	for i := range events {
		skew := 0
		if i > events/2 {
			skew = 1
		}
		f.values = append(f.values, churnEvent(rng, skew).json(i))
	}
	// Small records: a generation spans many chunks.
	f.limit = stateRecordOverhead + minChunkPayload + 200
	return f
}

// processor returns a processor whose task is installed from restored
// state (nil: empty).
func (f *stateFixture) processor(rt *restoredTask) (*Processor, *Task) {
	registry := NewRegistry()
	registry.Set(f.ref)
	p, err := NewProcessor(ProcessorConfig{Format: codec.Canonical, Window: f.window}, registry)
	if err != nil {
		f.t.Fatal(err)
	}
	if rt == nil {
		return p, p.Task(f.id)
	}
	task := p.InstallTask(f.id, rt.monitors, -1)
	task.stored = rt.stored
	return p, task
}

// feed processes events [from, to) (offset = index).
func (f *stateFixture) feed(p *Processor, task *Task, from, to int) {
	for i := from; i < to; i++ {
		p.Process(task, f.values[i], 1_764_100_800_000+int64(i), int64(i))
		p.Out.Reset()
	}
}

// write checkpoints the task as generation gen: the records, and a
// snapshot of the state they hold.
func (f *stateFixture) write(task *Task, gen uint64) ([]*kgo.Record, []byte, []stateWrite) {
	recs, _, ws, err := checkpointRecords("state", task, gen, false, f.limit, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, r := range recs {
		if n := len(r.Key) + len(r.Value) + 101; n > f.limit {
			f.t.Fatalf("record of %d bytes as a batch, the topic accepts %d", n, f.limit)
		}
	}
	return recs, snapshot(f.t, task), ws
}

// snapshot is the encoded state of every monitor of a task.
func snapshot(t testing.TB, task *Task) []byte {
	var out []byte
	for _, key := range sortedKeys(task.monitors) {
		blob, err := detector.EncodeModelState(task.monitors[key].Checkpoint())
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, blob...)
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	for i := range keys {
		for j := i + 1; j < len(keys); j++ {
			if keys[j] < keys[i] {
				keys[i], keys[j] = keys[j], keys[i]
			}
		}
	}
	return keys
}

// restore restores the fixture's task from a log of state records.
func (f *stateFixture) restore(log []*kgo.Record) *restoredTask {
	l := newStateLog([]TaskID{f.id, {Topic: "events", Partition: 5}}, slog.New(slog.DiscardHandler))
	for i, r := range log {
		l.add(r.Partition, int64(i), r.Key, r.Value)
	}
	return l.result(map[string]*detector.Reference{f.ref.Key(): f.ref}, nil, f.window, detector.SegmentConfig{}, nil)[f.id]
}

// compact keeps the last record of every key, in the order of those
// records; dropTombstones also removes deletions, as the cleaner does
// after delete.retention.ms.
func compact(log []*kgo.Record, dropTombstones bool) []*kgo.Record {
	last := map[string]int{}
	for i, r := range log {
		last[string(r.Key)] = i
	}
	var out []*kgo.Record
	for i, r := range log {
		if last[string(r.Key)] == i && !(dropTombstones && r.Value == nil) {
			out = append(out, r)
		}
	}
	return out
}

// views are the ways a log can be read: as written, and compacted.
func views(log []*kgo.Record) map[string][]*kgo.Record {
	return map[string][]*kgo.Record{"log": log, "compacted": compact(log, false), "compacted-without-tombstones": compact(log, true)}
}

func (f *stateFixture) expect(rt *restoredTask, want []byte, what string) {
	f.t.Helper()
	if rt == nil || len(rt.monitors) == 0 {
		f.t.Fatalf("%s: nothing restored", what)
	}
	p := &Task{monitors: rt.monitors}
	if got := snapshot(f.t, p); !bytes.Equal(got, want) {
		f.t.Fatalf("%s: restored state (%d bytes) differs from the generation it should be (%d bytes)", what, len(got), len(want))
	}
}

// TestStateTornGenerations tears checkpoint generations at every record
// boundary. Generation 1 is complete; generation 2 is torn after k of
// its records: restore must give generation 1 exactly (generation 2 once
// its manifest is there; the tombstones after it delete only segments
// generations 1 and 2 do not need). Then the replica that restored from the
// torn log goes on and writes generation 3, torn after j records: since
// a write never goes to the slot of the newest complete generation,
// restore still gives generation 1 exactly — the case where an older
// layout lost the only complete copy. Each log is read as written and
// compacted (with and without tombstones).
func TestStateTornGenerations(t *testing.T) {
	// Panes of 200 events; one pane of 2000, where a head of open panes
	// spans several records.
	for _, hop := range []int{200, 2000} {
		t.Run(fmt.Sprintf("hop=%d", hop), func(t *testing.T) { testStateTornGenerations(t, hop) })
	}
}

func testStateTornGenerations(t *testing.T, hop int) {
	f := newStateFixture(t, 5000)
	f.window.Hop = hop
	p, task := f.processor(nil)
	f.feed(p, task, 0, 2500)
	gen1, snap1, ws := f.write(task, 1)
	stateWritten(ws)
	f.feed(p, task, 2500, 3500)
	gen2, snap2, _ := f.write(task, 2)
	if bytes.Equal(snap1, snap2) {
		t.Fatal("generations 1 and 2 hold the same state")
	}
	chunks, multi := 0, 0
	for _, r := range gen2 {
		if bytes.HasPrefix(r.Value, []byte(segmentMagic)) {
			chunks++
			if c, err := decodeStateRecord(r.Value); err == nil && c.chunks > 1 {
				multi++
			}
		}
	}
	if hop == 2000 && multi == 0 {
		t.Fatal("no segment of generation 2 spans several records")
	}
	if chunks < 3 {
		t.Fatalf("generation 2 has %d chunks; the test wants a generation of many records", chunks)
	}
	t.Logf("generation 1: %d records, generation 2: %d records (%d segment chunks, %d of segments in several)", len(gen1), len(gen2), chunks, multi)
	restores := 0
	for k := 0; k <= len(gen2); k++ {
		log := append(append([]*kgo.Record{}, gen1...), gen2[:k]...)
		want, wantGen := snap1, "generation 1"
		if k > manifestIndex(t, gen2) {
			want, wantGen = snap2, "generation 2"
		}
		for name, v := range views(log) {
			f.expect(f.restore(v), want, fmt.Sprintf("%s torn after %d of %d records (%s)", name, k, len(gen2), wantGen))
			restores++
		}
		if k > manifestIndex(t, gen2) {
			continue
		}
		// The replica that restored goes on from generation 1.
		rt := f.restore(log)
		p3, task3 := f.processor(rt)
		f.feed(p3, task3, 2500, 4000)
		gen3, snap3, _ := f.write(task3, 3)
		if bytes.Equal(snap3, snap1) {
			t.Fatal("generation 3 holds generation 1's state")
		}
		for j := 0; j <= len(gen3); j++ {
			log3 := append(append([]*kgo.Record{}, log...), gen3[:j]...)
			want, wantGen := snap1, "generation 1"
			if j > manifestIndex(t, gen3) {
				want, wantGen = snap3, "generation 3"
			}
			for name, v := range views(log3) {
				f.expect(f.restore(v), want, fmt.Sprintf("%s: generation 2 torn after %d, generation 3 after %d of %d records (%s)", name, k, j, len(gen3), wantGen))
				restores++
			}
		}
	}
	t.Logf("%d restores checked", restores)
}

// manifestIndex is the position of the one manifest of a generation of
// one model.
func manifestIndex(t *testing.T, gen []*kgo.Record) int {
	t.Helper()
	at := -1
	for i, r := range gen {
		if bytes.HasPrefix(r.Value, []byte(manifestMagicV3)) {
			if at >= 0 {
				t.Fatal("two manifests in a generation of one model")
			}
			at = i
		}
	}
	if at < 0 {
		t.Fatal("generation without a manifest")
	}
	return at
}

// TestStateShrinkingGeneration: when a model's state shrinks (a new
// monitor after a reference reload, its windows nearly empty), the
// segments neither the new generation nor the previous one needs are
// deleted: after compaction the topic holds the segments of those two
// generations and nothing else, and restore is exact before and after
// compaction. A fourth generation then drops the third's predecessor.
func TestStateShrinkingGeneration(t *testing.T) {
	f := newStateFixture(t, 4000)
	p, task := f.processor(nil)
	var log []*kgo.Record
	refsOf := func(ws []stateWrite) map[[32]byte]bool {
		out := map[[32]byte]bool{}
		for _, w := range ws {
			for _, s := range w.refs {
				out[s] = true
			}
		}
		return out
	}
	f.feed(p, task, 0, 2000) // full window: many segments
	recs, _, ws := f.write(task, 1)
	stateWritten(ws)
	log = append(log, recs...)
	f.feed(p, task, 2000, 2100)
	recs, _, ws = f.write(task, 2)
	stateWritten(ws)
	refs2 := refsOf(ws)
	log = append(log, recs...)
	for key := range task.monitors {
		m, err := detector.NewMonitor(f.ref, nil, f.window)
		if err != nil {
			t.Fatal(err)
		}
		task.monitors[key] = m
	}
	f.feed(p, task, 2100, 2300)
	recs, snap3, ws := f.write(task, 3)
	stateWritten(ws)
	refs3 := refsOf(ws)
	log = append(log, recs...)
	f.feed(p, task, 2300, 2500)
	recs, snap4, ws := f.write(task, 4)
	stateWritten(ws)
	refs4 := refsOf(ws)
	for i, c := range []struct {
		log  []*kgo.Record
		snap []byte
		keep []map[[32]byte]bool
	}{{log, snap3, []map[[32]byte]bool{refs2, refs3}}, {append(log, recs...), snap4, []map[[32]byte]bool{refs3, refs4}}} {
		for name, v := range views(c.log) {
			f.expect(f.restore(v), c.snap, fmt.Sprintf("generation %d, %s", i+3, name))
		}
		segments := 0
		for _, r := range compact(c.log, true) {
			if !bytes.HasPrefix(r.Value, []byte(segmentMagic)) {
				continue
			}
			segments++
			sr, err := decodeStateRecord(r.Value)
			if err != nil {
				t.Fatal(err)
			}
			if !c.keep[0][sr.sum] && !c.keep[1][sr.sum] {
				t.Errorf("generation %d: segment %x left after compaction, needed by neither of the last two generations", i+3, sr.sum[:8])
			}
		}
		t.Logf("generation %d: %d segment records after compaction", i+3, segments)
	}
}

// TestStateLegacyUpgrade: state written as driftd.state/v1 JSON records
// by earlier releases restores, and the first v2 checkpoint deletes them.
func TestStateLegacyUpgrade(t *testing.T) {
	f := newStateFixture(t, 3000)
	p, task := f.processor(nil)
	f.feed(p, task, 0, 2500)
	want := snapshot(t, task)
	var log []*kgo.Record
	for _, m := range task.monitors {
		cps := m.Checkpoint()
		for i := range cps {
			cp := &cps[i]
			cp.Topic, cp.Partition, cp.Offset, cp.Gen, cp.Features = f.id.Topic, f.id.Partition, task.Next, 7, len(cps)
			v, err := detector.EncodeLegacyCheckpoint(cp)
			if err != nil {
				t.Fatal(err)
			}
			key := cp.Key() + "/" + f.id.Topic + "/2/1"
			log = append(log, &kgo.Record{Key: []byte(key), Value: v})
		}
	}
	rt := f.restore(log)
	f.expect(rt, want, "v1 records")
	if rt.gen != 7 {
		t.Errorf("generation %d restored, want 7", rt.gen)
	}
	p2, task2 := f.processor(rt)
	f.feed(p2, task2, 2500, 2600)
	recs, snap, _ := f.write(task2, 8)
	deleted := 0
	for _, r := range recs {
		for _, old := range log {
			if bytes.Equal(r.Key, old.Key) && r.Value == nil {
				deleted++
			}
		}
	}
	if deleted != len(log) {
		t.Errorf("first v2 checkpoint deleted %d of %d v1 records", deleted, len(log))
	}
	log = append(log, recs...)
	for name, v := range views(log) {
		f.expect(f.restore(v), snap, name+" after the first v2 checkpoint")
	}
}

// TestStateRecordRejectsGarbage: truncated or altered state records are
// skipped, never restored.
func TestStateRecordRejectsGarbage(t *testing.T) {
	f := newStateFixture(t, 2500)
	p, task := f.processor(nil)
	f.feed(p, task, 0, 2500)
	recs, _, _ := f.write(task, 1)
	for _, r := range recs {
		for n := range len(r.Value) {
			if _, err := decodeStateRecord(r.Value[:n]); err == nil && bytes.HasPrefix(r.Value, []byte(manifestMagicV3)) {
				t.Fatalf("manifest prefix of %d bytes decoded", n)
			}
		}
	}
	// A flipped byte in any chunk's data makes the generation
	// incomplete (hash mismatch): nothing restored rather than a wrong
	// window.
	for i, r := range recs {
		if !bytes.HasPrefix(r.Value, []byte(segmentMagic)) {
			continue
		}
		bad := append([]*kgo.Record{}, recs...)
		v := append([]byte{}, r.Value...)
		v[len(v)-1] ^= 1
		bad[i] = &kgo.Record{Key: r.Key, Value: v}
		if rt := f.restore(bad); len(rt.monitors) != 0 {
			t.Fatalf("a corrupt chunk %d restored", i)
		}
	}
}

// FuzzDecodeStateRecord: the record decoder (v2 chunks and manifests,
// v3 segment chunks and manifests) never panics, and the state log takes
// any record, alone and among the records of a real generation, whose
// keys it may replace.
func FuzzDecodeStateRecord(f *testing.F) {
	h := stateHead{task: TaskID{Topic: "events", Partition: 3}, model: "churn", version: "3", slot: 1, gen: 9}
	head := h.append(nil)
	f.Add(append(append([]byte(chunkMagic), head...), 0, 1, 2, 3))
	f.Add(append(append(append([]byte(manifestMagic), head...), 1, 4), make([]byte, 32)...))
	f.Add([]byte(`{"schema":"driftd.state/v1"}`))
	// A real v3 generation of a small window.
	ref := churnReference(f)
	window := detector.WindowConfig{Size: 40, Hop: 10}
	registry := NewRegistry()
	registry.Set(ref)
	p, err := NewProcessor(ProcessorConfig{Format: codec.Canonical, Window: window}, registry)
	if err != nil {
		f.Fatal(err)
	}
	task := p.Task(h.task)
	rng := rand.New(rand.NewPCG(3, 3))
	for i := range 125 {
		p.Process(task, churnEvent(rng, 0).json(i), 1_764_100_800_000+int64(i), int64(i))
		p.Out.Reset()
	}
	gen, _, _, err := checkpointRecords("state", task, 9, false, stateRecordOverhead+minChunkPayload+200, nil)
	if err != nil {
		f.Fatal(err)
	}
	for _, r := range gen {
		f.Add(r.Value)
	}
	refs := map[string]*detector.Reference{ref.Key(): ref}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := decodeStateRecord(data)
		if err == nil && (r.head.slot > 1 || r.head.model == "") {
			t.Fatalf("accepted %+v", r.head)
		}
		if err == nil && r.kind == segmentChunk && (r.index >= r.chunks || len(r.data) > r.total) {
			t.Fatalf("accepted chunk %d of %d with %d of %d bytes", r.index, r.chunks, len(r.data), r.total)
		}
		l := newStateLog([]TaskID{h.task}, slog.New(slog.DiscardHandler))
		l.add(0, 0, []byte("k"), data)
		l.add(0, 1, []byte("k"), nil)
		l.add(0, 2, []byte("k2"), data)
		l.result(nil, nil, window, detector.SegmentConfig{}, nil)
		// Among a real generation: under the key of one of its records
		// (chosen by the input), before and after it.
		i := len(data) % len(gen)
		l = newStateLog([]TaskID{h.task}, slog.New(slog.DiscardHandler))
		l.add(0, 0, gen[i].Key, data)
		for j, g := range gen {
			l.add(0, int64(j+1), g.Key, g.Value)
		}
		l.add(0, int64(len(gen)+1), gen[i].Key, data)
		l.result(refs, nil, window, detector.SegmentConfig{}, nil)
	})
}
