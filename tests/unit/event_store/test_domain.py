"""The Ticket and PhasePlan aggregates on their own: no store, no application.

Every expectation is written by hand: the state each event leaves, the versions
(``INITIAL_VERSION = 0``: the opening is version 0, the first step version 1), the
error messages of ``check_step``/``check_aware``, the aggregate ids (``uuid5`` of a
known name) and the topics stored with each event.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone, tzinfo

import pytest
from eventsourcing.persistence import DatetimeAsISO, DecimalAsStr, JSONTranscoder, Mapper, UUIDAsHex
from eventsourcing.utils import get_topic, resolve_topic

from event_store.domain import (
    CORRECTABLE_STEP_FIELDS,
    PHASE_PLAN_ID,
    TOPIC_ACTIVITY,
    TOPIC_CASE_CHANGED,
    TOPIC_CORRECTED,
    TOPIC_OPENED,
    TOPIC_PHASE_DEFINED,
    TOPIC_PHASE_REMOVED,
    TOPIC_PLAN_CREATED,
    TOPIC_RETRACTED,
    PhasePlan,
    Ticket,
    check_aware,
    ticket_id,
)
from event_store.errors import InvalidEventError

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
H = timedelta(hours=1)


def _opened(case: dict | None = None) -> Ticket:
    return Ticket(external_id="CS-1", occurred_at=T0, case=case or {"channel": "phone", "team": "A"},
                  actor="u1", source_ref="src:1")


def _with_three_steps() -> Ticket:
    t = _opened()
    t.record_activity("Receive", T0 + H, actor="a1", source_ref="src:2", attrs={"score": 4})
    t.record_activity("分派", T0 + 2 * H, actor="a2", team="B", started_at=T0 + 1.5 * H)
    t.record_activity("Close", T0 + 3 * H, actor="a1")
    return t


def _step(activity, occurred_at, actor=None, team=None, started_at=None, source_ref=None, attrs=None):
    return {"activity": activity, "occurred_at": occurred_at, "actor": actor, "team": team,
            "started_at": started_at, "source_ref": source_ref, "attrs": attrs or {}}


STEPS = {
    1: _step("Receive", T0 + H, actor="a1", source_ref="src:2", attrs={"score": 4}),
    2: _step("分派", T0 + 2 * H, actor="a2", team="B", started_at=T0 + 1.5 * H),
    3: _step("Close", T0 + 3 * H, actor="a1"),
}


# -- ids -----------------------------------------------------------------------------------------


def test_ticket_id_is_uuid5_of_the_source_id():
    expected = uuid.uuid5(uuid.NAMESPACE_URL, "csmine:ticket:CS-1")
    assert ticket_id("CS-1") == expected
    assert str(expected) == "a75a9724-f18d-54a8-8f4f-edac706bb14a"  # pinned: stored histories depend on it
    assert ticket_id("CS-1") == ticket_id("CS-1")
    assert ticket_id("CS-2") != expected
    assert ticket_id("工单-7") == uuid.uuid5(uuid.NAMESPACE_URL, "csmine:ticket:工单-7")
    assert _opened().id == expected  # the aggregate takes the same id (a re-import finds it)


def test_phase_plan_has_one_fixed_id():
    assert PHASE_PLAN_ID == uuid.uuid5(uuid.NAMESPACE_URL, "csmine:phase-plan")
    assert str(PHASE_PLAN_ID) == "c0460716-1e27-5dd4-b132-8971fa9b1417"
    assert PhasePlan().id == PHASE_PLAN_ID == PhasePlan().id


# -- state from events ---------------------------------------------------------------------------


def test_opening_is_version_0_and_copies_the_case():
    case = {"channel": "phone", "team": "A", "vip": True}
    t = _opened(case)
    case["channel"] = "email"  # the caller's dict is not the aggregate's
    assert Ticket.INITIAL_VERSION == 0
    assert t.version == 0
    assert (t.external_id, t.opened_at, t.opened_by) == ("CS-1", T0, "u1")
    assert t.case == {"channel": "phone", "team": "A", "vip": True}
    assert t.steps == {} and t.retracted == {}


def test_steps_are_keyed_by_their_event_version():
    t = _with_three_steps()
    assert t.version == 3
    assert t.steps == STEPS
    assert list(t.steps) == [1, 2, 3]


def test_step_attrs_are_copied_and_default_to_empty():
    attrs = {"score": 1}
    t = _opened()
    t.record_activity("Receive", T0, attrs=attrs)
    t.record_activity("Close", T0 + H)
    attrs["score"] = 99
    assert t.steps[1]["attrs"] == {"score": 1}
    assert t.steps[2]["attrs"] == {}


@pytest.mark.parametrize("field", CORRECTABLE_STEP_FIELDS)
def test_a_correction_of_a_step_field_changes_that_field_not_the_attrs(field):
    assert CORRECTABLE_STEP_FIELDS == ("activity", "occurred_at", "started_at", "actor", "team")
    value = T0 + 10 * H if field in ("occurred_at", "started_at") else "X"
    t = _with_three_steps()
    t.correct(1, {field: value}, "typo", T0 + 5 * H, actor="lead")
    assert t.version == 4
    assert t.steps[1] == {**STEPS[1], field: value}
    assert t.steps[1]["attrs"] == {"score": 4}
    assert t.steps[2] == STEPS[2] and t.steps[3] == STEPS[3]
    assert 4 not in t.steps  # a correction is not a step


def test_a_correction_of_other_keys_goes_to_the_step_attrs():
    t = _with_three_steps()
    t.correct(1, {"score": 5, "reason_code": "R2", "actor": "a9"}, "wrong agent", T0 + 5 * H)
    assert t.steps[1]["attrs"] == {"score": 5, "reason_code": "R2"}
    assert t.steps[1]["actor"] == "a9"
    assert "score" not in t.steps[1] and "reason_code" not in t.steps[1]


def test_a_correction_at_version_0_changes_the_case():
    t = _with_three_steps()
    t.correct(0, {"priority": "P1", "team": "B"}, "triage", T0 + 5 * H)
    assert t.case == {"channel": "phone", "team": "B", "priority": "P1"}
    assert t.steps == STEPS
    assert t.version == 4


def test_case_attributes_changed_updates_the_case():
    t = _with_three_steps()
    t.change_case({"region": "East", "channel": "email"}, "case attributes changed in the source", T0 + 5 * H)
    assert t.case == {"channel": "email", "team": "A", "region": "East"}
    assert t.steps == STEPS and t.retracted == {}
    assert t.version == 4


def test_a_retraction_marks_the_step_and_keeps_it():
    t = _with_three_steps()
    t.retract(3, "duplicate row", T0 + 5 * H, actor="lead")
    assert t.retracted == {3: "duplicate row"}
    assert t.steps == STEPS  # the history stays
    assert t.version == 4


# -- guards --------------------------------------------------------------------------------------


def test_check_step_on_a_ticket_without_steps():
    t = _opened()
    t.check_step(0)  # the opening can be corrected
    with pytest.raises(InvalidEventError) as err:
        t.check_step(1)
    assert str(err.value) == ("ticket CS-1 has no recorded activity at version 1 "
                              "(versions with activities: none; 0 is the opening)")


def test_check_step_names_the_ticket_and_the_versions():
    t = _with_three_steps()
    t.correct(2, {"actor": "a3"}, "r", T0)  # version 4 is a correction, not an activity
    for ok in (0, 1, 2, 3):
        t.check_step(ok)
    for bad in (4, 5, -1):
        with pytest.raises(InvalidEventError) as err:
            t.check_step(bad)
        assert str(err.value) == (f"ticket CS-1 has no recorded activity at version {bad} "
                                  "(versions with activities: 1, 2, 3; 0 is the opening)")


def test_check_step_refuses_a_retracted_version():
    t = _with_three_steps()
    t.retract(2, "dup", T0)
    t.check_step(1)
    with pytest.raises(InvalidEventError, match=r"^ticket CS-1 version 2 is already retracted$"):
        t.check_step(2)


class _NoOffset(tzinfo):
    def utcoffset(self, dt):
        return None


def test_check_aware():
    check_aware(None, "started_at")
    check_aware(T0, "occurred_at")
    check_aware(datetime(2024, 3, 1, 17, 0, tzinfo=timezone(timedelta(hours=8))), "occurred_at")
    with pytest.raises(InvalidEventError) as err:
        check_aware(datetime(2024, 3, 1, 9, 0), "occurred_at")
    assert str(err.value) == "occurred_at must be timezone-aware, got 2024-03-01T09:00:00"
    with pytest.raises(InvalidEventError, match=r"^phase start must be timezone-aware"):
        check_aware(datetime(2024, 3, 1, 9, 0, tzinfo=_NoOffset()), "phase start")
    assert issubclass(InvalidEventError, ValueError)


# -- events, versions, topics --------------------------------------------------------------------


def _full_history() -> Ticket:
    t = _with_three_steps()
    t.correct(1, {"actor": "a9"}, "wrong agent", T0 + 4 * H)
    t.change_case({"region": "East"}, "case attributes changed in the source", T0 + 5 * H)
    t.retract(3, "dup", T0 + 6 * H)
    return t


def test_collect_events_gives_every_event_in_order_with_versions_from_0():
    t = _full_history()
    events = t.collect_events()
    assert [(type(e).__name__, e.originator_version) for e in events] == [
        ("Opened", 0), ("ActivityRecorded", 1), ("ActivityRecorded", 2), ("ActivityRecorded", 3),
        ("Corrected", 4), ("CaseAttributesChanged", 5), ("Retracted", 6),
    ]
    assert {e.originator_id for e in events} == {ticket_id("CS-1")}
    assert t.collect_events() == []  # collected once
    assert t.version == 6
    opened, first, *_, corrected, changed, retracted = events
    assert (opened.external_id, opened.occurred_at, opened.case, opened.actor, opened.source_ref) == (
        "CS-1", T0, {"channel": "phone", "team": "A"}, "u1", "src:1")
    assert (first.activity, first.occurred_at, first.actor, first.attrs) == ("Receive", T0 + H, "a1", {"score": 4})
    assert (corrected.target_version, corrected.changes, corrected.reason) == (1, {"actor": "a9"}, "wrong agent")
    assert changed.changes == {"region": "East"}
    assert (retracted.target_version, retracted.reason, retracted.occurred_at) == (3, "dup", T0 + 6 * H)


def _replay(events) -> Ticket:
    aggregate = None
    for e in events:
        aggregate = e.mutate(aggregate)
    return aggregate


def test_replaying_the_events_gives_the_state_at_each_version():
    t = _full_history()
    events = t.collect_events()
    again = _replay(events)
    assert (again.id, again.version, again.case, again.steps, again.retracted) == (
        t.id, 6, {"channel": "phone", "team": "A", "region": "East"},
        {1: {**STEPS[1], "actor": "a9"}, 2: STEPS[2], 3: STEPS[3]}, {3: "dup"})
    at_2 = _replay(events[:3])  # versions 0..2
    assert (at_2.version, at_2.steps, at_2.retracted) == (2, {1: STEPS[1], 2: STEPS[2]}, {})
    at_4 = _replay(events[:5])
    assert at_4.steps[1]["actor"] == "a9" and at_4.case == {"channel": "phone", "team": "A"}


TOPICS = {
    "Opened": "csmine/Ticket.Opened/v1",
    "ActivityRecorded": "csmine/Ticket.ActivityRecorded/v1",
    "Corrected": "csmine/Ticket.Corrected/v1",
    "CaseAttributesChanged": "csmine/Ticket.CaseAttributesChanged/v1",
    "Retracted": "csmine/Ticket.Retracted/v1",
}
PLAN_TOPICS = {
    # No "/v1": the library takes the nested ``PhasePlan.Created`` class (and its TOPIC) for
    # ``@event("Created")``, so this is what every store holds since the first phase.
    "Created": "csmine/PhasePlan.Created",
    "PhaseDefined": "csmine/PhasePlan.PhaseDefined/v1",
    "PhaseRemoved": "csmine/PhasePlan.PhaseRemoved/v1",
}


def test_topic_constants_are_the_documented_strings():
    assert (TOPIC_OPENED, TOPIC_ACTIVITY, TOPIC_CORRECTED, TOPIC_CASE_CHANGED, TOPIC_RETRACTED) == tuple(
        TOPICS[n] for n in ("Opened", "ActivityRecorded", "Corrected", "CaseAttributesChanged", "Retracted"))
    assert (TOPIC_PLAN_CREATED, TOPIC_PHASE_DEFINED, TOPIC_PHASE_REMOVED) == tuple(PLAN_TOPICS.values())
    assert (Ticket.TOPIC, PhasePlan.TOPIC) == ("csmine/Ticket", "csmine/PhasePlan")


def _mapper() -> Mapper:
    transcoder = JSONTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):  # as the application registers them
        transcoder.register(transcoding)
    return Mapper(transcoder=transcoder)


def test_stored_topics_do_not_depend_on_module_or_class_names():
    """The stored topic is the explicit string, not ``module:QualName``: moving the module
    (as event_store.domain may be again) or renaming a class leaves old history readable."""
    mapper = _mapper()
    t = _full_history()
    plan = PhasePlan()
    plan.define_phase("baseline", T0, None, {})
    plan.remove_phase("baseline")
    for e in [*t.collect_events(), *plan.collect_events()]:
        name = type(e).__name__
        expected = {**TOPICS, **PLAN_TOPICS}[name]
        assert get_topic(type(e)) == expected
        assert resolve_topic(expected) is type(e)
        assert "event_store" not in expected and type(e).__module__ == "event_store.domain"
        stored = mapper.to_stored_event(e)
        assert stored.topic == expected
        back = mapper.to_domain_event(stored)
        assert type(back) is type(e) and back.__dict__ == e.__dict__
    opened = mapper.to_stored_event(_opened().collect_events()[0])
    assert b'"originator_topic":"csmine/Ticket"' in opened.state  # the aggregate class by its topic too


def test_a_stored_opening_written_by_hand_replays_to_a_ticket():
    """History written long ago (topic string plus JSON) reads back into today's classes."""
    from eventsourcing.persistence import StoredEvent

    state = (b'{"timestamp":{"_type_":"datetime_iso","_data_":"2024-03-01T10:00:00+00:00"},'
             b'"originator_topic":"csmine/Ticket","external_id":"CS-1",'
             b'"occurred_at":{"_type_":"datetime_iso","_data_":"2024-03-01T09:00:00+00:00"},'
             b'"case":{"channel":"phone"},"actor":null,"source_ref":null}')
    step = (b'{"timestamp":{"_type_":"datetime_iso","_data_":"2024-03-01T10:00:00+00:00"},"activity":"Receive",'
            b'"occurred_at":{"_type_":"datetime_iso","_data_":"2024-03-01T10:00:00+00:00"},"actor":"a1",'
            b'"team":null,"started_at":null,"source_ref":null,"attrs":{}}')
    mapper = _mapper()
    events = [mapper.to_domain_event(StoredEvent(ticket_id("CS-1"), 0, "csmine/Ticket.Opened/v1", state)),
              mapper.to_domain_event(StoredEvent(ticket_id("CS-1"), 1, "csmine/Ticket.ActivityRecorded/v1", step))]
    t = _replay(events)
    assert isinstance(t, Ticket)
    assert (t.external_id, t.opened_at, t.case, t.version) == ("CS-1", T0, {"channel": "phone"}, 1)
    assert t.steps == {1: _step("Receive", T0 + H, actor="a1")}


# -- the phase plan ------------------------------------------------------------------------------


def test_phase_plan_define_redefine_remove():
    plan = PhasePlan()
    assert (plan.version, plan.phases) == (0, {})
    plan.define_phase("baseline", T0, T0 + 7 * 24 * H, {"team": ["A"]}, "first week", actor="lead")
    plan.define_phase("pilot", T0 + 7 * 24 * H, None, {})
    assert plan.phases == {
        "baseline": {"name": "baseline", "start": T0, "end": T0 + 7 * 24 * H, "cohort": {"team": ["A"]},
                     "note": "first week"},
        "pilot": {"name": "pilot", "start": T0 + 7 * 24 * H, "end": None, "cohort": {}, "note": ""},
    }
    plan.define_phase("baseline", T0, T0 + 6 * 24 * H, {}, "six days")  # a redefinition replaces it
    assert plan.phases["baseline"] == {"name": "baseline", "start": T0, "end": T0 + 6 * 24 * H, "cohort": {},
                                       "note": "six days"}
    assert list(plan.phases) == ["baseline", "pilot"]
    plan.remove_phase("pilot", "cancelled")
    assert list(plan.phases) == ["baseline"]
    plan.remove_phase("never-defined")  # the aggregate does not refuse (the application does)
    assert list(plan.phases) == ["baseline"]
    events = plan.collect_events()
    assert [(type(e).__name__, e.originator_version) for e in events] == [
        ("Created", 0), ("PhaseDefined", 1), ("PhaseDefined", 2), ("PhaseDefined", 3), ("PhaseRemoved", 4),
        ("PhaseRemoved", 5)]
    assert (events[4].name, events[4].note) == ("pilot", "cancelled")
    assert _replay(events).phases == plan.phases
