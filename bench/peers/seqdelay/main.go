// Command seqdelay runs driftd's detector over the streams of the
// sequential-detection study in bench/peers (seq_delay.py writes them):
// one single-feature model whose reference is built from a file of
// values, one fresh monitor per stream, every test at the default policy
// except the ERT. For each stream it prints one JSON line: the sequence
// number (1-based event count) of the first firing alert after the change
// point, of any test and of the cusum test alone (0: none), and whether
// an alert fired at or before the change point (a false alarm).
//
//	seqdelay -ref ref.f64 -streams drift.f64 -length 12000 -change 2000 -ert 5e4
//
// Files are little-endian float64; streams are concatenated, length
// values each.
package main

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/driftd/driftd/detector"
)

type streamResult struct {
	Stream     int    `json:"stream"`
	FirstAny   uint64 `json:"first_any"`
	FirstTest  string `json:"first_test,omitempty"`
	FirstCUSUM uint64 `json:"first_cusum"`
	FalseAlarm bool   `json:"false_alarm"`
}

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "seqdelay:", err)
		os.Exit(1)
	}
}

func readFloats(path string) ([]float64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b)%8 != 0 {
		return nil, fmt.Errorf("%s: %d bytes, not a whole number of float64", path, len(b))
	}
	out := make([]float64, len(b)/8)
	for i := range out {
		out[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
	}
	return out, nil
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("seqdelay", flag.ContinueOnError)
	refPath := fs.String("ref", "", "reference values (float64 file)")
	streamsPath := fs.String("streams", "", "streams (float64 file, concatenated)")
	length := fs.Int("length", 12000, "events per stream")
	change := fs.Int("change", 2000, "events before the change point")
	ert := fs.Float64("ert", 5e4, "DRIFTD_ERT")
	size := fs.Int("window", 1000, "DRIFTD_WINDOW_SIZE")
	hop := fs.Int("hop", 0, "DRIFTD_WINDOW_HOP (0: an eighth)")
	disabled := fs.String("disable", "", "a test to disable (e.g. cusum)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *refPath == "" || *streamsPath == "" {
		return errors.New("-ref and -streams are required")
	}
	refVals, err := readFloats(*refPath)
	if err != nil {
		return err
	}
	streams, err := readFloats(*streamsPath)
	if err != nil {
		return err
	}
	if *length <= 0 || len(streams)%*length != 0 {
		return fmt.Errorf("%d values are not whole streams of %d", len(streams), *length)
	}
	b, err := detector.NewBuilder("seq", "1", detector.BuildOptions{})
	if err != nil {
		return err
	}
	for _, x := range refVals {
		b.BeginRow()
		if err := b.Add("x", detector.Value{Kind: detector.Number, Num: x, Parsed: true}); err != nil {
			return err
		}
		b.EndRow()
	}
	ref, err := b.Reference()
	if err != nil {
		return err
	}
	p := detector.DefaultPolicy()
	p.ERT = *ert
	if *disabled != "" {
		p.Disabled = []detector.Test{detector.Test(*disabled)}
	}
	ps, err := detector.NewPolicies(p)
	if err != nil {
		return err
	}
	cfg := detector.WindowConfig{Size: *size, Hop: *hop}
	name := []byte("x")
	enc := json.NewEncoder(stdout)
	var out detector.Output
	for s := 0; s < len(streams) / *length; s++ {
		m, err := detector.NewMonitor(ref, ps, cfg)
		if err != nil {
			return err
		}
		res := streamResult{Stream: s}
		xs := streams[s**length : (s+1)**length]
		for i, x := range xs {
			seq := int64(i + 1)
			if !m.Begin(detector.GroupFeatures, 1_700_000_000_000+seq, seq, &out) {
				return errors.New("event skipped")
			}
			m.Value(0, name, detector.Value{Kind: detector.Number, Num: x, Parsed: true})
			m.End(&out)
			for _, a := range out.Alerts {
				if a.Status != detector.Firing || a.Test == detector.TestDataset {
					continue
				}
				at := a.Window.LastSeq
				if at <= uint64(*change) {
					res.FalseAlarm = true
					continue
				}
				if res.FirstAny == 0 {
					res.FirstAny, res.FirstTest = at, string(a.Test)
				}
				if a.Test == detector.TestCUSUM && res.FirstCUSUM == 0 {
					res.FirstCUSUM = at
				}
			}
			out.Reset()
		}
		if err := enc.Encode(res); err != nil {
			return err
		}
	}
	return nil
}
