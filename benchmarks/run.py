"""Run every benchmark in this folder and print one summary table of the ratios.

Run from the repository root::

    .venv/bin/python benchmarks/run.py                 # everything, full sizes (about an hour on 2 cores)
    .venv/bin/python benchmarks/run.py --quick         # small sizes (a few minutes)
    .venv/bin/python benchmarks/run.py --pg auto       # PostgreSQL variants on a throwaway server
    .venv/bin/python benchmarks/run.py --pg postgresql://user@host/db --json results.json
    .venv/bin/python benchmarks/run.py --only bench_scale --only bench_report

Every ``bench_*.py`` is run in its own process, one after the other (never in
parallel: the machine has 2 cores and the timings would disturb each other). Each
benchmark runs csmine and the pm4py equivalent on the same data in the same run and
prints both times, the ratio and peak memory; run.py passes ``--quick``, ``--pg``
and ``--json`` to the scripts that accept them (read from their ``--help``), shows
their output as it comes, and at the end prints every result row of every script in
one table (``benchmarks/common.py: print_records``), with the targets and whether
they are met. A script that does not write JSON contributes the lines of its output
that show a ratio (``12.3x``). The exit status is 1 when a script failed or a
target was missed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import PYTHON, REPO, Record, machine_note, print_records  # noqa: E402

HERE = Path(__file__).resolve().parent
RATIO = re.compile(r"\d+(?:\.\d+)?x\b")


def scripts(only: list[str] | None) -> list[Path]:
    found = sorted(HERE.glob("bench_*.py"))
    if only:
        wanted = {o.removesuffix(".py") for o in only}
        unknown = wanted - {p.stem for p in found}
        if unknown:
            raise SystemExit(f"no benchmark named {', '.join(sorted(unknown))} in {HERE}")
        found = [p for p in found if p.stem in wanted]
    return found


def accepted_flags(script: Path) -> set[str]:
    """The long options a script's ``--help`` mentions."""
    proc = subprocess.run([PYTHON, str(script), "--help"], capture_output=True, text=True, cwd=REPO, timeout=120)
    return set(re.findall(r"(--[a-z][a-z0-9-]*)", proc.stdout))


def _num(value: Any) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return None if f != f else f  # NaN -> None


def records_from_json(name: str, data: Any) -> list[Record]:
    """Result rows from a script's JSON: a list of records, or a dict holding lists of them."""
    rows: list[dict[str, Any]] = []

    def collect(obj: Any) -> None:
        if isinstance(obj, list):
            for item in obj:
                if isinstance(item, dict):
                    rows.append(item)
        elif isinstance(obj, dict):
            if any(k in obj for k in ("csmine_s", "ratio", "seconds")):
                rows.append(obj)
            else:
                for value in obj.values():
                    collect(value)

    collect(data)
    out = []
    for r in rows:
        label = r.get("name") or r.get("operation") or r.get("command") or r.get("comparison") or "?"
        csmine_s = _num(r.get("csmine_s", r.get("seconds")))
        pm4py_s = _num(r.get("pm4py_s"))
        ratio = _num(r.get("ratio"))
        if ratio is None and csmine_s and pm4py_s:
            ratio = round(pm4py_s / csmine_s, 2)
        target = r.get("target")
        out.append(Record(
            benchmark=name, name=str(label), csmine_s=csmine_s, pm4py_s=pm4py_s, ratio=ratio,
            csmine_peak_mb=_num(r.get("csmine_peak_mb")), pm4py_peak_mb=_num(r.get("pm4py_peak_mb")),
            target=None if target is None else (f">= {target:g}x" if isinstance(target, int | float) else str(target)),
            met=r.get("met") if isinstance(r.get("met"), bool) else None,
            repeats=int(r.get("repeats") or 1), note=str(r.get("note") or ""),
        ))
    return out


def records_from_text(name: str, text: str) -> list[Record]:
    """Fallback: the output lines that show a ratio."""
    return [Record(benchmark=name, name=line.strip()[:120], csmine_s=None, pm4py_s=None, ratio=None)
            for line in text.splitlines() if RATIO.search(line)]


def run_one(script: Path, args: argparse.Namespace, workdir: Path) -> tuple[list[Record], int, float]:
    flags = accepted_flags(script)
    cmd = [PYTHON, str(script)]
    if args.quick and "--quick" in flags:
        cmd.append("--quick")
    if args.pg and "--pg" in flags:
        cmd += ["--pg", args.pg]
    json_path = workdir / f"{script.stem}.json"
    if "--json" in flags:
        cmd += ["--json", str(json_path)]
    print(f"\n=== {script.name}: {' '.join(cmd[1:])}", flush=True)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=None, text=True, bufsize=1)
    lines: list[str] = []
    assert proc.stdout is not None
    with proc.stdout:
        for line in proc.stdout:
            sys.stdout.write(line)
            lines.append(line)
    code = proc.wait()
    seconds = time.perf_counter() - t0
    records: list[Record] = []
    if json_path.exists():
        try:
            records = records_from_json(script.stem, json.loads(json_path.read_text(encoding="utf-8")))
        except (ValueError, OSError) as exc:
            print(f"({script.name}: unreadable JSON: {exc})", file=sys.stderr)
    if not records:
        records = records_from_text(script.stem, "".join(lines))
    return records, code, seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes in every benchmark that has them")
    parser.add_argument("--pg", metavar="URL", help="PostgreSQL for the benchmarks that have a PostgreSQL variant: "
                                                    "a server URL, or 'auto' for a throwaway local server")
    parser.add_argument("--only", action="append", metavar="NAME", help="run only this benchmark (repeatable)")
    parser.add_argument("--json", type=Path, help="write all result rows as JSON")
    args = parser.parse_args(argv)

    started = time.strftime("%Y-%m-%d %H:%M")
    print(f"csmine benchmarks, {started}; {machine_note()}; python {sys.version.split()[0]}")
    all_records: list[Record] = []
    status: list[tuple[str, int, float]] = []
    with tempfile.TemporaryDirectory(prefix="csmine-bench-run-") as tmp:
        for script in scripts(args.only):
            records, code, seconds = run_one(script, args, Path(tmp))
            all_records += records
            status.append((script.stem, code, seconds))

    print("\n" + "=" * 100)
    print(f"SUMMARY ({started}; {machine_note()}); ratio = pm4py time / csmine time")
    print("=" * 100)
    print_records(all_records)
    print()
    for name, code, seconds in status:
        print(f"{name:<20} {'ok' if code == 0 else f'exit {code}':<8} {seconds:8.0f} s")
    missed = [r for r in all_records if r.met is False]
    failed = [name for name, code, _ in status if code != 0]
    if missed:
        print(f"targets missed: {len(missed)} ({', '.join(r.name for r in missed)})")
    if failed:
        print(f"scripts failed: {', '.join(failed)}")
    if args.json:
        from dataclasses import asdict

        args.json.write_text(json.dumps({"started": started, "machine": machine_note(),
                                         "status": [{"benchmark": n, "exit": c, "seconds": s} for n, c, s in status],
                                         "records": [asdict(r) for r in all_records]}, indent=2, default=str),
                             encoding="utf-8")
    return 1 if missed or failed else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
