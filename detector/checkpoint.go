package detector

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/driftd/driftd/detector/sequential"

	"github.com/driftd/driftd/window"
)

// CheckpointSchema tags the JSON checkpoint records of driftd.state/v1,
// one record per feature, which this build reads once at upgrade (see
// DecodeLegacyCheckpoint); it writes driftd.state/v2 (EncodeModelState).
const CheckpointSchema = "driftd.state/v1"

// CheckpointSchemaV2 is the schema of checkpoints this build writes.
const CheckpointSchemaV2 = "driftd.state/v2"

// FeatureCheckpoint is the complete state of one feature of a monitor —
// its window, alarm states and counters — plus the state of the feature's
// group and of the model that every record repeats, so any subset of a
// model's records restores consistently. Topic, Partition and Offset are
// set by the caller: the input partition the state belongs to and the
// offset of the next event it has not seen.
type FeatureCheckpoint struct {
	Schema    string `json:"schema"`
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	// Gen numbers the checkpoint and Features counts the records it
	// wrote for this model version: a reader keeps the newest
	// generation that is complete (see stream's state store).
	Gen         uint64 `json:"gen"`
	Features    int    `json:"features"`
	Model       string `json:"model"`
	Version     string `json:"version"`
	Feature     string `json:"feature"`
	ReferenceID string `json:"reference_id"`

	Group  GroupCheckpoint `json:"group"`
	Window []byte          `json:"window"` // binary window state, see encodeWindow
	// Centre is the value the window's moments are taken relative to
	// (the reference mean); absent in checkpoints of versions that kept
	// absolute moments, which restore shifts.
	Centre  *float64              `json:"centre,omitempty"`
	Alarms  map[string]AlarmState `json:"alarms,omitempty"`
	Evals   uint64                `json:"evals"`
	Values  uint64                `json:"values"`
	Missing uint64                `json:"missing"`
	Invalid uint64                `json:"invalid"`

	// Merge is the stage-2 bookkeeping of two-stage mode.
	Merge *MergeCheckpoint `json:"merge,omitempty"`
	// CUSUM is the cusum test's running state (absent where the test
	// does not run, and in checkpoints of versions before it).
	CUSUM *sequential.State `json:"cusum,omitempty"`

	Dataset    AlarmState `json:"dataset"`
	Share      float64    `json:"share"`
	Unexpected uint64     `json:"unexpected"`
	Duplicates uint64     `json:"duplicates"`
}

// GroupCheckpoint is the state of a feature's group (features or
// prediction) at the checkpoint.
type GroupCheckpoint struct {
	Seq       uint64             `json:"seq"`
	Late      uint64             `json:"late"`
	Future    uint64             `json:"future,omitempty"`
	Closed    uint64             `json:"closed"`
	PaneTimes [][2]int64         `json:"pane_times,omitempty"`
	CurTimes  [2]int64           `json:"cur_times"`
	Clock     *window.ClockState `json:"clock,omitempty"`
}

// MergeCheckpoint is a stage-2 feature's deduplication and window
// bookkeeping.
type MergeCheckpoint struct {
	Sources map[string]uint64 `json:"sources"`
	Seq     uint64            `json:"seq"`
	Times   [][2]int64        `json:"times"`
	Pushed  uint64            `json:"pushed"`
}

// Key is "model/version/feature".
func (c *FeatureCheckpoint) Key() string { return c.Model + "/" + c.Version + "/" + c.Feature }

// Dirty reports whether the monitor saw events since the last
// MarkClean; a checkpoint need only write dirty monitors.
func (m *Monitor) Dirty() bool { return m.dirty }

// MarkClean clears the dirty flag after a checkpoint.
func (m *Monitor) MarkClean() { m.dirty = false }

// Checkpoint returns the state of every feature. The caller sets Topic,
// Partition and Offset.
func (m *Monitor) Checkpoint() []FeatureCheckpoint { return m.checkpoint(true) }

// checkpoint is Checkpoint, leaving the Window of count windows nil
// unless countWindows is set.
func (m *Monitor) checkpoint(countWindows bool) []FeatureCheckpoint {
	out := make([]FeatureCheckpoint, 0, len(m.features))
	for _, f := range m.features {
		gs := m.groups[f.group]
		cp := FeatureCheckpoint{
			Schema: CheckpointSchemaV2, Model: m.ref.Model, Version: m.ref.Version, Feature: f.name, ReferenceID: m.ref.ID,
			Group:  GroupCheckpoint{Seq: gs.seq, Late: gs.late, Future: gs.future, Closed: gs.closed, CurTimes: [2]int64{gs.curTimes.Min, gs.curTimes.Max}},
			Alarms: map[string]AlarmState{}, Evals: f.evals, Values: f.values, Missing: f.missing, Invalid: f.invalid,
			Centre:  &f.c.centre,
			Dataset: m.dataset, Share: m.datasetShare, Unexpected: m.unexpected, Duplicates: m.duplicates,
		}
		for _, p := range gs.paneTimes {
			cp.Group.PaneTimes = append(cp.Group.PaneTimes, [2]int64{p.Min, p.Max})
		}
		if gs.clock != nil {
			st := gs.clock.State()
			cp.Group.Clock = &st
		}
		for i, a := range f.alarms {
			if a != (AlarmState{}) {
				cp.Alarms[string(f.c.tests[i])] = a
			}
		}
		if f.c.cusum != nil {
			st := f.cusum
			cp.CUSUM = &st
		}
		switch {
		case f.cw != nil:
			if countWindows {
				cp.Window = encodeCountState(f.cw.State())
			}
		case f.pw != nil:
			cp.Window = encodeTimeState(window.TimeState{Closed: f.pw.Panes(), Pushed: f.pw.Pushed()})
			mc := &MergeCheckpoint{Sources: f.merge.sources, Seq: f.merge.seq, Pushed: f.merge.pushed}
			for _, t := range f.merge.times {
				mc.Times = append(mc.Times, [2]int64{t.Min, t.Max})
			}
			cp.Merge = mc
		default:
			cp.Window = encodeTimeState(f.tw.State())
		}
		out = append(out, cp)
	}
	return out
}

// ErrStaleCheckpoint means the checkpoints were taken against another
// reference; the caller starts the monitor afresh.
var ErrStaleCheckpoint = errors.New("checkpoint was taken against another reference")

// RestoreMonitor rebuilds a monitor from checkpoints of its features
// (normally one per feature, all of one model version and input
// partition). Records may come from different checkpoints — a crash can
// interrupt writing them — so each group resumes from its oldest record
// (Monitor.Begin skips events at offsets below it) and features whose
// record is newer ignore the events they have already applied. Features
// without a record start empty.
func RestoreMonitor(ref *Reference, policies *Policies, cfg WindowConfig, cps []FeatureCheckpoint) (*Monitor, error) {
	m, err := NewMonitor(ref, policies, cfg)
	if err != nil {
		return nil, err
	}
	if len(cps) == 0 {
		return m, nil
	}
	var newest *FeatureCheckpoint
	oldest := [numGroups]*FeatureCheckpoint{}
	byFeature := map[int]*FeatureCheckpoint{}
	for i := range cps {
		cp := &cps[i]
		if cp.Model != ref.Model || cp.Version != ref.Version {
			return nil, fmt.Errorf("checkpoint for %s/%s given to the monitor of %s", cp.Model, cp.Version, ref.Key())
		}
		if cp.ReferenceID != ref.ID {
			return nil, ErrStaleCheckpoint
		}
		idx, ok := m.byName[cp.Feature]
		if !ok {
			return nil, fmt.Errorf("checkpoint for unknown feature %q", cp.Feature)
		}
		if prev := byFeature[idx]; prev != nil && prev.Offset >= cp.Offset {
			continue // keep the newest record of a feature
		}
		byFeature[idx] = cp
		g := m.features[idx].group
		if oldest[g] == nil || cp.Offset < oldest[g].Offset {
			oldest[g] = cp
		}
		if newest == nil || cp.Offset > newest.Offset {
			newest = cp
		}
	}
	for g, cp := range oldest {
		if cp == nil {
			continue
		}
		if err := m.groups[g].restore(cp, cfg); err != nil {
			return nil, fmt.Errorf("feature %q: %w", cp.Feature, err)
		}
	}
	for idx, cp := range byFeature {
		f := m.features[idx]
		if err := f.restore(cp, m.groups[f.group]); err != nil {
			return nil, fmt.Errorf("feature %q: %w", cp.Feature, err)
		}
	}
	m.dataset, m.datasetShare = newest.Dataset, newest.Share
	m.unexpected, m.duplicates = newest.Unexpected, newest.Duplicates
	return m, nil
}

func (gs *groupState) restore(cp *FeatureCheckpoint, cfg WindowConfig) error {
	g := cp.Group
	gs.seq, gs.late, gs.future, gs.closed = g.Seq, g.Late, g.Future, g.Closed
	gs.resumeOffset = cp.Offset
	gs.curTimes = timeRange{Min: g.CurTimes[0], Max: g.CurTimes[1]}
	if gs.clock != nil {
		if g.Clock == nil {
			return errors.New("time-window checkpoint lacks its clock")
		}
		gs.clock.Restore(*g.Clock)
		return nil
	}
	if len(g.PaneTimes) != len(gs.paneTimes) {
		return fmt.Errorf("checkpoint has %d pane times, the window %d", len(g.PaneTimes), len(gs.paneTimes))
	}
	for i, p := range g.PaneTimes {
		gs.paneTimes[i] = timeRange{Min: p[0], Max: p[1]}
	}
	return nil
}

func (f *featureState) restore(cp *FeatureCheckpoint, gs *groupState) error {
	if cp.Group.Seq < gs.seq {
		return fmt.Errorf("record at seq %d is older than its group's %d", cp.Group.Seq, gs.seq)
	}
	f.skip = cp.Group.Seq
	f.evals, f.values, f.missing, f.invalid = cp.Evals, cp.Values, cp.Missing, cp.Invalid
	for name, a := range cp.Alarms {
		i := slices.Index(f.c.tests, Test(name))
		if i < 0 {
			return fmt.Errorf("alarm for unknown test %q", name)
		}
		if a.Streak < 0 {
			return fmt.Errorf("alarm %q has a negative streak", name)
		}
		f.alarms[i] = a
	}
	if cp.CUSUM != nil {
		if !cp.CUSUM.Valid() {
			return fmt.Errorf("impossible cusum state %+v", *cp.CUSUM)
		}
		if f.c.cusum != nil {
			f.cusum = *cp.CUSUM
		}
	}
	// Moments saved relative to another centre (0: absolute) are
	// shifted to this monitor's.
	shift := -f.c.centre
	if cp.Centre != nil {
		shift += *cp.Centre
	}
	var err error
	switch {
	case f.cw != nil:
		var s window.CountState
		if s, err = decodeCountState(cp.Window); err != nil {
			return err
		}
		if shift != 0 {
			for i := range s.Panes {
				s.Panes[i] = shiftMoments(s.Panes[i], shift)
			}
			s.Open = shiftMoments(s.Open, shift)
		}
		if f.cw, err = window.RestoreCount(f.c.layout, s); err == nil {
			f.sumPanes()
		}
	case f.pw != nil:
		var s window.TimeState
		if s, err = decodeTimeState(cp.Window); err != nil {
			return err
		}
		mc := cp.Merge
		if mc == nil || len(mc.Times) != len(f.merge.times) || len(mc.Sources) > 4096 {
			return errors.New("stage-2 checkpoint lacks or garbles its merge state")
		}
		shiftTimeState(&s, shift)
		if f.pw, err = window.RestorePaneWindow(f.c.layout, f.pw.Capacity(), s.Closed, s.Pushed); err != nil {
			return err
		}
		f.sumPanes()
		f.merge.sources, f.merge.seq, f.merge.pushed = mc.Sources, mc.Seq, mc.Pushed
		if f.merge.sources == nil {
			f.merge.sources = map[string]uint64{}
		}
		for i, t := range mc.Times {
			f.merge.times[i] = timeRange{Min: t[0], Max: t[1]}
		}
	default:
		var s window.TimeState
		if s, err = decodeTimeState(cp.Window); err != nil {
			return err
		}
		shiftTimeState(&s, shift)
		if f.tw, err = window.RestoreTime(f.c.layout, gs.clock, s); err == nil {
			f.sumPanes()
		}
	}
	return err
}

// shiftMoments adds shift to the mean of non-empty moments.
func shiftMoments(m window.Moments, shift float64) window.Moments {
	if m.N > 0 {
		m.Mean += shift
	}
	return m
}

func shiftTimeState(s *window.TimeState, shift float64) {
	if shift == 0 {
		return
	}
	for i := range s.Closed {
		s.Closed[i].Moments = shiftMoments(s.Closed[i].Moments, shift)
	}
	for i := range s.Open {
		s.Open[i].Pane.Moments = shiftMoments(s.Open[i].Pane.Moments, shift)
	}
}

// Window state blobs: little-endian binary, so moments keep every bit
// (NaN and ±Inf included, which JSON cannot hold) and the event ring
// costs two bytes per event.
const (
	blobCount = 'C'
	blobTime  = 'T'
	blobMagic = "DWS1"
	// maxBlobItems bounds any decoded length.
	maxBlobItems = 1 << 26
)

type blobWriter struct{ b []byte }

func (w *blobWriter) u8(v byte)     { w.b = append(w.b, v) }
func (w *blobWriter) u16(v uint16)  { w.b = binary.LittleEndian.AppendUint16(w.b, v) }
func (w *blobWriter) u32(v uint32)  { w.b = binary.LittleEndian.AppendUint32(w.b, v) }
func (w *blobWriter) u64(v uint64)  { w.b = binary.LittleEndian.AppendUint64(w.b, v) }
func (w *blobWriter) f64(v float64) { w.u64(math.Float64bits(v)) }
func (w *blobWriter) moments(m window.Moments) {
	w.f64(m.N)
	w.f64(m.Mean)
	w.f64(m.M2)
}
func (w *blobWriter) pane(p window.Pane) {
	w.u32(uint32(len(p.Counts)))
	for _, c := range p.Counts {
		w.u16(c.Cell)
		w.u32(c.Count)
	}
	w.moments(p.Moments)
}

type blobReader struct {
	b   []byte
	err error
}

func (r *blobReader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || len(r.b) < n {
		r.err = errors.New("window state is truncated")
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}
func (r *blobReader) u8() byte {
	if b := r.take(1); b != nil {
		return b[0]
	}
	return 0
}
func (r *blobReader) u16() uint16 {
	if b := r.take(2); b != nil {
		return binary.LittleEndian.Uint16(b)
	}
	return 0
}
func (r *blobReader) u32() uint32 {
	if b := r.take(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}
func (r *blobReader) u64() uint64 {
	if b := r.take(8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}
func (r *blobReader) f64() float64 { return math.Float64frombits(r.u64()) }
func (r *blobReader) moments() window.Moments {
	return window.Moments{N: r.f64(), Mean: r.f64(), M2: r.f64()}
}

// count reads a length and checks that at least min bytes per item remain.
func (r *blobReader) count(minBytes int) int {
	n := r.u32()
	if r.err == nil && (n > maxBlobItems || int(n)*minBytes > len(r.b)) {
		r.err = fmt.Errorf("window state claims %d items, more than it holds", n)
	}
	if r.err != nil {
		return 0
	}
	return int(n)
}
func (r *blobReader) pane() window.Pane {
	n := r.count(6)
	p := window.Pane{Counts: make([]window.CellCount, n)}
	for i := range p.Counts {
		p.Counts[i] = window.CellCount{Cell: r.u16(), Count: r.u32()}
	}
	p.Moments = r.moments()
	return p
}

func (r *blobReader) header(kind byte) { r.magicHeader(kind, blobMagic) }

func (r *blobReader) magicHeader(kind byte, magic string) {
	if string(r.take(4)) != magic && r.err == nil {
		r.err = fmt.Errorf("window state has no %s header", magic)
	}
	if k := r.u8(); r.err == nil && k != kind {
		r.err = fmt.Errorf("window state is of kind %q, want %q", k, kind)
	}
}

func (r *blobReader) finish() error {
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("window state has %d trailing bytes", len(r.b))
	}
	return r.err
}

func encodeCountState(s window.CountState) []byte {
	w := &blobWriter{b: make([]byte, 0, 64+2*len(s.Cells)+24*len(s.Panes))}
	w.b = append(w.b, blobMagic...)
	w.u8(blobCount)
	w.u32(uint32(s.Size))
	w.u32(uint32(s.Hop))
	w.u64(s.Closed)
	w.u32(uint32(s.InPane))
	w.u64(s.Evicted)
	w.moments(s.Open)
	w.u32(uint32(len(s.Panes)))
	for _, p := range s.Panes {
		w.moments(p)
	}
	w.u32(uint32(len(s.Cells)))
	for _, c := range s.Cells {
		w.u16(c)
	}
	return w.b
}

func decodeCountState(b []byte) (window.CountState, error) {
	r := &blobReader{b: b}
	r.header(blobCount)
	s := window.CountState{Size: int(r.u32()), Hop: int(r.u32()), Closed: r.u64(), InPane: int(r.u32()), Evicted: r.u64()}
	s.Open = r.moments()
	s.Panes = make([]window.Moments, r.count(24))
	for i := range s.Panes {
		s.Panes[i] = r.moments()
	}
	s.Cells = make([]uint16, r.count(2))
	for i := range s.Cells {
		s.Cells[i] = r.u16()
	}
	return s, r.finish()
}

func encodeTimeState(s window.TimeState) []byte {
	w := &blobWriter{}
	w.b = append(w.b, blobMagic...)
	w.u8(blobTime)
	w.u64(s.Pushed)
	w.u64(uint64(s.ClosedThrough))
	if s.HaveClosed {
		w.u8(1)
	} else {
		w.u8(0)
	}
	w.u32(uint32(len(s.Closed)))
	for _, p := range s.Closed {
		w.pane(p)
	}
	w.u32(uint32(len(s.Open)))
	for _, op := range s.Open {
		w.u64(uint64(op.ID))
		w.pane(op.Pane)
	}
	return w.b
}

func decodeTimeState(b []byte) (window.TimeState, error) {
	r := &blobReader{b: b}
	r.header(blobTime)
	s := window.TimeState{Pushed: r.u64(), ClosedThrough: int64(r.u64()), HaveClosed: r.u8() == 1}
	s.Closed = make([]window.Pane, r.count(28))
	for i := range s.Closed {
		s.Closed[i] = r.pane()
	}
	s.Open = make([]window.OpenPane, r.count(36))
	for i := range s.Open {
		s.Open[i] = window.OpenPane{ID: int64(r.u64()), Pane: r.pane()}
	}
	return s, r.finish()
}

// EncodeLegacyCheckpoint encodes one feature's checkpoint as a
// driftd.state/v1 JSON record, the format of earlier releases (kept for
// upgrade tests).
func EncodeLegacyCheckpoint(cp *FeatureCheckpoint) ([]byte, error) {
	c := *cp
	c.Schema = CheckpointSchema
	c.Share = finiteOr(c.Share, 0)
	return json.Marshal(&c)
}

// MaxCheckpointBytes bounds a decoded driftd.state/v1 record.
const MaxCheckpointBytes = 64 << 20

// DecodeLegacyCheckpoint decodes a driftd.state/v1 JSON record, rejecting
// unknown schemas and fields, and window state that does not parse. The
// result has Schema CheckpointSchemaV2, like a decoded model state.
// Semantic consistency with a reference is checked by RestoreMonitor.
func DecodeLegacyCheckpoint(data []byte) (*FeatureCheckpoint, error) {
	if len(data) > MaxCheckpointBytes {
		return nil, fmt.Errorf("checkpoint is %d bytes, more than %d", len(data), MaxCheckpointBytes)
	}
	var cp FeatureCheckpoint
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cp); err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	if dec.More() {
		return nil, errors.New("checkpoint: trailing data")
	}
	if cp.Schema != CheckpointSchema {
		return nil, fmt.Errorf("checkpoint schema is %q, want %q", cp.Schema, CheckpointSchema)
	}
	if cp.Model == "" || cp.Feature == "" {
		return nil, errors.New("checkpoint lacks model or feature")
	}
	if err := checkWindowBlob(cp.Window); err != nil {
		return nil, err
	}
	if len(cp.Group.PaneTimes) > 1<<16 {
		return nil, errors.New("checkpoint has too many pane times")
	}
	cp.Schema = CheckpointSchemaV2
	if cp.Alarms == nil {
		cp.Alarms = map[string]AlarmState{}
	}
	return &cp, nil
}
