"""``csmine why OUTCOME`` on a recorded demo centre: words first, --json as issue 17 specifies."""

from __future__ import annotations

import html
import json

import pytest

ISSUE_KEYS = ["outcome", "tickets", "with_outcome", "tested", "contributors"]
CONTRIBUTOR_KEYS = ["attribute", "value", "share_in", "share_out", "lift", "ci", "adjusted_lift", "support"]


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory):
    from event_store import open_store

    from csmine.simulation.demo import record_demo

    path = tmp_path_factory.mktemp("why") / "demo.db"
    with open_store(str(path), create=True) as store:
        record_demo(store, tickets=600, seed=7)
    return str(path)


def test_json_has_the_issue_shape(cli, demo_store):
    result = cli("why", "breach:Record", "--tz", "Asia/Shanghai", "--json", "--store", demo_store)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert list(data)[:5] == ISSUE_KEYS
    assert data["outcome"] == "breach:Record"
    assert data["tickets"] == 600 and 0 < data["with_outcome"] < 600
    assert data["tested"] > 10
    assert data["contributors"], "the night's messages breach the first-response limit"
    for item in data["contributors"]:
        assert list(item)[:8] == CONTRIBUTOR_KEYS
        assert item["share_in"] > item["share_out"]
        assert item["support"] >= 20
        lo, hi = item["ci"]
        assert lo is not None and hi is not None and lo <= (item["lift"] or hi) <= hi
    top = data["contributors"][0]
    assert (top["attribute"], top["value"]) == ("hour", "20:00–08:00")
    assert top["what_if"]["estimate"] < top["what_if"]["observed"]
    assert data["sop"] == "complaint" and data["sop_choice"]["chosen"] == "complaint"


def test_plain_words_first(cli, demo_store):
    result = cli("why", "breach:Record", "--tz", "Asia/Shanghai", "--store", demo_store)
    assert result.exit_code == 0, result.output
    first = result.stdout.splitlines()[0]
    assert "of 600 tickets the Record limit applied to" in first
    assert "Who and when" in result.stdout
    assert "× as often (95% CI" in result.stdout
    assert "after adjusting for priority and channel" in result.stdout
    assert "If tickets opened 20:00–08:00 behaved like the rest" in result.stdout
    assert "Benjamini-Hochberg" in result.stderr


def test_nothing_found_is_said(cli, demo_store):
    result = cli("why", "reopen", "--store", demo_store)
    assert result.exit_code == 0, result.output
    assert "none is listed" in result.stdout or "Who and when" in result.stdout


def test_a_threshold_outcome_and_a_spectrum(cli, demo_store, tmp_path):
    out = tmp_path / "spectrum.svg"
    result = cli("why", "throughput > 1d", "--spectrum", str(out), "--what-if", "0", "--json",
                 "--store", demo_store)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["label"].startswith("take more than 1d")
    assert all(c["what_if"] is None for c in data["contributors"])
    assert out.read_text(encoding="utf-8").startswith("<svg")


def test_unknown_outcome_is_a_usage_error(cli, demo_store):
    result = cli("why", "latency > soon", "--store", demo_store)
    assert result.exit_code == 2
    assert "cannot read 'soon'" in result.stderr or "unknown outcome" in result.stderr


def test_deviation_needs_an_sop(cli, demo_store):
    result = cli("why", "deviation", "--sop", "none", "--store", demo_store)
    assert result.exit_code == 4
    assert "needs an SOP" in result.stderr


def test_an_unknown_limit_names_the_known_ones(cli, demo_store):
    result = cli("why", "breach:Nope", "--store", demo_store)
    assert result.exit_code == 2  # a usage error: the OUTCOME argument
    assert "unknown time limit (step) 'Nope'" in result.stderr and "'Record'" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("outcome", "says"), [
    ("slow:Nope", "unknown step 'Nope': use one of 'Receive'"),
    ("deviation:skipped:Nope", "unknown step 'Nope'"),
    ("slow:P100", "percentile 'P100' must be between P1 and P99"),
    ("reopen:x", "reopen takes no step"),
])
def test_unknown_steps_and_forms_are_usage_errors_that_name_the_fix(cli, demo_store, outcome, says):
    result = cli("why", outcome, "--store", demo_store)
    assert result.exit_code == 2, result.output
    assert says in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("outcome", ["breach", "breach:Record", "breach:first-response", "deviation",
                                     "deviation:Handle", "deviation:skipped:Callback", "reopen", "not-fcr", "slow",
                                     "slow:P90", "slow:Handle", "throughput > 2d", "handling > P80"])
def test_every_outcome_form_answers(cli, demo_store, outcome):
    result = cli("why", outcome, "--what-if", "0", "--json", "--store", demo_store)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["outcome"] == outcome and data["tickets"] > 0
    assert 0 <= data["with_outcome"] <= data["tickets"]
    for item in data["contributors"]:
        assert item["q_value"] <= 0.05
        lo = item["adjusted_ci"][0] if item["tested_effect"] == "adjusted_lift" and item["adjusted_lift"] else \
            item["ci"][0]
        assert lo > 1, item["words"]


def test_filters_and_phases_apply(cli, demo_store):
    every = json.loads(cli("why", "slow", "--what-if", "0", "--json", "--store", demo_store).stdout)
    pilot = cli("why", "slow", "--phase", "pilot", "--what-if", "0", "--json", "--store", demo_store)
    assert pilot.exit_code == 0, pilot.output
    data = json.loads(pilot.stdout)
    assert 0 < data["tickets"] < every["tickets"]
    assert "pilot" in data["filter"]


def test_help_has_an_example(cli):
    result = cli("why", "--help")
    assert result.exit_code == 0
    assert "Example:" in result.stdout and "breach:Record" in result.stdout


def test_review_day_and_week_show_why(cli, demo_store):
    text = cli("review", "--day", "2025-02-26", "--phase", "pilot", "--sop", "complaint", "--why", "breach:Record",
               "--store", demo_store)
    assert text.exit_code == 0, text.output
    assert "tickets the Record limit applied to" in text.stdout and "groups tested" in text.stdout
    day = cli("review", "--day", "2025-02-26", "--phase", "pilot", "--sop", "complaint", "--why", "breach:Record",
              "--why", "slow", "--json", "--store", demo_store)
    assert day.exit_code == 0, day.output
    whys = json.loads(day.stdout)["why"]
    assert [w["outcome"] for w in whys] == ["breach:Record", "slow"]
    for w in whys:
        assert list(w)[:5] == ISSUE_KEYS and w["tickets"] > 0
    week = cli("review", "--week", "2025-W09", "--phase", "pilot", "--sop", "complaint", "--why", "breach:Record",
               "--json", "--store", demo_store)
    assert week.exit_code == 0, week.output
    w = json.loads(week.stdout)["why"][0]
    # the week's tickets are those opened up to its end: at least the day's, which lies inside it
    assert w["tickets"] >= whys[0]["tickets"]
    bad = cli("review", "--day", "2025-02-26", "--sop", "complaint", "--why", "breach:Nope", "--store", demo_store)
    assert bad.exit_code == 2 and "unknown time limit (step) 'Nope'" in bad.stderr


def test_report_json_carries_the_why_section(cli, demo_store, tmp_path):
    out = tmp_path / "report.html"
    result = cli("report", "--sop", "complaint", "--out", str(out), "--json", "--store", demo_store)
    assert result.exit_code == 0, result.output
    why = json.loads(result.stdout)["findings"]["why"]
    outcomes = [q["outcome"] for q in why["questions"]]
    assert outcomes[0].startswith("breach:") and len(why["reports"]) == len(outcomes)
    page = out.read_text(encoding="utf-8")
    for report in why["reports"]:
        assert list(report)[:5] == ISSUE_KEYS
        for c in report["contributors"]:  # what the page shows is what the JSON says
            assert html.escape(c["words"]) in page
    assert why["spectrum"]["segments"] and any(s["patterns"] for s in why["spectrum"]["segments"])
