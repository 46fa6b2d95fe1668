package oip

import (
	"bytes"
	"encoding/json"
	"strconv"

	"github.com/driftd/driftd/detector"
	"github.com/driftd/driftd/stream/codec"
)

// body is an InferenceRequest or InferenceResponse; data stays raw and
// is read by readData.
type body struct {
	ModelName    json.RawMessage `json:"model_name"`
	ModelVersion json.RawMessage `json:"model_version"`
	ID           json.RawMessage `json:"id"`
	Inputs       []jsonTensor    `json:"inputs"`
	Outputs      []jsonTensor    `json:"outputs"`
}

type jsonTensor struct {
	Name     string          `json:"name"`
	Shape    []int64         `json:"shape"`
	Datatype string          `json:"datatype"`
	Data     json.RawMessage `json:"data"`
}

// Decoder decodes OIP v2 JSON records (codec.RecordDecoder).
type Decoder struct {
	cfg     Config
	env     codec.Env
	asm     *Assembler
	body    body
	tensors []Tensor
	values  []detector.Value
	starts  []int
}

// New returns the constructor of OIP v2 JSON decoders.
func New(cfg Config) codec.NewRecordDecoder {
	return func(env codec.Env) (codec.RecordDecoder, error) { return NewDecoder(cfg, env), nil }
}

// NewDecoder returns a decoder (New's constructor, for formats that wrap
// OIP bodies in an envelope).
func NewDecoder(cfg Config, env codec.Env) *Decoder {
	if cfg.ModelHeader == "" {
		cfg.ModelHeader = DefaultModelHeader
	}
	if cfg.VersionHeader == "" {
		cfg.VersionHeader = DefaultVersionHeader
	}
	if env.MaxBytes <= 0 {
		env.MaxBytes = codec.DefaultMaxBytes
	}
	if env.FeatureOrder == nil {
		env.FeatureOrder = func(_, _ []byte) []string { return nil }
	}
	return &Decoder{cfg: cfg, env: env, asm: NewAssembler(cfg.Columns)}
}

// Assembler returns the decoder's assembler (its Reset starts a record).
func (d *Decoder) Assembler() *Assembler { return d.asm }

// DecodeRecord implements codec.RecordDecoder.
func (d *Decoder) DecodeRecord(r *codec.Record) ([]codec.Event, error) {
	if len(r.Value) > d.env.MaxBytes {
		return nil, codec.Fail(codec.ReasonTooLarge, "%d bytes, limit %d", len(r.Value), d.env.MaxBytes)
	}
	d.asm.Reset()
	model, _ := r.Header(d.cfg.ModelHeader)
	version, _ := r.Header(d.cfg.VersionHeader)
	return d.DecodeBody(r.Value, model, version)
}

// DecodeBody decodes one InferenceRequest or InferenceResponse. model and
// version are used when the body names none (then the configured ones).
// The caller resets the assembler (Reset) once per record.
func (d *Decoder) DecodeBody(value, model, version []byte) ([]codec.Event, error) {
	b := &d.body
	b.Inputs, b.Outputs = b.Inputs[:0], b.Outputs[:0]
	b.ModelName, b.ModelVersion, b.ID = nil, nil, nil
	if err := json.Unmarshal(value, b); err != nil {
		return nil, codec.Fail(codec.ReasonNotJSON, "not an OIP v2 inference request or response: %v", err)
	}
	if m := d.scalarText(b.ModelName); len(m) > 0 {
		model = m
	}
	if v := d.scalarText(b.ModelVersion); len(v) > 0 {
		version = v
	}
	if len(model) == 0 {
		model = []byte(d.cfg.Model)
	}
	if len(version) == 0 {
		version = []byte(d.cfg.Version)
	}
	if len(model) == 0 {
		return nil, codec.Fail(codec.ReasonNoModel, "no model_name, %s header or configured model", d.cfg.ModelHeader)
	}
	if id := d.scalarText(b.ID); len(id) > 0 {
		d.asm.SetRequestID(id)
	}
	prediction := false
	ts := b.Inputs
	switch {
	case len(b.Inputs) > 0 && len(b.Outputs) > 0:
		return nil, codec.Fail(codec.ReasonBadTensor, "both inputs and outputs")
	case len(b.Outputs) > 0:
		ts, prediction = b.Outputs, true
	case len(b.Inputs) == 0:
		return nil, codec.Fail(codec.ReasonNoData, "no inputs or outputs")
	}
	d.tensors = d.tensors[:0]
	d.values = d.values[:0]
	starts := d.starts[:0]
	for i := range ts {
		t := &ts[i]
		kind, err := datatypeKind(t.Datatype)
		if err != nil {
			return nil, codec.Fail(codec.ReasonBadTensor, "tensor %q: %v", t.Name, err)
		}
		starts = append(starts, len(d.values))
		if d.values, err = d.readData(d.values, t.Data, kind); err != nil {
			return nil, codec.Fail(codec.ReasonBadTensor, "tensor %q: %v", t.Name, err)
		}
	}
	starts = append(starts, len(d.values))
	d.starts = starts
	for i := range ts {
		d.tensors = append(d.tensors, Tensor{Name: ts[i].Name, Shape: ts[i].Shape, Values: d.values[starts[i]:starts[i+1]]})
	}
	return d.asm.Build(model, version, d.tensors, prediction, d.env.FeatureOrder)
}

// scalarText reads model_name / model_version: a string or a number.
func (d *Decoder) scalarText(raw json.RawMessage) []byte {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] == 'n' {
		return nil
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return nil
		}
		return d.asm.arena.Copy([]byte(s))
	}
	return raw
}

// readData appends the scalars of a (possibly nested) JSON array, in
// row-major order, to dst. The array was validated by json.Unmarshal.
func (d *Decoder) readData(dst []detector.Value, data []byte, kind int) ([]detector.Value, error) {
	i := 0
	for i < len(data) {
		c := data[i]
		switch {
		case c == '[' || c == ']' || c == ',' || c == ' ' || c == '\n' || c == '\t' || c == '\r':
			i++
		case c == '"':
			j := i + 1
			esc := false
			for j < len(data) && data[j] != '"' {
				if data[j] == '\\' {
					esc = true
					j++
				}
				j++
			}
			if j >= len(data) {
				return dst, errBadData
			}
			text := data[i+1 : j]
			if esc {
				var s string
				if err := json.Unmarshal(data[i:j+1], &s); err != nil {
					return dst, err
				}
				text = d.asm.arena.Copy([]byte(s))
			}
			if kind != kindBytes {
				return dst, errKind("a string")
			}
			dst = append(dst, detector.Value{Kind: detector.String, Text: text})
			i = j + 1
		case c == 't' || c == 'f':
			if kind != kindBool {
				return dst, errKind("a boolean")
			}
			if c == 't' {
				dst = append(dst, detector.Value{Kind: detector.Bool, Text: trueText})
				i += 4
			} else {
				dst = append(dst, detector.Value{Kind: detector.Bool, Text: falseText})
				i += 5
			}
		case c == 'n':
			dst = append(dst, detector.Value{Kind: detector.Null})
			i += 4
		case c == '-' || (c >= '0' && c <= '9'):
			j := i + 1
			for j < len(data) && isNumberByte(data[j]) {
				j++
			}
			lit := data[i:j]
			x, err := strconv.ParseFloat(bytesToString(lit), 64)
			if err != nil {
				return dst, err
			}
			switch kind {
			case kindNumber:
				dst = append(dst, detector.Value{Kind: detector.Number, Num: x, Parsed: true, Text: lit})
			case kindBool: // 0/1 booleans
				if x == 0 {
					dst = append(dst, detector.Value{Kind: detector.Bool, Text: falseText})
				} else {
					dst = append(dst, detector.Value{Kind: detector.Bool, Text: trueText})
				}
			default:
				return dst, errKind("a number")
			}
			i = j
		case c == '{':
			return dst, errKind("an object")
		default:
			return dst, errBadData
		}
	}
	return dst, nil
}

func isNumberByte(c byte) bool {
	return (c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '-' || c == '+'
}

var (
	trueText  = []byte("true")
	falseText = []byte("false")
)
