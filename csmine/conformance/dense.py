"""The dense search: many variants aligned at once by min-plus dynamic programming.

For reachability graphs up to :data:`csmine.conformance.alignments.DENSE_STATE_LIMIT`
markings. All-pairs cheapest model-only paths ``D`` (visible 10,000, silent 1) are
computed once with a sparse Dijkstra. For an activity ``a``, ``M_a = S_a (x) D``
(min-plus) is "fire an ``a``-labelled transition, then any model moves". Aligning a
trace is then a dynamic programme over trace positions: ``d_0 = D[m_0]``,
``d_{i+1} = min(d_i + 10,000, d_i (x) M_{a_i})`` and the cost is ``d_n[m_final]``
(prefix alignments: ``min_m d_n[m]``). Variants are merged into a prefix tree, so
shared prefixes are computed once, and the nodes of one depth (that share an
activity, on larger graphs) are computed together with numpy. Moves are read back
from arg-min pointers kept during the pass, or recovered per step when the caller
keeps none (large graphs, where most pointers are never read).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from csmine.conformance.minplus import forward_by_depth, forward_by_label
from csmine.conformance.moves import (
    LOG_MOVE_COST,
    MODEL_MOVE_COST,
    TAU_MOVE_COST,
    Alignment,
    Move,
    make_alignment,
    make_prefix_alignment,
    prefix_scale,
)
from csmine.errors import AlignmentError

if TYPE_CHECKING:
    from csmine.conformance.reachability import ReachabilityGraph

__all__ = ["DenseTables"]

#: Pad every label's table to one block when rows x states is at most this.
_BATCH_ALL_LABELS = 4_096

SyncTable = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


class _Costs(NamedTuple):
    """Integer type and costs of one batch (prefix batches are scaled)."""

    dtype: Any
    scale: int
    log_cost: int


def _batch_costs(max_len: int, finite_max: int, prefix: bool) -> _Costs:
    safe32 = (max_len + 2) * LOG_MOVE_COST + finite_max < (1 << 28)
    dtype: Any = np.int32 if safe32 else np.int64
    if not prefix:
        return _Costs(dtype, 1, LOG_MOVE_COST)
    # Among the cheapest prefix alignments take one with the fewest log moves (an
    # event is extra only when no equally cheap run explains it): costs times
    # `scale`, plus 1 per log move; `scale` exceeds any count of them.
    scale = prefix_scale(max_len)
    return _Costs(np.int64, scale, LOG_MOVE_COST * scale + 1)


class _Tree(NamedTuple):
    """Prefix tree of coded variants: per node its parent, code and depth (root 0)."""

    parent: list[int]
    code: list[int]
    depth: list[int]
    terminal: list[int]  # per variant, its last node


def _variant_tree(coded: list[tuple[int, ...]]) -> _Tree:
    """The prefix tree of the coded variants (unknown activities share code -1)."""
    children: dict[tuple[int, int], int] = {}
    tree = _Tree([0], [-1], [0], [])
    for c in coded:
        node = 0
        for k, a in enumerate(c):
            key = (node, a)
            nxt = children.get(key)
            if nxt is None:
                nxt = len(tree.parent)
                children[key] = nxt
                tree.parent.append(node)
                tree.code.append(a)
                tree.depth.append(k + 1)
            node = nxt
        tree.terminal.append(node)
    return tree


#: Up to this many states the all-pairs costs come from Floyd-Warshall in numpy (no scipy
#: import, a third of a second of CPU for ``csmine conform``); above, scipy's Dijkstra.
_SMALL_GRAPH = 128


def _all_pairs(n: int, src: np.ndarray, dst: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cheapest path costs between all states (inf: none) and each path's predecessors
    (``pred[u, v]``: the state before ``v`` on a cheapest path from ``u``; -9999 for none)."""
    if n > _SMALL_GRAPH:
        from scipy.sparse import csr_matrix
        from scipy.sparse.csgraph import dijkstra

        graph = csr_matrix((w.astype(np.float64), (src, dst)), shape=(n, n))
        return dijkstra(graph, directed=True, return_predecessors=True)  # type: ignore[no-any-return]
    dist = np.full((n, n), np.inf)
    pred = np.full((n, n), -9999, dtype=np.int64)
    dist[src, dst] = w  # one edge per (src, dst): the cheapest, chosen by the caller
    pred[src, dst] = src
    np.fill_diagonal(dist, 0.0)
    np.fill_diagonal(pred, -9999)
    for k in range(n):
        via = dist[:, k : k + 1] + dist[k : k + 1, :]
        better = via < dist
        if better.any():
            dist = np.where(better, via, dist)
            pred = np.where(better, pred[k : k + 1, :], pred)
    return dist, pred


class DenseTables:
    """All-pairs model-move costs and per-label sync tables of a small graph."""

    def __init__(self, model: ReachabilityGraph) -> None:
        n = model.n_states or 0
        self.n = n
        src, dst, tr, w = [], [], [], []
        for s, succ in enumerate(model.out):
            for ti, j in succ:
                if j == s:
                    continue
                src.append(s)
                dst.append(j)
                tr.append(ti)
                w.append(
                    TAU_MOVE_COST if model.t_label_idx[ti] < 0 else MODEL_MOVE_COST
                )
        src_a = np.asarray(src, dtype=np.int64)
        dst_a = np.asarray(dst, dtype=np.int64)
        w_a = np.asarray(w, dtype=np.int64)
        tr_a = np.asarray(tr, dtype=np.int64)
        # cheapest transition per (src, dst) pair
        order = np.lexsort((tr_a, w_a, dst_a, src_a))
        src_a, dst_a, w_a, tr_a = src_a[order], dst_a[order], w_a[order], tr_a[order]
        first = np.ones(len(src_a), dtype=bool)
        if len(src_a) > 1:
            first[1:] = (src_a[1:] != src_a[:-1]) | (dst_a[1:] != dst_a[:-1])
        src_a, dst_a, w_a, tr_a = src_a[first], dst_a[first], w_a[first], tr_a[first]
        self.best_t = {
            (int(u), int(v)): int(t) for u, v, t in zip(src_a, dst_a, tr_a, strict=True)
        }
        dist_f, pred = _all_pairs(n, src_a, dst_a, w_a)
        unreachable = ~np.isfinite(dist_f)
        finite_max = float(dist_f[~unreachable].max()) if (~unreachable).any() else 0.0
        self.finite_max = int(finite_max)
        dist = np.where(unreachable, 0.0, dist_f).astype(np.int64)
        dist[unreachable] = np.int64(1) << 60
        self.dist = dist
        self.pred = pred.astype(np.int32)
        self._paths: dict[tuple[int, int], tuple[Move, ...]] = {}
        self._sync: dict[tuple[Any, ...], SyncTable] = {}
        self._dist_cast: dict[Any, tuple[np.ndarray, Any]] = {}

    def dist_as(self, dtype: Any, scale: int = 1) -> tuple[np.ndarray, Any]:
        """``D`` as ``dtype`` (times ``scale``: int64 only); its "unreachable" value."""
        key = dtype if scale == 1 else (dtype, scale)
        hit = self._dist_cast.get(key)
        if hit is None:
            big = (np.int64(1) << 60) if dtype == np.int64 else np.int64(1) << 29
            if scale == 1:
                d = np.minimum(self.dist, big).astype(dtype)
            else:
                base, _ = self.dist_as(np.int64)
                d = np.where(base >= big, big, base * scale).astype(np.int64)
            hit = (d, dtype(big))
            self._dist_cast[key] = hit
        return hit

    def sync_table(
        self, model: ReachabilityGraph, label: int, dtype: Any, scale: int = 1
    ) -> SyncTable:
        """``(rows, M, via, edge_src, edge_dst_t)`` for one label.

        ``rows`` are the states with an enabled transition of that label;
        ``M[r, v]`` is the cheapest cost of firing one such transition from
        ``rows[r]`` and then reaching ``v`` with model moves; ``via[r, v]`` the
        index of the sync edge used (into ``edge_src``/``edge_dst_t``). With
        ``scale`` (int64 only) the costs are multiplied by it.
        """
        key: tuple[Any, ...] = (label, dtype) if scale == 1 else (label, dtype, scale)
        hit = self._sync.get(key)
        if hit is not None:
            return hit
        if scale != 1:
            rows, m, via, src, edges = self.sync_table(model, label, np.int64)
            big = np.int64(1) << 60
            scaled = np.where(m >= big, big, m * scale).astype(np.int64)
            hit = (rows, scaled, via, src, edges)
            self._sync[key] = hit
            return hit
        d, _ = self.dist_as(dtype)
        e_src, e_dst, e_t = [], [], []
        for s in range(self.n):
            for ti, j in model.sync_out[s].get(label, ()):
                e_src.append(s)
                e_dst.append(j)
                e_t.append(ti)
        src = np.asarray(e_src, dtype=np.int64)
        dst = np.asarray(e_dst, dtype=np.int64)
        rows, starts = np.unique(src, return_index=True)
        ends = np.append(starts[1:], len(src))
        m = np.empty((len(rows), self.n), dtype=dtype)
        via = np.empty((len(rows), self.n), dtype=np.int32)
        for r, (a, b) in enumerate(zip(starts, ends, strict=True)):
            block = d[dst[a:b]]
            arg = block.argmin(axis=0)
            m[r] = block[arg, np.arange(self.n)]
            via[r] = arg + a
        edges = np.asarray(list(zip(e_dst, e_t, strict=True)), dtype=np.int64)
        hit = (rows, m, via, src, edges.reshape(-1, 2))
        self._sync[key] = hit
        return hit

    def path(self, model: ReachabilityGraph, u: int, v: int) -> tuple[Move, ...]:
        """Model moves of a cheapest path from state ``u`` to state ``v``."""
        key = (u, v)
        hit = self._paths.get(key)
        if hit is not None:
            return hit
        steps: list[Move] = []
        cur = v
        pred = self.pred
        while cur != u:
            p = int(pred[u, cur])
            steps.append(model.model_move(self.best_t[(p, cur)]))
            cur = p
        steps.reverse()
        hit = tuple(steps)
        self._paths[key] = hit
        return hit

    def align_batch(
        self,
        model: ReachabilityGraph,
        variants: list[tuple[str, ...]],
        coded: list[tuple[int, ...]],
        *,
        best_worst_cost: int,
        eager: bool,
        prefix: bool = False,
    ) -> list[Alignment]:
        """Optimal (or prefix) alignments of ``variants``.

        Args:
            model: the graph these tables belong to.
            variants: the activity sequences.
            coded: ``model.code(v)`` of each.
            best_worst_cost: the ``w`` of the fitness formula (full alignments).
            eager: keep arg-min pointers during the forward pass (memory: nodes x
                states) instead of recovering them per step read back.
            prefix: prefix alignments (the run may stop in any marking).
        """
        max_len = max((len(c) for c in coded), default=0)
        costs = _batch_costs(max_len, self.finite_max, prefix)
        tree = _variant_tree(coded)
        dist, ptr = self._forward(model, tree, costs, eager)
        terminal = np.asarray(tree.terminal, dtype=np.int64)
        if prefix:
            # the run may stop anywhere: the cheapest marking after the last event
            # (trailing model moves only add cost; ties: the first state found)
            ends = dist[terminal].argmin(axis=1)
            end_costs = dist[terminal, ends].tolist()
            end_states = ends.tolist()
        else:
            end_costs = dist[terminal, model.sf].tolist()
            end_states = [model.sf] * len(terminal)
        big_cost = int(self.dist_as(costs.dtype, costs.scale)[1])
        reader = _Reader(self, model, dist, ptr, tree.parent, costs)
        aligned = []
        for variant, c, node, cost, s_end in zip(
            variants, coded, tree.terminal, end_costs, end_states, strict=True
        ):
            if cost >= big_cost:
                raise AlignmentError(
                    "no alignment found: the final marking is unreachable"
                )
            moves = reader.moves(variant, c, node, s_end)
            if prefix:
                aligned.append(make_prefix_alignment(
                    variant, int(cost) // costs.scale, moves, model.end_of(s_end)
                ))
            else:
                aligned.append(
                    make_alignment(variant, int(cost), moves, best_worst_cost)
                )
        return aligned

    def _forward(
        self, model: ReachabilityGraph, tree: _Tree, costs: _Costs, eager: bool
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Costs per (tree node, state), and arg-min pointers when ``eager``."""
        n = self.n
        dtype = costs.dtype
        d, big = self.dist_as(dtype, costs.scale)
        parent_a = np.asarray(tree.parent, dtype=np.int64)
        code_a = np.asarray(tree.code, dtype=np.int64)
        depth_a = np.asarray(tree.depth, dtype=np.int64)
        n_nodes = len(tree.parent)
        dist = np.empty((n_nodes, n), dtype=dtype)
        dist[0] = d[model.s0]
        ptr = (
            np.full((n_nodes, n), -1, dtype=np.int16 if n < 32_000 else np.int32)
            if eager
            else None
        )
        used = sorted({int(x) for x in code_a[1:].tolist() if x >= 0})
        tables = {c: self.sync_table(model, c, dtype, costs.scale) for c in used}
        r_max = max((len(t[0]) for t in tables.values()), default=0)
        if ptr is not None and r_max * n <= _BATCH_ALL_LABELS:
            # small graphs: all nodes of one depth at once, labels' tables padded
            forward_by_depth(
                n, tables, used, r_max, parent_a, code_a, depth_a, dist, ptr, big,
                dtype, costs.log_cost,
            )
        else:
            forward_by_label(
                n, tables, parent_a, code_a, depth_a, dist, ptr, big, dtype,
                costs.log_cost,
            )
        return dist, ptr

    def step_into(
        self,
        model: ReachabilityGraph,
        dist: np.ndarray,
        parent: int,
        node: int,
        label: int,
        s: int,
        dtype: Any,
        scale: int = 1,
    ) -> tuple[tuple[Move, ...], int]:
        """Reversed moves of the step into (node, s) and the state before it.

        An empty move tuple means a log move (the state does not change).
        """
        target = dist.item(node, s)
        if label >= 0:
            rows, m, _, _, _ = self.sync_table(model, label, dtype, scale)
            if len(rows):
                cand = dist[parent, rows] + m[:, s]
                p = int(cand.argmin())
                if int(cand[p]) == target:
                    return self.sync_step(model, label, p, s, dtype, scale)
        return (), s

    def sync_step(
        self, model: ReachabilityGraph, label: int, p: int, s: int, dtype: Any,
        scale: int = 1,
    ) -> tuple[tuple[Move, ...], int]:
        """Reversed moves of a sync from row ``p`` of ``label``'s table to ``s``."""
        _, _, via, e_src, e_dst_t = self.sync_table(model, label, dtype, scale)
        e = int(via[p, s])
        u, ti = int(e_dst_t[e, 0]), int(e_dst_t[e, 1])
        sync = model.move("sync", model.t_label[ti], ti)
        return (*reversed(self.path(model, u, s)), sync), int(e_src[e])


class _Reader:
    """Reads one optimal alignment per variant back from a filled batch.

    From the last event to the first: a step into (node, s) was a sync move (then
    model moves) if some state enabling the node's label reaches s at the node's
    cost, otherwise a log move. The pointer says which, or (no pointers kept) it is
    recovered per (node, s). Steps are cached, as variants share prefixes.
    """

    def __init__(
        self,
        tables: DenseTables,
        model: ReachabilityGraph,
        dist: np.ndarray,
        ptr: np.ndarray | None,
        parent: list[int],
        costs: _Costs,
    ) -> None:
        self.tables = tables
        self.model = model
        self.dist = dist
        self.ptr_item = ptr.item if ptr is not None else None
        self.parent = parent
        self.dtype = costs.dtype
        self.scale = costs.scale
        self.steps: dict[Any, tuple[tuple[Move, ...], int]] = {}
        self.log_moves: dict[str, Move] = {}

    def _step(self, node: int, label: int, s: int) -> tuple[tuple[Move, ...], int]:
        if self.ptr_item is not None:
            p = self.ptr_item(node, s)
            if p < 0:
                return (), s
            key: tuple[int, ...] = (label, p, s)
            hit = self.steps.get(key)
            if hit is None:
                hit = self.tables.sync_step(
                    self.model, label, p, s, self.dtype, self.scale
                )
                self.steps[key] = hit
            return hit
        key = (node, s)
        hit = self.steps.get(key)
        if hit is None:
            hit = self.tables.step_into(
                self.model, self.dist, self.parent[node], node, label, s, self.dtype,
                self.scale,
            )
            self.steps[key] = hit
        return hit

    def moves(
        self, variant: tuple[str, ...], coded: tuple[int, ...], node: int, s_end: int
    ) -> tuple[Move, ...]:
        """The moves of ``variant`` (ending at tree ``node`` in state ``s_end``)."""
        rev: list[Move] = []
        s = s_end
        i = len(coded)
        while node:
            i -= 1
            moves, s = self._step(node, coded[i], s)
            if moves:
                rev.extend(moves)
            else:
                act = variant[i]
                mv = self.log_moves.get(act)
                if mv is None:
                    mv = self.log_moves[act] = Move("log", act, None)
                rev.append(mv)
            node = self.parent[node]
        rev.extend(reversed(self.tables.path(self.model, self.model.s0, s)))
        rev.reverse()
        return tuple(rev)
