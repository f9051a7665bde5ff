"""Alignment result types and their standard costs: :class:`Move`, :class:`Alignment`.

An *alignment* explains one trace (a variant: a distinct sequence of activities)
with a run of the model. Each step is a *move*:

* ``sync`` — the event's activity is the label of the transition the model fires;
* ``log`` — the event happened but the model cannot explain it here (extra step);
* ``model`` — the model fires a visible transition the log does not show (skipped step);
* ``tau`` — the model fires a silent transition (routing, no step of its own).

Costs are the standard ones (the same as pm4py's): sync 0, log move 10,000,
visible model move 10,000, silent move 1. The engines
(:mod:`csmine.conformance.dense`, :mod:`csmine.conformance.astar`,
:mod:`csmine.conformance.pm4py_engine`) build their results with
:func:`make_alignment` and :func:`make_prefix_alignment`, so the fitness formula
lives here once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "LOG_MOVE_COST",
    "MODEL_MOVE_COST",
    "PREFIX_SCALE",
    "SYNC_MOVE_COST",
    "TAU_MOVE_COST",
    "Alignment",
    "End",
    "Move",
    "MoveKind",
    "make_alignment",
    "make_prefix_alignment",
    "prefix_scale",
]

SYNC_MOVE_COST = 0
LOG_MOVE_COST = 10_000
MODEL_MOVE_COST = 10_000
TAU_MOVE_COST = 1

#: Prefix alignments: costs are scaled by a power of two above the longest prefix
#: (at least this) so that one extra unit per log move breaks ties between cheapest
#: ones (see :func:`prefix_scale`).
PREFIX_SCALE = 1_024

MoveKind = Literal["sync", "log", "model", "tau"]
#: Where a prefix alignment ends: (marking as sorted (place, tokens) pairs,
#: enabled labels, required labels); see :class:`Alignment`.
End = tuple[tuple[tuple[str, int], ...], tuple[str, ...], tuple[str, ...]]


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


def prefix_scale(longest: int) -> int:
    """The cost scale of prefix alignments of traces up to ``longest`` events.

    A power of two, at least :data:`PREFIX_SCALE`, above ``longest``: costs times the
    scale plus one per log move keep the optimal cost exact (divide by the scale)
    while preferring, among the cheapest prefix alignments, one with the fewest log
    moves.
    """
    scale = PREFIX_SCALE
    while scale <= longest:
        scale *= 2
    return scale


def _fitness(length: int, cost: int, best_worst_cost: int) -> float:
    num = cost // LOG_MOVE_COST
    den = (length * LOG_MOVE_COST + best_worst_cost) // LOG_MOVE_COST
    return 1 - num / den if den > 0 else 0.0


def make_alignment(
    variant: tuple[str, ...], cost: int, moves: tuple[Move, ...], best_worst_cost: int
) -> Alignment:
    """A full alignment; ``best_worst_cost`` is the ``w`` of the fitness formula."""
    fitness = _fitness(len(variant), cost, best_worst_cost)
    return Alignment(variant, int(cost), fitness, moves, fitness == 1.0)


def make_prefix_alignment(
    variant: tuple[str, ...], cost: int, moves: tuple[Move, ...], end: End
) -> Alignment:
    """A prefix alignment; ``end`` is (marking, enabled labels, required labels)."""
    fitness = _fitness(len(variant), cost, 0) if variant else 1.0
    marking, enabled, required = end
    return Alignment(
        variant, int(cost), fitness, moves, fitness == 1.0, True, marking, enabled,
        required,
    )
