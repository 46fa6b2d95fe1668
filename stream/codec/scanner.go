package codec

import (
	"strconv"
	"unicode/utf16"
	"unsafe"

	"unicode/utf8"

	"github.com/driftd/driftd/detector"
)

// maxDepth bounds nesting, so a hostile value cannot exhaust the stack.
const maxDepth = 64

// scanner is a validating JSON scanner over one value.
type scanner struct {
	buf   []byte
	pos   int
	mem   []byte // arena for unescaped strings and built names
	memAt int
}

func (s *scanner) reset(b []byte) {
	s.buf, s.pos, s.memAt = b, 0, 0
}

// arena returns n bytes valid until the next reset. Growing allocates a
// new block, so slices handed out earlier stay valid.
func (s *scanner) arena(n int) []byte {
	if s.memAt+n > len(s.mem) {
		s.mem = make([]byte, max(2*len(s.mem), n, 4096))
		s.memAt = 0
	}
	b := s.mem[s.memAt : s.memAt+n : s.memAt+n]
	s.memAt += n
	return b
}

func (s *scanner) peek() byte {
	if s.pos < len(s.buf) {
		return s.buf[s.pos]
	}
	return 0
}

func (s *scanner) skipSpace() {
	for s.pos < len(s.buf) {
		switch s.buf[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

func (s *scanner) syntax(msg string) *Error {
	return fail(ReasonNotJSON, "%s at byte %d", msg, s.pos)
}

// object scans an object whose '{' is at pos, calling fn for each key with
// pos at the value; fn must consume the value.
func (s *scanner) object(fn func(key []byte) error) error {
	s.pos++ // '{'
	first := true
	for {
		s.skipSpace()
		if s.peek() == '}' {
			s.pos++
			return nil
		}
		if !first {
			if s.peek() != ',' {
				return s.syntax("expected ',' or '}'")
			}
			s.pos++
			s.skipSpace()
		}
		first = false
		key, err := s.readString()
		if err != nil {
			return err
		}
		s.skipSpace()
		if s.peek() != ':' {
			return s.syntax("expected ':'")
		}
		s.pos++
		s.skipSpace()
		if err := fn(key); err != nil {
			return err
		}
	}
}

// readString reads a string at pos and returns its unescaped bytes: a
// slice of the input when there are no escapes, else of the arena.
func (s *scanner) readString() ([]byte, error) {
	if s.peek() != '"' {
		return nil, s.syntax("expected a string")
	}
	start := s.pos + 1
	i := start
	buf := s.buf
	for i < len(buf) {
		c := buf[i]
		switch {
		case c == '"':
			s.pos = i + 1
			return buf[start:i], nil
		case c == '\\':
			return s.readEscaped(start)
		case c < 0x20:
			s.pos = i
			return nil, s.syntax("control character in string")
		}
		i++
	}
	s.pos = i
	return nil, s.syntax("unterminated string")
}

func (s *scanner) readEscaped(start int) ([]byte, error) {
	// First pass: find the end and validate; the unescaped form is never
	// longer than the escaped one.
	buf := s.buf
	i := start
	for {
		if i >= len(buf) {
			s.pos = i
			return nil, s.syntax("unterminated string")
		}
		c := buf[i]
		if c == '"' {
			break
		}
		if c < 0x20 {
			s.pos = i
			return nil, s.syntax("control character in string")
		}
		if c == '\\' {
			i++
			if i >= len(buf) {
				s.pos = i
				return nil, s.syntax("unterminated escape")
			}
			switch buf[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(buf) || !isHex4(buf[i+1:i+5]) {
					s.pos = i
					return nil, s.syntax("bad \\u escape")
				}
				i += 4
			default:
				s.pos = i
				return nil, s.syntax("bad escape")
			}
		}
		i++
	}
	end := i
	out := s.arena(end - start)[:0]
	for j := start; j < end; j++ {
		c := buf[j]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		j++
		switch buf[j] {
		case '"', '\\', '/':
			out = append(out, buf[j])
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r := rune(hex4(buf[j+1 : j+5]))
			j += 4
			if utf16.IsSurrogate(r) {
				// A pair is two escapes; a lone surrogate becomes U+FFFD.
				if j+6 < end && buf[j+1] == '\\' && buf[j+2] == 'u' {
					if r2 := rune(hex4(buf[j+3 : j+7])); utf16.DecodeRune(r, r2) != utf8.RuneError {
						r = utf16.DecodeRune(r, r2)
						j += 6
					} else {
						r = utf8.RuneError
					}
				} else {
					r = utf8.RuneError
				}
			}
			out = utf8.AppendRune(out, r)
		}
	}
	s.pos = end + 1
	return out, nil
}

func isHex4(b []byte) bool {
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

func hex4(b []byte) uint16 {
	var v uint16
	for _, c := range b {
		v <<= 4
		switch {
		case c >= '0' && c <= '9':
			v |= uint16(c - '0')
		case c >= 'a' && c <= 'f':
			v |= uint16(c - 'a' + 10)
		default:
			v |= uint16(c - 'A' + 10)
		}
	}
	return v
}

// readNumber validates a JSON number at pos and returns its text and
// value. Numbers of at most 19 significant digits are converted from the
// digits accumulated while scanning: exactly when the mantissa and power
// of ten are exact in float64 (Clinger's fast path), by Eisel–Lemire
// otherwise; the few it cannot round correctly, and longer numbers, go to
// strconv.ParseFloat.
func (s *scanner) readNumber() (text []byte, x float64, err error) {
	buf := s.buf
	start := s.pos
	i := start
	neg := false
	if i < len(buf) && buf[i] == '-' {
		neg = true
		i++
	}
	var mant uint64
	digits := 0 // significant digits accumulated in mant
	exp10 := 0
	switch {
	case i < len(buf) && buf[i] == '0':
		i++
	case i < len(buf) && buf[i] >= '1' && buf[i] <= '9':
		for i < len(buf) {
			c := buf[i] - '0'
			if c > 9 {
				break
			}
			if digits < 19 {
				mant = mant*10 + uint64(c)
				digits++
			} else {
				exp10++
			}
			i++
		}
	default:
		s.pos = i
		return nil, 0, s.syntax("bad number")
	}
	if i < len(buf) && buf[i] == '.' {
		i++
		d := i
		for i < len(buf) {
			c := buf[i] - '0'
			if c > 9 {
				break
			}
			if digits < 19 {
				if mant != 0 || c != 0 {
					digits++
				}
				mant = mant*10 + uint64(c)
				exp10--
			}
			i++
		}
		if i == d {
			s.pos = i
			return nil, 0, s.syntax("bad number")
		}
	}
	slow := digits >= 19
	if i < len(buf) && (buf[i] == 'e' || buf[i] == 'E') {
		i++
		eneg := false
		if i < len(buf) && (buf[i] == '+' || buf[i] == '-') {
			eneg = buf[i] == '-'
			i++
		}
		d := i
		e := 0
		for i < len(buf) && buf[i] >= '0' && buf[i] <= '9' {
			if e < 10000 {
				e = e*10 + int(buf[i]-'0')
			}
			i++
		}
		if i == d {
			s.pos = i
			return nil, 0, s.syntax("bad number")
		}
		if eneg {
			e = -e
		}
		exp10 += e
	}
	s.pos = i
	text = buf[start:i]
	if !slow && mant < 1<<53 && exp10 >= -22 && exp10 <= 22 {
		x = float64(mant)
		if exp10 < 0 {
			x /= pow10[-exp10]
		} else {
			x *= pow10[exp10]
		}
		if neg {
			x = -x
		}
		return text, x, nil
	}
	if !slow {
		if x, ok := eiselLemire(mant, exp10, neg); ok {
			return text, x, nil
		}
	}
	x, _ = strconv.ParseFloat(unsafe.String(unsafe.SliceData(text), len(text)), 64) // ±Inf on overflow
	return text, x, nil
}

// pow10 holds the powers of ten exact in float64.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

func (s *scanner) literal(lit string) error {
	if len(s.buf)-s.pos < len(lit) || string(s.buf[s.pos:s.pos+len(lit)]) != lit {
		return s.syntax("bad literal")
	}
	s.pos += len(lit)
	return nil
}

var (
	trueText  = []byte("true")
	falseText = []byte("false")
)

// readFieldValue reads a feature value: scalars become their kind, objects
// and arrays are validated, skipped and reported as Other.
func (s *scanner) readFieldValue() (detector.Value, error) {
	switch c := s.peek(); {
	case c == '"':
		b, err := s.readString()
		if err == nil && !validUTF8(b) {
			// Bytes that are not UTF-8 are not a category: the value
			// is invalid (counted per feature), as in reference build.
			return detector.Value{Kind: detector.Other}, nil
		}
		return detector.Value{Kind: detector.String, Text: b}, err
	case c == '-' || (c >= '0' && c <= '9'):
		b, x, err := s.readNumber()
		return detector.Value{Kind: detector.Number, Text: b, Num: x, Parsed: true}, err
	case c == 't':
		return detector.Value{Kind: detector.Bool, Text: trueText}, s.literal("true")
	case c == 'f':
		return detector.Value{Kind: detector.Bool, Text: falseText}, s.literal("false")
	case c == 'n':
		return detector.Value{Kind: detector.Null}, s.literal("null")
	case c == '{' || c == '[':
		return detector.Value{Kind: detector.Other}, s.skipValue(0)
	default:
		return detector.Value{}, s.syntax("expected a value")
	}
}

// readScalarText reads a string or number as text (model, version); null
// reads as empty. ok is false for other kinds, which are skipped.
func (s *scanner) readScalarText() (text []byte, ok bool, err error) {
	v, err := s.readFieldValue()
	if err != nil {
		return nil, false, err
	}
	switch v.Kind {
	case detector.String, detector.Number:
		return v.Text, true, nil
	case detector.Null:
		return nil, true, nil
	}
	return nil, false, nil
}

// skipValue validates and skips any value at pos.
func (s *scanner) skipValue(depth int) error {
	if depth > maxDepth {
		return s.syntax("nesting too deep")
	}
	switch c := s.peek(); {
	case c == '{':
		return s.object(func([]byte) error { return s.skipValue(depth + 1) })
	case c == '[':
		s.pos++
		s.skipSpace()
		if s.peek() == ']' {
			s.pos++
			return nil
		}
		for {
			s.skipSpace()
			if err := s.skipValue(depth + 1); err != nil {
				return err
			}
			s.skipSpace()
			switch s.peek() {
			case ',':
				s.pos++
			case ']':
				s.pos++
				return nil
			default:
				return s.syntax("expected ',' or ']'")
			}
		}
	default:
		_, err := s.readFieldValue()
		return err
	}
}

// validUTF8 is utf8.Valid with an ASCII loop first: category values are
// short and mostly ASCII, and the loop costs less than the call.
func validUTF8(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return utf8.Valid(b)
		}
	}
	return true
}
