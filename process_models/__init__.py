"""process_models: the designed SOPs, their file format, validation and BPMN.

Load a shipped SOP by name or a file by path, and get its flow as a pm4py process
tree or workflow net, its time limits, service targets, KPI roles and aliases::

    from process_models import load_sop
    sop = load_sop("complaint")
    net, im, fm = sop.to_petri_net()

The modules, bottom up (each imports only those above it in this list):

- :mod:`~process_models.errors`: the exceptions;
- :mod:`~process_models.flow`: the flow, a process tree over step names;
- :mod:`~process_models.petri`: the flow as a pm4py tree or workflow net,
  soundness, the traces a flow allows;
- :mod:`~process_models.workflow_net`: the flow as a workflow net built without pm4py (the hot path of conformance; the same construction as pm4py's converter, ``to_pm4py()`` for the fallbacks);
- :mod:`~process_models.model`: the SOP, its steps, limits, targets; durations;
- :mod:`~process_models.toml_format`: writing the TOML file; line numbers in it;
- :mod:`~process_models.shipped`: the SOP files shipped in ``models/``;
- :mod:`~process_models.render`: the SOP as a flowchart (DOT, SVG, PNG);
- :mod:`~process_models.bpmn`: BPMN 2.0 in (read, reduce) and out (layout, write);
- :mod:`~process_models.validation`: every issue of a TOML or BPMN file;
- :mod:`~process_models.loading`: :func:`load_sop`, the strict reader.
"""

from __future__ import annotations

from process_models.errors import (
    ModelFormatError,
    ModelNotFoundError,
    ProcessModelError,
    UnknownStepError,
    UnsupportedConstructError,
)
from process_models.flow import Flow, FlowNode
from process_models.loading import load_sop
from process_models.model import (
    KPI_ROLES,
    OPENED,
    SOP,
    Step,
    Targets,
    TimeLimit,
    format_duration,
    parse_duration,
)
from process_models.petri import Soundness, check_soundness, enumerate_traces
from process_models.shipped import list_sops, shipped_path
from process_models.toml_format import dump_sop
from process_models.validation import ValidationIssue, validate_sop

__all__ = [
    "KPI_ROLES",
    "OPENED",
    "SOP",
    "Flow",
    "FlowNode",
    "ModelFormatError",
    "ModelNotFoundError",
    "ProcessModelError",
    "Soundness",
    "Step",
    "Targets",
    "TimeLimit",
    "UnknownStepError",
    "UnsupportedConstructError",
    "ValidationIssue",
    "check_soundness",
    "dump_sop",
    "enumerate_traces",
    "format_duration",
    "list_sops",
    "load_sop",
    "parse_duration",
    "shipped_path",
    "validate_sop",
]
