package codec

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Record is a consumed Kafka record as a RecordDecoder sees it. Its
// slices belong to the consumer and are valid during DecodeRecord.
type Record struct {
	Topic       string
	Key         []byte
	Value       []byte
	Headers     []kgo.RecordHeader
	TimestampMS int64
}

// Header returns the value of the first header named key, and whether
// there is one.
func (r *Record) Header(key string) ([]byte, bool) {
	for i := range r.Headers {
		if r.Headers[i].Key == key {
			return r.Headers[i].Value, true
		}
	}
	return nil, false
}

// RecordDecoder decodes the records of one input format. A record is zero
// or more events (an inference request carries a batch: one row is one
// event) or a failure: an *Error with the reason the record is
// dead-lettered for. Any other error is not the record's fault (a schema
// registry that does not answer): the record is neither processed nor
// dead-lettered, and the caller stops and retries it later.
//
// The returned events, like their byte slices, are the decoder's own and
// are valid until the next call. A decoder is not safe for concurrent
// use: each processing lane makes its own (see NewRecordDecoder).
type RecordDecoder interface {
	DecodeRecord(r *Record) ([]Event, error)
}

// Env is what a RecordDecoder may ask of the processor that owns it.
type Env struct {
	// FeatureOrder returns the names of the features group of the
	// reference of model/version, in the reference's order, or nil when
	// there is none. Decoders of unnamed tensor columns use it.
	FeatureOrder func(model, version []byte) []string
	// MaxBytes is the largest record value accepted (≤ 0:
	// DefaultMaxBytes).
	MaxBytes int
}

// NewRecordDecoder makes a decoder for one processing lane.
type NewRecordDecoder func(env Env) (RecordDecoder, error)

// ValueDecoder adapts the built-in value formats (canonical, flat) to
// RecordDecoder: a record is exactly one event.
type ValueDecoder struct {
	dec *Decoder
	out [1]Event
}

// NewValueDecoder returns the RecordDecoder of a built-in value format.
func NewValueDecoder(format Format, maxBytes int) (*ValueDecoder, error) {
	d, err := NewDecoder(format, maxBytes)
	if err != nil {
		return nil, err
	}
	return &ValueDecoder{dec: d}, nil
}

// DecodeRecord implements RecordDecoder.
func (v *ValueDecoder) DecodeRecord(r *Record) ([]Event, error) {
	ev, err := v.dec.Decode(r.Value)
	if err != nil {
		return nil, err
	}
	v.out[0] = *ev
	return v.out[:], nil
}

// Fail returns a decoding failure with a reason (for RecordDecoder
// implementations).
func Fail(r Reason, format string, args ...any) *Error { return fail(r, format, args...) }

// Arena is a byte buffer for names and texts a decoder builds: slices it
// hands out stay valid until Reset, even when it grows.
type Arena struct {
	chunks [][]byte
	cur    []byte
}

// Reset makes the arena's memory reusable; earlier slices become invalid.
func (a *Arena) Reset() {
	if len(a.chunks) > 0 {
		// Keep the largest chunk for the next record.
		big := a.cur
		for _, c := range a.chunks {
			if cap(c) > cap(big) {
				big = c
			}
		}
		a.chunks = a.chunks[:0]
		a.cur = big
	}
	a.cur = a.cur[:0]
}

// Alloc returns n bytes that stay valid until Reset.
func (a *Arena) Alloc(n int) []byte {
	if len(a.cur)+n > cap(a.cur) {
		if cap(a.cur) > 0 {
			a.chunks = append(a.chunks, a.cur)
		}
		a.cur = make([]byte, 0, max(4096, 2*cap(a.cur), n))
	}
	start := len(a.cur)
	a.cur = a.cur[:start+n]
	return a.cur[start : start+n : start+n]
}

// Copy returns a copy of b that stays valid until Reset.
func (a *Arena) Copy(b []byte) []byte {
	out := a.Alloc(len(b))
	copy(out, b)
	return out
}

// CopyString returns s as bytes that stay valid until Reset.
func (a *Arena) CopyString(s string) []byte {
	out := a.Alloc(len(s))
	copy(out, s)
	return out
}

// Join returns prefix + "." + name, valid until Reset.
func (a *Arena) Join(prefix, name []byte) []byte {
	if len(prefix) == 0 {
		return a.Copy(name)
	}
	out := a.Alloc(len(prefix) + 1 + len(name))
	n := copy(out, prefix)
	out[n] = '.'
	copy(out[n+1:], name)
	return out
}

// ParseTopicFormats parses DRIFTD_INPUT_FORMAT: either one format for
// every topic ("canonical") or comma-separated topic=format pairs, with
// at most one bare format as the default of the other topics
// ("mlserver-input=oip,mlserver-output=oip" or "flat,scores=oip").
// Topics outside topics are an error. It checks the syntax only: which
// format names exist is the caller's business.
func ParseTopicFormats(spec string, topics []string) (def string, perTopic map[string]string, err error) {
	perTopic = map[string]string{}
	def = string(Canonical)
	sawDefault := false
	for part := range bytes.SplitSeq([]byte(spec), []byte(",")) {
		part = bytes.TrimSpace(part)
		if len(part) == 0 {
			continue
		}
		topic, format, pair := bytes.Cut(part, []byte("="))
		if !pair {
			if sawDefault {
				return "", nil, fmt.Errorf("two default formats (%q and %q); give other topics as topic=format", def, part)
			}
			def, sawDefault = string(part), true
			continue
		}
		t, f := string(bytes.TrimSpace(topic)), string(bytes.TrimSpace(format))
		if t == "" || f == "" {
			return "", nil, fmt.Errorf("%q is not topic=format", part)
		}
		if !slices.Contains(topics, t) {
			return "", nil, fmt.Errorf("topic %q is not an input topic (DRIFTD_INPUT_TOPICS)", t)
		}
		if _, dup := perTopic[t]; dup {
			return "", nil, fmt.Errorf("topic %q given twice", t)
		}
		perTopic[t] = f
	}
	return def, perTopic, nil
}

// ParseRFC3339 parses an RFC 3339 timestamp into Unix milliseconds.
func ParseRFC3339(b []byte) (int64, bool) { return parseRFC3339(b) }
