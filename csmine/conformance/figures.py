"""A log's alignment figures: fitness (pm4py's ``fitness_alignments``) and precision.

Both are computed on the compiled model
(:func:`csmine.conformance.alignments.compile_model`) and return the same numbers as
pm4py, summed in pm4py's order; precision is align-ETC.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from csmine.conformance.alignments import (
    DEFAULT_MAX_STATES,
    CacheKey,
    Method,
    align_cases,
    compile_model,
)
from csmine.conformance.moves import LOG_MOVE_COST, Alignment
from csmine.conformance.trie import LogTrie, log_trie

if TYPE_CHECKING:
    from pm4py.objects.petri_net.obj import Marking, PetriNet

    from csmine.conformance.reachability import ReachabilityGraph

__all__ = ["fitness_summary", "precision_alignments"]


def fitness_summary(
    df: pd.DataFrame,
    net: PetriNet,
    initial_marking: Marking,
    final_marking: Marking,
    *,
    case_id_key: str = "case:concept:name",
    activity_key: str = "concept:name",
    max_states: int = DEFAULT_MAX_STATES,
    cache: MutableMapping[CacheKey, Alignment] | None = None,
    method: Method = "auto",
    prefix: bool = False,
) -> dict[str, float]:
    """Alignment-based fitness of a log, the same dict as ``pm4py.fitness_alignments``.

    Returns:
        ``percentage_of_fitting_traces`` (0-100: share of cases with fitness 1.0),
        ``average_trace_fitness`` (0-1: mean per-case fitness),
        ``log_fitness`` (0-1: ``1 - sum(cost) / sum(len * 10,000 + w)`` over
        cases, ``w`` the cost of the cheapest model run -- 0 with ``prefix``, where
        every case is an unfinished trace aligned by a prefix alignment), and
        pm4py's aliases ``percFitTraces`` and ``averageFitness``. All zero for an
        empty log.
        Sums run in pm4py's order (cases sorted by id), so values are identical.
    """
    res = align_cases(
        df,
        net,
        initial_marking,
        final_marking,
        case_id_key=case_id_key,
        activity_key=activity_key,
        max_states=max_states,
        cache=cache,
        method=method,
        prefix=prefix,
    )
    frame = res.frame
    n = len(frame)
    perc = average = log_fitness = 0.0
    if n:
        fitness = frame["fitness"].to_numpy(dtype=np.float64)
        # sequential summation in case order, as pm4py accumulates
        sum_fitness = float(np.cumsum(fitness)[-1])
        sum_cost = int(frame["cost"].sum())
        sum_bwc = int(res.case_length.sum()) * LOG_MOVE_COST + n * res.best_worst_cost
        no_fit = int(frame["is_fit"].sum())
        perc = (100.0 * float(no_fit)) / float(n)
        average = sum_fitness / float(n)
        log_fitness = 1.0 - (float(sum_cost) / float(sum_bwc) if sum_bwc > 0 else 0)
    return {
        "percFitTraces": perc,
        "averageFitness": average,
        "percentage_of_fitting_traces": perc,
        "average_trace_fitness": average,
        "log_fitness": log_fitness,
    }


def precision_alignments(
    df: pd.DataFrame,
    net: PetriNet,
    initial_marking: Marking,
    final_marking: Marking,
    *,
    case_id_key: str = "case:concept:name",
    activity_key: str = "concept:name",
    timestamp_key: str = "time:timestamp",
    max_states: int = DEFAULT_MAX_STATES,
) -> float:
    """Align-ETC precision of a log on a net, equal to ``pm4py.precision_alignments``.

    For every proper prefix of the log's traces, the markings where a cheapest
    prefix alignment that uses only synchronous and silent moves can stop are
    found (on the prefix tree, each prefix once); the visible activities the model
    then allows (directly or after silent steps) are compared with the activities
    the log shows next. Escaping edges are allowed activities never observed.
    The empty prefix counts with the log's start activities. Each prefix is
    weighted by the number of cases that continue after it.

    Returns:
        ``1 - escaping / allowed`` in [0, 1] (1.0 when nothing is allowed): 1 means
        the model allows nothing the log does not do. Prefixes that cannot be
        replayed with synchronous and silent moves are skipped, as in pm4py.

    Note:
        pm4py joins prefixes with "," and splits them again, so activities whose
        name contains a comma are misread there; this implementation keeps
        activities whole, and may differ from pm4py on such logs only.
    """
    model = compile_model(net, initial_marking, final_marking, max_states=max_states)
    if model.n_states is None:
        import pm4py

        from csmine.conformance.pm4py_engine import as_pm4py

        return float(
            pm4py.precision_alignments(
                df,
                *as_pm4py(net, initial_marking, final_marking),
                multi_processing=False,
                activity_key=activity_key,
                case_id_key=case_id_key,
                timestamp_key=timestamp_key,
            )
        )
    return _precision(model, log_trie(df, case_id_key, activity_key))


def trie_precision(
    trie: LogTrie, net: PetriNet, initial_marking: Marking, final_marking: Marking, *,
    max_states: int = DEFAULT_MAX_STATES,
) -> float | None:
    """Align-ETC precision of the log ``trie`` holds (see :func:`precision_alignments`); None
    when the net has more than ``max_states`` markings (the caller asks pm4py then)."""
    model = compile_model(net, initial_marking, final_marking, max_states=max_states)
    if model.n_states is None:
        return None
    return _precision(model, trie)


def _precision(model: ReachabilityGraph, trie: LogTrie) -> float:
    sum_at, sum_ee = _escaping_edges(model, trie)
    if sum_at > 0:
        return 1 - float(sum_ee) / float(sum_at)
    return 1.0


def _escaping_edges(model: ReachabilityGraph, trie: LogTrie) -> tuple[int, int]:
    """(allowed, escaping) activities summed over the log's prefixes, case-weighted."""
    parent = trie.parent.tolist()
    code = trie.code.tolist()
    depth = trie.depth.tolist()
    continuing = trie.continuing.tolist()
    acts = trie.activities
    act_label = [model.label_index.get(a, -1) for a in acts]
    n_nodes = len(parent)
    next_acts: list[set[str]] = [set() for _ in range(n_nodes)]
    for v in range(1, n_nodes):
        next_acts[parent[v]].add(acts[code[v]])

    sum_at = 0
    sum_ee = 0
    closed: dict[int, dict[int, int]] = {0: model.tau_closure({model.s0: 0})}
    current_depth = 1
    for v in range(1, n_nodes):
        if depth[v] != current_depth:
            # drop the closures of two levels up; children only need their parent
            closed = {k: d for k, d in closed.items() if depth[k] >= current_depth}
            current_depth = depth[v]
        if not continuing[v]:
            continue
        init = _after_sync(model, closed.get(parent[v]), act_label[code[v]])
        if not init:
            continue
        best = min(init.values())
        allowed: set[str] = set()
        for s, g in init.items():
            if g == best:
                allowed |= model.eventually_enabled_labels(s)
        weight = continuing[v]
        sum_at += len(allowed) * weight
        sum_ee += len(allowed - next_acts[v]) * weight
        closed[v] = model.tau_closure(init)

    n_traces = len(trie.cases)
    initial_allowed = model.eventually_enabled_labels(model.s0)
    sum_at += n_traces * len(initial_allowed)
    sum_ee += n_traces * len(initial_allowed - next_acts[0])
    return sum_at, sum_ee


def _after_sync(
    model: ReachabilityGraph, base: dict[int, int] | None, label: int
) -> dict[int, int]:
    """Cheapest cost per state after a sync move on ``label`` from ``base``."""
    init: dict[int, int] = {}
    if base and label >= 0:
        sync_out = model.sync_out
        for s, g in base.items():
            for _, j in sync_out[s].get(label, ()):
                if g < init.get(j, g + 1):
                    init[j] = g
    return init
