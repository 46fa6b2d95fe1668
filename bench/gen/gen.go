// Package gen generates the synthetic inference events of `driftd bench`:
// canonical driftd events (see the README's contract) with numeric
// features, categorical features with skewed frequencies and a model
// score, plus flat training rows drawn from the same (undrifted)
// distribution for the reference.
//
// Numeric features fNN are mostly N(0, 1); every tenth feature from f04 is
// log-normal (skewed), from f07 exponential, and from f09 a small integer
// count (ties, as real counts have). Categorical features cNN draw from
// fixed Zipf-like distributions over 3 to 40 values; c00 uses the five
// categories a–e of bench/peers/gen_stream.py. The prediction is a logistic
// score of f00, f01, f02 and c00, so drift in f00 moves the predictions
// too, as it would in production.
//
// A drifted event adds Shift reference standard deviations to each
// drifted feature. Numbers are written in Go's shortest round-trip form
// (the same digits as Python's repr), so one event is about 600 bytes with
// the default 20 numeric and 5 categorical features.
//
// Generators are deterministic: the same Config, seed stream and calls
// give the same bytes.
package gen

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"
)

// Config describes the events.
type Config struct {
	Numeric     int      // numeric features f00, f01, …
	Categorical int      // categorical features c00, c01, …
	Drifted     []string // numeric features shifted in drifted events
	Shift       float64  // shift of a drifted feature, in its reference standard deviations
	Seed        uint64
	Model       string
	Version     string
	Start       time.Time     // event time of event 0
	Interval    time.Duration // event-time spacing
}

// Defaults is the stream of bench/peers/gen_stream.py's defaults: 20
// numeric and 5 categorical features, f00 shifted by 0.5 sd, seed 1.
func Defaults() Config {
	return Config{
		Numeric: 20, Categorical: 5, Drifted: []string{"f00"}, Shift: 0.5, Seed: 1,
		Model: "bench", Version: "1",
		Start:    time.Date(2026, 11, 25, 20, 0, 0, 0, time.UTC),
		Interval: 10 * time.Millisecond,
	}
}

// NumericNames lists the numeric feature names.
func (c Config) NumericNames() []string {
	out := make([]string, c.Numeric)
	for i := range out {
		out[i] = fmt.Sprintf("f%02d", i)
	}
	return out
}

// CategoricalNames lists the categorical feature names.
func (c Config) CategoricalNames() []string {
	out := make([]string, c.Categorical)
	for i := range out {
		out[i] = fmt.Sprintf("c%02d", i)
	}
	return out
}

// Validate checks the configuration.
func (c Config) Validate() error {
	switch {
	case c.Numeric < 0 || c.Numeric > 1000:
		return fmt.Errorf("numeric features: %d, want 0..1000", c.Numeric)
	case c.Categorical < 0 || c.Categorical > 1000:
		return fmt.Errorf("categorical features: %d, want 0..1000", c.Categorical)
	case c.Numeric+c.Categorical == 0:
		return fmt.Errorf("no features")
	case math.IsNaN(c.Shift) || math.IsInf(c.Shift, 0):
		return fmt.Errorf("shift must be finite")
	case c.Model == "":
		return fmt.Errorf("model must not be empty")
	}
	names := c.NumericNames()
	for _, d := range c.Drifted {
		if !slices.Contains(names, d) {
			return fmt.Errorf("drifted feature %q is not a numeric feature (f00..f%02d)", d, c.Numeric-1)
		}
	}
	return nil
}

// numeric distribution kinds
const (
	normal = iota
	lognormal
	exponential
	count
)

func numericKind(j int) int {
	switch j % 10 {
	case 4:
		return lognormal
	case 7:
		return exponential
	case 9:
		return count
	}
	return normal
}

// stddev of each kind (for the drift shift in reference sd).
func kindSD(k int) float64 {
	switch k {
	case lognormal: // exp(0.5 Z)
		s2 := 0.25
		return math.Sqrt((math.Exp(s2) - 1) * math.Exp(s2))
	case exponential:
		return 1
	case count: // floor(3·Exp(1)): geometric with p = 1 − e^(−1/3)
		q := math.Exp(-1.0 / 3)
		return math.Sqrt(q) / (1 - q)
	}
	return 1
}

type catDist struct {
	values [][]byte
	cum    []float64 // cumulative probabilities
}

// category tables: c00 is gen_stream.py's; the others are Zipf-like.
var catTables = []struct {
	values []string
	probs  []float64 // nil: Zipf with exponent 1.1
}{
	{[]string{"a", "b", "c", "d", "e"}, []float64{0.4, 0.25, 0.15, 0.12, 0.08}},
	{[]string{"web", "ios", "android"}, []float64{0.55, 0.3, 0.15}},
	{[]string{"US", "DE", "GB", "FR", "IN", "BR", "JP", "CA", "ES", "IT", "NL", "MX"}, nil},
	{segmentNames(40), nil},
	{[]string{"free", "basic", "plus", "pro", "team", "business", "enterprise", "edu"}, nil},
}

func segmentNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("seg-%02d", i)
	}
	return out
}

func newCatDist(j int) catDist {
	t := catTables[j%len(catTables)]
	probs := t.probs
	if probs == nil {
		probs = make([]float64, len(t.values))
		var sum float64
		for i := range probs {
			probs[i] = 1 / math.Pow(float64(i+1), 1.1)
			sum += probs[i]
		}
		for i := range probs {
			probs[i] /= sum
		}
	}
	d := catDist{cum: make([]float64, len(probs))}
	var c float64
	for i, p := range probs {
		c += p
		d.cum[i] = c
		d.values = append(d.values, []byte(t.values[i]))
	}
	d.cum[len(d.cum)-1] = 1
	return d
}

func (d *catDist) draw(rng *rand.Rand) int {
	u := rng.Float64()
	for i, c := range d.cum {
		if u < c {
			return i
		}
	}
	return len(d.cum) - 1
}

// Generator draws events or rows. Not safe for concurrent use.
type Generator struct {
	cfg      Config
	rng      *rand.Rand
	kinds    []int
	shift    []float64 // per numeric feature: added when drifted
	cats     []catDist
	numNames [][]byte
	catNames [][]byte

	x    []float64
	c    []int
	pred float64
}

// New returns a generator. stream selects an independent random stream
// for the same seed: use one for the events and another for the training
// rows.
func New(cfg Config, stream uint64) *Generator {
	g := &Generator{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, 0x9e3779b97f4a7c15^stream))}
	for j, name := range cfg.NumericNames() {
		k := numericKind(j)
		g.kinds = append(g.kinds, k)
		var s float64
		if slices.Contains(cfg.Drifted, name) {
			s = cfg.Shift * kindSD(k)
		}
		g.shift = append(g.shift, s)
		g.numNames = append(g.numNames, []byte(name))
	}
	for j, name := range cfg.CategoricalNames() {
		g.cats = append(g.cats, newCatDist(j))
		g.catNames = append(g.catNames, []byte(name))
	}
	g.x = make([]float64, cfg.Numeric)
	g.c = make([]int, cfg.Categorical)
	return g
}

// draw fills the next row of values.
func (g *Generator) draw(drifted bool) {
	r := g.rng
	for j, k := range g.kinds {
		var v float64
		switch k {
		case normal:
			v = r.NormFloat64()
		case lognormal:
			v = math.Exp(0.5 * r.NormFloat64())
		case exponential:
			v = r.ExpFloat64()
		case count:
			v = math.Floor(3 * r.ExpFloat64())
		}
		if drifted {
			v += g.shift[j]
		}
		g.x[j] = v
	}
	for j := range g.cats {
		g.c[j] = g.cats[j].draw(r)
	}
	z := -0.5
	for j, w := range []float64{0.8, -0.5, 0.3} {
		if j < len(g.x) {
			z += w * g.x[j]
		}
	}
	if len(g.c) > 0 && g.c[0] == 0 {
		z += 0.4
	}
	g.pred = math.Round(1e6/(1+math.Exp(-z))) / 1e6
}

func (g *Generator) appendValues(b []byte) []byte {
	for j, name := range g.numNames {
		if j > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, name...)
		b = append(b, '"', ':')
		b = strconv.AppendFloat(b, g.x[j], 'g', -1, 64)
	}
	for j, name := range g.catNames {
		if j > 0 || len(g.numNames) > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, name...)
		b = append(b, '"', ':', '"')
		b = append(b, g.cats[j].values[g.c[j]]...)
		b = append(b, '"')
	}
	return b
}

// AppendEvent appends canonical event number i (its request ID and event
// time follow from i), drifted or not, to b.
func (g *Generator) AppendEvent(b []byte, i int64, drifted bool) []byte {
	g.draw(drifted)
	b = append(b, `{"model":`...)
	b = strconv.AppendQuote(b, g.cfg.Model)
	b = append(b, `,"model_version":`...)
	b = strconv.AppendQuote(b, g.cfg.Version)
	b = append(b, `,"timestamp":"`...)
	b = g.cfg.Start.Add(time.Duration(i)*g.cfg.Interval).UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
	b = append(b, `","request_id":"r-`...)
	b = strconv.AppendInt(b, i, 10)
	b = append(b, `","features":{`...)
	b = g.appendValues(b)
	b = append(b, `},"prediction":`...)
	b = strconv.AppendFloat(b, g.pred, 'g', -1, 64)
	return append(b, '}')
}

// AppendRow appends a flat training row (features and prediction, from
// the undrifted distribution) to b.
func (g *Generator) AppendRow(b []byte) []byte {
	g.draw(false)
	b = append(b, '{')
	b = g.appendValues(b)
	b = append(b, `,"prediction":`...)
	b = strconv.AppendFloat(b, g.pred, 'g', -1, 64)
	return append(b, '}')
}

// Events are generated events held contiguously in memory (one
// allocation for the bytes, one for the offsets, so holding millions of
// them costs the garbage collector nothing to scan).
type Events struct {
	Data []byte
	Ends []int // event i is Data[Ends[i-1]:Ends[i]]
}

// Len is the number of events.
func (e *Events) Len() int { return len(e.Ends) }

// At returns event i.
func (e *Events) At(i int) []byte {
	start := 0
	if i > 0 {
		start = e.Ends[i-1]
	}
	return e.Data[start:e.Ends[i]:e.Ends[i]]
}

// Bytes is the total size of the events.
func (e *Events) Bytes() int { return len(e.Data) }

// Generate returns n events numbered from 0; events at index ≥
// changePoint are drifted (changePoint ≥ n: none).
func Generate(cfg Config, n, changePoint int) *Events {
	g := New(cfg, 0)
	ev := &Events{Ends: make([]int, 0, n)}
	var buf []byte
	for i := range n {
		buf = g.AppendEvent(buf[:0], int64(i), i >= changePoint)
		if ev.Data == nil {
			ev.Data = make([]byte, 0, n*(len(buf)+16))
		}
		ev.Data = append(ev.Data, buf...)
		ev.Ends = append(ev.Ends, len(ev.Data))
	}
	return ev
}
