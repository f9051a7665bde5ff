"""--sop none, the automatic SOP choice and open/closed tickets, command by command.

The problem store is tests/data/kpi/status_small.csv without its Completed/Resolved events:
two tickets that end Completed/Closed and never pass it-incident's resolution step (as in
BPIC 2013's closed problems). Coverage alone would pick it-incident; it must not be picked.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tests.unit.csmine.pilot_data import build_two_days_store

DATA = Path(__file__).resolve().parents[1] / "data" / "kpi"


@pytest.fixture(scope="module")
def problem_db(tmp_path_factory):
    from click.testing import CliRunner

    from csmine.cli import cli as root

    folder = tmp_path_factory.mktemp("problems")
    df = pd.read_csv(DATA / "status_small.csv")
    csv = folder / "problems.csv"
    df[df["concept:name"] != "Completed/Resolved"].to_csv(csv, index=False)
    db = str(folder / "problems.db")
    r = CliRunner().invoke(root, ["import", str(csv), "--store", db, "--quiet"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return db


@pytest.fixture(scope="module")
def days_db(tmp_path_factory):
    return build_two_days_store(str(tmp_path_factory.mktemp("sop-none-days") / "days.db"))


def test_kpi_picks_no_sop_whose_resolution_step_never_occurs(cli, problem_db):
    r = cli("kpi", "--json", "--store", problem_db)
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["sop"] is None and data["sop_choice"]["chosen"] is None
    it = next(c for c in data["sop_choice"]["considered"] if c["sop"] == "it-incident")
    assert it["coverage"] == 1.0 and it["close_step_seen"] is False and "'Resolve'" in it["why"]
    assert "no SOP used" in r.stderr and "it-incident names 100% of the events but" in r.stderr
    kpis = {k["name"]: k for k in data["kpis"]}
    assert kpis["resolution_rate"]["value"] is None and kpis["throughput_time"]["value"] is not None
    assert data["tickets"]["total"] == 2 and data["tickets"]["rule_known"] is False


def test_an_explicit_sop_reports_the_missing_step_never_zero(cli, problem_db):
    data = json.loads(cli("kpi", "--sop", "it-incident", "--json", "--store", problem_db).stdout)
    kpis = {k["name"]: k for k in data["kpis"]}
    rr = kpis["resolution_rate"]
    assert rr["value"] is None and rr["met"] is None
    assert rr["note"] == "resolution steps 'Resolve', 'Resolve in call' never occur in the log"
    assert (data["tickets"]["closed"], data["tickets"]["open"]) == (2, 0)
    text = cli("kpi", "--sop", "it-incident", "--store", problem_db)
    row = next(line for line in text.stdout.splitlines() if "Resolution rate" in line)
    assert "NO" not in row and "0.0%" not in row and "never occur in the log" in row
    assert "'Resolve' left out" in text.stderr


def test_kpi_and_bottlenecks_with_sop_none_and_closed_when(cli, days_db):
    r = cli("kpi", "--sop", "none", "--closed-when", "Archive", "--json", "--store", days_db)
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["sop"] is None and data["sop_choice"]["how"] == "--sop none"
    assert data["tickets"]["rule"] == "closed by --closed-when 'Archive'"
    kpis = {k["name"]: k for k in data["kpis"]}
    assert kpis["backlog"]["value"] is not None and kpis["throughput_time"]["value"] is not None
    assert kpis["resolution_rate"]["note"] == "needs an SOP (--sop) resolution step"
    b = cli("bottlenecks", "--sop", "none", "--closed-when", "Archive", "--json", "--store", days_db)
    assert b.exit_code == 0, b.output
    bd = json.loads(b.stdout)
    assert bd["sop"] is None and bd["tickets"]["closed"] == data["tickets"]["closed"]
    text = cli("bottlenecks", "--sop", "none", "--store", days_db)
    assert "every ticket counted as ended" in text.stdout and "Backlog: not computed" in text.stdout


def test_compare_never_falls_back_to_complaint(cli, problem_db):
    r = cli("compare", "--a", "from=2025-01-01", "--b", "from=2025-01-01", "--json", "--resamples", "200",
            "--store", problem_db)
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["sop"] is None and data["sop_choice"]["chosen"] is None and data["steps"] == []
    assert data["a"]["tickets"]["total"] == 2
    assert any("conformance per step: needs an SOP" in n for n in data["notes"])
    assert "no SOP used" in r.stderr
    r = cli("compare", "--a", "from=2025-01-01", "--b", "from=2025-01-01", "--sop", "none", "--resamples", "200",
            "--store", problem_db)
    assert r.exit_code == 0, r.output
    assert "(SOP -)" in r.stdout


def test_review_day_without_sop_and_the_week_needs_one(cli, days_db):
    r = cli("review", "--day", "2025-03-04", "--sop", "none", "--json", "--store", days_db)
    assert r.exit_code == 0, r.output
    day = json.loads(r.stdout)
    assert day["sop"] is None and day["breaches"] == [] and day["bottleneck"] is not None
    assert any("need --sop" in n for n in day["notes"])
    w = cli("review", "--week", "2025-W10", "--sop", "none", "--store", days_db)
    assert w.exit_code == 4 and "weekly bulletin" in w.stderr and "--sop none is not possible" in w.stderr


def test_replay_and_conform_cannot_do_without_an_sop(cli, days_db):
    r = cli("replay", "--sop", "none", "--store", days_db)
    assert r.exit_code == 4 and "replay" in r.stderr and "needs an SOP" in r.stderr
    r = cli("replay", "--sop", "complaint", "--compare-sop", "none", "--store", days_db)
    assert r.exit_code == 4
    assert cli("conform", "--sop", "none", "--store", days_db).exit_code == 4


@pytest.mark.slow
def test_report_on_helpdesk_without_sop_fills_the_tiles_the_data_allows(cli, tmp_path):
    from tests.datasets import HELPDESK, dataset_path

    db = str(tmp_path / "hd.db")
    assert cli("import", dataset_path(*HELPDESK), "--store", db, "--quiet").exit_code == 0
    out = tmp_path / "r.html"
    r = cli("report", "--sop", "none", "--closed-when", "Closed", "--out", out, "--json", "--quiet",
            "--store", db)
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["sop"] is None and data["sop_choice"]["how"] == "--sop none"
    assert (data["tickets"]["closed"], data["tickets"]["open"]) == (4557, 23)
    kpis = data["findings"]["kpis"]
    filled = {k for k, v in kpis.items() if v is not None}
    assert filled == {"handling_time", "throughput_time", "waiting_share", "handovers", "ping_pong_rate",
                      "rework_rate", "backlog", "open_age"}
    page = out.read_text(encoding="utf-8")
    assert "needs an SOP (--sop) resolution step" in page and ">n = 0<" not in page
    assert "4,557 closed, 23 open" in page
