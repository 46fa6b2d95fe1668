#!/usr/bin/env python3
"""Generate testdata/scipy/outofrange.json: reference values for
detector.OutOfRangeSF, the null distribution of the out-of-range count.

Usage (from the repository root; numpy==1.26.4 scipy==1.17.1 mpmath==1.4.1):

    python3 testdata/scipy/gen_outofrange.py           # writes the JSON
    python3 testdata/scipy/gen_outofrange.py --check   # regenerates and compares

Under no drift, the number K of n new values outside the range of m reference
values is beta-binomial(n, a=2, b=m-1). Each case records P(K >= k):

  "sf"    mpmath at 60 digits, summing the beta-binomial pmf
          C(n, j) B(j+2, n-j+m-1) / B(2, m-1) term by term (the golden);
  "scipy" scipy.stats.betabinom.sf(k - 1, n, 2, m - 1), for comparison: it
          sums in floating point and drifts from the true value in far tails
          (relative 1e-4 at 6e-8), so the tests do not hold Go to it there.

The script also checks the closed form OutOfRangeSF uses, in exact rational
arithmetic, against the mpmath sum (relative 1e-40).
"""

import argparse
import json
import os
import sys
from fractions import Fraction
from math import comb

import mpmath
import scipy
from scipy import stats

mpmath.mp.dps = 60

CASES = []
for m in (2, 3, 5, 10, 89, 100, 1000, 50000):
    for n in (1, 10, 100, 1000, 10000):
        p0 = 2.0 / (m + 1)
        ks = sorted({1, 2, max(1, round(n * p0)), max(1, round(2 * n * p0)), max(1, round(4 * n * p0)),
                     max(1, round(n * min(1.0, 8 * p0))), n})
        CASES.extend((k, n, m) for k in ks if k <= n)


def closed_form(k, n, m):
    """P(K >= k) by the closed form of OutOfRangeSF, exactly."""
    L = n - k
    return Fraction(comb(L + m - 1, m - 1)) * (Fraction(n + 1) - Fraction((m - 1) * L, m)) / comb(n + m, m)


def mp_sf(k, n, m):
    a, b = mpmath.mpf(2), mpmath.mpf(m - 1)
    lb = mpmath.log(mpmath.beta(a, b))
    total = mpmath.mpf(0)
    for j in range(k, n + 1):
        total += mpmath.exp(mpmath.log(mpmath.binomial(n, j)) + mpmath.log(mpmath.beta(j + a, n - j + b)) - lb)
    return total


def generate():
    out = []
    for k, n, m in CASES:
        sf = mp_sf(k, n, m)
        exact = closed_form(k, n, m)
        assert abs(sf - mpmath.mpf(exact.numerator) / exact.denominator) <= mpmath.mpf("1e-40") * sf, (k, n, m)
        out.append({"k": k, "n": n, "m": m, "sf": float(sf), "scipy": float(stats.betabinom.sf(k - 1, n, 2, m - 1))})
    return {"mpmath": mpmath.__version__, "scipy": scipy.__version__, "cases": out}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "outofrange.json")
    text = json.dumps(generate(), indent=1) + "\n"
    if args.check:
        with open(path) as f:
            if f.read() != text:
                sys.exit("outofrange.json differs from a fresh generation")
        return
    with open(path, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
