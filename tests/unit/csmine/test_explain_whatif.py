"""What-if replays: the parts of a measure add up to it; a group like the rest changes nothing."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def demo():
    from process_models import load_sop

    from csmine.performance.kpi import analyse_tickets
    from csmine.performance.preparation import prepare
    from csmine.simulation.config import SimulationConfig
    from csmine.simulation.frames import histories_to_frame
    from csmine.simulation.simulate import simulate

    sim = simulate(SimulationConfig(tickets=600, seed=11))
    df = histories_to_frame(sim.histories, sim.phases)
    sop = load_sop("complaint")
    prep = prepare(df, sop)
    kpis, limits = analyse_tickets(prep, sop)
    return df, sop, prep, kpis, limits


def _outcome(demo, text):
    from csmine.explain.outcomes import evaluate_outcome, parse_outcome

    _, sop, prep, kpis, limits = demo
    return evaluate_outcome(parse_outcome(text), prep, kpis, limits, sop)


@pytest.mark.parametrize("text", ["slow", "breach:Record", "breach:Handle", "handling > P80", "slow:Handle",
                                  "breach:first-response", "waiting > 1h"])
def test_parts_add_up_to_the_measure(demo, text):
    from csmine.explain.whatif import measure_parts

    _, sop, prep, _, _ = demo
    out = _outcome(demo, text)
    parts = measure_parts(out, prep, sop)
    total = np.bincount(parts.ticket, weights=parts.seconds, minlength=len(out.applies))
    ok = parts.complete & np.isfinite(out.measure)
    assert ok.sum() > 100
    assert total[ok] == pytest.approx(out.measure[ok], abs=1e-3)


def test_a_group_like_the_rest_changes_nothing_much(demo):
    from csmine.explain.features import ticket_features
    from csmine.explain.whatif import estimate_what_if

    df, sop, prep, kpis, _ = demo
    out = _outcome(demo, "slow")
    feats = ticket_features(prep, kpis, out)
    # every other ticket: a group picked without regard to the outcome
    members = np.arange(len(out.applies)) % 2 == 0
    w = estimate_what_if(out, members, prep, kpis, feats, sop=sop, resamples=200, seed=1)
    assert w.method == "durations"
    assert w.ci[0] <= w.observed <= w.ci[1]
    assert abs(w.change) < 0.05


def test_rates_method_for_outcomes_without_a_duration(demo):
    from csmine.explain.features import ticket_features
    from csmine.explain.whatif import estimate_what_if

    _, sop, prep, kpis, _ = demo
    out = _outcome(demo, "reopen")
    feats = ticket_features(prep, kpis, out)
    members = out.flag.copy()  # the reopened tickets themselves: like the rest, they'd rarely reopen
    w = estimate_what_if(out, members, prep, kpis, feats, sop=sop, resamples=100, seed=1, adjust=("priority",))
    assert w.method == "rates"
    assert w.estimate == pytest.approx(0.0, abs=0.01)
    assert w.replaced == int(out.flag.sum())


def test_same_seed_same_figures(demo):
    from csmine.explain.features import ticket_features
    from csmine.explain.whatif import estimate_what_if

    _, sop, prep, kpis, _ = demo
    out = _outcome(demo, "breach:Record")
    feats = ticket_features(prep, kpis, out)
    members = np.arange(len(out.applies)) % 3 == 0
    a = estimate_what_if(out, members, prep, kpis, feats, sop=sop, resamples=50, seed=9)
    b = estimate_what_if(out, members, prep, kpis, feats, sop=sop, resamples=50, seed=9)
    assert a == b
