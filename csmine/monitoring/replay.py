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

from collections.abc import Iterable
from typing import TYPE_CHECKING

from csmine.errors import ReplayError
from csmine.monitoring.monitors import AT_RISK, Alert
from csmine.monitoring.replayer import Replayer
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
    return ReplayResult(
        sops=tuple(s.id for s in sops),
        events=replayer.events,
        tickets=replayer.tickets,
        first=replayer.first.isoformat() if replayer.first else None,
        last=replayer.last.isoformat() if replayer.last else None,
        alerts=alerts,
        summaries=tuple(summarise_alerts(alerts, s.id) for s in sops),
        difference=None if compare_sop is None else diff_alerts(alerts, sop.id, compare_sop.id),
    )


__all__ = ["replay"]
