#!/usr/bin/env python3
"""Generate testdata/perf/golden.json: scikit-learn and scipy reference values
for driftd's detector/perf (realized performance of a binary classifier).

Usage (from the repository root, with the pinned versions of .ci/run):

    python3 testdata/perf/gen_golden.py            # writes testdata/perf/golden.json
    python3 testdata/perf/gen_golden.py --check    # regenerates and compares

The data sets are stored in the JSON (scores and labels), so the Go tests
need no random generator of their own. The generator is seeded: the output
is deterministic.
"""

import argparse
import json
import math
import os
import platform
import random
import sys

import numpy as np
import scipy
import sklearn
from scipy import stats
from sklearn import metrics

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "golden.json")


def dataset(name, n, rng, score, label, threshold=0.5):
    scores, labels = [], []
    for _ in range(n):
        s = score(rng)
        scores.append(s)
        labels.append(1 if label(rng, s) else 0)
    y = np.array(labels)
    p = np.array(scores)
    pred = (p >= threshold).astype(int)
    eps = np.finfo(np.float64).eps
    pc = np.clip(p, eps, 1 - eps)
    ll = -(y * np.log(pc) + (1 - y) * np.log1p(-pc))
    br = (p - y) ** 2
    return {
        "name": name,
        "threshold": threshold,
        "scores": scores,
        "labels": labels,
        "roc_auc": metrics.roc_auc_score(y, p),
        "average_precision": metrics.average_precision_score(y, p),
        "log_loss": metrics.log_loss(y, p, labels=[0, 1]),
        "log_loss_var": float(np.var(ll, ddof=1)),
        "brier": metrics.brier_score_loss(y, p),
        "brier_var": float(np.var(br, ddof=1)),
        "precision": metrics.precision_score(y, pred, zero_division=0),
        "recall": metrics.recall_score(y, pred, zero_division=0),
        "positives": int(y.sum()),
        "predicted_positives": int(pred.sum()),
        "true_positives": int((pred * y).sum()),
    }


def datasets():
    rng = random.Random(20261202)
    out = []
    # A useful model: labels drawn with the score's probability; scores
    # rounded to 2 decimals (ties).
    out.append(dataset("calibrated_ties", 400, rng, lambda r: round(r.random(), 2), lambda r, s: r.random() < s))
    # A rare positive class (about 3%), continuous scores.
    out.append(dataset("rare_class", 1000, rng, lambda r: r.betavariate(1, 25), lambda r, s: r.random() < s, threshold=0.1))
    # Five score values only: heavy ties everywhere.
    out.append(dataset("five_levels", 300, rng, lambda r: r.choice([0.1, 0.3, 0.5, 0.7, 0.9]), lambda r, s: r.random() < s))
    # Scores at exactly 0 and 1 (log-loss clipping), some wrong.
    out.append(dataset("extremes", 200, rng, lambda r: r.choice([0.0, 1.0, 0.25, 0.75]), lambda r, s: r.random() < (0.9 if s >= 0.5 else 0.1)))
    # An uninformative model: AUC near 0.5.
    out.append(dataset("noise", 500, rng, lambda r: r.random(), lambda r, s: r.random() < 0.4))
    return out


def regression(name, n, rng, draw):
    preds, targets = [], []
    for _ in range(n):
        p, t = draw(rng)
        preds.append(p)
        targets.append(t)
    yp, yt = np.array(preds), np.array(targets)
    e = yp - yt
    return {
        "name": name,
        "predictions": preds,
        "targets": targets,
        "mae": metrics.mean_absolute_error(yt, yp),
        "mae_var": float(np.var(np.abs(e), ddof=1)),
        "mse": metrics.mean_squared_error(yt, yp),
        "mse_var": float(np.var(e * e, ddof=1)),
        "rmse": float(np.sqrt(metrics.mean_squared_error(yt, yp))),
        "bias": float(np.mean(e)),
        "error_var": float(np.var(e, ddof=1)),
    }


def regressions():
    rng = random.Random(20261203)
    out = []
    out.append(regression("gaussian", 500, rng, lambda r: (lambda t: (t + r.gauss(0, 2), t))(r.gauss(100, 15))))
    out.append(regression("biased_heavy_tail", 400, rng, lambda r: (lambda t: (t + 3 + r.paretovariate(2.5) * r.choice([-1, 1]), t))(r.uniform(0, 50))))
    out.append(regression("integers", 300, rng, lambda r: (float(r.randint(0, 9)), float(r.randint(0, 9)))))
    return out


def mean_change_tests():
    cases = []
    for nw, mw, vw, nr, mr, vr in [(1000, 0.3, 4.0, 50000, 0.0, 4.0), (1000, -0.05, 4.2, 50000, 0.0, 4.0), (200, 1.0, 1.0, 5000, 0.5, 2.0)]:
        r = stats.ttest_ind_from_stats(mw, math.sqrt(vw), nw, mr, math.sqrt(vr), nr, equal_var=False)
        cases.append({"n_win": nw, "mean_win": mw, "var_win": vw, "n_ref": nr, "mean_ref": mr, "var_ref": vr,
                      "t": float(r.statistic), "p": float(r.pvalue)})
    return cases


def hanley_mcneil_se(a, npos, nneg):
    q1 = a / (2 - a)
    q2 = 2 * a * a / (1 + a)
    return math.sqrt((a * (1 - a) + (npos - 1) * (q1 - a * a) + (nneg - 1) * (q2 - a * a)) / (npos * nneg))


def auc_tests():
    cases = []
    for ref, win, rp, rn, wp, wn in [
        (0.85, 0.80, 5000, 45000, 100, 900),
        (0.85, 0.70, 5000, 45000, 100, 900),
        (0.90, 0.91, 2000, 8000, 300, 700),
        (0.75, 0.60, 1000, 1000, 30, 970),
        (0.99, 0.95, 10000, 10000, 500, 500),
    ]:
        se = math.hypot(hanley_mcneil_se(win, wp, wn), hanley_mcneil_se(ref, rp, rn))
        z = (ref - win) / se
        cases.append({"ref": ref, "win": win, "ref_pos": rp, "ref_neg": rn, "win_pos": wp, "win_neg": wn,
                      "se_win": hanley_mcneil_se(win, wp, wn), "z": z, "p": float(stats.norm.cdf(-z))})
    return cases


def welch_tests():
    cases = []
    for nw, mw, vw, nr, mr, vr in [
        (1000, 0.45, 0.30, 50000, 0.40, 0.28),
        (1000, 0.40, 0.28, 50000, 0.40, 0.28),
        (500, 0.60, 0.50, 20000, 0.40, 0.30),
        (1000, 0.10, 0.02, 50000, 0.12, 0.03),
        (200, 0.25, 0.05, 1000, 0.20, 0.04),
    ]:
        r = stats.ttest_ind_from_stats(mw, math.sqrt(vw), nw, mr, math.sqrt(vr), nr, equal_var=False, alternative="greater")
        cases.append({"n_win": nw, "mean_win": mw, "var_win": vw, "n_ref": nr, "mean_ref": mr, "var_ref": vr,
                      "t": float(r.statistic), "p": float(r.pvalue)})
    return cases


def fisher_tests():
    # (k, n) of the window against (kr, nr) of the reference: a small
    # validation set, a large one (close to the binomial), extreme tails.
    cases = []
    for k, n, kr, nr in [(30, 100, 50, 100), (5, 100, 40, 200), (70, 100, 720, 1000), (0, 50, 10, 100),
                         (12, 1000, 300, 10000), (60, 1000, 30, 1000), (450, 500, 950, 1000), (700, 1000, 90, 100),
                         (100, 1000, 800, 1000), (3, 3, 1, 5)]:
        table = [[k, n - k], [kr, nr - kr]]
        less = stats.fisher_exact(table, alternative="less").pvalue
        # driftd's two-sided p-value: the doubled smaller tail of the
        # hypergeometric (n draws from n + nr, k + kr marked).
        h = stats.hypergeom(n + nr, k + kr, n)
        doubled = min(1.0, 2 * min(h.cdf(k), h.sf(k - 1)))
        cases.append({"k": k, "n": n, "kr": kr, "nr": nr, "less": float(less), "two_sided_doubled": float(doubled)})
    return cases


def golden():
    return {
        "generator": "testdata/perf/gen_golden.py",
        "versions": {"python": platform.python_version(), "numpy": np.__version__, "scipy": scipy.__version__,
                     "scikit-learn": sklearn.__version__},
        "datasets": datasets(),
        "auc_drop": auc_tests(),
        "welch_greater": welch_tests(),
        "fisher": fisher_tests(),
        "regressions": regressions(),
        "welch_two_sided": mean_change_tests(),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true", help="compare with the committed file instead of writing it")
    args = ap.parse_args()
    g = golden()
    text = json.dumps(g, indent=1, sort_keys=True) + "\n"
    if args.check:
        with open(OUT) as f:
            old = json.load(f)
        old.pop("versions", None)
        g.pop("versions", None)
        if json.loads(json.dumps(g)) != old:
            print("testdata/perf/golden.json differs from a fresh generation", file=sys.stderr)
            sys.exit(1)
        print("testdata/perf/golden.json matches")
        return
    with open(OUT, "w") as f:
        f.write(text)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
