#!/usr/bin/env python3
"""Generate detector/celltest/testdata/golden.json: reference values for the
mean test of detector/celltest (mean.go).

Usage (from the repository root; needs numpy and scipy):

    python3 detector/celltest/testdata/gen_golden.py

Three oracles, one per path of the test:

- lattice: features whose reference keeps every value and whose values lie
  on a lattice (Poisson counts, rounded amounts). The exact distribution of
  D = S_w/n - S_r/m (window sum S_w of n draws, reference sum S_r of m
  draws, both from the reference's atoms) is computed by direct convolution
  in float64 (positive terms only, so relative accuracy ~1e-13 in the
  tails) and the exact two-sided p-value is stored.
- fisher: two-valued features; the p-value is twice the smaller
  hypergeometric tail (scipy.stats.hypergeom), the exact conditional test.
- montecarlo: non-lattice sketches (quantile breakpoints of a lognormal
  sigma 1.5 and of a zero-inflated exponential sample); the window and the
  reference are drawn as multinomial counts over the reference intervals
  (which is exactly the null model), B replicates, and the tail frequency at
  moderate p is stored with B so the Go test can apply a binomial tolerance.

The sketch construction (breakpoints at ranks ceil(i*m/(r-1)), scores at
midpoints or at heavy atoms) mirrors detector/build.go and celltest.Mean.
Output is deterministic (fixed seeds).
"""
import json
import math
import os

import numpy as np
import scipy
from scipy.stats import hypergeom

HERE = os.path.dirname(os.path.abspath(__file__))


def breakpoints(xs, r):
    xs = np.sort(xs)
    m = len(xs)
    u = np.unique(xs)
    if len(u) <= r:
        return u.tolist(), np.searchsorted(xs, u, side="right").tolist(), True
    q, rk = [], []
    for i in range(r):
        idx = int(math.ceil(i * m / (r - 1))) - 1
        idx = max(0, min(m - 1, idx))
        if q and xs[idx] == q[-1]:
            continue
        q.append(float(xs[idx]))
        rk.append(int(np.searchsorted(xs, xs[idx], side="right")))
    return q, rk, False


def scores(q, rk, exact):
    r = len(q)
    m = rk[-1]
    heavy = 2 * m // (r - 1) if r > 1 else 0
    x = []
    for j in range(r):
        c = rk[j] - (rk[j - 1] if j else 0)
        if j == 0 or exact or c > heavy:
            x.append(q[j])
        else:
            x.append(q[j - 1] / 2 + q[j] / 2)
    p = np.diff(np.concatenate([[0], rk])) / m
    return np.array(x), p


def standardize(x, p):
    mu = x[0] + float(np.sum(p * (x - x[0])))
    sd = math.sqrt(float(np.sum(p * (x - mu) ** 2)))
    return mu, sd


def conv_power(pmf, n):
    """pmf of the sum of n iid draws (support 0..), direct convolution."""
    result = np.array([1.0])
    base = pmf.copy()
    while n:
        if n & 1:
            result = np.convolve(result, base)
        n >>= 1
        if n:
            base = np.convolve(base, base)
    return result


def lattice_case(name, values, counts, n, sums):
    """values on a lattice of step delta; exact two-sided p for window sums."""
    values = np.array(values, dtype=float)
    counts = np.array(counts, dtype=np.int64)
    m = int(counts.sum())
    q = values.tolist()
    rk = np.cumsum(counts).tolist()
    x, p = scores(q, rk, True)
    mu, sd = standardize(x, p)
    delta = min(np.diff(values))
    k = np.rint((values - values[0]) / delta).astype(int)
    assert np.allclose(values[0] + k * delta, values)
    pmf = np.zeros(k[-1] + 1)
    pmf[k] = p
    pw = conv_power(pmf, n)  # window sum in lattice units above n*v0
    pr = conv_power(pmf, m)  # reference sum in lattice units above m*v0
    sr_obs = int(np.sum(counts * k))  # the reference's own sum
    sfw = np.cumsum(pw[::-1])[::-1]  # P(S_w >= i)
    cdfw = np.cumsum(pw)  # P(S_w <= i)
    out = []
    for sw in sums:
        # D >= d  <=>  m*S_w - n*S_r >= m*sw - n*sr_obs
        c = m * sw - n * sr_obs
        if c >= 0:
            # S_w >= (c + n*S_r)/m
            thr = np.ceil((c + n * np.arange(len(pr))) / m).astype(np.int64)
            ok = thr < len(sfw)
            tail = float(np.sum(pr[ok] * sfw[np.maximum(thr[ok], 0)]))
        else:
            thr = np.floor((c + n * np.arange(len(pr))) / m).astype(np.int64)
            ok = thr >= 0
            tail = float(np.sum(pr[ok] * cdfw[np.minimum(thr[ok], len(cdfw) - 1)]))
        mean_w = values[0] + sw * delta / n
        d = (mean_w - mu) / sd
        out.append({"window_sum": sw, "d": d, "p": min(1.0, 2 * tail)})
    return {"name": name, "kind": "lattice", "breakpoints": q, "ranks": rk, "exact": True,
            "n": n, "cases": out}


def scale_lattice_case(name, values, counts, n, t_grid):
    """scale test (celltest.NewScale) of an exact lattice reference: the
    scores |x - c| (c the median value) are again a lattice; exact p as in
    lattice_case, stored against the original breakpoints."""
    values = np.array(values, dtype=float)
    counts = np.array(counts, dtype=np.int64)
    m = int(counts.sum())
    rk = np.cumsum(counts)
    c = values[np.argmax(2 * rk >= m)]
    dev = np.abs(values - c)
    u = np.unique(dev)
    ucount = np.array([counts[dev == v].sum() for v in u])
    p = ucount / m
    mu, sd = standardize(u, p)
    sdv = sd * math.sqrt(n)
    mean_sum = n * mu
    delta = min(np.diff(u))
    sums = sorted({int(round((mean_sum + t * sdv - n * u[0]) / delta)) for t in t_grid})
    inner = lattice_case(name, u.tolist(), ucount.tolist(), n, sums)
    inner["kind"] = "scale_lattice"
    inner["breakpoints"] = values.tolist()
    inner["ranks"] = rk.tolist()
    return inner


def fisher_case(name, m, kr, n, ks):
    out = []
    N, K = n + m, None
    for k in ks:
        K = k + kr
        mean = n * K / N
        if k >= mean:
            t = hypergeom.sf(k - 1, N, K, n)
        else:
            t = hypergeom.cdf(k, N, K, n)
        out.append({"upper": k, "p": min(1.0, 2 * float(t))})
    return {"name": name, "kind": "fisher", "breakpoints": [0.0, 1.0], "ranks": [m - kr, m],
            "exact": True, "n": n, "cases": out}


def mc_case(name, sample, r, n, ds, B, seed):
    q, rk, exact = breakpoints(sample, r)
    x, p = scores(q, rk, exact)
    mu, sd = standardize(x, p)
    z = (x - mu) / sd
    m = rk[-1]
    rng = np.random.default_rng(seed)
    D = np.empty(B)
    chunk = 100000
    for s in range(0, B, chunk):
        b = min(chunk, B - s)
        cw = rng.multinomial(n, p, size=b)
        cr = rng.multinomial(m, p, size=b)
        D[s:s + b] = cw @ z / n - cr @ z / m
    out = []
    for d in ds:
        hits = int(np.sum(D >= d)) if d > 0 else int(np.sum(D <= d))
        out.append({"d": d, "hits": hits, "p": min(1.0, 2 * hits / B)})
    return {"name": name, "kind": "montecarlo", "breakpoints": q, "ranks": rk, "exact": exact,
            "n": n, "replicates": B, "cases": out}


def main():
    cases = []
    # Poisson(3) counts, reference of 500 rows; window 100 and 1000.
    vals = list(range(0, 11))
    pm = [math.exp(-3) * 3 ** k / math.factorial(k) for k in vals]
    cnt = [max(1, round(500 * v)) for v in pm]
    lam_sum = sum(c * v for c, v in zip(cnt, vals))
    mref = sum(cnt)
    for n in (100, 1000):
        mean_sum = n * lam_sum / mref
        sdv = math.sqrt(n * 3.0)
        sums = sorted({int(round(mean_sum + t * sdv)) for t in (-8, -7, -6, -5, -4, -3, -2, -1, 1, 2, 3, 4, 5, 6, 7, 8, 9)})
        cases.append(lattice_case(f"poisson3_m{mref}_n{n}", vals, cnt, n, sums))
    # Rounded amounts: values 0.5 apart, skewed counts.
    vals = [0.5 * k for k in range(0, 9)]
    cnt = [300, 250, 180, 120, 70, 40, 20, 12, 8]
    for n in (100,):
        mref = sum(cnt)
        mean_sum = n * sum(c * k for c, k in zip(cnt, range(9))) / mref
        sdv = math.sqrt(n * 3.0)
        sums = sorted({int(round(mean_sum + t * sdv)) for t in (-4, -3, -2, 2, 3, 4, 5, 6)})
        cases.append(lattice_case(f"rounded_m{mref}_n{n}", vals, cnt, n, sums))
    # Scale test on Poisson(3) counts and on rounded amounts.
    vals = list(range(0, 11))
    cnt = [max(1, round(500 * math.exp(-3) * 3 ** k / math.factorial(k))) for k in vals]
    cases.append(scale_lattice_case("scale_poisson3_m500_n200", vals, cnt, 200, (-6, -4, -3, -2, 2, 3, 4, 6, 8)))
    vals = [0.5 * k for k in range(0, 9)]
    cnt = [300, 250, 180, 120, 70, 40, 20, 12, 8]
    cases.append(scale_lattice_case("scale_rounded_m1000_n300", vals, cnt, 300, (-5, -3, -2, 2, 3, 5, 7)))
    # Rare 0/1 flag, p = 0.01: Fisher.
    cases.append(fisher_case("flag_p0.01_m50000_n1000", 50000, 500, 1000,
                             [0, 1, 2, 4, 6, 10, 15, 20, 25, 30, 40, 60]))
    cases.append(fisher_case("flag_p0.3_m20000_n500", 20000, 6000, 500,
                             [100, 120, 140, 150, 160, 180, 200, 230]))
    # Non-lattice sketches: Monte Carlo at moderate p.
    rng = np.random.default_rng(7)
    ln = rng.lognormal(0, 1.5, 20000)
    cases.append(mc_case("lognormal1.5_m20000_r200_n200", ln, 200, 200,
                         [-0.12, -0.1, -0.08, 0.15, 0.2, 0.25, 0.3, 0.35], 2000000, 11))
    zi = np.where(rng.random(20000) < 0.6, 0.0, rng.exponential(1.0, 20000))
    cases.append(mc_case("zeroinfl_exp_m20000_r200_n500", zi, 200, 500,
                         [-0.12, -0.1, 0.1, 0.14, 0.18], 2000000, 12))
    out = {"generator": "detector/celltest/testdata/gen_golden.py",
           "numpy": np.__version__, "scipy": scipy.__version__, "sets": cases}
    with open(os.path.join(HERE, "golden.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
