package jsonparse

import (
	"fmt"
	"strings"
	"testing"

	"github.com/driftd/driftd/bench/gen"
)

// events are the bench's default events: 20 numeric and 5 categorical
// features and a prediction, about 600 bytes each.
func events(n int) *gen.Events { return gen.Generate(gen.Defaults(), n, n/2) }

// malformed values, each violating the JSON grammar (RFC 8259) in one
// way; utf8 marks the one that is only an encoding error.
var malformed = []struct {
	name  string
	value string
}{
	{"truncated", `{"a":1`},
	{"double dot", `{"a":1..2}`},
	{"lone minus", `{"a":-}`},
	{"leading zero", `{"a":01}`},
	{"bare fraction", `{"a":.5}`},
	{"plus sign", `{"a":+1}`},
	{"empty exponent", `{"a":1e}`},
	{"bad escape", `{"a":"\q"}`},
	{"short \\u escape", `{"a":"\u12"}`},
	{"control char", "{\"a\":\"x\x01y\"}"},
	{"invalid UTF-8", "{\"a\":\"\xff\"}"},
	{"trailing garbage", `{"a":1} x`},
	{"trailing comma", `{"a":1,}`},
	{"bad literal", `{"a":tru}`},
	{"unquoted key", `{a:1}`},
	{"missing colon", `{"a" 1}`},
	{"mismatched bracket", `{"a":[1,2}`},
	{"NaN", `{"a":NaN}`},
}

// TestStrictness reports, per parser, the malformed values it accepts,
// and checks that every parser accepts the bench events.
func TestStrictness(t *testing.T) {
	evs := events(64)
	var table strings.Builder
	fmt.Fprintf(&table, "\n%-36s %-9s %s\n", "parser", "kind", "accepts (should reject all)")
	for _, p := range Parsers {
		if !p.Supported() {
			fmt.Fprintf(&table, "%-36s %-9s (not supported on this CPU)\n", p.Name, p.Kind)
			continue
		}
		parse := p.New()
		for i := range evs.Len() {
			if err := parse(evs.At(i)); err != nil {
				t.Errorf("%s rejects bench event %d: %v", p.Name, i, err)
			}
		}
		var accepted []string
		for _, m := range malformed {
			if parse([]byte(m.value)) == nil {
				accepted = append(accepted, m.name)
			}
		}
		if len(accepted) == 0 {
			accepted = []string{"nothing"}
		}
		fmt.Fprintf(&table, "%-36s %-9s %s\n", p.Name, p.Kind, strings.Join(accepted, ", "))
	}
	t.Log(table.String())
}

// BenchmarkParse parses 4096 distinct bench events in turn with each
// parser; SetBytes makes MB/s comparable with BenchmarkDecode in
// stream/codec.
func BenchmarkParse(b *testing.B) {
	evs := events(4096)
	avg := int64(evs.Bytes() / evs.Len())
	for _, p := range Parsers {
		b.Run(strings.NewReplacer(" ", "_", "/", ":").Replace(p.Name), func(b *testing.B) {
			if !p.Supported() {
				b.Skip("not supported on this CPU")
			}
			parse := p.New()
			b.SetBytes(avg)
			b.ReportAllocs()
			n := evs.Len()
			for i := 0; b.Loop(); i++ {
				if err := parse(evs.At(i % n)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
