// Package oip decodes the Open Inference Protocol v2 (the KServe v2 data
// plane, spoken by MLServer, Triton and Seldon Core 2) in its JSON form:
// an InferenceRequest's input tensors are the features group, an
// InferenceResponse's output tensors the prediction group, and each row
// of the batch is one event. MLServer's Kafka server (requests on
// mlserver-input with the model in the mlserver-model header, responses
// on mlserver-output) is read as it is.
//
// Both tabular layouts are understood: one tensor per column (MLServer's
// pandas codec, shape [batch] or [batch, 1]: the tensor's name is the
// feature) and one [batch, n] matrix (the numpy codec: its columns are
// named by Config.Columns, else by the reference's feature order when it
// has n features). BYTES and BOOL tensors are categorical, the numeric
// datatypes numeric.
//
// The tensor-to-event assembly (Assembler) is shared with the Protobuf
// form (package oipproto) and with CloudEvents carrying OIP bodies.
package oip

import (
	"fmt"
	"strconv"

	"github.com/driftd/driftd/detector"
	"github.com/driftd/driftd/stream/codec"
)

// Config configures the OIP decoders.
type Config struct {
	// Columns names the columns of [batch, n] input tensors, in order
	// (DRIFTD_TENSOR_COLUMNS). Empty: the reference's feature order.
	Columns []string
	// Model and Version are used when neither the body nor a header
	// names them (DRIFTD_INPUT_MODEL, DRIFTD_INPUT_MODEL_VERSION).
	Model, Version string
	// ModelHeader and VersionHeader are the record headers that name the
	// model and version when the body does not (default mlserver-model
	// and mlserver-version, as MLServer's Kafka server reads them).
	ModelHeader, VersionHeader string
}

// Default headers of MLServer's Kafka server.
const (
	DefaultModelHeader   = "mlserver-model"
	DefaultVersionHeader = "mlserver-version"
)

// Tensor is one named tensor with its values flattened in row-major order.
type Tensor struct {
	Name   string
	Shape  []int64
	Values []detector.Value
}

// Assembler turns the tensors of one request or response into events:
// row i of every tensor is event i. It keeps buffers between calls and is
// not safe for concurrent use.
type Assembler struct {
	columns [][]byte
	arena   codec.Arena
	events  []codec.Event
	fields  []codec.Field
	names   [][]byte
	widths  []int
	id      []byte // the request's id (SetRequestID)
}

// NewAssembler returns an assembler naming matrix columns by columns
// (nil: by the reference's feature order).
func NewAssembler(columns []string) *Assembler {
	a := &Assembler{}
	for _, c := range columns {
		a.columns = append(a.columns, []byte(c))
	}
	return a
}

// Reset frees the previous call's names; call it once per record before
// any Arena use.
func (a *Assembler) Reset() { a.arena.Reset(); a.id = nil }

// SetRequestID sets the id of the record's request or response (OIP
// "id"): Build gives the event of a one-row batch this request ID and
// the events of a larger batch "<id>/<row>" (rows from 0), the IDs label
// events must carry to join them.
func (a *Assembler) SetRequestID(id []byte) { a.id = a.arena.Copy(id) }

// Arena returns the assembler's arena, valid until the next Reset.
func (a *Assembler) Arena() *codec.Arena { return &a.arena }

// Build assembles tensors into events of model/version: features when
// prediction is false, the prediction group otherwise. order returns the
// reference's features of model/version (for unnamed matrix columns).
func (a *Assembler) Build(model, version []byte, tensors []Tensor, prediction bool, order func(model, version []byte) []string) ([]codec.Event, error) {
	if len(tensors) == 0 {
		return nil, codec.Fail(codec.ReasonNoData, "no tensors")
	}
	batch := int64(-1)
	width := 0
	widths := a.widths[:0]
	for i := range tensors {
		t := &tensors[i]
		rows, w, err := rowsOf(t)
		if err != nil {
			return nil, err
		}
		if batch >= 0 && rows != batch {
			return nil, codec.Fail(codec.ReasonBadTensor, "tensor %q has %d rows, an earlier one %d", t.Name, rows, batch)
		}
		batch = rows
		widths = append(widths, w)
		width += w
	}
	a.widths = widths
	// Names: one per column of every tensor.
	a.names = a.names[:0]
	for i := range tensors {
		t := &tensors[i]
		w := widths[i]
		// The name is required by the protocol; it is needed here where
		// it names a feature or one of several outputs.
		if len(t.Name) == 0 && (prediction && len(tensors) > 1 || !prediction && w == 1) {
			return nil, codec.Fail(codec.ReasonBadTensor, "tensor %d has no name", i)
		}
		switch {
		case prediction && len(tensors) == 1 && w == 1:
			a.names = append(a.names, predictionName)
		case prediction && w == 1:
			a.names = append(a.names, a.arena.Join(predictionName, a.arena.CopyString(t.Name)))
		case prediction:
			base := a.arena.Join(predictionName, a.arena.CopyString(t.Name))
			for j := range w {
				a.names = append(a.names, a.arena.Join(base, strconv.AppendInt(nil, int64(j), 10)))
			}
		case w == 1:
			a.names = append(a.names, a.arena.CopyString(t.Name))
		default:
			cols := a.columns
			if len(cols) == 0 {
				for _, n := range order(model, version) {
					cols = append(cols, a.arena.CopyString(n))
				}
			}
			if len(cols) != w {
				return nil, codec.Fail(codec.ReasonBadTensor, "tensor %q has %d columns but %d column names are known (set DRIFTD_TENSOR_COLUMNS, or build the reference with these columns)", t.Name, w, len(cols))
			}
			a.names = append(a.names, cols...)
		}
	}
	n := int(batch)
	if cap(a.events) < n {
		a.events = make([]codec.Event, n)
	}
	a.events = a.events[:n]
	if need := n * width; cap(a.fields) < need {
		a.fields = make([]codec.Field, need)
	} else {
		a.fields = a.fields[:need]
	}
	for row := range n {
		fs := a.fields[row*width : (row+1)*width : (row+1)*width]
		col := 0
		for i := range tensors {
			w := widths[i]
			vals := tensors[i].Values[row*w : (row+1)*w]
			for j := range vals {
				fs[col] = codec.Field{Name: a.names[col], Value: vals[j]}
				col++
			}
		}
		ev := &a.events[row]
		*ev = codec.Event{Model: model, Version: version, RequestID: a.rowID(row, n)}
		if prediction {
			ev.HasPrediction, ev.Prediction = true, fs
		} else {
			ev.HasFeatures, ev.Features = true, fs
		}
	}
	return a.events, nil
}

var predictionName = []byte(detector.PredictionFeature)

// rowID is the request ID of row of a batch of n rows (see
// SetRequestID); nil without an id.
func (a *Assembler) rowID(row, n int) []byte {
	if len(a.id) == 0 || n == 1 {
		return a.id
	}
	out := a.arena.Alloc(len(a.id) + 1 + 20)
	k := copy(out, a.id)
	out[k] = '/'
	return strconv.AppendInt(out[:k+1], int64(row), 10)
}

// rowsOf checks a tensor's shape against its values and returns its rows
// (the first dimension) and the values per row.
func rowsOf(t *Tensor) (rows int64, width int, err error) {
	if len(t.Shape) == 0 {
		if len(t.Values) != 1 {
			return 0, 0, codec.Fail(codec.ReasonBadTensor, "tensor %q has no shape and %d values", t.Name, len(t.Values))
		}
		return 1, 1, nil
	}
	total := int64(1)
	for _, d := range t.Shape {
		if d < 0 {
			return 0, 0, codec.Fail(codec.ReasonBadTensor, "tensor %q has a negative dimension in shape %v", t.Name, t.Shape)
		}
		if d > 0 && total > int64(len(t.Values))/d+1 {
			return 0, 0, shapeMismatch(t)
		}
		total *= d
	}
	if total != int64(len(t.Values)) {
		return 0, 0, shapeMismatch(t)
	}
	rows = t.Shape[0]
	if rows == 0 {
		return 0, 0, nil
	}
	return rows, int(total / rows), nil
}

func shapeMismatch(t *Tensor) error {
	return codec.Fail(codec.ReasonBadTensor, "tensor %q: shape %v does not match its %d values", t.Name, t.Shape, len(t.Values))
}

// Datatype kinds.
const (
	kindNumber = iota
	kindBool
	kindBytes
)

// datatypeKind maps an OIP datatype to how its values are read.
func datatypeKind(dt string) (int, error) {
	switch dt {
	case "BOOL":
		return kindBool, nil
	case "BYTES":
		return kindBytes, nil
	case "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32", "FP64", "BF16":
		return kindNumber, nil
	}
	return 0, fmt.Errorf("unknown datatype %q", dt)
}
