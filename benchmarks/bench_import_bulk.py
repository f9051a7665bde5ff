"""The import rows of issue 18: CSV -> SQLite, -> PostgreSQL, XES, both sides in one run.

Run from the repository root::

    .venv/bin/python benchmarks/bench_import_bulk.py                 # 1M-event CSV -> SQLite, BPIC 2013 XES
    .venv/bin/python benchmarks/bench_import_bulk.py --pg auto       # plus 1M events -> PostgreSQL
    .venv/bin/python benchmarks/bench_import_bulk.py --events 10000000 --only csv --repeats 1   # the 10M row
    .venv/bin/python benchmarks/bench_import_bulk.py --quick         # 100k events, 1 repeat

Rows (each the median of ``--repeats`` runs, the two sides alternating):

* **CSV -> SQLite**: the whole ``csmine import`` path in this process (read the CSV,
  write events, hash chain and read model into a fresh store), against pandas
  ``read_csv`` + ``pm4py.format_dataframe`` of the same file. Targets: <= 12 s and
  <= 6x the pandas side at 1M events.
* **CSV -> PostgreSQL** (``--pg``): the same import into a fresh database. Target <= 20 s.
* **XES**: BPIC 2013 imported into a fresh SQLite store against ``pm4py.read_xes``.
  Target <= 0.35 of read_xes's time.

Peak memory is the process's peak RSS during the import (``clear_refs``), and the
events and chain sizes are checked against the source's row count.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402


def csmine_import(path: str, location: str) -> dict[str, Any]:
    from event_store import open_store
    from event_store.io.importing import read_log

    read = read_log(path)
    with open_store(location, create=True) as store:
        result = store.import_histories(read.histories, batch_size=5000)
        chain = store.db.query("SELECT size FROM chain_head")[0][0]
        log = store.db.query("SELECT COUNT(*) FROM event_log")[0][0]
    return {"events": result.events_added, "tickets": result.tickets_added, "chain": chain, "event_log": log}


def pandas_side(path: str) -> int:
    import pandas as pd
    import pm4py

    df = pd.read_csv(path)
    df = pm4py.format_dataframe(df, case_id="case:concept:name", activity_key="concept:name",
                                timestamp_key="time:timestamp")
    return len(df)


def pm4py_xes(path: str) -> int:
    import pm4py

    return len(pm4py.read_xes(path, show_progress_bar=False))


def _run(fn: Any) -> tuple[Any, float, float, float]:
    c0 = time.process_time()
    result, seconds, peak, _ = common.measure(fn)
    return result, seconds, time.process_time() - c0, peak


def bench(label: str, path: str, fresh: Any, other: Any, repeats: int, target_s: float | None,
          target_ratio: float | None, ratio_is_share: bool) -> common.Record:
    ours, theirs = [], []
    out = rows = None
    for _ in range(repeats):
        location = fresh()
        out, wall, cpu, peak = _run(lambda location=location: csmine_import(path, location))
        ours.append((wall, cpu, peak))
        print(f"  {label}: csmine {wall:.2f} s (cpu {cpu:.2f} s, {peak:.0f} MB)", flush=True)
        if other is not None:
            rows, w2, c2, p2 = _run(lambda: other(path))
            theirs.append((w2, c2, p2))
            print(f"  {label}: other side {w2:.2f} s (cpu {c2:.2f} s, {p2:.0f} MB)", flush=True)
    assert out is not None
    if rows is not None:
        assert rows == out["events"], (rows, out)
    assert out["chain"] == out["events"] + out["tickets"] and out["event_log"] == out["events"], out
    cs = common.median([w for w, _, _ in ours])
    cs_peak = max(p for _, _, p in ours)
    pm = common.median([w for w, _, _ in theirs]) if theirs else None
    met = True
    notes = [f"{out['events']:,} events, {out['tickets']:,} tickets, chain {out['chain']:,}",
             f"csmine cpu {common.median([c for _, c, _ in ours]):.1f} s", f"{out['events'] / cs:,.0f} ev/s"]
    if target_s is not None:
        met = met and cs <= target_s
    if pm is not None and target_ratio is not None:
        share = cs / pm
        notes.append(f"csmine takes {share:.2f}x the other side's time")
        met = met and share <= target_ratio
    target = " and ".join(t for t in (f"<= {target_s:g} s" if target_s else "",
                                       (f"<= {target_ratio:g} of it" if ratio_is_share else f"<= {target_ratio:g}x it")
                                       if target_ratio else "") if t)
    return common.Record("bench_import_bulk", label, round(cs, 3), None if pm is None else round(pm, 3),
                         common.ratio(pm, cs), round(cs_peak), round(max(p for _, _, p in theirs)) if theirs else None,
                         target=target or None, met=met, repeats=repeats, note="; ".join(notes))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per row; the median is kept")
    parser.add_argument("--events", type=int, default=1_000_000, help="size of the synthetic CSV")
    parser.add_argument("--only", action="append", choices=("csv", "pg", "xes"), help="rows to run (repeatable)")
    parser.add_argument("--pg", metavar="URL", help="also PostgreSQL: a server URL, or 'auto' for a throwaway one")
    parser.add_argument("--quick", action="store_true", help="100k events, 1 repeat")
    parser.add_argument("--json", metavar="PATH", help="write the result rows as JSON")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.events = 1, min(args.events, 100_000)
    only = set(args.only or ("csv", "pg", "xes"))
    warnings.filterwarnings("ignore")
    print(f"machine: {common.machine_note()}", flush=True)
    common.ensure_synthetic(args.events)
    csv_path = str(common.synthetic_csv(args.events))
    workdir = Path(tempfile.mkdtemp(prefix="csmine-bench-bulk-"))
    counter = iter(range(10**6))
    records: list[common.Record] = []
    big = args.events >= 1_000_000
    try:
        def fresh_sqlite() -> str:
            for old in workdir.glob("*.db*"):
                old.unlink()
            return str(workdir / f"s{next(counter)}.db")

        if "csv" in only:
            records.append(bench(f"CSV {args.events / 1e6:g}M ev -> SQLite vs pandas+format_dataframe", csv_path,
                                 fresh_sqlite, pandas_side, args.repeats, 12.0 if big else None,
                                 6.0, False))
            common.print_records(records[-1:])
        if "pg" in only and args.pg:
            with common.PostgresHandle(args.pg) as pg:
                records.append(bench(f"CSV {args.events / 1e6:g}M ev -> PostgreSQL", csv_path,
                                     lambda: pg.fresh_database("bulk"), None, args.repeats,
                                     20.0 if big else None, None, False))
            common.print_records(records[-1:])
        xes = common.datasets_root() / "bpic2013" / "BPI_Challenge_2013_incidents.xes.gz"
        if "xes" in only and xes.exists():
            records.append(bench("BPIC 2013 XES -> SQLite vs pm4py.read_xes", str(xes), fresh_sqlite, pm4py_xes,
                                 args.repeats, None, 0.35, True))
            common.print_records(records[-1:])
        print()
        common.print_records(records)
        common.write_json(args.json, records)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if all(r.met is not False for r in records) else 1


if __name__ == "__main__":
    raise SystemExit(main())
