"""Reducing a BPMN graph to a process tree (the SOP's flow).

The graph is first normalised to BPMN's meaning (several flows out of a task
start all of them; several flows in merge), then folded until one fragment is
left: a gateway with one flow in and out is dropped, two fragments in a row
become a sequence, a split whose branches all meet at one join of the same type
becomes a block, and an exclusive join, a body and an exclusive split with a
flow back become a loop. Whatever cannot be folded is reported with the id of
the gateway where it is stuck.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from process_models.errors import ModelFormatError, UnsupportedConstructError
from process_models.flow import Flow, FlowNode


@dataclass(slots=True)
class Node:
    """A node of the BPMN graph: an event, a gateway, or a folded fragment.

    ``kind`` is ``start``, ``end``, ``xor``, ``and`` or ``frag``; a fragment holds
    the flow folded so far (a task is a fragment holding its step).
    """

    id: str
    kind: str  # start, end, xor, and, frag
    flow: Flow = None
    line: int | None = None


@dataclass(slots=True)
class Graph:
    """The sequence flows between nodes, as successor and predecessor lists."""

    nodes: dict[str, Node] = field(default_factory=dict)
    succ: dict[str, list[str]] = field(default_factory=dict)
    pred: dict[str, list[str]] = field(default_factory=dict)
    counter: int = 0

    def add(self, node: Node) -> Node:
        self.nodes[node.id] = node
        self.succ.setdefault(node.id, [])
        self.pred.setdefault(node.id, [])
        return node

    def new_id(self, prefix: str) -> str:
        self.counter += 1
        return f"__{prefix}_{self.counter}"

    def connect(self, a: str, b: str) -> None:
        self.succ[a].append(b)
        self.pred[b].append(a)

    def disconnect(self, a: str, b: str) -> None:
        self.succ[a].remove(b)
        self.pred[b].remove(a)

    def redirect(self, a: str, old: str, new: str) -> None:
        """Let the flow ``a -> old`` go to ``new``, keeping its place in a's list."""
        self.succ[a][self.succ[a].index(old)] = new
        self.pred[old].remove(a)
        self.pred[new].append(a)

    def redirect_from(self, old: str, b: str, new: str) -> None:
        """Let the flow ``old -> b`` come from ``new``, keeping its place among b's."""
        self.pred[b][self.pred[b].index(old)] = new
        self.succ[old].remove(b)
        self.succ[new].append(b)

    def remove(self, node_id: str) -> None:
        for s in list(self.succ[node_id]):
            self.disconnect(node_id, s)
        for p in list(self.pred[node_id]):
            self.disconnect(p, node_id)
        del self.nodes[node_id], self.succ[node_id], self.pred[node_id]


def _simplify(flow: Flow) -> Flow:
    """Flatten the nested sequences the reduction builds; drop silent steps in them.

    Nested choices and parallel blocks are kept: they were drawn that way.
    """
    if not isinstance(flow, FlowNode):
        return flow
    children: list[Flow] = []
    for child in (_simplify(c) for c in flow.children):
        if (
            flow.operator == "seq"
            and isinstance(child, FlowNode)
            and child.operator == "seq"
        ):
            children.extend(child.children)
        elif flow.operator in ("seq", "and") and child is None:
            continue
        else:
            children.append(child)
    if flow.operator == "loop":
        return FlowNode("loop", tuple(children))
    if not children:
        return None
    if len(children) == 1 and flow.operator != "xor":
        return children[0]
    return FlowNode(flow.operator, tuple(children))


def _normalise(
    graph: Graph, starts: list[Node], ends: list[Node], name: str
) -> tuple[str, str]:
    """Check the events, give every node BPMN's meaning, merge the end events.

    Returns:
        The ids of the one start node and the one end node.
    """
    _check_events(starts, ends, name)
    for node in list(graph.nodes.values()):
        _normalise_node(graph, node, name)
    return starts[0].id, _merge_ends(graph, ends)


def _check_events(starts: list[Node], ends: list[Node], name: str) -> None:
    if not starts:
        raise ModelFormatError(
            f"cannot import '{name}': the process has no start event"
        )
    if len(starts) > 1:
        raise UnsupportedConstructError(
            f"cannot import '{name}': the process has {len(starts)} start events "
            f"({', '.join(repr(s.id) for s in starts)}); keep one start event and an "
            "exclusive gateway after it",
            element_id=starts[1].id,
            line=starts[1].line,
        )
    if not ends:
        raise ModelFormatError(f"cannot import '{name}': the process has no end event")


def _normalise_node(graph: Graph, node: Node, name: str) -> None:
    # Live lists: the splits and joins below change them in place.
    ins, outs = graph.pred[node.id], graph.succ[node.id]
    if node.kind in ("xor", "and") and (not ins or not outs):
        side = "incoming" if not ins else "outgoing"
        raise UnsupportedConstructError(
            f"cannot import '{name}': gateway {node.id!r} at line {node.line} has "
            f"no {side} sequence flow; connect it or delete it",
            element_id=node.id,
            line=node.line,
        )
    if node.kind in ("frag", "start") and len(outs) > 1:
        # BPMN: several flows out of an activity start all of them.
        _split_after(graph, node, "and")
    if node.kind in ("frag", "end") and len(ins) > 1:
        # BPMN: several flows into an activity merge without synchronising.
        join = graph.add(Node(graph.new_id("xor"), "xor", line=node.line))
        for p in list(ins):
            graph.disconnect(p, node.id)
            graph.connect(p, join.id)
        graph.connect(join.id, node.id)
    if node.kind in ("xor", "and") and len(ins) > 1 and len(outs) > 1:
        # A gateway that joins and splits: a join followed by a split.
        _split_after(graph, node, node.kind)
    if node.kind == "frag" and (not ins or not outs):
        side = "incoming" if not ins else "outgoing"
        raise UnsupportedConstructError(
            f"cannot import '{name}': {node.id!r} at line {node.line} has no "
            f"{side} sequence flow; every task must lie on a path from the start "
            "to an end event",
            element_id=node.id,
            line=node.line,
        )


def _split_after(graph: Graph, node: Node, kind: str) -> None:
    """Move the flows out of ``node`` to a new ``kind`` split right after it."""
    split = graph.add(Node(graph.new_id(kind), kind, line=node.line))
    for s in list(graph.succ[node.id]):
        graph.disconnect(node.id, s)
        graph.connect(split.id, s)
    graph.connect(node.id, split.id)


def _merge_ends(graph: Graph, ends: list[Node]) -> str:
    """Id of the one end node: several end events meet at an exclusive join."""
    if len(ends) == 1:
        return ends[0].id
    join = graph.add(Node(graph.new_id("xor"), "xor"))
    end = graph.add(Node(graph.new_id("end"), "end"))
    for e in ends:
        for p in list(graph.pred[e.id]):
            graph.connect(p, join.id)
        graph.remove(e.id)
    graph.connect(join.id, end.id)
    return end.id


def reduce_graph(
    graph: Graph, starts: list[Node], ends: list[Node], name: str
) -> Flow:
    """Fold the graph into one flow, or raise where it is not block-structured.

    Raises:
        ModelFormatError: No start or end event, or no tasks.
        UnsupportedConstructError: Several start events, a dangling gateway or
            task, an unreachable node, or a part that does not fold.
    """
    start, end = _normalise(graph, starts, ends, name)
    _check_reachable(graph, start, end, name)
    changed = True
    while changed:
        changed = (
            _pass_through(graph) or _sequence(graph) or _block(graph) or _loop(graph)
        )
    rest = [n for n in graph.nodes.values() if n.kind not in ("start", "end")]
    if len(rest) == 1 and rest[0].kind == "frag" and graph.succ[start] == [rest[0].id]:
        flow = _simplify(rest[0].flow)
        if flow is None:
            raise ModelFormatError(f"cannot import '{name}': the process has no tasks")
        return flow
    if not rest and graph.succ[start] == [end]:
        raise ModelFormatError(f"cannot import '{name}': the process has no tasks")
    stuck = sorted(
        (n for n in rest if n.kind in ("xor", "and") and not n.id.startswith("__")),
        key=lambda n: n.line or 0,
    ) or sorted(rest, key=lambda n: n.line or 0)
    at = stuck[0]
    raise UnsupportedConstructError(
        f"cannot import '{name}': the flow at gateway {at.id!r} (line {at.line}) is "
        "not block-structured; csmine needs every split to meet a join of the same "
        "type, and a loop to be an exclusive join before the repeated steps and an "
        "exclusive split after them with one flow back; redraw that part (or write "
        "the SOP in TOML)",
        element_id=at.id,
        line=at.line,
    )


def _check_reachable(graph: Graph, start: str, end: str, name: str) -> None:
    seen = {start}
    todo = [start]
    while todo:
        for s in graph.succ[todo.pop()]:
            if s not in seen:
                seen.add(s)
                todo.append(s)
    for node in graph.nodes.values():
        if node.id not in seen:
            raise UnsupportedConstructError(
                f"cannot import '{name}': {node.id!r} at line {node.line} cannot be "
                "reached from the start event; connect it or delete it",
                element_id=node.id,
                line=node.line,
            )


def _pass_through(graph: Graph) -> bool:
    for node in list(graph.nodes.values()):
        if node.kind in ("xor", "and"):
            ins, outs = graph.pred[node.id], graph.succ[node.id]
            if len(ins) == 1 and len(outs) == 1 and ins[0] != node.id:
                p, s = ins[0], outs[0]
                graph.redirect(p, node.id, s)
                graph.remove(node.id)
                return True
    return False


def _sequence(graph: Graph) -> bool:
    for node in list(graph.nodes.values()):
        if node.kind != "frag" or len(graph.succ[node.id]) != 1:
            continue
        nxt = graph.nodes[graph.succ[node.id][0]]
        if nxt.kind == "frag" and nxt.id != node.id and len(graph.pred[nxt.id]) == 1:
            nxt.flow = FlowNode("seq", (node.flow, nxt.flow))
            for p in list(graph.pred[node.id]):
                graph.redirect(p, node.id, nxt.id)
            graph.remove(node.id)
            return True
    return False


def _branch(graph: Graph, split: str, target: str) -> tuple[str | None, Flow, bool]:
    """(join reached, branch flow, is a plain branch) for a flow out of a split."""
    node = graph.nodes[target]
    if node.kind == "frag":
        if len(graph.pred[target]) == 1 and len(graph.succ[target]) == 1:
            return graph.succ[target][0], node.flow, True
        return None, None, False
    return target, None, True


def _block(graph: Graph) -> bool:
    for node in list(graph.nodes.values()):
        if node.kind not in ("xor", "and"):
            continue
        ins, outs = graph.pred[node.id], graph.succ[node.id]
        if len(ins) != 1 or len(outs) < 2:
            continue
        branches = [_branch(graph, node.id, t) for t in outs]
        joins = {b[0] for b in branches}
        if len(joins) != 1 or not all(b[2] for b in branches):
            continue
        join_id = joins.pop()
        if join_id is None or join_id == node.id:
            continue
        join = graph.nodes[join_id]
        if join.kind != node.kind or len(graph.succ[join_id]) != 1:
            continue
        if len(graph.pred[join_id]) != len(outs):
            continue
        frag = graph.add(
            Node(
                graph.new_id("block"),
                "frag",
                FlowNode(node.kind, tuple(b[1] for b in branches)),
            )
        )
        before, after = ins[0], graph.succ[join_id][0]
        graph.redirect(before, node.id, frag.id)
        graph.redirect_from(join_id, after, frag.id)
        for t in list(outs):
            if t in graph.nodes and graph.nodes[t].kind == "frag":
                graph.remove(t)
        graph.remove(node.id)
        graph.remove(join_id)
        return True
    return False


def _loop(graph: Graph) -> bool:
    for join in list(graph.nodes.values()):
        if (
            join.kind != "xor"
            or len(graph.pred[join.id]) != 2
            or len(graph.succ[join.id]) != 1
        ):
            continue
        body_id = graph.succ[join.id][0]
        body: Flow = None
        split_id = body_id
        body_node = graph.nodes[body_id]
        if body_node.kind == "frag":
            if len(graph.pred[body_id]) != 1 or len(graph.succ[body_id]) != 1:
                continue
            body = body_node.flow
            split_id = graph.succ[body_id][0]
        split = graph.nodes[split_id]
        if (
            split.kind != "xor"
            or len(graph.pred[split_id]) != 1
            or len(graph.succ[split_id]) != 2
        ):
            continue
        redo: Flow = None
        back = exit_to = None
        for t in graph.succ[split_id]:
            if t == join.id and back is None:
                back = t
                continue
            tnode = graph.nodes[t]
            if (
                tnode.kind == "frag"
                and back is None
                and graph.pred[t] == [split_id]
                and graph.succ[t] == [join.id]
            ):
                back, redo = t, tnode.flow
                continue
            exit_to = t
        if back is None or exit_to is None:
            continue
        entries = [
            p
            for p in graph.pred[join.id]
            if p != (back if back != join.id else split_id)
        ]
        if len(entries) != 1:
            continue
        entry = entries[0]
        frag = graph.add(
            Node(graph.new_id("loop"), "frag", FlowNode("loop", (body, redo)))
        )
        graph.redirect(entry, join.id, frag.id)
        graph.redirect_from(split_id, exit_to, frag.id)
        for node_id in (join.id, body_id, split_id, back):
            if node_id in graph.nodes:
                graph.remove(node_id)
        return True
    return False
