"""A log prepared once for the KPIs and bottlenecks: encoded, with SOP steps and roles per event.

:func:`prepare` encodes a frame (:class:`~csmine.mining.encoding.EncodedLog`), maps
its activities onto the SOP's steps (through ``sop.aliases``) and roles
(``sop.roles``), and gathers what every per-ticket figure needs: opening times,
who has the ticket (for handovers), and the tickets' attributes. Inside
:func:`reuse_preparation` a frame is prepared (and its tickets analysed, see
:func:`csmine.performance.kpi.analyse_tickets`) only once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pandas as pd

from csmine.errors import EmptyLogError, KpiError
from csmine.mining.encoding import (
    ACTIVITY,
    CASE_ID,
    GROUP,
    START_TS,
    TIMESTAMP,
    EncodedLog,
    encode_log,
    epoch_seconds,
)
from csmine.mining.time_split import QUEUE_PATTERN, WAIT_PATTERN

if TYPE_CHECKING:
    from process_models import SOP

#: Column of the person who did an event; handovers and ping-pong fall back to it
#: when no event names a team.
RESOURCE = "org:resource"


def match_activities(pattern: str, activities: Iterable[str]) -> np.ndarray:
    """Per activity name: does ``pattern`` match it?

    The same rule as ``--closed-when`` (:class:`csmine.eventlog.lifecycle.ClosingRule`):
    case-insensitive, the pattern must match the whole name or one of its
    ``/``-separated parts (``Closed`` matches ``Completed/Closed``).

    Raises:
        KpiError: ``pattern`` is not a regular expression.
    """
    try:
        rx = re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise KpiError(f"--first-response {pattern!r} is not a regular expression ({exc}); "
                       "e.g. --first-response 'Take in charge ticket'") from None
    return np.array([bool(rx.fullmatch(a)) or any(rx.fullmatch(part.strip()) for part in a.split("/"))
                     for a in map(str, activities)], dtype=bool)


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
    step_of_code: np.ndarray | None = field(default=None, repr=False)

    def step_mask(self, name: str) -> np.ndarray:
        """Per event: is its SOP step ``name``? (``step == name``, compared per activity code.)"""
        if self.step_of_code is None:
            return np.asarray(self.step == name, dtype=bool)
        return (self.step_of_code == name)[self.log.act]


T = TypeVar("T")

_REUSE: ContextVar[dict[tuple[Any, ...], tuple[Any, ...]] | None] = ContextVar("csmine_kpi_reuse", default=None)


@contextmanager
def reuse_preparation() -> Iterator[None]:
    """Within the block, :func:`prepare` and :func:`~csmine.performance.kpi.analyse_tickets` run once per frame.

    The report asks for KPIs, bottlenecks and limit checks of the same frames; inside
    this block the encoding of a frame and its per-ticket analysis are computed on
    first use and reused (frames handed out are copies). The frames must not be
    changed inside the block. A block inside another one (the report's Why section inside
    the report) shares the outer block's results.
    """
    if _REUSE.get() is not None:
        yield
        return
    token = _REUSE.set({})
    try:
        yield
    finally:
        _REUSE.reset(token)


def reusing() -> bool:
    """True inside :func:`reuse_preparation` (results handed out must then be copies)."""
    return _REUSE.get() is not None


def reused(key: tuple[Any, ...], owners: tuple[object, ...], compute: Callable[[], T]) -> T:
    """``compute()``; inside :func:`reuse_preparation`, computed once per ``key``.

    ``key`` holds the ids of ``owners`` (the inputs); a kept value is used only while
    they are the very same objects (an id may be reused once an object is gone).
    """
    memo = _REUSE.get()
    if memo is None:
        return compute()
    hit = memo.get(key)
    if hit is None or any(a is not b for a, b in zip(hit[0], owners, strict=True)):
        hit = memo[key] = (owners, compute())
    return hit[1]  # type: ignore[no-any-return]


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
    return reused(("prepare", id(df), id(sop), *args), (df, sop), lambda: _prepare(df, sop, *args))


def _prepare(df: pd.DataFrame, sop: SOP | None, case_id_key: str, activity_key: str, timestamp_key: str,
             start_timestamp_key: str | None, group_key: str, priority_key: str,
             first_response: str | None = None) -> Prepared:
    if len(df) == 0:
        raise EmptyLogError("the event log is empty: no tickets to measure (check the filters)")
    log = encode_log(df, case_id_key=case_id_key, activity_key=activity_key,
                     timestamp_key=timestamp_key, start_timestamp_key=start_timestamp_key)
    step, roles, step_of_code = _steps_and_roles(log, sop, first_response)
    starts = np.flatnonzero(log.first)
    teams, handover_key = _handover_teams(df, log, group_key)
    return Prepared(log=log, step=step, roles=roles, opened=_opened(df, log, starts), as_of=float(np.nanmax(log.ts)),
                    teams=teams, cases=_case_attributes(df, log, starts, priority_key), df=df,
                    handover_key=handover_key, first_response_rule=first_response, step_of_code=step_of_code)


def _steps_and_roles(log: EncodedLog, sop: SOP | None,
                     first_response: str | None) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """Per event its SOP step, per role of the SOP (and ``--first-response``) a mask; per activity code its step."""
    if sop is not None:
        mapping = sop.activity_map()
        step_of_code = np.array([mapping.get(str(a)) for a in log.activities], dtype=object)
        step = step_of_code[log.act]
        # a role's mask per activity code, then spread over the events by code
        roles = {
            role: np.array([s in set(steps) for s in step_of_code], dtype=bool)[log.act]
            for role, steps in sop.roles.items() if steps
        }
    else:
        step_of_code = np.full(len(log.activities), None, dtype=object)
        step = np.full(log.n, None, dtype=object)
        roles = {}
    if first_response is not None:
        roles["first_response"] = match_activities(first_response, log.activities)[log.act]
    return step, roles, step_of_code


def _opened(df: pd.DataFrame, log: EncodedLog, starts: np.ndarray) -> np.ndarray:
    """Per ticket its opening time: ``case:opened_at``, else its first event's arrival."""
    if "case:opened_at" in df.columns:
        opened_ev = epoch_seconds(df["case:opened_at"])[log.order]
    else:
        opened_ev = np.full(log.n, np.nan)
    opened = np.fmin.reduceat(opened_ev, starts)
    first_arrival = np.fmin.reduceat(log.arrival(), starts)
    return np.where(np.isnan(opened), first_arrival, opened)


def _handover_teams(df: pd.DataFrame, log: EncodedLog, group_key: str) -> tuple[np.ndarray, str | None]:
    """Per event who has the ticket: its team, else (a log without teams) its agent."""
    for key in (group_key, RESOURCE):
        if key in df.columns:
            # factorized: a Python object per distinct value, not per event (-1, missing: None)
            codes, uniques = pd.factorize(df[key], use_na_sentinel=True)
            if (codes >= 0).any():
                values = np.append(np.asarray(uniques, dtype=object), None)
                return values[codes[log.order]], key
    return np.full(log.n, None, dtype=object), None


def _case_attributes(df: pd.DataFrame, log: EncodedLog, starts: np.ndarray, priority_key: str) -> pd.DataFrame:
    """Per ticket its channel, team and phase (first event) and priority (last known value)."""
    first_rows = log.order[starts]  # each ticket's first event, as a row of df
    columns: dict[str, np.ndarray] = {}
    for name, col in (("channel", "case:channel"), ("team", "case:team"), ("phase", "case:phase")):
        columns[name] = (df[col].iloc[first_rows].to_numpy(dtype=object) if col in df.columns
                         else np.full(len(starts), None, dtype=object))
    if priority_key in df.columns:
        # the ticket's last known value (an event attribute may change or be missing),
        # found on integer codes (-1: missing), then each chosen code's value
        codes, uniques = pd.factorize(df[priority_key], use_na_sentinel=True)
        codes = codes[log.order]
        known = np.where(codes >= 0, np.arange(log.n), -1)
        last_known = np.maximum.reduceat(known, starts)
        chosen = codes[np.maximum(last_known, 0)]
        values = np.asarray(uniques, dtype=object)
        columns["priority"] = np.where(last_known >= 0, values[np.maximum(chosen, 0)] if len(values) else None,
                                       None)
    else:
        columns["priority"] = np.full(len(starts), None, dtype=object)
    for name, values in columns.items():
        values = np.asarray(values, dtype=object)
        columns[name] = np.where(pd.isna(values), None, values)
    cases = pd.DataFrame({name: pd.Series(columns[name], dtype=object) for name in ("channel", "team", "phase",
                                                                                     "priority")})
    cases.index = pd.Index(log.cases.astype(str), name="ticket")
    return cases


def waiting_statuses(prep: Prepared, sop: SOP | None) -> np.ndarray:
    """Per event: does it open a waiting status (nobody works on the ticket)?

    With an SOP: its ``waiting`` role (waits for the customer), names that say the
    ticket queues (:data:`csmine.mining.time_split.QUEUE_PATTERN`), and -- in status logs --
    names that say it waits (:data:`csmine.mining.time_split.WAIT_PATTERN`, e.g. *Wait -
    Vendor*: a waiting status, but not the customer's time) and the statuses of the
    ``resolution`` and ``close`` roles (resolved, waiting to be closed).
    Without an SOP: names matching :data:`csmine.mining.time_split.WAIT_PATTERN`.
    """
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


#: Each SOP role in words, for the notes on KPIs that cannot be measured.
ROLE_WORDS = {"first_response": "first-response", "resolution": "resolution", "reopen": "reopen",
              "escalation": "escalation", "waiting": "customer-wait", "callback": "callback", "close": "close"}


def missing_steps_text(role: str, steps: list[str] | tuple[str, ...]) -> str:
    """E.g. ``resolution step 'Resolve' never occurs in the log``."""
    word = ROLE_WORDS.get(role, role)
    names = ", ".join(repr(s) for s in steps)
    return f"{word} step{'s' if len(steps) != 1 else ''} {names} never occur{'' if len(steps) != 1 else 's'} in the log"


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
