"""The parts of validation on their own: issues, table checks, flow checks, SOP checks.

Each check gets a small hand-written input and its exact issues (message, line).
"""

from __future__ import annotations

import tomllib
from datetime import timedelta

from process_models import SOP, FlowNode, Step, Targets, TimeLimit
from process_models.toml_format import locate
from process_models.validation import ValidationIssue, check_sop
from process_models.validation.flow import check_flow
from process_models.validation.issues import Checker, sorted_issues
from process_models.validation.tables import (
    check_closed_when,
    check_limits,
    check_steps,
    check_targets,
)


def checker(text=""):
    return Checker(locate(text))


def found(ck):
    return [(i.severity, i.line, i.message) for i in ck.issues]


# -- issues ----------------------------------------------------------------------


def test_issue_format_is_compiler_style():
    assert ValidationIssue("error", "bad", 12).format("x.toml") == (
        "x.toml:12: error: bad"
    )
    assert ValidationIssue("error", "bad", 12).format() == "line 12: error: bad"
    assert ValidationIssue("warning", "w").format("x.toml") == "x.toml: warning: w"
    assert ValidationIssue("warning", "w").format() == "warning: w"


def test_sorted_issues_keeps_file_order_and_puts_unknown_lines_last():
    a, b, c, d = (
        ValidationIssue("error", "no line"),
        ValidationIssue("error", "five", 5),
        ValidationIssue("error", "two", 2),
        ValidationIssue("warning", "five again", 5),
    )
    assert sorted_issues([a, b, c, d]) == [c, b, d, a]


def test_unknown_keys_name_the_table_they_are_in():
    ck = checker(
        'idd = "x"\n\n[targets]\nspeed = 1\n\n'
        '[[steps]]\nname = "A"\n\n[[steps]]\nnmae = "B"\n'
    )
    ck.unknown_keys({"idd": "x"}, ("id",), "", None)
    ck.unknown_keys({"speed": 1}, ("first_response",), "targets", None)
    ck.unknown_keys({"nmae": "B"}, ("name", "role"), "steps", 1)
    assert found(ck) == [
        ("error", 1, "unknown key 'idd' in the top level (expected one of: id)"),
        (
            "error",
            4,
            "unknown key 'speed' in [targets] (expected one of: first_response)",
        ),
        (
            "error",
            10,
            "unknown key 'nmae' in [[steps]] #2 (expected one of: name, role)",
        ),
    ]


# -- tables ----------------------------------------------------------------------


def test_targets_read_minutes_fractions_scores_and_other_numbers():
    ck = checker()
    targets = check_targets(
        {"first_response": 45, "resolution_rate": 0.95, "satisfaction": 88, "nps": 40},
        ck,
    )
    assert ck.issues == []
    assert targets == Targets(
        first_response=timedelta(minutes=45),
        resolution_rate=0.95,
        satisfaction=88.0,
        other=(("nps", 40.0),),
    )


def test_bad_targets_keep_their_defaults():
    ck = checker()
    targets = check_targets(
        {"first_response": 0, "resolution_rate": 98, "satisfaction": 120}, ck
    )
    assert [i.message for i in ck.issues] == [
        "target 'first_response' must be longer than zero",
        "target 'resolution_rate' = 98 looks like a percentage; write it as a "
        "fraction (0.98)",
        "target 'satisfaction' must be a score from 0 to 100, not 120",
    ]
    assert targets == Targets()


def test_closed_when_is_stripped_and_deduplicated():
    ck = checker()
    assert check_closed_when([" Closed", "Closed", "Resolved"], ck) == (
        "Closed",
        "Resolved",
    )
    assert check_closed_when("Closed", ck) == ()
    assert [i.message for i in ck.issues] == [
        "'closed_when' must be a list of activity names, "
        'e.g. closed_when = ["Closed"]'
    ]


LIMITS = """\
[[limits]]
step = "A"
within = "30 min"

[[limits]]
step = "A"
within = "1 h"

[[limits]]
step = "B"
within = "2 h"
since = "B"
business_hours = true
"""


def test_one_limit_per_step_and_no_clock_from_the_step_itself():
    ck = checker(LIMITS)
    limits = check_limits(tomllib.loads(LIMITS)["limits"], ck, {"A", "B"})
    assert limits == [TimeLimit("A", timedelta(minutes=30))]
    assert found(ck) == [
        (
            "error",
            6,
            "step 'A' has a second time limit (first at line 2); keep one "
            "[[limits]] table per step",
        ),
        ("error", 12, "the limit of step 'B' cannot start at the step itself"),
    ]


# -- the flow --------------------------------------------------------------------

FLOW = """\
flow = ["seq",
  "A",
  ["loop", "B"],
  ["optional", "X"],
  "A",
]

[[steps]]
name = "A"
label_zh = "甲"
role = "agent"

[[steps]]
name = "B"
label_zh = "乙"
role = "agent"

[[steps]]
name = "C"
label_zh = "丙"
role = "agent"
"""


def test_flow_reads_operators_and_reports_each_string_at_its_line():
    ck = checker(FLOW)
    data = tomllib.loads(FLOW)
    flow = check_flow(data, ck, check_steps(data["steps"], ck))
    assert flow == FlowNode(
        "seq",
        ("A", FlowNode("loop", ("B", None)), FlowNode("xor", ("X", None)), "A"),
    )
    assert found(ck) == [
        (
            "error",
            4,
            "unknown step 'X' in flow (steps: A, B, C; \"tau\" for a silent step)",
        ),
        (
            "error",
            19,
            "step 'C' is never used in the flow (unreachable): add it to flow or "
            "mark it off_flow = true",
        ),
    ]


def test_missing_flow_is_reported_on_line_one():
    ck = checker('id = "x"\n')
    assert check_flow({"id": "x"}, ck, []) is None
    assert found(ck) == [
        (
            "error",
            1,
            "the SOP has no 'flow' (add flow = [\"seq\", ...] before any table)",
        )
    ]


# -- checks of a built SOP -----------------------------------------------------------


def test_check_sop_reports_every_reference_to_a_missing_step():
    sop = SOP(
        id="x",
        title="X",
        version="1",
        steps=(
            Step("A", "甲", "agent"),
            Step("B", "", "agent", TimeLimit("B", timedelta(hours=1), "Nope")),
        ),
        flow=FlowNode("seq", ("A", "Z")),
        roles={"close": ("Q",)},
        aliases={"a": "W"},
    )
    assert [(i.severity, i.step, i.message) for i in check_sop(sop)] == [
        ("warning", "B", "step 'B' has no Chinese label"),
        ("error", "B", "step 'B' is never used in the flow (unreachable)"),
        ("error", "Z", "unknown step 'Z' in flow"),
        ("error", "Q", "unknown step 'Q' in role 'close'"),
        ("error", "W", "alias 'a' points to unknown step 'W'"),
        ("error", "B", "unknown step 'Nope' in the limit of 'B'"),
    ]
