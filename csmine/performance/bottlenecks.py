"""Where tickets lose time: waiting vs working, limits, backlog, handovers, rework.

:func:`find_bottlenecks` returns a :class:`BottleneckReport`. All figures are
computed on whole columns (shifts inside tickets, group-bys on encoded keys).

Time attribution (see :class:`csmine.mining.time_split.TimeSplit`): in status logs (BPIC
2013) each event opens a status that lasts until the next event; in
start/complete logs work happens inside each event's ``[start, completion]`` and
the time between events is waiting. A status is a **waiting status** when its
SOP step has the ``waiting`` role, or its name says it queues (``Queued``,
``Awaiting``, ``Pending``, ``On hold``...), or -- in status logs -- it is a
resolution or close status (resolved, waiting to be closed); without an SOP any
name with ``wait`` counts too (:func:`csmine.performance.preparation.waiting_statuses`).

**Impact on throughput time** of a bottleneck (a step, a transition or a
handover between two teams; in status logs steps only, since the time from one
event to the next *is* the time in the first one's status and ranking the
transition or handover too would count it twice): the intervals of one ticket
partition its time from the first to the last event, so shortening one interval shortens the ticket by
the same amount. ``impact_s`` is the time saved over all tickets if every
occurrence slower than the median occurrence took only the median time:
``sum(max(0, t - median(t)))``. ``mean_impact_s`` divides it by all tickets in the
log (the mean reduction of throughput time), ``share_of_throughput`` by the sum
of all tickets' throughput times. ``total_s`` (cut to zero) is reported too.

The figures come from the modules next to this one: step and transition times and
rework (:mod:`~csmine.performance.steps`), handovers, ping-pong and the first line
(:mod:`~csmine.performance.teams`), limit breaches (:mod:`~csmine.performance.limits`)
and the daily backlog (:mod:`~csmine.performance.backlog`); this module ranks them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from csmine.mining.encoding import ACTIVITY, CASE_ID, GROUP, START_TS, TIMESTAMP, unique_ints
from csmine.mining.time_split import split_time
from csmine.performance.backlog import BacklogDay, TicketCounts, backlog_days, ticket_counts
from csmine.performance.kpi import analyse_tickets
from csmine.performance.limits import LimitBreaches, limit_breaches
from csmine.performance.plain import plain
from csmine.performance.preparation import Prepared, prepare, waiting_statuses
from csmine.performance.steps import (
    Rework,
    StepTable,
    StepTime,
    TransitionTable,
    TransitionTime,
    find_rework,
    step_times,
    transition_times,
)
from csmine.performance.teams import FirstLineSummary, Handover, PingPong, first_line_summary, team_flows

if TYPE_CHECKING:
    from process_models import SOP

    from csmine.eventlog.lifecycle import ClosingRule
    from csmine.mining.encoding import EncodedLog
    from csmine.performance.business_calendar import BusinessCalendar


@dataclass(frozen=True, slots=True)
class Bottleneck:
    """A place where tickets lose time, ranked by impact on throughput time.

    Attributes:
        rank: 1 = largest impact.
        kind: ``"step"`` (an activity's own time: its work, or the time in the
            status it opens), ``"transition"`` (from one activity to the next,
            e.g. queueing for the next step) or ``"handover"`` (from the last event
            of one team to the next event, of another team). Status logs rank
            steps only (the time in each status), never the same interval twice.
        where: readable name, e.g. ``"Accepted/Wait - User"`` or ``"A -> B"``.
        key: the activity, or ``[source, target]`` (to highlight on the map).
        impact_s: seconds saved over all tickets if every slower-than-median
            occurrence took the median time (see the module doc).
        mean_impact_s: ``impact_s`` per ticket of the log.
        share_of_throughput: ``impact_s`` over the sum of throughput times (0-1).
        occurrences: how often it occurs.  tickets: tickets with an occurrence
            slower than the median.
        median_s / p90_s / total_s: distribution of its time per occurrence.
        waiting_share: share of its time that is waiting (0-1).
    """

    rank: int
    kind: str
    where: str
    key: tuple[str, ...]
    impact_s: float
    mean_impact_s: float
    share_of_throughput: float
    occurrences: int
    tickets: int
    median_s: float
    p90_s: float
    total_s: float
    waiting_share: float



@dataclass(frozen=True, slots=True)
class BottleneckReport:
    """Bottlenecks of a log.

    Attributes:
        tickets / events: size of the log.
        sop: SOP id used (None without).
        calendar: business calendar used (None: wall clock).
        status_log: True when no event has a start time (time in status).
        waiting_activities: activities counted as waiting statuses.
        total_throughput_s: sum of the tickets' throughput times (every ticket, open
            ones up to their last event: the time the steps' shares divide).
        median_throughput_s: median throughput time of the closed tickets (every
            ticket when no closing rule is known; 0 when none is closed).
        steps / transitions / limits / handovers / ping_pong / rework: see the types.
        backlog: daily backlog.
        first_line: push-to-front summary.
        bottlenecks: the ranked list (largest impact first).
        status: closed, open and stale tickets and the closing rule
            (:class:`csmine.performance.backlog.TicketCounts`); in ``to_dict()`` this is ``tickets``.
        handover_key: whose changes the handovers and ping-pong follow:
            ``org:group`` (teams), ``org:resource`` (agents, in a log without
            teams) or None.
        notes: caveats (limits left out, handovers between agents, ...).
    """

    tickets: int
    events: int
    sop: str | None
    calendar: str | None
    status_log: bool
    waiting_activities: tuple[str, ...]
    total_throughput_s: float
    median_throughput_s: float
    steps: tuple[StepTime, ...]
    transitions: tuple[TransitionTime, ...]
    limits: tuple[LimitBreaches, ...]
    handovers: tuple[Handover, ...]
    ping_pong: tuple[PingPong, ...]
    rework: tuple[Rework, ...]
    backlog: tuple[BacklogDay, ...]
    first_line: FirstLineSummary
    bottlenecks: tuple[Bottleneck, ...]
    status: TicketCounts | None = None
    handover_key: str | None = None
    notes: tuple[str, ...] = ()

    def step(self, activity: str) -> StepTime:
        """The step row of an activity (KeyError if absent)."""
        for s in self.steps:
            if s.activity == activity:
                return s
        raise KeyError(activity)

    def _top_keys(self, top: int) -> list[tuple[str | tuple[str, str], Bottleneck]]:
        out: list[tuple[str | tuple[str, str], Bottleneck]] = []
        for b in self.bottlenecks:
            if b.kind == "handover":
                continue
            if len(out) >= top:
                break
            key: str | tuple[str, str] = b.key[0] if b.kind == "step" else (b.key[0], b.key[1])
            out.append((key, b))
        return out

    def highlight(self, top: int = 5) -> dict[str | tuple[str, str], str]:
        """Map keys (activity or ``(source, target)``) of the ``top`` step/transition
        bottlenecks -> colours (purple, darkest = largest impact)."""
        colours = ("#4a148c", "#6a1b9a", "#7b1fa2", "#8e24aa", "#9c27b0")
        return {key: colours[min(i, len(colours) - 1)] for i, (key, _) in enumerate(self._top_keys(top))}

    def highlight_notes(self, top: int = 5) -> dict[str | tuple[str, str], str]:
        """Map keys of the same bottlenecks -> a note, e.g. ``"#1 bottleneck: 2d 4h per ticket"``."""
        from csmine.formatting import human_duration

        return {key: f"#{b.rank} bottleneck: {human_duration(b.mean_impact_s)} per ticket"
                for key, b in self._top_keys(top)}

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data; ``tickets`` is ``{"total", "closed", "open", "stale", "rule", ...}``."""
        data = plain(asdict(self))
        status = data.pop("status", None)
        data["tickets"] = status if status is not None else {"total": self.tickets}
        if self.status is not None and not self.status.rule_known:
            data["backlog"] = []  # which tickets are open is unknown without a closing rule
        return data


def find_bottlenecks(
    df: pd.DataFrame,
    sop: SOP | None = None,
    *,
    calendar: BusinessCalendar | None = None,
    top: int = 20,
    max_rows: int = 100,
    case_id_key: str = CASE_ID,
    activity_key: str = ACTIVITY,
    timestamp_key: str = TIMESTAMP,
    start_timestamp_key: str | None = START_TS,
    group_key: str = GROUP,
    ticket_frames: tuple[pd.DataFrame, pd.DataFrame] | None = None,
    closing: ClosingRule | None = None,
) -> BottleneckReport:
    """Find where tickets wait and what slows them down most.

    Args:
        df: event log frame (see :mod:`csmine.eventlog.loading`).
        sop: the SOP (waiting role, time limits, roles and aliases); optional.
        calendar: count business time only (None: wall clock).
        top: how many ranked bottlenecks to keep.
        max_rows: how many handover and ping-pong pairs to keep (most frequent first).
        ticket_frames: the per-ticket KPI frame and the limit frame
            (:func:`csmine.performance.kpi.ticket_kpis`, :func:`csmine.performance.limits.check_limits`, same SOP
            and calendar) of a log holding every ticket of ``df``, e.g. the whole log
            when ``df`` is one phase of it: their rows for ``df``'s tickets are used
            instead of analysing the tickets again.
        closing: ``--closed-when`` and the stale horizon (see
            :func:`csmine.eventlog.lifecycle.ticket_status`): which tickets are open, for the
            backlog, the overdue limits and the closed tickets' median throughput.

    Returns:
        The report; see :class:`BottleneckReport` and the module doc for the
        definitions.

    Raises:
        EmptyLogError: The log has no events.
    """
    prep = prepare(df, sop, case_id_key=case_id_key, activity_key=activity_key, timestamp_key=timestamp_key,
                   start_timestamp_key=start_timestamp_key, group_key=group_key)
    tickets_frame, limits_frame = _ticket_frames(prep, sop, calendar, closing, ticket_frames)
    return _report(prep, sop, calendar, tickets_frame, limits_frame, top, max_rows,
                   _notes(tickets_frame, prep, group_key))


def _ticket_frames(prep: Prepared, sop: SOP | None, calendar: BusinessCalendar | None, closing: ClosingRule | None,
                   ticket_frames: tuple[pd.DataFrame, pd.DataFrame] | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The per-ticket KPI frame and the limit frame of ``prep``'s tickets: analysed now,
    or their rows of frames of a larger log."""
    if ticket_frames is None:
        return analyse_tickets(prep, sop, calendar, closing=closing)
    ids = pd.Index(np.asarray(prep.log.cases, dtype=object).astype(str))
    tickets_frame = ticket_frames[0].reindex(ids)
    tickets_frame.attrs = dict(ticket_frames[0].attrs)
    limits_all = ticket_frames[1]
    limits_frame = limits_all[ids.get_indexer(limits_all["ticket"].astype(str)) >= 0] if len(limits_all) \
        else limits_all
    return tickets_frame, limits_frame


def _notes(tickets_frame: pd.DataFrame, prep: Prepared, group_key: str) -> tuple[str, ...]:
    """Caveats: limits not checked (their steps never occur), handovers between agents."""
    notes: list[str] = []
    left_out = list(tickets_frame.attrs.get("absent_limit_steps") or [])
    if left_out:
        notes.append(f"time limit{'s' if len(left_out) > 1 else ''} on {', '.join(map(repr, left_out))} not "
                     f"checked: the step{'s' if len(left_out) > 1 else ''} never occur"
                     f"{'' if len(left_out) > 1 else 's'} in the log")
    if prep.handover_key is not None and prep.handover_key != group_key:
        notes.append(f"no event names a team ({group_key}): handovers and ping-pong are between agents "
                     f"({prep.handover_key})")
    return tuple(notes)


def _report(prep: Prepared, sop: SOP | None, calendar: BusinessCalendar | None, tickets_frame: pd.DataFrame,
            limits_frame: pd.DataFrame, top: int, max_rows: int, notes: tuple[str, ...]) -> BottleneckReport:
    log = prep.log
    names = np.asarray(log.activities, dtype=object)
    waiting = waiting_statuses(prep, sop)
    split = split_time(log, waiting, calendar)
    throughput = tickets_frame["throughput_s"].to_numpy(dtype=float)
    total_thr = float(np.nansum(throughput))
    closed_thr = throughput[tickets_frame["closed"].astype(bool).to_numpy()]
    steps = step_times(prep, split, waiting, total_thr)
    transitions = transition_times(log, split)
    handovers, ping_pong, ho_stats, ho_names = team_flows(prep, calendar, max_rows)
    return BottleneckReport(
        tickets=len(log.cases),
        events=log.n,
        sop=sop.id if sop is not None else None,
        calendar=calendar.describe() if calendar is not None else None,
        status_log=not log.has_start,
        waiting_activities=tuple(sorted({str(a) for a in names[unique_ints(log.act[waiting])]})),
        total_throughput_s=total_thr,
        median_throughput_s=float(np.nanmedian(closed_thr)) if len(closed_thr) else 0.0,
        steps=steps.rows,
        transitions=transitions.rows,
        limits=limit_breaches(limits_frame, sop, calendar),
        handovers=handovers,
        ping_pong=ping_pong,
        rework=find_rework(log),
        backlog=backlog_days(tickets_frame, tz=calendar.tz if calendar is not None else "UTC"),
        first_line=first_line_summary(tickets_frame),
        bottlenecks=_rank(log, steps, transitions, ho_stats, ho_names, top, total_thr),
        status=ticket_counts(tickets_frame),
        handover_key=prep.handover_key,
        notes=notes,
    )


def _rank(log: EncodedLog, steps: StepTable, transitions: TransitionTable, ho_stats: pd.DataFrame | None,
          ho_names: dict[int, tuple[str, str]], top: int, total_thr: float) -> tuple[Bottleneck, ...]:
    """The ``top`` candidates by impact: gather every candidate's impact, then build
    objects for the top ones only.

    Status logs: the time between two events is the time in the first one's status,
    already ranked as that step -- transitions and handovers would count the same
    interval again, so only steps are ranked (the tables still list them).
    """
    names = np.asarray(log.activities, dtype=object)
    n_tickets = len(log.cases)
    status_log = not log.has_start
    st, tt, n_act = steps.stats, transitions.stats, transitions.n_activities
    frames = [st.assign(kind="step", a=[str(names[c]) for c in st.index], b="",
                        wshare=steps.waiting_share.reindex(st.index).to_numpy())]
    if len(tt) and not status_log:
        frames.append(tt.assign(kind="transition", a=[str(names[k // n_act]) for k in tt.index],
                                b=[str(names[k % n_act]) for k in tt.index],
                                wshare=transitions.waiting_share.reindex(tt.index).to_numpy()))
    if ho_stats is not None and not status_log:
        frames.append(ho_stats.assign(kind="handover", a=[ho_names[int(k)][0] for k in ho_stats.index],
                                      b=[ho_names[int(k)][1] for k in ho_stats.index], wshare=np.nan))
    cand = pd.concat(frames, ignore_index=True)
    cand = cand.sort_values(["impact", "kind", "a", "b"], ascending=[False, True, True, True], kind="stable").head(top)
    ranked = []
    for rank, row in enumerate(cand.itertuples(index=False), start=1):
        impact = float(row.impact)
        key = (row.a,) if row.kind == "step" else (row.a, row.b)
        ranked.append(Bottleneck(
            rank=rank, kind=row.kind, where=row.a if row.kind == "step" else f"{row.a} -> {row.b}", key=key,
            impact_s=impact, mean_impact_s=impact / n_tickets if n_tickets else 0.0,
            share_of_throughput=impact / total_thr if total_thr else 0.0,
            occurrences=int(row.size), tickets=int(row.slow_tickets), median_s=float(row.median),
            p90_s=float(row.p90), total_s=float(row.sum), waiting_share=float(row.wshare),
        ))
    return tuple(ranked)
