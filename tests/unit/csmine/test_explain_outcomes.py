"""OUTCOME strings and what they measure, on the demo centre and on tiny logs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from csmine.explain.outcomes import OutcomeError, parse_outcome


@pytest.mark.parametrize(("text", "kind", "fields"), [
    ("breach", "breach", {"step": None}),
    ("breach:Record", "breach", {"step": "Record"}),
    ("breach:first-response", "breach", {"step": "first-response"}),
    ("deviation", "deviation", {"step": None, "deviation_kind": None}),
    ("deviation:Classify", "deviation", {"step": "Classify", "deviation_kind": None}),
    ("deviation:skipped:Callback", "deviation", {"step": "Callback", "deviation_kind": "skipped"}),
    ("deviation:out-of-order", "deviation", {"step": None, "deviation_kind": "out_of_order"}),
    ("reopen", "reopen", {}),
    ("not-fcr", "not-fcr", {}),
    ("slow", "slow", {"measure": "throughput", "quantile": 0.8}),
    ("slow:P90", "slow", {"measure": "throughput", "quantile": 0.9}),
    ("slow:Handle", "slow-step", {"step": "Handle", "quantile": 0.8}),
    ("slow:Wait for customer:P95", "slow-step", {"step": "Wait for customer", "quantile": 0.95}),
    ("throughput > 2d", "threshold", {"measure": "throughput", "threshold_s": 172800.0, "inclusive": False}),
    ("handling >= 45 min", "threshold", {"measure": "handling", "threshold_s": 2700.0, "inclusive": True}),
    ("first response > P80", "threshold", {"measure": "first-response", "quantile": 0.8}),
])
def test_parse_outcome(text, kind, fields):
    spec = parse_outcome(text)
    assert spec.kind == kind and spec.text == text
    for key, value in fields.items():
        assert getattr(spec, key) == value


@pytest.mark.parametrize("text", ["", "breaches", "reopen:x", "slow:P0", "throughput > soon", "latency > 2d"])
def test_unknown_outcomes_say_what_to_use(text):
    with pytest.raises(OutcomeError, match="use|P1|duration"):
        parse_outcome(text)


@pytest.fixture(scope="module")
def demo():
    from process_models import load_sop

    from csmine.performance.kpi import analyse_tickets
    from csmine.performance.preparation import prepare
    from csmine.simulation.config import SimulationConfig
    from csmine.simulation.frames import histories_to_frame
    from csmine.simulation.simulate import simulate

    sim = simulate(SimulationConfig(tickets=600, seed=7))
    df = histories_to_frame(sim.histories, sim.phases)
    sop = load_sop("complaint")
    prep = prepare(df, sop)
    kpis, limits = analyse_tickets(prep, sop)
    return df, sop, prep, kpis, limits


def _evaluate(demo, text, **kw):
    from csmine.explain.outcomes import evaluate_outcome

    df, sop, prep, kpis, limits = demo
    return evaluate_outcome(parse_outcome(text), prep, kpis, limits, sop, **kw)


def test_breach_of_a_limit_is_the_limit_frame(demo):
    _, _, prep, kpis, limits = demo
    out = _evaluate(demo, "breach:Record")
    rows = limits[limits["step"] == "Record"]
    assert out.tickets == len(rows) and out.with_outcome == int(rows["breached"].sum())
    assert out.excluded_steps == frozenset({"Record"})
    # the window ends at the first Record
    record = prep.step == "Record"
    assert np.all(record[out.anchor])


def test_any_breach_follows_the_kpi_frame(demo):
    _, _, _, kpis, _ = demo
    out = _evaluate(demo, "breach")
    assert out.with_outcome == int((kpis["breaches"] > 0).sum())
    assert out.tickets == int((kpis["limits_checked"] > 0).sum())


def test_slow_is_throughput_above_its_p80_among_closed_tickets(demo):
    _, _, _, kpis, _ = demo
    out = _evaluate(demo, "slow")
    closed = kpis["closed"].to_numpy(dtype=bool)
    thr = np.quantile(kpis["throughput_s"].to_numpy()[closed], 0.8)
    assert out.threshold_s == pytest.approx(thr)
    assert out.with_outcome == int((kpis["throughput_s"].to_numpy()[closed] > thr).sum())


def test_threshold_outcome(demo):
    _, _, _, kpis, _ = demo
    out = _evaluate(demo, "throughput > 1d")
    assert out.with_outcome == int((kpis.loc[kpis["closed"], "throughput_s"] > 86400).sum())


def test_reopen_and_not_fcr(demo):
    _, _, _, kpis, _ = demo
    reopen = _evaluate(demo, "reopen")
    assert reopen.with_outcome == int(kpis["reopened"].astype(bool).sum())
    assert "Reopen" in reopen.excluded_steps
    not_fcr = _evaluate(demo, "not-fcr")
    assert not not_fcr.path and not_fcr.agents_first_contact
    assert not_fcr.with_outcome == int((~kpis["fcr"].astype(bool) & kpis["closed"]).sum())


def test_deviation_needs_conformance(demo):
    from csmine.conformance.deviations import ticket_deviations

    df, sop, *_ = demo
    with pytest.raises(OutcomeError, match="conformance"):
        _evaluate(demo, "deviation:skipped:Callback")
    dev = ticket_deviations(df, sop)
    out = _evaluate(demo, "deviation:skipped:Callback", deviations=dev)
    mine = dev[(dev["kind"] == "skipped") & (dev["step"] == "Callback")]
    assert out.with_outcome == mine["ticket"].nunique()
    assert out.label == "skip Callback"


def test_waiting_before_a_step_leaves_out_the_customers_time():
    from process_models import load_sop

    from csmine.explain.outcomes import evaluate_outcome
    from csmine.performance.kpi import analyse_tickets
    from csmine.performance.preparation import prepare

    t0 = pd.Timestamp("2025-01-06 09:00", tz="UTC")
    m = pd.Timedelta(minutes=1)
    # ticket A: Handle 60 min after Classify; ticket B: waits on the customer 10 h, then
    # Handle 5 min after the reply is recorded (the wait is the customer's)
    events = [("A", "Receive", 0), ("A", "Record", 5), ("A", "Classify", 7), ("A", "Handle", 67),
              ("A", "Archive", 80),
              ("B", "Receive", 0), ("B", "Record", 5), ("B", "Classify", 7), ("B", "Handle", 20),
              ("B", "Wait for customer", 21), ("B", "Handle", 621), ("B", "Archive", 640)]
    df = pd.DataFrame({"case:concept:name": [e[0] for e in events], "concept:name": [e[1] for e in events],
                       "time:timestamp": [t0 + e[2] * m for e in events]})
    sop = load_sop("complaint")
    prep = prepare(df, sop)
    kpis, limits = analyse_tickets(prep, sop)
    out = evaluate_outcome(parse_outcome("slow:Handle:P50"), prep, kpis, limits, sop)
    # A waits 60 min before Handle; B 13 min (the 600 min after its wait are the customer's)
    assert out.measure.tolist() == [3600.0, 780.0]
    assert out.flag.tolist() == [True, False]
