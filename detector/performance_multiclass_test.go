package detector

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
)

// multiclassReference is a valid reference with a multiclass performance
// section: 3 classes, 100 validation rows, 80 correct.
func multiclassReference(t *testing.T) *Reference {
	ref := buildNumeric(t, "x", normals(rand.New(rand.NewPCG(9, 9)), 500), 16)
	ref.Performance = &PerformanceRef{Task: PerformanceMulticlass, Prediction: "prediction", Label: "label", Count: 100,
		MulticlassRef: MulticlassRef{Classes: []string{"a", "b", "c"},
			Confusion: [][]int64{{40, 5, 5}, {3, 30, 2}, {2, 3, 10}}, Accuracy: 0.8, MacroF1: 0.78}}
	return ref
}

// TestMulticlassReferenceRoundTrip: a multiclass performance section
// survives encoding and decoding (the fast token decoder included).
func TestMulticlassReferenceRoundTrip(t *testing.T) {
	ref := multiclassReference(t)
	data, err := ref.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeReference(data)
	if err != nil {
		t.Fatal(err)
	}
	p := got.Performance
	if p.Task != PerformanceMulticlass || !slices.Equal(p.Classes, []string{"a", "b", "c"}) || p.Confusion[2][2] != 10 || p.Confusion[0][1] != 5 ||
		p.Accuracy != 0.8 || p.MacroF1 != 0.78 || got.ID != ref.ID {
		t.Fatalf("decoded %+v", *p)
	}
}

// TestMulticlassReferenceRejects: each broken multiclass section fails
// with an error naming the field.
func TestMulticlassReferenceRejects(t *testing.T) {
	good, err := multiclassReference(t).Encode()
	if err != nil {
		t.Fatal(err)
	}
	mutate := func(f func(p map[string]any)) []byte {
		var m map[string]any
		json.Unmarshal(good, &m)
		f(m["performance"].(map[string]any))
		data, _ := json.Marshal(m)
		return data
	}
	many := make([]any, MaxClasses+1)
	for i := range many {
		many[i] = string(rune('A' + i))
	}
	for _, tc := range []struct {
		name  string
		data  []byte
		field string
	}{
		{"one class", mutate(func(p map[string]any) { p["classes"] = []any{"a"} }), "performance.classes"},
		{"estimation", mutate(func(p map[string]any) { p["estimation"] = map[string]any{} }), "performance.estimation"},
		{"too many classes", mutate(func(p map[string]any) { p["classes"] = many }), "performance.classes"},
		{"repeated class", mutate(func(p map[string]any) { p["classes"] = []any{"a", "b", "a"} }), "performance.classes"},
		{"empty class", mutate(func(p map[string]any) { p["classes"] = []any{"a", "", "c"} }), "performance.classes"},
		{"rows", mutate(func(p map[string]any) { p["confusion"] = p["confusion"].([]any)[:2] }), "performance.confusion"},
		{"ragged", mutate(func(p map[string]any) { p["confusion"].([]any)[1] = []any{1, 2} }), "performance.confusion"},
		{"negative cell", mutate(func(p map[string]any) { p["confusion"].([]any)[1].([]any)[0] = -3 }), "performance.confusion"},
		{"huge cell", mutate(func(p map[string]any) { p["confusion"].([]any)[1].([]any)[0] = 1 << 62 }), "performance.confusion"},
		{"count", mutate(func(p map[string]any) { p["count"] = 99 }), "performance.count"},
		{"one labelled class", mutate(func(p map[string]any) {
			p["confusion"] = []any{[]any{50, 25, 25}, []any{0, 0, 0}, []any{0, 0, 0}}
			p["accuracy"] = 0.5
		}), "performance.confusion"},
		{"unused class", mutate(func(p map[string]any) {
			p["confusion"] = []any{[]any{40, 5, 0}, []any{3, 30, 0}, []any{0, 0, 0}}
		}), "performance.confusion"},
		{"accuracy", mutate(func(p map[string]any) { p["accuracy"] = 0.9 }), "performance.accuracy"},
		{"macro_f1", mutate(func(p map[string]any) { p["macro_f1"] = 1.5 }), "performance.macro_f1"},
		{"binary fields", mutate(func(p map[string]any) { p["positives"] = 5 }), "performance.positives"},
		{"task", mutate(func(p map[string]any) { p["task"] = "ternary" }), "performance.task"},
	} {
		_, err := DecodeReference(tc.data)
		var fe *FieldError
		if !errors.As(err, &fe) {
			t.Errorf("%s: error %v, want a *FieldError", tc.name, err)
			continue
		}
		if fe.Field != tc.field {
			t.Errorf("%s: error names %q, want %q (%v)", tc.name, fe.Field, tc.field, err)
		}
	}
}
