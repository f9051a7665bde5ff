"""Waiting and working time: every second of every ticket attributed to one event.

:func:`split_time` (see :class:`TimeSplit`) is what the KPIs' handling time and the
bottlenecks' step and transition times rest on; :data:`QUEUE_PATTERN` and
:data:`WAIT_PATTERN` say which activity names mean the ticket waits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from csmine.mining.encoding import EncodedLog


@dataclass(frozen=True, slots=True)
class TimeSplit:
    """Every second of every ticket attributed to one event, as waiting or working.

    Built by :func:`split_time`. For consecutive events ``e`` and ``f`` of a ticket,
    the *gap* runs from ``e``'s completion to ``f``'s start (its completion when it
    has no start). How the gap counts depends on the kind of log:

    * **status logs** (no event has a start time; e.g. BPIC 2013): an event opens
      a status that lasts until the next event, so the gap is time spent *in the
      status* ``e`` -- waiting if ``e`` is a waiting status, else working;
    * **start/complete logs** (some events have a start time): work happens only
      inside an event's own interval ``[start, completion]``; the gap is waiting,
      time spent in ``e`` when ``e`` is a waiting status (e.g. waiting for the
      customer), else *waiting before* ``f`` (the ticket queued for the next step).

    An event's own interval is working time (waiting time for a waiting status).
    Negative gaps (overlapping work) count as zero.

    Attributes:
        wait_s: per event, waiting seconds attributed to it.
        work_s: per event, working seconds attributed to it.
        gap_s: per event, the gap after it (0 on a ticket's last event).
        gap_waiting: per event, whether the gap after it is waiting time.
        gap_owner: per event, the position of the event the gap after it belongs to.
    """

    wait_s: np.ndarray
    work_s: np.ndarray
    gap_s: np.ndarray
    gap_waiting: np.ndarray
    gap_owner: np.ndarray


def seconds_between(a: np.ndarray, b: np.ndarray, calendar: Any = None) -> np.ndarray:
    """``b - a`` for epoch-second arrays; business seconds with a calendar."""
    if calendar is None:
        return np.asarray(b - a, dtype=float)
    ok = np.isfinite(a) & np.isfinite(b)
    out = np.full(len(a), np.nan)
    if ok.any():
        ta = pd.to_datetime(a[ok], unit="s", utc=True)
        tb = pd.to_datetime(b[ok], unit="s", utc=True)
        out[ok] = calendar.business_seconds(ta, tb)
    return out


def split_time(log: EncodedLog, waiting: np.ndarray, calendar: Any = None) -> TimeSplit:
    """Attribute each ticket's time to its events as waiting or working (see :class:`TimeSplit`).

    Args:
        log: the encoded log.
        waiting: per event, True when the event opens a waiting status.
        calendar: a :class:`~csmine.performance.business_calendar.BusinessCalendar` to count business
            seconds only (None: wall clock).
    """
    n = log.n
    waiting = np.asarray(waiting, dtype=bool)
    arrival = log.arrival()
    own = np.zeros(n)
    has = np.isfinite(log.start)
    if has.any():
        own[has] = np.clip(seconds_between(log.start[has], log.ts[has], calendar), 0, None)
    gap = np.zeros(n)
    gap_waiting = np.zeros(n, dtype=bool)
    owner = np.arange(n)
    i, j = log.pairs()
    if len(i):
        gap[i] = np.clip(seconds_between(log.ts[i], arrival[j], calendar), 0, None)
        status_log = not has.any()
        owner[i] = np.where(waiting[i] | status_log, i, j)
        gap_waiting[i] = waiting[i] | (not status_log)
    wait_s = np.where(waiting, own, 0.0)
    work_s = np.where(waiting, 0.0, own)
    wait_s = wait_s + np.bincount(owner, weights=np.where(gap_waiting, gap, 0.0), minlength=n)
    work_s = work_s + np.bincount(owner, weights=np.where(gap_waiting, 0.0, gap), minlength=n)
    return TimeSplit(wait_s=wait_s, work_s=work_s, gap_s=gap, gap_waiting=gap_waiting, gap_owner=owner)


#: Activity names that mean the ticket waits in a queue (counted as waiting time).
QUEUE_PATTERN = r"(?i)(\bqueue[ds]?\b|\bawaiting\b|\bpending\b|\bon[ -]hold\b|\bbacklog\b|排队|待分派|挂起)"
#: Activity names that mean the ticket waits (used when no SOP says which steps wait).
WAIT_PATTERN = r"(?i)(\bwait(ing)?\b|\bqueue[ds]?\b|\bawaiting\b|\bpending\b|\bon[ -]hold\b|\bbacklog\b|等待|排队|挂起)"
