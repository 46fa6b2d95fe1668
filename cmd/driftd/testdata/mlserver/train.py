"""Trains the scikit-learn model MLServer serves in TestInteropMLServer.

Writes into OUTDIR:
  model/model.joblib, model/model-settings.json  the model MLServer loads
  train.csv  the training features and the model's predictions on them,
             from which the test builds driftd's reference

Usage: python train.py OUTDIR
"""

import json
import os
import sys

import joblib
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

FEATURES = ["tenure", "charges", "usage"]


def draw(rng, n, charges_shift=0.0):
    return pd.DataFrame(
        {
            "tenure": rng.lognormal(3.0, 0.8, n),
            "charges": rng.normal(70.0, 15.0, n) + charges_shift,
            "usage": rng.normal(10.0, 3.0, n),
        }
    )


def main():
    out = sys.argv[1]
    rng = np.random.default_rng(7)
    x = draw(rng, 20000)
    logit = -0.04 * x["tenure"] + 0.05 * (x["charges"] - 70) - 0.1 * (x["usage"] - 10)
    y = rng.random(len(x)) < 1 / (1 + np.exp(-logit))
    model = LogisticRegression().fit(x[FEATURES], y.astype(int))
    os.makedirs(os.path.join(out, "model"), exist_ok=True)
    joblib.dump(model, os.path.join(out, "model", "model.joblib"))
    with open(os.path.join(out, "model", "model-settings.json"), "w") as f:
        json.dump(
            {
                "name": "churn",
                "implementation": "mlserver_sklearn.SKLearnModel",
                "parameters": {"uri": "./model.joblib", "version": "1"},
            },
            f,
        )
    train = x.copy()
    train["prediction"] = model.predict(x[FEATURES])
    train.to_csv(os.path.join(out, "train.csv"), index=False)


if __name__ == "__main__":
    main()
