// Package ksdist holds the null distributions of the Kolmogorov–Smirnov
// statistic, ported from scipy 1.17: the one-sample finite-n distribution
// (kstwo), Smirnov's one-sided distribution, the limiting Kolmogorov
// distribution, and the two-sample p-value of ks_2samp with its exact
// lattice paths.
//
// Every function here is pure: no I/O, no package state that changes.
// Each Go function names the scipy (or xsf) function it mirrors. The ports
// follow the scipy code branch by branch, so the method chosen for a given
// (n, d) matches scipy's. The one numerical difference is in SmirnovSF,
// which evaluates the Birnbaum–Tingey sum in float64 instead of xsf's
// double-double, and evaluates its long lower sums as the integral of the
// smooth function the terms sample (see smirnovLowerSum), so that its cost
// does not grow with n. That costs some last digits (relative error below
// ~1.5e-14 where the sf is above 1e-10) and nothing more. The other
// differences are at inputs scipy rejects (NaN or out-of-range arguments);
// each exported function documents what it returns there.
//
// Sources ported:
//   - scipy/stats/_ksstats.py: _kolmogn, _kolmogn_DMTW, _kolmogn_Pomeranz,
//     _kolmogn_PelzGood, _log_nfactorial_div_n_pow_n.
//   - xsf/include/xsf/cephes/kolmogorov.h: _smirnov, _kolmogorov.
//   - scipy/stats/_stats_py.py: ks_2samp, _attempt_exact_2kssamp,
//     _compute_prob_outside_square.
//   - scipy/stats/_stats_pythran.py: _compute_outer_prob_inside_method.
package ksdist

import (
	"math"
)

// Method selects how TwoSampPValue computes a two-sample p-value. It
// corresponds to the method argument of scipy.stats.ks_2samp.
type Method int

const (
	// Auto uses Exact when max(n1, n2) <= 10000 (scipy's MAX_AUTO_N)
	// and Asymp otherwise.
	Auto Method = iota
	// Exact uses the exact lattice-path distribution of D. If
	// n1/g >= MaxInt32/(n2/g) (g = gcd(n1, n2)), or if the exact result
	// is not a probability, it falls back to Asymp, as scipy does.
	Exact
	// Asymp uses kstwo.sf(D, round(n1·n2/(n1+n2))), the finite-n
	// one-sample Kolmogorov distribution at the effective sample size.
	Asymp
)

// String returns "auto", "exact" or "asymp", the names scipy uses.
func (m Method) String() string {
	switch m {
	case Auto:
		return "auto"
	case Exact:
		return "exact"
	case Asymp:
		return "asymp"
	}
	return "unknown"
}

// ksMaxAutoN is scipy's MAX_AUTO_N in ks_2samp.
const ksMaxAutoN = 10000

// kpath names the branch of _kolmogn that produced a value. It exists so
// the tests can check that the Go routing matches scipy's case by case.
type kpath uint8

const (
	kpInvalid       kpath = iota // n <= 0 or NaN x
	kpXge1                       // x >= 1
	kpXle0                       // x <= 0
	kpTleHalf                    // t = n·x <= 1/2
	kpTle1                       // 1/2 < t <= 1: Ruben–Gambino closed form
	kpTgeNm1                     // t >= n-1: Ruben–Gambino closed form
	kpXgeHalf                    // x >= 1/2: 2·smirnov, exact
	kpSmallDurbin                // n <= 140, n·x² <= 0.754693
	kpSmallPomeranz              // n <= 140, n·x² <= 4
	kpSmallSmirnov               // n <= 140, otherwise: 2·smirnov
	kpLarge370                   // n > 140, sf only, n·x² >= 370: 0
	kpLargeSmirnov               // n > 140, sf only, n·x² >= 2.2: 2·smirnov
	kpLargeCDFOne                // n > 140, n·x² >= 18: cdf = 1
	kpLargeDurbin                // n > 140, n <= 100000, n·x^1.5 <= 1.4
	kpLargePelzGood              // n > 140, otherwise: Pelz–Good
)

var kpathNames = [...]string{
	kpInvalid:       "invalid",
	kpXge1:          "x_ge_1",
	kpXle0:          "x_le_0",
	kpTleHalf:       "t_le_half",
	kpTle1:          "t_le_1",
	kpTgeNm1:        "t_ge_n_minus_1",
	kpXgeHalf:       "x_ge_half",
	kpSmallDurbin:   "small_durbin",
	kpSmallPomeranz: "small_pomeranz",
	kpSmallSmirnov:  "small_smirnov",
	kpLarge370:      "large_370",
	kpLargeSmirnov:  "large_smirnov",
	kpLargeCDFOne:   "large_cdf_one",
	kpLargeDurbin:   "large_durbin",
	kpLargePelzGood: "large_pelz_good",
}

func (p kpath) String() string {
	if int(p) < len(kpathNames) {
		return kpathNames[p]
	}
	return "unknown"
}

// KolmogorovSF returns P(D_n >= d) for the two-sided one-sample
// Kolmogorov–Smirnov statistic D_n. It equals scipy.stats.kstwo.sf(d, n),
// that is scipy's _kolmogn(n, d, cdf=False).
//
// Results for out-of-range input: d <= 0 gives 1 and d >= 1 gives 0.
// n <= 0 or NaN d gives NaN, as in scipy; both are caller bugs, because D
// computed from counts is never NaN.
//
// Cost: O(1) for the closed forms and Pelz–Good; O(m³ log n) with
// m = 2⌈n·d⌉−1 for the Durbin matrix (this branch allocates its matrices
// once m exceeds 21); for 2·smirnov, which handles n > 140 with
// n·d² >= 2.2 and d >= 1/2, 9–15k instructions for n >~ 1000 whatever n
// (see SmirnovSF), and O(n) at most below that. No other branch allocates.
func KolmogorovSF(n int, d float64) float64 {
	p, _ := kolmogn(n, d, false)
	return p
}

// KolmogorovCDF returns P(D_n <= d) for the two-sided one-sample
// Kolmogorov–Smirnov statistic. It equals scipy.stats.kstwo.cdf(d, n),
// that is scipy's _kolmogn(n, d, cdf=True). Edge cases mirror
// KolmogorovSF: d <= 0 gives 0, d >= 1 gives 1, and n <= 0 or NaN d
// gives NaN.
func KolmogorovCDF(n int, d float64) float64 {
	p, _ := kolmogn(n, d, true)
	return p
}

// clip01 mirrors scipy's _clip_prob (np.clip(p, 0, 1)). NaN passes through.
func clip01(p float64) float64 {
	if p < 0 {
		return 0
	}
	if p > 1 {
		return 1
	}
	return p
}

// selectClip mirrors scipy's _select_and_clip_prob.
func selectClip(cdfprob, sfprob float64, cdf bool) float64 {
	if cdf {
		return clip01(cdfprob)
	}
	return clip01(sfprob)
}

// Constants from scipy/stats/_ksstats.py.
const (
	ksE128     = 128
	ksMinLog   = -708
	ksLog2Pi   = 1.8378770664093453 // log(2π)
	ksSqrt2Pi  = 2.5066282746310002 // sqrt(2π)
	ksSqrt3    = 1.7320508075688772
	ksPiSq     = math.Pi * math.Pi
	ksPiFour   = ksPiSq * ksPiSq
	ksPiSix    = ksPiFour * ksPiSq
	ksDurbinN2 = 0.754693 // Simard–L'Ecuyer: Durbin below this n·x² (n <= 140)
)

var (
	ksEP128 = math.Ldexp(1, ksE128)
	ksEM128 = math.Ldexp(1, -ksE128)
)

// ksStirlingCoeffs mirrors _STIRLING_COEFFS in _ksstats.py:
// B_{2j}/(2j)/(2j-1) for j = 8..1, highest power first (np.polyval order).
var ksStirlingCoeffs = [...]float64{
	-2.955065359477124183e-2, 6.4102564102564102564e-3,
	-1.9175269175269175269e-3, 8.4175084175084175084e-4,
	-5.952380952380952381e-4, 7.9365079365079365079e-4,
	-2.7777777777777777778e-3, 8.3333333333333333333e-2,
}

// logNFactorialDivNPowN mirrors _log_nfactorial_div_n_pow_n: log(n!/n^n)
// by Stirling's series with the n·log(n) term removed up front.
func logNFactorialDivNPowN(n int) float64 {
	fn := float64(n)
	rn := 1.0 / fn
	x := rn / fn
	poly := 0.0
	for _, c := range ksStirlingCoeffs {
		poly = poly*x + c
	}
	return math.Log(fn)/2 - fn + ksLog2Pi/2 + rn*poly
}

// kolmogn mirrors scipy's _kolmogn(n, x, cdf): the Simard & L'Ecuyer (2011)
// routing between the closed forms, Durbin/MTW, Pomeranz, Pelz–Good and
// 2·smirnov. It also reports the branch taken.
func kolmogn(n int, x float64, cdf bool) (float64, kpath) {
	if n <= 0 || math.IsNaN(x) {
		return math.NaN(), kpInvalid
	}
	if x >= 1.0 {
		return selectClip(1, 0, cdf), kpXge1
	}
	if x <= 0.0 {
		return selectClip(0, 1, cdf), kpXle0
	}
	fn := float64(n)
	t := fn * x
	if t <= 1.0 { // Ruben–Gambino: 1/2n <= x <= 1/n
		if t <= 0.5 {
			return selectClip(0, 1, cdf), kpTleHalf
		}
		var prob float64
		if n <= 140 {
			// np.prod(np.arange(1, n+1) * (1.0/n) * (2*t - 1))
			rn, s := 1.0/fn, 2*t-1
			prob = 1.0
			for i := 1; i <= n; i++ {
				prob *= float64(i) * rn * s
			}
		} else {
			prob = math.Exp(logNFactorialDivNPowN(n) + fn*math.Log(2*t-1))
		}
		return selectClip(prob, 1-prob, cdf), kpTle1
	}
	if t >= fn-1 { // Ruben–Gambino
		prob := 2 * math.Pow(1-x, fn)
		return selectClip(1-prob, prob, cdf), kpTgeNm1
	}
	if x >= 0.5 { // exact: 2·smirnov
		prob := 2 * SmirnovSF(n, x)
		return selectClip(1-prob, prob, cdf), kpXgeHalf
	}

	nxsquared := t * x
	if n <= 140 {
		if nxsquared <= ksDurbinN2 {
			prob := kolmognDMTW(n, x)
			return selectClip(prob, 1-prob, cdf), kpSmallDurbin
		}
		if nxsquared <= 4 {
			prob := kolmognPomeranz(n, x)
			return selectClip(prob, 1-prob, cdf), kpSmallPomeranz
		}
		// Miller approximation: 2·smirnov.
		prob := 2 * SmirnovSF(n, x)
		return selectClip(1-prob, prob, cdf), kpSmallSmirnov
	}

	// n > 140: the CDF and the SF have different cutoffs on n·x².
	if !cdf {
		if nxsquared >= 370.0 {
			return 0, kpLarge370
		}
		if nxsquared >= 2.2 {
			return clip01(2 * SmirnovSF(n, x)), kpLargeSmirnov
		}
		// Fall through: SF = 1 - CDF.
	}
	var cdfprob float64
	var path kpath
	switch {
	case nxsquared >= 18.0:
		cdfprob, path = 1.0, kpLargeCDFOne
	case n <= 100000 && fn*math.Pow(x, 1.5) <= 1.4:
		cdfprob, path = kolmognDMTW(n, x), kpLargeDurbin
	default:
		cdfprob, path = kolmognPelzGood(n, x), kpLargePelzGood
	}
	return selectClip(cdfprob, 1-cdfprob, cdf), path
}

// durbinStackFloats is the scratch that kolmognDMTW keeps on the stack:
// enough for three 21×21 matrices plus two vectors, which covers every
// n <= 140 call (n·x² <= 0.754693 gives k <= 11, m <= 21).
const durbinStackFloats = 3*21*21 + 2*21

// kolmognDMTW mirrors _kolmogn_DMTW: Pr(D_n <= d) by Durbin's matrix
// algorithm in the Marsaglia–Tsang–Wang form. It computes the k-th diagonal
// entry of H^n with H of size m = 2k-1, k = ceil(n·d), by repeated
// squaring, scaling by 2^128 to keep the entries in range.
//
// It allocates 3·m² + 2·m floats on the heap when m > 21. Only the n > 140
// branch reaches that size (up to m ≈ 2.5·n^(1/3), about 115 at n = 100000).
func kolmognDMTW(n int, d float64) float64 {
	if d >= 1.0 {
		return 1
	}
	fn := float64(n)
	nd := fn * d
	if nd <= 0.5 {
		return 0
	}
	k := int(math.Ceil(nd))
	h := float64(k) - nd
	m := 2*k - 1

	need := 3*m*m + 2*m
	var stack [durbinStackFloats]float64
	var buf []float64
	if need <= len(stack) {
		buf = stack[:need]
	} else {
		buf = make([]float64, need)
	}
	H := buf[0 : m*m]
	Hpwr := buf[m*m : 2*m*m]
	tmp := buf[2*m*m : 3*m*m]
	v := buf[3*m*m : 3*m*m+m]
	w := buf[3*m*m+m : 3*m*m+2*m]

	// v[j] = (1 - h^(j+1))/(j+1)!  (except v[m-1]);  w[j] = 1/j!
	fac := 1.0
	for j := 1; j <= m; j++ {
		w[j-1] = fac
		fac /= float64(j) // may underflow; harmless
		v[j-1] = (1.0 - math.Pow(h, float64(j))) * fac
	}
	tt := math.Pow(math.Max(2*h-1.0, 0), float64(m)) - 2*math.Pow(h, float64(m))
	v[m-1] = (1.0 + tt) * fac

	for i := 1; i < m; i++ { // H[i-1:, i] = w[:m-i+1]
		for r := i - 1; r < m; r++ {
			H[r*m+i] = w[r-(i-1)]
		}
	}
	for r := 0; r < m; r++ { // H[:, 0] = v
		H[r*m] = v[r]
	}
	for c := 0; c < m; c++ { // H[-1, :] = flip(v)
		H[(m-1)*m+c] = v[m-1-c]
	}

	kk := (k-1)*m + (k - 1)
	havePwr := false // Hpwr is the identity until the first multiply
	expnt := 0       // scaling of Hpwr
	hexpnt := 0      // scaling of H
	for nn := n; nn > 0; nn /= 2 {
		if nn%2 == 1 {
			if havePwr {
				matMul(tmp, Hpwr, H, m)
				copy(Hpwr, tmp)
			} else {
				copy(Hpwr, H) // identity · H
				havePwr = true
			}
			expnt += hexpnt
		}
		if nn/2 == 0 {
			break // scipy squares once more here, but never uses the result
		}
		matMul(tmp, H, H, m)
		copy(H, tmp)
		hexpnt *= 2
		if math.Abs(H[kk]) > ksEP128 {
			for i := range H {
				H[i] /= ksEP128
			}
			hexpnt += ksE128
		}
	}

	p := Hpwr[kk]
	// Multiply by n!/n^n.
	for i := 1; i <= n; i++ {
		p = float64(i) * p / fn
		if math.Abs(p) < ksEM128 {
			p *= ksEP128
			expnt -= ksE128
		}
	}
	if expnt != 0 {
		p = math.Ldexp(p, expnt)
	}
	return clip01(p)
}

// matMul sets dst = a·b for m×m row-major matrices. dst must not alias a or b.
func matMul(dst, a, b []float64, m int) {
	for i := 0; i < m; i++ {
		row := dst[i*m : i*m+m]
		for j := range row {
			row[j] = 0
		}
		ai := a[i*m : i*m+m]
		for l, ail := range ai {
			if ail == 0 {
				continue
			}
			bl := b[l*m : l*m+m]
			for j, blj := range bl {
				row[j] += ail * blj
			}
		}
	}
}

// pomeranzJ1J2 mirrors _pomeranz_compute_j1j2: the interval of non-zero
// entries of row i.
func pomeranzJ1J2(i, n, ll, ceilf, roundf int) (int, int) {
	var j1, j2 int
	if i == 0 {
		j1, j2 = -ll-ceilf-1, ll+ceilf-1
	} else {
		ip1div2, ip1mod2 := (i+1)/2, (i+1)%2
		if ip1mod2 == 0 { // i is odd
			if ip1div2 == n+1 {
				j1, j2 = n-ll-ceilf-1, n+ll+ceilf-1
			} else {
				j1, j2 = ip1div2-1-ll-roundf-1, ip1div2+ll-1+ceilf-1
			}
		} else {
			j1, j2 = ip1div2-1-ll-1, ip1div2+ll+roundf-1
		}
	}
	return max(j1+2, 0), min(j2, n)
}

// pomeranzStack is the per-array scratch kolmognPomeranz keeps on the stack.
// n <= 140 with n·x² <= 4 gives floor(n·x) <= 23, so 2·(ll+1) <= 48.
const pomeranzStack = 64

// kolmognPomeranz mirrors _kolmogn_Pomeranz: Pr(D_n <= x) by the Pomeranz
// (1974) recursion. Each row is the convolution of the previous row with
// (almost) Poisson probabilities; only two rows are kept.
func kolmognPomeranz(n int, x float64) float64 {
	fn := float64(n)
	t := fn * x
	ll := int(math.Floor(t))
	f := t - float64(ll) // fractional part of t
	g := math.Min(f, 1.0-f)
	ceilf := 0
	if f > 0 {
		ceilf = 1
	}
	roundf := 0
	if f > 0.5 {
		roundf = 1
	}
	npwrs := 2 * (ll + 1) // maximum number of powers needed in convolutions

	var sg, s2g, s1m2g, s0, s1 [pomeranzStack]float64
	var gpower, twogpower, onem2gpower, V0, V1 []float64
	if npwrs <= pomeranzStack {
		gpower, twogpower, onem2gpower = sg[:npwrs], s2g[:npwrs], s1m2g[:npwrs]
		V0, V1 = s0[:npwrs], s1[:npwrs]
	} else {
		all := make([]float64, 5*npwrs)
		gpower, twogpower, onem2gpower = all[:npwrs], all[npwrs:2*npwrs], all[2*npwrs:3*npwrs]
		V0, V1 = all[3*npwrs:4*npwrs], all[4*npwrs:]
	}

	// gpower[m] = (g/n)^m/m!, twogpower[m] = (2g/n)^m/m!,
	// onem2gpower[m] = ((1-2g)/n)^m/m!
	gpower[0], twogpower[0], onem2gpower[0] = 1, 1, 1
	expnt := 0
	gOverN, twoGOverN, oneMinusTwoGOverN := g/fn, 2*g/fn, (1-2*g)/fn
	for m := 1; m < npwrs; m++ {
		fm := float64(m)
		gpower[m] = gpower[m-1] * gOverN / fm
		twogpower[m] = twogpower[m-1] * twoGOverN / fm
		onem2gpower[m] = onem2gpower[m-1] * oneMinusTwoGOverN / fm
	}

	for i := range V0 {
		V0[i], V1[i] = 0, 0
	}
	V1[0] = 1 // first row
	V0s, V1s := 0, 0

	j1, j2 := pomeranzJ1J2(0, n, ll, ceilf, roundf)
	for i := 1; i < 2*n+2; i++ {
		k1 := j1
		V0, V1 = V1, V0
		V0s, V1s = V1s, V0s
		for q := range V1 {
			V1[q] = 0
		}
		j1, j2 = pomeranzJ1J2(i, n, ll, ceilf, roundf)
		var pwrs []float64
		switch {
		case i == 1 || i == 2*n+1:
			pwrs = gpower
		case i%2 == 1:
			pwrs = twogpower
		default:
			pwrs = onem2gpower
		}
		ln2 := j2 - k1 + 1
		if ln2 > 0 {
			// conv = np.convolve(V0[k1-V0s : k1-V0s+ln2], pwrs[:ln2]);
			// V1[:convLen] = conv[convStart : convStart+convLen].
			// Python slices clamp at the array ends; so do these.
			lo := k1 - V0s
			a := V0[clampIdx(lo, len(V0)):clampIdx(lo+ln2, len(V0))]
			b := pwrs[:min(ln2, len(pwrs))]
			convStart := j1 - k1
			convLen := j2 - j1 + 1
			vmax := 0.0
			for idx := 0; idx < convLen && idx < len(V1); idx++ {
				c := convStart + idx
				s := 0.0
				// conv[c] = Σ a[p]·b[c-p] over valid p.
				pLo := max(0, c-len(b)+1)
				pHi := min(len(a)-1, c)
				for p := pLo; p <= pHi; p++ {
					s += a[p] * b[c-p]
				}
				V1[idx] = s
				if s > vmax {
					vmax = s
				}
			}
			// Scale to avoid underflow.
			if 0 < vmax && vmax < ksEM128 {
				for q := range V1 {
					V1[q] *= ksEP128
				}
				expnt -= ksE128
			}
			V1s = V0s + j1 - k1
		}
	}

	// Multiply by n!.
	idx := n - V1s
	ans := 0.0
	if idx >= 0 && idx < len(V1) {
		ans = V1[idx]
	}
	for m := 1; m <= n; m++ {
		if math.Abs(ans) > ksEP128 {
			ans *= ksEM128
			expnt += ksE128
		}
		ans *= float64(m)
	}
	if expnt != 0 {
		ans = math.Ldexp(ans, expnt)
	}
	return clip01(ans)
}

func clampIdx(i, n int) int {
	if i < 0 {
		return 0
	}
	if i > n {
		return n
	}
	return i
}

// kolmognPelzGood mirrors _kolmogn_PelzGood(n, x, cdf=True): the
// Pelz–Good (1976) approximation to Pr(D_n <= x), the Li-Chien/Korolyuk
// expansion K0 + K1/√n + K2/n + K3/n^1.5 rewritten with Jacobi theta
// identities for small z = x·√n. The result is not clipped here; the caller
// clips, as in scipy.
func kolmognPelzGood(n int, x float64) float64 {
	if x <= 0.0 {
		return 0
	}
	if x >= 1.0 {
		return 1
	}
	fn := float64(n)
	z := math.Sqrt(fn) * x
	// Integer powers by multiplication rather than math.Pow (~200
	// instructions a call); they may differ from np.power in the last bit.
	zsquared := z * z
	zthree, zfour := zsquared*z, zsquared*zsquared
	zsix := zfour * zsquared

	qlog := -ksPiSq / 8 / zsquared
	if qlog < ksMinLog { // z ~ 0.041743441416853426
		return 0
	}
	q := math.Exp(qlog)

	// Coefficients of the terms in the sums for K1, K2 and K3.
	k1a := -zsquared
	k1b := ksPiSq / 4

	k2a := 6*zsix + 2*zfour
	k2b := (2*zfour - 5*zsquared) * ksPiSq / 4
	k2c := ksPiFour * (1 - 2*zsquared) / 16

	k3d := ksPiSix * (5 - 30*zsquared) / 64
	k3c := ksPiFour * (-60*zsquared + 212*zfour) / 16
	k3b := ksPiSq * (135*zfour - 96*zsix) / 4
	k3a := -30*zsix - 90*(zfour*zfour)

	// Horner scheme for Σ c_i q^(i²) over odd i. The powers q^(8k) are
	// tabulated by multiplication first (maxk <= 22 for the z < √18 the
	// routing allows; math.Pow covers anything larger).
	var K0, K1, K2, K3 float64
	maxk := int(math.Ceil(16 * z / math.Pi))
	var pw [pelzGoodMaxK + 1]float64
	tab := maxk <= pelzGoodMaxK
	if tab {
		q8 := q * q
		q8 *= q8
		q8 *= q8
		pw[1] = q8
		for k := 2; k <= maxk; k++ {
			pw[k] = pw[k-1] * q8
		}
	}
	for k := maxk; k > 0; k-- {
		m := int64(2*k - 1) // Python ints in scipy: m**2, m**4, m**6 are exact
		msquared := float64(m * m)
		mfour := float64(m * m * m * m)
		msix := float64(m * m * m * m * m * m)
		var qpower float64
		if tab {
			qpower = pw[k]
		} else {
			qpower = math.Pow(q, float64(8*k))
		}
		K0 = K0*qpower + 1.0
		K1 = K1*qpower + (k1a + k1b*msquared)
		K2 = K2*qpower + (k2a + k2b*msquared + k2c*mfour)
		K3 = K3*qpower + (k3a + k3b*msquared + k3c*mfour + k3d*msix)
	}
	K0, K1, K2, K3 = K0*q, K1*q, K2*q, K3*q
	K0, K1, K2, K3 = K0*ksSqrt2Pi, K1*ksSqrt2Pi, K2*ksSqrt2Pi, K3*ksSqrt2Pi
	// z**10 > 0 as z > 0.04
	K0 /= z
	K1 /= 6 * zfour
	K2 /= 72 * (zsix * z)
	K3 /= 6480 * (zfour * zsix)

	// The other sum, over all integers k:
	//   K2: (π² k²) q^(k²);  K3: (3π² k² z² - π⁴ k⁴) q^(k²)
	q = math.Exp(-ksPiSq / 2 / zsquared)
	sqrt3z := ksSqrt3 * z
	var k2extra, k3extra float64
	if tab { // q^(k²) = q^((k−1)²)·q^(2k−1)
		q2, qodd := q*q, q
		pw[1] = q
		for k := 2; k <= maxk; k++ {
			qodd *= q2
			pw[k] = pw[k-1] * qodd
		}
	}
	for k := maxk; k > 0; k-- {
		fk := float64(k)
		ksq := float64(k * k)
		var qp float64
		if tab {
			qp = pw[k]
		} else {
			qp = math.Pow(q, ksq)
		}
		kspi := math.Pi * fk
		k2extra += ksq * qp
		k3extra += (sqrt3z + kspi) * (sqrt3z - kspi) * ksq * qp
	}
	k2extra *= ksPiSq * ksSqrt2Pi / (-36 * zthree)
	K2 += k2extra
	k3extra *= ksPiSq * ksSqrt2Pi / (216 * zsix)
	K3 += k3extra

	K1 /= math.Sqrt(fn)
	K2 /= fn
	K3 /= fn * math.Sqrt(fn)
	return K0 + K1 + K2 + K3
}

// pelzGoodMaxK bounds the number of terms for which kolmognPelzGood
// tabulates powers; maxk = ⌈16z/π⌉ <= 22 for the z < √18 the routing allows.
const pelzGoodMaxK = 32

// Constants from xsf/include/xsf/cephes/kolmogorov.h and const.h.
const (
	smirnovMaxComputeN = 1000000 // SMIRNOV_MAX_COMPUTE_N
	smUpperMaxTerms    = 3       // SM_UPPER_MAX_TERMS
	smUpperSumMinN     = 10      // SM_UPPERSUM_MIN_N
	cephesMinLog       = -7.08396418532264106224e2
	kolmogCutover      = 0.82 // KOLMOG_CUTOVER
	kolmogMinExpable   = -708 - 38
)

// SmirnovSF returns P(D+_n >= d) for the one-sided one-sample
// Kolmogorov–Smirnov statistic D+_n. It equals scipy.special.smirnov(n, d)
// (xsf::cephes::smirnov).
//
// It follows xsf's _smirnov branch by branch: n = 1; d <= 1/n (closed form);
// an sf that underflows (−2n·d² < MINLOG gives 0); d >= 1−1/n (closed form);
// n > 10⁶ (the approximation exp(−(6nd+1)²/(18n))); otherwise the
// Birnbaum–Tingey sum, upper or lower by xsf's rule. The upper sum (at most
// three terms) is evaluated as xsf does, in float64 instead of double-double.
// The lower sum, up to n terms, is evaluated in float64 by smirnovLowerSum:
// term by term from the largest outwards when it is short or its first
// terms matter, and otherwise as the integral of the smooth function the
// terms sample, by a trapezoidal rule with 25–50 nodes whatever n is; the
// difference between that integral and the sum is far below rounding. The
// relative error against scipy is below ~1.5e-14 where the sf is above
// 1e-10 (a few 1e-13 for sf near 1e-300). Cost: 9–15k instructions once
// n·d >= 16 and the first terms are negligible (n·d² >= 2.2 and n >~ 1000,
// or larger d at smaller n); otherwise O(number of terms above 2^-60 of the
// sum), at most O(n). It does not allocate.
//
// Where scipy returns NaN for d outside [0, 1], this returns the sf's natural
// extension instead: d < 0 gives 1 and d > 1 gives 0. n <= 0 or NaN d gives
// NaN.
func SmirnovSF(n int, d float64) float64 {
	p, _ := smirnov(n, d)
	return p
}

// spath names the branch of xsf's _smirnov that produced a value (for tests).
type spath uint8

const (
	spInvalid     spath = iota // n <= 0 or NaN d
	spXlt0                     // d < 0 (extension: 1)
	spXgt1                     // d > 1 (extension: 0)
	spNeq1                     // n = 1: 1 - d
	spXeq0                     // d = 0: 1
	spXeq1                     // d = 1: 0
	spXle1OverN                // d <= 1/n: 1 - d(1+d)^(n-1)
	spUnderflow                // -2n·d² < MINLOG: 0
	spXge1m1OverN              // d >= 1 - 1/n: (1-d)^n
	spNgt1e6                   // n > 10⁶: exp(-(6nd+1)²/(18n))
	spUpperSum                 // Birnbaum–Tingey upper sum (cdf)
	spLowerSum                 // Birnbaum–Tingey lower sum (sf)
)

var spathNames = [...]string{
	spInvalid:     "invalid",
	spXlt0:        "x_lt_0",
	spXgt1:        "x_gt_1",
	spNeq1:        "n_eq_1",
	spXeq0:        "x_eq_0",
	spXeq1:        "x_eq_1",
	spXle1OverN:   "x_le_1_over_n",
	spUnderflow:   "underflow",
	spXge1m1OverN: "x_ge_1_minus_1_over_n",
	spNgt1e6:      "n_gt_1e6",
	spUpperSum:    "upper_sum",
	spLowerSum:    "lower_sum",
}

func (p spath) String() string {
	if int(p) < len(spathNames) {
		return spathNames[p]
	}
	return "unknown"
}

// smirnov mirrors xsf::cephes::_smirnov (the sf only) and reports the
// branch taken.
func smirnov(n int, d float64) (float64, spath) {
	p, path, s := smirnovBranch(n, d)
	switch path {
	case spLowerSum:
		return clip01(smirnovLowerSum(n, s.n1mxfl, s.x, s.nxHi, s.nxLo)), path
	case spUpperSum:
		// The upper sum (at most smUpperMaxTerms terms) is the cdf.
		return clip01(1 - s.termSum(true)), path
	}
	return p, path
}

// smirnovTerms is what the Birnbaum–Tingey sums of _smirnov need:
// n·x = nxHi + nxLo exactly, the last term of the lower sum (n1mxfl) and
// the first of the upper (n1mxceil).
type smirnovTerms struct {
	n                int
	x, nxHi, nxLo    float64
	n1mxfl, n1mxceil int
}

// smirnovBranch follows xsf's _smirnov up to the sum: it returns the value
// of the closed-form branches, or path spUpperSum or spLowerSum and the
// sum to evaluate.
func smirnovBranch(n int, d float64) (float64, spath, smirnovTerms) {
	if n <= 0 || math.IsNaN(d) {
		return math.NaN(), spInvalid, smirnovTerms{}
	}
	if d < 0 {
		return 1, spXlt0, smirnovTerms{}
	}
	if d > 1 {
		return 0, spXgt1, smirnovTerms{}
	}
	x := d
	if n == 1 {
		return 1 - x, spNeq1, smirnovTerms{}
	}
	if x == 0 {
		return 1, spXeq0, smirnovTerms{}
	}
	if x == 1 {
		return 0, spXeq1, smirnovTerms{}
	}
	fn := float64(n)

	nxfl, alpha, nxHi, nxLo := modNX(n, x)
	n1mxfl := n - nxfl
	if alpha != 0 {
		n1mxfl--
	}
	n1mxceil := n - nxfl
	// If alpha is 0, the last term is not wanted in either sum.
	if alpha == 0 {
		n1mxfl--
		n1mxceil++
	}

	// Special case: x <= 1/n.
	if nxfl == 0 || (nxfl == 1 && alpha == 0) {
		t := math.Exp(float64(n-1) * math.Log1p(x)) // (1+x)^(n-1)
		cdf := x * t
		return clip01(1 - cdf), spXle1OverN, smirnovTerms{}
	}
	// Special case: the sf underflows.
	if -2*fn*x*x < cephesMinLog {
		return 0, spUnderflow, smirnovTerms{}
	}
	// Special case: x >= 1 - 1/n.
	if nxfl >= n-1 {
		return clip01(math.Pow(1-x, fn)), spXge1m1OverN, smirnovTerms{}
	}
	// Special case: n too big to sum; p ~ exp(-(6nx+1)²/(18n)).
	if n > smirnovMaxComputeN {
		logp := -math.Pow(6.0*fn*x+1, 2) / 18.0 / fn
		if logp < -math.Ln2 {
			return clip01(math.Exp(logp)), spNgt1e6, smirnovTerms{}
		}
		cdf := -math.Expm1(logp)
		return clip01(1 - cdf), spNgt1e6, smirnovTerms{}
	}

	// Use the upper sum if n is large enough, x small enough and the number
	// of terms small enough (xsf's bUseUpperSum).
	nUpperTerms := n - n1mxceil + 1
	useUpper := nUpperTerms <= 1 && x < 0.5
	useUpper = useUpper ||
		(n >= smUpperSumMinN && nUpperTerms <= smUpperMaxTerms && x <= 0.5/math.Sqrt(fn))
	s := smirnovTerms{n: n, x: x, nxHi: nxHi, nxLo: nxLo, n1mxfl: n1mxfl, n1mxceil: n1mxceil}
	if useUpper {
		return math.NaN(), spUpperSum, s
	}
	return math.NaN(), spLowerSum, s
}

// termSum adds the terms of the upper sum (v = n down to n1mxceil, the
// cdf) or the lower sum (v = 0 up to n1mxfl, the sf) one by one as xsf
// does, in float64 instead of double-double:
//
//	x·Σ_v C(n,v)(x+v/n)^(v−1)(1−x−v/n)^(n−v),
//
// each term in log space, with xsf's early-termination rule. C(n,v) is
// carried as cman·2^cexp (as xsf does) so no logarithm is needed for it;
// x+v/n = (v + n·x)/n and 1-x-v/n = ((n-v) - n·x)/n use the exact product
// n·x = nxHi + nxLo. It costs O(terms); smirnov uses it for the upper sum,
// which has at most smUpperMaxTerms terms.
func (s smirnovTerms) termSum(upper bool) float64 {
	n, x, fn := s.n, s.x, float64(s.n)
	logx := math.Log(x)
	var sum float64
	start, step, nTerms := 0, 1, s.n1mxfl+1
	if upper {
		start, step, nTerms = n, -1, n-s.n1mxceil+1
		sum = x * math.Exp(float64(n-1)*math.Log1p(x)) // v = n: x·(1+x)^(n-1)
	} else {
		sum = math.Exp(fn * math.Log1p(-x)) // v = 0: x·(1-x)^n/x
	}
	cman, cexp := math.Frexp(fn) // C(n, j) = cman·2^cexp, starting at C(n, 1)
	for j := 1; j < nTerms; j++ {
		v := start + j*step
		a := ((float64(v) + s.nxHi) + s.nxLo) / fn   // x + v/n
		b := ((float64(n-v) - s.nxHi) - s.nxLo) / fn // 1 - x - v/n
		sign := 1.0
		if b < 0 { // upper sum only
			b = -b
			if (n-v)%2 == 1 {
				sign = -1
			}
		}
		L := logx + float64(v-1)*math.Log(a) + float64(n-v)*math.Log(b) + float64(cexp)*math.Ln2
		aj := sign * cman * math.Exp(L)
		if !math.IsInf(aj, 0) && !math.IsNaN(aj) && aj != 0 {
			sum += aj
		}
		// Safe to terminate early? (xsf's rule.)
		if aj != 0 {
			if 4*float64(nTerms-j)*math.Abs(aj) < 0x1p-52*sum && j != nTerms-1 {
				break
			}
		} else if j > n/2 {
			break
		}
		// C(n, j+1) from C(n, j).
		var e int
		cman, e = math.Frexp(cman * (float64(n-j) / float64(j+1)))
		cexp += e
	}
	return sum
}

// modNX mirrors xsf's modNX: floor(n·x) and the remainder alpha computed
// exactly (n·x = nxHi + nxLo exactly, via FMA). A remainder that rounds to 1
// is folded into the floor, as xsf does.
func modNX(n int, x float64) (nxfl int, alpha, nxHi, nxLo float64) {
	fn := float64(n)
	nxHi = fn * x
	nxLo = math.FMA(fn, x, -nxHi)
	fl := math.Floor(nxHi)
	a := (nxHi - fl) + nxLo
	if a < 0 {
		fl--
		a++
	}
	if a >= 1 {
		fl++
		a = 0
	}
	return int(fl), a, nxHi, nxLo
}

// The lower Birnbaum–Tingey sum
//
//	p = Σ_{v=0}^{vmax} t_v,  t_v = x·C(n,v)·a_v^(v−1)·b_v^(n−v),
//	a_v = x + v/n = (s+v)/n,  b_v = 1 − a_v,  s = n·x,
//
// has up to n terms, and xsf adds them all, in double-double. Here it is
// evaluated in one of two ways, each costing O(1) per term or node:
//
//  1. smirnovExactSum adds the terms, starting near the largest and walking
//     outwards, and stops once the rest is negligible. It is used for short
//     sums (fewer than 64 terms, or s < 16) and whenever the first terms
//     are not negligible, which on KolmogorovSF's n·x² >= 2.2 happens only
//     for n below ~700–1000.
//  2. smirnovTrapezoid replaces the sum by the integral of the smooth
//     function t(v) that the terms sample, and evaluates that integral by
//     the trapezoidal rule with 25–50 nodes whatever n is (for n·x² >= 1).
//
// Both evaluate a term, at integer or real v with 0 < v < n, as
//
//	t(v) = s/(s+v) · √(n/(2π·v·w)) · exp(E(v)),  w = n − v,
//	E(v) = v·λ(s/v) + w·λ(−s/w) + r(n) − r(v) − r(w),
//
// with λ(y) = log1p(y) − y and r(k) = ln Γ(k+1) − [(k+½)·ln k − k + ½·ln 2π]
// the Stirling remainder. This is an identity, not an approximation: write
// ln C(n,v) with r and collect (v−1)·ln a_v + (n−v)·ln b_v. The large pieces
// v·log1p(s/v) = v·λ(s/v) + s and w·log1p(−s/w) = w·λ(−s/w) − s cancel their
// ±s exactly, so E has the size of ln p (a few hundred at most where p does
// not underflow) instead of O(n), and its rounding error is ~1e-16·|E|
// rather than the ~1e-16·n·|ln a| of summing (v−1)·ln a_v + (n−v)·ln b_v
// directly (which is what limited the original port to ~2e-11 at n = 10⁶).
//
// Why an integral gives the sum. By Poisson summation,
// Σ_{v∈ℤ} t(v) = ∫ t(v) dv + 2·Σ_{k>=1} Re t̂(k): the sum over the integers
// is a trapezoidal rule with step 1, and differs from the integral by the
// Fourier transform of t at the integer frequencies. t is analytic away
// from v = −s and v = n − s, where a or b vanishes (1/Γ is entire), and
// across the bulk it is a smooth bump of width σ_v ≈ √n/(4x) ≫ 1, so t̂(1)
// is of order exp(−2π²σ_v²) relative to the integral, far below rounding.
// At the ends of the sum, Euler–Maclaurin leaves an error of the order of
// the first term t_0 = (1−x)^n (at v = n − s, b^(n−v) makes t vanish
// smoothly): the trapezoid is used only when t_0 <= 2^-56·p, checked on
// the result. The integral over (0, n−s) is computed in
// u = ln((v+δ)/(n−s−v)) (smTrapGrid). With δ = s, u = logit(a_v), in which
// the integrand is close to the Brownian-bridge first-passage density
// ∝ exp(−u/2 − c²·cosh u), c = √n·x: a peak of width ≈ 1/c with
// double-exponentially decaying tails, the ideal case for the trapezoidal
// rule, whose error falls like exp(−2π²/(c·h)²) near the peak and
// exp(−π²/h) from the width of the strip where the integrand stays bounded.
// δ = 2 keeps that in the bulk but spaces the nodes ~h·(v+2) apart near
// v = 0, resolving the steep rise of the first terms where they still
// matter (n ~ 700–2000 with small n·x²). The step, h = min(0.2, 0.6/c) in
// logit(a), keeps the error below 1e-15 relative;
// TestSmirnovTrapezoidMatchesExactSum and TestSmirnovSFMatchesFullSum check
// it on dense (n, x) grids up to n = 10⁶.
//
// Stopping rule (both methods): stop at the first term (node) that is at
// most 2^-60 of the running sum and at most half the one before it. For the
// exact sum, beyond such a term the ratio of consecutive terms stays below
// 1/2, so the rest of the tail is at most the term itself. (The terms are
// log-concave in v for n·x² >= 1 — the second derivative of ln t is
// −(x²/n)·[1/(τ(x+τ)²) + 1/((1−τ)(1−x−τ)²)] < 0, τ = v/n, up to O(1/v²)
// terms — and for smaller n·x² they fail to be only near the peak.) For the trapezoid, t falls monotonically
// beyond its peak and the Jacobian dv/du = (v+δ)(n−s−v)/(n−s+δ) shrinks by
// e^(−h) per node towards either end once past the middle, so the rest is
// at most ~4/(e^h−1) times the node, below 2^-52 of the sum for the steps
// used (h >= 0.03). The walks go right and then left from a point near the
// peak, so the running sum only grows and the rule is conservative even
// when that point is not the exact peak. TestSmirnovStoppingRule replays
// the rule on complete sequences of terms and nodes and finds what it
// leaves out below 2^-60 of the total everywhere on its grid.
//
// Accuracy, measured against scipy (TestSmirnovSFScipyRef, golden.json):
// relative error below ~1.5e-14 where p > 1e-10, growing to a few 1e-13
// for p near 1e-300 (as exp(E) does with |E| ~ 700), against ~4e-11 for
// the original port at n = 10⁶. Cost: 25–50 nodes at ~300 instructions
// each (two λ series, two Stirling series, one exponential, five
// divisions) for the trapezoid, ~9–15k instructions per call; the exact
// sum costs about as much per significant term.

// Constants of the lower-sum evaluation.
const (
	smTailEps      = 0x1p-60       // relative size of a negligible tail
	smTrapMinTerms = 64            // fewer terms than this: always sum them exactly
	smTrapMinS     = 16            // the trapezoid needs s = n·x >= 16 (so w > 16)
	smTrapEdgeLog  = -40           // ln((1−x)^n/p) estimate above which the exact sum is used
	smTrapEdge     = 56 * math.Ln2 // the trapezoid needs ln p − ln((1−x)^n) >= this
	smTrapDelta    = 2             // δ of the node map when the peak has v > s (see smTrapGrid)
	smTrapCutEps   = 0x1p-54       // with δ = s: bound on the node before v = 0, relative to h·sum
	smTrapMaxH     = 0.2           // step in logit(a): min(smTrapMaxH, smTrapHc/c)
	smTrapHc       = 0.6
	smMaxNodes     = 4096 // safety net; 25–100 in practice
	smRescale      = 300  // the walks rescale when E exceeds eref by this
)

// stirlingRemTab[k] = r(k) = ln k! − [(k+½)·ln k − k + ½·ln 2π] for
// k = 1..15 (computed with mpmath at 40 digits). r(0) is not used.
var stirlingRemTab = [16]float64{
	0,
	0.08106146679532725822, 0.041340695955409294094, 0.027677925684998339149,
	0.020790672103765093112, 0.016644691189821192163, 0.013876128823070747999,
	0.011896709945891770095, 0.010411265261972096497, 0.0092554621827127329177,
	0.0083305634333628712565, 0.007573675487951840795, 0.0069428401072095298657,
	0.0064089941880042070684, 0.0059513701127588477356, 0.005554733551962801371,
}

// stirlingRem returns the Stirling remainder r(k) = ln Γ(k+1) − [(k+½)·ln k
// − k + ½·ln 2π] for real k > 0: stirlingRemInv for k >= 16, the table for
// smaller integers, and math.Lgamma otherwise (trapezoid nodes with
// v < 16, near the first terms).
func stirlingRem(k float64) float64 {
	if k >= 16 {
		return stirlingRemInv(1 / k)
	}
	if i := int(k); float64(i) == k {
		return stirlingRemTab[i]
	}
	lg, _ := math.Lgamma(k + 1)
	return lg - ((k+0.5)*math.Log(k) - k + 0.5*ksLog2Pi)
}

// stirlingRemInv returns the Stirling remainder r(k) from r = 1/k for
// k >= 16: r·P(r²), P a degree-4 Chebyshev economisation on [0, 1/256] of
// the asymptotic series 1/12 − r²/360 + r⁴/1260 − … (absolute error below
// 3e-19 with the rounded coefficients).
func stirlingRemInv(r float64) float64 {
	w := r * r
	return r * (0.0833333333333333300352 + w*(-0.00277777777773555036698+
		w*(0.000793650707051882152362+w*(-0.00059517583492494650253+w*0.000823412993373136204653))))
}

// atanhSeries returns S(w) = Σ_{k>=0} w^k/(2k+3) for 0 <= w <= 0.04, so that
// atanh(u) = u + u³·S(u²) for |u| <= 0.2: a degree-7 Chebyshev
// economisation on [0, 0.04], relative error below 6e-17 with the rounded
// coefficients.
func atanhSeries(w float64) float64 {
	return 0.333333333333333321142 + w*(0.200000000000039002757+w*(0.142857142836695946315+
		w*(0.1111111151890362094+w*(0.0909086922736151278965+w*(0.076944173389009575346+
			w*(0.0660518024256630991347+w*0.0680200785356203872879))))))
}

// lambdaSeries returns λ(y) = log1p(y) − y from u = y/(2+y), |u| <= 0.2
// (−1/3 <= y <= 1/2), by log1p(y) = 2·atanh(u): λ(y) = −u·y + 2u³·S(u²),
// without cancellation (2u − y = −u·y exactly). The relative error is a
// few 1e-17.
func lambdaSeries(u, y float64) float64 {
	w := u * u
	return -u*y + 2*u*w*atanhSeries(w)
}

// Constants of smLog and smExp. fdlibm's ln2_hi has 21 trailing zero bits,
// so k·smLn2Hi (and k·smLn2Hi/64) is exact for |k| < 2^21.
const (
	smLn2Hi  = 6.93147180369123816490e-01
	smLn2Lo  = 1.90821492927058770002e-10
	smLog2E  = 1.44269504088896338700e+00
	smRound  = 0x1.8p52 // adding and subtracting it rounds to an integer
	smMinExp = -708     // smExp(d) for d below this is taken at smMinExp
)

// smExp2Tab[j] = 2^(j/64), correctly rounded.
var smExp2Tab = [64]float64{
	1.0, 1.0108892860517005, 1.0218971486541166, 1.0330248790212284,
	1.0442737824274138, 1.0556451783605572, 1.0671404006768237, 1.0787607977571199,
	1.0905077326652577, 1.102382583307841, 1.1143867425958924, 1.1265216186082418,
	1.1387886347566916, 1.1511892299529827, 1.1637248587775775, 1.1763969916502812,
	1.189207115002721, 1.202156731452703, 1.215247359980469, 1.22848053610687,
	1.241857812073484, 1.255380757024691, 1.2690509571917332, 1.2828700160787783,
	1.2968395546510096, 1.3109612115247644, 1.3252366431597413, 1.339667524053303,
	1.3542555469368927, 1.3690024229745905, 1.383909881963832, 1.3989796725383112,
	1.4142135623730951, 1.42961333839197, 1.4451808069770467, 1.460917794180647,
	1.4768261459394993, 1.4929077282912648, 1.5091644275934228, 1.5255981507445384,
	1.5422108254079407, 1.559004400237837, 1.5759808451078865, 1.593142151342267,
	1.6104903319492543, 1.6280274218573478, 1.645755478153965, 1.6636765803267364,
	1.681792830507429, 1.7001063537185235, 1.718619298122478, 1.7373338352737062,
	1.7562521603732995, 1.7753764925265212, 1.7947090750031072, 1.8142521755003989,
	1.8340080864093424, 1.8539791250833855, 1.8741676341103, 1.8945759815869656,
	1.9152065613971474, 1.9360617934922943, 1.9571441241754002, 1.978456026387951,
}

// smExp returns e^d for smMinExp <= d <= 709, to about 1.5 ulp, with no
// call: d = (64k + j)·ln2/64 + r, |r| <= ln2/128, and
// e^d = 2^k · 2^(j/64) · e^r with e^r by its degree-5 Taylor polynomial
// (truncation error 4e-17). The callers clamp d to at least smMinExp (the
// result, ~1e-308, is then as negligible as the true one wherever it is
// used); NaN gives NaN.
func smExp(d float64) float64 {
	kf := (d*(64*smLog2E) + smRound) - smRound
	r := (d - kf*(smLn2Hi/64)) - kf*(smLn2Lo/64)
	k := int64(kf)
	p := 1 + r*(1+r*(1.0/2+r*(1.0/6+r*(1.0/24+r*(1.0/120)))))
	return smExp2Tab[k&63] * p * math.Float64frombits(uint64((k>>6)+1023)<<52)
}

// smLogReduce splits a positive normal X (the callers guarantee it) as
// X = m·2^e with m in [0.75, 1.5), and returns e and u = (m−1)/(m+1),
// |u| <= 0.2, so that ln X = e·ln 2 + 2·atanh(u) (see smLog).
func smLogReduce(X float64) (e, u float64) {
	b := math.Float64bits(X)
	e = float64(int64(b>>52) - 1023)
	m := math.Float64frombits(b&(1<<52-1) | 1023<<52)
	if m > 1.5 {
		m *= 0.5
		e++
	}
	return e, (m - 1) / (m + 1)
}

// smLog returns ln X for a positive normal X to about 1 ulp, with no call.
func smLog(X float64) float64 {
	e, u := smLogReduce(X)
	w := u * u
	return e*smLn2Hi + (2*u + (e*smLn2Lo + 2*u*w*atanhSeries(w)))
}

// smLogTerm returns E(v) for real 0 < v < n, w = n − v, given iv = 1/v,
// iw = 1/w, isv ≈ 1/(s+v) (a few digits are enough), s = nxHi and its low
// part lo (s + lo = n·x exactly), invS = 1/s, rn = r(n), the exact
// n·b_v = w − s − lo as bn, and rvw = r(v) + r(w) (see smStirling2). E is
// the log of t(v)/(s/(s+v)·√(n/(2π·v·w))), evaluated at s + lo.
//
// λ(y) uses lambdaSeries where it applies (always for λ(−z) with
// z = s/w <= 1/3) and ln(1+y) − y otherwise, which loses nothing there as
// y > 1/2; for z > 1/3, where b_v may be tiny, w·λ(−z) = w·ln(bn/w) + s
// with bn carrying b_v exactly (a b_v too small to be a normal number
// makes the term 0). lo enters to first order: ∂E/∂s at fixed v is
// 1/s − (1+s)/(s+v) − z/(1−z), where the last term is already exact in the
// ln(bn/w) form (and becomes +1, the derivative of the +s). lo·∂E/∂s is at
// most ~1e-13, so the derivative needs only a few digits: z/(1−z) is summed
// to z⁴ (z <= 1/3).
func smLogTerm(v, w, iv, iw, isv, bn, s, lo, invS, rn, rvw float64) float64 {
	y, z := s*iv, s*iw
	var lv float64
	if y <= 0.5 {
		lv = v * lambdaSeries(y/(2+y), y)
	} else { // smLog(1+y), inlined by hand
		e, u := smLogReduce(1 + y)
		uu := u * u
		lv = v * (e*smLn2Hi + (2*u + (e*smLn2Lo + 2*u*uu*atanhSeries(uu))) - y)
	}
	var lw, db float64
	if z <= 1.0/3 {
		lw, db = w*lambdaSeries(-z/(2-z), -z), -z*(1+z*(1+z*(1+z)))
	} else {
		bw := bn * iw
		if !(bw >= 0x1p-1022) {
			return math.Inf(-1)
		}
		e, u := smLogReduce(bw) // smLog(bw), inlined by hand
		uu := u * u
		lw, db = w*(e*smLn2Hi+(2*u+(e*smLn2Lo+2*u*uu*atanhSeries(uu))))+s, 1
	}
	return lv + lw + rn - rvw + lo*(invS-(s+1)*isv+db)
}

// smStirling2 returns r(v) + r(w) for v or w below 16 (the callers use
// stirlingRemInv directly otherwise).
func smStirling2(v, w float64) float64 {
	return stirlingRem(v) + stirlingRem(w)
}

// smirnovLowerSum returns the lower Birnbaum–Tingey sum for
// vmax = ⌈n(1−x)⌉ − 1 (the last v with b_v > 0), with s = n·x = nxHi + nxLo
// exactly. It uses the trapezoidal evaluation when the sum is long, s is
// not small and the terms near v = 0 are expected to be negligible, and the
// exact sum otherwise or when the trapezoid's own checks fail.
func smirnovLowerSum(n, vmax int, x, nxHi, nxLo float64) float64 {
	p, _ := smirnovLowerSumMethod(n, vmax, x, nxHi, nxLo)
	return p
}

// smirnovLowerSumMethod is smirnovLowerSum that also reports whether the
// trapezoidal rule was used (for tests and benchmarks).
func smirnovLowerSumMethod(n, vmax int, x, nxHi, nxLo float64) (p float64, trapezoid bool) {
	fn := float64(n)
	if vmax+1 >= smTrapMinTerms && nxHi >= smTrapMinS &&
		fn*math.Log1p(-x)+2*nxHi*x < smTrapEdgeLog {
		if p, ok := smirnovTrapezoid(fn, x, nxHi, nxLo); ok {
			return p, true
		}
	}
	return smirnovExactSum(n, vmax, x, nxHi, nxLo), false
}

// smPeak returns an approximation of a* = x + v*/n, where v* maximises the
// terms (and, nearly, the trapezoid integrand): the Brownian-bridge
// first-passage mode logit(a) = −asinh(1/(2c²)), c² = n·x², mapped into
// (x, 1) and refined by one Newton step on the leading part of
// d ln(t·n·a(1−a))/du. It is only a starting point: the outward walks are
// correct from any start, they just cost a few more nodes the further off
// it is.
func smPeak(fn, x, c2 float64) float64 {
	t := 1 / (2 * c2)
	a := x + (1-x)/(1+t+math.Sqrt(1+t*t)) // e^(asinh t) = t + √(1+t²)
	am, omam, omax := a-x, 1-a, 1-a+x
	L := smLog((a * omax) / (am * omam)) // log1p(x/(a−x)) + log1p(x/(1−a))
	ao := a * omam
	F := fn*(ao*L-x) - a + ao/2*(1/omax-1/am)
	dL := -x/(a*am) + x/(omam*omax)
	dF := fn * ao * ((1-2*a)*L + ao*dL)
	if dF < 0 {
		// Newton step in u = logit(a): e^(−u') = (1−a)/a·e^(F/dF).
		if an := 1 / (1 + omam/a*smExp(max(F/dF, smMinExp))); an > x && an < 1 {
			a = an
		}
	}
	return a
}

// smTrapGrid returns the node grid of smirnovTrapezoid: V = n − s (with
// s = nxHi + lo), δ, the first node v0 (near the peak) and the step h in
// u = ln((v+δ)/(V−v)). δ = s makes u = logit(a); δ = 2 resolves the terms
// near v = 0 (nodes ~h·(v+2) apart there), which is what makes the
// trapezoid usable down to n ≈ 700 for small n·x², and is used whenever the
// peak lies beyond v = s, i.e. is not itself near v = 0. The step is tuned
// for logit(a), h = min(0.2, 0.6/c) (c = √n·x; the integrand's peak is
// ≈ 1/c wide there), and scaled by the stretch du/dlogit(a) at the peak.
func smTrapGrid(fn, x, s, lo float64) (V, delta, v0, h float64) {
	V = (fn - s) - lo // n·(1−x), exactly up to rounding
	c2 := s * x
	v0 = fn*smPeak(fn, x, c2) - s
	delta = s
	if v0 > s {
		delta = smTrapDelta
	}
	stretch := (1/(v0+delta) + 1/(V-v0)) / (1/(v0+s) + 1/(V-v0))
	h = min(smTrapMaxH, smTrapHc/math.Sqrt(c2)) * stretch
	return V, delta, v0, h
}

// smirnovTrapezoid evaluates the lower sum as the integral of t(v) over
// (0, V), V = n − s, by the trapezoidal rule in u = ln((v+δ)/(V−v)) (see
// the comment above smirnovLowerSum). ok is false, and the caller falls
// back to the exact sum, when the terms near v = 0 are not negligible
// (t_0 = (1−x)^n above 2^-56·p, or, with δ = s, a node next to v = 0 above
// 2^-54 of the sum), or if the result is not finite.
func smirnovTrapezoid(fn, x, s, lo float64) (p float64, ok bool) {
	V, delta, v0, h := smTrapGrid(fn, x, s, lo)
	rn, invS := stirlingRem(fn), 1/s
	Vd := V + delta

	// Nodes u_k = u_0 + k·h, carried as q_k = exp(−u_k) = (V−v_k)/(v_k+δ).
	eh := smExp(-h)
	q0 := (V - v0) / (v0 + delta)
	var eref, sum, t0 float64
	nodes := 0
	for dir := 0; dir < 2; dir++ {
		q, step, prev := q0, eh, math.Inf(1) // right: q shrinks, v grows
		if dir == 1 {
			// Left, starting one node below u_0, whose term is the
			// neighbour the stopping rule compares the first one with.
			step = 1 / eh
			q, prev = q0*step, t0
		}
		for {
			nodes++
			if nodes > smMaxNodes {
				return 0, false
			}
			tau := 1 / (1 + q)
			v := Vd*tau - delta // the node
			bn := Vd * q * tau  // V − v = n·b_v
			if !(v > 0) {
				// The sum starts at v = 0: cut the integral there. With
				// δ = 2 the nodes resolve t down to v = 0, and the check
				// on t_0 below covers it; with δ = s they are ~h·s apart
				// there, so the last one must be negligible: between it
				// and the cut, t and the terms t_v are at most its t, and
				// what is missed is at most ~2·prev relative to h·sum.
				if delta == s && !(prev <= smTrapCutEps*h*sum) {
					return 0, false
				}
				break
			}
			if !(bn > 0) {
				break // b is 0 to working precision: nothing more this side
			}
			w := fn - v
			iv, iw, isv := 1/v, 1/w, 1/(s+v)
			var rvw float64
			if v >= 16 { // and w > s >= 16
				rvw = stirlingRemInv(iv) + stirlingRemInv(iw)
			} else {
				rvw = smStirling2(v, w)
			}
			// E := smLogTerm(v, w, iv, iw, isv, bn, s, lo, invS, rn, rvw),
			// inlined by hand (the call and its spills cost ~25% per node).
			y, z := s*iv, s*iw
			var lv float64
			if y <= 0.5 {
				lv = v * lambdaSeries(y/(2+y), y)
			} else {
				e, u := smLogReduce(1 + y)
				uu := u * u
				lv = v * (e*smLn2Hi + (2*u + (e*smLn2Lo + 2*u*uu*atanhSeries(uu))) - y)
			}
			var lw, db float64
			if z <= 1.0/3 {
				lw, db = w*lambdaSeries(-z/(2-z), -z), -z*(1+z*(1+z*(1+z)))
			} else {
				bw := bn * iw
				if !(bw >= 0x1p-1022) {
					break // b is 0 to working precision: nothing more on this side
				}
				e, u := smLogReduce(bw)
				uu := u * u
				lw, db = w*(e*smLn2Hi+(2*u+(e*smLn2Lo+2*u*uu*atanhSeries(uu))))+s, 1
			}
			E := lv + lw + rn - rvw + lo*(invS-(s+1)*isv+db)
			if nodes == 1 {
				eref = E
			} else if E > eref+smRescale {
				// Move the scale to exp(E). A factor clamped at e^smMinExp
				// only misweights terms that small relative to this one.
				f := smExp(max(eref-E, smMinExp))
				sum, prev, t0, eref = sum*f, prev*f, t0*f, E
			}
			// g = t(v)·dv/du, dv/du = (v+δ)(V−v)/(V+δ) = bn·τ; the factor
			// s·√(n/(2π)) of t is applied at the end.
			t := smExp(max(E-eref, smMinExp)) * bn * tau * isv * math.Sqrt(iv*iw)
			if nodes == 1 {
				t0 = t
			}
			sum += t
			if t <= smTailEps*sum && t <= 0.5*prev {
				break
			}
			prev = t
			q *= step
		}
	}
	if !(sum > 0) || math.IsInf(sum, 0) {
		return 0, false
	}
	// p = s·√(n/(2π))·h·Σ g_k·exp(eref).
	lnp := eref + math.Log(s*math.Sqrt(fn/(2*math.Pi))*h*sum)
	// The integral is the sum only if the terms near v = 0, where t is not
	// smooth on the integer scale, are negligible: their size is that of
	// t_0 = (1−x)^n (Euler–Maclaurin at v = 0), required below 2^-56·p.
	if fn*math.Log1p(-x) > lnp-smTrapEdge {
		return 0, false
	}
	return math.Exp(lnp), true
}

// smirnovExactSum adds the terms t_v, v = 0..vmax, starting near the
// largest and walking outwards until the rest is provably below 2^-60 of
// the sum (see above). Each term costs O(1); the v = 0 term is
// x·a_0^(−1)·b_0^n = (1−x)^n.
func smirnovExactSum(n, vmax int, x, s, lo float64) float64 {
	fn := float64(n)
	rn, invS := stirlingRem(fn), 1/s
	v0 := int(math.Round(fn*smPeak(fn, x, s*x) - s))
	v0 = max(1, min(v0, vmax))

	var eref, sum, t0 float64
	first := true
	for dir := 0; dir < 2; dir++ {
		v, step, prev := v0, 1, math.Inf(1)
		if dir == 1 {
			v, step, prev = v0-1, -1, t0 // t0 = t_{v0}, the first term
		}
		for ; v >= 0 && v <= vmax; v += step {
			var E, scale float64
			if v == 0 {
				// (1−x)^n, as exp(E)·scale like the others.
				E, scale = fn*math.Log1p(-x)-math.Log(s*math.Sqrt(fn/(2*math.Pi))), 1
			} else {
				fv, w := float64(v), float64(n-v)
				iv, iw, isv := 1/fv, 1/w, 1/(s+fv)
				var rvw float64
				if fv >= 16 && w >= 16 {
					rvw = stirlingRemInv(iv) + stirlingRemInv(iw)
				} else {
					rvw = smStirling2(fv, w)
				}
				E = smLogTerm(fv, w, iv, iw, isv, (w-s)-lo, s, lo, invS, rn, rvw)
				scale = isv * math.Sqrt(iv*iw)
			}
			var t float64
			if E > math.Inf(-1) { // else b_v is 0 to working precision: t = 0
				if first {
					eref, first = E, false
				} else if E > eref+smRescale {
					f := smExp(max(eref-E, smMinExp)) // as in smirnovTrapezoid
					sum, prev, t0, eref = sum*f, prev*f, t0*f, E
				}
				t = smExp(max(E-eref, smMinExp)) * scale
			}
			if v == v0 {
				t0 = t
			}
			sum += t
			if t <= smTailEps*sum && t <= 0.5*prev {
				break
			}
			prev = t
		}
	}
	return math.Exp(eref + math.Log(s*math.Sqrt(fn/(2*math.Pi))*sum))
}

// KolmogorovLimitSF returns the survival function of the limiting
// Kolmogorov distribution, P(K > x) with K = lim √n·D_n. It equals
// scipy.special.kolmogorov(x) (xsf::cephes::kolmogorov): for x <= 0.82
// it sums the small-x series 1 − (√(2π)/x)·Σ exp(−(2k−1)²π²/(8x²)), and
// above that 2·Σ(−1)^(k−1)·exp(−2k²x²).
//
// x <= 0 gives 1, +Inf gives 0 and NaN gives NaN.
func KolmogorovLimitSF(x float64) float64 {
	if math.IsNaN(x) {
		return math.NaN()
	}
	if x <= 0 {
		return 1
	}
	// x <= 0.040611972203751713
	if x <= math.Pi/math.Sqrt(-kolmogMinExpable*8) {
		return 1
	}
	var sf float64
	if x <= kolmogCutover {
		// u = e^(-π²/(8x²)), w = √(2π)/x, P = w·u·(1 + u^8 + u^24 + u^48 + ...)
		w := math.Sqrt(2*math.Pi) / x
		logu8 := -math.Pi * math.Pi / (x * x) // log(u^8)
		u := math.Exp(logu8 / 8)
		var P float64
		if u == 0 {
			P = math.Exp(logu8/8 + math.Log(w))
		} else {
			u8 := math.Exp(logu8)
			u8cub := math.Pow(u8, 3)
			P = 1.0
			P = 1 + u8cub*P
			P = 1 + u8*u8*P
			P = 1 + u8*P
			P = w * u * P
		}
		sf = 1 - P
	} else {
		// v = e^(-2x²), P = 2(v - v^4 + v^9 - v^16 + ...)
		v := math.Exp(-2 * x * x)
		vsq := v * v
		v3 := math.Pow(v, 3)
		P := 1.0
		P = 1 - v3*v3*v*P // v^7
		P = 1 - v3*vsq*P  // v^5
		P = 1 - v3*P      // v^3
		sf = 2 * v * P
	}
	return clip01(sf)
}

// TwoSampLCM returns lcm(n1, n2), the denominator of the lattice on which
// the two-sample statistic D lives: D = h/lcm for an integer h. It returns
// 0 if n1 or n2 is not positive or the lcm overflows int64.
func TwoSampLCM(n1, n2 int) int64 {
	if n1 <= 0 || n2 <= 0 {
		return 0
	}
	g := GCD(int64(n1), int64(n2))
	a := int64(n1) / g
	if a > math.MaxInt64/int64(n2) {
		return 0
	}
	return a * int64(n2)
}

// GCD returns the greatest common divisor of a and b (a, b >= 0; GCD(a, 0)
// is a).
func GCD(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// TwoSampPValue returns the two-sided p-value of scipy.stats.ks_2samp for
// the statistic d = max|F1−F2| of samples of sizes n1 and n2, and the method
// actually used (Exact or Asymp). It mirrors scipy's ks_2samp after the
// statistic is computed:
//
//   - Auto becomes Exact if max(n1, n2) <= 10000, else Asymp.
//   - Exact becomes Asymp if n1/g >= MaxInt32/(n2/g), g = gcd(n1, n2).
//   - Exact: h = round(d·lcm) (half to even, as np.round). h = 0 gives 1.
//     n1 = n2 uses _compute_prob_outside_square, an O(n) product.
//     n1 ≠ n2 uses _compute_outer_prob_inside_method, Hodges' lattice
//     recursion in Viehmann's 1−p form; it updates about
//     max(n1,n2)·min(2·d·min(n1,n2)+1, min(n1,n2)) cells (≈2.6 ms for
//     1000×10000 at d = 0.03). A result outside [0, 1] (scipy's
//     product can round to 1.0000000000000002 when n1 = n2 and h is tiny)
//     falls back to Asymp with d = h/lcm, as scipy does.
//   - Asymp: KolmogorovSF(round(m·n/(m+n)), d).
//   - The result is clipped to [0, 1].
//
// Differences from scipy, all at inputs scipy rejects or cannot produce:
// d < 0 counts as 0 (p = 1); d > 1 counts as 1; when the effective size
// round(m·n/(m+n)) is 0 (only n1 = n2 = 1 with Asymp), 1 is used, where
// scipy returns NaN. n1 <= 0, n2 <= 0 or NaN d returns (NaN, method).
//
// The exact unequal-n path allocates one scratch column of at most
// min(n1, n2)+1 floats when it needs more than 512; nothing else allocates
// except KolmogorovSF's Durbin branch.
func TwoSampPValue(d float64, n1, n2 int, method Method) (p float64, used Method) {
	if n1 <= 0 || n2 <= 0 || math.IsNaN(d) {
		return math.NaN(), method
	}
	if d < 0 {
		d = 0
	}
	if d > 1 {
		d = 1
	}
	mode := ResolveMethod(n1, n2, method)
	if mode == Exact {
		lcm := TwoSampLCM(n1, n2)
		h := int64(math.RoundToEven(d * float64(lcm)))
		if p, ok := ks2Exact(n1, n2, h); ok {
			return clip01(p), Exact
		}
		d = float64(h) / float64(lcm) // scipy's _attempt_exact_2kssamp updates d
	}
	return ks2Asymp(d, n1, n2), Asymp
}

// TwoSampPValueH is TwoSampPValue with the statistic given as the integer
// lattice distance h = D·lcm(n1, n2) (see TwoSampLCM), which is what a caller
// counting cells gets exactly: h = max_x |c1(x)·(lcm/n1) − c2(x)·(lcm/n2)|,
// with c1, c2 the counts <= x. The exact paths use h directly (scipy derives
// it as round(D·lcm) from its float D; the two agree). The asymptotic path
// uses D = h/lcm in float64; scipy's float D can differ from that in the
// last bit, which moves p by far less than 1e-12.
//
// h < 0 counts as 0 and h > lcm counts as lcm. n1 <= 0 or n2 <= 0, or an
// lcm that overflows int64, returns (NaN, method).
func TwoSampPValueH(h int64, n1, n2 int, method Method) (p float64, used Method) {
	lcm := TwoSampLCM(n1, n2)
	if lcm == 0 {
		return math.NaN(), method
	}
	if h < 0 {
		h = 0
	}
	if h > lcm {
		h = lcm
	}
	if ResolveMethod(n1, n2, method) == Exact {
		if p, ok := ks2Exact(n1, n2, h); ok {
			return clip01(p), Exact
		}
	}
	return ks2Asymp(float64(h)/float64(lcm), n1, n2), Asymp
}

// ResolveMethod returns the method TwoSampPValue uses for sizes n1, n2: the
// mode selection in ks_2samp (Auto becomes Exact or Asymp; Exact becomes
// Asymp when the lcm is too large).
func ResolveMethod(n1, n2 int, method Method) Method {
	switch method {
	case Asymp:
		return Asymp
	case Exact:
		g := GCD(int64(n1), int64(n2))
		n1g, n2g := float64(int64(n1)/g), float64(int64(n2)/g)
		// If lcm(n1, n2) is too big, switch from exact to asymp
		// (Python true division, as in scipy).
		if n1g >= float64(math.MaxInt32)/n2g {
			return Asymp
		}
		return Exact
	default: // Auto and unknown values
		if max(n1, n2) <= ksMaxAutoN {
			return Exact
		}
		return Asymp
	}
}

// ks2Exact mirrors the two-sided part of _attempt_exact_2kssamp given the
// lattice distance h. ok is false when scipy would fall back to asymp.
func ks2Exact(n1, n2 int, h int64) (p float64, ok bool) {
	if h == 0 {
		return 1.0, true
	}
	if n1 == n2 {
		p = computeProbOutsideSquare(int64(n1), h)
	} else {
		g := GCD(int64(n1), int64(n2))
		p = computeOuterProbInsideMethod(int64(n1), int64(n2), g, h)
	}
	if !(0 <= p && p <= 1) {
		return p, false
	}
	return p, true
}

// ks2Asymp mirrors the two-sided asymptotic branch of ks_2samp:
// kstwo.sf(d, round(en)) with en = m·n/(m+n) in float64.
func ks2Asymp(d float64, n1, n2 int) float64 {
	m, n := float64(max(n1, n2)), float64(min(n1, n2))
	en := m * n / (m + n)
	neff := int(math.RoundToEven(en))
	if neff < 1 {
		neff = 1 // scipy: NaN (kstwo with n = 0); only n1 = n2 = 1
	}
	return clip01(KolmogorovSF(neff, d))
}

// computeProbOutsideSquare mirrors _compute_prob_outside_square: the
// proportion of lattice paths from (0,0) to (n,n) that reach x−y = ±h, i.e.
// Pr(D_{n,n} >= h/n), by a Horner-like scheme
// P = 2·A0·(1 − A1·(1 − A2·(1 − ...))). Requires 0 < h <= n.
func computeProbOutsideSquare(n, h int64) float64 {
	P := 0.0
	for k := n / h; k >= 0; k-- {
		p1 := 1.0
		// Each A_k has h simple factors in numerator and denominator.
		for j := int64(0); j < h; j++ {
			p1 = float64(n-k*h-j) * p1 / float64(n+k*h+j+1)
		}
		P = p1 * (1.0 - P)
	}
	return 2 * P
}

// insideStackFloats is the column scratch computeOuterProbInsideMethod keeps
// on the stack before it allocates.
const insideStackFloats = 512

// computeOuterProbInsideMethod mirrors _compute_outer_prob_inside_method
// (scipy/stats/_stats_pythran.py): the proportion of lattice paths from
// (0,0) to (m,n) that do not stay strictly inside |x/m − y/n| < h/lcm(m,n).
// It runs Hodges' inside-method recursion in Viehmann's (arXiv:2102.08037)
// form, which carries 1−p directly: a cell is the weighted average
// (A(x−1,y)·x + A(x,y−1)·y)/(x+y), cells outside the band are 1, and the
// last cell is the p-value. One sliding column of the band is kept.
func computeOuterProbInsideMethod(m, n, g, h int64) float64 {
	if m < n { // symmetric in m, n; the computation uses m >= n
		m, n = n, m
	}
	mg := m / g
	ng := n / g

	minj, maxj := int64(0), min(ceilDiv(h, mg), n+1)
	curlen := maxj - minj
	lenA := min(2*maxj+2, n+1)
	var stack [insideStackFloats]float64
	var A []float64
	if lenA <= insideStackFloats {
		A = stack[:lenA]
	} else {
		A = make([]float64, lenA)
	}
	for i := range A {
		A[i] = 1
	}
	// Initialise the first column.
	for j := minj; j < maxj && j < lenA; j++ {
		A[j] = 0
	}
	for i := int64(1); i <= m; i++ {
		lastminj, lastlen := minj, curlen
		minj = max(floorDiv(ng*i-h, mg)+1, 0)
		minj = min(minj, n)
		maxj = min(ceilDiv(ng*i+h, mg), n+1)
		if maxj <= minj {
			return 1.0
		}
		fi := float64(i)
		val := 1.0
		if minj == 0 {
			val = 0.0
		}
		for jj := int64(0); jj < maxj-minj; jj++ {
			j := jj + minj
			val = (A[jj+minj-lastminj]*fi + val*float64(j)) / float64(i+j)
			A[jj] = val
		}
		curlen = maxj - minj
		if lastlen > curlen {
			// Set the carried-over elements to 1.
			hi := min(maxj-minj+(lastlen-curlen), lenA)
			for q := maxj - minj; q < hi; q++ {
				A[q] = 1
			}
		}
	}
	return A[maxj-minj-1]
}

// floorDiv returns floor(a/b) for b > 0.
func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && (a < 0) {
		q--
	}
	return q
}

// ceilDiv returns ceil(a/b) for b > 0.
func ceilDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && (a > 0) {
		q++
	}
	return q
}
