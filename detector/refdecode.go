package detector

import (
	"math"
	"strconv"
	"time"
	"unicode/utf8"
	"unsafe"
)

// decodeFast parses the JSON of a reference without reflection: the
// breakpoints and ranks of a numeric feature are most of a reference's
// bytes, and encoding/json spends ~45 ns per byte on them. It accepts only
// what decodeStrict would decode to the same value — known field names
// spelled exactly, strings without escapes in valid UTF-8, numbers in
// JSON's grammar that fit their field, no null, nothing after the
// object — and reports false otherwise, for the caller to fall back to
// decodeStrict (which also gives the error message).
func decodeFast(data []byte, r *Reference) bool {
	_, ok := decodeFastTokens(data, r)
	return ok
}

// decodeFastTokens is decodeFast that also returns where each float token
// of the input is, in order (for idMatchesTokens).
func decodeFastTokens(data []byte, r *Reference) ([][2]int, bool) {
	p := fastParser{b: data}
	var seen uint32
	ok := p.object(func(key []byte) bool {
		if !once(&seen, topKeys, key) {
			return false // a repeated key: encoding/json merges, leave it to it
		}
		switch string(key) {
		case "schema":
			return p.str(&r.Schema)
		case "id":
			return p.str(&r.ID)
		case "model":
			return p.str(&r.Model)
		case "version":
			return p.str(&r.Version)
		case "source":
			return p.str(&r.Source)
		case "rows":
			return p.int(&r.Rows)
		case "created":
			start := p.i
			var s string
			if !p.str(&s) {
				return false
			}
			r.Created = time.Time{}
			return r.Created.UnmarshalJSON(p.b[start:p.i]) == nil
		case "features":
			r.Features = r.Features[:0]
			return p.array(func() bool {
				f := &FeatureRef{}
				r.Features = append(r.Features, f)
				return p.feature(f)
			})
		}
		return false
	})
	if !ok {
		return nil, false
	}
	p.ws()
	return p.floats, p.i == len(p.b)
}

// idMatchesTokens reports whether r.ID is the hash of r's json.Marshal
// encoding written with the input's own float tokens (data at floats, in
// order) instead of formatting each float again. A match proves the ID
// right: the producer hashed json.Marshal of its values, those bytes are
// these, and the tokens parse back to exactly the values they were
// formatted from. No match (another producer's number formatting, another
// key order) proves nothing, and the caller computes the ID in full.
func idMatchesTokens(r *Reference, data []byte, floats [][2]int) bool {
	c := *r
	c.ID, c.Created, c.Source = "", time.Time{}, ""
	next := 0
	enc, ok := appendIDJSONWith(make([]byte, 0, len(data)/2), &c, func(b []byte, _ float64) ([]byte, bool) {
		if next == len(floats) {
			return b, false
		}
		t := floats[next]
		next++
		return append(b, data[t[0]:t[1]]...), true
	})
	if !ok || next != len(floats) {
		return false
	}
	return idOf(enc) == r.ID
}

func (p *fastParser) feature(f *FeatureRef) bool {
	var seen uint32
	return p.object(func(key []byte) bool {
		if !once(&seen, featureKeys, key) {
			return false
		}
		switch string(key) {
		case "name":
			return p.str(&f.Name)
		case "kind":
			var s string
			ok := p.str(&s)
			f.Kind = Kind(s)
			return ok
		case "count":
			return p.int(&f.Count)
		case "missing":
			return p.int(&f.Missing)
		case "invalid":
			return p.int(&f.Invalid)
		case "mean":
			return p.float(&f.Mean)
		case "variance":
			return p.float(&f.Variance)
		case "min":
			return p.float(&f.Min)
		case "max":
			return p.float(&f.Max)
		case "cdf_error":
			return p.float(&f.CDFError)
		case "exact":
			return p.bool(&f.Exact)
		case "other":
			return p.int(&f.Other)
		case "distinct":
			return p.int(&f.Distinct)
		case "breakpoints":
			f.Breakpoints = f.Breakpoints[:0]
			return p.array(func() bool {
				var x float64
				ok := p.float(&x)
				f.Breakpoints = append(f.Breakpoints, x)
				return ok
			})
		case "ranks":
			f.Ranks = f.Ranks[:0]
			return p.array(func() bool {
				var x int64
				ok := p.int(&x)
				f.Ranks = append(f.Ranks, x)
				return ok
			})
		case "categories":
			f.Categories = f.Categories[:0]
			return p.array(func() bool {
				var c CategoryCount
				var seen uint32
				ok := p.object(func(key []byte) bool {
					if !once(&seen, categoryKeys, key) {
						return false
					}
					switch string(key) {
					case "value":
						return p.str(&c.Value)
					case "count":
						return p.int(&c.Count)
					}
					return false
				})
				f.Categories = append(f.Categories, c)
				return ok
			})
		}
		return false
	})
}

var (
	topKeys      = []string{"schema", "id", "model", "version", "source", "rows", "created", "features"}
	featureKeys  = []string{"name", "kind", "count", "missing", "invalid", "mean", "variance", "min", "max", "cdf_error", "exact", "other", "distinct", "breakpoints", "ranks", "categories"}
	categoryKeys = []string{"value", "count"}
)

// once marks key in seen (a bit per entry of keys) and reports whether it
// is a known key not seen before.
func once(seen *uint32, keys []string, key []byte) bool {
	for i, k := range keys {
		if k == string(key) {
			if *seen&(1<<i) != 0 {
				return false
			}
			*seen |= 1 << i
			return true
		}
	}
	return false
}

type fastParser struct {
	b      []byte
	i      int
	floats [][2]int // where each float token of the input is, in order
}

func (p *fastParser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *fastParser) next(c byte) bool {
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// object calls member for each key, positioned at its value.
func (p *fastParser) object(member func(key []byte) bool) bool {
	if !p.next('{') {
		return false
	}
	if p.next('}') {
		return true
	}
	for {
		p.ws()
		key, ok := p.rawString()
		if !ok || !p.next(':') {
			return false
		}
		if !member(key) {
			return false
		}
		if p.next(',') {
			continue
		}
		return p.next('}')
	}
}

// array calls elem for each element, positioned at it.
func (p *fastParser) array(elem func() bool) bool {
	if !p.next('[') {
		return false
	}
	if p.next(']') {
		return true
	}
	for {
		if !elem() {
			return false
		}
		if p.next(',') {
			continue
		}
		return p.next(']')
	}
}

// rawString returns the bytes of a string without escapes or control
// characters, in valid UTF-8.
func (p *fastParser) rawString() ([]byte, bool) {
	if p.i >= len(p.b) || p.b[p.i] != '"' {
		return nil, false
	}
	start := p.i + 1
	ascii := true
	for j := start; j < len(p.b); j++ {
		c := p.b[j]
		switch {
		case c == '"':
			p.i = j + 1
			s := p.b[start:j]
			return s, ascii || utf8.Valid(s)
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= 0x80:
			ascii = false
		}
	}
	return nil, false
}

func (p *fastParser) str(dst *string) bool {
	p.ws()
	s, ok := p.rawString()
	if ok {
		*dst = string(s)
	}
	return ok
}

func (p *fastParser) bool(dst *bool) bool {
	p.ws()
	switch {
	case len(p.b)-p.i >= 4 && string(p.b[p.i:p.i+4]) == "true":
		p.i += 4
		*dst = true
	case len(p.b)-p.i >= 5 && string(p.b[p.i:p.i+5]) == "false":
		p.i += 5
		*dst = false
	default:
		return false
	}
	return true
}

// number returns the next token if it follows JSON's number grammar:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (p *fastParser) number() ([]byte, bool) {
	p.ws()
	b, j := p.b, p.i
	if j < len(b) && b[j] == '-' {
		j++
	}
	if j < len(b) && b[j] == '0' {
		j++
	} else {
		k := j
		for j < len(b) && b[j]-'0' <= 9 {
			j++
		}
		if j == k {
			return nil, false
		}
	}
	if j < len(b) && b[j] == '.' {
		j++
		k := j
		for j < len(b) && b[j]-'0' <= 9 {
			j++
		}
		if j == k {
			return nil, false
		}
	}
	if j < len(b) && b[j]|0x20 == 'e' {
		j++
		if j < len(b) && (b[j] == '+' || b[j] == '-') {
			j++
		}
		k := j
		for j < len(b) && b[j]-'0' <= 9 {
			j++
		}
		if j == k {
			return nil, false
		}
	}
	tok := b[p.i:j]
	p.i = j
	return tok, true
}

func (p *fastParser) float(dst *float64) bool {
	tok, ok := p.number()
	if !ok {
		return false
	}
	p.floats = append(p.floats, [2]int{p.i - len(tok), p.i})
	x, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(tok), len(tok)), 64)
	*dst = x
	return err == nil
}

func (p *fastParser) int(dst *int64) bool {
	tok, ok := p.number()
	if !ok {
		return false
	}
	x, err := strconv.ParseInt(unsafe.String(unsafe.SliceData(tok), len(tok)), 10, 64)
	*dst = x
	return err == nil
}

// appendIDJSON appends what json.Marshal writes for r, without
// reflection, for computeID; false when a string would need escaping
// (quotes, backslashes, control or non-ASCII characters, or the HTML
// characters encoding/json escapes), or for a creation time, where the
// caller falls back to json.Marshal.
func appendIDJSON(b []byte, r *Reference) ([]byte, bool) {
	return appendIDJSONWith(b, r, appendJSONFloat)
}

// appendIDJSONWith is appendIDJSON with floats written by float.
func appendIDJSONWith(b []byte, r *Reference, appendFloat func([]byte, float64) ([]byte, bool)) ([]byte, bool) {
	if !r.Created.IsZero() {
		return b, false
	}
	ok := true // no string needing escapes
	var fok bool
	str := func(s string) {
		for i := 0; i < len(s); i++ {
			if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
				ok = false
			}
		}
		b = append(b, '"')
		b = append(b, s...)
		b = append(b, '"')
	}
	b = append(b, `{"schema":`...)
	str(r.Schema)
	b = append(b, `,"id":`...)
	str(r.ID)
	b = append(b, `,"model":`...)
	str(r.Model)
	b = append(b, `,"version":`...)
	str(r.Version)
	b = append(b, `,"rows":`...)
	b = strconv.AppendInt(b, r.Rows, 10)
	if r.Source != "" {
		b = append(b, `,"source":`...)
		str(r.Source)
	}
	b = append(b, `,"features":`...)
	if r.Features == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, f := range r.Features {
			if i > 0 {
				b = append(b, ',')
			}
			if f == nil {
				b = append(b, "null"...)
				continue
			}
			b = append(b, `{"name":`...)
			str(f.Name)
			b = append(b, `,"kind":`...)
			str(string(f.Kind))
			b = append(b, `,"count":`...)
			b = strconv.AppendInt(b, f.Count, 10)
			b = append(b, `,"missing":`...)
			b = strconv.AppendInt(b, f.Missing, 10)
			b = append(b, `,"invalid":`...)
			b = strconv.AppendInt(b, f.Invalid, 10)
			for _, x := range []struct {
				key string
				v   float64
			}{{`,"mean":`, f.Mean}, {`,"variance":`, f.Variance}, {`,"min":`, f.Min}, {`,"max":`, f.Max}} {
				if x.v != 0 {
					b = append(b, x.key...)
					if b, fok = appendFloat(b, x.v); !fok {
						return b, false
					}
				}
			}
			if len(f.Breakpoints) > 0 {
				b = append(b, `,"breakpoints":[`...)
				for j, x := range f.Breakpoints {
					if j > 0 {
						b = append(b, ',')
					}
					if b, fok = appendFloat(b, x); !fok {
						return b, false
					}
				}
				b = append(b, ']')
			}
			if len(f.Ranks) > 0 {
				b = append(b, `,"ranks":[`...)
				for j, x := range f.Ranks {
					if j > 0 {
						b = append(b, ',')
					}
					b = strconv.AppendInt(b, x, 10)
				}
				b = append(b, ']')
			}
			if f.CDFError != 0 {
				b = append(b, `,"cdf_error":`...)
				if b, fok = appendFloat(b, f.CDFError); !fok {
					return b, false
				}
			}
			if f.Exact {
				b = append(b, `,"exact":true`...)
			}
			if len(f.Categories) > 0 {
				b = append(b, `,"categories":[`...)
				for j, c := range f.Categories {
					if j > 0 {
						b = append(b, ',')
					}
					b = append(b, `{"value":`...)
					str(c.Value)
					b = append(b, `,"count":`...)
					b = strconv.AppendInt(b, c.Count, 10)
					b = append(b, '}')
				}
				b = append(b, ']')
			}
			if f.Other != 0 {
				b = append(b, `,"other":`...)
				b = strconv.AppendInt(b, f.Other, 10)
			}
			if f.Distinct != 0 {
				b = append(b, `,"distinct":`...)
				b = strconv.AppendInt(b, f.Distinct, 10)
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, '}'), ok
}

// appendJSONFloat formats x as encoding/json does; false for NaN and ±Inf,
// which it refuses.
func appendJSONFloat(b []byte, x float64) ([]byte, bool) {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return b, false
	}
	format := byte('f')
	if abs := math.Abs(x); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, x, format, -1, 64)
	if format == 'e' {
		// e-09 → e-9, as encoding/json writes it.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, true
}
