"""Phases as recorded history: define, redefine, remove, list with ticket counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from event_store import ActivityRow, TicketHistory, open_store

from csmine.errors import PhaseError
from csmine.eventlog.filters import LogFilter
from csmine.eventlog.loading import assign_phases, list_phases, load_event_log
from csmine.pilot.phases import (
    define_phase,
    find_phase,
    overlapping_phases,
    phase_history,
    phase_infos,
    remove_phase,
    tickets_frame,
)

JAN = datetime(2025, 1, 1, tzinfo=UTC)
FEB = datetime(2025, 2, 1, tzinfo=UTC)
MAR = datetime(2025, 3, 1, tzinfo=UTC)


def _history(tid: str, opened: datetime, region: str) -> TicketHistory:
    return TicketHistory(tid, opened, {"region": region, "channel": "phone"},
                         (ActivityRow("Receive", opened), ActivityRow("Record", opened + timedelta(minutes=5))))


@pytest.fixture
def store(tmp_path):
    path = str(tmp_path / "p.db")
    with open_store(path, create=True) as s:
        # January: 3 East, 2 West; February: 2 East, 1 West
        s.import_histories([
            _history("J1", JAN + timedelta(days=1), "East"), _history("J2", JAN + timedelta(days=2), "East"),
            _history("J3", JAN + timedelta(days=3), "East"), _history("J4", JAN + timedelta(days=4), "West"),
            _history("J5", JAN + timedelta(days=5), "West"), _history("F1", FEB + timedelta(days=1), "East"),
            _history("F2", FEB + timedelta(days=2), "East"), _history("F3", FEB + timedelta(days=3), "West"),
        ])
    s = open_store(path)
    yield s
    s.close()


def test_phases_count_their_tickets_by_window_and_cohort(store):
    define_phase(store, "baseline", JAN, FEB, note="old SOP", actor="lead")
    define_phase(store, "pilot", FEB, MAR, {"region": ("East",)}, note="v2 in East")
    infos = {p.name: p for p in phase_infos(store)}
    assert infos["baseline"].tickets == 5 and infos["pilot"].tickets == 2
    assert infos["pilot"].cohort == {"region": ("East",)}
    assert infos["baseline"].end == FEB.isoformat() and infos["baseline"].note == "old SOP"
    assert infos["pilot"].first_opened == (FEB + timedelta(days=1)).isoformat()
    df = load_event_log(store, LogFilter(phase="pilot"))
    assert sorted(df["case:concept:name"].unique()) == ["F1", "F2"]
    assert set(load_event_log(store)["case:phase"].dropna().unique()) == {"baseline", "pilot"}
    assert find_phase(store, "pilot").cohort == {"region": ("East",)}


def test_first_phase_by_start_wins_when_windows_overlap(store):
    define_phase(store, "all-q1", JAN, MAR)
    define_phase(store, "february", FEB, MAR)
    frame = tickets_frame(store)
    phases = assign_phases(frame, list_phases(store))
    assert phases.tolist() == ["all-q1"] * 8
    assert {p.name: p.tickets for p in phase_infos(store)} == {"all-q1": 8, "february": 0}
    assert overlapping_phases(list_phases(store), "february") == [("all-q1", "all-q1")]
    define_phase(store, "east-march", MAR, None, {"region": ("East",)})
    define_phase(store, "west-march", MAR, None, {"region": ("West",)})
    assert overlapping_phases(list_phases(store), "east-march") == []


def test_every_change_of_plan_is_on_record(store):
    define_phase(store, "pilot", FEB, MAR, {"region": ("East",)}, actor="ana")
    with pytest.raises(PhaseError, match="already defined"):
        define_phase(store, "pilot", FEB, None)
    define_phase(store, "pilot", FEB, None, {"region": ("East", "West")}, note="widened", actor="ana", replace=True)
    assert phase_infos(store)[0].tickets == 3 and phase_infos(store)[0].end is None
    remove_phase(store, "pilot", note="postponed", actor="bo")
    assert phase_infos(store) == []
    history = phase_history(store)
    assert [(h.version, h.change, h.name) for h in history] == [
        (1, "defined", "pilot"), (2, "redefined", "pilot"), (3, "removed", "pilot")]
    assert history[1].cohort == {"region": ("East", "West")} and history[1].note == "widened"
    assert history[0].end == MAR.isoformat() and history[1].end is None
    assert history[2].actor == "bo" and history[2].start is None


@pytest.mark.parametrize(("args", "message"), [
    (("pilot", MAR, FEB), "not after"),
    (("  ", JAN, FEB), "needs a name"),
    (("pilot", datetime(2025, 1, 1), FEB), "no time zone"),
])
def test_bad_phases_are_refused_with_a_clear_message(store, args, message):
    with pytest.raises(PhaseError, match=message):
        define_phase(store, *args)


def test_removing_or_finding_an_unknown_phase(store):
    define_phase(store, "baseline", JAN, FEB)
    with pytest.raises(PhaseError, match="no phase 'pilot' .defined: baseline"):
        remove_phase(store, "pilot")
    with pytest.raises(PhaseError, match="no phase 'pilot'"):
        find_phase(store, "pilot")
    with pytest.raises(PhaseError, match="cohort cannot test the phase"):
        define_phase(store, "x", JAN, FEB, {"phase": ("baseline",)})


def test_adding_a_phase_gives_its_tickets_and_the_phases_it_overlaps(store):
    from csmine.pilot.phases import add_phase
    from csmine.reports.text.pilot import overlap_warnings

    add_phase(store, "baseline", JAN, FEB)
    added = add_phase(store, "east", JAN + timedelta(days=2), MAR, {"region": ("East",)}, note="v2")
    # East tickets opened from 3 Jan: J3 (the baseline keeps it: it starts first), F1, F2
    assert (added.info.name, added.info.tickets, added.info.note) == ("east", 2, "v2")
    assert added.overlaps == (("baseline", "baseline"),)
    assert overlap_warnings(added) == ["warning: phase east overlaps baseline: tickets matching both belong to "
                                       "baseline (the phase that starts first)"]
    assert add_phase(store, "march", MAR).overlaps == ()  # east's window ends where march's begins
