"""The bottleneck report of :func:`csmine.performance.bottlenecks.find_bottlenecks`, from an engine.

The per-ticket part (throughput, closing status, backlog, first line, time limits) is the
KPI frame of :func:`csmine.engines.kpis.engine_kpi_frames`; the per-event part is four
aggregates written here as portable SQL over ``events``:

* :func:`step_impact` — each activity's own time per event, attributed as
  :func:`csmine.mining.time_split.split_time` and :func:`csmine.performance.steps.step_times`
  do (own duration; the gap to the next event when the event opens a waiting status, or
  always in a status log; the gap *before* it is the transition's), with
  :func:`csmine.mining.group_stats.impact_stats`' figures (median, P90, impact over the
  median, slow tickets);
* :func:`transition_impact` — the gaps between consecutive activities;
* :func:`handover_impact` and :func:`ping_pong_pairs` — between consecutive holders
  (the team, else the agent) and on their runs;
* :func:`rework_counts` — repeats, self-loops and the most repetitions per activity.

Ranking (:func:`csmine.performance.bottlenecks._rank`) and every table's order are the
local code's, run on these aggregates. Wall clock only (``--calendar`` stays local).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from csmine.engines.queries import _ORDER, _ordered, _steps

if TYPE_CHECKING:
    from process_models import SOP

    from csmine.engines.base import Engine
    from csmine.engines.queries import Dialect
    from csmine.eventlog.lifecycle import ClosingRule
    from csmine.eventlog.loading import Phase
    from csmine.performance.bottlenecks import BottleneckReport


def _impact(d: Dialect, keys: str, name: str | None = None) -> str:
    """Impact statistics of CTE ``v`` (``keys``, ticket, v) per key (µs): the CTE ``m`` (the
    medians), then the statistics as the final SELECT, or as the CTE ``name`` (no nested
    WITH, which not every engine takes)."""
    join = " AND ".join(f"m.{k.strip()} = v.{k.strip()}" for k in keys.split(","))
    kv = ", ".join(f"v.{k.strip()}" for k in keys.split(","))
    return (
        f"m AS (SELECT {keys}, {d.percentile('v', 0.5)} AS median, {d.percentile('v', 0.9)} AS p90 FROM v "
        f"GROUP BY {keys}){f', {name} AS (' if name else ' '}"
        f"SELECT {kv}, COUNT(*) AS size, COUNT(DISTINCT v.ticket) AS tickets, AVG(v.v) AS mean, SUM(v.v) AS total, "
        "MAX(m.median) AS median, MAX(m.p90) AS p90, SUM(GREATEST(v.v - m.median, 0)) AS impact, "
        "COUNT(DISTINCT CASE WHEN v.v > m.median THEN v.ticket END) AS slow_tickets "
        f"FROM v JOIN m ON {join} GROUP BY {kv}{')' if name else ''}"
    )


def _attributed(status_log: bool) -> str:
    """``t``: each event's own duration, gap to the next (0 for the last), the gap before it
    when it is the transition's (``before``) and its waiting-status flag ``sw``."""
    s = 1 if status_log else 0
    return (
        f"{_steps()}, x AS (SELECT s.*, k.status_wait AS sw FROM steps s JOIN kpi_info k ON k.activity = s.activity), "
        "y AS (SELECT x.*, LAG(sw) OVER (PARTITION BY ticket ORDER BY pos) AS prev_sw FROM x), "
        "t AS (SELECT ticket, activity, next_activity, sw, "
        "CASE WHEN started_us IS NOT NULL THEN GREATEST(occurred_us - started_us, 0) ELSE 0 END AS own, "
        "CASE WHEN next_activity IS NOT NULL THEN GREATEST(next_arrival_us - occurred_us, 0) ELSE 0 END AS gap, "
        f"CASE WHEN prev_activity IS NOT NULL AND {s} = 0 AND prev_sw = 0 "
        "THEN GREATEST(arrival_us - prev_occurred_us, 0) ELSE 0 END AS before FROM y)"
    )


def step_impact(d: Dialect, *, status_log: bool) -> str:
    """Per activity: impact statistics of its own time, its waiting (after it), working and
    waiting-before sums, and whether it opens a waiting status (µs)."""
    s = 1 if status_log else 0
    own_time = f"own + sw * gap + {s} * (1 - sw) * gap"
    return (
        f"WITH {_attributed(status_log)}, "
        f"v AS (SELECT activity, ticket, {own_time} AS v FROM t), "
        f"sums AS (SELECT activity, SUM(sw * (own + gap)) AS wait_sum, SUM((1 - sw) * own + {s} * (1 - sw) * gap) "
        "AS work_sum, SUM(before) AS before_sum, MAX(sw) AS sw FROM t GROUP BY activity), "
        f"{_impact(d, 'activity', 'i')} "
        "SELECT i.*, sums.wait_sum, sums.work_sum, sums.before_sum, sums.sw FROM i JOIN sums ON sums.activity = i.activity"
    )


def transition_impact(d: Dialect, *, status_log: bool) -> str:
    """Per pair of consecutive activities: impact statistics of the gaps, waiting share (µs)."""
    wait = "sw" if status_log else "1"
    return (
        f"WITH {_attributed(status_log)}, "
        "v AS (SELECT activity AS source, next_activity AS target, ticket, gap AS v FROM t "
        "WHERE next_activity IS NOT NULL), "
        f"w AS (SELECT activity AS source, next_activity AS target, AVG({wait} * 1.0) AS waiting FROM t "
        "WHERE next_activity IS NOT NULL GROUP BY activity, next_activity), "
        f"{_impact(d, 'source, target', 'i')} "
        "SELECT i.*, w.waiting FROM i JOIN w ON w.source = i.source AND w.target = i.target"
    )


def _held(holder: str) -> str:
    return (f"{_ordered()}, held AS (SELECT ticket, {holder} AS holder, occurred_us, arrival_us, "
            f"LAG({holder}) OVER w AS prev_holder, LAG(occurred_us) OVER w AS prev_occurred_us, "
            f"ROW_NUMBER() OVER w AS rn FROM ordered WHERE {holder} IS NOT NULL "
            f"WINDOW w AS (PARTITION BY ticket ORDER BY {_ORDER}))")


def handover_impact(d: Dialect, holder: str) -> str:
    """Per (source, target) holder pair: impact statistics of the handover times, from the
    old holder's last event to the new one's next (µs)."""
    return (
        f"WITH {_held(holder)}, v AS (SELECT prev_holder AS source, holder AS target, ticket, "
        "GREATEST(arrival_us - prev_occurred_us, 0) AS v FROM held "
        f"WHERE prev_holder IS NOT NULL AND prev_holder <> holder), {_impact(d, 'source, target')}"
    )


def ping_pong_pairs(d: Dialect, holder: str) -> str:
    """Per (a, b): runs of ``a`` followed by ``b`` whose holder ``a`` has the ticket back
    right after (direct) or later (indirect), and the tickets."""
    return (
        f"WITH {_held(holder)}, runs AS (SELECT ticket, holder, ROW_NUMBER() OVER (PARTITION BY ticket ORDER BY rn) "
        "AS r FROM held WHERE prev_holder IS NULL OR prev_holder <> holder), "
        "rr AS (SELECT ticket, holder, r, LEAD(r) OVER (PARTITION BY ticket, holder ORDER BY r) AS nxt_same, "
        "LEAD(holder) OVER (PARTITION BY ticket ORDER BY r) AS nxt_team FROM runs) "
        "SELECT holder AS a, nxt_team AS b, SUM(CASE WHEN nxt_same = r + 2 THEN 1 ELSE 0 END) AS direct, "
        "SUM(CASE WHEN nxt_same > r + 2 THEN 1 ELSE 0 END) AS indirect, COUNT(DISTINCT ticket) AS tickets FROM rr "
        "WHERE nxt_same IS NOT NULL AND nxt_team IS NOT NULL GROUP BY holder, nxt_team"
    )


def rework_counts(d: Dialect) -> str:
    """Per activity: tickets doing it, tickets repeating it, extra events, most repetitions, self-loops."""
    return (
        f"WITH {_steps()}, n AS (SELECT ticket, activity, COUNT(*) AS k FROM steps GROUP BY ticket, activity), "
        "loops AS (SELECT activity, COUNT(*) AS self_loops FROM steps WHERE next_activity = activity GROUP BY activity) "
        "SELECT n.activity, COUNT(*) AS all_tickets, SUM(CASE WHEN k > 1 THEN 1 ELSE 0 END) AS tickets, "
        "SUM(k - 1) AS extra_events, MAX(k) AS max_repetitions, MAX(COALESCE(l.self_loops, 0)) AS self_loops "
        "FROM n LEFT JOIN loops l ON l.activity = n.activity GROUP BY n.activity"
    )


@dataclass(frozen=True)
class _Shape:
    """What :func:`csmine.performance.bottlenecks._rank` reads of an encoded log."""

    activities: np.ndarray
    cases: np.ndarray
    has_start: bool


def _stats(f: pd.DataFrame, index: np.ndarray) -> pd.DataFrame:
    """An engine's impact statistics (µs) as :func:`~csmine.mining.group_stats.impact_stats`' frame (s)."""
    out = pd.DataFrame({"size": f["size"].to_numpy(dtype=np.int64)}, index=pd.Index(index, name="k"))
    for col, src in (("median", "median"), ("mean", "mean"), ("sum", "total"), ("p90", "p90"), ("impact", "impact")):
        out[col] = f[src].to_numpy(dtype=float) / 1e6
    out["slow_tickets"] = f["slow_tickets"].to_numpy(dtype=np.int64)
    out["tickets"] = f["tickets"].to_numpy(dtype=np.int64)
    return out.sort_index()


def engine_bottlenecks(engine: Engine, sop: SOP | None, *, tie_order: str = "auto", top: int = 20,
                       max_rows: int = 100, closing: ClosingRule | None = None,
                       phases: list[Phase] | None = None,
                       frames: tuple[pd.DataFrame, pd.DataFrame] | None = None) -> BottleneckReport:
    """The bottleneck report of the engine's log, equal to :func:`~csmine.performance.bottlenecks.find_bottlenecks`'s
    (wall clock; ties in the SOP's step order, as the ``bottlenecks`` command orders them)."""
    from csmine.engines.kpis import KPI_INFO_COLUMNS, _activity_lookups, _size, check_engine_kpis, engine_kpi_frames
    from csmine.engines.results import _Session
    from csmine.performance.backlog import backlog_days, ticket_counts
    from csmine.performance.bottlenecks import BottleneckReport, _notes, _rank
    from csmine.performance.limits import limit_breaches
    from csmine.performance.teams import first_line_summary

    check_engine_kpis(engine, sop=sop)
    # ``frames``: engine_kpi_frames' result for the same arguments, already computed (the report's)
    frame, limits = frames if frames is not None else \
        engine_kpi_frames(engine, sop, tie_order=tie_order, closing=closing, phases=phases)
    d = engine.dialect
    session = _Session(engine, tie_order, sop, tie_sop=sop, closing=closing)
    status_log = int(_size(session).at[0, "starts"]) == 0
    kpi_rows, teams, _ = _activity_lookups(session, sop, status_log)
    holder = "team" if teams else "actor"
    st, tt, ho, pp, rw = session.run(
        [step_impact(d, status_log=status_log), transition_impact(d, status_log=status_log),
         handover_impact(d, holder), ping_pong_pairs(d, holder), rework_counts(d)],
        extra={"kpi_info": (KPI_INFO_COLUMNS, kpi_rows)})
    names = np.array(sorted(session.activity_events), dtype=object)
    code = {str(a): i for i, a in enumerate(names)}
    steps = _step_table(st, code, names, session.info(), float(np.nansum(frame["throughput_s"])))
    transitions = _transition_table(tt, code, names)
    handovers, ho_stats, ho_names = _handovers(ho, max_rows)
    throughput = frame["throughput_s"].to_numpy(dtype=float)
    closed_thr = throughput[frame["closed"].astype(bool).to_numpy()]
    total_thr = float(np.nansum(throughput))
    shape = _Shape(names, np.asarray(frame.index), not status_log)
    waiting = {str(r[0]) for r in kpi_rows if r[1]}
    return BottleneckReport(
        tickets=len(frame), events=int(frame["events"].sum()), sop=sop.id if sop is not None else None,
        calendar=None, status_log=status_log, waiting_activities=tuple(sorted(waiting)),
        total_throughput_s=total_thr,
        median_throughput_s=float(np.nanmedian(closed_thr)) if len(closed_thr) else 0.0,
        steps=steps.rows, transitions=transitions.rows, limits=limit_breaches(limits, sop, None),
        handovers=handovers, ping_pong=_ping_pong(pp, max_rows), rework=_rework(rw),
        backlog=backlog_days(frame, tz="UTC"), first_line=first_line_summary(frame),
        bottlenecks=_rank(shape, steps, transitions, ho_stats, ho_names, top, total_thr),  # type: ignore[arg-type]
        status=ticket_counts(frame), handover_key=frame.attrs.get("handover_key"),
        notes=_notes(frame, _NotesPrep(frame.attrs.get("handover_key")), "org:group"),  # type: ignore[arg-type]
    )


@dataclass(frozen=True)
class _NotesPrep:
    """What :func:`csmine.performance.bottlenecks._notes` reads of a prepared log."""

    handover_key: str | None


def _step_table(st: pd.DataFrame, code: dict[str, int], names: np.ndarray, info: list[tuple[Any, ...]],
                total_thr: float) -> Any:
    from csmine.performance.steps import StepTable, StepTime

    st = st.assign(c=[code[str(a)] for a in st["activity"]]).sort_values("c")
    step_of = {str(r[0]): r[3] for r in info}
    rows = []
    for r in st.itertuples(index=False):
        wait_s, work_s, before_s = float(r.wait_sum) / 1e6, float(r.work_sum) / 1e6, float(r.before_sum) / 1e6
        spent = wait_s + work_s + before_s
        step = step_of.get(str(r.activity))
        rows.append(StepTime(activity=str(r.activity), step=None if step is None else str(step),
                             waiting=bool(int(r.sw)), events=int(r.size), tickets=int(r.tickets), waiting_s=wait_s,
                             working_s=work_s, waiting_before_s=before_s, median_s=float(r.median) / 1e6,
                             p90_s=float(r.p90) / 1e6, share_of_time=spent / total_thr if total_thr else 0.0))
    rows.sort(key=lambda s: (-(s.waiting_s + s.working_s + s.waiting_before_s), s.activity))
    wait, work = st["wait_sum"].to_numpy(dtype=float), st["work_sum"].to_numpy(dtype=float)
    share = pd.Series(np.where(wait + work > 0, wait / np.where(wait + work > 0, wait + work, 1), 0.0),
                      index=st["c"].to_numpy())
    return StepTable(tuple(rows), _stats(st, st["c"].to_numpy()), share)


def _transition_table(tt: pd.DataFrame, code: dict[str, int], names: np.ndarray) -> Any:
    from csmine.performance.steps import TransitionTable, TransitionTime

    n_act = len(names)
    if not len(tt):
        return TransitionTable((), pd.DataFrame(), pd.Series(dtype=float), n_act)
    keys = np.array([code[str(a)] * n_act + code[str(b)] for a, b in zip(tt["source"], tt["target"], strict=True)])
    rows = [TransitionTime(source=str(r.source), target=str(r.target), events=int(r.size), tickets=int(r.tickets),
                           waiting=bool(float(r.waiting) >= 0.5), median_s=float(r.median) / 1e6,
                           mean_s=float(r.mean) / 1e6, p90_s=float(r.p90) / 1e6, total_s=float(r.total) / 1e6)
            for r in tt.itertuples(index=False)]
    rows.sort(key=lambda t: (-t.total_s, t.source, t.target))
    return TransitionTable(tuple(rows), _stats(tt, keys), pd.Series(tt["waiting"].to_numpy(dtype=float), index=keys),
                           n_act)


def _handovers(ho: pd.DataFrame, max_rows: int) -> tuple[tuple[Any, ...], pd.DataFrame | None, dict[int, Any]]:
    from csmine.performance.teams import Handover

    if not len(ho):
        return (), None, {}
    ho = ho.sort_values(["source", "target"]).reset_index(drop=True)
    stats = _stats(ho, np.arange(len(ho)))
    ho_names = {i: (str(a), str(b)) for i, (a, b) in enumerate(zip(ho["source"], ho["target"], strict=True))}
    top = stats.assign(_n=[ho_names[int(k)] for k in stats.index])
    top = top.sort_values(["size", "_n"], ascending=[False, True], kind="stable").head(max_rows)
    handovers = tuple(Handover(n[0], n[1], int(size), int(tickets), float(med))
                      for n, size, tickets, med in zip(top["_n"], top["size"], top["tickets"], top["median"],
                                                       strict=True))
    return handovers, stats, ho_names


def _ping_pong(pp: pd.DataFrame, max_rows: int) -> tuple[Any, ...]:
    from csmine.performance.teams import PingPong

    if not len(pp):
        return ()
    pp = pp.assign(na=pp["a"].astype(str), nb=pp["b"].astype(str), total=pp["direct"] + pp["indirect"])
    pp = pp.sort_values(["total", "direct", "na", "nb"], ascending=[False, False, True, True],
                        kind="stable").head(max_rows)
    return tuple(PingPong(na, nb, int(d), int(i), int(t)) for na, nb, d, i, t in
                 zip(pp["na"], pp["nb"], pp["direct"], pp["indirect"], pp["tickets"], strict=True))


def _rework(rw: pd.DataFrame) -> tuple[Any, ...]:
    from csmine.performance.steps import Rework

    out = [Rework(activity=str(r.activity), tickets=int(r.tickets), share=int(r.tickets) / int(r.all_tickets),
                  extra_events=int(r.extra_events), self_loops=int(r.self_loops),
                  max_repetitions=int(r.max_repetitions))
           for r in rw.itertuples(index=False) if int(r.tickets) > 0]
    out.sort(key=lambda r: (-r.tickets, r.activity))
    return tuple(out)


__all__ = ["engine_bottlenecks", "handover_impact", "ping_pong_pairs", "rework_counts", "step_impact",
           "transition_impact"]
