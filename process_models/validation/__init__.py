"""Checking SOP files: syntax, schema, step references, reachability, soundness.

:func:`validate_sop` reports every problem it finds as a :class:`ValidationIssue`
with the line it is on; it raises only when the file cannot be read at all.
:func:`parse_sop_text` is the strict reader behind ``load_sop``.

The checks, by module:

- :mod:`~process_models.validation.document`: TOML syntax, the top-level keys,
  building the SOP (:func:`check_toml`, :func:`parse_sop_text`);
- :mod:`~process_models.validation.tables`: ``[[steps]]``, ``[[limits]]``,
  ``[targets]``, ``[roles]``, ``[aliases]``, ``closed_when``;
- :mod:`~process_models.validation.flow`: the flow's operators, children, step
  references and the steps it never reaches;
- :mod:`~process_models.validation.semantic`: checks of a built SOP (BPMN
  imports) and the soundness of its workflow net;
- :mod:`~process_models.validation.issues`: the issue type and the collector;
- :mod:`~process_models.validation.validate`: :func:`validate_sop`, the entry point.
"""

from __future__ import annotations

from process_models.validation.document import check_toml, parse_sop_text
from process_models.validation.issues import ERROR, WARNING, ValidationIssue
from process_models.validation.semantic import check_flow_soundness, check_sop
from process_models.validation.validate import validate_sop

__all__ = [
    "ERROR",
    "WARNING",
    "ValidationIssue",
    "check_flow_soundness",
    "check_sop",
    "check_toml",
    "parse_sop_text",
    "validate_sop",
]
