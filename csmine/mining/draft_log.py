"""The tickets a draft is mined from: their sequences, the steps that close them, the variants kept.

Part of ``csmine sop draft`` (:mod:`csmine.mining.draft`): the log read once into
ticket sequences, the *terminal* activities that close tickets when no closing rule
is given, and the most frequent variants making up the coverage asked for.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING, Any

import numpy as np

from csmine.mining.inductive import Log

if TYPE_CHECKING:
    import pandas as pd

CASE_ID = "case:concept:name"
ACTIVITY = "concept:name"
TIMESTAMP = "time:timestamp"


@dataclass(slots=True)
class TicketSequences:
    """The log as ticket sequences (one pass over the frame): per ticket, its id, its
    activities, their times (seconds since the epoch), teams and resources."""

    ids: list[str]
    traces: list[tuple[str, ...]]
    times: list[np.ndarray]  # seconds since the epoch, per event
    teams: list[list[Any]]
    resources: list[list[Any]]


def ticket_sequences(df: pd.DataFrame) -> TicketSequences:
    """The frame's tickets in order of first appearance, each with its events in frame order."""
    import pandas as pd

    cases = df[CASE_ID].astype(str).to_numpy()
    acts = df[ACTIVITY].astype(str).to_numpy(dtype=object)
    ts = pd.to_datetime(df[TIMESTAMP], utc=True)
    secs = (ts.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[us]").astype(np.int64) / 1e6)

    def column(name: str) -> np.ndarray:
        if name not in df.columns:
            return np.full(len(df), None, dtype=object)
        values = df[name].astype(object).to_numpy(dtype=object)
        return np.array([None if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA or v == ""
                         else str(v) for v in values], dtype=object)

    teams = column("org:group")
    resources = column("org:resource")
    codes, uniques = pd.factorize(cases, sort=False)
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.r_[True, np.diff(codes[order]) != 0, True])
    out = TicketSequences([], [], [], [], [])
    for s, e in pairwise(bounds):
        rows = order[s:e]
        out.ids.append(str(uniques[codes[rows[0]]]))
        out.traces.append(tuple(acts[rows]))
        out.times.append(secs[rows])
        out.teams.append(list(teams[rows]))
        out.resources.append(list(resources[rows]))
    return out


def terminal_activities(traces: list[tuple[str, ...]]) -> tuple[str, ...]:
    """Activities that end tickets: 5% of the endings or more, and most of their events end one."""
    n = len(traces)
    ends = Counter(t[-1] for t in traces if t)
    events = Counter(a for t in traces for a in t)
    found = [a for a, k in ends.items() if k >= 0.05 * n and k > 0.5 * events[a]]
    return tuple(sorted(found, key=lambda a: (-ends[a], a)))


def covered_variants(closed: list[tuple[str, ...]], coverage: float) -> tuple[Log, int]:
    """The most frequent variants making up ``coverage`` of the closed tickets, and their tickets."""
    counts = Counter(closed)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    kept: Log = {}
    total = len(closed)
    running = 0
    for variant, k in ranked:
        if kept and running >= coverage * total:
            break
        kept[variant] = k
        running += k
    return kept, running


__all__ = ["TicketSequences", "covered_variants", "terminal_activities", "ticket_sequences"]
