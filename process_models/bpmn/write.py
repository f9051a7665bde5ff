"""Writing an SOP as BPMN 2.0 XML (with its diagram) and as PNML.

:func:`write_bpmn` lays the flow out (:mod:`~process_models.bpmn.layout`), writes
one element per shape and sequence flow, the diagram interchange
(BPMNShape/BPMNEdge) so modelers show the flow as drawn, and the ``csmine:sop``
extension (:mod:`~process_models.bpmn.extension`) so the file reads back to the
same SOP.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from process_models.bpmn.extension import write_extension
from process_models.bpmn.layout import Block, layout_diagram
from process_models.bpmn.namespaces import (
    BPMN_NS,
    BPMNDI_NS,
    CSMINE_NS,
    DC_NS,
    DI_NS,
    bpmn_tag,
)
from process_models.model import SOP
from process_models.petri import flow_to_petri_net

_TAGS = {
    "start": "startEvent",
    "end": "endEvent",
    "xor": "exclusiveGateway",
    "and": "parallelGateway",
    "task": "task",
}


def write_bpmn(sop: SOP) -> str:
    """The SOP as BPMN 2.0 XML with diagram layout, ready for bpmn.io / Camunda Modeler.

    Task names are the step names over their Chinese labels (two lines); roles,
    limits, descriptions, targets, KPI roles, aliases and off-flow steps are kept
    in ``csmine:`` extension elements, so
    :func:`~process_models.bpmn.parse_bpmn` gives back an equal SOP.
    """
    from lxml import etree

    process_id, diagram = layout_diagram(sop)
    nsmap = {
        "bpmn": BPMN_NS,
        "bpmndi": BPMNDI_NS,
        "dc": DC_NS,
        "di": DI_NS,
        "csmine": CSMINE_NS,
    }
    root = etree.Element(
        bpmn_tag("definitions"),
        nsmap=nsmap,
        id="Definitions_1",
        targetNamespace="http://bpmn.io/schema/bpmn",
        exporter="csmine",
        exporterVersion="1",
    )
    process = etree.SubElement(
        root, bpmn_tag("process"), id=process_id, name=sop.title, isExecutable="false"
    )
    if sop.description:
        etree.SubElement(process, bpmn_tag("documentation")).text = sop.description
    write_extension(process, sop)
    _write_flow_elements(process, sop, diagram)
    _write_diagram(root, process_id, diagram)
    xml: bytes = etree.tostring(
        root, pretty_print=True, xml_declaration=True, encoding="UTF-8"
    )
    return xml.decode("utf-8")


def _write_flow_elements(process: Any, sop: SOP, diagram: Block) -> None:
    """Events, tasks and gateways with their incoming/outgoing refs, then flows."""
    from lxml import etree

    incoming: dict[str, list[str]] = {}
    outgoing: dict[str, list[str]] = {}
    for e in diagram.edges:
        outgoing.setdefault(e.source, []).append(e.id)
        incoming.setdefault(e.target, []).append(e.id)
    for shape in diagram.shapes:
        attrs = {"id": shape.id}
        info = sop.step(shape.step) if shape.step is not None else None
        if info is not None:
            # Two lines, English then Chinese, as a designer would type them.
            attrs["name"] = (
                f"{info.name}\n{info.label_zh}" if info.label_zh else info.name
            )
        el = etree.SubElement(process, bpmn_tag(_TAGS[shape.kind]), attrs)
        if info is not None and info.description:
            etree.SubElement(el, bpmn_tag("documentation")).text = info.description
        for fid in incoming.get(shape.id, []):
            etree.SubElement(el, bpmn_tag("incoming")).text = fid
        for fid in outgoing.get(shape.id, []):
            etree.SubElement(el, bpmn_tag("outgoing")).text = fid
    for e in diagram.edges:
        etree.SubElement(
            process,
            bpmn_tag("sequenceFlow"),
            id=e.id,
            sourceRef=e.source,
            targetRef=e.target,
        )


def _write_diagram(root: Any, process_id: str, diagram: Block) -> None:
    """The BPMNDiagram: a BPMNShape per shape, a BPMNEdge with waypoints per flow."""
    from lxml import etree

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


def _n(value: float) -> str:
    return str(round(value))


def _dedupe(points: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    """Drop waypoints that round to the one before (zero-length segments)."""
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

    net, im, fm = flow_to_petri_net(sop.flow)
    text = export_petri_as_string(net, im, fm)
    return text.decode("utf-8") if isinstance(text, bytes) else str(text)
