"""`csmine conform`: exit codes, JSON schema, unknown activities, the flowchart."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

DATA = Path(__file__).resolve().parents[1] / "data" / "conformance"
ABCD = str(DATA / "abcd.toml")

REPORT_KEYS = {
    "filter", "sop", "sop_title", "sop_version", "tickets", "events", "variants", "log_fitness",
    "average_fitness", "fitting_tickets", "fitting_share", "precision", "deviations", "deviating_tickets",
    "kinds", "steps", "by_team", "by_channel", "by_phase", "by_agent", "worst", "weeks",
    "unknown_activities", "unknown_events", "unknown_tickets", "engine",
    "closing", "closed", "open",  # open tickets apart (issue "Right on real exports")
}
STEP_KEYS = {
    "step", "label", "status", "events", "tickets", "skipped", "extra", "out_of_order", "repeated",
    "wrong_branch", "deviations", "deviating_tickets", "skipped_share", "violated_share", "deviating_share",
    "pending",
}
GROUP_KEYS = {
    "value", "tickets", "fitting_share", "average_fitness", "deviations", "deviations_per_ticket",
    "skipped", "extra", "out_of_order", "repeated", "wrong_branch",
}


def run(*args: str):
    from csmine.cli import cli

    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    """The five hand-checked tickets of tests/data/conformance/tiny.csv in a store."""
    path = str(tmp_path_factory.mktemp("conform") / "csmine.db")
    result = run("import", DATA / "tiny.csv", "--store", path, "-q")
    assert result.exit_code == 0, result.output
    return path


def test_text_report(store) -> None:
    result = run("conform", "--sop", ABCD, "--store", store)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "SOP abcd v1" in out and "5 tickets" in out and "21 events" in out
    assert "0.8780" in out  # log fitness 1 - 5/41
    assert "1 (20.0%)" in out  # fitting tickets
    assert "b / 乙" in out and "x (not in the SOP)" in out
    assert "By team" in out and "West" in out and "By agent" in out
    assert "Worst tickets" in out and "b skipped" in out
    assert "2024-W10" in out and "2024-W11" in out
    assert "By phase" not in out  # no phases defined


def test_unknown_activities_are_reported(store) -> None:
    result = run("conform", "--sop", ABCD, "--store", store)
    assert "Activities the SOP does not know: 1 events in 1 tickets" in result.stdout
    assert "warning: 1 activities are not in SOP 'abcd' ('x'; 1 events)" in result.stderr


def test_min_fitness_passes_at_or_below_fitness(store) -> None:
    result = run("conform", "--sop", ABCD, "--store", store, "--min-fitness", "0.87", "-q")
    assert result.exit_code == 0, result.output


def test_min_fitness_fails_with_exit_code_5_after_the_report(store) -> None:
    result = run("conform", "--sop", ABCD, "--store", store, "--min-fitness", "0.9", "-q")
    assert result.exit_code == 5
    assert "Deviations per SOP step" in result.stdout  # the report is printed first
    assert "Error: log fitness 0.8780 is below --min-fitness 0.9" in result.stderr


def test_json_schema(store) -> None:
    result = run("conform", "--sop", ABCD, "--store", store, "--json", "-q")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == REPORT_KEYS
    assert data["log_fitness"] == pytest.approx(1 - 5 / 41)
    assert data["fitting_share"] == 0.2 and data["tickets"] == 5
    assert data["kinds"] == {"skipped": 1, "extra": 1, "out_of_order": 1, "repeated": 1, "wrong_branch": 0}
    assert all(set(s) == STEP_KEYS for s in data["steps"])
    assert all(set(g) == GROUP_KEYS for g in data["by_team"] + data["by_channel"] + data["by_agent"])
    assert data["unknown_activities"] == [{"activity": "x", "events": 1, "tickets": 1, "examples": ["T3"]}]
    assert data["by_phase"] == []
    worst = data["worst"][0]
    assert set(worst) == {"ticket", "fitness", "cost", "events", "deviations", "status", "pending"}
    assert set(worst["deviations"][0]) == {"step", "kind", "event_id", "description"}
    assert set(data["weeks"][0]) == {"week", "start", "tickets", "fitting_tickets", "fitting_share",
                                     "average_fitness", "log_fitness", "deviations", "open_tickets"}
    # the abcd SOP has no close step: every ticket counts as ended, and the report says so
    assert data["closing"]["rule_known"] is False and data["closing"]["closed"] == 5
    assert data["open"]["tickets"] == 0 and data["closed"]["log_fitness"] == data["log_fitness"]
    # deviations on events point at the store's event ids
    extra = [d for w in data["worst"] for d in w["deviations"] if d["kind"] == "extra"]
    assert isinstance(extra[0]["event_id"], int)


def test_filters_apply(store) -> None:
    result = run("conform", "--sop", ABCD, "--store", store, "--channel", "web", "--json", "-q")
    data = json.loads(result.stdout)
    assert data["filter"] == "channel=web"
    assert data["tickets"] == 2 and data["fitting_tickets"] == 0
    assert data["unknown_activities"] == []


def test_empty_selection_exits_3(store) -> None:
    result = run("conform", "--sop", ABCD, "--store", store, "--channel", "fax", "-q")
    assert result.exit_code == 3
    assert "empty" in result.stderr


def test_unknown_sop_exits_4(store) -> None:
    result = run("conform", "--sop", "no-such-sop", "--store", store)
    assert result.exit_code == 4
    assert "no SOP called 'no-such-sop'" in result.stderr


@pytest.mark.parametrize("suffix", ["svg", "dot"])
def test_flowchart_out(store, tmp_path, suffix) -> None:
    out = tmp_path / f"sop.{suffix}"
    result = run("conform", "--sop", ABCD, "--store", store, "--out", out, "-q")
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    assert "乙" in text and "丙" in text
    if suffix == "svg":
        assert text.lstrip().startswith("<?xml") and "<svg" in text


def test_flowchart_png(store, tmp_path) -> None:
    out = tmp_path / "sop.png"
    assert run("conform", "--sop", ABCD, "--store", store, "--out", out, "-q").exit_code == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_flowchart_bad_suffix_is_a_usage_error(store, tmp_path) -> None:
    result = run("conform", "--sop", ABCD, "--store", store, "--out", tmp_path / "sop.txt", "-q")
    assert result.exit_code == 2
    assert ".svg, .png or .dot" in result.stderr
