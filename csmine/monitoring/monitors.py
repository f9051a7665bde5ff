"""The monitors of one SOP: online conformance and SLA clocks, raising alerts as they fire.

A :class:`SopMonitor` watches every ticket it is told about, one event at a time:

* the **conformance monitor** advances the ticket's prefix state in the SOP's
  automaton (:class:`csmine.monitoring.automaton.SopAutomaton`) and raises one
  alert per ``skipped`` step, or an ``out_of_order``, ``repeated`` or ``extra``
  alert (an activity the SOP does not map to one of its steps is ``extra`` too);
* the **SLA monitors**, one clock per time limit of the SOP: a clock starts when the
  ticket is opened (``since = opened``) or at each occurrence of the ``since`` step
  (a later occurrence restarts it), and stops when the limited step is recorded or
  the ticket is closed (a step of the SOP's ``close`` role). When the clock passes
  :data:`AT_RISK` (80%) of the limit with the step still missing, an **at_risk**
  alert fires; when it passes the deadline, a **breach** alert fires (the step was
  recorded late, or is still missing). A step recorded exactly at the deadline is
  on time.

The monitors of several SOPs share one :class:`TimerQueue`, so that deadlines due at
the same instant fire in the order they were set, whichever SOP set them. The
:class:`csmine.monitoring.replayer.Replayer` feeds events and fires the timers.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING

from event_store.readmodel.projection import _US, EPOCH

from csmine.errors import ReplayError
from csmine.monitoring.automaton import SopAutomaton
from csmine.monitoring.stream import to_us

if TYPE_CHECKING:
    from collections.abc import Sequence

    from process_models import SOP

    from csmine.monitoring.stream import StreamEvent
    from csmine.performance.business_calendar import BusinessCalendar

#: Share of a time limit after which a ticket whose step is still missing is "at risk".
AT_RISK = 0.8

#: Alert kinds, in the order summaries list them.
ALERT_KINDS = ("skipped", "out_of_order", "repeated", "extra", "at_risk", "breach")


@dataclass(frozen=True, slots=True)
class Alert:
    """An alert as it would have fired.

    Attributes:
        time: business time it fires (tz-aware, UTC): the step's time for
            conformance alerts, the due time for ``at_risk`` and ``breach``.
        ticket: source ticket id.
        kind: ``skipped``, ``out_of_order``, ``repeated``, ``extra``, ``at_risk``
            or ``breach`` (see the module docstring).
        step: the SOP step concerned (the skipped step, the limited step, or the
            recorded activity for ``extra``).
        detail: one line for people.
        sop: id of the SOP monitored.
        event_id: notification id of the step that raised it (None for timers).
        actor: who recorded that step, if known.
        phase: the ticket's phase, if any.
    """

    time: datetime
    ticket: str
    kind: str
    step: str
    detail: str
    sop: str
    event_id: int | None = None
    actor: str | None = None
    phase: str | None = None


@dataclass(frozen=True, slots=True)
class RiskAlert(Alert):
    """An ``at_risk`` alert at one of a monitor's further shares (``more_risks``), with that share."""

    share: float = 0.0


def business_deadline(calendar: BusinessCalendar, start: datetime, seconds: float) -> datetime:
    """The earliest time ``t`` with ``seconds`` business seconds between ``start`` and ``t``.

    Walks the calendar day by day from ``start`` (local dates of the calendar's time
    zone), taking each working day's hours, holidays and extra working days into
    account; the inverse of :meth:`~csmine.performance.business_calendar.BusinessCalendar.business_seconds`.
    """
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(calendar.tz)
    h0, h1 = calendar.hours[0] * 3600.0, calendar.hours[1] * 3600.0
    holidays, workdays = set(calendar.holidays), set(calendar.workdays)
    local = start.astimezone(zone)
    day = local.date()
    sec = local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6
    remaining = float(seconds)
    for _ in range(100_000):
        working = (day in workdays) or (day.weekday() in calendar.weekdays and day not in holidays)
        if working:
            begin = max(sec, h0)
            avail = max(0.0, h1 - begin)
            if remaining <= avail:
                midnight = datetime(day.year, day.month, day.day, tzinfo=zone)
                return (midnight + timedelta(seconds=begin + remaining)).astimezone(UTC)
            remaining -= avail
        day += timedelta(days=1)
        sec = 0.0
    raise ReplayError(f"calendar {calendar.describe()} has no working time to fit {seconds:g} s after {start}")


def _short(dt: datetime, tz: tzinfo) -> str:
    return dt.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def _fmt_duration(td: timedelta) -> str:
    from process_models import format_duration

    return format_duration(td)


class TimerQueue:
    """Deadlines set by the SLA monitors, due first out (ties: the order they were set).

    An entry is ``(due_us, seq, monitor, ticket, limit, gen, kind)``; ``seq`` is
    unique, so entries never compare beyond it.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, SopMonitor, str, int, int, str]] = []
        self._seq = 0

    @property
    def next_seq(self) -> int:
        """The sequence number the next timer set gets."""
        return self._seq

    def set(self, due_us: int, monitor: SopMonitor, ticket: str, limit: int, gen: int, kind: str) -> None:
        """Set a timer: ``monitor.fire(due_us, ticket, limit, gen, kind)`` when it falls due."""
        heapq.heappush(self._heap, (due_us, self._seq, monitor, ticket, limit, gen, kind))
        self._seq += 1

    def due_before(self, t_us: int) -> bool:
        """Whether a timer falls due strictly before ``t_us``."""
        return bool(self._heap) and self._heap[0][0] < t_us

    def next_due(self) -> int | None:
        """When the first timer falls due (it may have been cancelled since), None if none is set."""
        return self._heap[0][0] if self._heap else None

    def pop(self) -> tuple[int, int, SopMonitor, str, int, int, str]:
        """The timer due first, taken off the queue."""
        return heapq.heappop(self._heap)


@dataclass(slots=True)
class _Clock:
    gen: int  # the clock's identity: timers of a stopped or restarted clock no longer match
    due_us: int


@dataclass(slots=True)
class _Progress:
    """One ticket under one SOP: its prefix state, the steps it has done, its clocks."""

    phase: str | None
    state: int
    seen: set[str]
    clocks: dict[int, _Clock]


class SopMonitor:
    """The conformance monitor and the SLA monitors of one SOP, over every ticket.

    Args:
        sop: the SOP.
        timers: the queue its deadlines go to (shared by the SOPs monitored together).
        at_risk: share of a limit after which a missing step raises ``at_risk``
            (None: no such alert).
        tz: time zone of the times written in alert details.
        calendar: business calendar for limits in business hours (None: wall clock).
        max_markings: bound on the SOP net's reachability graph.
        more_risks: further shares with an ``at_risk`` alert each (a :class:`RiskAlert`):
            one monitor instead of one per share (the live server's 50% and 75%).
    """

    def __init__(self, sop: SOP, timers: TimerQueue, *, at_risk: float | None, tz: tzinfo,
                 calendar: BusinessCalendar | None, max_markings: int, more_risks: Sequence[float] = ()) -> None:
        self.sop = sop
        self.automaton = SopAutomaton(sop, max_markings=max_markings)
        self.limits = list(sop.limits)
        self.arm_on: dict[str, list[int]] = {}
        self.stop_on: dict[str, list[int]] = {}
        for i, lim in enumerate(self.limits):
            self.arm_on.setdefault(lim.since, []).append(i)
            self.stop_on.setdefault(lim.step, []).append(i)
        self.close_steps = frozenset(sop.role_steps("close"))
        self.mapping = sop.activity_map()
        self.at_risk = at_risk
        self.more_risks = tuple(more_risks)
        self.tz = tz
        self.calendar = calendar
        self._timers = timers
        self._tickets: dict[str, _Progress] = {}

    def track(self, ticket: str, phase: str | None) -> None:
        """Start watching a ticket (at its first event)."""
        self._tickets[ticket] = _Progress(phase, self.automaton.initial, set(), {})

    def running_clocks(self, ticket: str) -> dict[int, int]:
        """The ticket's running SLA clocks: limit index (in :attr:`limits`) -> due time (µs); {} if unknown."""
        progress = self._tickets.get(ticket)
        return {} if progress is None else {li: clock.due_us for li, clock in progress.clocks.items()}

    def ticket_opened(self, ticket: str, t_us: int) -> None:
        """The ticket was opened at ``t_us``: start the clocks that run from the opening."""
        progress = self._tickets[ticket]
        for li in self.arm_on.get("opened", ()):
            if li not in progress.clocks:
                self._arm(progress, ticket, li, t_us)

    def step_recorded(self, event: StreamEvent, activity: str) -> list[Alert]:
        """A step of the ticket was recorded: its conformance alerts; clocks stopped and started."""
        progress = self._tickets[event.ticket]
        step = self.mapping.get(activity)
        alerts = self._conformance(progress, event, activity, step)
        if step is not None:
            clocks = progress.clocks
            for li in self.stop_on.get(step, ()):
                clocks.pop(li, None)
            if step in self.close_steps:
                clocks.clear()
            for li in self.arm_on.get(step, ()):
                self._arm(progress, event.ticket, li, event.time_us)
        return alerts

    def fire(self, due_us: int, ticket: str, limit: int, gen: int, kind: str) -> Alert | None:
        """A timer of this monitor fell due: its alert, or None when its clock has stopped since."""
        progress = self._tickets[ticket]
        clock = progress.clocks.get(limit)
        if clock is None or clock.gen != gen:
            return None
        lim = self.limits[limit]
        since = lim.since
        if lim.business_hours and self.calendar is not None:
            since += " (business hours)"
        when = EPOCH + due_us * _US
        if kind == "breach":
            detail = (f"{lim.step} not done within {_fmt_duration(lim.within)} after {since} "
                      f"(due {_short(when, self.tz)})")
            return Alert(when, ticket, kind, lim.step, detail, self.sop.id, None, None, progress.phase)
        more = kind != "at_risk"  # "at_risk:<i>": the i-th of more_risks
        share = self.more_risks[int(kind[8:])] if more else self.at_risk
        assert share is not None  # an at_risk timer is set only with a share
        detail = (f"{lim.step} still missing at {round(share * 100)}% of its "
                  f"{_fmt_duration(lim.within)} limit after {since} "
                  f"(due {_short(EPOCH + clock.due_us * _US, self.tz)})")
        if more:
            return RiskAlert(when, ticket, "at_risk", lim.step, detail, self.sop.id, None, None, progress.phase,
                             share)
        return Alert(when, ticket, kind, lim.step, detail, self.sop.id, None, None, progress.phase)

    def _arm(self, progress: _Progress, ticket: str, li: int, start: int) -> None:
        lim = self.limits[li]
        within = lim.within // _US
        gen = self._timers.next_seq  # unique: stale timers of a cancelled or restarted clock never match
        business = lim.business_hours and self.calendar is not None

        def at(share: float) -> int:
            if business:
                return to_us(business_deadline(self.calendar, EPOCH + start * _US,  # type: ignore[arg-type]
                                               lim.within.total_seconds() * share))
            return start + int(within * share)

        due = at(1.0) if business else start + within
        progress.clocks[li] = _Clock(gen, due)
        if self.at_risk is not None:
            self._timers.set(at(self.at_risk), self, ticket, li, gen, "at_risk")
        self._timers.set(due, self, ticket, li, gen, "breach")
        for i, share in enumerate(self.more_risks):
            self._timers.set(at(share), self, ticket, li, gen, f"at_risk:{i}")

    def _conformance(self, progress: _Progress, ev: StreamEvent, activity: str, step: str | None) -> list[Alert]:
        when = ev.time
        sop_id = self.sop.id
        if step is None:
            return [Alert(when, ev.ticket, "extra", activity, f"'{activity}' is not a step of SOP '{sop_id}'",
                          sop_id, ev.event_id, ev.actor, progress.phase)]
        out = self.automaton.advance(progress.state, step, seen_before=step in progress.seen)
        progress.seen.add(step)
        progress.state = out.state
        if out.kind == "ok":
            return []
        if out.kind == "extra":
            detail = f"{step} is not part of the flow of SOP '{sop_id}'"
            return [Alert(when, ev.ticket, "extra", step, detail, sop_id, ev.event_id, ev.actor, progress.phase)]
        if out.kind == "skipped":
            return [Alert(when, ev.ticket, "skipped", s, f"{step} recorded without {s} before it", sop_id,
                          ev.event_id, ev.actor, progress.phase) for s in out.skipped]
        if out.kind == "repeated":
            detail = f"{step} again, after the flow had moved past it (rework)"
        else:
            detail = f"{step} recorded where the flow no longer allows it"
        return [Alert(when, ev.ticket, out.kind, step, detail, sop_id, ev.event_id, ev.actor, progress.phase)]


__all__ = [
    "ALERT_KINDS",
    "AT_RISK",
    "Alert",
    "RiskAlert",
    "SopMonitor",
    "TimerQueue",
    "business_deadline",
]
