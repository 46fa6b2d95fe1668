// Package confluent decodes records in the Confluent Schema Registry wire
// format — a zero magic byte, a 4-byte big-endian schema ID, for Protobuf
// the message indexes, then the payload — with Avro, Protobuf or JSON
// Schema schemas fetched from the registry by ID (franz-go's pkg/sr) and
// cached. A record is one event: nested records are flattened to dotted
// feature names, nullable unions that are null are missing values,
// enums, strings and booleans are categorical, numbers numeric. The
// fields model and model_version name the model (else the configured
// one), a configured field is the event time, prediction (a value or a
// record) is the prediction group, the fields of a features record are
// features named without the prefix, request_id is the event's request
// ID (for the label join) and label is ignored.
//
// A schema ID the registry does not know is a dead letter
// (schema_not_found). A registry that does not answer is not the
// record's fault: DecodeRecord returns a plain error and the pipeline
// holds the partition back and retries (codec.RecordDecoder).
package confluent

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/bufbuild/protocompile"
	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/sr"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
	_ "google.golang.org/protobuf/types/known/durationpb" // well-known imports of descriptor-form schemas
	_ "google.golang.org/protobuf/types/known/timestamppb"
	_ "google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/driftd/driftd/detector"
	"github.com/driftd/driftd/stream/codec"
)

// Config configures the decoder.
type Config struct {
	// Client is the registry client (with its URLs, TLS and auth).
	Client *sr.Client
	// TimeField is the (dotted) field holding the event time: a
	// timestamp logical type, epoch milliseconds, or an RFC 3339 string.
	// Default "timestamp"; absent: the record timestamp.
	TimeField string
	// Model and Version are used when the record has no model /
	// model_version field.
	Model, Version string
	// FetchTimeout bounds one registry request (default 10s).
	FetchTimeout time.Duration
}

// Registry caches schemas by ID for every decoder made by one New; the
// cache is shared by the lanes, so each ID is fetched once.
type registry struct {
	cfg   Config
	mu    sync.Mutex
	cache map[int]*schema
}

// schema is a compiled schema.
type schema struct {
	typ   sr.SchemaType
	avro  avro.Schema
	proto protoreflect.FileDescriptor
}

// New returns the constructor of decoders.
func New(cfg Config) (codec.NewRecordDecoder, error) {
	if cfg.Client == nil {
		return nil, errors.New("no schema registry client")
	}
	if cfg.TimeField == "" {
		cfg.TimeField = "timestamp"
	}
	if cfg.FetchTimeout <= 0 {
		cfg.FetchTimeout = 10 * time.Second
	}
	reg := &registry{cfg: cfg, cache: map[int]*schema{}}
	return func(env codec.Env) (codec.RecordDecoder, error) {
		if env.MaxBytes <= 0 {
			env.MaxBytes = codec.DefaultMaxBytes
		}
		return &Decoder{reg: reg, cfg: cfg, env: env, timeField: []byte(cfg.TimeField)}, nil
	}, nil
}

// Decoder decodes Schema Registry framed records (codec.RecordDecoder).
type Decoder struct {
	reg       *registry
	cfg       Config
	env       codec.Env
	header    sr.ConfluentHeader
	arena     codec.Arena
	out       [1]codec.Event
	ev        codec.Event
	timeField []byte
}

// errUnavailable marks registry failures that are not the record's.
type unavailableError struct{ err error }

func (e *unavailableError) Error() string { return "schema registry unavailable: " + e.err.Error() }
func (e *unavailableError) Unwrap() error { return e.err }

// lookup returns the schema of id, fetching and compiling it once.
func (r *registry) lookup(id int) (*schema, error) {
	r.mu.Lock()
	s := r.cache[id]
	r.mu.Unlock()
	if s != nil {
		return s, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.FetchTimeout)
	defer cancel()
	got, err := r.cfg.Client.SchemaByID(ctx, id)
	if err != nil {
		var re *sr.ResponseError
		if errors.As(err, &re) && re.StatusCode == http.StatusNotFound {
			return nil, codec.Fail(codec.ReasonSchemaNotFound, "schema ID %d: %v", id, err)
		}
		return nil, &unavailableError{err}
	}
	s, err = r.compile(ctx, got)
	if err != nil {
		var ue *unavailableError
		if errors.As(err, &ue) {
			return nil, err
		}
		return nil, codec.Fail(codec.ReasonBadPayload, "schema ID %d does not compile: %v", id, err)
	}
	r.mu.Lock()
	r.cache[id] = s
	r.mu.Unlock()
	return s, nil
}

// compile parses a schema and the schemas it references.
func (r *registry) compile(ctx context.Context, s sr.Schema) (*schema, error) {
	refs := map[string]string{}
	if err := r.references(ctx, s, refs, 0); err != nil {
		return nil, err
	}
	switch s.Type {
	case sr.TypeAvro:
		cache := &avro.SchemaCache{}
		// Referenced named types first, so the schema can use them.
		names := make([]string, 0, len(refs))
		for n := range refs {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			if _, err := avro.ParseWithCache(refs[n], "", cache); err != nil {
				return nil, fmt.Errorf("reference %s: %w", n, err)
			}
		}
		as, err := avro.ParseWithCache(s.Schema, "", cache)
		if err != nil {
			return nil, err
		}
		return &schema{typ: sr.TypeAvro, avro: as}, nil
	case sr.TypeProtobuf:
		if fd, ok := descriptorSchema(s.Schema, refs); ok {
			return &schema{typ: sr.TypeProtobuf, proto: fd}, nil
		}
		const main = "driftd-schema.proto"
		refs[main] = s.Schema
		c := protocompile.Compiler{Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{Accessor: protocompile.SourceAccessorFromMap(refs)})}
		files, err := c.Compile(ctx, main)
		if err != nil {
			return nil, err
		}
		return &schema{typ: sr.TypeProtobuf, proto: files[0]}, nil
	case sr.TypeJSON:
		return &schema{typ: sr.TypeJSON}, nil
	}
	return nil, fmt.Errorf("schema type %v", s.Type)
}

// descriptorSchema reads a Protobuf schema registered as a base64
// serialized FileDescriptorProto (as confluent-kafka's Python
// ProtobufSerializer registers them), its imports among refs (same
// form) or the well-known types.
func descriptorSchema(text string, refs map[string]string) (protoreflect.FileDescriptor, bool) {
	parse := func(text string) (*descriptorpb.FileDescriptorProto, bool) {
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(text))
		if err != nil {
			return nil, false
		}
		var fdp descriptorpb.FileDescriptorProto
		if proto.Unmarshal(raw, &fdp) != nil || fdp.GetName() == "" {
			return nil, false
		}
		return &fdp, true
	}
	fdp, ok := parse(text)
	if !ok {
		return nil, false
	}
	files := &protoregistry.Files{}
	var add func(fdp *descriptorpb.FileDescriptorProto, depth int) (protoreflect.FileDescriptor, bool)
	add = func(fdp *descriptorpb.FileDescriptorProto, depth int) (protoreflect.FileDescriptor, bool) {
		if depth > 16 {
			return nil, false
		}
		for _, dep := range fdp.GetDependency() {
			if _, err := files.FindFileByPath(dep); err == nil {
				continue
			}
			if wk, err := protoregistry.GlobalFiles.FindFileByPath(dep); err == nil {
				if files.RegisterFile(wk) != nil {
					return nil, false
				}
				continue
			}
			ref, ok := parse(refs[dep])
			if !ok {
				return nil, false
			}
			if _, ok := add(ref, depth+1); !ok {
				return nil, false
			}
		}
		fd, err := protodesc.NewFile(fdp, files)
		if err != nil || files.RegisterFile(fd) != nil {
			return nil, false
		}
		return fd, true
	}
	return add(fdp, 0)
}

// references fetches the schemas s references, by their import name.
func (r *registry) references(ctx context.Context, s sr.Schema, into map[string]string, depth int) error {
	if depth > 16 {
		return errors.New("schema references nest deeper than 16")
	}
	for _, ref := range s.References {
		if _, done := into[ref.Name]; done {
			continue
		}
		got, err := r.cfg.Client.SchemaByVersion(ctx, ref.Subject, ref.Version)
		if err != nil {
			var re *sr.ResponseError
			if errors.As(err, &re) && re.StatusCode == http.StatusNotFound {
				return fmt.Errorf("reference %s (%s v%d): %w", ref.Name, ref.Subject, ref.Version, err)
			}
			return &unavailableError{err}
		}
		into[ref.Name] = got.Schema.Schema
		if err := r.references(ctx, got.Schema, into, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// DecodeRecord implements codec.RecordDecoder.
func (d *Decoder) DecodeRecord(r *codec.Record) ([]codec.Event, error) {
	if len(r.Value) > d.env.MaxBytes {
		return nil, codec.Fail(codec.ReasonTooLarge, "%d bytes, limit %d", len(r.Value), d.env.MaxBytes)
	}
	id, payload, err := d.header.DecodeID(r.Value)
	if err != nil {
		return nil, codec.Fail(codec.ReasonBadPayload, "not in the Schema Registry wire format: %v", err)
	}
	s, err := d.reg.lookup(id)
	if err != nil {
		return nil, err
	}
	d.arena.Reset()
	ev := &d.ev
	*ev = codec.Event{Features: ev.Features[:0], Prediction: ev.Prediction[:0]}
	switch s.typ {
	case sr.TypeAvro:
		var v any
		if err := avro.Unmarshal(s.avro, payload, &v); err != nil {
			return nil, codec.Fail(codec.ReasonBadPayload, "Avro payload does not match schema %d: %v", id, err)
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, codec.Fail(codec.ReasonBadPayload, "schema %d is not an Avro record", id)
		}
		d.walkMap(nil, m)
	case sr.TypeProtobuf:
		index, rest, err := d.header.DecodeIndex(payload, 64)
		if err != nil {
			return nil, codec.Fail(codec.ReasonBadPayload, "message indexes: %v", err)
		}
		md, err := messageAt(s.proto, index)
		if err != nil {
			return nil, codec.Fail(codec.ReasonBadPayload, "schema %d: %v", id, err)
		}
		msg := dynamicpb.NewMessage(md)
		if err := proto.Unmarshal(rest, msg); err != nil {
			return nil, codec.Fail(codec.ReasonBadPayload, "Protobuf payload does not match schema %d: %v", id, err)
		}
		d.walkProto(nil, msg)
	case sr.TypeJSON:
		dec := json.NewDecoder(bytes.NewReader(payload))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			return nil, codec.Fail(codec.ReasonNotJSON, "JSON Schema payload: %v", err)
		}
		if dec.More() {
			return nil, codec.Fail(codec.ReasonNotJSON, "trailing data after the object")
		}
		d.walkMap(nil, m)
	}
	if len(ev.Model) == 0 {
		ev.Model = []byte(d.cfg.Model)
	}
	if len(ev.Version) == 0 {
		ev.Version = []byte(d.cfg.Version)
	}
	if len(ev.Model) == 0 {
		return nil, codec.Fail(codec.ReasonNoModel, "no model field and no configured model")
	}
	ev.HasFeatures = len(ev.Features) > 0
	ev.HasPrediction = len(ev.Prediction) > 0
	if !ev.HasFeatures && !ev.HasPrediction {
		return nil, codec.Fail(codec.ReasonNoData, "")
	}
	d.out[0] = *ev
	return d.out[:], nil
}

// messageAt follows Confluent's message indexes to a message descriptor.
func messageAt(fd protoreflect.FileDescriptor, index []int) (protoreflect.MessageDescriptor, error) {
	if len(index) == 0 {
		index = []int{0}
	}
	msgs := fd.Messages()
	var md protoreflect.MessageDescriptor
	for _, i := range index {
		if i < 0 || i >= msgs.Len() {
			return nil, fmt.Errorf("message index %v out of range", index)
		}
		md = msgs.Get(i)
		msgs = md.Messages()
	}
	return md, nil
}

var (
	predictionName = []byte(detector.PredictionFeature)
	trueText       = []byte("true")
	falseText      = []byte("false")
)

// add routes one flattened value: model, version, time, ignored names,
// the prediction, or a feature.
func (d *Decoder) add(name []byte, v detector.Value, t time.Time) {
	ev := &d.ev
	switch string(name) {
	case "model":
		ev.Model = v.Text
		return
	case "model_version":
		if v.Kind == detector.Number && len(v.Text) == 0 {
			v.Text = d.arena.Copy(fmt.Appendf(nil, "%g", v.Num))
		}
		ev.Version = v.Text
		return
	case "request_id":
		if v.Kind == detector.Number && len(v.Text) == 0 {
			v.Text = d.arena.Copy(detector.AppendCategoryNumber(nil, v.Num))
		}
		if v.Kind == detector.String || v.Kind == detector.Number {
			ev.RequestID = v.Text // the label join's key
		}
		return
	case "label":
		return
	}
	if string(name) == string(d.timeField) {
		switch {
		case !t.IsZero():
			ev.TimeMS, ev.HasTime = t.UnixMilli(), true
		case v.Kind == detector.Number:
			ev.TimeMS, ev.HasTime = int64(v.Num), true
		case v.Kind == detector.String:
			ev.TimeMS, ev.HasTime = codec.ParseRFC3339(v.Text)
			ev.BadTime = !ev.HasTime
		}
		return
	}
	if string(name) == detector.PredictionFeature || (len(name) > len(predictionName) && string(name[:len(predictionName)+1]) == detector.PredictionFeature+".") {
		ev.Prediction = append(ev.Prediction, codec.Field{Name: name, Value: v})
		return
	}
	// A features record holds the features, as in driftd's canonical
	// event: its fields are named without the prefix.
	if len(name) > len(featuresPrefix) && string(name[:len(featuresPrefix)]) == featuresPrefix {
		name = name[len(featuresPrefix):]
	}
	ev.Features = append(ev.Features, codec.Field{Name: name, Value: v})
}

const featuresPrefix = "features."

// walkMap flattens a generic value tree (Avro or JSON).
func (d *Decoder) walkMap(prefix []byte, m map[string]any) {
	for k, v := range m {
		name := d.arena.Join(prefix, []byte(k))
		switch x := v.(type) {
		case map[string]any:
			d.walkMap(name, x)
		default:
			val, t := d.value(x)
			d.add(name, val, t)
		}
	}
}

func (d *Decoder) value(v any) (detector.Value, time.Time) {
	num := func(x float64) detector.Value { return detector.Value{Kind: detector.Number, Num: x, Parsed: true} }
	switch x := v.(type) {
	case nil:
		return detector.Value{Kind: detector.Null}, time.Time{}
	case string:
		return detector.Value{Kind: detector.String, Text: d.arena.Copy([]byte(x))}, time.Time{}
	case bool:
		if x {
			return detector.Value{Kind: detector.Bool, Text: trueText}, time.Time{}
		}
		return detector.Value{Kind: detector.Bool, Text: falseText}, time.Time{}
	case int:
		return num(float64(x)), time.Time{}
	case int32:
		return num(float64(x)), time.Time{}
	case int64:
		return num(float64(x)), time.Time{}
	case uint32:
		return num(float64(x)), time.Time{}
	case uint64:
		return num(float64(x)), time.Time{}
	case float32:
		return num(float64(x)), time.Time{}
	case float64:
		return num(x), time.Time{}
	case json.Number:
		f, err := x.Float64()
		if err != nil && !math.IsInf(f, 0) {
			return detector.Value{Kind: detector.Other}, time.Time{}
		}
		return detector.Value{Kind: detector.Number, Num: f, Parsed: true, Text: d.arena.Copy([]byte(x))}, time.Time{}
	case time.Time:
		return num(float64(x.UnixMilli())), x
	case time.Duration:
		return num(x.Seconds()), time.Time{}
	}
	return detector.Value{Kind: detector.Other}, time.Time{}
}

// walkProto flattens a Protobuf message: every field of the descriptor,
// so proto3 zero values count as values; fields with presence that are
// unset are missing.
func (d *Decoder) walkProto(prefix []byte, m protoreflect.Message) {
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		name := d.arena.Join(prefix, []byte(fd.Name()))
		if fd.IsList() || fd.IsMap() {
			d.add(name, detector.Value{Kind: detector.Other}, time.Time{})
			continue
		}
		if fd.HasPresence() && !m.Has(fd) {
			d.add(name, detector.Value{Kind: detector.Null}, time.Time{})
			continue
		}
		v := m.Get(fd)
		switch fd.Kind() {
		case protoreflect.MessageKind, protoreflect.GroupKind:
			msg := v.Message()
			if t, ok := wellKnownTime(msg); ok {
				d.add(name, detector.Value{Kind: detector.Number, Num: float64(t.UnixMilli()), Parsed: true}, t)
				continue
			}
			if w, ok := wrapperValue(msg); ok {
				val, t := d.value(w)
				d.add(name, val, t)
				continue
			}
			d.walkProto(name, msg)
		case protoreflect.EnumKind:
			if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
				d.add(name, detector.Value{Kind: detector.String, Text: d.arena.Copy([]byte(ev.Name()))}, time.Time{})
			} else {
				d.add(name, detector.Value{Kind: detector.String, Text: d.arena.Copy(fmt.Appendf(nil, "%d", v.Enum()))}, time.Time{})
			}
		case protoreflect.BytesKind:
			d.add(name, detector.Value{Kind: detector.Other}, time.Time{})
		default:
			val, t := d.value(v.Interface())
			d.add(name, val, t)
		}
	}
}

// wellKnownTime reads a google.protobuf.Timestamp.
func wellKnownTime(m protoreflect.Message) (time.Time, bool) {
	if m.Descriptor().FullName() != "google.protobuf.Timestamp" {
		return time.Time{}, false
	}
	f := m.Descriptor().Fields()
	return time.Unix(m.Get(f.ByName("seconds")).Int(), m.Get(f.ByName("nanos")).Int()).UTC(), true
}

// wrapperValue reads the google.protobuf wrapper types (nullable
// scalars).
func wrapperValue(m protoreflect.Message) (any, bool) {
	switch m.Descriptor().FullName() {
	case "google.protobuf.DoubleValue", "google.protobuf.FloatValue", "google.protobuf.Int64Value",
		"google.protobuf.UInt64Value", "google.protobuf.Int32Value", "google.protobuf.UInt32Value",
		"google.protobuf.BoolValue", "google.protobuf.StringValue":
		v := m.Get(m.Descriptor().Fields().ByName("value")).Interface()
		switch x := v.(type) {
		case uint32:
			return float64(x), true
		case uint64:
			return float64(x), true
		}
		return v, true
	}
	return nil, false
}
