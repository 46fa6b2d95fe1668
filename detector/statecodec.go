package detector

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/driftd/driftd/detector/sequential"
	"github.com/driftd/driftd/window"
)

// The model state encoding (driftd.state/v3): the checkpoint of all the
// features of one model version in one input partition, as one binary
// blob. Little-endian; integers are varints, floats keep every bit (NaN
// and ±Inf included), strings and the window blobs are length-prefixed:
//
//	"DMS" 0x03                         magic and version
//	topic, partition, offset, gen      where the state belongs
//	model, version, reference id
//	dataset alarm, share, unexpected, duplicates
//	count, then per feature:
//	  feature name
//	  group: seq, late, future, closed, pane times, current times, clock
//	  alarms: count, then test name and alarm state each
//	  evals, values, missing, invalid, centre of the moments (or none)
//	  merge state (stage 2) or none
//	  cusum state: S⁺, S⁻, their pane counts and shift sums, or none (v3; v2 has no
//	  such field and still decodes, its CUSUMs starting at 0)
//	  window state (see encodeCountState / encodeTimeState)
//
// The stream layer splits the blob into chunks that fit the state topic's
// max.message.bytes and commits it with a manifest.

// ModelStateMagic starts every encoded model state.
const ModelStateMagic = "DMS\x03"

// modelStateV2 is the previous version, which lacks the cusum state.
const modelStateV2 = 2

// MaxModelStateBytes bounds a decoded model state (sum of its chunks).
const MaxModelStateBytes = 1 << 30

type stateWriter struct{ b []byte }

func (w *stateWriter) u8(v byte)     { w.b = append(w.b, v) }
func (w *stateWriter) uvar(v uint64) { w.b = binary.AppendUvarint(w.b, v) }
func (w *stateWriter) svar(v int64)  { w.b = binary.AppendVarint(w.b, v) }
func (w *stateWriter) f64(v float64) {
	w.b = binary.LittleEndian.AppendUint64(w.b, math.Float64bits(v))
}
func (w *stateWriter) bytes(v []byte)  { w.uvar(uint64(len(v))); w.b = append(w.b, v...) }
func (w *stateWriter) str(v string)    { w.uvar(uint64(len(v))); w.b = append(w.b, v...) }
func (w *stateWriter) flag(v bool)     { w.u8(boolByte(v)) }
func (w *stateWriter) pair(v [2]int64) { w.svar(v[0]); w.svar(v[1]) }

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

func (w *stateWriter) alarm(a AlarmState) {
	w.flag(a.Firing)
	w.svar(int64(a.Streak))
	w.uvar(a.Since)
	w.f64(a.Effect)
	w.flag(a.Severe)
	w.svar(int64(a.Updates))
	w.svar(int64(a.Grow))
}

type stateReader struct {
	b   []byte
	err error
}

func (r *stateReader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("model state: "+format, args...)
	}
}

func (r *stateReader) take(n uint64) []byte {
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.fail("truncated")
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *stateReader) u8() byte {
	if b := r.take(1); b != nil {
		return b[0]
	}
	return 0
}

func (r *stateReader) flag() bool {
	switch r.u8() {
	case 0:
		return false
	case 1:
		return true
	}
	r.fail("bad flag")
	return false
}

func (r *stateReader) uvar() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("bad varint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *stateReader) svar() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail("bad varint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

// int reads a signed varint that must fit an int32 (streaks, counts).
func (r *stateReader) int() int {
	v := r.svar()
	if v < math.MinInt32 || v > math.MaxInt32 {
		r.fail("integer %d out of range", v)
		return 0
	}
	return int(v)
}

func (r *stateReader) f64() float64 {
	if b := r.take(8); b != nil {
		return math.Float64frombits(binary.LittleEndian.Uint64(b))
	}
	return 0
}

func (r *stateReader) bytes() []byte { return r.take(r.uvar()) }
func (r *stateReader) str() string   { return string(r.bytes()) }
func (r *stateReader) pair() [2]int64 {
	return [2]int64{r.svar(), r.svar()}
}

// count reads a length and checks that at least minBytes per item remain.
func (r *stateReader) count(minBytes int) int {
	n := r.uvar()
	if r.err == nil && (n > maxBlobItems || n*uint64(minBytes) > uint64(len(r.b))) {
		r.fail("claims %d items, more than it holds", n)
	}
	if r.err != nil {
		return 0
	}
	return int(n)
}

func (r *stateReader) alarm() AlarmState {
	return AlarmState{Firing: r.flag(), Streak: r.int(), Since: r.uvar(), Effect: r.f64(), Severe: r.flag(), Updates: r.int(), Grow: r.int()}
}

// EncodeModelState encodes the checkpoints of all the features of one
// model version (as returned by Monitor.Checkpoint, with Topic,
// Partition, Offset and Gen set on the first) as one binary blob.
// Model-wide fields are taken from the first record.
func EncodeModelState(cps []FeatureCheckpoint) ([]byte, error) {
	if len(cps) == 0 {
		return nil, errors.New("model state without features")
	}
	w := &stateWriter{b: make([]byte, 0, 256)}
	w.b = append(w.b, ModelStateMagic...)
	if err := w.modelBody(cps); err != nil {
		return nil, err
	}
	return w.b, nil
}

// modelBody writes what follows the magic of a model state: the
// model-wide fields and every feature, with its window bytes as they
// are in cps.
func (w *stateWriter) modelBody(cps []FeatureCheckpoint) error {
	c := &cps[0]
	w.str(c.Topic)
	w.svar(int64(c.Partition))
	w.svar(c.Offset)
	w.uvar(c.Gen)
	w.str(c.Model)
	w.str(c.Version)
	w.str(c.ReferenceID)
	w.alarm(c.Dataset)
	w.f64(c.Share)
	w.uvar(c.Unexpected)
	w.uvar(c.Duplicates)
	w.uvar(uint64(len(cps)))
	for i := range cps {
		f := &cps[i]
		if f.Model != c.Model || f.Version != c.Version {
			return fmt.Errorf("model state mixes %s/%s and %s/%s", c.Model, c.Version, f.Model, f.Version)
		}
		w.str(f.Feature)
		g := &f.Group
		w.uvar(g.Seq)
		w.uvar(g.Late)
		w.uvar(g.Future)
		w.uvar(g.Closed)
		w.uvar(uint64(len(g.PaneTimes)))
		for _, p := range g.PaneTimes {
			w.pair(p)
		}
		w.pair(g.CurTimes)
		w.flag(g.Clock != nil)
		if g.Clock != nil {
			w.flag(g.Clock.Started)
			w.svar(g.Clock.MaxTime)
			w.svar(g.Clock.Next)
		}
		tests := make([]string, 0, len(f.Alarms))
		for name := range f.Alarms {
			tests = append(tests, name)
		}
		slices.Sort(tests)
		w.uvar(uint64(len(tests)))
		for _, name := range tests {
			w.str(name)
			w.alarm(f.Alarms[name])
		}
		w.uvar(f.Evals)
		w.uvar(f.Values)
		w.uvar(f.Missing)
		w.uvar(f.Invalid)
		w.flag(f.Centre != nil)
		if f.Centre != nil {
			w.f64(*f.Centre)
		}
		w.flag(f.Merge != nil)
		if mc := f.Merge; mc != nil {
			sources := make([]string, 0, len(mc.Sources))
			for s := range mc.Sources {
				sources = append(sources, s)
			}
			slices.Sort(sources)
			w.uvar(uint64(len(sources)))
			for _, s := range sources {
				w.str(s)
				w.uvar(mc.Sources[s])
			}
			w.uvar(mc.Seq)
			w.uvar(uint64(len(mc.Times)))
			for _, t := range mc.Times {
				w.pair(t)
			}
			w.uvar(mc.Pushed)
		}
		w.flag(f.CUSUM != nil)
		if s := f.CUSUM; s != nil {
			w.f64(s.Up)
			w.f64(s.Down)
			w.uvar(s.UpPanes)
			w.uvar(s.DownPanes)
			w.f64(s.UpShift)
			w.f64(s.DownShift)
		}
		w.bytes(f.Window)
	}
	return nil
}

// DecodeModelState decodes a model state blob into one checkpoint per
// feature (model-wide fields repeated on each, Features set to their
// count). It rejects other versions, trailing bytes, counts larger than
// the blob and window state that does not parse; consistency with a
// reference is checked by RestoreMonitor.
func DecodeModelState(data []byte) ([]FeatureCheckpoint, error) {
	if len(data) > MaxModelStateBytes {
		return nil, fmt.Errorf("model state is %d bytes, more than %d", len(data), MaxModelStateBytes)
	}
	if len(data) < len(ModelStateMagic) || string(data[:3]) != ModelStateMagic[:3] {
		return nil, errors.New("model state: no DMS header")
	}
	version := data[3]
	if version != ModelStateMagic[3] && version != modelStateV2 {
		return nil, fmt.Errorf("model state: version %d, this build reads %d and %d", version, modelStateV2, ModelStateMagic[3])
	}
	r := &stateReader{b: data[len(ModelStateMagic):]}
	out, err := r.modelBody(version > modelStateV2, func(f *FeatureCheckpoint) error { return checkWindowBlob(f.Window) })
	if err != nil {
		return nil, err
	}
	return out, nil
}

// modelBody reads what modelBody writes, checking each feature's
// window bytes with checkWindow (which may replace them). cusum is false
// for the version-2 blobs written before the cusum test, which lack its
// state.
func (r *stateReader) modelBody(cusum bool, checkWindow func(*FeatureCheckpoint) error) ([]FeatureCheckpoint, error) {
	base := FeatureCheckpoint{Schema: CheckpointSchemaV2}
	base.Topic = r.str()
	base.Partition = int32(r.int())
	base.Offset = r.svar()
	base.Gen = r.uvar()
	base.Model = r.str()
	base.Version = r.str()
	base.ReferenceID = r.str()
	base.Dataset = r.alarm()
	base.Share = r.f64()
	base.Unexpected = r.uvar()
	base.Duplicates = r.uvar()
	n := r.count(16)
	if r.err == nil && n == 0 {
		r.fail("no features")
	}
	out := make([]FeatureCheckpoint, n)
	for i := range out {
		f := base
		f.Features = n
		f.Feature = r.str()
		g := &f.Group
		g.Seq, g.Late, g.Future, g.Closed = r.uvar(), r.uvar(), r.uvar(), r.uvar()
		if k := r.count(2); k > 0 {
			if k > 1<<16 {
				r.fail("too many pane times")
				break
			}
			g.PaneTimes = make([][2]int64, k)
			for j := range g.PaneTimes {
				g.PaneTimes[j] = r.pair()
			}
		}
		g.CurTimes = r.pair()
		if r.flag() {
			g.Clock = &window.ClockState{Started: r.flag(), MaxTime: r.svar(), Next: r.svar()}
		}
		if k := r.count(12); k > 0 {
			f.Alarms = make(map[string]AlarmState, k)
			for range k {
				name := r.str()
				f.Alarms[name] = r.alarm()
			}
		} else {
			f.Alarms = map[string]AlarmState{}
		}
		f.Evals, f.Values, f.Missing, f.Invalid = r.uvar(), r.uvar(), r.uvar(), r.uvar()
		if r.flag() {
			centre := r.f64()
			f.Centre = &centre
		}
		if r.flag() {
			mc := &MergeCheckpoint{Sources: map[string]uint64{}}
			k := r.count(2)
			for range k {
				s := r.str()
				mc.Sources[s] = r.uvar()
			}
			mc.Seq = r.uvar()
			if k := r.count(2); k > 0 {
				mc.Times = make([][2]int64, k)
				for j := range mc.Times {
					mc.Times[j] = r.pair()
				}
			}
			mc.Pushed = r.uvar()
			f.Merge = mc
		}
		if cusum && r.flag() {
			f.CUSUM = &sequential.State{Up: r.f64(), Down: r.f64(), UpPanes: r.uvar(), DownPanes: r.uvar(), UpShift: r.f64(), DownShift: r.f64()}
		}
		f.Window = r.bytes()
		if r.err != nil {
			break
		}
		if f.Feature == "" {
			r.fail("feature without a name")
			break
		}
		if err := checkWindow(&f); err != nil {
			return nil, fmt.Errorf("model state: feature %q: %w", f.Feature, err)
		}
		out[i] = f
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail("%d trailing bytes", len(r.b))
	}
	if r.err != nil {
		return nil, r.err
	}
	if base.Model == "" {
		return nil, errors.New("model state lacks its model")
	}
	return out, nil
}

// checkWindowBlob checks that a window state blob parses.
func checkWindowBlob(b []byte) error {
	if len(b) < 5 {
		return errors.New("checkpoint lacks window state")
	}
	var err error
	switch b[4] {
	case blobCount:
		_, err = decodeCountState(b)
	case blobTime:
		_, err = decodeTimeState(b)
	default:
		err = fmt.Errorf("window state of unknown kind %q", b[4])
	}
	return err
}
