"""Service KPIs per ticket and their summary against the SOP's targets.

:func:`ticket_kpis` computes one row per ticket (first response, resolution,
first-contact resolution, handling time, reopen, escalation, satisfaction, SOP
time limits, SLA); :func:`summarise_kpis` turns that frame into a
:class:`KpiReport` with each KPI's value, target and whether it is met. Pilot
comparisons bootstrap over the per-ticket frame.

The SOP says which steps play which role (``sop.roles``) and maps the source
system's activity names onto its steps (``sop.aliases``). Every definition is
written out in ``docs/analytics.md``; in short:

* **SLA clocks** (first response, resolution, SOP time limits) run from their
  start to their stop event and **pause** while the ticket waits on the customer:
  from an event of the SOP's ``waiting`` role (its start, else its time) until
  the next event of the ticket starts (its start, else its time). With a business
  calendar only business time counts; a limit marked ``business_hours`` uses the
  calendar given, else Mon-Fri 08:00-20:00 UTC.
* A step "happens" at its completion (``time:timestamp``).
* **Time limits** use first-occurrence semantics: the first event of the step is
  measured, from the ticket's opening (``since = "opened"``) or from the latest
  event of the ``since`` step before it. A limit whose step has not happened is
  breached (``overdue``) when the ticket is still open and the clock has already
  run past the limit at the end of the log; if the ticket was closed without the
  step, the limit is not applicable (the skipped step is a conformance finding).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from csmine.calendar import BusinessCalendar
from csmine.errors import CsmineError
from csmine.lifecycle import ClosingRule, ticket_status
from csmine.mining import (
    ACTIVITY,
    CASE_ID,
    GROUP,
    START_TS,
    TIMESTAMP,
    EncodedLog,
    encode_log,
    epoch_seconds,
    first_line_tickets,
    seconds_between,
    split_time,
    unique_ints,
)

if TYPE_CHECKING:
    from process_models import SOP

#: Share of tickets that must meet a time target for the KPI to count as met,
#: unless the SOP's targets set ``sla_attainment``.
DEFAULT_ATTAINMENT = 0.9

#: Satisfaction bins (points, 0-100), lower bound inclusive.
SATISFACTION_BINS = ((0, 60, "<60"), (60, 70, "60-69"), (70, 80, "70-79"), (80, 90, "80-89"), (90, 101, "90-100"))


#: Column of the person who did an event; handovers and ping-pong fall back to it
#: when no event names a team.
RESOURCE = "org:resource"


class KpiError(CsmineError):
    """KPIs could not be computed on this log."""


def match_activities(pattern: str, activities: Iterable[str], *, option: str = "--first-response") -> np.ndarray:
    """Per activity name: does ``pattern`` match it?

    The same rule as ``--closed-when`` (:class:`csmine.lifecycle.ClosingRule`):
    case-insensitive, the pattern must match the whole name or one of its
    ``/``-separated parts (``Closed`` matches ``Completed/Closed``).

    Raises:
        KpiError: ``pattern`` is not a regular expression.
    """
    try:
        rx = re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise KpiError(f"{option} {pattern!r} is not a regular expression ({exc}); "
                       f"e.g. {option} 'Take in charge ticket'") from None
    return np.array([bool(rx.fullmatch(a)) or any(rx.fullmatch(part.strip()) for part in a.split("/"))
                     for a in map(str, activities)], dtype=bool)


# -- preparation ------------------------------------------------------------------


@dataclass(frozen=True)
class Prepared:
    """A log encoded once, with SOP steps and roles per event (shared building block).

    Attributes:
        log: the encoded log (sorted by ticket, time).
        step: per event, the SOP step of its activity (None when unknown / no SOP).
        roles: role name -> per-event mask (only roles the SOP defines).
        opened: per ticket, opening time (epoch seconds).
        as_of: the end of the log (latest event), epoch seconds.
        teams: per event, who has the ticket for handovers and ping-pong: the team
            (``org:group``), or the agent (``org:resource``) when no event names a
            team (object array, None when missing).
        cases: per-ticket attribute frame (priority, channel, team, phase).
        handover_key: the column ``teams`` comes from (None: neither is known).
        first_response_rule: the ``--first-response`` pattern that replaced the
            SOP's ``first_response`` role (None: the SOP's role, if any).
    """

    log: EncodedLog
    step: np.ndarray
    roles: dict[str, np.ndarray]
    opened: np.ndarray
    as_of: float
    teams: np.ndarray
    cases: pd.DataFrame
    df: pd.DataFrame = field(repr=False)
    handover_key: str | None = None
    first_response_rule: str | None = None


_REUSE: ContextVar[dict[tuple[Any, ...], tuple[Any, ...]] | None] = ContextVar("csmine_kpi_reuse", default=None)


@contextmanager
def reuse_preparation() -> Iterator[None]:
    """Within the block, :func:`prepare` and :func:`analyse_tickets` run once per frame.

    The report asks for KPIs, bottlenecks and limit checks of the same frames; inside
    this block the encoding of a frame and its per-ticket analysis are computed on
    first use and reused (frames handed out are copies). The frames must not be
    changed inside the block.
    """
    token = _REUSE.set({})
    try:
        yield
    finally:
        _REUSE.reset(token)


def prepare(
    df: pd.DataFrame,
    sop: SOP | None,
    *,
    case_id_key: str = CASE_ID,
    activity_key: str = ACTIVITY,
    timestamp_key: str = TIMESTAMP,
    start_timestamp_key: str | None = START_TS,
    group_key: str = GROUP,
    priority_key: str = "case:priority",
    first_response: str | None = None,
) -> Prepared:
    """Encode ``df`` and map its activities onto ``sop``'s steps and roles.

    ``first_response`` (an activity pattern, see :func:`match_activities`) makes the
    first event of a matching activity the first response, instead of the SOP's
    ``first_response`` role (or where there is no SOP).
    """
    args = (case_id_key, activity_key, timestamp_key, start_timestamp_key, group_key, priority_key, first_response)
    memo = _REUSE.get()
    if memo is None:
        return _prepare(df, sop, *args)
    key = ("prepare", id(df), id(sop), *args)
    hit = memo.get(key)
    if hit is None or hit[0] is not df or hit[1] is not sop:
        hit = memo[key] = (df, sop, _prepare(df, sop, *args))
    return hit[2]


def _prepare(df: pd.DataFrame, sop: SOP | None, case_id_key: str, activity_key: str, timestamp_key: str,
             start_timestamp_key: str | None, group_key: str, priority_key: str,
             first_response: str | None = None) -> Prepared:
    if len(df) == 0:
        from csmine.errors import EmptyLogError

        raise EmptyLogError("the event log is empty: no tickets to measure (check the filters)")
    log = encode_log(df, case_id_key=case_id_key, activity_key=activity_key,
                     timestamp_key=timestamp_key, start_timestamp_key=start_timestamp_key)
    if sop is not None:
        mapping = sop.activity_map()
        step_of_code = np.array([mapping.get(str(a)) for a in log.activities], dtype=object)
        step = step_of_code[log.act]
        roles = {
            role: np.isin(step, np.array(steps, dtype=object)) for role, steps in sop.roles.items() if steps
        }
    else:
        step = np.full(log.n, None, dtype=object)
        roles = {}
    if first_response is not None:
        roles["first_response"] = match_activities(first_response, log.activities)[log.act]
    if "case:opened_at" in df.columns:
        opened_ev = epoch_seconds(df["case:opened_at"])[log.order]
    else:
        opened_ev = np.full(log.n, np.nan)
    starts = np.flatnonzero(log.first)
    opened = np.fmin.reduceat(opened_ev, starts)
    first_arrival = np.fmin.reduceat(log.arrival(), starts)
    opened = np.where(np.isnan(opened), first_arrival, opened)
    teams = np.full(log.n, None, dtype=object)
    handover_key = None
    for key in (group_key, RESOURCE):  # teams; a log without teams: its agents
        if key in df.columns:
            values = df[key].to_numpy(dtype=object)[log.order]
            values = np.where(pd.isna(values), None, values)
            if pd.notna(values).any():
                teams, handover_key = values, key
                break
    first_rows = log.order[starts]  # each ticket's first event, as a row of df
    columns: dict[str, np.ndarray] = {}
    for name, col in (("channel", "case:channel"), ("team", "case:team"), ("phase", "case:phase")):
        columns[name] = (df[col].iloc[first_rows].to_numpy(dtype=object) if col in df.columns
                         else np.full(len(starts), None, dtype=object))
    if priority_key in df.columns:
        # the ticket's last known value (an event attribute may change or be missing)
        values = df[priority_key].to_numpy(dtype=object)[log.order]
        known = np.where(pd.notna(values), np.arange(log.n), -1)
        last_known = np.maximum.reduceat(known, starts)
        columns["priority"] = np.where(last_known >= 0, values[np.maximum(last_known, 0)], None)
    else:
        columns["priority"] = np.full(len(starts), None, dtype=object)
    for name, values in columns.items():
        values = np.asarray(values, dtype=object)
        columns[name] = np.where(pd.isna(values), None, values)
    cases = pd.DataFrame({name: pd.Series(columns[name], dtype=object) for name in ("channel", "team", "phase",
                                                                                     "priority")})
    cases.index = pd.Index(log.cases.astype(str), name="ticket")
    return Prepared(log=log, step=step, roles=roles, opened=opened, as_of=float(np.nanmax(log.ts)),
                    teams=teams, cases=cases, df=df, handover_key=handover_key, first_response_rule=first_response)


def waiting_statuses(prep: Prepared, sop: SOP | None) -> np.ndarray:
    """Per event: does it open a waiting status (nobody works on the ticket)?

    With an SOP: its ``waiting`` role (waits for the customer), names that say the
    ticket queues (:data:`csmine.mining.QUEUE_PATTERN`), and -- in status logs --
    names that say it waits (:data:`csmine.mining.WAIT_PATTERN`, e.g. *Wait -
    Vendor*: a waiting status, but not the customer's time) and the statuses of the
    ``resolution`` and ``close`` roles (resolved, waiting to be closed).
    Without an SOP: names matching :data:`csmine.mining.WAIT_PATTERN`.
    """
    import re

    from csmine.mining import QUEUE_PATTERN, WAIT_PATTERN

    log = prep.log
    # start/complete logs with an SOP: an activity is an action ("Tell the wait"),
    # so only queue names and the SOP's waiting role make the time after it waiting
    pattern = re.compile(QUEUE_PATTERN if sop is not None and log.has_start else WAIT_PATTERN)
    by_code = np.array([bool(pattern.search(str(a))) for a in log.activities], dtype=bool)
    mask = by_code[log.act] if log.n else np.zeros(0, dtype=bool)
    if "waiting" in prep.roles:
        mask = mask | prep.roles["waiting"]
    if not log.has_start:
        for role in ("resolution", "close"):
            if role in prep.roles:
                mask = mask | prep.roles[role]
    return np.asarray(mask, dtype=bool)


def _pauses(prep: Prepared) -> pd.DataFrame:
    """Customer-wait intervals (SOP waiting role): ticket code, begin, end (epoch s)."""
    mask = prep.roles.get("waiting")
    if mask is None or not mask.any():
        return pd.DataFrame({"c": np.array([], dtype=np.int64), "ws": np.array([]), "we": np.array([])})
    log = prep.log
    arrival = log.arrival()
    idx = np.flatnonzero(mask)
    nxt = np.minimum(idx + 1, log.n - 1)
    end = np.where(log.last[idx], log.ts[idx], arrival[nxt])
    return pd.DataFrame({"c": log.case[idx], "ws": arrival[idx], "we": np.maximum(end, arrival[idx])})


def _clock(case: np.ndarray, a: np.ndarray, b: np.ndarray, pauses: pd.DataFrame,
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


def _first_pos(mask: np.ndarray, log: EncodedLog, last: bool = False) -> np.ndarray:
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


def _latest_before(mask: np.ndarray, log: EncodedLog, positions: np.ndarray) -> np.ndarray:
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


@dataclass(frozen=True)
class _Status:
    closed: np.ndarray      # per ticket code
    closed_at: np.ndarray   # epoch seconds, NaN when open
    stale: np.ndarray
    known: bool
    rule: str
    stale_after: str | None


def _status(prep: Prepared, sop: SOP | None, closing: ClosingRule | None) -> _Status:
    """Open, closed and stale tickets by :func:`csmine.lifecycle.ticket_status` (the one rule)."""
    log = prep.log
    # codes: the encoded log is sorted by them, as ticket_status needs. Times as naive UTC
    # (a tz-aware column would be turned into a million Timestamp objects) with the end of
    # the log, tz-aware, as the reference for staleness: the same answer, seconds faster.
    events = pd.DataFrame({
        CASE_ID: log.case,
        ACTIVITY: pd.Categorical.from_codes(log.act, categories=pd.Index(log.activities.astype(str))),
        TIMESTAMP: pd.to_datetime(log.ts, unit="s"),
    })
    status = ticket_status(events, sop, closing, as_of=pd.Timestamp(prep.as_of, unit="s", tz="UTC"))
    frame = status.frame
    closed = (frame["status"] == "closed").to_numpy(dtype=bool)
    closed_at = np.where(closed, epoch_seconds(frame["closed_at"]), np.nan)
    summary = status.summary()
    return _Status(closed, closed_at, frame["stale"].to_numpy(dtype=bool), status.known, status.rule,
                   None if summary.get("stale_after") is None else str(summary["stale_after"]))


def _limits(prep: Prepared, sop: SOP | None, calendar: BusinessCalendar | None,
            pauses: pd.DataFrame, closed: np.ndarray) -> pd.DataFrame:
    columns = ["ticket", "step", "since", "within_s", "business_hours", "start_at", "at",
               "elapsed_s", "breached", "overdue"]
    if sop is None or not sop.limits:
        return pd.DataFrame({c: [] for c in columns})
    log = prep.log
    frames = []
    for limit in sop.limits:
        if not (prep.step == limit.step).any():
            continue  # the log never uses the step: see absent_limit_steps
        cal = _limit_calendar(limit.business_hours, calendar)
        within = limit.within.total_seconds()
        target = _first_pos(prep.step == limit.step, log)
        has = target >= 0
        codes = np.flatnonzero(has)
        tpos = target[has]
        if limit.since == "opened":
            start = prep.opened[codes]
        else:
            spos = _latest_before(prep.step == limit.since, log, tpos)
            ok = spos >= 0
            codes, tpos, spos = codes[ok], tpos[ok], spos[ok]
            start = log.ts[spos]
        at = log.ts[tpos]
        elapsed = _clock(codes, start, at, pauses, cal)
        happened = pd.DataFrame({
            "code": codes, "start": start, "at": at, "elapsed_s": elapsed,
            "breached": elapsed > within + 1e-9, "overdue": False,
        })
        # tickets without the step: overdue if still open and the clock has run out
        missing = np.flatnonzero(~has & ~closed)
        if limit.since == "opened":
            m_start = prep.opened[missing]
        else:
            spos = _first_pos(prep.step == limit.since, log, last=True)[missing]
            ok = spos >= 0
            missing, spos = missing[ok], spos[ok]
            m_start = log.ts[spos]
        m_elapsed = _clock(missing, m_start, np.full(len(missing), prep.as_of), pauses, cal)
        late = m_elapsed > within + 1e-9
        pending = pd.DataFrame({
            "code": missing[late], "start": m_start[late], "at": np.nan, "elapsed_s": m_elapsed[late],
            "breached": True, "overdue": True,
        })
        both = pd.concat([happened, pending], ignore_index=True)
        both["step"] = limit.step
        both["since"] = limit.since
        both["within_s"] = within
        both["business_hours"] = bool(limit.business_hours or calendar is not None)
        frames.append(both)
    if not frames:
        return pd.DataFrame({c: [] for c in columns})
    out = pd.concat(frames, ignore_index=True)
    out["ticket"] = log.cases[out["code"].to_numpy(dtype=np.int64)].astype(str)
    out["start_at"] = pd.to_datetime(out["start"], unit="s", utc=True)
    out["at"] = pd.to_datetime(out["at"], unit="s", utc=True)
    out["breached"] = out["breached"].astype(bool)
    out["overdue"] = out["overdue"].astype(bool)
    out = out.sort_values(["ticket", "step"], kind="stable").reset_index(drop=True)
    return out[columns]


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
    """Evaluate the SOP's time limits on every ticket (see the module doc for the rules).

    A limit whose step never occurs in ``df`` is left out (its clock could only run
    out on open tickets: the log does not use that step). Which tickets are still
    open comes from :func:`csmine.lifecycle.ticket_status` with ``closing``.

    Returns:
        One row per ticket and applicable limit: ``ticket``, ``step``, ``since``,
        ``within_s`` (the limit), ``business_hours`` (clock in business time),
        ``start_at`` (clock start), ``at`` (first occurrence of the step, NaT if it
        has not happened), ``elapsed_s`` (clock time, pauses excluded),
        ``breached`` (bool) and ``overdue`` (breached without the step having happened).
    """
    prep = prepare(df, sop, case_id_key=case_id_key, activity_key=activity_key,
                   timestamp_key=timestamp_key, start_timestamp_key=start_timestamp_key)
    if _REUSE.get() is not None:  # the per-ticket analysis holds the same frame; share it
        return analyse_tickets(prep, sop, calendar, closing=closing)[1]
    pauses = _pauses(prep)
    return _limits(prep, sop, calendar, pauses, _status(prep, sop, closing).closed)


# -- per-ticket KPIs ------------------------------------------------------------------


def _bool_col(values: np.ndarray | None, n: int) -> pd.array:
    if values is None:
        return pd.array([pd.NA] * n, dtype="boolean")
    return pd.array(np.asarray(values, dtype=bool), dtype="boolean")


def analyse_tickets(prep: Prepared, sop: SOP | None, calendar: BusinessCalendar | None = None,
                    satisfaction_key: str = "satisfaction", *,
                    closing: ClosingRule | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The per-ticket KPI frame and the limit frame of a prepared log (see :func:`ticket_kpis`)."""
    closing = closing or ClosingRule()
    memo = _REUSE.get()
    if memo is None:
        return _analyse_tickets(prep, sop, calendar, satisfaction_key, closing)
    key = ("analyse", id(prep), id(sop), id(calendar), satisfaction_key, closing)
    hit = memo.get(key)
    if hit is None or hit[0] is not prep or hit[1] is not sop or hit[2] is not calendar:
        hit = memo[key] = (prep, sop, calendar, _analyse_tickets(prep, sop, calendar, satisfaction_key, closing))
    frame, limits = hit[3]
    return frame.copy(), limits.copy()


def absent_roles(prep: Prepared, sop: SOP | None) -> dict[str, tuple[str, ...]]:
    """Roles the SOP (or ``--first-response``) defines whose steps no event of the log maps to.

    A KPI resting on such a role cannot be measured on this log: "0 % resolved"
    would only say that the log's vocabulary has no resolution step.
    """
    out: dict[str, tuple[str, ...]] = {}
    for role, mask in prep.roles.items():
        if not mask.any():
            if role == "first_response" and prep.first_response_rule is not None:
                out[role] = (prep.first_response_rule,)
            elif sop is not None:
                out[role] = tuple(sop.roles.get(role, ()))
    return out


def _repeats(log: EncodedLog) -> np.ndarray:
    """Per ticket: events beyond the first of each activity (0: no activity repeated)."""
    n_cases = len(log.cases)
    if log.n == 0:
        return np.zeros(n_cases, dtype=np.int64)
    pairs = unique_ints(log.case * max(len(log.activities), 1) + log.act)
    distinct = np.bincount(pairs // max(len(log.activities), 1), minlength=n_cases)
    return (np.bincount(log.case, minlength=n_cases) - distinct).astype(np.int64)


def _analyse_tickets(prep: Prepared, sop: SOP | None, calendar: BusinessCalendar | None,
                     satisfaction_key: str, closing: ClosingRule) -> tuple[pd.DataFrame, pd.DataFrame]:
    log = prep.log
    n_cases = len(log.cases)
    roles = prep.roles
    pauses = _pauses(prep)
    case_idx = np.arange(n_cases)
    status = _status(prep, sop, closing)
    closed, closed_at = status.closed, status.closed_at
    last_pos = np.flatnonzero(log.last)
    last_ts = log.ts[last_pos]
    targets = sop.targets if sop is not None else None

    # first response
    fr = roles.get("first_response")
    if fr is not None:
        pos = _first_pos(fr, log)
        at = np.where(pos >= 0, log.ts[np.maximum(pos, 0)], np.nan)
        first_response = _clock(case_idx, prep.opened, at, pauses, calendar)
        first_response = np.where(pos >= 0, np.clip(first_response, 0, None), np.nan)
    else:
        first_response = np.full(n_cases, np.nan)
    fr_target = targets.first_response.total_seconds() if targets and targets.first_response else None
    if fr is not None and fr_target is not None:
        fr_ok = _ok(first_response, fr_target)
    else:
        fr_ok = _bool_col(None, n_cases)

    # resolution
    res = roles.get("resolution")
    if res is not None:
        rpos = _first_pos(res, log, last=True)
        resolved = rpos >= 0
        resolved_at = np.where(resolved, log.ts[np.maximum(rpos, 0)], np.nan)
        resolution = np.where(resolved, np.clip(_clock(case_idx, prep.opened, resolved_at, pauses, calendar), 0, None),
                              np.nan)
    else:
        resolved = None
        resolved_at = np.full(n_cases, np.nan)
        resolution = np.full(n_cases, np.nan)
    res_target = targets.resolution_time.total_seconds() if targets and targets.resolution_time else None
    res_ok = _ok(resolution, res_target) if (res is not None and res_target is not None) else _bool_col(None, n_cases)

    # reopen: the SOP's reopen role, else work restarting (first-response role) after a resolution
    reopen_mask = roles.get("reopen")
    if reopen_mask is None and res is not None and fr is not None:
        first_res = _first_pos(res, log)
        after = np.zeros(log.n, dtype=bool)
        fr_pos = np.flatnonzero(fr)
        fres = first_res[log.case[fr_pos]]
        after[fr_pos[(fres >= 0) & (fr_pos > fres)]] = True
        reopen_mask = after
    reopened = (np.bincount(log.case[reopen_mask], minlength=n_cases) > 0) if reopen_mask is not None else None
    esc = roles.get("escalation")
    escalated = (np.bincount(log.case[esc], minlength=n_cases) > 0) if esc is not None else None
    waiting = roles.get("waiting")
    waited = (np.bincount(log.case[waiting], minlength=n_cases) > 0) if waiting is not None else np.zeros(n_cases, bool)

    # teams: handovers, ping-pong (a team back after another: runs of teams > distinct teams)
    handovers, n_teams = _team_counts(prep)
    has_team = n_teams > 0
    ping_pong = pd.array(np.where(has_team, handovers + 1 > n_teams, False), dtype="boolean")
    ping_pong[~has_team] = pd.NA
    repeats = _repeats(log)
    fl = first_line_tickets(prep.df)
    first_line = fl.tickets.reindex(pd.Index(log.cases.astype(str))).astype("boolean").to_numpy()

    # handling: working time (waiting statuses of every kind excluded);
    # waiting_s: time waiting on the customer (the SOP's waiting role)
    split = split_time(log, waiting_statuses(prep, sop), calendar)
    handling = np.bincount(log.case, weights=split.work_s, minlength=n_cases)
    in_waiting = np.bincount(log.case, weights=split.wait_s, minlength=n_cases)
    if waiting is not None:
        paused = np.clip(seconds_between(pauses["ws"].to_numpy(), pauses["we"].to_numpy(), calendar), 0, None)
        waiting_s = np.bincount(pauses["c"].to_numpy(dtype=np.int64), weights=paused, minlength=n_cases)
    else:
        waiting_s = np.full(n_cases, np.nan)
    throughput = np.clip(seconds_between(prep.opened, last_ts, calendar), 0, None)

    fcr = None
    if resolved is not None:
        fcr = resolved.copy()
        if escalated is not None:
            fcr &= ~escalated
        if reopened is not None:
            fcr &= ~reopened
        fcr &= handovers == 0
        fcr &= ~waited

    satisfaction = _satisfaction(prep, satisfaction_key)
    limits = _limits(prep, sop, calendar, pauses, closed)
    if len(limits):
        codes = pd.Index(log.cases.astype(str))
        breaches = limits.groupby("ticket")["breached"].sum().reindex(codes, fill_value=0).to_numpy()
        checked = limits.groupby("ticket").size().reindex(codes, fill_value=0).to_numpy()
    else:
        breaches = np.zeros(n_cases, dtype=np.int64)
        checked = np.zeros(n_cases, dtype=np.int64)

    sla = _sla(breaches, checked, fr_ok, res_ok)
    to_ts = lambda v: pd.to_datetime(v, unit="s", utc=True)  # noqa: E731
    frame = pd.DataFrame({
        "opened_at": to_ts(prep.opened),
        "first_response_s": first_response,
        "first_response_ok": fr_ok,
        "resolved": _bool_col(resolved, n_cases),
        "resolved_at": to_ts(resolved_at),
        "resolution_s": resolution,
        "resolution_ok": res_ok,
        "fcr": _bool_col(fcr, n_cases),
        "handling_s": handling,
        "waiting_s": waiting_s,
        "throughput_s": throughput,
        "reopened": _bool_col(reopened, n_cases),
        "escalated": _bool_col(escalated, n_cases),
        "satisfaction": satisfaction,
        "breaches": breaches.astype(np.int64),
        "limits_checked": checked.astype(np.int64),
        "sla_met": sla,
        "closed": closed,
        "status": np.where(closed, "closed", "open").astype(object),
        "stale": status.stale,
        "closed_at": to_ts(closed_at),
        "last_event_at": to_ts(last_ts),
        "waiting_status_s": in_waiting,
        "handovers": handovers,
        "teams": n_teams,
        "ping_pong": ping_pong,
        "repeats": repeats,
        "rework": repeats > 0,
        "first_line": pd.array(first_line, dtype="boolean"),
        "events": np.bincount(log.case, minlength=n_cases),
    }, index=pd.Index(log.cases.astype(str), name="ticket"))
    for col in ("priority", "channel", "team", "phase"):
        frame[col] = prep.cases[col].to_numpy(dtype=object)
    frame.attrs["first_line_method"] = fl.method
    frame.attrs["sop"] = sop.id if sop is not None else None
    frame.attrs["calendar"] = calendar.describe() if calendar is not None else None
    frame.attrs["closing_rule"] = status.rule
    frame.attrs["closing_known"] = status.known
    frame.attrs["stale_after"] = status.stale_after
    frame.attrs["as_of"] = pd.Timestamp(prep.as_of, unit="s", tz="UTC").isoformat()
    frame.attrs["absent_roles"] = {k: list(v) for k, v in absent_roles(prep, sop).items()}
    frame.attrs["absent_limit_steps"] = sorted({lim.step for lim in (sop.limits if sop is not None else ())
                                                if not (prep.step == lim.step).any()})
    frame.attrs["handover_key"] = prep.handover_key
    frame.attrs["first_response_rule"] = prep.first_response_rule
    return frame, limits


def _ok(values: np.ndarray, target: float | None) -> pd.array:
    if target is None:
        return _bool_col(None, len(values))
    ok = pd.array(values <= target + 1e-9, dtype="boolean")
    ok[np.isnan(values)] = pd.NA
    return ok


def _sla(breaches: np.ndarray, checked: np.ndarray, fr_ok: pd.array, res_ok: pd.array) -> pd.array:
    known = (checked > 0) | ~pd.isna(fr_ok) | ~pd.isna(res_ok)
    fail = (breaches > 0) | np.asarray(pd.array(fr_ok, dtype="boolean").fillna(True) == False) | \
        np.asarray(pd.array(res_ok, dtype="boolean").fillna(True) == False)  # noqa: E712
    out = pd.array(~fail, dtype="boolean")
    out[~np.asarray(known, dtype=bool)] = pd.NA
    return out


def _team_counts(prep: Prepared) -> tuple[np.ndarray, np.ndarray]:
    log = prep.log
    n_cases = len(log.cases)
    has = pd.notna(prep.teams)
    idx = np.flatnonzero(has)
    if len(idx) == 0:
        return np.zeros(n_cases, dtype=np.int64), np.zeros(n_cases, dtype=np.int64)
    teams = pd.factorize(pd.Series(prep.teams[idx], dtype=object))[0]
    cases = log.case[idx]
    change = np.zeros(len(idx), dtype=bool)
    change[1:] = (cases[1:] == cases[:-1]) & (teams[1:] != teams[:-1])
    handovers = np.bincount(cases[change], minlength=n_cases)
    distinct = pd.DataFrame({"c": cases, "t": teams}).drop_duplicates()
    n_teams = np.bincount(distinct["c"].to_numpy(), minlength=n_cases)
    return handovers.astype(np.int64), n_teams.astype(np.int64)


def _satisfaction(prep: Prepared, key: str) -> np.ndarray:
    log = prep.log
    n_cases = len(log.cases)
    if key not in prep.df.columns:
        return np.full(n_cases, np.nan)
    values = pd.to_numeric(pd.Series(prep.df[key].to_numpy(dtype=object)[log.order]), errors="coerce").to_numpy(
        dtype=float)
    callback = prep.roles.get("callback")
    if callback is not None and np.isfinite(values[callback]).any():
        values = np.where(callback, values, np.nan)
    s = pd.Series(values).groupby(log.case).last()
    return s.reindex(range(n_cases)).to_numpy(dtype=float)


def ticket_kpis(
    df: pd.DataFrame,
    sop: SOP | None,
    *,
    calendar: BusinessCalendar | None = None,
    case_id_key: str = CASE_ID,
    activity_key: str = ACTIVITY,
    timestamp_key: str = TIMESTAMP,
    start_timestamp_key: str | None = START_TS,
    group_key: str = GROUP,
    priority_key: str = "case:priority",
    satisfaction_key: str = "satisfaction",
    closing: ClosingRule | None = None,
    first_response: str | None = None,
) -> pd.DataFrame:
    """Service KPIs of every ticket.

    Args:
        df: event log frame (see :mod:`csmine.eventlog`); free attribute
            ``satisfaction`` (0-100) is read when present.
        sop: the SOP giving roles, targets, limits and aliases; None computes only
            what needs no SOP (throughput, handling, handovers, first line,
            satisfaction) and leaves the rest NA.
        calendar: count business time only (None: wall clock).
        priority_key: column giving the SLA priority (e.g. ``"impact"`` for BPIC 2013;
            an event attribute takes the ticket's last value).
        satisfaction_key: column with the satisfaction score.
        closing: ``--closed-when`` and the stale horizon, on top of the SOP's close
            role and ``closed_when`` (:func:`csmine.lifecycle.ticket_status` decides
            which tickets are open; without any rule every ticket counts as ended).
        first_response: an activity pattern (:func:`match_activities`) whose first
            event is the first response, instead of the SOP's ``first_response``
            role -- the SOP-less rule for first response.

    Returns:
        One row per ticket (index ``ticket``) with columns

        * ``opened_at``, ``resolved_at``, ``closed_at``, ``last_event_at`` (UTC);
        * ``first_response_s``: clock seconds from opening to the first event of
          the ``first_response`` role (NaN if none); ``first_response_ok``: within
          ``targets.first_response`` (NA if unknown);
        * ``resolved``: has an event of the ``resolution`` role; ``resolution_s``:
          clock seconds to the last such event; ``resolution_ok`` vs
          ``targets.resolution_time``;
        * ``fcr`` (first-contact resolution): resolved, not escalated, not
          reopened, no handover between teams and no wait for the customer;
        * ``handling_s``: working time (see :class:`csmine.mining.TimeSplit`);
          ``waiting_s``: time waiting on the customer; ``throughput_s``: opening to
          last event (no pauses);
        * ``reopened``: an event of the ``reopen`` role (SOPs without one: work of
          the ``first_response`` role after the first resolution); ``escalated``:
          an event of the ``escalation`` role;
        * ``satisfaction``: last score on a ``callback`` event (any event if none);
        * ``breaches``: SOP time limits breached; ``limits_checked``: applicable;
          ``sla_met``: no breach, first response and resolution time within target
          (NA when none of them applies);
        * ``closed`` / ``status`` (``closed`` or ``open``), ``stale`` (open and
          quiet past the horizon), ``closed_at``: by
          :func:`csmine.lifecycle.ticket_status` (the one definition of closed);
        * ``waiting_status_s``: time in waiting statuses of every kind (see
          :func:`waiting_statuses`; start/complete logs: every gap between events);
        * ``handovers``: changes of team between consecutive events; ``teams``:
          distinct teams (a log without teams: agents, ``org:resource``);
          ``ping_pong``: a team got the ticket back after another team had it (NA
          without any team); ``first_line``: never left the first support line
          (:func:`csmine.mining.first_line_tickets`); ``events``;
        * ``repeats``: events beyond the first of each activity; ``rework``: some
          activity done more than once;
        * ``priority``, ``channel``, ``team``, ``phase``.

        ``frame.attrs`` holds ``first_line_method``, ``sop``, ``calendar``,
        ``closing_rule`` (in words), ``closing_known``, ``stale_after``, ``as_of``,
        ``absent_roles`` (role -> its steps, for roles no event maps to),
        ``absent_limit_steps`` (limits left out), ``handover_key`` and
        ``first_response_rule``.
    """
    prep = prepare(df, sop, case_id_key=case_id_key, activity_key=activity_key, timestamp_key=timestamp_key,
                   start_timestamp_key=start_timestamp_key, group_key=group_key, priority_key=priority_key,
                   first_response=first_response)
    frame, _ = analyse_tickets(prep, sop, calendar, satisfaction_key, closing=closing)
    return frame


# -- summary ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Kpi:
    """One KPI against its target.

    Attributes:
        name: key (``first_response``, ``resolution_rate``, ...).
        label: English label.
        unit: ``seconds``, ``share`` (0-1), ``points`` (0-100), ``tickets`` or ``count``.
        value: the KPI (median for times); None when it cannot be computed.
        target: the SOP's target in the same unit (None if the SOP sets none).
        met: value meets target (times: share within target >= the attainment
            goal); None without a target or value.
        n: tickets the value is based on.
        median_s / p90_s / mean_s: for times, the distribution (seconds).
        within_target: for times, share of measured tickets within the target.
        note: what the KPI measures, or why it could not be computed.
    """

    name: str
    label: str
    unit: str
    value: float | None
    target: float | None = None
    met: bool | None = None
    n: int = 0
    median_s: float | None = None
    p90_s: float | None = None
    mean_s: float | None = None
    within_target: float | None = None
    note: str = ""


@dataclass(frozen=True, slots=True)
class SlaRow:
    """SLA attainment of one priority.

    Attributes:
        priority: the priority value (``"(none)"`` when missing).
        tickets: tickets of this priority.
        measured: tickets with a known SLA outcome.
        attainment: share of measured tickets meeting the SLA (None if none measured).
        first_response_within: share within the first-response target.
        resolution_within: share within the resolution-time target.
        breaches: SOP time limits breached in total.
    """

    priority: str
    tickets: int
    measured: int
    attainment: float | None
    first_response_within: float | None
    resolution_within: float | None
    breaches: int


@dataclass(frozen=True, slots=True)
class BacklogSummary:
    """Open tickets.

    Attributes:
        as_of: end of the log (ISO time).
        open_now: tickets open at the end of the log.
        median_age_s: median age of those tickets at the end of the log.
        mean_daily_open: mean of the daily backlog (tickets open at the end of each day).
        peak_open: largest daily backlog.
        peak_date: the day of the peak (ISO date).
        stale: open tickets with no event for longer than the stale horizon.
        p90_age_s / mean_age_s: 90th percentile and mean of the open tickets' age.
    """

    as_of: str
    open_now: int
    median_age_s: float | None
    mean_daily_open: float
    peak_open: int
    peak_date: str | None
    stale: int = 0
    p90_age_s: float | None = None
    mean_age_s: float | None = None


@dataclass(frozen=True, slots=True)
class TicketCounts:
    """Closed, open and stale tickets, and the rule that says which is which.

    Attributes:
        total: tickets.  closed / open: by :func:`csmine.lifecycle.ticket_status`.
        stale: open tickets with no event for longer than ``stale_after``.
        rule: the closing rule in words.
        rule_known: False when no rule applies (no SOP close step, no
            ``closed_when``, no ``--closed-when``): every ticket then counts as ended.
        stale_after: the stale horizon (e.g. ``30 d``), None when turned off.
        as_of: the end of the log (ISO time), the reference for ages and staleness.
    """

    total: int
    closed: int
    open: int
    stale: int
    rule: str
    rule_known: bool
    stale_after: str | None = None
    as_of: str | None = None

    def describe(self) -> str:
        """One line, e.g. ``4,580 tickets: 4,557 closed, 23 open (5 stale); closed by ...``."""
        if not self.rule_known:
            return f"{self.total:,} tickets; {self.rule}"
        stale = (f", {self.stale:,} of them stale (no event for {self.stale_after})"
                 if self.stale_after is not None else "")
        return f"{self.total:,} tickets: {self.closed:,} closed, {self.open:,} open{stale}; {self.rule}"


def ticket_counts(tickets: pd.DataFrame) -> TicketCounts:
    """Closed / open / stale counts of a :func:`ticket_kpis` frame (or any subset of its rows)."""
    closed = tickets["closed"].astype(bool) if "closed" in tickets.columns else pd.Series(True, index=tickets.index)
    stale = int(tickets["stale"].astype(bool).sum()) if "stale" in tickets.columns else 0
    attrs = tickets.attrs
    return TicketCounts(
        total=len(tickets), closed=int(closed.sum()), open=int((~closed).sum()), stale=stale,
        rule=str(attrs.get("closing_rule") or "no closing rule: every ticket counted as ended"),
        rule_known=bool(attrs.get("closing_known", False)),
        stale_after=attrs.get("stale_after"), as_of=attrs.get("as_of"),
    )


@dataclass(frozen=True, slots=True)
class KpiReport:
    """KPIs of a set of tickets against an SOP's targets.

    Attributes:
        sop: SOP id (None without one).
        tickets: tickets measured.
        calendar: business calendar used (None: wall clock).
        kpis: the KPIs (see :class:`Kpi`), in a fixed order.
        sla_by_priority: SLA attainment per priority.
        satisfaction_distribution: tickets per satisfaction bin.
        backlog: backlog summary.
        first_line_method: how first-line tickets were identified.
        status: closed, open and stale tickets and the closing rule
            (:class:`TicketCounts`); in ``to_dict()`` this is ``tickets``.
        notes: caveats (limits left out, handovers between agents, ...).
        first_response_rule: the ``--first-response`` pattern used, if any.
    """

    sop: str | None
    tickets: int
    calendar: str | None
    kpis: tuple[Kpi, ...]
    sla_by_priority: tuple[SlaRow, ...]
    satisfaction_distribution: dict[str, int]
    backlog: BacklogSummary
    first_line_method: str
    status: TicketCounts | None = None
    notes: tuple[str, ...] = ()
    first_response_rule: str | None = None

    def kpi(self, name: str) -> Kpi:
        """The KPI called ``name`` (KeyError if absent)."""
        for k in self.kpis:
            if k.name == name:
                return k
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data; ``tickets`` is ``{"total", "closed", "open", "stale", "rule", ...}``."""
        data = _clean(asdict(self))
        status = data.pop("status", None)
        data["tickets"] = status if status is not None else {"total": self.tickets}
        return data


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, np.generic):
        return _clean(value.item())
    return value


def _f(value: Any) -> float | None:
    if value is None:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


def _share(mask: Any) -> tuple[float | None, int]:
    s = pd.Series(mask, dtype="boolean").dropna()
    if len(s) == 0:
        return None, 0
    return float(s.astype(bool).mean()), len(s)


def _seconds(value: timedelta | float | None) -> float | None:
    if value is None:
        return None
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _time_kpi(name: str, label: str, values: pd.Series, target: float | None, ok: pd.Series | None,
              attainment: float, note: str) -> Kpi:
    v = pd.to_numeric(values, errors="coerce").dropna()
    if len(v) == 0:
        return Kpi(name, label, "seconds", None, target, None, 0, note=note)
    within, _ = _share(ok) if ok is not None else (None, 0)
    met = None if (target is None or within is None) else bool(within >= attainment - 1e-12)
    return Kpi(name, label, "seconds", float(v.median()), target, met, len(v), float(v.median()),
               float(np.quantile(v.to_numpy(), 0.9)), float(v.mean()), within, note)


def _rate_kpi(name: str, label: str, mask: Any, target: float | None, note: str, *,
              higher_is_better: bool = True) -> Kpi:
    value, n = _share(mask)
    met = None
    if value is not None and target is not None:
        met = bool(value >= target - 1e-12) if higher_is_better else bool(value <= target + 1e-12)
    return Kpi(name, label, "share", value, target, met, n, note=note if value is not None or not note else note)


def backlog_series(tickets: pd.DataFrame, *, tz: str = "UTC") -> pd.DataFrame:
    """Daily backlog from a per-ticket frame (``opened_at``, ``closed_at``, ``last_event_at``).

    Returns:
        One row per local day from the first opening to the end of the log:
        ``date``, ``opened`` (tickets opened that day), ``closed`` (closed that day),
        ``open`` (open at the end of the day: opened before the day's end and not
        closed by then). A ticket without a closing time stays open.
    """
    if len(tickets) == 0:
        return pd.DataFrame({"date": [], "opened": [], "closed": [], "open": []})
    opened = tickets["opened_at"].dt.tz_convert(tz).dt.tz_localize(None)
    closed = tickets["closed_at"].dt.tz_convert(tz).dt.tz_localize(None)
    end = tickets["last_event_at"].max().tz_convert(tz).tz_localize(None)
    days = pd.date_range(opened.min().normalize(), end.normalize(), freq="D")
    day_end = (days + pd.Timedelta(days=1)).to_numpy()
    o = np.sort(opened.to_numpy(dtype="datetime64[ns]"))
    c = np.sort(closed.dropna().to_numpy(dtype="datetime64[ns]"))
    opened_by = np.searchsorted(o, day_end, side="left")
    closed_by = np.searchsorted(c, day_end, side="left")
    start = np.concatenate([[0], opened_by[:-1]])
    cstart = np.concatenate([[0], closed_by[:-1]])
    return pd.DataFrame({
        "date": [d.date().isoformat() for d in days],
        "opened": (opened_by - start).astype(np.int64),
        "closed": (closed_by - cstart).astype(np.int64),
        "open": (opened_by - closed_by).astype(np.int64),
    })


def summarise_backlog(tickets: pd.DataFrame, *, tz: str = "UTC") -> BacklogSummary:
    """Backlog at the end of the log, its age, and the daily backlog's mean and peak.

    The end of the log is ``attrs["as_of"]`` of a :func:`ticket_kpis` frame (its
    latest event, the same for any subset of its rows), else the latest event of
    ``tickets``.
    """
    series = backlog_series(tickets, tz=tz)
    as_of = pd.Timestamp(tickets.attrs["as_of"]) if tickets.attrs.get("as_of") else tickets["last_event_at"].max()
    open_mask = ~tickets["closed"].astype(bool)
    ages = (as_of - tickets.loc[open_mask, "opened_at"]).dt.total_seconds()
    peak = int(series["open"].max()) if len(series) else 0
    peak_date = str(series.loc[series["open"].idxmax(), "date"]) if len(series) else None
    stale = int(tickets.loc[open_mask, "stale"].astype(bool).sum()) if "stale" in tickets.columns else 0
    return BacklogSummary(
        as_of=as_of.isoformat() if pd.notna(as_of) else "",
        open_now=int(open_mask.sum()),
        median_age_s=_f(ages.median()) if len(ages) else None,
        mean_daily_open=float(series["open"].mean()) if len(series) else 0.0,
        peak_open=peak,
        peak_date=peak_date,
        stale=stale,
        p90_age_s=float(np.quantile(ages.to_numpy(dtype=float), 0.9)) if len(ages) else None,
        mean_age_s=_f(ages.mean()) if len(ages) else None,
    )


_ROLE_WORDS = {"first_response": "first-response", "resolution": "resolution", "reopen": "reopen",
               "escalation": "escalation", "waiting": "customer-wait", "callback": "callback", "close": "close"}


def _steps_text(role: str, steps: list[str] | tuple[str, ...]) -> str:
    word = _ROLE_WORDS.get(role, role)
    names = ", ".join(repr(s) for s in steps)
    return f"{word} step{'s' if len(steps) != 1 else ''} {names} never occur{'' if len(steps) != 1 else 's'} in the log"


def summarise_kpis(tickets: pd.DataFrame, sop: SOP | None, *, attainment: float | None = None) -> KpiReport:
    """Summarise a :func:`ticket_kpis` frame against the SOP's targets.

    Open and closed tickets (``closed``, by :func:`csmine.lifecycle.ticket_status`)
    are counted apart: rates and times that are only known once a ticket has ended
    (resolution rate, first-contact resolution, handling and throughput time, time
    waiting, handovers, ping-pong, rework) are over the **closed** tickets; the
    backlog and the age of the **open** ones are shown on their own. Without a
    closing rule every ticket counts as ended, and :attr:`KpiReport.status` says so.

    A KPI resting on an SOP role that no event of the log maps to (``absent_roles``
    of the frame) is not measurable and says which step never occurs -- never
    "0 %".

    Args:
        tickets: the per-ticket frame (any subset of its rows, e.g. one phase).
        sop: the SOP whose targets apply (None: no targets).
        attainment: share of tickets that must meet a time target for the time
            KPI to count as met (default: ``targets.other['sla_attainment']`` or 0.9).

    Returns:
        The report. KPIs that cannot be computed have ``value`` None and a
        ``note`` saying why.
    """
    t = sop.targets if sop is not None else None
    goal = attainment
    if goal is None:
        goal = float(t.get("sla_attainment") or DEFAULT_ATTAINMENT) if t is not None else DEFAULT_ATTAINMENT
    attrs = tickets.attrs
    roles: dict[str, tuple[str, ...]] = dict(sop.roles) if sop is not None else {}
    fr_rule = attrs.get("first_response_rule")
    if fr_rule:
        roles["first_response"] = (str(fr_rule),)
    absent: dict[str, list[str]] = dict(attrs.get("absent_roles") or {})
    counts = ticket_counts(tickets)
    closed_mask = tickets["closed"].astype(bool).to_numpy() if "closed" in tickets.columns \
        else np.ones(len(tickets), dtype=bool)
    done = tickets[closed_mask]
    n_done = len(done)
    closed_word = "closed tickets" if counts.rule_known else "tickets"
    handover_key = attrs.get("handover_key", GROUP)
    notes: list[str] = []

    def why_not(role: str) -> str | None:
        """Why a KPI resting on ``role`` cannot be measured (None: it can)."""
        if role in absent:
            if role == "first_response" and fr_rule:
                return f"--first-response {fr_rule!r} matches no activity of the log"
            return _steps_text(role, absent[role])
        if role not in roles:
            word = _ROLE_WORDS.get(role, role)
            if sop is None:
                extra = " or --first-response ACTIVITY" if role == "first_response" else ""
                return f"needs an SOP (--sop) {word} step{extra}"
            return f"SOP {sop.id!r} has no {word} step"
        return None

    def unavailable(name: str, label: str, unit: str, reason: str, target: float | None = None) -> Kpi:
        return Kpi(name, label, unit, None, target, None, 0, note=reason)

    no_closed = f"no ticket is closed yet ({counts.open:,} open)"
    n = len(tickets)
    kpis: list[Kpi] = []

    # first response
    fr_target = _seconds(t.first_response) if t else None
    reason = why_not("first_response")
    if reason:
        kpis.append(unavailable("first_response", "First response time", "seconds", reason, fr_target))
    else:
        how = (f"opening to the first event matching --first-response {fr_rule!r}" if fr_rule
               else "opening to first response")
        kpis.append(_time_kpi("first_response", "First response time", tickets["first_response_s"], fr_target,
                              tickets["first_response_ok"], goal,
                              how + (", customer waits excluded" if "waiting" in roles else "")))

    # resolution
    res_reason = why_not("resolution")
    res_target = t.resolution_rate if t else None
    if res_reason:
        kpis.append(unavailable("resolution_rate", "Resolution rate", "share", res_reason, res_target))
        kpis.append(unavailable("resolution_time", "Resolution time", "seconds", res_reason,
                                _seconds(t.resolution_time) if t else None))
        kpis.append(unavailable("first_contact_resolution", "First-contact resolution", "share", res_reason,
                                t.first_contact_resolution if t else None))
    else:
        kpis.append(_rate_kpi("resolution_rate", "Resolution rate", done["resolved"], res_target,
                              f"resolved / {closed_word}" if n_done else no_closed))
        kpis.append(_time_kpi("resolution_time", "Resolution time", tickets["resolution_s"],
                              _seconds(t.resolution_time) if t else None, tickets["resolution_ok"], goal,
                              "opening to last resolution, customer waits excluded"))
        kpis.append(_rate_kpi("first_contact_resolution", "First-contact resolution", done["fcr"],
                              t.first_contact_resolution if t else None,
                              f"resolved without escalation, reopen, handover or customer wait / {closed_word}"
                              if n_done else no_closed))

    # times of ended tickets
    kpis.append(_time_kpi("handling_time", "Handling time", done["handling_s"], None, None, goal,
                          f"working time per {closed_word[:-1]}" if n_done else no_closed))
    kpis.append(_time_kpi("throughput_time", "Throughput time", done["throughput_s"], None, None, goal,
                          f"opening to last event, {closed_word}" if n_done else no_closed))
    done_time = pd.to_numeric(done["throughput_s"], errors="coerce")
    if "waiting_status_s" in done.columns and n_done and done_time.sum() > 0:
        in_wait = pd.to_numeric(done["waiting_status_s"], errors="coerce")
        kpis.append(Kpi("waiting_share", "Time in waiting statuses", "share",
                        float(in_wait.sum() / done_time.sum()), None, None, n_done,
                        note=f"time in waiting or queue statuses (between steps, in start/complete logs) / "
                             f"total time, {closed_word}"))
    else:
        kpis.append(unavailable("waiting_share", "Time in waiting statuses", "share",
                                no_closed if not n_done else "no ticket time to divide"))

    # reopen, escalation
    resolved = tickets["resolved"].astype("boolean")
    if "reopen" in roles:
        reason, how = why_not("reopen"), "reopened / resolved tickets"
    else:
        reason = why_not("resolution") if "resolution" in roles else why_not("reopen")
        how = "work restarted after a resolution / resolved tickets"
        if reason is None and "first_response" not in roles:
            reason = why_not("reopen")
    if reason:
        kpis.append(unavailable("reopen_rate", "Reopen rate", "share", reason))
    else:
        reopen_base = tickets.loc[resolved.fillna(False).to_numpy(dtype=bool), "reopened"]
        kpis.append(_rate_kpi("reopen_rate", "Reopen rate", reopen_base, None, how))
    reason = why_not("escalation")
    kpis.append(unavailable("escalation_rate", "Escalation rate", "share", reason) if reason else
                _rate_kpi("escalation_rate", "Escalation rate", tickets["escalated"], None, "escalated / all tickets"))

    # customer waits
    reason = why_not("waiting")
    if reason:
        kpis.append(unavailable("customer_wait_share", "Time waiting on the customer", "share", reason))
    elif not n_done or done_time.sum() <= 0:
        kpis.append(unavailable("customer_wait_share", "Time waiting on the customer", "share", no_closed))
    else:
        total_wait = pd.to_numeric(done["waiting_s"], errors="coerce")
        kpis.append(Kpi("customer_wait_share", "Time waiting on the customer", "share",
                        float(total_wait.sum() / done_time.sum()), None, None, int(total_wait.notna().sum()),
                        note=f"customer-wait time / total ticket time, {closed_word}"))

    # satisfaction
    sat = pd.to_numeric(tickets["satisfaction"], errors="coerce").dropna()
    sat_target = t.satisfaction if t else None
    if len(sat):
        kpis.append(Kpi("satisfaction", "Satisfaction", "points", float(sat.mean()), sat_target,
                        None if sat_target is None else bool(sat.mean() >= sat_target - 1e-12), len(sat),
                        note="mean score (0-100)"))
    else:
        kpis.append(Kpi("satisfaction", "Satisfaction", "points", None, sat_target,
                        note="no satisfaction scores in the log (attribute 'satisfaction')"))

    # SLA
    left_out = list(attrs.get("absent_limit_steps") or [])
    if left_out:
        notes.append(f"time limit{'s' if len(left_out) > 1 else ''} on {', '.join(map(repr, left_out))} left out: "
                     f"the step{'s' if len(left_out) > 1 else ''} never occur{'' if len(left_out) > 1 else 's'} "
                     "in the log")
    if sop is None:
        kpis.append(unavailable("sla_attainment", "SLA attainment", "share",
                                "needs an SOP (--sop) with targets or time limits"))
    else:
        sla_note = "tickets meeting every applicable time limit and target / measured tickets"
        if left_out:
            sla_note += f" (limits on {', '.join(map(repr, left_out))} left out: never in the log)"
        kpi = _rate_kpi("sla_attainment", "SLA attainment", tickets["sla_met"], goal, sla_note)
        if kpi.value is None:
            kpi = unavailable("sla_attainment", "SLA attainment", "share",
                              "no ticket reached a time limit or target of the SOP", goal)
        kpis.append(kpi)

    # teams
    method = str(attrs.get("first_line_method", ""))
    if method == "none" or tickets["first_line"].isna().all():
        kpis.append(unavailable("first_line_resolution", "First-line resolution (push to front)", "share",
                                "no team on any event (org:group)"))
    elif "resolution" in roles and "resolution" not in absent:
        base = tickets.loc[resolved.fillna(False).to_numpy(dtype=bool), "first_line"]
        kpis.append(_rate_kpi("first_line_resolution", "First-line resolution (push to front)", base, None,
                              f"resolved tickets that never left the first line / resolved tickets ({method})"))
    else:
        kpis.append(_rate_kpi("first_line_resolution", "First-line resolution (push to front)", done["first_line"],
                              None, f"{closed_word} that never left the first line / {closed_word} ({method})"))
    if handover_key is None:
        why = "no team or agent on any event (org:group, org:resource)"
        kpis.append(unavailable("handovers", "Handovers per ticket", "count", why))
        kpis.append(unavailable("ping_pong_rate", "Ping-pong (A → B → A)", "share", why))
    else:
        who, an = ("team", "a") if handover_key == GROUP else ("agent", "an")
        if handover_key != GROUP:
            notes.append(f"no event names a team (org:group): handovers and ping-pong are between agents "
                         f"({handover_key})")
        kpis.append(Kpi("handovers", "Handovers per ticket", "count",
                        float(done["handovers"].mean()) if n_done else None, None, None, n_done,
                        note=(f"changes of {who} between consecutive events, per {closed_word[:-1]}" if n_done
                              else no_closed)))
        pp = done["ping_pong"] if "ping_pong" in done.columns else pd.Series([], dtype="boolean")
        kpis.append(_rate_kpi("ping_pong_rate", "Ping-pong (A → B → A)", pp, None,
                              f"{closed_word} {an} {who} got back after another {who} had it / {closed_word} "
                              f"with {an} {who}" if n_done else no_closed))
    if "rework" in done.columns:
        kpis.append(_rate_kpi("rework_rate", "Rework (a step repeated)", done["rework"], None,
                              f"{closed_word} doing an activity more than once / {closed_word}" if n_done
                              else no_closed))

    # open tickets
    backlog = summarise_backlog(tickets) if n else BacklogSummary("", 0, None, 0.0, 0, None)
    no_rule = "needs a closing rule: an SOP close step or --closed-when ACTIVITY"
    if not counts.rule_known:
        kpis.append(unavailable("backlog", "Backlog (open tickets)", "tickets", no_rule))
        kpis.append(unavailable("open_age", "Age of open tickets", "seconds", no_rule))
    else:
        stale = (f"; {backlog.stale:,} stale (no event for {counts.stale_after})"
                 if counts.stale_after is not None else "")
        kpis.append(Kpi("backlog", "Backlog (open tickets)", "tickets", float(backlog.open_now), None, None, n,
                        median_s=backlog.median_age_s, note="open at the end of the log" + stale))
        if backlog.open_now:
            kpis.append(Kpi("open_age", "Age of open tickets", "seconds", backlog.median_age_s, None, None,
                            backlog.open_now, backlog.median_age_s, backlog.p90_age_s, backlog.mean_age_s,
                            note="opening to the end of the log, open tickets" + stale))
        else:
            kpis.append(unavailable("open_age", "Age of open tickets", "seconds",
                                    "no ticket is open at the end of the log"))

    sla_rows = []
    if n:
        pr = tickets["priority"].astype(object).where(tickets["priority"].notna(), "(none)").astype(str)
        for value in sorted(pr.unique()):
            part = tickets[(pr == value).to_numpy()]
            att, measured = _share(part["sla_met"])
            sla_rows.append(SlaRow(
                priority=value,
                tickets=len(part),
                measured=measured,
                attainment=att,
                first_response_within=_share(part["first_response_ok"])[0],
                resolution_within=_share(part["resolution_ok"])[0],
                breaches=int(part["breaches"].sum()),
            ))
    dist = {label: int(((sat >= lo) & (sat < hi)).sum()) for lo, hi, label in SATISFACTION_BINS} if len(sat) else {}
    return KpiReport(
        sop=sop.id if sop is not None else None,
        tickets=n,
        calendar=tickets.attrs.get("calendar"),
        kpis=tuple(kpis),
        sla_by_priority=tuple(sla_rows),
        satisfaction_distribution=dist,
        backlog=backlog,
        first_line_method=method,
        status=counts,
        notes=tuple(notes),
        first_response_rule=str(fr_rule) if fr_rule else None,
    )


# -- choosing an SOP ------------------------------------------------------------------------


def suggest_sop(df: pd.DataFrame, *, activity_key: str = ACTIVITY, minimum: float = 0.9) -> tuple[str | None, float]:
    """The shipped SOP whose steps and aliases name the most events of ``df``.

    Returns:
        ``(name, coverage)``: the SOP and the share of events it maps, or
        ``(None, best coverage)`` when no SOP maps at least ``minimum`` of them.
        Ties go to the first name in :func:`process_models.list_sops` order
        (``complaint`` before ``complaint-v2``).
    """
    from process_models import list_sops, load_sop

    if len(df) == 0:
        return None, 0.0
    counts = df[activity_key].astype(str).value_counts()
    best: tuple[str | None, float] = (None, 0.0)
    for name in list_sops():
        sop = load_sop(name)
        mapping = sop.activity_map()
        covered = float(counts[[a in mapping for a in counts.index]].sum()) / float(counts.sum())
        if covered > best[1] + 1e-12:
            best = (name, covered)
    if best[1] < minimum:
        return None, best[1]
    return best


#: KPI roles an SOP chosen without ``--sop`` must see in the log (each one it defines).
CHOICE_ROLES = ("close", "resolution")


@dataclass(frozen=True, slots=True)
class SopCandidate:
    """One shipped SOP held against a log when none was named.

    Attributes:
        sop: the SOP's name.
        coverage: share of the log's events its steps and aliases name (0-1).
        close_step_seen: every one of its close and resolution roles has a step
            (or an alias of one) that occurs in the log.
        why: in words, why it fits or not.
        missing: its roles (``close``, ``resolution``) whose steps never occur.
    """

    sop: str
    coverage: float
    close_step_seen: bool
    why: str
    missing: tuple[str, ...] = ()

    def brief(self, minimum: float) -> str:
        text = f"{self.sop} names {self.coverage:.0%} of the events"
        if self.coverage < minimum - 1e-12:
            text += f" (needs {minimum:.0%})"
        if self.missing and self.coverage >= minimum - 1e-12:
            text += f" but {self.why}"  # the steps that never occur, by name
        elif self.missing:
            text += f" and its {' and '.join(self.missing)} " \
                    f"step{'s' if len(self.missing) > 1 else ''} never occur{'' if len(self.missing) > 1 else 's'}"
        elif not self.close_step_seen:
            text += ", has no close or resolution step"
        return text


@dataclass(frozen=True, slots=True)
class SopChoice:
    """How the SOP of a command was chosen.

    Attributes:
        chosen: the SOP used (None: none).
        how: ``"--sop"`` (named), ``"--sop none"`` or ``"automatic"``.
        considered: with ``automatic``, every shipped SOP, best coverage first.
        minimum: the coverage an automatic choice needs.
    """

    chosen: str | None
    how: str
    considered: tuple[SopCandidate, ...] = ()
    minimum: float = 0.9

    def describe(self, *, none_allowed: bool = True) -> str:
        """The choice in one line (for stderr); ``none_allowed=False``: for a command that needs an SOP."""
        if self.how == "--sop none":
            return "no SOP (--sop none): roles, targets and time limits are not used"
        if self.how == "--sop":
            return f"using SOP {self.chosen!r} (--sop)"
        if self.chosen is not None:
            best = self.considered[0]
            return (f"using SOP {self.chosen!r}: its steps and aliases name {best.coverage:.0%} of the events and "
                    "its close and resolution steps occur (pass --sop to choose another, --sop none for none)")
        shown = "; ".join(c.brief(self.minimum) for c in self.considered[:2])
        if not none_allowed:
            return (f"no shipped SOP fits the log ({shown}): pass --sop NAME|FILE "
                    "(see `csmine sop list`)")
        return (f"no SOP used: no shipped SOP fits the log ({shown}; --json lists all {len(self.considered)}); "
                "figures that need an SOP are not computed: pass --sop NAME|FILE to use one, or --sop none")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data."""
        return _clean(asdict(self))


def _role_seen(sop: SOP, present: set[str], role: str) -> bool:
    steps = set(sop.roles.get(role, ()))
    names = steps | {src for src, step in sop.aliases.items() if step in steps}
    return bool(names & present)


def choose_shipped_sop(df: pd.DataFrame, *, activity_key: str = ACTIVITY, minimum: float = 0.9) -> SopChoice:
    """The shipped SOP for a log when none is named, or none, with the reasons.

    An SOP fits when its steps and aliases name at least ``minimum`` of the events
    (as :func:`suggest_sop` measures) **and** every one of its ``close`` and
    ``resolution`` roles has a step that occurs in the log (through its aliases):
    an SOP whose resolution step never happens would report every ticket as
    unresolved. Of those that fit, the one naming the most events is chosen (ties:
    :func:`process_models.list_sops` order). ``considered`` lists every shipped SOP,
    best coverage first, with why it fits or not.
    """
    from process_models import list_sops, load_sop

    if len(df) == 0:
        return SopChoice(None, "automatic", (), minimum)
    counts = df[activity_key].astype(str).value_counts()
    total = float(counts.sum())
    present = set(counts.index)
    found: list[SopCandidate] = []
    for name in list_sops():
        sop = load_sop(name)
        mapping = sop.activity_map()
        coverage = float(counts[[a in mapping for a in counts.index]].sum()) / total
        defined = [r for r in CHOICE_ROLES if sop.roles.get(r)]
        missing = [r for r in defined if not _role_seen(sop, present, r)]
        seen = bool(defined) and not missing
        reasons = []
        if coverage < minimum - 1e-12:
            reasons.append(f"names {coverage:.0%} of the events (needs {minimum:.0%})")
        if not defined:
            reasons.append("has no close or resolution step to find in the log")
        for role in missing:
            reasons.append("its " + _steps_text(role, sop.roles[role]))
        why = "; ".join(reasons) if reasons else (
            f"fits: names {coverage:.0%} of the events; its close and resolution steps occur")
        found.append(SopCandidate(name, coverage, seen, why, tuple(missing)))
    order = sorted(range(len(found)), key=lambda i: (-found[i].coverage, i))
    considered = tuple(found[i] for i in order)
    fits = [c for c in considered if c.coverage >= minimum - 1e-12 and c.close_step_seen]
    return SopChoice(fits[0].sop if fits else None, "automatic", considered, minimum)
