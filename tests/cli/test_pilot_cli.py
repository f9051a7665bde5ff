"""csmine phase / compare / review / replay on stores with known answers."""

from __future__ import annotations

import json

import pytest

from tests.unit.csmine.pilot_data import build_pilot_store, build_two_days_store


@pytest.fixture(scope="module")
def days_db(tmp_path_factory):
    return build_two_days_store(str(tmp_path_factory.mktemp("cli-days") / "days.db"))


@pytest.fixture(scope="module")
def pilot_db(tmp_path_factory):
    return build_pilot_store(str(tmp_path_factory.mktemp("cli-pilot") / "pilot.db"))


# -- phase ---------------------------------------------------------------------------


def test_phase_add_list_history_remove(cli, tmp_path):
    db = build_two_days_store(str(tmp_path / "p.db"))
    r = cli("phase", "add", "baseline", "--from", "2025-01-01", "--to", "2025-03-01", "--note", "before",
            "--by", "ana", "--store", db)
    assert r.exit_code == 0, r.output
    assert r.stdout == ("phase baseline: tickets opened 2025-01-01T00:00:00+00:00 → 2025-03-01T00:00:00+00:00, "
                        "all tickets (0 tickets in the store now)\n")
    r = cli("phase", "add", "east", "--from", "2025-03-04", "--where", "region=East,West", "--store", db, "--json")
    # the store's phase "pilot" (all of March) starts first, so it keeps March 4's tickets
    assert json.loads(r.stdout)["tickets"] == 0 and json.loads(r.stdout)["cohort"] == {"region": ["East", "West"]}
    assert r.stderr == ("warning: phase east overlaps pilot: tickets matching both belong to pilot "
                        "(the phase that starts first)\n")
    r = cli("phase", "add", "east", "--from", "2025-03-04", "--store", db)
    assert r.exit_code == 3 and "already defined" in r.stderr and "--replace" in r.stderr
    r = cli("phase", "list", "--json", "--store", db)
    listed = {p["name"]: p["tickets"] for p in json.loads(r.stdout)}
    assert listed == {"baseline": 0, "pilot": 7, "east": 0}
    r = cli("phase", "list", "--store", db)
    assert "region=East|West" in r.stdout and "open-ended" in r.stdout
    assert cli("phase", "remove", "east", "--note", "dropped", "--store", db).stdout == "removed phase east\n"
    r = cli("phase", "remove", "east", "--store", db)
    assert r.exit_code == 3 and "no phase 'east'" in r.stderr
    history = json.loads(cli("phase", "history", "--json", "--store", db).stdout)
    assert [(h["change"], h["name"]) for h in history] == [
        ("defined", "pilot"), ("defined", "baseline"), ("defined", "east"), ("removed", "east")]
    assert history[1]["actor"] == "ana" and history[3]["note"] == "dropped"
    r = cli("phase", "add", "bad", "--from", "2025-03-04", "--to", "2025-03-01", "--store", db)
    assert r.exit_code == 3 and "is not after" in r.stderr
    r = cli("stats", "--phase", "pilot", "--store", db)
    assert r.exit_code == 0, r.output


# -- replay --------------------------------------------------------------------------

EXPECTED_STREAM = """\
── 2025-03-03 ──
2025-03-03 10:24  D1-2           at_risk      Record               Record still missing at 80% of its 30 min limit after opened (due 2025-03-03 10:30)
2025-03-03 10:30  D1-2           breach       Record               Record not done within 30 min after opened (due 2025-03-03 10:30)
2025-03-03 15:00  D1-3           skipped      Callback             Archive recorded without Callback before it
── 2025-03-04 ──
2025-03-04 09:10  D2-1           skipped      Record               Classify recorded without Record before it
2025-03-04 09:15  D2-1           out_of_order Record               Record recorded where the flow no longer allows it
2025-03-04 11:00  D2-2           skipped      Callback             Archive recorded without Callback before it
2025-03-04 11:24  D2-3           at_risk      Record               Record still missing at 80% of its 30 min limit after opened (due 2025-03-04 11:30)
2025-03-04 11:30  D2-3           breach       Record               Record not done within 30 min after opened (due 2025-03-04 11:30)

replayed 40 events of 7 tickets (all tickets), 2025-03-03 08:00 → 2025-03-04 16:00
"""


def test_replay_prints_each_alert_as_it_fires_then_a_summary(cli, days_db):
    r = cli("replay", "--sop", "complaint", "--store", days_db)
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith(EXPECTED_STREAM)
    assert "Alerts per kind" in r.stdout and "Alerts per step" in r.stdout
    again = cli("replay", "--sop", "complaint", "--store", days_db)
    assert again.stdout == r.stdout


def test_replay_in_another_time_zone_and_window(cli, days_db):
    r = cli("replay", "--sop", "complaint", "--tz", "Asia/Shanghai", "--from", "2025-03-04", "--store", days_db)
    lines = [line for line in r.stdout.splitlines() if line.startswith("2025")]
    assert lines[0].startswith("2025-03-04 17:10  D2-1           skipped      Record")
    assert len(lines) == 5


def test_replay_against_a_revised_sop(cli, days_db):
    r = cli("replay", "--sop", "complaint", "--compare-sop", "complaint-v2", "--json", "--store", days_db)
    data = json.loads(r.stdout)
    assert data["sops"] == ["complaint", "complaint-v2"]
    diff = data["difference"]
    assert diff["both"] == 8 and sum(diff["only_a"].values()) == 0
    assert [(a["time"], a["ticket"], a["kind"], a["step"]) for a in diff["alerts_only_b"]] == [
        ("2025-03-04T04:12:00+00:00", "D1-4", "at_risk", "Callback"),
        ("2025-03-04T09:00:00+00:00", "D1-4", "breach", "Callback")]
    text = cli("replay", "--sop", "complaint", "--compare-sop", "complaint-v2", "--store", days_db).stdout
    assert "2025-03-04 09:00  B   D1-4           breach       Callback" in text
    assert "8 alerts in both, 0 only in A, 2 only in B" in text


def test_replay_speed_step_and_usage(cli, days_db):
    fast = cli("replay", "--sop", "complaint", "--speed", "1e12", "--store", days_db)
    assert fast.exit_code == 0 and fast.stdout.startswith(EXPECTED_STREAM)
    step = cli("replay", "--sop", "complaint", "--step", "--store", days_db)
    assert step.stdout.startswith(EXPECTED_STREAM) and "needs a terminal" in step.stderr
    assert cli("replay", "--store", days_db).exit_code == 2
    assert cli("replay", "--sop", "complaint", "--speed", "0", "--store", days_db).exit_code == 2
    r = cli("replay", "--sop", "complaint", "--phase", "nope", "--store", days_db)
    assert r.exit_code == 3 and "no phase 'nope'" in r.stderr
    r = cli("replay", "--sop", "no-such-sop", "--store", days_db)
    assert r.exit_code == 4


def test_replay_rebuild_checks_the_read_model(cli, tmp_path):
    db = build_two_days_store(str(tmp_path / "r.db"))
    r = cli("replay", "--rebuild", "--store", db)
    assert r.exit_code == 0 and "read model matches the event log" in r.stdout
    data = json.loads(cli("replay", "--rebuild", "--json", "--store", db).stdout)
    assert data["match"] is True and [t["rows_after"] for t in data["tables"]] == [40, 7, 1]
    import sqlite3

    con = sqlite3.connect(db)
    con.execute("UPDATE event_log SET actor = 'someone else' WHERE ticket = 'D2-3' AND version = 2")
    con.commit()
    con.close()
    r = cli("replay", "--rebuild", "--store", db)
    assert r.exit_code == 5
    assert "event_log: 1 rows differ" in r.stdout or "1 rows differ" in r.stdout
    assert "does not match" in r.stderr


# -- review --------------------------------------------------------------------------


def test_review_day(cli, days_db):
    r = cli("review", "--day", "2025-03-04", "--phase", "pilot", "--store", days_db)
    assert r.exit_code == 0, r.output
    out = r.stdout
    assert out.startswith("Daily review 2025-03-04 (UTC), phase pilot, SOP complaint: 3 tickets opened, 19 events; "
                          "previous active day 2025-03-03\n")
    assert "│ D2-3   │ Record │ ≤ 30 min after opened │ 2025-03-04 11:30 │ late   │     10m │ A-2 │ csmine trace D2-3 │" \
        in out
    assert "top bottleneck today: Handle → Callback, 1d 8h waited in total over 3 waits (median 1h)" in out
    assert "out_of_order" in out and "no baseline" in r.stderr
    data = json.loads(cli("review", "--day", "2025-03-04", "--json", "--store", days_db).stdout)
    assert [b["ticket"] for b in data["breaches"]] == ["D2-3"]
    assert {k["key"]: k["value"] for k in data["kpis"]}["first_response_timeouts"] == pytest.approx(1 / 3)


def test_review_week(cli, days_db):
    r = cli("review", "--week", "2025-W10", "--store", days_db)
    assert r.exit_code == 0, r.output
    assert "Weekly bulletin 2025-W10 (Mon 2025-03-03 to Sun 2025-03-09, UTC)" in r.stdout
    assert "  A-2: 2 late first responses  (D1-2, D2-3)\n" in r.stdout
    assert "  S-1: 2 skipped Callback  (D1-3, D2-2)\n" in r.stdout
    assert cli("review", "--store", days_db).exit_code == 2
    assert cli("review", "--day", "2025-03-04", "--week", "2025-W10", "--store", days_db).exit_code == 2
    r = cli("review", "--week", "2025-W30", "--store", days_db)
    assert r.exit_code == 3 and "no event in week 2025-W30" in r.stderr


# -- compare -------------------------------------------------------------------------


@pytest.mark.slow
def test_compare_phases(cli, pilot_db, tmp_path):
    out_png = tmp_path / "cmp.svg"
    r = cli("compare", "baseline", "pilot", "--out", out_png, "--store", pilot_db)
    assert r.exit_code == 0, r.output
    assert "A = baseline (phase=baseline): 400 tickets" in r.stdout
    row = next(line for line in r.stdout.splitlines() if "first-response timeouts" in line)
    assert "15.0%" in row and "5.0%" in row and "-10.0 pts" in row and "improved" in row
    assert "variants that appeared: 1 (1.0% of pilot's tickets)" in r.stdout
    svg = out_png.read_text(encoding="utf-8")
    wait = (tmp_path / "cmp-wait.svg").read_text(encoding="utf-8")
    assert "Noto Sans CJK SC" in svg and "记录登记" in svg and "pilot against baseline" in wait
    assert f"wrote {out_png}" in r.stderr
    # drawing only B's main paths: Handle -> Archive (10 pilot tickets) is left out of the
    # picture but is not "gone"; Classify -> Escalate (4 tickets) is still "new"
    dot = tmp_path / "simple.dot"
    r = cli("compare", "baseline", "pilot", "--paths", "0.5", "--out", dot, "--no-bottlenecks", "--store", pilot_db)
    assert r.exit_code == 0, r.output
    text = dot.read_text(encoding="utf-8")
    assert "Handle → Archive" not in text and "gone" not in text
    assert "4 cases (new)" in text


@pytest.mark.slow
def test_compare_filter_specs_json(cli, pilot_db):
    r = cli("compare", "--a", "phase=baseline,region=East", "--b", "region=East,from=2025-02-17", "--json",
            "--no-bottlenecks", "--resamples", "500", "--store", pilot_db)
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["a"]["tickets"]["total"] == 200 and data["b"]["tickets"]["total"] == 400
    assert data["a"]["label"] == "A" and data["resamples"] == 500
    kpis = {k["key"]: k for k in data["kpis"]}
    assert kpis["first_response_timeouts"]["change"]["b"] == 0.05
    assert "map_a" not in data
    again = json.loads(cli("compare", "--a", "phase=baseline,region=East", "--b", "region=East,from=2025-02-17",
                           "--json", "--no-bottlenecks", "--resamples", "500", "--store", pilot_db).stdout)
    assert again == data


def test_compare_usage_errors(cli, days_db):
    assert cli("compare", "pilot", "--store", days_db).exit_code == 2
    r = cli("compare", "pilot", "nope", "--store", days_db)
    assert r.exit_code == 3 and "no phase 'nope'" in r.stderr
    r = cli("compare", "pilot", "region=North", "--store", days_db)
    assert r.exit_code == 3 and "holds no tickets" in r.stderr
    r = cli("compare", "pilot", "pilot", "--sop", "it-incident", "--store", days_db)
    assert r.exit_code == 4 and "--sop" in r.stderr


def test_help_has_examples(cli):
    for command in (("phase",), ("phase", "add"), ("compare",), ("review",), ("replay",)):
        r = cli(*command, "--help")
        assert r.exit_code == 0 and "Example:" in r.stdout



# -- a real log split into two periods -----------------------------------------------


@pytest.mark.slow
def test_bpic2013_split_into_two_periods(cli, tmp_path):
    from collections import Counter

    from event_store import open_store
    from process_models import load_sop, shipped_path
    from tests.datasets import dataset_path

    from csmine.eventlog.loading import load_event_log
    from csmine.monitoring.clocks import limit_clocks
    from csmine.monitoring.replay import replay
    from csmine.monitoring.stream import stream_events

    xes = dataset_path("bpic2013", "BPI_Challenge_2013_incidents.xes.gz")
    db = str(tmp_path / "bpic.db")
    assert cli("import", xes, "--quiet", "--store", db).exit_code == 0
    assert cli("phase", "add", "baseline", "--from", "2010-01-01", "--to", "2012-05-01", "--store", db).exit_code == 0
    assert cli("phase", "add", "pilot", "--from", "2012-05-01", "--store", db).exit_code == 0
    phases = {p["name"]: p["tickets"] for p in json.loads(cli("phase", "list", "--json", "--store", db).stdout)}
    assert phases == {"baseline": 2365, "pilot": 5189}

    r = cli("compare", "baseline", "pilot", "--sop", "it-incident", "--json", "--no-bottlenecks", "--store", db)
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert (data["a"]["tickets"]["total"], data["b"]["tickets"]["total"]) == (2365, 5189)
    fr = {k["key"]: k for k in data["kpis"]}["first_response_timeouts"]["change"]
    assert fr["ci_low"] < fr["diff"] < fr["ci_high"] < 0 and fr["significant"] is True
    assert data["appeared_total"] > 0 and data["vanished_total"] > 0

    r = cli("review", "--day", "2012-05-03", "--phase", "pilot", "--sop", "it-incident", "--json", "--store", db)
    day = json.loads(r.stdout)
    assert day["tickets_opened"] > 1000 and day["baseline"] == "baseline" and day["breaches"]

    # a revision with a tighter resolution limit (4 d instead of 5 d): only Resolve alerts change
    text = shipped_path("it-incident").read_text(encoding="utf-8")
    revised = tmp_path / "it-incident-4d.toml"
    revised.write_text(text.replace('id = "it-incident"', 'id = "it-incident-4d"')
                       .replace('step = "Resolve"\nwithin = "5 d"', 'step = "Resolve"\nwithin = "4 d"'),
                       encoding="utf-8")
    r = cli("replay", "--sop", "it-incident", "--compare-sop", revised, "--phase", "pilot", "--json", "--store", db)
    rep = json.loads(r.stdout)
    assert (rep["events"], rep["tickets"]) == (31945, 5189)
    diff = rep["difference"]
    assert sum(diff["only_a"].values()) == 0
    assert set(diff["only_b_by_step"]) <= {"at_risk", "breach"}
    assert all(set(steps) == {"Resolve"} for steps in diff["only_b_by_step"].values())
    assert diff["only_b"]["breach"] > 0

    with open_store(db) as s:
        sop = load_sop("it-incident")
        result = replay(stream_events(s), sop)
        clocks = limit_clocks(load_event_log(s), sop)
    fired = Counter((a.ticket, a.step) for a in result.alerts if a.kind == "breach")
    hit = clocks[clocks["breached"]]
    assert fired == Counter(zip(hit["ticket"], hit["step"], strict=True))
