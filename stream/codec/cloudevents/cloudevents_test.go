package cloudevents

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/driftd/driftd/detector"
	"github.com/driftd/driftd/stream/codec"
)

// render prints events with their fields sorted (object rows have no
// order).
func render(evs []codec.Event) string {
	var b strings.Builder
	for _, ev := range evs {
		b.WriteString(string(ev.Model) + "/" + string(ev.Version))
		if ev.HasTime {
			fmt.Fprintf(&b, " @%d", ev.TimeMS)
		}
		fs := ev.Features
		if ev.HasPrediction {
			b.WriteString(" P")
			fs = ev.Prediction
		}
		var parts []string
		for _, f := range fs {
			switch f.Value.Kind {
			case detector.Number:
				parts = append(parts, fmt.Sprintf("%s=%g", f.Name, f.Value.Num))
			case detector.Null:
				parts = append(parts, string(f.Name)+"=null")
			default:
				parts = append(parts, fmt.Sprintf("%s=%s", f.Name, f.Value.Text))
			}
		}
		sort.Strings(parts)
		b.WriteString(" " + strings.Join(parts, " ") + "\n")
	}
	return b.String()
}

func binary(typ string, extra ...kgo.RecordHeader) []kgo.RecordHeader {
	return append([]kgo.RecordHeader{
		{Key: "ce_specversion", Value: []byte("1.0")}, {Key: "ce_id", Value: []byte("abc")},
		{Key: "ce_source", Value: []byte("http://localhost:9081/")}, {Key: "ce_type", Value: []byte(typ)},
		{Key: "ce_inferenceservicename", Value: []byte("churn")}, {Key: "ce_namespace", Value: []byte("prod")},
		{Key: "ce_time", Value: []byte("2026-11-25T20:00:00Z")},
		{Key: "content-type", Value: []byte("application/json")},
	}, extra...)
}

const t0 = 1795636800000 // 2026-11-25T20:00:00Z

func TestDecodeRecord(t *testing.T) {
	cases := []struct {
		name    string
		cfg     Config
		order   []string
		headers []kgo.RecordHeader
		value   string
		want    string
		reason  codec.Reason
	}{
		{
			// Binary mode, KServe v1 request with object rows.
			name: "binary v1 objects", headers: binary(TypeRequest),
			value: `{"instances":[{"x":1.5,"plan":"pro"},{"x":-2,"plan":null}]}`,
			want:  fmt.Sprintf("churn/ @%d plan=pro x=1.5\nchurn/ @%d plan=null x=-2\n", t0, t0),
		},
		{
			// Array rows: columns from the reference order.
			name: "binary v1 arrays", headers: binary(TypeRequest), order: []string{"a", "b"},
			value: `{"instances":[[1,"u"],[2,"v"]]}`,
			want:  fmt.Sprintf("churn/ @%d a=1 b=u\nchurn/ @%d a=2 b=v\n", t0, t0),
		},
		{
			name: "binary v1 response", headers: binary(TypeResponse),
			value: `{"predictions":[1,0]}`,
			want:  fmt.Sprintf("churn/ @%d P prediction=1\nchurn/ @%d P prediction=0\n", t0, t0),
		},
		{
			name: "binary v1 response, probabilities", headers: binary(TypeResponse),
			value: `{"predictions":[[0.2,0.8]]}`,
			want:  fmt.Sprintf("churn/ @%d P prediction.0=0.2 prediction.1=0.8\n", t0),
		},
		{
			// Binary mode with an OIP v2 body; the body's model_name wins.
			name: "binary oip", headers: binary(TypeResponse),
			value: `{"model_name":"churn-v2","model_version":"3","outputs":[{"name":"p","shape":[1],"datatype":"FP32","data":[0.5]}]}`,
			want:  fmt.Sprintf("churn-v2/3 @%d P prediction=0.5\n", t0),
		},
		{
			// Structured mode: the event in the value.
			name:    "structured",
			headers: []kgo.RecordHeader{{Key: "content-type", Value: []byte("application/cloudevents+json; charset=utf-8")}},
			value: `{"specversion":"1.0","id":"1","source":"s","type":"org.kubeflow.serving.inference.request","inferenceservicename":"churn",
				"time":"2026-11-25T20:00:01Z","datacontenttype":"application/json","data":{"instances":[{"x":3}]}}`,
			want: fmt.Sprintf("churn/ @%d x=3\n", t0+1000),
		},
		{
			name:    "structured base64",
			headers: []kgo.RecordHeader{{Key: "content-type", Value: []byte("application/cloudevents+json")}},
			// {"predictions":[7]}
			value: `{"specversion":"1.0","id":"1","source":"s","type":"org.kubeflow.serving.inference.response","inferenceservicename":"churn","data_base64":"eyJwcmVkaWN0aW9ucyI6WzddfQ=="}`,
			want:  "churn/ P prediction=7\n",
		},
		{
			// The CloudEvents Python SDK's to_structured sends the data's
			// content type, not application/cloudevents+json.
			name:    "structured with the data's content type",
			headers: []kgo.RecordHeader{{Key: "content-type", Value: []byte("application/json")}},
			value:   `{"specversion":"1.0","id":"1","source":"s","type":"org.kubeflow.serving.inference.response","inferenceservicename":"churn","data_base64":"eyJwcmVkaWN0aW9ucyI6WzddfQ=="}`,
			want:    "churn/ P prediction=7\n",
		},
		{name: "other type", headers: binary("com.example.other"), value: `{}`, reason: codec.ReasonUnknownType},
		{name: "not a cloudevent", value: `{"instances":[{"x":1}]}`, reason: codec.ReasonUnknownType},
		{name: "bad data", headers: binary(TypeRequest), value: `{"instances":`, reason: codec.ReasonNotJSON},
		{name: "no rows", headers: binary(TypeRequest), value: `{"predictions":[1]}`, reason: codec.ReasonNoData},
		{name: "unnamed array columns", headers: binary(TypeRequest), value: `{"instances":[[1,2]]}`, reason: codec.ReasonBadTensor},
		{name: "request carrying outputs", headers: binary(TypeRequest), value: `{"outputs":[{"name":"p","shape":[1],"datatype":"FP32","data":[0.5]}]}`, reason: codec.ReasonBadTensor},
		{
			name:    "no model",
			headers: []kgo.RecordHeader{{Key: "ce_specversion", Value: []byte("1.0")}, {Key: "ce_type", Value: []byte(TypeRequest)}},
			value:   `{"instances":[{"x":1}]}`, reason: codec.ReasonNoModel,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := New(tc.cfg)(codec.Env{FeatureOrder: func(_, _ []byte) []string { return tc.order }})
			if err != nil {
				t.Fatal(err)
			}
			evs, err := d.DecodeRecord(&codec.Record{Value: []byte(tc.value), Headers: tc.headers})
			if tc.reason != "" {
				var ce *codec.Error
				if !errors.As(err, &ce) || ce.Reason != tc.reason {
					t.Fatalf("got %q, %v; want reason %s", render(evs), err, tc.reason)
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
