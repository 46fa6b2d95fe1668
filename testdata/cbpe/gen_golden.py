#!/usr/bin/env python3
"""Generate testdata/cbpe/golden.json: NannyML's CBPE (confidence-based
performance estimation) on a generated binary classifier, the reference for
driftd's detector/perf estimator.

Usage (from the repository root, in a virtual environment with the pinned
versions of testdata/cbpe/requirements.txt):

    python3 testdata/cbpe/gen_golden.py            # writes testdata/cbpe/golden.json
    python3 testdata/cbpe/gen_golden.py --check    # regenerates and compares

The model: a latent x, the label positive with probability sigmoid(a + b·x),
the score sigmoid(k·(a + b·x)) with k = 1.6, an over-confident (miscalibrated)
score, so that NannyML calibrates it (isotonic regression on the reference).
The reference is drawn with x ~ N(0, 1). The analysis period is five chunks
of 2,000 rows: x ~ N(0, 1) (no drift), N(0, 0.5²) (the scores crowd the
middle: the true ROC-AUC drops), N(0.8, 1) (more positives), N(0, 1.6²)
(ROC-AUC rises), N(−0.6, 0.7²). Scores are rounded to 6 decimals so that the
JSON holds the exact values both sides read. The generator is seeded.
"""

import argparse
import json
import os
import platform
import sys

os.environ["NML_DISABLE_USAGE_LOGGING"] = "1"  # no telemetry (read at import)

import nannyml  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import sklearn  # noqa: E402
from sklearn import metrics  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "golden.json")

A, B, K, THRESHOLD = -1.2, 1.4, 1.6, 0.5
CHUNK = 2000
ANALYSIS = [(0.0, 1.0), (0.0, 0.5), (0.8, 1.0), (0.0, 1.6), (-0.6, 0.7)]


def draw(rng, n, mu, sd):
    x = rng.normal(mu, sd, n)
    z = A + B * x
    score = np.round(1 / (1 + np.exp(-K * z)), 6)
    label = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    return score, label


def build():
    rng = np.random.default_rng(20261202)
    ref_score, ref_label = draw(rng, 10000, 0.0, 1.0)
    chunks = [draw(rng, CHUNK, mu, sd) for mu, sd in ANALYSIS]
    frame = lambda s, y: pd.DataFrame({"score": s, "pred": (s >= THRESHOLD).astype(int), "y": y})
    reference = frame(ref_score, ref_label)
    analysis = pd.concat([frame(s, y) for s, y in chunks], ignore_index=True)
    est = nannyml.CBPE(
        y_pred_proba="score", y_pred="pred", y_true="y", problem_type="classification_binary",
        metrics=["roc_auc", "precision", "recall"], chunk_size=CHUNK,
    )
    est.fit(reference)
    if not est.needs_calibration:
        sys.exit("NannyML did not calibrate the scores: the golden would not test the calibration")
    res = est.estimate(analysis.drop(columns=["y"])).filter(period="analysis").to_df()
    ref_res = est.estimate(reference.drop(columns=["y"])).filter(period="analysis").to_df()

    def col(df, metric):
        return [float(v) for v in df[(metric, "value")]]

    out_chunks = []
    for i, (s, y) in enumerate(chunks):
        pred = (s >= THRESHOLD).astype(int)
        out_chunks.append({
            "mu": ANALYSIS[i][0], "sd": ANALYSIS[i][1],
            "scores": [float(v) for v in s],
            "estimated_roc_auc": col(res, "roc_auc")[i],
            "estimated_precision": col(res, "precision")[i],
            "estimated_recall": col(res, "recall")[i],
            "realized_roc_auc": float(metrics.roc_auc_score(y, s)),
            "realized_precision": float(metrics.precision_score(y, pred, zero_division=0)),
            "realized_recall": float(metrics.recall_score(y, pred, zero_division=0)),
        })
    calibrated = est.calibrator.calibrate(np.array([0.0, 0.05, 0.2, 0.5, 0.8, 0.95, 1.0]))
    return {
        "generator": "testdata/cbpe/gen_golden.py",
        "versions": {"python": platform.python_version(), "nannyml": nannyml.__version__,
                     "numpy": np.__version__, "pandas": pd.__version__, "scikit-learn": sklearn.__version__},
        "threshold": THRESHOLD,
        "chunk": CHUNK,
        "reference": {"scores": [float(v) for v in ref_score], "labels": [int(v) for v in ref_label],
                      "estimated_roc_auc": col(ref_res, "roc_auc"),
                      "estimated_precision": col(ref_res, "precision"),
                      "estimated_recall": col(ref_res, "recall")},
        "calibration_points": [0.0, 0.05, 0.2, 0.5, 0.8, 0.95, 1.0],
        "calibrated": [float(v) for v in calibrated],
        "chunks": out_chunks,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    data = json.dumps(build(), indent=None, separators=(",", ":")) + "\n"
    if args.check:
        with open(OUT) as f:
            old = json.load(f)
        new = json.loads(data)
        old.pop("versions", None)
        new.pop("versions", None)
        if old != new:
            sys.exit("golden.json differs from a fresh run")
        print("golden.json matches")
        return
    with open(OUT, "w") as f:
        f.write(data)


if __name__ == "__main__":
    main()
