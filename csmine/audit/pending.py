"""When the steps an open ticket still expects fall due under the SOP's time limits.

:func:`pending_step` takes a step the SOP expects next (from the ticket's prefix
alignment, :func:`csmine.conformance.deviations.ticket_alignment`) and runs the
limit's clock on the ticket's effective steps: from the opening or the latest
``since`` step, on the business calendar where the limit says so, paused while
waiting on the customer. The due time is where that clock reaches the limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from process_models import SOP

    from csmine.performance.business_calendar import BusinessCalendar


@dataclass(frozen=True, slots=True)
class TracePending:
    """A step the SOP expects next from the open ticket, and when it falls due.

    Attributes:
        step: the SOP step.  label: its display label.
        required: every way to finish the SOP from here goes through it (else it is
            one option among several).
        since: the limit's clock anchor (``"opened"`` or a step), None without a limit.
        within_s: the limit in seconds, None without a limit.
        business_hours: the clock counts business time only.
        start_at: when the clock started (None: no limit, or the anchor step has not
            happened yet).
        due_at: when the step falls due: ``start_at`` plus ``within`` on the clock
            (business calendar where the limit says so, customer waits paused);
            None when no limit applies.
        overdue: the clock had run past the limit at the end of the log.
        note: why no due time applies, when none does.
    """

    step: str
    label: str
    required: bool
    since: str | None = None
    within_s: float | None = None
    business_hours: bool = False
    start_at: datetime | None = None
    due_at: datetime | None = None
    overdue: bool = False
    note: str | None = None


def pending_step(pending: Any, sop: SOP, opened_at: datetime, live: list[dict[str, Any]], end: datetime,
                 calendar: BusinessCalendar | None) -> TracePending:
    """When a pending step falls due under its SOP time limit, and whether it is overdue at ``end``.

    The limit's clock (as :func:`csmine.performance.limits.check_limits` runs it): from the opening or
    the latest event of the ``since`` step, business time where the limit says so (the
    given calendar, else the default one), paused from each customer wait (the SOP's
    ``waiting`` role) to the next event (to ``end`` when the wait is the last event);
    the limit applies to the step's first occurrence only.

    Args:
        pending: the step the SOP expects next (``step``, ``label``, ``required``).
        sop: the SOP whose limit applies.
        opened_at: when the ticket was opened.
        live: the ticket's effective steps in order (dicts with ``step``,
            ``occurred_at`` and ``started_at``).
        end: the end of the log (for ``overdue``).
        calendar: business calendar (None: the default one for business-hours limits).
    """
    from csmine.performance.business_calendar import BusinessCalendar

    limit = next((lim for lim in sop.limits if lim.step == pending.step), None)
    base = TracePending(step=pending.step, label=pending.label, required=pending.required)
    if limit is None:
        return base
    within = limit.within.total_seconds()
    cal = calendar if calendar is not None else (BusinessCalendar() if limit.business_hours else None)
    fields = {"since": limit.since, "within_s": within, "business_hours": cal is not None}
    if any(s["step"] == limit.step for s in live):
        return TracePending(**{**_fields(base), **fields,
                               "note": f"the limit applies to the first {limit.step}, already done"})
    if limit.since == "opened":
        start = opened_at
    else:
        before = [s for s in live if s["step"] == limit.since]
        if not before:
            return TracePending(**{**_fields(base), **fields,
                                   "note": f"the clock starts at {limit.since}, not done yet"})
        start = before[-1]["occurred_at"]
    waiting = set(sop.roles.get("waiting", ()))
    pauses = []
    for s, nxt in zip(live, live[1:], strict=False):
        if s["step"] in waiting:
            pauses.append((s["started_at"] or s["occurred_at"], nxt["started_at"] or nxt["occurred_at"]))
    if live and live[-1]["step"] in waiting:  # still waiting on the customer at the end of the log
        pauses.append((live[-1]["started_at"] or live[-1]["occurred_at"], end))

    def clock(t: datetime) -> float:
        """Clock seconds from ``start`` to ``t``, pauses excluded."""
        def span(a: datetime, b: datetime) -> float:
            if b <= a:
                return 0.0
            return float(cal.business_seconds(a, b)) if cal is not None else (b - a).total_seconds()

        return span(start, t) - sum(span(max(a, start), min(b, t)) for a, b in pauses)

    due = _when_clock_reaches(clock, start, within, exact=cal is None and not pauses)
    overdue = clock(end) > within + 1e-9
    return TracePending(**{**_fields(base), **fields, "start_at": start, "due_at": due, "overdue": overdue})


def _fields(p: TracePending) -> dict[str, Any]:
    return {k: getattr(p, k) for k in TracePending.__dataclass_fields__}


def _when_clock_reaches(clock: Any, start: datetime, within: float, *, exact: bool) -> datetime | None:
    """The earliest time at which ``clock`` (non-decreasing from 0 at ``start``) reaches ``within``.

    Found by bisection to the second (business calendars and pauses stretch the wall
    clock); None if it is not reached within about a century.
    """
    import math
    from datetime import timedelta

    if exact:
        return start + timedelta(seconds=within)
    span = max(within, 3600.0)
    for _ in range(20):
        if clock(start + timedelta(seconds=span)) >= within:
            break
        span *= 2
    else:
        return None
    lo_s, hi_s = 0.0, span
    while hi_s - lo_s > 1e-3:
        mid = (lo_s + hi_s) / 2
        if clock(start + timedelta(seconds=mid)) >= within:
            hi_s = mid
        else:
            lo_s = mid
    return start + timedelta(seconds=math.ceil(hi_s - 1e-3))


__all__ = [
    "TracePending",
    "pending_step",
]
