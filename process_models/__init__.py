"""process_models: the designed SOPs, their file format, validation and BPMN.

Load a shipped SOP by name or a file by path, and get its flow as a pm4py process
tree or workflow net, its time limits, service targets, KPI roles and aliases::

    from process_models import load_sop
    sop = load_sop("complaint")
    net, im, fm = sop.to_petri_net()
"""

from __future__ import annotations

from process_models.errors import (
    ModelFormatError,
    ModelNotFoundError,
    ProcessModelError,
    UnknownStepError,
    UnsupportedConstructError,
)
from process_models.loading import list_sops, load_sop, shipped_path
from process_models.model import (
    KPI_ROLES,
    OPENED,
    SOP,
    Flow,
    FlowNode,
    Step,
    Targets,
    TimeLimit,
    format_duration,
    parse_duration,
)
from process_models.petri import Soundness, check_soundness, enumerate_traces
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
