package detector

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/driftd/driftd/window"
)

// PaneSchema tags encoded pane records.
const PaneSchema = "driftd.pane/v1"

// PaneRecord is one pane of one feature, as stage 1 of two-stage mode
// produces it to the panes topic (keyed model/version/feature). Source
// and Index identify it: stage 2 applies each (source, index) once, so a
// stage-1 replica that replays after a crash does not count twice.
type PaneRecord struct {
	Schema      string `json:"schema"`
	Model       string `json:"model"`
	Version     string `json:"version"`
	Feature     string `json:"feature"`
	ReferenceID string `json:"reference_id"`
	// Source is the stage-1 input partition ("topic/partition") and
	// Index the pane's number among that source's panes of the feature.
	Source string `json:"source"`
	Index  uint64 `json:"index"`
	// FirstSeq..LastSeq number the pane's events among the source's
	// events of the model; Start and End bound their event times (ms).
	FirstSeq uint64 `json:"first_seq"`
	LastSeq  uint64 `json:"last_seq"`
	Start    int64  `json:"start"`
	End      int64  `json:"end"`
	// Pane is the binary pane (see encodePane).
	Pane []byte `json:"pane"`
}

// Key is "model/version/feature".
func (r *PaneRecord) Key() string { return r.Model + "/" + r.Version + "/" + r.Feature }

// EncodePaneRecord encodes a pane record value.
func EncodePaneRecord(r *PaneRecord) ([]byte, error) {
	r.Schema = PaneSchema
	return json.Marshal(r)
}

// MaxPaneBytes bounds a decoded pane record.
const MaxPaneBytes = 16 << 20

// DecodePaneRecord decodes a pane record value, checking its schema and
// that its pane parses; the pane's fit to the reference is checked by
// Monitor.ApplyPane.
func DecodePaneRecord(data []byte) (*PaneRecord, error) {
	if len(data) > MaxPaneBytes {
		return nil, fmt.Errorf("pane record is %d bytes, more than %d", len(data), MaxPaneBytes)
	}
	var r PaneRecord
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("pane record: %w", err)
	}
	if dec.More() {
		return nil, errors.New("pane record: trailing data")
	}
	if r.Schema != PaneSchema {
		return nil, fmt.Errorf("pane record schema is %q, want %q", r.Schema, PaneSchema)
	}
	if r.Model == "" || r.Feature == "" || r.Source == "" {
		return nil, errors.New("pane record lacks model, feature or source")
	}
	if r.LastSeq < r.FirstSeq {
		return nil, errors.New("pane record has last_seq before first_seq")
	}
	if _, err := decodePane(r.Pane); err != nil {
		return nil, err
	}
	return &r, nil
}

func encodePane(p window.Pane) []byte {
	w := &blobWriter{}
	w.b = append(w.b, blobMagic...)
	w.u8(blobPane)
	w.pane(p)
	return w.b
}

func decodePane(b []byte) (window.Pane, error) {
	r := &blobReader{b: b}
	r.header(blobPane)
	p := r.pane()
	return p, r.finish()
}

const blobPane = 'P'

// emitPanes turns the panes that just closed into pane records (stage 1).
func (m *Monitor) emitPanes(gs *groupState, info WindowInfo, out *Output) {
	last := gs.paneTimes[(gs.closed-1)%uint64(len(gs.paneTimes))]
	for _, idx := range m.due {
		f := m.features[idx]
		out.Panes = append(out.Panes, PaneRecord{
			Schema: PaneSchema, Model: m.ref.Model, Version: m.ref.Version, Feature: f.name, ReferenceID: m.ref.ID,
			Index: f.cw.Closed(), FirstSeq: info.LastSeq - uint64(m.cfg.Hop) + 1, LastSeq: info.LastSeq,
			Start: last.Min, End: last.Max, Pane: encodePane(f.cw.LastPane()),
		})
	}
	m.due = m.due[:0]
}

// mergeState is a stage-2 feature's bookkeeping: the last pane applied per
// source (for deduplication), the events merged so far, and the time range
// of each pane in the window.
type mergeState struct {
	sources map[string]uint64
	seq     uint64
	times   []timeRange
	pushed  uint64
}

func newMergeState(panes int) *mergeState {
	return &mergeState{sources: map[string]uint64{}, times: make([]timeRange, panes)}
}

// ErrReferenceMismatch means a pane was built against another reference
// than the stage-2 monitor's (a rollout in progress); it is not applied.
var ErrReferenceMismatch = errors.New("pane was built against another reference")

// ApplyPane merges a stage-1 pane into its feature's window (stage 2) and
// evaluates the window. Duplicates (a source's pane index already
// applied) are ignored and reported as applied = false.
func (m *Monitor) ApplyPane(r *PaneRecord, out *Output) (applied bool, err error) {
	if m.cfg.Stage != StageMerge {
		return false, errors.New("ApplyPane on a monitor that is not in stage 2")
	}
	if r.ReferenceID != m.ref.ID {
		return false, ErrReferenceMismatch
	}
	idx, ok := m.byName[r.Feature]
	if !ok {
		return false, fmt.Errorf("pane for unknown feature %q", r.Feature)
	}
	f := m.features[idx]
	if last, seen := f.merge.sources[r.Source]; seen && r.Index <= last {
		return false, nil
	}
	p, err := decodePane(r.Pane)
	if err != nil {
		return false, err
	}
	if err := p.Validate(f.c.layout); err != nil {
		return false, err
	}
	ms := f.merge
	if len(ms.sources) >= 4096 {
		return false, errors.New("more than 4096 stage-1 sources for one feature")
	}
	ms.sources[r.Source] = r.Index
	f.pw.Push(p)
	n := p.N()
	ms.seq += n
	ms.times[ms.pushed%uint64(len(ms.times))] = timeRange{Min: r.Start, Max: r.End}
	ms.pushed++
	m.dirty = true
	// Lifetime counts, as single-stage keeps them.
	l := f.c.layout
	for _, c := range p.Counts {
		switch int(c.Cell) {
		case l.Missing():
			f.missing += uint64(c.Count)
		case l.Invalid():
			f.invalid += uint64(c.Count)
		default:
			f.values += uint64(c.Count)
		}
	}
	info := m.cfg.info()
	info.LastSeq = ms.seq
	var tr timeRange
	for i := ms.pushed - min(ms.pushed, uint64(len(ms.times))); i < ms.pushed; i++ {
		t := ms.times[i%uint64(len(ms.times))]
		if tr == (timeRange{}) {
			tr = t
		}
		tr.Min, tr.Max = min(tr.Min, t.Min), max(tr.Max, t.Max)
	}
	info.Start, info.End = time.UnixMilli(tr.Min).UTC(), time.UnixMilli(tr.Max).UTC()
	s := f.paneSnapshot(f.pw, &m.paneCells)
	if f.c.cusum != nil {
		f.stepCUSUM(f.pw.Pushed() - 1)
		s.CUSUM = &f.cusum
	}
	m.evaluate(f, s, info, float64(n), out)
	// Dataset drift once every feature of the group has reached this
	// point, as single-stage mode computes it after a whole event.
	for _, j := range m.groups[f.group].features {
		if m.features[j].merge.seq != ms.seq {
			return true, nil
		}
	}
	m.updateDataset(ms.seq, info, out)
	return true, nil
}
