#!/usr/bin/env python3
"""Evidently data drift (DataDriftPreset, default stattests and drift_share=0.5) on windows of `window`
events against a sample of the reference, alarm on dataset drift."""
import argparse
import time
import warnings

import numpy as np

import common


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("dir")
    p.add_argument("--api", choices=["legacy", "current"], default="legacy",
                   help="legacy: evidently.legacy Report(metrics=[DataDriftPreset()]) (~0.4 s/window here); "
                        "current: evidently.Report([DataDriftPreset()]) (~2 s/window here)")
    p.add_argument("--step", type=int, default=None,
                   help="events between evaluations (default: window, i.e. tumbling windows; meta.hop for sliding)")
    p.add_argument("--reference-rows", type=int, default=5000, help="reference sample size (default %(default)s)")
    common.add_range_args(p)
    a = p.parse_args()
    warnings.filterwarnings("ignore")

    import pandas as pd

    first, stop = common.event_range(a.dir, a.before, a.after)
    b = common.Bench(a.dir, first_event=first, stop_event=stop, load_categorical=True,
                     reference_rows=a.reference_rows)
    t0 = time.process_time()
    cols = b.numeric + b.categorical

    def frame(X, C):
        df = pd.DataFrame(X, columns=b.numeric)
        for j, c in enumerate(b.categorical):
            df[c] = [row[j] for row in C]
        return df

    stream_df = frame(b.X, b.C)
    b.parse_cpu_seconds += time.process_time() - t0
    W = b.window
    step = a.step or W

    with common.CPUTimer() as setup:
        ref_df = frame(b.ref_X, b.ref_C)
        if a.api == "legacy":
            from evidently.legacy.metric_preset import DataDriftPreset
            from evidently.legacy.pipeline.column_mapping import ColumnMapping
            from evidently.legacy.report import Report
            mapping = ColumnMapping(numerical_features=b.numeric, categorical_features=b.categorical)
        else:
            from evidently import DataDefinition, Dataset, Report
            from evidently.presets import DataDriftPreset
            definition = DataDefinition(numerical_columns=b.numeric, categorical_columns=b.categorical)
            ref_ds = Dataset.from_pandas(ref_df, data_definition=definition)
            report = Report([DataDriftPreset()])

    alarms, column_alarms = [], []
    evaluations = 0
    methods = {}
    with common.CPUTimer() as run:
        for end in range(W, b.n_events + 1):
            if (end - W) % step:
                continue
            evaluations += 1
            cur = stream_df.iloc[end - W:end]
            idx = first + end - 1
            if a.api == "legacy":
                rep = Report(metrics=[DataDriftPreset()])
                rep.run(reference_data=ref_df, current_data=cur, column_mapping=mapping)
                out = rep.as_dict()
                ds = out["metrics"][0]["result"]
                if ds["dataset_drift"]:
                    alarms.append((idx, None))
                for col, r in out["metrics"][1]["result"]["drift_by_columns"].items():
                    methods[col] = r["stattest_name"]
                    if r["drift_detected"]:
                        column_alarms.append((idx, col))
            else:
                snap = report.run(Dataset.from_pandas(cur, data_definition=definition), ref_ds)
                m0 = snap.dict()["metrics"][0]
                share = m0["value"]["share"]
                drift_share = m0["config"].get("drift_share", 0.5)
                if share >= drift_share:
                    alarms.append((idx, None))
                count = int(round(m0["value"]["count"]))
                column_alarms.extend([(idx, None)] * count)

    cp = b.change_point
    col_stable = sum(1 for i, _ in column_alarms if i < cp)
    col_after_drifted = [i for i, c in column_alarms if i >= cp and c in b.drifted]
    col_after_any = [i for i, _ in column_alarms if i >= cp]
    per_col = ""
    if methods:
        kinds = sorted(set(methods.values()))
        per_col = f"per-column tests chosen by Evidently: {', '.join(kinds)}; "
    col_delay = (col_after_drifted[0] - cp) if col_after_drifted else ((col_after_any[0] - cp) if col_after_any and a.api == "current" else None)
    api = ("legacy evidently.legacy.report.Report(metrics=[DataDriftPreset()])" if a.api == "legacy"
           else "evidently.Report([DataDriftPreset()])")
    notes = (f"{api}, defaults (drift_share=0.5); reference = random sample of {len(b.ref_X)} of "
             f"{b.reference_rows_total} reference rows; current = last {W} events, evaluated every {step} events "
             f"({'tumbling windows' if step == W else 'sliding windows'}; {evaluations} evaluations); alarm = "
             f"dataset_drift (one alarm event per alarming window, no reset needed: stateless); {per_col}"
             f"column-level drift flags (not alarms here): {col_stable} on the stable part, first on a drifted "
             f"feature {col_delay} events after the change point; values count numeric+categorical features "
             f"({len(cols)}); processed {common.range_note(b)}.")
    res = common.result(
        b, name=f"Evidently DataDriftPreset ({a.api} API)", version=common.package_version("evidently"),
        values=b.n_events * len(cols), cpu_seconds=run.cpu, wall_seconds=run.wall, alarms=alarms,
        setup_seconds=setup.cpu, setup_wall_seconds=setup.wall, notes=notes,
        extra={"evaluations": evaluations, "reference_rows": int(len(b.ref_X)),
               "column_drift_flags_stable": col_stable, "column_drift_delay_events": col_delay,
               "cpu_seconds_per_evaluation": round(run.cpu / evaluations, 4) if evaluations else None})
    common.emit(res)


if __name__ == "__main__":
    main()
