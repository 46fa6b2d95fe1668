#!/usr/bin/env python3
"""Generate a benchmark stream directory in the format of `driftd bench --write-dir DIR`.

DIR/meta.json        run description (events, change point, features, window, hop, seed)
DIR/reference.jsonl  training rows, one flat JSON object per line
DIR/stream.jsonl     canonical inference events, one per line

Numeric features are N(0, 1); after the change point each drifted feature is
shifted by +shift reference standard deviations. Categorical features draw
from a fixed skewed distribution over a small alphabet and never drift.
Only the standard library and numpy are used.
"""
import argparse
import datetime as dt
import json
import os
import sys

import numpy as np

CATEGORIES = ["a", "b", "c", "d", "e"]
CATEGORY_PROBS = [0.4, 0.25, 0.15, 0.12, 0.08]


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dir", help="output directory (created if missing)")
    p.add_argument("--events", type=int, default=200_000)
    p.add_argument("--change-point", type=int, default=None, help="default: events/2")
    p.add_argument("--reference-rows", type=int, default=50_000)
    p.add_argument("--numeric", type=int, default=20, help="number of numeric features f00..")
    p.add_argument("--categorical", type=int, default=5, help="number of categorical features c00..")
    p.add_argument("--drifted", default="f00", help="comma-separated numeric features to shift")
    p.add_argument("--shift", type=float, default=0.5, help="mean shift in reference standard deviations")
    p.add_argument("--window", type=int, default=1000)
    p.add_argument("--hop", type=int, default=125)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--start", default="2026-11-25T20:00:00.000Z", help="timestamp of event 0")
    p.add_argument("--interval-ms", type=int, default=10, help="event-time spacing")
    return p.parse_args(argv)


def main(argv=None):
    a = parse_args(argv)
    cp = a.events // 2 if a.change_point is None else a.change_point
    num = [f"f{i:02d}" for i in range(a.numeric)]
    cat = [f"c{i:02d}" for i in range(a.categorical)]
    drifted = [f for f in a.drifted.split(",") if f]
    for f in drifted:
        if f not in num:
            sys.exit(f"drifted feature {f!r} is not a numeric feature")
    os.makedirs(a.dir, exist_ok=True)
    rng = np.random.default_rng(a.seed)

    meta = {
        "events": a.events,
        "change_point": cp,
        "numeric_features": num,
        "categorical_features": cat,
        "drifted_features": drifted,
        "drift": f"mean shift of {a.shift:g} reference sd",
        "window": a.window,
        "hop": a.hop,
        "seed": a.seed,
    }
    with open(os.path.join(a.dir, "meta.json"), "w") as fh:
        json.dump(meta, fh, indent=2)
        fh.write("\n")

    def rows(n, shifted_from):
        """Yield n rows; rows with index >= shifted_from get the drift."""
        chunk = 10_000
        for start in range(0, n, chunk):
            m = min(chunk, n - start)
            x = rng.standard_normal((m, len(num)))
            idx = np.arange(start, start + m)
            for f in drifted:
                j = num.index(f)
                x[idx >= shifted_from, j] += a.shift
            c = rng.choice(len(CATEGORIES), size=(m, len(cat)), p=CATEGORY_PROBS)
            xl = x.tolist()
            cl = c.tolist()
            for r in range(m):
                row = {name: xl[r][j] for j, name in enumerate(num)}
                for j, name in enumerate(cat):
                    row[name] = CATEGORIES[cl[r][j]]
                yield start + r, row

    with open(os.path.join(a.dir, "reference.jsonl"), "w") as fh:
        for _, row in rows(a.reference_rows, shifted_from=a.reference_rows + 1):
            fh.write(json.dumps(row, separators=(",", ":")))
            fh.write("\n")

    t0 = dt.datetime.strptime(a.start, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.timezone.utc)
    step = dt.timedelta(milliseconds=a.interval_ms)
    with open(os.path.join(a.dir, "stream.jsonl"), "w") as fh:
        for i, row in rows(a.events, shifted_from=cp):
            ts = (t0 + i * step).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
            # A made-up score so the event has a prediction; it plays no part in the benchmark.
            score = 1.0 / (1.0 + np.exp(-row[num[0]])) if num else 0.5
            ev = {
                "model": "bench",
                "model_version": "1",
                "timestamp": ts,
                "request_id": f"r-{i}",
                "features": row,
                "prediction": round(float(score), 6),
            }
            fh.write(json.dumps(ev, separators=(",", ":")))
            fh.write("\n")
    print(json.dumps(meta), file=sys.stderr)


if __name__ == "__main__":
    main()
