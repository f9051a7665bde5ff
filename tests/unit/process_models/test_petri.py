from __future__ import annotations

from process_models import FlowNode, check_soundness, enumerate_traces, load_sop
from process_models.petri import flow_to_petri_net, process_tree_to_flow


def test_enumerate_small_flows_by_hand():
    assert enumerate_traces(FlowNode("seq", ("a", None, "b"))) == {("a", "b")}
    assert enumerate_traces(FlowNode("xor", ("a", None))) == {("a",), ()}
    assert enumerate_traces(FlowNode("and", ("a", FlowNode("seq", ("b", "c"))))) == {
        ("a", "b", "c"),
        ("b", "a", "c"),
        ("b", "c", "a"),
    }
    assert enumerate_traces(FlowNode("loop", ("a", "b")), max_repeats=2) == {
        ("a",),
        ("a", "b", "a"),
        ("a", "b", "a", "b", "a"),
    }
    assert enumerate_traces(FlowNode("loop", ("a", None)), max_repeats=1) == {
        ("a",),
        ("a", "a"),
    }


def test_process_tree_round_trip():
    sop = load_sop("consultation")
    assert process_tree_to_flow(sop.to_process_tree()) == FlowNode(
        sop.flow.operator,
        tuple(
            # a one-child loop becomes loop(do, tau) in pm4py
            c
            if not (
                isinstance(c, FlowNode)
                and c.operator == "loop"
                and len(c.children) == 1
            )
            else FlowNode("loop", (c.children[0], None))
            for c in sop.flow.children
        ),
    )


def test_soundness_of_a_tree_net():
    net, im, fm = flow_to_petri_net(FlowNode("seq", ("a", FlowNode("and", ("b", "c")))))
    result = check_soundness(net, im, fm)
    assert (result.workflow_net, result.easy_sound, result.sound) == (True, True, True)


def _net(arcs, labels):
    from pm4py.objects.petri_net.obj import Marking, PetriNet
    from pm4py.objects.petri_net.utils.petri_utils import add_arc_from_to

    net = PetriNet("hand")
    nodes = {}
    for name in {n for arc in arcs for n in arc}:
        if name.startswith("p"):
            nodes[name] = PetriNet.Place(name)
            net.places.add(nodes[name])
        else:
            nodes[name] = PetriNet.Transition(name, labels.get(name))
            net.transitions.add(nodes[name])
    for a, b in arcs:
        add_arc_from_to(nodes[a], nodes[b], net)
    return net, Marking({nodes["p_in"]: 1}), Marking({nodes["p_out"]: 1})


def test_choice_joined_by_synchronisation_is_not_easy_sound():
    # p_in -> (a | b) -> sync needs both: the end can never be reached.
    net, im, fm = _net(
        [
            ("p_in", "ta"),
            ("p_in", "tb"),
            ("ta", "p1"),
            ("tb", "p2"),
            ("p1", "tj"),
            ("p2", "tj"),
            ("tj", "p_out"),
        ],
        {"ta": "a", "tb": "b", "tj": "j"},
    )
    result = check_soundness(net, im, fm)
    assert result.workflow_net and not result.easy_sound
    assert result.message == "the final marking cannot be reached"


def test_easy_sound_but_not_sound():
    # a finishes; after b the net waits for a token y never gives at the same time.
    net, im, fm = _net(
        [
            ("p_in", "ta"),
            ("ta", "p_out"),
            ("p_in", "tb"),
            ("tb", "p_dead"),
            ("p_in", "ty"),
            ("ty", "p_never"),
            ("p_dead", "tz"),
            ("p_never", "tz"),
            ("tz", "p_out"),
        ],
        {"ta": "a", "tb": "b", "ty": "y", "tz": "z"},
    )
    result = check_soundness(net, im, fm)
    assert result.workflow_net and result.easy_sound and result.sound is False
