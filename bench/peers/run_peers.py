#!/usr/bin/env python3
"""Run every peer drift detector on a bench directory, one subprocess each (sequentially, so each
process's CPU time is its own), and merge the results — optionally with driftd's — into one Markdown table.

    python run_peers.py DIR [--driftd-result FILE] [--only a,b] [--out-dir OUT] [--args NAME='--flag v']

Writes OUT/peers.md and OUT/peers.json (default OUT = DIR/peers-results) and prints the table.
"""
import argparse
import datetime as dt
import json
import os
import platform
import shlex
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))

# name -> (script, default arguments). Sizes are chosen so the whole run stays around 10-15 minutes on a
# 2-core machine; see README.md for why each peer processes what it does.
PEERS = {
    "river_adwin": ("peer_river.py", ["--detector", "adwin"]),
    "river_kswin": ("peer_river.py", ["--detector", "kswin", "--before", "5000", "--after", "5000"]),
    "ks_window": ("peer_ks_window.py", []),
    "evidently": ("peer_evidently.py", ["--api", "legacy", "--reference-rows", "5000"]),
    "alibi_cvm": ("peer_alibi_cvm.py", ["--reference-rows", "500", "--n-bootstraps", "4000", "--batch-size", "16",
                                        "--before", "2000", "--after", "2500"]),
}

# Smaller sizes for a smoke test of the harness (--quick); the numbers are not meant to be compared.
QUICK = {
    "river_adwin": ["--before", "5000", "--after", "5000"],
    "river_kswin": ["--before", "1000", "--after", "1000"],
    "ks_window": ["--before", "3000", "--after", "2000"],
    "evidently": ["--before", "3000", "--after", "2000"],
    "alibi_cvm": ["--window-sizes", "100", "--n-bootstraps", "3000", "--before", "600", "--after", "400"],
}


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dir", help="bench directory (meta.json, reference.jsonl, stream.jsonl)")
    p.add_argument("--driftd-result", help="JSON file with driftd's result object (same shape as a peer's)")
    p.add_argument("--only", help=f"comma-separated subset of: {','.join(PEERS)}")
    p.add_argument("--out-dir", help="where to write peers.md and peers.json (default DIR/peers-results)")
    p.add_argument("--args", action="append", default=[], metavar="NAME=ARGS",
                   help="extra arguments appended for one peer, e.g. alibi_cvm='--n-bootstraps 10000'")
    p.add_argument("--quick", action="store_true", help="tiny sizes, to check the harness only")
    p.add_argument("--timeout", type=float, default=1800, help="seconds per peer (default %(default)s)")
    p.add_argument("--python", default=sys.executable, help="interpreter for the peers (default: this one)")
    return p.parse_args(argv)


def run_peer(name, script, args, a):
    cmd = [a.python, os.path.join(HERE, script), a.dir] + args
    print(f"[run_peers] {name}: {' '.join(shlex.quote(c) for c in cmd)}", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=a.timeout, cwd=HERE)
    except subprocess.TimeoutExpired:
        return {"name": name, "error": f"timed out after {a.timeout:g} s", "process_wall_seconds": a.timeout}
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()][-3:]
        return {"name": name, "error": f"exit {proc.returncode}: {' / '.join(tail)}", "process_wall_seconds": wall}
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip().startswith("{")]
    if not lines:
        return {"name": name, "error": "no JSON on stdout", "process_wall_seconds": wall}
    res = json.loads(lines[-1])
    res["peer"] = name
    res["process_wall_seconds"] = round(wall, 1)
    res["command"] = " ".join(shlex.quote(c) for c in cmd[1:])
    print(f"[run_peers] {name}: done in {wall:.0f} s wall", file=sys.stderr, flush=True)
    return res


def load_driftd(path):
    with open(path) as fh:
        text = fh.read().strip()
    try:
        obj = json.loads(text)
    except json.JSONDecodeError:
        obj = json.loads([ln for ln in text.splitlines() if ln.strip()][-1])
    if isinstance(obj, list):
        obj = obj[-1]
    obj.setdefault("name", "driftd")
    obj["peer"] = "driftd"
    return obj


def fmt_rate(v):
    if v is None:
        return "–"
    if v >= 1e6:
        return f"{v / 1e6:.2f} M"
    if v >= 1e3:
        return f"{v / 1e3:.1f} k"
    return f"{v:.0f}"


def fmt_ratio(driftd_rate, rate):
    if not driftd_rate or not rate:
        return "–"
    r = driftd_rate / rate
    return f"{r:,.0f}×" if r >= 10 else f"{r:.2g}×"


def cell(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def delay_cell(r):
    d = r.get("detection_delay_events")
    out = "none" if d is None else str(d)
    if "detection_delay_drifted_feature_events" in r:
        df = r["detection_delay_drifted_feature_events"]
        if df != d and not (df is None and r.get("alarms_after_change", 0) == 0):
            out += f" (on a drifted feature: {'none' if df is None else df})"
    return out


def false_alarm_cell(r):
    fa = r.get("false_alarms_stable")
    n = r.get("stable_events_processed")
    if fa is None:
        return "–"
    return f"{fa} in {n:,} events" if n is not None else str(fa)


def processed_cell(r):
    n = r.get("events_processed")
    rng = r.get("event_range")
    if n is None:
        return "–"
    return f"{n:,} ({rng[0]}–{rng[1]})" if rng else f"{n:,}"


def table(results, driftd):
    rows = ([driftd] if driftd else []) + results
    driftd_rate = driftd.get("values_per_cpu_second") if driftd else None
    head = ["name", "version", "values/s per core"]
    if driftd:
        head.append("driftd speed-up")
    head += ["detection delay (events)", "false alarms, stable part", "events processed", "setup CPU s",
             "wall s", "notes"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        if "error" in r:
            vals = [r["name"], "–", "failed"] + (["–"] if driftd else []) + ["–", "–", "–", "–",
                                                                          f"{r.get('process_wall_seconds', 0):.0f}",
                                                                          r["error"]]
        else:
            rate = r.get("values_per_cpu_second")
            vals = [r.get("name", r.get("peer")), r.get("version", "?"), fmt_rate(rate)]
            if driftd:
                vals.append("1×" if r is driftd else fmt_ratio(driftd_rate, rate))
            setup = r.get("setup_seconds")
            wall = r.get("process_wall_seconds", r.get("wall_seconds"))
            vals += [delay_cell(r), false_alarm_cell(r), processed_cell(r),
                     "–" if setup is None else f"{setup:.1f}", "–" if wall is None else f"{wall:.0f}",
                     r.get("notes", "")]
        out.append("| " + " | ".join(cell(v) for v in vals) + " |")
    return "\n".join(out)


def main(argv=None):
    a = parse_args(argv)
    a.dir = os.path.abspath(a.dir)
    with open(os.path.join(a.dir, "meta.json")) as fh:
        meta = json.load(fh)
    names = list(PEERS) if not a.only else [n.strip() for n in a.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in PEERS]
    if unknown:
        sys.exit(f"unknown peer(s): {', '.join(unknown)}; known: {', '.join(PEERS)}")
    extra = {}
    for spec in a.args:
        name, _, rest = spec.partition("=")
        extra.setdefault(name, []).extend(shlex.split(rest))

    started = dt.datetime.now(dt.timezone.utc)
    results = []
    for name in names:
        script, args = PEERS[name]
        args = list(args) + (QUICK[name] if a.quick else []) + extra.get(name, [])
        results.append(run_peer(name, script, args, a))
    driftd = load_driftd(a.driftd_result) if a.driftd_result else None

    md = [f"# Peer drift detectors on `{a.dir}`", "",
          f"Stream: {meta['events']:,} events, change point {meta['change_point']:,}, "
          f"{len(meta['numeric_features'])} numeric + {len(meta.get('categorical_features', []))} categorical "
          f"features, drifted {', '.join(meta.get('drifted_features', [])) or 'none'} ({meta.get('drift', '?')}), "
          f"window {meta['window']}, hop {meta['hop']}, seed {meta.get('seed')}.",
          f"Run {started:%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores, Python {platform.python_version()}"
          f"{' (--quick: sizes too small to compare)' if a.quick else ''}. Throughput = feature values fed / "
          f"process CPU seconds of the detection loop (JSON parsing and setup excluded). False alarms are alarm "
          f"events before the change point, summed across features for per-feature detectors.", "",
          table(results, driftd), ""]
    text = "\n".join(md)
    out_dir = a.out_dir or os.path.join(a.dir, "peers-results")
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "peers.md"), "w") as fh:
        fh.write(text)
    with open(os.path.join(out_dir, "peers.json"), "w") as fh:
        json.dump({"dir": a.dir, "meta": meta, "started": started.isoformat(), "quick": a.quick,
                   "driftd": driftd, "peers": results}, fh, indent=2)
        fh.write("\n")
    print(text)
    print(f"[run_peers] wrote {out_dir}/peers.md and peers.json", file=sys.stderr)
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
