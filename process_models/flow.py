"""The flow of an SOP: a process tree over step names, and its written forms.

A flow is a :class:`FlowNode` (an operator over sub-flows), a step name, or None
for a silent step (``tau``). This module is the bottom of the package: it knows
nothing of steps, limits or pm4py, so :mod:`process_models.model` (the SOP) and
:mod:`process_models.petri` (the pm4py views) can both build on it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Union

#: Operators of a flow node: sequence, exclusive choice, parallel, loop (do, redo).
OPERATORS = ("seq", "xor", "and", "loop")

#: The keyword for a silent step (nothing happens) in a flow.
SILENT = "tau"


@dataclass(frozen=True, slots=True)
class FlowNode:
    """An operator node of the flow (a process tree).

    Attributes:
        operator: ``seq`` (children in order), ``xor`` (exactly one child),
            ``and`` (all children, interleaved in any order) or ``loop``
            (``children[0]`` is done, then optionally ``children[1]`` and the
            do-part again, any number of times).
        children: Sub-flows: a FlowNode, a step name, or None for a silent step.
    """

    operator: str
    children: tuple[Flow, ...]


#: A flow: an operator node, a step name, or None (a silent step, ``tau``).
Flow = Union[FlowNode, str, None]  # noqa: UP007 - a runtime alias needs Union here


def iter_flow_steps(flow: Flow) -> Iterator[str]:
    """Yield the step names of a flow in document order (repeats included)."""
    if flow is None:
        return
    if isinstance(flow, str):
        yield flow
        return
    for child in flow.children:
        yield from iter_flow_steps(child)


def flow_to_list(flow: Flow) -> Any:
    """The flow in the nested-list form of the TOML file (``optional`` kept)."""
    if flow is None:
        return SILENT
    if isinstance(flow, str):
        return flow
    children = flow.children
    if flow.operator == "xor" and len(children) == 2 and children[1] is None:
        return ["optional", flow_to_list(children[0])]
    if flow.operator == "loop" and len(children) == 2 and children[1] is None:
        return ["loop", flow_to_list(children[0])]
    return [flow.operator, *(flow_to_list(c) for c in children)]


def flow_to_text(flow: Flow) -> str:
    """One-line reading of a flow: ``Receive → [Escalate] → (Handle ↺ Wait) → …``.

    ``a → b`` sequence, ``(a | b)`` exclusive choice, ``[a]`` optional,
    ``(a ‖ b)`` parallel, ``(do ↺ redo)`` loop, ``(do ↺)`` repeatable, ``τ`` silent.
    """
    if flow is None:
        return "τ"
    if isinstance(flow, str):
        return flow
    parts = [flow_to_text(c) for c in flow.children]
    if flow.operator == "seq":
        return " → ".join(parts)
    if flow.operator == "xor":
        if len(flow.children) == 2 and flow.children[1] is None:
            return f"[{parts[0]}]"
        return "(" + " | ".join(parts) + ")"
    if flow.operator == "and":
        return "(" + " ‖ ".join(parts) + ")"
    if len(flow.children) == 1 or flow.children[1] is None:
        return f"({parts[0]} ↺)"
    return f"({parts[0]} ↺ {parts[1]})"


__all__ = [
    "OPERATORS",
    "SILENT",
    "Flow",
    "FlowNode",
    "flow_to_list",
    "flow_to_text",
    "iter_flow_steps",
]
