"""``csmine kpi --engine``: the local path's KPI report, computed in DuckDB; what stays local is said."""

from __future__ import annotations

import csv
import json

import pytest

from event_store import open_store


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from csmine.simulation.demo import record_demo

    path = tmp_path_factory.mktemp("engine-kpi") / "demo.db"
    store = open_store(str(path), create=True)
    record_demo(store, tickets=300, seed=5)
    store.close()
    return str(path)


def _close(a, b) -> bool:
    """Plain data equal; floats (seconds, shares) to 1e-6 (sums in another order differ in the last digits)."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return a == pytest.approx(b, abs=1e-6, rel=1e-9)
    return a == b


def _without_satisfaction(report: dict) -> tuple[dict, dict]:
    kpis = [k for k in report["kpis"] if k["name"] != "satisfaction"]
    (sat,) = [k for k in report["kpis"] if k["name"] == "satisfaction"]
    rest = {k: v for k, v in report.items() if k not in ("kpis", "satisfaction_distribution")}
    return {**rest, "kpis": kpis}, sat


def test_kpi_json_is_the_local_report_on_duckdb(cli, demo, tmp_path):
    lake = tmp_path / "lake"
    assert cli("export", lake, "--format", "parquet", "--partition", "month", "--store", demo).exit_code == 0
    local = json.loads(cli("kpi", "--sop", "complaint", "--store", demo, "--json").output)
    base, local_sat = _without_satisfaction(local)
    assert local_sat["value"] is not None and local_sat["n"] > 200  # the scores are read
    for args in (("--engine", "duckdb"), ("--engine", "duckdb", "--parquet", str(lake))):
        result = cli("kpi", "--sop", "complaint", "--store", demo, "--json", *args)
        assert result.exit_code == 0, result.output
        report = json.loads(result.output)
        assert _close(report, local), args  # every figure, the satisfaction score from the steps' attributes too
        other, sat = _without_satisfaction(report)
        assert _close(sat, local_sat) and _close(other, base)
    assert base["tickets"]["total"] == 300
    assert {k["name"]: k["n"] for k in base["kpis"]}["first_response"] == 300


def test_kpi_tickets_csv_and_the_automatic_sop_on_duckdb(cli, demo, tmp_path):
    a, b = tmp_path / "local.csv", tmp_path / "duckdb.csv"
    local = cli("kpi", "--store", demo, "--tickets", a, "--closed-when", "Archive")
    engine = cli("kpi", "--store", demo, "--tickets", b, "--closed-when", "Archive", "--engine", "duckdb")
    assert local.exit_code == engine.exit_code == 0, engine.output
    rows_a = list(csv.DictReader(a.read_text(encoding="utf-8").splitlines()))
    rows_b = list(csv.DictReader(b.read_text(encoding="utf-8").splitlines()))
    assert len(rows_a) == len(rows_b) == 300
    scores = [ra["satisfaction"] for ra in rows_a]
    assert sum(v != "" for v in scores) > 200  # scores on most tickets, equal on every engine
    assert rows_a == rows_b
    # the same shipped SOP was chosen from the engine's activity counts
    assert "complaint" in local.output and local.output.splitlines()[0] == engine.output.splitlines()[0]


def test_what_kpi_in_an_engine_cannot_do_is_said(cli, demo):
    cal = cli("kpi", "--store", demo, "--engine", "duckdb", "--calendar", "hours=9-18,days=mon-fri,tz=UTC")
    assert cal.exit_code == 3 and "--calendar (business time) is not supported with --engine duckdb" in cal.output
    prio = cli("kpi", "--store", demo, "--engine", "duckdb", "--priority-attr", "impact")
    assert prio.exit_code == 3 and "use --engine local" in prio.output
    phase = cli("kpi", "--store", demo, "--engine", "duckdb", "--phase", "pilot")
    assert phase.exit_code == 3 and "--phase is not supported with --engine duckdb" in phase.output
    pg = cli("kpi", "--store", demo, "--engine", "postgres")
    assert pg.exit_code == 3 and "needs a PostgreSQL store" in pg.output
    assert all("Traceback" not in r.output for r in (cal, prio, phase, pg))


def test_bottlenecks_in_duckdb_print_the_local_report(cli, demo):
    local = cli("bottlenecks", "--sop", "complaint", "--store", demo, "--json")
    engine = cli("bottlenecks", "--sop", "complaint", "--store", demo, "--json", "--engine", "duckdb")
    assert local.exit_code == engine.exit_code == 0, engine.output
    a, b = json.loads(local.output), json.loads(engine.output)
    assert _close(a, b) and a["tickets"]["total"] == 300 and len(a["bottlenecks"]) >= 5
    text = cli("bottlenecks", "--store", demo, "--engine", "duckdb")
    assert text.output == cli("bottlenecks", "--store", demo).output  # the same SOP chosen, the same tables
    drawn = cli("bottlenecks", "--store", demo, "--engine", "duckdb", "--out", "map.svg")
    assert drawn.exit_code == 2 and "use it with --engine local" in drawn.output
