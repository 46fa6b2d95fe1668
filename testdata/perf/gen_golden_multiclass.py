#!/usr/bin/env python3
"""Generate testdata/perf/golden_multiclass.json: scikit-learn and scipy
reference values for driftd's multiclass realized performance (detector/perf
multiclass.go).

Usage (from the repository root, in a venv with requirements-multiclass.txt):

    python3 testdata/perf/gen_golden_multiclass.py          # writes the JSON
    python3 testdata/perf/gen_golden_multiclass.py --check  # regenerates and compares

Each case is a reference (validation labels and predictions) and a window of
production pairs, both stored in the JSON. For the window the file holds:

- accuracy (sklearn accuracy_score, unknown classes compared by name) and
  Fisher's exact one-sided p-value against the reference's correct count
  (scipy fisher_exact, alternative="less");
- per reference class with labels in the window: recall (sklearn
  recall_score) and Fisher's p-value against the reference's true positives
  of the class out of its support;
- macro-F1 over the reference classes present in the window (sklearn
  f1_score, labels=those classes, average="macro"), the reference's macro-F1
  over the same classes, the delta-method variance of each and the z test
  with p = norm.cdf(-z). The variance is computed here from a numerical
  gradient (central differences) of macro-F1 as a function of the confusion
  cell shares and the multinomial covariance diag(p) - p p^T, independently
  of the closed-form gradient in Go.
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
OUT = os.path.join(HERE, "golden_multiclass.json")
OTHER = "\x00other"


def draw(rng, n, classes, priors, recalls, extra_labels=(), extra_preds=()):
    """n pairs: the label from priors (or an extra class), the prediction the
    label with its class's recall, else a uniformly drawn other class."""
    labels, preds = [], []
    for _ in range(n):
        y = rng.choices(classes + list(extra_labels), weights=priors + [0.02] * len(extra_labels))[0]
        r = recalls.get(y, 0.5)
        if rng.random() < r:
            p = y
        else:
            choices = [c for c in classes + list(extra_preds) if c != y]
            p = rng.choice(choices)
        labels.append(y)
        preds.append(p)
    return labels, preds


def confusion(labels, preds, classes):
    """(K+1)x(K+1) counts, classes then OTHER."""
    known = set(classes)
    y = [c if c in known else OTHER for c in labels]
    p = [c if c in known else OTHER for c in preds]
    return metrics.confusion_matrix(y, p, labels=classes + [OTHER]).astype(float)


def macro_f1_of_shares(shares, in_set):
    k = len(in_set)
    total, size = 0.0, 0
    for c in range(k):
        if not in_set[c]:
            continue
        d = shares[c, :].sum() + shares[:, c].sum()
        if d > 0:
            total += 2 * shares[c, c] / d
            size += 1
    return total / size


def delta_variance(counts, in_set):
    n = counts.sum()
    p = counts / n
    g = np.zeros_like(p)
    h = 1e-6
    for i in range(p.shape[0]):
        for j in range(p.shape[1]):
            if counts[i, j] == 0:
                continue  # cells of zero share carry no variance
            up, down = p.copy(), p.copy()
            up[i, j] += h
            down[i, j] -= h
            g[i, j] = (macro_f1_of_shares(up, in_set) - macro_f1_of_shares(down, in_set)) / (2 * h)
    flat_p, flat_g = p.ravel(), g.ravel()
    cov = np.diag(flat_p) - np.outer(flat_p, flat_p)
    return float(flat_g @ cov @ flat_g / n)


def fisher_less(k, n, kr, nr):
    """Fisher's exact one-sided p-value of k in n below kr in nr."""
    return float(stats.fisher_exact([[k, n - k], [kr, nr - kr]], alternative="less").pvalue)


def case(name, ref, win):
    ref_y, ref_p = ref
    y, p = win
    classes = sorted(set(ref_y) | set(ref_p))
    ref_acc = metrics.accuracy_score(ref_y, ref_p)
    out = {"name": name, "ref_labels": ref_y, "ref_predictions": ref_p, "labels": y, "predictions": p,
           "classes": classes, "ref_accuracy": ref_acc,
           "ref_macro_f1": metrics.f1_score(ref_y, ref_p, labels=classes, average="macro")}
    n = len(y)
    correct = sum(1 for a, b in zip(y, p) if a == b)
    out["accuracy"] = metrics.accuracy_score(y, p)
    ref_correct = sum(1 for a, b in zip(ref_y, ref_p) if a == b)
    out["accuracy_p"] = fisher_less(correct, n, ref_correct, len(ref_y))
    ref_recall = metrics.recall_score(ref_y, ref_p, labels=classes, average=None, zero_division=0)
    recalls = []
    for i, c in enumerate(classes):
        support = sum(1 for a in y if a == c)
        if support == 0 or sum(1 for a in ref_y if a == c) == 0:
            continue
        tp = sum(1 for a, b in zip(y, p) if a == c and b == c)
        rec = metrics.recall_score(y, p, labels=[c], average=None)[0]
        ref_tp = sum(1 for a, b in zip(ref_y, ref_p) if a == c and b == c)
        ref_support = sum(1 for a in ref_y if a == c)
        recalls.append({"class": c, "recall": float(rec), "reference": float(ref_recall[i]),
                        "p": fisher_less(tp, support, ref_tp, ref_support)})
    out["recalls"] = recalls
    present = [c for c in classes if c in set(y) or c in set(p)]
    in_set = [c in present for c in classes] + [False]
    win_f1 = metrics.f1_score(y, p, labels=present, average="macro")
    ref_f1 = metrics.f1_score(ref_y, ref_p, labels=present, average="macro")
    wc, rc = confusion(y, p, classes), confusion(ref_y, ref_p, classes)
    assert abs(macro_f1_of_shares(wc / wc.sum(), in_set) - win_f1) < 1e-12
    assert abs(macro_f1_of_shares(rc / rc.sum(), in_set) - ref_f1) < 1e-12
    wv, rv = delta_variance(wc, in_set), delta_variance(rc, in_set)
    z = (ref_f1 - win_f1) / math.sqrt(wv + rv)
    out.update({"present": present, "macro_f1": win_f1, "macro_f1_var": wv, "ref_macro_f1_present": ref_f1,
                "ref_macro_f1_var": rv, "macro_f1_z": z, "macro_f1_p": float(stats.norm.cdf(-z))})
    return out


def cases():
    rng = random.Random(20261214)
    out = []
    animals = ["ant", "bee", "cat", "dog"]
    priors = [0.5, 0.3, 0.15, 0.05]
    good = {"ant": 0.9, "bee": 0.8, "cat": 0.7, "dog": 0.75}
    ref = draw(rng, 3000, animals, priors, good)
    out.append(case("stable", ref, draw(rng, 400, animals, priors, good)))
    # The rare class collapses: its rows go to the majority class.
    y, p = draw(rng, 600, animals, priors, good)
    p = [("ant" if (a == "dog" and rng.random() < 0.8) else b) for a, b in zip(y, p)]
    out.append(case("rare_collapse", ref, (y, p)))
    # Classes the reference does not know, as labels and as predictions, some
    # agreeing by name.
    y, p = draw(rng, 500, animals, priors, good, extra_labels=["eel"], extra_preds=["fox"])
    p = [("eel" if a == "eel" and rng.random() < 0.5 else b) for a, b in zip(y, p)]
    out.append(case("unknown_classes", ref, (y, p)))
    # A reference class absent from the window (neither label nor prediction).
    y, p = draw(rng, 200, animals[:3], priors[:3], {"ant": 0.9, "bee": 0.8, "cat": 1.0})
    out.append(case("class_absent", ref, (y, p)))
    # Integer class names, a small window.
    digits = ["0", "1", "2"]
    ref = draw(rng, 1000, digits, [0.6, 0.3, 0.1], {"0": 0.95, "1": 0.85, "2": 0.6})
    out.append(case("digits_small", ref, draw(rng, 40, digits, [0.6, 0.3, 0.1], {"0": 0.8, "1": 0.6, "2": 0.3})))
    # A class predicted in validation but never a label (no recall test).
    y, p = draw(rng, 800, digits, [0.6, 0.3, 0.1], {"0": 0.9, "1": 0.8, "2": 0.7})
    p = [("9" if rng.random() < 0.01 else b) for b in p]
    out.append(case("predicted_only_class", (y, p), draw(rng, 300, digits, [0.6, 0.3, 0.1], {"0": 0.9, "1": 0.8, "2": 0.7})))
    return out


def golden():
    return {
        "generator": "testdata/perf/gen_golden_multiclass.py",
        "versions": {"python": platform.python_version(), "numpy": np.__version__, "scipy": scipy.__version__,
                     "scikit-learn": sklearn.__version__},
        "cases": cases(),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true", help="compare with the committed file instead of writing it")
    args = ap.parse_args()
    g = golden()
    if args.check:
        with open(OUT) as f:
            old = json.load(f)
        old.pop("versions", None)
        g.pop("versions", None)
        if json.loads(json.dumps(g)) != old:
            print("testdata/perf/golden_multiclass.json differs from a fresh generation", file=sys.stderr)
            sys.exit(1)
        print("testdata/perf/golden_multiclass.json matches")
        return
    with open(OUT, "w") as f:
        f.write(json.dumps(g, indent=1, sort_keys=True) + "\n")
    print("wrote", OUT)


if __name__ == "__main__":
    main()
