"""Reading BPMN 2.0 XML into an SOP.

:func:`parse_bpmn` reads one process as drawn in bpmn.io or Camunda Modeler:
start and end events, tasks of any kind (task, userTask, serviceTask,
manualTask, ...), exclusive and parallel gateways and sequence flows. The
elements become a graph, which :mod:`~process_models.bpmn.reduce` folds into the
flow; the steps come from the tasks, or from the ``csmine:`` extension
(:mod:`~process_models.bpmn.extension`) when csmine wrote the file. An element
csmine cannot map stops the import with its id, its line and what to draw instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from process_models.bpmn.extension import Defaults, sop_from_extension
from process_models.bpmn.namespaces import (
    BPMN_NS,
    CAMUNDA_NS,
    CSMINE_NS,
    bpmn_tag,
    local_name,
    namespace,
    source_line,
)
from process_models.bpmn.reduce import Graph, Node, reduce_graph
from process_models.errors import ModelFormatError, UnsupportedConstructError
from process_models.flow import Flow, FlowNode
from process_models.model import SOP, Step

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


def parse_bpmn(text: str, *, source: str | None = None) -> SOP:
    """Build an SOP from BPMN 2.0 XML.

    Step names are the task names (a two-line name ``"Receive\\n接收投诉"`` gives the
    English name and the Chinese label); the responsible role comes from the
    task's lane, else its ``camunda:candidateGroups``, else ``system`` for
    service/script/business-rule tasks and ``agent`` for the others. ``csmine:``
    extension elements written by :func:`~process_models.bpmn.write_bpmn` take
    precedence.

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
    if local_name(root.tag) != "definitions" or namespace(root.tag) != BPMN_NS:
        raise ModelFormatError(
            f"cannot read BPMN '{name}': the root element is not a BPMN 2.0 "
            f"<definitions> (namespace {BPMN_NS})",
            line=source_line(root),
        )
    return _import_process(root, _the_process(root, name), name)


def _the_process(root: Any, name: str) -> Any:
    processes = [p for p in root.iter(bpmn_tag("process")) if _has_flow_nodes(p)]
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
            line=source_line(processes[1]),
        )
    return processes[0]


def _has_flow_nodes(process: Any) -> bool:
    return any(
        local_name(c.tag) in _TASKS or local_name(c.tag) == "startEvent"
        for c in process
    )


@dataclass(slots=True)
class _Process:
    """What the elements of one process add up to, before the reduction."""

    name: str
    lanes: dict[str, str]
    graph: Graph = field(default_factory=Graph)
    steps: dict[str, Step] = field(default_factory=dict)
    flows: list[Any] = field(default_factory=list)
    starts: list[Node] = field(default_factory=list)
    ends: list[Node] = field(default_factory=list)

    def refuse(
        self, el_id: str | None, line: int | None, text: str
    ) -> UnsupportedConstructError:
        return UnsupportedConstructError(
            f"cannot import '{self.name}': {text}", element_id=el_id, line=line
        )


def _import_process(root: Any, process: Any, name: str) -> SOP:
    acc = _Process(name, _lanes(process))
    for el in process:
        if namespace(el.tag) == BPMN_NS:
            _add_element(acc, el, local_name(el.tag))
    for fl in acc.flows:
        src, tgt = fl.get("sourceRef"), fl.get("targetRef")
        for ref in (src, tgt):
            if ref not in acc.graph.nodes:
                raise acc.refuse(
                    fl.get("id"),
                    fl.sourceline,
                    f"sequence flow {fl.get('id')!r} at line {fl.sourceline} "
                    f"connects {ref!r}, which is not a task, gateway or event of "
                    "the process",
                )
        acc.graph.connect(src, tgt)
    flow = reduce_graph(acc.graph, acc.starts, acc.ends, name)
    return _assemble(root, process, flow, acc.steps, name)


def _add_element(acc: _Process, el: Any, kind: str) -> None:
    el_id = el.get("id") or f"line {el.sourceline}"
    line = el.sourceline
    if kind in _UNSUPPORTED:
        label = f" ({el.get('name')})" if el.get("name") else ""
        raise acc.refuse(
            el_id,
            line,
            f"{kind} {el_id!r}{label} at line {line} is not supported; "
            f"{_UNSUPPORTED[kind]}",
        )
    if kind == "sequenceFlow":
        acc.flows.append(el)
    elif kind == "startEvent":
        acc.starts.append(acc.graph.add(Node(el_id, "start", line=line)))
    elif kind == "endEvent":
        if any(local_name(c.tag) == "terminateEventDefinition" for c in el):
            raise acc.refuse(
                el_id,
                line,
                f"terminate end event {el_id!r} at line {line} is not supported; "
                "use a plain end event",
            )
        acc.ends.append(acc.graph.add(Node(el_id, "end", line=line)))
    elif kind in _GATEWAYS:
        acc.graph.add(Node(el_id, _GATEWAYS[kind], line=line))
    elif kind == "intermediateThrowEvent":
        if any(local_name(c.tag).endswith("EventDefinition") for c in el):
            raise acc.refuse(
                el_id,
                line,
                f"intermediate throw event {el_id!r} at line {line} has an event "
                "definition; make it a task (e.g. a sendTask) or remove the "
                "definition",
            )
        acc.graph.add(Node(el_id, "frag", None, line))
    elif kind in _TASKS:
        _add_task(acc, el, kind, el_id)
    elif kind not in _IGNORED and kind.endswith(("Task", "Event", "Gateway")):
        raise acc.refuse(
            el_id,
            line,
            f"{kind} {el_id!r} at line {line} is not supported; use tasks, "
            "exclusive/parallel gateways and start/end events",
        )


def _add_task(acc: _Process, el: Any, kind: str, el_id: str) -> None:
    step = _task_step(el, kind, acc.lanes)
    acc.steps.setdefault(step.name, step)
    flow: Flow = step.name
    loop = [c for c in el if local_name(c.tag).endswith("LoopCharacteristics")]
    if loop and local_name(loop[0].tag) == "multiInstanceLoopCharacteristics":
        raise acc.refuse(
            el_id,
            el.sourceline,
            f"multi-instance task {el_id!r} at line {el.sourceline} is not "
            "supported; draw it as a loop (exclusive join, the task, exclusive "
            "split back)",
        )
    if loop:
        flow = FlowNode("loop", (step.name, None))
    acc.graph.add(Node(el_id, "frag", flow, el.sourceline))


def _lanes(process: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for lane in process.iter(bpmn_tag("lane")):
        lane_name = (lane.get("name") or "").strip()
        if not lane_name:
            continue
        for ref in lane.findall(bpmn_tag("flowNodeRef")):
            if ref.text:
                out[ref.text.strip()] = lane_name
    return out


def _task_step(el: Any, kind: str, lanes: dict[str, str]) -> Step:
    name, label = _split_name(el.get("name") or "")
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
    return Step(name, label, role, None, _documentation(el))


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


def _documentation(el: Any) -> str:
    doc = el.find(bpmn_tag("documentation"))
    return (doc.text or "").strip() if doc is not None else ""


def _assemble(
    root: Any, process: Any, flow: Flow, steps: dict[str, Step], name: str
) -> SOP:
    stem = Path(name).stem if name != "<text>" else "bpmn"
    raw_id = re.sub(r"^Process_", "", process.get("id") or stem)
    defaults = Defaults(
        id=re.sub(r"[^A-Za-z0-9_.-]+", "-", raw_id).strip("-"),
        title=process.get("name") or root.get("name") or stem,
        version=str(process.get(f"{{{CAMUNDA_NS}}}versionTag") or "1"),
        description=_documentation(process),
    )
    sop_el = next(iter(_csmine_elements(process, "sop")), None)
    if sop_el is not None:
        return sop_from_extension(sop_el, defaults, flow, steps, name)
    return SOP(
        id=defaults.id or "bpmn",
        title=defaults.title,
        version=defaults.version,
        steps=tuple(steps.values()),
        flow=flow,
        source=name,
        description=defaults.description,
    )


def _csmine_elements(element: Any, local: str) -> list[Any]:
    ext = element.find(bpmn_tag("extensionElements"))
    if ext is None:
        return []
    return [
        c
        for c in ext
        if local_name(c.tag) == local and namespace(c.tag) == CSMINE_NS
    ]
