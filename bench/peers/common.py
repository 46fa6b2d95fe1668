"""Shared helpers for the peer scripts: loading a bench directory and writing the result JSON.

Conventions (the same for every peer, and what driftd's own result should follow):

* Event index: 0-based position in stream.jsonl. Events with index >= change_point are drifted.
* Alarm event: (event index, feature) at which a detector announces drift. A per-feature detector that
  fires on two features at the same event counts two alarm events. A dataset-level detector records
  feature None. For windowed detectors the event index is the last event of the evaluated window.
* false_alarms_stable: alarm events with index < change_point (among the events that were processed).
* detection_delay_events: (index of the first alarm event at or after change_point) - change_point,
  null when there is none. It counts any alarm, on any feature; "detection_delay_drifted_feature_events"
  counts only alarms on a drifted feature (null for dataset-level detectors).
* values: feature values fed to the detector (events processed x features the detector consumes).
  Each value is counted once, however many windows it later takes part in.
* cpu_seconds: process CPU time (user+system, all threads) of the detection loop only. Parsing JSON
  and converting to arrays is not included (reported as parse_cpu_seconds); configuration and
  reference preparation are reported as setup_seconds (CPU) and setup_wall_seconds.
"""
import json
import os
import sys
import time

import numpy as np


class Bench:
    """A bench directory loaded into arrays.

    X: float64 array (events, numeric features); C: list of lists of str (events, categorical features),
    only when load_categorical. ref_X / ref_C: the same for reference.jsonl.
    first_event: stream index of X[0].
    """

    def __init__(self, path, first_event=0, stop_event=None, load_categorical=False, reference_rows=None):
        t0 = time.process_time()
        self.path = path
        with open(os.path.join(path, "meta.json")) as fh:
            self.meta = json.load(fh)
        m = self.meta
        self.numeric = list(m["numeric_features"])
        self.categorical = list(m.get("categorical_features", []))
        self.change_point = int(m["change_point"])
        self.window = int(m["window"])
        self.hop = int(m["hop"])
        self.seed = int(m.get("seed", 1))
        self.drifted = set(m.get("drifted_features", []))
        n_events = int(m["events"])
        first_event = max(0, int(first_event))
        stop_event = n_events if stop_event is None else min(n_events, int(stop_event))
        if stop_event <= first_event:
            raise SystemExit(f"empty event range [{first_event}, {stop_event})")
        self.first_event = first_event

        ref_rows = []
        with open(os.path.join(path, "reference.jsonl")) as fh:
            for line in fh:
                if line.strip():
                    ref_rows.append(json.loads(line))
        self.reference_rows_total = len(ref_rows)
        if reference_rows is not None and reference_rows < len(ref_rows):
            rng = np.random.default_rng(self.seed)
            idx = np.sort(rng.choice(len(ref_rows), size=reference_rows, replace=False))
            ref_rows = [ref_rows[i] for i in idx]
        self.ref_X = np.array([[_num(r.get(f)) for f in self.numeric] for r in ref_rows], dtype=np.float64)
        self.ref_C = [[_cat(r.get(f)) for f in self.categorical] for r in ref_rows] if load_categorical else None

        num_rows, cat_rows = [], []
        with open(os.path.join(path, "stream.jsonl")) as fh:
            for i, line in enumerate(fh):
                if i < first_event:
                    continue
                if i >= stop_event:
                    break
                feats = json.loads(line)["features"]
                num_rows.append([_num(feats.get(f)) for f in self.numeric])
                if load_categorical:
                    cat_rows.append([_cat(feats.get(f)) for f in self.categorical])
        self.X = np.array(num_rows, dtype=np.float64).reshape(len(num_rows), len(self.numeric))
        self.C = cat_rows if load_categorical else None
        self.parse_cpu_seconds = time.process_time() - t0

    @property
    def n_events(self):
        return self.X.shape[0]

    def index(self, k):
        """Stream index of the k-th loaded event."""
        return self.first_event + k


def _num(v):
    if v is None:
        return float("nan")
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def _cat(v):
    return "" if v is None else str(v)


class CPUTimer:
    """Process CPU time and wall time of a block."""

    def __enter__(self):
        self._c0 = time.process_time()
        self._w0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.cpu = time.process_time() - self._c0
        self.wall = time.perf_counter() - self._w0
        return False


def result(bench, *, name, version, values, cpu_seconds, wall_seconds, alarms, setup_seconds,
           setup_wall_seconds=None, notes="", extra=None, events_processed=None, first_event=None):
    """Build the result object. alarms: iterable of (stream event index, feature name or None)."""
    cp = bench.change_point
    first_event = bench.first_event if first_event is None else first_event
    events_processed = bench.n_events if events_processed is None else events_processed
    last_event = first_event + events_processed - 1
    alarms = sorted(alarms, key=lambda a: a[0])
    stable = [a for a in alarms if a[0] < cp]
    after = [a for a in alarms if a[0] >= cp]
    after_drifted = [a for a in after if a[1] is not None and a[1] in bench.drifted]
    res = {
        "name": name,
        "version": version,
        "values": int(values),
        "cpu_seconds": round(cpu_seconds, 4),
        "values_per_cpu_second": round(values / cpu_seconds, 1) if cpu_seconds > 0 else None,
        "detection_delay_events": (after[0][0] - cp) if after else None,
        "false_alarms_stable": len(stable),
        "setup_seconds": round(setup_seconds, 3),
        "notes": notes,
        # Extra fields (not required by the merge, but shown where useful).
        "detection_delay_drifted_feature_events": (after_drifted[0][0] - cp) if after_drifted else None,
        "alarms_after_change": len(after),
        "events_processed": int(events_processed),
        "event_range": [int(first_event), int(last_event)],
        "stable_events_processed": int(max(0, min(last_event + 1, cp) - first_event)),
        "drifted_events_processed": int(max(0, last_event + 1 - max(first_event, cp))),
        "first_false_alarm_event": stable[0][0] if stable else None,
        "wall_seconds": round(wall_seconds, 3),
        "setup_wall_seconds": None if setup_wall_seconds is None else round(setup_wall_seconds, 3),
        "parse_cpu_seconds": round(bench.parse_cpu_seconds, 3),
        "change_point": cp,
    }
    if extra:
        res.update(extra)
    return res


def emit(res):
    json.dump(res, sys.stdout, allow_nan=False, default=_json_default)
    sys.stdout.write("\n")
    sys.stdout.flush()


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o)}")


def package_version(dist):
    try:
        from importlib.metadata import version
        return version(dist)
    except Exception:  # pragma: no cover - best effort
        return "unknown"


def add_range_args(parser, before=None, after=None):
    """--before/--after: process only [change_point - before, change_point + after) of the stream."""
    parser.add_argument("--before", type=int, default=before,
                        help="process only this many events before the change point (default: %(default)s = all)")
    parser.add_argument("--after", type=int, default=after,
                        help="process only this many events from the change point on (default: %(default)s = all)")


def event_range(meta_path, before, after):
    with open(os.path.join(meta_path, "meta.json")) as fh:
        m = json.load(fh)
    cp, n = int(m["change_point"]), int(m["events"])
    first = 0 if before is None else max(0, cp - before)
    stop = n if after is None else min(n, cp + after)
    return first, stop


def range_note(bench):
    n_total = int(bench.meta["events"])
    first, last = bench.first_event, bench.first_event + bench.n_events - 1
    if first == 0 and last == n_total - 1:
        return f"whole stream ({n_total} events)"
    return (f"events {first}..{last} of {n_total} ({bench.n_events} events: "
            f"{max(0, bench.change_point - first)} before the change point, "
            f"{max(0, last + 1 - bench.change_point)} from it on)")
