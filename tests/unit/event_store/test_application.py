"""TicketStore's use cases on a fresh store: each outcome written out by hand.

SQLite stores live in ``tmp_path``; the tests taking ``url`` run on PostgreSQL too
(marked ``postgres``: the session's server from ``tests/pg_server.py``). Refused
commands are checked to leave the store as it was: the notification log, the read
model's tickets and its live rows are counted before and after.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
from datetime import UTC, datetime, timedelta, timezone

import pytest

from event_store import (
    ActivityRow,
    ConcurrencyConflictError,
    ImportResult,
    InputLimitError,
    InvalidEventError,
    StorageError,
    StoreConfigError,
    TicketExistsError,
    TicketHistory,
    TicketNotFoundError,
    open_store,
    ticket_id,
)
from event_store.domain import PHASE_PLAN_ID, TOPIC_ACTIVITY, TOPIC_CASE_CHANGED, TOPIC_OPENED
from event_store.persistence.recorders import schema_revision
from event_store.readmodel.queries import (
    event_rows,
    meta_value,
    phase_rows,
    set_meta_value,
    ticket_activities,
    ticket_count,
    ticket_table,
    to_us,
)

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
H = timedelta(hours=1)
D = timedelta(days=1)
CST = timezone(timedelta(hours=8))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request, tmp_path):
    if request.param == "sqlite":
        return str(tmp_path / "csmine.db")
    return request.getfixturevalue("pg_url")


@pytest.fixture
def store(url):
    with open_store(url, create=True) as s:
        yield s


def _notifications(store) -> list:
    return list(store.iter_notifications())


def _snapshot(store) -> tuple[int, int, int, int]:
    """(notifications, last notification id, read-model tickets, live read-model rows)."""
    log = _notifications(store)
    return len(log), (log[-1].id if log else 0), ticket_count(store), len(event_rows(store))


def _step(activity, occurred_at, actor=None, team=None, started_at=None, source_ref=None, attrs=None):
    return {"activity": activity, "occurred_at": occurred_at, "actor": actor, "team": team,
            "started_at": started_at, "source_ref": source_ref, "attrs": attrs or {}}


def _three_steps(store, ticket="CS-1") -> None:
    store.open_ticket(ticket, T0, {"channel": "phone", "team": "A", "vip": True}, actor="u1", source_ref="api")
    assert store.record_activity(ticket, "Receive", T0 + H, actor="a1", attrs={"score": 4}) == 1
    assert store.record_activity(ticket, "分派", datetime(2024, 3, 1, 19, 0, tzinfo=CST), actor="a2", team="B",
                                 started_at=T0 + 1.5 * H) == 2
    assert store.record_activity(ticket, "Close", T0 + 3 * H, actor="a1", source_ref="note:7") == 3


STEPS = {
    1: _step("Receive", T0 + H, actor="a1", attrs={"score": 4}),
    2: _step("分派", datetime(2024, 3, 1, 19, 0, tzinfo=CST), actor="a2", team="B", started_at=T0 + 1.5 * H),
    3: _step("Close", T0 + 3 * H, actor="a1", source_ref="note:7"),
}


# -- open, record, correct, retract ------------------------------------------------------------


def test_open_and_record_three_steps(store):
    _three_steps(store)
    assert store.get_ticket("CS-1") == {
        "ticket": "CS-1", "id": "a75a9724-f18d-54a8-8f4f-edac706bb14a", "version": 3, "opened_at": T0,
        "case": {"channel": "phone", "team": "A", "vip": True}, "steps": STEPS, "retracted": {},
    }
    # the source's +08:00 is kept in the event (the read model holds UTC)
    assert store.get_ticket("CS-1")["steps"][2]["occurred_at"].utcoffset() == timedelta(hours=8)
    assert [(type(e).__name__, e.originator_version) for e in store.ticket_events("CS-1")] == [
        ("Opened", 0), ("ActivityRecorded", 1), ("ActivityRecorded", 2), ("ActivityRecorded", 3)]
    assert ticket_activities(store, "CS-1") == ["Receive", "分派", "Close"]
    assert sorted((r[3], r[4]) for r in event_rows(store)) == [
        ("Close", to_us(T0 + 3 * H)), ("Receive", to_us(T0 + H)), ("分派", to_us(T0 + 2 * H))]
    assert store.has_ticket("CS-1") and not store.has_ticket("CS-2")


def test_open_ticket_returns_the_stable_id(store):
    assert store.open_ticket("CS-7", T0, {}) == ticket_id("CS-7")


def test_correct_a_step_and_read_the_ticket_as_of_each_version(store):
    _three_steps(store)
    before = datetime.now(UTC)
    assert store.correct("CS-1", 2, {"activity": "Dispatch", "score": 5}, "typo", actor="lead") == 4
    after = datetime.now(UTC)
    corrected = {**STEPS[2], "activity": "Dispatch", "attrs": {"score": 5}}
    assert store.get_ticket("CS-1")["steps"] == {1: STEPS[1], 2: corrected, 3: STEPS[3]}
    assert store.get_ticket("CS-1", version=3)["steps"] == STEPS
    assert store.get_ticket("CS-1", version=4)["steps"][2] == corrected
    v1 = store.get_ticket("CS-1", version=1)
    assert (v1["version"], v1["steps"]) == (1, {1: STEPS[1]})
    v0 = store.get_ticket("CS-1", version=0)
    assert (v0["version"], v0["steps"], v0["case"]) == (0, {}, {"channel": "phone", "team": "A", "vip": True})
    event = store.ticket_events("CS-1")[-1]
    assert (type(event).__name__, event.target_version, event.changes, event.reason, event.actor) == (
        "Corrected", 2, {"activity": "Dispatch", "score": 5}, "typo", "lead")
    assert before <= event.occurred_at <= after  # no business time given: now
    assert ticket_activities(store, "CS-1") == ["Receive", "Dispatch", "Close"]


def test_correct_the_case_at_version_0(store):
    _three_steps(store)
    assert store.correct("CS-1", 0, {"priority": "P1", "team": "B"}, "triage", occurred_at=T0 + 5 * H) == 4
    assert store.get_ticket("CS-1")["case"] == {"channel": "phone", "team": "B", "vip": True, "priority": "P1"}
    assert store.get_ticket("CS-1", version=3)["case"] == {"channel": "phone", "team": "A", "vip": True}
    assert store.ticket_events("CS-1")[-1].occurred_at == T0 + 5 * H
    (row,) = ticket_table(store)
    assert (row[0], row[3:]) == ("CS-1", ("phone", None, "P1", None, None, "B", None))


def test_retract_a_step(store):
    _three_steps(store)
    assert store.retract("CS-1", 3, "duplicate row", actor="lead", occurred_at=T0 + 4 * H) == 4
    state = store.get_ticket("CS-1")
    assert (state["version"], state["retracted"], state["steps"]) == (4, {3: "duplicate row"}, STEPS)
    assert store.get_ticket("CS-1", version=3)["retracted"] == {}
    assert ticket_activities(store, "CS-1") == ["Receive", "分派"]
    before = _snapshot(store)
    for again in (lambda: store.retract("CS-1", 3, "again"), lambda: store.correct("CS-1", 3, {"actor": "x"}, "r")):
        with pytest.raises(InvalidEventError, match=r"^ticket CS-1 version 3 is already retracted$"):
            again()
    assert _snapshot(store) == before


def test_refused_commands_leave_the_store_unchanged(store):
    _three_steps(store)
    store.define_phase("baseline", T0, T0 + 7 * D)
    where = store.location.display
    naive = datetime(2024, 3, 1, 9, 0)
    huge = "x" * 70_000
    cases = [
        ("open again", lambda: store.open_ticket("CS-1", T0, {}), TicketExistsError,
         f"ticket 'CS-1' is already recorded in {where}"),
        ("record unknown", lambda: store.record_activity("CS-9", "Receive", T0), TicketNotFoundError,
         f"no ticket 'CS-9' in {where} (open it first: `csmine open CS-9`)"),
        ("correct unknown", lambda: store.correct("CS-9", 1, {"actor": "x"}, "r"), TicketNotFoundError,
         "no ticket 'CS-9'"),
        ("retract unknown", lambda: store.retract("CS-9", 1, "r"), TicketNotFoundError, "no ticket 'CS-9'"),
        ("get unknown", lambda: store.get_ticket("CS-9"), TicketNotFoundError, "no ticket 'CS-9'"),
        ("events unknown", lambda: store.ticket_events("CS-9"), TicketNotFoundError, "no ticket 'CS-9'"),
        ("open naive", lambda: store.open_ticket("CS-2", naive, {}), InvalidEventError,
         "occurred_at must be timezone-aware, got 2024-03-01T09:00:00"),
        ("record naive", lambda: store.record_activity("CS-1", "X", naive), InvalidEventError,
         "occurred_at must be timezone-aware"),
        ("record naive start", lambda: store.record_activity("CS-1", "X", T0, started_at=naive), InvalidEventError,
         "started_at must be timezone-aware"),
        ("record blank", lambda: store.record_activity("CS-1", "  ", T0), InvalidEventError,
         "activity name is empty"),
        ("record huge actor", lambda: store.record_activity("CS-1", "X", T0, actor=huge), InputLimitError,
         "ticket 'CS-1': the actor is 70,000 bytes long, over the limit of 4,096 bytes"),
        ("correct nothing", lambda: store.correct("CS-1", 1, {}, "r"), InvalidEventError,
         "a correction needs at least one field=value change"),
        ("correct bad version", lambda: store.correct("CS-1", 7, {"actor": "x"}, "r"), InvalidEventError,
         "ticket CS-1 has no recorded activity at version 7 (versions with activities: 1, 2, 3; 0 is the opening)"),
        ("retract opening", lambda: store.retract("CS-1", 0, "r"), InvalidEventError,
         "the opening of a ticket cannot be retracted; correct its attributes instead"),
        ("retract bad version", lambda: store.retract("CS-1", 9, "r"), InvalidEventError,
         "no recorded activity at version 9"),
        ("phase backwards", lambda: store.define_phase("p", T0 + D, T0), InvalidEventError,
         "phase 'p': end 2024-03-01T09:00:00+00:00 is not after start 2024-03-02T09:00:00+00:00"),
        ("phase of no length", lambda: store.define_phase("p", T0, T0), InvalidEventError,
         "phase 'p': end 2024-03-01T09:00:00+00:00 is not after start 2024-03-01T09:00:00+00:00"),
        ("phase naive", lambda: store.define_phase("p", naive, None), InvalidEventError,
         "phase start must be timezone-aware"),
        ("remove unknown phase", lambda: store.remove_phase("nope"), TicketNotFoundError,
         "no phase 'nope' (see `csmine phase list`)"),
        ("batch size 0", lambda: store.import_histories([], batch_size=0), InvalidEventError,
         "batch size must be at least 1, got 0"),
    ]
    before = _snapshot(store)
    assert before[0] == 6 and before[2:] == (1, 3)  # 4 ticket events + plan created + phase defined
    for name, call, error, text in cases:
        with pytest.raises(error) as raised:
            call()
        assert text in str(raised.value), name
        assert _snapshot(store) == before, name
    assert store.get_ticket("CS-1")["steps"] == STEPS
    assert [p.name for p in phase_rows(store)] == ["baseline"]


# -- concurrent writers ------------------------------------------------------------------------


def _racing(monkeypatch, store, other, times: int) -> list[int]:
    """Let ``other`` record a step on CS-1 between ``store`` loading the ticket and saving it,
    the first ``times`` loads; returns the list of loads made."""
    loads: list[int] = []
    real = store._get

    def load(external_id):
        ticket = real(external_id)
        loads.append(ticket.version)
        if len(loads) <= times:
            other.record_activity(external_id, f"Other {len(loads)}", T0 + len(loads) * H)
        return ticket

    monkeypatch.setattr(store, "_get", load)
    return loads


def test_a_write_retries_after_a_concurrent_write(url, monkeypatch):
    with open_store(url, create=True) as a, open_store(url) as b:
        a.open_ticket("CS-1", T0, {})
        loads = _racing(monkeypatch, a, b, times=1)
        assert a.record_activity("CS-1", "Mine", T0 + 5 * H) == 2
        assert loads == [0, 1]  # the second attempt loaded the ticket with the other writer's step
        assert {v: s["activity"] for v, s in a.get_ticket("CS-1")["steps"].items()} == {1: "Other 1", 2: "Mine"}
        assert len(_notifications(a)) == 3
        assert ticket_activities(a, "CS-1") == ["Other 1", "Mine"]


def test_a_write_gives_up_when_the_retry_budget_is_spent(url, monkeypatch):
    with open_store(url, create=True, retry_budget=0.0) as a, open_store(url) as b:
        a.open_ticket("CS-1", T0, {})
        loads = _racing(monkeypatch, a, b, times=100)
        with pytest.raises(ConcurrencyConflictError) as raised:
            a.record_activity("CS-1", "Mine", T0 + 5 * H)
        message = str(raised.value)
        assert "ticket 'CS-1' kept changing under this write (1 attempts in" in message
        assert "the retry budget is 0 s" in message and "Nothing was written. Run the same command again." in message
        assert loads == [0]
        assert {v: s["activity"] for v, s in b.get_ticket("CS-1")["steps"].items()} == {1: "Other 1"}
        assert len(_notifications(a)) == 2


# -- import ------------------------------------------------------------------------------------


def _history(i: int, case=None, extra=()) -> TicketHistory:
    day = T0 + i * D
    steps = (ActivityRow("Receive", day + 5 * timedelta(minutes=1), actor="a1", source_ref=f"f.csv:{10 * i}"),
             ActivityRow("Close", day + 2 * H, actor="a2", attrs={"n": i}), *extra)
    return TicketHistory(f"T-{i}", day, case if case is not None else {"channel": "phone", "priority": 2, "vip": True},
                         steps, source_ref=f"f.csv:{10 * i - 1}")


def test_import_twice_gives_one_copy(url):
    histories = [_history(1), _history(2), _history(3)]
    with open_store(url, create=True) as store:
        assert store.import_histories(histories) == ImportResult(3, 6, 3, 6, 0, 0)
        first = _snapshot(store)
        assert first[0] == 9 and first[2:] == (3, 6)
        assert store.import_histories(histories, batch_size=2) == ImportResult(3, 6, 0, 0, 3, 0)
        assert _snapshot(store) == first
    with open_store(url) as store:  # and once more after reopening
        assert store.import_histories(histories) == ImportResult(3, 6, 0, 0, 3, 0)
        assert _snapshot(store) == first
        state = store.get_ticket("T-2")
        assert state["case"] == {"channel": "phone", "priority": "2", "vip": True}  # case columns are text
        assert state["opened_at"] == T0 + 2 * D
        assert state["steps"] == {
            1: _step("Receive", T0 + 2 * D + 5 * timedelta(minutes=1), actor="a1", source_ref="f.csv:20"),
            2: _step("Close", T0 + 2 * D + 2 * H, actor="a2", attrs={"n": 2}),
        }
        assert [(type(e).__name__, e.originator_version) for e in store.ticket_events("T-2")] == [
            ("Opened", 0), ("ActivityRecorded", 1), ("ActivityRecorded", 2)]


def test_import_the_same_ticket_twice_in_one_run(store):
    assert store.import_histories([_history(1), _history(1)]) == ImportResult(2, 4, 1, 2, 1, 0)
    assert len(_notifications(store)) == 3


def test_reimport_appends_only_new_steps_counted_with_multiplicity(store):
    twice = ActivityRow("Note", T0 + D + 3 * H, actor="a3")
    assert store.import_histories([_history(1, extra=(twice, twice))]) == ImportResult(1, 4, 1, 4, 0, 0)
    more = _history(1, extra=(twice, twice, twice, ActivityRow("Reopen", T0 + 5 * D)))
    assert store.import_histories([more, _history(2)]) == ImportResult(2, 8, 1, 4, 0, 0)
    steps = store.get_ticket("T-1")["steps"]
    assert [(v, s["activity"]) for v, s in steps.items()] == [
        (1, "Receive"), (2, "Close"), (3, "Note"), (4, "Note"), (5, "Note"), (6, "Reopen")]
    assert store.import_histories([more]) == ImportResult(1, 6, 0, 0, 1, 0)


def test_a_changed_case_attribute_records_one_case_attributes_changed(store):
    store.import_histories([_history(1), _history(2), _history(3)])
    before = _notifications(store)
    changed = _history(1, {"channel": "email", "priority": 2, "vip": True, "segment": "gold"})
    result = store.import_histories([changed, _history(2), _history(3)])
    assert result == ImportResult(3, 6, 0, 0, 2, 1)
    after = _notifications(store)
    assert len(after) == len(before) + 1
    new = after[-1]
    assert (new.topic, new.originator_id, new.originator_version) == (TOPIC_CASE_CHANGED, ticket_id("T-1"), 3)
    event = store.ticket_events("T-1")[-1]
    assert (type(event).__name__, event.changes, event.reason, event.source_ref) == (
        "CaseAttributesChanged", {"channel": "email", "segment": "gold"}, "case attributes changed in the source",
        "f.csv:9")
    assert store.get_ticket("T-1")["case"] == {"channel": "email", "priority": "2", "vip": True, "segment": "gold"}
    assert store.get_ticket("T-1", version=2)["case"] == {"channel": "phone", "priority": "2", "vip": True}
    rows = {r[0]: r for r in ticket_table(store)}
    assert (rows["T-1"][2], rows["T-1"][3]) == ('{"vip":true,"segment":"gold"}', "email")
    assert (rows["T-2"][2], rows["T-2"][3]) == ('{"vip":true}', "phone")
    assert {r[12] for r in event_rows(store) if r[1] == "T-1"} == {"email"}  # the rows' channel column
    # the same source again: nothing new; an attribute the source no longer gives stays
    assert store.import_histories([changed]) == ImportResult(1, 2, 0, 0, 1, 0)
    assert store.import_histories([_history(1, {"channel": "email"})]) == ImportResult(1, 2, 0, 0, 1, 0)
    # a value of another type is a change, even where Python finds them equal (True == 1)
    assert store.import_histories([_history(1, {"vip": 1})]) == ImportResult(1, 2, 0, 0, 0, 1)
    assert store.get_ticket("T-1")["case"]["vip"] == 1 and store.get_ticket("T-1")["case"]["vip"] is not True
    assert len(_notifications(store)) == len(before) + 2


def test_reimport_keeps_a_manual_correction_until_the_source_changes(store):
    store.import_histories([_history(1)])
    store.correct("T-1", 0, {"channel": "chat"}, "the customer wrote in the chat")
    assert store.import_histories([_history(1)]) == ImportResult(1, 2, 0, 0, 1, 0)
    assert store.get_ticket("T-1")["case"]["channel"] == "chat"
    assert store.import_histories([_history(1, {"channel": "email"})]) == ImportResult(1, 2, 0, 0, 0, 1)
    assert store.get_ticket("T-1")["case"]["channel"] == "email"
    assert [type(e).__name__ for e in store.ticket_events("T-1")][3:] == ["Corrected", "CaseAttributesChanged"]


def test_an_import_batch_is_all_or_nothing(store):
    bad = TicketHistory("T-3", T0 + 3 * D, {}, (ActivityRow("Receive", datetime(2024, 3, 4, 9, 0)),))
    with pytest.raises(InvalidEventError, match=r"^ticket T-3: step 'Receive' time 2024-03-04 09:00:00 has no time zone"):
        store.import_histories([_history(1), _history(2), bad], batch_size=2)
    # the first batch (T-1, T-2) is committed whole, the second (T-3) not at all
    assert _snapshot(store)[0] == 6
    assert sorted(r[0] for r in ticket_table(store)) == ["T-1", "T-2"]
    fixed = TicketHistory("T-3", T0 + 3 * D, {}, (ActivityRow("Receive", T0 + 3 * D),))
    assert store.import_histories([_history(1), _history(2), fixed]) == ImportResult(3, 5, 1, 1, 2, 0)
    assert _snapshot(store)[0] == 8
    progress: list[tuple[int, int]] = []
    store.import_histories([_history(i) for i in range(4, 9)], batch_size=2, progress=lambda t, e: progress.append((t, e)))
    assert progress == [(2, 4), (2, 4), (1, 2)]


def test_imported_and_recorded_tickets_are_stored_alike(store):
    """An import writes the bytes the aggregate would: both read back into the same state."""
    history = _history(1)
    store.import_histories([history])
    store.open_ticket("R-1", history.opened_at, {"channel": "phone", "priority": "2", "vip": True},
                      source_ref=history.source_ref)
    for row in history.steps:
        store.record_activity("R-1", row.activity, row.occurred_at, actor=row.actor, source_ref=row.source_ref,
                              attrs=row.attrs)
    imported, recorded = store.get_ticket("T-1"), store.get_ticket("R-1")
    for key in ("version", "opened_at", "case", "steps", "retracted"):
        assert imported[key] == recorded[key], key
    topics = [n.topic for n in _notifications(store)]
    assert topics == [TOPIC_OPENED, TOPIC_ACTIVITY, TOPIC_ACTIVITY] * 2


# -- phases ------------------------------------------------------------------------------------


def test_define_redefine_remove_phases(store):
    store.define_phase("baseline", T0, T0 + 7 * D, {"team": ["A", "B"]}, note="first week", actor="lead")
    store.define_phase("pilot", T0 + 7 * D, None)
    store.define_phase("baseline", T0, T0 + 6 * D)
    store.remove_phase("pilot", note="cancelled")
    history = store.phase_history()
    recorded = [h.pop("recorded_at") for h in history]
    assert all(r.tzinfo is not None for r in recorded) and recorded == sorted(recorded)
    assert history == [
        {"change": "PhaseDefined", "version": 1, "name": "baseline", "start": T0, "end": T0 + 7 * D,
         "cohort": {"team": ["A", "B"]}, "note": "first week", "actor": "lead"},
        {"change": "PhaseDefined", "version": 2, "name": "pilot", "start": T0 + 7 * D, "end": None, "cohort": {},
         "note": "", "actor": None},
        {"change": "PhaseDefined", "version": 3, "name": "baseline", "start": T0, "end": T0 + 6 * D, "cohort": {},
         "note": "", "actor": None},
        {"change": "PhaseRemoved", "version": 4, "name": "pilot", "note": "cancelled", "actor": None},
    ]
    (row,) = phase_rows(store)
    assert (row.name, row.start, row.end, row.cohort, row.note) == ("baseline", T0, T0 + 6 * D, {}, "")
    with pytest.raises(TicketNotFoundError, match="no phase 'pilot'"):
        store.remove_phase("pilot")
    assert {n.originator_id for n in _notifications(store)} == {PHASE_PLAN_ID}
    assert len(_notifications(store)) == 5  # Created + 4 changes


# -- the notification log ----------------------------------------------------------------------


def test_iter_notifications_in_log_order(store):
    store.open_ticket("CS-1", T0, {})
    store.record_activity("CS-1", "Receive", T0 + H)
    store.record_activity("CS-1", "Close", T0 + 2 * H)
    store.open_ticket("CS-2", T0 + D, {})
    store.record_activity("CS-2", "Receive", T0 + D + H)
    store.correct("CS-1", 1, {"actor": "a9"}, "r")
    store.retract("CS-2", 1, "dup")
    store.define_phase("baseline", T0, None)
    store.import_histories([_history(1, {"channel": "email"})])
    store.import_histories([_history(1, {"channel": "chat"})])
    log = _notifications(store)
    one, two, plan, t1 = ticket_id("CS-1"), ticket_id("CS-2"), PHASE_PLAN_ID, ticket_id("T-1")
    assert [(n.originator_id, n.originator_version, n.topic) for n in log] == [
        (one, 0, "csmine/Ticket.Opened/v1"), (one, 1, "csmine/Ticket.ActivityRecorded/v1"),
        (one, 2, "csmine/Ticket.ActivityRecorded/v1"), (two, 0, "csmine/Ticket.Opened/v1"),
        (two, 1, "csmine/Ticket.ActivityRecorded/v1"), (one, 3, "csmine/Ticket.Corrected/v1"),
        (two, 2, "csmine/Ticket.Retracted/v1"), (plan, 0, "csmine/PhasePlan.Created"),
        (plan, 1, "csmine/PhasePlan.PhaseDefined/v1"), (t1, 0, "csmine/Ticket.Opened/v1"),
        (t1, 1, "csmine/Ticket.ActivityRecorded/v1"), (t1, 2, "csmine/Ticket.ActivityRecorded/v1"),
        (t1, 3, "csmine/Ticket.CaseAttributesChanged/v1"),
    ]
    ids = [n.id for n in log]
    assert ids == sorted(set(ids))
    assert [n.id for n in store.iter_notifications(page=2)] == ids  # paging changes nothing
    assert [n.id for n in store.iter_notifications(start=ids[2])] == ids[3:]  # after the start
    assert [n.id for n in store.iter_notifications(start=ids[2], stop=ids[6], page=2)] == ids[3:7]
    assert list(store.iter_notifications(start=ids[-1])) == []


# -- opening a store ---------------------------------------------------------------------------


def test_open_store_refuses_a_missing_file(tmp_path):
    path = str(tmp_path / "missing.db")
    with pytest.raises(StoreConfigError) as raised:
        open_store(path)
    assert str(raised.value) == (f"no csmine store at {path!r}: run `csmine init --store {path}` or "
                                 f"`csmine import FILE --store {path}` first")
    assert not os.path.exists(path)
    with pytest.raises(StoreConfigError, match="folder .* does not exist"):
        open_store(str(tmp_path / "nope" / "csmine.db"), create=True)


def test_open_store_refuses_what_is_not_a_csmine_store(tmp_path):
    with pytest.raises(StoreConfigError, match=r"is a directory: give a file such as"):
        open_store(str(tmp_path))
    empty = tmp_path / "empty.db"
    empty.touch()
    with pytest.raises(StoreConfigError, match=r"is an empty SQLite file, not a csmine store: run `csmine init"):
        open_store(str(empty))
    text = tmp_path / "notes.db"
    text.write_text("hello, this is not a database\n")
    with pytest.raises(StoreConfigError, match=r"is not a csmine store \(not an SQLite database\)"):
        open_store(str(text), create=True)
    assert text.read_text() == "hello, this is not a database\n"
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER)")
    conn.close()
    with pytest.raises(StoreConfigError, match=r"is an SQLite database but not a csmine store \(it holds other"):
        open_store(str(other), create=True)
    with sqlite3.connect(other) as conn:
        assert conn.execute("SELECT name FROM sqlite_master").fetchall() == [("customers",)]
    conn.close()
    with pytest.raises(StoreConfigError, match=r"unknown store URL scheme 'mysql'"):
        open_store("mysql://db/csmine")


def test_create_then_reopen(tmp_path):
    path = str(tmp_path / "csmine.db")
    with open_store(path, create=True) as store:
        assert store.location.kind == "sqlite" and not store.location.read_only
        assert meta_value(store, "schema_version") == "1"
        created = datetime.fromisoformat(meta_value(store, "created_at"))
        assert abs(datetime.now(UTC) - created) < timedelta(minutes=5)
        store.open_ticket("CS-1", T0, {"channel": "phone"})
    with open_store(path) as store:  # create=False finds it
        assert store.get_ticket("CS-1")["case"] == {"channel": "phone"}
        assert meta_value(store, "created_at") == created.isoformat()  # not rewritten
    with open_store(path, create=True) as store:  # create on an existing store opens it as it is
        assert len(_notifications(store)) == 1


def test_reopening_applies_a_changed_schema(tmp_path):
    path = str(tmp_path / "csmine.db")
    with open_store(path, create=True) as store:
        rev = schema_revision(False, store.recorder.events_table_name)
        assert meta_value(store, "schema_rev") == rev
        set_meta_value(store, "schema_rev", "older")  # as a store made by an older csmine
    with sqlite3.connect(path) as conn:
        conn.execute("DROP INDEX event_log_occurred")
    conn.close()
    with open_store(path) as store:
        assert meta_value(store, "schema_rev") == rev
        names = {r[0] for r in store.db.query("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert "event_log_occurred" in names


def test_a_read_only_store_reads_and_refuses_writes(tmp_path):
    path = str(tmp_path / "csmine.db")
    with open_store(path, create=True) as store:
        _three_steps(store)
    if subprocess.run(["chattr", "+i", path], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not supported here (needs root and ext4/xfs/btrfs)")
    try:
        with open_store(path) as store:
            assert store.location.read_only
            assert store.get_ticket("CS-1")["steps"] == STEPS
            assert ticket_count(store) == 1
            with pytest.raises(StorageError) as raised:
                store.record_activity("CS-1", "Reopen", T0 + 9 * H)
            assert f"store {path}: the store is read-only" in str(raised.value)
            assert "Nothing was written" in str(raised.value)
    finally:
        subprocess.run(["chattr", "-i", path], check=True)
    with open_store(path) as store:
        assert not store.location.read_only
        assert _snapshot(store)[0] == 4


@pytest.mark.postgres
def test_open_store_refuses_an_empty_postgres_database(pg_url):
    with pytest.raises(StoreConfigError, match=r"^no csmine store in postgresql://.*: run `csmine init --store URL` first$"):
        open_store(pg_url)
    with open_store(pg_url, create=True) as store:
        assert store.location.kind == "postgres" and meta_value(store, "schema_version") == "1"
