"""SLA clocks, and the SOP's time limits run on them for every ticket.

A clock runs from its start to its stop event and **pauses** while the ticket waits
on the customer: from an event of the SOP's ``waiting`` role (its start, else its
time) until the next event of the ticket starts (its start, else its time). With a
business calendar only business time counts; a limit marked ``business_hours``
uses the calendar given, else Mon-Fri 08:00-20:00 UTC.

**Time limits** use first-occurrence semantics: the first event of the step is
measured, from the ticket's opening (``since = "opened"``) or from the latest event
of the ``since`` step before it. A limit whose step has not happened is breached
(``overdue``) when the ticket is still open and the clock has already run past the
limit at the end of the log; if the ticket was closed without the step, the limit
is not applicable (the skipped step is a conformance finding). :func:`limit_rows`
evaluates them; :func:`csmine.performance.limits.check_limits` is the public entry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from csmine.mining.time_split import seconds_between
from csmine.performance.business_calendar import BusinessCalendar

if TYPE_CHECKING:
    from process_models import SOP
    from process_models.model import TimeLimit

    from csmine.mining.encoding import EncodedLog
    from csmine.performance.preparation import Prepared

#: The columns of :func:`limit_rows`, in order.
LIMIT_COLUMNS = ("ticket", "step", "since", "within_s", "business_hours", "start_at", "at",
                 "elapsed_s", "breached", "overdue")


def customer_pauses(prep: Prepared, last_until: float | None = None) -> pd.DataFrame:
    """Customer-wait intervals (SOP waiting role): ticket code, begin, end (epoch s).

    A wait is a ticket's last event has no next event: it ends at its own time, or with
    ``last_until`` (the end of the log, for the clocks of open tickets) then: the
    ticket is still waiting on the customer.
    """
    mask = prep.roles.get("waiting")
    if mask is None or not mask.any():
        return pd.DataFrame({"c": np.array([], dtype=np.int64), "ws": np.array([]), "we": np.array([])})
    log = prep.log
    arrival = log.arrival()
    idx = np.flatnonzero(mask)
    nxt = np.minimum(idx + 1, log.n - 1)
    end = np.where(log.last[idx], log.ts[idx] if last_until is None else last_until, arrival[nxt])
    return pd.DataFrame({"c": log.case[idx], "ws": arrival[idx], "we": np.maximum(end, arrival[idx])})


def clock_seconds(case: np.ndarray, a: np.ndarray, b: np.ndarray, pauses: pd.DataFrame,
                  calendar: BusinessCalendar | None) -> np.ndarray:
    """Seconds from ``a`` to ``b`` per row, minus the ticket's pauses inside; NaN if either is NaN."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    out = seconds_between(a, b, calendar)
    if len(pauses) == 0 or len(a) == 0:
        return out
    rows = pd.DataFrame({"r": np.arange(len(a)), "c": case, "a": a, "b": b})
    rows = rows[np.isfinite(rows["a"]) & np.isfinite(rows["b"])]
    m = rows.merge(pauses, on="c", how="inner")
    lo = np.maximum(m["a"].to_numpy(), m["ws"].to_numpy())
    hi = np.minimum(m["b"].to_numpy(), m["we"].to_numpy())
    keep = hi > lo
    if not keep.any():
        return out
    overlap = seconds_between(lo[keep], hi[keep], calendar)
    paused = pd.Series(overlap).groupby(m["r"].to_numpy()[keep]).sum()
    out[paused.index.to_numpy()] -= paused.to_numpy()
    return out


def first_positions(mask: np.ndarray, log: EncodedLog, last: bool = False) -> np.ndarray:
    """Per ticket code, position of the first (or last) event where ``mask`` holds; -1 if none."""
    n_cases = len(log.cases)
    out = np.full(n_cases, -1, dtype=np.int64)
    pos = np.flatnonzero(mask)
    if len(pos) == 0:
        return out
    cases = log.case[pos]
    if last:
        uniq, idx = np.unique(cases[::-1], return_index=True)
        out[uniq] = pos[::-1][idx]
    else:
        uniq, idx = np.unique(cases, return_index=True)
        out[uniq] = pos[idx]
    return out


def latest_before(mask: np.ndarray, log: EncodedLog, positions: np.ndarray) -> np.ndarray:
    """For each position, the latest earlier position in the same ticket where ``mask`` holds (-1 if none)."""
    cand = np.flatnonzero(mask)
    if len(cand) == 0 or len(positions) == 0:
        return np.full(len(positions), -1, dtype=np.int64)
    k = np.searchsorted(cand, positions, side="left") - 1
    found = k >= 0
    q = np.where(found, cand[np.maximum(k, 0)], -1)
    same = found & (log.case[np.maximum(q, 0)] == log.case[positions])
    return np.where(same, q, -1)


def _limit_calendar(business_hours: bool, calendar: BusinessCalendar | None) -> BusinessCalendar | None:
    if calendar is not None:
        return calendar
    return BusinessCalendar() if business_hours else None


def _empty_limits() -> pd.DataFrame:
    return pd.DataFrame({c: [] for c in LIMIT_COLUMNS})


def limit_rows(prep: Prepared, sop: SOP | None, calendar: BusinessCalendar | None,
               pauses: pd.DataFrame, closed: np.ndarray) -> pd.DataFrame:
    """The SOP's time limits on every ticket: the frame :func:`~csmine.performance.limits.check_limits` returns.

    Args:
        prep: the prepared log.  sop: the SOP whose limits apply.
        calendar: the business calendar (None: wall clock, or the default calendar
            for a limit marked ``business_hours``).
        pauses: :func:`customer_pauses` of ``prep``.
        closed: per ticket code, whether the ticket is closed (for ``overdue``).
    """
    if sop is None or not sop.limits:
        return _empty_limits()
    # an open ticket whose last event is a customer wait is still waiting: paused to the end
    waiting = customer_pauses(prep, last_until=prep.as_of) if len(pauses) else pauses
    frames = [_limit_frame(prep, limit, calendar, pauses, waiting, closed) for limit in sop.limits
              if prep.step_mask(limit.step).any()]  # a step the log never uses: see absent_limit_steps
    if not frames:
        return _empty_limits()
    out = pd.concat(frames, ignore_index=True)
    codes = out["code"].to_numpy(dtype=np.int64)
    names = prep.log.cases.astype(str)
    out["ticket"] = names[codes]
    out["start_at"] = pd.to_datetime(out["start"], unit="s", utc=True)
    out["at"] = pd.to_datetime(out["at"], unit="s", utc=True)
    out["breached"] = out["breached"].astype(bool)
    out["overdue"] = out["overdue"].astype(bool)
    # sorted by ticket then step (stably), on ranks of the names: the same order as
    # sorting the strings, without comparing a string per row
    ticket_rank = np.empty(len(names), dtype=np.int64)
    ticket_rank[np.argsort(names, kind="stable")] = np.arange(len(names))
    step_codes, step_names = pd.factorize(out["step"], sort=True)
    order = np.lexsort((np.arange(len(out)), step_codes, ticket_rank[codes]))
    out = out.iloc[order].reset_index(drop=True)
    return out[list(LIMIT_COLUMNS)]


def _limit_frame(prep: Prepared, limit: TimeLimit, calendar: BusinessCalendar | None,
                 pauses: pd.DataFrame, open_pauses: pd.DataFrame, closed: np.ndarray) -> pd.DataFrame:
    """One limit: the tickets whose step happened, and the open ones overdue without it."""
    cal = _limit_calendar(limit.business_hours, calendar)
    within = limit.within.total_seconds()
    target = first_positions(prep.step_mask(limit.step), prep.log)
    has = target >= 0
    both = pd.concat([_limit_met(prep, limit, cal, pauses, target, within),
                      _limit_overdue(prep, limit, cal, open_pauses, np.flatnonzero(~has & ~closed), within)],
                     ignore_index=True)
    both["step"] = limit.step
    both["since"] = limit.since
    both["within_s"] = within
    both["business_hours"] = bool(limit.business_hours or calendar is not None)
    return both


def _limit_met(prep: Prepared, limit: TimeLimit, cal: BusinessCalendar | None, pauses: pd.DataFrame,
               target: np.ndarray, within: float) -> pd.DataFrame:
    """Tickets where the limit's step happened: its clock from the start to the step."""
    log = prep.log
    has = target >= 0
    codes = np.flatnonzero(has)
    tpos = target[has]
    if limit.since == "opened":
        start = prep.opened[codes]
    else:
        spos = latest_before(prep.step_mask(limit.since), log, tpos)
        ok = spos >= 0
        codes, tpos, spos = codes[ok], tpos[ok], spos[ok]
        start = log.ts[spos]
    at = log.ts[tpos]
    elapsed = clock_seconds(codes, start, at, pauses, cal)
    return pd.DataFrame({
        "code": codes, "start": start, "at": at, "elapsed_s": elapsed,
        "breached": elapsed > within + 1e-9, "overdue": False,
    })


def _limit_overdue(prep: Prepared, limit: TimeLimit, cal: BusinessCalendar | None, pauses: pd.DataFrame,
                   missing: np.ndarray, within: float) -> pd.DataFrame:
    """Open tickets without the step (``missing``) whose clock ran out by the end of the log."""
    log = prep.log
    if limit.since == "opened":
        m_start = prep.opened[missing]
    else:
        spos = first_positions(prep.step_mask(limit.since), log, last=True)[missing]
        ok = spos >= 0
        missing, spos = missing[ok], spos[ok]
        m_start = log.ts[spos]
    m_elapsed = clock_seconds(missing, m_start, np.full(len(missing), prep.as_of), pauses, cal)
    late = m_elapsed > within + 1e-9
    return pd.DataFrame({
        "code": missing[late], "start": m_start[late], "at": np.nan, "elapsed_s": m_elapsed[late],
        "breached": True, "overdue": True,
    })
