"""Laying out an SOP's flow for a BPMN diagram, left to right, from its tree.

Each part of the flow becomes a :class:`Block` with a main axis: a sequence puts
its blocks side by side on one axis; a choice or parallel block puts its first
branch on the axis and the others below it, between a split and a join gateway;
a loop puts its body on the axis and the redo part below, mirrored, so the flow
back runs right to left. The result is what :func:`~process_models.bpmn.write`
turns into BPMNShape and BPMNEdge elements.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from process_models.flow import Flow, FlowNode
from process_models.model import SOP

_TASK_W, _TASK_H = 120, 80
_GW = 50
_EV = 36
_HGAP, _VGAP = 50, 40


@dataclass(slots=True)
class Shape:
    """A placed element: a task (with its step), a gateway or an event."""

    id: str
    kind: str  # task, xor, and, start, end
    x: float
    y: float
    w: float
    h: float
    step: str | None = None


@dataclass(slots=True)
class Edge:
    """A sequence flow and its waypoints."""

    id: str
    source: str
    target: str
    points: list[tuple[float, float]]


@dataclass(slots=True)
class Block:
    """A laid-out part of the flow: size, the height of its main axis, contents.

    ``entry`` and ``exit`` are the ids of the shapes flows come in to and go out
    of; both are None for a part with nothing to draw (a silent step).
    """

    w: float
    h: float
    axis: float
    shapes: list[Shape] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    entry: str | None = None
    exit: str | None = None

    def placed(self, dx: float, dy: float, mirror: bool = False) -> Block:
        """A copy moved by (dx, dy), mirrored left to right if asked (loop-backs)."""
        def px(x: float) -> float:
            return dx + (self.w - x if mirror else x)

        shapes = [
            Shape(
                s.id,
                s.kind,
                px(s.x + s.w) if mirror else px(s.x),
                dy + s.y,
                s.w,
                s.h,
                s.step,
            )
            for s in self.shapes
        ]
        edges = [
            Edge(e.id, e.source, e.target, [(px(x), dy + y) for x, y in e.points])
            for e in self.edges
        ]
        return Block(self.w, self.h, self.axis, shapes, edges, self.entry, self.exit)


class _Ids:
    """Modeler-style ids (``Activity_1k3x9vq``), deterministic for a given SOP."""

    def __init__(self, seed: str) -> None:
        self.seed = seed
        self.n = 0
        self.used: set[str] = set()

    def __call__(self, prefix: str) -> str:
        while True:
            self.n += 1
            digest = hashlib.sha256(f"{self.seed}:{self.n}".encode()).digest()
            value = int.from_bytes(digest[:8], "big")
            chars = ""
            for _ in range(7):
                value, r = divmod(value, 36)
                chars += "0123456789abcdefghijklmnopqrstuvwxyz"[r]
            new = f"{prefix}_{chars}"
            if new not in self.used:
                self.used.add(new)
                return new


def _layout(flow: Flow, ids: _Ids) -> Block:
    if flow is None:
        return Block(0, 0, 0)
    if isinstance(flow, str):
        tid = ids("Activity")
        return Block(
            _TASK_W,
            _TASK_H,
            _TASK_H / 2,
            [Shape(tid, "task", 0, 0, _TASK_W, _TASK_H, flow)],
            entry=tid,
            exit=tid,
        )
    if flow.operator == "seq":
        return _layout_seq([_layout(c, ids) for c in flow.children], ids)
    if flow.operator in ("xor", "and"):
        return _layout_choice(flow, ids)
    return _layout_loop(flow, ids)


def _layout_seq(blocks: list[Block], ids: _Ids) -> Block:
    blocks = [b for b in blocks if b.entry is not None]
    if not blocks:
        return Block(0, 0, 0)
    axis = max(b.axis for b in blocks)
    below = max(b.h - b.axis for b in blocks)
    out = Block(0, axis + below, axis, entry=blocks[0].entry, exit=blocks[-1].exit)
    x = 0.0
    prev: Block | None = None
    for b in blocks:
        placed = b.placed(x, axis - b.axis)
        if prev is not None:
            assert prev.exit is not None and b.entry is not None
            out.edges.append(
                Edge(ids("Flow"), prev.exit, b.entry, [(x - _HGAP, axis), (x, axis)])
            )
        out.shapes += placed.shapes
        out.edges += placed.edges
        x += b.w + _HGAP
        prev = b
    out.w = x - _HGAP
    return out


def _layout_choice(flow: FlowNode, ids: _Ids) -> Block:
    kind = flow.operator
    laid = [_layout(c, ids) for c in flow.children]
    blocks = [b for b in laid if b.entry is not None]
    # A branch that does nothing (tau, or only silent steps) is a bypass flow.
    has_tau = len(blocks) < len(laid) and kind == "xor"
    if not blocks:
        return Block(0, 0, 0)
    split, join = ids("Gateway"), ids("Gateway")
    bx = _GW + _HGAP
    bw = max(b.w for b in blocks)
    jx = bx + bw + _HGAP
    axis = max(blocks[0].axis, _GW / 2)
    out = Block(jx + _GW, 0, axis, entry=split, exit=join)
    out.shapes.append(Shape(split, kind, 0, axis - _GW / 2, _GW, _GW))
    out.shapes.append(Shape(join, kind, jx, axis - _GW / 2, _GW, _GW))
    top = axis - blocks[0].axis
    bottom = axis + _GW / 2
    gc = _GW / 2
    for i, b in enumerate(blocks):
        if i > 0:
            top = bottom + _VGAP
        placed = b.placed(bx, top)
        row = top + b.axis
        assert b.entry is not None and b.exit is not None
        into, back = _branch_points(i == 0, axis, row, bx, jx, b.w)
        out.edges.append(Edge(ids("Flow"), split, b.entry, into))
        out.edges.append(Edge(ids("Flow"), b.exit, join, back))
        out.shapes += placed.shapes
        out.edges += placed.edges
        bottom = max(bottom, top + b.h)
    if has_tau:
        row = bottom + _VGAP / 2
        out.edges.append(
            Edge(
                ids("Flow"),
                split,
                join,
                [(gc, axis + gc), (gc, row), (jx + gc, row), (jx + gc, axis + gc)],
            )
        )
        bottom = row
    out.h = bottom
    return out


def _branch_points(
    first: bool, axis: float, row: float, bx: float, jx: float, w: float
) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """Waypoints split -> branch and branch -> join; later branches run below."""
    gc = _GW / 2
    if first:
        return [(_GW, axis), (bx, axis)], [(bx + w, axis), (jx, axis)]
    return (
        [(gc, axis + gc), (gc, row), (bx, row)],
        [(bx + w, row), (jx + gc, row), (jx + gc, axis + gc)],
    )


def _layout_loop(flow: FlowNode, ids: _Ids) -> Block:
    do = _layout(flow.children[0], ids)
    redo = _layout(flow.children[1] if len(flow.children) > 1 else None, ids)
    join, split = ids("Gateway"), ids("Gateway")
    gc = _GW / 2
    axis = max(do.axis, gc)
    dx = _GW + _HGAP
    if do.entry is None:
        sx = max(dx, redo.w + 110 - _GW)
    else:
        sx = max(dx + do.w + _HGAP, redo.w + 110 - _GW)
    out = Block(sx + _GW, 0, axis, entry=join, exit=split)
    out.shapes.append(Shape(join, "xor", 0, axis - gc, _GW, _GW))
    out.shapes.append(Shape(split, "xor", sx, axis - gc, _GW, _GW))
    bottom = axis + gc
    if do.entry is None:
        out.edges.append(Edge(ids("Flow"), join, split, [(_GW, axis), (sx, axis)]))
    else:
        placed = do.placed(dx, axis - do.axis)
        assert do.exit is not None
        out.edges.append(Edge(ids("Flow"), join, do.entry, [(_GW, axis), (dx, axis)]))
        out.edges.append(
            Edge(ids("Flow"), do.exit, split, [(dx + do.w, axis), (sx, axis)])
        )
        out.shapes += placed.shapes
        out.edges += placed.edges
        bottom = max(bottom, axis - do.axis + do.h)
    if redo.entry is None:
        row = bottom + _VGAP / 2
        out.edges.append(
            Edge(
                ids("Flow"),
                split,
                join,
                [(sx + gc, axis + gc), (sx + gc, row), (gc, row), (gc, axis + gc)],
            )
        )
        out.h = row
        return out
    top = bottom + _VGAP
    rx = (out.w - redo.w) / 2
    placed = redo.placed(rx, top, mirror=True)
    row = top + redo.axis
    assert redo.exit is not None
    out.edges.append(
        Edge(
            ids("Flow"),
            split,
            redo.entry,
            [(sx + gc, axis + gc), (sx + gc, row), (rx + redo.w, row)],
        )
    )
    out.edges.append(
        Edge(ids("Flow"), redo.exit, join, [(rx, row), (gc, row), (gc, axis + gc)])
    )
    out.shapes += placed.shapes
    out.edges += placed.edges
    out.h = top + redo.h
    return out


def layout_diagram(sop: SOP) -> tuple[str, Block]:
    """The process id and the laid-out diagram: start, the flow, end, on one axis.

    Shapes are placed from (160, 80) so modelers show a margin; ids are
    deterministic for a given SOP id, so writing the same SOP twice gives the same
    file.
    """
    ids = _Ids(sop.id)
    body = _layout(sop.flow, ids)
    start, end = "StartEvent_1", ids("Event")
    x0, y0 = 160.0, 80.0
    axis = max(body.axis, _EV / 2)
    out = Block(0, 0, axis)
    out.shapes.append(Shape(start, "start", x0, y0 + axis - _EV / 2, _EV, _EV))
    bx = x0 + _EV + _HGAP
    placed = body.placed(bx, y0 + axis - body.axis)
    out.shapes += placed.shapes
    out.edges += placed.edges
    ex = bx + body.w + _HGAP
    out.shapes.append(Shape(end, "end", ex, y0 + axis - _EV / 2, _EV, _EV))
    assert body.entry is not None and body.exit is not None
    out.edges.append(
        Edge(ids("Flow"), start, body.entry, [(x0 + _EV, y0 + axis), (bx, y0 + axis)])
    )
    out.edges.append(
        Edge(ids("Flow"), body.exit, end, [(bx + body.w, y0 + axis), (ex, y0 + axis)])
    )
    return f"Process_{re.sub(r'[^A-Za-z0-9_.-]', '_', sop.id)}", out
