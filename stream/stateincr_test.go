package stream

import (
	"bytes"
	"runtime"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/driftd/driftd/detector"
	"github.com/driftd/driftd/stream/codec"
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
// (which an earlier format rewrote every interval). A replica restored
// from the log does the same from its first checkpoint.
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
	// A closed pane as a segment: one byte per event (the layout has
	// fewer than 256 cells), 24 bytes of moments, framing.
	paneBytes := f.window.Hop + 64
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
	// A replica that restores from the log goes on writing only what
	// changed: it knows the stored segments and panes from the log.
	rt := f.restore(log)
	p2, task2 := f.processor(rt)
	before := closedPanes(task2)
	f.feed(p2, task2, from, from+30)
	recs, snap, ws := f.write(task2, gen)
	stateWritten(ws)
	total, head := checkpointSize(t, recs)
	bound := 2 * (int(closedPanes(task2)-before)*paneBytes + head)
	t.Logf("after a restore, 30 events: checkpoint %d bytes (bound %d)", total, bound)
	if total > bound {
		t.Errorf("first checkpoint after a restore: %d bytes, more than %d", total, bound)
	}
	log = append(log, recs...)
	for name, v := range views(log) {
		f.expect(f.restore(v), snap, "after a restore, "+name)
	}
}

// BenchmarkCheckpoint measures one checkpoint of a model of 26 features
// with full count windows (N = 10,000, panes of 1,250) after 1,350 more
// events, the steady state of the scale scenario: "v3" encodes the
// segments the topic lacks (checkpointRecords), "v2-whole" the state
// whole as the previous format did. Feeding (and collecting its
// garbage) is not timed.
func BenchmarkCheckpoint(b *testing.B) {
	const features, size, step = 25, 10000, 1350
	ref := wideReference(b, features)
	window := detector.WindowConfig{Size: size, Hop: size / 8}
	values := wideEvents(size+step*64, features)
	for _, mode := range []string{"v3", "v2-whole"} {
		b.Run(mode, func(b *testing.B) {
			registry := NewRegistry()
			registry.Set(ref)
			p, err := NewProcessor(ProcessorConfig{Format: codec.Canonical, Window: window}, registry)
			if err != nil {
				b.Fatal(err)
			}
			task := p.Task(TaskID{Topic: "events", Partition: 0})
			next := 0
			feed := func(n int) {
				for range n {
					p.Process(task, values[next%len(values)], 1_764_100_800_000+int64(next), int64(next))
					p.Out.Reset()
					next++
				}
			}
			feed(size + size/16)
			recs, _, ws, err := checkpointRecords("state", task, 1, false, DefaultStateMaxMessageBytes, nil)
			if err != nil {
				b.Fatal(err)
			}
			stateWritten(ws)
			_ = recs
			b.ReportAllocs()
			bytes := 0
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				feed(step)
				runtime.GC() // the feed's garbage is not the checkpoint's
				b.StartTimer()
				if mode == "v3" {
					_, n, ws, err := checkpointRecords("state", task, uint64(i+2), false, DefaultStateMaxMessageBytes, nil)
					if err != nil {
						b.Fatal(err)
					}
					stateWritten(ws)
					bytes += n
				} else {
					for _, r := range v2Records(b, task, uint64(i+2), i%2, DefaultStateMaxMessageBytes) {
						bytes += len(r.Key) + len(r.Value)
					}
				}
			}
			b.ReportMetric(float64(bytes)/float64(b.N), "bytes/checkpoint")
		})
	}
}
