"""Open and closed tickets: the counts, the daily backlog and the age of the open ones.

All of it reads a :func:`~csmine.performance.kpi.ticket_kpis` frame (``closed``,
``stale``, ``opened_at``, ``closed_at``, ``last_event_at`` and its ``attrs``), so
any subset of its rows -- one phase, one day -- can be summarised the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd


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
        total: tickets.  closed / open: by :func:`csmine.eventlog.lifecycle.ticket_status`.
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
    """Closed / open / stale counts of a :func:`~csmine.performance.kpi.ticket_kpis` frame (or any subset
    of its rows)."""
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
class BacklogDay:
    """One day of the backlog: opened, closed, open at the end of the day."""

    date: str
    opened: int
    closed: int
    open: int


def _f(value: Any) -> float | None:
    if value is None:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


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

    The end of the log is ``attrs["as_of"]`` of a :func:`~csmine.performance.kpi.ticket_kpis` frame (its
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


def backlog_days(tickets: pd.DataFrame, *, tz: str = "UTC") -> tuple[BacklogDay, ...]:
    """:func:`backlog_series` as :class:`BacklogDay` rows."""
    series = backlog_series(tickets, tz=tz)
    return tuple(BacklogDay(str(r.date), int(r.opened), int(r.closed), int(r.open))
                 for r in series.itertuples(index=False))
