"""PostgreSQL push-down: the engine aggregates in the server, no event moved out of it.

Run from the repository root::

    .venv/bin/python benchmarks/bench_engines_pg.py                  # 1M events, a throwaway server
    .venv/bin/python benchmarks/bench_engines_pg.py --events 10M     # the issue's size
    .venv/bin/python benchmarks/bench_engines_pg.py --pg postgresql://user@host/db

Data: the synthetic events of ``bench_engines.py`` (same generator, seed 19) copied
straight into the read-model table ``event_log`` of a fresh store with ``COPY`` (the
push-down reads only that table; the stored events and their chain are not made, so
the store is not one to verify). The database gets ``work_mem = 256MB`` (the server's
default 4 MB would sort on disk) and is analysed before timing.

Timed, from this process (whose peak memory shows that no events arrive):

* directly-follows counts, the process map (counts and waiting times), per-ticket KPI
  figures, variants: :class:`csmine.engines.base.PostgresEngine`;
* in the same run, the alternative: pulling the events out of the server into pandas
  (``SELECT ... ORDER BY``, the rows fetched) and counting the directly-follows pairs
  there.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
from bench_engines import _events, generate_chunk  # noqa: E402
from common import Record, measure, ratio  # noqa: E402

_COLUMNS = ("notification_id", "ticket", "version", "activity", "occurred_at", "started_at", "recorded_at", "team",
            "retracted", "corrected", "opened_at", "channel", "case_team")


def load(store: Any, events: int) -> tuple[int, int]:
    """COPY about ``events`` synthetic events into ``event_log``; (tickets, events)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv

    rng = np.random.default_rng(19)
    total_tickets = max(int(events / 8.0), 1)
    spacing = max(int(360 * 86_400_000_000 / total_tickets), 1)
    written = tickets = 0
    conn = store.db._connect()
    with conn.cursor() as cur:
        while written < events:
            table = generate_chunk(rng, tickets, 250_000, 1_704_067_200_000_000, spacing)
            table = table.slice(0, min(table.num_rows, events - written))
            n = table.num_rows
            us = {c: pc.cast(table[c], pa.int64()) for c in ("occurred_at", "started_at", "recorded_at", "opened_at")}
            out = pa.table({
                "notification_id": pa.array(np.arange(written + 1, written + n + 1, dtype=np.int64)),
                "ticket": table["ticket"], "version": table["version"], "activity": table["activity"],
                "occurred_at": us["occurred_at"], "started_at": us["started_at"], "recorded_at": us["recorded_at"],
                "team": table["team"], "retracted": pa.array(np.zeros(n, dtype=np.int64)),
                "corrected": pa.array(np.zeros(n, dtype=np.int64)), "opened_at": us["opened_at"],
                "channel": table["channel"], "case_team": table["case_team"],
            })
            buf = io.BytesIO()
            pcsv.write_csv(out, buf, pcsv.WriteOptions(include_header=False))
            with cur.copy(f"COPY event_log ({', '.join(_COLUMNS)}) FROM STDIN WITH (FORMAT csv)") as copy:
                copy.write(buf.getvalue())
            written += n
            tickets += 250_000
        cur.execute("ANALYZE event_log")
    conn.commit()
    return tickets, written


def pull_and_count(store: Any) -> Any:
    """The alternative to the push-down: every event out of the server, counted in pandas."""
    import pandas as pd

    with store.db.transaction() as cur:
        rows = cur.execute("SELECT ticket, activity FROM event_log WHERE retracted = 0 "
                           "ORDER BY ticket, occurred_at, version").fetchall()
    df = pd.DataFrame(rows, columns=["t", "a"])
    nxt = df.shift(-1)
    same = df["t"].to_numpy() == nxt["t"].to_numpy()
    return df[same].groupby([df["a"][same], nxt["a"][same]]).size()


def run(url: str, events: int) -> list[Record]:
    from event_store import open_store
    from process_models import load_sop

    from csmine.engines.base import PostgresEngine
    from csmine.engines.queries import ACTIVITY_INFO_COLUMNS, activity_info_rows, directly_follows_counts
    from csmine.engines.results import engine_map, engine_ticket_figures, engine_variants

    store = open_store(url, create=True)
    try:
        with store.db.transaction() as cur:
            cur.execute("SELECT current_database()")
            db = cur.fetchone()[0]
            cur.execute(f"ALTER DATABASE {db} SET work_mem = '256MB'")
        store.close()
        store = open_store(url)
        t0 = time.perf_counter()
        n_tickets, n_events = load(store, events)
        print(f"loaded {n_events:,} events, ~{n_tickets:,} tickets into event_log in "
              f"{time.perf_counter() - t0:.0f} s ({common.machine_note()})", flush=True)
        engine = PostgresEngine(store)
        acts = [r[0] for r in store.db.query("SELECT DISTINCT activity FROM event_log")]
        info = {"activity_info": (ACTIVITY_INFO_COLUMNS, activity_info_rows(acts))}
        sop = load_sop("complaint")
        records: list[Record] = []
        pushed: dict[str, float] = {}
        for name, fn in (("directly-follows counts", lambda: engine.run([directly_follows_counts(engine.dialect)],
                                                                          info)),
                         ("process map (counts + waiting times)", lambda: engine_map(engine)),
                         ("per-ticket KPI figures", lambda: engine_ticket_figures(engine, sop)),
                         ("variants", lambda: engine_variants(engine))):
            _, seconds, peak, how = measure(fn)
            pushed[name] = seconds
            print(f"  push-down {name:38s} {seconds:8.1f} s  {n_events / seconds / 1e6:6.2f} M events/s  "
                  f"client peak {peak:7.0f} MB", flush=True)
            records.append(Record("bench_engines_pg", f"postgres push-down {name}, {n_events / 1e6:g}M events",
                                  seconds, None, None, peak, None, memory=how,
                                  note=f"{n_events / seconds / 1e6:.2f}M events/s"))
        _, pull_s, pull_peak, how = measure(lambda: pull_and_count(store))
        dfg_s = pushed["directly-follows counts"]
        print(f"  pulling the events into pandas and counting there: {pull_s:.1f} s, client peak "
              f"{pull_peak:.0f} MB ({ratio(pull_s, dfg_s)}x the push-down's time)", flush=True)
        records.append(Record("bench_engines_pg", f"DFG counts {n_events / 1e6:g}M events: push-down vs pull+pandas",
                              dfg_s, pull_s, ratio(pull_s, dfg_s), None, pull_peak, memory=how))
        return records
    finally:
        store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", default="1M", help="events to load (default 1M; the issue's size: 10M)")
    parser.add_argument("--quick", action="store_true", help="200K events")
    parser.add_argument("--pg", default="auto", help="a PostgreSQL URL (default: start a throwaway server)")
    parser.add_argument("--json", help="write the records to this file")
    args = parser.parse_args(argv)
    events = _events("200K" if args.quick else args.events)
    server = None
    url = args.pg
    if url == "auto":
        from tests.pg_server import PostgresServer

        server = PostgresServer()
        server.start()
        url = server.create_database(f"bench_engines_{os.getpid()}")
    try:
        records = run(url, events)
    finally:
        if server is not None:
            server.stop()
    common.print_records(records)
    common.write_json(args.json, records)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
