package detector

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// FuzzDecodeFast: whatever the fast reference parser accepts decodes to
// exactly what encoding/json (decodeStrict) makes of it, which must accept
// it too.
func FuzzDecodeFast(f *testing.F) {
	rng := rand.New(rand.NewPCG(3, 3))
	b, err := NewBuilder("m", "1", BuildOptions{Breakpoints: 50})
	if err != nil {
		f.Fatal(err)
	}
	for range 500 {
		b.BeginRow()
		b.Add("x", Value{Kind: Number, Num: rng.NormFloat64(), Parsed: true})
		b.Add("n", Value{Kind: Number, Num: float64(rng.IntN(5)), Parsed: true})
		b.Add("plan", Value{Kind: String, Text: []byte([]string{"basic", "pro", "é"}[rng.IntN(3)])})
		b.EndRow()
	}
	mixed, err := b.Reference()
	if err != nil {
		f.Fatal(err)
	}
	for _, ref := range []*Reference{mixed, normalReference(f, rng, 2, 500, 0, 1)} {
		data, err := ref.Encode()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{`{"schema":"x","features":[]}`, `{"rows":1e3}`, `{"rows":-0}`, `{"model":"a","model":"b"}`,
		`{"features":[{"name":"a","breakpoints":[1,2.5e-3,-0.0]}]}`, `{"Model":"a"}`, `{"model":"\u00e9"}`, `{"model":"é"}`,
		`{"features":[{"exact":true,"ranks":[1,2,3]}]} `, `{"created":"2026-01-02T03:04:05Z"}`, `{"features":null}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var fast Reference
		if !decodeFast(data, &fast) {
			return
		}
		var strict Reference
		if err := decodeStrict(data, &strict); err != nil {
			t.Fatalf("fast parser accepted what encoding/json rejects (%v): %q", err, data)
		}
		if !reflect.DeepEqual(normalize(&fast), normalize(&strict)) {
			t.Fatalf("fast parser and encoding/json differ on %q:\n%+v\n%+v", data, fast, strict)
		}
	})
}

// normalize makes empty and nil slices alike (encoding/json leaves an
// absent or empty array nil or empty depending on the input).
func normalize(r *Reference) *Reference {
	c := *r
	if len(c.Features) == 0 {
		c.Features = nil
	}
	var fs []*FeatureRef
	for _, f := range c.Features {
		g := *f
		if len(g.Breakpoints) == 0 {
			g.Breakpoints = nil
		}
		if len(g.Ranks) == 0 {
			g.Ranks = nil
		}
		if len(g.Categories) == 0 {
			g.Categories = nil
		}
		fs = append(fs, &g)
	}
	c.Features = fs
	return &c
}

// TestDecodeFastMutations is FuzzDecodeFast's check over 20,000
// deterministic mutations (byte flips, deletions, insertions of JSON
// punctuation) of an encoded reference: the fast parser either declines
// or decodes exactly as encoding/json does.
func TestDecodeFastMutations(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	b, err := NewBuilder("m", "1", BuildOptions{Breakpoints: 20})
	if err != nil {
		t.Fatal(err)
	}
	for range 300 {
		b.BeginRow()
		b.Add("x", Value{Kind: Number, Num: rng.NormFloat64(), Parsed: true})
		b.Add("plan", Value{Kind: String, Text: []byte([]string{"basic", "pro", "é"}[rng.IntN(3)])})
		b.EndRow()
	}
	ref, err := b.Reference()
	if err != nil {
		t.Fatal(err)
	}
	data, err := ref.Encode()
	if err != nil {
		t.Fatal(err)
	}
	var whole Reference
	if !decodeFast(data, &whole) {
		t.Fatal("the fast parser declines an encoded reference")
	}
	punct := []byte(`{}[],:"\ -.e0123456789ntf` + "\x00\xff")
	accepted := 0
	for range 20000 {
		m := append([]byte(nil), data...)
		for range 1 + rng.IntN(3) {
			i := rng.IntN(len(m))
			switch rng.IntN(3) {
			case 0:
				m[i] = punct[rng.IntN(len(punct))]
			case 1:
				m = append(m[:i], m[i+1:]...)
			default:
				m = append(m[:i], append([]byte{punct[rng.IntN(len(punct))]}, m[i:]...)...)
			}
		}
		var fast, strict Reference
		if !decodeFast(m, &fast) {
			continue
		}
		accepted++
		if err := decodeStrict(m, &strict); err != nil {
			t.Fatalf("fast parser accepted what encoding/json rejects (%v): %q", err, m)
		}
		if !reflect.DeepEqual(normalize(&fast), normalize(&strict)) {
			t.Fatalf("fast parser and encoding/json differ on %q", m)
		}
	}
	t.Logf("%d of 20,000 mutations accepted by the fast parser, all decoded as encoding/json does", accepted)
}

// TestAppendIDJSON: the reflection-free encoding behind a reference's ID
// is byte for byte json.Marshal's, or declines.
func TestAppendIDJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	b, err := NewBuilder("m", "1", BuildOptions{Breakpoints: 100})
	if err != nil {
		t.Fatal(err)
	}
	for range 2000 {
		b.BeginRow()
		b.Add("x", Value{Kind: Number, Num: rng.NormFloat64() * 1e-7, Parsed: true})
		b.Add("big", Value{Kind: Number, Num: rng.ExpFloat64() * 1e22, Parsed: true})
		b.Add("n", Value{Kind: Number, Num: float64(rng.IntN(5)), Parsed: true})
		b.Add("plan", Value{Kind: String, Text: []byte([]string{"basic", "pro"}[rng.IntN(2)])})
		b.EndRow()
	}
	ref, err := b.Reference()
	if err != nil {
		t.Fatal(err)
	}
	escaped := *ref
	escaped.Model = "a<b" // escaped by encoding/json: declined, whatever follows
	refs := []*Reference{ref, &escaped, {Schema: "s", Model: "a<b", Features: []*FeatureRef{nil}}, {Schema: "s", Model: "é"}, {Model: "m", Features: []*FeatureRef{}}}
	for i, r := range refs {
		want, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := appendIDJSON(nil, r)
		if ok && !bytes.Equal(got, want) {
			t.Errorf("reference %d:\n got %s\nwant %s", i, got, want)
		}
		if ok != (i == 0 || i == 4) {
			t.Errorf("reference %d: declined=%v", i, !ok)
		}
	}
	// Every float64 format encoding/json has: mutate the values.
	for range 20000 {
		x := math.Float64frombits(rng.Uint64())
		if math.IsNaN(x) || math.IsInf(x, 0) {
			continue
		}
		want, _ := json.Marshal(x)
		got, _ := appendJSONFloat(nil, x)
		if !bytes.Equal(got, want) {
			t.Fatalf("%v: got %s, want %s", x, got, want)
		}
	}
}

// TestDecodeReferenceIDTokens: a reference encoded by driftd has its ID
// checked from its own float tokens; the same numbers written another way
// (another producer) are still accepted, through the full check; a
// changed value with the old ID is still rejected.
func TestDecodeReferenceIDTokens(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	ref := normalReference(t, rng, 3, 2000, 0, 1)
	data, err := ref.Encode()
	if err != nil {
		t.Fatal(err)
	}
	var r Reference
	floats, ok := decodeFastTokens(data, &r)
	if !ok || !idMatchesTokens(&r, data, floats) {
		t.Fatal("the ID of a driftd-encoded reference is not matched from its tokens")
	}
	// The first breakpoint, written with an exponent: same value.
	bp := ref.Features[0].Breakpoints[0]
	old := []byte(strconv.FormatFloat(bp, 'f', -1, 64))
	i := bytes.Index(data, append([]byte("\"breakpoints\": [\n        "), old...))
	if i < 0 {
		t.Fatalf("breakpoint %s not found", old)
	}
	other := bytes.Replace(data, old, []byte(strconv.FormatFloat(bp, 'e', -1, 64)), 1)
	r = Reference{}
	floats, ok = decodeFastTokens(other, &r)
	if !ok || idMatchesTokens(&r, other, floats) {
		t.Fatal("another formatting of a number matched the tokens' hash")
	}
	if _, err := DecodeReference(other); err != nil {
		t.Fatalf("the same reference with a number written differently: %v", err)
	}
	// A changed value keeps its old ID: rejected.
	bps := ref.Features[0].Breakpoints
	second := []byte(strconv.FormatFloat(bps[1], 'f', -1, 64))
	changed := bytes.Replace(data, second, []byte(strconv.FormatFloat((bps[0]+bps[1])/2, 'f', -1, 64)), 1)
	if _, err := DecodeReference(changed); err == nil || !strings.Contains(err.Error(), "hashes to") {
		t.Fatalf("a changed breakpoint under the old ID: %v", err)
	}
}
