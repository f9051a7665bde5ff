"""The flow on its own: walking it, and its TOML-list and one-line text forms."""

from __future__ import annotations

from process_models.flow import (
    SILENT,
    FlowNode,
    flow_to_list,
    flow_to_text,
    iter_flow_steps,
)

# Receive → [Escalate] → (Handle ↺ Wait) → (Call ‖ Mail) → (Close | τ)
FLOW = FlowNode(
    "seq",
    (
        "Receive",
        FlowNode("xor", ("Escalate", None)),
        FlowNode("loop", ("Handle", "Wait")),
        FlowNode("and", ("Call", "Mail")),
        FlowNode("xor", ("Close", None, "Receive")),
    ),
)


def test_iter_flow_steps_keeps_repeats_and_skips_silent_steps():
    assert list(iter_flow_steps(FLOW)) == [
        "Receive",
        "Escalate",
        "Handle",
        "Wait",
        "Call",
        "Mail",
        "Close",
        "Receive",
    ]
    assert list(iter_flow_steps(None)) == []
    assert list(iter_flow_steps("A")) == ["A"]


def test_flow_to_list_writes_optional_and_one_part_loops_back():
    assert flow_to_list(FLOW) == [
        "seq",
        "Receive",
        ["optional", "Escalate"],
        ["loop", "Handle", "Wait"],
        ["and", "Call", "Mail"],
        ["xor", "Close", SILENT, "Receive"],
    ]
    assert flow_to_list(FlowNode("loop", ("A", None))) == ["loop", "A"]
    assert flow_to_list(None) == "tau"


def test_flow_to_text_reads_each_operator():
    assert flow_to_text(FLOW) == (
        "Receive → [Escalate] → (Handle ↺ Wait) → (Call ‖ Mail) → (Close | τ | Receive)"
    )
    assert flow_to_text(FlowNode("loop", ("A", None))) == "(A ↺)"
    assert flow_to_text(FlowNode("loop", ("A",))) == "(A ↺)"
    assert flow_to_text(None) == "τ"
