"""Scale: import, read for mining and the report at 10k, 100k and 1M synthetic events.

Run from the repository root::

    .venv/bin/python benchmarks/bench_scale.py                       # 10k, 100k, 1M on SQLite
    .venv/bin/python benchmarks/bench_scale.py --pg auto             # and on a throwaway PostgreSQL
    .venv/bin/python benchmarks/bench_scale.py --quick               # 10k and 50k
    .venv/bin/python benchmarks/bench_scale.py --sizes 100000 --repeats 3 --json out.json

Data: the demo simulator's service centre (``csmine.simulation.simulate``) scaled to each size
(about 6.7 events per ticket), generated once and cached (``$CSMINE_BENCH_CACHE``,
default ``~/.cache/csmine-bench``), with the same log written once as a CSV for pm4py.

For each size and store backend, each step runs in a fresh process:

* **import**: ``TicketStore.import_histories`` of all tickets into a fresh store
  (hash-chained write and the ``event_log`` projection in the same transactions), then
  the three phases (baseline, pilot, rollout) as the demo defines them. Reported:
  seconds and events/s. pm4py has no store; the reference column is what pm4py
  spends to get the same log into memory from the CSV (``pandas.read_csv`` +
  ``pm4py.format_dataframe``).
* **load**: ``csmine.eventlog.loading.load_event_log(store, attributes=["satisfaction"])``
  (the frame every analysis starts from), against the same pm4py reading. The first
  read after an import builds the store's columnar read cache and is shown apart; the
  median is over the reads after it.
* **report**: ``python -m csmine report --store ... --out ...`` as a user runs it,
  against ``python benchmarks/pm4py_report.py log.csv`` (read, format, DFG,
  performance DFG, variants, alignment fitness on the complaint SOP net); whole
  processes, wall time and peak PSS of the process tree.

Times are medians over ``--repeats`` runs (default 1 at 1M events, 3 below).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
from common import PYTHON, REPO, Record, median, ratio, run_process  # noqa: E402

HERE = Path(__file__).resolve()
DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (10_000, 50_000)


# ---------------------------------------------------------------------------------
# workers (run in a fresh process; print one JSON line)
# ---------------------------------------------------------------------------------


def worker_import(n_events: int, seed: int, location: str, batch_size: int) -> dict[str, Any]:
    """Import the synthetic tickets into a fresh store at ``location`` and define the phases."""
    import numpy  # noqa: F401  (imports outside the measurement)
    import pandas  # noqa: F401

    from event_store import open_store

    sim = common.synthetic(n_events, seed)
    histories = sim.histories
    with open_store(location, create=True) as store:
        result, seconds, peak_mb, how = common.measure(
            lambda: store.import_histories(histories, batch_size=batch_size))
        t0 = time.perf_counter()
        for phase in sim.phases:
            cohort = {k: [str(v)] for k, v in phase.cohort.items()}
            store.define_phase(phase.name, phase.start, phase.end, cohort, note=f"runs SOP {phase.sop}",
                               actor="bench_scale")
        phases_s = time.perf_counter() - t0
    return {"seconds": seconds, "phases_s": phases_s, "peak_mb": peak_mb, "memory": how,
            "tickets": result.tickets_added, "events": result.events_added}


def worker_load(location: str, repeats: int) -> dict[str, Any]:
    """Read the event-log frame ``repeats`` times (the first read warms the database cache)."""
    import numpy  # noqa: F401  (imports outside the measurement)
    import pandas  # noqa: F401

    from event_store import open_store

    from csmine.eventlog.loading import load_event_log

    times = []
    peak = 0.0
    rows = 0
    with open_store(location) as store:
        for _ in range(repeats):
            df, seconds, peak_mb, how = common.measure(
                lambda: load_event_log(store, attributes=["satisfaction"]))
            rows = len(df)
            del df
            times.append(seconds)
            peak = max(peak, peak_mb)
    return {"times": times, "rows": rows, "peak_mb": peak, "memory": how}


def worker_pm4py_read(csv: str, repeats: int) -> dict[str, Any]:
    """pm4py's way in: ``pandas.read_csv`` + ``pm4py.format_dataframe`` of the same log."""
    import pandas as pd
    import pm4py

    def read() -> Any:
        df = pd.read_csv(csv)
        return pm4py.format_dataframe(df, case_id="case:concept:name", activity_key="concept:name",
                                      timestamp_key="time:timestamp", start_timestamp_key="start_timestamp")

    times = []
    peak = 0.0
    rows = 0
    for _ in range(repeats):
        df, seconds, peak_mb, how = common.measure(read)
        rows = len(df)
        del df
        times.append(seconds)
        peak = max(peak, peak_mb)
    return {"times": times, "rows": rows, "peak_mb": peak, "memory": how}


def run_worker(*args: str, timeout: float | None = None) -> dict[str, Any]:
    """Run one worker of this script in a fresh process; its JSON result."""
    proc = run_process([PYTHON, str(HERE), "--worker", *args], cwd=REPO, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"worker {args[0]} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    result["process_peak_mb"] = proc.peak_mb
    return result


# ---------------------------------------------------------------------------------
# steps used by bench_report too
# ---------------------------------------------------------------------------------


class Stores:
    """Fresh store locations on one backend (SQLite files in a temp dir, or PostgreSQL databases)."""

    def __init__(self, backend: str, workdir: Path, pg: common.PostgresHandle | None) -> None:
        self.backend = backend
        self.workdir = workdir
        self.pg = pg
        self.made: list[str] = []

    def fresh(self, label: str) -> str:
        if self.backend == "sqlite":
            path = self.workdir / f"{label}-{len(self.made)}.db"
            for suffix in ("", "-wal", "-shm"):
                Path(str(path) + suffix).unlink(missing_ok=True)
            loc = str(path)
        else:
            assert self.pg is not None
            loc = self.pg.fresh_database(label)
        self.made.append(loc)
        return loc

    def drop(self, loc: str) -> None:
        if self.backend == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                Path(loc + suffix).unlink(missing_ok=True)
        elif self.pg is not None:
            self.pg.drop_database(loc)


def build_store(stores: Stores, n_events: int, seed: int, batch_size: int = 500) -> tuple[str, dict[str, Any]]:
    """A fresh store holding the synthetic log; (location, import measurement)."""
    loc = stores.fresh(f"s{n_events}")
    result = run_worker("import", str(n_events), str(seed), loc, str(batch_size))
    return loc, result


def csmine_report(location: str, out: Path, timeout: float | None = None) -> common.ProcessRun:
    """``csmine report`` as a user runs it (``--json`` to read its findings back)."""
    run = run_process([PYTHON, "-m", "csmine", "report", "--store", location, "--out", str(out), "--quiet",
                       "--json"], cwd=REPO, timeout=timeout)
    if run.returncode != 0:
        raise RuntimeError(f"csmine report failed ({run.returncode}):\n{run.stderr[-3000:]}")
    return run


def pm4py_report(csv: Path, *, render: str | None = None, timeout: float | None = None) -> common.ProcessRun:
    """The pm4py script producing the report's figures from the CSV."""
    cmd = [PYTHON, str(HERE.parent / "pm4py_report.py"), str(csv)]
    if render:
        cmd += ["--render", render]
    run = run_process(cmd, cwd=REPO, timeout=timeout)
    if run.returncode != 0:
        raise RuntimeError(f"pm4py_report.py failed ({run.returncode}):\n{run.stderr[-3000:]}")
    return run


def label(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 and n % 1_000_000 == 0 else f"{n // 1000}k"


# ---------------------------------------------------------------------------------
# the benchmark
# ---------------------------------------------------------------------------------


def bench_size(n: int, seed: int, backends: list[str], repeats: int, workdir: Path,
               pg: common.PostgresHandle | None, with_report: bool) -> list[Record]:
    out: list[Record] = []
    print(f"== {label(n)} events: generating (cached after the first run) ...", file=sys.stderr, flush=True)
    common.ensure_synthetic(n, seed)
    csv = common.synthetic_csv(n, seed)
    ref = run_worker("pm4py-read", str(csv), str(repeats))
    ref_s = median(ref["times"])
    rows = ref["rows"]
    print(f"   pm4py read_csv+format_dataframe: {ref_s:.2f} s ({rows / ref_s:,.0f} ev/s)", file=sys.stderr)
    pm_runs: list[common.ProcessRun] = []
    if with_report:
        for _ in range(repeats):
            pm_runs.append(pm4py_report(csv))
            print(f"   pm4py_report.py: {pm_runs[-1].seconds:.2f} s, {pm_runs[-1].peak_mb:.0f} MB",
                  file=sys.stderr, flush=True)
    for backend in backends:
        stores = Stores(backend, workdir, pg)
        imports: list[dict[str, Any]] = []
        loc = ""
        for r in range(repeats):
            if loc:
                stores.drop(loc)
            loc, imp = build_store(stores, n, seed)
            imports.append(imp)
            print(f"   [{backend}] import #{r + 1}: {imp['seconds']:.2f} s "
                  f"({imp['events'] / imp['seconds']:,.0f} ev/s), {imp['peak_mb']:.0f} MB", file=sys.stderr, flush=True)
        imp_s = median([i["seconds"] for i in imports])
        events = imports[-1]["events"]
        out.append(Record(
            "bench_scale", f"import {label(n)} ev ({backend})", round(imp_s, 3), round(ref_s, 3),
            ratio(ref_s, imp_s), round(median([i["peak_mb"] for i in imports]), 1), round(ref["peak_mb"], 1),
            repeats=repeats, memory="peak RSS increase during the call",
            note=f"{events:,} events, {imports[-1]['tickets']:,} tickets: {events / imp_s:,.0f} events/s "
                 f"(hash-chained write + projection; phases +{median([i['phases_s'] for i in imports]):.2f} s); "
                 "pm4py column = read_csv+format_dataframe (pm4py has no store)",
            extra={"events_per_s": events / imp_s, "events": events, "tickets": imports[-1]["tickets"],
                   "runs": [i["seconds"] for i in imports]},
        ))
        load = run_worker("load", loc, str(max(repeats, 3) + 1))
        load_s = median(load["times"][1:] if len(load["times"]) > 1 else load["times"])
        out.append(Record(
            "bench_scale", f"load_event_log {label(n)} ev ({backend})", round(load_s, 3), round(ref_s, 3),
            ratio(ref_s, load_s), round(load["peak_mb"], 1), round(ref["peak_mb"], 1),
            target=">= 1M events/s", met=load["rows"] / load_s >= 1e6 if n >= 1_000_000 else None,
            repeats=len(load["times"]) - 1 if len(load["times"]) > 1 else 1, memory="peak RSS increase",
            note=f"{load['rows'] / load_s:,.0f} events/s; first read after the import {load['times'][0]:.2f} s "
                 "(builds the columnar read cache); "
                 f"pm4py read_csv+format_dataframe {rows / ref_s:,.0f} events/s",
            extra={"events_per_s": load["rows"] / load_s, "times": load["times"]},
        ))
        print(f"   [{backend}] load_event_log: {load_s:.2f} s ({load['rows'] / load_s:,.0f} ev/s)",
              file=sys.stderr, flush=True)
        if with_report:
            runs: list[common.ProcessRun] = []
            for _ in range(repeats):
                runs.append(csmine_report(loc, workdir / f"report-{backend}-{n}.html"))
                print(f"   [{backend}] csmine report: {runs[-1].seconds:.2f} s, {runs[-1].peak_mb:.0f} MB",
                      file=sys.stderr, flush=True)
            cs = median([r.seconds for r in runs])
            ps = median([r.seconds for r in pm_runs])
            cmb = max(r.peak_mb for r in runs)
            pmb = max(r.peak_mb for r in pm_runs)
            big = n >= 1_000_000
            met = (cs <= 60 and cmb <= 3072 and ps / cs >= 2) if big else None
            out.append(Record(
                "bench_scale", f"report {label(n)} ev ({backend})", round(cs, 2), round(ps, 2), ratio(ps, cs),
                round(cmb, 0), round(pmb, 0), target="<= 60 s, <= 3 GB, >= 2x" if big else None, met=met,
                repeats=repeats, memory="peak PSS of the process tree",
                note=f"whole processes (read cache built by the load step); "
                     f"csmine CPU {median([r.cpu_s for r in runs]):.1f} s, "
                     f"pm4py CPU {median([r.cpu_s for r in pm_runs]):.1f} s",
                extra={"csmine_runs": [r.seconds for r in runs], "pm4py_runs": [r.seconds for r in pm_runs]},
            ))
        stores.drop(loc)
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        kind, rest = argv[1], argv[2:]
        if kind == "import":
            res = worker_import(int(rest[0]), int(rest[1]), rest[2], int(rest[3]))
        elif kind == "load":
            res = worker_load(rest[0], int(rest[1]))
        elif kind == "pm4py-read":
            res = worker_pm4py_read(rest[0], int(rest[1]))
        else:
            raise SystemExit(f"unknown worker {kind}")
        print(json.dumps(res))
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help=f"sizes {', '.join(map(label, QUICK_SIZES))}")
    parser.add_argument("--sizes", help="comma-separated event counts (default 10000,100000,1000000)")
    parser.add_argument("--repeats", type=int, help="runs per measurement (default 3, 1 at >= 1M events)")
    parser.add_argument("--pg", metavar="URL", help="also run on PostgreSQL: a server URL, or 'auto' for a "
                                                    "throwaway server (tests/pg_server.py)")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument("--no-report", action="store_true", help="import and load only")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, help="write the results as JSON")
    args = parser.parse_args(argv)

    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else list(QUICK_SIZES if args.quick
                                                                              else DEFAULT_SIZES)
    backends = ([] if args.no_sqlite else ["sqlite"]) + (["postgres"] if args.pg else [])
    print(f"bench_scale: sizes {sizes}, backends {backends}; {common.machine_note()}", file=sys.stderr)
    records: list[Record] = []
    workdir = Path(tempfile.mkdtemp(prefix="csmine-bench-scale-"))
    pg = common.PostgresHandle(args.pg) if args.pg else None
    try:
        if pg is not None:
            pg.__enter__()
        for n in sizes:
            repeats = args.repeats or (1 if n >= 1_000_000 else 3)
            records += bench_size(n, args.seed, backends, repeats, workdir, pg, not args.no_report)
    finally:
        if pg is not None:
            pg.__exit__(None, None, None)
        shutil.rmtree(workdir, ignore_errors=True)
    print()
    print(f"machine: {common.machine_note()}")
    common.print_records(records)
    common.write_json(args.json, records)
    return 0 if all(r.met is not False for r in records) else 1


if __name__ == "__main__":
    sys.exit(main())
