"""Spark in local mode: the engine aggregates at 1M -> 10M events, the scaling curve, and
the same figures as DuckDB and the local path in the same run.

Run from the repository root::

    .venv/bin/python benchmarks/bench_spark.py                    # 1M and 2M events (bounded)
    .venv/bin/python benchmarks/bench_spark.py --quick            # 250K and 500K events
    .venv/bin/python benchmarks/bench_spark.py --sizes 1M,3M,10M  # the issue's curve (opt in: long)
    .venv/bin/python benchmarks/bench_spark.py --steps map        # only DFG counts + the process map

Data: ``bench_engines.generate`` (synthetic tickets in the layout of ``csmine export DIR
--format parquet --partition month``; seed 19), one folder per size under ``--dir``
(default ``common.cache_dir()/spark``), deleted afterwards unless ``--keep``.

Per size, on Spark ``local[2]`` (one session for the run, ``--driver-memory``) and on
DuckDB (2 threads) over the same files: directly-follows counts, the process map,
variants, per-ticket KPI figures, waiting per step + rework, limit checks, the alignment
figures (each variant aligned once on the driver). Each step prints seconds, events/s
and the ratio DuckDB/Spark; the figures of both engines are compared (counts exactly,
durations to the millisecond, fitness to 1e-9) and a difference stops the run. At the
smallest size the local path (``discover_map`` + ``discover_variants`` on the frame) is
timed and compared too. The end prints the scaling curve: per size the total seconds,
events/s and the cost per event relative to the smallest size (1.0 = linear).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
from bench_engines import _events, generate  # noqa: E402
from common import Record, measure, ratio  # noqa: E402

TOL_S = 1e-3
STEPS = ("dfg", "map", "variants", "kpi", "bottlenecks", "waiting", "limits", "alignments")
LABELS = {"dfg": "directly-follows counts", "map": "process map (counts + waiting times)", "variants": "variants",
          "kpi": "per-ticket KPI figures", "bottlenecks": "bottleneck report (with the KPI frame)",
          "waiting": "waiting per step + rework", "limits": "limit checks", "alignments": "alignments per variant"}


def _steps(engine: Any, sop: Any) -> dict[str, Any]:
    from csmine.engines.bottlenecks import engine_bottlenecks
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

    def dfg() -> Any:
        acts = engine.run(["SELECT DISTINCT activity FROM events"], {})[0]["activity"].tolist()
        info = {"activity_info": (ACTIVITY_INFO_COLUMNS, activity_info_rows(acts))}
        f = engine.run([directly_follows_counts(engine.dialect)], info)[0]
        return {(str(s), str(t)): int(n) for s, t, n in zip(f["source"], f["target"], f["events"], strict=True)}

    return {
        "dfg": dfg,
        "map": lambda: engine_map(engine),
        "variants": lambda: engine_variants(engine),
        "kpi": lambda: engine_ticket_figures(engine, sop),
        "bottlenecks": lambda: engine_bottlenecks(engine, sop),
        "waiting": lambda: (engine_step_waiting(engine), engine_rework(engine)),
        "limits": lambda: engine_limit_checks(engine, sop),
        "alignments": lambda: engine_conformance(engine, sop),
    }


def _near(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(float(a) - float(b)) <= TOL_S


def _same_frames(a: Any, b: Any) -> bool:
    import numpy as np

    if list(a.columns) != list(b.columns) or list(a.index) != list(b.index):
        return False
    for col in a.columns:
        x, y = a[col], b[col]
        if x.dtype.kind == "f" or y.dtype.kind == "f":
            if not np.allclose(x.astype(float), y.astype(float), atol=TOL_S, rtol=0, equal_nan=True):
                return False
        elif x.astype(object).where(x.notna(), None).tolist() != y.astype(object).where(y.notna(), None).tolist():
            return False
    return True


def same_figures(step: str, a: Any, b: Any) -> bool:
    """Whether two engines' results of ``step`` agree (counts exactly, times to 1 ms, fitness to 1e-9)."""
    if step == "dfg":
        return bool(a == b)
    if step == "map":
        key = lambda m: [(e.source, e.target, e.events, e.cases) for e in m.all_edges()]  # noqa: E731
        nodes = lambda m: [(n.activity, n.events, n.cases) for n in m.nodes]  # noqa: E731
        return key(a) == key(b) and nodes(a) == nodes(b) and all(
            _near(getattr(x, f), getattr(y, f)) for x, y in zip(a.all_edges(), b.all_edges(), strict=True)
            for f in ("median_s", "mean_s", "p90_s", "total_s"))
    if step == "variants":
        return [(v.activities, v.tickets, v.example_ticket) for v in a] == \
            [(v.activities, v.tickets, v.example_ticket) for v in b] and \
            all(_near(x.median_throughput_s, y.median_throughput_s) for x, y in zip(a, b, strict=True))
    if step == "waiting":
        return _same_frames(a[0], b[0]) and _same_frames(a[1], b[1])
    if step in ("kpi", "limits"):
        return _same_frames(a, b)
    if step == "bottlenecks":
        return _same_json(a.to_dict(), b.to_dict())
    return (a.tickets, a.events, a.variants, a.fitting_tickets) == (b.tickets, b.events, b.variants, b.fitting_tickets) \
        and abs(a.log_fitness - b.log_fitness) <= 1e-9 and abs(a.average_fitness - b.average_fitness) <= 1e-9


def _same_json(a: Any, b: Any) -> bool:
    """Plain data equal, floats to 1e-9 relative (1e-6 absolute: seconds summed in another order)."""
    import math

    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(_same_json(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return isinstance(b, list | tuple) and len(a) == len(b) and all(_same_json(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)
    return bool(a == b)


def _local_check(directory: Path, spark_engine: Any) -> tuple[float, float]:
    """The local path on the whole log (its seconds) and Spark's seconds for the same map + variants."""
    import duckdb

    from csmine.engines.results import engine_map, engine_variants
    from csmine.eventlog.ordering import order_events
    from csmine.mining.maps import discover_map
    from csmine.mining.variants import discover_variants

    con = duckdb.connect()
    files = str(directory / "events" / "*" / "*.parquet")
    frame = con.execute(
        f"SELECT ticket AS \"case:concept:name\", activity AS \"concept:name\", occurred_at AS \"time:timestamp\", "
        f"started_at AS start_timestamp, version AS \"@@version\" FROM read_parquet('{files}') "
        "ORDER BY ticket, occurred_at, version").df()
    con.close()
    frame = order_events(frame)
    (m0, v0), local_s, _, _ = measure(lambda: (discover_map(frame), discover_variants(frame)))
    (m1, v1), spark_s, _, _ = measure(lambda: (engine_map(spark_engine), engine_variants(spark_engine)))
    if not (same_figures("map", m0, m1) and same_figures("variants", v0, v1)):
        raise SystemExit("the Spark engine's map or variants differ from the local path's")
    return local_s, spark_s


def run_size(events: int, directory: Path, session: Any, steps: list[str], local: bool,
             keep: bool, quiet: bool = False) -> tuple[list[Record], float, int]:
    from process_models import load_sop

    from csmine.engines.base import DuckDBEngine
    from csmine.engines.spark import SparkEngine

    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    t0 = time.perf_counter()
    n_tickets, n_events = generate(directory, events)
    size = sum(f.stat().st_size for f in directory.rglob("*.parquet"))
    say = (lambda *a, **k: None) if quiet else print
    say(f"{n_events:,} events, {n_tickets:,} tickets, {size / 2**20:.0f} MiB of Parquet, generated in "
          f"{time.perf_counter() - t0:.0f} s ({common.machine_note()})", flush=True)
    sop = load_sop("complaint")
    records: list[Record] = []
    spark_total = 0.0
    spark = SparkEngine(str(directory), session=session)
    duck = DuckDBEngine(str(directory), threads=2, memory_limit="6GB")
    try:
        on_spark, on_duck = _steps(spark, sop), _steps(duck, sop)
        for step in steps:
            a, spark_s, _, _ = measure(on_spark[step])
            b, duck_s, _, _ = measure(on_duck[step])
            same = same_figures(step, a, b)
            spark_total += spark_s
            say(f"  {LABELS[step]:40s} spark {spark_s:7.1f} s {n_events / spark_s:10,.0f} events/s | "
                  f"duckdb {duck_s:6.1f} s ({ratio(spark_s, duck_s)}x faster) | same figures: {same}", flush=True)
            records.append(Record("bench_spark", f"spark local[2] {LABELS[step]}, {n_events / 1e6:g}M events",
                                  spark_s, duck_s, ratio(duck_s, spark_s),
                                  note=f"{n_events / spark_s:,.0f} events/s; pm4py_s column: duckdb"))
            if not same:
                raise SystemExit(f"{LABELS[step]}: Spark and DuckDB differ at {n_events:,} events")
        if local:
            local_s, spark_s = _local_check(directory, spark)
            print(f"  local discover_map + variants {local_s:.1f} s, spark {spark_s:.1f} s "
                  f"({ratio(spark_s, local_s)}x faster locally); same figures: True", flush=True)
            records.append(Record("bench_spark", f"map+variants {n_events / 1e6:g}M events: spark vs local path",
                                  spark_s, local_s, ratio(local_s, spark_s)))
    finally:
        spark.close()
        duck.close()
        if not keep:
            shutil.rmtree(directory, ignore_errors=True)
    return records, spark_total, n_events


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1M,2M", help="event counts, comma-separated (default 1M,2M; the "
                                                         "issue's curve: 1M,3M,10M)")
    parser.add_argument("--quick", action="store_true", help="250K and 500K events")
    parser.add_argument("--steps", default="all", help=f"comma-separated among {', '.join(STEPS)} "
                                                       "('map': dfg and map only); default all")
    parser.add_argument("--driver-memory", default="6g", help="the local Spark driver's heap (default 6g)")
    parser.add_argument("--dir", type=Path, default=None, help="where the data is generated (default: the cache)")
    parser.add_argument("--keep", action="store_true", help="keep the generated data")
    parser.add_argument("--json", help="write the records to this file")
    args = parser.parse_args(argv)
    sizes = [_events(s) for s in ("250K,500K" if args.quick else args.sizes).split(",")]
    steps = list(STEPS) if args.steps == "all" else ["dfg", "map"] if args.steps == "map" else args.steps.split(",")
    base = args.dir or common.cache_dir() / "spark"

    from csmine.engines.spark import start_session

    t0 = time.perf_counter()
    session, _ = start_session("local[2]", {"spark.driver.memory": args.driver_memory}, app_name="csmine-bench")
    print(f"Spark {session.version} local[2] started in {time.perf_counter() - t0:.1f} s", flush=True)
    records: list[Record] = []
    curve: list[tuple[int, float]] = []
    try:
        # warm the JVM (class loading, JIT, code generation) so that the first size is not
        # charged for it: every step once on 50K events, untimed
        t0 = time.perf_counter()
        run_size(50_000, base / "warm-up", session, steps, local=False, keep=False, quiet=True)
        print(f"warmed up in {time.perf_counter() - t0:.0f} s", flush=True)
        for i, n in enumerate(sizes):
            recs, total, n_events = run_size(n, base / f"{n}", session, steps, local=(i == 0), keep=args.keep)
            records += recs
            curve.append((n_events, total))
    finally:
        session.stop()
    print("scaling (Spark local[2], the steps above added up):")
    n0, t0_ = curve[0]
    for n, t in curve:
        cost = (t / n) / (t0_ / n0)
        print(f"  {n / 1e6:6.2f}M events  {t:8.1f} s  {n / t:10,.0f} events/s  cost per event x{cost:.2f} "
              f"of the {n0 / 1e6:g}M run (1.00 = linear)")
        records.append(Record("bench_spark", f"spark local[2] all steps, {n / 1e6:g}M events", t, None, None,
                              note=f"{n / t:,.0f} events/s; cost per event x{cost:.2f} of {n0 / 1e6:g}M"))
    common.print_records(records)
    common.write_json(args.json, records)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
