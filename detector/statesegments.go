package detector

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/driftd/driftd/window"
)

// The segmented model state (driftd.state/v3): the state of one model
// version in one input partition as a head and content-addressed
// segments, so that a checkpoint need only write what changed since the
// previous one.
//
//   - A segment holds one closed pane of one feature window: for a count
//     window the pane's moments and the cells of its events (in event
//     order), for an event-time or stage-2 window the pane's cell counts
//     and moments. Closed panes never change, so a pane's segment is
//     written once and referenced by every later generation that still
//     holds the pane. It is named by its SHA-256 (SegmentSum).
//   - The head holds everything else: the sums of the segments it needs,
//     then the model state of driftd.state/v2 (see EncodeModelState) in
//     which every window is replaced by its open part and references to
//     its closed panes (indexes into the head's list of sums):
//
//     "DMS" 0x03, count, count × 32-byte SHA-256
//     the v2 body, windows as
//     count window:  "DWS1" 'c', size, hop, closed, in-pane, evicted,
//     open moments, dropped, panes, pane references,
//     open cells (see below)
//     time window:   "DWS1" 't', pushed, closed-through, have-closed,
//     closed panes, pane references, open panes
//
//     A count window's oldest pane may be partly evicted: its segment,
//     written when the pane closed, holds all its cells, and "dropped"
//     says how many of them have left the window.
//
// Segments:
//
//	"DPS1" 'c', moments, cells                     count-window pane
//	"DPS1" 't', pane (counts and moments)          time-window pane
//
// Cells are a count, a width (1: one byte per event, when every cell is
// below 256, as with up to 253 breakpoints; 2: two bytes) and the cell
// of each event in event order.

// SegmentedStateMagic starts every model state head.
const SegmentedStateMagic = "DMS\x03"

const (
	segmentMagic     = "DPS1"
	blobCountHead    = 'c'
	blobTimeHead     = 't'
	maxHeadSegments  = 1 << 24
	segmentSumLength = sha256.Size
)

// SegmentSum is the SHA-256 of a segment's bytes: its name.
type SegmentSum [segmentSumLength]byte

// StateSegment is one segment of a model state. Data is nil when the
// encoder took its sum from the known panes (PaneSums) instead of
// encoding it again.
type StateSegment struct {
	Sum  SegmentSum
	Data []byte
}

// PaneID names a closed pane of a count window: its feature and its
// number (panes closed before it since the window started).
type PaneID struct {
	Feature string
	Pane    uint64
}

// PaneSum is the segment a closed count-window pane is stored as: its
// sum and how many of the pane's cells it holds (the most recent ones).
type PaneSum struct {
	Sum   SegmentSum
	Cells int
}

// PaneSums are the segments of count-window panes a writer knows are
// stored, so a checkpoint neither encodes nor hashes them again. They
// are only valid for the monitor they were taken from.
type PaneSums map[PaneID]PaneSum

// SegmentedState is a model state as a head and its segments.
type SegmentedState struct {
	Head []byte
	// Segments are the distinct segments the head references, in the
	// order of its list of sums.
	Segments []StateSegment
	// Panes are the count-window panes the head references, to pass
	// as known to the next encoding once this one is stored.
	Panes PaneSums
}

type segmentList struct {
	segs  []StateSegment
	index map[SegmentSum]int
}

func (l *segmentList) add(sum SegmentSum, data []byte) uint32 {
	if i, ok := l.index[sum]; ok {
		if l.segs[i].Data == nil {
			l.segs[i].Data = data
		}
		return uint32(i)
	}
	l.index[sum] = len(l.segs)
	l.segs = append(l.segs, StateSegment{Sum: sum, Data: data})
	return uint32(len(l.segs) - 1)
}

// EncodeModelSegments encodes the checkpoints of all the features of one
// model version (as for EncodeModelState) as a head and segments. Panes
// found in known are referenced by their sum without being encoded.
func EncodeModelSegments(cps []FeatureCheckpoint, known PaneSums) (*SegmentedState, error) {
	return encodeSegments(cps, nil, known)
}

// CheckpointSegments returns what EncodeModelSegments returns for the
// monitor's Checkpoint with Topic, Partition, Offset and Gen set, the
// same bytes, without copying its count windows whole: of those it reads
// only the open panes and the closed panes not in known.
func (m *Monitor) CheckpointSegments(topic string, partition int32, offset int64, gen uint64, known PaneSums) (*SegmentedState, error) {
	cps := m.checkpoint(false)
	if len(cps) == 0 {
		return nil, errors.New("model state without features")
	}
	for i := range cps {
		cp := &cps[i]
		cp.Topic, cp.Partition, cp.Offset, cp.Gen = topic, partition, offset, gen
	}
	windows := make([]*window.CountWindow, len(cps))
	for i, f := range m.features {
		windows[i] = f.cw
	}
	return encodeSegments(cps, windows, known)
}

// encodeSegments encodes a model state; a feature with a count window
// in windows (nil: none) is read from it rather than from its Window
// bytes.
func encodeSegments(cps []FeatureCheckpoint, windows []*window.CountWindow, known PaneSums) (*SegmentedState, error) {
	if len(cps) == 0 {
		return nil, errors.New("model state without features")
	}
	list := &segmentList{index: map[SegmentSum]int{}}
	out := &SegmentedState{Panes: PaneSums{}}
	heads := make([]FeatureCheckpoint, len(cps))
	for i := range cps {
		f := cps[i]
		if windows != nil && windows[i] != nil {
			cw := windows[i]
			var err error
			if f.Window, err = segmentCount(f.Feature, cw.Header(), cw.N(), cw.AppendCells, known, list, out.Panes); err != nil {
				return nil, fmt.Errorf("feature %q: %w", f.Feature, err)
			}
			heads[i] = f
			continue
		}
		b := f.Window
		if len(b) < 5 {
			return nil, fmt.Errorf("feature %q lacks window state", f.Feature)
		}
		var err error
		switch b[4] {
		case blobCount:
			var s window.CountState
			if s, err = decodeCountState(b); err == nil {
				cells := s.Cells
				f.Window, err = segmentCount(f.Feature, s, len(cells), func(dst []uint16, from, n int) []uint16 {
					return append(dst, cells[from:from+n]...)
				}, known, list, out.Panes)
			}
		case blobTime:
			var s window.TimeState
			if s, err = decodeTimeState(b); err == nil {
				f.Window = segmentTime(s, list)
			}
		default:
			err = fmt.Errorf("window state of unknown kind %q", b[4])
		}
		if err != nil {
			return nil, fmt.Errorf("feature %q: %w", f.Feature, err)
		}
		heads[i] = f
	}
	w := &stateWriter{b: make([]byte, 0, 256+segmentSumLength*len(list.segs))}
	w.b = append(w.b, SegmentedStateMagic...)
	w.uvar(uint64(len(list.segs)))
	for _, s := range list.segs {
		w.b = append(w.b, s.Sum[:]...)
	}
	if err := w.modelBody(heads); err != nil {
		return nil, err
	}
	out.Head, out.Segments = w.b, list.segs
	return out, nil
}

// segmentCount writes a count window's head blob and adds its closed
// panes to list. s is the window's state; its held events are taken
// with cells (see window.CountWindow.AppendCells).
func segmentCount(feature string, s window.CountState, held int, cells func(dst []uint16, from, n int) []uint16,
	known PaneSums, list *segmentList, panes PaneSums) ([]byte, error) {
	open := s.InPane
	if open < 0 || open > held || s.Hop <= 0 {
		return nil, errors.New("count window state is inconsistent")
	}
	closedCells := held - open
	first := closedCells - (len(s.Panes)-1)*s.Hop // cells of the oldest pane still held
	if len(s.Panes) == 0 {
		first = 0
	}
	if len(s.Panes) == 0 && closedCells != 0 || first < 0 || first > s.Hop {
		return nil, errors.New("count window state is inconsistent")
	}
	w := &blobWriter{b: make([]byte, 0, 64+4*len(s.Panes)+2*open)}
	w.b = append(w.b, blobMagic...)
	w.u8(blobCountHead)
	w.u32(uint32(s.Size))
	w.u32(uint32(s.Hop))
	w.u64(s.Closed)
	w.u32(uint32(s.InPane))
	w.u64(s.Evicted)
	w.moments(s.Open)
	refs := make([]uint32, len(s.Panes))
	dropped := 0
	at := 0
	var buf []uint16
	for i, m := range s.Panes {
		n := s.Hop
		if i == 0 {
			n = first
		}
		id := PaneID{Feature: feature, Pane: s.Closed - uint64(len(s.Panes)) + uint64(i)}
		from := at
		at += n
		if k, ok := known[id]; ok && (k.Cells == n || i == 0 && k.Cells > n) {
			if i == 0 {
				dropped = k.Cells - n
			}
			refs[i] = list.add(k.Sum, nil)
			panes[id] = k
			continue
		}
		buf = cells(buf[:0], from, n)
		seg := encodeCountPane(m, buf)
		sum := SegmentSum(sha256.Sum256(seg))
		refs[i] = list.add(sum, seg)
		panes[id] = PaneSum{Sum: sum, Cells: n}
	}
	w.u32(uint32(dropped))
	w.u32(uint32(len(refs)))
	for _, r := range refs {
		w.u32(r)
	}
	w.cells(cells(buf[:0], held-open, open))
	return w.b, nil
}

func encodeCountPane(m window.Moments, cells []uint16) []byte {
	w := &blobWriter{b: make([]byte, 0, 5+24+5+2*len(cells))}
	w.b = append(w.b, segmentMagic...)
	w.u8(blobCountHead)
	w.moments(m)
	w.cells(cells)
	return w.b
}

// cells writes event cells: their count, then one byte each when every
// cell is below 256 (layouts of up to 253 value cells), else two.
func (w *blobWriter) cells(cells []uint16) {
	narrow := !slices.ContainsFunc(cells, func(c uint16) bool { return c > math.MaxUint8 })
	w.u32(uint32(len(cells)))
	if narrow {
		w.u8(1)
		for _, c := range cells {
			w.b = append(w.b, byte(c))
		}
		return
	}
	w.u8(2)
	for _, c := range cells {
		w.u16(c)
	}
}

// cells reads what blobWriter.cells writes, appending to dst.
func (r *blobReader) cells(dst []uint16, limit int) []uint16 {
	n := r.count(1)
	width := r.u8()
	if r.err == nil && (width < 1 || width > 2) {
		r.err = fmt.Errorf("cells of %d bytes", width)
	}
	if r.err == nil && n > limit {
		r.err = errors.New("window state holds more events than the window")
	}
	b := r.take(n * int(width))
	if r.err != nil {
		return dst
	}
	for i := range n {
		if width == 1 {
			dst = append(dst, uint16(b[i]))
		} else {
			dst = append(dst, binary.LittleEndian.Uint16(b[2*i:]))
		}
	}
	return dst
}

// segmentTime writes a time or stage-2 window's head blob and adds its
// closed panes to list.
func segmentTime(s window.TimeState, list *segmentList) []byte {
	w := &blobWriter{}
	w.b = append(w.b, blobMagic...)
	w.u8(blobTimeHead)
	w.u64(s.Pushed)
	w.u64(uint64(s.ClosedThrough))
	w.u8(boolByte(s.HaveClosed))
	w.u32(uint32(len(s.Closed)))
	for _, p := range s.Closed {
		seg := &blobWriter{b: make([]byte, 0, 5+4+6*len(p.Counts)+24)}
		seg.b = append(seg.b, segmentMagic...)
		seg.u8(blobTimeHead)
		seg.pane(p)
		w.u32(list.add(sha256.Sum256(seg.b), seg.b))
	}
	w.u32(uint32(len(s.Open)))
	for _, op := range s.Open {
		w.u64(uint64(op.ID))
		w.pane(op.Pane)
	}
	return w.b
}

// HeadSegments returns the sums of the segments a head needs, without
// decoding the rest of it.
func HeadSegments(head []byte) ([]SegmentSum, error) {
	if len(head) > MaxModelStateBytes {
		return nil, fmt.Errorf("model state head is %d bytes, more than %d", len(head), MaxModelStateBytes)
	}
	if len(head) < len(SegmentedStateMagic) || string(head[:len(SegmentedStateMagic)]) != SegmentedStateMagic {
		return nil, errors.New("model state head: no DMS 3 header")
	}
	r := &stateReader{b: head[len(SegmentedStateMagic):]}
	sums := headSums(r)
	return sums, r.err
}

func headSums(r *stateReader) []SegmentSum {
	n := r.count(segmentSumLength)
	if n > maxHeadSegments {
		r.fail("head names %d segments", n)
		return nil
	}
	sums := make([]SegmentSum, n)
	for i := range sums {
		copy(sums[i][:], r.take(segmentSumLength))
	}
	return sums
}

// DecodeModelSegments decodes a head and the segments it names (segment
// returns their bytes, which the caller has checked against their sums;
// nil: missing) into one checkpoint per feature, exactly as
// DecodeModelState decodes the same state encoded whole. It also returns
// the count-window panes the state holds, for the writer's next
// encoding.
func DecodeModelSegments(head []byte, segment func(SegmentSum) []byte) ([]FeatureCheckpoint, PaneSums, error) {
	if _, err := HeadSegments(head); err != nil {
		return nil, nil, err
	}
	r := &stateReader{b: head[len(SegmentedStateMagic):]}
	sums := headSums(r)
	if r.err != nil {
		return nil, nil, r.err
	}
	segs := make([][]byte, len(sums))
	for i, s := range sums {
		if segs[i] = segment(s); segs[i] == nil {
			return nil, nil, fmt.Errorf("model state: segment %x is missing", s[:8])
		}
	}
	panes := PaneSums{}
	cps, err := r.modelBody(true, func(f *FeatureCheckpoint) error {
		b, err := joinWindow(f.Feature, f.Window, sums, segs, panes)
		if err != nil {
			return err
		}
		f.Window = b
		return checkWindowBlob(b)
	})
	if err != nil {
		return nil, nil, err
	}
	return cps, panes, nil
}

// joinWindow rebuilds the v2 window blob of a head's window blob.
func joinWindow(feature string, b []byte, sums []SegmentSum, segs [][]byte, panes PaneSums) ([]byte, error) {
	if len(b) < 5 || string(b[:4]) != blobMagic {
		return nil, errors.New("window state has no DWS1 header")
	}
	r := &blobReader{b: b[5:]}
	ref := func() []byte {
		i := r.u32()
		if r.err == nil && int(i) >= len(segs) {
			r.err = fmt.Errorf("window references segment %d of %d", i, len(segs))
		}
		if r.err != nil {
			return nil
		}
		return segs[i]
	}
	switch b[4] {
	case blobCountHead:
		s := window.CountState{Size: int(r.u32()), Hop: int(r.u32()), Closed: r.u64(), InPane: int(r.u32()), Evicted: r.u64()}
		s.Open = r.moments()
		dropped := int(r.u32())
		n := r.count(4)
		if r.err == nil && (s.Size > 1<<16 || n > s.Size) {
			return nil, errors.New("window state claims more panes than a count window holds")
		}
		s.Panes = make([]window.Moments, 0, n)
		for i := range n {
			j := r.u32()
			if r.err == nil && int(j) >= len(segs) {
				r.err = fmt.Errorf("window references segment %d of %d", j, len(segs))
			}
			if r.err != nil {
				break
			}
			sr := &blobReader{b: segs[j]}
			sr.magicHeader(blobCountHead, segmentMagic)
			m := sr.moments()
			cells := sr.cells(nil, s.Size)
			k := len(cells)
			if err := sr.finish(); err != nil {
				return nil, fmt.Errorf("segment %x: %w", sums[j][:8], err)
			}
			if i == 0 {
				if dropped > len(cells) {
					return nil, errors.New("window drops more cells than its oldest pane holds")
				}
				cells = cells[dropped:]
			}
			if len(s.Cells)+len(cells) > s.Size {
				return nil, errors.New("window state holds more events than the window")
			}
			s.Panes = append(s.Panes, m)
			s.Cells = append(s.Cells, cells...)
			panes[PaneID{Feature: feature, Pane: s.Closed - uint64(n) + uint64(i)}] = PaneSum{Sum: sums[j], Cells: k}
		}
		s.Cells = r.cells(s.Cells, s.Size)
		if err := r.finish(); err != nil {
			return nil, err
		}
		return encodeCountState(s), nil
	case blobTimeHead:
		s := window.TimeState{Pushed: r.u64(), ClosedThrough: int64(r.u64()), HaveClosed: r.u8() == 1}
		n := r.count(4)
		s.Closed = make([]window.Pane, 0, n)
		for range n {
			seg := ref()
			if r.err != nil {
				break
			}
			sr := &blobReader{b: seg}
			sr.magicHeader(blobTimeHead, segmentMagic)
			p := sr.pane()
			if err := sr.finish(); err != nil {
				return nil, err
			}
			s.Closed = append(s.Closed, p)
		}
		s.Open = make([]window.OpenPane, r.count(36))
		for i := range s.Open {
			s.Open[i] = window.OpenPane{ID: int64(r.u64()), Pane: r.pane()}
		}
		if err := r.finish(); err != nil {
			return nil, err
		}
		return encodeTimeState(s), nil
	}
	return nil, fmt.Errorf("window state of unknown kind %q", b[4])
}
