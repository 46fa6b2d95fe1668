package codec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/driftd/driftd/detector"
)

func mustDecoder(t testing.TB, f Format) *Decoder {
	d, err := NewDecoder(f, 4096)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// fieldString renders a field for comparison: name=kind:text.
func fieldString(f Field) string {
	kinds := map[detector.ValueKind]string{detector.Null: "null", detector.Number: "num", detector.String: "str", detector.Bool: "bool", detector.Other: "other"}
	return string(f.Name) + "=" + kinds[f.Value.Kind] + ":" + string(f.Value.Text)
}

func fieldsString(fs []Field) []string {
	var out []string
	for _, f := range fs {
		out = append(out, fieldString(f))
	}
	return out
}

func TestDecodeCanonical(t *testing.T) {
	d := mustDecoder(t, Canonical)
	// 1. The DESIGN §3 example: every field kind.
	ev, err := d.Decode([]byte(`{"model": "churn", "model_version": "3", "timestamp": "2026-11-25T20:00:00Z",
		"request_id": "r-17", "features": {"tenure_days": 400, "plan": "pro", "discount": null, "vip": true, "tags": ["a"]},
		"prediction": 0.83, "label": 1}`))
	if err != nil {
		t.Fatal(err)
	}
	if string(ev.Model) != "churn" || string(ev.Version) != "3" || !ev.HasTime || ev.TimeMS != time.Date(2026, 11, 25, 20, 0, 0, 0, time.UTC).UnixMilli() {
		t.Fatalf("header = %q %q %v %d", ev.Model, ev.Version, ev.HasTime, ev.TimeMS)
	}
	want := []string{"tenure_days=num:400", "plan=str:pro", "discount=null:", "vip=bool:true", "tags=other:"}
	if got := fieldsString(ev.Features); !slices.Equal(got, want) {
		t.Fatalf("features %v, want %v", got, want)
	}
	if got := fieldsString(ev.Prediction); !slices.Equal(got, []string{"prediction=num:0.83"}) {
		t.Fatalf("prediction %v", got)
	}
	// 2. Object prediction, epoch-ms timestamp, numeric version, escapes,
	// no features: a predictions-only event.
	ev, err = d.Decode([]byte(`{"model":"m\u00e9","model_version":7,"timestamp":1764100800123,"prediction":{"p\"1":0.1,"label":"yes"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if string(ev.Model) != "mé" || string(ev.Version) != "7" || ev.TimeMS != 1764100800123 || ev.HasFeatures || !ev.HasPrediction {
		t.Fatalf("event %+v", ev)
	}
	if got := fieldsString(ev.Prediction); !slices.Equal(got, []string{`prediction.p"1=num:0.1`, "prediction.label=str:yes"}) {
		t.Fatalf("prediction %v", got)
	}
	// 3. A bad timestamp is reported, not fatal.
	ev, err = d.Decode([]byte(`{"model":"m","timestamp":"yesterday","features":{}}`))
	if err != nil || !ev.BadTime || ev.HasTime || !ev.HasFeatures {
		t.Fatalf("bad timestamp: %v %+v", err, ev)
	}
}

// TestDecodeInvalidUTF8: a string value that is not valid UTF-8 (raw or
// after unescaping) is an invalid value (Kind Other, counted as invalid
// for its feature), not a category, and the event's other fields decode;
// valid multi-byte UTF-8 and escapes stay strings.
func TestDecodeInvalidUTF8(t *testing.T) {
	for _, f := range Formats {
		d := mustDecoder(t, f)
		body := "\"bad\":\"a\xff\xfeb\",\"esc\":\"\\n\xc3\",\"ok\":\"caf\xc3\xa9\",\"u\":\"\\u00e9\",\"n\":1"
		rec := `{"model":"m",` + body + `}`
		if f == Canonical {
			rec = `{"model":"m","features":{` + body + `}}`
		}
		ev, err := d.Decode([]byte(rec))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		want := []string{"bad=other:", "esc=other:", "ok=str:café", "u=str:é", "n=num:1"}
		if got := fieldsString(ev.Features); !slices.Equal(got, want) {
			t.Errorf("%s: features %q, want %q", f, got, want)
		}
	}
}

// TestDecodeTimestampUnit: numeric timestamps are milliseconds by
// default and seconds with SetTimeUnit(Seconds); a number that looks like
// the other unit is still used but flagged (UnitSuspect).
func TestDecodeTimestampUnit(t *testing.T) {
	cases := []struct {
		unit    TimeUnit
		ts      string
		ms      int64
		suspect bool
	}{
		{Millis, "1764100800123", 1764100800123, false},
		{Millis, "1764100800", 1764100800, true}, // seconds read as ms: 1970-01-21
		{Millis, "1e8", 100000000, true},
		{Millis, "99999999", 99999999, false}, // below the range: small synthetic times
		{Millis, "1000", 1000, false},
		{Seconds, "1764100800", 1764100800000, false},
		{Seconds, "1764100800.25", 1764100800250, false},
		{Seconds, "1764100800123", 1764100800123000, true}, // ms read as seconds
		{Seconds, `"2026-11-25T20:00:00Z"`, 1795636800000, false},
		{Millis, `"2026-11-25T20:00:00Z"`, 1795636800000, false},
	}
	for _, c := range cases {
		d := mustDecoder(t, Canonical)
		if err := d.SetTimeUnit(c.unit); err != nil {
			t.Fatal(err)
		}
		ev, err := d.Decode([]byte(`{"model":"m","timestamp":` + c.ts + `,"features":{"x":1}}`))
		if err != nil || !ev.HasTime || ev.TimeMS != c.ms || ev.UnitSuspect != c.suspect {
			t.Errorf("%s %s: %v time %v %d suspect %v; want %d suspect %v", c.unit, c.ts, err, ev != nil && ev.HasTime, ev.TimeMS, ev.UnitSuspect, c.ms, c.suspect)
		}
	}
	if err := mustDecoder(t, Canonical).SetTimeUnit("us"); err == nil {
		t.Error("SetTimeUnit accepts us")
	}
}

func TestDecodeFlat(t *testing.T) {
	d := mustDecoder(t, Flat)
	ev, err := d.Decode([]byte(`{"model":"m","request_id":"x","tenure_days":1.5e2,"plan":"pro","prediction":{"a":1},"label":0}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := fieldsString(ev.Features); !slices.Equal(got, []string{"tenure_days=num:1.5e2", "plan=str:pro"}) {
		t.Fatalf("features %v", got)
	}
	if got := fieldsString(ev.Prediction); !slices.Equal(got, []string{"prediction.a=num:1"}) {
		t.Fatalf("prediction %v", got)
	}
}

func TestDecodeRejects(t *testing.T) {
	cases := []struct {
		format Format
		value  string
		reason Reason
	}{
		{Canonical, ``, ReasonNotJSON},
		{Canonical, `[1,2]`, ReasonNotJSON},
		{Canonical, `{"model":"m","features":{}`, ReasonNotJSON},
		{Canonical, `{"model":"m","features":{}} x`, ReasonNotJSON},
		{Canonical, `{"model":"m","features":{"a":01}}`, ReasonNotJSON},
		{Canonical, `{"model":"m","features":{"a":1.}}`, ReasonNotJSON},
		{Canonical, `{"model":"m","features":{"a":"\x01"}}`, ReasonNotJSON},
		{Canonical, `{"model":"m","features":{"a":"\q"}}`, ReasonNotJSON},
		{Canonical, `{"model":"m","features":{"a":NaN}}`, ReasonNotJSON},
		{Canonical, `{"model":"m","features":{"a":tru}}`, ReasonNotJSON},
		{Canonical, `{"model":"m","features":{"a":1,}}`, ReasonNotJSON},
		{Canonical, `{"model":"m","features":{"a" 1}}`, ReasonNotJSON},
		{Canonical, `{"model":{"a":1},"features":{}}`, ReasonNoModel},
		{Canonical, `{"model":"m","model_version":[1],"features":{}}`, ReasonNoModel},
		{Canonical, `{"model":"m","features":[1],"x":}`, ReasonNotJSON},
		{Canonical, `{"model":"m","x":` + deep(100) + `,"features":{}}`, ReasonNotJSON},
		{Canonical, `{"features":{"a":1}}`, ReasonNoModel},
		{Canonical, `{"model":"","features":{"a":1}}`, ReasonNoModel},
		{Canonical, `{"model":"m"}`, ReasonNoData},
		{Canonical, `{"model":"m","features":null}`, ReasonNoData},
		{Canonical, `{"model":"m","features":[1]}`, ReasonFeaturesNotObject},
		{Canonical, `{"model":"m","features":"a=1"}`, ReasonFeaturesNotObject},
		{Canonical, `{"model":"m","features":{"a":"` + string(bytes.Repeat([]byte("x"), 5000)) + `"}}`, ReasonTooLarge},
		{Flat, `{"model":"m","request_id":"r"}`, ReasonNoData},
	}
	for i, tc := range cases {
		d := mustDecoder(t, tc.format)
		_, err := d.Decode([]byte(tc.value))
		var de *Error
		if !errors.As(err, &de) || de.Reason != tc.reason {
			t.Errorf("case %d (%.40s): error %v, want reason %s", i+1, tc.value, err, tc.reason)
		}
	}
}

func deep(n int) string {
	return string(bytes.Repeat([]byte("["), n)) + string(bytes.Repeat([]byte("]"), n))
}

func TestRFC3339(t *testing.T) {
	for _, s := range []string{
		"2026-11-25T20:00:00Z", "2026-11-25T20:00:00.5Z", "2026-11-25T20:00:00.123456789Z",
		"2026-11-25T20:00:00+05:30", "2026-11-25T20:00:00.001-08:00", "1969-12-31T23:59:59.999Z",
		"2024-02-29T00:00:00Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z",
	} {
		want, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := parseRFC3339([]byte(s))
		if !ok || got != want.UnixMilli() {
			t.Errorf("%s: %d %v, want %d", s, got, ok, want.UnixMilli())
		}
	}
	for _, s := range []string{"2026-02-30T00:00:00Z", "2026-13-01T00:00:00Z", "2026-11-25", "20261125T200000Z", "2026-11-25T20:00:00"} {
		if _, ok := parseRFC3339([]byte(s)); ok {
			t.Errorf("%s accepted", s)
		}
	}
}

// FuzzRFC3339 checks the fast path against time.Parse.
func FuzzRFC3339(f *testing.F) {
	f.Add("2026-11-25T20:00:00.123+01:00")
	f.Add("2000-02-29T23:59:59Z")
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseRFC3339([]byte(s))
		// The fast path also accepts a space or 't' for 'T' and 'z' for
		// 'Z' (RFC 3339 §5.6 allows them); compare on the normal form.
		norm := []byte(s)
		if len(norm) > 10 && (norm[10] == ' ' || norm[10] == 't') {
			norm[10] = 'T'
		}
		if n := len(norm); n > 10 && norm[n-1] == 'z' {
			norm[n-1] = 'Z'
		}
		want, err := time.Parse(time.RFC3339Nano, string(norm))
		if ok != (err == nil) {
			// time.Parse accepts a few forms the fast path declines
			// and then hands to time.Parse, so ok must agree.
			t.Fatalf("%q: ok=%v, time.Parse err=%v", s, ok, err)
		}
		if ok && got != want.UnixMilli() {
			t.Fatalf("%q: %d, time.Parse %d", s, got, want.UnixMilli())
		}
	})
}

// FuzzDecode is a differential fuzz against encoding/json: the decoder
// must never panic; it must reject exactly the values encoding/json finds
// invalid (as not_json); and on valid events it must report the same model
// and the same feature names and values.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"model":"churn","model_version":"3","timestamp":"2026-11-25T20:00:00Z","features":{"a":1,"b":"x","c":null,"d":[1,{"e":2}]},"prediction":{"p":0.5}}`,
		`{"model":"m","features":{"\u00e9\ud83d\ude00":"\n"}}`,
		`{"model":"m","prediction":true}`,
		`{"model":"m","features":{"a":-0.0e+5}}`,
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, flat bool) {
		format := Canonical
		if flat {
			format = Flat
		}
		d, _ := NewDecoder(format, 1<<16)
		ev, err := d.Decode(data)
		if !json.Valid(data) {
			var de *Error
			if err == nil || !errors.As(err, &de) || (de.Reason != ReasonNotJSON && de.Reason != ReasonTooLarge) {
				t.Fatalf("invalid JSON %q: got %v", data, err)
			}
			return
		}
		if err != nil {
			// Valid JSON but not an event: the reason must say what is
			// missing, not that the JSON is malformed — unless it is not
			// an object at all or holds invalid UTF-8, which
			// encoding/json lets through.
			var de *Error
			object := bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte("{"))
			if !errors.As(err, &de) || (de.Reason == ReasonNotJSON && object && utf8.Valid(data)) {
				t.Fatalf("valid JSON %q: got %v", data, err)
			}
			return
		}
		var generic map[string]any
		if json.Unmarshal(data, &generic) != nil {
			t.Fatalf("valid JSON does not unmarshal: %q", data)
		}
		// encoding/json keeps the last duplicate key; compare only
		// values whose key appears once.
		if fmt.Sprint(generic["model"]) != string(ev.Model) && !dupKey(data, "model") && utf8.Valid(ev.Model) {
			if _, isNum := generic["model"].(float64); !isNum {
				t.Fatalf("model %q, encoding/json %v", ev.Model, generic["model"])
			}
		}
		obj := generic
		if format == Canonical {
			obj, _ = generic["features"].(map[string]any)
		}
		for _, fl := range ev.Features {
			if !utf8.Valid(fl.Name) || dupKey(data, string(fl.Name)) {
				continue // encoding/json replaces invalid UTF-8 with U+FFFD and keeps the last duplicate; driftd keeps the bytes and the first
			}
			v, ok := obj[string(fl.Name)]
			if !ok {
				t.Fatalf("feature %q not in %v", fl.Name, obj)
			}
			checkValue(t, fl, v)
		}
	})
}

func dupKey(data []byte, key string) bool {
	return bytes.Count(data, []byte(`"`+key+`"`)) > 1
}

func checkValue(t *testing.T, fl Field, v any) {
	switch x := v.(type) {
	case nil:
		if fl.Value.Kind != detector.Null {
			t.Fatalf("%q: kind %d, want null", fl.Name, fl.Value.Kind)
		}
	case string:
		if fl.Value.Kind == detector.Other {
			// Invalid UTF-8 is an invalid value; encoding/json has
			// replaced the bad bytes with U+FFFD.
			if !strings.ContainsRune(x, 0xFFFD) {
				t.Fatalf("%q: invalid, but encoding/json reads the valid string %q", fl.Name, x)
			}
			return
		}
		if fl.Value.Kind != detector.String || string(fl.Value.Text) != x {
			if !bytes.ContainsRune(fl.Value.Text, 0xFFFD) {
				t.Fatalf("%q: %q, want string %q", fl.Name, fl.Value.Text, x)
			}
		}
	case float64:
		got, err := strconv.ParseFloat(string(fl.Value.Text), 64)
		if fl.Value.Kind != detector.Number || (err != nil && !math.IsInf(got, 0)) || (got != x && !math.IsInf(got, 0)) {
			t.Fatalf("%q: %q, want number %v", fl.Name, fl.Value.Text, x)
		}
		if fl.Value.Parsed && math.Float64bits(fl.Value.Num) != math.Float64bits(got) {
			t.Fatalf("%q: %q converted to %v, strconv %v", fl.Name, fl.Value.Text, fl.Value.Num, got)
		}
	case bool:
		if fl.Value.Kind != detector.Bool || string(fl.Value.Text) != strconv.FormatBool(x) {
			t.Fatalf("%q: %q, want %v", fl.Name, fl.Value.Text, x)
		}
	default:
		if fl.Value.Kind != detector.Other {
			t.Fatalf("%q: kind %d, want other", fl.Name, fl.Value.Kind)
		}
	}
}

// FuzzNumber: the scanner's number conversion is bit-for-bit
// strconv.ParseFloat's on every valid JSON number.
func FuzzNumber(f *testing.F) {
	for _, s := range []string{"0", "-0", "1.5", "123456789012345678901234", "1e22", "1e23", "9007199254740993",
		"0.000001234", "-12.5e-3", "4.9e-324", "1.7976931348623157e308", "1e400", "0.1", "123.456"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var sc scanner
		sc.reset([]byte(s))
		text, x, err := sc.readNumber()
		if err != nil || sc.pos != len(s) {
			return // not (only) a JSON number
		}
		want, _ := strconv.ParseFloat(string(text), 64)
		if math.Float64bits(x) != math.Float64bits(want) {
			t.Fatalf("%q: %v (%x), strconv %v (%x)", s, x, math.Float64bits(x), want, math.Float64bits(want))
		}
	})
}

// TestEiselLemireSweep checks every power of ten of the table with
// mantissas of every width against strconv, bit for bit.
func TestEiselLemireSweep(t *testing.T) {
	mants := []uint64{1, 2, 3, 5, 9, 10, 99, 123, 999, 1<<52 - 1, 1 << 52, 1<<52 + 1, 1<<53 - 1, 1 << 53,
		1<<53 + 1, 9007199254740993, 9999999999999999, 12345678901234567, 99999999999999999, 1234567890123456789, 9999999999999999999}
	checked := 0
	for q := pow10Min; q <= pow10Max; q++ {
		for _, m := range mants {
			for _, neg := range []bool{false, true} {
				got, ok := eiselLemire(m, q, neg)
				if !ok {
					continue
				}
				s := strconv.FormatUint(m, 10) + "e" + strconv.Itoa(q)
				if neg {
					s = "-" + s
				}
				want, _ := strconv.ParseFloat(s, 64)
				if math.Float64bits(got) != math.Float64bits(want) {
					t.Fatalf("%s: %v (%x), strconv %v (%x)", s, got, math.Float64bits(got), want, math.Float64bits(want))
				}
				checked++
			}
		}
	}
	if checked < 20000 {
		t.Fatalf("only %d conversions decided", checked)
	}
}

// TestReadNumberDigitRuns checks numbers whose integer and fraction parts
// are 0 to 27 digits long, with leading and trailing zeros, against
// strconv bit for bit, and that a non-digit at any place inside a long
// fraction ends the number there.
func TestReadNumberDigitRuns(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	digitsOf := func(n int, lead byte) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('0' + rng.IntN(10))
		}
		if n > 0 && lead != 0 {
			b[0] = lead
		}
		return string(b)
	}
	checked := 0
	for ip := 0; ip <= 27; ip++ {
		for fp := 0; fp <= 27; fp++ {
			for range 20 {
				s := "0"
				if ip > 0 {
					s = digitsOf(ip, byte('1'+rng.IntN(9)))
				}
				if fp > 0 {
					s += "." + strings.Repeat("0", rng.IntN(4)) + digitsOf(fp, 0)
				}
				if rng.IntN(3) == 0 {
					s += "e" + strconv.Itoa(rng.IntN(40)-20)
				}
				if rng.IntN(2) == 0 {
					s = "-" + s
				}
				for _, tail := range []string{"", ",", "}", ":", "/"} {
					var sc scanner
					sc.reset([]byte(s + tail))
					text, x, err := sc.readNumber()
					if err != nil || string(text) != s {
						t.Fatalf("%q: text %q, err %v", s+tail, text, err)
					}
					want, _ := strconv.ParseFloat(s, 64)
					if math.Float64bits(x) != math.Float64bits(want) {
						t.Fatalf("%q: %v, strconv %v", s, x, want)
					}
					checked++
				}
			}
		}
	}
	// A number cut by a non-digit inside its fraction.
	for cut := 1; cut < 17; cut++ {
		s := "1." + strings.Repeat("7", 16)
		b := []byte(s)
		b[1+cut] = 'x'
		var sc scanner
		sc.reset(b)
		text, x, err := sc.readNumber()
		if cut == 1 {
			if err == nil {
				t.Fatalf("%q: no error for an empty fraction", b)
			}
			continue
		}
		want, _ := strconv.ParseFloat(string(b[:1+cut]), 64)
		if err != nil || len(text) != 1+cut || x != want {
			t.Fatalf("%q: text %q x %v err %v, want %q %v", b, text, x, err, b[:1+cut], want)
		}
	}
	t.Logf("%d numbers checked", checked)
}

// TestDecodeRequestIDAndLabel: the canonical and flat formats give the
// event its request ID (a string, or a number as written) and its label
// (any scalar; null is none), for the label join.
func TestDecodeRequestIDAndLabel(t *testing.T) {
	for _, tc := range []struct {
		format   Format
		in       string
		id       string
		label    string
		hasLabel bool
	}{
		{Canonical, `{"model":"m","request_id":"r-1","prediction":0.5}`, "r-1", "", false},
		{Canonical, `{"model":"m","request_id":17,"prediction":0.5,"label":true}`, "17", "true", true},
		{Canonical, `{"model":"m","request_id":null,"prediction":0.5,"label":null}`, "", "", false},
		{Flat, `{"model":"m","request_id":"q","x":1,"prediction":0.5,"label":"cat"}`, "q", "cat", true},
	} {
		d, _ := NewDecoder(tc.format, 1<<16)
		ev, err := d.Decode([]byte(tc.in))
		if err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		if string(ev.RequestID) != tc.id || ev.HasLabel != tc.hasLabel || string(ev.Label.Text) != tc.label {
			t.Errorf("%s: request ID %q, label %v %q; want %q, %v %q", tc.in, ev.RequestID, ev.HasLabel, ev.Label.Text, tc.id, tc.hasLabel, tc.label)
		}
		for _, f := range ev.Features {
			if string(f.Name) == "request_id" || string(f.Name) == "label" {
				t.Errorf("%s: %s decoded as a feature", tc.in, f.Name)
			}
		}
	}
}
