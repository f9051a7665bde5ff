"""Keeps the benchmark scripts working (benchmarks/ is not part of the default test run).

Tiny sizes only: every script parses its options; the shared helpers measure what they
say; the pm4py reference script computes hand-checked figures on four tickets; the
scale workers import and read back a ~1,000-event simulated log; run.py runs a
benchmark and collects its rows into the summary.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "benchmarks"
SCRIPTS = sorted(BENCH.glob("bench_*.py")) + [BENCH / "pm4py_report.py", BENCH / "run.py"]


def _load(name: str) -> ModuleType:
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    key = f"_csmine_bench_{name}"
    if key in sys.modules:
        return sys.modules[key]
    spec = importlib.util.spec_from_file_location(key, BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[key] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_every_benchmark_script_answers_help() -> None:
    procs = {p.name: subprocess.Popen([sys.executable, str(p), "--help"], cwd=REPO, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True) for p in SCRIPTS}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"{name} --help failed:\n{err[-2000:]}"
        assert "usage:" in out, name
    assert {"bench_scale.py", "bench_report.py"} <= set(procs)


def test_run_process_measures_time_and_tree_memory() -> None:
    common = _load("common")
    # a child that holds ~80 MB in a grandchild: the tree's peak must include it
    code = ("import subprocess, sys; subprocess.run([sys.executable, '-c', "
            "'import time; b = bytearray(80_000_000); b[::4096] = b\"x\" * len(b[::4096]); time.sleep(0.4)'])")
    run = common.run_process([sys.executable, "-c", code])
    assert run.returncode == 0
    assert run.seconds >= 0.4
    assert 80_000_000 / 2**20 <= run.peak_mb < 1000
    failed = common.run_process([sys.executable, "-c", "import sys; print('out'); sys.exit(3)"])
    assert (failed.returncode, failed.stdout.strip()) == (3, "out")


def test_records_print_and_round_trip_through_json(tmp_path: Path) -> None:
    common = _load("common")
    run = _load("run")
    rec = common.Record("bench_x", "thing 1M ev", 2.0, 5.0, common.ratio(5.0, 2.0), 100.0, None,
                        target=">= 2x", met=True, repeats=3)
    assert rec.ratio == 2.5
    common.write_json(tmp_path / "r.json", [rec])
    back = run.records_from_json("bench_x", json.loads((tmp_path / "r.json").read_text()))
    assert [(r.name, r.csmine_s, r.pm4py_s, r.ratio, r.met, r.repeats) for r in back] == [
        ("thing 1M ev", 2.0, 5.0, 2.5, True, 3)]
    # another script's shape: a dict of row lists with other key names; the ratio is derived
    other = {"analytics": [{"operation": "discover", "csmine_s": 0.5, "pm4py_s": 1.5}], "cli": []}
    rows = run.records_from_json("bench_mining", other)
    assert [(r.name, r.ratio) for r in rows] == [("discover", 3.0)]
    assert [r.name for r in run.records_from_text("b", "x  1.0 s\nBPIC x SOP  0.1  2.0  20.0x  met\n")] == [
        "BPIC x SOP  0.1  2.0  20.0x  met"]


def _tiny_csv(path: Path) -> None:
    rows = ["case:concept:name,concept:name,time:timestamp,start_timestamp"]

    def ticket(case: str, day: int, steps: list[tuple[str, str | None, str]]) -> None:
        for act, start, end in steps:
            s = f"2025-03-0{day} {start}:00+00:00" if start else ""
            rows.append(f"{case},{act},2025-03-0{day} {end}:00+00:00,{s}")

    ticket("T1", 3, [("Receive", None, "08:00"), ("Record", "08:05", "08:10"), ("Classify", "08:20", "08:30"),
                     ("Handle", "09:00", "10:00"), ("Callback", "11:00", "12:00"), ("Archive", "12:30", "13:00")])
    ticket("T2", 4, [("Receive", None, "08:00"), ("Record", "08:15", "08:20"), ("Classify", "08:20", "08:30"),
                     ("Handle", "09:00", "10:00"), ("Callback", "11:00", "12:00"), ("Archive", "12:30", "13:00")])
    ticket("T3", 5, [("Receive", None, "08:00"), ("Record", "08:25", "08:30"), ("Classify", "08:40", "08:50"),
                     ("Escalate", "09:00", "09:10"), ("Handle", "09:30", "10:00"), ("Callback", "11:00", "12:00"),
                     ("Archive", "12:30", "13:00")])
    # skips the callback: one model move
    ticket("T4", 6, [("Receive", None, "08:00"), ("Record", "08:05", "08:10"), ("Classify", "08:20", "08:30"),
                     ("Handle", "09:00", "10:00"), ("Archive", "12:30", "13:00")])
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")


def test_pm4py_report_figures_on_four_tickets(tmp_path: Path) -> None:
    pm4py_report = _load("pm4py_report")
    csv = tmp_path / "tiny.csv"
    _tiny_csv(csv)
    fig = pm4py_report.run(str(csv))
    assert (fig["events"], fig["cases"], fig["variants"]) == (24, 4, 3)
    # directly-follows counts: 3 + 4 + ... by hand
    assert (fig["dfg_edges"], fig["dfg_events"]) == (8, 20)
    assert fig["start_activities"] == {"Receive": 4} and fig["end_activities"] == {"Archive": 4}
    # waiting = next start - completion: Receive -> Record waits 5, 15, 25, 5 min -> median 10 min
    assert fig["performance_dfg_median_s"]["Receive -> Record"] == 600.0
    assert fig["performance_dfg_median_s"]["Handle -> Archive"] == 9000.0
    assert [v["tickets"] for v in fig["top_variants"]] == [2, 1, 1]
    # T4: one missing step against a shortest model path of 6 and 5 events: 1 - 1/11
    assert fig["fitness"]["average_trace_fitness"] == pytest.approx((3 + 10 / 11) / 4)
    assert fig["fitness"]["percentage_of_fitting_traces"] == 75.0


def test_scale_workers_import_and_read_a_tiny_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CSMINE_BENCH_CACHE", str(tmp_path / "cache"))
    scale = _load("bench_scale")
    common = _load("common")
    sim = common.synthetic(1000, seed=3)
    expected = sum(len(h.steps) for h in sim.histories)
    assert 900 <= expected <= 1100
    assert common.synthetic(1000, seed=3).histories == sim.histories  # from the cache
    store = str(tmp_path / "s.db")
    imp = scale.worker_import(1000, 3, store, 50)
    assert (imp["events"], imp["tickets"]) == (expected, len(sim.histories))
    assert imp["seconds"] > 0
    load = scale.worker_load(store, 2)
    assert load["rows"] == expected and len(load["times"]) == 2
    csv = common.synthetic_csv(1000, seed=3)
    with csv.open(encoding="utf-8") as fh:
        assert sum(1 for _ in fh) == expected + 1


def test_run_py_runs_a_benchmark_and_summarises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    run = _load("run")
    fake = tmp_path / "bench_fake.py"
    fake.write_text(textwrap.dedent("""
        import argparse, json
        p = argparse.ArgumentParser()
        p.add_argument("--quick", action="store_true")
        p.add_argument("--json")
        a = p.parse_args()
        print("fake 1.0 s vs 4.0 s: 4.0x")
        rows = [{"name": "fake thing", "csmine_s": 1.0, "pm4py_s": 4.0, "ratio": 4.0, "target": ">= 5x",
                 "met": False, "note": "quick" if a.quick else "full"}]
        json.dump(rows, open(a.json, "w"))
    """), encoding="utf-8")
    monkeypatch.setattr(run, "HERE", tmp_path)
    out_json = tmp_path / "all.json"
    code = run.main(["--quick", "--json", str(out_json)])
    out = capsys.readouterr().out
    assert code == 1  # the fake's target is missed
    summary = out[out.index("SUMMARY"):]
    assert "fake thing" in summary and "4.00x" in summary and ">= 5x MISSED" in summary and "quick" in summary
    data = json.loads(out_json.read_text())
    assert [(r["benchmark"], r["ratio"]) for r in data["records"]] == [("bench_fake", 4.0)]


def test_peak_memory_is_the_child_s_own_not_the_parent_s() -> None:
    # Between fork and exec a child shows its parent's resident memory; a large parent
    # (the benchmark holding a million-event log) must not leak into the child's figure.
    common = _load("common")
    ballast = b"x" * 400_000_000  # resident in this process
    run = common.run_process([sys.executable, "-c", "import time; x = b'y' * 60_000_000; time.sleep(0.3)"])
    assert run.returncode == 0
    assert 55 < run.peak_mb < 250, run.peak_mb
    del ballast


def test_pages_a_forked_child_shares_are_counted_once() -> None:
    common = _load("common")
    code = ("import os, time; x = b'y' * 120_000_000; pid = os.fork(); time.sleep(0.6); "
            "os._exit(0) if pid == 0 else os.waitpid(pid, 0)")
    run = common.run_process([sys.executable, "-c", code])
    assert run.returncode == 0
    assert 110 < run.peak_mb < 200, run.peak_mb  # summed RSS would be about 240
