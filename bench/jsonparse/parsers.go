// Package jsonparse compares Go JSON parsers on driftd's bench events
// (bench/gen), to pick the parse-only baseline of `driftd bench
// --inprocess`: the fastest parser that validates the whole value and
// builds a DOM or tape, without extracting anything from it.
//
// It is a module of its own so that the candidates do not become
// dependencies of driftd; only the winner is required by cmd/driftd.
//
//	cd bench/jsonparse && go test -run Strictness -v && go test -bench . -benchmem -count 5
//
// TestStrictness feeds every parser malformed values and reports which
// ones each accepts: a parser that accepts malformed JSON does less work
// than driftd's decoder and is not a fair baseline.
package jsonparse

import (
	"encoding/json"

	"github.com/bytedance/sonic"
	gojson "github.com/goccy/go-json"
	"github.com/minio/simdjson-go"
	"github.com/valyala/fastjson"

	"github.com/driftd/driftd/stream/codec"
)

// Parser is one way of parsing a value.
type Parser struct {
	Name string
	// Kind is "validate" (syntax check only), "dom" (a tree of values),
	// "tape" (simdjson's flat encoding) or "decode" (driftd: validate
	// and extract the event).
	Kind string
	// New returns a parse function with its own reusable state.
	New func() func([]byte) error
	// Supported reports whether it runs on this machine.
	Supported func() bool
}

type invalid struct{}

func (invalid) Error() string { return "invalid JSON" }

func always() bool { return true }

// Parsers lists the candidates.
var Parsers = []Parser{
	{Name: "driftd codec.Decode", Kind: "decode", Supported: always, New: func() func([]byte) error {
		d, _ := codec.NewDecoder(codec.Canonical, 0)
		return func(b []byte) error { _, err := d.Decode(b); return err }
	}},
	{Name: "encoding/json Valid", Kind: "validate", Supported: always, New: func() func([]byte) error {
		return func(b []byte) error {
			if !json.Valid(b) {
				return invalid{}
			}
			return nil
		}
	}},
	{Name: "encoding/json Unmarshal any", Kind: "dom", Supported: always, New: func() func([]byte) error {
		return func(b []byte) error { var v any; return json.Unmarshal(b, &v) }
	}},
	{Name: "goccy/go-json Valid", Kind: "validate", Supported: always, New: func() func([]byte) error {
		return func(b []byte) error {
			if !gojson.Valid(b) {
				return invalid{}
			}
			return nil
		}
	}},
	{Name: "goccy/go-json Unmarshal any", Kind: "dom", Supported: always, New: func() func([]byte) error {
		return func(b []byte) error { var v any; return gojson.Unmarshal(b, &v) }
	}},
	{Name: "sonic Valid", Kind: "validate", Supported: always, New: func() func([]byte) error {
		return func(b []byte) error {
			if !sonic.Valid(b) {
				return invalid{}
			}
			return nil
		}
	}},
	{Name: "sonic Unmarshal any", Kind: "dom", Supported: always, New: func() func([]byte) error {
		return func(b []byte) error { var v any; return sonic.Unmarshal(b, &v) }
	}},
	{Name: "sonic ConfigStd Unmarshal any", Kind: "dom", Supported: always, New: func() func([]byte) error {
		api := sonic.ConfigStd
		return func(b []byte) error { var v any; return api.Unmarshal(b, &v) }
	}},
	{Name: "fastjson ValidateBytes", Kind: "validate", Supported: always, New: func() func([]byte) error {
		return fastjson.ValidateBytes
	}},
	{Name: "fastjson Parser.ParseBytes", Kind: "dom", Supported: always, New: func() func([]byte) error {
		var p fastjson.Parser
		return func(b []byte) error { _, err := p.ParseBytes(b); return err }
	}},
	{Name: "fastjson ValidateBytes+ParseBytes", Kind: "dom", Supported: always, New: func() func([]byte) error {
		var p fastjson.Parser
		return func(b []byte) error {
			if err := fastjson.ValidateBytes(b); err != nil {
				return err
			}
			_, err := p.ParseBytes(b)
			return err
		}
	}},
	{Name: "simdjson-go Parse (tape, reused)", Kind: "tape", Supported: simdjson.SupportedCPU, New: func() func([]byte) error {
		var pj *simdjson.ParsedJson
		return func(b []byte) error {
			var err error
			pj, err = simdjson.Parse(b, pj, simdjson.WithCopyStrings(false))
			return err
		}
	}},
}
