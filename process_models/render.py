"""Draw an SOP as a flowchart (graphviz DOT), BPMN-like, with Chinese labels.

Steps are rounded boxes showing the English name, the Chinese label, the
responsible role and the time limit; exclusive (x) and parallel (+) gateways are
diamonds; start and end are circles. Steps the SOP names but keeps off the flow
(e.g. Reopen) are drawn apart, dashed. An overlay colours steps and adds a line
of text to them, which is how conformance results are drawn onto the SOP.
"""

from __future__ import annotations

import html
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field

from process_models.flow import Flow, FlowNode
from process_models.model import SOP, Step, format_duration

FONT = "Noto Sans CJK SC"

#: step name -> (fill colour, extra text); either may be empty.
Overlay = Mapping[str, tuple[str, str]]

_ROLE_ZH = {
    "agent": "客服",
    "specialist": "专员",
    "supervisor": "主管",
    "system": "系统",
    "customer": "客户",
    "dispatcher": "调度",
    "vendor": "供应商",
}
_STEP_FILL = "#eaf2fb"
_STEP_LINE = "#2f5f8f"
_GATE_FILL = "#fff6d6"
_EDGE = "#555555"


@dataclass(slots=True)
class _Dot:
    sop: SOP
    overlay: Overlay
    lines: list[str] = field(default_factory=list)
    n: int = 0

    def node_id(self) -> str:
        self.n += 1
        return f"n{self.n}"

    def edge(self, a: str, b: str, **attrs: str) -> None:
        extra = "".join(f' {k}="{v}"' for k, v in attrs.items())
        self.lines.append(f"  {a} -> {b}{' [' + extra.strip() + ']' if extra else ''};")

    def step_node(self, step: Step, *, dashed: bool = False) -> str:
        nid = self.node_id()
        fill, extra = self.overlay.get(step.name, ("", ""))
        style = "rounded,filled" + (",dashed" if dashed else "")
        self.lines.append(
            f'  {nid} [shape=box style="{style}" fillcolor="{fill or _STEP_FILL}" '
            f'color="{_STEP_LINE}" label=<{_step_label(step, extra)}>];'
        )
        return nid

    def gateway(self, operator: str) -> str:
        nid = self.node_id()
        mark = "×" if operator == "xor" else "+"  # noqa: RUF001 - the BPMN XOR mark
        self.lines.append(
            f'  {nid} [shape=diamond style=filled fillcolor="{_GATE_FILL}" '
            f'color="#b08800" width=0.45 height=0.45 fixedsize=true fontsize=16 '
            f'label="{mark}"];'
        )
        return nid


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _step_label(step: Step, extra: str) -> str:
    rows = [f"<B>{_esc(step.name)}</B>"]
    if step.label_zh:
        rows.append(_esc(step.label_zh))
    role = step.role + (f" {_ROLE_ZH[step.role]}" if step.role in _ROLE_ZH else "")
    meta = role
    if step.limit is not None:
        since = "opened 受理" if step.limit.since == "opened" else step.limit.since
        clock = " (business hours)" if step.limit.business_hours else ""
        meta += f" · within {format_duration(step.limit.within)} of {since}{clock}"
    rows.append(f'<FONT POINT-SIZE="9" COLOR="#555555">{_esc(meta)}</FONT>')
    if extra:
        for line in extra.splitlines():
            rows.append(
                f'<FONT POINT-SIZE="10" COLOR="#8b1a1a"><B>{_esc(line)}</B></FONT>'
            )
    return "<BR/>".join(rows)


def _emit(dot: _Dot, flow: Flow) -> tuple[str, str] | None:
    """Draw a flow; return its (entry, exit) node ids, or None when it is silent."""
    if flow is None:
        return None
    if isinstance(flow, str):
        nid = dot.step_node(dot.sop.step(flow))
        return nid, nid
    if flow.operator == "seq":
        parts = [p for p in (_emit(dot, c) for c in flow.children) if p is not None]
        if not parts:
            return None
        for (_, a), (b, _) in itertools.pairwise(parts):
            dot.edge(a, b)
        return parts[0][0], parts[-1][1]
    if flow.operator in ("xor", "and"):
        split, join = dot.gateway(flow.operator), dot.gateway(flow.operator)
        for child in _branches(flow):
            part = _emit(dot, child)
            if part is None:
                dot.edge(split, join)
            else:
                dot.edge(split, part[0])
                dot.edge(part[1], join)
        return split, join
    # loop: join gateway -> do -> split gateway; split -> redo -> join (back).
    join, split = dot.gateway("xor"), dot.gateway("xor")
    do = _emit(dot, flow.children[0])
    if do is None:
        dot.edge(join, split)
    else:
        dot.edge(join, do[0])
        dot.edge(do[1], split)
    redo = _emit(dot, flow.children[1] if len(flow.children) > 1 else None)
    if redo is None:
        dot.edge(split, join, style="dashed", constraint="false")
    else:
        dot.edge(split, redo[0], style="dashed")
        dot.edge(redo[1], join, style="dashed")
    return join, split


def _branches(flow: FlowNode) -> list[Flow]:
    """Children of a block; nested choices are drawn as one choice (same behaviour)."""
    out: list[Flow] = []
    for child in flow.children:
        inner: list[Flow] = [child]
        if (
            flow.operator == "xor"
            and isinstance(child, FlowNode)
            and child.operator == "xor"
        ):
            inner = _branches(child)
        for c in inner:
            if c is not None or None not in out:
                out.append(c)
    return out


def render_sop(sop: SOP, overlay: Overlay | None = None, *, rankdir: str = "LR") -> str:
    """The SOP as a graphviz DOT flowchart.

    Args:
        sop: The SOP to draw.
        overlay: step name -> (fill colour, extra text), e.g. conformance results
            ``{"Callback": ("#f4a3a3", "skipped in 12%")}``. Steps not in it keep the
            default colour.
        rankdir: ``LR`` (left to right, the default) or ``TB``.

    Returns:
        DOT source; render it with graphviz (``dot -Tsvg``), or use
        :func:`render_sop_image`.
    """
    dot = _Dot(sop, overlay or {})
    title = (
        sop.title
        + (f"  {sop.title_zh}" if sop.title_zh else "")
        + f"  (v{sop.version})"
    )
    head = [
        "digraph sop {",
        f'  graph [rankdir={rankdir} fontname="{FONT}" fontsize=16 labelloc=t '
        f'label="{_dot_str(title)}" nodesep=0.35 ranksep=0.45 pad=0.3 bgcolor=white];',
        f'  node [fontname="{FONT}" fontsize=12 margin="0.15,0.08"];',
        f'  edge [fontname="{FONT}" color="{_EDGE}" arrowsize=0.7];',
    ]
    start, end = dot.node_id(), dot.node_id()
    dot.lines.append(
        f'  {start} [shape=circle label="" width=0.35 style=filled '
        f'fillcolor="#d9f2d9" color="#2e7d32" xlabel="start 开始"];'
    )
    dot.lines.append(
        f'  {end} [shape=circle label="" width=0.35 style=filled fillcolor="#f8d7d7" '
        f'color="#b71c1c" penwidth=3 xlabel="end 结束"];'
    )
    body = _emit(dot, sop.flow)
    if body is None:
        dot.edge(start, end)
    else:
        dot.edge(start, body[0])
        dot.edge(body[1], end)
    off = [s for s in sop.steps if s.off_flow]
    if off:
        dot.lines.append("  subgraph cluster_off_flow {")
        dot.lines.append(
            f'    label="off the SOP 流程外" fontsize=11 style="dashed,rounded" '
            f'color="#999999" fontname="{FONT}";'
        )
        for s in off:
            dot.lines.append("  " + _last(dot, s))
        dot.lines.append("  }")
    return "\n".join([*head, *dot.lines, "}"]) + "\n"


def _last(dot: _Dot, step: Step) -> str:
    dot.step_node(step, dashed=True)
    return dot.lines.pop()


def _dot_str(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def render_sop_image(
    sop: SOP, fmt: str = "svg", overlay: Overlay | None = None, *, dpi: int = 144
) -> bytes:
    """Render the flowchart to ``svg``, ``png`` or ``pdf`` bytes with graphviz ``dot``.

    Args:
        sop: The SOP to draw.
        fmt: Output format understood by graphviz.
        overlay: See :func:`render_sop`.
        dpi: Resolution of raster output (png).
    """
    import graphviz

    source = render_sop(sop, overlay)
    if fmt == "png":
        source = source.replace("bgcolor=white]", f"bgcolor=white dpi={dpi}]", 1)
    data: bytes = graphviz.Source(source).pipe(format=fmt)
    return data


__all__ = ["FONT", "Overlay", "render_sop", "render_sop_image"]
