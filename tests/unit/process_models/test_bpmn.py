"""BPMN in and out: round trips keep the language, modeler files import, bad ones fail.

Bad files fail clearly: each message names the element and what to draw instead.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from process_models import (
    SOP,
    FlowNode,
    ModelFormatError,
    Step,
    UnsupportedConstructError,
    dump_sop,
    enumerate_traces,
    list_sops,
    load_sop,
    validate_sop,
)
from process_models.bpmn import (
    BPMN_NS,
    BPMNDI_NS,
    DC_NS,
    DI_NS,
    parse_bpmn,
    write_bpmn,
    write_pnml,
)
from process_models.validation import parse_sop_text

DATA = Path(__file__).resolve().parents[2] / "data" / "sop"
NS = {"bpmn": BPMN_NS, "bpmndi": BPMNDI_NS, "dc": DC_NS, "di": DI_NS}


def playout(sop, max_length):
    """All visible traces up to max_length, by pm4py's exhaustive net play-out."""
    from pm4py.algo.simulation.playout.petri_net import algorithm as playout_algo

    net, im, fm = sop.to_petri_net()
    log = playout_algo.apply(
        net,
        im,
        fm,
        variant=playout_algo.Variants.EXTENSIVE,
        parameters={"maxTraceLength": max_length},
    )
    return {tuple(e["concept:name"] for e in trace) for trace in log}


def bounded(sop, max_length, repeats):
    return {
        t
        for t in enumerate_traces(sop.flow, max_repeats=repeats)
        if len(t) <= max_length
    }


@pytest.mark.parametrize("name", list_sops())
def test_bpmn_round_trip_keeps_the_language_and_the_sop(name):
    sop = load_sop(name)
    back = parse_bpmn(write_bpmn(sop), source=f"{name}.bpmn")
    assert enumerate_traces(back.flow, max_repeats=2) == enumerate_traces(
        sop.flow, max_repeats=2
    )
    assert back.flow == sop.flow
    assert back == sop and back.fingerprint == sop.fingerprint


@pytest.mark.parametrize("name", list_sops())
def test_toml_bpmn_toml_round_trip(name):
    sop = load_sop(name)
    toml_again = dump_sop(parse_bpmn(write_bpmn(sop)))
    again = parse_sop_text(toml_again)
    assert enumerate_traces(again.flow, max_repeats=2) == enumerate_traces(
        sop.flow, max_repeats=2
    )
    assert again.fingerprint == sop.fingerprint
    assert toml_again == dump_sop(sop)


@pytest.mark.parametrize(("name", "length"), [("complaint", 11), ("consultation", 12)])
def test_played_out_languages_agree(name, length):
    sop = load_sop(name)
    back = parse_bpmn(write_bpmn(sop))
    played = playout(back, length)
    assert played == playout(sop, length)
    # ... and equal the tree's own language, enumerated independently.
    assert played == bounded(sop, length, repeats=length)
    assert len(played) > 5


def test_modeler_file_imports():
    sop = load_sop(DATA / "refund-modeler.bpmn")
    assert sop.id == "refund" and sop.title == "Refund request" and sop.version == "3"
    assert [(s.name, s.label_zh, s.role) for s in sop.steps] == [
        ("Receive request", "接收申请", "agent"),
        ("Check order", "核对订单", "agent"),
        ("Call customer", "致电客户", "agent"),
        ("Check payment", "核实支付", "finance"),
        ("Refund", "退款", "finance"),
        ("Explain refusal", "解释拒绝原因", "agent"),
        ("Follow up", "跟进", "agent"),
    ]
    assert sop.step("Call customer").description.startswith("Confirm the reason")
    head = ("Receive request", "Check order")
    expected = {
        head + both + (outcome,) + ("Follow up",) * n
        for both in (
            ("Call customer", "Check payment"),
            ("Check payment", "Call customer"),
        )
        for outcome in ("Refund", "Explain refusal")
        for n in (1, 2)
    }
    assert enumerate_traces(sop.flow, max_repeats=1) == expected
    assert playout(sop, 7) == expected
    assert validate_sop(DATA / "refund-modeler.bpmn") == []


def test_written_bpmn_has_a_usable_layout():
    for name in list_sops():
        root = etree.fromstring(write_bpmn(load_sop(name)).encode())
        process = root.find("bpmn:process", NS)
        nodes = {
            el.get("id"): el
            for el in process
            if el.get("id") and etree.QName(el).localname != "sequenceFlow"
        }
        flows = process.findall("bpmn:sequenceFlow", NS)
        shapes = {
            s.get("bpmnElement"): s.find("dc:Bounds", NS)
            for s in root.iter(f"{{{BPMNDI_NS}}}BPMNShape")
        }
        edges = {
            e.get("bpmnElement"): e.findall("di:waypoint", NS)
            for e in root.iter(f"{{{BPMNDI_NS}}}BPMNEdge")
        }
        assert set(shapes) == set(nodes)
        assert set(edges) == {f.get("id") for f in flows}
        box = {
            k: tuple(float(b.get(a)) for a in ("x", "y", "width", "height"))
            for k, b in shapes.items()
        }
        for a in box:  # no two shapes overlap
            for b in box:
                if a < b:
                    ax, ay, aw, ah = box[a]
                    bx, by, bw, bh = box[b]
                    assert (
                        ax + aw <= bx or bx + bw <= ax or ay + ah <= by or by + bh <= ay
                    ), (name, a, b)
        for f in flows:  # edges start on their source and end on their target
            points = [
                (float(p.get("x")), float(p.get("y"))) for p in edges[f.get("id")]
            ]
            assert len(points) >= 2
            for (px, py), ref in (
                (points[0], f.get("sourceRef")),
                (points[-1], f.get("targetRef")),
            ):
                x, y, w, h = box[ref]
                assert x <= px <= x + w and y <= py <= y + h, (name, f.get("id"))
            for (x1, y1), (x2, y2) in itertools.pairwise(points):
                assert x1 == x2 or y1 == y2  # orthogonal segments


def test_pnml_export_reads_back_with_pm4py(tmp_path):
    import pm4py

    sop = load_sop("complaint")
    path = tmp_path / "complaint.pnml"
    path.write_text(write_pnml(sop), encoding="utf-8")
    net, im, fm = pm4py.read_pnml(str(path))
    labels = sorted(t.label for t in net.transitions if t.label)
    assert labels == sorted(sop.flow_steps)
    from pm4py.algo.simulation.playout.petri_net import algorithm as playout_algo

    log = playout_algo.apply(
        net,
        im,
        fm,
        variant=playout_algo.Variants.EXTENSIVE,
        parameters={"maxTraceLength": 11},
    )
    assert {tuple(e["concept:name"] for e in t) for t in log} == playout(sop, 11)


# -- bad input ------------------------------------------------------------------------

HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<bpmn:definitions id="D"'
    ' xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">\n'
    '<bpmn:process id="Process_1">\n'
)
TAIL = "</bpmn:process>\n</bpmn:definitions>\n"


def doc(*lines):
    return HEAD + "\n".join(lines) + "\n" + TAIL


def flow(fid, a, b):
    return f'<bpmn:sequenceFlow id="{fid}" sourceRef="{a}" targetRef="{b}" />'


SIMPLE = [
    '<bpmn:startEvent id="S" />',
    '<bpmn:task id="A" name="Answer" />',
    '<bpmn:endEvent id="E" />',
    flow("f1", "S", "A"),
    flow("f2", "A", "E"),
]


def import_error(text, cls=UnsupportedConstructError):
    with pytest.raises(cls) as info:
        parse_bpmn(text, source="drawn.bpmn")
    return info.value


def test_simple_document_imports():
    assert parse_bpmn(doc(*SIMPLE)).flow == "Answer"


def test_inclusive_gateway_is_named_with_the_fix():
    err = import_error(
        doc(*SIMPLE, '<bpmn:inclusiveGateway id="Gateway_0inc1ab" name="Which?" />')
    )
    assert err.element_id == "Gateway_0inc1ab" and err.line == 9
    assert (
        "inclusiveGateway 'Gateway_0inc1ab' (Which?) at line 9 is not supported"
        in str(err)
    )
    assert "use exclusive gateways" in str(err)


def test_boundary_event_points_to_time_limits():
    err = import_error(
        doc(
            *SIMPLE,
            '<bpmn:boundaryEvent id="Event_1tmr" attachedToRef="A">'
            "<bpmn:timerEventDefinition /></bpmn:boundaryEvent>",
        )
    )
    assert err.element_id == "Event_1tmr"
    assert "boundaryEvent 'Event_1tmr'" in str(err) and "time limit" in str(err)


@pytest.mark.parametrize(
    ("element", "hint"),
    [
        ('<bpmn:subProcess id="Activity_sub" />', "sub-process's steps"),
        ('<bpmn:eventBasedGateway id="Gateway_evt" />', "exclusive gateway"),
        ('<bpmn:complexGateway id="Gateway_cpx" />', "exclusive or parallel"),
        ('<bpmn:callActivity id="Activity_call" />', "called process"),
        ('<bpmn:intermediateCatchEvent id="Event_wait" />', "make the wait a task"),
    ],
)
def test_other_unsupported_elements(element, hint):
    err = import_error(doc(*SIMPLE, element))
    assert err.element_id in element and hint in str(err) and "drawn.bpmn" in str(err)


def test_multi_instance_task():
    text = doc(*SIMPLE).replace(
        '<bpmn:task id="A" name="Answer" />',
        '<bpmn:task id="A" name="Answer">'
        "<bpmn:multiInstanceLoopCharacteristics /></bpmn:task>",
    )
    err = import_error(text)
    assert err.element_id == "A" and "multi-instance" in str(err)


def test_standard_loop_task_is_a_loop():
    text = doc(*SIMPLE).replace(
        '<bpmn:task id="A" name="Answer" />',
        '<bpmn:task id="A" name="Answer">'
        "<bpmn:standardLoopCharacteristics /></bpmn:task>",
    )
    assert enumerate_traces(parse_bpmn(text).flow, max_repeats=2) == {
        ("Answer",),
        ("Answer",) * 2,
        ("Answer",) * 3,
    }


def test_parallel_split_with_exclusive_join_is_not_block_structured():
    text = doc(
        '<bpmn:startEvent id="S" />',
        '<bpmn:parallelGateway id="Gateway_split" />',
        '<bpmn:task id="A" name="A" />',
        '<bpmn:task id="B" name="B" />',
        '<bpmn:exclusiveGateway id="Gateway_join" />',
        '<bpmn:endEvent id="E" />',
        flow("f1", "S", "Gateway_split"),
        flow("f2", "Gateway_split", "A"),
        flow("f3", "Gateway_split", "B"),
        flow("f4", "A", "Gateway_join"),
        flow("f5", "B", "Gateway_join"),
        flow("f6", "Gateway_join", "E"),
    )
    err = import_error(text)
    assert err.element_id == "Gateway_split" and err.line == 5
    assert "not block-structured" in str(err) and "join of the same type" in str(err)


def test_two_start_events():
    err = import_error(
        doc(*SIMPLE, '<bpmn:startEvent id="S2" />', flow("f9", "S2", "A"))
    )
    assert err.element_id == "S2" and "2 start events" in str(err)


def test_dangling_gateway():
    err = import_error(
        doc(
            *SIMPLE,
            '<bpmn:exclusiveGateway id="Gateway_lost" />',
            flow("f9", "A", "Gateway_lost"),
        )
    )
    assert err.element_id == "Gateway_lost" and "no outgoing sequence flow" in str(err)


def test_flow_to_unknown_element():
    err = import_error(doc(*SIMPLE, flow("Flow_bad", "A", "Nowhere")))
    assert err.element_id == "Flow_bad" and "'Nowhere'" in str(err)


def test_malformed_xml_reports_the_line():
    err = import_error(
        doc(*SIMPLE).replace('<bpmn:endEvent id="E" />', '<bpmn:endEvent id="E">'),
        ModelFormatError,
    )
    assert "not well-formed XML at line" in str(err) and err.line is not None


def test_not_bpmn():
    err = import_error(
        '<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>',
        ModelFormatError,
    )
    assert "not a BPMN 2.0 <definitions>" in str(err)


def test_unnamed_task():
    err = import_error(doc(*SIMPLE).replace(' name="Answer"', ""), ModelFormatError)
    assert "task 'A' at line 5 has no name" in str(err)


def test_validate_reports_bpmn_errors_as_issues(tmp_path):
    path = tmp_path / "bad.bpmn"
    path.write_text(
        doc(*SIMPLE, '<bpmn:inclusiveGateway id="Gateway_x" />'), encoding="utf-8"
    )
    [issue] = validate_sop(path)
    assert (
        issue.severity == "error" and issue.line == 9 and "Gateway_x" in issue.message
    )


def test_bpmn_without_chinese_labels_warns():
    issues = validate_sop(doc(*SIMPLE))
    assert [(i.severity, i.step) for i in issues] == [("warning", "Answer")]


# -- property: any flow survives BPMN out and in ---------------------------------------

_leaf = st.sampled_from(["A", "B", "C", "D", None])


def _node(children):
    return st.one_of(
        st.builds(
            lambda c: FlowNode("seq", tuple(c)),
            st.lists(children, min_size=2, max_size=3),
        ),
        st.builds(
            lambda c: FlowNode("xor", tuple(c)),
            st.lists(children, min_size=2, max_size=3),
        ),
        st.builds(
            lambda c: FlowNode("and", tuple(c)),
            st.lists(children, min_size=2, max_size=2),
        ),
        st.builds(lambda a, b: FlowNode("loop", (a, b)), children, children),
    )


_flows = st.recursive(_leaf, _node, max_leaves=7)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_flows)
def test_any_flow_round_trips_through_bpmn(flow):
    steps = tuple(Step(n, f"步骤{n}", "agent") for n in "ABCD")
    used = {s for t in enumerate_traces(flow, max_repeats=1) for s in t}
    if not used:
        return  # a flow with no steps is rejected before it gets here
    sop = SOP("prop", "Property", "1", tuple(s for s in steps if s.name in used), flow)
    xml = write_bpmn(sop)
    back = parse_bpmn(xml)
    assert enumerate_traces(back.flow, max_repeats=2) == enumerate_traces(
        flow, max_repeats=2
    )
    root = etree.fromstring(xml.encode())
    boxes = [
        tuple(float(b.get(a)) for a in ("x", "y", "width", "height"))
        for b in root.iter(f"{{{DC_NS}}}Bounds")
    ]
    for i, (ax, ay, aw, ah) in enumerate(boxes):  # the layout never overlaps shapes
        for bx, by, bw, bh in boxes[i + 1 :]:
            assert ax + aw <= bx or bx + bw <= ax or ay + ah <= by or by + bh <= ay
