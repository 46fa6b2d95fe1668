package codec

import (
	"math"
	"math/big"
	"math/bits"
	"sync"
)

// Eisel–Lemire: the decimal-to-float conversion of Lemire, "Number
// Parsing at a Gigabyte per Second" (2021), for a mantissa of at most 19
// digits and a decimal exponent, both already in hand from the scanner —
// so a number is read once, where strconv.ParseFloat would scan its text
// again. It reports false in the rare cases it cannot round correctly;
// the caller then falls back to strconv. FuzzNumber checks the results bit
// for bit against strconv.

const (
	pow10Min = -348
	pow10Max = 347
)

// pow10Table holds, for q in [pow10Min, pow10Max], the 128-bit mantissa of
// 10^q rounded down and normalised to [2^127, 2^128): {low, high} words.
// It is computed once, exactly, with math/big.
var pow10Table = sync.OnceValue(func() *[pow10Max - pow10Min + 1][2]uint64 {
	var t [pow10Max - pow10Min + 1][2]uint64
	ten := big.NewInt(10)
	mask := new(big.Int).SetUint64(math.MaxUint64)
	for q := pow10Min; q <= pow10Max; q++ {
		p := new(big.Int).Exp(ten, big.NewInt(int64(abs(q))), nil)
		var m *big.Int
		if q >= 0 {
			if l := p.BitLen(); l >= 128 {
				m = p.Rsh(p, uint(l-128))
			} else {
				m = p.Lsh(p, uint(128-l))
			}
		} else {
			// floor(2^(127+L) / 10^|q|) has exactly 128 bits.
			num := new(big.Int).Lsh(big.NewInt(1), uint(127+p.BitLen()))
			m = num.Quo(num, p)
		}
		lo := new(big.Int).And(m, mask).Uint64()
		hi := new(big.Int).Rsh(m, 64).Uint64()
		t[q-pow10Min] = [2]uint64{lo, hi}
	}
	return &t
})

func abs(q int) int {
	if q < 0 {
		return -q
	}
	return q
}

// eiselLemire returns man·10^exp10 as the nearest float64, or ok = false
// when it cannot decide the rounding (or the result is subnormal, zero by
// underflow or infinite): the caller then uses strconv.
func eiselLemire(man uint64, exp10 int, neg bool) (f float64, ok bool) {
	if man == 0 {
		if neg {
			f = math.Copysign(0, -1)
		}
		return f, true
	}
	if exp10 < pow10Min || exp10 > pow10Max {
		return 0, false
	}
	pow := &pow10Table()[exp10-pow10Min]
	// Normalise the mantissa to 64 significant bits.
	clz := bits.LeadingZeros64(man)
	man <<= uint(clz)
	// 217706/2^16 ≈ log2(10): the binary exponent of 10^exp10.
	retExp2 := uint64(217706*exp10>>16+64+1023) - uint64(clz)
	// 64×128-bit product, high 128 bits; widen only when the low bits
	// of the truncated product could still carry into the result.
	xHi, xLo := bits.Mul64(man, pow[1])
	if xHi&0x1FF == 0x1FF && xLo+man < man {
		yHi, yLo := bits.Mul64(man, pow[0])
		mergedHi, mergedLo := xHi, xLo+yHi
		if mergedLo < xLo {
			mergedHi++
		}
		if mergedHi&0x1FF == 0x1FF && mergedLo+1 == 0 && yLo+man < man {
			return 0, false
		}
		xHi, xLo = mergedHi, mergedLo
	}
	// Keep 54 bits: 53 of mantissa and one for rounding.
	msb := xHi >> 63
	retMantissa := xHi >> (msb + 9)
	retExp2 -= 1 ^ msb
	// Exactly half-way between two floats: let strconv decide.
	if xLo == 0 && xHi&0x1FF == 0 && retMantissa&3 == 1 {
		return 0, false
	}
	// Round to nearest, ties to even, and renormalise.
	retMantissa += retMantissa & 1
	retMantissa >>= 1
	if retMantissa>>53 > 0 {
		retMantissa >>= 1
		retExp2++
	}
	// Zero/underflow (subnormal) and overflow (Inf) go to strconv.
	if retExp2-1 >= 0x7FF-1 {
		return 0, false
	}
	b := retExp2<<52 | retMantissa&(1<<52-1)
	if neg {
		b |= 1 << 63
	}
	return math.Float64frombits(b), true
}
