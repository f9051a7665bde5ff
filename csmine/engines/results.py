"""The engines' aggregates turned into csmine's result objects.

:func:`engine_map` builds the same :class:`~csmine.mining.maps.ProcessMap` as
:func:`csmine.mining.maps.discover_map` (the activity slider's cut, the path slider's
choice and the widest connecting paths are the local code's, run on the aggregated
counts), :func:`engine_variants` the same :class:`~csmine.mining.variants.Variant` list
as :func:`csmine.mining.variants.discover_variants`, :func:`engine_conformance` the
alignment figures of :func:`csmine.conformance.deviations.check_conformance` (each
distinct step sequence aligned once with csmine's engine, the results joined back by
ticket counts), :func:`engine_ticket_figures` the per-ticket KPI figures.

Times arrive as integer microseconds and become float seconds here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from csmine.engines.queries import (
    ACTIVITY_INFO_COLUMNS,
    LIMIT_COLUMNS,
    SEPARATOR,
    activity_info_rows,
    activity_stats,
    directly_follows,
    distinct_activities,
    limit_checks,
    limit_rows,
    log_size,
    rework,
    start_end,
    step_waiting,
    ticket_figures,
    variants,
    variants_by_status,
)
from csmine.errors import EmptyLogError

if TYPE_CHECKING:
    from process_models import SOP

    from csmine.engines.base import Engine
    from csmine.eventlog.lifecycle import ClosingRule
    from csmine.mining.maps import ProcessMap
    from csmine.mining.variants import Variant


def _s(value: Any) -> float | None:
    """Microseconds (any numeric, NULL) as float seconds."""
    if value is None or pd.isna(value):
        return None
    return float(value) / 1e6


class _Session:
    """The distinct activities of an engine's log, and the ``activity_info`` lookup."""

    def __init__(self, engine: Engine, tie_order: str = "auto", sop: SOP | None = None,
                 first_response: str | None = None, tie_sop: SOP | None = None,
                 closing: ClosingRule | None = None) -> None:
        self.engine = engine
        frame = engine.run([distinct_activities(engine.dialect)], {})[0]
        self.activity_events = {str(a): int(n) for a, n in zip(frame["activity"], frame["events"], strict=True)}
        if not self.activity_events:
            raise EmptyLogError("the event log is empty: nothing to discover (check the filters)")
        self.tie_order = tie_order
        self.sop = sop
        self.first_response = first_response
        self.tie_sop = tie_sop
        self.closing = closing

    def info(self, kept: Sequence[str] | None = None) -> list[tuple[Any, ...]]:
        return activity_info_rows(list(self.activity_events), tie_order=self.tie_order, sop=self.sop,
                                  kept=kept, first_response=self.first_response, tie_sop=self.tie_sop,
                                  closing=self.closing)

    def run(self, queries: Sequence[str], kept: Sequence[str] | None = None,
            extra: dict[str, Any] | None = None) -> list[pd.DataFrame]:
        lookups: dict[str, Any] = {"activity_info": (ACTIVITY_INFO_COLUMNS, self.info(kept))}
        lookups.update(extra or {})
        return self.engine.run(queries, lookups)


def _cut_activities(counts: dict[str, int], activities: float, forced: set[str]) -> tuple[list[str], tuple[str, ...]]:
    """The activity slider (as :func:`csmine.mining.maps._cut_activities`): the most frequent
    activities covering ``activities`` of the events, plus ``forced``; and those left out."""
    ranking = sorted(counts, key=lambda a: (-counts[a], a))
    total = sum(counts.values())
    kept: list[str] = []
    covered = 0
    for a in ranking:
        if kept and covered >= activities * total - 1e-9:
            break
        kept.append(a)
        covered += counts[a]
    chosen = set(kept) | {a for a in ranking if a in forced}
    return [a for a in ranking if a in chosen], tuple(a for a in ranking if a not in chosen)


def engine_map(engine: Engine, *, activities: float = 1.0, paths: float = 1.0, tie_order: str = "auto",
               keep: Iterable[str | tuple[str, str]] = (), tie_sop: SOP | None = None) -> ProcessMap:
    """The process map of the engine's log, equal to :func:`csmine.mining.maps.discover_map`'s
    (``tie_sop``: ties in that SOP's step order, as ``order_events(df, sop)`` orders them)."""
    return engine_maps(engine, activities=(activities,), paths=(paths,), tie_order=tie_order, keep=keep,
                       tie_sop=tie_sop)[(activities, paths)]


def engine_maps(engine: Engine, *, activities: Sequence[float] = (1.0,), paths: Sequence[float] = (1.0,),
                tie_order: str = "auto", keep: Iterable[str | tuple[str, str]] = (),
                tie_sop: SOP | None = None) -> dict[tuple[float, float], ProcessMap]:
    """The maps at every (activities, paths) level, as :func:`csmine.mining.maps.discover_maps`:
    the engine aggregates once per activity level; the path slider's cut is made here."""
    from csmine.mining.maps import _check_share

    for a in activities:
        _check_share("activities", a)
    for p in paths:
        _check_share("paths", p)
    session = _Session(engine, tie_order, tie_sop=tie_sop)
    keep = tuple(keep)
    forced_paths = {k for k in keep if isinstance(k, tuple)}
    forced = {k for k in keep if isinstance(k, str)} | {a for p in forced_paths for a in p}
    d = engine.dialect
    out: dict[tuple[float, float], ProcessMap] = {}
    # the activities' figures and the log's size do not depend on the slider: once; the paths
    # once per distinct set of kept activities
    whole = session.run([activity_stats(d), log_size(d)])
    by_kept: dict[tuple[str, ...], list[pd.DataFrame]] = {}
    for a in activities:
        kept_names, dropped = _cut_activities(session.activity_events, a, forced)
        if tuple(kept_names) not in by_kept:
            by_kept[tuple(kept_names)] = session.run([directly_follows(d), start_end(d)],
                                                     kept=kept_names if dropped else None)
        dfg, ends = by_kept[tuple(kept_names)]
        frames = [whole[0], dfg, ends, whole[1]]
        for p in paths:
            out[(a, p)] = _assemble_map(session.activity_events, kept_names, dropped, frames, a, p, forced_paths)
    return out


def _assemble_map(counts: dict[str, int], kept_names: list[str], dropped: tuple[str, ...],
                  frames: Sequence[pd.DataFrame], activities: float, paths: float,
                  forced_paths: set[tuple[str, str]]) -> ProcessMap:
    from csmine.mining.maps import END, START, MapEdge, MapNode, ProcessMap, _keep_paths

    stats, dfg, ends, size = frames
    total = sum(counts.values())
    arcs: dict[tuple[str, str], int] = {}
    for r in dfg.itertuples(index=False):
        arcs[(str(r.source), str(r.target))] = int(r.events)
    for r in ends.itertuples(index=False):
        arcs[(START, str(r.activity)) if r.side == "start" else (str(r.activity), END)] = int(r.events)
    kept_arcs = _keep_paths(arcs, paths, forced_paths, kept_names)
    by_act = stats.set_index("activity")
    nodes = tuple(MapNode(activity=a, events=counts[a], cases=int(by_act.at[a, "cases"]),
                          work_median_s=_s(by_act.at[a, "work_median_us"]),
                          work_mean_s=_s(by_act.at[a, "work_mean_us"])) for a in kept_names)
    edges = sorted((MapEdge(str(r.source), str(r.target), int(r.events), int(r.cases), _s(r.median_us),
                            _s(r.mean_us), _s(r.p90_us), _s(r.total_us))
                    for r in dfg.itertuples(index=False) if (str(r.source), str(r.target)) in kept_arcs),
                   key=lambda e: (-e.events, e.source, e.target))
    start_edges = sorted((MapEdge(START, str(r.activity), int(r.events), int(r.events))
                          for r in ends.itertuples(index=False)
                          if r.side == "start" and (START, str(r.activity)) in kept_arcs),
                         key=lambda e: (-e.events, e.target))
    end_edges = sorted((MapEdge(str(r.activity), END, int(r.events), int(r.events))
                        for r in ends.itertuples(index=False)
                        if r.side == "end" and (str(r.activity), END) in kept_arcs),
                       key=lambda e: (-e.events, e.source))
    arc_total = sum(arcs.values())
    return ProcessMap(
        nodes=nodes, edges=tuple(edges), start_edges=tuple(start_edges), end_edges=tuple(end_edges),
        tickets=int(size.at[0, "tickets"]), events=int(size.at[0, "events"]),
        activity_coverage=sum(counts[a] for a in kept_names) / total if total else 0.0,
        path_coverage=sum(arcs[a] for a in kept_arcs) / arc_total if arc_total else 1.0,
        activities=activities, paths=paths, dropped_activities=dropped, dropped_paths=len(arcs) - len(kept_arcs),
    )


def _variant_frame(engine: Engine, tie_order: str, tie_sop: SOP | None = None) -> pd.DataFrame:
    try:
        session = _Session(engine, tie_order, tie_sop=tie_sop)
    except EmptyLogError:
        return pd.DataFrame({"variant": [], "tickets": [], "median_throughput_us": [], "example_ticket": []})
    return session.run([variants(engine.dialect)])[0]


def engine_variants(engine: Engine, top: int | None = None, *, tie_order: str = "auto",
                    tie_sop: SOP | None = None) -> list[Variant]:
    """Variants of the engine's log, equal to :func:`csmine.mining.variants.discover_variants`'s
    (``tie_sop``: ties in that SOP's step order)."""
    from csmine.mining.variants import Variant

    frame = _variant_frame(engine, tie_order, tie_sop)
    rows = [(tuple(str(v).split(SEPARATOR)), int(n), float(m) / 1e6, str(x))
            for v, n, m, x in zip(frame["variant"], frame["tickets"], frame["median_throughput_us"],
                                  frame["example_ticket"], strict=True)]
    rows.sort(key=lambda r: (-r[1], r[0]))
    n_cases = sum(r[1] for r in rows)
    if top is not None:
        rows = rows[: max(top, 0)]
    out = []
    running = 0
    for acts, n, median, example in rows:
        running += n
        out.append(Variant(activities=acts, tickets=n, share=n / n_cases, cumulative_share=running / n_cases,
                           median_throughput_s=median, example_ticket=example))
    return out


@dataclass(frozen=True, slots=True)
class VariantConformance:
    """Alignment figures of a log against an SOP, computed once per distinct variant.

    Attributes:
        sop: SOP id.  tickets: tickets checked.  events: their events.
        variants: distinct step sequences aligned.
        log_fitness: ``1 - sum(cost) / sum(len * 10,000 + w)`` over tickets (pm4py's
            ``log_fitness``; ``w`` the cheapest complete SOP run).
        average_fitness: mean trace fitness over tickets.
        fitting_tickets: tickets with trace fitness 1.0.  fitting_share: of all tickets.
        unknown_activities: source activities the SOP does not know, most events first.
        open_tickets: tickets still open (prefix alignments), 0 without a closing rule.
        skipped: per step (the SOP's flow steps, its other steps, then the unknown
            activities, as the conformance report lists them), the share of tickets
            that skipped it (a counted model move), as ``StepConformance.skipped_share``.
        precision: align-ETC precision (:func:`variant_precision`).
    """

    sop: str
    tickets: int
    events: int
    variants: int
    log_fitness: float
    average_fitness: float
    fitting_tickets: int
    fitting_share: float
    unknown_activities: tuple[str, ...]
    open_tickets: int = 0
    skipped: tuple[tuple[str, float], ...] = ()
    precision: float | None = None


def engine_conformance(engine: Engine, sop: SOP, *, mapping: bool = True, tie_order: str = "auto",
                       closing: ClosingRule | None = None) -> VariantConformance:
    """The SOP alignment figures of the engine's log, equal to
    :func:`~csmine.conformance.deviations.check_conformance`'s.

    ``closing`` None takes every ticket as ended; with a rule, tickets still open (by
    :func:`csmine.eventlog.lifecycle.ticket_status`'s rule, computed in the engine) get
    prefix alignments and no model moves for the steps still to come, as the local path.
    """
    from csmine.conformance.classify import classify_variants

    try:
        session = _Session(engine, tie_order, sop, tie_sop=sop, closing=closing)  # ties in the SOP's step order
    except EmptyLogError:
        raise EmptyLogError("the event log is empty: no tickets to check (check the filters)") from None
    frame = session.run([variants_by_status(engine.dialect)])[0]
    known = closing is not None and (any(r[-2] for r in session.info()) or bool(sop.roles.get("close"))
                                     or bool(sop.closed_when) or closing.closed_when is not None)
    vocabulary = sop.activity_map() if mapping else {n: n for n in sop.step_names}
    tickets_of: dict[tuple[tuple[str, ...], bool], int] = {}
    unknown: dict[str, int] = {}
    for v, closed, n in zip(frame["variant"], frame["closed"], frame["tickets"], strict=True):
        acts = str(v).split(SEPARATOR)
        key = (tuple(vocabulary.get(a, a) for a in acts), bool(known and not int(closed)))
        tickets_of[key] = tickets_of.get(key, 0) + int(n)
        for a in acts:
            if a not in vocabulary:
                unknown[a] = unknown.get(a, 0) + int(n)
    keys = sorted(tickets_of)
    closed_keys = [k for k in keys if not k[1]]
    open_keys = [k for k in keys if k[1]]
    closed_results = classify_variants(sop, "csmine", [(), *(k[0] for k in closed_keys)])
    w = closed_results[0].cost
    results = dict(zip(closed_keys, closed_results[1:], strict=True))
    if open_keys:
        results.update(zip(open_keys, classify_variants(sop, "csmine", [k[0] for k in open_keys], prefix=True),
                           strict=True))
    counts = np.array([tickets_of[k] for k in keys], dtype=np.int64)
    lengths = np.array([len(k[0]) for k in keys], dtype=np.int64)
    is_open = np.array([k[1] for k in keys], dtype=bool)
    cost = np.array([results[k].cost for k in keys], dtype=np.int64)
    fitness = np.array([results[k].fitness for k in keys], dtype=np.float64)
    n = int(counts.sum())
    fitting = int(counts[fitness == 1.0].sum())
    denominator = float((counts * (lengths * 10_000 + np.where(is_open, 0, w))).sum())
    return VariantConformance(
        sop=sop.id, tickets=n, events=int((counts * lengths).sum()), variants=len(keys),
        log_fitness=1.0 - float((counts * cost).sum()) / denominator if denominator else 1.0,
        average_fitness=float((counts * fitness).sum()) / n, fitting_tickets=fitting, fitting_share=fitting / n,
        unknown_activities=tuple(sorted(unknown, key=lambda a: (-unknown[a], a))),
        open_tickets=int(counts[is_open].sum()),
        skipped=_skipped_shares(sop, [results[k] for k in keys], counts, unknown),
        precision=variant_precision(sop, [(k[0], tickets_of[k]) for k in keys]),
    )


def variant_precision(sop: SOP, variants: Sequence[tuple[tuple[str, ...], int]]) -> float | None:
    """Align-ETC precision (:func:`csmine.conformance.figures.precision_alignments`) from the
    mapped step sequences and their ticket counts: the log's prefix tree is built from the
    variants, each node weighted by the tickets that continue after it, so no ticket's events
    are needed. None when the SOP's state space is too large for csmine's engine (the local
    path then asks pm4py)."""
    from csmine.conformance.alignments import compile_model
    from csmine.conformance.engines import alignment_net
    from csmine.conformance.figures import _escaping_edges
    from csmine.conformance.trie import LogTrie

    model = compile_model(*alignment_net(sop))
    if model.n_states is None:
        return None
    acts: dict[str, int] = {}
    parent, code, depth, cont = [-1], [-1], [0], [0]
    frontier = [(0, seq, n) for seq, n in variants]
    d = 0
    while frontier:  # level by level: the order the escaping-edge pass walks the nodes in
        children: dict[tuple[int, int], int] = {}
        moved = []
        for node, seq, n in frontier:
            if d > 0:
                cont[node] += n
            key = (node, acts.setdefault(seq[d], len(acts)))
            if key not in children:
                children[key] = len(parent)
                parent.append(node)
                code.append(key[1])
                depth.append(d + 1)
                cont.append(0)
            if len(seq) > d + 1:
                moved.append((children[key], seq, n))
        frontier = moved
        d += 1
    total = sum(n for _, n in variants)
    trie = LogTrie(cases=pd.RangeIndex(total), case_node=np.zeros(0, dtype=np.int64),
                   case_length=np.zeros(0, dtype=np.int64), parent=np.array(parent), code=np.array(code),
                   depth=np.array(depth), continuing=np.array(cont), activities=list(acts))
    sum_at, sum_ee = _escaping_edges(model, trie)
    return 1 - float(sum_ee) / float(sum_at) if sum_at > 0 else 1.0


def _skipped_shares(sop: SOP, results: Sequence[Any], counts: np.ndarray,
                    unknown: dict[str, int]) -> tuple[tuple[str, float], ...]:
    """Per step, the share of tickets whose variant skips it (each ticket of a variant alike)."""
    flow = set(sop.flow_steps)
    steps = [s for s in sop.step_names if s in flow] + [s for s in sop.step_names if s not in flow]
    steps += sorted(unknown, key=lambda a: (-unknown[a], a))
    tickets = dict.fromkeys(steps, 0)
    for result, n in zip(results, counts.tolist(), strict=True):
        for step in {it.label for it in result.items if it.counted and str(it.deviation) == "skipped"}:
            tickets[step] = tickets.get(step, 0) + int(n)
    total = int(counts.sum())
    return tuple((s, tickets[s] / total) for s in steps)


def engine_ticket_figures(engine: Engine, sop: SOP | None = None, *, tie_order: str = "auto",
                          first_response: str | None = None, tie_sop: SOP | None = None) -> pd.DataFrame:
    """Per-ticket KPI figures (index ``ticket``, sorted), seconds, wall clock.

    Columns: ``events``, ``opened_at``, ``last_event_at``, ``throughput_s``,
    ``first_response_s``, ``resolved``, ``resolution_s``, ``reopened`` (the SOP's reopen
    role, else first-response work after the first resolution), ``escalated``,
    ``handovers``, ``teams``, ``ping_pong``, ``repeats``, ``rework``; the same
    definitions as :func:`csmine.performance.kpi.ticket_kpis` without a business calendar
    (``tie_sop``: break ties in that SOP's step order, as the ``kpi`` command does;
    the whole frame: :func:`csmine.engines.kpis.engine_ticket_kpis`).
    """
    session = _Session(engine, tie_order, sop, first_response, tie_sop=tie_sop)
    size = session.run([log_size(engine.dialect)])[0]
    holder = "team" if int(size.at[0, "teams"]) > 0 else "actor"
    f = session.run([ticket_figures(engine.dialect, holder)])[0]
    f["ticket"] = f["ticket"].astype(str)
    f = f.set_index("ticket").sort_index()
    out = pd.DataFrame(index=f.index)
    out["events"] = f["events"].astype(np.int64)
    out["opened_at"] = pd.to_datetime(f["opened_us"].astype(np.int64), unit="us", utc=True)
    out["last_event_at"] = pd.to_datetime(f["last_us"].astype(np.int64), unit="us", utc=True)
    out["throughput_s"] = f["throughput_us"].astype(float) / 1e6
    out["first_response_s"] = f["first_response_us"].astype(float) / 1e6
    def has_role(role: str) -> bool:  # the local path's test: the SOP defines the role (events or not)
        if role == "first_response" and first_response is not None:
            return True
        return sop is not None and bool(sop.roles.get(role))

    fr, res = has_role("first_response"), has_role("resolution")
    out["resolved"] = pd.array(f["resolved_at_us"].notna().to_numpy() if res else [pd.NA] * len(f), dtype="boolean")
    out["resolution_s"] = f["resolution_us"].astype(float) / 1e6
    if has_role("reopen"):
        reopened: Any = (f["reopen_events"].fillna(0) > 0).to_numpy()
    elif fr and res:
        first_res = f["first_resolution_pos"].astype(float)
        last_fr = f["last_first_response_pos"].astype(float)
        reopened = (first_res.notna() & last_fr.notna() & (last_fr > first_res)).to_numpy(dtype=bool)
    else:
        reopened = [pd.NA] * len(f)
    out["reopened"] = pd.array(reopened, dtype="boolean")
    out["escalated"] = pd.array((f["escalated"] > 0).to_numpy() if has_role("escalation")
                                else [pd.NA] * len(f), dtype="boolean")
    out["handovers"] = f["handovers"].astype(np.int64)
    out["teams"] = f["teams"].astype(np.int64)
    ping = pd.array((out["handovers"] + 1 > out["teams"]).to_numpy(), dtype="boolean")
    ping[(out["teams"] == 0).to_numpy()] = pd.NA
    out["ping_pong"] = ping
    out["repeats"] = (f["events"] - f["activities"]).astype(np.int64)
    out["rework"] = out["repeats"] > 0
    return out


def engine_step_waiting(engine: Engine, *, tie_order: str = "auto") -> pd.DataFrame:
    """Waiting per step (index ``activity``): events, tickets, total_s, median_s, p90_s."""
    f = _Session(engine, tie_order).run([step_waiting(engine.dialect)])[0]
    out = f.set_index("activity").sort_index()[["events", "tickets"]].astype(np.int64)
    for col in ("total", "median", "p90"):
        out[f"{col}_s"] = f.set_index("activity").sort_index()[f"{col}_us"].astype(float) / 1e6
    return out


def engine_rework(engine: Engine, *, tie_order: str = "auto") -> pd.DataFrame:
    """Rework per activity (index ``activity``): tickets repeating it, repeat events."""
    f = _Session(engine, tie_order).run([rework(engine.dialect)])[0]
    return f.set_index("activity").sort_index().astype(np.int64)


def engine_limit_checks(engine: Engine, sop: SOP, *, tie_order: str = "auto") -> pd.DataFrame:
    """The SOP's time limits on each ticket whose limited step happened (wall clock,
    customer waits paused): ticket, step, since, elapsed_s, within_s, breached; sorted by ticket, step."""
    session = _Session(engine, tie_order, sop)
    rows = limit_rows(sop)
    f = session.run([limit_checks(engine.dialect)], extra={"limits": (LIMIT_COLUMNS, rows)})[0]
    since = {r[0]: r[2] for r in rows}
    out = pd.DataFrame({
        "ticket": f["ticket"].astype(str), "step": f["step"].astype(str),
        "since": [since[int(i)] for i in f["limit_id"]],
        "elapsed_s": f["elapsed_us"].astype(float) / 1e6, "within_s": f["within_us"].astype(float) / 1e6,
        "breached": f["breached"].astype(int) > 0,
    })
    return out.sort_values(["ticket", "step"], kind="stable").reset_index(drop=True)


__all__ = ["VariantConformance", "engine_conformance", "engine_limit_checks", "engine_map", "engine_rework",
           "engine_step_waiting", "engine_ticket_figures", "engine_variants"]
