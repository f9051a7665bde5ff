"""Service KPIs per ticket: one row per ticket, the figures every summary starts from.

:func:`ticket_kpis` computes first response, resolution, first-contact resolution,
handling time, reopen, escalation, satisfaction, SOP time limits and SLA for every
ticket; :func:`csmine.performance.summary.summarise_kpis` turns that frame into a
:class:`~csmine.performance.summary.KpiReport`, and pilot comparisons bootstrap
over it.

The SOP says which steps play which role (``sop.roles``) and maps the source
system's activity names onto its steps (``sop.aliases``); see
:mod:`csmine.performance.preparation`. Every definition is written out in
``docs/analytics.md``; in short:

* The **SLA clocks** (first response, resolution, SOP time limits) pause while the
  ticket waits on the customer and count business time only with a calendar
  (:mod:`csmine.performance.clocks`, which also gives the time limits' rules).
* A step "happens" at its completion (``time:timestamp``).
* Which tickets are **open** comes from the one rule,
  :func:`csmine.eventlog.lifecycle.ticket_status`.

**The frame** :func:`ticket_kpis` returns has one row per ticket (index ``ticket``) and
the columns

* ``opened_at``, ``resolved_at``, ``closed_at``, ``last_event_at`` (UTC);
* ``first_response_s``: clock seconds from opening to the first event of
  the ``first_response`` role (NaN if none); ``first_response_ok``: within
  ``targets.first_response`` (NA if unknown);
* ``resolved``: has an event of the ``resolution`` role; ``resolution_s``:
  clock seconds to the last such event; ``resolution_ok`` vs
  ``targets.resolution_time``;
* ``fcr`` (first-contact resolution): resolved, not escalated, not
  reopened, no handover between teams and no wait for the customer;
* ``handling_s``: working time (see :class:`csmine.mining.time_split.TimeSplit`);
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
  :func:`csmine.eventlog.lifecycle.ticket_status` (the one definition of closed);
* ``waiting_status_s``: time in waiting statuses of every kind (see
  :func:`~csmine.performance.preparation.waiting_statuses`; start/complete logs:
  every gap between events);
* ``handovers``: changes of team between consecutive events; ``teams``:
  distinct teams (a log without teams: agents, ``org:resource``);
  ``ping_pong``: a team got the ticket back after another team had it (NA
  without any team); ``first_line``: never left the first support line
  (:func:`csmine.mining.first_line.first_line_tickets`); ``events``;
* ``repeats``: events beyond the first of each activity; ``rework``: some
  activity done more than once;
* ``priority``, ``channel``, ``team``, ``phase``.

``frame.attrs`` holds ``first_line_method``, ``sop``, ``calendar``,
``closing_rule`` (in words), ``closing_known``, ``stale_after``, ``as_of``,
``absent_roles`` (role -> its steps, for roles no event maps to),
``absent_limit_steps`` (limits left out), ``handover_key`` and
``first_response_rule``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from csmine.eventlog.lifecycle import ClosingRule, ticket_status
from csmine.mining.encoding import ACTIVITY, CASE_ID, GROUP, START_TS, TIMESTAMP, EncodedLog, epoch_seconds, unique_ints
from csmine.mining.first_line import first_line_tickets
from csmine.mining.time_split import seconds_between, split_time
from csmine.performance.clocks import clock_seconds, customer_pauses, first_positions, limit_rows
from csmine.performance.preparation import Prepared, absent_roles, prepare, reused, reusing, waiting_statuses
from csmine.performance.teams import team_counts

if TYPE_CHECKING:
    from process_models import SOP
    from process_models.model import Targets

    from csmine.performance.business_calendar import BusinessCalendar


@dataclass(frozen=True)
class ClosingStatus:
    """Open, closed and stale tickets of a prepared log, and the rule that says so.

    Attributes:
        closed: per ticket code, closed by the rule.
        closed_at: per ticket code, when it closed (epoch seconds, NaN when open).
        stale: per ticket code, open and quiet past the stale horizon.
        known: a closing rule applies (else every ticket counts as ended).
        rule: the rule in words.  stale_after: the stale horizon (None: off).
    """

    closed: np.ndarray
    closed_at: np.ndarray
    stale: np.ndarray
    known: bool
    rule: str
    stale_after: str | None


def closing_status(prep: Prepared, sop: SOP | None, closing: ClosingRule | None) -> ClosingStatus:
    """Open, closed and stale tickets by :func:`csmine.eventlog.lifecycle.ticket_status` (the one rule)."""
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
    return ClosingStatus(closed, closed_at, frame["stale"].to_numpy(dtype=bool), status.known, status.rule,
                         None if summary.get("stale_after") is None else str(summary["stale_after"]))


def analyse_tickets(prep: Prepared, sop: SOP | None, calendar: BusinessCalendar | None = None,
                    satisfaction_key: str = "satisfaction", *,
                    closing: ClosingRule | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The per-ticket KPI frame and the limit frame of a prepared log (see :func:`ticket_kpis`).

    Inside :func:`~csmine.performance.preparation.reuse_preparation` the analysis of a
    prepared log is done once and copies are handed out.
    """
    closing = closing or ClosingRule()
    key = ("analyse", id(prep), id(sop), id(calendar), satisfaction_key, closing)
    frame, limits = reused(key, (prep, sop, calendar),
                           lambda: _analyse_tickets(prep, sop, calendar, satisfaction_key, closing))
    if reusing():
        return frame.copy(), limits.copy()
    return frame, limits


def _analyse_tickets(prep: Prepared, sop: SOP | None, calendar: BusinessCalendar | None,
                     satisfaction_key: str, closing: ClosingRule) -> tuple[pd.DataFrame, pd.DataFrame]:
    log = prep.log
    n_cases = len(log.cases)
    pauses = customer_pauses(prep)
    status = closing_status(prep, sop, closing)
    targets = sop.targets if sop is not None else None
    first_response, fr_ok = _first_response(prep, targets, pauses, calendar)
    resolved, resolved_at, resolution, res_ok = _resolution(prep, targets, pauses, calendar)
    reopened, escalated, waited = _role_flags(prep)
    handovers, n_teams = team_counts(prep)
    handling, in_waiting, waiting_s, throughput = _times(prep, sop, calendar, pauses)
    limits = limit_rows(prep, sop, calendar, pauses, status.closed)
    breaches, checked = _limit_counts(limits, log)
    repeats = _repeats(log)
    fl = first_line_tickets(prep.df)
    to_ts = lambda v: pd.to_datetime(v, unit="s", utc=True)  # noqa: E731
    frame = pd.DataFrame({
        "opened_at": to_ts(prep.opened),
        "first_response_s": first_response,
        "first_response_ok": fr_ok,
        "resolved": _bool_col(resolved, n_cases),
        "resolved_at": to_ts(resolved_at),
        "resolution_s": resolution,
        "resolution_ok": res_ok,
        "fcr": _bool_col(_fcr(resolved, escalated, reopened, handovers, waited), n_cases),
        "handling_s": handling,
        "waiting_s": waiting_s,
        "throughput_s": throughput,
        "reopened": _bool_col(reopened, n_cases),
        "escalated": _bool_col(escalated, n_cases),
        "satisfaction": _satisfaction(prep, satisfaction_key),
        "breaches": breaches.astype(np.int64),
        "limits_checked": checked.astype(np.int64),
        "sla_met": _sla(breaches, checked, fr_ok, res_ok),
        "closed": status.closed,
        "status": np.where(status.closed, "closed", "open").astype(object),
        "stale": status.stale,
        "closed_at": to_ts(status.closed_at),
        "last_event_at": to_ts(log.ts[np.flatnonzero(log.last)]),
        "waiting_status_s": in_waiting,
        "handovers": handovers,
        "teams": n_teams,
        "ping_pong": _ping_pong(handovers, n_teams),
        "repeats": repeats,
        "rework": repeats > 0,
        "first_line": pd.array(fl.tickets.reindex(pd.Index(log.cases.astype(str))).astype("boolean").to_numpy(),
                               dtype="boolean"),
        "events": np.bincount(log.case, minlength=n_cases),
    }, index=pd.Index(log.cases.astype(str), name="ticket"))
    for col in ("priority", "channel", "team", "phase"):
        frame[col] = prep.cases[col].to_numpy(dtype=object)
    _describe(frame, prep, sop, calendar, status, fl.method)
    return frame, limits


def _first_response(prep: Prepared, targets: Targets | None, pauses: pd.DataFrame,
                    calendar: BusinessCalendar | None) -> tuple[np.ndarray, pd.array]:
    """Clock seconds from opening to the first ``first_response`` event, and within target."""
    log = prep.log
    n_cases = len(log.cases)
    fr = prep.roles.get("first_response")
    if fr is not None:
        pos = first_positions(fr, log)
        at = np.where(pos >= 0, log.ts[np.maximum(pos, 0)], np.nan)
        first_response = clock_seconds(np.arange(n_cases), prep.opened, at, pauses, calendar)
        first_response = np.where(pos >= 0, np.clip(first_response, 0, None), np.nan)
    else:
        first_response = np.full(n_cases, np.nan)
    fr_target = targets.first_response.total_seconds() if targets and targets.first_response else None
    if fr is not None and fr_target is not None:
        return first_response, _ok(first_response, fr_target)
    return first_response, _bool_col(None, n_cases)


def _resolution(prep: Prepared, targets: Targets | None, pauses: pd.DataFrame,
                calendar: BusinessCalendar | None) -> tuple[np.ndarray | None, np.ndarray, np.ndarray, pd.array]:
    """Resolved (None without a resolution role), when (the last resolution), clock
    seconds from opening to it, and within target."""
    log = prep.log
    n_cases = len(log.cases)
    res = prep.roles.get("resolution")
    if res is None:
        return None, np.full(n_cases, np.nan), np.full(n_cases, np.nan), _bool_col(None, n_cases)
    rpos = first_positions(res, log, last=True)
    resolved = rpos >= 0
    resolved_at = np.where(resolved, log.ts[np.maximum(rpos, 0)], np.nan)
    resolution = np.where(resolved, np.clip(clock_seconds(np.arange(n_cases), prep.opened, resolved_at, pauses,
                                                          calendar), 0, None), np.nan)
    res_target = targets.resolution_time.total_seconds() if targets and targets.resolution_time else None
    res_ok = _ok(resolution, res_target) if res_target is not None else _bool_col(None, n_cases)
    return resolved, resolved_at, resolution, res_ok


def _role_flags(prep: Prepared) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray]:
    """Per ticket: reopened, escalated (None without the role) and waited on the customer.

    Reopened: an event of the SOP's reopen role, else work restarting (the
    first-response role) after the first resolution.
    """
    log = prep.log
    n_cases = len(log.cases)
    roles = prep.roles
    res, fr = roles.get("resolution"), roles.get("first_response")
    reopen_mask = roles.get("reopen")
    if reopen_mask is None and res is not None and fr is not None:
        first_res = first_positions(res, log)
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
    return reopened, escalated, waited


def _times(prep: Prepared, sop: SOP | None, calendar: BusinessCalendar | None,
           pauses: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per ticket: handling (working) time, time in waiting statuses of every kind,
    time waiting on the customer (the SOP's waiting role; NaN without it), throughput."""
    log = prep.log
    n_cases = len(log.cases)
    split = split_time(log, waiting_statuses(prep, sop), calendar)
    handling = np.bincount(log.case, weights=split.work_s, minlength=n_cases)
    in_waiting = np.bincount(log.case, weights=split.wait_s, minlength=n_cases)
    if prep.roles.get("waiting") is not None:
        paused = np.clip(seconds_between(pauses["ws"].to_numpy(), pauses["we"].to_numpy(), calendar), 0, None)
        waiting_s = np.bincount(pauses["c"].to_numpy(dtype=np.int64), weights=paused, minlength=n_cases)
    else:
        waiting_s = np.full(n_cases, np.nan)
    throughput = np.clip(seconds_between(prep.opened, log.ts[np.flatnonzero(log.last)], calendar), 0, None)
    return handling, in_waiting, waiting_s, throughput


def _fcr(resolved: np.ndarray | None, escalated: np.ndarray | None, reopened: np.ndarray | None,
         handovers: np.ndarray, waited: np.ndarray) -> np.ndarray | None:
    """First-contact resolution: resolved, not escalated, not reopened, no handover, no customer wait."""
    if resolved is None:
        return None
    fcr = resolved.copy()
    if escalated is not None:
        fcr &= ~escalated
    if reopened is not None:
        fcr &= ~reopened
    fcr &= handovers == 0
    fcr &= ~waited
    return fcr


def _ping_pong(handovers: np.ndarray, n_teams: np.ndarray) -> pd.array:
    """A team had the ticket back after another (runs of teams > distinct teams); NA without a team."""
    has_team = n_teams > 0
    ping_pong = pd.array(np.where(has_team, handovers + 1 > n_teams, False), dtype="boolean")
    ping_pong[~has_team] = pd.NA
    return ping_pong


def _limit_counts(limits: pd.DataFrame, log: EncodedLog) -> tuple[np.ndarray, np.ndarray]:
    """Per ticket: time limits breached, and time limits that applied."""
    n_cases = len(log.cases)
    if not len(limits):
        return np.zeros(n_cases, dtype=np.int64), np.zeros(n_cases, dtype=np.int64)
    codes = pd.Index(log.cases.astype(str))
    breaches = limits.groupby("ticket")["breached"].sum().reindex(codes, fill_value=0).to_numpy()
    checked = limits.groupby("ticket").size().reindex(codes, fill_value=0).to_numpy()
    return breaches, checked


def _describe(frame: pd.DataFrame, prep: Prepared, sop: SOP | None, calendar: BusinessCalendar | None,
              status: ClosingStatus, first_line_method: str) -> None:
    """Set ``frame.attrs`` (see :func:`ticket_kpis`)."""
    frame.attrs["first_line_method"] = first_line_method
    frame.attrs["sop"] = sop.id if sop is not None else None
    frame.attrs["calendar"] = calendar.describe() if calendar is not None else None
    frame.attrs["closing_rule"] = status.rule
    frame.attrs["closing_known"] = status.known
    frame.attrs["stale_after"] = status.stale_after
    frame.attrs["as_of"] = pd.Timestamp(prep.as_of, unit="s", tz="UTC").isoformat()
    frame.attrs["absent_roles"] = {k: list(v) for k, v in absent_roles(prep, sop).items()}
    frame.attrs["absent_limit_steps"] = sorted({lim.step for lim in (sop.limits if sop is not None else ())
                                                if not prep.step_mask(lim.step).any()})
    frame.attrs["handover_key"] = prep.handover_key
    frame.attrs["first_response_rule"] = prep.first_response_rule


def _bool_col(values: np.ndarray | None, n: int) -> pd.array:
    if values is None:
        return pd.array([pd.NA] * n, dtype="boolean")
    return pd.array(np.asarray(values, dtype=bool), dtype="boolean")


def _repeats(log: EncodedLog) -> np.ndarray:
    """Per ticket: events beyond the first of each activity (0: no activity repeated)."""
    n_cases = len(log.cases)
    if log.n == 0:
        return np.zeros(n_cases, dtype=np.int64)
    pairs = unique_ints(log.case * max(len(log.activities), 1) + log.act)
    distinct = np.bincount(pairs // max(len(log.activities), 1), minlength=n_cases)
    return (np.bincount(log.case, minlength=n_cases) - distinct).astype(np.int64)


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
        df: event log frame (see :mod:`csmine.eventlog.loading`); free attribute
            ``satisfaction`` (0-100) is read when present.
        sop: the SOP giving roles, targets, limits and aliases; None computes only
            what needs no SOP (throughput, handling, handovers, first line,
            satisfaction) and leaves the rest NA.
        calendar: count business time only (None: wall clock).
        priority_key: column giving the SLA priority (e.g. ``"impact"`` for BPIC 2013;
            an event attribute takes the ticket's last value).
        satisfaction_key: column with the satisfaction score.
        closing: ``--closed-when`` and the stale horizon, on top of the SOP's close
            role and ``closed_when`` (:func:`csmine.eventlog.lifecycle.ticket_status` decides
            which tickets are open; without any rule every ticket counts as ended).
        first_response: an activity pattern
            (:func:`~csmine.performance.preparation.match_activities`) whose first
            event is the first response, instead of the SOP's ``first_response``
            role -- the SOP-less rule for first response.

    Returns:
        One row per ticket (index ``ticket``) with the columns and ``frame.attrs``
        listed in the module doc (:mod:`csmine.performance.kpi`).
    """
    prep = prepare(df, sop, case_id_key=case_id_key, activity_key=activity_key, timestamp_key=timestamp_key,
                   start_timestamp_key=start_timestamp_key, group_key=group_key, priority_key=priority_key,
                   first_response=first_response)
    frame, _ = analyse_tickets(prep, sop, calendar, satisfaction_key, closing=closing)
    return frame
