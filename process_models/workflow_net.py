"""A flow's workflow net without pm4py: the same net pm4py's converter builds, in plain Python.

:func:`flow_to_workflow_net` turns a flow (:mod:`process_models.flow`) into a workflow
net with the construction of pm4py's process-tree converter (``to_petri_net``: the
source and sink places, a silent transition after the source or before the sink where
the tree starts or ends with a choice, a parallel block or a loop, one place per
sequence boundary, a silent split and join around each parallel block, and the loop's
entry, redo and exit silent transitions), followed by the same simple reduction
(merging single-entry and single-exit silent transitions into their neighbours) and the
removal of dangling places. The result has the same places, silent transitions and
arcs as pm4py's net, so alignments on it cost exactly what they cost on pm4py's
(checked against pm4py in ``tests/unit/process_models/test_workflow_net.py``).

Importing pm4py costs about two seconds of CPU; commands that only align tickets
with an SOP (``csmine conform``, the report) build this net instead. The objects
answer what the alignment engines read of a pm4py net (``places``, ``transitions``,
``arcs``; ``name``, ``label``, ``in_arcs``, ``out_arcs``; ``source``, ``target``,
``weight``), and :func:`to_pm4py` converts one for pm4py's own algorithms.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

from process_models.flow import Flow, FlowNode

__all__ = ["Arc", "Marking", "Place", "Transition", "WorkflowNet", "flow_to_workflow_net", "to_pm4py"]


class Place:
    """A place; ``in_arcs`` / ``out_arcs`` are sets of :class:`Arc` (identity, as pm4py's)."""

    __slots__ = ("in_arcs", "name", "out_arcs")

    def __init__(self, name: str) -> None:
        self.name = name
        self.in_arcs: set[Arc] = set()
        self.out_arcs: set[Arc] = set()

    def __repr__(self) -> str:
        return f"Place({self.name!r})"


class Transition:
    """A transition: ``label`` is the step name, None for a silent one."""

    __slots__ = ("in_arcs", "label", "name", "out_arcs")

    def __init__(self, name: str, label: str | None) -> None:
        self.name = name
        self.label = label
        self.in_arcs: set[Arc] = set()
        self.out_arcs: set[Arc] = set()

    def __repr__(self) -> str:
        return f"Transition({self.name!r}, {self.label!r})"


class Arc:
    """An arc of weight 1 (two arcs between the same nodes are two arcs, as in pm4py)."""

    __slots__ = ("source", "target", "weight")

    def __init__(self, source: Place | Transition, target: Place | Transition) -> None:
        self.source = source
        self.target = target
        self.weight = 1

    def __repr__(self) -> str:
        return f"Arc({self.source.name!r} -> {self.target.name!r})"


class Marking(dict[Place, int]):
    """Tokens per place."""

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(frozenset(self.items()))


class WorkflowNet:
    """Places, transitions and arcs (sets, like pm4py's ``PetriNet``)."""

    def __init__(self, name: str = "sop") -> None:
        self.name = name
        self.places: set[Place] = set()
        self.transitions: set[Transition] = set()
        self.arcs: set[Arc] = set()

    def connect(self, source: Place | Transition, target: Place | Transition) -> None:
        arc = Arc(source, target)
        self.arcs.add(arc)
        source.out_arcs.add(arc)
        target.in_arcs.add(arc)

    def drop_transition(self, t: Transition) -> None:
        for arc in list(t.in_arcs):
            arc.source.out_arcs.discard(arc)
            self.arcs.discard(arc)
        for arc in list(t.out_arcs):
            arc.target.in_arcs.discard(arc)
            self.arcs.discard(arc)
        t.in_arcs.clear()
        t.out_arcs.clear()
        self.transitions.discard(t)

    def drop_place(self, p: Place) -> None:
        for arc in list(p.in_arcs):
            arc.source.out_arcs.discard(arc)
            self.arcs.discard(arc)
        for arc in list(p.out_arcs):
            arc.target.in_arcs.discard(arc)
            self.arcs.discard(arc)
        p.in_arcs.clear()
        p.out_arcs.clear()
        self.places.discard(p)


class _Builder:
    """The converter's state: the net and its counters (names as pm4py gives them)."""

    def __init__(self) -> None:
        self.net = WorkflowNet()
        self._places = itertools.count(1)
        self._hidden = itertools.count(1)
        self._visible = itertools.count(1)
        self.order: list[Transition] = []  # creation order: the reduction's deterministic order

    def place(self) -> Place:
        p = Place(f"p_{next(self._places)}")
        self.net.places.add(p)
        return p

    def silent(self, kind: str) -> Transition:
        t = Transition(f"{kind}_{next(self._hidden)}", None)
        self.net.transitions.add(t)
        self.order.append(t)
        return t

    def visible(self, label: str) -> Transition:
        t = Transition(f"t_{next(self._visible)}_{label}", label)
        self.net.transitions.add(t)
        self.order.append(t)
        return t


# -- the shape of the tree at its borders (where a silent border transition is needed) ----

def _children(node: Flow) -> tuple[Flow, ...]:
    """A node's children as the process tree has them (a loop always has its redo part)."""
    if not isinstance(node, FlowNode):
        return ()
    children = tuple(node.children)
    return (*children, None) if node.operator == "loop" and len(children) == 1 else children


def _operator(node: Flow) -> str | None:
    return node.operator if isinstance(node, FlowNode) else None


def _ends_with_loop(node: Flow) -> bool:
    """The last child (recursively through operators) is a loop."""
    children = _children(node)
    if children and _operator(children[-1]):
        return _operator(children[-1]) == "loop" or _ends_with_loop(children[-1])
    return False


def _starts_with_loop(node: Flow) -> bool:
    # As in pm4py, the first child's own test looks at *its* last child.
    children = _children(node)
    if children and _operator(children[0]):
        return _operator(children[0]) == "loop" or _ends_with_loop(children[0])
    return False


def _border_leaves(node: Flow, index: int) -> int:
    """How many leaves the first (index 0) or last (-1) terminal child holds (leaves have none: 1)."""
    children = _children(node)
    if not children:
        return 0
    child = children[index]
    if _operator(child):
        return _border_leaves(child, index)
    return 1


def _loop_at_border(node: Flow, index: int) -> bool:
    if _operator(node) == "loop":
        return True
    children = _children(node)
    if children:
        return _operator(children[index]) == "loop" or _loop_at_border(children[index], index)
    return False


def _needs_border_tau(node: Flow, first: bool) -> bool:
    index = 0 if first else -1
    edge_loop = _starts_with_loop(node) if first else _ends_with_loop(node)
    return (edge_loop or _border_leaves(node, index) > 1 or _loop_at_border(node, index)
            or _operator(node) in ("xor", "and"))


# -- the recursive construction -------------------------------------------------------

def _add(b: _Builder, node: Flow, start: Place | Transition, end: Place | Transition | None) -> Place:
    """Add ``node`` between ``start`` and ``end`` (a place, a transition to connect, or None: a
    new place); returns the node's final place."""
    net = b.net
    if isinstance(start, Transition):
        initial = b.place()
        net.connect(start, initial)
    else:
        initial = start
    if isinstance(end, Place):
        final = end
    else:
        final = b.place()
        if isinstance(end, Transition):
            net.connect(final, end)
    op = _operator(node)
    children = _children(node)
    if op is None:
        t = b.visible(node) if isinstance(node, str) else b.silent("skip")
        net.connect(initial, t)
        net.connect(t, final)
    elif op == "xor":
        for child in children:
            _add(b, child, initial, final)
    elif op == "and":
        split, join = b.silent("tauSplit"), b.silent("tauJoin")
        net.connect(initial, split)
        net.connect(join, final)
        for child in children:
            _add(b, child, split, join)
    elif op == "seq":
        here: Place = initial
        for i, child in enumerate(children):
            here = _add(b, child, here, final if i == len(children) - 1 else None)
    elif op == "loop":
        _add_loop(b, children, initial, final)
    else:
        raise ValueError(f"unknown flow operator {op!r}")
    return final


def _add_loop(b: _Builder, children: tuple[Flow, ...], initial: Place, final: Place) -> None:
    """do, then (redo, do)*, then exit: entry, redo and exit are silent transitions."""
    net = b.net
    entry_place = b.place()
    entry = b.silent("init_loop")
    net.connect(initial, entry)
    net.connect(entry, entry_place)
    back = b.silent("loop")
    after_do = _add(b, children[0], entry_place, None)
    after_redo: Place | None = None
    for child in children[1:]:
        after_redo = _add(b, child, after_do, after_redo)
    _add(b, None, after_do, final)  # the exit: a silent leaf
    assert after_redo is not None  # a loop has a redo part (see _children)
    net.connect(after_redo, back)
    net.connect(back, entry_place)


# -- the reduction ----------------------------------------------------------------------

def _single(arcs: set[Arc]) -> Arc | None:
    return next(iter(arcs)) if len(arcs) == 1 else None


def _merge_single_entry(b: _Builder) -> bool:
    """A silent transition whose one input place is fed by one transition and feeds only it:
    the feeding transition takes its outputs."""
    net = b.net
    for t in _alive(b):
        arc = _single(t.in_arcs) if t.label is None else None
        if arc is None:
            continue
        place = arc.source
        feed = _single(place.in_arcs)
        if feed is None or {a.target for a in place.out_arcs} != {t}:
            continue
        targets = [a.target for a in t.out_arcs]
        net.drop_transition(t)
        net.drop_place(place)  # type: ignore[arg-type]
        for target in targets:
            net.connect(feed.source, target)
        return True
    return False


def _merge_single_exit(b: _Builder) -> bool:
    """A silent transition whose one output place feeds one transition and is fed only by it:
    its input places feed that transition directly."""
    net = b.net
    for t in _alive(b):
        arc = _single(t.out_arcs) if t.label is None else None
        if arc is None:
            continue
        place = arc.target
        nxt = _single(place.out_arcs)
        if nxt is None or {a.source for a in place.in_arcs} != {t}:
            continue
        sources = [a.source for a in t.in_arcs]
        net.drop_transition(t)
        net.drop_place(place)  # type: ignore[arg-type]
        for source in sources:
            net.connect(source, nxt.target)
        return True
    return False


def _alive(b: _Builder) -> Iterator[Transition]:
    return (t for t in b.order if t in b.net.transitions)


def _reduce(b: _Builder) -> None:
    while True:
        size = (len(b.net.transitions), len(b.net.places))
        while _merge_single_entry(b):
            pass
        while _merge_single_exit(b):
            pass
        if (len(b.net.transitions), len(b.net.places)) == size:
            return


def flow_to_workflow_net(flow: Flow) -> tuple[WorkflowNet, Marking, Marking]:
    """The workflow net of a flow: ``(net, initial marking, final marking)`` (see the module docstring)."""
    b = _Builder()
    source, sink = b.place(), b.place()
    source.name, sink.name = "source", "sink"
    initial, final = Marking({source: 1}), Marking({sink: 1})
    start: Place = source
    end: Place = sink
    if _needs_border_tau(flow, first=True):
        start = b.place()
        tau = b.silent("tau")
        b.net.connect(source, tau)
        b.net.connect(tau, start)
    if _needs_border_tau(flow, first=False):
        end = b.place()
        tau = b.silent("tau")
        b.net.connect(end, tau)
        b.net.connect(tau, sink)
    _add(b, flow, start, end)
    _reduce(b)
    for place in sorted(b.net.places, key=lambda p: p.name):
        if not place.out_arcs and place not in final:
            b.net.drop_place(place)
        if not place.in_arcs and place not in initial:
            b.net.drop_place(place)
    return b.net, initial, final


def to_pm4py(net: WorkflowNet, initial: Marking, final: Marking) -> tuple[Any, Any, Any]:
    """The same net as pm4py objects (for pm4py's own algorithms; imports pm4py)."""
    from pm4py.objects.petri_net.obj import Marking as PmMarking
    from pm4py.objects.petri_net.obj import PetriNet
    from pm4py.objects.petri_net.utils.petri_utils import add_arc_from_to

    out = PetriNet(net.name)
    nodes: dict[int, Any] = {}
    for p in net.places:
        nodes[id(p)] = PetriNet.Place(p.name)
        out.places.add(nodes[id(p)])
    for t in net.transitions:
        nodes[id(t)] = PetriNet.Transition(t.name, t.label)
        out.transitions.add(nodes[id(t)])
    for arc in net.arcs:
        add_arc_from_to(nodes[id(arc.source)], nodes[id(arc.target)], out, weight=arc.weight)
    return (out, PmMarking({nodes[id(p)]: n for p, n in initial.items()}),
            PmMarking({nodes[id(p)]: n for p, n in final.items()}))
