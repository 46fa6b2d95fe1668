package perf

import (
	"cmp"
	"crypto/sha256"
	"fmt"
	"maps"
	"slices"

	"github.com/driftd/driftd/detector"
)

// The pending predictions of a Joiner in a checkpoint. Predictions are
// numbered in arrival order; each full block of joinBlockSize numbers is
// written once as a segment (the predictions of the block still waiting
// when it was first written) and then referenced by its SHA-256 with a
// bitmap of which of its predictions still wait, so a checkpoint writes
// the new arrivals and a bit per older waiting prediction, not every
// waiting prediction again. Predictions of the block still filling are
// in the head. A block whose segment is no longer stored is written
// again from its waiting predictions.
//
//	head part  "DPJ1", watermark, last number,
//	           blocks: count, each block number, segment index, bitmap
//	           open: count, each number − first open number + 1, key,
//	           score, time
//	           held labels: count, each key, label, time (arrival order)
//	segment    "DPB1", block number, count, each number offset in the
//	           block, key, score, time

const (
	joinHeadMagic    = "DPJ1"
	joinSegmentMagic = "DPB1"
)

// joinBlockSize is the arrivals per block (at most 65,536: offsets are
// 16-bit). A variable so that the fuzz target can use small blocks.
var joinBlockSize uint64 = 4096

// joinBlock is a full block written as a segment: its sum and the
// number offsets of the predictions it holds, ascending.
type joinBlock struct {
	sum detector.SegmentSum
	ids []uint16
}

type liveEntry struct {
	key string
	pd  pending
}

// aliveBlock marks which predictions of a block wait: bit i of the
// block's number offset i. A checkpoint reads the bits, not the pending
// map, so its cost follows the blocks and the new arrivals.
type aliveBlock struct {
	bits []uint64
	n    int
}

func (j *Joiner) setAlive(id uint64) {
	bn, off := (id-1)/joinBlockSize, (id-1)%joinBlockSize
	if j.alive == nil {
		j.alive = map[uint64]*aliveBlock{}
	}
	a := j.alive[bn]
	if a == nil {
		a = &aliveBlock{bits: make([]uint64, (joinBlockSize+63)/64)}
		j.alive[bn] = a
	}
	a.bits[off/64] |= 1 << (off % 64)
	a.n++
}

func (j *Joiner) clearAlive(id uint64) {
	bn, off := (id-1)/joinBlockSize, (id-1)%joinBlockSize
	a := j.alive[bn]
	if a == nil || a.bits[off/64]&(1<<(off%64)) == 0 {
		return
	}
	a.bits[off/64] &^= 1 << (off % 64)
	if a.n--; a.n == 0 {
		delete(j.alive, bn)
	}
}

func (a *aliveBlock) has(off uint64) bool { return a.bits[off/64]&(1<<(off%64)) != 0 }

// waiting returns the predictions waiting whose numbers are in [from,
// to], in arrival order (the queue is in number order).
func (j *Joiner) waiting(from, to uint64) []liveEntry {
	q := j.queue[j.head:]
	i, _ := slices.BinarySearchFunc(q, from, func(x queued, id uint64) int { return cmp.Compare(x.id, id) })
	var out []liveEntry
	for ; i < len(q) && q[i].id <= to; i++ {
		if pd, ok := j.pending[q[i].key]; ok && pd.id == q[i].id {
			out = append(out, liveEntry{key: q[i].key, pd: pd})
		}
	}
	return out
}

// segmentList collects the segments a head names.
type segmentList struct {
	segs   []detector.StateSegment
	stored func(detector.SegmentSum) bool
}

func (l *segmentList) add(sum detector.SegmentSum, data []byte) int {
	l.segs = append(l.segs, detector.StateSegment{Sum: sum, Data: data})
	return len(l.segs) - 1
}

// appendState appends the head part of the pending predictions and adds
// the blocks' segments to segs (without their bytes when stored).
func (j *Joiner) appendState(e *stateEnc, segs *segmentList) {
	sealed := j.nextID / joinBlockSize * joinBlockSize
	e.b = append(e.b, joinHeadMagic...)
	e.svar(j.watermark)
	e.uvar(j.nextID)
	keep := map[uint64]*joinBlock{}
	var blockBuf []byte
	nblocks := 0
	be := &stateEnc{}
	for _, bn := range slices.Sorted(maps.Keys(j.alive)) {
		if bn >= sealed/joinBlockSize {
			break // the block still filling: in the head
		}
		a := j.alive[bn]
		blk := j.blocks[bn]
		var bits []byte
		var idx int
		if blk != nil && segs.stored(blk.sum) {
			bits = blk.bitmap(a)
			idx = segs.add(blk.sum, nil)
		} else {
			run := j.waiting(bn*joinBlockSize+1, (bn+1)*joinBlockSize)
			blockBuf = encodeJoinBlock(blockBuf[:0], bn, run)
			blk = &joinBlock{sum: sha256.Sum256(blockBuf), ids: make([]uint16, len(run))}
			for i, x := range run {
				blk.ids[i] = uint16(x.pd.id - 1 - bn*joinBlockSize)
			}
			idx = segs.add(blk.sum, slices.Clone(blockBuf))
			bits = make([]byte, (len(run)+7)/8)
			for i := range run {
				bits[i/8] |= 1 << (i % 8)
			}
		}
		keep[bn] = blk
		be.uvar(bn)
		be.uvar(uint64(idx))
		be.bytes(bits)
		nblocks++
	}
	e.uvar(uint64(nblocks))
	e.b = append(e.b, be.b...)
	j.blocks = keep
	open := j.waiting(sealed+1, j.nextID)
	e.uvar(uint64(len(open)))
	for _, x := range open {
		e.uvar(x.pd.id - sealed)
		e.str(x.key)
		e.f64(x.pd.score)
		e.svar(x.pd.timeMS)
	}
	held := make([]liveEntry, 0, len(j.held))
	for _, q := range j.heldQueue[j.heldHead:] {
		if l, ok := j.held[q.key]; ok && l.id == q.id {
			held = append(held, liveEntry{key: q.key, pd: l})
		}
	}
	e.uvar(uint64(len(held)))
	for _, x := range held {
		e.str(x.key)
		e.f64(x.pd.score)
		e.svar(x.pd.timeMS)
	}
}

// bitmap returns the bitmap of the block's stored predictions still
// waiting: bit i for the prediction at offset ids[i]. (A block is
// written once full, so every prediction of it still waiting is among
// those it stored.)
func (blk *joinBlock) bitmap(a *aliveBlock) []byte {
	bits := make([]byte, (len(blk.ids)+7)/8)
	for i, off := range blk.ids {
		if a.has(uint64(off)) {
			bits[i/8] |= 1 << (i % 8)
		}
	}
	return bits
}

func encodeJoinBlock(b []byte, bn uint64, run []liveEntry) []byte {
	e := &stateEnc{b: append(b, joinSegmentMagic...)}
	e.uvar(bn)
	e.uvar(uint64(len(run)))
	for _, x := range run {
		e.uvar(x.pd.id - 1 - bn*joinBlockSize)
		e.str(x.key)
		e.f64(x.pd.score)
		e.svar(x.pd.timeMS)
	}
	return e.b
}

// restoreState reads what appendState wrote into an empty joiner;
// segment returns the bytes of the head's i-th segment.
func (j *Joiner) restoreState(d *stateDec, segment func(i int) []byte) {
	d.magic(joinHeadMagic)
	j.watermark = d.svar()
	j.nextID = d.uvar()
	sealed := j.nextID / joinBlockSize * joinBlockSize
	nb := d.count(3, maxStateItems)
	j.blocks = map[uint64]*joinBlock{}
	for range nb {
		bn, idx, bits := d.uvar(), d.uvar(), d.raw()
		if d.err != nil {
			return
		}
		if bn >= sealed/joinBlockSize || j.blocks[bn] != nil {
			d.fail("block %d out of order", bn)
			return
		}
		data := segment(int(min(idx, maxStateItems)))
		if data == nil {
			d.fail("block %d: segment %d missing", bn, idx)
			return
		}
		blk, entries, err := decodeJoinBlock(data, bn)
		if err != nil {
			d.fail("block %d: %v", bn, err)
			return
		}
		if len(bits) != (len(blk.ids)+7)/8 {
			d.fail("block %d: bitmap of %d bytes for %d predictions", bn, len(bits), len(blk.ids))
			return
		}
		j.blocks[bn] = blk
		for i, x := range entries {
			if bits[i/8]&(1<<(i%8)) != 0 {
				j.restorePending(d, x)
			}
		}
	}
	no := d.count(11, maxStateItems)
	for range no {
		off := d.uvar()
		x := liveEntry{key: d.str(), pd: pending{score: d.f64(), timeMS: d.svar()}}
		if d.err == nil && (off == 0 || off > j.nextID-sealed) {
			d.fail("open prediction %d out of range", off)
		}
		x.pd.id = sealed + off
		j.restorePending(d, x)
	}
	nh := d.count(10, maxStateItems)
	for range nh {
		key, l := d.str(), pending{score: d.f64(), timeMS: d.svar()}
		if _, dup := j.held[key]; d.err == nil && dup {
			d.fail("label %q restored twice", key)
		}
		if d.err != nil {
			return
		}
		j.holdLabel(key, l)
	}
}

// restorePending adds a restored prediction; numbers must ascend.
func (j *Joiner) restorePending(d *stateDec, x liveEntry) {
	if d.err != nil {
		return
	}
	if n := len(j.queue); n > 0 && j.queue[n-1].id >= x.pd.id {
		d.fail("prediction %d out of order", x.pd.id)
		return
	}
	if _, dup := j.pending[x.key]; dup {
		d.fail("request %q restored twice", x.key)
		return
	}
	j.pending[x.key] = x.pd
	j.setAlive(x.pd.id)
	j.queue = append(j.queue, queued{key: x.key, timeMS: x.pd.timeMS, id: x.pd.id})
}

func decodeJoinBlock(data []byte, bn uint64) (*joinBlock, []liveEntry, error) {
	d := &stateDec{b: data}
	d.magic(joinSegmentMagic)
	if got := d.uvar(); d.err == nil && got != bn {
		return nil, nil, fmt.Errorf("segment of block %d", got)
	}
	n := d.count(11, int(joinBlockSize))
	blk := &joinBlock{sum: sha256.Sum256(data), ids: make([]uint16, n)}
	entries := make([]liveEntry, n)
	for i := range entries {
		off := d.uvar()
		entries[i] = liveEntry{key: d.str(), pd: pending{score: d.f64(), timeMS: d.svar(), id: bn*joinBlockSize + 1 + off}}
		if d.err == nil && (off >= joinBlockSize || (i > 0 && uint16(off) <= blk.ids[i-1])) {
			d.fail("prediction offset %d out of order", off)
		}
		blk.ids[i] = uint16(off)
	}
	if d.err == nil && len(d.b) > 0 {
		d.fail("%d bytes after the block", len(d.b))
	}
	return blk, entries, d.err
}

// PartitionState is the performance state of one input partition: the
// predictions of its records waiting for labels, the performance
// monitors and estimators fed by them, by model/version key, and the
// offset of its next record (records before it are already in the
// state).
type PartitionState struct {
	Next       int64
	Joiner     *Joiner
	Monitors   map[string]*Monitor
	Estimators map[string]*Estimator
}

// partitionStateMagic starts a partition state's body, after the
// segmented-state header (detector.SegmentedStateMagic, the segments'
// sums) that lets the state store find its segments.
const partitionStateMagic = "DPP1"

// Encode returns the partition state as a head and segments for the
// state store (stream.TaskStateHook). stored reports whether a segment
// is already stored: such segments come without their bytes.
func (s *PartitionState) Encode(stored func(detector.SegmentSum) bool) *detector.SegmentedState {
	segs := &segmentList{stored: stored}
	body := &stateEnc{b: append([]byte(nil), partitionStateMagic...)}
	body.svar(s.Next)
	s.Joiner.appendState(body, segs)
	var buf []byte
	for _, k := range slices.Sorted(maps.Keys(s.Monitors)) {
		if m := s.Monitors[k]; m != nil {
			body.str(k)
			buf = m.AppendState(buf[:0])
			body.bytes(buf)
		}
	}
	body.str("")
	for _, k := range slices.Sorted(maps.Keys(s.Estimators)) {
		if x := s.Estimators[k]; x != nil {
			body.str(k)
			buf = x.AppendState(buf[:0])
			body.bytes(buf)
		}
	}
	body.str("")
	head := &stateEnc{b: append([]byte(nil), detector.SegmentedStateMagic...)}
	head.uvar(uint64(len(segs.segs)))
	for _, sg := range segs.segs {
		head.b = append(head.b, sg.Sum[:]...)
	}
	head.b = append(head.b, body.b...)
	return &detector.SegmentedState{Head: head.b, Segments: segs.segs}
}

// RestoreOptions say how to rebuild what a partition state names.
type RestoreOptions struct {
	Join JoinConfig
	// Monitor and Estimator return a new monitor or estimator of a
	// model/version key under the current references, nil when the key
	// has none (its state is dropped).
	Monitor   func(key string) *Monitor
	Estimator func(key string) *Estimator
}

// DecodePartitionState decodes what Encode wrote; segment returns the
// bytes of a segment the head names (checked against its sum), nil when
// missing. State of a monitor or estimator whose reference changed is
// dropped and reported in skipped.
func DecodePartitionState(head []byte, segment func(detector.SegmentSum) []byte, o RestoreOptions) (s *PartitionState, skipped []error, err error) {
	sums, err := detector.HeadSegments(head)
	if err != nil {
		return nil, nil, err
	}
	d := &stateDec{b: head[len(detector.SegmentedStateMagic):]}
	d.count(32, maxStateItems)
	d.b = d.b[len(sums)*32:]
	d.magic(partitionStateMagic)
	j, err := NewJoiner(o.Join)
	if err != nil {
		return nil, nil, err
	}
	s = &PartitionState{Next: d.svar(), Joiner: j, Monitors: map[string]*Monitor{}, Estimators: map[string]*Estimator{}}
	j.restoreState(d, func(i int) []byte {
		if i >= len(sums) {
			return nil
		}
		return segment(sums[i])
	})
	for d.err == nil {
		k := d.str()
		if k == "" || d.err != nil {
			break
		}
		b := d.raw()
		if m := o.Monitor(k); m != nil && d.err == nil {
			if err := m.RestoreState(b); err != nil {
				skipped = append(skipped, fmt.Errorf("%s: %w", k, err))
			} else {
				s.Monitors[k] = m
			}
		}
	}
	for d.err == nil {
		k := d.str()
		if k == "" || d.err != nil {
			break
		}
		b := d.raw()
		if x := o.Estimator(k); x != nil && d.err == nil {
			if err := x.RestoreState(b); err != nil {
				skipped = append(skipped, fmt.Errorf("%s: %w", k, err))
			} else {
				s.Estimators[k] = x
			}
		}
	}
	if d.err == nil && len(d.b) > 0 {
		d.fail("%d bytes after the state", len(d.b))
	}
	if d.err != nil {
		return nil, nil, fmt.Errorf("performance state: %w", d.err)
	}
	return s, skipped, nil
}
