"""The parts of BPMN in and out on their own: reduction, layout, the csmine extension.

Small hand-built graphs and SOPs with answers worked out by hand.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from lxml import etree

from process_models import (
    SOP,
    FlowNode,
    ModelFormatError,
    Step,
    Targets,
    TimeLimit,
    UnsupportedConstructError,
)
from process_models.bpmn.extension import Defaults, sop_from_extension, write_extension
from process_models.bpmn.layout import layout_diagram
from process_models.bpmn.namespaces import (
    BPMN_NS,
    CSMINE_NS,
    bpmn_tag,
    local_name,
    namespace,
)
from process_models.bpmn.reduce import Graph, Node, reduce_graph


def graph(nodes, flows):
    """Nodes as ``id:kind`` (``A`` alone is a task fragment of step A)."""
    g = Graph()
    starts, ends = [], []
    for spec in nodes:
        node_id, _, kind = spec.partition(":")
        node = g.add(Node(node_id, kind or "frag", None if kind else node_id))
        (starts if kind == "start" else ends if kind == "end" else []).append(node)
    for a, b in flows:
        g.connect(a, b)
    return g, starts, ends


# -- reduce ----------------------------------------------------------------------


def test_a_sequence_and_a_choice_fold_into_a_tree():
    g, starts, ends = graph(
        ["S:start", "A", "G1:xor", "B", "C", "G2:xor", "E:end"],
        [
            ("S", "A"),
            ("A", "G1"),
            ("G1", "B"),
            ("G1", "C"),
            ("B", "G2"),
            ("C", "G2"),
            ("G2", "E"),
        ],
    )
    assert reduce_graph(g, starts, ends, "t") == FlowNode(
        "seq", ("A", FlowNode("xor", ("B", "C")))
    )


def test_a_join_a_body_and_a_split_back_fold_into_a_loop():
    g, starts, ends = graph(
        ["S:start", "J:xor", "A", "K:xor", "E:end"],
        [("S", "J"), ("J", "A"), ("A", "K"), ("K", "E"), ("K", "J")],
    )
    assert reduce_graph(g, starts, ends, "t") == FlowNode("loop", ("A", None))


def test_several_flows_out_of_a_task_run_in_parallel():
    g, starts, ends = graph(
        ["S:start", "A", "B", "C", "J:and", "E:end"],
        [("S", "A"), ("A", "B"), ("A", "C"), ("B", "J"), ("C", "J"), ("J", "E")],
    )
    assert reduce_graph(g, starts, ends, "t") == FlowNode(
        "seq", ("A", FlowNode("and", ("B", "C")))
    )


def test_a_parallel_split_into_an_exclusive_join_is_stuck_at_the_split():
    g, starts, ends = graph(
        ["S:start", "P:and", "A", "B", "X:xor", "E:end"],
        [("S", "P"), ("P", "A"), ("P", "B"), ("A", "X"), ("B", "X"), ("X", "E")],
    )
    with pytest.raises(UnsupportedConstructError, match="not block-structured") as e:
        reduce_graph(g, starts, ends, "t")
    assert e.value.element_id == "P"


def test_events_are_checked_first():
    g, starts, ends = graph(["A"], [])
    with pytest.raises(ModelFormatError, match="the process has no start event"):
        reduce_graph(g, starts, ends, "t")


# -- layout ----------------------------------------------------------------------


def test_a_two_step_sequence_is_laid_out_on_one_axis():
    sop = SOP(
        id="x",
        title="X",
        version="1",
        steps=(Step("A", "甲", "agent"), Step("B", "乙", "agent")),
        flow=FlowNode("seq", ("A", "B")),
    )
    process_id, diagram = layout_diagram(sop)
    assert process_id == "Process_x"
    # start at x 160 (36 wide), A 50 after it (120 wide), B 50 after A, end 50 after
    # B; the axis runs through the middle of the 80-high tasks at y 80 + 40.
    assert [(s.kind, s.step, s.x, s.y, s.w, s.h) for s in diagram.shapes] == [
        ("start", None, 160, 102, 36, 36),
        ("task", "A", 246, 80, 120, 80),
        ("task", "B", 416, 80, 120, 80),
        ("end", None, 586, 102, 36, 36),
    ]
    assert [e.points for e in diagram.edges] == [
        [(366, 120), (416, 120)],  # A -> B
        [(196, 120), (246, 120)],  # start -> A
        [(536, 120), (586, 120)],  # B -> end
    ]
    ids = [s.id for s in diagram.shapes] + [e.id for e in diagram.edges]
    assert ids == [s.id for s in layout_diagram(sop)[1].shapes] + [
        e.id for e in layout_diagram(sop)[1].edges
    ], "ids are deterministic"
    assert ids[0] == "StartEvent_1" and ids[1].startswith("Activity_")


# -- the csmine extension -------------------------------------------------------------

FULL = SOP(
    id="ext",
    title="Extension",
    version="3",
    steps=(
        Step("A", "甲", "agent", TimeLimit("A", timedelta(minutes=30))),
        Step("B", "乙", "specialist", TimeLimit("B", timedelta(hours=2), "A")),
        Step("C", "丙", "agent", TimeLimit("C", timedelta(hours=1), "B", True)),
        Step("R", "重开", "agent", off_flow=True),
    ),
    flow=FlowNode("seq", ("A", "B", "C")),
    roles={"first_response": ("A",), "close": ("B",)},
    aliases={"done": "B", "start": "A"},
    title_zh="扩展",
)
DEFAULTS = Defaults(id="p", title="Drawn", version="1", description="")


def extension_of(sop):
    process = etree.Element(bpmn_tag("process"), nsmap={"csmine": CSMINE_NS})
    write_extension(process, sop)
    return process.find(bpmn_tag("extensionElements"))[0]


def test_the_extension_reads_back_to_the_same_sop():
    drawn = {s.name: Step(s.name, "", "agent") for s in FULL.steps if not s.off_flow}
    back = sop_from_extension(
        extension_of(FULL), DEFAULTS, FULL.flow, drawn, "x.bpmn"
    )
    assert back == FULL and back.fingerprint == FULL.fingerprint
    assert back.source == "x.bpmn"


def test_steps_whose_tasks_were_deleted_take_their_references_along():
    drawn = {"A": Step("A", "", "agent"), "C": Step("C", "", "agent")}
    drawn["N"] = Step("N", "新", "agent")  # drawn in a modeler since
    back = sop_from_extension(
        extension_of(FULL), DEFAULTS, FlowNode("seq", ("A", "C", "N")), drawn, "x"
    )
    assert back.steps == (
        FULL.steps[0],
        Step("C", "丙", "agent"),  # its clock started at B, which is gone
        FULL.steps[3],
        Step("N", "新", "agent"),
    )
    assert back.roles == {"first_response": ("A",), "close": ()}
    assert back.aliases == {"start": "A"}
    assert back.targets == Targets()


def test_a_bad_limit_in_the_extension_names_its_line():
    sop_el = etree.fromstring(
        f'<sop xmlns="{CSMINE_NS}" id="x">\n'
        '<step name="A" labelZh="甲" role="agent" offFlow="false"/>\n'
        '<limit step="A" within="soon"/>\n'
        "</sop>"
    )
    drawn = {"A": Step("A", "", "agent")}
    with pytest.raises(ModelFormatError, match=r"limit of 'A' at line 3: cannot read"):
        sop_from_extension(sop_el, DEFAULTS, "A", drawn, "x.bpmn")


def test_tag_helpers():
    tag = bpmn_tag("task")
    assert tag == f"{{{BPMN_NS}}}task"
    assert (local_name(tag), namespace(tag)) == ("task", BPMN_NS)
    assert (local_name("plain"), namespace("plain")) == ("plain", "")
    assert local_name(etree.Comment) == ""
