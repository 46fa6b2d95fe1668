package gen

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
)

// TestGenerate: events are valid JSON with every feature, deterministic
// for a seed, and drifted features shift by Shift sd from the change point.
func TestGenerate(t *testing.T) {
	cfg := Defaults()
	cfg.Shift = 1
	evs := Generate(cfg, 4000, 2000)
	again := Generate(cfg, 4000, 2000)
	if !bytes.Equal(evs.Data, again.Data) {
		t.Fatal("not deterministic")
	}
	var before, after float64
	for i := range evs.Len() {
		var e struct {
			Model      string         `json:"model"`
			Features   map[string]any `json:"features"`
			Prediction float64        `json:"prediction"`
		}
		if err := json.Unmarshal(evs.At(i), &e); err != nil {
			t.Fatalf("event %d: %v: %s", i, err, evs.At(i))
		}
		if e.Model != "bench" || len(e.Features) != 25 || e.Prediction <= 0 || e.Prediction >= 1 {
			t.Fatalf("event %d: %+v", i, e)
		}
		if _, ok := e.Features["c03"].(string); !ok {
			t.Fatalf("c03 is not a string: %v", e.Features["c03"])
		}
		if i < 2000 {
			before += e.Features["f00"].(float64)
		} else {
			after += e.Features["f00"].(float64)
		}
	}
	if d := (after - before) / 2000; math.Abs(d-1) > 0.1 {
		t.Errorf("f00 shifted by %.3f, want 1", d)
	}
	g := New(cfg, 1)
	var row map[string]any
	if err := json.Unmarshal(g.AppendRow(nil), &row); err != nil || len(row) != 26 {
		t.Fatalf("row %v: %v", row, err)
	}
	bad := cfg
	bad.Drifted = []string{"f99"}
	if bad.Validate() == nil {
		t.Error("f99 accepted as a drifted feature")
	}
}
