"""DuckDB on one machine: the engine aggregates over a synthetic Parquet export at scale.

Run from the repository root::

    .venv/bin/python benchmarks/bench_engines.py                 # 5M events (the default bounded size)
    .venv/bin/python benchmarks/bench_engines.py --quick         # 1M events
    .venv/bin/python benchmarks/bench_engines.py --events 100M   # the big run (about 3 GB of Parquet)
    .venv/bin/python benchmarks/bench_engines.py --events 100M --keep   # keep the data for another run

Data: a generator of synthetic ticket events (numpy, vectorised; seed 19) written in the
layout of ``csmine export DIR --format parquet --partition month``: 14 activities (one
Chinese name), a random walk over a fixed transition matrix (rework loops, escalation,
waits for the customer), 3 teams with handovers and ping-pong, about 8 events per
ticket, 3 % of a ticket's consecutive events at the same second (so the tie order
matters), start times on two activities. It is written under ``--dir`` (default
``common.cache_dir()/engines``) and deleted afterwards unless ``--keep``.

Timed, with events/s and the peak memory of this process (DuckDB's memory included;
DuckDB's ``memory_limit`` is 60 % of the machine by default, temporary files spill to
``--dir``):

* directly-follows counts (the target: >= 5M events/s on these 2 cores);
* the process map (counts, tickets and waiting median/mean/P90/total per path, node
  figures, start and end arcs), variants with counts and median throughput;
* per-ticket KPI figures, waiting per step, rework, limit checks (the SOP
  ``complaint``'s limits on the synthetic steps);
* the SOP alignment figures (each variant aligned once with csmine's engine);
* the whole report with its figures computed by DuckDB (``build_report(engine=...)``, what
  ``csmine report --engine duckdb --parquet DIR`` runs; no store: no phases, no truth) —
  the target: <= 5 min at 100M events.

The local path is compared in the same run on the tickets opened in the first part of
the year holding about ``--local`` events (default 2M; the whole log when it is smaller): ``discover_map`` + ``discover_variants`` on the
frame (what ``csmine discover`` does after loading), and a plain pandas
directly-follows count (sort, shift, group by), both against DuckDB on the same events.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
from common import Record, measure, ratio  # noqa: E402

ACTIVITIES = ("Receive", "Record", "Classify", "Handle", "Escalate", "Specialist handle", "Wait for customer",
              "Callback", "回访", "Quality check", "Refund", "Reopen", "Archive", "Close")
TEAMS = ("First line", "Specialist", "Back office")
_END = len(ACTIVITIES)


def _transitions() -> Any:
    import numpy as np

    n = len(ACTIVITIES)
    p = np.zeros((n, n + 1))
    idx = {a: i for i, a in enumerate(ACTIVITIES)}

    def go(a: str, **to: float) -> None:
        for b, w in to.items():
            p[idx[a.replace("_", " ")], _END if b == "END" else idx[b.replace("_", " ")]] = w

    go("Receive", Record=1.0)
    go("Record", Classify=1.0)
    go("Classify", Handle=0.75, Escalate=0.2, Refund=0.05)
    go("Handle", Callback=0.55, Wait_for_customer=0.15, Handle=0.08, Archive=0.12, Escalate=0.05, Quality_check=0.05)
    go("Escalate", Specialist_handle=1.0)
    go("Specialist_handle", Handle=0.35, Callback=0.45, Wait_for_customer=0.1, Specialist_handle=0.1)
    go("Wait_for_customer", Handle=0.7, Specialist_handle=0.3)
    go("Callback", 回访=0.3, Archive=0.6, Handle=0.1)
    go("回访", Archive=0.9, Reopen=0.1)
    go("Quality_check", Archive=0.8, Handle=0.2)
    go("Refund", Archive=1.0)
    go("Reopen", Handle=1.0)
    go("Archive", Close=0.97, Reopen=0.03)
    go("Close", END=1.0)
    return (p / p.sum(axis=1, keepdims=True)).cumsum(axis=1)


def generate_chunk(rng: Any, first_ticket: int, tickets: int, t0_us: int, spacing_us: int) -> Any:
    """One chunk of tickets as an Arrow table in the export's event columns (vectorised)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    cum = _transitions()
    state = np.zeros(tickets, dtype=np.int64)
    seqs = [state.copy()]
    alive = np.ones(tickets, dtype=bool)
    for _ in range(39):
        u = rng.random(tickets)
        nxt = (cum[state] < u[:, None]).sum(axis=1)
        alive &= nxt != _END
        if not alive.any():
            break
        state = np.where(alive, np.minimum(nxt, _END - 1), state)
        seqs.append(np.where(alive, state, -1))
    acts = np.stack(seqs, axis=1)  # tickets x steps, -1 after the end
    mask = acts >= 0
    lengths = mask.sum(axis=1)
    act = acts[mask]
    case = np.repeat(np.arange(tickets), lengths)
    n = len(act)
    version = (np.cumsum(mask, axis=1)[mask]).astype(np.int64)
    gaps = rng.exponential(1800.0, n) * 1e6
    gaps[rng.random(n) < 0.03] = 0.0  # ties at the same second
    gaps[version == 1] = rng.exponential(60.0, int((version == 1).sum())) * 1e6
    opened = t0_us + (first_ticket + np.arange(tickets)) * spacing_us
    whole = (gaps // 1e6).astype(np.int64) * 1_000_000  # whole seconds, so ties happen
    offsets = np.cumsum(whole)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    base = np.repeat(offsets[starts] - whole[starts], lengths)
    occurred = np.repeat(opened, lengths) + (offsets - base)
    team_of_act = np.array([0, 0, 0, 0, 1, 1, 0, 0, 2, 2, 2, 0, 0, 0])
    team = team_of_act[act]
    switch = rng.random(n) < 0.1
    team[switch] = rng.integers(0, 3, int(switch.sum()))
    has_start = np.isin(act, [3, 5])
    started = np.where(has_start, occurred - (rng.exponential(900.0, n) * 1e6).astype(np.int64), 0)
    ids = pa.array(first_ticket + case, type=pa.int64())
    ticket = pc.binary_join_element_wise("T", pc.cast(ids, pa.string()), "")
    utc = pa.timestamp("us", tz="UTC")
    strings = lambda values, codes: pa.DictionaryArray.from_arrays(pa.array(codes, type=pa.int32()),  # noqa: E731
                                                                    pa.array(values)).cast(pa.string())
    nulls = pa.nulls(n, type=pa.string())
    return pa.table({
        "notification_id": pa.array(np.arange(n, dtype=np.int64)), "ticket": ticket,
        "version": pa.array(version), "activity": strings(list(ACTIVITIES), act),
        "occurred_at": pa.array(occurred).cast(utc),
        "started_at": pa.array(started, mask=~has_start).cast(utc),
        "recorded_at": pa.array(occurred).cast(utc), "actor": nulls, "team": strings(list(TEAMS), team),
        "case_team": pa.array(["First line"] * n), "opened_at": pa.array(np.repeat(opened, lengths)).cast(utc),
        "channel": strings(["phone", "chat", "mail"], (first_ticket + case) % 3), "category": nulls,
        "priority": nulls, "emotion": nulls, "customer": nulls, "region": nulls, "source_ref": nulls,
        "attrs": nulls, "ticket_key": ids,
    })


def generate(directory: Path, events: int, seed: int = 19) -> tuple[int, int]:
    """Write about ``events`` events into ``directory`` in the export layout; (tickets, events)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    files: dict[str, list[tuple[str, int, int]]] = {}
    per_ticket = 8.0
    chunk = 250_000
    total_tickets = max(int(events / per_ticket), 1)
    month_us = 30 * 86_400_000_000
    spacing = max(int(12 * month_us / total_tickets), 1)  # a year of tickets
    t0 = 1_704_067_200_000_000  # 2024-01-01
    written = tickets = part = 0
    while written < events:
        k = min(chunk, total_tickets + 1_000_000)
        table = generate_chunk(rng, tickets, k, t0, spacing)
        if written + table.num_rows > events:
            table = table.slice(0, events - written)
        opened = table["opened_at"].cast(pa.int64()).to_numpy()
        cuts = _month_starts(int(opened[0]), int(opened[-1]))
        bounds = np.searchsorted(opened, cuts)  # tickets are opened in order: a month is a slice
        for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, len(opened)], strict=True):
            if hi <= lo:
                continue
            month = time.strftime("%Y-%m", time.gmtime(opened[lo] / 1e6))
            folder = directory / "events" / f"month={month}"
            folder.mkdir(parents=True, exist_ok=True)
            piece = table.slice(lo, hi - lo)
            pq.write_table(piece, folder / f"part-{part}.parquet", compression="zstd", row_group_size=1 << 20)
            files.setdefault(month, []).append((f"events/month={month}/part-{part}.parquet", piece.num_rows,
                                                len(pc.unique(piece["ticket_key"]))))
        written += table.num_rows
        tickets += k
        part += 1
    write_manifest(directory, files)
    return int(tickets), written


def write_manifest(directory: Path, files: dict[str, list[tuple[str, int, int]]]) -> None:
    """The export's ``manifest.json`` for the generated files (their rows and SHA-256), so
    the engines' check before reading (``check_parquet_export``) passes; no store behind it."""
    import json

    from event_store.io.files import sha256_file
    from event_store.io.parquet_export import MANIFEST, MANIFEST_FORMAT

    parts = {m: {"events": sum(r for _, r, _ in fs), "tickets": sum(t for _, _, t in fs),
                 "files": [{"file": f, "rows": r, "sha256": sha256_file(str(directory / f)),
                            "bytes": (directory / f).stat().st_size} for f, r, _ in fs]}
             for m, fs in sorted(files.items())}
    manifest = {"format": MANIFEST_FORMAT, "partitioning": "month", "store": "synthetic (bench_engines.generate)",
                "store_id": "synthetic", "position": 0, "verified": None,
                "events": sum(p["events"] for p in parts.values()), "tickets": sum(p["tickets"] for p in parts.values()),
                "partitions": parts}
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def _month_starts(lo_us: int, hi_us: int) -> list[int]:
    """The first microsecond of every month that begins in (lo_us, hi_us]."""
    from datetime import UTC, datetime

    out = []
    d = datetime.fromtimestamp(lo_us / 1e6, tz=UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    while True:
        d = d.replace(year=d.year + (d.month == 12), month=d.month % 12 + 1)
        us = int(d.timestamp() * 1_000_000)
        if us > hi_us:
            return out
        out.append(us)


def _events(text: str) -> int:
    text = text.strip().upper()
    mult = {"K": 1_000, "M": 1_000_000, "G": 1_000_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("KMG")) * mult)


def _local_side(directory: Path, cutoff_us: int) -> dict[str, float]:
    """The local path and pandas on the tickets opened before ``cutoff_us``."""
    import duckdb

    from csmine.eventlog.ordering import order_events
    from csmine.mining.maps import discover_map
    from csmine.mining.variants import discover_variants

    con = duckdb.connect()
    files = str(directory / "events" / "*" / "*.parquet")
    frame = con.execute(
        f"SELECT ticket AS \"case:concept:name\", activity AS \"concept:name\", occurred_at AS \"time:timestamp\", "
        f"started_at AS start_timestamp, version AS \"@@version\" FROM read_parquet('{files}') "
        f"WHERE epoch_us(opened_at) < {cutoff_us} ORDER BY ticket, occurred_at, version").df()
    con.close()
    frame = order_events(frame)
    out: dict[str, float] = {"events": float(len(frame))}
    _, out["local_map_s"], _, _ = measure(lambda: (discover_map(frame), discover_variants(frame)))

    def pandas_dfg() -> Any:
        df = frame[["case:concept:name", "concept:name"]]
        nxt = df.shift(-1)
        same = df["case:concept:name"].to_numpy() == nxt["case:concept:name"].to_numpy()
        return df[same].groupby([df["concept:name"][same], nxt["concept:name"][same]]).size()

    _, out["pandas_dfg_s"], _, _ = measure(pandas_dfg)
    return out


STEPS = ("dfg", "dfg-names", "map", "variants", "figures", "kpi", "bottlenecks", "waiting", "limits", "alignments", "report")


class _Skipped(Exception):
    pass


def run(events: int, directory: Path, local_limit: int, threads: int | None, keep: bool,
        memory_limit: str | None = "8GB", chosen: tuple[str, ...] = STEPS) -> list[Record]:
    from process_models import load_sop

    from csmine.engines.bottlenecks import engine_bottlenecks
    from csmine.engines.kpis import engine_kpi_frames

    from csmine.engines.base import DuckDBEngine
    from csmine.reports.report import build_report
    from csmine.engines.queries import ACTIVITY_INFO_COLUMNS, activity_info_rows, directly_follows_counts
    from csmine.engines.results import (
        engine_conformance,
        engine_limit_checks,
        engine_map,
        engine_rework,
        engine_step_waiting,
        engine_ticket_figures,
        engine_variants,
    )

    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    free = shutil.disk_usage(directory).free
    if free < events * 60:
        raise SystemExit(f"{directory}: {free / 2**30:.1f} GiB free, about {events * 60 / 2**30:.1f} GiB needed")
    t0 = time.perf_counter()
    n_tickets, n_events = generate(directory, events)
    gen_s = time.perf_counter() - t0
    size = sum(f.stat().st_size for f in directory.rglob("*.parquet"))
    print(f"generated {n_events:,} events, {n_tickets:,} tickets, {size / 2**30:.2f} GiB of Parquet "
          f"in {gen_s:.0f} s ({common.machine_note()})", flush=True)
    sop = load_sop("complaint")
    records: list[Record] = []
    spill = str(directory / "spill")
    os.makedirs(spill, exist_ok=True)
    engine = DuckDBEngine(str(directory), threads=threads, spill=spill, memory_limit=memory_limit)
    try:
        acts = [a for (a,) in engine.con.execute("SELECT DISTINCT activity FROM events").fetchall()]
        info = {"activity_info": (ACTIVITY_INFO_COLUMNS, activity_info_rows(acts))}
        every: dict[str, tuple[str, Any]] = {
            "dfg": ("directly-follows counts", lambda: engine.run([directly_follows_counts(engine.dialect)], info)),
            # the same counts with the window partitioned by the ticket's name (before the integer key)
            "dfg-names": ("directly-follows counts by ticket name", lambda: engine.run(
                [directly_follows_counts(engine.dialect).replace("ticket_key", "ticket")], info)),
            "map": ("process map (counts + waiting times)", lambda: engine_map(engine)),
            "variants": ("variants", lambda: engine_variants(engine)),
            "figures": ("per-ticket KPI figures", lambda: engine_ticket_figures(engine, sop)),
            "kpi": ("per-ticket KPI frame (csmine kpi)", lambda: engine_kpi_frames(engine, sop)),
            "bottlenecks": ("bottleneck report", lambda: engine_bottlenecks(engine, sop)),
            "waiting": ("waiting per step + rework", lambda: (engine_step_waiting(engine), engine_rework(engine))),
            "limits": ("limit checks", lambda: engine_limit_checks(engine, sop)),
            "alignments": ("alignments per variant", lambda: engine_conformance(engine, sop)),
        }
        steps = [every[k] for k in every if k in chosen]
        report_step = ("report --engine duckdb (whole page)", lambda: build_report(None, engine=engine, sop=sop))
        total = 0.0
        for name, fn in steps:
            try:
                _, seconds, peak, how = measure(fn)
            except Exception as exc:  # noqa: BLE001 -- e.g. DuckDB out of temporary space: say so, go on
                print(f"  {name:40s} failed: {str(exc).splitlines()[0][:160]}", flush=True)
                records.append(Record("bench_engines", f"duckdb {name}, {n_events / 1e6:g}M events", None, None,
                                      None, note=f"failed: {str(exc).splitlines()[0][:120]}"))
                continue
            total += seconds
            rate = n_events / seconds
            target = ">= 5M events/s" if name == "directly-follows counts" else None
            met = rate >= 5e6 if target else None
            print(f"  {name:40s} {seconds:8.1f} s  {rate / 1e6:7.2f} M events/s  peak {peak:8.0f} MB  "
                  f"load {os.getloadavg()[0]:.1f}", flush=True)
            records.append(Record("bench_engines", f"duckdb {name}, {n_events / 1e6:g}M events", seconds, None,
                                  None, peak, None, target=target, met=met, memory=how,
                                  note=f"{rate / 1e6:.2f}M events/s"))
        print(f"  {'the aggregates above, all':40s} {total:8.1f} s", flush=True)
        records.append(Record("bench_engines", f"duckdb aggregates, {n_events / 1e6:g}M events", total, None, None))
        try:  # the whole report: every figure in the engine, the page rendered (store-less: no phases)
            if "report" not in chosen:
                raise _Skipped
            result, seconds, peak, how = measure(report_step[1])
            print(f"  {report_step[0]:40s} {seconds:8.1f} s  {n_events / seconds / 1e6:7.2f} M events/s  "
                  f"peak {peak:8.0f} MB  ({result.tickets:,} tickets, {len(result.html) / 2**20:.1f} MiB page)  "
                  f"load {os.getloadavg()[0]:.1f}",
                  flush=True)
            records.append(Record("bench_engines", f"report --engine duckdb, {n_events / 1e6:g}M events", seconds,
                                  None, None, peak, None, target="<= 300 s" if n_events >= 100_000_000 else None,
                                  met=(seconds <= 300) if n_events >= 100_000_000 else None, memory=how))
        except _Skipped:
            pass
        except Exception as exc:  # noqa: BLE001 -- say so, go on to the comparison
            print(f"  {report_step[0]:40s} failed: {str(exc).splitlines()[0][:160]}", flush=True)
        if local_limit <= 0:
            return records
        # the local path and pandas on the same first events, DuckDB on exactly those events
        lo, hi = engine.con.execute("SELECT MIN(opened_us), MAX(opened_us) FROM events").fetchone()
        cutoff = int(lo + (hi - lo) * min(1.0, local_limit / n_events)) + 1
        local = _local_side(directory, cutoff)
        k = int(local["events"])
        from datetime import UTC, datetime

        from csmine.eventlog.filters import LogFilter

        sub = DuckDBEngine(str(directory), LogFilter(end=datetime.fromtimestamp(cutoff / 1e6, tz=UTC)),
                           threads=threads, spill=spill, memory_limit=memory_limit)
        _, duck_map_s, _, _ = measure(lambda: (engine_map(sub), engine_variants(sub)))
        _, duck_dfg_s, _, _ = measure(lambda: sub.run([directly_follows_counts(sub.dialect)], info))
        sub.close()
        print(f"  on {k:,} events: local discover_map+variants {local['local_map_s']:.2f} s, duckdb "
              f"{duck_map_s:.2f} s ({ratio(local['local_map_s'], duck_map_s)}x); pandas DFG "
              f"{local['pandas_dfg_s']:.2f} s, duckdb DFG counts {duck_dfg_s:.2f} s "
              f"({ratio(local['pandas_dfg_s'], duck_dfg_s)}x)", flush=True)
        records.append(Record("bench_engines", f"map+variants {k / 1e6:.1f}M events: duckdb vs local path",
                              duck_map_s, local["local_map_s"], ratio(local["local_map_s"], duck_map_s)))
        records.append(Record("bench_engines", f"DFG counts {k / 1e6:.1f}M events: duckdb vs pandas",
                              duck_dfg_s, local["pandas_dfg_s"], ratio(local["pandas_dfg_s"], duck_dfg_s)))
    finally:
        engine.close()
        if not keep:
            shutil.rmtree(directory, ignore_errors=True)
    return records


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", default="5M", help="events to generate (e.g. 1M, 10M, 100M); default 5M")
    parser.add_argument("--quick", action="store_true", help="1M events")
    parser.add_argument("--local", default="2M", help="events the local path and pandas are compared on")
    parser.add_argument("--threads", type=int, default=None, help="DuckDB threads (default: every core)")
    parser.add_argument("--dir", type=Path, default=None, help="where the data is generated (default: the cache)")
    parser.add_argument("--keep", action="store_true", help="keep the generated data")
    parser.add_argument("--memory-limit", default="8GB", help="DuckDB's memory limit (default 8GB; the machine is shared)")
    parser.add_argument("--steps", default="all", help=f"comma-separated among {', '.join(STEPS)} (default all)")
    parser.add_argument("--json", help="write the records to this file")
    args = parser.parse_args(argv)
    events = _events("1M" if args.quick else args.events)
    directory = args.dir or common.cache_dir() / "engines"
    chosen = STEPS if args.steps == "all" else tuple(k.strip() for k in args.steps.split(","))
    unknown = set(chosen) - set(STEPS)
    if unknown:
        parser.error(f"unknown steps {', '.join(sorted(unknown))}: choose among {', '.join(STEPS)}")
    records = run(events, directory, _events(args.local), args.threads, args.keep, args.memory_limit, chosen)
    common.print_records(records)
    common.write_json(args.json, records)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
