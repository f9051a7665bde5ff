"""Optimal alignments of ticket variants against a Petri net; fitness and precision.

The fitness and precision figures are built on the alignments.

An *alignment* explains one trace (a variant: a distinct sequence of activities)
with a run of the model. Each step is a *move*:

* ``sync`` — the event's activity is the label of the transition the model fires;
* ``log`` — the event happened but the model cannot explain it here (extra step);
* ``model`` — the model fires a visible transition the log does not show (skipped step);
* ``tau`` — the model fires a silent transition (routing, no step of its own).

Costs are the standard ones (the same as pm4py's): sync 0, log move 10,000,
visible model move 10,000, silent move 1. An *optimal* alignment has the least
total cost; its cost is exact and unique even when several optimal alignments exist
(the moves returned are one of them).

Algorithm. The reachability graph of the net (markings as integer tuples, silent
transitions included) is built once per net, bounded by ``max_states``. All-pairs
cheapest model-only paths ``D`` (visible 10,000, silent 1) are computed once with a
sparse Dijkstra. For an activity ``a``, ``M_a = S_a (x) D`` (min-plus) is "fire an
``a``-labelled transition, then any model moves". Aligning a trace is then a
dynamic programme over trace positions: ``d_0 = D[m_0]``,
``d_{i+1} = min(d_i + 10,000, d_i (x) M_{a_i})`` and the cost is ``d_n[m_final]``.
Variants are merged into a prefix tree, so shared prefixes are computed once, and
the nodes of one depth (that share an activity, on larger graphs) are computed
together with numpy. Moves are read back from arg-min pointers kept during the
pass (recovered per step on graphs above 1,024 markings). Nets whose reachability
graph is larger than a dense table allows are aligned per variant with A* over
(position x marking) on the explicit graph, with an admissible heuristic (events
whose activity can no longer occur from the marking must be log moves); nets whose
reachability graph exceeds ``max_states`` (or is unbounded) are handed to pm4py's
exact state-equation A*, in one process.

Prefix alignments (``prefix=True``) explain a trace that has not ended yet (an open
ticket): the cheapest model run that explains the events so far, where the run may
stop in *any* reachable marking, so model moves after the last event are not paid.
They come from the same pass: the cost is ``min_m d_n[m]`` instead of
``d_n[m_final]`` (trailing model moves only add cost, so the minimum is reached
right after the last event), the moves are read back from that marking, and A*
stops at the first node that has consumed the whole trace. pm4py has no prefix
alignment; for nets beyond ``max_states`` pm4py aligns the trace against a copy of
the net in which every place can be emptied by a free silent transition and the
final marking is empty (:func:`prefix_net`), which has the same optimal cost.
"""

from __future__ import annotations

import hashlib
import heapq
from collections import OrderedDict
from collections.abc import Hashable, MutableMapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from csmine.errors import CsmineError

if TYPE_CHECKING:
    from pm4py.objects.petri_net.obj import Marking, PetriNet

__all__ = [
    "LOG_MOVE_COST",
    "MODEL_MOVE_COST",
    "SYNC_MOVE_COST",
    "TAU_MOVE_COST",
    "Alignment",
    "AlignmentError",
    "AlignmentModel",
    "Move",
    "align_log",
    "align_variants",
    "compile_model",
    "fitness_summary",
    "net_fingerprint",
    "precision_alignments",
    "prefix_net",
]

SYNC_MOVE_COST = 0
LOG_MOVE_COST = 10_000
MODEL_MOVE_COST = 10_000
TAU_MOVE_COST = 1

DEFAULT_MAX_STATES = 200_000
#: Largest reachability graph aligned with the dense all-pairs tables.
DENSE_STATE_LIMIT = 3_000
#: Cells (prefix-tree nodes x states) of one dense dynamic-programming batch.
_DENSE_CELL_BUDGET = 24_000_000
#: Up to this many states, arg-min pointers are kept during the forward pass.
_EAGER_POINTER_STATES = 1_024
#: Pad every label's table to one block when rows x states is at most this.
_BATCH_ALL_LABELS = 4_096
#: Elements of one temporary min-plus block.
_BLOCK_ELEMENTS = 2_000_000
#: Prefix alignments: costs are scaled by this (a power of two above the longest
#: prefix) so that one extra unit per log move breaks ties between cheapest ones.
_PREFIX_SCALE = 1_024

MoveKind = Literal["sync", "log", "model", "tau"]
Method = Literal["auto", "dense", "astar", "pm4py"]
CacheKey = tuple[str, tuple[str, ...]]


class AlignmentError(CsmineError):
    """A model or log cannot be aligned."""


@dataclass(frozen=True, slots=True)
class Move:
    """One step of an alignment.

    Attributes:
        kind: ``"sync"`` (event and model agree), ``"log"`` (event the model cannot
            explain), ``"model"`` (visible model step missing from the log) or
            ``"tau"`` (silent model step).
        activity: the event's activity for sync and log moves, the transition's
            label for model moves, ``None`` for tau moves.
        transition: name of the Petri-net transition fired; ``None`` for log moves.
    """

    kind: MoveKind
    activity: str | None
    transition: str | None

    @property
    def cost(self) -> int:
        """Standard cost of the move: sync 0, log 10,000, model 10,000, tau 1."""
        if self.kind == "sync":
            return SYNC_MOVE_COST
        if self.kind == "tau":
            return TAU_MOVE_COST
        if self.kind == "log":
            return LOG_MOVE_COST
        return MODEL_MOVE_COST


@dataclass(frozen=True, slots=True)
class Alignment:
    """An optimal alignment of one variant against a Petri net.

    Attributes:
        variant: the activity sequence aligned.
        cost: total standard cost of the moves, an integer ``10,000 * deviations +
            silent moves``; optimal (least possible), equal to pm4py's ``cost``.
        fitness: pm4py's trace fitness, in [0, 1]:
            ``1 - (cost // 10,000) / ((len(variant) * 10,000 + w) // 10,000)``
            where ``w`` is the cost of the cheapest complete model run (the
            alignment of the empty trace). 1.0 means no deviation; silent moves do
            not lower it. As in pm4py, it is 0 when the denominator is 0 (only for
            an empty variant on a model with a silent-only run).
        moves: one optimal sequence of moves (several may exist; the cost is the
            same for all).
        is_fit: ``fitness == 1.0``.
        prefix: a prefix alignment (the trace has not ended: the model run may stop
            in any reachable marking and model moves after the last event are not
            paid). Its fitness is ``1 - (cost // 10,000) / len(variant)``: the
            cheapest run of the empty prefix costs nothing, so ``w`` is 0; an empty
            prefix has fitness 1.0.
        marking: the marking the model run ends in, as sorted ``(place name,
            tokens)`` pairs (the final marking for a full alignment).
        enabled: prefix alignments only: labels of the visible transitions the
            model allows next from ``marking``, directly or after silent moves
            (sorted; empty for full alignments).
        required: of ``enabled``, the labels that every run from ``marking`` to the
            final marking fires (the others are one option among several).
    """

    variant: tuple[str, ...]
    cost: int
    fitness: float
    moves: tuple[Move, ...]
    is_fit: bool
    prefix: bool = False
    marking: tuple[tuple[str, int], ...] = ()
    enabled: tuple[str, ...] = ()
    required: tuple[str, ...] = ()

    @property
    def deviations(self) -> int:
        """Number of log and visible model moves."""
        return self.cost // LOG_MOVE_COST


def _fitness(length: int, cost: int, best_worst_cost: int) -> float:
    num = cost // LOG_MOVE_COST
    den = (length * LOG_MOVE_COST + best_worst_cost) // LOG_MOVE_COST
    return 1 - num / den if den > 0 else 0.0


def _make_alignment(
    variant: tuple[str, ...], cost: int, moves: tuple[Move, ...], best_worst_cost: int
) -> Alignment:
    fitness = _fitness(len(variant), cost, best_worst_cost)
    return Alignment(variant, int(cost), fitness, moves, fitness == 1.0)


def _make_prefix_alignment(
    variant: tuple[str, ...],
    cost: int,
    moves: tuple[Move, ...],
    end: tuple[tuple[tuple[str, int], ...], tuple[str, ...], tuple[str, ...]],
) -> Alignment:
    """A prefix alignment; ``end`` is (marking, enabled labels, required labels)."""
    fitness = _fitness(len(variant), cost, 0) if variant else 1.0
    marking, enabled, required = end
    return Alignment(
        variant, int(cost), fitness, moves, fitness == 1.0, True, marking, enabled, required
    )


# ---------------------------------------------------------------------------------
# Model compilation
# ---------------------------------------------------------------------------------


def net_fingerprint(
    net: PetriNet, initial_marking: Marking, final_marking: Marking
) -> str:
    """Stable hash of an accepting Petri net (places, arcs, labels, markings).

    Two nets with the same place names, transitions (name, label, weighted arcs) and
    markings get the same fingerprint, across processes. If place names are not
    unique the structure is ambiguous, and the fingerprint is made unique to this
    net object instead.

    Returns:
        A hex SHA-256 digest.
    """
    digest = hashlib.sha256()
    place_names = [str(p.name) for p in net.places]
    if len(set(place_names)) != len(place_names):
        digest.update(f"object:{id(net)}".encode())
    digest.update(repr(sorted(place_names)).encode())
    rows = []
    for t in net.transitions:
        pre = sorted((str(a.source.name), int(a.weight)) for a in t.in_arcs)
        post = sorted((str(a.target.name), int(a.weight)) for a in t.out_arcs)
        rows.append(repr((str(t.name), t.label, pre, post)))
    digest.update(repr(sorted(rows)).encode())
    for marking in (initial_marking, final_marking):
        digest.update(
            repr(sorted((str(p.name), int(c)) for p, c in marking.items())).encode()
        )
    return digest.hexdigest()


class AlignmentModel:
    """A Petri net prepared for alignment: reachability graph and cost tables.

    Build with :func:`compile_model`; reuse it to align many variants or logs.

    Attributes:
        fingerprint: :func:`net_fingerprint` of the net.
        n_states: number of reachable markings, or ``None`` when the graph exceeded
            ``max_states`` (the model is then aligned by pm4py).
        best_worst_cost: cost of the cheapest complete run of the model (aligning
            the empty trace), the ``w`` of the fitness formula.
    """

    def __init__(
        self,
        net: PetriNet,
        initial_marking: Marking,
        final_marking: Marking,
        *,
        max_states: int = DEFAULT_MAX_STATES,
        fingerprint: str | None = None,
    ) -> None:
        self.net = net
        self.initial_marking = initial_marking
        self.final_marking = final_marking
        self.max_states = max_states
        self.fingerprint = fingerprint or net_fingerprint(
            net, initial_marking, final_marking
        )

        transitions = sorted(net.transitions, key=lambda t: (str(t.name), str(t.label)))
        self.t_name: list[str] = [str(t.name) for t in transitions]
        self.t_label: list[str | None] = [t.label for t in transitions]
        self.labels: list[str] = sorted(
            {lab for lab in self.t_label if lab is not None}
        )
        self.label_index: dict[str, int] = {lab: i for i, lab in enumerate(self.labels)}
        self.t_label_idx: list[int] = [
            -1 if lab is None else self.label_index[lab] for lab in self.t_label
        ]
        self._dense: _DenseTables | None = None
        self._masks: list[int] | None = None
        self._eventually: dict[int, frozenset[str]] = {}
        self._tau_reach: dict[int, tuple[tuple[int, int], ...]] = {}
        self._moves: dict[tuple[Any, ...], Move] = {}
        self._ends: dict[
            int, tuple[tuple[tuple[str, int], ...], tuple[str, ...], tuple[str, ...]]
        ] = {}

        self.n_states = self._build_graph(transitions, initial_marking, final_marking)
        if self.n_states is None:
            self.best_worst_cost = self._pm4py_best_worst_cost()
        elif self.n_states <= DENSE_STATE_LIMIT:
            self.best_worst_cost = int(self.dense.dist[self.s0, self.sf])
        else:
            cost, _, _ = self._astar(())
            self.best_worst_cost = cost

    # -- reachability graph -----------------------------------------------------

    def _build_graph(
        self, transitions: list[Any], initial_marking: Marking, final_marking: Marking
    ) -> int | None:
        places = sorted(self.net.places, key=lambda p: str(p.name))
        pidx = {p: i for i, p in enumerate(places)}
        n_t = len(transitions)
        pre: list[tuple[tuple[int, int], ...]] = []
        delta: list[tuple[tuple[int, int], ...]] = []
        consumers: list[list[int]] = [[] for _ in places]
        free: list[int] = []
        for ti, t in enumerate(transitions):
            arcs_in: dict[int, int] = {}
            for a in t.in_arcs:
                arcs_in[pidx[a.source]] = arcs_in.get(pidx[a.source], 0) + int(a.weight)
            change: dict[int, int] = {p: -w for p, w in arcs_in.items()}
            for a in t.out_arcs:
                change[pidx[a.target]] = change.get(pidx[a.target], 0) + int(a.weight)
            pre.append(tuple(sorted(arcs_in.items())))
            delta.append(tuple((p, d) for p, d in sorted(change.items()) if d != 0))
            for p in arcs_in:
                consumers[p].append(ti)
            if not arcs_in:
                free.append(ti)

        def encode(marking: Marking) -> tuple[int, ...]:
            vec = [0] * len(places)
            for p, c in marking.items():
                if p not in pidx:
                    raise AlignmentError(
                        f"cannot align: marking place {p.name!r} is not in the net "
                        "(pass the net's own initial and final markings)"
                    )
                vec[pidx[p]] = int(c)
            return tuple(vec)

        start = encode(initial_marking)
        final = encode(final_marking)
        index: dict[tuple[int, ...], int] = {start: 0}
        states = [start]
        out: list[list[tuple[int, int]]] = []
        limit = self.max_states
        i = 0
        while i < len(states):
            m = states[i]
            cand = set(free)
            for p, c in enumerate(m):
                if c:
                    cand.update(consumers[p])
            succ: list[tuple[int, int]] = []
            for ti in sorted(cand):
                if all(m[p] >= w for p, w in pre[ti]):
                    nm = list(m)
                    for p, d in delta[ti]:
                        nm[p] += d
                    key = tuple(nm)
                    j = index.get(key)
                    if j is None:
                        if len(states) >= limit:
                            return None
                        j = len(states)
                        index[key] = j
                        states.append(key)
                    succ.append((ti, j))
            out.append(succ)
            i += 1
        if final not in index:
            raise AlignmentError(
                "cannot align: the final marking is not reachable from the initial "
                "marking, so the net is not easy sound (check the model's flow, e.g. "
                "with pm4py.check_soundness)"
            )
        self.s0 = 0
        self.sf = index[final]
        self.out = out
        self.states = states
        self.place_names = [str(p.name) for p in places]
        self.n_transitions = n_t
        n = len(states)
        self.tau_out: list[list[int]] = [[] for _ in range(n)]
        self.sync_out: list[dict[int, list[tuple[int, int]]]] = [{} for _ in range(n)]
        self.fire: list[dict[int, int]] = [{} for _ in range(n)]
        for s, succ in enumerate(out):
            for ti, j in succ:
                self.fire[s][ti] = j
                li = self.t_label_idx[ti]
                if li < 0:
                    self.tau_out[s].append(j)
                else:
                    self.sync_out[s].setdefault(li, []).append((ti, j))
        return n

    def _pm4py_best_worst_cost(self) -> int:
        from pm4py.algo.conformance.alignments.petri_net.variants import (
            state_equation_a_star,
        )

        cost = state_equation_a_star.get_best_worst_cost(
            self.net, self.initial_marking, self.final_marking, parameters={}
        )
        if cost is None:
            raise AlignmentError(
                "cannot align: pm4py found no complete run of the net "
                "(check that the final marking is reachable)"
            )
        return int(cost)

    # -- shared helpers ----------------------------------------------------------

    def move(self, kind: MoveKind, activity: str | None, ti: int | None) -> Move:
        key = (kind, activity, ti)
        mv = self._moves.get(key)
        if mv is None:
            mv = Move(kind, activity, None if ti is None else self.t_name[ti])
            self._moves[key] = mv
        return mv

    def model_move(self, ti: int) -> Move:
        lab = self.t_label[ti]
        return self.move("tau" if lab is None else "model", lab, ti)

    def code(self, variant: Sequence[Hashable]) -> tuple[int, ...]:
        get = self.label_index.get
        return tuple(get(a, -1) if isinstance(a, str) else -1 for a in variant)

    @property
    def dense(self) -> _DenseTables:
        if self._dense is None:
            self._dense = _DenseTables(self)
        return self._dense

    # -- alignment ---------------------------------------------------------------

    def align(
        self,
        variants: Sequence[Sequence[str]],
        *,
        method: Method = "auto",
        cache: MutableMapping[CacheKey, Alignment] | None = None,
        prefix: bool = False,
    ) -> list[Alignment]:
        """Optimal (or, with ``prefix``, prefix) alignments of ``variants``.

        See :func:`align_variants`.
        """
        keys = [tuple(v) for v in variants]
        result: dict[tuple[str, ...], Alignment] = {}
        todo: list[tuple[str, ...]] = []
        seen: set[tuple[str, ...]] = set()
        fp = self.fingerprint + ("/prefix" if prefix else "")
        for v in keys:
            if v in seen:
                continue
            seen.add(v)
            hit = cache.get((fp, v)) if cache is not None else None
            if hit is not None:
                result[v] = hit
            else:
                todo.append(v)
        if todo:
            if method == "auto":
                if self.n_states is None:
                    method = "pm4py"
                elif self.n_states <= DENSE_STATE_LIMIT:
                    method = "dense"
                else:
                    method = "astar"
            if method != "pm4py" and self.n_states is None:
                raise AlignmentError(
                    f"cannot align with method {method!r}: the reachability graph "
                    f"exceeds max_states={self.max_states} (use method='auto')"
                )
            if method == "dense":
                computed = self._align_dense(todo, prefix=prefix)
            elif method == "astar":
                computed = [self._align_one_astar(v, prefix=prefix) for v in todo]
            elif method == "pm4py":
                computed = (
                    self._align_pm4py_prefix(todo) if prefix else self._align_pm4py(todo)
                )
            else:
                raise AlignmentError(
                    f"unknown alignment method {method!r} "
                    "(use 'auto', 'dense', 'astar' or 'pm4py')"
                )
            for v, al in zip(todo, computed, strict=True):
                result[v] = al
                if cache is not None:
                    cache[(fp, v)] = al
        return [result[v] for v in keys]

    # -- where a prefix alignment ends ---------------------------------------------

    def end_of(
        self, s: int
    ) -> tuple[tuple[tuple[str, int], ...], tuple[str, ...], tuple[str, ...]]:
        """(marking, enabled labels, required labels) of reachable state ``s``.

        ``enabled``: labels of visible transitions enabled in ``s`` or in a state
        reached from it by silent moves. ``required``: those of them that every
        path from ``s`` to the final marking fires (found by searching the graph
        without that label's transitions).
        """
        hit = self._ends.get(s)
        if hit is not None:
            return hit
        marking = tuple(
            (self.place_names[p], int(c)) for p, c in enumerate(self.states[s]) if c
        )
        labels: set[int] = set()
        for u, _ in self.tau_reach(s):
            labels.update(self.sync_out[u])
        enabled = tuple(sorted(self.labels[li] for li in labels))
        required = tuple(
            self.labels[li] for li in sorted(labels, key=lambda x: self.labels[x])
            if not self._reaches_final_without(s, li)
        )
        hit = (marking, enabled, required)
        self._ends[s] = hit
        return hit

    def _reaches_final_without(self, s: int, label: int) -> bool:
        """The final marking is reachable from ``s`` without firing ``label``."""
        if s == self.sf:
            return True
        seen = {s}
        stack = [s]
        label_idx = self.t_label_idx
        out = self.out
        while stack:
            u = stack.pop()
            for ti, j in out[u]:
                if label_idx[ti] == label or j in seen:
                    continue
                if j == self.sf:
                    return True
                seen.add(j)
                stack.append(j)
        return False

    def state_after(self, moves: Sequence[Move]) -> int:
        """The state reached from the initial marking by the model side of ``moves``."""
        by_name = {name: ti for ti, name in enumerate(self.t_name)}
        s = self.s0
        for mv in moves:
            if mv.transition is None:
                continue
            ti = by_name.get(mv.transition)
            j = self.fire[s].get(ti) if ti is not None else None
            if j is None:
                raise AlignmentError(
                    f"cannot replay the alignment: transition {mv.transition!r} is not "
                    "enabled where the alignment fires it"
                )
            s = j
        return s

    def _align_dense(
        self, variants: list[tuple[str, ...]], *, prefix: bool = False
    ) -> list[Alignment]:
        tables = self.dense
        n_states = self.n_states or 1
        coded = [self.code(v) for v in variants]
        order = sorted(range(len(variants)), key=lambda i: coded[i])
        out: list[Alignment | None] = [None] * len(variants)
        budget = max(1, _DENSE_CELL_BUDGET // n_states)
        batch: list[int] = []
        cells = 0
        for i in order:
            batch.append(i)
            cells += len(coded[i]) + 1
            if cells >= budget:
                tables.align_batch(
                    self,
                    [variants[j] for j in batch],
                    [coded[j] for j in batch],
                    out,
                    batch,
                    prefix=prefix,
                )
                batch, cells = [], 0
        if batch:
            tables.align_batch(
                self,
                [variants[j] for j in batch],
                [coded[j] for j in batch],
                out,
                batch,
                prefix=prefix,
            )
        return [a for a in out if a is not None]

    def _align_pm4py(self, variants: list[tuple[str, ...]]) -> list[Alignment]:
        from pm4py.algo.conformance.alignments.petri_net import algorithm as pm_align
        from pm4py.objects.log.obj import Event, EventLog, Trace

        log = EventLog(
            [Trace([Event({"concept:name": a}) for a in v]) for v in variants]
        )
        params = {
            pm_align.Parameters.PARAM_ALIGNMENT_RESULT_IS_SYNC_PROD_AWARE: True,
            pm_align.Parameters.SHOW_PROGRESS_BAR: False,
        }
        results = pm_align.apply(
            log,
            self.net,
            self.initial_marking,
            self.final_marking,
            parameters=params,
            variant=pm_align.Variants.VERSION_STATE_EQUATION_A_STAR,
        )
        skip = ">>"
        aligned = []
        for v, res in zip(variants, results, strict=True):
            if res is None:
                raise AlignmentError(
                    f"pm4py could not align the variant of {len(v)} events (time limit)"
                )
            moves = []
            for (t_trace, t_model), (l_trace, l_model) in res["alignment"]:
                if t_trace != skip and t_model != skip:
                    moves.append(Move("sync", l_trace, str(t_model)))
                elif t_model == skip:
                    moves.append(Move("log", l_trace, None))
                elif l_model is None:
                    moves.append(Move("tau", None, str(t_model)))
                else:
                    moves.append(Move("model", l_model, str(t_model)))
            aligned.append(
                _make_alignment(v, int(res["cost"]), tuple(moves), self.best_worst_cost)
            )
        return aligned

    def _align_pm4py_prefix(self, variants: list[tuple[str, ...]]) -> list[Alignment]:
        """Prefix alignments by pm4py's state-equation A* on :func:`prefix_net`."""
        from pm4py.algo.conformance.alignments.petri_net.variants import (
            state_equation_a_star as sea,
        )
        from pm4py.objects.log.obj import Event, Trace

        net, im, fm, model_cost, sync_cost = prefix_net(self.net, self.initial_marking)
        drains = {t.name for t in net.transitions if str(t.name).startswith(_DRAIN)}
        skip = ">>"
        aligned = []
        for v in variants:
            # ties between cheapest prefix alignments: fewer log moves (as the dense pass)
            scale = _PREFIX_SCALE
            while scale <= len(v):
                scale *= 2
            params = {
                sea.Parameters.PARAM_MODEL_COST_FUNCTION: {
                    t: c * scale for t, c in model_cost.items()
                },
                sea.Parameters.PARAM_SYNC_COST_FUNCTION: sync_cost,
                sea.Parameters.PARAM_TRACE_COST_FUNCTION: [LOG_MOVE_COST * scale + 1] * len(v),
                sea.Parameters.PARAM_ALIGNMENT_RESULT_IS_SYNC_PROD_AWARE: True,
            }
            res = sea.apply(Trace([Event({"concept:name": a}) for a in v]), net, im, fm,
                            parameters=params)
            if res is None:
                raise AlignmentError(
                    f"pm4py could not align the prefix of {len(v)} events (time limit)"
                )
            moves = []
            for (t_trace, t_model), (l_trace, l_model) in res["alignment"]:
                if t_model in drains:
                    continue
                if t_trace != skip and t_model != skip:
                    moves.append(Move("sync", l_trace, str(t_model)))
                elif t_model == skip:
                    moves.append(Move("log", l_trace, None))
                elif l_model is None:
                    moves.append(Move("tau", None, str(t_model)))
                else:
                    moves.append(Move("model", l_model, str(t_model)))
            if self.n_states is not None:
                end = self.end_of(self.state_after(moves))
            else:
                end = _pm4py_end(self.net, self.initial_marking, moves)
            aligned.append(
                _make_prefix_alignment(v, int(res["cost"]) // scale, tuple(moves), end)
            )
        return aligned

    # -- A* over the explicit reachability graph (large nets) ---------------------

    def _label_masks(self) -> list[int]:
        """Per state, bitmask of labels of transitions still reachable from it."""
        if self._masks is not None:
            return self._masks
        from scipy.sparse import csr_matrix
        from scipy.sparse.csgraph import connected_components

        n = self.n_states or 0
        src = [s for s, succ in enumerate(self.out) for _ in succ]
        dst = [j for succ in self.out for _, j in succ]
        graph = csr_matrix((np.ones(len(src), dtype=np.int8), (src, dst)), shape=(n, n))
        n_comp, comp = connected_components(graph, directed=True, connection="strong")
        own = [0] * n_comp
        succ_comp: list[set[int]] = [set() for _ in range(n_comp)]
        for s, succ in enumerate(self.out):
            cs = int(comp[s])
            for ti, j in succ:
                li = self.t_label_idx[ti]
                if li >= 0:
                    own[cs] |= 1 << li
                cj = int(comp[j])
                if cj != cs:
                    succ_comp[cs].add(cj)
        # Kahn's algorithm on the reversed condensation: sinks first.
        n_succ = [len(x) for x in succ_comp]
        preds: list[list[int]] = [[] for _ in range(n_comp)]
        for c, succs in enumerate(succ_comp):
            for d in succs:
                preds[d].append(c)
        stack = [c for c in range(n_comp) if n_succ[c] == 0]
        mask = list(own)
        while stack:
            c = stack.pop()
            for p in preds[c]:
                mask[p] |= mask[c]
                n_succ[p] -= 1
                if n_succ[p] == 0:
                    stack.append(p)
        self._masks = [mask[int(comp[s])] for s in range(n)]
        return self._masks

    def _astar(
        self, coded: tuple[int, ...], *, prefix: bool = False
    ) -> tuple[int, list[tuple[str, int | None]], int]:
        """Cheapest alignment of a coded trace: cost, (kind, transition) steps, end state.

        With ``prefix`` any node that has consumed the whole trace is a goal (the
        heuristic is 0 there, so the first one popped is optimal), and ties between
        cheapest prefix alignments go to fewer log moves (costs scaled as in the
        dense pass).
        """
        masks = self._label_masks()
        n = len(coded)
        n_states = self.n_states or 1
        sf = self.sf
        h_memo: dict[tuple[int, int], int] = {}
        scale = _PREFIX_SCALE if prefix else 1
        while scale <= n and prefix:
            scale *= 2
        log_cost = LOG_MOVE_COST * scale + (1 if prefix else 0)
        tau_cost = TAU_MOVE_COST * scale
        model_cost = MODEL_MOVE_COST * scale

        def h(i: int, s: int) -> int:
            mk = masks[s]
            key = (i, mk)
            v = h_memo.get(key)
            if v is None:
                v = log_cost * sum(
                    1 for j in range(i, n) if coded[j] < 0 or not (mk >> coded[j]) & 1
                )
                h_memo[key] = v
            return v

        start = self.s0
        g_best: dict[int, int] = {start: 0}
        parent: dict[int, tuple[int, str, int | None]] = {}
        heap = [(h(0, start), 0, start)]
        goal = n * n_states + sf
        out = self.out
        label_idx = self.t_label_idx
        while heap:
            _, g, key = heapq.heappop(heap)
            if g > g_best.get(key, g):
                continue
            if key == goal or (prefix and key >= n * n_states):
                end = key - n * n_states
                steps: list[tuple[str, int | None]] = []
                while key in parent:
                    key, kind, ti = parent[key]
                    steps.append((kind, ti))
                steps.reverse()
                return g // scale, steps, end
            i, s = divmod(key, n_states)
            succs: list[tuple[int, int, str, int | None]] = []
            if i < n:
                a = coded[i]
                if a >= 0:
                    for ti, j in self.sync_out[s].get(a, ()):
                        succs.append(((i + 1) * n_states + j, g, "sync", ti))
                succs.append(((i + 1) * n_states + s, g + log_cost, "log", None))
            for ti, j in out[s]:
                w = tau_cost if label_idx[ti] < 0 else model_cost
                succs.append((i * n_states + j, g + w, "model", ti))
            for nkey, ng, kind, ti in succs:
                if ng < g_best.get(nkey, ng + 1):
                    g_best[nkey] = ng
                    parent[nkey] = (key, kind, ti)
                    ni, ns = divmod(nkey, n_states)
                    heapq.heappush(heap, (ng + h(ni, ns), ng, nkey))
        raise AlignmentError("no alignment found: the final marking is unreachable")

    def _align_one_astar(
        self, variant: tuple[str, ...], *, prefix: bool = False
    ) -> Alignment:
        cost, steps, end = self._astar(self.code(variant), prefix=prefix)
        moves = []
        i = 0
        for kind, ti in steps:
            if kind == "sync":
                moves.append(self.move("sync", variant[i], ti))
                i += 1
            elif kind == "log":
                moves.append(self.move("log", variant[i], None))
                i += 1
            else:
                assert ti is not None
                moves.append(self.model_move(ti))
        if prefix:
            return _make_prefix_alignment(variant, cost, tuple(moves), self.end_of(end))
        return _make_alignment(variant, cost, tuple(moves), self.best_worst_cost)

    # -- precision helpers --------------------------------------------------------

    def eventually_enabled_labels(self, s: int) -> frozenset[str]:
        """Labels of visible transitions enabled in state ``s`` or after silent steps.

        Follows pm4py's exploration order exactly (enabled transitions sorted by
        name; the marking remembered per transition is the last one it was found
        enabled in), so precision figures match pm4py's align-ETC.
        """
        hit = self._eventually.get(s)
        if hit is not None:
            return hit
        queue = [ti for ti, _ in self.out[s]]
        where = dict.fromkeys(queue, s)
        visible: set[str] = set()
        visited: set[tuple[int, int]] = set()
        i = 0
        while i < len(queue):
            ti = queue[i]
            m = where[ti]
            key = (ti, m)
            if key not in visited:
                lab = self.t_label[ti]
                if lab is not None:
                    visible.add(lab)
                else:
                    nm = self.fire[m][ti]
                    for t2, _ in self.out[nm]:
                        queue.append(t2)
                        where[t2] = nm
                visited.add(key)
            i += 1
        result = frozenset(visible)
        self._eventually[s] = result
        return result

    def tau_reach(self, s: int) -> tuple[tuple[int, int], ...]:
        """States reachable from ``s`` by silent moves, with the fewest moves needed."""
        hit = self._tau_reach.get(s)
        if hit is not None:
            return hit
        seen = {s: 0}
        frontier = [s]
        depth = 0
        tau_out = self.tau_out
        while frontier:
            depth += 1
            nxt = []
            for u in frontier:
                for j in tau_out[u]:
                    if j not in seen:
                        seen[j] = depth
                        nxt.append(j)
            frontier = nxt
        hit = tuple(seen.items())
        self._tau_reach[s] = hit
        return hit

    def tau_closure(self, init: dict[int, int]) -> dict[int, int]:
        """Cheapest costs after any silent moves (cost 1 each) from ``init``."""
        dist: dict[int, int] = {}
        get = dist.get
        for s, g in init.items():
            for u, d in self.tau_reach(s):
                v = g + d * TAU_MOVE_COST
                if v < get(u, v + 1):
                    dist[u] = v
        return dist


class _DenseTables:
    """All-pairs model-move costs and per-label sync tables of a small graph."""

    def __init__(self, model: AlignmentModel) -> None:
        from scipy.sparse import csr_matrix
        from scipy.sparse.csgraph import dijkstra

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
        graph = csr_matrix((w_a.astype(np.float64), (src_a, dst_a)), shape=(n, n))
        dist_f, pred = dijkstra(graph, directed=True, return_predecessors=True)
        unreachable = ~np.isfinite(dist_f)
        finite_max = float(dist_f[~unreachable].max()) if (~unreachable).any() else 0.0
        self.finite_max = int(finite_max)
        self.big64 = np.int64(1) << 60
        dist = np.where(unreachable, 0.0, dist_f).astype(np.int64)
        dist[unreachable] = self.big64
        self.dist = dist
        self.pred = pred.astype(np.int32)
        self._paths: dict[tuple[int, int], tuple[Move, ...]] = {}
        self._sync: dict[
            tuple[Any, ...],
            tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
        ] = {}
        self._dist_cast: dict[Any, tuple[np.ndarray, Any]] = {}

    def dist_as(self, dtype: Any, scale: int = 1) -> tuple[np.ndarray, Any]:
        """Model-move costs as ``dtype`` (times ``scale``: int64 only), and "unreachable"."""
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
        self, model: AlignmentModel, label: int, dtype: Any, scale: int = 1
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
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
            hit = (rows, np.where(m >= big, big, m * scale).astype(np.int64), via, src, edges)
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
        hit = (
            rows,
            m,
            via,
            src,
            np.asarray(list(zip(e_dst, e_t, strict=True)), dtype=np.int64).reshape(
                -1, 2
            ),
        )
        self._sync[key] = hit
        return hit

    def path(self, model: AlignmentModel, u: int, v: int) -> tuple[Move, ...]:
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
        model: AlignmentModel,
        variants: list[tuple[str, ...]],
        coded: list[tuple[int, ...]],
        out: list[Alignment | None],
        positions: list[int],
        *,
        prefix: bool = False,
    ) -> None:
        n = self.n
        max_len = max((len(c) for c in coded), default=0)
        safe32 = (max_len + 2) * LOG_MOVE_COST + self.finite_max < (1 << 28)
        dtype: Any = np.int32 if safe32 else np.int64
        scale = 1
        log_cost = LOG_MOVE_COST
        if prefix:
            # Among the cheapest prefix alignments take one with the fewest log moves
            # (an event is extra only when no equally cheap run explains it): costs
            # times `scale`, plus 1 per log move; `scale` exceeds any count of them.
            dtype = np.int64
            scale = _PREFIX_SCALE
            while scale <= max_len:
                scale *= 2
            log_cost = LOG_MOVE_COST * scale + 1
        d, big = self.dist_as(dtype, scale)

        # prefix tree of the coded variants (unknown activities share code -1)
        children: dict[tuple[int, int], int] = {}
        parent = [0]
        code = [-1]
        depth = [0]
        terminal = []
        for c in coded:
            node = 0
            for k, a in enumerate(c):
                key = (node, a)
                nxt = children.get(key)
                if nxt is None:
                    nxt = len(parent)
                    children[key] = nxt
                    parent.append(node)
                    code.append(a)
                    depth.append(k + 1)
                node = nxt
            terminal.append(node)
        parent_a = np.asarray(parent, dtype=np.int64)
        code_a = np.asarray(code, dtype=np.int64)
        depth_a = np.asarray(depth, dtype=np.int64)
        n_nodes = len(parent)

        dist = np.empty((n_nodes, n), dtype=dtype)
        dist[0] = d[model.s0]
        # Small graphs: keep arg-min pointers from the forward pass (cheap there);
        # larger ones recover them per step read back (most columns are never read).
        eager = n <= _EAGER_POINTER_STATES
        ptr = (
            np.full((n_nodes, n), -1, dtype=np.int16 if n < 32_000 else np.int32)
            if eager
            else None
        )
        used = sorted({int(x) for x in code_a[1:].tolist() if x >= 0})
        tables = {c: self.sync_table(model, c, dtype, scale) for c in used}
        r_max = max((len(t[0]) for t in tables.values()), default=0)
        if ptr is not None and r_max * n <= _BATCH_ALL_LABELS:
            # small graphs: all nodes of one depth at once, labels' tables padded
            self._forward_by_depth(
                tables, used, r_max, parent_a, code_a, depth_a, dist, ptr, big, dtype,
                log_cost,
            )
        else:
            self._forward_by_label(
                tables, parent_a, code_a, depth_a, dist, ptr, big, dtype, log_cost
            )

        # Read one optimal alignment back, from the last event to the first. A step
        # into (node, s) was a sync move (then model moves) if some state enabling
        # the node's label reaches s at the node's cost, otherwise a log move: the
        # pointer says which, or (large graphs) it is recovered per (node, s).
        sf = model.sf
        s0 = model.s0
        bwc = (
            model.best_worst_cost
            if hasattr(model, "best_worst_cost")
            else int(d[s0, sf])
        )
        terminal_a = np.asarray(terminal, dtype=np.int64)
        if prefix:
            # the run may stop anywhere: the cheapest marking after the last event
            # (trailing model moves only add cost; ties: the first state found)
            ends = dist[terminal_a].argmin(axis=1)
            costs = dist[terminal_a, ends].tolist()
            end_states = ends.tolist()
            big_cost = int(big)
        else:
            costs = dist[terminal_a, sf].tolist()
            end_states = [sf] * len(terminal)
            big_cost = int(big)
        dist_item = dist.item
        ptr_item = ptr.item if ptr is not None else None
        steps: dict[Any, tuple[tuple[Move, ...], int]] = {}
        log_moves: dict[str, Move] = {}
        for pos, variant, c, node, cost, s_end in zip(
            positions, variants, coded, terminal, costs, end_states, strict=True
        ):
            if cost >= big_cost:
                raise AlignmentError(
                    "no alignment found: the final marking is unreachable"
                )
            rev: list[Move] = []
            s = s_end
            i = len(c)
            while node:
                i -= 1
                hit: tuple[tuple[Move, ...], int] | None
                if ptr_item is not None:
                    p = ptr_item(node, s)
                    if p < 0:
                        hit = ((), s)
                    else:
                        hit = steps.get((c[i], p, s))
                        if hit is None:
                            hit = self._sync_step(model, c[i], p, s, dtype, scale)
                            steps[(c[i], p, s)] = hit
                else:
                    hit = steps.get((node, s))
                    if hit is None:
                        hit = self._step(
                            model, dist, dist_item, parent[node], node, c[i], s, dtype,
                            scale,
                        )
                        steps[(node, s)] = hit
                if hit[0]:
                    rev.extend(hit[0])
                else:
                    act = variant[i]
                    mv = log_moves.get(act)
                    if mv is None:
                        mv = log_moves[act] = Move("log", act, None)
                    rev.append(mv)
                s = hit[1]
                node = parent[node]
            rev.extend(reversed(self.path(model, s0, s)))
            rev.reverse()
            if prefix:
                out[pos] = _make_prefix_alignment(
                    variant, int(cost) // scale, tuple(rev), model.end_of(s_end)
                )
            else:
                out[pos] = _make_alignment(variant, int(cost), tuple(rev), bwc)

    def _forward_by_label(
        self,
        tables: dict[int, Any],
        parent_a: np.ndarray,
        code_a: np.ndarray,
        depth_a: np.ndarray,
        dist: np.ndarray,
        ptr: np.ndarray | None,
        big: Any,
        dtype: Any,
        log_move_cost: int = LOG_MOVE_COST,
    ) -> None:
        """Fill ``dist`` (and ``ptr``) for the nodes of each (depth, label) group."""
        n = self.n
        n_nodes = len(parent_a)
        order = np.lexsort((code_a, depth_a))
        keys = depth_a[order] * (int(code_a.max(initial=0)) + 2) + code_a[order]
        bounds = np.flatnonzero(np.diff(keys)) + 1
        starts = np.concatenate(([0], bounds))
        ends = np.concatenate((bounds, [n_nodes]))
        log_cost = dtype(log_move_cost)
        for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
            ids = order[a:b]
            if depth_a[ids[0]] == 0:
                continue
            c = int(code_a[ids[0]])
            prev = dist[parent_a[ids]]
            moved = prev + log_cost
            np.minimum(moved, big, out=moved)
            table = tables.get(c)
            if table is None or len(table[0]) == 0:
                dist[ids] = moved
                continue
            rows, m = table[0], table[1]
            r = len(rows)
            x = prev[:, rows]
            k = len(ids)
            step = max(1, _BLOCK_ELEMENTS // max(1, r * n))
            best = np.empty((k, n), dtype=dtype)
            arg = np.empty((k, n), dtype=np.int64) if ptr is not None else None
            for lo in range(0, k, step):
                hi = min(k, lo + step)
                y = x[lo:hi, :, None] + m[None, :, :]
                y.min(axis=1, out=best[lo:hi])
                if arg is not None:
                    y.argmin(axis=1, out=arg[lo:hi])
            if ptr is not None and arg is not None:
                ptr[ids] = np.where(best <= moved, arg, -1)
            np.minimum(best, moved, out=best)
            np.minimum(best, big, out=best)
            dist[ids] = best

    def _forward_by_depth(
        self,
        tables: dict[int, Any],
        used: list[int],
        r_max: int,
        parent_a: np.ndarray,
        code_a: np.ndarray,
        depth_a: np.ndarray,
        dist: np.ndarray,
        ptr: np.ndarray,
        big: Any,
        dtype: Any,
        log_move_cost: int = LOG_MOVE_COST,
    ) -> None:
        """Fill ``dist`` and ``ptr`` one depth at a time, every label together."""
        n = self.n
        r_pad = max(1, r_max)
        slot = {c: i for i, c in enumerate(used)}
        n_slots = len(used) + 1  # the last slot: activities no transition has
        rows_pad = np.zeros((n_slots, r_pad), dtype=np.int64)
        m_pad = np.full((n_slots, r_pad, n), big, dtype=dtype)
        for c, i in slot.items():
            rows, m = tables[c][0], tables[c][1]
            rows_pad[i, : len(rows)] = rows
            m_pad[i, : len(rows)] = m
        slot_of = np.full(int(code_a.max(initial=0)) + 2, n_slots - 1, dtype=np.int64)
        for c, i in slot.items():
            slot_of[c] = i
        node_slot = slot_of[np.where(code_a >= 0, code_a, len(slot_of) - 1)]
        order = np.argsort(depth_a, kind="stable")
        bounds = np.flatnonzero(np.diff(depth_a[order])) + 1
        starts = np.concatenate(([0], bounds))
        ends = np.concatenate((bounds, [len(order)]))
        log_cost = dtype(log_move_cost)
        step = max(1, _BLOCK_ELEMENTS // (r_pad * n))
        for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
            ids = order[a:b]
            if depth_a[ids[0]] == 0:
                continue
            for lo in range(0, len(ids), step):
                part = ids[lo : lo + step]
                prev = dist[parent_a[part]]
                moved = prev + log_cost
                slots = node_slot[part]
                x = np.take_along_axis(prev, rows_pad[slots], axis=1)
                y = x[:, :, None] + m_pad[slots]
                best = y.min(axis=1)
                arg = y.argmin(axis=1)
                ptr[part] = np.where(best <= moved, arg, -1)
                np.minimum(best, moved, out=best)
                np.minimum(best, big, out=best)
                dist[part] = best

    def _step(
        self,
        model: AlignmentModel,
        dist: np.ndarray,
        dist_item: Any,
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
        target = dist_item(node, s)
        if label >= 0:
            rows, m, _, _, _ = self.sync_table(model, label, dtype, scale)
            if len(rows):
                cand = dist[parent, rows] + m[:, s]
                p = int(cand.argmin())
                if int(cand[p]) == target:
                    return self._sync_step(model, label, p, s, dtype, scale)
        return (), s

    def _sync_step(
        self, model: AlignmentModel, label: int, p: int, s: int, dtype: Any,
        scale: int = 1,
    ) -> tuple[tuple[Move, ...], int]:
        """Reversed moves of a sync from row ``p`` of ``label``'s table to ``s``."""
        _, _, via, e_src, e_dst_t = self.sync_table(model, label, dtype, scale)
        e = int(via[p, s])
        u, ti = int(e_dst_t[e, 0]), int(e_dst_t[e, 1])
        sync = model.move("sync", model.t_label[ti], ti)
        return (*reversed(self.path(model, u, s)), sync), int(e_src[e])


# ---------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------

#: Name prefix of the place-emptying transitions of :func:`prefix_net`.
_DRAIN = "csmine-drain:"


def prefix_net(
    net: PetriNet, initial_marking: Marking
) -> tuple[PetriNet, Marking, Marking, dict[Any, int], dict[Any, int]]:
    """A copy of the net whose pm4py alignments are the net's prefix alignments.

    Every place gets a silent transition that takes one token from it and costs
    nothing, and the final marking is empty: the run can stop in any reachable
    marking and empty it for free, so an optimal alignment against the copy costs
    exactly the least alignment cost over all reachable markings of the net (taking
    tokens away never enables anything, so draining early never helps).

    Returns:
        ``(net, initial_marking, final_marking, model_cost_function,
        sync_cost_function)`` for pm4py's ``state_equation_a_star`` (parameters
        ``model_cost_function`` / ``sync_cost_function``): the standard costs, 0 for
        the draining transitions (named ``csmine-drain:<place>``). Transition names
        are those of the original net.
    """
    import copy

    from pm4py.objects.petri_net.obj import Marking as PmMarking
    from pm4py.objects.petri_net.obj import PetriNet as PmNet
    from pm4py.objects.petri_net.utils.petri_utils import add_arc_from_to

    net2, im2 = copy.deepcopy((net, initial_marking))
    model_cost: dict[Any, int] = {}
    sync_cost: dict[Any, int] = {}
    for t in net2.transitions:
        if t.label is None:
            model_cost[t] = TAU_MOVE_COST
        else:
            model_cost[t] = MODEL_MOVE_COST
            sync_cost[t] = SYNC_MOVE_COST
    for p in sorted(net2.places, key=lambda q: str(q.name)):
        t = PmNet.Transition(f"{_DRAIN}{p.name}", None)
        net2.transitions.add(t)
        add_arc_from_to(p, t, net2)
        model_cost[t] = 0
    return net2, im2, PmMarking(), model_cost, sync_cost


def _pm4py_end(
    net: PetriNet, initial_marking: Marking, moves: Sequence[Move], limit: int = 10_000
) -> tuple[tuple[tuple[str, int], ...], tuple[str, ...], tuple[str, ...]]:
    """Where a prefix alignment ends on a net without an explicit graph.

    The marking after the model side of ``moves`` and the visible labels enabled
    there or after silent moves (up to ``limit`` markings); ``required`` is not
    computed (empty).
    """
    from pm4py.objects.petri_net import semantics

    by_name = {str(t.name): t for t in net.transitions}
    marking = initial_marking
    for mv in moves:
        if mv.transition is not None:
            marking = semantics.execute(by_name[mv.transition], net, marking)
            if marking is None:
                raise AlignmentError(
                    f"cannot replay the alignment: {mv.transition!r} is not enabled"
                )
    enabled: set[str] = set()
    seen = [marking]
    frontier = [marking]
    while frontier and len(seen) < limit:
        m = frontier.pop()
        for t in semantics.enabled_transitions(net, m):
            if t.label is not None:
                enabled.add(t.label)
                continue
            nm = semantics.execute(t, net, m)
            if nm is not None and nm not in seen:
                seen.append(nm)
                frontier.append(nm)
    end_marking = tuple(sorted((str(p.name), int(c)) for p, c in marking.items() if c))
    return end_marking, tuple(sorted(enabled)), ()


_MODEL_CACHE: OrderedDict[tuple[str, int], AlignmentModel] = OrderedDict()
_MODEL_CACHE_SIZE = 8


def compile_model(
    net: PetriNet,
    initial_marking: Marking,
    final_marking: Marking,
    *,
    max_states: int = DEFAULT_MAX_STATES,
) -> AlignmentModel:
    """Prepare a Petri net for alignment (reachability graph, cost tables).

    Compiled models are kept in a small in-process cache keyed by
    :func:`net_fingerprint` and ``max_states``, so repeated calls are cheap.

    Args:
        net: an easy-sound accepting Petri net (e.g. ``sop.to_petri_net()`` or an
            inductive-miner net); silent transitions have label ``None``.
        initial_marking: its initial marking.
        final_marking: its final marking.
        max_states: largest reachability graph explored; beyond it (or for an
            unbounded net) alignments are computed by pm4py's state-equation A*.

    Returns:
        The compiled model.

    Raises:
        AlignmentError: the final marking is not reachable (the net is not easy sound).
    """
    fp = net_fingerprint(net, initial_marking, final_marking)
    key = (fp, max_states)
    model = _MODEL_CACHE.get(key)
    if model is None:
        model = AlignmentModel(
            net, initial_marking, final_marking, max_states=max_states, fingerprint=fp
        )
        _MODEL_CACHE[key] = model
        while len(_MODEL_CACHE) > _MODEL_CACHE_SIZE:
            _MODEL_CACHE.popitem(last=False)
    else:
        _MODEL_CACHE.move_to_end(key)
    return model


def align_variants(
    net: PetriNet,
    initial_marking: Marking,
    final_marking: Marking,
    variants: Sequence[tuple[str, ...]],
    *,
    max_states: int = DEFAULT_MAX_STATES,
    cache: MutableMapping[CacheKey, Alignment] | None = None,
    method: Method = "auto",
    prefix: bool = False,
) -> list[Alignment]:
    """Optimal alignments of activity sequences against a Petri net.

    Costs are the standard ones (sync 0, log move 10,000, visible model move
    10,000, silent move 1) and equal pm4py's optimal costs for every variant;
    fitness is pm4py's per-trace alignment fitness (see :class:`Alignment`).

    With ``prefix=True`` the sequences are prefixes of traces that have not ended
    (open tickets): each gets an optimal *prefix alignment*, the cheapest model run
    that explains its events and stops in any reachable marking (model moves after
    the last event are not paid). Its cost equals the least pm4py alignment cost
    over all reachable markings taken as final marking; ``marking``, ``enabled``
    and ``required`` say where it ends and what the model allows next.

    Args:
        net: an easy-sound accepting Petri net.
        initial_marking: its initial marking.
        final_marking: its final marking.
        variants: activity sequences; duplicates are aligned once. Activities
            that label no transition can only be log moves.
        max_states: bound on the reachability graph; larger (or unbounded) nets are
            aligned by pm4py's state-equation A* (one process).
        cache: optional mapping ``(net fingerprint, variant) -> Alignment`` read
            before and filled after computing, e.g. a dict kept across calls.
        method: ``"auto"`` (dense tables up to 3,000 reachable markings, A* on
            the reachability graph above, pm4py beyond ``max_states``), or force
            ``"dense"``, ``"astar"`` or ``"pm4py"`` (prefix alignments: pm4py on
            :func:`prefix_net`).
        prefix: prefix alignments instead of full ones (cached apart).

    Returns:
        One :class:`Alignment` per input variant, in input order.

    Raises:
        AlignmentError: the net is not easy sound, or ``method`` cannot be used.
    """
    model = compile_model(net, initial_marking, final_marking, max_states=max_states)
    return model.align(variants, method=method, cache=cache, prefix=prefix)


@dataclass(frozen=True, slots=True)
class _LogTrie:
    """Prefix tree of a log's traces, built column-wise with numpy."""

    cases: pd.Index  # case ids, sorted as pandas' groupby sorts them
    case_node: np.ndarray  # terminal node per case
    case_length: np.ndarray
    parent: np.ndarray  # per node; root is node 0 with parent -1
    code: np.ndarray  # activity code per node (-1 for the root)
    depth: np.ndarray
    continuing: np.ndarray  # per node: cases that have a further event after it
    activities: list[str]  # activity per code


def _log_trie(df: pd.DataFrame, case_id_key: str, activity_key: str) -> _LogTrie:
    missing = [k for k in (case_id_key, activity_key) if k not in df.columns]
    if missing:
        raise AlignmentError(
            "cannot align the event log: missing column(s) "
            f"{', '.join(map(repr, missing))} "
            "(pass case_id_key= / activity_key=)"
        )
    act_codes, act_values = pd.factorize(df[activity_key])
    if (act_codes < 0).any():
        raise AlignmentError(
            f"cannot align the event log: {(act_codes < 0).sum()} event(s) have no "
            f"activity in column {activity_key!r} (drop or fill them first)"
        )
    case_codes, cases = pd.factorize(df[case_id_key], sort=True)
    if (case_codes < 0).any():
        raise AlignmentError(
            f"cannot align the event log: {(case_codes < 0).sum()} event(s) have no "
            f"case id in column {case_id_key!r}"
        )
    activities = [str(a) for a in act_values]
    n_acts = max(1, len(activities))
    n_cases = len(cases)
    order = np.argsort(case_codes, kind="stable")
    cc = case_codes[order].astype(np.int64)
    ac = act_codes[order].astype(np.int64)
    lengths = np.bincount(cc, minlength=n_cases)
    starts = np.cumsum(lengths) - lengths
    pos = np.arange(len(cc), dtype=np.int64) - starts[cc]
    by_pos = np.argsort(pos, kind="stable")
    cc, ac = cc[by_pos], ac[by_pos]
    per_pos = np.bincount(pos, minlength=1) if len(pos) else np.zeros(0, dtype=np.int64)
    case_node = np.zeros(n_cases, dtype=np.int64)
    parents = [np.array([-1], dtype=np.int64)]
    codes = [np.array([-1], dtype=np.int64)]
    depths = [np.array([0], dtype=np.int64)]
    cont = []
    next_id = 1
    lo = 0
    for j, count in enumerate(per_pos):
        hi = lo + int(count)
        cs = cc[lo:hi]
        prev = case_node[cs]
        if j > 0:
            cont.append(prev)
        keys = prev * n_acts + ac[lo:hi]
        uniq, inv = np.unique(keys, return_inverse=True)
        case_node[cs] = next_id + inv
        parents.append(uniq // n_acts)
        codes.append(uniq % n_acts)
        depths.append(np.full(len(uniq), j + 1, dtype=np.int64))
        next_id += len(uniq)
        lo = hi
    parent = np.concatenate(parents)
    continuing = np.bincount(
        np.concatenate(cont) if cont else np.zeros(0, dtype=np.int64), minlength=next_id
    )
    return _LogTrie(
        cases=pd.Index(cases),
        case_node=case_node,
        case_length=lengths,
        parent=parent,
        code=np.concatenate(codes),
        depth=np.concatenate(depths),
        continuing=continuing,
        activities=activities,
    )


def _trie_variants(
    trie: _LogTrie,
) -> tuple[np.ndarray, np.ndarray, list[tuple[str, ...]]]:
    """Distinct traces: (terminal nodes, variant index per case, activity tuples)."""
    nodes, case_variant = np.unique(trie.case_node, return_inverse=True)
    parent = trie.parent.tolist()
    code = trie.code.tolist()
    acts = trie.activities
    variants = []
    for node in nodes.tolist():
        seq = []
        while node > 0:
            seq.append(acts[code[node]])
            node = parent[node]
        seq.reverse()
        variants.append(tuple(seq))
    return nodes, case_variant, variants


@dataclass(frozen=True, slots=True)
class _CaseAlignments:
    frame: pd.DataFrame
    alignments: dict[tuple[str, ...], Alignment]
    best_worst_cost: int
    case_length: np.ndarray


def _align_cases(
    df: pd.DataFrame,
    net: PetriNet,
    initial_marking: Marking,
    final_marking: Marking,
    *,
    case_id_key: str,
    activity_key: str,
    max_states: int,
    cache: MutableMapping[CacheKey, Alignment] | None,
    method: Method,
    prefix: bool = False,
) -> _CaseAlignments:
    model = compile_model(net, initial_marking, final_marking, max_states=max_states)
    trie = _log_trie(df, case_id_key, activity_key)
    _, case_variant, variants = _trie_variants(trie)
    aligned = model.align(variants, method=method, cache=cache, prefix=prefix)
    cost = np.fromiter((a.cost for a in aligned), dtype=np.int64, count=len(aligned))
    fitness = np.fromiter(
        (a.fitness for a in aligned), dtype=np.float64, count=len(aligned)
    )
    frame = pd.DataFrame(
        {
            "case": trie.cases,
            "cost": cost[case_variant] if len(aligned) else np.zeros(0, dtype=np.int64),
            "fitness": fitness[case_variant] if len(aligned) else np.zeros(0),
        }
    )
    frame["is_fit"] = frame["fitness"] == 1.0
    return _CaseAlignments(
        frame,
        dict(zip(variants, aligned, strict=True)),
        0 if prefix else model.best_worst_cost,
        trie.case_length,
    )


def align_log(
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
) -> tuple[pd.DataFrame, dict[tuple[str, ...], Alignment]]:
    """Align every case of an event log, computing once per variant.

    Events are taken in row order within each case (the event-log frame is sorted
    by case and time), as pm4py does.

    Args:
        df: event log frame, one row per event.
        net: an easy-sound accepting Petri net.
        initial_marking: its initial marking.
        final_marking: its final marking.
        case_id_key: case id column.
        activity_key: activity column.
        max_states: see :func:`align_variants`.
        cache: see :func:`align_variants`.
        method: see :func:`align_variants`.
        prefix: every case is an unfinished trace: prefix alignments (see
            :func:`align_variants`).

    Returns:
        ``(cases, alignments)``: ``cases`` has one row per case, sorted by case id,
        with columns ``case``, ``cost`` (optimal alignment cost, int), ``fitness``
        (pm4py's trace fitness, 0-1) and ``is_fit`` (fitness == 1.0);
        ``alignments`` maps each variant to its :class:`Alignment`.

    Raises:
        AlignmentError: a column is missing, or the net is not easy sound.
    """
    res = _align_cases(
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
    return res.frame, res.alignments


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
    res = _align_cases(
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

        return float(
            pm4py.precision_alignments(
                df,
                net,
                initial_marking,
                final_marking,
                multi_processing=False,
                activity_key=activity_key,
                case_id_key=case_id_key,
                timestamp_key=timestamp_key,
            )
        )
    trie = _log_trie(df, case_id_key, activity_key)
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
        base = closed.get(parent[v])
        label = act_label[code[v]]
        init: dict[int, int] = {}
        if base and label >= 0:
            sync_out = model.sync_out
            for s, g in base.items():
                for _, j in sync_out[s].get(label, ()):
                    if g < init.get(j, g + 1):
                        init[j] = g
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
    start_acts = next_acts[0]
    initial_allowed = model.eventually_enabled_labels(model.s0)
    sum_at += n_traces * len(initial_allowed)
    sum_ee += n_traces * len(initial_allowed - start_acts)
    if sum_at > 0:
        return 1 - float(sum_ee) / float(sum_at)
    return 1.0
