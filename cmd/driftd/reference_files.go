package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/hamba/avro/v2/ocf"
	"github.com/parquet-go/parquet-go"

	"github.com/driftd/driftd/detector"
)

// Training sets exported as Avro container files or Parquet: each row's
// fields are named as the confluent input format names them (nested
// records dotted, the fields of a features record without the prefix,
// prediction kept), and model, model_version, timestamp, request_id and
// label are not features.

// rowFeature maps a flattened column name to its reference feature name,
// or "" for columns that are not features.
func rowFeature(name string) string {
	switch name {
	case "model", "model_version", "timestamp", "request_id", "label":
		return ""
	}
	return strings.TrimPrefix(name, "features.")
}

// readAvroFile adds the rows of an Avro object container file.
func readAvroFile(ctx context.Context, path string, b rowSink, stats *rowStats) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	dec, err := ocf.NewDecoder(f)
	if err != nil {
		return fmt.Errorf("reference build: %s is not an Avro container file: %w", path, err)
	}
	for dec.HasNext() {
		if stats.rows%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		var row any
		if err := dec.Decode(&row); err != nil {
			return fmt.Errorf("reference build: row %d: %w", stats.rows+1, err)
		}
		m, ok := row.(map[string]any)
		if !ok {
			return fmt.Errorf("reference build: the file's schema is not a record")
		}
		b.BeginRow()
		if err := addAvroRow(b, "", m); err != nil {
			return fmt.Errorf("reference build: row %d: %w", stats.rows+1, err)
		}
		b.EndRow()
		stats.rows++
	}
	if err := dec.Error(); err != nil {
		return fmt.Errorf("reference build: %s: %w", path, err)
	}
	return nil
}

func addAvroRow(b rowSink, prefix string, m map[string]any) error {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		name := k
		if prefix != "" {
			name = prefix + "." + k
		}
		if sub, ok := m[k].(map[string]any); ok {
			if err := addAvroRow(b, name, sub); err != nil {
				return err
			}
			continue
		}
		feature := rowFeature(name)
		if feature == "" {
			continue
		}
		if err := b.Add(feature, genericValue(m[k])); err != nil {
			return err
		}
	}
	return nil
}

// genericValue types a decoded Avro value.
func genericValue(v any) detector.Value {
	num := func(x float64) detector.Value { return detector.Value{Kind: detector.Number, Num: x, Parsed: true} }
	switch x := v.(type) {
	case nil:
		return detector.Value{Kind: detector.Null}
	case string:
		return detector.Value{Kind: detector.String, Text: []byte(x)}
	case bool:
		if x {
			return detector.Value{Kind: detector.Bool, Text: []byte("true")}
		}
		return detector.Value{Kind: detector.Bool, Text: []byte("false")}
	case int:
		return num(float64(x))
	case int32:
		return num(float64(x))
	case int64:
		return num(float64(x))
	case float32:
		return num(float64(x))
	case float64:
		return num(x)
	case time.Time:
		return num(float64(x.UnixMilli()))
	}
	return detector.Value{Kind: detector.Other}
}

// readParquetFile adds the rows of a Parquet file. Leaf columns are named
// by their dotted path; a repeated column is an invalid value.
func readParquetFile(ctx context.Context, path string, b rowSink, stats *rowStats) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	pf, err := parquet.OpenFile(f, info.Size())
	if err != nil {
		return fmt.Errorf("reference build: %s is not a Parquet file: %w", path, err)
	}
	cols := pf.Schema().Columns()
	features := make([]string, len(cols))
	for i, c := range cols {
		features[i] = rowFeature(strings.Join(c, "."))
	}
	r := parquet.NewReader(pf)
	defer r.Close()
	rows := make([]parquet.Row, 256)
	seen := make([]int, len(cols))
	for {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		n, err := r.ReadRows(rows)
		for _, row := range rows[:n] {
			clear(seen)
			for _, v := range row {
				if c := v.Column(); c >= 0 && c < len(seen) {
					seen[c]++
				}
			}
			b.BeginRow()
			for _, v := range row {
				c := v.Column()
				if c < 0 || c >= len(features) || features[c] == "" {
					continue
				}
				val := parquetValue(v)
				if seen[c] > 1 {
					val = detector.Value{Kind: detector.Other}
					seen[c] = -1 // add once
				} else if seen[c] < 0 {
					continue
				}
				if err := b.Add(features[c], val); err != nil {
					return fmt.Errorf("reference build: row %d: %w", stats.rows+1, err)
				}
			}
			b.EndRow()
			stats.rows++
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reference build: %s: %w", path, err)
		}
	}
}

func parquetValue(v parquet.Value) detector.Value {
	num := func(x float64) detector.Value { return detector.Value{Kind: detector.Number, Num: x, Parsed: true} }
	if v.IsNull() {
		return detector.Value{Kind: detector.Null}
	}
	switch v.Kind() {
	case parquet.Boolean:
		if v.Boolean() {
			return detector.Value{Kind: detector.Bool, Text: []byte("true")}
		}
		return detector.Value{Kind: detector.Bool, Text: []byte("false")}
	case parquet.Int32:
		return num(float64(v.Int32()))
	case parquet.Int64:
		return num(float64(v.Int64()))
	case parquet.Float:
		return num(float64(v.Float()))
	case parquet.Double:
		x := v.Double()
		if math.IsNaN(x) {
			return detector.Value{Kind: detector.Other}
		}
		return num(x)
	case parquet.ByteArray, parquet.FixedLenByteArray:
		return detector.Value{Kind: detector.String, Text: append([]byte(nil), v.ByteArray()...)}
	}
	return detector.Value{Kind: detector.Other}
}
