package perf

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/driftd/driftd/detector"
)

// Checkpoint encodings of the performance state: a Monitor's window of
// pairs and alarm states, an Estimator's window of score cells and alarm
// states (AppendState, RestoreState), and a Joiner's pending predictions
// (joinstate.go). The caller frames them (driftd run keeps them per input
// partition with the window state); each starts with its own magic and
// version, and the decoders are fuzzed (FuzzRestoreState).
//
//	monitor    "DPM1", reference ID, pairs added, evaluations, n,
//	           n × (score, target) oldest first, alarm states,
//	           unseen classes (multiclass: count, name and index each)
//	estimator  "DPE1", reference ID, scores added, evaluations, invalid,
//	           n, n × cell oldest first, alarm states
//	alarm      firing, streak, since, effect, severe, updates, grow
//
// Integers are varints, floats little-endian IEEE 754, strings
// length-prefixed.

const (
	monitorStateMagic   = "DPM1"
	estimatorStateMagic = "DPE1"
	// maxStateItems bounds every count a decoder reads.
	maxStateItems = 1 << 28
)

type stateEnc struct{ b []byte }

func (e *stateEnc) uvar(x uint64)  { e.b = binary.AppendUvarint(e.b, x) }
func (e *stateEnc) svar(x int64)   { e.b = binary.AppendVarint(e.b, x) }
func (e *stateEnc) f64(x float64)  { e.b = binary.LittleEndian.AppendUint64(e.b, math.Float64bits(x)) }
func (e *stateEnc) str(s string)   { e.uvar(uint64(len(s))); e.b = append(e.b, s...) }
func (e *stateEnc) bytes(s []byte) { e.uvar(uint64(len(s))); e.b = append(e.b, s...) }
func (e *stateEnc) flag(v bool)    { e.b = append(e.b, b2u(v)) }
func (e *stateEnc) alarms(as []detector.AlarmState) {
	e.uvar(uint64(len(as)))
	for _, a := range as {
		e.flag(a.Firing)
		e.uvar(uint64(max(a.Streak, 0)))
		e.uvar(a.Since)
		e.f64(a.Effect)
		e.flag(a.Severe)
		e.uvar(uint64(max(a.Updates, 0)))
		e.uvar(uint64(max(a.Grow, 0)))
	}
}

func b2u(v bool) byte {
	if v {
		return 1
	}
	return 0
}

// stateDec reads what stateEnc wrote; the first error sticks.
type stateDec struct {
	b   []byte
	err error
}

func (d *stateDec) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf(format, args...)
	}
}

func (d *stateDec) uvar() uint64 {
	if d.err != nil {
		return 0
	}
	x, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("truncated or overlong integer")
		return 0
	}
	d.b = d.b[n:]
	return x
}

func (d *stateDec) svar() int64 {
	if d.err != nil {
		return 0
	}
	x, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("truncated or overlong integer")
		return 0
	}
	d.b = d.b[n:]
	return x
}

func (d *stateDec) f64() float64 {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 8 {
		d.fail("truncated number")
		return 0
	}
	x := math.Float64frombits(binary.LittleEndian.Uint64(d.b))
	d.b = d.b[8:]
	return x
}

// count reads a count of items of at least minBytes each, bounded by
// what is left and by limit.
func (d *stateDec) count(minBytes, limit int) int {
	n := d.uvar()
	if d.err == nil && (n > uint64(limit) || n*uint64(max(minBytes, 1)) > uint64(len(d.b))) {
		d.fail("count %d exceeds the state (%d bytes left, at most %d)", n, len(d.b), limit)
	}
	if d.err != nil {
		return 0
	}
	return int(n)
}

func (d *stateDec) raw() []byte {
	n := d.count(1, maxStateItems)
	if d.err != nil {
		return nil
	}
	s := d.b[:n:n]
	d.b = d.b[n:]
	return s
}

func (d *stateDec) str() string { return string(d.raw()) }

func (d *stateDec) flag() bool {
	if d.err != nil {
		return false
	}
	if len(d.b) < 1 || d.b[0] > 1 {
		d.fail("bad flag")
		return false
	}
	v := d.b[0] == 1
	d.b = d.b[1:]
	return v
}

func (d *stateDec) magic(m string) {
	if d.err == nil && (len(d.b) < len(m) || string(d.b[:len(m)]) != m) {
		d.fail("not a %q state", m)
	}
	if d.err == nil {
		d.b = d.b[len(m):]
	}
}

func (d *stateDec) alarms(want int) []detector.AlarmState {
	n := d.count(12, maxStateItems)
	if d.err == nil && n != want {
		d.fail("%d alarm states, want %d", n, want)
	}
	if d.err != nil {
		return nil
	}
	as := make([]detector.AlarmState, n)
	for i := range as {
		a := &as[i]
		a.Firing = d.flag()
		a.Streak = int(min(d.uvar(), math.MaxInt32))
		a.Since = d.uvar()
		a.Effect = d.f64()
		a.Severe = d.flag()
		a.Updates = int(min(d.uvar(), math.MaxInt32))
		a.Grow = int(min(d.uvar(), math.MaxInt32))
	}
	return as
}

// AppendState appends the monitor's state: its window of pairs, counters
// and alarm states (the last evaluation is not kept).
func (m *Monitor) AppendState(b []byte) []byte {
	e := &stateEnc{b: append(b, monitorStateMagic...)}
	e.str(m.refID)
	e.uvar(m.seq)
	e.uvar(m.evals)
	e.uvar(uint64(m.n))
	for i := range m.n {
		p := m.ring[(m.next-m.n+i+len(m.ring))%len(m.ring)]
		e.f64(p.Score)
		e.f64(p.Target)
	}
	if m.mc == nil {
		e.alarms(m.alarms[:])
		e.uvar(0)
		return e.b
	}
	e.alarms(m.mc.alarms)
	e.uvar(uint64(len(m.mc.unseen)))
	for name, i := range m.mc.unseen {
		e.str(name)
		e.uvar(uint64(i))
	}
	return e.b
}

// RestoreState replaces a new monitor's state with one AppendState
// wrote for the same reference. A window larger than this monitor's
// keeps its most recent pairs.
func (m *Monitor) RestoreState(b []byte) error {
	d := &stateDec{b: b}
	d.magic(monitorStateMagic)
	if id := d.str(); d.err == nil && id != m.refID {
		return fmt.Errorf("state of reference %s, not %s", id, m.refID)
	}
	seq, evals := d.uvar(), d.uvar()
	n := d.count(16, maxStateItems)
	pairs := make([]Pair, n)
	for i := range pairs {
		pairs[i].Score, pairs[i].Target = d.f64(), d.f64()
		pairs[i].Positive = pairs[i].Target == 1
	}
	var alarms []detector.AlarmState
	unseen := map[string]int{}
	if m.mc == nil {
		alarms = d.alarms(len(m.alarms))
	} else {
		alarms = d.alarms(len(m.mc.alarms))
	}
	k := d.count(2, maxUnseenClasses)
	for range k {
		name, i := d.str(), d.uvar()
		if d.err == nil && (m.mc == nil || i < uint64(m.mc.ref.K) || i >= uint64(m.mc.ref.K+maxUnseenClasses)) {
			d.fail("unseen class %q at index %d", name, i)
		}
		if d.err == nil {
			if _, known := m.mc.index[name]; known {
				d.fail("unseen class %q is a reference class", name)
			}
		}
		unseen[name] = int(i)
	}
	if d.err == nil && len(d.b) > 0 {
		d.fail("%d bytes after the state", len(d.b))
	}
	if d.err == nil && uint64(n) > seq {
		d.fail("%d pairs in the window, %d added", n, seq)
	}
	if d.err != nil {
		return fmt.Errorf("performance monitor state: %w", d.err)
	}
	pairs = pairs[max(0, n-len(m.ring)):]
	copy(m.ring, pairs)
	m.n, m.next = len(pairs), len(pairs)%len(m.ring)
	m.seq, m.evals = seq, evals
	if m.mc == nil {
		copy(m.alarms[:], alarms)
	} else {
		copy(m.mc.alarms, alarms)
		m.mc.unseen = unseen
	}
	return nil
}

// AppendState appends the estimator's state: its window of score cells,
// counters and alarm states.
func (e *Estimator) AppendState(b []byte) []byte {
	w := &stateEnc{b: append(b, estimatorStateMagic...)}
	w.str(e.refID)
	w.uvar(e.seq)
	w.uvar(e.evals)
	w.uvar(e.invalid)
	w.uvar(uint64(e.n))
	for i := range e.n {
		w.uvar(uint64(e.ring[(e.next-e.n+i+len(e.ring))%len(e.ring)]))
	}
	w.alarms(e.alarms[:])
	return w.b
}

// RestoreState replaces a new estimator's state with one AppendState
// wrote for the same reference.
func (e *Estimator) RestoreState(b []byte) error {
	d := &stateDec{b: b}
	d.magic(estimatorStateMagic)
	if id := d.str(); d.err == nil && id != e.refID {
		return fmt.Errorf("state of reference %s, not %s", id, e.refID)
	}
	seq, evals, invalid := d.uvar(), d.uvar(), d.uvar()
	n := d.count(1, maxStateItems)
	cells := make([]uint32, n)
	for i := range cells {
		c := d.uvar()
		if d.err == nil && c >= uint64(len(e.counts)) {
			d.fail("cell %d of %d", c, len(e.counts))
		}
		cells[i] = uint32(c)
	}
	alarms := d.alarms(len(e.alarms))
	if d.err == nil && len(d.b) > 0 {
		d.fail("%d bytes after the state", len(d.b))
	}
	if d.err == nil && uint64(n) > seq {
		d.fail("%d scores in the window, %d added", n, seq)
	}
	if d.err != nil {
		return fmt.Errorf("performance estimator state: %w", d.err)
	}
	cells = cells[max(0, n-len(e.ring)):]
	clear(e.counts)
	for i, c := range cells {
		e.ring[i] = c
		e.counts[c]++
	}
	e.n, e.next = len(cells), len(cells)%len(e.ring)
	e.seq, e.evals, e.invalid = seq, evals, invalid
	copy(e.alarms[:], alarms)
	return nil
}
