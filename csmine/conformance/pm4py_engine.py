"""Alignments by pm4py's exact state-equation A*, in one process.

For nets whose reachability graph exceeds ``max_states`` (or is unbounded), and when
``method="pm4py"`` is forced. pm4py has no prefix alignment: prefixes are aligned
against a copy of the net in which every place can be emptied by a free silent
transition and the final marking is empty (:func:`prefix_net`), which has the same
optimal cost.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from csmine.conformance.moves import (
    LOG_MOVE_COST,
    MODEL_MOVE_COST,
    SYNC_MOVE_COST,
    TAU_MOVE_COST,
    Alignment,
    End,
    Move,
    make_alignment,
    make_prefix_alignment,
    prefix_scale,
)
from csmine.errors import AlignmentError

if TYPE_CHECKING:
    from pm4py.objects.petri_net.obj import Marking, PetriNet

    from csmine.conformance.reachability import ReachabilityGraph

__all__ = ["align_pm4py", "as_pm4py", "align_pm4py_prefix", "pm4py_best_worst_cost", "prefix_net"]

#: Name prefix of the place-emptying transitions of :func:`prefix_net`.
_DRAIN = "csmine-drain:"
_SKIP = ">>"


_PM4PY_NETS: weakref.WeakKeyDictionary[Any, tuple[Any, Any, Any]] = weakref.WeakKeyDictionary()


def as_pm4py(net: Any, initial_marking: Any, final_marking: Any) -> tuple[PetriNet, Marking, Marking]:
    """The net as pm4py objects: a pm4py net as it is, a
    :class:`process_models.workflow_net.WorkflowNet` converted (once per net object;
    same place and transition names, so moves and markings read the same)."""
    from process_models.workflow_net import WorkflowNet, to_pm4py

    if not isinstance(net, WorkflowNet):
        return net, initial_marking, final_marking
    hit = _PM4PY_NETS.get(net)
    if hit is None:
        hit = _PM4PY_NETS[net] = to_pm4py(net, initial_marking, final_marking)
    pm_net = hit[0]
    by_name = {p.name: p for p in pm_net.places}
    from pm4py.objects.petri_net.obj import Marking as PmMarking

    return (pm_net, PmMarking({by_name[p.name]: n for p, n in initial_marking.items()}),
            PmMarking({by_name[p.name]: n for p, n in final_marking.items()}))


def pm4py_best_worst_cost(
    net: PetriNet, initial_marking: Marking, final_marking: Marking
) -> int:
    """Cost of the cheapest complete run of the net, by pm4py (the empty trace's)."""
    from pm4py.algo.conformance.alignments.petri_net.variants import (
        state_equation_a_star,
    )

    net, initial_marking, final_marking = as_pm4py(net, initial_marking, final_marking)

    cost = state_equation_a_star.get_best_worst_cost(
        net, initial_marking, final_marking, parameters={}
    )
    if cost is None:
        raise AlignmentError(
            "cannot align: pm4py found no complete run of the net "
            "(check that the final marking is reachable)"
        )
    return int(cost)


def _moves(alignment: Iterable[Any], skip: frozenset[Any] = frozenset()) -> list[Move]:
    """Moves of a sync-product-aware pm4py alignment, without ``skip`` transitions."""
    moves = []
    for (t_trace, t_model), (l_trace, l_model) in alignment:
        if t_model in skip:
            continue
        if t_trace != _SKIP and t_model != _SKIP:
            moves.append(Move("sync", l_trace, str(t_model)))
        elif t_model == _SKIP:
            moves.append(Move("log", l_trace, None))
        elif l_model is None:
            moves.append(Move("tau", None, str(t_model)))
        else:
            moves.append(Move("model", l_model, str(t_model)))
    return moves


def align_pm4py(
    net: PetriNet,
    initial_marking: Marking,
    final_marking: Marking,
    variants: list[tuple[str, ...]],
    *,
    best_worst_cost: int,
) -> list[Alignment]:
    """Optimal alignments of ``variants`` by pm4py (``best_worst_cost``: ``w``)."""
    from pm4py.algo.conformance.alignments.petri_net import algorithm as pm_align
    from pm4py.objects.log.obj import Event, EventLog, Trace

    net, initial_marking, final_marking = as_pm4py(net, initial_marking, final_marking)
    log = EventLog(
        [Trace([Event({"concept:name": a}) for a in v]) for v in variants]
    )
    params = {
        pm_align.Parameters.PARAM_ALIGNMENT_RESULT_IS_SYNC_PROD_AWARE: True,
        pm_align.Parameters.SHOW_PROGRESS_BAR: False,
    }
    results = pm_align.apply(
        log,
        net,
        initial_marking,
        final_marking,
        parameters=params,
        variant=pm_align.Variants.VERSION_STATE_EQUATION_A_STAR,
    )
    aligned = []
    for v, res in zip(variants, results, strict=True):
        if res is None:
            raise AlignmentError(
                f"pm4py could not align the variant of {len(v)} events (time limit)"
            )
        moves = _moves(res["alignment"])
        aligned.append(
            make_alignment(v, int(res["cost"]), tuple(moves), best_worst_cost)
        )
    return aligned


def align_pm4py_prefix(
    model: ReachabilityGraph, variants: list[tuple[str, ...]]
) -> list[Alignment]:
    """Prefix alignments by pm4py's state-equation A* on :func:`prefix_net`."""
    from pm4py.algo.conformance.alignments.petri_net.variants import (
        state_equation_a_star as sea,
    )
    from pm4py.objects.log.obj import Event, Trace

    net, im, fm, model_cost, sync_cost = prefix_net(model.net, model.initial_marking)
    drains = frozenset(
        t.name for t in net.transitions if str(t.name).startswith(_DRAIN)
    )
    aligned = []
    for v in variants:
        # ties between cheapest prefix alignments: fewer log moves (as the dense pass)
        scale = prefix_scale(len(v))
        params = {
            sea.Parameters.PARAM_MODEL_COST_FUNCTION: {
                t: c * scale for t, c in model_cost.items()
            },
            sea.Parameters.PARAM_SYNC_COST_FUNCTION: sync_cost,
            sea.Parameters.PARAM_TRACE_COST_FUNCTION: [LOG_MOVE_COST * scale + 1]
            * len(v),
            sea.Parameters.PARAM_ALIGNMENT_RESULT_IS_SYNC_PROD_AWARE: True,
        }
        res = sea.apply(Trace([Event({"concept:name": a}) for a in v]), net, im, fm,
                        parameters=params)
        if res is None:
            raise AlignmentError(
                f"pm4py could not align the prefix of {len(v)} events (time limit)"
            )
        moves = _moves(res["alignment"], drains)
        if model.n_states is not None:
            end = model.end_of(model.state_after(moves))
        else:
            end = _pm4py_end(model.net, model.initial_marking, moves)
        aligned.append(
            make_prefix_alignment(v, int(res["cost"]) // scale, tuple(moves), end)
        )
    return aligned


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

    net, initial_marking, _ = as_pm4py(net, initial_marking, {})
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
) -> End:
    """Where a prefix alignment ends on a net without an explicit graph.

    The marking after the model side of ``moves`` and the visible labels enabled
    there or after silent moves (up to ``limit`` markings); ``required`` is not
    computed (empty).
    """
    from pm4py.objects.petri_net import semantics

    net, initial_marking, _ = as_pm4py(net, initial_marking, {})
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
