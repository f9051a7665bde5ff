"""Rows of one ticket at the same time, in another order: the import decides the same.

Where the import must choose among tied rows -- which row's ticket attributes count, which
rows are consecutive repeats -- it orders them by the tie rule of
:mod:`event_store.ordering` (an opening name first, an ending name last, then the name),
not by their place in the file. Importing one order and then the other adds nothing.
"""

from __future__ import annotations

import json
import sqlite3

import pytest

from event_store import open_store
from tests.integration.test_store_robustness import snapshot

F = ("--case-column", "ticket", "--activity-column", "status", "--timestamp-column", "at", "--tz", "UTC")


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return str(path)


def _import(cli, path, db, *extra):
    result = cli("import", path, "--store", db, "--json", "--quiet", *F, *extra)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _steps(db, ticket):
    conn = sqlite3.connect(db)
    try:
        return [r[0] for r in conn.execute("SELECT activity FROM event_log WHERE ticket = ? ORDER BY version",
                                           (ticket,))]
    finally:
        conn.close()


def _state(db):
    """The store's counts and chain head (:func:`~tests.integration.test_store_robustness.snapshot`)."""
    with open_store(db) as store:
        return snapshot(store)


def test_repeats_at_one_time_collapse_the_same_in_any_row_order(cli, tmp_path):
    one = _write(tmp_path / "one.csv", "ticket,status,at\nA,New,2024-01-01 08:00:00\nA,New,2024-01-01 08:00:00\n"
                 "A,Active,2024-01-01 08:00:00\nA,Closed,2024-01-01 09:00:00\n")
    two = _write(tmp_path / "two.csv", "ticket,status,at\nA,New,2024-01-01 08:00:00\nA,Active,2024-01-01 08:00:00\n"
                 "A,New,2024-01-01 08:00:00\nA,Closed,2024-01-01 09:00:00\n")
    db = str(tmp_path / "s.db")
    first = _import(cli, one, db, "--collapse-repeats")
    assert first["events_added"] == 3 and first["rows_collapsed"] == 1
    again = _import(cli, two, db, "--collapse-repeats")
    assert again["events_added"] == 0 and again["rows_collapsed"] == 1  # New, New are one run in either order
    assert _steps(db, "A") == ["New", "Active", "Closed"]
    other = str(tmp_path / "t.db")
    _import(cli, two, other, "--collapse-repeats")
    assert _steps(other, "A") == ["New", "Active", "Closed"]


@pytest.mark.parametrize("extra", [(), ("--collapse-repeats",)], ids=["columns", "rows"])
def test_ticket_attributes_at_a_tied_first_time_do_not_follow_the_file(cli, tmp_path, extra):
    # Open and Assign at 08:00 give two priorities: the opening row's counts (Open is an opening name)
    one = _write(tmp_path / "one.csv", "ticket,status,at,prio\nA,Open,2024-01-01 08:00:00,high\n"
                 "A,Assign,2024-01-01 08:00:00,low\nA,Close,2024-01-01 09:00:00,\n")
    two = _write(tmp_path / "two.csv", "ticket,status,at,prio\nA,Assign,2024-01-01 08:00:00,low\n"
                 "A,Open,2024-01-01 08:00:00,high\nA,Close,2024-01-01 09:00:00,\n")
    stores = []
    for name, path in (("a.db", one), ("b.db", two)):
        db = str(tmp_path / name)
        _import(cli, path, db, "--case-attr", "priority=prio", *extra)
        stores.append(db)
    for db in stores:
        conn = sqlite3.connect(db)
        try:
            assert conn.execute("SELECT priority FROM tickets WHERE ticket = 'A'").fetchone()[0] == "high"
        finally:
            conn.close()
    db = stores[0]
    before = _state(db)
    for path in (two, one, two):  # alternating orders record no attribute change
        result = _import(cli, path, db, "--case-attr", "priority=prio", *extra)
        assert result["events_added"] == 0 and result["tickets_case_changed"] == 0
    assert _state(db) == before
