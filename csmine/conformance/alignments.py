"""Optimal alignments of ticket variants against a Petri net: compile, align a log.

An *alignment* explains one trace with a run of the model, move by move (sync, log,
model, tau; :mod:`csmine.conformance.moves`). Costs are the standard ones (the same
as pm4py's): sync 0, log move 10,000, visible model move 10,000, silent move 1. An
*optimal* alignment has the least total cost; its cost is exact and unique even
when several optimal alignments exist (the moves returned are one of them).

Algorithm. The reachability graph of the net is built once per net, bounded by
``max_states`` (:mod:`csmine.conformance.reachability`), and the compiled model is
cached (:func:`compile_model`). Up to :data:`DENSE_STATE_LIMIT` markings, variants
are aligned together by a min-plus dynamic programme over a prefix tree of the
variants (:mod:`csmine.conformance.dense`); larger graphs per variant with A* over
(position x marking) (:mod:`csmine.conformance.astar`); nets whose reachability
graph exceeds ``max_states`` (or is unbounded) are handed to pm4py's exact
state-equation A*, in one process (:mod:`csmine.conformance.pm4py_engine`). A log
is aligned once per variant (:func:`align_log`, via
:mod:`csmine.conformance.trie`); its fitness and precision figures are in
:mod:`csmine.conformance.figures`.

Prefix alignments (``prefix=True``) explain a trace that has not ended yet (an open
ticket): the cheapest model run that explains the events so far, where the run may
stop in *any* reachable marking, so model moves after the last event are not paid.
They come from the same passes: the cost is ``min_m d_n[m]`` instead of
``d_n[m_final]`` (trailing model moves only add cost, so the minimum is reached
right after the last event), the moves are read back from that marking, and A*
stops at the first node that has consumed the whole trace. pm4py has no prefix
alignment; for nets beyond ``max_states`` pm4py aligns the trace against a copy of
the net in which every place can be emptied by a free silent transition and the
final marking is empty (:func:`csmine.conformance.pm4py_engine.prefix_net`), which
has the same optimal cost.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from csmine.conformance.astar import align_astar, astar
from csmine.conformance.dense import DenseTables
from csmine.conformance.moves import Alignment
from csmine.conformance.pm4py_engine import (
    align_pm4py,
    align_pm4py_prefix,
    pm4py_best_worst_cost,
)
from csmine.conformance.reachability import ReachabilityGraph, net_fingerprint
from csmine.conformance.trie import log_trie, trie_variants
from csmine.errors import AlignmentError

if TYPE_CHECKING:
    from pm4py.objects.petri_net.obj import Marking, PetriNet

__all__ = [
    "DEFAULT_MAX_STATES",
    "DENSE_STATE_LIMIT",
    "AlignmentModel",
    "CaseAlignments",
    "align_cases",
    "align_log",
    "align_variants",
    "compile_model",
]

DEFAULT_MAX_STATES = 200_000
#: Largest reachability graph aligned with the dense all-pairs tables.
DENSE_STATE_LIMIT = 3_000
#: Cells (prefix-tree nodes x states) of one dense dynamic-programming batch.
_DENSE_CELL_BUDGET = 24_000_000
#: Up to this many states, arg-min pointers are kept during the forward pass.
_EAGER_POINTER_STATES = 1_024

Method = Literal["auto", "dense", "astar", "pm4py"]
CacheKey = tuple[str, tuple[str, ...]]


class AlignmentModel(ReachabilityGraph):
    """A Petri net prepared for alignment: reachability graph and cost tables.

    Build with :func:`compile_model`; reuse it to align many variants or logs.

    Attributes:
        fingerprint: the net's
            :func:`~csmine.conformance.reachability.net_fingerprint`.
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
        self._dense: DenseTables | None = None
        super().__init__(
            net, initial_marking, final_marking, max_states=max_states,
            fingerprint=fingerprint,
        )
        if self.n_states is None:
            self.best_worst_cost = pm4py_best_worst_cost(
                net, initial_marking, final_marking
            )
        elif self.n_states <= DENSE_STATE_LIMIT:
            self.best_worst_cost = int(self.dense.dist[self.s0, self.sf])
        else:
            cost, _, _ = astar(self, ())
            self.best_worst_cost = cost

    @property
    def dense(self) -> DenseTables:
        """The dense cost tables (built on first use)."""
        if self._dense is None:
            self._dense = DenseTables(self)
        return self._dense

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
            computed = self._compute(todo, self._method(method), prefix)
            for v, al in zip(todo, computed, strict=True):
                result[v] = al
                if cache is not None:
                    cache[(fp, v)] = al
        return [result[v] for v in keys]

    def _method(self, method: Method) -> Method:
        if method == "auto":
            if self.n_states is None:
                return "pm4py"
            return "dense" if self.n_states <= DENSE_STATE_LIMIT else "astar"
        if method != "pm4py" and self.n_states is None:
            raise AlignmentError(
                f"cannot align with method {method!r}: the reachability graph "
                f"exceeds max_states={self.max_states} (use method='auto')"
            )
        return method

    def _compute(
        self, todo: list[tuple[str, ...]], method: Method, prefix: bool
    ) -> list[Alignment]:
        if method == "dense":
            return self._align_dense(todo, prefix=prefix)
        if method == "astar":
            bwc = self.best_worst_cost
            return [
                align_astar(self, v, best_worst_cost=bwc, prefix=prefix) for v in todo
            ]
        if method == "pm4py":
            if prefix:
                return align_pm4py_prefix(self, todo)
            return align_pm4py(
                self.net, self.initial_marking, self.final_marking, todo,
                best_worst_cost=self.best_worst_cost,
            )
        raise AlignmentError(
            f"unknown alignment method {method!r} "
            "(use 'auto', 'dense', 'astar' or 'pm4py')"
        )

    def _align_dense(
        self, variants: list[tuple[str, ...]], *, prefix: bool = False
    ) -> list[Alignment]:
        """Dense alignments in batches of about ``_DENSE_CELL_BUDGET`` table cells."""
        tables = self.dense
        n_states = self.n_states or 1
        coded = [self.code(v) for v in variants]
        order = sorted(range(len(variants)), key=lambda i: coded[i])
        out: list[Alignment | None] = [None] * len(variants)
        budget = max(1, _DENSE_CELL_BUDGET // n_states)
        eager = n_states <= _EAGER_POINTER_STATES
        batches: list[list[int]] = [[]]
        cells = 0
        for i in order:
            batches[-1].append(i)
            cells += len(coded[i]) + 1
            if cells >= budget:
                batches.append([])
                cells = 0
        for batch in batches:
            if not batch:
                continue
            aligned = tables.align_batch(
                self,
                [variants[j] for j in batch],
                [coded[j] for j in batch],
                best_worst_cost=self.best_worst_cost,
                eager=eager,
                prefix=prefix,
            )
            for j, al in zip(batch, aligned, strict=True):
                out[j] = al
        return [a for a in out if a is not None]


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
    :func:`~csmine.conformance.reachability.net_fingerprint` and ``max_states``, so
    repeated calls are cheap.

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
    fitness is pm4py's per-trace alignment fitness (see
    :class:`~csmine.conformance.moves.Alignment`).

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
            :func:`~csmine.conformance.pm4py_engine.prefix_net`).
        prefix: prefix alignments instead of full ones (cached apart).

    Returns:
        One :class:`~csmine.conformance.moves.Alignment` per input variant, in
        input order.

    Raises:
        AlignmentError: the net is not easy sound, or ``method`` cannot be used.
    """
    model = compile_model(net, initial_marking, final_marking, max_states=max_states)
    return model.align(variants, method=method, cache=cache, prefix=prefix)


@dataclass(frozen=True, slots=True)
class CaseAlignments:
    """A log's cases aligned once per variant (see :func:`align_log`).

    Attributes:
        frame: one row per case, sorted by case id: ``case``, ``cost``, ``fitness``,
            ``is_fit``.
        alignments: each variant's alignment.
        best_worst_cost: the ``w`` of the fitness formula (0 for prefix alignments).
        case_length: events per case, in ``frame`` order.
    """

    frame: pd.DataFrame
    alignments: dict[tuple[str, ...], Alignment]
    best_worst_cost: int
    case_length: np.ndarray


def align_cases(
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
) -> CaseAlignments:
    """Align every case of ``df``, once per variant (see :func:`align_log`)."""
    model = compile_model(net, initial_marking, final_marking, max_states=max_states)
    trie = log_trie(df, case_id_key, activity_key)
    case_variant, variants = trie_variants(trie)
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
    return CaseAlignments(
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
        ``alignments`` maps each variant to its
        :class:`~csmine.conformance.moves.Alignment`.

    Raises:
        AlignmentError: a column is missing, or the net is not easy sound.
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
    return res.frame, res.alignments
