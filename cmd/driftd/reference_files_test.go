package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hamba/avro/v2/ocf"
	"github.com/parquet-go/parquet-go"
)

type trainingRow struct {
	Tenure float64 `parquet:"tenure_days" avro:"tenure_days"`
	Plan   string  `parquet:"plan" avro:"plan"`
	Score  float64 `parquet:"prediction" avro:"prediction"`
	Model  string  `parquet:"model" avro:"model"`
}

// TestReferenceBuildAvroParquet builds the same training set from CSV, an
// Avro container file and a Parquet file: the three references must have
// the same features and statistics (model is a column, not a feature).
func TestReferenceBuildAvroParquet(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(4, 4))
	rows := make([]trainingRow, 3000)
	var csv strings.Builder
	csv.WriteString("tenure_days,plan,prediction\n")
	for i := range rows {
		rows[i] = trainingRow{Tenure: float64(int(36500+18000*rng.NormFloat64())) / 100, Plan: []string{"basic", "pro"}[rng.IntN(2)], Score: float64(rng.IntN(1000)) / 1000, Model: "churn"}
		fmt.Fprintf(&csv, "%g,%s,%g\n", rows[i].Tenure, rows[i].Plan, rows[i].Score)
	}
	csvPath := filepath.Join(dir, "train.csv")
	if err := os.WriteFile(csvPath, []byte(csv.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	avroPath := filepath.Join(dir, "train.avro")
	f, err := os.Create(avroPath)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := ocf.NewEncoder(`{"type":"record","name":"Row","fields":[{"name":"tenure_days","type":"double"},{"name":"plan","type":"string"},{"name":"prediction","type":"double"},{"name":"model","type":"string"}]}`, f)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if err := enc.Encode(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	parquetPath := filepath.Join(dir, "train.parquet")
	if err := parquet.WriteFile(parquetPath, rows); err != nil {
		t.Fatal(err)
	}
	features := func(input string) string {
		out := filepath.Join(dir, filepath.Base(input)+".json")
		code, _, stderr := runCmd(t, "reference", "build", "--input", input, "--model", "churn", "--version", "3", "--out", out, "--quiet")
		if code != 0 {
			t.Fatalf("build %s: exit %d: %s", input, code, stderr)
		}
		ref, err := loadReferenceFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if ref.Rows != int64(len(rows)) {
			t.Errorf("%s: %d rows, want %d", input, ref.Rows, len(rows))
		}
		b, _ := json.Marshal(ref.Features)
		return string(b)
	}
	want := features(csvPath)
	for _, p := range []string{avroPath, parquetPath} {
		if got := features(p); got != want {
			t.Errorf("%s: features differ from the CSV's\n got %.300s\nwant %.300s", filepath.Base(p), got, want)
		}
	}
	if !strings.Contains(want, `"name":"plan"`) || strings.Contains(want, `"name":"model"`) {
		t.Errorf("unexpected features: %.300s", want)
	}
}
