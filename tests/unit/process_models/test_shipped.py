"""The SOPs shipped with csmine: valid, sound, bilingual, and fit for their logs."""

from __future__ import annotations

import re

import pytest

from process_models import (
    check_soundness,
    enumerate_traces,
    list_sops,
    load_sop,
    validate_sop,
)
from tests.datasets import BPIC2013, dataset_path

CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.mark.parametrize("name", list_sops())
def test_shipped_sop_validates_clean_and_is_sound(name):
    assert validate_sop(name) == []
    net, im, fm = load_sop(name).to_petri_net()
    result = check_soundness(net, im, fm)
    assert result.workflow_net and result.easy_sound and result.sound, result


@pytest.mark.parametrize("name", list_sops())
def test_every_step_has_a_chinese_label_and_a_role(name):
    sop = load_sop(name)
    for step in sop.steps:
        assert CJK.search(step.label_zh), step
        assert step.role
    assert CJK.search(sop.title_zh)


@pytest.mark.parametrize("name", list_sops())
def test_net_labels_are_the_flow_steps(name):
    sop = load_sop(name)
    net, _, _ = sop.to_petri_net()
    visible = {t.label for t in net.transitions if t.label is not None}
    assert visible == set(sop.flow_steps)


def test_complaint_language():
    sop = load_sop("complaint")
    traces = enumerate_traces(sop.flow, max_repeats=1)
    head, tail = ("Receive", "Record", "Classify"), ("Callback", "Archive")
    assert traces == {
        head + esc + handle + tail
        for esc in ((), ("Escalate",))
        for handle in (("Handle",), ("Handle", "Wait for customer", "Handle"))
    }


def test_consultation_language_one_question():
    traces = enumerate_traces(load_sop("consultation").flow, max_repeats=0)
    assert traces == {
        (
            "Greet and respond",
            "Listen and restate",
            "Answer",
            "Ask for anything else",
            "Thank and close",
        ),
        (
            "Greet and respond",
            "Listen and restate",
            "Tell the wait",
            "Look up",
            "Answer",
            "Ask for anything else",
            "Thank and close",
        ),
    }


def test_service_script_and_needs_identification_order():
    script = enumerate_traces(load_sop("service-script").flow, max_repeats=0)
    assert script == {
        (
            "Greeting",
            "Restate the problem",
            "Offer options",
            "Confirm and execute",
            "Record follow-up",
        )
    }
    needs = enumerate_traces(load_sop("needs-identification").flow, max_repeats=0)
    assert needs == {
        ("Judge emotion", "Dig out the need", "Set priority"),
        ("Judge emotion", "Soothe", "Dig out the need", "Set priority"),
    }


BPIC_ACTIVITIES = {
    "Accepted/In Progress",
    "Queued/Awaiting Assignment",
    "Accepted/Wait - User",
    "Completed/Resolved",
    "Completed/Closed",
    "Accepted/Assigned",
    "Accepted/Wait",
    "Accepted/Wait - Implementation",
    "Accepted/Wait - Vendor",
    "Accepted/Wait - Customer",
    "Completed/In Call",
    "Unmatched/Unmatched",
    "Completed/Cancelled",
}


def test_it_incident_aliases_cover_the_bpic_vocabulary():
    sop = load_sop("it-incident")
    assert set(sop.aliases) == BPIC_ACTIVITIES
    assert sop.roles["first_response"] == ("Work in progress",)
    assert sop.roles["resolution"][0] == "Resolve"
    assert sop.roles["close"][0] == "Close"
    # only waits for the user/customer are the customer's time (and stop SLA clocks);
    # Wait, Wait - Vendor and Wait - Implementation are not
    assert sop.roles["waiting"] == ("Wait for user",)
    assert sop.aliases["Accepted/Wait - User"] == sop.aliases["Accepted/Wait - Customer"] == "Wait for user"
    # Queue starts most BPIC tickets: no escalation role (escalation shows in push to front)
    assert "escalation" not in sop.roles


def _read_bpic_activities(path):
    """(case, activity) in file order; activity = concept:name/lifecycle:transition.

    The same values pm4py.read_xes gives, read with lxml alone to keep the test fast.
    """
    import gzip

    from lxml import etree

    cases, acts = [], []
    case = None
    with gzip.open(path, "rb") as f:
        for _, el in etree.iterparse(
            f, events=("end",), tag=("{*}trace", "{*}event", "{*}string")
        ):
            tag = etree.QName(el).localname
            if tag == "string" and el.getparent() is not None:
                parent = etree.QName(el.getparent()).localname
                if parent == "trace" and el.get("key") == "concept:name":
                    case = el.get("value")
                continue
            if tag == "event":
                attrs = {c.get("key"): c.get("value") for c in el}
                acts.append(attrs["concept:name"] + "/" + attrs["lifecycle:transition"])
                cases.append(case)
                el.clear()
            elif tag == "trace":
                el.clear()
    return cases, acts


@pytest.fixture(scope="module")
def bpic_log():
    import pandas as pd

    cases, acts = _read_bpic_activities(
        dataset_path(*BPIC2013)
    )
    return pd.DataFrame({"case:concept:name": cases, "concept:name": acts})


@pytest.mark.slow
def test_bpic2013_checks_against_it_incident_out_of_the_box(bpic_log):
    import pm4py

    sop = load_sop("it-incident")
    log = bpic_log
    assert len(log) == 65_533 and log["case:concept:name"].nunique() == 7_554
    assert set(log["concept:name"].unique()) == BPIC_ACTIVITIES
    mapped = log["concept:name"].map(sop.activity_map())
    assert mapped.notna().all()
    variants = (
        mapped.groupby(log["case:concept:name"], sort=False).agg(tuple).value_counts()
    )
    assert len(variants) > 1500  # 2,278 raw variants, fewer once mapped onto steps
    top = variants.head(100)
    assert top.sum() / variants.sum() > 0.6
    net, im, fm = sop.to_petri_net()
    from pm4py.objects.log.obj import Event, EventLog, Trace

    small = EventLog(Trace(Event({"concept:name": a}) for a in v) for v in top.index)
    aligned = pm4py.conformance_diagnostics_alignments(
        small, net, im, fm, multi_processing=False
    )
    fitness = [a["fitness"] for a in aligned]
    weighted = sum(f * n for f, n in zip(fitness, top.values, strict=True)) / top.sum()
    fitting = (
        sum(n for f, n in zip(fitness, top.values, strict=True) if f == 1.0) / top.sum()
    )
    # Measured: 0.995 weighted fitness, 96% of these tickets fit exactly; the worst
    # of the hundred most frequent variants still scores 0.71.
    assert weighted > 0.95
    assert fitting > 0.9
    assert min(fitness) > 0.5
