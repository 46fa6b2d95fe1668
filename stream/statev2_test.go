package stream

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strconv"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/driftd/driftd/detector"
)

// v2Records writes the task's state as the previous release did
// (driftd.state/v2: one blob per model, chunks and a manifest in a slot),
// for upgrade tests.
func v2Records(t testing.TB, task *Task, gen uint64, slot int, limit int) []*kgo.Record {
	var recs []*kgo.Record
	for _, key := range sortedKeys(task.monitors) {
		cps := task.monitors[key].Checkpoint()
		for i := range cps {
			cp := &cps[i]
			cp.Topic, cp.Partition, cp.Offset, cp.Gen = task.ID.Topic, task.ID.Partition, task.Next, gen
		}
		blob, err := detector.EncodeModelState(cps)
		if err != nil {
			t.Fatal(err)
		}
		h := stateHead{task: task.ID, model: cps[0].Model, version: cps[0].Version, slot: slot, gen: gen}
		payload := limit - stateRecordOverhead - 200
		prefix, head := h.keyPrefix(), h.append(nil)
		n := 0
		for off := 0; off < len(blob) || n == 0; off += payload {
			v := append(append([]byte(chunkMagic), head...), binary.AppendUvarint(nil, uint64(n))...)
			v = append(v, blob[off:min(off+payload, len(blob))]...)
			recs = append(recs, &kgo.Record{Key: []byte(prefix + "c" + strconv.Itoa(n)), Value: v})
			n++
		}
		sum := sha256.Sum256(blob)
		v := append([]byte(manifestMagic), head...)
		v = binary.AppendUvarint(v, uint64(n))
		v = binary.AppendUvarint(v, uint64(len(blob)))
		recs = append(recs, &kgo.Record{Key: []byte(prefix + "m"), Value: append(v, sum[:]...)})
	}
	return recs
}

// TestStateV2Upgrade: state written as driftd.state/v2 by the previous
// release (two generations, one per slot) restores exactly; the first v3
// checkpoint, torn at every record boundary, restores either the newest
// v2 generation or itself; once complete, it has deleted every v2 record.
func TestStateV2Upgrade(t *testing.T) {
	f := newStateFixture(t, 3000)
	p, task := f.processor(nil)
	f.feed(p, task, 0, 2000)
	log := v2Records(t, task, 6, 0, f.limit)
	f.feed(p, task, 2000, 2500)
	log = append(log, v2Records(t, task, 7, 1, f.limit)...)
	want := snapshot(t, task)
	v2keys := map[string]bool{}
	for _, r := range log {
		v2keys[string(r.Key)] = true
	}
	rt := f.restore(log)
	f.expect(rt, want, "v2 records")
	if rt.gen != 7 {
		t.Errorf("generation %d restored, want 7", rt.gen)
	}
	p2, task2 := f.processor(rt)
	f.feed(p2, task2, 2500, 2600)
	recs, snap, _ := f.write(task2, 8)
	deleted := map[string]bool{}
	for _, r := range recs {
		if r.Value == nil && v2keys[string(r.Key)] {
			deleted[string(r.Key)] = true
		}
	}
	if len(deleted) != len(v2keys) {
		t.Errorf("first v3 checkpoint deleted %d of %d v2 records", len(deleted), len(v2keys))
	}
	for k := 0; k <= len(recs); k++ {
		torn := append(append([]*kgo.Record{}, log...), recs[:k]...)
		want, what := want, "v2 generation 7"
		if k > manifestIndex(t, recs) {
			want, what = snap, "v3 generation 8"
		}
		for name, v := range views(torn) {
			f.expect(f.restore(v), want, fmt.Sprintf("%s, first v3 checkpoint torn after %d of %d records (%s)", name, k, len(recs), what))
		}
	}
	left := 0
	for _, r := range compact(append(log, recs...), true) {
		if bytes.HasPrefix(r.Key, []byte("v2/")) {
			left++
		}
	}
	if left != 0 {
		t.Errorf("%d v2 records left after compaction", left)
	}
}
