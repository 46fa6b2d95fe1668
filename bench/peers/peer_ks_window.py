#!/usr/bin/env python3
"""Naive baseline: scipy ks_2samp of every numeric feature's last `window` values against the whole
reference column, every `hop` events, alarm when p < 0.05 / number of features (Bonferroni)."""
import argparse

import numpy as np

import common


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("dir")
    p.add_argument("--alpha", type=float, default=0.05, help="family-wise level per evaluation before Bonferroni")
    common.add_range_args(p)
    a = p.parse_args()

    from scipy import stats

    first, stop = common.event_range(a.dir, a.before, a.after)
    b = common.Bench(a.dir, first_event=first, stop_event=stop)
    d, W, H = len(b.numeric), b.window, b.hop
    level = a.alpha / d

    with common.CPUTimer() as setup:
        # Column views of the reference (ks_2samp sorts its inputs on every call anyway).
        ref_cols = [np.ascontiguousarray(b.ref_X[:, j]) for j in range(d)]
        cols = [np.ascontiguousarray(b.X[:, j]) for j in range(d)]
    alarms = []
    evaluations = 0
    with common.CPUTimer() as run:
        # Evaluate after event k whenever (k+1) is a multiple of the hop and the window is full,
        # counting from the first processed event.
        for end in range(W, b.n_events + 1):
            if (end - W) % H:
                continue
            evaluations += 1
            for j in range(d):
                pval = stats.ks_2samp(ref_cols[j], cols[j][end - W:end]).pvalue
                if pval < level:
                    alarms.append((first + end - 1, b.numeric[j]))

    notes = (f"scipy.stats.ks_2samp(reference column [{len(b.ref_X)} rows], last {W} values) per numeric feature "
             f"({d}) every {H} events once the window is full ({evaluations} evaluations x {d} features = "
             f"{evaluations * d} tests); alarm when p < {a.alpha}/{d} = {level:.2g} (Bonferroni across features "
             f"only, none across evaluations); no reset, no hysteresis: every alarming (evaluation, feature) is "
             f"one alarm event; processed {common.range_note(b)}.")
    res = common.result(
        b, name="scipy ks_2samp windows (naive)", version=common.package_version("scipy"),
        values=b.n_events * d, cpu_seconds=run.cpu, wall_seconds=run.wall, alarms=alarms,
        setup_seconds=setup.cpu, setup_wall_seconds=setup.wall, notes=notes,
        extra={"evaluations": evaluations, "reference_rows": int(len(b.ref_X))})
    common.emit(res)


if __name__ == "__main__":
    main()
