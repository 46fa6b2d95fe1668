// Package codec decodes inference events (Kafka record values) into
// driftd's event form. Two formats are built in: the canonical JSON event
// (DESIGN §3) and flat JSON rows. Both run on a hand-written single-pass
// JSON scanner that validates the whole value, slices names and values out
// of the input without copying where there are no escapes, and allocates
// nothing per event once its buffers have grown: encoding/json into maps
// costs ~40 allocations per event and is several times slower (see
// BenchmarkDecode).
package codec

import (
	"fmt"
	"math"

	"github.com/driftd/driftd/detector"
)

// Reason names why a record could not be decoded. It is the value of the
// DLQ record's driftd-reason header and a metric label, so the set is
// small and fixed.
type Reason string

// Reasons for rejecting a record.
const (
	ReasonNotJSON           Reason = "not_json"
	ReasonNoModel           Reason = "no_model"
	ReasonNoData            Reason = "no_features_or_prediction"
	ReasonFeaturesNotObject Reason = "features_not_object"
	ReasonTooLarge          Reason = "too_large"
	// ReasonBadPane is a record on the panes topic (two-stage mode) that
	// is not a valid pane.
	ReasonBadPane Reason = "bad_pane"
	// ReasonBadTensor is an inference request or response whose tensors
	// are inconsistent: a shape that does not match the data, an unknown
	// datatype, rows of different lengths.
	ReasonBadTensor Reason = "bad_tensor"
	// ReasonBadPayload is a binary payload (Protobuf, Avro, a Schema
	// Registry frame) that does not decode.
	ReasonBadPayload Reason = "bad_payload"
	// ReasonSchemaNotFound is a Schema Registry frame whose schema ID the
	// registry does not know.
	ReasonSchemaNotFound Reason = "schema_not_found"
	// ReasonUnknownType is an envelope (a CloudEvent) of a type that
	// carries no inference request or response.
	ReasonUnknownType Reason = "unknown_type"
)

// Reasons lists every reason, for metrics initialisation.
var Reasons = []Reason{ReasonNotJSON, ReasonNoModel, ReasonNoData, ReasonFeaturesNotObject, ReasonTooLarge, ReasonBadPane,
	ReasonBadTensor, ReasonBadPayload, ReasonSchemaNotFound, ReasonUnknownType}

// Error is a decoding failure.
type Error struct {
	Reason Reason
	Detail string
}

func (e *Error) Error() string {
	if e.Detail == "" {
		return string(e.Reason)
	}
	return string(e.Reason) + ": " + e.Detail
}

func fail(r Reason, format string, args ...any) *Error {
	return &Error{Reason: r, Detail: fmt.Sprintf(format, args...)}
}

// Field is one named value of an event.
type Field struct {
	Name  []byte
	Value detector.Value
}

// Event is a decoded inference event. Its byte slices point into the
// record value or into the decoder's buffers: they are valid until the
// next Decode.
type Event struct {
	Model   []byte
	Version []byte
	// TimeMS is the event time in Unix milliseconds, when HasTime.
	TimeMS  int64
	HasTime bool
	// BadTime is set when the event carried a timestamp that could not
	// be parsed (the caller falls back to the record timestamp).
	BadTime bool
	// UnitSuspect is set when a numeric timestamp looks like the other
	// unit: Unix seconds read as milliseconds (1970–1973), or milliseconds
	// read as seconds (after the year 5138). TimeMS is still set.
	UnitSuspect bool
	// HasFeatures and HasPrediction tell which groups the event carries.
	HasFeatures   bool
	HasPrediction bool
	Features      []Field
	Prediction    []Field // "prediction" or "prediction.<key>"
	// RequestID identifies the prediction for the label join, when the
	// format carries one (canonical: request_id; OIP: the request's id,
	// "<id>/<row>" in a batch of several rows).
	RequestID []byte
	// Label is the event's label (canonical: label), when HasLabel: an
	// event that carries its prediction and its label is a joined pair.
	Label    detector.Value
	HasLabel bool
}

func (e *Event) reset() {
	e.Model, e.Version = nil, nil
	e.TimeMS, e.HasTime, e.BadTime, e.UnitSuspect = 0, false, false, false
	e.HasFeatures, e.HasPrediction = false, false
	e.Features = e.Features[:0]
	e.Prediction = e.Prediction[:0]
	e.RequestID = nil
	e.Label, e.HasLabel = detector.Value{}, false
}

// Format selects a codec.
type Format string

// Formats.
const (
	// Canonical is DESIGN §3: {"model", "model_version", "timestamp",
	// "request_id", "features": {...}, "prediction", "label"}.
	Canonical Format = "canonical"
	// Flat is a flat row: every top-level field except model,
	// model_version, timestamp, request_id, prediction and label is a
	// feature.
	Flat Format = "flat"
)

// Formats lists the supported formats.
var Formats = []Format{Canonical, Flat}

// TimeUnit is the unit of numeric event timestamps (RFC 3339 strings
// carry their own).
type TimeUnit string

// Time units.
const (
	Millis  TimeUnit = "ms" // Unix milliseconds (the default)
	Seconds TimeUnit = "s"  // Unix seconds, fractions allowed
)

// TimeUnits lists the supported units.
var TimeUnits = []TimeUnit{Millis, Seconds}

// secondsLike bounds the numbers that look like Unix seconds when read
// as milliseconds: 1e8 ms is 1970-01-02, 1e11 ms 1973-03-03, while 1e8 s
// is 1973 and 1e11 s the year 5138. Event times in milliseconds fall
// above the range, in seconds inside it.
const secondsLikeMin, secondsLikeMax = 1e8, 1e11

// SetTimeUnit sets the unit of numeric timestamps ("" is milliseconds).
func (d *Decoder) SetTimeUnit(u TimeUnit) error {
	switch u {
	case "":
		u = Millis
	case Millis, Seconds:
	default:
		return fmt.Errorf("unknown timestamp unit %q (accepted: ms, s)", u)
	}
	d.unit = u
	return nil
}

// Decoder decodes record values of one format. It keeps buffers between
// calls and is not safe for concurrent use.
type Decoder struct {
	format   Format
	maxBytes int
	// rows: training rows need no model (see NewRowDecoder).
	rows bool
	unit TimeUnit
	s    scanner
	ev   Event
	// pending is a semantic failure found mid-value; it is reported
	// only if the rest of the value is valid JSON, so not_json always
	// wins (a truncated record is "not JSON", whatever it started as).
	pending *Error
}

// NewRowDecoder returns a decoder for training rows and events of a
// reference build: like NewDecoder, but a model is not required.
func NewRowDecoder(format Format, maxBytes int) (*Decoder, error) {
	d, err := NewDecoder(format, maxBytes)
	if err != nil {
		return nil, err
	}
	d.rows = true
	return d, nil
}

// DefaultMaxBytes is the default largest record value accepted.
const DefaultMaxBytes = 1 << 20

// NewDecoder returns a decoder for format. Values larger than maxBytes
// (≤ 0: DefaultMaxBytes) are rejected as too large.
func NewDecoder(format Format, maxBytes int) (*Decoder, error) {
	switch format {
	case Canonical, Flat:
	default:
		return nil, fmt.Errorf("unknown event format %q (accepted: canonical, flat)", format)
	}
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	return &Decoder{format: format, maxBytes: maxBytes, unit: Millis}, nil
}

// Decode decodes one record value. The returned event is the decoder's
// own and is overwritten by the next call. A failure is an *Error.
func (d *Decoder) Decode(value []byte) (*Event, error) {
	ev := &d.ev
	ev.reset()
	if len(value) > d.maxBytes {
		return nil, fail(ReasonTooLarge, "%d bytes, limit %d", len(value), d.maxBytes)
	}
	d.s.reset(value)
	d.pending = nil
	if err := d.decodeTop(ev); err != nil {
		return nil, err
	}
	if d.pending != nil {
		return nil, d.pending
	}
	if len(ev.Model) == 0 && !d.rows {
		return nil, fail(ReasonNoModel, "")
	}
	if !ev.HasFeatures && !ev.HasPrediction {
		return nil, fail(ReasonNoData, "")
	}
	return ev, nil
}

func (d *Decoder) decodeTop(ev *Event) error {
	s := &d.s
	s.skipSpace()
	if s.peek() != '{' {
		return fail(ReasonNotJSON, "value is not a JSON object")
	}
	if err := s.object(func(key []byte) error { return d.topField(ev, key) }); err != nil {
		return err
	}
	s.skipSpace()
	if s.pos != len(s.buf) {
		return s.syntax("trailing data after the object")
	}
	return nil
}

func (d *Decoder) topField(ev *Event, key []byte) error {
	s := &d.s
	switch string(key) {
	case "model", "model_version":
		v, ok, err := s.readScalarText()
		if err != nil {
			return err
		}
		if !ok && d.pending == nil {
			d.pending = fail(ReasonNoModel, "%s is not a string or number", key)
		}
		if key[len(key)-1] == 'l' {
			ev.Model = v
		} else {
			ev.Version = v
		}
		return nil
	case "timestamp":
		return d.timestamp(ev)
	case "request_id":
		v, ok, err := s.readScalarText()
		if err != nil {
			return err
		}
		if ok {
			ev.RequestID = v // a string or a number as written; null: none
		}
		return nil
	case "label":
		v, err := s.readFieldValue()
		if err != nil {
			return err
		}
		ev.Label, ev.HasLabel = v, v.Kind != detector.Null
		return nil
	case "prediction":
		return d.prediction(ev)
	case "features":
		if d.format == Canonical {
			return d.features(ev)
		}
	}
	if d.format == Flat {
		v, err := s.readFieldValue()
		if err != nil {
			return err
		}
		ev.HasFeatures = true
		ev.Features = append(ev.Features, Field{Name: key, Value: v})
		return nil
	}
	return s.skipValue(0) // canonical ignores unknown top-level fields
}

func (d *Decoder) features(ev *Event) error {
	s := &d.s
	switch s.peek() {
	case 'n':
		return s.literal("null") // null features: as if absent
	case '{':
	default:
		d.pending = fail(ReasonFeaturesNotObject, "features is not an object")
		return s.skipValue(0)
	}
	ev.HasFeatures = true
	// The object loop of scanner.object, inlined: this is the hot loop.
	s.pos++ // '{'
	for first := true; ; first = false {
		s.skipSpace()
		if s.peek() == '}' {
			s.pos++
			return nil
		}
		if !first {
			if s.peek() != ',' {
				return s.syntax("expected ',' or '}'")
			}
			s.pos++
			s.skipSpace()
		}
		name, err := s.readString()
		if err != nil {
			return err
		}
		s.skipSpace()
		if s.peek() != ':' {
			return s.syntax("expected ':'")
		}
		s.pos++
		s.skipSpace()
		ev.Features = append(ev.Features, Field{Name: name})
		f := &ev.Features[len(ev.Features)-1]
		if f.Value, err = s.readFieldValue(); err != nil {
			return err
		}
	}
}

// prediction decodes a scalar into the feature "prediction" and an object
// into "prediction.<key>" features.
func (d *Decoder) prediction(ev *Event) error {
	s := &d.s
	if s.peek() != '{' {
		v, err := s.readFieldValue()
		if err != nil {
			return err
		}
		ev.HasPrediction = true
		ev.Prediction = append(ev.Prediction, Field{Name: predictionName, Value: v})
		return nil
	}
	ev.HasPrediction = true
	return s.object(func(name []byte) error {
		v, err := s.readFieldValue()
		if err != nil {
			return err
		}
		full := s.arena(len(predictionPrefix) + len(name))
		copy(full, predictionPrefix)
		copy(full[len(predictionPrefix):], name)
		ev.Prediction = append(ev.Prediction, Field{Name: full, Value: v})
		return nil
	})
}

var (
	predictionName   = []byte(detector.PredictionFeature)
	predictionPrefix = []byte(detector.PredictionFeature + ".")
)

func (d *Decoder) timestamp(ev *Event) error {
	s := &d.s
	switch c := s.peek(); {
	case c == '"':
		v, err := s.readString()
		if err != nil {
			return err
		}
		if ms, ok := parseRFC3339(v); ok {
			ev.TimeMS, ev.HasTime = ms, true
		} else {
			ev.BadTime = true
		}
		return nil
	case c == '-' || (c >= '0' && c <= '9'):
		v, err := s.readFieldValue()
		if err != nil {
			return err
		}
		if d.unit == Seconds {
			if ms, ok := parseEpochSeconds(v.Text); ok {
				ev.TimeMS, ev.HasTime = ms, true
				ev.UnitSuspect = math.Abs(float64(ms)) >= secondsLikeMax*1000
			} else {
				ev.BadTime = true
			}
			return nil
		}
		if ms, ok := parseEpochMillis(v.Text); ok {
			ev.TimeMS, ev.HasTime = ms, true
			ev.UnitSuspect = ms >= secondsLikeMin && ms < secondsLikeMax
		} else {
			ev.BadTime = true
		}
		return nil
	default:
		if err := s.skipValue(0); err != nil {
			return err
		}
		ev.BadTime = c != 'n' // null: no timestamp
		return nil
	}
}
