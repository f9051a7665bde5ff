"""Import real logs into the store against ``pm4py.read_xes``; read the store for mining.

Run from the repository root::

    .venv/bin/python benchmarks/bench_import.py                  # BPIC 2013 + Helpdesk on SQLite, 1M-event read
    .venv/bin/python benchmarks/bench_import.py --pg auto        # also PostgreSQL (a throwaway server)
    .venv/bin/python benchmarks/bench_import.py --pg postgresql://user@host/db --repeats 5
    .venv/bin/python benchmarks/bench_import.py --quick          # 1 repeat, 100k-event read

**Import** (target: csmine at most half of pm4py's time on BPIC 2013, SQLite): the whole
``csmine import`` path in this process -- parse the XES file, write every event with its
hash-chain link and its ``event_log`` read-model row into a fresh store -- against
``pm4py.read_xes`` of the same file (its own lxml-based parser, no progress bar).
Runs alternate between the two; each time is the best of ``--repeats`` (the machine
may be shared; the load average is printed), CPU seconds are printed as well.

**Read for mining** (target: >= 1M events/s): ``csmine.eventlog.loading.load_event_log`` on a
store of about 1M synthetic events (the demo simulator, cached) against decoding the
same stored events one by one with the library (``select_notifications`` +
``mapper.to_domain_event``), the way a replay-based read model would.
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

DATASETS = {
    "bpic2013": ("bpic2013", "BPI_Challenge_2013_incidents.xes.gz"),
    "helpdesk": ("helpdesk", "helpdesk_4580cases.xes.gz"),
}


def csmine_import(path: str, location: str) -> dict[str, Any]:
    from event_store import open_store
    from event_store.io.importing import read_histories

    histories = read_histories(path)
    with open_store(location, create=True) as store:
        result = store.import_histories(histories)
        chain = store.db.query("SELECT size FROM chain_head")[0][0]
    return {"events": result.events_added, "tickets": result.tickets_added, "chain": chain}


def pm4py_read(path: str) -> int:
    import pm4py

    return len(pm4py.read_xes(path, show_progress_bar=False))


def timed(fn: Any) -> tuple[Any, float, float, float]:
    """(result, wall s, cpu s, peak MB) of one call."""
    c0 = time.process_time()
    result, seconds, peak, _ = common.measure(fn)
    return result, seconds, time.process_time() - c0, peak


def bench_import(name: str, path: str, repeats: int, fresh: Any, backend: str) -> common.Record:
    best_cs = best_pm = None
    for _ in range(repeats):
        location = fresh(name)
        out, wall, cpu, peak = timed(lambda location=location: csmine_import(path, location))
        if best_cs is None or wall < best_cs[0]:
            best_cs = (wall, cpu, peak, out)
        if backend == "sqlite":
            rows, wall, cpu, peak = timed(lambda: pm4py_read(path))
            if best_pm is None or wall < best_pm[0]:
                best_pm = (wall, cpu, peak, rows)
    assert best_cs is not None
    cs_wall, cs_cpu, cs_peak, out = best_cs
    note = f"{out['events']:,} events, {out['tickets']:,} tickets, chain {out['chain']:,}; csmine cpu {cs_cpu:.2f} s"
    if best_pm is None:  # PostgreSQL: pm4py has no store; the SQLite row carries the comparison
        return common.Record("bench_import", f"import {name} ({backend})", round(cs_wall, 3), None, None,
                             round(cs_peak), None, repeats=repeats, note=note + f", {out['events'] / cs_wall:,.0f} ev/s")
    pm_wall, pm_cpu, pm_peak, rows = best_pm
    assert rows == out["events"], (rows, out)
    share = cs_wall / pm_wall
    target = "<= 0.5 of pm4py" if name == "bpic2013" else None
    return common.Record(
        "bench_import", f"import {name} vs read_xes ({backend})", round(cs_wall, 3), round(pm_wall, 3),
        common.ratio(pm_wall, cs_wall), round(cs_peak), round(pm_peak), target=target,
        met=(share <= 0.5) if target else None, repeats=repeats,
        note=note + f", pm4py cpu {pm_cpu:.2f} s; csmine takes {share:.2f} of pm4py's time",
    )


def build_read_store(n_events: int, location: str) -> int:
    from event_store import open_store

    sim = common.synthetic(n_events)
    with open_store(location, create=True) as store:
        store.import_histories(sim.histories)
        return int(store.db.query("SELECT COUNT(*) FROM event_log")[0][0])


def decode_one_by_one(store: Any) -> int:
    n = 0
    position = 0
    mapper = store.mapper
    while True:
        items = store.recorder.select_notifications(position, 10_000, inclusive_of_start=False)
        if not items:
            return n
        for item in items:
            mapper.to_domain_event(item)
            n += 1
        position = items[-1].id


def bench_read(n_events: int, location: str, backend: str, repeats: int) -> common.Record:
    from event_store import open_store

    from csmine.eventlog.loading import load_event_log

    rows = build_read_store(n_events, location)
    with open_store(location) as store:
        load_event_log(store)  # warm: caches, the projection caught up
        best = None
        for _ in range(repeats):
            df, wall, cpu, peak = timed(lambda: load_event_log(store))
            if best is None or wall < best[0]:
                best = (wall, cpu, peak, len(df))
        assert best is not None and best[3] == rows
        decoded, d_wall, d_cpu, d_peak = timed(lambda: decode_one_by_one(store))
    rate = rows / best[0]
    return common.Record(
        "bench_import", f"load_event_log {rows / 1e6:.2f}M ev ({backend})", round(best[0], 3), round(d_wall, 3),
        common.ratio(d_wall, best[0]), round(best[2]), round(d_peak), target=">= 1M ev/s",
        met=rate >= 1_000_000, repeats=repeats,
        note=f"{rate:,.0f} events/s into a DataFrame; decoding stored events one by one: "
             f"{decoded / d_wall:,.0f} events/s ({decoded:,} stored events incl. openings)",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per measurement; the best is kept")
    parser.add_argument("--datasets", default="bpic2013,helpdesk", help="comma-separated: bpic2013, helpdesk")
    parser.add_argument("--read-events", type=int, default=1_000_000, help="size of the synthetic read store")
    parser.add_argument("--skip-read", action="store_true", help="only the import comparison")
    parser.add_argument("--pg", metavar="URL", help="also PostgreSQL: a server URL, or 'auto' for a throwaway one")
    parser.add_argument("--quick", action="store_true", help="1 repeat and a 100k-event read store")
    parser.add_argument("--json", metavar="PATH", help="write the result rows as JSON")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.read_events = 1, min(args.read_events, 100_000)
    warnings.filterwarnings("ignore")
    print(f"machine: {common.machine_note()}", flush=True)
    records: list[common.Record] = []
    workdir = Path(tempfile.mkdtemp(prefix="csmine-bench-import-"))
    counter = iter(range(10**6))
    try:
        def fresh_sqlite(label: str) -> str:
            return str(workdir / f"{label}-{next(counter)}.db")

        backends: list[tuple[str, Any]] = [("sqlite", fresh_sqlite)]
        with common.PostgresHandle(args.pg) if args.pg else _Nothing() as pg:
            if args.pg:
                backends.append(("postgres", pg.fresh_database))
            for backend, fresh in backends:
                for name in [d.strip() for d in args.datasets.split(",") if d.strip()]:
                    path = str(common.datasets_root().joinpath(*DATASETS[name]))
                    if not os.path.exists(path):
                        print(f"skipping {name}: {path} not found (set CSMINE_DATASETS)", file=sys.stderr)
                        continue
                    records.append(bench_import(name, path, args.repeats, fresh, backend))
                    common.print_records(records[-1:])
                if not args.skip_read:
                    records.append(bench_read(args.read_events, fresh("read"), backend, args.repeats))
                    common.print_records(records[-1:])
        print()
        common.print_records(records)
        common.write_json(args.json, records)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if all(r.met is not False for r in records) else 1


class _Nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


if __name__ == "__main__":
    raise SystemExit(main())
