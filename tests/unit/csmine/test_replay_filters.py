"""Replay and phases against filters on free attributes: replay selects exactly the
tickets load_event_log selects, offline clocks survive a log foreign to the SOP, and a
phase cohort on an attribute no ticket has is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from event_store import ActivityRow, TicketHistory, open_store
from process_models import load_sop

from csmine.errors import PhaseError
from csmine.eventlog.filters import LogFilter, attrs_match
from csmine.eventlog.loading import load_event_log
from csmine.monitoring.clocks import limit_clocks
from csmine.monitoring.replay import replay
from csmine.monitoring.stream import stream_events
from csmine.pilot.phases import define_phase, phase_infos, ticket_attributes

MON = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def _ticket(tid: str, opened: datetime, impact: str | None, segment: str) -> TicketHistory:
    # Record 60 min after opening: the complaint SOP's 30-min Record limit is breached
    # at opening + 30 min. Only the first step carries the impact (as in BPIC 2013,
    # where impact is an attribute of the events, not of the ticket).
    first = {"impact": impact} if impact else {}
    return TicketHistory(tid, opened, {"channel": "phone", "segment": segment}, (
        ActivityRow("Receive", opened, attrs=first),
        ActivityRow("Record", opened + timedelta(minutes=60), actor="A-1"),
    ))


@pytest.fixture
def store(tmp_path):
    path = str(tmp_path / "f.db")
    with open_store(path, create=True) as s:
        s.import_histories([
            _ticket("T1", MON, "Minor", "gold"),
            _ticket("T2", MON + timedelta(hours=1), "Major", "silver"),
            _ticket("T3", MON + timedelta(hours=2), None, "gold"),
        ])
    s = open_store(path)
    yield s
    s.close()


def test_attrs_match_compares_text_and_never_passes_a_missing_value():
    assert attrs_match({"impact": "Major"}, {"impact": ("Major", "High")})
    assert attrs_match({"n": 3}, {"n": ("3",)})
    assert not attrs_match({"impact": "Minor"}, {"impact": ("Major",)})
    assert not attrs_match({}, {"impact": ("None",)})
    assert not attrs_match({"impact": None}, {"impact": ("None",)})


def test_replay_where_event_attribute_streams_only_the_matching_ticket(store):
    flt = LogFilter(where={"impact": ("Major",)})
    events = list(stream_events(store, flt))
    # T2 whole: its opening and both steps (the Record step carries no impact itself).
    assert [(e.kind, e.ticket, e.activity) for e in events] == [
        ("opened", "T2", None), ("activity", "T2", "Receive"), ("activity", "T2", "Record")]
    selected = set(load_event_log(store, flt)["case:concept:name"])
    assert {e.ticket for e in events} == selected == {"T2"}

    result = replay(events, load_sop("complaint"))
    assert result.tickets == 1
    breaches = [(a.ticket, a.kind, a.step, a.time.strftime("%H:%M")) for a in result.alerts if a.kind == "breach"]
    assert breaches == [("T2", "breach", "Record", "10:30")]  # opened 10:00, Record due 10:30
    assert {a.ticket for a in result.alerts} == {"T2"}


def test_replay_without_filter_and_with_unmatched_value(store):
    everything = replay(stream_events(store), load_sop("complaint"))
    assert everything.tickets == 3
    record = sorted(a.ticket for a in everything.alerts if a.kind == "breach" and a.step == "Record")
    assert record == ["T1", "T2", "T3"]
    nothing = list(stream_events(store, LogFilter(where={"impact": ("Critical",)})))
    assert nothing == []
    assert len(load_event_log(store, LogFilter(where={"impact": ("Critical",)}))) == 0
    # a free attribute combined with a case column: both must hold
    both = list(stream_events(store, LogFilter(where={"impact": ("Major", "Minor"), "channel": ("phone",)})))
    assert {e.ticket for e in both} == {"T1", "T2"}


def test_limit_clocks_of_a_log_foreign_to_the_sop_are_none():
    t0 = pd.Timestamp("2025-03-03 09:00", tz="UTC")
    df = pd.DataFrame({
        "case:concept:name": ["X1", "X1", "X2"],
        "concept:name": ["Accepted", "Completed", "Queued"],
        "time:timestamp": [t0, t0 + pd.Timedelta(hours=1), t0 + pd.Timedelta(hours=2)],
    })
    clocks = limit_clocks(df, load_sop("complaint"))
    assert len(clocks) == 0
    assert "ticket" in clocks.columns


def test_phase_cohort_on_an_attribute_no_ticket_has_is_refused(store):
    assert ticket_attributes(store) == {"channel", "category", "priority", "emotion", "customer", "team",
                                        "region", "segment"}
    with pytest.raises(PhaseError, match=r"no ticket has the attribute impact \(ticket attributes: .*segment"):
        define_phase(store, "pilot", MON, cohort={"impact": ("Medium",)})
    # a free ticket attribute and a case column are accepted (the latter even with no value set)
    define_phase(store, "pilot", MON, cohort={"segment": ("gold",)})
    define_phase(store, "west", MON, cohort={"region": ("West",)})
    counts = {p.name: p.tickets for p in phase_infos(store)}
    assert counts == {"pilot": 2, "west": 0}


def test_phase_cohort_check_waits_for_tickets(tmp_path):
    with open_store(str(tmp_path / "empty.db"), create=True) as s:
        assert ticket_attributes(s) is None
        define_phase(s, "pilot", MON, cohort={"impact": ("Medium",)})  # nothing to check against yet
