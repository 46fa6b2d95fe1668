// Package cloudevents decodes CloudEvents carried by Kafka records, as
// KServe's payload logger produces them through a Knative Kafka broker or
// sink: binary content mode (attributes in ce_* headers, the data in the
// value) and structured content mode (the whole event as
// application/cloudevents+json in the value). Events of type
// org.kubeflow.serving.inference.request carry features, of type
// org.kubeflow.serving.inference.response the prediction; the body is
// KServe v1 ({"instances": [...]}, {"predictions": [...]}) or Open
// Inference Protocol v2 (inputs / outputs, see package oip). The model is
// an attribute of the event (KServe's inferenceservicename extension by
// default); the event time is its time attribute.
package cloudevents

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/driftd/driftd/detector"
	"github.com/driftd/driftd/stream/codec"
	"github.com/driftd/driftd/stream/codec/oip"
)

// KServe's payload logger event types.
const (
	TypeRequest  = "org.kubeflow.serving.inference.request"
	TypeResponse = "org.kubeflow.serving.inference.response"
)

// Config configures the decoder.
type Config struct {
	// ModelAttribute and VersionAttribute are the event attributes naming
	// the model and its version (default inferenceservicename, and none:
	// the body's or the configured version).
	ModelAttribute, VersionAttribute string
	// OIP configures the decoding of OIP v2 bodies and v1 rows given as
	// arrays (their columns are named like [batch, n] tensors).
	OIP oip.Config
}

// DefaultModelAttribute is the extension KServe's logger names the
// inference service with.
const DefaultModelAttribute = "inferenceservicename"

// Decoder decodes CloudEvents records (codec.RecordDecoder).
type Decoder struct {
	cfg    Config
	env    codec.Env
	body   *oip.Decoder
	asm    *oip.Assembler
	attrs  map[string][]byte
	events []codec.Event
	fields []codec.Field
	v1     v1Body
}

// New returns the constructor of decoders.
func New(cfg Config) codec.NewRecordDecoder {
	if cfg.ModelAttribute == "" {
		cfg.ModelAttribute = DefaultModelAttribute
	}
	return func(env codec.Env) (codec.RecordDecoder, error) {
		if env.MaxBytes <= 0 {
			env.MaxBytes = codec.DefaultMaxBytes
		}
		if env.FeatureOrder == nil {
			env.FeatureOrder = func(_, _ []byte) []string { return nil }
		}
		body := oip.NewDecoder(cfg.OIP, env)
		return &Decoder{cfg: cfg, env: env, body: body, asm: body.Assembler(), attrs: map[string][]byte{}}, nil
	}
}

// DecodeRecord implements codec.RecordDecoder.
func (d *Decoder) DecodeRecord(r *codec.Record) ([]codec.Event, error) {
	if len(r.Value) > d.env.MaxBytes {
		return nil, codec.Fail(codec.ReasonTooLarge, "%d bytes, limit %d", len(r.Value), d.env.MaxBytes)
	}
	d.asm.Reset()
	clear(d.attrs)
	var data []byte
	ct, _ := r.Header("content-type")
	if ct == nil {
		ct, _ = r.Header("content_type")
	}
	// Structured mode: the content type says so; some producers (the
	// CloudEvents Python SDK's Kafka conversion) send the data's content
	// type instead, so a value that is a JSON object with specversion
	// and no ce_specversion header is structured too.
	_, binaryMode := r.Header("ce_specversion")
	if !binaryMode {
		_, binaryMode = r.Header("ce-specversion")
	}
	if bytes.HasPrefix(bytes.TrimSpace(ct), []byte("application/cloudevents+json")) ||
		(!binaryMode && bytes.HasPrefix(bytes.TrimSpace(r.Value), []byte("{")) && bytes.Contains(r.Value, []byte(`"specversion"`))) {
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(r.Value, &raw); err != nil {
			return nil, codec.Fail(codec.ReasonNotJSON, "structured CloudEvent: %v", err)
		}
		for k, v := range raw {
			if k == "data" || k == "data_base64" {
				continue
			}
			var s string
			if json.Unmarshal(v, &s) == nil {
				d.attrs[k] = d.asm.Arena().Copy([]byte(s))
			} else {
				d.attrs[k] = v
			}
		}
		switch {
		case raw["data_base64"] != nil:
			var s string
			if err := json.Unmarshal(raw["data_base64"], &s); err != nil {
				return nil, codec.Fail(codec.ReasonBadPayload, "data_base64 is not a string")
			}
			b, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				return nil, codec.Fail(codec.ReasonBadPayload, "data_base64: %v", err)
			}
			data = b
		case raw["data"] != nil && raw["data"][0] == '"':
			// A string data: KServe's logger sends JSON bodies as JSON,
			// but a producer may have quoted them.
			var s string
			json.Unmarshal(raw["data"], &s) //nolint:errcheck // validated by json.Unmarshal above
			data = []byte(s)
		default:
			data = raw["data"]
		}
	} else {
		for _, h := range r.Headers {
			if len(h.Key) > 3 && (strings.HasPrefix(h.Key, "ce_") || strings.HasPrefix(h.Key, "ce-")) {
				d.attrs[h.Key[3:]] = h.Value
			}
		}
		if _, ok := d.attrs["specversion"]; !ok {
			return nil, codec.Fail(codec.ReasonUnknownType, "not a CloudEvent: no ce_specversion header and no application/cloudevents+json content type")
		}
		data = r.Value
	}
	typ := string(d.attrs["type"])
	var prediction bool
	switch typ {
	case TypeRequest:
	case TypeResponse:
		prediction = true
	default:
		return nil, codec.Fail(codec.ReasonUnknownType, "CloudEvent type %q is neither %s nor %s", typ, TypeRequest, TypeResponse)
	}
	model := d.attrs[d.cfg.ModelAttribute]
	var version []byte
	if d.cfg.VersionAttribute != "" {
		version = d.attrs[d.cfg.VersionAttribute]
	}
	evs, err := d.decodeBody(data, model, version, prediction)
	if err != nil {
		return nil, err
	}
	if t := d.attrs["time"]; len(t) > 0 {
		ms, ok := codec.ParseRFC3339(t)
		for i := range evs {
			evs[i].TimeMS, evs[i].HasTime, evs[i].BadTime = ms, ok, !ok
		}
	}
	return evs, nil
}

// v1Body is a KServe v1 request or response.
type v1Body struct {
	Instances   []json.RawMessage `json:"instances"`
	Inputs      json.RawMessage   `json:"inputs"`
	Outputs     json.RawMessage   `json:"outputs"`
	Predictions []json.RawMessage `json:"predictions"`
}

func (d *Decoder) decodeBody(data, model, version []byte, prediction bool) ([]codec.Event, error) {
	b := &d.v1
	b.Instances, b.Predictions, b.Inputs, b.Outputs = b.Instances[:0], b.Predictions[:0], nil, nil
	if err := json.Unmarshal(data, b); err != nil {
		return nil, codec.Fail(codec.ReasonNotJSON, "event data: %v", err)
	}
	if b.Inputs != nil || b.Outputs != nil {
		// OIP v2: the body decoder checks inputs against outputs itself.
		evs, err := d.body.DecodeBody(data, model, version)
		if err != nil {
			return nil, err
		}
		if len(evs) > 0 && evs[0].HasPrediction != prediction {
			return nil, codec.Fail(codec.ReasonBadTensor, "a %s event carries %s", map[bool]string{false: "request", true: "response"}[prediction], map[bool]string{false: "inputs", true: "outputs"}[evs[0].HasPrediction])
		}
		return evs, nil
	}
	rows := b.Instances
	if prediction {
		rows = b.Predictions
	}
	if rows == nil {
		return nil, codec.Fail(codec.ReasonNoData, "no instances (request) or predictions (response)")
	}
	if len(model) == 0 {
		model = []byte(d.cfg.OIP.Model)
	}
	if len(version) == 0 {
		version = []byte(d.cfg.OIP.Version)
	}
	if len(model) == 0 {
		return nil, codec.Fail(codec.ReasonNoModel, "no %s attribute and no configured model", d.cfg.ModelAttribute)
	}
	return d.v1Rows(rows, model, version, prediction)
}

// v1Rows turns KServe v1 rows into events: an object row names its
// features; an array row is named like a matrix's columns; a scalar row
// is one value (the prediction, or a feature named by the configuration).
func (d *Decoder) v1Rows(rows []json.RawMessage, model, version []byte, prediction bool) ([]codec.Event, error) {
	d.events = d.events[:0]
	d.fields = d.fields[:0]
	type span struct{ start, end int }
	spans := make([]span, 0, len(rows))
	a := d.asm.Arena()
	var cols [][]byte
	for _, row := range rows {
		start := len(d.fields)
		row = bytes.TrimSpace(row)
		switch {
		case len(row) > 0 && row[0] == '{':
			var obj map[string]json.RawMessage
			if err := json.Unmarshal(row, &obj); err != nil {
				return nil, codec.Fail(codec.ReasonNotJSON, "%v", err)
			}
			for k, v := range obj {
				name := a.Copy([]byte(k))
				if prediction {
					name = a.Join([]byte(detector.PredictionFeature), name)
				}
				d.fields = append(d.fields, codec.Field{Name: name, Value: scalar(a, v)})
			}
		case len(row) > 0 && row[0] == '[':
			var vals []json.RawMessage
			if err := json.Unmarshal(row, &vals); err != nil {
				return nil, codec.Fail(codec.ReasonNotJSON, "%v", err)
			}
			if cols == nil {
				if prediction {
					for j := range vals {
						cols = append(cols, a.Join([]byte(detector.PredictionFeature), []byte(strconv.Itoa(j))))
					}
				} else {
					names := d.cfg.OIP.Columns
					if len(names) == 0 {
						names = d.env.FeatureOrder(model, version)
					}
					for _, n := range names {
						cols = append(cols, a.Copy([]byte(n)))
					}
				}
			}
			if len(cols) != len(vals) {
				return nil, codec.Fail(codec.ReasonBadTensor, "a row of %d values but %d column names are known (set DRIFTD_TENSOR_COLUMNS, or give rows as objects)", len(vals), len(cols))
			}
			for j, v := range vals {
				d.fields = append(d.fields, codec.Field{Name: cols[j], Value: scalar(a, v)})
			}
		default:
			if !prediction {
				return nil, codec.Fail(codec.ReasonBadTensor, "an instance that is a single value has no feature name; give rows as objects or arrays")
			}
			d.fields = append(d.fields, codec.Field{Name: []byte(detector.PredictionFeature), Value: scalar(a, row)})
		}
		spans = append(spans, span{start, len(d.fields)})
	}
	for _, s := range spans {
		ev := codec.Event{Model: model, Version: version}
		fs := d.fields[s.start:s.end:s.end]
		if prediction {
			ev.HasPrediction, ev.Prediction = true, fs
		} else {
			ev.HasFeatures, ev.Features = true, fs
		}
		d.events = append(d.events, ev)
	}
	return d.events, nil
}

// scalar reads one JSON value as a feature value; objects and arrays are
// invalid values (Other), as in the canonical format.
func scalar(a *codec.Arena, v json.RawMessage) detector.Value {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return detector.Value{Kind: detector.Null}
	}
	switch c := v[0]; {
	case c == '"':
		var s string
		if json.Unmarshal(v, &s) != nil {
			return detector.Value{Kind: detector.Other}
		}
		return detector.Value{Kind: detector.String, Text: a.Copy([]byte(s))}
	case c == 't':
		return detector.Value{Kind: detector.Bool, Text: []byte("true")}
	case c == 'f':
		return detector.Value{Kind: detector.Bool, Text: []byte("false")}
	case c == 'n':
		return detector.Value{Kind: detector.Null}
	case c == '-' || (c >= '0' && c <= '9'):
		var x float64
		if json.Unmarshal(v, &x) != nil {
			return detector.Value{Kind: detector.Other}
		}
		return detector.Value{Kind: detector.Number, Num: x, Parsed: true, Text: v}
	}
	return detector.Value{Kind: detector.Other}
}
