"""The A* search: one variant's optimal alignment on a large reachability graph.

For graphs above the dense tables' limit (and up to ``max_states``): A* over
(trace position x marking) with an admissible heuristic, events whose activity can
no longer occur from the marking must be log moves
(:meth:`csmine.conformance.reachability.ReachabilityGraph.label_masks`). With
``prefix`` any node that has consumed the whole trace is a goal (the heuristic is 0
there, so the first one popped is optimal).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import TYPE_CHECKING

from csmine.conformance.moves import (
    LOG_MOVE_COST,
    MODEL_MOVE_COST,
    TAU_MOVE_COST,
    Alignment,
    make_alignment,
    make_prefix_alignment,
    prefix_scale,
)
from csmine.errors import AlignmentError

if TYPE_CHECKING:
    from csmine.conformance.reachability import ReachabilityGraph

__all__ = ["align_astar", "astar"]

Steps = list[tuple[str, int | None]]


def _heuristic(
    masks: list[int], coded: tuple[int, ...], log_cost: int
) -> Callable[[int, int], int]:
    """``h(i, s)``: a log move per event from ``i`` whose label ``s`` cannot reach."""
    n = len(coded)
    memo: dict[tuple[int, int], int] = {}

    def h(i: int, s: int) -> int:
        mk = masks[s]
        key = (i, mk)
        v = memo.get(key)
        if v is None:
            v = log_cost * sum(
                1 for j in range(i, n) if coded[j] < 0 or not (mk >> coded[j]) & 1
            )
            memo[key] = v
        return v

    return h


def _steps_to(parent: dict[int, tuple[int, str, int | None]], key: int) -> Steps:
    steps: Steps = []
    while key in parent:
        key, kind, ti = parent[key]
        steps.append((kind, ti))
    steps.reverse()
    return steps


def astar(
    model: ReachabilityGraph, coded: tuple[int, ...], *, prefix: bool = False
) -> tuple[int, Steps, int]:
    """Cheapest alignment of a coded trace: cost, (kind, transition) steps, end state.

    With ``prefix`` any node that has consumed the whole trace is a goal, and ties
    between cheapest prefix alignments go to fewer log moves (costs scaled as in
    the dense pass).
    """
    n = len(coded)
    n_states = model.n_states or 1
    scale = prefix_scale(n) if prefix else 1
    log_cost = LOG_MOVE_COST * scale + (1 if prefix else 0)
    tau_cost = TAU_MOVE_COST * scale
    model_cost = MODEL_MOVE_COST * scale
    h = _heuristic(model.label_masks(), coded, log_cost)
    start = model.s0
    g_best: dict[int, int] = {start: 0}
    parent: dict[int, tuple[int, str, int | None]] = {}
    heap = [(h(0, start), 0, start)]
    goal = n * n_states + model.sf
    out = model.out
    label_idx = model.t_label_idx
    while heap:
        _, g, key = heapq.heappop(heap)
        if g > g_best.get(key, g):
            continue
        if key == goal or (prefix and key >= n * n_states):
            return g // scale, _steps_to(parent, key), key - n * n_states
        i, s = divmod(key, n_states)
        succs: list[tuple[int, int, str, int | None]] = []
        if i < n:
            a = coded[i]
            if a >= 0:
                for ti, j in model.sync_out[s].get(a, ()):
                    succs.append(((i + 1) * n_states + j, g, "sync", ti))
            succs.append(((i + 1) * n_states + s, g + log_cost, "log", None))
        for ti, j in out[s]:
            w = tau_cost if label_idx[ti] < 0 else model_cost
            succs.append((i * n_states + j, g + w, "model", ti))
        for nkey, ng, move_kind, move_t in succs:
            if ng < g_best.get(nkey, ng + 1):
                g_best[nkey] = ng
                parent[nkey] = (key, move_kind, move_t)
                ni, ns = divmod(nkey, n_states)
                heapq.heappush(heap, (ng + h(ni, ns), ng, nkey))
    raise AlignmentError("no alignment found: the final marking is unreachable")


def align_astar(
    model: ReachabilityGraph,
    variant: tuple[str, ...],
    *,
    best_worst_cost: int,
    prefix: bool = False,
) -> Alignment:
    """The optimal (or prefix) alignment of one variant by :func:`astar`.

    ``best_worst_cost`` is the ``w`` of the fitness formula (full alignments).
    """
    cost, steps, end = astar(model, model.code(variant), prefix=prefix)
    moves = []
    i = 0
    for kind, ti in steps:
        if kind == "sync":
            moves.append(model.move("sync", variant[i], ti))
            i += 1
        elif kind == "log":
            moves.append(model.move("log", variant[i], None))
            i += 1
        else:
            assert ti is not None
            moves.append(model.model_move(ti))
    if prefix:
        return make_prefix_alignment(variant, cost, tuple(moves), model.end_of(end))
    return make_alignment(variant, cost, tuple(moves), best_worst_cost)
