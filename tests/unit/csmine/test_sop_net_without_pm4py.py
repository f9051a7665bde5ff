"""The SOP net built without pm4py (process_models.workflow_net) aligns at pm4py's costs.

pm4py is imported here only, in the test: its converter builds the reference net
(``flow_to_petri_net``) and its state-equation A* gives the reference costs, which
csmine's engines must reproduce on the pm4py-free net for every shipped SOP and for
random flows (choices, parallel blocks, loops, silent steps), trace by trace.
"""

from __future__ import annotations

import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from process_models import FlowNode, load_sop
from process_models.petri import enumerate_traces, flow_to_petri_net
from process_models.shipped import list_sops
from process_models.workflow_net import flow_to_workflow_net, to_pm4py

REPO = Path(__file__).resolve().parents[3]


def _pm4py_costs(flow, traces):
    from pm4py.algo.conformance.alignments.petri_net import algorithm as pm_align
    from pm4py.objects.log.obj import Event, EventLog, Trace

    net, im, fm = flow_to_petri_net(flow)
    log = EventLog([Trace([Event({"concept:name": a}) for a in t]) for t in traces])
    res = pm_align.apply(log, net, im, fm, parameters={pm_align.Parameters.SHOW_PROGRESS_BAR: False},
                         variant=pm_align.Variants.VERSION_STATE_EQUATION_A_STAR)
    return [int(r["cost"]) for r in res]


def _csmine_costs(flow, traces, method="auto"):
    from csmine.conformance.alignments import align_variants

    return [a.cost for a in align_variants(*flow_to_workflow_net(flow), traces, method=method)]


def _shape(net):
    degree = Counter((t.label, len(t.in_arcs), len(t.out_arcs)) for t in net.transitions)
    places = Counter((len(p.in_arcs), len(p.out_arcs)) for p in net.places)
    return len(net.places), len(net.transitions), len(net.arcs), degree, places


def _traces(flow, labels, rng, n=40):
    """Traces of the model, each bent a little (a step dropped, added, swapped), and random ones."""
    model = sorted(enumerate_traces(flow, max_repeats=2), key=lambda t: (len(t), t))[:30]
    out = set(model)
    for t in model:
        t = list(t)
        if t:
            k = rng.randrange(len(t))
            out.add(tuple(t[:k] + t[k + 1:]))
            out.add(tuple(t[:k] + [rng.choice(labels + ["zz-unknown"])] + t[k:]))
            j = rng.randrange(len(t))
            t[k], t[j] = t[j], t[k]
            out.add(tuple(t))
    while len(out) < len(model) * 3 + n:
        out.add(tuple(rng.choice(labels) for _ in range(rng.randrange(0, 7))))
    return sorted(out, key=lambda t: (len(t), t))


def _random_flow(rng, labels, depth=0):
    if depth >= 3 or rng.random() < 0.3:
        return None if rng.random() < 0.1 else rng.choice(labels)
    op = rng.choice(["seq", "xor", "and", "loop"])
    k = 2 if op == "loop" else rng.randrange(2, 4)
    return FlowNode(op, tuple(_random_flow(rng, labels, depth + 1) for _ in range(k)))


def test_hand_checked_nets():
    # seq(a, xor(b, c)): source -a-> p -(b | c)-> sink, no silent transition (the tree starts
    # with a step and ends inside a choice of steps, as pm4py's converter decides).
    flow = FlowNode("seq", ("a", FlowNode("xor", ("b", "c"))))
    net, im, fm = flow_to_workflow_net(flow)
    assert sorted(str(t.label) for t in net.transitions) == ["a", "b", "c"]
    assert len(net.places) == 3 and len(net.arcs) == 6
    assert [p.name for p in im] == ["source"] and [p.name for p in fm] == ["sink"]
    assert _csmine_costs(flow, [("a", "b"), ("a",), ("b",), ("a", "c", "c")]) == [0, 10_000, 10_000, 10_000]
    # xor(a, b) at the top: a silent transition after the source and one before the sink
    # (two silent moves on every run).
    flow = FlowNode("xor", ("a", "b"))
    net, _, _ = flow_to_workflow_net(flow)
    assert sorted(str(t.label) for t in net.transitions) == ["None", "None", "a", "b"]
    assert _csmine_costs(flow, [("a",), ("c",)]) == [2, 20_002]


@pytest.mark.parametrize("name", list_sops())
def test_shipped_sop_nets_equal_pm4py_and_cost_the_same(name):
    sop = load_sop(name)
    assert _shape(flow_to_workflow_net(sop.flow)[0]) == _shape(sop.to_petri_net()[0])
    labels = sorted({t.label for t in sop.to_petri_net()[0].transitions if t.label})
    traces = _traces(sop.flow, labels, random.Random(name))
    assert _csmine_costs(sop.flow, traces) == _pm4py_costs(sop.flow, traces)


@pytest.mark.parametrize("seed", range(25))
def test_random_flows_cost_what_pm4py_says(seed):
    rng = random.Random(seed)
    labels = ["a", "b", "c", "d", "e", "f"]
    flow = _random_flow(rng, labels)
    if not isinstance(flow, FlowNode):
        flow = FlowNode("seq", (flow, "a"))
    assert _shape(flow_to_workflow_net(flow)[0]) == _shape(flow_to_petri_net(flow)[0])
    traces = _traces(flow, labels, rng, n=15)
    assert _csmine_costs(flow, traces) == _pm4py_costs(flow, traces)


def test_pm4py_engine_accepts_the_net_converted():
    sop = load_sop("it-incident")
    net, im, fm = flow_to_workflow_net(sop.flow)
    pm_net, pm_im, pm_fm = to_pm4py(net, im, fm)
    assert _shape(pm_net) == _shape(net)
    traces = [("Accepted", "Completed"), ("Queued",), ()]
    assert _csmine_costs(sop.flow, traces, method="pm4py") == _pm4py_costs(sop.flow, traces)


def test_conformance_pass_does_not_import_pm4py():
    code = (
        "import sys, pandas as pd\n"
        "from process_models import load_sop\n"
        "from csmine.conformance.deviations import check_conformance\n"
        "sop = load_sop('complaint')\n"
        "steps = [s.name for s in sop.steps][:3]\n"
        "rows = [(f'T{i}', a, pd.Timestamp('2025-01-01', tz='UTC') + pd.Timedelta(minutes=10 * i + k))\n"
        "        for i in range(20) for k, a in enumerate(steps)]\n"
        "df = pd.DataFrame(rows, columns=['case:concept:name', 'concept:name', 'time:timestamp'])\n"
        "report = check_conformance(df, sop)\n"
        "print(report.tickets, 'pm4py' in sys.modules, 'scipy' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.split() == ["20", "False", "False"]
