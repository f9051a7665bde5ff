"""``csmine why OUTCOME`` on a recorded demo centre: words first, --json as issue 17 specifies."""

from __future__ import annotations

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
    assert result.exit_code == 3
    assert "unknown time limit (step) 'Nope'" in result.stderr and "'Record'" in result.stderr


def test_help_has_an_example(cli):
    result = cli("why", "--help")
    assert result.exit_code == 0
    assert "Example:" in result.stdout and "breach:Record" in result.stdout
