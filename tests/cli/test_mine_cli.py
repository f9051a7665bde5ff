"""csmine discover / bottlenecks / kpi on stores built with `csmine import`.

The hand-made log tests/data/kpi/complaint_small.csv is described (with its hand-worked
KPIs) in tests/unit/csmine/test_kpi.py.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.datasets import dataset_path

from csmine.cli import cli as root

DATA = Path(__file__).resolve().parents[1] / "data" / "kpi"


def run(*args, ok: bool = True):
    result = CliRunner().invoke(root, [str(a) for a in args], catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output + result.stderr
    return result


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("mine") / "complaint.db")
    run("import", DATA / "complaint_small.csv", "--store", path, "--quiet")
    return path


@pytest.fixture(scope="module")
def store_zh(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("mine") / "complaint_zh.db")
    run("import", DATA / "complaint_small_zh.csv", "--store", path, "--quiet")
    return path


def test_discover_json(store):
    out = json.loads(run("discover", "--store", store, "--json").stdout)
    pmap = out["map"]
    assert (pmap["tickets"], pmap["events"]) == (4, 27)
    edges = {(e["source"], e["target"]): e for e in pmap["edges"]}
    # Classify -> Handle in T1 (40 min: 09:20 -> start 10:00) and T3 (30 min)
    assert edges[("Classify", "Handle")]["cases"] == 2
    assert edges[("Classify", "Handle")]["median_s"] == 35 * 60
    assert [v["tickets"] for v in out["variants"]] == [1, 1, 1, 1]
    assert out["model"] is None


def test_discover_text_files_and_filters(store, tmp_path):
    svg, bpmn = tmp_path / "map.svg", tmp_path / "model.bpmn"
    result = run("discover", "--store", store, "--activities", "0.8", "--paths", "0.6", "--out", svg,
                 "--bpmn", bpmn, "--variants", "2", "--mode", "performance")
    assert "Process map: 4 tickets, 27 events" in result.stdout
    assert "Variants (top 2 cover 50.0% of tickets)" in result.stdout
    assert f"wrote {svg}" in result.stderr
    assert "<svg" in svg.read_text(encoding="utf-8")
    assert "bpmn:process" in bpmn.read_text(encoding="utf-8") or "process" in bpmn.read_text(encoding="utf-8")
    p1 = json.loads(run("discover", "--store", store, "--priority", "P1", "--json").stdout)
    assert p1["map"]["tickets"] == 2
    bad = run("discover", "--store", store, "--activities", "1.5", ok=False)
    assert bad.exit_code == 2


def test_discover_chinese_map(store_zh, tmp_path):
    png = tmp_path / "map.png"
    run("discover", "--store", store_zh, "--out", png, "--title", "投诉处理")
    assert png.read_bytes()[:4] == b"\x89PNG"
    dot = tmp_path / "map.dot"
    run("discover", "--store", store_zh, "--out", dot)
    text = dot.read_text(encoding="utf-8")
    assert "记录登记" in text and "Noto Sans CJK SC" in text


def test_kpi_json_hand_values(store):
    result = run("kpi", "--store", store, "--json")
    assert "using SOP 'complaint'" in result.stderr
    out = json.loads(result.stdout)
    kpis = {k["name"]: k for k in out["kpis"]}
    # see tests/unit/csmine/test_kpi.py for the arithmetic
    assert kpis["first_response"]["median_s"] == 17.5 * 60
    assert kpis["first_response"]["within_target"] == 0.75
    # T4 is still open: resolution rate and FCR are over the 3 closed tickets
    assert out["tickets"]["total"] == 4 and (out["tickets"]["closed"], out["tickets"]["open"]) == (3, 1)
    assert kpis["resolution_rate"]["value"] == 1.0
    assert kpis["first_contact_resolution"]["value"] == pytest.approx(1 / 3)
    assert out["sop_choice"]["chosen"] == "complaint" and out["sop_choice"]["how"] == "automatic"
    assert kpis["satisfaction"]["value"] == pytest.approx(205 / 3)
    assert kpis["sla_attainment"]["value"] == 0.5
    assert {r["priority"]: r["attainment"] for r in out["sla_by_priority"]} == {"P1": 1.0, "P2": 0.0}
    assert out["backlog"]["open_now"] == 1


def test_kpi_text_calendar_and_per_ticket_csv(store, tmp_path):
    csv = tmp_path / "tickets.csv"
    result = run("kpi", "--store", store, "--sop", "complaint", "--calendar", "hours=9-18,days=mon-fri",
                 "--tickets", csv)
    assert "Mon-Fri 09:00-18:00 UTC" in result.stdout
    assert "First response time" in result.stdout and "SLA attainment per priority" in result.stdout
    assert csv.read_text().splitlines()[0].startswith("ticket,")
    p2 = json.loads(run("kpi", "--store", store, "--sop", "complaint", "--priority", "P2", "--json").stdout)
    assert p2["tickets"]["total"] == 2


def test_kpi_without_sop(store):
    out = json.loads(run("kpi", "--store", store, "--sop", "none", "--json").stdout)
    kpis = {k["name"]: k for k in out["kpis"]}
    assert kpis["first_response"]["value"] is None
    assert "--sop" in kpis["first_response"]["note"]
    assert kpis["throughput_time"]["value"] is not None


def test_errors_have_exit_codes(store):
    missing = run("kpi", "--store", store, "--sop", "no-such-sop", ok=False)
    assert missing.exit_code == 4 and "no-such-sop" in missing.stderr
    empty = run("bottlenecks", "--store", store, "--channel", "fax", ok=False)
    assert empty.exit_code == 3 and "empty" in empty.stderr
    bad_cal = run("kpi", "--store", store, "--calendar", "hours=20-8", ok=False)
    assert bad_cal.exit_code == 3 and "hours" in bad_cal.stderr


def test_bottlenecks_json_and_map(store, tmp_path):
    out = json.loads(run("bottlenecks", "--store", store, "--sop", "complaint", "--json").stdout)
    limits = {lb["step"]: lb for lb in out["limits"]}
    assert (limits["Record"]["breached"], limits["Handle"]["overdue"]) == (1, 1)
    assert out["ping_pong"] == [{"team_a": "First line", "team_b": "Specialist", "direct": 1, "indirect": 0,
                                 "tickets": 1}]
    assert out["bottlenecks"][0]["rank"] == 1
    svg = tmp_path / "b.svg"
    result = run("bottlenecks", "--store", store, "--sop", "complaint", "--out", svg)
    assert "Top bottlenecks" in result.stdout and "SOP time limits" in result.stdout
    text = svg.read_text(encoding="utf-8")
    assert "#1 bottleneck" in text


@pytest.fixture(scope="module")
def bpic_store(tmp_path_factory) -> str:
    xes = dataset_path("bpic2013", "BPI_Challenge_2013_incidents.xes.gz")
    path = str(tmp_path_factory.mktemp("bpic") / "bpic.db")
    run("import", xes, "--store", path, "--quiet")
    return path


@pytest.mark.slow
def test_bpic2013_commands(bpic_store, tmp_path):
    timings = {}

    def timed(name, *args):
        start = time.perf_counter()
        result = run(*args)
        timings[name] = time.perf_counter() - start
        return result

    b = json.loads(timed("bottlenecks", "bottlenecks", "--store", bpic_store, "--sop", "it-incident",
                         "--json").stdout)
    steps = {s["activity"]: s for s in b["steps"]}
    assert steps["Accepted/Wait - User"]["share_of_time"] == pytest.approx(0.212, abs=0.001)
    assert b["first_line"]["share"] == pytest.approx(4546 / 7554)
    assert (b["ping_pong"][0]["team_a"], b["ping_pong"][0]["team_b"]) == ("D5", "D4")
    # a status log ranks the time in each status once (steps), never again as a transition
    assert b["status_log"] and {x["kind"] for x in b["bottlenecks"]} == {"step"}
    assert [x["where"] for x in b["bottlenecks"][:3]] == [
        "Accepted/Wait - User", "Accepted/In Progress", "Queued/Awaiting Assignment"]
    assert sum(x["share_of_throughput"] for x in b["bottlenecks"]) <= 1.0
    k = json.loads(timed("kpi", "kpi", "--store", bpic_store, "--priority-attr", "impact", "--json").stdout)
    assert k["sop"] == "it-incident" and k["tickets"]["total"] == 7554
    kpis = {x["name"]: x for x in k["kpis"]}
    # it-incident: Queue is no escalation; only Wait - User / Wait - Customer is the customer's time
    assert kpis["escalation_rate"]["value"] is None
    # over the 7,455 closed tickets (99 are open: 90 of them resolved, not yet closed)
    assert k["tickets"]["closed"] == 7455 and k["tickets"]["open"] == 99
    assert kpis["customer_wait_share"]["value"] == pytest.approx(0.215, abs=0.001)
    d = json.loads(timed("discover", "discover", "--store", bpic_store, "--activities", "0.8", "--paths", "0.6",
                         "--out", tmp_path / "bpic.svg", "--json").stdout)
    assert d["map"]["events"] == 65_533 and len(d["variants"]) == 10
    print("BPIC 2013 command times (s):", {k: round(v, 2) for k, v in timings.items()})


def test_kpi_ticket_csv_is_safe_in_a_spreadsheet(tmp_path):
    # a ticket id and a team that a spreadsheet would run as formulas stay text
    src = tmp_path / "formula.csv"
    src.write_text(
        "case:concept:name,concept:name,time:timestamp,org:resource,org:group\n"
        "=HYPERLINK(1),Receive,2025-03-03T09:00:00Z,A1,@team\n"
        "=HYPERLINK(1),Archive,2025-03-03T10:00:00Z,A1,@team\n", encoding="utf-8")
    db = tmp_path / "f.db"
    run("import", src, "--store", db, "--quiet")
    csv = tmp_path / "tickets.csv"
    csv.write_text("old", encoding="utf-8")  # a per-ticket CSV is regenerated: replaced
    run("kpi", "--store", db, "--sop", "none", "--closed-when", "Archive", "--tickets", csv, "--quiet")
    import pandas as pd

    back = pd.read_csv(csv, dtype=str, keep_default_na=False)
    assert back.iloc[0, 0] == "'=HYPERLINK(1)"
    assert not list(tmp_path.glob(".tickets.csv.*"))  # no temporary file left behind
