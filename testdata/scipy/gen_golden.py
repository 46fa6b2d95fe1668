#!/usr/bin/env python3
"""Generate testdata/scipy/golden.json: scipy reference values for driftd's
detector/ksdist/ksdist.go and detector/stats.go.

Usage (from the repository root):

    python3 testdata/scipy/gen_golden.py            # writes testdata/scipy/golden.json
    python3 testdata/scipy/gen_golden.py --check    # regenerates and compares

The output is deterministic: there is no random state. The two-sample KS cases
do not store their samples. Both this script and the Go tests regenerate them
from xorshift64* (below) and then apply only transforms whose IEEE-754 results
are the same in Python and Go:
    affine: x = a + b*u
    grid:   x = a + b*(floor(u*k)/k)      (ties)
Each operation is a single correctly rounded IEEE operation. Go must not fuse
b*u + a into an FMA (it wraps the product in float64()).

Every case records which code path scipy takes, so the Go tests can check
their routing as well as the values.
"""

import argparse
import json
import math
import os
import platform
import sys
import warnings
from fractions import Fraction

import numpy as np
import scipy
from scipy import special, stats
from scipy.spatial import distance

MASK64 = (1 << 64) - 1
XS_MULT = 2685821657736338717


def xorshift64star(seed, n):
    """n uniforms in [0,1) from xorshift64* (Vigna), 53-bit mantissas."""
    x = seed & MASK64
    if x == 0:
        raise ValueError("seed must be non-zero")
    out = [0.0] * n
    scale = 2.0 ** -53
    for i in range(n):
        x ^= x >> 12
        x ^= (x << 25) & MASK64
        x ^= x >> 27
        o = (x * XS_MULT) & MASK64
        out[i] = (o >> 11) * scale
    return out


def transform(us, spec):
    a = float(spec["a"])
    b = float(spec["b"])
    if spec["kind"] == "affine":
        return [a + b * u for u in us]
    if spec["kind"] == "grid":
        k = float(spec["k"])
        return [a + b * (math.floor(u * k) / k) for u in us]
    raise ValueError(spec)


def affine(a, b):
    return {"kind": "affine", "a": a, "b": b}


def grid(k, a, b):
    return {"kind": "grid", "k": k, "a": a, "b": b}


# ---------------------------------------------------------------- ks_2samp


def exact_h(x, y):
    """Integer lattice distance h = max |c1*(lcm/n1) - c2*(lcm/n2)| where c1,
    c2 count values <= t, over every pooled value t (scipy's right-side
    ECDFs)."""
    n1, n2 = len(x), len(y)
    g = math.gcd(n1, n2)
    lcm = (n1 // g) * n2
    s1, s2 = lcm // n1, lcm // n2
    xs, ys = sorted(x), sorted(y)
    i = j = 0
    h = 0
    while i < n1 or j < n2:
        if j >= n2 or (i < n1 and xs[i] <= ys[j]):
            t = xs[i]
        else:
            t = ys[j]
        while i < n1 and xs[i] <= t:
            i += 1
        while j < n2 and ys[j] <= t:
            j += 1
        h = max(h, abs(i * s1 - j * s2))
    return h, lcm


def resolve_mode(n1, n2, method):
    """Mirror of ks_2samp's choice, before any exact-computation failure."""
    if method == "auto":
        return "exact" if max(n1, n2) <= 10000 else "asymp"
    if method == "exact":
        g = math.gcd(n1, n2)
        if n1 // g >= np.iinfo(np.int32).max / (n2 // g):
            return "asymp_int32"
        return "exact"
    return "asymp"


def kolmogn_path(n, x, cdf):
    """Mirror of the routing in scipy.stats._ksstats._kolmogn."""
    if x >= 1.0:
        return "x_ge_1"
    if x <= 0.0:
        return "x_le_0"
    t = n * x
    if t <= 1.0:
        return "t_le_half" if t <= 0.5 else "t_le_1"
    if t >= n - 1:
        return "t_ge_n_minus_1"
    if x >= 0.5:
        return "x_ge_half"
    nxsquared = t * x
    if n <= 140:
        if nxsquared <= 0.754693:
            return "small_durbin"
        if nxsquared <= 4:
            return "small_pomeranz"
        return "small_smirnov"
    if not cdf:
        if nxsquared >= 370.0:
            return "large_370"
        if nxsquared >= 2.2:
            return "large_smirnov"
    if nxsquared >= 18.0:
        return "large_cdf_one"
    if n <= 100000 and n * x ** 1.5 <= 1.4:
        return "large_durbin"
    return "large_pelz_good"


def ks2_run(x, y, method):
    """Run scipy.stats.ks_2samp and classify the path it took."""
    n1, n2 = len(x), len(y)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        res = stats.ks_2samp(x, y, alternative="two-sided", method=method)
    msgs = [str(m.message) for m in w if issubclass(m.category, RuntimeWarning)]
    mode = resolve_mode(n1, n2, method)
    if mode == "exact":
        if any("Exact calculation unsuccessful" in m for m in msgs):
            path = "asymp_exact_failed"
        else:
            h, _ = exact_h(x, y)
            if h == 0:
                path = "exact_h0"
            elif n1 == n2:
                path = "exact_square"
            else:
                path = "exact_inside"
    elif mode == "asymp_int32":
        assert any("Switching to 'asymp'" in m for m in msgs), msgs
        path = "asymp_int32"
    else:
        path = "asymp"
    return float(res.statistic), float(res.pvalue), path


KS2_CASES = [
    # group, name, n1, n2, seed1, seed2, transform1, transform2
    # exact, n1 == n2 (_compute_prob_outside_square)
    ("exact_equal", "n5_shift", 5, 5, 11, 12, affine(0.0, 1.0), affine(0.3, 1.0)),
    ("exact_equal", "n20_shift", 20, 20, 21, 22, affine(0.0, 1.0), affine(0.2, 1.0)),
    ("exact_equal", "n20_ties_k4", 20, 20, 23, 24, grid(4, 0.0, 1.0), grid(4, 0.0, 1.0)),
    ("exact_equal", "n200_shift", 200, 200, 31, 32, affine(0.0, 1.0), affine(0.12, 1.0)),
    ("exact_equal", "n200_ties_k10", 200, 200, 33, 34, grid(10, 0.0, 1.0), grid(10, 0.1, 1.0)),
    ("exact_equal", "n1000_h0", 1000, 1000, 41, 42, affine(0.0, 1.0), affine(0.0, 1.0)),
    ("exact_equal", "n1000_shift", 1000, 1000, 43, 44, affine(0.0, 1.0), affine(0.08, 1.0)),
    ("exact_equal", "n1000_identical", 1000, 1000, 45, 45, affine(0.0, 1.0), affine(0.0, 1.0)),
    ("exact_equal", "n3000_ties_k50", 3000, 3000, 51, 52, grid(50, 0.0, 1.0), grid(50, 0.02, 1.0)),
    ("exact_equal", "n10000_shift", 10000, 10000, 61, 62, affine(0.0, 1.0), affine(0.02, 1.0)),
    ("exact_equal", "n10000_h0", 10000, 10000, 63, 64, affine(-3.0, 2.0), affine(-3.0, 2.0)),
    ("exact_equal", "n100_separated", 100, 100, 71, 72, affine(0.0, 1.0), affine(2.0, 1.0)),
    ("exact_equal", "n500_scale", 500, 500, 73, 74, affine(0.0, 1.0), affine(-0.125, 1.25)),
    # exact, n1 != n2 (_compute_outer_prob_inside_method)
    ("exact_unequal", "200x300_shift", 200, 300, 101, 102, affine(0.0, 1.0), affine(0.1, 1.0)),
    ("exact_unequal", "1000x9999_shift", 1000, 9999, 103, 104, affine(0.0, 1.0), affine(0.03, 1.0)),
    ("exact_unequal", "1000x9999_h0", 1000, 9999, 105, 106, affine(0.0, 1.0), affine(0.0, 1.0)),
    ("exact_unequal", "37x53_shift", 37, 53, 107, 108, affine(0.0, 1.0), affine(0.2, 1.0)),
    ("exact_unequal", "500x1500_ties_k20", 500, 1500, 109, 110, grid(20, 0.0, 1.0), grid(20, 0.05, 1.0)),
    ("exact_unequal", "1000x10000_shift", 1000, 10000, 111, 112, affine(0.0, 1.0), affine(0.04, 1.0)),
    ("exact_unequal", "7x3_shift", 7, 3, 113, 114, affine(0.0, 1.0), affine(0.5, 1.0)),
    ("exact_unequal", "10000x9999_shift", 10000, 9999, 115, 116, affine(0.0, 1.0), affine(0.02, 1.0)),
    ("exact_unequal", "600x500_ties_k8", 600, 500, 117, 118, grid(8, 0.0, 1.0), grid(8, 0.0, 1.0)),
    ("exact_unequal", "1x5", 1, 5, 119, 120, affine(0.0, 1.0), affine(0.0, 1.0)),
    ("exact_unequal", "300x200_scale", 300, 200, 121, 122, affine(0.0, 1.0), affine(0.25, 0.5)),
    ("exact_unequal", "2500x4000_separated", 2500, 4000, 123, 124, affine(0.0, 1.0), affine(0.75, 1.0)),
    # exact attempted but the result is 1.0000000000000002 (h = 1, n1 = n2):
    # scipy warns and falls back to asymp
    ("exact_failed", "n30_ties_k2_h1", 30, 30, 1006, 2006, grid(2, 0.0, 1.0), grid(2, 0.0, 1.0)),
    ("exact_failed", "n200_ties_k2_h1", 200, 200, 1001, 2001, grid(2, 0.0, 1.0), grid(2, 0.0, 1.0)),
    # asymp under auto (max(n1, n2) > 10000)
    ("asymp", "12000x500_shift", 12000, 500, 201, 202, affine(0.0, 1.0), affine(0.05, 1.0)),
    ("asymp", "20000x20000_shift", 20000, 20000, 203, 204, affine(0.0, 1.0), affine(0.01, 1.0)),
    ("asymp", "15000x12000_h0", 15000, 12000, 205, 206, affine(0.0, 1.0), affine(0.0, 1.0)),
    ("asymp", "50000x49999_shift", 50000, 49999, 207, 208, affine(0.0, 1.0), affine(0.01, 1.0)),
    ("asymp", "30000x1000_ties_k100", 30000, 1000, 209, 210, grid(100, 0.0, 1.0), grid(100, 0.0, 1.0)),
    ("asymp", "10001x10001_shift", 10001, 10001, 211, 212, affine(0.0, 1.0), affine(0.03, 1.0)),
    ("asymp", "300000x300000_h0", 300000, 300000, 213, 214, affine(0.0, 1.0), affine(0.0, 1.0)),
    ("asymp", "10001x3_shift", 10001, 3, 215, 216, affine(0.0, 1.0), affine(0.5, 1.0)),
]


def gen_ks2():
    out = []
    for group, name, n1, n2, s1, s2, t1, t2 in KS2_CASES:
        x = transform(xorshift64star(s1, n1), t1)
        y = transform(xorshift64star(s2, n2), t2)
        h, lcm = exact_h(x, y)
        d_auto, p_auto, path_auto = ks2_run(x, y, "auto")
        d_exact, p_exact, path_exact = ks2_run(x, y, "exact")
        d_asymp, p_asymp, path_asymp = ks2_run(x, y, "asymp")
        assert abs(d_auto - h / lcm) < 1e-12, (name, d_auto, h, lcm)
        m, n = sorted([float(n1), float(n2)], reverse=True)
        n_eff = int(np.round(m * n / (m + n)))
        out.append({
            "group": group, "name": name,
            "n1": n1, "n2": n2, "seed1": s1, "seed2": s2,
            "transform1": t1, "transform2": t2,
            "d": d_auto, "d_asymp": d_asymp, "h": h, "lcm": lcm,
            "p_auto": p_auto, "path_auto": path_auto,
            "p_exact": p_exact, "path_exact": path_exact,
            "p_asymp": p_asymp, "path_asymp": path_asymp,
            "n_eff": n_eff, "kstwo_path": kolmogn_path(n_eff, d_asymp, False),
        })
    return out


# ---------------------------------------------------------------- kstwo

KSTWO_TARGETED = [
    # group, n, d
    ("t_le_half", 10, 0.04), ("t_le_half", 140, 0.003), ("t_le_half", 1000, 0.0004),
    ("t_le_1", 10, 0.08), ("t_le_1", 100, 0.0075), ("t_le_1", 140, 0.005),
    ("t_le_1", 1000, 0.0008), ("t_le_1", 200000, 0.000004), ("t_le_1", 1, 0.7),
    ("small_durbin", 5, 0.3), ("small_durbin", 10, 0.2), ("small_durbin", 50, 0.1),
    ("small_durbin", 100, 0.08), ("small_durbin", 140, 0.07), ("small_durbin", 140, 0.0734),
    ("small_pomeranz", 10, 0.3), ("small_pomeranz", 50, 0.2), ("small_pomeranz", 100, 0.15),
    ("small_pomeranz", 140, 0.16), ("small_pomeranz", 20, 0.44), ("small_pomeranz", 137, 0.085),
    ("small_smirnov", 100, 0.25), ("small_smirnov", 140, 0.3), ("small_smirnov", 30, 0.45),
    ("t_ge_n_minus_1", 10, 0.95), ("t_ge_n_minus_1", 3, 0.7), ("t_ge_n_minus_1", 200, 0.996),
    ("x_ge_half", 10, 0.6), ("x_ge_half", 100, 0.5), ("x_ge_half", 140, 0.7), ("x_ge_half", 1000, 0.55),
    ("large_durbin", 1000, 0.012), ("large_durbin", 200, 0.035), ("large_durbin", 100000, 0.0002),
    ("large_durbin", 50000, 0.0005), ("large_durbin", 141, 0.0201),
    ("large_pelz_good", 1000, 0.03), ("large_pelz_good", 1000, 0.045), ("large_pelz_good", 5000, 0.01),
    ("large_pelz_good", 141, 0.1), ("large_pelz_good", 100001, 0.003), ("large_pelz_good", 1000000, 0.001),
    ("large_pelz_good", 150000, 0.0021),
    ("large_smirnov", 1000, 0.06), ("large_smirnov", 1000, 0.2), ("large_smirnov", 5000, 0.05),
    ("large_smirnov", 200000, 0.005), ("large_smirnov", 141, 0.125),
    ("large_370", 2000, 0.45), ("large_370", 10000, 0.2), ("large_370", 1000000, 0.02),
    ("x_ge_1", 10, 1.0), ("x_ge_1", 1000, 1.5),
    ("x_le_0", 10, 0.0), ("x_le_0", 1000, -0.25),
]

KSTWO_GRID_N = [1, 2, 3, 4, 5, 7, 10, 15, 20, 30, 50, 80, 100, 120, 140, 141, 150, 200,
                300, 500, 1000, 2000, 5000, 10000, 50000, 100000, 100001, 200000]
KSTWO_GRID_D = [0.001, 0.003, 0.005, 0.01, 0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2,
                0.3, 0.4, 0.5, 0.6, 0.8, 0.95, 0.999]


def gen_kstwo():
    out = []
    cases = [(g, n, d) for g, n, d in KSTWO_TARGETED]
    cases += [("grid", n, d) for n in KSTWO_GRID_N for d in KSTWO_GRID_D]
    for group, n, d in cases:
        sf = float(stats.kstwo.sf(d, n))
        cdf = float(stats.kstwo.cdf(d, n))
        path = kolmogn_path(n, d, False)
        if group != "grid":
            assert path == group, (group, n, d, path)
        out.append({"group": group, "n": n, "d": d, "sf": sf, "cdf": cdf,
                    "path": path, "cdf_path": kolmogn_path(n, d, True)})
    return out


# ---------------------------------------------------------------- smirnov


def smirnov_path(n, x):
    """Mirror of the branch structure of xsf::cephes::_smirnov."""
    if n == 1:
        return "n_eq_1"
    if x == 0.0:
        return "x_eq_0"
    if x == 1.0:
        return "x_eq_1"
    nx = Fraction(x) * n
    nxfl = math.floor(nx)
    alpha = float(nx - nxfl)
    if alpha == 1.0:
        nxfl, alpha = nxfl + 1, 0.0
    n1mxceil = n - nxfl + (1 if alpha == 0 else 0)
    if nxfl == 0 or (nxfl == 1 and alpha == 0):
        return "x_le_1_over_n"
    if -2 * n * x * x < -7.08396418532264106224e2:
        return "underflow"
    if nxfl >= n - 1:
        return "x_ge_1_minus_1_over_n"
    if n > 1000000:
        return "n_gt_1e6"
    n_upper = n - n1mxceil + 1
    use_upper = (n_upper <= 1 and x < 0.5) or (n >= 10 and n_upper <= 3 and x <= 0.5 / math.sqrt(n))
    return "upper_sum" if use_upper else "lower_sum"


SMIRNOV_GRID_N = [1, 2, 3, 5, 10, 11, 20, 50, 100, 141, 1000, 10000, 100000, 1000000,
                  1000001, 2000000, 10000000]
SMIRNOV_GRID_D = [0.0005, 0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 0.99]


def gen_smirnov():
    cases = []
    for n in SMIRNOV_GRID_N:
        for d in SMIRNOV_GRID_D:
            if n >= 1000000 and d < 0.001:
                continue
            cases.append(("grid", n, d))
    for n in [2, 5, 10, 100, 1000, 3000000]:
        cases.append(("x_eq_1_over_n", n, 1.0 / n))
        cases.append(("x_eq_1_minus_1_over_n", n, 1.0 - 1.0 / n))
    cases += [("upper_sum", 100, 0.025), ("upper_sum", 10000, 0.00025), ("upper_sum", 1000, 0.0021),
              ("edge", 10, 0.0), ("edge", 10, 1.0), ("edge", 1, 0.3), ("n_gt_1e6", 5000000, 0.0004)]
    out = []
    for group, n, d in cases:
        out.append({"group": group, "n": n, "d": d, "sf": float(special.smirnov(n, d)),
                    "path": smirnov_path(n, d)})
    return out


# ---------------------------------------------------------------- kolmogorov

KOLMOGOROV_X = [0.0, 0.01, 0.04, 0.0406, 0.0407, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7,
                0.8, 0.82, 0.8200000001, 0.83, 0.9, 1.0, 1.2, 1.36, 1.5, 2.0, 3.0, 4.0,
                5.0, 6.0, 8.0, 10.0, 20.0, 27.0, 30.0]


def gen_kolmogorov():
    return [{"x": x, "sf": float(special.kolmogorov(x)),
             "path": "series_small_x" if x <= 0.82 else "series_large_x"} for x in KOLMOGOROV_X]


# ---------------------------------------------------------------- Welch

WELCH = [
    # n1, mean1, var1, n2, mean2, var2
    (30, 1.0, 1.0, 40, 1.2, 1.5),
    (1000, 0.0, 1.0, 1000000, 0.05, 1.0),
    (10, 5.0, 100.0, 1000, 0.0, 0.01),
    (5, 0.0, 1.0, 5, 0.0, 1.0),
    (2, 0.0, 1.0, 2, 3.0, 4.0),
    (50, 10.0, 4.0, 60, 12.0, 9.0),
    (1000, 0.3, 1.0, 100000, 0.0, 1.0),
    (3, 1.0, 0.0, 4, 2.0, 1.0),
    (20000000, 0.0005, 1.0, 30000000, 0.0, 1.0),
    (100000000, 0.001, 1.0, 100000000, 0.0, 1.0),
    (1000, 1e6 + 0.1, 2.5e-3, 1000000, 1e6, 2.4e-3),
    (12, -3.5, 0.25, 7, -2.0, 16.0),
    (1000, 5.0, 1e-12, 500, 5.0000001, 1e-12),
    (4000, 0.0, 1.0, 4000, 0.15, 1.0),
]


def gen_welch():
    out = []
    for n1, m1, v1, n2, m2, v2 in WELCH:
        res = stats.ttest_ind_from_stats(m1, np.sqrt(v1), n1, m2, np.sqrt(v2), n2, equal_var=False)
        vn1, vn2 = v1 / n1, v2 / n2
        df = (vn1 + vn2) ** 2 / (vn1 ** 2 / (n1 - 1) + vn2 ** 2 / (n2 - 1))
        out.append({"n1": n1, "mean1": m1, "var1": v1, "n2": n2, "mean2": m2, "var2": v2,
                    "t": float(res.statistic), "df": float(df), "p": float(res.pvalue)})
    return out


# ---------------------------------------------------------------- chi-square


def gen_chisquare():
    cases = []
    # (observed counts, expected proportions)
    cases.append(([48, 52], [0.5, 0.5]))
    cases.append(([30, 70], [0.5, 0.5]))
    cases.append(([10, 20, 30], [0.2, 0.3, 0.5]))
    cases.append(([120, 95, 110, 80, 101, 94], [1 / 6] * 6))
    cases.append(([5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25], [1 / 11] * 11))
    props = [0.5 ** (i + 1) for i in range(30)] + [0.5 ** 30]
    counts = [int(round(10000 * p)) + (i % 3) for i, p in enumerate(props)]
    cases.append((counts, props))
    props = [(i + 1) / 5050 for i in range(100)]
    counts = [int(round(5050 * 3 * p)) + ((i * 7) % 5) - 2 for i, p in enumerate(props)]
    cases.append((counts, props))
    cases.append(([900, 50, 50], [1 / 3, 1 / 3, 1 / 3]))
    out = []
    for obs, props in cases:
        obs = np.asarray(obs, dtype=float)
        props = np.asarray(props, dtype=float)
        exp = props / props.sum() * obs.sum()
        res = stats.chisquare(obs, exp)
        out.append({"observed": obs.tolist(), "expected": exp.tolist(),
                    "stat": float(res.statistic), "df": len(obs) - 1, "p": float(res.pvalue)})
    return out


# ---------------------------------------------------------------- JS and PSI

DIST_PAIRS = [
    ([0.5, 0.5], [0.5, 0.5]),
    ([1.0, 0.0], [0.0, 1.0]),
    ([0.1, 0.2, 0.7], [0.2, 0.2, 0.6]),
    ([10, 20, 30, 40], [40, 30, 20, 10]),
    ([1, 0, 3, 5, 0, 2], [2, 1, 0, 4, 1, 2]),
    ([0.25, 0.25, 0.25, 0.25], [0.2499, 0.2501, 0.25, 0.25]),
    ([1000, 1, 1, 1], [1, 1, 1, 1000]),
    ([3, 3, 3], [1, 1, 1]),
]


def psi_evidently(expected, actual):
    e = np.asarray(expected, dtype=float)
    a = np.asarray(actual, dtype=float)
    e = e / e.sum()
    a = a / a.sum()
    total = 0.0
    for ei, ai in zip(e, a):
        ei = 0.0001 if ei == 0 else ei
        ai = 0.0001 if ai == 0 else ai
        total += (ai - ei) * np.log(ai / ei)
    return float(total)


def gen_js():
    return [{"p": [float(v) for v in p], "q": [float(v) for v in q],
             "dist": float(distance.jensenshannon(p, q, base=2))} for p, q in DIST_PAIRS]


def gen_psi():
    return [{"expected": [float(v) for v in e], "actual": [float(v) for v in a],
             "psi": psi_evidently(e, a)} for e, a in DIST_PAIRS]


# ---------------------------------------------------------------- binomial

BINOM = [
    (0, 10, 0.3), (1, 10, 0.3), (5, 10, 0.5), (10, 10, 0.5), (11, 10, 0.5),
    (3, 100, 0.01), (50, 1000, 0.03), (600, 1000, 0.5), (500, 1000, 0.5),
    (5000, 1000000, 0.005), (5400, 1000000, 0.005), (1, 1, 0.0), (1, 1, 1.0),
    (0, 0, 0.5), (20, 1000, 0.001), (2, 5, 0.9), (-3, 5, 0.2), (1, 1000000, 1e-7),
    (150, 200, 0.7),
]


def gen_binom():
    return [{"k": k, "n": n, "p": p, "sf": float(stats.binom.sf(k - 1, n, p))} for k, n, p in BINOM]


# ---------------------------------------------------------------- main


def build():
    return {
        "generator": "testdata/scipy/gen_golden.py",
        "scipy_version": scipy.__version__,
        "numpy_version": np.__version__,
        "python_version": platform.python_version(),
        "rng": "xorshift64*: x^=x>>12; x^=x<<25; x^=x>>27; out=x*2685821657736338717; u=(out>>11)*2^-53",
        "ks2samp": gen_ks2(),
        "kstwo": gen_kstwo(),
        "smirnov": gen_smirnov(),
        "kolmogorov": gen_kolmogorov(),
        "welch": gen_welch(),
        "chisquare": gen_chisquare(),
        "jensenshannon": gen_js(),
        "psi": gen_psi(),
        "binom_sf": gen_binom(),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden.json"))
    ap.add_argument("--check", action="store_true", help="compare with the existing file instead of writing")
    args = ap.parse_args()
    text = json.dumps(build(), indent=1, sort_keys=True, allow_nan=False) + "\n"
    if args.check:
        with open(args.out) as f:
            old = f.read()
        if old != text:
            print("golden.json differs from a fresh generation", file=sys.stderr)
            sys.exit(1)
        print("golden.json is up to date")
        return
    with open(args.out, "w") as f:
        f.write(text)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
