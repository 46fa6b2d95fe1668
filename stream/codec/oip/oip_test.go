package oip

import (
	"errors"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/driftd/driftd/detector"
	"github.com/driftd/driftd/stream/codec"
)

func newDecoder(t *testing.T, cfg Config, order []string) codec.RecordDecoder {
	t.Helper()
	d, err := New(cfg)(codec.Env{FeatureOrder: func(model, version []byte) []string {
		if string(model) == "churn" {
			return order
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// render prints events as "model/version [id=<request ID>] name=value
// ..." lines, values as kind:text.
func render(evs []codec.Event) string {
	var b strings.Builder
	for _, ev := range evs {
		b.WriteString(string(ev.Model) + "/" + string(ev.Version))
		if ev.RequestID != nil {
			b.WriteString(" id=" + string(ev.RequestID))
		}
		fs := ev.Features
		if ev.HasPrediction {
			b.WriteString(" P")
			fs = ev.Prediction
		}
		for _, f := range fs {
			b.WriteString(" " + string(f.Name) + "=")
			switch f.Value.Kind {
			case detector.Number:
				b.WriteString("n:" + string(f.Value.Text))
			case detector.String:
				b.WriteString("s:" + string(f.Value.Text))
			case detector.Bool:
				b.WriteString("b:" + string(f.Value.Text))
			case detector.Null:
				b.WriteString("null")
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

func TestDecodeRecord(t *testing.T) {
	cases := []struct {
		name    string
		cfg     Config
		order   []string
		headers []kgo.RecordHeader
		value   string
		want    string       // rendered events
		reason  codec.Reason // or the DLQ reason
	}{
		{
			// MLServer's pandas codec: one [batch, 1] tensor per column,
			// model from the mlserver-model header, as MLServer's Kafka
			// server takes it.
			name:    "pandas codec, model from header",
			headers: []kgo.RecordHeader{{Key: "mlserver-model", Value: []byte("churn")}, {Key: "mlserver-version", Value: []byte("3")}},
			value: `{"parameters":{"content_type":"pd"},"inputs":[
				{"name":"tenure","shape":[2,1],"datatype":"FP64","data":[12.5,400]},
				{"name":"plan","shape":[2,1],"datatype":"BYTES","data":["basic","pro"],"parameters":{"content_type":"str"}},
				{"name":"active","shape":[2,1],"datatype":"BOOL","data":[true,false]}]}`,
			want: "churn/3 tenure=n:12.5 plan=s:basic active=b:true\nchurn/3 tenure=n:400 plan=s:pro active=b:false\n",
		},
		{
			// The body's model_name wins over the header.
			name:    "model from body",
			headers: []kgo.RecordHeader{{Key: "mlserver-model", Value: []byte("other")}},
			value:   `{"model_name":"churn","model_version":"7","inputs":[{"name":"x","shape":[1],"datatype":"INT32","data":[5]}]}`,
			want:    "churn/7 x=n:5\n",
		},
		{
			// numpy codec: a [batch, n] matrix, nested, columns named by
			// the configuration.
			name:  "numpy matrix, configured columns",
			cfg:   Config{Columns: []string{"a", "b", "c"}, Model: "m"},
			value: `{"inputs":[{"name":"input-0","shape":[2,3],"datatype":"FP32","data":[[1,2,3],[4,5,6]]}]}`,
			want:  "m/ a=n:1 b=n:2 c=n:3\nm/ a=n:4 b=n:5 c=n:6\n",
		},
		{
			// Flat row-major data, columns from the reference's order.
			name:  "numpy matrix, reference order",
			cfg:   Config{Model: "churn"},
			order: []string{"age", "income"},
			value: `{"inputs":[{"name":"input-0","shape":[2,2],"datatype":"FP64","data":[30,1e3,41,2.5e3]}]}`,
			want:  "churn/ age=n:30 income=n:1e3\nchurn/ age=n:41 income=n:2.5e3\n",
		},
		{
			// A response with one output tensor: the prediction. The
			// rows of a batch get request IDs <id>/<row>.
			name:  "response, single output",
			value: `{"model_name":"churn","model_version":"3","id":"r1","outputs":[{"name":"predict","shape":[3,1],"datatype":"INT64","data":[0,1,1]}]}`,
			want:  "churn/3 id=r1/0 P prediction=n:0\nchurn/3 id=r1/1 P prediction=n:1\nchurn/3 id=r1/2 P prediction=n:1\n",
		},
		{
			// One row: the request's id itself (a number as written).
			name:  "response, one row, numeric id",
			value: `{"model_name":"churn","model_version":"3","id":12,"outputs":[{"name":"predict","shape":[1],"datatype":"FP64","data":[0.75]}]}`,
			want:  "churn/3 id=12 P prediction=n:0.75\n",
		},
		{
			// Several outputs, one of width 2: prediction.<name>[.<j>].
			name:  "response, several outputs",
			value: `{"model_name":"churn","outputs":[{"name":"label","shape":[1],"datatype":"BYTES","data":["yes"]},{"name":"proba","shape":[1,2],"datatype":"FP32","data":[0.25,0.75]}]}`,
			want:  "churn/ P prediction.label=s:yes prediction.proba.0=n:0.25 prediction.proba.1=n:0.75\n",
		},
		{
			name:  "escaped string",
			cfg:   Config{Model: "m"},
			value: `{"inputs":[{"name":"city","shape":[1],"datatype":"BYTES","data":["S\u00e3o \"P\""]}]}`,
			want:  "m/ city=s:São \"P\"\n",
		},
		{
			name:  "null value is missing",
			cfg:   Config{Model: "m"},
			value: `{"inputs":[{"name":"x","shape":[2],"datatype":"FP64","data":[null,1]}]}`,
			want:  "m/ x=null\nm/ x=n:1\n",
		},
		{name: "no model", value: `{"inputs":[{"name":"x","shape":[1],"datatype":"FP64","data":[1]}]}`, reason: codec.ReasonNoModel},
		{name: "not json", cfg: Config{Model: "m"}, value: `{"inputs":[`, reason: codec.ReasonNotJSON},
		{name: "shape mismatch", cfg: Config{Model: "m"}, value: `{"inputs":[{"name":"x","shape":[3],"datatype":"FP64","data":[1,2]}]}`, reason: codec.ReasonBadTensor},
		{name: "huge shape", cfg: Config{Model: "m"}, value: `{"inputs":[{"name":"x","shape":[9223372036854775807,9223372036854775807],"datatype":"FP64","data":[1]}]}`, reason: codec.ReasonBadTensor},
		{name: "negative shape", cfg: Config{Model: "m"}, value: `{"inputs":[{"name":"x","shape":[-1],"datatype":"FP64","data":[1]}]}`, reason: codec.ReasonBadTensor},
		{name: "unknown datatype", cfg: Config{Model: "m"}, value: `{"inputs":[{"name":"x","shape":[1],"datatype":"FP128","data":[1]}]}`, reason: codec.ReasonBadTensor},
		{name: "string in FP64", cfg: Config{Model: "m"}, value: `{"inputs":[{"name":"x","shape":[1],"datatype":"FP64","data":["a"]}]}`, reason: codec.ReasonBadTensor},
		{name: "rows differ", cfg: Config{Model: "m"}, value: `{"inputs":[{"name":"x","shape":[1],"datatype":"FP64","data":[1]},{"name":"y","shape":[2],"datatype":"FP64","data":[1,2]}]}`, reason: codec.ReasonBadTensor},
		{name: "matrix without column names", cfg: Config{Model: "m"}, value: `{"inputs":[{"name":"x","shape":[1,2],"datatype":"FP64","data":[1,2]}]}`, reason: codec.ReasonBadTensor},
		{name: "unnamed input column", cfg: Config{Model: "m"}, value: `{"inputs":[{"name":"","shape":[1],"datatype":"FP64","data":[1]}]}`, reason: codec.ReasonBadTensor},
		{name: "unnamed output among several", cfg: Config{Model: "m"}, value: `{"outputs":[{"name":"a","shape":[1],"datatype":"FP64","data":[1]},{"shape":[1],"datatype":"FP64","data":[1]}]}`, reason: codec.ReasonBadTensor},
		{
			// The single output's name is not needed: it is the prediction.
			name:  "unnamed single output",
			cfg:   Config{Model: "m"},
			value: `{"outputs":[{"shape":[1],"datatype":"FP64","data":[0.5]}]}`,
			want:  "m/ P prediction=n:0.5\n",
		},
		{name: "no tensors", cfg: Config{Model: "m"}, value: `{"inputs":[]}`, reason: codec.ReasonNoData},
		{name: "both", cfg: Config{Model: "m"}, value: `{"inputs":[{"name":"x","shape":[1],"datatype":"FP64","data":[1]}],"outputs":[{"name":"x","shape":[1],"datatype":"FP64","data":[1]}]}`, reason: codec.ReasonBadTensor},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := newDecoder(t, tc.cfg, tc.order)
			evs, err := d.DecodeRecord(&codec.Record{Value: []byte(tc.value), Headers: tc.headers})
			if tc.reason != "" {
				var ce *codec.Error
				if !errors.As(err, &ce) || ce.Reason != tc.reason {
					t.Fatalf("got %v, %v; want reason %s", render(evs), err, tc.reason)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := render(evs); got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

// TestDecodeReusesBuffers checks that a decoder's events from one record
// are intact until the next call, and that a smaller second record does
// not keep rows of the first.
func TestDecodeReusesBuffers(t *testing.T) {
	d := newDecoder(t, Config{Model: "m"}, nil)
	big := `{"inputs":[{"name":"x","shape":[3],"datatype":"BYTES","data":["a","b","c"]}]}`
	small := `{"inputs":[{"name":"y","shape":[1],"datatype":"FP64","data":[2]}]}`
	if _, err := d.DecodeRecord(&codec.Record{Value: []byte(big)}); err != nil {
		t.Fatal(err)
	}
	evs, err := d.DecodeRecord(&codec.Record{Value: []byte(small)})
	if err != nil {
		t.Fatal(err)
	}
	if got := render(evs); got != "m/ y=n:2\n" {
		t.Errorf("got %q", got)
	}
}
