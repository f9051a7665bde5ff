"""Local days and ISO weeks, and what happened on them: the dating rules of the reviews.

A review looks at calendar days in the team's time zone. This module turns a day
into a ``[start, end)`` span of UTC timestamps, reads ISO weeks, dates deviations
(an event's deviation by the event, a skipped step by the event recorded in its
place) and finds the path with the most waiting time ending on a day.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo

import numpy as np
import pandas as pd

from csmine.errors import ReviewError

CASE_ID = "case:concept:name"
ACTIVITY = "concept:name"
TIMESTAMP = "time:timestamp"


@dataclass(frozen=True, slots=True)
class DayBottleneck:
    """The path with the most waiting time ending on a day.

    Attributes:
        source: activity before.  target: activity after.
        waits: waits on the path ending that day.
        total_wait_s: their sum, seconds.  median_wait_s: their median.
        tickets: distinct tickets.
    """

    source: str
    target: str
    waits: int
    total_wait_s: float
    median_wait_s: float
    tickets: int


def parse_week(text: str) -> date:
    """The Monday of an ISO week ``YYYY-Www`` (e.g. ``2025-W10``).

    Raises:
        ReviewError: not an ISO week.
    """
    m = re.fullmatch(r"\s*(\d{4})-?W(\d{1,2})\s*", text, flags=re.IGNORECASE)
    if not m:
        raise ReviewError(f"cannot read week {text!r}: write an ISO week like 2025-W10")
    try:
        return date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
    except ValueError as exc:
        raise ReviewError(f"week {text!r} does not exist ({exc})") from exc


def day_bounds(day: date, tz: tzinfo) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``[start, end)`` of a local day as UTC timestamps."""
    start = datetime(day.year, day.month, day.day, tzinfo=tz)
    nxt = day + timedelta(days=1)
    end = datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz)
    return pd.Timestamp(start.astimezone(UTC)), pd.Timestamp(end.astimezone(UTC))


def local_dates(times: pd.Series, tz: tzinfo) -> pd.Series:
    """The local calendar date of each timestamp."""
    return times.dt.tz_convert(tz).dt.date


def deviation_times(df: pd.DataFrame, dev: pd.DataFrame) -> pd.Series:
    """Business time of each deviation: its event's, or for a skipped step the event
    recorded in its place (``position`` within the ticket; the last event if past the end)."""
    if len(dev) == 0:
        return pd.Series([], dtype="datetime64[us, UTC]")
    times = dev["time"]
    out = pd.to_datetime(times, utc=True) if times.notna().any() else pd.Series(pd.NaT, index=dev.index,
                                                                                 dtype="datetime64[us, UTC]")
    missing = out.isna().to_numpy()
    if missing.any():
        ordered = df.sort_values([CASE_ID, TIMESTAMP, "@@version"] if "@@version" in df.columns
                                 else [CASE_ID, TIMESTAMP], kind="stable")
        pos = ordered.groupby(CASE_ID, sort=False).cumcount()
        count = ordered.groupby(CASE_ID, sort=False)[TIMESTAMP].transform("size")
        key = pd.DataFrame({"ticket": ordered[CASE_ID].astype(str).to_numpy(), "position": pos.to_numpy(),
                            "t": ordered[TIMESTAMP].to_numpy(), "n": count.to_numpy()})
        want = dev.loc[missing, ["ticket", "position"]].copy()
        want["ticket"] = want["ticket"].astype(str)
        n_of = key.drop_duplicates("ticket").set_index("ticket")["n"]
        want["position"] = np.minimum(want["position"].astype("int64").to_numpy(),
                                      want["ticket"].map(n_of).to_numpy(dtype="int64") - 1)
        merged = want.merge(key[["ticket", "position", "t"]], on=["ticket", "position"], how="left")
        out.loc[missing] = pd.to_datetime(merged["t"].to_numpy(), utc=True)
    return out


def _waits(df: pd.DataFrame) -> pd.DataFrame:
    """Every wait between consecutive events of a ticket: source, target, end time, seconds."""
    ordered = df.sort_values([CASE_ID, TIMESTAMP], kind="stable")
    case = ordered[CASE_ID].to_numpy()
    same = np.zeros(len(ordered), dtype=bool)
    same[1:] = case[1:] == case[:-1]
    t = ordered[TIMESTAMP]
    start = t.shift(1)
    if "start_timestamp" in ordered.columns:
        arrival = ordered["start_timestamp"].where(ordered["start_timestamp"].notna(), t)
    else:
        arrival = t
    acts = ordered[ACTIVITY].to_numpy(dtype=object)
    prev = np.empty(len(acts), dtype=object)
    prev[1:] = acts[:-1]
    frame = pd.DataFrame({
        "ticket": case, "source": prev, "target": acts, "end": arrival.to_numpy(),
        "wait_s": (arrival - start).dt.total_seconds().to_numpy(),
    })
    return frame[same].reset_index(drop=True)


def day_bottleneck(df: pd.DataFrame, day: date, tz: tzinfo) -> DayBottleneck | None:
    """The path whose waits ending on ``day`` add up to the most waiting time
    (ties: more waits, then by path). None when no wait ended on the day."""
    lo, hi = day_bounds(day, tz)
    waits = _waits(df)
    end = pd.to_datetime(waits["end"], utc=True)
    today = waits[((end >= lo) & (end < hi)).to_numpy()]
    if today.empty:
        return None
    g = today.groupby(["source", "target"], sort=True)
    stats = pd.DataFrame({"total": g["wait_s"].sum(), "n": g.size(), "median": g["wait_s"].median(),
                          "tickets": g["ticket"].nunique()}).reset_index()
    stats = stats.sort_values(["total", "n", "source", "target"], ascending=[False, False, True, True], kind="stable")
    top = stats.iloc[0]
    return DayBottleneck(str(top["source"]), str(top["target"]), int(top["n"]), float(top["total"]),
                         float(top["median"]), int(top["tickets"]))


__all__ = [
    "DayBottleneck",
    "day_bottleneck",
    "day_bounds",
    "deviation_times",
    "local_dates",
    "parse_week",
]
