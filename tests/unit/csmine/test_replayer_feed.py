"""The Replayer fed one event at a time (a live feed): the same alerts as a replay of
the whole stream, and deadlines that pass without an event fire on a clock tick."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from event_store import open_store
from process_models import load_sop
from tests.unit.csmine.pilot_data import build_two_days_store

from csmine.monitoring.monitors import Alert
from csmine.monitoring.replayer import DayStarted, Replayer
from csmine.monitoring.stream import StreamEvent, stream_events, to_us


@pytest.fixture(scope="module")
def days_stream(tmp_path_factory):
    path = build_two_days_store(str(tmp_path_factory.mktemp("feed") / "days.db"))
    with open_store(path) as s:
        return list(stream_events(s))


def test_feeding_events_one_by_one_gives_the_replay(days_stream):
    sops = [load_sop("complaint"), load_sop("complaint-v2")]
    whole = Replayer(sops)
    replayed = list(whole.run(days_stream))
    live = Replayer(sops)
    fed = [item for event in days_stream for item in live.feed(event)]
    assert fed == replayed
    assert sum(isinstance(i, Alert) for i in fed) > 0
    assert (live.events, live.tickets, live.first, live.last) == (whole.events, whole.tickets, whole.first,
                                                                  whole.last)


def test_a_clock_tick_fires_the_deadlines_that_passed():
    # complaint: Record within 30 min of the opening (at risk at 80%: 24 min), Classify within 2 h
    opened = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)
    replayer = Replayer([load_sop("complaint")])
    assert replayer.feed(StreamEvent(to_us(opened), "opened", "T-1", None, 1)) == [DayStarted(opened.date())]
    assert replayer.advance(opened + timedelta(minutes=24)) == []  # due at 10:24, not passed yet
    at_risk = replayer.advance(opened + timedelta(minutes=25))
    assert [(a.kind, a.step, a.time) for a in at_risk] == [("at_risk", "Record", opened + timedelta(minutes=24))]
    breach = replayer.advance(opened + timedelta(hours=1))
    assert [(a.kind, a.step, a.time) for a in breach] == [("breach", "Record", opened + timedelta(minutes=30))]
    later = replayer.advance(opened + timedelta(days=1))  # the other limits from the opening
    assert later and all(a.step != "Record" for a in later)
    assert replayer.advance(opened + timedelta(days=1)) == []  # each deadline fires once
    assert replayer.events == 0 and replayer.tickets == 1


def test_a_step_before_the_deadline_stops_its_clock():
    opened = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)
    replayer = Replayer([load_sop("complaint")])
    replayer.feed(StreamEvent(to_us(opened), "opened", "T-1", None, 1))
    replayer.feed(StreamEvent(to_us(opened), "activity", "T-1", "Receive", 2))
    replayer.feed(StreamEvent(to_us(opened + timedelta(minutes=10)), "activity", "T-1", "Record", 3))
    assert all(a.step != "Record" for a in replayer.advance(opened + timedelta(hours=1)))
