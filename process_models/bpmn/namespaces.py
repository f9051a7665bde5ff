"""XML namespaces of BPMN 2.0 files, and helpers to read tag names in them."""

from __future__ import annotations

from typing import Any

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI_NS = "http://www.omg.org/spec/BPMN/20100524/DI"
DC_NS = "http://www.omg.org/spec/DD/20100524/DC"
DI_NS = "http://www.omg.org/spec/DD/20100524/DI"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
#: csmine's own extension elements (``csmine:sop``), which carry what BPMN lacks.
CSMINE_NS = "urn:csmine:bpmn:1"


def bpmn_tag(local: str) -> str:
    """``{BPMN namespace}local``, the qualified name lxml uses."""
    return f"{{{BPMN_NS}}}{local}"


def csmine_tag(local: str) -> str:
    """``{csmine namespace}local``."""
    return f"{{{CSMINE_NS}}}{local}"


def local_name(tag: Any) -> str:
    """The tag without its namespace (``""`` for comments and the like)."""
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def namespace(tag: Any) -> str:
    """The namespace of a qualified tag (``""`` when it has none)."""
    return (
        tag[1:].split("}", 1)[0] if isinstance(tag, str) and tag.startswith("{") else ""
    )


def source_line(element: Any) -> int | None:
    """The element's line in the file, when lxml knows it."""
    line = getattr(element, "sourceline", None)
    return line if isinstance(line, int) else None
