package detector

// Kolmogorov–Smirnov distributions, ported from scipy 1.17.
//
// Every function here is pure: no I/O, no package state that changes.
// Each Go function names the scipy (or xsf) function it mirrors. The ports
// follow the scipy code branch by branch, so the method chosen for a given
// (n, d) matches scipy's. The one numerical difference is in SmirnovSF,
// which evaluates the Birnbaum–Tingey sum in float64 log space instead of
// xsf's double-double. That costs some last digits (relative error ~1e-11
// where the sf is above 1e-10) and nothing more. The other differences are
// at inputs scipy rejects (NaN or out-of-range arguments); each exported
// function documents what it returns there.
//
// Sources ported:
//   - scipy/stats/_ksstats.py: _kolmogn, _kolmogn_DMTW, _kolmogn_Pomeranz,
//     _kolmogn_PelzGood, _log_nfactorial_div_n_pow_n.
//   - xsf/include/xsf/cephes/kolmogorov.h: _smirnov, _kolmogorov.
//   - scipy/stats/_stats_py.py: ks_2samp, _attempt_exact_2kssamp,
//     _compute_prob_outside_square.
//   - scipy/stats/_stats_pythran.py: _compute_outer_prob_inside_method.

import (
	"math"
)

// KSMethod selects how KS2SampPValue computes a two-sample p-value. It
// corresponds to the method argument of scipy.stats.ks_2samp.
type KSMethod int

const (
	// KSAuto uses KSExact when max(n1, n2) <= 10000 (scipy's MAX_AUTO_N)
	// and KSAsymp otherwise.
	KSAuto KSMethod = iota
	// KSExact uses the exact lattice-path distribution of D. If
	// n1/g >= MaxInt32/(n2/g) (g = gcd(n1, n2)), or if the exact result
	// is not a probability, it falls back to KSAsymp, as scipy does.
	KSExact
	// KSAsymp uses kstwo.sf(D, round(n1·n2/(n1+n2))), the finite-n
	// one-sample Kolmogorov distribution at the effective sample size.
	KSAsymp
)

// String returns "auto", "exact" or "asymp", the names scipy uses.
func (m KSMethod) String() string {
	switch m {
	case KSAuto:
		return "auto"
	case KSExact:
		return "exact"
	case KSAsymp:
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
// once m exceeds 21); O(n) for 2·smirnov, which handles n > 140 with
// n·d² >= 2.2. No other branch allocates.
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
	zsquared, zthree, zfour, zsix := z*z, z*z*z, math.Pow(z, 4), math.Pow(z, 6)

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
	k3a := -30*zsix - 90*math.Pow(z, 8)

	// Horner scheme for Σ c_i q^(i²) over odd i.
	var K0, K1, K2, K3 float64
	maxk := int(math.Ceil(16 * z / math.Pi))
	for k := maxk; k > 0; k-- {
		m := int64(2*k - 1) // Python ints in scipy: m**2, m**4, m**6 are exact
		msquared := float64(m * m)
		mfour := float64(m * m * m * m)
		msix := float64(m * m * m * m * m * m)
		qpower := math.Pow(q, float64(8*k))
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
	K2 /= 72 * math.Pow(z, 7)
	K3 /= 6480 * math.Pow(z, 10)

	// The other sum, over all integers k:
	//   K2: (π² k²) q^(k²);  K3: (3π² k² z² - π⁴ k⁴) q^(k²)
	q = math.Exp(-ksPiSq / 2 / zsquared)
	sqrt3z := ksSqrt3 * z
	var k2extra, k3extra float64
	for k := maxk; k > 0; k-- {
		fk := float64(k)
		ksq := float64(k * k)
		qp := math.Pow(q, ksq)
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
	K3 /= math.Pow(fn, 1.5)
	return K0 + K1 + K2 + K3
}

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
// Birnbaum–Tingey sum, upper or lower by xsf's rule. The sum is evaluated in
// float64 log space rather than double-double. Its cost is O(n): every term
// needs two logarithms and one exponential.
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
	if n <= 0 || math.IsNaN(d) {
		return math.NaN(), spInvalid
	}
	if d < 0 {
		return 1, spXlt0
	}
	if d > 1 {
		return 0, spXgt1
	}
	x := d
	if n == 1 {
		return 1 - x, spNeq1
	}
	if x == 0 {
		return 1, spXeq0
	}
	if x == 1 {
		return 0, spXeq1
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
		return clip01(1 - cdf), spXle1OverN
	}
	// Special case: the sf underflows.
	if -2*fn*x*x < cephesMinLog {
		return 0, spUnderflow
	}
	// Special case: x >= 1 - 1/n.
	if nxfl >= n-1 {
		return clip01(math.Pow(1-x, fn)), spXge1m1OverN
	}
	// Special case: n too big to sum; p ~ exp(-(6nx+1)²/(18n)).
	if n > smirnovMaxComputeN {
		logp := -math.Pow(6.0*fn*x+1, 2) / 18.0 / fn
		if logp < -math.Ln2 {
			return clip01(math.Exp(logp)), spNgt1e6
		}
		cdf := -math.Expm1(logp)
		return clip01(1 - cdf), spNgt1e6
	}

	// Use the upper sum if n is large enough, x small enough and the number
	// of terms small enough (xsf's bUseUpperSum).
	nUpperTerms := n - n1mxceil + 1
	useUpper := nUpperTerms <= 1 && x < 0.5
	useUpper = useUpper ||
		(n >= smUpperSumMinN && nUpperTerms <= smUpperMaxTerms && x <= 0.5/math.Sqrt(fn))

	// Terms A_v = x·C(n,v)·(x+v/n)^(v-1)·(1-x-v/n)^(n-v), summed in
	// linear space from log-space pieces. C(n,v) is carried as
	// cman·2^cexp (as xsf does) so no logarithm is needed for it.
	// x+v/n = (v + n·x)/n and 1-x-v/n = ((n-v) - n·x)/n use the exact
	// product n·x = nxHi + nxLo.
	logx := math.Log(x)

	var sum float64
	start, step, nTerms := 0, 1, n1mxfl+1
	if useUpper {
		start, step, nTerms = n, -1, n-n1mxceil+1
		sum = x * math.Exp(float64(n-1)*math.Log1p(x)) // v = n: x·(1+x)^(n-1)
	} else {
		sum = math.Exp(fn * math.Log1p(-x)) // v = 0: x·(1-x)^n/x
	}
	cman, cexp := math.Frexp(fn) // C(n, j) = cman·2^cexp, starting at C(n, 1)
	vmid := n / 2
	const eps = 0x1p-52
	for j := 1; j < nTerms; j++ {
		v := start + j*step
		a := ((float64(v) + nxHi) + nxLo) / fn   // x + v/n
		b := ((float64(n-v) - nxHi) - nxLo) / fn // 1 - x - v/n
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
		// Safe to terminate early?
		if aj != 0 {
			if 4*float64(nTerms-j)*math.Abs(aj) < eps*sum && j != nTerms-1 {
				break
			}
		} else if j > vmid {
			break
		}
		// C(n, j+1) from C(n, j).
		var e int
		cman, e = math.Frexp(cman * (float64(n-j) / float64(j+1)))
		cexp += e
	}
	if useUpper {
		return clip01(1 - sum), spUpperSum // the upper sum is the cdf
	}
	return clip01(sum), spLowerSum
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

// KS2SampLCM returns lcm(n1, n2), the denominator of the lattice on which
// the two-sample statistic D lives: D = h/lcm for an integer h. It returns
// 0 if n1 or n2 is not positive or the lcm overflows int64.
func KS2SampLCM(n1, n2 int) int64 {
	if n1 <= 0 || n2 <= 0 {
		return 0
	}
	g := gcdInt64(int64(n1), int64(n2))
	a := int64(n1) / g
	if a > math.MaxInt64/int64(n2) {
		return 0
	}
	return a * int64(n2)
}

func gcdInt64(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// KS2SampPValue returns the two-sided p-value of scipy.stats.ks_2samp for
// the statistic d = max|F1−F2| of samples of sizes n1 and n2, and the method
// actually used (KSExact or KSAsymp). It mirrors scipy's ks_2samp after the
// statistic is computed:
//
//   - KSAuto becomes KSExact if max(n1, n2) <= 10000, else KSAsymp.
//   - KSExact becomes KSAsymp if n1/g >= MaxInt32/(n2/g), g = gcd(n1, n2).
//   - Exact: h = round(d·lcm) (half to even, as np.round). h = 0 gives 1.
//     n1 = n2 uses _compute_prob_outside_square, an O(n) product.
//     n1 ≠ n2 uses _compute_outer_prob_inside_method, Hodges' lattice
//     recursion in Viehmann's 1−p form; it updates about
//     max(n1,n2)·min(2·d·min(n1,n2)+1, min(n1,n2)) cells (≈2.6 ms for
//     1000×10000 at d = 0.03). A result outside [0, 1] (scipy's
//     product can round to 1.0000000000000002 when n1 = n2 and h is tiny)
//     falls back to KSAsymp with d = h/lcm, as scipy does.
//   - Asymp: KolmogorovSF(round(m·n/(m+n)), d).
//   - The result is clipped to [0, 1].
//
// Differences from scipy, all at inputs scipy rejects or cannot produce:
// d < 0 counts as 0 (p = 1); d > 1 counts as 1; when the effective size
// round(m·n/(m+n)) is 0 (only n1 = n2 = 1 with KSAsymp), 1 is used, where
// scipy returns NaN. n1 <= 0, n2 <= 0 or NaN d returns (NaN, method).
//
// The exact unequal-n path allocates one scratch column of at most
// min(n1, n2)+1 floats when it needs more than 512; nothing else allocates
// except KolmogorovSF's Durbin branch.
func KS2SampPValue(d float64, n1, n2 int, method KSMethod) (p float64, used KSMethod) {
	if n1 <= 0 || n2 <= 0 || math.IsNaN(d) {
		return math.NaN(), method
	}
	if d < 0 {
		d = 0
	}
	if d > 1 {
		d = 1
	}
	mode := ks2ResolveMethod(n1, n2, method)
	if mode == KSExact {
		lcm := KS2SampLCM(n1, n2)
		h := int64(math.RoundToEven(d * float64(lcm)))
		if p, ok := ks2Exact(n1, n2, h); ok {
			return clip01(p), KSExact
		}
		d = float64(h) / float64(lcm) // scipy's _attempt_exact_2kssamp updates d
	}
	return ks2Asymp(d, n1, n2), KSAsymp
}

// KS2SampPValueH is KS2SampPValue with the statistic given as the integer
// lattice distance h = D·lcm(n1, n2) (see KS2SampLCM), which is what a caller
// counting cells gets exactly: h = max_x |c1(x)·(lcm/n1) − c2(x)·(lcm/n2)|,
// with c1, c2 the counts <= x. The exact paths use h directly (scipy derives
// it as round(D·lcm) from its float D; the two agree). The asymptotic path
// uses D = h/lcm in float64; scipy's float D can differ from that in the
// last bit, which moves p by far less than 1e-12.
//
// h < 0 counts as 0 and h > lcm counts as lcm. n1 <= 0 or n2 <= 0, or an
// lcm that overflows int64, returns (NaN, method).
func KS2SampPValueH(h int64, n1, n2 int, method KSMethod) (p float64, used KSMethod) {
	lcm := KS2SampLCM(n1, n2)
	if lcm == 0 {
		return math.NaN(), method
	}
	if h < 0 {
		h = 0
	}
	if h > lcm {
		h = lcm
	}
	if ks2ResolveMethod(n1, n2, method) == KSExact {
		if p, ok := ks2Exact(n1, n2, h); ok {
			return clip01(p), KSExact
		}
	}
	return ks2Asymp(float64(h)/float64(lcm), n1, n2), KSAsymp
}

// ks2ResolveMethod mirrors the mode selection in ks_2samp.
func ks2ResolveMethod(n1, n2 int, method KSMethod) KSMethod {
	switch method {
	case KSAsymp:
		return KSAsymp
	case KSExact:
		g := gcdInt64(int64(n1), int64(n2))
		n1g, n2g := float64(int64(n1)/g), float64(int64(n2)/g)
		// If lcm(n1, n2) is too big, switch from exact to asymp
		// (Python true division, as in scipy).
		if n1g >= float64(math.MaxInt32)/n2g {
			return KSAsymp
		}
		return KSExact
	default: // KSAuto and unknown values
		if max(n1, n2) <= ksMaxAutoN {
			return KSExact
		}
		return KSAsymp
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
		g := gcdInt64(int64(n1), int64(n2))
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
