"""Stores with a known answer for the pilot tests (compare, review, replay, phases).

Two builders:

* :func:`pilot_histories` -- 400 baseline tickets with exactly 15% late first
  responses and 400 pilot tickets (region East) with exactly 5%, plus known
  Callback skips and variants that appear and vanish;
* :func:`two_days` -- seven hand-made tickets over Monday 2025-03-03 and Tuesday
  2025-03-04 (UTC) whose alerts, deviations and breaches are worked out by hand
  in the tests.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from event_store import ActivityRow, TicketHistory, open_store

BASE_START = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)
PILOT_START = datetime(2025, 2, 17, 8, 0, tzinfo=UTC)
N = 400


def _ticket(tid: str, opened: datetime, steps: list[tuple[str, float, str | None, str | None]],
            case: dict[str, str]) -> TicketHistory:
    """``steps``: (activity, minutes after opening, actor, team)."""
    rows = tuple(ActivityRow(a, opened + timedelta(minutes=m), actor=actor, team=team) for a, m, actor, team in steps)
    return TicketHistory(tid, opened, dict(case), rows, source_ref=f"test:{tid}")


def _standard(late: bool, skip_callback: bool, escalate: bool, wait_loop: bool) -> list[tuple[str, float, str, str]]:
    record = 45.0 if late else 10.0  # the limit is 30 min
    steps = [("Receive", 0.0, "A-1", "First line"), ("Record", record, "A-1", "First line"),
             ("Classify", record + 5, "A-1", "First line")]
    t = record + 5
    if escalate:
        steps.append(("Escalate", t + 10, "SV-1", "Supervisor"))
        t += 10
    steps.append(("Handle", t + 120, "S-1", "Specialist"))
    t += 120
    if wait_loop:
        steps += [("Wait for customer", t + 5, "S-1", "Specialist"), ("Handle", t + 185, "S-1", "Specialist")]
        t += 185
    if not skip_callback:
        steps.append(("Callback", t + 240, "A-1", "First line"))
        t += 240
    steps.append(("Archive", t + 60, "A-1", "First line"))
    return steps


def pilot_histories() -> list[TicketHistory]:
    """Baseline B-000..B-399 (15% late first responses: i % 20 < 3; Callback skipped
    when i % 10 == 5, 10%; a Handle/Wait loop when i % 80 == 7, 5 tickets) and pilot
    P-000..P-399 in region East (5% late: i % 20 == 0; Callback skipped when
    i % 40 == 5, 2.5%; escalated when i % 100 == 1, 4 tickets). Tickets open one
    per 2 hours from the phase start."""
    out = []
    for i in range(N):
        out.append(_ticket(f"B-{i:03d}", BASE_START + timedelta(hours=2 * i),
                           _standard(i % 20 < 3, i % 10 == 5, False, i % 80 == 7),
                           {"region": "West" if i % 2 else "East", "channel": "phone", "team": "First line"}))
    for i in range(N):
        out.append(_ticket(f"P-{i:03d}", PILOT_START + timedelta(hours=2 * i),
                           _standard(i % 20 == 0, i % 40 == 5, i % 100 == 1, False),
                           {"region": "East", "channel": "phone", "team": "First line"}))
    return out


def build_pilot_store(path: str) -> str:
    """A store with :func:`pilot_histories` and the phases baseline (all tickets
    opened in [2025-01-06, 2025-02-17)) and pilot (region East from 2025-02-17)."""
    with open_store(path, create=True) as s:
        s.import_histories(pilot_histories())
        s.define_phase("baseline", datetime(2025, 1, 6, tzinfo=UTC), datetime(2025, 2, 17, tzinfo=UTC), {},
                       note="old SOP", actor="test")
        s.define_phase("pilot", datetime(2025, 2, 17, tzinfo=UTC), datetime(2025, 4, 1, tzinfo=UTC),
                       {"region": ["East"]}, note="complaint-v2 in East", actor="test")
    return path


MON = datetime(2025, 3, 3, tzinfo=UTC)
TUE = datetime(2025, 3, 4, tzinfo=UTC)


def _at(day: datetime, hhmm: str) -> datetime:
    h, m = hhmm.split(":")
    return day + timedelta(hours=int(h), minutes=int(m))


def _day_ticket(tid: str, day: datetime, opened: str, steps: list[tuple[str, datetime | str, str | None, str]]
                ) -> TicketHistory:
    t0 = _at(day, opened)
    rows = tuple(ActivityRow(a, _at(day, when) if isinstance(when, str) else when, actor=actor, team=team)
                 for a, when, actor, team in steps)
    return TicketHistory(tid, t0, {"region": "East", "team": "First line", "channel": "phone"}, rows,
                         source_ref=f"test:{tid}")


def two_days() -> list[TicketHistory]:
    """Seven tickets on Mon 2025-03-03 and Tue 2025-03-04 (UTC); see the tests for
    the alerts and deviations each one is built to raise."""
    fl, sp = "First line", "Specialist"
    return [
        # clean
        _day_ticket("D1-1", MON, "09:00", [("Receive", "09:00", None, fl), ("Record", "09:10", "A-1", fl),
                                            ("Classify", "09:20", "A-1", fl), ("Handle", "11:00", "S-1", sp),
                                            ("Callback", "15:00", "S-1", sp), ("Archive", "16:00", "S-1", sp)]),
        # first response 50 min after opening: at risk 10:24, breach 10:30
        _day_ticket("D1-2", MON, "10:00", [("Receive", "10:00", None, fl), ("Record", "10:50", "A-2", fl),
                                            ("Classify", "11:00", "A-2", fl), ("Handle", "12:00", "S-1", sp),
                                            ("Callback", "14:00", "S-1", sp), ("Archive", "15:00", "S-1", sp)]),
        # Callback skipped: archived at 15:00 straight after Handle
        _day_ticket("D1-3", MON, "13:00", [("Receive", "13:00", None, fl), ("Record", "13:05", "A-1", fl),
                                            ("Classify", "13:10", "A-1", fl), ("Handle", "14:00", "S-1", sp),
                                            ("Archive", "15:00", "S-1", sp)]),
        # Callback 30 h after Handle: fine under complaint (48 h), late under complaint-v2 (24 h)
        _day_ticket("D1-4", MON, "08:00", [("Receive", "08:00", None, fl), ("Record", "08:05", "A-1", fl),
                                            ("Classify", "08:10", "A-1", fl), ("Handle", "09:00", "S-1", sp),
                                            ("Callback", _at(TUE, "15:00"), "S-1", sp),
                                            ("Archive", _at(TUE, "16:00"), "S-1", sp)]),
        # Classify before Record: online "skipped Record" then "out of order Record"
        _day_ticket("D2-1", TUE, "09:00", [("Receive", "09:00", None, fl), ("Classify", "09:10", "A-1", fl),
                                            ("Record", "09:15", "A-1", fl), ("Handle", "10:00", "S-1", sp),
                                            ("Callback", "11:00", "S-1", sp), ("Archive", "12:00", "S-1", sp)]),
        # Callback skipped again (not new on Tuesday)
        _day_ticket("D2-2", TUE, "10:00", [("Receive", "10:00", None, fl), ("Record", "10:05", "A-1", fl),
                                            ("Classify", "10:10", "A-1", fl), ("Handle", "10:30", "S-1", sp),
                                            ("Archive", "11:00", "S-1", sp)]),
        # first response 40 min after opening: at risk 11:24, breach 11:30
        _day_ticket("D2-3", TUE, "11:00", [("Receive", "11:00", None, fl), ("Record", "11:40", "A-2", fl),
                                            ("Classify", "11:45", "A-2", fl), ("Handle", "12:00", "S-1", sp),
                                            ("Callback", "13:00", "S-1", sp), ("Archive", "14:00", "S-1", sp)]),
    ]


def build_two_days_store(path: str) -> str:
    """A store with :func:`two_days` and a phase ``pilot`` covering March 2025."""
    with open_store(path, create=True) as s:
        s.import_histories(two_days())
        s.define_phase("pilot", datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 4, 1, tzinfo=UTC), {},
                       note="hand-made days", actor="test")
    return path
