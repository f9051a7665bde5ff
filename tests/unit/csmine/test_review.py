"""Daily review and weekly bulletin on the hand-made days (see pilot_data.two_days)."""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest

from event_store import open_store
from process_models import load_sop
from tests.unit.csmine.pilot_data import build_pilot_store, build_two_days_store

from csmine.errors import ReviewError
from csmine.eventlog.filters import LogFilter
from csmine.eventlog.loading import load_event_log
from csmine.pilot.adherence import violation_text
from csmine.pilot.days import day_bottleneck, parse_week
from csmine.pilot.review import review_day, review_week


@pytest.fixture(scope="module")
def days(tmp_path_factory):
    path = build_two_days_store(str(tmp_path_factory.mktemp("review") / "days.db"))
    with open_store(path) as s:
        return load_event_log(s, LogFilter(phase="pilot"))


@pytest.fixture(scope="module")
def sop():
    return load_sop("complaint")


@pytest.fixture(scope="module")
def tuesday(days, sop):
    return review_day(days, sop, date(2025, 3, 4), phase="pilot")


def test_day_counts_and_previous_day(tuesday):
    assert tuesday.tickets_opened == 3 and tuesday.events == 19
    assert tuesday.previous_day == "2025-03-03"
    assert {c.name: (c.day, c.previous) for c in tuesday.changes} == {
        "tickets opened": (3, 4), "events": (19, 21), "deviations": (2, 1), "limits breached": (1, 1)}


def test_day_kpis_against_targets_and_the_previous_day(tuesday):
    k = {x.key: x for x in tuesday.kpis}
    fr = k["first_response_timeouts"]          # D2-3 answered after 40 min; D2-1, D2-2 in time
    assert (fr.value, fr.n, fr.target, fr.met) == (pytest.approx(1 / 3), 3, pytest.approx(0.10), False)
    assert fr.previous == 0.25                  # Monday: D1-2 of four
    assert k["first_response_median"].value == 15 * 60.0   # 15, 5 and 40 min
    assert (k["resolution_rate"].value, k["resolution_rate"].met) == (1.0, True)
    assert fr.vs_baseline is None and fr.verdict == ""
    assert any("no baseline" in n for n in tuesday.notes)


def test_new_deviations_are_those_not_seen_on_earlier_days(tuesday):
    # the skipped Callback (D2-2) was seen on Monday (D1-3); the swap of Classify and
    # Record (D2-1) is new; alignments count it once, on one of the two steps
    assert tuesday.deviations["skipped"] == {"Callback": 1}
    assert [(d.kind, d.count, d.tickets) for d in tuesday.new_deviations] == [("out_of_order", 1, ("D2-1",))]
    assert tuesday.new_deviations[0].step in ("Classify", "Record")


def test_breaches_of_the_day_are_the_replay_breach_alerts(tuesday):
    assert [(b.ticket, b.step, b.deadline, b.status, b.late_s, b.actor, b.trace) for b in tuesday.breaches] == [
        ("D2-3", "Record", "2025-03-04T11:30:00+00:00", "late", 600.0, "A-2", "csmine trace D2-3")]
    assert tuesday.breaches[0].limit == "≤ 30 min after opened"


def test_top_bottleneck_of_the_day(tuesday, days):
    # waits ending on Tuesday on Handle -> Callback: D1-4 30 h, D2-1 1 h, D2-3 1 h
    b = tuesday.bottleneck
    assert (b.source, b.target, b.waits, b.total_wait_s, b.median_wait_s, b.tickets) == (
        "Handle", "Callback", 3, 32 * 3600.0, 3600.0, 3)
    mon = tuesday.previous_bottleneck          # Monday: D1-1 4 h + D1-2 2 h on Handle -> Callback
    assert (mon.source, mon.target, mon.total_wait_s) == ("Handle", "Callback", 6 * 3600.0)
    assert day_bottleneck(days, date(2025, 3, 5), ZoneInfo("UTC")) is None


def test_time_zone_moves_the_day(days, sop):
    # in UTC+8, Tuesday 09:00-16:00 UTC is Tuesday 17:00-24:00; D2-3 (11:00 UTC) opens Tuesday
    r = review_day(days, sop, date(2025, 3, 4), tz=ZoneInfo("Asia/Shanghai"))
    assert r.tickets_opened == 3
    r = review_day(days, sop, date(2025, 3, 5), tz=ZoneInfo("Asia/Shanghai"))
    assert r.tickets_opened == 0 and r.events == 1 and r.kpis == ()     # D1-4's Archive 16:00 UTC


def test_nothing_happened(days, sop):
    with pytest.raises(ReviewError, match="nothing happened on 2025-03-10"):
        review_day(days, sop, date(2025, 3, 10))


def test_weekly_bulletin(days, sop):
    w = review_week(days, sop, "2025-W10")
    assert (w.start, w.end, w.tickets_opened, w.events) == ("2025-03-03", "2025-03-10", 7, 40)
    agents = {a.who: a for a in w.agents}
    # Record + Classify of 5 tickets, one out-of-order step; S-1: 19 steps, 2 skipped callbacks
    # counted for the Archive done in their place; A-2: 4 steps, 2 late first responses
    assert (agents["A-1"].steps, agents["A-1"].deviations, agents["A-1"].late) == (10, 1, 0)
    assert agents["A-1"].adherence == pytest.approx(0.9) and agents["A-1"].ranked
    assert (agents["S-1"].steps, agents["S-1"].deviations) == (19, 2)
    assert (agents["A-2"].steps, agents["A-2"].late, agents["A-2"].ranked) == (4, 2, False)
    assert not agents["(none)"].ranked                      # Receive has no agent
    assert [a.who for a in w.best_agents] == ["A-1", "S-1"] and w.worst_agents == ()
    assert [r.text for r in w.repeated] == ["A-2: 2 late first responses", "S-1: 2 skipped Callback"]
    assert w.repeated[0].tickets == ("D1-2", "D2-3")
    assert w.best_teams == () and any("teams not ranked" in n for n in w.notes)


def test_week_parsing_and_words(sop):
    assert parse_week("2025-W10") == date(2025, 3, 3)
    assert parse_week("2026w1") == date(2025, 12, 29)
    for bad in ("2025-10", "2025-W54"):
        with pytest.raises(ReviewError):
            parse_week(bad)
    assert violation_text("A-E-03", "late", "Record", 3, sop) == "A-E-03: 3 late first responses"
    assert violation_text("A", "late", "Callback", 1, sop) == "A: 1 late callback"
    assert violation_text("A", "out_of_order", "Record", 2, sop) == "A: 2 Record out of order"


@pytest.mark.slow
def test_day_against_the_baseline(tmp_path):
    path = build_pilot_store(str(tmp_path / "p.db"))
    with open_store(path) as s:
        pilot = load_event_log(s, LogFilter(phase="pilot"))
        base = load_event_log(s, LogFilter(phase="baseline"))
    # pilot tickets open every 2 h from 2025-02-17 08:00: 12 a day, one late (P-000) on the first day
    first = review_day(pilot, load_sop("complaint"), date(2025, 2, 17), baseline=base, baseline_name="baseline")
    fr = {k.key: k for k in first.kpis}["first_response_timeouts"]
    assert (fr.n, fr.value, fr.baseline) == (8, 0.125, 0.15)
    assert fr.vs_baseline is not None and not fr.vs_baseline.enough
    assert fr.verdict == "sample too small to conclude"
    assert first.previous_day is None and first.baseline == "baseline"
    days = {date(2025, 2, 17) + timedelta(days=i) for i in range(3)}
    assert all(review_day(pilot, load_sop("complaint"), d).tickets_opened == (8 if i == 0 else 12)
               for i, d in enumerate(sorted(days)))
