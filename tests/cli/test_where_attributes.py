"""`--where` on every kind of attribute: case columns, free case attributes, step attributes.

Three tickets, counted by hand: T1 has case attribute impact=2, T2 impact=3, T3 has no
case attribute but a step with impact=2. ``--where impact=2`` keeps T1 and T3 (whole).
"""

from __future__ import annotations

import json

import pytest


@pytest.fixture
def three(store_url, cli):
    steps = [
        ("open", "T1", "--at", "2024-03-01T09:00Z", "--channel", "phone", "--attr", "impact=2"),
        ("record", "T1", "Receive", "--at", "2024-03-01T09:00Z"),
        ("record", "T1", "Record", "--at", "2024-03-01T09:10Z"),
        ("open", "T2", "--at", "2024-03-01T10:00Z", "--channel", "email", "--attr", "impact=3"),
        ("record", "T2", "Receive", "--at", "2024-03-01T10:00Z"),
        ("open", "T3", "--at", "2024-03-01T11:00Z", "--channel", "email"),
        ("record", "T3", "Receive", "--at", "2024-03-01T11:00Z"),
        ("record", "T3", "Record", "--at", "2024-03-01T11:30Z", "--attr", "impact=2"),
    ]
    for args in steps:
        result = cli(*args, "--store", store_url)
        assert result.exit_code == 0, result.output
    return store_url


def stats(cli, store_url, *args):
    result = cli("stats", "--json", "--store", store_url, *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_free_case_attribute_filters(three, cli):
    assert stats(cli, three, "--where", "impact=2")["tickets"] == 2        # T1 (case), T3 (step)
    assert stats(cli, three, "--where", "impact=2")["events"] == 4         # whole tickets: 2 + 2
    assert stats(cli, three, "--where", "impact=3")["tickets"] == 1        # T2
    assert stats(cli, three, "--where", "impact=2,3")["tickets"] == 3
    assert stats(cli, three, "--where", "impact=2", "--channel", "email")["tickets"] == 1  # T3


def test_unknown_where_key_is_an_error_listing_known_keys(three, cli):
    result = cli("stats", "--store", three, "--where", "impcat=2")
    assert result.exit_code == 3
    assert "no attribute 'impcat'" in result.stderr
    assert "case attributes: impact" in result.stderr
    assert "Traceback" not in result.output
    kpi = cli("kpi", "--store", three, "--sop", "none", "--where", "impcat=2")
    assert kpi.exit_code == 3 and "no attribute 'impcat'" in kpi.stderr
