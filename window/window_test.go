package window

import (
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
)

// bruteCell is the definition of the cell layout, written the slow way.
func bruteCell(q []float64, x float64) int {
	le := sort.Search(len(q), func(i int) bool { return q[i] > x }) // #{q ≤ x}
	if le > 0 && q[le-1] == x {
		return 2*le - 1
	}
	return 2 * le
}

func TestBreaksCell(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, r := range []int{1, 2, 3, 7, 8, 100, 1000, 1023, 1024, 1025} {
		q := make([]float64, r)
		for i := range q {
			q[i] = float64(i*3) - 10 // spaced by 3 so that "between" exists
		}
		b, err := NewBreaks(q)
		if err != nil {
			t.Fatal(err)
		}
		// Every breakpoint, both neighbours, the ends and random points.
		xs := []float64{math.Inf(-1), -1e300, q[0] - 1, q[r-1] + 1, 1e300, math.Inf(1)}
		for _, v := range q {
			xs = append(xs, v, math.Nextafter(v, math.Inf(-1)), math.Nextafter(v, math.Inf(1)), v+1.5)
		}
		for range 1000 {
			xs = append(xs, rng.Float64()*float64(3*r+20)-15)
		}
		for _, x := range xs {
			if got, want := b.Cell(x), bruteCell(q, x); got != want {
				t.Fatalf("r=%d x=%v: cell %d, want %d", r, x, got, want)
			}
		}
		if got := b.Layout().Valid; got != 2*r+1 {
			t.Fatalf("r=%d: %d value cells, want %d", r, got, 2*r+1)
		}
	}
}

func TestNewBreaksRejects(t *testing.T) {
	for name, q := range map[string][]float64{
		"empty":      {},
		"unsorted":   {1, 3, 2},
		"duplicate":  {1, 1},
		"nan":        {1, math.NaN()},
		"inf":        {1, math.Inf(1)},
		"too many":   make([]float64, MaxCells),
		"negzero=0":  {math.Copysign(0, -1), 0},
		"descending": {3, 2, 1},
	} {
		if name == "too many" {
			for i := range q {
				q[i] = float64(i)
			}
		}
		if _, err := NewBreaks(q); err == nil {
			t.Errorf("%s: NewBreaks accepted %v", name, q[:min(len(q), 4)])
		}
	}
}

func twoPass(xs []float64) (mean, variance float64) {
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	for _, x := range xs {
		variance += (x - mean) * (x - mean)
	}
	if len(xs) > 1 {
		variance /= float64(len(xs) - 1)
	}
	return mean, variance
}

func TestMomentsMergeSub(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	xs := make([]float64, 1000)
	for i := range xs {
		xs[i] = 1e6 + rng.NormFloat64() // large offset: naive sums would lose digits
	}
	var a, b, all Moments
	for i, x := range xs {
		all.Add(x)
		if i < 300 {
			a.Add(x)
		} else {
			b.Add(x)
		}
	}
	mean, variance := twoPass(xs)
	m := a.Merge(b)
	if m.N != 1000 || math.Abs(m.Mean-mean) > 1e-9 || math.Abs(m.Variance()-variance)/variance > 1e-9 {
		t.Fatalf("merge = %+v (var %v), want mean %v var %v", m, m.Variance(), mean, variance)
	}
	if math.Abs(all.Variance()-variance)/variance > 1e-9 {
		t.Fatalf("welford var %v, want %v", all.Variance(), variance)
	}
	mb, vb := twoPass(xs[300:])
	s := all.Sub(a)
	if s.N != 700 || math.Abs(s.Mean-mb) > 1e-8 || math.Abs(s.Variance()-vb)/vb > 1e-6 {
		t.Fatalf("sub = %+v (var %v), want mean %v var %v", s, s.Variance(), mb, vb)
	}
	if (Moments{}).Merge(a) != a || a.Merge(Moments{}) != a || a.Sub(Moments{}) != a {
		t.Fatal("empty moments must be the identity")
	}
	if got := a.Sub(a); got.N != 0 {
		t.Fatalf("a−a = %+v, want empty", got)
	}
}

type event struct {
	cell  int
	x     float64
	valid bool
}

// randomEvents draws events over a layout of 2r+1 value cells with about
// 5% missing and 1% invalid values.
func randomEvents(rng *rand.Rand, b *Breaks, n int) []event {
	l := b.Layout()
	evs := make([]event, n)
	for i := range evs {
		switch u := rng.Float64(); {
		case u < 0.05:
			evs[i] = event{cell: l.Missing()}
		case u < 0.06:
			evs[i] = event{cell: l.Invalid()}
		default:
			x := math.Round(rng.NormFloat64()*100) / 10 // ties on breakpoints happen
			evs[i] = event{cell: b.Cell(x), x: x, valid: true}
		}
	}
	return evs
}

func testBreaks(t testing.TB, r int) *Breaks {
	q := make([]float64, r)
	for i := range q {
		q[i] = -30 + 60*float64(i)/float64(r)
	}
	b, err := NewBreaks(q)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCountWindowExact checks, at every pane close, that the window's counts
// and moments are those of the last Size events computed from scratch.
func TestCountWindowExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	b := testBreaks(t, 50)
	const size, hop = 400, 50
	w, err := NewCountWindow(b.Layout(), size, hop)
	if err != nil {
		t.Fatal(err)
	}
	evs := randomEvents(rng, b, 5000)
	closes := 0
	for i, e := range evs {
		var closed bool
		if e.valid {
			closed = w.Add(e.cell, e.x)
		} else {
			closed = w.AddCell(e.cell)
		}
		if closed != ((i+1)%hop == 0) {
			t.Fatalf("event %d: closed=%v", i, closed)
		}
		if !closed {
			continue
		}
		closes++
		last := evs[max(0, i+1-size) : i+1]
		want := make([]uint32, b.Layout().Cells())
		var xs []float64
		for _, e := range last {
			want[e.cell]++
			if e.valid {
				xs = append(xs, e.x)
			}
		}
		if !slices.Equal(widen(w), want) {
			t.Fatalf("event %d: counts differ from the last %d events", i, len(last))
		}
		if w.N() != len(last) {
			t.Fatalf("event %d: N=%d want %d", i, w.N(), len(last))
		}
		m := w.Moments()
		mean, variance := twoPass(xs)
		if int(m.N) != len(xs) || math.Abs(m.Mean-mean) > 1e-9 || math.Abs(m.Variance()-variance) > 1e-9 {
			t.Fatalf("event %d: moments %+v var %v, want n=%d mean %v var %v", i, m, m.Variance(), len(xs), mean, variance)
		}
	}
	if closes != len(evs)/hop {
		t.Fatalf("%d pane closes, want %d", closes, len(evs)/hop)
	}
}

// TestCountWindowRestore interrupts a window at every kind of point (before
// it is full, mid-pane, at a pane boundary), restores it from its state and
// checks that both continue identically.
func TestCountWindowRestore(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	b := testBreaks(t, 20)
	evs := randomEvents(rng, b, 3000)
	for _, cut := range []int{0, 1, 49, 50, 51, 399, 400, 401, 1234, 2999} {
		w, _ := NewCountWindow(b.Layout(), 400, 50)
		feed := func(w *CountWindow, e event) bool {
			if e.valid {
				return w.Add(e.cell, e.x)
			}
			return w.AddCell(e.cell)
		}
		for _, e := range evs[:cut] {
			feed(w, e)
		}
		r, err := RestoreCount(b.Layout(), w.State())
		if err != nil {
			t.Fatalf("cut %d: %v", cut, err)
		}
		for i, e := range evs[cut:] {
			c1, c2 := feed(w, e), feed(r, e)
			if c1 != c2 || !slices.Equal(widen(w), widen(r)) || w.Moments() != r.Moments() || w.N() != r.N() {
				t.Fatalf("cut %d: restored window diverged at event %d", cut, cut+i)
			}
		}
	}
}

func TestRestoreCountRejectsCorruptState(t *testing.T) {
	b := testBreaks(t, 10)
	w, _ := NewCountWindow(b.Layout(), 100, 10)
	for i := range 155 {
		w.Add(b.Cell(float64(i%20)), float64(i%20))
	}
	good := w.State()
	if _, err := RestoreCount(b.Layout(), good); err != nil {
		t.Fatalf("good state rejected: %v", err)
	}
	corrupt := map[string]func(s *CountState){
		"cell out of range": func(s *CountState) { s.Cells[3] = 60000 },
		"too many events":   func(s *CountState) { s.Cells = append(s.Cells, 1) },
		"too few events":    func(s *CountState) { s.Cells = s.Cells[1:] },
		"pane missing":      func(s *CountState) { s.Panes = s.Panes[1:] },
		"in-pane too large": func(s *CountState) { s.InPane = 10 },
		"negative in-pane":  func(s *CountState) { s.InPane = -1 },
		"bad hop":           func(s *CountState) { s.Hop = 7 },
		"bad pane moments":  func(s *CountState) { s.Panes[0].N = 11 },
		"open moments":      func(s *CountState) { s.Open.N = 9 },
	}
	for name, f := range corrupt {
		s := w.State()
		f(&s)
		if _, err := RestoreCount(b.Layout(), s); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestPaneWindowMatchesCountWindow feeds the same events to a count window
// and to pane builders whose panes go to a pane window: after each pane
// both windows must hold the same counts and moments.
func TestPaneWindowMatchesCountWindow(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	b := testBreaks(t, 30)
	cw, _ := NewCountWindow(b.Layout(), 300, 60)
	pw, _ := NewPaneWindow(b.Layout(), 5)
	pb := NewPaneBuilder(b.Layout())
	for i, e := range randomEvents(rng, b, 2000) {
		var closed bool
		if e.valid {
			closed = cw.Add(e.cell, e.x)
			pb.Add(e.cell, e.x)
		} else {
			closed = cw.AddCell(e.cell)
			pb.AddCell(e.cell)
		}
		if !closed {
			continue
		}
		p := pb.Pane()
		if err := p.Validate(b.Layout()); err != nil {
			t.Fatalf("event %d: built pane invalid: %v", i, err)
		}
		if p.N() != 60 {
			t.Fatalf("pane holds %d events, want 60", p.N())
		}
		pw.Push(p)
		pb.Reset()
		if !slices.Equal(widen(cw), pw.Counts()) || uint64(cw.N()) != pw.N() {
			t.Fatalf("event %d: pane window counts differ", i)
		}
		a, c := cw.Moments(), pw.Moments()
		if a.N != c.N || math.Abs(a.Mean-c.Mean) > 1e-12 || math.Abs(a.M2-c.M2) > 1e-9 {
			t.Fatalf("event %d: moments %+v vs %+v", i, a, c)
		}
	}
	r, err := RestorePaneWindow(b.Layout(), 5, pw.Panes(), pw.Pushed())
	if err != nil || !slices.Equal(r.Counts(), pw.Counts()) || r.Moments() != pw.Moments() {
		t.Fatalf("restore: %v", err)
	}
}

func TestTimeClock(t *testing.T) {
	c, err := NewTimeClock(1000, 100, 150)
	if err != nil {
		t.Fatal(err)
	}
	// Cases in order; each says why.
	steps := []struct {
		t        int64
		wantPane int64
		wantLate bool
		wantDue  []int64 // panes due after observing t
	}{
		// 1. First event starts the clock at its pane.
		{t: 1005, wantPane: 10},
		// 2. Within lateness: watermark 1099−150 < 1100, nothing due.
		{t: 1099, wantPane: 10},
		// 3. Watermark 1250−150 = 1100 reaches the end of pane 10.
		{t: 1250, wantPane: 12, wantDue: []int64{10}},
		// 4. An event for pane 11 is not late: pane 11 is still open.
		{t: 1150, wantPane: 11},
		// 5. An event for pane 10 after it closed is late.
		{t: 1010, wantPane: 10, wantLate: true},
		// 6. Watermark 1460−150 = 1310 closes 11 and 12.
		{t: 1460, wantPane: 14, wantDue: []int64{11, 12}},
	}
	for i, s := range steps {
		pane, late := c.Observe(s.t)
		if pane != s.wantPane || late != s.wantLate {
			t.Fatalf("step %d: pane %d late %v, want %d %v", i+1, pane, late, s.wantPane, s.wantLate)
		}
		var due []int64
		for {
			k, ok := c.Due()
			if !ok {
				break
			}
			due = append(due, k)
			c.Advance()
		}
		if !slices.Equal(due, s.wantDue) {
			t.Fatalf("step %d: due %v, want %v", i+1, due, s.wantDue)
		}
	}
	// A timestamp far in the future closes a bounded number of panes.
	c.Observe(1 << 50)
	n := 0
	for {
		if _, ok := c.Due(); !ok {
			break
		}
		c.Advance()
		n++
	}
	if n > c.Panes()+c.OpenSlots()+1 {
		t.Fatalf("a jump closed %d panes, want at most %d", n, c.Panes()+c.OpenSlots()+1)
	}
	for _, bad := range [][3]int64{{0, 1, 0}, {10, 0, 0}, {10, 20, 0}, {10, 3, 0}, {10, 5, -1}} {
		if _, err := NewTimeClock(bad[0], bad[1], bad[2]); err == nil {
			t.Errorf("NewTimeClock%v accepted", bad)
		}
	}
}

// TestTimeWindow runs events with jittered times through a clock and time
// windows and compares the window after each close with a brute-force
// count of the events whose pane is among the last Panes closed.
func TestTimeWindow(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	b := testBreaks(t, 10)
	c, _ := NewTimeClock(500, 100, 120)
	w, err := NewTimeWindow(b.Layout(), c)
	if err != nil {
		t.Fatal(err)
	}
	type timed struct {
		event
		pane int64
	}
	var kept []timed
	late := 0
	closes := 0
	for i, e := range randomEvents(rng, b, 4000) {
		ts := int64(i)*3 + rng.Int64N(200) - 100 // out of order by up to ±100
		pane, isLate := c.Observe(ts)
		for {
			k, ok := c.Due()
			if !ok {
				break
			}
			if !w.Close(k) {
				t.Fatalf("pane %d closed twice", k)
			}
			c.Advance()
			closes++
			want := make([]uint32, b.Layout().Cells())
			for _, e := range kept {
				if e.pane <= k && e.pane > k-int64(c.Panes()) {
					want[e.cell]++
				}
			}
			if !slices.Equal(w.Counts(), want) {
				t.Fatalf("after closing pane %d: counts differ", k)
			}
			if closes%5 == 0 { // restore mid-stream at every fifth close
				w2, err := RestoreTime(b.Layout(), c, w.State())
				if err != nil {
					t.Fatal(err)
				}
				w = w2
			}
		}
		if isLate {
			late++
			continue
		}
		kept = append(kept, timed{e, pane})
		if e.valid {
			w.Add(pane, e.cell, e.x)
		} else {
			w.AddCell(pane, e.cell)
		}
	}
	if late == 0 || closes < 100 {
		t.Fatalf("scenario did not exercise lateness (%d late) or closing (%d closes)", late, closes)
	}
	if w.Close(0) {
		t.Fatal("closing an old pane again must do nothing")
	}
}

// TestLastPane: the pane a count window reports at each close holds
// exactly the last Hop events.
func TestLastPane(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	b := testBreaks(t, 20)
	w, _ := NewCountWindow(b.Layout(), 120, 40)
	pb := NewPaneBuilder(b.Layout())
	for i, e := range randomEvents(rng, b, 1000) {
		var closed bool
		if e.valid {
			closed = w.Add(e.cell, e.x)
			pb.Add(e.cell, e.x)
		} else {
			closed = w.AddCell(e.cell)
			pb.AddCell(e.cell)
		}
		if !closed {
			continue
		}
		got, want := w.LastPane(), pb.Pane()
		if !slices.Equal(got.Counts, want.Counts) || got.Moments != want.Moments {
			t.Fatalf("event %d: last pane differs from the pane built alongside", i)
		}
		// LastPaneCells holds the same cells, without allocating.
		first, second := w.LastPaneCells()
		counts := map[uint16]uint64{}
		for _, c := range append(slices.Clone(first), second...) {
			counts[c]++
		}
		if len(first)+len(second) != 40 || len(counts) != len(want.Counts) {
			t.Fatalf("event %d: LastPaneCells holds %d+%d events in %d cells, want 40 in %d", i, len(first), len(second), len(counts), len(want.Counts))
		}
		for _, cc := range want.Counts {
			if counts[cc.Cell] != uint64(cc.Count) {
				t.Fatalf("event %d: cell %d: %d events in LastPaneCells, want %d", i, cc.Cell, counts[cc.Cell], cc.Count)
			}
		}
		pb.Reset()
	}
}

// TestPaneCells: after every event, PaneCells gives each closed pane
// whose events are all held exactly its cells, and refuses the others
// (not closed, partly or wholly evicted) — also on a window restored
// from its state, whose ring starts over at position 0.
func TestPaneCells(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	b := testBreaks(t, 20)
	const size, hop = 120, 40
	w, _ := NewCountWindow(b.Layout(), size, hop)
	var all []uint16 // every event's cell, in order
	for i, e := range randomEvents(rng, b, 700) {
		if e.valid {
			w.Add(e.cell, e.x)
		} else {
			w.AddCell(e.cell)
		}
		all = append(all, uint16(e.cell))
		if i == 333 {
			var err error
			if w, err = RestoreCount(b.Layout(), w.State()); err != nil {
				t.Fatal(err)
			}
		}
		closed := uint64(len(all) / hop)
		oldest := max(0, len(all)-size) // first event still held
		for p := max(closed, 5) - 5; p <= closed+1; p++ {
			first, second, ok := w.PaneCells(p)
			want := p < closed && int(p)*hop >= oldest
			if ok != want {
				t.Fatalf("event %d: pane %d: ok %v, want %v", i, p, ok, want)
			}
			if ok && !slices.Equal(append(slices.Clone(first), second...), all[int(p)*hop:int(p+1)*hop]) {
				t.Fatalf("event %d: pane %d: cells differ from the pane's events", i, p)
			}
		}
	}
}

// TestBreaksCellSkewed checks the bucket index on breakpoints that crowd
// into a small part of the range (log-normal), on a huge range, on
// negative values and on a range too wide to bucket.
func TestBreaksCellSkewed(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	sets := map[string][]float64{}
	var ln []float64
	for i := range 3000 {
		ln = append(ln, math.Exp(float64(i)/300)) // e^0 .. e^10
	}
	sets["lognormal-like"] = ln
	sets["huge range"] = []float64{-1e300, -1, 0, 1e-300, 1, 1e300}
	sets["too wide"] = []float64{-math.MaxFloat64, 0, math.MaxFloat64}
	var neg []float64
	for i := range 500 {
		neg = append(neg, -1000+float64(i*i)/250)
	}
	sets["negative, widening"] = neg
	for name, q := range sets {
		b, err := NewBreaks(q)
		if err != nil {
			t.Fatal(name, err)
		}
		xs := []float64{math.Inf(-1), math.Inf(1), -math.MaxFloat64, math.MaxFloat64, 0, math.Copysign(0, -1)}
		for _, v := range q {
			xs = append(xs, v, math.Nextafter(v, math.Inf(-1)), math.Nextafter(v, math.Inf(1)))
		}
		for range 20000 {
			u := rng.Float64() // q[0]·(1−u) + q[r]·u: no overflow for the widest sets
			xs = append(xs, q[0]*(1-u)+q[len(q)-1]*u, q[rng.IntN(len(q))]*(1+rng.NormFloat64()*1e-3))
		}
		for _, x := range xs {
			if math.IsNaN(x) {
				continue
			}
			if got, want := b.Cell(x), bruteCell(q, x); got != want {
				t.Fatalf("%s: x=%v: cell %d, want %d", name, x, got, want)
			}
		}
	}
}

// widen returns a count window's counts as 32-bit values.
func widen(w *CountWindow) []uint32 {
	out := make([]uint32, len(w.Counts()))
	for i, c := range w.Counts() {
		out[i] = uint32(c)
	}
	return out
}

// TestTimeClockFuture: an event further ahead of the watermark than the
// maximum future is reported future and moves nothing, so the events after
// it are on time; FutureAccept future events in a row are a real jump of
// event time and the last is accepted.
func TestTimeClockFuture(t *testing.T) {
	c, err := NewTimeClock(1000, 100, 0)
	if err != nil {
		t.Fatal(err)
	}
	c.SetMaxFuture(1000)
	// 1. The first event is never future: there is no watermark yet.
	if c.Future(5_000) {
		t.Fatal("first event future")
	}
	c.Observe(5_000)
	// 2. Within the bound (watermark 5000 + 1000): on time.
	if c.Future(6_000) {
		t.Fatal("event at the bound is future")
	}
	c.Observe(6_000)
	// 3. A day ahead: future, and the watermark stays.
	if !c.Future(6_000 + 86_400_000) {
		t.Fatal("a day ahead is not future")
	}
	if c.Watermark() != 6_000 {
		t.Fatalf("watermark moved to %d", c.Watermark())
	}
	// 4. The next ordinary event is neither future nor late.
	if c.Future(6_050) {
		t.Fatal("ordinary event future")
	}
	if _, late := c.Observe(6_050); late {
		t.Fatal("ordinary event late after a future one")
	}
	// 5. A stream resuming an hour later: FutureAccept−1 events are
	// future, the FutureAccept-th is accepted and moves the watermark.
	for i := range FutureAccept - 1 {
		if !c.Future(int64(3_600_000 + i)) {
			t.Fatalf("resumed event %d not future", i)
		}
	}
	if c.Future(3_600_000 + FutureAccept) {
		t.Fatal("the run of future events was not accepted")
	}
	c.Observe(3_600_000 + FutureAccept)
	if c.Watermark() != 3_600_000+FutureAccept {
		t.Fatalf("watermark %d after the jump", c.Watermark())
	}
	// 6. Without a bound nothing is future.
	c.SetMaxFuture(0)
	if c.Future(1 << 50) {
		t.Fatal("future without a bound")
	}
}
