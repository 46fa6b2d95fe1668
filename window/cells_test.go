package window

import (
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

// TestCountAppendCells: AppendCells reads any run of the events a count
// window holds as State().Cells does, before and after the ring wraps,
// and Header is State without the cells; reading past what the window
// holds panics rather than returning stale cells.
func TestCountAppendCells(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	b := testBreaks(t, 20)
	evs := randomEvents(rng, b, 1500)
	w, _ := NewCountWindow(b.Layout(), 400, 50)
	for i, e := range evs {
		if e.valid {
			w.Add(e.cell, e.x)
		} else {
			w.AddCell(e.cell)
		}
		if i%37 != 0 {
			continue
		}
		s := w.State()
		h := w.Header()
		h.Cells = s.Cells
		if len(h.Panes) == 0 && len(s.Panes) == 0 {
			h.Panes, s.Panes = nil, nil
		}
		if !reflect.DeepEqual(h, s) {
			t.Fatalf("after %d events: Header differs from State", i+1)
		}
		for _, r := range [][2]int{{0, w.N()}, {0, 0}, {w.N() / 3, w.N() / 2}, {w.N() - 1, 1}} {
			if r[0] < 0 || r[0]+r[1] > w.N() {
				continue
			}
			if got := w.AppendCells(nil, r[0], r[1]); !slices.Equal(got, s.Cells[r[0]:r[0]+r[1]]) {
				t.Fatalf("after %d events: cells %d+%d differ from State's", i+1, r[0], r[1])
			}
		}
	}
	defer func() {
		if recover() == nil {
			t.Fatal("reading past the events held did not panic")
		}
	}()
	w.AppendCells(nil, w.N()-10, 11)
}
