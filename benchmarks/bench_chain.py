"""What the hash chain costs on write, and how long verifying a real store takes.

Run from the repository root::

    .venv/bin/python benchmarks/bench_chain.py                  # BPIC 2013, SQLite, 3 repeats
    .venv/bin/python benchmarks/bench_chain.py --pg auto        # and on a throwaway PostgreSQL
    .venv/bin/python benchmarks/bench_chain.py --quick          # first 1,000 tickets, 1 repeat

Data: the BPI Challenge 2013 incident log (7,554 tickets, 65,533 events; 73,087
stored events with the openings), read once with csmine's XES reader.

Comparisons, each into a fresh store, repeats alternating the two variants:

* **bulk import** (``TicketStore.import_histories``, 500 tickets per transaction,
  the path ``csmine import`` takes): as shipped, against the same code with
  ``write_chain`` replaced by a no-op (events and read model written, no chain rows,
  no head). The difference is the chain's whole write cost: reading the previous
  links, hashing, inserting the chain rows and updating the head.
* **library save** (``Application.save(*tickets)``, 500 ticket aggregates per call):
  the library's own SQLite recorder against csmine's ``ChainedSQLiteApplicationRecorder``
  (the path of single commands such as ``csmine record``). Only ``save`` is timed.
* **verify**: ``verify_store`` on the chained BPIC store (re-hash every event, rebuild
  the Merkle tree), wall and CPU seconds.

Times are medians over ``--repeats``; the cost is ``chain / no chain - 1`` in time
(and the matching loss in events per second).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    PostgresHandle,
    Record,
    datasets_root,
    machine_note,
    median,
    print_records,
    write_json,
)

BATCH = 500


def read_bpic(limit: int | None) -> list[Any]:
    from event_store.io.importing import read_histories

    path = datasets_root() / "bpic2013" / "BPI_Challenge_2013_incidents.xes.gz"
    if not path.exists():
        sys.exit(f"bench_chain: {path} not found (set CSMINE_DATASETS)")
    histories = read_histories(str(path))
    return histories[:limit] if limit else histories


def bulk_import(histories: list[Any], location: str, *, chain: bool) -> float:
    """Seconds for ``import_histories`` into a fresh store, with or without the chain."""
    import event_store.persistence.import_objects as application  # the object path's chain writer
    from event_store import open_store

    original = application.write_chain
    if not chain:
        application.write_chain = lambda cur, stored, nids: None  # type: ignore[assignment]
    try:
        with open_store(location, create=True) as store:
            t0 = time.perf_counter()
            store.import_histories(histories, batch_size=BATCH)
            return time.perf_counter() - t0
    finally:
        application.write_chain = original  # type: ignore[assignment]


def library_save(histories: list[Any], path: str, *, chain: bool) -> float:
    """Seconds spent in ``Application.save`` for all tickets, 500 aggregates per call."""
    from eventsourcing.application import Application

    from event_store.domain import Ticket

    topic = ("event_store.persistence.recorders:ChainedSQLiteApplicationRecorder" if chain
             else "eventsourcing.sqlite:SQLiteApplicationRecorder")
    app = Application(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": path,
                           "APPLICATION_RECORDER_TOPIC": topic, "IS_SNAPSHOTTING_ENABLED": "no"})
    spent = 0.0
    try:
        for i in range(0, len(histories), BATCH):
            tickets = []
            for h in histories[i:i + BATCH]:
                t = Ticket(external_id=h.ticket, occurred_at=h.opened_at, case=dict(h.case),
                           source_ref=h.source_ref)
                for row in h.steps:
                    t.record_activity(row.activity, row.occurred_at, actor=row.actor, team=row.team,
                                      started_at=row.started_at, source_ref=row.source_ref,
                                      attrs=row.attrs or None)
                tickets.append(t)
            t0 = time.perf_counter()
            app.save(*tickets)
            spent += time.perf_counter() - t0
    finally:
        app.close()
    return spent


def verify(location: str) -> tuple[float, float, int]:
    """(wall s, CPU s, events) of verify_store on an existing store."""
    from event_store import open_store
    from event_store.integrity.verify import verify_store

    with open_store(location) as store:
        c0, t0 = time.process_time(), time.perf_counter()
        report = verify_store(store)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    if not report.ok:
        sys.exit(f"bench_chain: the imported store does not verify: {report.first}")
    return wall, cpu, report.events


def cost_record(name: str, chained: list[float], plain: list[float], events: int, repeats: int) -> Record:
    with_chain, without = median(chained), median(plain)
    cost = with_chain / without - 1
    return Record(
        benchmark="bench_chain", name=name, csmine_s=round(with_chain, 2), pm4py_s=None, ratio=None,
        repeats=repeats,
        note=(f"with chain {with_chain:.2f} s ({events / with_chain:,.0f} ev/s), without {without:.2f} s "
              f"({events / without:,.0f} ev/s): chain costs {cost:+.1%} time, "
              f"{(without / with_chain - 1):+.1%} events/s"),
        extra={"with_chain_s": chained, "without_chain_s": plain, "events": events, "cost": cost},
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="first 1,000 tickets, one repeat")
    parser.add_argument("--repeats", type=int, help="measurements per variant (default 3; 1 with --quick)")
    parser.add_argument("--pg", metavar="URL|auto", help="also measure the bulk import on PostgreSQL")
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON")
    args = parser.parse_args(argv)
    repeats = args.repeats or (1 if args.quick else 3)
    histories = read_bpic(1000 if args.quick else None)
    events = sum(len(h.steps) + 1 for h in histories)
    print(f"BPIC 2013: {len(histories):,} tickets, {events:,} stored events; {machine_note()}", file=sys.stderr)
    records: list[Record] = []
    with tempfile.TemporaryDirectory(prefix="bench-chain-") as tmp:
        runs: dict[str, list[float]] = {"chain": [], "plain": []}
        chained_store = ""
        for r in range(repeats):
            for variant in (("chain", "plain") if r % 2 == 0 else ("plain", "chain")):
                path = os.path.join(tmp, f"import-{variant}-{r}.db")
                runs[variant].append(bulk_import(histories, path, chain=variant == "chain"))
                print(f"  bulk import {variant:<5} run {r + 1}: {runs[variant][-1]:.2f} s", file=sys.stderr)
                if variant == "chain":
                    chained_store = path
        records.append(cost_record("bulk import, SQLite (csmine import)", runs["chain"], runs["plain"],
                                   events, repeats))

        saves: dict[str, list[float]] = {"chain": [], "plain": []}
        for r in range(repeats):
            for variant in (("chain", "plain") if r % 2 == 0 else ("plain", "chain")):
                path = os.path.join(tmp, f"save-{variant}-{r}.db")
                saves[variant].append(library_save(histories, path, chain=variant == "chain"))
                print(f"  library save {variant:<5} run {r + 1}: {saves[variant][-1]:.2f} s", file=sys.stderr)
        records.append(cost_record("library save(*500), SQLite recorder", saves["chain"], saves["plain"],
                                   events, repeats))

        walls, cpus = [], []
        for _ in range(repeats):
            wall, cpu, n = verify(chained_store)
            walls.append(wall)
            cpus.append(cpu)
        records.append(Record(
            benchmark="bench_chain", name="verify_store, SQLite", csmine_s=round(median(walls), 2), pm4py_s=None,
            ratio=None, repeats=repeats, target="<= 10 s", met=median(walls) <= 10,
            note=f"{n:,} events re-hashed, Merkle tree rebuilt; CPU {median(cpus):.2f} s "
                 f"({n / median(walls):,.0f} events/s)",
            extra={"wall_s": walls, "cpu_s": cpus, "events": n}))

        if args.pg:
            with PostgresHandle(args.pg) as pg:
                pg_runs: dict[str, list[float]] = {"chain": [], "plain": []}
                last_chained = ""
                for r in range(repeats):
                    for variant in (("chain", "plain") if r % 2 == 0 else ("plain", "chain")):
                        url = pg.fresh_database(f"chain_{variant}")
                        pg_runs[variant].append(bulk_import(histories, url, chain=variant == "chain"))
                        print(f"  pg bulk import {variant:<5} run {r + 1}: {pg_runs[variant][-1]:.2f} s",
                              file=sys.stderr)
                        if variant == "chain":
                            last_chained = url
                records.append(cost_record("bulk import, PostgreSQL", pg_runs["chain"], pg_runs["plain"],
                                           events, repeats))
                wall, cpu, n = verify(last_chained)
                records.append(Record(
                    benchmark="bench_chain", name="verify_store, PostgreSQL", csmine_s=round(wall, 2),
                    pm4py_s=None, ratio=None, target="<= 10 s", met=wall <= 10,
                    note=f"{n:,} events re-hashed; CPU {cpu:.2f} s"))
    print_records(records)
    write_json(args.json, records)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
