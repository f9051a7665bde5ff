"""The Replayer: events, one at a time or as a whole stream, through the monitors of one or more SOPs.

A :class:`Replayer` holds a :class:`csmine.monitoring.monitors.SopMonitor` per SOP and
the timers they share. :meth:`Replayer.feed` takes the next event of a
business-time stream (a replay of the store, or a live feed) and returns what fires
up to and at it, in firing order: the deadlines that fell due before it, then the
event's own conformance alerts. Timers that fall due at the same instant fire in
the order they were set. :meth:`Replayer.advance` lets a live clock fire the
deadlines that passed without an event; :meth:`Replayer.run` replays a whole stream.

The replay clock is the stream's business time: deadlines are evaluated before each
event and a replay ends at the last event (a deadline after it has not passed yet).
The same events give the same alerts, in the same order, on every run. When the
clock enters a new business day (in the replayer's time zone) a :class:`DayStarted`
mark comes first.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING

from event_store.readmodel.projection import _US, EPOCH

from csmine.errors import ReplayError
from csmine.monitoring.automaton import MAX_MARKINGS
from csmine.monitoring.monitors import AT_RISK, Alert, SopMonitor, TimerQueue
from csmine.monitoring.stream import StreamEvent, to_us

if TYPE_CHECKING:
    from process_models import SOP

    from csmine.performance.business_calendar import BusinessCalendar


@dataclass(frozen=True, slots=True)
class DayStarted:
    """The replay clock entered a new business day (in the replay's time zone)."""

    day: date


class _Days:
    """The business day the replay clock is in, and the mark when it enters another."""

    def __init__(self, tz: tzinfo) -> None:
        self.tz = tz
        self.start_us = 0
        self.end_us = -1  # [start, end) of the current day; empty before the first event

    def mark(self, t_us: int) -> DayStarted | None:
        if self.start_us <= t_us < self.end_us:
            return None
        local = (EPOCH + t_us * _US).astimezone(self.tz)
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        self.start_us = to_us(midnight)
        self.end_us = to_us((midnight.replace(tzinfo=None) + timedelta(days=1)).replace(tzinfo=self.tz))
        return DayStarted(local.date())


class Replayer:
    """Feeds a business-time stream through conformance and SLA monitors for one or
    more SOPs and gives :class:`~csmine.monitoring.monitors.Alert` (and
    :class:`DayStarted`) items in firing order.

    Args:
        sops: the SOPs to monitor (the same events go through each).
        at_risk: share of a limit after which a missing step raises ``at_risk``
            (0 < at_risk < 1; None disables the alert).
        tz: time zone of business days for :class:`DayStarted` marks.
        calendar: business calendar for limits counted in business hours
            (``business_hours = true`` in the SOP); None counts every limit in
            wall-clock time.
        max_markings: bound on each net's reachability graph.
        more_risks: further shares with an ``at_risk`` alert each
            (:class:`~csmine.monitoring.monitors.RiskAlert`, carrying its share).

    ``events`` (steps fed), ``tickets`` (tickets seen), ``first`` and ``last``
    (business times of the first and latest event) describe what was fed so far.
    """

    def __init__(self, sops: Sequence[SOP], *, at_risk: float | None = AT_RISK, tz: tzinfo = UTC,
                 calendar: BusinessCalendar | None = None, max_markings: int = MAX_MARKINGS,
                 more_risks: Sequence[float] = ()) -> None:
        for share in (at_risk, *more_risks):
            if share is not None and not 0 < share < 1:
                raise ReplayError(f"at-risk share must be between 0 and 1 (exclusive), got {share}")
        self.at_risk = at_risk
        self.tz = tz
        self.calendar = calendar
        self._timers = TimerQueue()
        self.monitors = [SopMonitor(s, self._timers, at_risk=at_risk, tz=tz, calendar=calendar,
                                    max_markings=max_markings, more_risks=more_risks) for s in sops]
        self._days = _Days(tz)
        self._seen: set[str] = set()
        self._first_us: int | None = None
        self._last_us: int | None = None
        self.events = 0
        self.tickets = 0

    @property
    def first(self) -> datetime | None:
        """Business time of the first event fed (None before any)."""
        return None if self._first_us is None else EPOCH + self._first_us * _US

    @property
    def last(self) -> datetime | None:
        """Business time of the latest event fed (None before any)."""
        return None if self._last_us is None else EPOCH + self._last_us * _US

    def feed(self, event: StreamEvent) -> list[Alert | DayStarted]:
        """Take the next event (in business-time order) and return what fires up to
        and at it: deadlines due before it, a day mark, then the event's own alerts."""
        t_us = event.time_us
        out = self._fire_due(t_us) if self._timers.due_before(t_us) else []
        mark = self._days.mark(t_us)
        if mark:
            out.append(mark)
        if self._first_us is None:
            self._first_us = t_us
        self._last_us = t_us
        if event.ticket not in self._seen:
            self._seen.add(event.ticket)
            self.tickets += 1
            for monitor in self.monitors:
                monitor.track(event.ticket, event.phase)
        if event.kind == "opened":
            for monitor in self.monitors:
                monitor.ticket_opened(event.ticket, t_us)
            return out
        self.events += 1
        activity = event.activity or ""
        for monitor in self.monitors:
            out.extend(monitor.step_recorded(event, activity))
        return out

    def advance(self, now: datetime) -> list[Alert | DayStarted]:
        """Move the clock to ``now`` without an event (a live feed's clock tick): the
        deadlines that passed before ``now``, with their day marks."""
        t_us = to_us(now)
        return self._fire_due(t_us) if self._timers.due_before(t_us) else []

    def next_due_us(self) -> int | None:
        """When the next deadline falls due (microseconds; a cancelled one may come first), None if none."""
        return self._timers.next_due()

    def run(self, stream: Iterable[StreamEvent]) -> Iterator[Alert | DayStarted]:
        """Replay the stream; yields alerts and day marks as they happen."""
        for event in stream:
            yield from self.feed(event)

    def _fire_due(self, before_us: int) -> list[Alert | DayStarted]:
        out: list[Alert | DayStarted] = []
        while self._timers.due_before(before_us):
            due, _, monitor, ticket, limit, gen, kind = self._timers.pop()
            alert = monitor.fire(due, ticket, limit, gen, kind)
            if alert is None:
                continue
            mark = self._days.mark(due)
            if mark:
                out.append(mark)
            out.append(alert)
        return out


__all__ = [
    "DayStarted",
    "Replayer",
]
