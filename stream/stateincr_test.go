package stream

import (
	"bytes"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// checkpointSize is what a checkpoint of a task writes: record keys and
// values, and of those the bytes of the head segments.
func checkpointSize(t *testing.T, recs []*kgo.Record) (total, head int) {
	t.Helper()
	heads := map[[32]byte]bool{}
	for _, r := range recs {
		if bytes.HasPrefix(r.Value, []byte(manifestMagicV3)) {
			m, err := decodeStateRecord(r.Value)
			if err != nil {
				t.Fatal(err)
			}
			heads[m.sum] = true
		}
	}
	for _, r := range recs {
		total += len(r.Key) + len(r.Value)
		if bytes.HasPrefix(r.Value, []byte(segmentMagic)) {
			c, err := decodeStateRecord(r.Value)
			if err != nil {
				t.Fatal(err)
			}
			if heads[c.sum] {
				head += len(c.data)
			}
		}
	}
	return total, head
}

// closedPanes is the number of panes the task's monitors have closed,
// over all features.
func closedPanes(task *Task) uint64 {
	var n uint64
	for _, m := range task.monitors {
		for _, cp := range m.Checkpoint() {
			n += cp.Group.Closed
		}
	}
	return n
}

// TestStateCheckpointProportionalToChange: once a model's windows are
// checkpointed, the next checkpoint writes the panes closed since, the
// head (open panes, alarm states, counters and the sums of the closed
// panes held) and the manifest: at most twice the bytes of the newly
// closed panes and the head, and far less than the state written whole
// (which an earlier format rewrote every interval). A pane of a count
// window holds 2 bytes per event plus 24 bytes of moments.
func TestStateCheckpointProportionalToChange(t *testing.T) {
	f := newStateFixture(t, 6000)
	f.limit = 1 << 20
	p, task := f.processor(nil)
	f.feed(p, task, 0, 2500) // full windows
	recs, _, ws := f.write(task, 1)
	stateWritten(ws)
	log := recs
	first, _ := checkpointSize(t, recs)
	whole := len(snapshot(t, task))
	paneBytes := 2*f.window.Hop + 24
	from, gen := 2500, uint64(2)
	for _, events := range []int{1, 30, 170, 230, 900} {
		before := closedPanes(task)
		f.feed(p, task, from, from+events)
		from += events
		recs, snap, ws := f.write(task, gen)
		stateWritten(ws)
		log = append(log, recs...)
		for name, v := range views(log) {
			f.expect(f.restore(v), snap, name)
		}
		gen++
		total, head := checkpointSize(t, recs)
		newPanes := int(closedPanes(task) - before)
		bound := 2 * (newPanes*paneBytes + head)
		t.Logf("%d events: %d panes closed, head %d bytes, checkpoint %d bytes (bound %d; the first checkpoint %d, the state whole %d)",
			events, newPanes, head, total, bound, first, whole)
		if total > bound {
			t.Errorf("%d events: checkpoint of %d bytes, more than 2 × (%d new panes × %d + head %d) = %d", events, total, newPanes, paneBytes, head, bound)
		}
		if events < f.window.Hop && total > whole/3 {
			t.Errorf("%d events: checkpoint of %d bytes; the whole state is %d", events, total, whole)
		}
	}
}
