"""Where things are in the tickets' events: first and last positions, a step's events, waits.

Helpers of :mod:`csmine.explain.outcomes` and :mod:`csmine.explain.whatif`, on the
prepared log's arrays (events sorted by ticket, then time); activity-level questions are
answered once per activity code and spread over the events by code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from csmine.errors import OutcomeError

if TYPE_CHECKING:
    from process_models import SOP

    from csmine.performance.preparation import Prepared

__all__ = ["as_bool", "first_pos", "known", "known_steps", "match_name", "step_mask", "wait_before", "waiting_role"]


def first_pos(mask: np.ndarray, case: np.ndarray, n_cases: int, *, last: bool = False) -> np.ndarray:
    """Per ticket code the position of its first (``last``: last) event in ``mask``; -1: none."""
    out = np.full(n_cases, -1, dtype=np.int64)
    pos = np.flatnonzero(mask)
    if len(pos) == 0:
        return out
    if last:
        np.maximum.at(out, case[pos], pos)
    else:
        # positions are sorted: the first one per ticket is where the ticket changes
        c = case[pos]
        keep = np.ones(len(pos), dtype=bool)
        keep[1:] = c[1:] != c[:-1]
        out[c[keep]] = pos[keep]
    return out


def match_name(name: str, names: list[str], what: str) -> str:
    """``name`` as one of ``names`` (exactly, else ignoring case).

    Raises:
        OutcomeError: none matches; the message lists them.
    """
    for candidate in names:
        if candidate == name:
            return candidate
    lowered = {c.lower(): c for c in names}
    if name.lower() in lowered:
        return lowered[name.lower()]
    shown = ", ".join(repr(n) for n in names[:12]) or "none"
    raise OutcomeError(f"unknown {what} {name!r}: use one of {shown}")


def step_mask(prep: Prepared, step: str) -> np.ndarray:
    """Events of ``step``: the SOP step (aliases mapped) or, without a mapping, the activity.

    The step of an event is its activity's, so the question is asked once per activity code.
    """
    log = prep.log
    first = np.full(len(log.activities), -1, dtype=np.int64)  # an event of each activity
    first[log.act[::-1]] = np.arange(log.n)[::-1]
    seen = first >= 0
    by_step = np.zeros(len(first), dtype=bool)
    by_step[seen] = np.asarray(prep.step[first[seen]] == step, dtype=bool)
    if not by_step.any():
        by_step = np.asarray(log.activities.astype(str) == step, dtype=bool)
    return by_step[log.act]


def known_steps(prep: Prepared, sop: SOP | None) -> list[str]:
    """The SOP's steps, then the log's other activities."""
    names: list[str] = []
    if sop is not None:
        names.extend(s.name for s in sop.steps)
    names.extend(str(a) for a in prep.log.activities if str(a) not in names)
    return names


def waiting_role(prep: Prepared) -> np.ndarray:
    """Per event: does it start a customer wait (the SOP's waiting role)?"""
    mask = prep.roles.get("waiting")
    return np.zeros(prep.log.n, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)


def wait_before(prep: Prepared, calendar: Any = None) -> np.ndarray:
    """Per event: seconds from the previous event of the ticket to its start (its time when it
    has none), 0 for a ticket's first event and after a customer wait (the customer's time)."""
    from csmine.mining.time_split import seconds_between

    log = prep.log
    out = np.zeros(log.n)
    i, j = log.pairs()
    if len(i):
        gap = np.clip(seconds_between(log.ts[i], log.arrival()[j], calendar), 0, None)
        out[j] = np.where(waiting_role(prep)[i], 0.0, gap)
    return out


def known(series: pd.Series) -> np.ndarray:
    """Per row: is the value known (not missing)?"""
    return ~np.asarray(pd.isna(series), dtype=bool)


def as_bool(series: pd.Series) -> np.ndarray:
    """A nullable boolean column as booleans, missing as False."""
    return np.asarray(pd.array(series, dtype="boolean").fillna(False), dtype=bool)
