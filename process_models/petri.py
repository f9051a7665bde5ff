"""pm4py views of a flow (process tree, workflow net), soundness and its language.

Works on a flow (:mod:`process_models.flow`) and on pm4py nets only; it knows
nothing of the SOP around the flow, so :mod:`process_models.model` can call it
(``SOP.to_petri_net``) without an import circle. pm4py is imported inside the
functions, so importing this module stays cheap.
"""

from __future__ import annotations

import itertools
import warnings
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from process_models.flow import Flow, FlowNode

if TYPE_CHECKING:
    from pm4py.objects.petri_net.obj import Marking, PetriNet
    from pm4py.objects.process_tree.obj import ProcessTree

_PM4PY_OPERATORS = {"seq": "SEQUENCE", "xor": "XOR", "and": "PARALLEL", "loop": "LOOP"}


def flow_to_process_tree(flow: Flow) -> ProcessTree:
    """Build a pm4py ProcessTree from a flow (None leaves become silent ``tau``)."""
    from pm4py.objects.process_tree.obj import Operator, ProcessTree

    def build(node: Flow, parent: ProcessTree | None) -> ProcessTree:
        if node is None or isinstance(node, str):
            return ProcessTree(parent=parent, label=node)
        tree = ProcessTree(
            operator=getattr(Operator, _PM4PY_OPERATORS[node.operator]), parent=parent
        )
        children = list(node.children)
        if node.operator == "loop" and len(children) == 1:
            children.append(None)
        for child in children:
            tree.children.append(build(child, tree))
        return tree

    return build(flow, None)


def process_tree_to_flow(tree: ProcessTree) -> Flow:
    """Turn a pm4py ProcessTree (e.g. a discovered one) back into a flow."""
    from pm4py.objects.process_tree.obj import Operator

    names = {v: k for k, v in _PM4PY_OPERATORS.items()}
    if tree.operator is None:
        label: str | None = tree.label
        return label
    op = tree.operator
    if op not in (Operator.SEQUENCE, Operator.XOR, Operator.PARALLEL, Operator.LOOP):
        raise ValueError(f"process tree operator {op} has no SOP equivalent")
    return FlowNode(
        names[op.name], tuple(process_tree_to_flow(c) for c in tree.children)
    )


def flow_to_petri_net(flow: Flow) -> tuple[PetriNet, Marking, Marking]:
    """Build the workflow net of a flow: ``(net, initial marking, final marking)``."""
    from pm4py.objects.conversion.process_tree import converter

    net, im, fm = converter.apply(flow_to_process_tree(flow))
    return net, im, fm


@dataclass(frozen=True, slots=True)
class Soundness:
    """Soundness of a workflow net.

    Attributes:
        workflow_net: One source place, one sink place, every node on a path
            between them.
        easy_sound: The final marking can be reached from the initial marking
            (what alignments need), found by exploring the reachability graph.
        sound: Classical soundness (option to complete, proper completion, no dead
            transitions), checked by pm4py's Woflan; None if not checked.
        states: Reachable markings explored.
        message: Why the net is not (easy-)sound, empty when it is.
    """

    workflow_net: bool
    easy_sound: bool
    sound: bool | None
    states: int
    message: str = ""


def check_soundness(
    net: PetriNet, im: Marking, fm: Marking, *, max_states: int = 100_000
) -> Soundness:
    """Check a net for easy soundness (reachability) and classical soundness (Woflan).

    Args:
        net: The Petri net.
        im: Initial marking.
        fm: Final marking.
        max_states: Stop exploring after this many reachable markings (the net is
            then reported unbounded or too large, not easy-sound).
    """
    from pm4py.objects.petri_net.utils.check_soundness import check_wfnet

    if not check_wfnet(net):
        return Soundness(False, False, False, 0, "the net is not a workflow net")
    easy, states, message = _reach_final(net, im, fm, max_states)
    if not easy:
        return Soundness(True, False, False, states, message)
    from pm4py.algo.analysis.woflan import algorithm as woflan

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sound = bool(
            woflan.apply(
                net,
                im,
                fm,
                parameters={
                    woflan.Parameters.RETURN_ASAP_WHEN_NOT_SOUND: True,
                    woflan.Parameters.PRINT_DIAGNOSTICS: False,
                },
            )
        )
    return Soundness(
        True, True, sound, states, "" if sound else "Woflan finds the net not sound"
    )


def _reach_final(
    net: PetriNet, im: Marking, fm: Marking, max_states: int
) -> tuple[bool, int, str]:
    pre = {t: {a.source: a.weight for a in t.in_arcs} for t in net.transitions}
    post = {t: {a.target: a.weight for a in t.out_arcs} for t in net.transitions}
    target = frozenset((p, n) for p, n in fm.items() if n)
    start = frozenset((p, n) for p, n in im.items() if n)
    seen = {start}
    queue = deque([start])
    while queue:
        marking = queue.popleft()
        if marking == target:
            return True, len(seen), ""
        tokens = dict(marking)
        for t, needs in pre.items():
            if all(tokens.get(p, 0) >= n for p, n in needs.items()):
                nxt = dict(tokens)
                for p, n in needs.items():
                    nxt[p] -= n
                for p, n in post[t].items():
                    nxt[p] = nxt.get(p, 0) + n
                state = frozenset((p, n) for p, n in nxt.items() if n)
                if state not in seen:
                    if len(seen) >= max_states:
                        return (
                            False,
                            len(seen),
                            f"more than {max_states} reachable markings "
                            "(the net may be unbounded)",
                        )
                    seen.add(state)
                    queue.append(state)
    return False, len(seen), "the final marking cannot be reached"


def enumerate_traces(flow: Flow, *, max_repeats: int = 1) -> frozenset[tuple[str, ...]]:
    """All step sequences a flow allows, with each loop redone at most ``max_repeats``.

    The result is exact for loop-free flows; with loops it is the language cut at
    ``max_repeats`` redo iterations per loop visit. Parallel blocks contribute all
    interleavings, so keep flows with wide ``and`` blocks small.
    """
    if flow is None:
        return frozenset({()})
    if isinstance(flow, str):
        return frozenset({(flow,)})
    langs = [enumerate_traces(c, max_repeats=max_repeats) for c in flow.children]
    if flow.operator == "seq":
        out: set[tuple[str, ...]] = {()}
        for lang in langs:
            out = {a + b for a in out for b in lang}
        return frozenset(out)
    if flow.operator == "xor":
        return frozenset().union(*langs)
    if flow.operator == "and":
        out = {()}
        for lang in langs:
            out = {s for a in out for b in lang for s in _shuffle(a, b)}
        return frozenset(out)
    if flow.operator == "loop":
        do = langs[0]
        redo = langs[1] if len(langs) > 1 else frozenset({()})
        out = set(do)
        layer = set(do)
        for _ in range(max_repeats):
            layer = {a + r + d for a in layer for r in redo for d in do}
            out |= layer
        return frozenset(out)
    raise ValueError(f"unknown flow operator {flow.operator!r}")


def _shuffle(a: tuple[str, ...], b: tuple[str, ...]) -> Iterable[tuple[str, ...]]:
    n = len(a) + len(b)
    for positions in itertools.combinations(range(n), len(a)):
        chosen = set(positions)
        ia, ib = iter(a), iter(b)
        yield tuple(next(ia) if i in chosen else next(ib) for i in range(n))


__all__ = [
    "Soundness",
    "check_soundness",
    "enumerate_traces",
    "flow_to_petri_net",
    "flow_to_process_tree",
    "process_tree_to_flow",
]
