package codec

import (
	"math"
	"strconv"
	"time"
)

// parseRFC3339 parses an RFC 3339 timestamp to Unix milliseconds. The
// common forms ("2006-01-02T15:04:05Z", optional fraction, "Z" or ±hh:mm)
// take a fast path without allocating; anything else goes through
// time.Parse.
func parseRFC3339(b []byte) (int64, bool) {
	if ms, ok := fastRFC3339(b); ok {
		return ms, true
	}
	str := string(b)
	if len(b) > 10 && (b[10] == ' ' || b[10] == 't') {
		str = str[:10] + "T" + str[11:]
	}
	if n := len(str); n > 0 && str[n-1] == 'z' {
		str = str[:n-1] + "Z"
	}
	t, err := time.Parse(time.RFC3339Nano, str)
	if err != nil {
		return 0, false
	}
	return t.UnixMilli(), true
}

func digits(b []byte, n int) (int, bool) {
	if len(b) < n {
		return 0, false
	}
	v := 0
	for _, c := range b[:n] {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}

func fastRFC3339(b []byte) (int64, bool) {
	if len(b) < 20 || b[4] != '-' || b[7] != '-' || (b[10] != 'T' && b[10] != 't' && b[10] != ' ') || b[13] != ':' || b[16] != ':' {
		return 0, false
	}
	year, ok1 := digits(b[0:], 4)
	month, ok2 := digits(b[5:], 2)
	day, ok3 := digits(b[8:], 2)
	hour, ok4 := digits(b[11:], 2)
	minute, ok5 := digits(b[14:], 2)
	sec, ok6 := digits(b[17:], 2)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || sec > 60 {
		return 0, false
	}
	if sec == 60 {
		return 0, false // leap second: let time.Parse decide
	}
	rest := b[19:]
	ms := 0
	if len(rest) > 0 && rest[0] == '.' {
		i := 1
		scale := 100
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			ms += int(rest[i]-'0') * scale
			scale /= 10
			i++
		}
		if i == 1 {
			return 0, false
		}
		rest = rest[i:]
	}
	offset := 0
	switch {
	case len(rest) == 1 && (rest[0] == 'Z' || rest[0] == 'z'):
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, ok1 := digits(rest[1:], 2)
		om, ok2 := digits(rest[4:], 2)
		if !ok1 || !ok2 || oh > 23 || om > 59 {
			return 0, false
		}
		offset = (oh*60 + om) * 60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return 0, false
	}
	if day > daysIn(month, year) {
		return 0, false
	}
	days := daysFromCivil(year, month, day)
	secs := days*86400 + int64(hour*3600+minute*60+sec) - int64(offset)
	return secs*1000 + int64(ms), true
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil is the number of days from 1970-01-01 to y-m-d in the
// proleptic Gregorian calendar (Howard Hinnant's algorithm).
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

// parseEpochMillis reads a JSON number of Unix milliseconds.
func parseEpochMillis(b []byte) (int64, bool) {
	if v, err := strconv.ParseInt(string(b), 10, 64); err == nil {
		return v, true
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsNaN(f) || math.Abs(f) > 1<<62 {
		return 0, false
	}
	return int64(math.Round(f)), true
}

// parseEpochSeconds reads a JSON number of Unix seconds (fractions
// allowed) as milliseconds.
func parseEpochSeconds(b []byte) (int64, bool) {
	if v, err := strconv.ParseInt(string(b), 10, 64); err == nil && v > -1<<52 && v < 1<<52 {
		return v * 1000, true
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsNaN(f) || math.Abs(f) > 1<<52 {
		return 0, false
	}
	return int64(math.Round(f * 1000)), true
}
