"""Checks of an SOP's ``flow``: operators, their children, step references, reach.

The flow is written as nested arrays (``["seq", "Receive", ["optional",
"Escalate"], ...]``). Reading it reports unknown operators and steps, wrong
numbers of children and off-flow steps used in it, each at the line of the
array or string concerned, then steps the flow never reaches.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from process_models.flow import OPERATORS, SILENT, Flow, FlowNode, iter_flow_steps
from process_models.validation.issues import Checker, has_errors

_FLOW_OPERATORS = (*OPERATORS, "optional")


def check_flow(
    data: dict[str, Any], ck: Checker, steps: list[dict[str, Any]]
) -> Flow:
    """The ``flow`` of the parsed TOML, and whether it reaches every step.

    Args:
        data: The whole parsed TOML document.
        ck: Where issues go.
        steps: The steps read by
            :func:`~process_models.validation.tables.check_steps`.

    Returns:
        The flow as read (None when it is missing or unreadable).
    """
    if "flow" not in data:
        ck.error(
            "the SOP has no 'flow' (add flow = [\"seq\", ...] before any table)", 1
        )
        return None
    names = {s["name"] for s in steps}
    off_flow = {s["name"] for s in steps if s["off_flow"]}
    flow = _FlowReader(ck, names, off_flow).read(data["flow"])
    used = set(iter_flow_steps(flow))
    if not used and not has_errors(ck.issues):
        ck.error("the flow has no steps", ck.loc.line("", None, "flow"))
    for s in steps:
        if s["name"] not in used and not s["off_flow"]:
            ck.error(
                f"step {s['name']!r} is never used in the flow (unreachable): "
                "add it to flow or mark it off_flow = true",
                s["line"],
                s["name"],
            )
    return flow


@dataclass(slots=True)
class _FlowReader:
    ck: Checker
    names: set[str]
    off_flow: set[str]
    # How often each string has been met so far: the n-th "Handle" in the flow
    # is on the line of the n-th "Handle" literal the locator found.
    occurrences: dict[str, int] = field(default_factory=dict)

    def line_of(self, text: str) -> int | None:
        n = self.occurrences.get(text, 0)
        self.occurrences[text] = n + 1
        return self.ck.loc.literal_line("", None, "flow", text, n)

    def read(self, value: Any) -> Flow:
        if isinstance(value, str):
            return self.step(value)
        if not isinstance(value, list) or not value:
            self.ck.error(
                f'flow entries must be step names or ["operator", ...] arrays, '
                f"not {value!r}",
                self.ck.loc.line("", None, "flow"),
            )
            return None
        return self.node(value)

    def step(self, value: str) -> Flow:
        line = self.line_of(value)
        if value == SILENT:
            return None
        if value not in self.names:
            self.ck.error(
                f"unknown step {value!r} in flow "
                f"(steps: {', '.join(sorted(self.names))}; "
                f'"{SILENT}" for a silent step)',
                line,
                value,
            )
        elif value in self.off_flow:
            self.ck.error(
                f"step {value!r} is marked off_flow but used in the flow; "
                "remove off_flow = true or take it out of the flow",
                line,
                value,
            )
        return value

    def node(self, value: list[Any]) -> Flow:
        op = value[0]
        if not isinstance(op, str):
            self.ck.error(
                "a flow array must start with an operator: "
                f"{', '.join(_FLOW_OPERATORS)}",
                self.ck.loc.line("", None, "flow"),
            )
            return None
        line = self.line_of(op)
        if op not in _FLOW_OPERATORS:
            self.ck.error(
                f"unknown flow operator {op!r} "
                f"(use one of: {', '.join(_FLOW_OPERATORS)}); "
                "a flow array starts with its operator",
                line,
            )
            return None
        children = tuple(self.read(v) for v in value[1:])
        return _with_arity(self.ck, op, children, line)


def _with_arity(
    ck: Checker, op: str, children: tuple[Flow, ...], line: int | None
) -> Flow:
    """The node for ``op`` over its read children; report a wrong number of them."""
    arity = len(children)
    if arity == 0:
        ck.error(f"operator {op!r} has no children", line)
        return None
    if op == "optional":
        if arity != 1:
            ck.error(
                f"'optional' takes exactly one child, not {arity} "
                '(wrap several in ["seq", ...])',
                line,
            )
        return FlowNode("xor", (children[0], None))
    if op == "loop" and arity > 2:
        ck.error(
            f"'loop' takes a do part and an optional redo part, not {arity} children "
            '(wrap several in ["seq", ...] or ["xor", ...])',
            line,
        )
    if op == "loop" and arity == 1:
        return FlowNode("loop", (children[0], None))
    return FlowNode(op, children)
