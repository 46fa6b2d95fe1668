package detector

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// segSim drives a monitor with segments the way the stream processor does:
// every event goes to the model's windows and to its segment's.
type segSim struct {
	t        testing.TB
	m        *Monitor
	names    [][]byte
	out      Output
	seq      int64
	key      []byte
	alerts   []Alert
	drifting int // drifting ks/mean_shift results, global and segments
}

var countryName = []byte("country")

func newSegSim(t testing.TB, ref *Reference, p Policy, cfg SegmentConfig) *segSim {
	ps, err := NewPolicies(p)
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewMonitor(ref, ps, DefaultWindow())
	if err != nil {
		t.Fatal(err)
	}
	if err := m.EnableSegments(cfg, ps); err != nil {
		t.Fatal(err)
	}
	return &segSim{t: t, m: m, names: featureNames(3)}
}

func (s *segSim) event(country string, xs []float64) {
	s.seq++
	s.key = AppendSegment(s.key[:0], 0, "country", Value{Kind: String, Text: []byte(country)}, true)
	for _, m := range []*Monitor{s.m, s.m.Segment(s.key)} {
		if !m.Begin(GroupFeatures, 1_700_000_000_000+s.seq, s.seq, &s.out) {
			s.t.Fatal("event skipped")
		}
		for i, x := range xs {
			m.Value(i, s.names[i], Value{Kind: Number, Num: x, Parsed: true})
		}
		m.Value(len(xs), countryName, Value{Kind: String, Text: []byte(country)})
		m.End(&s.out)
	}
	for _, e := range s.out.Evaluations {
		for _, r := range e.Results {
			if r.Drifting && (r.Test == TestKS || r.Test == TestMeanShift) {
				s.drifting++
			}
		}
	}
	s.alerts = append(s.alerts, s.out.Alerts...)
	s.out.Reset()
}

// segmentReference builds a reference of f00..f02 ~ N(0, 1) and a
// categorical country uniform over countries.
func segmentedReference(t testing.TB, rng *rand.Rand, countries []string, opts BuildOptions) *Reference {
	b, err := NewBuilder("sim", "1", opts)
	if err != nil {
		t.Fatal(err)
	}
	names := featureNames(3)
	for range 40000 {
		b.BeginRow()
		for _, n := range names {
			b.Add(string(n), Value{Kind: Number, Num: rng.NormFloat64(), Parsed: true})
		}
		b.Add("country", Value{Kind: String, Text: []byte(countries[rng.IntN(len(countries))])})
		b.EndRow()
	}
	ref, err := b.Reference()
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

var eightCountries = []string{"DE", "FR", "IT", "ES", "NL", "PL", "SE", "AT"}

// TestSegmentDriftConfined: from event 40,000, f00 shifts by 0.5 sd in
// country=DE only, one of 8 equally frequent countries. In the global
// window the shift is diluted to 0.5/8 = 0.06 sd (under the mean-shift
// gate of 0.1 sd; KS D ≈ 0.2/8 = 0.025, under its gate of 0.1), so the
// model's own windows cannot alert; DE's windows see the whole shift and
// alert within two of DE's windows (2000 DE events, 16,000 events). No
// other segment alerts, and the alert names the segment.
func TestSegmentDriftConfined(t *testing.T) {
	rng := rand.New(rand.NewPCG(51, 51))
	ref := segmentedReference(t, rng, eightCountries, BuildOptions{})
	s := newSegSim(t, ref, DefaultPolicy(), SegmentConfig{Keys: []string{"country"}, Max: 20})
	xs := make([]float64, 3)
	const change = 40000
	deSeen := 0
	var first *Alert
	for i := range change + 20000 {
		country := eightCountries[rng.IntN(8)]
		for j := range xs {
			xs[j] = rng.NormFloat64()
		}
		if i >= change && country == "DE" {
			xs[0] += 0.5
			deSeen++
		}
		s.event(country, xs)
	}
	for _, a := range s.alerts {
		if a.Status != Firing {
			continue
		}
		switch {
		case a.Segment == "country=DE" && (a.Feature == "f00" || a.Feature == DatasetFeature):
			if a.Window.LastSeq <= change/8-1000 {
				t.Errorf("DE alert before the shift: %s", a.Summary)
			}
			if first == nil && a.Feature == "f00" {
				first = &a
			}
		default:
			t.Errorf("unexpected alert: %s (segment %q)", a.Summary, a.Segment)
		}
	}
	if first == nil {
		t.Fatal("the shift confined to DE was not detected in its segment")
	}
	if !strings.HasPrefix(first.Summary, "sim/1 [country=DE] f00") || first.Key() != "sim/1/f00/"+string(first.Test)+"/country=DE" {
		t.Errorf("summary %q, key %q: the segment is not named", first.Summary, first.Key())
	}
	delay := first.Window.LastSeq - uint64(change/8) // DE's own event count at the change ≈ change/8
	t.Logf("detected %d DE events after the change (window last_seq %d)", delay, first.Window.LastSeq)
	if int64(first.Window.LastSeq)-int64(change/8) > 2000+500 {
		t.Fatalf("detected after ~%d DE events, want ≤ 2 windows", delay)
	}
}

// TestSegmentNoDrift: 8 segments and the global windows over 1,000,000
// stable events. With the production policy no alert may fire (ERT 10^7:
// 0.1 expected). With the threshold alone (ERT 2·10^4, gates and
// hysteresis off) the union bound allows events/ERT = 50 drifting results
// over every test of the global and segment windows together — the
// segments split the events, so their evaluations together are as many
// as the global windows', and each family gets half the budget. The
// ks/mean_shift results (2 of the 5 tests per numeric feature, the bulk
// of the false alarms) must stay under the bound and above a tenth of
// its share.
func TestSegmentNoDrift(t *testing.T) {
	if testing.Short() {
		t.Skip("2M-event simulation")
	}
	rng := rand.New(rand.NewPCG(52, 52))
	ref := segmentedReference(t, rng, eightCountries, BuildOptions{})
	xs := make([]float64, 3)
	run := func(p Policy) *segSim {
		s := newSegSim(t, ref, p, SegmentConfig{Keys: []string{"country"}, Max: 20})
		for range 1_000_000 {
			for j := range xs {
				xs[j] = rng.NormFloat64()
			}
			s.event(eightCountries[rng.IntN(8)], xs)
		}
		return s
	}
	s := run(DefaultPolicy())
	if len(s.alerts) > 0 {
		t.Fatalf("%d alerts without drift, first: %s", len(s.alerts), s.alerts[0].Summary)
	}
	p := DefaultPolicy()
	p.ERT = 2e4
	p.KSMinEffect, p.MeanShiftMinEffect, p.QualityMinEffect, p.JSMinEffect = 0, 0, 0, 0
	p.Hysteresis = 1
	p.ImmediateFactor = -1
	s = run(p)
	bound := 1e6 / p.ERT
	t.Logf("threshold only: %d drifting ks/mean_shift results, union bound %.0f over all tests", s.drifting, bound)
	if float64(s.drifting) > bound || float64(s.drifting) < bound/20 {
		t.Fatalf("%d drifting ks/mean_shift results, want within [%.1f, %.0f]", s.drifting, bound/20, bound)
	}
}

// TestSegmentCap: with a cap of 3, the first three countries get their
// segment, the events of the others go to "other" and are counted.
func TestSegmentCap(t *testing.T) {
	rng := rand.New(rand.NewPCG(53, 53))
	ref := segmentedReference(t, rng, eightCountries, BuildOptions{})
	s := newSegSim(t, ref, DefaultPolicy(), SegmentConfig{Keys: []string{"country"}, Max: 3})
	xs := make([]float64, 3)
	counts := map[string]int{}
	for i := range 8000 {
		c := eightCountries[i%8]
		counts[c]++
		s.event(c, xs)
	}
	st := s.m.Stats()
	if st.Segments != 4 || st.SegmentOverflow != 5000 {
		t.Fatalf("%d segments, %d overflow events; want 4 (3 and other) and 5000", st.Segments, st.SegmentOverflow)
	}
	for _, want := range []string{"country=DE", "country=FR", "country=IT", OtherSegment} {
		if _, ok := s.m.Segments()[want]; !ok {
			t.Errorf("segment %q missing: %v", want, st.SegmentFiring)
		}
	}
	if got := s.m.Segments()[OtherSegment].Stats().Events[GroupFeatures]; got != 5000 {
		t.Errorf("other saw %d events, want 5000", got)
	}
	if err := (SegmentConfig{Keys: []string{"a"}, Max: 0}).Validate(); err == nil {
		t.Error("max 0 accepted")
	}
	if err := (SegmentConfig{Keys: []string{"a", "a"}, Max: 3}).Validate(); err == nil {
		t.Error("repeated key accepted")
	}
}

// TestAppendSegment: keys joined by commas, numbers by their category
// text, missing values empty, long values truncated.
func TestAppendSegment(t *testing.T) {
	b := AppendSegment(nil, 0, "country", Value{Kind: String, Text: []byte("DE")}, true)
	b = AppendSegment(b, 1, "tier", Value{Kind: Number, Num: 3, Parsed: true}, true)
	b = AppendSegment(b, 2, "device", Value{}, false)
	if got := string(b); got != "country=DE,tier=3,device=" {
		t.Fatalf("segment %q", got)
	}
	long := AppendSegment(nil, 0, "k", Value{Kind: String, Text: []byte(strings.Repeat("x", 500))}, true)
	if len(long) != len("k=")+MaxSegmentValueLen {
		t.Fatalf("long value kept %d bytes", len(long))
	}
}

// TestSegmentReferences: in training, f00 ~ N(2, 1) in DE and N(0, 1)
// elsewhere. Compared with the model's reference, DE's windows would
// alert on every stable window — DE is not the population — so the
// control run (a reference without segments) must alert on DE. With
// per-segment references (BuildOptions.Segments) each segment is compared
// with its own training rows, and 200,000 stable events raise no alert at
// all; a 0.5 sd shift of f00 in FR is then caught in FR, and no other
// segment alerts. Countries below
// MinRows get no reference of their own and are noted.
func TestSegmentReferences(t *testing.T) {
	countries := []string{"DE", "FR", "IT", "ES"}
	draw := func(rng *rand.Rand, xs []float64) string {
		c := countries[rng.IntN(len(countries))]
		for j := range xs {
			xs[j] = rng.NormFloat64()
		}
		if c == "DE" {
			xs[0] += 2
		}
		return c
	}
	build := func(opts BuildOptions) (*Reference, *Builder) {
		rng := rand.New(rand.NewPCG(54, 54))
		b, err := NewBuilder("sim", "1", opts)
		if err != nil {
			t.Fatal(err)
		}
		names := featureNames(3)
		xs := make([]float64, 3)
		for i := range 40000 {
			c := draw(rng, xs)
			if i%1000 == 0 {
				c = "LU" // 40 rows: too few for a reference of its own
			}
			b.BeginRow()
			for j, n := range names {
				b.Add(string(n), Value{Kind: Number, Num: xs[j], Parsed: true})
			}
			b.Add("country", Value{Kind: String, Text: []byte(c)})
			b.EndRow()
		}
		ref, err := b.Reference()
		if err != nil {
			t.Fatal(err)
		}
		return ref, b
	}
	run := func(ref *Reference, shiftFR bool) []Alert {
		rng := rand.New(rand.NewPCG(55, 55))
		s := newSegSim(t, ref, DefaultPolicy(), SegmentConfig{Keys: []string{"country"}, Max: 20})
		xs := make([]float64, 3)
		for i := range 200_000 {
			c := draw(rng, xs)
			if shiftFR && i >= 100_000 && c == "FR" {
				xs[0] += 0.5
			}
			s.event(c, xs)
		}
		return s.alerts
	}
	plain, _ := build(BuildOptions{})
	if alerts := run(plain, false); len(alerts) == 0 || alerts[0].Segment != "country=DE" {
		t.Fatalf("control: DE against the model's reference raised %d alerts, want DE alerts", len(alerts))
	}
	ref, b := build(BuildOptions{Segments: &SegmentBuildOptions{Keys: []string{"country"}}})
	if len(ref.Segments) != 4 {
		t.Fatalf("%d segment references, want 4 (LU too small)", len(ref.Segments))
	}
	if notes := b.SegmentNotes(); len(notes) != 1 || !strings.Contains(notes[0], "country=LU: 40 rows") {
		t.Errorf("notes %q, want one about country=LU", notes)
	}
	if de := ref.segmentReference("country=DE"); de.Feature("country") != nil || de.Feature("f00").Mean < 1.9 {
		t.Errorf("DE's reference keeps its key or is not DE's (f00 mean %v)", de.Feature("f00").Mean)
	}
	data, err := ref.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if back, err := DecodeReference(data); err != nil || len(back.Segments) != 4 {
		t.Fatalf("round trip: %v", err)
	}
	if alerts := run(ref, false); len(alerts) != 0 {
		t.Fatalf("%d alerts without drift against per-segment references; first %s", len(alerts), alerts[0].Summary)
	}
	alerts := run(ref, true)
	if len(alerts) == 0 {
		t.Fatal("a 0.5 sd shift in FR was not detected")
	}
	fr := 0
	for _, a := range alerts {
		switch {
		case a.Status != Firing:
		case a.Segment == "country=FR":
			fr++
		case a.Segment == "" && (a.Feature == "f00" || a.Feature == DatasetFeature):
			// The global windows may see the diluted shift (0.125 sd of
			// the mixture's f00), which is real drift too.
		default:
			t.Errorf("alert outside FR: %s", a.Summary)
		}
	}
	if fr == 0 {
		t.Fatal("the shift in FR raised no FR alert")
	}
}

// BenchmarkMonitorEventSegments is one event of 3 numeric features and a
// country (8 values) routed to the model's windows and to its segment's,
// as the stream processor does (segment value built, segment looked up),
// against the model's windows alone ("global").
func BenchmarkMonitorEventSegments(b *testing.B) {
	rng := rand.New(rand.NewPCG(56, 56))
	ref := segmentedReference(b, rng, eightCountries, BuildOptions{})
	xs := make([][3]float64, 4096)
	cs := make([][]byte, 4096)
	for i := range xs {
		for j := range xs[i] {
			xs[i][j] = rng.NormFloat64()
		}
		cs[i] = []byte(eightCountries[rng.IntN(8)])
	}
	names := featureNames(3)
	for _, segmented := range []bool{false, true} {
		name := "global"
		if segmented {
			name = "segments"
		}
		b.Run(name, func(b *testing.B) {
			m, _ := NewMonitor(ref, nil, DefaultWindow())
			if segmented {
				m.EnableSegments(SegmentConfig{Keys: []string{"country"}, Max: 20}, nil)
			}
			var out Output
			var key []byte
			b.ReportAllocs()
			for i := range b.N {
				k := i & 4095
				targets := [2]*Monitor{m}
				if segmented {
					key = AppendSegment(key[:0], 0, "country", Value{Kind: String, Text: cs[k]}, true)
					targets[1] = m.Segment(key)
				}
				for _, t := range targets {
					if t == nil {
						continue
					}
					t.Begin(GroupFeatures, int64(i), int64(i), &out)
					for j, x := range xs[k] {
						t.Value(j, names[j], Value{Kind: Number, Num: x, Parsed: true})
					}
					t.Value(3, countryName, Value{Kind: String, Text: cs[k]})
					t.End(&out)
				}
				if len(out.Evaluations) > 64 {
					out.Reset()
				}
			}
		})
	}
}
