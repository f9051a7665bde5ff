"""Replay: online conformance and SLA monitors on hand-made days, SOP versions,
determinism, paging, the offline clocks, and the read-model rebuild check."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from event_store import open_store
from process_models import load_sop
from tests.unit.csmine.pilot_data import build_two_days_store

from csmine.errors import ReplayError
from csmine.eventlog.filters import LogFilter
from csmine.eventlog.ordering import tie_key
from csmine.monitoring.automaton import SopAutomaton
from csmine.monitoring.clocks import limit_clocks
from csmine.monitoring.monitors import Alert, business_deadline
from csmine.monitoring.rebuild import check_rebuild, rebuild_read_model
from csmine.monitoring.replay import replay
from csmine.monitoring.replayer import DayStarted, Replayer
from csmine.monitoring.stream import StreamEvent, events_from_frame, stream_events

#: Hand-worked alerts of the two days against complaint (v1): (time, ticket, kind, step).
V1_ALERTS = [
    ("2025-03-03 10:24", "D1-2", "at_risk", "Record"),   # 80% of 30 min after opening 10:00
    ("2025-03-03 10:30", "D1-2", "breach", "Record"),    # Record came at 10:50
    ("2025-03-03 15:00", "D1-3", "skipped", "Callback"),  # Archive straight after Handle
    ("2025-03-04 09:10", "D2-1", "skipped", "Record"),    # Classify before Record ...
    ("2025-03-04 09:15", "D2-1", "out_of_order", "Record"),  # ... then Record
    ("2025-03-04 11:00", "D2-2", "skipped", "Callback"),
    ("2025-03-04 11:24", "D2-3", "at_risk", "Record"),
    ("2025-03-04 11:30", "D2-3", "breach", "Record"),
]
#: What complaint-v2 (Callback within 24 h of Handle, not 48 h) adds: D1-4's Callback
#: came 30 h after its Handle (Mon 09:00): at risk at 19.2 h, breached at 24 h.
V2_ONLY = [
    ("2025-03-04 04:12", "D1-4", "at_risk", "Callback"),
    ("2025-03-04 09:00", "D1-4", "breach", "Callback"),
]


def _rows(alerts, sop=None):
    return [(a.time.strftime("%Y-%m-%d %H:%M"), a.ticket, a.kind, a.step) for a in alerts
            if sop is None or a.sop == sop]


@pytest.fixture(scope="module")
def days_store(tmp_path_factory):
    return build_two_days_store(str(tmp_path_factory.mktemp("days") / "days.db"))


@pytest.fixture(scope="module")
def v1():
    return load_sop("complaint")


@pytest.fixture(scope="module")
def v2():
    return load_sop("complaint-v2")


def test_hand_made_days_raise_exactly_the_worked_out_alerts(days_store, v1):
    with open_store(days_store) as s:
        result = replay(stream_events(s), v1)
    assert _rows(result.alerts) == V1_ALERTS
    assert result.events == 40 and result.tickets == 7
    summary = result.summaries[0]
    assert summary.by_kind == {"skipped": 3, "out_of_order": 1, "repeated": 0, "extra": 0, "at_risk": 2, "breach": 2}
    assert summary.by_step["skipped"] == {"Callback": 2, "Record": 1}
    assert summary.tickets_alerted == 5


def test_revised_sop_shows_exactly_the_built_in_difference(days_store, v1, v2):
    with open_store(days_store) as s:
        result = replay(stream_events(s), v1, compare_sop=v2)
    assert _rows(result.alerts, "complaint") == V1_ALERTS
    assert _rows(result.alerts, "complaint-v2") == sorted(V1_ALERTS + V2_ONLY)
    diff = result.difference
    assert diff.both == len(V1_ALERTS)
    assert sum(diff.only_a.values()) == 0
    assert diff.only_b == {"skipped": 0, "out_of_order": 0, "repeated": 0, "extra": 0, "at_risk": 1, "breach": 1}
    assert diff.only_b_by_step == {"at_risk": {"Callback": 1}, "breach": {"Callback": 1}}
    assert _rows(diff.alerts_only_b) == V2_ONLY


def test_replay_is_deterministic_and_paging_does_not_change_it(days_store, v1, v2):
    with open_store(days_store) as s:
        first = replay(stream_events(s), v1, compare_sop=v2)
        second = replay(stream_events(s), v1, compare_sop=v2)
        paged = replay(stream_events(s, page=2), v1, compare_sop=v2)
        items = list(stream_events(s, page=3))
    assert first == second == paged
    # business time, openings first, then the documented tie-break of csmine.eventlog.ordering, then record order
    keys = [(e.time_us, e.kind != "opened", tie_key(e.activity) if e.activity else (), e.event_id) for e in items]
    assert keys == sorted(keys)
    assert sum(e.kind == "opened" for e in items) == 7


def test_day_marks_and_filters(days_store, v1):
    with open_store(days_store) as s:
        items = list(Replayer([v1]).run(stream_events(s)))
        tuesday = replay(stream_events(s, LogFilter(start=datetime(2025, 3, 4, tzinfo=UTC))), v1)
        phase = replay(stream_events(s, LogFilter(phase="pilot")), v1)
    days = [i.day.isoformat() for i in items if isinstance(i, DayStarted)]
    assert days == ["2025-03-03", "2025-03-04"]
    # tickets opened on Tuesday only: D2-x (D1-4 opened Monday is left out)
    assert _rows(tuesday.alerts) == V1_ALERTS[3:]
    assert tuesday.tickets == 3
    assert _rows(phase.alerts) == V1_ALERTS


def _stream(*tickets):
    """Tickets as (id, opened minute, [(activity, minute), ...]) on 2025-03-03 00:00 UTC."""
    t0 = datetime(2025, 3, 3, tzinfo=UTC)
    out, nid = [], 0
    for tid, opened, steps in tickets:
        nid += 1
        out.append(StreamEvent(int((t0 + timedelta(minutes=opened)).timestamp() * 1e6), "opened", tid, None, nid))
        for act, m in steps:
            nid += 1
            out.append(StreamEvent(int((t0 + timedelta(minutes=m)).timestamp() * 1e6), "activity", tid, act, nid))
    out.sort(key=lambda e: (e.time_us, e.kind != "opened", e.event_id))
    return out


def test_rework_after_reopen_raises_one_alert_per_deviation(v1):
    stream = _stream(("T", 0, [("Receive", 0), ("Record", 5), ("Classify", 10), ("Handle", 20), ("Callback", 30),
                               ("Archive", 40), ("Reopen", 50), ("Handle", 60), ("Callback", 70), ("Archive", 80),
                               ("Foo", 90)]))
    alerts = replay(stream, v1).alerts
    assert [(a.kind, a.step) for a in alerts] == [("extra", "Reopen"), ("repeated", "Handle"), ("extra", "Foo")]


def test_limit_clock_restarts_on_each_since_step_and_stops_on_close(v1):
    # Callback within 48 h of Handle: the second Handle restarts the clock, so the
    # Callback 50 h after the first Handle but 2 h after the second is on time.
    h = 60
    stream = _stream(("T", 0, [("Receive", 0), ("Record", 5), ("Classify", 10), ("Handle", 20),
                               ("Wait for customer", 30), ("Handle", 48 * h), ("Callback", 50 * h),
                               ("Archive", 51 * h)]),
                     # archived without a Callback 1 h after Handle: the clock stops at the close
                     ("U", 0, [("Receive", 0), ("Record", 5), ("Classify", 10), ("Handle", 20), ("Archive", 80)]),
                     # keeps the replay clock running past U's would-be deadline
                     ("V", 100 * h, [("Receive", 100 * h)]))
    alerts = replay(stream, v1, at_risk=None).alerts
    assert [(a.ticket, a.kind, a.step) for a in alerts] == [("U", "skipped", "Callback")]
    # without the restart, T's Callback would have been 49 h 40 min after its Handle
    no_restart = _stream(("T", 0, [("Receive", 0), ("Record", 5), ("Classify", 10), ("Handle", 20),
                                    ("Callback", 50 * h), ("Archive", 51 * h)]))
    assert [(a.kind, a.step, a.time.strftime("%d %H:%M")) for a in replay(no_restart, v1, at_risk=None).alerts] == [
        ("breach", "Callback", "05 00:20")]


def test_step_at_the_deadline_is_on_time_and_a_minute_later_is_not(v1):
    on_time = replay(_stream(("T", 0, [("Receive", 0), ("Record", 30)])), v1).alerts
    late = replay(_stream(("T", 0, [("Receive", 0), ("Record", 31)])), v1).alerts
    assert [(a.kind, a.time.strftime("%H:%M")) for a in on_time] == [("at_risk", "00:24")]
    assert [(a.kind, a.time.strftime("%H:%M")) for a in late] == [("at_risk", "00:24"), ("breach", "00:30")]
    none = replay(_stream(("T", 0, [("Receive", 0), ("Record", 30)])), v1, at_risk=None).alerts
    assert none == ()


def test_automaton_outcomes_are_cached_per_prefix_state(v1):
    auto = SopAutomaton(v1)
    s = auto.initial
    for step in ("Receive", "Record", "Classify"):
        out = auto.advance(s, step, seen_before=False)
        assert out.kind == "ok"
        s = out.state
    skip = auto.advance(s, "Callback", seen_before=False)
    assert skip.kind == "skipped" and skip.skipped == ("Handle",)
    assert auto.advance(s, "Callback", seen_before=False) is skip
    assert auto.advance(skip.state, "Archive", seen_before=False).kind == "ok"
    assert auto.is_complete(auto.advance(skip.state, "Archive", seen_before=False).state)
    assert auto.advance(s, "Reopen", seen_before=False).kind == "extra"


def test_skipping_several_steps_names_each(v1):
    alerts = replay(_stream(("T", 0, [("Receive", 0), ("Handle", 5)])), v1, at_risk=None).alerts
    assert [(a.kind, a.step) for a in alerts[:2]] == [("skipped", "Record"), ("skipped", "Classify")]


def test_same_sop_twice_is_refused(v1):
    with pytest.raises(ReplayError, match="same SOP"):
        replay([], v1, compare_sop=v1)
    with pytest.raises(ReplayError, match="between 0 and 1"):
        Replayer([v1], at_risk=1.5)


def test_business_deadline_walks_working_hours():
    from csmine.performance.business_calendar import BusinessCalendar

    cal = BusinessCalendar(hours=(9, 17), weekdays=(0, 1, 2, 3, 4), tz="UTC")
    fri = datetime(2025, 3, 7, 16, 0, tzinfo=UTC)
    # 1 h left on Friday, the other 2 h on Monday from 09:00
    assert business_deadline(cal, fri, 3 * 3600) == datetime(2025, 3, 10, 11, 0, tzinfo=UTC)
    assert business_deadline(cal, datetime(2025, 3, 8, 12, 0, tzinfo=UTC), 60) == datetime(2025, 3, 10, 9, 1,
                                                                                               tzinfo=UTC)
    back = cal.business_seconds(fri, business_deadline(cal, fri, 12345.0))
    assert back == pytest.approx(12345.0)


def test_offline_clocks_match_the_replayed_sla_alerts(days_store, v1, v2):
    from csmine.eventlog.loading import load_event_log

    with open_store(days_store) as s:
        df = load_event_log(s)
        for sop in (v1, v2):
            result = replay(stream_events(s), sop)
            clocks = limit_clocks(df, sop)
            fired = sorted((a.ticket, a.step, a.time) for a in result.alerts if a.kind == "breach")
            hit = clocks[clocks["breached"]]
            offline = sorted(zip(hit["ticket"], hit["step"], (t.to_pydatetime() for t in hit["deadline"]),
                                 strict=True))
            assert fired == offline
            risky = Counter((a.ticket, a.step) for a in result.alerts if a.kind == "at_risk")
            assert risky == Counter(zip(clocks.loc[clocks["at_risk"], "ticket"],
                                        clocks.loc[clocks["at_risk"], "step"], strict=True))
    late = clocks[clocks["breached"]].set_index(["ticket", "step"])
    assert late.loc[("D2-3", "Record"), "status"] == "late"
    assert late.loc[("D2-3", "Record"), "late_s"] == 600.0
    assert late.loc[("D2-3", "Record"), "actor"] == "A-2"
    assert late.loc[("D1-4", "Callback"), "late_s"] == 6 * 3600.0


def test_offline_clocks_match_replay_on_the_simulated_centre(tmp_path, v1):
    from csmine.simulation.config import SimulationConfig
    from csmine.simulation.frames import histories_to_frame
    from csmine.simulation.simulate import simulate

    sim = simulate(SimulationConfig(tickets=300, seed=11, baseline_weeks=2, pilot_weeks=1, rollout_weeks=0))
    df = histories_to_frame(sim.histories, sim.phases)
    alerts = replay(events_from_frame(df), v1).alerts
    clocks = limit_clocks(df, v1)
    fired = Counter((a.ticket, a.step) for a in alerts if a.kind == "breach")
    assert sum(fired.values()) > 10
    assert fired == Counter(zip(clocks.loc[clocks["breached"], "ticket"], clocks.loc[clocks["breached"], "step"],
                                strict=True))


def test_rebuild_matches_then_detects_an_altered_read_model(tmp_path):
    path = build_two_days_store(str(tmp_path / "r.db"))
    with open_store(path) as s:
        report = rebuild_read_model(s)
        assert report.match
        check_rebuild(report)
        rows = {t.table: (t.rows_before, t.rows_after) for t in report.tables}
        assert rows == {"event_log": (40, 40), "tickets": (7, 7), "phases": (1, 1)}
        # alter the read model behind the projection's back
        with s.db.transaction(write=True) as cur:
            cur.execute("UPDATE event_log SET activity = 'Tampered' WHERE ticket = 'D1-1' AND version = 2")
            cur.execute("DELETE FROM tickets WHERE ticket = 'D2-2'")
        bad = rebuild_read_model(s)
        assert not bad.match
        by = {t.table: t for t in bad.tables}
        assert by["event_log"].mismatches == 1 and len(by["event_log"].changed) == 1
        assert by["tickets"].missing == () and by["tickets"].added == ("D2-2",)
        with pytest.raises(Exception, match="does not match"):
            check_rebuild(bad)
        # the rebuild repaired it
        assert rebuild_read_model(s).match


def test_events_from_frame_gives_the_store_order(days_store, v1):
    from csmine.eventlog.loading import load_event_log

    with open_store(days_store) as s:
        df = load_event_log(s)
        from_store = replay(stream_events(s), v1)
    from_frame = replay(events_from_frame(df), v1)
    assert _rows(from_frame.alerts) == _rows(from_store.alerts)
    assert all(isinstance(a, Alert) for a in from_frame.alerts)


def test_stream_replay_and_rebuild_on_both_backends(store_url, v1):
    """The keyset-paged stream, the replay and the rebuild check give the same on
    SQLite and PostgreSQL."""
    build_two_days_store(store_url)
    with open_store(store_url) as s:
        result = replay(stream_events(s, page=4), v1)
        assert _rows(result.alerts) == V1_ALERTS
        report = rebuild_read_model(s)
    assert report.match and [t.rows_after for t in report.tables] == [40, 7, 1]


def test_paced_alerts_pause_by_business_time_and_head_each_new_day() -> None:
    from datetime import date

    from csmine.monitoring.replay import MAX_SLEEP_S, pace_alerts

    t0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)

    def alert(minutes: float, ticket: str) -> Alert:
        return Alert(t0 + timedelta(minutes=minutes), ticket, "skipped", "Record", "", "complaint")

    items = [DayStarted(date(2025, 3, 3)), alert(0, "A"), alert(60, "B"), alert(60, "C"),
             DayStarted(date(2025, 3, 4)), DayStarted(date(2025, 3, 5)), alert(2 * 1440, "D")]
    paced = list(pace_alerts(items, speed=60.0))  # one business minute per second
    assert [p.alert.ticket for p in paced] == ["A", "B", "C", "D"]
    # 60 business minutes / 60 = 60 s, capped at 10 s; the same time: no pause; 47 h later: capped
    assert [p.pause_s for p in paced] == [0.0, MAX_SLEEP_S, 0.0, MAX_SLEEP_S]
    # a header before the first alert of a day; only the latest day started counts
    assert [(p.day, p.later_day) for p in paced] == [
        (date(2025, 3, 3), False), (None, False), (None, False), (date(2025, 3, 5), True)]
    slow = list(pace_alerts(items[:3], speed=7200.0))  # 60 minutes / 7200 = 0.5 s
    assert [p.pause_s for p in slow] == [0.0, 0.5]
    assert [p.pause_s for p in pace_alerts(items, speed=None)] == [0.0] * 4
