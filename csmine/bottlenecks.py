"""Where tickets lose time: waiting vs working, limits, backlog, handovers, rework.

:func:`find_bottlenecks` returns a :class:`BottleneckReport`. All figures are
computed on whole columns (shifts inside tickets, group-bys on encoded keys).

Time attribution (see :class:`csmine.mining.TimeSplit`): in status logs (BPIC
2013) each event opens a status that lasts until the next event; in
start/complete logs work happens inside each event's ``[start, completion]`` and
the time between events is waiting. A status is a **waiting status** when its
SOP step has the ``waiting`` role, or its name says it queues (``Queued``,
``Awaiting``, ``Pending``, ``On hold``...), or -- in status logs -- it is a
resolution or close status (resolved, waiting to be closed); without an SOP any
name with ``wait`` counts too (:func:`csmine.kpi.waiting_statuses`).

**Impact on throughput time** of a bottleneck (a step, a transition or a
handover between two teams; in status logs steps only, since the time from one
event to the next *is* the time in the first one's status and ranking the
transition or handover too would count it twice): the intervals of one ticket partition its time from
the first to the last event, so shortening one interval shortens the ticket by
the same amount. ``impact_s`` is the time saved over all tickets if every
occurrence slower than the median occurrence took only the median time:
``sum(max(0, t - median(t)))``. ``mean_impact_s`` divides it by all tickets in the
log (the mean reduction of throughput time), ``share_of_throughput`` by the sum
of all tickets' throughput times. ``total_s`` (cut to zero) is reported too.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from csmine.kpi import TicketCounts, analyse_tickets, backlog_series, prepare, ticket_counts, waiting_statuses
from csmine.mining import (
    ACTIVITY,
    CASE_ID,
    GROUP,
    START_TS,
    TIMESTAMP,
    seconds_between,
    split_time,
    unique_ints,
)

if TYPE_CHECKING:
    from process_models import SOP

    from csmine.calendar import BusinessCalendar
    from csmine.lifecycle import ClosingRule


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
class LimitBreaches:
    """How often one SOP time limit is breached.

    Attributes:
        step / since / within_s / business_hours: the limit.
        tickets: tickets the limit applied to (step happened, or overdue).
        breached: tickets over the limit (``overdue`` included).
        overdue: open tickets whose step has not happened and whose clock has run out.
        share: ``breached / tickets`` (None when it applied to none).
        median_elapsed_s / p90_elapsed_s: clock time to the step.
    """

    step: str
    since: str
    within_s: float
    business_hours: bool
    tickets: int
    breached: int
    overdue: int
    share: float | None
    median_elapsed_s: float | None
    p90_elapsed_s: float | None


@dataclass(frozen=True, slots=True)
class Handover:
    """Work passed from one team to another (consecutive events, team changes).

    Attributes:
        source_team / target_team: the teams.
        handovers: occurrences.  tickets: tickets with it.
        median_s: median time from the source team's event to the target team's.
    """

    source_team: str
    target_team: str
    handovers: int
    tickets: int
    median_s: float


@dataclass(frozen=True, slots=True)
class PingPong:
    """Tickets bouncing between two teams.

    On the sequence of teams of a ticket (consecutive events of the same team
    merged), team ``A`` hands to ``B`` and the ticket later comes back to ``A``:
    **direct** when ``A -> B -> A``, **indirect** when other teams come between
    (``A -> B -> ... -> A``). Counted for the pair ``(A, B)`` of the handover that
    left ``A``.

    Attributes:
        team_a: the team the ticket comes back to.  team_b: the team it went to.
        direct / indirect: occurrences.
        tickets: tickets with either pattern for this pair.
    """

    team_a: str
    team_b: str
    direct: int
    indirect: int
    tickets: int


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


@dataclass(frozen=True, slots=True)
class BacklogDay:
    """One day of the backlog: opened, closed, open at the end of the day."""

    date: str
    opened: int
    closed: int
    open: int


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
class FirstLineSummary:
    """Push to front: tickets solved in the first support line.

    Attributes:
        method: ``"line-marker"`` (team names carry 2nd/3rd) or ``"first-team"``.
        tickets: tickets with a team.  first_line: of those, never left the first line.
        share: ``first_line / tickets``.
        resolved_share: the same among resolved tickets (None without a resolution role).
    """

    method: str
    tickets: int
    first_line: int
    share: float | None
    resolved_share: float | None


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
            (:class:`csmine.kpi.TicketCounts`); in ``to_dict()`` this is ``tickets``.
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
        from csmine.render import human_duration

        return {key: f"#{b.rank} bottleneck: {human_duration(b.mean_impact_s)} per ticket"
                for key, b in self._top_keys(top)}

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data; ``tickets`` is ``{"total", "closed", "open", "stale", "rule", ...}``."""
        data = _clean(asdict(self))
        status = data.pop("status", None)
        data["tickets"] = status if status is not None else {"total": self.tickets}
        return data


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, np.generic):
        return _clean(value.item())
    return value


def _stats(keys: np.ndarray, values: np.ndarray, cases: np.ndarray) -> pd.DataFrame:
    """Per key: count, tickets, median, mean, p90, total, impact (excess over median), tickets slower.

    Integer keys and ticket codes without missing values (the usual case) are done in
    one sort: group bounds, quantiles read at their ranks (linear interpolation, as
    pandas), distinct (key, ticket) pairs by sorting; anything else goes through pandas.
    """
    keys = np.asarray(keys)
    values = np.asarray(values, dtype=float)
    cases = np.asarray(cases)
    if (len(keys) == 0 or keys.dtype.kind not in "iu" or cases.dtype.kind not in "iu"
            or bool(np.isnan(values).any()) or int(cases.min()) < 0):
        return _stats_pandas(keys, values, cases)
    order = np.lexsort((values, keys))
    k, v, c = keys[order], values[order], cases[order]
    starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
    sizes = np.diff(np.r_[starts, len(k)])
    groups = len(starts)

    def quantile(q: float) -> np.ndarray:
        h = (sizes - 1) * q
        lo = np.floor(h).astype(np.int64)
        frac = h - lo
        a = v[starts + lo]
        b = v[starts + np.minimum(lo + 1, sizes - 1)]
        return a + frac * (b - a)

    lo = (sizes - 1) // 2
    median = (v[starts + lo] + v[starts + sizes // 2]) / 2.0  # the middle value, or the mean of the two
    total = np.add.reduceat(v, starts)
    excess = np.clip(v - np.repeat(median, sizes), 0, None)
    group_of = np.repeat(np.arange(groups, dtype=np.int64), sizes)
    span = int(c.max()) + 1
    pairs = unique_ints(group_of * span + c)
    slow_pairs = unique_ints((group_of * span + c)[excess > 0])
    out = pd.DataFrame(
        {
            "size": sizes.astype(np.int64),
            "median": median,
            "mean": total / sizes,
            "sum": total,
            "p90": quantile(0.9),
            "impact": np.add.reduceat(excess, starts),
            "slow_tickets": np.bincount(slow_pairs // span, minlength=groups).astype(np.int64),
            "tickets": np.bincount(pairs // span, minlength=groups).astype(np.int64),
        },
        index=pd.Index(k[starts], name="k"),
    )
    return out


def _stats_pandas(keys: np.ndarray, values: np.ndarray, cases: np.ndarray) -> pd.DataFrame:
    frame = pd.DataFrame({"k": keys, "v": values, "c": cases})
    g = frame.groupby("k", sort=True)["v"]
    out = g.agg(["size", "median", "mean", "sum"])
    out["p90"] = g.quantile(0.9)
    med = g.transform("median").to_numpy()
    excess = np.clip(values - med, 0, None)
    frame["x"] = excess
    out["impact"] = frame.groupby("k", sort=True)["x"].sum()
    slow = frame[excess > 0]
    out["slow_tickets"] = slow.drop_duplicates(["k", "c"]).groupby("k").size().reindex(out.index, fill_value=0)
    out["tickets"] = frame.drop_duplicates(["k", "c"]).groupby("k").size()
    return out


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
        df: event log frame (see :mod:`csmine.eventlog`).
        sop: the SOP (waiting role, time limits, roles and aliases); optional.
        calendar: count business time only (None: wall clock).
        top: how many ranked bottlenecks to keep.
        max_rows: how many handover and ping-pong pairs to keep (most frequent first).
        ticket_frames: the per-ticket KPI frame and the limit frame
            (:func:`csmine.kpi.ticket_kpis`, :func:`csmine.kpi.check_limits`, same SOP
            and calendar) of a log holding every ticket of ``df``, e.g. the whole log
            when ``df`` is one phase of it: their rows for ``df``'s tickets are used
            instead of analysing the tickets again.
        closing: ``--closed-when`` and the stale horizon (see
            :func:`csmine.lifecycle.ticket_status`): which tickets are open, for the
            backlog, the overdue limits and the closed tickets' median throughput.

    Returns:
        The report; see :class:`BottleneckReport` and the module doc for the
        definitions.

    Raises:
        EmptyLogError: The log has no events.
    """
    prep = prepare(df, sop, case_id_key=case_id_key, activity_key=activity_key, timestamp_key=timestamp_key,
                   start_timestamp_key=start_timestamp_key, group_key=group_key)
    log = prep.log
    names = np.asarray(log.activities, dtype=object)
    waiting = waiting_statuses(prep, sop)
    split = split_time(log, waiting, calendar)
    if ticket_frames is None:
        tickets_frame, limits_frame = analyse_tickets(prep, sop, calendar, closing=closing)
    else:
        ids = pd.Index(np.asarray(log.cases, dtype=object).astype(str))
        tickets_frame = ticket_frames[0].reindex(ids)
        tickets_frame.attrs = dict(ticket_frames[0].attrs)
        limits_all = ticket_frames[1]
        limits_frame = limits_all[ids.get_indexer(limits_all["ticket"].astype(str)) >= 0] if len(limits_all) \
            else limits_all
    throughput = tickets_frame["throughput_s"].to_numpy(dtype=float)
    total_thr = float(np.nansum(throughput))
    n_tickets = len(log.cases)
    closed_thr = throughput[tickets_frame["closed"].astype(bool).to_numpy()]

    # steps: the step's own time (its interval, and the status it opens when that
    # gap is its own); waiting *before* a step is the transition's, shown apart
    before = np.zeros(log.n)
    pi, pj = log.pairs()
    to_next = split.gap_owner[pi] == pj
    np.add.at(before, pj[to_next], split.gap_s[pi][to_next])
    own_time = split.wait_s + split.work_s - before
    st = _stats(log.act, own_time, log.case)
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
            share_of_time=spent / total_thr if total_thr else 0.0,
        ))
    steps.sort(key=lambda s: (-(s.waiting_s + s.working_s + s.waiting_before_s), s.activity))

    # transitions
    i, j = log.pairs()
    n_act = len(names)
    tkey = log.act[i] * n_act + log.act[j]
    gap = split.gap_s[i]
    tt = _stats(tkey, gap, log.case[i]) if len(i) else pd.DataFrame()
    t_wait = pd.Series(split.gap_waiting[i]).groupby(tkey).mean() if len(i) else pd.Series(dtype=float)
    transitions = []
    for key, row in tt.iterrows():
        transitions.append(TransitionTime(
            source=str(names[key // n_act]), target=str(names[key % n_act]), events=int(row["size"]),
            tickets=int(row["tickets"]), waiting=bool(t_wait[key] >= 0.5), median_s=float(row["median"]),
            mean_s=float(row["mean"]), p90_s=float(row["p90"]), total_s=float(row["sum"]),
        ))
    transitions.sort(key=lambda t: (-t.total_s, t.source, t.target))

    # teams: handovers, ping-pong
    handovers, ping_pong, ho_stats, ho_names = _teams(prep, calendar, max_rows)

    # rework
    rework = _rework(log, names)

    # limits, in the SOP's order
    limits = []
    notes: list[str] = []
    left_out = list(tickets_frame.attrs.get("absent_limit_steps") or [])
    if left_out:
        notes.append(f"time limit{'s' if len(left_out) > 1 else ''} on {', '.join(map(repr, left_out))} not "
                     f"checked: the step{'s' if len(left_out) > 1 else ''} never occur"
                     f"{'' if len(left_out) > 1 else 's'} in the log")
    if prep.handover_key is not None and prep.handover_key != group_key:
        notes.append(f"no event names a team ({group_key}): handovers and ping-pong are between agents "
                     f"({prep.handover_key})")
    if sop is not None:
        groups = dict(iter(limits_frame.groupby(["step", "since"], sort=False))) if len(limits_frame) else {}
        for limit in sop.limits:
            part = groups.get((limit.step, limit.since))
            if part is None or len(part) == 0:
                limits.append(LimitBreaches(limit.step, limit.since, limit.within.total_seconds(),
                                            bool(limit.business_hours or calendar is not None), 0, 0, 0,
                                            None, None, None))
                continue
            el = part["elapsed_s"].dropna()
            limits.append(LimitBreaches(
                step=limit.step, since=limit.since, within_s=float(part["within_s"].iloc[0]),
                business_hours=bool(part["business_hours"].iloc[0]), tickets=len(part),
                breached=int(part["breached"].sum()), overdue=int(part["overdue"].sum()),
                share=float(part["breached"].mean()),
                median_elapsed_s=float(el.median()) if len(el) else None,
                p90_elapsed_s=float(np.quantile(el, 0.9)) if len(el) else None,
            ))

    # backlog
    tz = calendar.tz if calendar is not None else "UTC"
    series = backlog_series(tickets_frame, tz=tz)
    backlog = tuple(BacklogDay(str(r.date), int(r.opened), int(r.closed), int(r.open))
                    for r in series.itertuples(index=False))

    # first line
    fl = tickets_frame["first_line"]
    with_team = fl.notna()
    resolved = tickets_frame["resolved"]
    res_share = None
    if resolved.notna().any():
        base = fl[resolved.fillna(False).to_numpy(dtype=bool) & with_team.to_numpy()]
        res_share = float(base.astype(bool).mean()) if len(base) else None
    first_line = FirstLineSummary(
        method=str(tickets_frame.attrs.get("first_line_method", "")),
        tickets=int(with_team.sum()),
        first_line=int(fl.fillna(False).astype(bool).sum()),
        share=float(fl[with_team].astype(bool).mean()) if with_team.any() else None,
        resolved_share=res_share,
    )

    # ranking: gather every candidate's impact, then build objects for the top ones only.
    # Status logs: the time between two events is the time in the first one's status,
    # already ranked as that step -- transitions and handovers would count the same
    # interval again, so only steps are ranked (the tables still list them).
    status_log = not log.has_start
    frames = []
    step_wait_share = (wait_sum / (wait_sum + work_sum)).fillna(0.0)
    frames.append(st.assign(kind="step", a=[str(names[c]) for c in st.index], b="",
                            wshare=step_wait_share.reindex(st.index).to_numpy()))
    if len(i) and not status_log:
        frames.append(tt.assign(kind="transition", a=[str(names[k // n_act]) for k in tt.index],
                                b=[str(names[k % n_act]) for k in tt.index],
                                wshare=t_wait.reindex(tt.index).to_numpy()))
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

    return BottleneckReport(
        tickets=n_tickets,
        events=log.n,
        sop=sop.id if sop is not None else None,
        calendar=calendar.describe() if calendar is not None else None,
        status_log=status_log,
        waiting_activities=tuple(sorted({str(a) for a in names[unique_ints(log.act[waiting])]})),
        total_throughput_s=total_thr,
        median_throughput_s=float(np.nanmedian(closed_thr)) if len(closed_thr) else 0.0,
        steps=tuple(steps),
        transitions=tuple(transitions),
        limits=tuple(limits),
        handovers=handovers,
        ping_pong=ping_pong,
        rework=rework,
        backlog=backlog,
        first_line=first_line,
        bottlenecks=tuple(ranked),
        status=ticket_counts(tickets_frame),
        handover_key=prep.handover_key,
        notes=tuple(notes),
    )


def _teams(
    prep: Any, calendar: BusinessCalendar | None, max_rows: int
) -> tuple[tuple[Handover, ...], tuple[PingPong, ...], pd.DataFrame | None, dict[int, tuple[str, str]]]:
    log = prep.log
    has = pd.notna(prep.teams)
    idx = np.flatnonzero(has)
    if len(idx) < 2:
        return (), (), None, {}
    team_codes, team_names = pd.factorize(pd.Series(prep.teams[idx], dtype=object))
    team_names = np.asarray(team_names, dtype=object)
    n_t = len(team_names)
    cases = log.case[idx]
    same_case = cases[1:] == cases[:-1]
    change = same_case & (team_codes[1:] != team_codes[:-1])
    # handovers: from the last event of the old team to the next event of the new one
    src_pos, dst_pos = idx[:-1][change], idx[1:][change]
    ho_gap = np.clip(seconds_between(log.ts[src_pos], log.arrival()[dst_pos], calendar), 0, None)
    hkey = team_codes[:-1][change] * n_t + team_codes[1:][change]
    handovers: tuple[Handover, ...] = ()
    ho_stats = None
    ho_names: dict[int, tuple[str, str]] = {}
    if len(hkey):
        ho_stats = _stats(hkey, ho_gap, cases[1:][change])
        ho_names = {int(k): (str(team_names[k // n_t]), str(team_names[k % n_t])) for k in ho_stats.index}
        top = ho_stats.assign(_n=[ho_names[int(k)] for k in ho_stats.index])
        top = top.sort_values(["size", "_n"], ascending=[False, True], kind="stable").head(max_rows)
        handovers = tuple(
            Handover(n[0], n[1], int(size), int(tickets), float(med))
            for n, size, tickets, med in zip(top["_n"], top["size"], top["tickets"], top["median"], strict=True)
        )

    # ping-pong on runs of the same team
    run_start = np.ones(len(idx), dtype=bool)
    run_start[1:] = ~same_case | (team_codes[1:] != team_codes[:-1])
    r_case = cases[run_start]
    r_team = team_codes[run_start]
    pos = np.arange(len(r_case))
    runs = pd.DataFrame({"c": r_case, "t": r_team, "p": pos})
    nxt_same = runs.groupby(["c", "t"], sort=False)["p"].shift(-1).to_numpy()
    nxt_team = np.full(len(pos), -1)
    nxt_team[:-1] = np.where(r_case[1:] == r_case[:-1], r_team[1:], -1)
    has_back = ~np.isnan(nxt_same)
    direct = has_back & (nxt_same == pos + 2)
    indirect = has_back & (nxt_same > pos + 2)
    pp = pd.DataFrame({"c": r_case, "a": r_team, "b": nxt_team, "d": direct, "i": indirect})
    pp = pp[(pp["d"] | pp["i"]) & (pp["b"] >= 0)]
    ping: list[PingPong] = []
    if len(pp):
        g = pp.groupby(["a", "b"], sort=True)
        agg = g.agg(direct=("d", "sum"), indirect=("i", "sum"))
        agg["tickets"] = pp.drop_duplicates(["c", "a", "b"]).groupby(["a", "b"]).size()
        agg = agg.reset_index()
        agg["na"] = team_names[agg["a"].to_numpy()].astype(str)
        agg["nb"] = team_names[agg["b"].to_numpy()].astype(str)
        agg["total"] = agg["direct"] + agg["indirect"]
        agg = agg.sort_values(["total", "direct", "na", "nb"], ascending=[False, False, True, True],
                              kind="stable").head(max_rows)
        ping = [PingPong(na, nb, int(d), int(i), int(t)) for na, nb, d, i, t in
                zip(agg["na"], agg["nb"], agg["direct"], agg["indirect"], agg["tickets"], strict=True)]
    return handovers, tuple(ping), ho_stats, ho_names


def _rework(log: Any, names: np.ndarray) -> tuple[Rework, ...]:
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
