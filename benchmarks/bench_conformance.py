"""`csmine conform` analytics against pm4py's alignments on BPIC 2013, same log and net.

Run from the repository root::

    .venv/bin/python benchmarks/bench_conformance.py            # whole log (pm4py: minutes)
    .venv/bin/python benchmarks/bench_conformance.py --quick    # 500 sampled tickets
    .venv/bin/python benchmarks/bench_conformance.py --json out.json

The log is BPI Challenge 2013 incidents (activity = ``concept:name/lifecycle:transition``),
the net the shipped ``it-incident`` SOP's workflow net (``sop.to_petri_net()``, built
once and given to both tools). Activities are mapped onto SOP steps with the SOP's
aliases before pm4py sees them, exactly as csmine maps them.

* **csmine**: ``check_conformance(df, sop)`` -- the whole ``csmine conform`` analysis:
  mapping, variants, exact alignments, fitness, align-ETC precision, deviations in
  words per step / team / agent / week, worst tickets. Measured cold (caches emptied,
  so every variant is aligned) and warm (the per-variant alignments of an earlier call
  in the same process are reused).
* **pm4py**: ``pm4py.conformance_diagnostics_alignments(log, net, im, fm,
  multi_processing=False)`` -- alignments only (no precision, no deviations), on the
  log already converted to pm4py's EventLog outside the timed call (which favours
  pm4py). pm4py's multiprocessing is not used: it fails on 2-core machines.

Both calls run in this process, one after the other; the benchmark prints both wall
times, the ratio pm4py / csmine, the peak memory increase, and checks that every
ticket gets the same optimal alignment cost and fitness from both.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import warnings
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    Record,
    cache_dir,
    datasets_root,
    machine_note,
    measure,
    print_records,
    ratio,
    write_json,
)

CASE = "case:concept:name"
ACT = "concept:name"
TS = "time:timestamp"


def load_bpic() -> pd.DataFrame:
    """BPIC 2013 incidents as an event-log frame (cached as Parquet after the first read)."""
    source = datasets_root() / "bpic2013" / "BPI_Challenge_2013_incidents.xes.gz"
    cached = cache_dir() / f"bpic2013-conformance-{int(source.stat().st_mtime)}.parquet"
    if cached.exists():
        return pd.read_parquet(cached)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pm4py

        raw = pm4py.read_xes(str(source), show_progress_bar=False)
    df = pd.DataFrame({
        CASE: raw[CASE].astype(str).to_numpy(dtype=object),
        ACT: (raw[ACT].astype(str) + "/" + raw["lifecycle:transition"].astype(str)).to_numpy(dtype=object),
        TS: raw[TS],
        "org:resource": raw["org:resource"].astype(object).to_numpy(),
        "org:group": raw["org:group"].astype(object).to_numpy(),
    })
    df.to_parquet(cached)
    return df


def clear_caches() -> None:
    from csmine.conformance import alignments, classify, engines

    classify._CLASSIFIED.clear()
    engines._NETS.clear()
    alignments._MODEL_CACHE.clear()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="500 sampled tickets instead of all 7,554")
    parser.add_argument("--sop", default="it-incident", help="shipped SOP name or file (default it-incident)")
    parser.add_argument("--json", metavar="PATH", help="write the result records as JSON")
    args = parser.parse_args()

    from pm4py.util import constants

    from process_models import load_sop

    from csmine.conformance.deviations import check_conformance, ticket_fitness
    from csmine.conformance.engines import sop_net

    constants.SHOW_PROGRESS_BAR = False
    df = load_bpic()
    if args.quick:
        tickets = sorted(df[CASE].unique())
        keep = set(random.Random(2013).sample(tickets, 500))
        df = df[df[CASE].isin(keep)].reset_index(drop=True)
    sop = load_sop(args.sop)
    n_tickets = df[CASE].nunique()
    print(f"BPIC 2013: {n_tickets:,} tickets, {len(df):,} events; SOP {sop.id} v{sop.version}", flush=True)

    clear_caches()
    net = sop_net(sop)  # the very net both tools use
    report, csmine_cold, csmine_mb, how = measure(lambda: check_conformance(df, sop))
    _, csmine_warm, _, _ = measure(lambda: check_conformance(df, sop))
    print(f"csmine check_conformance: {csmine_cold:.2f} s cold, {csmine_warm:.2f} s warm "
          f"({report.variants:,} variants; fitness {report.log_fitness:.4f}, precision {report.precision:.4f}, "
          f"fitting {report.fitting_share:.1%})", flush=True)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pm4py

        mapped = df[[CASE, ACT, TS]].copy()
        mapped[ACT] = mapped[ACT].map(sop.activity_map()).fillna(mapped[ACT])
        event_log = pm4py.convert_to_event_log(mapped)
        t0 = time.perf_counter()
        aligned, pm4py_s, pm4py_mb, _ = measure(
            lambda: pm4py.conformance_diagnostics_alignments(event_log, *net, multi_processing=False)
        )
        print(f"pm4py conformance_diagnostics_alignments: {pm4py_s:.2f} s "
              f"(wall incl. measuring {time.perf_counter() - t0:.2f} s)", flush=True)

    ours = ticket_fitness(df, sop)
    theirs = {str(tr.attributes[ACT]): (int(a["cost"]), float(a["fitness"])) for tr, a in
              zip(event_log, aligned, strict=True)}
    mismatches = [t for t, (c, f) in theirs.items()
                  if (int(ours.at[t, "cost"]), float(ours.at[t, "fitness"])) != (c, f)]
    same = not mismatches and len(theirs) == len(ours)
    r = ratio(pm4py_s, csmine_cold)
    print(f"ratio pm4py / csmine (cold): {r}x; per-ticket costs and fitness "
          f"{'identical' if same else f'DIFFER for {len(mismatches)} tickets'}")
    records = [Record(
        benchmark="bench_conformance",
        name=f"BPIC13 conform vs pm4py alignments ({'500 tickets' if args.quick else 'all'})",
        csmine_s=round(csmine_cold, 3), pm4py_s=round(pm4py_s, 3), ratio=r,
        csmine_peak_mb=round(csmine_mb, 1), pm4py_peak_mb=round(pm4py_mb, 1),
        target="csmine <= 5 s, equal costs", met=bool(same and csmine_cold <= 5.0), memory=how,
        note=f"csmine warm {csmine_warm:.2f} s; {report.variants:,} variants; fitness {report.log_fitness:.4f}",
        extra={"tickets": n_tickets, "events": len(df), "csmine_warm_s": round(csmine_warm, 3),
               "equal": same, "log_fitness": report.log_fitness, "precision": report.precision},
    )]
    print()
    print(machine_note())
    print_records(records)
    if args.json:
        write_json(args.json, records)
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
