"""Without a closing rule the backlog is not computed, in --json as in the text."""

from __future__ import annotations

import json

import pytest

CSV = "tests/data/kpi/complaint_small.csv"


@pytest.fixture
def store(cli, tmp_path):
    db = str(tmp_path / "s.db")
    result = cli("import", CSV, "--store", db, "--quiet")
    assert result.exit_code == 0, result.output
    return db


def _json(cli, *args):
    result = cli(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_no_closing_rule_no_backlog_series(cli, store):
    text = cli("bottlenecks", "--sop", "none", "--store", store)
    assert "Backlog: not computed" in text.stdout
    assert _json(cli, "bottlenecks", "--sop", "none", "--store", store)["backlog"] == []
    assert _json(cli, "kpi", "--sop", "none", "--store", store)["backlog"] is None


def test_with_a_closing_rule_the_backlog_is_there(cli, store):
    # T4 is never archived: 1 open at the end of the log (2025-03-06)
    days = _json(cli, "bottlenecks", "--sop", "none", "--closed-when", "Archive", "--store", store)["backlog"]
    assert days and days[-1]["open"] == 1
    assert _json(cli, "kpi", "--sop", "none", "--closed-when", "Archive", "--store", store)["backlog"]["open_now"] == 1
