"""Where a ticket's time goes, step by step: time per activity, per transition, and rework.

Built on :func:`csmine.mining.time_split.split_time` (every second of a ticket
attributed to one event, waiting or working) and :func:`~csmine.mining.group_stats.impact_stats`;
see :mod:`csmine.performance.bottlenecks` for how the steps and transitions are
ranked as bottlenecks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from csmine.mining.group_stats import impact_stats

if TYPE_CHECKING:
    from csmine.mining.encoding import EncodedLog
    from csmine.mining.time_split import TimeSplit
    from csmine.performance.preparation import Prepared



@dataclass(frozen=True, slots=True)
class StepTime:
    """Time attributed to one activity (status or step).

    Attributes:
        activity: activity name in the log.
        step: its SOP step (None without an SOP or when unknown).
        waiting: True when it is a waiting status.
        events: events of the activity.  tickets: tickets with it.
        waiting_s: total seconds in it as a waiting status (or its own interval
            when it is a waiting step).
        working_s: total working seconds (its own intervals; in status logs the
            time in it as a working status).
        waiting_before_s: total seconds tickets queued before it (start/complete
            logs: from the previous event to this one's start; 0 in status logs).
        median_s / p90_s: median and 90th percentile of its own time per event
            (waiting + working, without the waiting before it), seconds.
        share_of_time: ``waiting_s + working_s + waiting_before_s`` over the sum
            of all tickets' throughput times (0-1): e.g. the share of time parked
            in ``Accepted/Wait - User``.
    """

    activity: str
    step: str | None
    waiting: bool
    events: int
    tickets: int
    waiting_s: float
    working_s: float
    waiting_before_s: float
    median_s: float
    p90_s: float
    share_of_time: float


@dataclass(frozen=True, slots=True)
class TransitionTime:
    """Time between two consecutive activities ``source -> target``.

    Attributes:
        source / target: the activities.
        events: occurrences.  tickets: tickets with it.
        waiting: True when the time between them is waiting time.
        median_s / mean_s / p90_s / total_s: time from the completion of the
            source to the start of the target (seconds).
    """

    source: str
    target: str
    events: int
    tickets: int
    waiting: bool
    median_s: float
    mean_s: float
    p90_s: float
    total_s: float



@dataclass(frozen=True, slots=True)
class Rework:
    """An activity repeated within tickets.

    Attributes:
        activity: the activity.
        tickets: tickets doing it more than once.
        share: of the tickets with the activity, the share repeating it (0-1).
        extra_events: occurrences beyond the first, over all tickets.
        self_loops: immediate repetitions ``a -> a``.
        max_repetitions: most occurrences in one ticket.
    """

    activity: str
    tickets: int
    share: float
    extra_events: int
    self_loops: int
    max_repetitions: int


@dataclass(frozen=True)
class StepTable:
    """The step rows, and per activity code what ranking them needs.

    Attributes:
        rows: one :class:`StepTime` per activity, most time first.
        stats: :func:`~csmine.mining.group_stats.impact_stats` of each activity's own
            time per event (index: activity code).
        waiting_share: per activity code, its waiting over its waiting and working time.
    """

    rows: tuple[StepTime, ...]
    stats: pd.DataFrame
    waiting_share: pd.Series


@dataclass(frozen=True)
class TransitionTable:
    """The transition rows, and per transition code what ranking them needs.

    Attributes:
        rows: one :class:`TransitionTime` per pair of activities, most time first.
        stats: :func:`~csmine.mining.group_stats.impact_stats` of the gaps (index:
            ``source * n_activities + target`` codes; empty without pairs).
        waiting_share: per transition code, the share of its gaps that are waiting.
        n_activities: the activity codes' range, to decode the keys.
    """

    rows: tuple[TransitionTime, ...]
    stats: pd.DataFrame
    waiting_share: pd.Series
    n_activities: int


def step_times(prep: Prepared, split: TimeSplit, waiting: np.ndarray, total_throughput_s: float) -> StepTable:
    """Each activity's own time: its interval, and the status it opens when that gap is
    its own; waiting *before* a step is the transition's, shown apart."""
    log = prep.log
    names = np.asarray(log.activities, dtype=object)
    before = np.zeros(log.n)
    pi, pj = log.pairs()
    to_next = split.gap_owner[pi] == pj
    np.add.at(before, pj[to_next], split.gap_s[pi][to_next])
    own_time = split.wait_s + split.work_s - before
    st = impact_stats(log.act, own_time, log.case)
    wait_sum = pd.Series(split.wait_s - before).groupby(log.act).sum()
    work_sum = pd.Series(split.work_s).groupby(log.act).sum()
    before_sum = pd.Series(before).groupby(log.act).sum()
    act_waiting = pd.Series(waiting).groupby(log.act).mean()
    codes_seen, first_idx = np.unique(log.act, return_index=True)
    step_of = {int(c): prep.step[k] for c, k in zip(codes_seen, first_idx, strict=True)}
    steps = []
    for code, row in st.iterrows():
        spent = float(wait_sum[code] + work_sum[code] + before_sum[code])
        steps.append(StepTime(
            activity=str(names[code]),
            step=None if step_of[int(code)] is None else str(step_of[int(code)]),
            waiting=bool(act_waiting[code] >= 0.5),
            events=int(row["size"]),
            tickets=int(row["tickets"]),
            waiting_s=float(wait_sum[code]),
            working_s=float(work_sum[code]),
            waiting_before_s=float(before_sum[code]),
            median_s=float(row["median"]),
            p90_s=float(row["p90"]),
            share_of_time=spent / total_throughput_s if total_throughput_s else 0.0,
        ))
    steps.sort(key=lambda s: (-(s.waiting_s + s.working_s + s.waiting_before_s), s.activity))
    return StepTable(tuple(steps), st, (wait_sum / (wait_sum + work_sum)).fillna(0.0))


def transition_times(log: EncodedLog, split: TimeSplit) -> TransitionTable:
    """The gap between each pair of consecutive activities (completion to start)."""
    names = np.asarray(log.activities, dtype=object)
    i, j = log.pairs()
    n_act = len(names)
    tkey = log.act[i] * n_act + log.act[j]
    gap = split.gap_s[i]
    tt = impact_stats(tkey, gap, log.case[i]) if len(i) else pd.DataFrame()
    t_wait = pd.Series(split.gap_waiting[i]).groupby(tkey).mean() if len(i) else pd.Series(dtype=float)
    transitions = []
    for key, row in tt.iterrows():
        transitions.append(TransitionTime(
            source=str(names[key // n_act]), target=str(names[key % n_act]), events=int(row["size"]),
            tickets=int(row["tickets"]), waiting=bool(t_wait[key] >= 0.5), median_s=float(row["median"]),
            mean_s=float(row["mean"]), p90_s=float(row["p90"]), total_s=float(row["sum"]),
        ))
    transitions.sort(key=lambda t: (-t.total_s, t.source, t.target))
    return TransitionTable(tuple(transitions), tt, t_wait, n_act)


def find_rework(log: EncodedLog) -> tuple[Rework, ...]:
    """Activities repeated within tickets, most tickets first."""
    names = np.asarray(log.activities, dtype=object)
    frame = pd.DataFrame({"c": log.case, "a": log.act})
    per = frame.groupby(["a", "c"], sort=True).size()
    i, j = log.pairs()
    loops = np.bincount(log.act[i][log.act[i] == log.act[j]], minlength=len(names))
    out = []
    for a, counts in per.groupby(level=0):
        repeated = counts[counts > 1]
        if len(repeated) == 0:
            continue
        out.append(Rework(
            activity=str(names[a]),
            tickets=len(repeated),
            share=len(repeated) / len(counts),
            extra_events=int((counts - 1).sum()),
            self_loops=int(loops[a]),
            max_repetitions=int(counts.max()),
        ))
    out.sort(key=lambda r: (-r.tickets, r.activity))
    return tuple(out)
