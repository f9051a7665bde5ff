"""Replay recorded events through the SOP monitors, as the alerts would have fired.

:func:`replay` feeds a whole stream (:func:`csmine.monitoring.stream.stream_events`
or :func:`csmine.monitoring.stream.events_from_frame`) through a
:class:`csmine.monitoring.replayer.Replayer` for an SOP, and optionally a revised SOP
on the same events, and collects the alerts, the summaries and the difference
between the two SOPs (:mod:`csmine.monitoring.summary`). See
:mod:`csmine.monitoring.monitors` for what the monitors check and
:mod:`csmine.monitoring.replayer` for the replay clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

from csmine.errors import ReplayError
from csmine.monitoring.monitors import AT_RISK, Alert
from csmine.monitoring.replayer import DayStarted, Replayer
from csmine.monitoring.summary import ReplayResult, diff_alerts, summarise_alerts

if TYPE_CHECKING:
    from process_models import SOP

    from csmine.monitoring.stream import StreamEvent
    from csmine.performance.business_calendar import BusinessCalendar


def replay(stream: Iterable[StreamEvent], sop: SOP, *, compare_sop: SOP | None = None,
           at_risk: float | None = AT_RISK, calendar: BusinessCalendar | None = None) -> ReplayResult:
    """Replay a whole stream and collect the result (alerts, summaries, SOP difference).

    Args:
        stream: from :func:`~csmine.monitoring.stream.stream_events` or
            :func:`~csmine.monitoring.stream.events_from_frame`.
        sop: the SOP to monitor (A).
        compare_sop: a revised SOP (B) to run the same events against.
        at_risk: share of a limit for ``at_risk`` alerts (None: none).
        calendar: business calendar for limits in business hours (None: wall clock).
    """
    sops = [sop] if compare_sop is None else [sop, compare_sop]
    if compare_sop is not None and compare_sop.id == sop.id:
        raise ReplayError(f"--compare-sop names the same SOP as --sop ({sop.id!r}): choose a revised SOP")
    replayer = Replayer(sops, at_risk=at_risk, calendar=calendar)
    alerts = tuple(a for a in replayer.run(stream) if isinstance(a, Alert))
    return replay_result(replayer, alerts, [s.id for s in sops])


def replay_result(replayer: Replayer, alerts: Sequence[Alert], sops: Sequence[str]) -> ReplayResult:
    """What a replay fed and fired: the replayer's counts, the alerts, a summary per SOP
    and, for two SOPs (ids ``sops``, A first), the difference between them."""
    alerts = tuple(alerts)
    return ReplayResult(
        sops=tuple(sops),
        events=replayer.events,
        tickets=replayer.tickets,
        first=replayer.first.isoformat() if replayer.first else None,
        last=replayer.last.isoformat() if replayer.last else None,
        alerts=alerts,
        summaries=tuple(summarise_alerts(alerts, s) for s in sops),
        difference=diff_alerts(alerts, sops[0], sops[1]) if len(sops) == 2 else None,
    )


#: Longest pause of a paced replay between two alerts (quiet stretches are shortened).
MAX_SLEEP_S = 10.0


@dataclass(frozen=True, slots=True)
class PacedAlert:
    """An alert as a live replay shows it.

    Attributes:
        alert: the alert.
        pause_s: seconds to wait before showing it (business time between alerts
            divided by the speed, at most :data:`MAX_SLEEP_S`; 0 without a speed).
        day: the business day whose header comes before it (its first alert), else None.
        later_day: ``day`` is not the first day shown (an interactive replay waits there).
    """

    alert: Alert
    pause_s: float
    day: date | None
    later_day: bool


def pace_alerts(items: Iterable[Alert | DayStarted], speed: float | None) -> Iterator[PacedAlert]:
    """The replayer's alerts with the pauses and day headers of a live replay at ``speed``
    (business time divided by it; None: no pauses)."""
    shown_day = pending_day = None
    last_time: datetime | None = None
    for item in items:
        if isinstance(item, DayStarted):
            pending_day = item.day
            continue
        pause = 0.0
        if speed is not None and last_time is not None:
            gap = (item.time - last_time).total_seconds() / speed
            if gap > 0:
                pause = min(gap, MAX_SLEEP_S)
        last_time = item.time
        day, later = None, False
        if pending_day is not None and pending_day != shown_day:
            day, later = pending_day, shown_day is not None
            shown_day = pending_day
        yield PacedAlert(item, pause, day, later)


__all__ = ["MAX_SLEEP_S", "PacedAlert", "pace_alerts", "replay", "replay_result"]
