#!/usr/bin/env python3
"""River KSWIN or ADWIN, one detector per numeric feature, fed value by value (defaults)."""
import argparse

import common


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("dir")
    p.add_argument("--detector", choices=["kswin", "adwin"], required=True)
    common.add_range_args(p)
    a = p.parse_args()

    from river import drift

    first, stop = common.event_range(a.dir, a.before, a.after)
    b = common.Bench(a.dir, first_event=first, stop_event=stop)
    d = len(b.numeric)
    rows = b.X.tolist()  # plain floats: what a River user feeds

    with common.CPUTimer() as setup:
        if a.detector == "kswin":
            # Defaults alpha=0.005, window_size=100, stat_size=30; a seed only makes the run repeatable.
            dets = [drift.KSWIN(seed=b.seed * 1000 + j) for j in range(d)]
            name = "river KSWIN"
        else:
            dets = [drift.ADWIN() for _ in range(d)]  # delta=0.002, clock=32, grace_period=10
            name = "river ADWIN"
    names = b.numeric
    alarms = []
    with common.CPUTimer() as run:
        for k, row in enumerate(rows):
            for j, det in enumerate(dets):
                det.update(row[j])
                if det.drift_detected:
                    alarms.append((first + k, names[j]))

    if a.detector == "kswin":
        cfg = ("KSWIN defaults (alpha=0.005, window_size=100, stat_size=30; seeded per feature for repeatability); "
               "self-referencing: compares its last 30 values with 30 random older ones in its 100-value window, "
               "never sees reference.jsonl; ")
    else:
        cfg = ("ADWIN defaults (delta=0.002, clock=32, max_buckets=5, min_window_length=5, grace_period=10); "
               "self-referencing (adaptive window), never sees reference.jsonl; ")
    notes = (cfg + f"one detector per numeric feature ({d}), fed value by value in event order; "
             f"alarms counted per feature (alarm events summed across features); detector resets itself after "
             f"an alarm; processed {common.range_note(b)}.")
    res = common.result(
        b, name=name, version=common.package_version("river"), values=b.n_events * d,
        cpu_seconds=run.cpu, wall_seconds=run.wall, alarms=alarms, setup_seconds=setup.cpu,
        setup_wall_seconds=setup.wall, notes=notes)
    common.emit(res)


if __name__ == "__main__":
    main()
