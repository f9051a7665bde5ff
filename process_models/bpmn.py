"""BPMN 2.0 in and out: SOPs from modeler files, and files a modeler opens.

Import (:func:`parse_bpmn`, :func:`read_bpmn`) reads a process as drawn in bpmn.io or
Camunda Modeler: start and end events, tasks of any kind (task, userTask,
serviceTask, manualTask, ...), exclusive and parallel gateways and sequence flows.
The drawing must be block-structured: every split has a matching join of the same
type, loops are an exclusive join before the repeated part and an exclusive split
after it with a flow back. The graph is reduced to a process tree by repeatedly
folding sequences, split/join blocks and loops; whatever cannot be folded is
reported with the id of the element where it is stuck.

Export (:func:`write_bpmn`) lays the flow out left to right from its tree (the
main path on one line, alternatives and loop-backs below it) and writes the
diagram interchange (BPMNShape/BPMNEdge) so modelers show it as drawn. Step
labels, roles, limits, targets, KPI roles and aliases travel in ``csmine:``
extension elements, so a written file reads back to the same SOP.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from process_models.errors import (
    ModelFormatError,
    ModelNotFoundError,
    UnsupportedConstructError,
)
from process_models.model import (
    OPENED,
    SOP,
    Flow,
    FlowNode,
    Step,
    Targets,
    TimeLimit,
    format_duration,
    parse_duration,
    targets_to_dict,
)

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI_NS = "http://www.omg.org/spec/BPMN/20100524/DI"
DC_NS = "http://www.omg.org/spec/DD/20100524/DC"
DI_NS = "http://www.omg.org/spec/DD/20100524/DI"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
CSMINE_NS = "urn:csmine:bpmn:1"

_TASKS = {
    "task",
    "userTask",
    "serviceTask",
    "manualTask",
    "scriptTask",
    "businessRuleTask",
    "sendTask",
    "receiveTask",
}
_SYSTEM_TASKS = {"serviceTask", "scriptTask", "businessRuleTask"}
_GATEWAYS = {"exclusiveGateway": "xor", "parallelGateway": "and"}
_UNSUPPORTED = {
    "inclusiveGateway": "use exclusive gateways for a choice of one path, or a "
    "parallel gateway when all paths are taken",
    "complexGateway": "use exclusive or parallel gateways",
    "eventBasedGateway": "use an exclusive gateway; the waiting is a step "
    "(e.g. 'Wait for customer') in the SOP",
    "boundaryEvent": "model the timeout or escalation as a time limit on the step "
    "(csmine checks limits from the event log) or as an exclusive choice after it",
    "subProcess": "draw the sub-process's steps in the main process",
    "adHocSubProcess": "draw its steps with gateways in the main process",
    "transaction": "draw the transaction's steps in the main process",
    "callActivity": "draw the called process's steps in the main process",
    "intermediateCatchEvent": "make the wait a task (e.g. 'Wait for customer') "
    "and give it a time limit",
    "complexBehaviorDefinition": "use exclusive or parallel gateways",
}
_IGNORED = {
    "sequenceFlow",
    "laneSet",
    "textAnnotation",
    "association",
    "dataObject",
    "dataObjectReference",
    "dataStoreReference",
    "dataInputAssociation",
    "dataOutputAssociation",
    "documentation",
    "extensionElements",
    "property",
    "ioSpecification",
    "group",
    "category",
}


def _q(local: str) -> str:
    return f"{{{BPMN_NS}}}{local}"


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _ns(tag: Any) -> str:
    return (
        tag[1:].split("}", 1)[0] if isinstance(tag, str) and tag.startswith("{") else ""
    )


# -- import ------------------------------------------------------------------------


@dataclass(slots=True)
class _Node:
    id: str
    kind: str  # start, end, xor, and, frag
    flow: Flow = None
    line: int | None = None


@dataclass(slots=True)
class _Graph:
    nodes: dict[str, _Node] = field(default_factory=dict)
    succ: dict[str, list[str]] = field(default_factory=dict)
    pred: dict[str, list[str]] = field(default_factory=dict)
    counter: int = 0

    def add(self, node: _Node) -> _Node:
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


def read_bpmn(path: str | Path) -> SOP:
    """Read an SOP from a ``.bpmn`` file (see :func:`parse_bpmn`)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelNotFoundError(f"cannot read BPMN file '{p}': {exc}") from exc
    return parse_bpmn(text, source=str(p))


def parse_bpmn(text: str, *, source: str | None = None) -> SOP:
    """Build an SOP from BPMN 2.0 XML.

    Step names are the task names (a two-line name ``"Receive\\n接收投诉"`` gives the
    English name and the Chinese label); the responsible role comes from the
    task's lane, else its ``camunda:candidateGroups``, else ``system`` for
    service/script/business-rule tasks and ``agent`` for the others. ``csmine:``
    extension elements written by :func:`write_bpmn` take precedence.

    Raises:
        ModelFormatError: Not well-formed XML, or no usable process.
        UnsupportedConstructError: An element csmine cannot map (the message names
            its id and what to draw instead), or a flow that is not block-structured.
    """
    from lxml import etree

    name = source or "<text>"
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, remove_comments=True
    )
    try:
        root = etree.fromstring(text.encode("utf-8"), parser)
    except etree.XMLSyntaxError as exc:
        line = exc.position[0] if exc.position else None
        raise ModelFormatError(
            f"cannot read BPMN '{name}': not well-formed XML at line {line}: {exc.msg}",
            line=line,
        ) from exc
    if _local(root.tag) != "definitions" or _ns(root.tag) != BPMN_NS:
        raise ModelFormatError(
            f"cannot read BPMN '{name}': the root element is not a BPMN 2.0 "
            f"<definitions> (namespace {BPMN_NS})",
            line=_line(root),
        )
    processes = [p for p in root.iter(_q("process")) if _has_flow_nodes(p)]
    if not processes:
        raise ModelFormatError(
            f"cannot read BPMN '{name}': it has no process with tasks"
        )
    if len(processes) > 1:
        ids = ", ".join(repr(p.get("id")) for p in processes)
        raise UnsupportedConstructError(
            f"cannot import '{name}': it has {len(processes)} processes ({ids}); "
            "csmine reads one process (one pool) per SOP: keep one pool and draw "
            "messages between pools as tasks",
            element_id=processes[1].get("id"),
            line=_line(processes[1]),
        )
    return _import_process(root, processes[0], name)


def _line(element: Any) -> int | None:
    line = getattr(element, "sourceline", None)
    return line if isinstance(line, int) else None


def _has_flow_nodes(process: Any) -> bool:
    return any(
        _local(c.tag) in _TASKS or _local(c.tag) == "startEvent" for c in process
    )


def _split_name(raw: str) -> tuple[str, str]:
    """``"Receive\\n接收投诉"`` or ``"Receive / 接收投诉"`` -> (English, Chinese)."""
    text = raw.strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if len(lines) >= 2:
        return lines[0], " ".join(lines[1:])
    m = re.match(r"^(.*?)\s*/\s*(.*[\u4e00-\u9fff].*)$", text)
    if m and m.group(1):
        return m.group(1), m.group(2)
    return text, ""


def _ext(element: Any, local: str) -> list[Any]:
    ext = element.find(_q("extensionElements"))
    if ext is None:
        return []
    return [c for c in ext if _local(c.tag) == local and _ns(c.tag) == CSMINE_NS]


def _bool(value: str | None) -> bool:
    return (value or "").strip().lower() in ("true", "1", "yes")


def _import_process(root: Any, process: Any, name: str) -> SOP:
    graph = _Graph()
    steps: dict[str, Step] = {}
    lanes = _lanes(process)
    flows: list[Any] = []
    starts: list[_Node] = []
    ends: list[_Node] = []
    for el in process:
        kind = _local(el.tag)
        if _ns(el.tag) != BPMN_NS:
            continue
        el_id = el.get("id") or f"line {el.sourceline}"
        if kind in _UNSUPPORTED:
            raise UnsupportedConstructError(
                f"cannot import '{name}': {kind} {el_id!r}"
                + (f" ({el.get('name')})" if el.get("name") else "")
                + f" at line {el.sourceline} is not supported; {_UNSUPPORTED[kind]}",
                element_id=el_id,
                line=el.sourceline,
            )
        if kind == "sequenceFlow":
            flows.append(el)
        elif kind == "startEvent":
            starts.append(graph.add(_Node(el_id, "start", line=el.sourceline)))
        elif kind == "endEvent":
            if any(_local(c.tag) == "terminateEventDefinition" for c in el):
                raise UnsupportedConstructError(
                    f"cannot import '{name}': terminate end event {el_id!r} at line "
                    f"{el.sourceline} is not supported; use a plain end event",
                    element_id=el_id,
                    line=el.sourceline,
                )
            ends.append(graph.add(_Node(el_id, "end", line=el.sourceline)))
        elif kind in _GATEWAYS:
            graph.add(_Node(el_id, _GATEWAYS[kind], line=el.sourceline))
        elif kind == "intermediateThrowEvent":
            if any(_local(c.tag).endswith("EventDefinition") for c in el):
                raise UnsupportedConstructError(
                    f"cannot import '{name}': intermediate throw event {el_id!r} at "
                    "line "
                    f"{el.sourceline} has an event definition; make it a task (e.g. a "
                    "sendTask) or remove the definition",
                    element_id=el_id,
                    line=el.sourceline,
                )
            graph.add(_Node(el_id, "frag", None, el.sourceline))
        elif kind in _TASKS:
            step = _task_step(el, kind, lanes)
            steps.setdefault(step.name, step)
            flow: Flow = step.name
            loop = [c for c in el if _local(c.tag).endswith("LoopCharacteristics")]
            if loop and _local(loop[0].tag) == "multiInstanceLoopCharacteristics":
                raise UnsupportedConstructError(
                    f"cannot import '{name}': multi-instance task {el_id!r} at line "
                    f"{el.sourceline} is not supported; draw it as a loop "
                    "(exclusive join, the task, exclusive split back)",
                    element_id=el_id,
                    line=el.sourceline,
                )
            if loop:
                flow = FlowNode("loop", (step.name, None))
            graph.add(_Node(el_id, "frag", flow, el.sourceline))
        elif kind not in _IGNORED and kind.endswith(("Task", "Event", "Gateway")):
            raise UnsupportedConstructError(
                f"cannot import '{name}': {kind} {el_id!r} at line {el.sourceline} is "
                "not "
                "supported; use tasks, exclusive/parallel gateways and start/end "
                "events",
                element_id=el_id,
                line=el.sourceline,
            )
    for fl in flows:
        src, tgt = fl.get("sourceRef"), fl.get("targetRef")
        for ref in (src, tgt):
            if ref not in graph.nodes:
                raise UnsupportedConstructError(
                    f"cannot import '{name}': sequence flow {fl.get('id')!r} at line "
                    f"{fl.sourceline} connects {ref!r}, which is not a task, gateway "
                    "or "
                    "event of the process",
                    element_id=fl.get("id"),
                    line=fl.sourceline,
                )
        graph.connect(src, tgt)
    flow = _reduce(graph, starts, ends, name)
    sop_el = next(iter(_ext(process, "sop")), None)
    return _assemble(root, process, sop_el, flow, steps, name)


def _lanes(process: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for lane in process.iter(_q("lane")):
        lane_name = (lane.get("name") or "").strip()
        if not lane_name:
            continue
        for ref in lane.findall(_q("flowNodeRef")):
            if ref.text:
                out[ref.text.strip()] = lane_name
    return out


def _task_step(el: Any, kind: str, lanes: dict[str, str]) -> Step:
    raw_name = el.get("name") or ""
    name, label = _split_name(raw_name)
    if not name:
        raise ModelFormatError(
            f"task {el.get('id')!r} at line {el.sourceline} has no name; "
            "name every task with its step name",
            line=el.sourceline,
        )
    role = lanes.get(el.get("id", ""))
    if role is None:
        groups = el.get(f"{{{CAMUNDA_NS}}}candidateGroups")
        role = groups.split(",")[0].strip() if groups else None
    if role is None:
        role = "system" if kind in _SYSTEM_TASKS else "agent"
    doc = el.find(_q("documentation"))
    description = (doc.text or "").strip() if doc is not None else ""
    return Step(name, label, role, None, description)


def _assemble(
    root: Any,
    process: Any,
    sop_el: Any,
    flow: Flow,
    steps: dict[str, Step],
    name: str,
) -> SOP:
    stem = Path(name).stem if name != "<text>" else "bpmn"
    title = process.get("name") or root.get("name") or stem
    raw_id = re.sub(r"^Process_", "", process.get("id") or stem)
    sop_id = re.sub(r"[^A-Za-z0-9_.-]+", "-", raw_id).strip("-")
    version = process.get(f"{{{CAMUNDA_NS}}}versionTag") or "1"
    doc = process.find(_q("documentation"))
    description = (doc.text or "").strip() if doc is not None else ""
    if sop_el is None:
        return SOP(
            id=sop_id or "bpmn",
            title=title,
            version=str(version),
            steps=tuple(steps.values()),
            flow=flow,
            source=name,
            description=description,
        )
    # Written by csmine: the extension holds the SOP's own data. Tasks drawn in
    # since are kept; steps whose tasks were deleted are dropped, and so are the
    # roles and aliases that name them.
    limits: dict[str, TimeLimit] = {}
    for lim in sop_el.iter(f"{{{CSMINE_NS}}}limit"):
        step_name = lim.get("step", "")
        try:
            within = parse_duration(lim.get("within", ""))
        except ModelFormatError as exc:
            raise ModelFormatError(
                f"cannot import '{name}': limit of {step_name!r} at line "
                f"{lim.sourceline}: "
                f"{exc}",
                line=lim.sourceline,
            ) from exc
        limits[step_name] = TimeLimit(
            step_name, within, lim.get("since", OPENED), _bool(lim.get("businessHours"))
        )
    ordered: dict[str, Step] = {}
    for st in sop_el.iter(f"{{{CSMINE_NS}}}step"):
        step_name = st.get("name", "")
        off = _bool(st.get("offFlow"))
        if not off and step_name not in steps:
            continue
        ordered[step_name] = Step(
            step_name,
            st.get("labelZh", ""),
            st.get("role", "agent"),
            limits.get(step_name),
            st.get("description", ""),
            off_flow=off,
        )
    for step_name, step in steps.items():
        ordered.setdefault(step_name, step)
    known = set(ordered)
    roles: dict[str, tuple[str, ...]] = {}
    for role in sop_el.iter(f"{{{CSMINE_NS}}}role"):
        roles[role.get("name", "")] = tuple(
            r.text or ""
            for r in role.iter(f"{{{CSMINE_NS}}}stepRef")
            if (r.text or "") in known
        )
    aliases = {
        al.get("source", ""): al.get("step", "")
        for al in sop_el.iter(f"{{{CSMINE_NS}}}alias")
        if al.get("step", "") in known
    }
    return SOP(
        id=sop_el.get("id", sop_id),
        title=sop_el.get("title", title),
        version=sop_el.get("version", str(version)),
        steps=tuple(
            s
            if s.limit is None or s.limit.since == OPENED or s.limit.since in known
            else Step(s.name, s.label_zh, s.role, None, s.description, s.off_flow)
            for s in ordered.values()
        ),
        flow=flow,
        targets=_read_targets(sop_el),
        roles=roles,
        aliases=aliases,
        title_zh=sop_el.get("titleZh", ""),
        description=sop_el.get("description", description),
        source=name,
    )


def _read_targets(sop_el: Any) -> Targets:
    fields: dict[str, Any] = {}
    other: list[tuple[str, float]] = []
    present = False
    for t in sop_el.iter(f"{{{CSMINE_NS}}}target"):
        present = True
        key, value = t.get("name", ""), t.get("value", "")
        if key in ("first_response", "resolution_time"):
            fields[key] = parse_duration(value)
        elif key in ("resolution_rate", "first_contact_resolution", "satisfaction"):
            fields[key] = float(value)
        else:
            other.append((key, float(value)))
    if not present:
        return Targets()
    # Targets written by csmine are complete: a missing default was unset.
    for key in ("first_response", "resolution_rate", "satisfaction"):
        fields.setdefault(key, None)
    return Targets(**fields, other=tuple(other))


# -- reduction of the graph to a process tree ----------------------------------------


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
    graph: _Graph, starts: list[_Node], ends: list[_Node], name: str
) -> tuple[str, str]:
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
    for node in list(graph.nodes.values()):
        ins, outs = graph.pred[node.id], graph.succ[node.id]
        if node.kind in ("xor", "and") and (not ins or not outs):
            side = "incoming" if not ins else "outgoing"
            raise UnsupportedConstructError(
                f"cannot import '{name}': gateway {node.id!r} at line {node.line} has "
                "no "
                f"{side} sequence flow; connect it or delete it",
                element_id=node.id,
                line=node.line,
            )
        if node.kind in ("frag", "start") and len(outs) > 1:
            # BPMN: several flows out of an activity start all of them.
            split = graph.add(_Node(graph.new_id("and"), "and", line=node.line))
            for s in list(outs):
                graph.disconnect(node.id, s)
                graph.connect(split.id, s)
            graph.connect(node.id, split.id)
        if node.kind in ("frag", "end") and len(ins) > 1:
            # BPMN: several flows into an activity merge without synchronising.
            join = graph.add(_Node(graph.new_id("xor"), "xor", line=node.line))
            for p in list(ins):
                graph.disconnect(p, node.id)
                graph.connect(p, join.id)
            graph.connect(join.id, node.id)
        if node.kind in ("xor", "and") and len(ins) > 1 and len(outs) > 1:
            split = graph.add(_Node(graph.new_id(node.kind), node.kind, line=node.line))
            for s in list(outs):
                graph.disconnect(node.id, s)
                graph.connect(split.id, s)
            graph.connect(node.id, split.id)
        if node.kind in ("frag",) and (not ins or not outs):
            side = "incoming" if not ins else "outgoing"
            raise UnsupportedConstructError(
                f"cannot import '{name}': {node.id!r} at line {node.line} has no "
                f"{side} "
                "sequence flow; every task must lie on a path from the start to an "
                "end event",
                element_id=node.id,
                line=node.line,
            )
    start = starts[0]
    if len(ends) > 1:
        join = graph.add(_Node(graph.new_id("xor"), "xor"))
        end = graph.add(_Node(graph.new_id("end"), "end"))
        for e in ends:
            for p in list(graph.pred[e.id]):
                graph.connect(p, join.id)
            graph.remove(e.id)
        graph.connect(join.id, end.id)
        return start.id, end.id
    return start.id, ends[0].id


def _reduce(graph: _Graph, starts: list[_Node], ends: list[_Node], name: str) -> Flow:
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
        "not "
        "block-structured; csmine needs every split to meet a join of the same type, "
        "and a loop to be an exclusive join before the repeated steps and an exclusive "
        "split after them with one flow back; redraw that part (or write the SOP in "
        "TOML)",
        element_id=at.id,
        line=at.line,
    )


def _check_reachable(graph: _Graph, start: str, end: str, name: str) -> None:
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


def _pass_through(graph: _Graph) -> bool:
    for node in list(graph.nodes.values()):
        if node.kind in ("xor", "and"):
            ins, outs = graph.pred[node.id], graph.succ[node.id]
            if len(ins) == 1 and len(outs) == 1 and ins[0] != node.id:
                p, s = ins[0], outs[0]
                graph.redirect(p, node.id, s)
                graph.remove(node.id)
                return True
    return False


def _sequence(graph: _Graph) -> bool:
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


def _branch(graph: _Graph, split: str, target: str) -> tuple[str | None, Flow, bool]:
    """(join reached, branch flow, is a plain branch) for a flow out of a split."""
    node = graph.nodes[target]
    if node.kind == "frag":
        if len(graph.pred[target]) == 1 and len(graph.succ[target]) == 1:
            return graph.succ[target][0], node.flow, True
        return None, None, False
    return target, None, True


def _block(graph: _Graph) -> bool:
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
            _Node(
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


def _loop(graph: _Graph) -> bool:
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
            _Node(graph.new_id("loop"), "frag", FlowNode("loop", (body, redo)))
        )
        graph.redirect(entry, join.id, frag.id)
        graph.redirect_from(split_id, exit_to, frag.id)
        for node_id in (join.id, body_id, split_id, back):
            if node_id in graph.nodes:
                graph.remove(node_id)
        return True
    return False


# -- export --------------------------------------------------------------------------

_TASK_W, _TASK_H = 120, 80
_GW = 50
_EV = 36
_HGAP, _VGAP = 50, 40


@dataclass(slots=True)
class _Shape:
    id: str
    kind: str  # task, xor, and, start, end
    x: float
    y: float
    w: float
    h: float
    step: str | None = None


@dataclass(slots=True)
class _Edge:
    id: str
    source: str
    target: str
    points: list[tuple[float, float]]


@dataclass(slots=True)
class _Block:
    w: float
    h: float
    axis: float
    shapes: list[_Shape] = field(default_factory=list)
    edges: list[_Edge] = field(default_factory=list)
    entry: str | None = None
    exit: str | None = None

    def placed(self, dx: float, dy: float, mirror: bool = False) -> _Block:
        def px(x: float) -> float:
            return dx + (self.w - x if mirror else x)

        shapes = [
            _Shape(
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
            _Edge(e.id, e.source, e.target, [(px(x), dy + y) for x, y in e.points])
            for e in self.edges
        ]
        return _Block(self.w, self.h, self.axis, shapes, edges, self.entry, self.exit)


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


def _layout(flow: Flow, ids: _Ids) -> _Block:
    if flow is None:
        return _Block(0, 0, 0)
    if isinstance(flow, str):
        tid = ids("Activity")
        return _Block(
            _TASK_W,
            _TASK_H,
            _TASK_H / 2,
            [_Shape(tid, "task", 0, 0, _TASK_W, _TASK_H, flow)],
            entry=tid,
            exit=tid,
        )
    if flow.operator == "seq":
        return _layout_seq([_layout(c, ids) for c in flow.children], ids)
    if flow.operator in ("xor", "and"):
        return _layout_choice(flow, ids)
    return _layout_loop(flow, ids)


def _layout_seq(blocks: list[_Block], ids: _Ids) -> _Block:
    blocks = [b for b in blocks if b.entry is not None]
    if not blocks:
        return _Block(0, 0, 0)
    axis = max(b.axis for b in blocks)
    below = max(b.h - b.axis for b in blocks)
    out = _Block(0, axis + below, axis, entry=blocks[0].entry, exit=blocks[-1].exit)
    x = 0.0
    prev: _Block | None = None
    for b in blocks:
        placed = b.placed(x, axis - b.axis)
        if prev is not None:
            assert prev.exit is not None and b.entry is not None
            out.edges.append(
                _Edge(ids("Flow"), prev.exit, b.entry, [(x - _HGAP, axis), (x, axis)])
            )
        out.shapes += placed.shapes
        out.edges += placed.edges
        x += b.w + _HGAP
        prev = b
    out.w = x - _HGAP
    return out


def _layout_choice(flow: FlowNode, ids: _Ids) -> _Block:
    kind = flow.operator
    laid = [_layout(c, ids) for c in flow.children]
    blocks = [b for b in laid if b.entry is not None]
    # A branch that does nothing (tau, or only silent steps) is a bypass flow.
    has_tau = len(blocks) < len(laid) and kind == "xor"
    if not blocks:
        return _Block(0, 0, 0)
    split, join = ids("Gateway"), ids("Gateway")
    bx = _GW + _HGAP
    bw = max(b.w for b in blocks)
    jx = bx + bw + _HGAP
    axis = max(blocks[0].axis, _GW / 2)
    out = _Block(jx + _GW, 0, axis, entry=split, exit=join)
    out.shapes.append(_Shape(split, kind, 0, axis - _GW / 2, _GW, _GW))
    out.shapes.append(_Shape(join, kind, jx, axis - _GW / 2, _GW, _GW))
    top = axis - blocks[0].axis
    bottom = axis + _GW / 2
    gc = _GW / 2
    for i, b in enumerate(blocks):
        if i > 0:
            top = bottom + _VGAP
        placed = b.placed(bx, top)
        row = top + b.axis
        assert b.entry is not None and b.exit is not None
        if i == 0:
            out.edges.append(
                _Edge(ids("Flow"), split, b.entry, [(_GW, axis), (bx, axis)])
            )
            out.edges.append(
                _Edge(ids("Flow"), b.exit, join, [(bx + b.w, axis), (jx, axis)])
            )
        else:
            out.edges.append(
                _Edge(
                    ids("Flow"), split, b.entry, [(gc, axis + gc), (gc, row), (bx, row)]
                )
            )
            out.edges.append(
                _Edge(
                    ids("Flow"),
                    b.exit,
                    join,
                    [(bx + b.w, row), (jx + gc, row), (jx + gc, axis + gc)],
                )
            )
        out.shapes += placed.shapes
        out.edges += placed.edges
        bottom = max(bottom, top + b.h)
    if has_tau:
        row = bottom + _VGAP / 2
        out.edges.append(
            _Edge(
                ids("Flow"),
                split,
                join,
                [(gc, axis + gc), (gc, row), (jx + gc, row), (jx + gc, axis + gc)],
            )
        )
        bottom = row
    out.h = bottom
    return out


def _layout_loop(flow: FlowNode, ids: _Ids) -> _Block:
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
    out = _Block(sx + _GW, 0, axis, entry=join, exit=split)
    out.shapes.append(_Shape(join, "xor", 0, axis - gc, _GW, _GW))
    out.shapes.append(_Shape(split, "xor", sx, axis - gc, _GW, _GW))
    bottom = axis + gc
    if do.entry is None:
        out.edges.append(_Edge(ids("Flow"), join, split, [(_GW, axis), (sx, axis)]))
    else:
        placed = do.placed(dx, axis - do.axis)
        assert do.exit is not None
        out.edges.append(_Edge(ids("Flow"), join, do.entry, [(_GW, axis), (dx, axis)]))
        out.edges.append(
            _Edge(ids("Flow"), do.exit, split, [(dx + do.w, axis), (sx, axis)])
        )
        out.shapes += placed.shapes
        out.edges += placed.edges
        bottom = max(bottom, axis - do.axis + do.h)
    if redo.entry is None:
        row = bottom + _VGAP / 2
        out.edges.append(
            _Edge(
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
        _Edge(
            ids("Flow"),
            split,
            redo.entry,
            [(sx + gc, axis + gc), (sx + gc, row), (rx + redo.w, row)],
        )
    )
    out.edges.append(
        _Edge(ids("Flow"), redo.exit, join, [(rx, row), (gc, row), (gc, axis + gc)])
    )
    out.shapes += placed.shapes
    out.edges += placed.edges
    out.h = top + redo.h
    return out


def _diagram(sop: SOP) -> tuple[str, _Block]:
    ids = _Ids(sop.id)
    body = _layout(sop.flow, ids)
    start, end = "StartEvent_1", ids("Event")
    x0, y0 = 160.0, 80.0
    axis = max(body.axis, _EV / 2)
    out = _Block(0, 0, axis)
    out.shapes.append(_Shape(start, "start", x0, y0 + axis - _EV / 2, _EV, _EV))
    bx = x0 + _EV + _HGAP
    placed = body.placed(bx, y0 + axis - body.axis)
    out.shapes += placed.shapes
    out.edges += placed.edges
    ex = bx + body.w + _HGAP
    out.shapes.append(_Shape(end, "end", ex, y0 + axis - _EV / 2, _EV, _EV))
    assert body.entry is not None and body.exit is not None
    out.edges.append(
        _Edge(ids("Flow"), start, body.entry, [(x0 + _EV, y0 + axis), (bx, y0 + axis)])
    )
    out.edges.append(
        _Edge(ids("Flow"), body.exit, end, [(bx + body.w, y0 + axis), (ex, y0 + axis)])
    )
    return f"Process_{re.sub(r'[^A-Za-z0-9_.-]', '_', sop.id)}", out


def write_bpmn(sop: SOP) -> str:
    """The SOP as BPMN 2.0 XML with diagram layout, ready for bpmn.io / Camunda Modeler.

    Task names are the step names over their Chinese labels (two lines); roles,
    limits, descriptions,
    targets, KPI roles, aliases and off-flow steps are kept in ``csmine:``
    extension elements, so :func:`parse_bpmn` gives back an equal SOP.
    """
    from lxml import etree

    process_id, diagram = _diagram(sop)
    nsmap = {
        "bpmn": BPMN_NS,
        "bpmndi": BPMNDI_NS,
        "dc": DC_NS,
        "di": DI_NS,
        "csmine": CSMINE_NS,
    }

    def b(local: str) -> str:
        return f"{{{BPMN_NS}}}{local}"

    def c(local: str) -> str:
        return f"{{{CSMINE_NS}}}{local}"

    root = etree.Element(
        b("definitions"),
        nsmap=nsmap,
        id="Definitions_1",
        targetNamespace="http://bpmn.io/schema/bpmn",
        exporter="csmine",
        exporterVersion="1",
    )
    process = etree.SubElement(
        root, b("process"), id=process_id, name=sop.title, isExecutable="false"
    )
    if sop.description:
        etree.SubElement(process, b("documentation")).text = sop.description
    ext = etree.SubElement(process, b("extensionElements"))
    meta = etree.SubElement(
        ext,
        c("sop"),
        id=sop.id,
        title=sop.title,
        titleZh=sop.title_zh,
        version=sop.version,
        description=sop.description,
    )
    for key, value in targets_to_dict(sop.targets).items():
        etree.SubElement(meta, c("target"), name=key, value=str(value))
    for role, steps in sop.roles.items():
        r = etree.SubElement(meta, c("role"), name=role)
        for s in steps:
            etree.SubElement(r, c("stepRef")).text = s
    for source, target in sop.aliases.items():
        etree.SubElement(meta, c("alias"), source=source, step=target)
    for step in sop.steps:
        etree.SubElement(
            meta,
            c("step"),
            name=step.name,
            labelZh=step.label_zh,
            role=step.role,
            description=step.description,
            offFlow="true" if step.off_flow else "false",
        )
    for limit in sop.limits:
        etree.SubElement(
            meta,
            c("limit"),
            step=limit.step,
            within=format_duration(limit.within),
            since=limit.since,
            businessHours="true" if limit.business_hours else "false",
        )
    incoming: dict[str, list[str]] = {}
    outgoing: dict[str, list[str]] = {}
    for e in diagram.edges:
        outgoing.setdefault(e.source, []).append(e.id)
        incoming.setdefault(e.target, []).append(e.id)
    tags = {
        "start": "startEvent",
        "end": "endEvent",
        "xor": "exclusiveGateway",
        "and": "parallelGateway",
        "task": "task",
    }
    for shape in diagram.shapes:
        attrs = {"id": shape.id}
        info = sop.step(shape.step) if shape.step is not None else None
        if info is not None:
            # Two lines, English then Chinese, as a designer would type them.
            attrs["name"] = (
                f"{info.name}\n{info.label_zh}" if info.label_zh else info.name
            )
        el = etree.SubElement(process, b(tags[shape.kind]), attrs)
        if info is not None and info.description:
            etree.SubElement(el, b("documentation")).text = info.description
        for fid in incoming.get(shape.id, []):
            etree.SubElement(el, b("incoming")).text = fid
        for fid in outgoing.get(shape.id, []):
            etree.SubElement(el, b("outgoing")).text = fid
    for e in diagram.edges:
        etree.SubElement(
            process, b("sequenceFlow"), id=e.id, sourceRef=e.source, targetRef=e.target
        )
    dia = etree.SubElement(root, f"{{{BPMNDI_NS}}}BPMNDiagram", id="BPMNDiagram_1")
    plane = etree.SubElement(
        dia, f"{{{BPMNDI_NS}}}BPMNPlane", id="BPMNPlane_1", bpmnElement=process_id
    )
    for shape in diagram.shapes:
        attrs = {"id": f"{shape.id}_di", "bpmnElement": shape.id}
        if shape.kind == "xor":
            attrs["isMarkerVisible"] = "true"
        el = etree.SubElement(plane, f"{{{BPMNDI_NS}}}BPMNShape", attrs)
        etree.SubElement(
            el,
            f"{{{DC_NS}}}Bounds",
            x=_n(shape.x),
            y=_n(shape.y),
            width=_n(shape.w),
            height=_n(shape.h),
        )
    for e in diagram.edges:
        el = etree.SubElement(
            plane, f"{{{BPMNDI_NS}}}BPMNEdge", id=f"{e.id}_di", bpmnElement=e.id
        )
        for x, y in _dedupe(e.points):
            etree.SubElement(el, f"{{{DI_NS}}}waypoint", x=_n(x), y=_n(y))
    xml: bytes = etree.tostring(
        root, pretty_print=True, xml_declaration=True, encoding="UTF-8"
    )
    return xml.decode("utf-8")


def _n(value: float) -> str:
    return str(round(value))


def _dedupe(points: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for p in points:
        if not out or (round(out[-1][0]), round(out[-1][1])) != (
            round(p[0]),
            round(p[1]),
        ):
            out.append(p)
    return out


def write_pnml(sop: SOP) -> str:
    """The SOP's workflow net as PNML text (pm4py's exporter), with its markings."""
    from pm4py.objects.petri_net.exporter.variants.pnml import export_petri_as_string

    net, im, fm = sop.to_petri_net()
    text = export_petri_as_string(net, im, fm)
    return text.decode("utf-8") if isinstance(text, bytes) else str(text)


__all__ = ["parse_bpmn", "read_bpmn", "write_bpmn", "write_pnml"]
