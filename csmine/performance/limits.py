"""The SOP's time limits checked on every ticket, and how often each one is breached.

:func:`check_limits` gives one row per ticket and applicable limit (the rules are
in :mod:`csmine.performance.clocks`); :func:`limit_breaches` sums those rows up per
limit for the bottleneck report.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from csmine.mining.encoding import ACTIVITY, CASE_ID, START_TS, TIMESTAMP
from csmine.performance.clocks import customer_pauses, limit_rows
from csmine.performance.kpi import analyse_tickets, closing_status
from csmine.performance.preparation import prepare, reusing

if TYPE_CHECKING:
    import pandas as pd

    from process_models import SOP

    from csmine.eventlog.lifecycle import ClosingRule
    from csmine.performance.business_calendar import BusinessCalendar


def check_limits(
    df: pd.DataFrame,
    sop: SOP,
    *,
    calendar: BusinessCalendar | None = None,
    case_id_key: str = CASE_ID,
    activity_key: str = ACTIVITY,
    timestamp_key: str = TIMESTAMP,
    start_timestamp_key: str | None = START_TS,
    closing: ClosingRule | None = None,
) -> pd.DataFrame:
    """Evaluate the SOP's time limits on every ticket (the rules: :mod:`csmine.performance.clocks`).

    A limit whose step never occurs in ``df`` is left out (its clock could only run
    out on open tickets: the log does not use that step). Which tickets are still
    open comes from :func:`csmine.eventlog.lifecycle.ticket_status` with ``closing``.

    Returns:
        One row per ticket and applicable limit: ``ticket``, ``step``, ``since``,
        ``within_s`` (the limit), ``business_hours`` (clock in business time),
        ``start_at`` (clock start), ``at`` (first occurrence of the step, NaT if it
        has not happened), ``elapsed_s`` (clock time, pauses excluded),
        ``breached`` (bool) and ``overdue`` (breached without the step having happened).
    """
    prep = prepare(df, sop, case_id_key=case_id_key, activity_key=activity_key,
                   timestamp_key=timestamp_key, start_timestamp_key=start_timestamp_key)
    if reusing():  # the per-ticket analysis holds the same frame; share it
        return analyse_tickets(prep, sop, calendar, closing=closing)[1]
    return limit_rows(prep, sop, calendar, customer_pauses(prep), closing_status(prep, sop, closing).closed)



@dataclass(frozen=True, slots=True)
class LimitBreaches:
    """How often one SOP time limit is breached.

    Attributes:
        step / since / within_s / business_hours: the limit.
        tickets: tickets the limit applied to (step happened, or overdue).
        breached: tickets over the limit (``overdue`` included).
        overdue: open tickets whose step has not happened and whose clock has run out.
        share: ``breached / tickets`` (None when it applied to none).
        median_elapsed_s / p90_elapsed_s: clock time to the step.
    """

    step: str
    since: str
    within_s: float
    business_hours: bool
    tickets: int
    breached: int
    overdue: int
    share: float | None
    median_elapsed_s: float | None
    p90_elapsed_s: float | None


def limit_breaches(limits: pd.DataFrame, sop: SOP | None,
                   calendar: BusinessCalendar | None) -> tuple[LimitBreaches, ...]:
    """Each of the SOP's limits, in its order, summed up over the rows of :func:`check_limits`."""
    if sop is None:
        return ()
    out = []
    groups = dict(iter(limits.groupby(["step", "since"], sort=False))) if len(limits) else {}
    for limit in sop.limits:
        part = groups.get((limit.step, limit.since))
        if part is None or len(part) == 0:
            out.append(LimitBreaches(limit.step, limit.since, limit.within.total_seconds(),
                                     bool(limit.business_hours or calendar is not None), 0, 0, 0,
                                     None, None, None))
            continue
        el = part["elapsed_s"].dropna()
        out.append(LimitBreaches(
            step=limit.step, since=limit.since, within_s=float(part["within_s"].iloc[0]),
            business_hours=bool(part["business_hours"].iloc[0]), tickets=len(part),
            breached=int(part["breached"].sum()), overdue=int(part["overdue"].sum()),
            share=float(part["breached"].mean()),
            median_elapsed_s=float(el.median()) if len(el) else None,
            p90_elapsed_s=float(np.quantile(el, 0.9)) if len(el) else None,
        ))
    return tuple(out)
