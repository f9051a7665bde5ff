"""Open tickets on real exports: BPIC 2013 (it-incident SOP) and Helpdesk, with tickets cut short.

From each log 50 closed tickets are picked deterministically (the lowest SHA-256 of
their ids among the closed tickets whose first closing event is not among their
first two events) and cut just before their first closing event, so that they no
longer reach the close step. Then:

* the cut tickets are open, and nothing after their last event is a deviation
  (the prefix alignment pays no model move after the last event);
* a cut ticket whose whole history fitted the SOP fits as a prefix: fitness 1.0,
  and the step it did next (the first one cut off) is among its pending steps;
* a prefix never costs more than the whole history did (the whole alignment, cut at
  the last kept event, is a prefix alignment);
* every other ticket, and the closed tickets' figures, are exactly those of the
  log before cutting.

A sample of the cut prefixes is also checked against pm4py: the least alignment
cost over every reachable marking taken as final marking.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest

from process_models import load_sop
from tests.datasets import BPIC2013, HELPDESK, dataset_path

from csmine.conformance.deviations import analyse_conformance
from csmine.conformance.engines import sop_net
from csmine.eventlog.lifecycle import ClosingRule, closing_activities

pytestmark = pytest.mark.slow

CUT = 50

HELPDESK_SOP = """
# A small SOP for the Helpdesk log (an Italian software company's ticketing), for tests.
id = "helpdesk-test"
title = "Helpdesk ticket"
version = "1"
flow = ["seq",
  ["optional", "Insert ticket"],
  ["loop", "Assign seriousness"],
  ["loop", ["seq", "Take in charge ticket",
            ["optional", ["xor", "Wait", "Require upgrade", "Create SW anomaly"]]]],
  "Resolve ticket",
  "Closed",
]
closed_when = ["Closed"]

[[steps]]
name = "Insert ticket"
role = "agent"
[[steps]]
name = "Assign seriousness"
role = "agent"
[[steps]]
name = "Take in charge ticket"
role = "agent"
[[steps]]
name = "Wait"
role = "customer"
[[steps]]
name = "Require upgrade"
role = "customer"
[[steps]]
name = "Create SW anomaly"
role = "specialist"
[[steps]]
name = "Resolve ticket"
role = "agent"
[[steps]]
name = "Closed"
role = "system"

[[limits]]
step = "Take in charge ticket"
within = "3 d"
since = "opened"
[[limits]]
step = "Closed"
within = "30 d"
since = "Resolve ticket"

[roles]
first_response = ["Take in charge ticket"]
resolution = ["Resolve ticket"]
waiting = ["Wait"]
"""


@pytest.fixture(scope="module", autouse=True)
def _quiet_pm4py() -> Iterator[None]:
    from pm4py.util import constants

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(constants, "SHOW_PROGRESS_BAR", False)
        yield


def _read(parts: tuple[str, str]) -> pd.DataFrame:
    import pm4py

    df = pm4py.read_xes(str(dataset_path(*parts)))
    if parts == BPIC2013:
        df["concept:name"] = df["concept:name"] + "/" + df["lifecycle:transition"]
    df = df[["case:concept:name", "concept:name", "time:timestamp"]].copy()
    df["case:concept:name"] = df["case:concept:name"].astype(str)
    return df.reset_index(drop=True)


@pytest.fixture(scope="module", params=["bpic2013", "helpdesk"])
def case(request, tmp_path_factory):
    """(log, SOP, cut log, cut tickets with the step each did next, analyses before and after)."""
    if request.param == "bpic2013":
        df, sop = _read(BPIC2013), load_sop("it-incident")
    else:
        path = tmp_path_factory.mktemp("helpdesk") / "helpdesk-test.toml"
        path.write_text(HELPDESK_SOP, encoding="utf-8")
        df, sop = _read(HELPDESK), load_sop(path)
    rule = ClosingRule()
    closing = closing_activities(df["concept:name"].unique(), sop, rule)
    pos = df.groupby("case:concept:name", sort=False).cumcount().to_numpy()
    is_close = df["concept:name"].isin(closing).to_numpy()
    first_close = pd.Series(np.where(is_close, pos, np.iinfo(np.int64).max)).groupby(
        df["case:concept:name"].to_numpy()).min()
    before = analyse_conformance(df, sop, closing=rule)
    closed = before.tickets.index[before.tickets["status"] == "closed"]
    candidates = [t for t in closed if 2 <= first_close[t] < np.iinfo(np.int64).max]
    cut = sorted(candidates, key=lambda t: hashlib.sha256(t.encode()).hexdigest())[:CUT]
    keep = ~(df["case:concept:name"].isin(cut).to_numpy() & (pos >= first_close.reindex(
        df["case:concept:name"]).to_numpy()))
    short = df[keep].reset_index(drop=True)
    mapping = sop.activity_map()
    next_step = {t: mapping.get(df.loc[(df["case:concept:name"] == t).to_numpy() & (pos == first_close[t]),
                                       "concept:name"].iloc[0]) for t in cut}
    after = analyse_conformance(short, sop, closing=rule)
    return request.param, df, sop, short, next_step, before, after


def test_cut_tickets_are_open(case) -> None:
    name, _, _, _, next_step, before, after = case
    t = after.tickets
    assert len(next_step) == CUT
    assert (t.loc[list(next_step), "status"] == "open").all()
    assert after.report.closing["open"] == before.report.closing["open"] + CUT
    assert after.report.closed.tickets == before.report.closed.tickets - CUT
    assert after.report.open.alignment == "prefix" and after.report.closed.alignment == "full"


def test_nothing_after_the_last_event_is_a_deviation(case) -> None:
    _, _, _, short, next_step, before, after = case
    dev = after.deviations[after.deviations["ticket"].isin(list(next_step))]
    lengths = short.groupby("case:concept:name").size()
    # a skipped step inside the prefix is placed at the event done in its place, never at the end
    skipped = dev[dev["kind"] == "skipped"]
    assert (skipped["position"].to_numpy() < lengths.reindex(skipped["ticket"]).to_numpy()).all()
    # a prefix costs at most what the whole history cost
    assert (after.tickets.loc[list(next_step), "cost"] <= before.tickets.loc[list(next_step), "cost"]).all()


def test_fitting_histories_fit_as_prefixes_and_their_next_step_is_pending(case) -> None:
    name, _, _, _, next_step, before, after = case
    fitted = [t for t in next_step if before.tickets.at[t, "is_fit"]]
    assert len(fitted) >= CUT // 2  # most real tickets fit
    for t in fitted:
        assert after.tickets.at[t, "fitness"] == 1.0, t
        assert after.tickets.at[t, "deviations"] == 0, t
        assert next_step[t] in after.tickets.at[t, "pending"], (t, after.tickets.at[t, "pending"])
    # cut just before the close step: the close step is what they wait for
    closes = [t for t in fitted if next_step[t] in ("Close", "Closed")]
    assert closes
    for t in closes:
        assert after.tickets.at[t, "pending"] == (next_step[t],)


def test_every_other_ticket_and_the_closed_figures_are_unchanged(case) -> None:
    _, _, _, _, next_step, before, after = case
    others = before.tickets.index.difference(list(next_step))
    cols = ["fitness", "cost", "deviations", "status", "pending", "skipped", "extra", "out_of_order", "repeated",
            "wrong_branch"]
    pd.testing.assert_frame_equal(after.tickets.loc[others, cols], before.tickets.loc[others, cols])
    # the closed group's figures, recomputed from the uncut log's tickets
    from csmine.conformance.alignments import compile_model

    _, _, sop, _, _, _, _ = case
    w = compile_model(*sop_net(sop)).best_worst_cost  # the cheapest complete SOP run
    closed = before.tickets.loc[others][before.tickets.loc[others, "status"] == "closed"]
    r = after.report.closed
    assert r.tickets == len(closed) == before.report.closed.tickets - CUT
    assert r.events == int(closed["events"].sum())
    assert r.fitting_tickets == int(closed["is_fit"].sum())
    assert r.deviations == int(closed["deviations"].sum())
    assert r.average_fitness == pytest.approx(float(closed["fitness"].mean()), abs=1e-12)
    denominator = int(closed["events"].sum()) * 10_000 + len(closed) * w
    assert r.log_fitness == pytest.approx(1 - int(closed["cost"].sum()) / denominator, abs=1e-12)


def test_cut_prefixes_cost_what_pm4py_says(case) -> None:
    """pm4py's least alignment cost over every reachable marking of the SOP net (10 prefixes)."""
    from pm4py.algo.conformance.alignments.petri_net.variants import dijkstra_no_heuristics
    from pm4py.objects.log.obj import Event, Trace
    from pm4py.objects.petri_net import semantics

    _, _, sop, short, next_step, _, after = case
    net, im, _ = sop_net(sop)
    markings, frontier = [im], [im]
    while frontier:
        m = frontier.pop()
        for tr in semantics.enabled_transitions(net, m):
            nm = semantics.execute(tr, net, m)
            if nm not in markings:
                markings.append(nm)
                frontier.append(nm)
    mapping = sop.activity_map()
    for t in sorted(next_step)[:10]:
        acts = [mapping.get(a, a) for a in short.loc[short["case:concept:name"] == t, "concept:name"]]
        trace = Trace([Event({"concept:name": a}) for a in acts])
        ref = min(int(dijkstra_no_heuristics.apply(trace, net, im, fm)["cost"]) for fm in markings)
        assert after.tickets.at[t, "cost"] == ref, t


def test_open_tickets_of_the_real_export(case) -> None:
    """The uncut logs hold open tickets of their own: their steps still to come are pending."""
    name, df, sop, _, _, before, _ = case
    full = analyse_conformance(df, sop)  # every ticket counted as ended, as before the change
    r, ended = before.report, full.report
    assert r.closing["open"] > 0
    assert r.closed.tickets + r.open.tickets == ended.tickets
    # closing skipped: an ended-ticket view pays the close step of every open ticket
    close = "Close" if name == "bpic2013" else "Closed"
    assert ended.step(close).skipped > r.step(close).skipped
    assert r.step(close).pending > 0
    opened = before.tickets[before.tickets["status"] == "open"].index
    assert (before.tickets.loc[opened, "cost"] <= full.tickets.loc[opened, "cost"]).all()
    # closed tickets are aligned exactly as when every ticket counts as ended
    closed = before.tickets.index[before.tickets["status"] == "closed"]
    assert before.tickets.loc[closed, "cost"].equals(full.tickets.loc[closed, "cost"])
