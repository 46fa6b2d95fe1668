package stream

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/driftd/driftd/bench/gen"
	"github.com/driftd/driftd/detector"
	"github.com/driftd/driftd/stream/codec"
)

// manyModels returns a processor whose registry holds models references
// (4 numeric features, r = 100, and a prediction: copies of one built
// reference under other model names), and events spread over the models
// in a scrambled order (each model's reference a copy of its own). Every model's windows (N = 200, H = 25) are
// filled before it returns, so the benchmark measures the steady state:
// routing, window updates and the evaluations every 25th event of a model
// brings.
func manyModels(b *testing.B, models int) (*Processor, *Task, [][]byte) {
	b.Helper()
	cfg := gen.Defaults()
	cfg.Numeric, cfg.Categorical, cfg.Model = 4, 0, "model-00000"
	bld, err := detector.NewBuilder(cfg.Model, cfg.Version, detector.BuildOptions{Breakpoints: 100})
	if err != nil {
		b.Fatal(err)
	}
	dec, err := codec.NewRowDecoder(codec.Flat, 0)
	if err != nil {
		b.Fatal(err)
	}
	g := gen.New(cfg, 1)
	var buf []byte
	for range 5000 {
		buf = g.AppendRow(buf[:0])
		ev, err := dec.Decode(buf)
		if err != nil {
			b.Fatal(err)
		}
		bld.BeginRow()
		for _, fl := range [][]codec.Field{ev.Features, ev.Prediction} {
			for _, f := range fl {
				if err := bld.Add(string(f.Name), f.Value); err != nil {
					b.Fatal(err)
				}
			}
		}
		bld.EndRow()
	}
	base, err := bld.Reference()
	if err != nil {
		b.Fatal(err)
	}
	registry := NewRegistry()
	for i := range models {
		// A deep copy: models' references live in memory of their own, as
		// references decoded from the reference topic do.
		ref := *base
		ref.Model = fmt.Sprintf("model-%05d", i)
		ref.ID = fmt.Sprintf("%s-%05d", base.ID, i)
		ref.Features = nil
		for _, f := range base.Features {
			g := *f
			g.Name = strings.Clone(f.Name)
			g.Breakpoints = slices.Clone(f.Breakpoints)
			g.Ranks = slices.Clone(f.Ranks)
			g.Categories = slices.Clone(f.Categories)
			ref.Features = append(ref.Features, &g)
		}
		registry.Set(&ref)
	}
	proc, err := NewProcessor(ProcessorConfig{Format: codec.Canonical, Window: detector.WindowConfig{Size: 200, Hop: 25}}, registry)
	if err != nil {
		b.Fatal(err)
	}
	task := proc.Task(TaskID{Topic: "in"})
	// 65,536 events; event i is for model (i · 7919) mod models.
	const n = 1 << 16
	g = gen.New(cfg, 0)
	evs := make([][]byte, n)
	name := []byte(cfg.Model)
	for i := range evs {
		e := g.AppendEvent(nil, int64(i), false)
		at := bytes.Index(e, name)
		copy(e[at:], fmt.Sprintf("model-%05d", (i*7919)%models))
		evs[i] = e
	}
	warm := 0
	for range 220 * models / n {
		for _, e := range evs {
			proc.Process(task, e, int64(warm), int64(warm))
			proc.Out.Reset()
			warm++
		}
	}
	for warm < 220*models {
		proc.Process(task, evs[warm%n], int64(warm), int64(warm))
		proc.Out.Reset()
		warm++
	}
	return proc, task, evs
}

// BenchmarkManyModels is the per-event cost of the processor (decode,
// routing to the model's monitor, window updates, evaluations) with 1,
// 100 and 10,000 models on one partition:
//
//	for i in 1 2 3; do go test ./stream -run XXX -bench 'ManyModels/models=(1|10000)$' -benchtime 200000x; done
func BenchmarkManyModels(b *testing.B) {
	for _, models := range []int{1, 100, 10000} {
		b.Run(fmt.Sprintf("models=%d", models), func(b *testing.B) {
			proc, task, evs := manyModels(b, models)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := proc.Process(task, evs[i&(len(evs)-1)], int64(i), int64(i)); err != nil {
					b.Fatal(err)
				}
				proc.Out.Reset()
			}
		})
	}
}
