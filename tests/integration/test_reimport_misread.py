"""A file re-imported with other flags is refused, not appended twice; a delta export still appends."""

from __future__ import annotations

from event_store import open_store
from tests.integration.test_store_robustness import snapshot

BASE = ("ticket,status,at,agent\n"
        "A,New,2024-01-08 08:00:00,ann\nA,Work,2024-01-08 09:30:00,bob\nA,Closed,2024-01-08 11:00:00,bob\n"
        "B,New,2024-01-08 10:00:00,ann\nB,Closed,2024-01-08 12:00:00,cy\n")
F = ("--case-column", "ticket", "--activity-column", "status", "--timestamp-column", "at")


def _state(db):
    """The store's counts and chain head (:func:`~tests.integration.test_store_robustness.snapshot`)."""
    with open_store(db) as store:
        return snapshot(store)


def _store(cli, tmp_path):
    path = tmp_path / "base.csv"
    path.write_text(BASE, encoding="utf-8")
    db = str(tmp_path / "s.db")
    result = cli("import", str(path), "--store", db, "--quiet", *F, "--tz", "UTC", "--resource-column", "agent")
    assert result.exit_code == 0, result.output
    return str(path), db, _state(db)


def test_another_time_zone_is_refused_naming_the_shift(cli, tmp_path):
    path, db, before = _store(cli, tmp_path)
    assert before["events"] == 7  # 2 openings + 5 steps
    # Brussels is UTC+1 in January: 08:00 there is 07:00 UTC, every step an hour earlier
    result = cli("import", path, "--store", db, "--quiet", *F, "--tz", "Europe/Brussels", "--resource-column", "agent")
    assert result.exit_code == 3, result.output
    assert "2 tickets already in the store (the first: A)" in result.stderr
    assert "at times shifted by -1:00:00" in result.stderr and "--tz" in result.stderr
    assert _state(db) == before


def test_other_actors_are_refused(cli, tmp_path):
    path, db, before = _store(cli, tmp_path)
    result = cli("import", path, "--store", db, "--quiet", *F, "--tz", "UTC")  # no actor column this time
    assert result.exit_code == 3, result.output
    assert "at the same times with other actors" in result.stderr
    assert _state(db) == before


def test_the_same_file_adds_nothing_and_a_delta_export_appends(cli, tmp_path):
    path, db, before = _store(cli, tmp_path)
    again = cli("import", path, "--store", db, "--quiet", *F, "--tz", "UTC", "--resource-column", "agent")
    assert again.exit_code == 0 and _state(db) == before
    delta = tmp_path / "delta.csv"  # only what happened since: B reopened and closed again
    delta.write_text("ticket,status,at,agent\nB,Reopen,2024-01-09 09:00:00,ann\nB,Closed,2024-01-09 10:00:00,cy\n",
                     encoding="utf-8")
    result = cli("import", str(delta), "--store", db, "--quiet", *F, "--tz", "UTC", "--resource-column", "agent")
    assert result.exit_code == 0, result.output
    assert _state(db)["events"] == before["events"] + 2


def test_a_one_step_ticket_meeting_its_step_again_later_appends(cli, tmp_path):
    # a later export where B (one step so far) does the same step again a week later: not a misread
    first = tmp_path / "first.csv"
    first.write_text("ticket,status,at\nB,Assign,2024-01-01 08:00:00\n", encoding="utf-8")
    later = tmp_path / "later.csv"
    later.write_text("ticket,status,at\nB,Assign,2024-01-08 08:00:00\n", encoding="utf-8")
    db = str(tmp_path / "s.db")
    for path in (first, later):
        result = cli("import", str(path), "--store", db, "--quiet", *F, "--tz", "UTC")
        assert result.exit_code == 0, result.output
    assert _state(db)["events"] == 3  # the opening and both steps
