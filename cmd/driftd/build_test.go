package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/driftd/driftd/detector"
)

// wineCSV writes a training set shaped like scikit-learn's wine data
// exported with its target: a byte-order mark, a '/' and non-ASCII in
// feature names, and label, request_id, timestamp and score columns.
func wineCSV(t *testing.T, path string, rows int, rng *rand.Rand) {
	t.Helper()
	var b strings.Builder
	b.WriteString("\ufeffalcohol,od280/od315_of_diluted_wines,label,request_id,timestamp,score,Größe ° (cm),batch\n")
	for i := range rows {
		fmt.Fprintf(&b, "%.3f,%.3f,%d,r%d,%d,%.3f,%.2f,b%d\n", 13+0.8*rng.NormFloat64(), 2.6+0.7*rng.NormFloat64(), rng.IntN(3), i,
			1764100800000+int64(i)*1000, rng.Float64(), 100+10*rng.NormFloat64(), rng.IntN(4))
	}
	writeFile(t, path, b.String())
}

func featureNames(t *testing.T, path string) []string {
	t.Helper()
	ref, err := loadReferenceFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range ref.Features {
		names = append(names, f.Name)
	}
	return names
}

// TestReferenceBuildColumns: columns that events do not carry as features
// (label, request_id, timestamp, model, model_version) are left out by
// default and reported; --include keeps one, --exclude drops one, --rename
// renames one (score=prediction makes it the prediction feature); names
// of --exclude/--include/--rename the input lacks are an error. Then the
// whole path with such a reference: replaying events from the same
// distribution with a label raises no alert (before, label was a feature
// no event carries and "missing" fired at the first evaluation), and a
// shift of od280/od315_of_diluted_wines is reported under its name.
func TestReferenceBuildColumns(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(12, 13))
	train := filepath.Join(dir, "wine.csv")
	wineCSV(t, train, 4000, rng)
	ref := filepath.Join(dir, "ref.json")
	code, _, stderr := runCmd(t, "reference", "build", "--input", train, "--model", "wine", "--version", "1", "--out", ref,
		"--exclude", "batch", "--rename", "score=prediction", "--quiet")
	if code != 0 {
		t.Fatalf("build: exit %d: %s", code, stderr)
	}
	want := []string{"Größe ° (cm)", "alcohol", "od280/od315_of_diluted_wines", "prediction"}
	if got := featureNames(t, ref); !slices.Equal(got, want) {
		t.Fatalf("features %q, want %q", got, want)
	}
	for _, c := range []string{"label", "request_id", "timestamp"} {
		if !strings.Contains(stderr, fmt.Sprintf("column %q is not a feature", c)) {
			t.Errorf("build does not say why %s is left out: %s", c, stderr)
		}
	}

	ref2 := filepath.Join(dir, "ref2.json")
	if code, _, stderr := runCmd(t, "reference", "build", "--input", train, "--model", "wine", "--out", ref2,
		"--include", "label", "--rename", "Größe ° (cm)=size", "--quiet"); code != 0 {
		t.Fatalf("build --include: exit %d: %s", code, stderr)
	}
	want2 := []string{"alcohol", "batch", "label", "od280/od315_of_diluted_wines", "score", "size"}
	if got := featureNames(t, ref2); !slices.Equal(got, want2) {
		t.Fatalf("--include label: features %q, want %q", got, want2)
	}
	for _, bad := range [][]string{
		{"--exclude", "bacth"},
		{"--include", "lable"},
		{"--rename", "scroe=prediction"},
		{"--rename", "score"},
		{"--rename", "alcohol=batch"}, // two columns would be feature "batch"
		{"--include", "label", "--exclude", "label"},
	} {
		args := append([]string{"reference", "build", "--input", train, "--model", "wine", "--out", filepath.Join(dir, "x.json"), "--quiet"}, bad...)
		if code, _, stderr := runCmd(t, args...); code != 2 || !strings.Contains(stderr, "reference build: ") {
			t.Errorf("%v: exit %d, %q; want 2", bad, code, stderr)
		}
	}

	// Events of the same distribution, carrying a label and a request ID,
	// then od280 shifted.
	var ev strings.Builder
	for i := range 6000 {
		od := 2.6 + 0.7*rng.NormFloat64()
		if i >= 3000 {
			od += 1.5
		}
		fmt.Fprintf(&ev, `{"model":"wine","model_version":"1","request_id":"q%d","label":%d,"features":{"alcohol":%.3f,"od280/od315_of_diluted_wines":%.3f,"Größe ° (cm)":%.2f},"prediction":%.3f}`+"\n",
			i, rng.IntN(3), 13+0.8*rng.NormFloat64(), od, 100+10*rng.NormFloat64(), rng.Float64())
	}
	events := filepath.Join(dir, "events.jsonl")
	writeFile(t, events, ev.String())
	code, out, stderr := runCmd(t, "replay", "--reference", ref, "--input", events, "--alerts-only")
	if code != 0 {
		t.Fatalf("replay: exit %d: %s", code, stderr)
	}
	var firing []string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var a struct {
			Status  string `json:"status"`
			Feature string `json:"feature"`
			Test    string `json:"test"`
			Window  struct {
				LastSeq int64 `json:"last_seq"`
			} `json:"window"`
		}
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			t.Fatal(err)
		}
		if a.Status == string(detector.Firing) {
			firing = append(firing, a.Feature+" "+a.Test)
		}
	}
	if len(firing) == 0 {
		t.Fatalf("the od280 shift raised no alert:\n%s", stderr)
	}
	for _, f := range firing {
		// The dataset alert: one of four features (a share above
		// DRIFTD_DATASET_DRIFT_SHARE) is drifting.
		if !strings.HasPrefix(f, "od280/od315_of_diluted_wines ") && f != "* dataset" {
			t.Errorf("unexpected alert %s", f)
		}
	}
}

// TestReferenceBuildHeaderErrors: problems with a CSV header's names are
// blamed on the header and its column, not on the first data line.
func TestReferenceBuildHeaderErrors(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ header, want string }{
		{"a,b,a", "CSV header: columns 1 and 3 are both feature \"a\""},
		{"a,,b", "CSV header: column 2 has no name"},
		{"a," + strings.Repeat("x", 300), "CSV header: column 2 \"" + strings.Repeat("x", 300) + "\": is 300 bytes long"},
		{"a,b\xff", "CSV header: column 2 name \"b\\xff\" is not valid UTF-8"},
		{"label,request_id", "CSV header: no column is a feature"},
	} {
		path := filepath.Join(dir, "t.csv")
		writeFile(t, path, c.header+"\n1,2,3\n")
		code, _, stderr := runCmd(t, "reference", "build", "--input", path, "--model", "m", "--out", filepath.Join(dir, "r.json"), "--quiet")
		if code != 2 || !strings.Contains(stderr, c.want) || strings.Contains(stderr, "line 2") {
			t.Errorf("header %q: exit %d, %q; want 2 and %q", c.header, code, stderr, c.want)
		}
	}
}

// TestReferenceBuildInvalidUTF8: a training value that is not valid UTF-8
// is an invalid value, not a category (events treat it the same way).
func TestReferenceBuildInvalidUTF8(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "t.csv")
	writeFile(t, path, "plan\npro\nbasic\npro\nbas\xffic\n")
	ref := filepath.Join(dir, "r.json")
	if code, _, stderr := runCmd(t, "reference", "build", "--input", path, "--model", "m", "--out", ref, "--quiet"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	r, err := loadReferenceFile(ref)
	if err != nil {
		t.Fatal(err)
	}
	f := r.Features[0]
	if f.Invalid != 1 || f.Count != 3 || len(f.Categories) != 2 {
		t.Fatalf("plan: count %d invalid %d categories %+v; want 3 valid in 2 categories and 1 invalid", f.Count, f.Invalid, f.Categories)
	}
	_ = os.Remove(ref)
}

// TestReplayInvalidUTF8: events whose categorical value is not valid
// UTF-8 count as invalid for the feature — the invalid test fires — and
// are neither dead-lettered nor a new category (chi2 stays quiet).
func TestReplayInvalidUTF8(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(3, 4))
	var train strings.Builder
	train.WriteString("plan,x\n")
	for range 3000 {
		fmt.Fprintf(&train, "%s,%.3f\n", []string{"basic", "pro"}[rng.IntN(2)], rng.NormFloat64())
	}
	writeFile(t, filepath.Join(dir, "t.csv"), train.String())
	ref := filepath.Join(dir, "r.json")
	if code, _, stderr := runCmd(t, "reference", "build", "--input", filepath.Join(dir, "t.csv"), "--model", "m", "--out", ref, "--quiet"); code != 0 {
		t.Fatalf("build: %d %s", code, stderr)
	}
	var ev strings.Builder
	for i := range 4000 {
		plan := []string{"basic", "pro"}[rng.IntN(2)]
		if i >= 2000 && i%3 == 0 {
			plan = "pr\xffo"
		}
		fmt.Fprintf(&ev, `{"model":"m","features":{"plan":"%s","x":%.3f}}`+"\n", plan, rng.NormFloat64())
	}
	writeFile(t, filepath.Join(dir, "e.jsonl"), ev.String())
	code, out, stderr := runCmd(t, "replay", "--reference", ref, "--input", filepath.Join(dir, "e.jsonl"), "--alerts-only")
	if code != 0 || !strings.Contains(stderr, "4000 events processed, 0 malformed") {
		t.Fatalf("replay: exit %d: %s", code, stderr)
	}
	if !strings.Contains(out, `"feature":"plan","test":"invalid"`) {
		t.Errorf("no invalid alert for plan:\n%s", out)
	}
	if strings.Contains(out, `"test":"chi2"`) {
		t.Errorf("invalid UTF-8 values changed the category mix:\n%s", out)
	}
}

// TestReplayTimestampSeconds: events stamped in Unix seconds, replayed
// with event-time windows. Read as milliseconds (the default) they are
// placed in January 1970 and a warning says so; with --timestamp-unit s
// their windows are where the events are, in November 2026.
func TestReplayTimestampSeconds(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(5, 6))
	var train strings.Builder
	train.WriteString("x\n")
	for range 2000 {
		fmt.Fprintf(&train, "%.3f\n", rng.NormFloat64())
	}
	writeFile(t, filepath.Join(dir, "t.csv"), train.String())
	ref := filepath.Join(dir, "r.json")
	if code, _, stderr := runCmd(t, "reference", "build", "--input", filepath.Join(dir, "t.csv"), "--model", "m", "--out", ref, "--quiet"); code != 0 {
		t.Fatalf("build: %d %s", code, stderr)
	}
	var ev strings.Builder
	start := int64(1795636800) // 2026-11-25T20:00:00Z, in seconds
	for i := range 3000 {
		fmt.Fprintf(&ev, `{"model":"m","timestamp":%d,"features":{"x":%.3f}}`+"\n", start+int64(i), rng.NormFloat64())
	}
	events := filepath.Join(dir, "e.jsonl")
	writeFile(t, events, ev.String())
	code, out, stderr := runCmd(t, "replay", "--reference", ref, "--input", events, "--window-time", "10m")
	if code != 0 {
		t.Fatalf("replay: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "warning: 3000 numeric timestamps look like Unix seconds") {
		t.Errorf("no warning about seconds read as milliseconds: %s", stderr)
	}
	// Read as milliseconds, 3000 s of events span 3 s: not one 10m window closes.
	if strings.Contains(out, `"type":"evaluation"`) {
		t.Errorf("read as milliseconds, the events still closed a 10-minute window")
	}
	code, out, stderr = runCmd(t, "replay", "--reference", ref, "--input", events, "--window-time", "10m", "--timestamp-unit", "s")
	if code != 0 {
		t.Fatalf("replay -timestamp-unit s: exit %d: %s", code, stderr)
	}
	if strings.Contains(stderr, "warning") {
		t.Errorf("warning with the right unit: %s", stderr)
	}
	if !strings.Contains(out, `"type":"evaluation"`) {
		t.Fatalf("with seconds, 50 minutes of events closed no 10-minute window:\n%s", stderr)
	}
	if code, _, stderr := runCmd(t, "replay", "--reference", ref, "--input", events, "--timestamp-unit", "us"); code != 2 || !strings.Contains(stderr, "accepted: ms, s") {
		t.Errorf("--timestamp-unit us: exit %d, %q", code, stderr)
	}
}

// TestReferenceBuildWarnsSmall: a feature with fewer valid values than
// the KS gate needs ((1.36/0.1)² = 185) is warned about, with its
// out-of-range baseline 2/(m+1); enough rows, no warning.
func TestReferenceBuildWarnsSmall(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	var b strings.Builder
	b.WriteString("x,c,sparse\n")
	for i := range 500 {
		sparse := ""
		if i < 89 {
			sparse = fmt.Sprint(rng.NormFloat64())
		}
		fmt.Fprintf(&b, "%.3f,%s,%s\n", rng.NormFloat64(), []string{"a", "b"}[rng.IntN(2)], sparse)
	}
	writeFile(t, filepath.Join(dir, "t.csv"), b.String())
	code, _, stderr := runCmd(t, "reference", "build", "--input", filepath.Join(dir, "t.csv"), "--model", "m", "--out", filepath.Join(dir, "r.json"), "--quiet")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, `warning: feature "sparse" has 89 valid values, fewer than 185`) || !strings.Contains(stderr, "2.2% of events fall outside its range") {
		t.Errorf("no warning for the 89-value feature: %s", stderr)
	}
	if strings.Contains(stderr, `feature "x"`) || strings.Contains(stderr, `feature "c"`) {
		t.Errorf("warning for a 500-value feature: %s", stderr)
	}
}
