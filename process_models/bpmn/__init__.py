"""BPMN 2.0 in and out: SOPs from modeler files, and files a modeler opens.

Import (:func:`parse_bpmn`) reads a process as drawn in bpmn.io or Camunda
Modeler. The drawing must be block-structured: every split has a matching join of
the same type, loops are an exclusive join before the repeated part and an
exclusive split after it with a flow back. Export (:func:`write_bpmn`) lays the
flow out left to right and writes the diagram, so modelers show it as drawn;
:func:`write_pnml` writes the workflow net.

The modules, in the order a file passes through them:

- :mod:`~process_models.bpmn.read`: XML elements → a graph and the steps;
- :mod:`~process_models.bpmn.reduce`: the graph → a process tree (the flow);
- :mod:`~process_models.bpmn.extension`: the ``csmine:sop`` element, both ways;
- :mod:`~process_models.bpmn.layout`: the flow → placed shapes and edges;
- :mod:`~process_models.bpmn.write`: shapes and edges → BPMN XML; PNML;
- :mod:`~process_models.bpmn.namespaces`: the XML namespaces and tag helpers.
"""

from __future__ import annotations

from process_models.bpmn.namespaces import (
    BPMN_NS,
    BPMNDI_NS,
    CSMINE_NS,
    DC_NS,
    DI_NS,
)
from process_models.bpmn.read import parse_bpmn
from process_models.bpmn.write import write_bpmn, write_pnml

__all__ = [
    "BPMNDI_NS",
    "BPMN_NS",
    "CSMINE_NS",
    "DC_NS",
    "DI_NS",
    "parse_bpmn",
    "write_bpmn",
    "write_pnml",
]
