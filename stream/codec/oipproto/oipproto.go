// Package oipproto decodes the Open Inference Protocol v2 in its Protobuf
// form (ModelInferRequest / ModelInferResponse of the gRPC data plane), as
// Seldon Core 2 writes it to seldon.<namespace>.model.<model>.inputs and
// .outputs: a request's input tensors are the features group, a
// response's output tensors the prediction group, and each row of the
// batch is one event. Typed contents and raw_input_contents /
// raw_output_contents (little-endian, BYTES elements with a 4-byte length
// prefix) are both read. Which message a record holds, and the model, come
// from the topic name by a pattern (Config.TopicPattern).
package oipproto

import (
	"encoding/binary"
	"fmt"
	"math"
	"regexp"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/driftd/driftd/detector"
	"github.com/driftd/driftd/stream/codec"
	"github.com/driftd/driftd/stream/codec/oip"
	"github.com/driftd/driftd/stream/codec/oipproto/inferencepb"
)

// DefaultTopicPattern matches Seldon Core 2's model topics.
const DefaultTopicPattern = `^seldon\.(?P<namespace>[^.]+)\.model\.(?P<model>[^.]+)\.(?P<kind>inputs|outputs)$`

// Config configures the decoder.
type Config struct {
	// TopicPattern is a regular expression on the topic name with a group
	// "kind" matching "inputs" (requests) or "outputs" (responses), and
	// optionally a group "model" naming the model (it wins over the
	// body's model_name, which Seldon suffixes with a version). Default
	// DefaultTopicPattern.
	TopicPattern string
	// Columns, Model, Version: as oip.Config.
	Columns        []string
	Model, Version string
}

// Decoder decodes OIP v2 Protobuf records (codec.RecordDecoder).
type Decoder struct {
	cfg       Config
	env       codec.Env
	pattern   *regexp.Regexp
	kindIdx   int
	modelIdx  int
	topics    map[string]topicInfo
	asm       *oip.Assembler
	req       inferencepb.ModelInferRequest
	resp      inferencepb.ModelInferResponse
	tensors   []oip.Tensor
	values    []detector.Value
	unmarshal proto.UnmarshalOptions
	starts    []int
}

type topicInfo struct {
	ok       bool
	response bool
	model    []byte
}

// New returns the constructor of decoders; the pattern is checked here.
func New(cfg Config) (codec.NewRecordDecoder, error) {
	if cfg.TopicPattern == "" {
		cfg.TopicPattern = DefaultTopicPattern
	}
	re, err := regexp.Compile(cfg.TopicPattern)
	if err != nil {
		return nil, fmt.Errorf("topic pattern: %w", err)
	}
	kind := re.SubexpIndex("kind")
	if kind < 0 {
		return nil, fmt.Errorf("topic pattern %q has no group (?P<kind>inputs|outputs)", cfg.TopicPattern)
	}
	return func(env codec.Env) (codec.RecordDecoder, error) {
		if env.MaxBytes <= 0 {
			env.MaxBytes = codec.DefaultMaxBytes
		}
		if env.FeatureOrder == nil {
			env.FeatureOrder = func(_, _ []byte) []string { return nil }
		}
		return &Decoder{cfg: cfg, env: env, pattern: re, kindIdx: kind, modelIdx: re.SubexpIndex("model"),
			topics: map[string]topicInfo{}, asm: oip.NewAssembler(cfg.Columns)}, nil
	}, nil
}

func (d *Decoder) topic(name string) topicInfo {
	if ti, ok := d.topics[name]; ok {
		return ti
	}
	var ti topicInfo
	if m := d.pattern.FindStringSubmatch(name); m != nil {
		switch m[d.kindIdx] {
		case "inputs", "input", "requests", "request":
			ti.ok = true
		case "outputs", "output", "responses", "response":
			ti.ok, ti.response = true, true
		}
		if d.modelIdx >= 0 && m[d.modelIdx] != "" {
			ti.model = []byte(m[d.modelIdx])
		}
	}
	if len(d.topics) < 1000 {
		d.topics[name] = ti
	}
	return ti
}

// DecodeRecord implements codec.RecordDecoder.
func (d *Decoder) DecodeRecord(r *codec.Record) ([]codec.Event, error) {
	if len(r.Value) > d.env.MaxBytes {
		return nil, codec.Fail(codec.ReasonTooLarge, "%d bytes, limit %d", len(r.Value), d.env.MaxBytes)
	}
	ti := d.topic(r.Topic)
	if !ti.ok {
		return nil, codec.Fail(codec.ReasonBadPayload, "topic %s does not match the topic pattern %s, so whether it holds requests or responses is unknown", r.Topic, d.cfg.TopicPattern)
	}
	d.asm.Reset()
	d.tensors, d.values = d.tensors[:0], d.values[:0]
	var modelName, version, id string
	var err error
	if ti.response {
		err = d.decodeResponse(r.Value, &modelName, &version)
		id = d.resp.Id
	} else {
		err = d.decodeRequest(r.Value, &modelName, &version)
		id = d.req.Id
	}
	if err != nil {
		return nil, err
	}
	if id != "" {
		d.asm.SetRequestID([]byte(id))
	}
	model := ti.model
	if len(model) == 0 {
		model = d.asm.Arena().CopyString(modelName)
	}
	if len(model) == 0 {
		model = []byte(d.cfg.Model)
	}
	ver := d.asm.Arena().CopyString(version)
	if len(ver) == 0 {
		ver = []byte(d.cfg.Version)
	}
	if len(model) == 0 {
		return nil, codec.Fail(codec.ReasonNoModel, "no model in the topic name, the body or the configuration")
	}
	return d.asm.Build(model, ver, d.tensors, ti.response, d.env.FeatureOrder)
}

func (d *Decoder) decodeRequest(value []byte, model, version *string) error {
	m := &d.req
	m.Reset()
	if err := d.unmarshal.Unmarshal(value, m); err != nil {
		return codec.Fail(codec.ReasonBadPayload, "not a ModelInferRequest: %v", err)
	}
	*model, *version = m.ModelName, m.ModelVersion
	if len(m.Inputs) == 0 {
		return codec.Fail(codec.ReasonNoData, "no inputs")
	}
	if len(m.RawInputContents) > 0 && len(m.RawInputContents) != len(m.Inputs) {
		return codec.Fail(codec.ReasonBadTensor, "%d raw_input_contents for %d inputs", len(m.RawInputContents), len(m.Inputs))
	}
	starts := d.starts[:0]
	for i, t := range m.Inputs {
		starts = append(starts, len(d.values))
		var raw []byte
		if len(m.RawInputContents) > 0 {
			raw = m.RawInputContents[i]
		}
		var err error
		if d.values, err = d.appendValues(d.values, t.Datatype, t.Contents, raw, len(m.RawInputContents) > 0); err != nil {
			return codec.Fail(codec.ReasonBadTensor, "input %q: %v", t.Name, err)
		}
	}
	starts = append(starts, len(d.values))
	d.starts = starts
	for i, t := range m.Inputs {
		d.tensors = append(d.tensors, oip.Tensor{Name: t.Name, Shape: t.Shape, Values: d.values[starts[i]:starts[i+1]]})
	}
	return nil
}

func (d *Decoder) decodeResponse(value []byte, model, version *string) error {
	m := &d.resp
	m.Reset()
	if err := d.unmarshal.Unmarshal(value, m); err != nil {
		return codec.Fail(codec.ReasonBadPayload, "not a ModelInferResponse: %v", err)
	}
	*model, *version = m.ModelName, m.ModelVersion
	if len(m.Outputs) == 0 {
		return codec.Fail(codec.ReasonNoData, "no outputs")
	}
	if len(m.RawOutputContents) > 0 && len(m.RawOutputContents) != len(m.Outputs) {
		return codec.Fail(codec.ReasonBadTensor, "%d raw_output_contents for %d outputs", len(m.RawOutputContents), len(m.Outputs))
	}
	starts := d.starts[:0]
	for i, t := range m.Outputs {
		starts = append(starts, len(d.values))
		var raw []byte
		if len(m.RawOutputContents) > 0 {
			raw = m.RawOutputContents[i]
		}
		var err error
		if d.values, err = d.appendValues(d.values, t.Datatype, t.Contents, raw, len(m.RawOutputContents) > 0); err != nil {
			return codec.Fail(codec.ReasonBadTensor, "output %q: %v", t.Name, err)
		}
	}
	starts = append(starts, len(d.values))
	d.starts = starts
	for i, t := range m.Outputs {
		d.tensors = append(d.tensors, oip.Tensor{Name: t.Name, Shape: t.Shape, Values: d.values[starts[i]:starts[i+1]]})
	}
	return nil
}

func num(x float64) detector.Value {
	return detector.Value{Kind: detector.Number, Num: x, Parsed: true}
}

var (
	trueText  = []byte("true")
	falseText = []byte("false")
)

func boolean(b bool) detector.Value {
	if b {
		return detector.Value{Kind: detector.Bool, Text: trueText}
	}
	return detector.Value{Kind: detector.Bool, Text: falseText}
}

// appendValues appends a tensor's values, from its typed contents or, when
// useRaw, from its raw little-endian bytes.
func (d *Decoder) appendValues(dst []detector.Value, datatype string, c *inferencepb.InferTensorContents, raw []byte, useRaw bool) ([]detector.Value, error) {
	if useRaw {
		return appendRaw(dst, datatype, raw)
	}
	if c == nil {
		return dst, nil // an empty tensor; the shape check reports a mismatch
	}
	switch datatype {
	case "BOOL":
		for _, b := range c.BoolContents {
			dst = append(dst, boolean(b))
		}
	case "INT8", "INT16", "INT32":
		for _, x := range c.IntContents {
			dst = append(dst, num(float64(x)))
		}
	case "INT64":
		for _, x := range c.Int64Contents {
			dst = append(dst, num(float64(x)))
		}
	case "UINT8", "UINT16", "UINT32":
		for _, x := range c.UintContents {
			dst = append(dst, num(float64(x)))
		}
	case "UINT64":
		for _, x := range c.Uint64Contents {
			dst = append(dst, num(float64(x)))
		}
	case "FP32":
		for _, x := range c.Fp32Contents {
			dst = append(dst, num(float64(x)))
		}
	case "FP64":
		for _, x := range c.Fp64Contents {
			dst = append(dst, num(x))
		}
	case "BYTES":
		for _, b := range c.BytesContents {
			dst = append(dst, detector.Value{Kind: detector.String, Text: b})
		}
	case "FP16", "BF16":
		return dst, fmt.Errorf("%s has no typed contents field; it must come as raw contents", datatype)
	default:
		return dst, fmt.Errorf("unknown datatype %q", datatype)
	}
	return dst, nil
}

// appendRaw decodes raw little-endian tensor data.
func appendRaw(dst []detector.Value, datatype string, raw []byte) ([]detector.Value, error) {
	size := 0
	switch datatype {
	case "BOOL", "INT8", "UINT8":
		size = 1
	case "INT16", "UINT16", "FP16", "BF16":
		size = 2
	case "INT32", "UINT32", "FP32":
		size = 4
	case "INT64", "UINT64", "FP64":
		size = 8
	case "BYTES":
		for len(raw) > 0 {
			if len(raw) < 4 {
				return dst, fmt.Errorf("BYTES element length cut short")
			}
			n := binary.LittleEndian.Uint32(raw)
			raw = raw[4:]
			if uint64(n) > uint64(len(raw)) {
				return dst, fmt.Errorf("BYTES element of %d bytes with %d left", n, len(raw))
			}
			dst = append(dst, detector.Value{Kind: detector.String, Text: raw[:n:n]})
			raw = raw[n:]
		}
		return dst, nil
	default:
		return dst, fmt.Errorf("unknown datatype %q", datatype)
	}
	if len(raw)%size != 0 {
		return dst, fmt.Errorf("%d raw bytes are not a whole number of %s values", len(raw), datatype)
	}
	le := binary.LittleEndian
	n := len(raw) / size
	dst = slices.Grow(dst, n)
	// One loop per datatype: the datatype is resolved once per tensor.
	switch datatype {
	case "BOOL":
		for _, c := range raw {
			dst = append(dst, boolean(c != 0))
		}
	case "INT8":
		for _, c := range raw {
			dst = append(dst, num(float64(int8(c))))
		}
	case "UINT8":
		for _, c := range raw {
			dst = append(dst, num(float64(c)))
		}
	case "INT16":
		for i := 0; i < len(raw); i += 2 {
			dst = append(dst, num(float64(int16(le.Uint16(raw[i:])))))
		}
	case "UINT16":
		for i := 0; i < len(raw); i += 2 {
			dst = append(dst, num(float64(le.Uint16(raw[i:]))))
		}
	case "FP16":
		for i := 0; i < len(raw); i += 2 {
			dst = append(dst, num(halfToFloat(le.Uint16(raw[i:]))))
		}
	case "BF16":
		for i := 0; i < len(raw); i += 2 {
			dst = append(dst, num(float64(math.Float32frombits(uint32(le.Uint16(raw[i:]))<<16))))
		}
	case "INT32":
		for i := 0; i < len(raw); i += 4 {
			dst = append(dst, num(float64(int32(le.Uint32(raw[i:])))))
		}
	case "UINT32":
		for i := 0; i < len(raw); i += 4 {
			dst = append(dst, num(float64(le.Uint32(raw[i:]))))
		}
	case "FP32":
		for i := 0; i < len(raw); i += 4 {
			dst = append(dst, num(float64(math.Float32frombits(le.Uint32(raw[i:])))))
		}
	case "INT64":
		for i := 0; i < len(raw); i += 8 {
			dst = append(dst, num(float64(int64(le.Uint64(raw[i:])))))
		}
	case "UINT64":
		for i := 0; i < len(raw); i += 8 {
			dst = append(dst, num(float64(le.Uint64(raw[i:]))))
		}
	case "FP64":
		for i := 0; i < len(raw); i += 8 {
			dst = append(dst, num(math.Float64frombits(le.Uint64(raw[i:]))))
		}
	}
	return dst, nil
}

// halfToFloat converts an IEEE 754 binary16 value.
func halfToFloat(h uint16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	exp := int(h>>10) & 0x1f
	frac := float64(h & 0x3ff)
	switch exp {
	case 0:
		return sign * math.Ldexp(frac, -24)
	case 0x1f:
		if frac == 0 {
			return math.Inf(int(sign))
		}
		return math.NaN()
	}
	return sign * math.Ldexp(1+frac/1024, exp-15)
}
