#!/usr/bin/env python3
"""Detection delay of small mean shifts at a matched false-alarm rate.

driftd (its cusum test, and every test together) against River's ADWIN and a
textbook two-sided CUSUM on raw events, on the same streams: a single numeric
feature, a reference of 50,000 values, streams of LENGTH events whose mean
shifts by 0.25, 0.5 or 1 standard deviation after CHANGE events, for a normal
and a skewed (lognormal, sigma 1) shape.

Matching: driftd runs at DRIFTD_ERT (default 5e4 events) with its default
policy otherwise; its false-alarm rate is measured as the share of no-drift
streams of the same length on which it fires any alert. The peers' thresholds
are then calibrated by simulation on those same no-drift streams so that the
same share of streams raises an alarm: the CUSUM's h as the (1 - share)
quantile of each stream's largest statistic, ADWIN's delta by bisection on
log10(delta). Delay = events after the change up to and including the one on
which the first alarm after the change is raised (driftd: the sequence number
of the firing evaluation minus CHANGE); a stream without one within the
stream counts as a miss (infinite delay). Medians over the seeds.

Usage (from the repository root; needs Go for the driftd harness):

    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install -r bench/peers/requirements-seq.txt
    /tmp/venv/bin/python bench/peers/seq_delay.py --out /tmp/seqdelay

Writes OUT/seq_delay.json (every delay) and OUT/seq_delay.md (the table).
"""
import argparse
import json
import math
import os
import subprocess
import sys
import time

import numpy as np

SHAPES = {
    # name: (generator, population mean, population sd)
    "normal": (lambda rng, n: rng.standard_normal(n), 0.0, 1.0),
    "lognormal": (lambda rng, n: rng.lognormal(0.0, 1.0, n), math.exp(0.5), math.sqrt((math.e - 1) * math.e)),
}


def write_f64(path, a):
    np.asarray(a, dtype="<f8").tofile(path)


def run_driftd(binary, ref, streams, length, change, ert, disable="", window=(1000, 125)):
    args = [binary, "-ref", ref, "-streams", streams, "-length", str(length), "-change", str(change),
            "-ert", repr(ert), "-window", str(window[0]), "-hop", str(window[1])]
    if disable:
        args += ["-disable", disable]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines()]


def cusum_max(z, k):
    """Largest two-sided CUSUM statistic of each row of z (streams x events)."""
    up = np.zeros(z.shape[0])
    down = np.zeros(z.shape[0])
    best = np.zeros(z.shape[0])
    for i in range(z.shape[1]):
        up = np.maximum(0.0, up + z[:, i] - k)
        down = np.maximum(0.0, down - z[:, i] - k)
        best = np.maximum(best, np.maximum(up, down))
    return best


def cusum_first(z, k, h, change):
    """Per row: first event index >= change at which the CUSUM (restarted after
    every signal) signals, -1 if none; and whether it signalled before."""
    n, length = z.shape
    up = np.zeros(n)
    down = np.zeros(n)
    first = np.full(n, -1)
    false = np.zeros(n, dtype=bool)
    for i in range(length):
        up = np.maximum(0.0, up + z[:, i] - k)
        down = np.maximum(0.0, down - z[:, i] - k)
        sig = (up >= h) | (down >= h)
        if i < change:
            false |= sig
        else:
            first = np.where(sig & (first < 0), i, first)
        up[sig] = 0.0
        down[sig] = 0.0
    return first, false


def adwin_first(rows, delta, change, stop_at_first=False):
    from river import drift
    first, false = [], []
    for row in rows:
        d = drift.ADWIN(delta=delta)
        f, fa = -1, False
        for i, x in enumerate(row):
            d.update(x)
            if d.drift_detected:
                if i < change:
                    fa = True
                    if stop_at_first:
                        break
                elif f < 0:
                    f = i
                    break
        first.append(f)
        false.append(fa)
    return np.array(first), np.array(false)


def calibrate_adwin(rows, target, length):
    """log10(delta) in [-14, -0.5] whose share of rows with an alarm is target."""
    def share(lg):
        f, fa = adwin_first(rows, 10.0 ** lg, change=length, stop_at_first=True)
        return float(np.mean(fa))
    lo, hi = -14.0, -0.5  # share grows with delta
    s_lo, s_hi = share(lo), share(hi)
    if s_lo >= target:
        return 10.0 ** lo, s_lo
    if s_hi <= target:
        return 10.0 ** hi, s_hi
    best = (hi, s_hi)
    for _ in range(9):
        mid = (lo + hi) / 2
        s = share(mid)
        if abs(s - target) < abs(best[1] - target) or (abs(s - target) == abs(best[1] - target) and mid < best[0]):
            best = (mid, s)
        if s > target:
            hi = mid
        else:
            lo = mid
    return 10.0 ** best[0], best[1]


def delays(first, change):
    """Events after the change up to and including the alarm event (0-based index),
    inf for a miss."""
    return [float(i - change + 1) if i >= 0 else math.inf for i in first]


def median(xs):
    return float(np.median(np.array(xs))) if xs else math.nan


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True)
    p.add_argument("--seeds", type=int, default=30, help="drift streams per shape and shift")
    p.add_argument("--calib", type=int, default=300, help="no-drift streams per shape for the calibration")
    p.add_argument("--length", type=int, default=12000)
    p.add_argument("--change", type=int, default=2013,
                   help="events before the change (not a multiple of the hop: the change falls inside a pane)")
    p.add_argument("--window", type=int, default=1000, help="driftd's DRIFTD_WINDOW_SIZE")
    p.add_argument("--hop", type=int, default=125, help="driftd's DRIFTD_WINDOW_HOP (pane size)")
    p.add_argument("--ert", type=float, default=5e4, help="driftd's DRIFTD_ERT")
    p.add_argument("--ref-rows", type=int, default=50000)
    p.add_argument("--shifts", default="0.25,0.5,1")
    p.add_argument("--shapes", default="normal,lognormal")
    p.add_argument("--cusum-shift", type=float, default=0.25,
                   help="the shift the textbook CUSUM is tuned for (k = shift/2), as driftd's DRIFTD_CUSUM_SHIFT")
    p.add_argument("--seed", type=int, default=2026)
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    binary = os.path.join(a.out, "seqdelay")
    subprocess.run(["go", "build", "-o", binary, "./bench/peers/seqdelay"], cwd=repo, check=True)
    shifts = [float(s) for s in a.shifts.split(",")]
    rng = np.random.default_rng(a.seed)
    results = {"config": vars(a), "shapes": {}}
    k = a.cusum_shift / 2
    win = (a.window, a.hop)
    for shape in a.shapes.split(","):
        gen, mu, sd = SHAPES[shape]
        t0 = time.time()
        ref = gen(rng, a.ref_rows)
        ref_path = os.path.join(a.out, f"{shape}-ref.f64")
        write_f64(ref_path, ref)
        ref_mean, ref_sd = float(np.mean(ref)), float(np.std(ref, ddof=1))
        calib = gen(rng, a.calib * a.length).reshape(a.calib, a.length)
        calib_path = os.path.join(a.out, f"{shape}-calib.f64")
        write_f64(calib_path, calib)
        # driftd's false-alarm share on the no-drift streams (any alert in the stream).
        dd = run_driftd(binary, ref_path, calib_path, a.length, a.length, a.ert, window=win)
        fa_driftd = float(np.mean([r["false_alarm"] for r in dd]))
        dd_nc = run_driftd(binary, ref_path, calib_path, a.length, a.length, a.ert, disable="cusum", window=win)
        fa_driftd_nc = float(np.mean([r["false_alarm"] for r in dd_nc]))
        target = fa_driftd if fa_driftd > 0 else 0.5 / a.calib
        # Textbook CUSUM on raw events standardized by the reference.
        zc = (calib - ref_mean) / ref_sd
        h = float(np.quantile(cusum_max(zc, k), 1 - target))
        _, fa_c = cusum_first(zc, k, h, a.length)
        # ADWIN.
        delta, fa_a = calibrate_adwin(calib.tolist(), target, a.length)
        cal = {"driftd_false_alarm_share": fa_driftd, "driftd_no_cusum_false_alarm_share": fa_driftd_nc,
               "target_share": target, "cusum_k": k, "cusum_h": h, "cusum_false_alarm_share": float(np.mean(fa_c)),
               "adwin_delta": delta, "adwin_false_alarm_share": fa_a, "calib_streams": a.calib,
               "reference_mean": ref_mean, "reference_sd": ref_sd}
        print(f"{shape}: calibration {json.dumps(cal)} ({time.time() - t0:.0f} s)", file=sys.stderr)
        per_shift = {}
        for shift in shifts:
            t1 = time.time()
            x = gen(rng, a.seeds * a.length).reshape(a.seeds, a.length)
            x[:, a.change:] += shift * sd
            path = os.path.join(a.out, f"{shape}-shift{shift}.f64")
            write_f64(path, x)
            dd = run_driftd(binary, ref_path, path, a.length, a.change, a.ert, window=win)
            dd_nc = run_driftd(binary, ref_path, path, a.length, a.change, a.ert, disable="cusum", window=win)
            d_any = [float(r["first_any"] - a.change) if r["first_any"] else math.inf for r in dd]
            d_cusum = [float(r["first_cusum"] - a.change) if r["first_cusum"] else math.inf for r in dd]
            d_nc = [float(r["first_any"] - a.change) if r["first_any"] else math.inf for r in dd_nc]
            first_tests = [r.get("first_test", "") for r in dd]
            fc, _ = cusum_first((x - ref_mean) / ref_sd, k, h, a.change)
            fa_, _ = adwin_first(x.tolist(), delta, a.change)
            row = {"driftd": d_any, "driftd_cusum": d_cusum, "driftd_no_cusum": d_nc, "cusum": delays(fc, a.change),
                   "adwin": delays(fa_, a.change), "driftd_first_tests": first_tests}
            per_shift[str(shift)] = row
            print(f"{shape} shift {shift}: medians " + ", ".join(
                f"{name} {median(v):.0f}" for name, v in row.items() if name != "driftd_first_tests")
                  + f" ({time.time() - t1:.0f} s)", file=sys.stderr)
        results["shapes"][shape] = {"calibration": cal, "delays": per_shift}
    with open(os.path.join(a.out, "seq_delay.json"), "w") as f:
        json.dump(results, f, indent=1, default=lambda v: None if isinstance(v, float) and math.isinf(v) else v)
    md = table(results, a)
    with open(os.path.join(a.out, "seq_delay.md"), "w") as f:
        f.write(md)
    print(md)


def fmt(xs):
    m = median(xs)
    miss = sum(1 for v in xs if math.isinf(v))
    s = "miss" if math.isinf(m) else f"{m:.0f}"
    return s + (f" ({miss} missed)" if miss else "")


def table(results, a):
    lines = ["| shape | shift (sd) | driftd, any test | driftd cusum | driftd without cusum | textbook CUSUM | River ADWIN |",
             "|---|---|---|---|---|---|---|"]
    for shape, r in results["shapes"].items():
        for shift, row in r["delays"].items():
            lines.append(f"| {shape} | {shift} | {fmt(row['driftd'])} | {fmt(row['driftd_cusum'])} | "
                         f"{fmt(row['driftd_no_cusum'])} | {fmt(row['cusum'])} | {fmt(row['adwin'])} |")
    lines.append("")
    for shape, r in results["shapes"].items():
        c = r["calibration"]
        lines.append(f"- {shape}: driftd fired on {c['driftd_false_alarm_share']:.3f} of {c['calib_streams']} no-drift "
                     f"streams (without cusum {c['driftd_no_cusum_false_alarm_share']:.3f}); calibrated to "
                     f"{c['target_share']:.3f}: CUSUM k {c['cusum_k']:.3f} h {c['cusum_h']:.2f} "
                     f"({c['cusum_false_alarm_share']:.3f}), ADWIN delta {c['adwin_delta']:.3g} "
                     f"({c['adwin_false_alarm_share']:.3f})")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
