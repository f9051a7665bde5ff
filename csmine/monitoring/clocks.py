"""Offline: the SLA monitors' clocks over a whole event-log frame, computed column-wise.

:func:`limit_clocks` gives every clock the replay's SLA monitors
(:mod:`csmine.monitoring.monitors`) would run on the same events and how it ended,
without replaying them one by one, so a clock is ``breached`` here exactly when the
replay raises a ``breach`` alert for it. The daily review and weekly bulletin
(:mod:`csmine.pilot.review`) date breaches with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from event_store.readmodel.projection import _US, EPOCH

from csmine.monitoring.monitors import AT_RISK, business_deadline
from csmine.monitoring.stream import to_us

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from process_models import SOP
    from process_models.model import TimeLimit

    from csmine.performance.business_calendar import BusinessCalendar

#: Columns of :func:`limit_clocks`.
CLOCK_COLUMNS = (
    "ticket", "step", "since", "within_s", "start", "deadline", "end", "ended_by", "breached", "at_risk",
    "status", "late_s", "event_id", "actor", "team", "phase",
)


def limit_clocks(
    df: Any,
    sop: SOP,
    *,
    calendar: BusinessCalendar | None = None,
    as_of: datetime | None = None,
    at_risk: float = AT_RISK,
    case_id_key: str = "case:concept:name",
    activity_key: str = "concept:name",
    timestamp_key: str = "time:timestamp",
) -> Any:
    """Every SLA clock of every ticket and how it ended, computed column-wise.

    The clocks are those of the replay's SLA monitors (see
    :mod:`csmine.monitoring.monitors`), so a clock is ``breached`` here exactly when
    the replay of the same events raises a ``breach`` alert for it: a clock starts
    when the ticket is opened (``case:opened_at``; the first event when absent) or
    at each event of the ``since`` step, and ends at the ticket's next event that is
    the limited step (``step``), a close step (``close``) or the ``since`` step again
    (``restart``), whichever comes first, or is still running at ``as_of``
    (``None``). It is breached when its deadline is before the end (or before ``as_of``).

    Args:
        df: event-log frame (one row per event, a ticket's events in time order).
        sop: the SOP whose limits apply (activities mapped with its aliases).
        calendar: business calendar for limits in business hours (None: wall clock).
        as_of: the time the log is complete up to (default: its last event).
        at_risk: share of the limit at which a missing step is "at risk".

    Returns:
        One row per clock: ``ticket``, ``step``, ``since``, ``within_s``, ``start``,
        ``deadline`` (tz-aware), ``end`` (when the clock ended, NaT if running),
        ``ended_by`` (``step``, ``close``, ``restart`` or None), ``breached``,
        ``at_risk`` (the at-risk point passed with the step missing), ``status``
        (``on_time``; ``late``: the step came after the deadline; ``missing``: the
        deadline passed without the step; ``stopped``: closed or restarted before the
        deadline without the step; ``running``), ``late_s`` (seconds past the
        deadline at the end, or at ``as_of``; NaN if not breached), ``event_id``,
        ``actor``, ``team`` (of the event that ended the clock: the late step, or the
        close/restart event; else of the event that started it), ``phase``.
    """
    import pandas as pd

    empty = pd.DataFrame({c: pd.Series(dtype=object) for c in CLOCK_COLUMNS})
    if len(df) == 0 or not sop.limits:
        return empty
    ev = _ordered_events(df, sop, case_id_key, activity_key, timestamp_key)
    if ev is None:  # no activity of the log belongs to the SOP: nothing to time
        return empty
    end_us = int(ev.t_us.max()) if as_of is None else to_us(as_of)
    frames = [f for lim in sop.limits if (f := _clocks_of_limit(ev, lim, end_us, calendar, at_risk)) is not None]
    if not frames:
        return empty
    out = pd.concat(frames, ignore_index=True)
    out["end"] = out["end"].where(out["ended_by"].notna())
    return out.sort_values(["ticket", "start", "step"], kind="stable").reset_index(drop=True)


@dataclass(frozen=True)
class _Events:
    """The frame's events ordered by (ticket, time, event id), as arrays."""

    codes: np.ndarray  # ticket codes (index into ``uniques``)
    uniques: np.ndarray  # ticket ids
    t_us: np.ndarray  # business time, microseconds
    eids: np.ndarray  # event ids
    steps: np.ndarray  # the SOP step of each event (None: not a step)
    close: np.ndarray  # the event is a close step
    actors: np.ndarray
    teams: np.ndarray
    phases: np.ndarray
    first_rows: np.ndarray  # row of each ticket's first event
    opened_us: np.ndarray  # each ticket's opening time, microseconds


def _as_us(times: pd.Series) -> np.ndarray:
    if times.dt.tz is None:
        times = times.dt.tz_localize("UTC")
    return times.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[us]").astype("int64").to_numpy()


def _ordered_events(df: pd.DataFrame, sop: SOP, case_id_key: str, activity_key: str,
                    timestamp_key: str) -> _Events | None:
    import numpy as np
    import pandas as pd

    t_us = _as_us(df[timestamp_key])
    cases = df[case_id_key].astype(str).to_numpy(dtype=object)
    codes, uniques = pd.factorize(cases, sort=False)
    if "@@event_id" in df.columns:
        eids = df["@@event_id"].to_numpy(dtype="int64")
    else:
        eids = np.arange(len(df), dtype="int64")
    order = np.lexsort((eids, t_us, codes))
    codes, t_us, eids = codes[order], t_us[order], eids[order]
    acts = df[activity_key].astype(str).to_numpy(dtype=object)[order]
    steps = pd.Series(acts).map(sop.activity_map()).to_numpy(dtype=object)
    if not pd.notna(steps).any():
        return None

    def column(name: str) -> np.ndarray:
        if name in df.columns:
            return df[name].to_numpy(dtype=object)[order]
        return np.full(len(df), None, dtype=object)

    first = np.ones(len(codes), dtype=bool)
    first[1:] = codes[1:] != codes[:-1]
    first_rows = np.flatnonzero(first)
    if "case:opened_at" in df.columns:
        opened_us = _as_us(df["case:opened_at"])[order][first_rows]
    else:
        opened_us = t_us[first_rows]
    close = np.isin(steps, list(sop.role_steps("close")))
    return _Events(codes, uniques, t_us, eids, steps, close, column("org:resource"), column("org:group"),
                   column("case:phase"), first_rows, opened_us)


def _clocks_of_limit(ev: _Events, lim: TimeLimit, end_us: int, calendar: BusinessCalendar | None,
                     at_risk: float) -> pd.DataFrame | None:
    """The clocks of one limit (None: its clock never starts)."""
    import numpy as np
    import pandas as pd

    is_step = ev.steps == lim.step
    is_since = ev.steps == lim.since
    if lim.since == "opened":
        src_rows = ev.first_rows
        arm_rows = src_rows.astype(float) - 0.5  # before the ticket's first event
        arm_t = ev.opened_us
    else:
        src_rows = np.flatnonzero(is_since)
        arm_rows = src_rows.astype(float)
        arm_t = ev.t_us[src_rows]
    if len(src_rows) == 0:
        return None
    arm_codes = ev.codes[src_rows]
    # each clock ends at the ticket's next event that is the step, a close step or the since step again
    term = np.flatnonzero(is_step | ev.close | is_since)
    pos = np.searchsorted(term, arm_rows, side="right")
    has = pos < len(term)
    nxt = np.where(has, term[np.minimum(pos, len(term) - 1)], -1) if len(term) else np.full(len(pos), -1)
    has &= ev.codes[np.maximum(nxt, 0)] == arm_codes
    safe = np.maximum(np.where(has, nxt, -1), 0)
    ended_by = np.where(~has, None, np.where(is_step[safe], "step", np.where(ev.close[safe], "close", "restart")))
    stop_t = np.where(has, ev.t_us[safe], end_us)
    deadline, breached, risky = _deadlines(lim, arm_t, stop_t, calendar, at_risk)
    done = has & (ended_by == "step")
    status = np.where(breached, np.where(done, "late", "missing"),
                      np.where(~has, "running", np.where(done, "on_time", "stopped")))
    who = np.where(has, safe, src_rows)
    return pd.DataFrame({
        "ticket": ev.uniques[arm_codes],
        "step": lim.step,
        "since": lim.since,
        "within_s": lim.within.total_seconds(),
        "start": pd.to_datetime(arm_t, unit="us", utc=True),
        "deadline": pd.to_datetime(deadline, unit="us", utc=True),
        "end": pd.to_datetime(np.where(has, ev.t_us[safe], np.iinfo("int64").min), unit="us", utc=True),
        "ended_by": ended_by,
        "breached": breached,
        "at_risk": risky,
        "status": status,
        "late_s": np.where(breached, (stop_t - deadline) / 1e6, np.nan),
        "event_id": np.where(has, ev.eids[safe], ev.eids[who]),
        "actor": ev.actors[who],
        "team": ev.teams[who],
        "phase": ev.phases[who],
    })


def _deadlines(lim: TimeLimit, arm_t: np.ndarray, stop_t: np.ndarray, calendar: BusinessCalendar | None,
               at_risk: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each clock's deadline, whether it was breached, and whether it passed the at-risk point."""
    import numpy as np
    import pandas as pd

    limit_s = lim.within.total_seconds()
    if lim.business_hours and calendar is not None:
        used = np.asarray(calendar.business_seconds(pd.to_datetime(arm_t, unit="us", utc=True),
                                                    pd.to_datetime(stop_t, unit="us", utc=True)), dtype=float)
        deadline = np.array([to_us(business_deadline(calendar, EPOCH + int(t) * _US, limit_s)) for t in arm_t],
                            dtype="int64")
        return deadline, used > limit_s, used > limit_s * at_risk
    within_us = lim.within // _US
    deadline = arm_t + within_us
    return deadline, deadline < stop_t, arm_t + int(within_us * at_risk) < stop_t


__all__ = [
    "CLOCK_COLUMNS",
    "limit_clocks",
]
