"""The pm4py side of the end-to-end benchmark: the report's figures from a CSV with pm4py.

What a pm4py user writes to get the figures of ``csmine report`` from an exported
event log: read the CSV, ``pm4py.format_dataframe``, the directly-follows graph
(frequencies, start and end activities), the performance DFG (waiting time from the
completion of one step to the start of the next, mean/median/... per path, like the
report's performance map), the variants (top 15 with counts and coverage), and the
alignment-based fitness of the log against the complaint SOP's Petri net
(``process_models.load_sop('complaint').to_petri_net()``), single process.

Run from the repository root::

    .venv/bin/python benchmarks/pm4py_report.py tickets.csv [--sop complaint] [--out figures.json]
        [--render DIR] [--perf completion]

The script prints one JSON object on stdout: the figures' sizes, the fitness, the
top variants and the seconds spent in each stage (``stages``). ``--render DIR``
also draws the two maps as SVG with ``pm4py.save_vis_dfg`` /
``save_vis_performance_dfg`` (Graphviz ``dot``), which the report does as well.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

CASE = "case:concept:name"
ACT = "concept:name"
TS = "time:timestamp"
START = "start_timestamp"


def sop_net(name: str) -> tuple[Any, Any, Any]:
    """The SOP's Petri net (visible labels = step names), as the report checks against."""
    from process_models import load_sop

    return load_sop(name).to_petri_net()  # type: ignore[no-any-return]


def run(csv: str, *, sop: str = "complaint", perf: str = "waiting", render: str | None = None,
        top: int = 15) -> dict[str, Any]:
    """Compute the figures; returns them with the seconds of each stage."""
    import pandas as pd
    import pm4py
    from pm4py.util import constants

    constants.SHOW_PROGRESS_BAR = False
    stages: dict[str, float] = {}

    def stage(name: str, t0: float) -> float:
        now = time.perf_counter()
        stages[name] = round(now - t0, 3)
        return now

    t = time.perf_counter()
    net, im, fm = sop_net(sop)
    t = stage("sop_net", t)
    df = pd.read_csv(csv)
    t = stage("read_csv", t)
    has_start = START in df.columns
    df = pm4py.format_dataframe(df, case_id=CASE, activity_key=ACT, timestamp_key=TS,
                                start_timestamp_key=START if has_start else TS)
    t = stage("format_dataframe", t)

    dfg, start_acts, end_acts = pm4py.discover_dfg(df)
    t = stage("dfg", t)

    if perf == "waiting" and has_start:
        from pm4py.algo.discovery.dfg.adapters.pandas.df_statistics import get_dfg_graph

        # A step without a recorded start took no time: its start is its completion.
        starts = df[START].fillna(df[TS])
        perf_df = df[[CASE, ACT, TS]].assign(**{START: starts})
        perf_dfg = get_dfg_graph(perf_df, measure="performance", activity_key=ACT, case_id_glue=CASE,
                                 timestamp_key=TS, start_timestamp_key=START, perf_aggregation_key="all")
    else:
        perf_dfg, _, _ = pm4py.discover_performance_dfg(df)
    t = stage("performance_dfg", t)

    variants = pm4py.get_variants(df)
    ranked = sorted(variants.items(), key=lambda kv: (-kv[1], kv[0]))
    n_cases = int(df[CASE].nunique())
    top_rows = []
    running = 0
    for v, count in ranked[:top]:
        running += int(count)
        top_rows.append({"activities": list(v), "tickets": int(count), "cumulative_share": running / n_cases})
    t = stage("variants", t)

    fitness = pm4py.fitness_alignments(df, net, im, fm, multi_processing=False)
    t = stage("fitness_alignments", t)

    if render:
        out = Path(render)
        out.mkdir(parents=True, exist_ok=True)
        pm4py.save_vis_dfg(dfg, start_acts, end_acts, str(out / "dfg.svg"))
        pm4py.save_vis_performance_dfg(perf_dfg, start_acts, end_acts, str(out / "performance_dfg.svg"),
                                       aggregation_measure="median")
        t = stage("render", t)

    median_wait = {f"{a} -> {b}": round(float(v["median"]), 1) for (a, b), v in perf_dfg.items()}
    return {
        "events": len(df),
        "cases": n_cases,
        "dfg_edges": len(dfg),
        "dfg_events": int(sum(dfg.values())),
        "start_activities": {k: int(v) for k, v in start_acts.items()},
        "end_activities": {k: int(v) for k, v in end_acts.items()},
        "performance_dfg_median_s": median_wait,
        "variants": len(variants),
        "top_variants": top_rows,
        "fitness": {k: float(v) for k, v in fitness.items()},
        "stages": stages,
        "total_s": round(sum(stages.values()), 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("csv", help="event log CSV with pm4py column names (case:concept:name, concept:name, "
                                    "time:timestamp, optional start_timestamp)")
    parser.add_argument("--sop", default="complaint", help="shipped SOP name or file (default complaint)")
    parser.add_argument("--perf", choices=["waiting", "completion"], default="waiting",
                        help="performance DFG: waiting (completion -> next start, as the report) or "
                             "completion -> completion (pm4py's default)")
    parser.add_argument("--render", metavar="DIR", help="also draw the DFG and performance DFG as SVG")
    parser.add_argument("--out", metavar="PATH", help="write the figures as JSON here as well")
    args = parser.parse_args(argv)
    figures = run(args.csv, sop=args.sop, perf=args.perf, render=args.render)
    text = json.dumps(figures, ensure_ascii=False)
    if args.out:
        Path(args.out).write_text(json.dumps(figures, indent=2, ensure_ascii=False), encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
