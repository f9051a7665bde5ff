"""One contributor of ``csmine why breach`` on the demo centre, worked out by hand with pandas.

The demo centre (3,000 tickets, seed 7, what ``csmine demo`` records), ``csmine why breach
--sop complaint`` (weekday and hour in UTC). Its fourth contributor is *tickets opened
00:00-02:00 UTC* (08:00-10:00 in Shanghai: the morning shift meets the night's queue).
Whether a ticket breaches a limit is read from the limit frame (``check_limits``, tested
elsewhere); everything else below is counted with pandas from the event frame, and the
formulas are written out here:

* tickets a limit applied to: 3,000, 582 breached; opened 00:00-02:00: a = 121 of n1 = 565,
  the others c = 461 of n0 = 2,435.
* crude lift 121/565 / (461/2435) = 0.214159 / 0.189322 = 1.131188; Katz
  SE = sqrt(1/121 - 1/565 + 1/461 - 1/2435) = 0.090846, 95% CI exp(ln 1.131188 -+ 1.959964
  x 0.090846) = 0.946687 .. 1.351648 -- it includes 1.
* adjusted over priority x channel (12 strata, counted in the test): Mantel-Haenszel
  R = sum a n0 / N = 98.594589, S = sum c n1 / N = 79.710712, RR = 1.236905; Greenland-Robins
  P = 64.288513, SE = sqrt(P / (R S)) = 0.090444, 95% CI 1.035977 .. 1.476804 -- above 1.
* the test is about the adjusted lift: exact stratified one-sided p (the convolution of the
  12 strata's hypergeometric distributions, scipy's ``hypergeom``) = 0.012460; the CMH
  statistic with a continuity correction, E = 102.116122, V = 65.583284,
  z = (121 - 102.116122 - 0.5) / sqrt(V) = 2.270077 (p = 0.011601), agrees.

So the contributor is listed on the strength of its adjusted lift, and the interval that goes
with the test is the adjusted one; both are shown (lift 1.13, 95% CI 0.95-1.35; 1.24 after
adjusting, 95% CI 1.04-1.48).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

Z = 1.959963984540054


@pytest.fixture(scope="module")
def demo():
    from process_models import load_sop

    from csmine.explain.why import explain_outcome
    from csmine.performance.kpi import analyse_tickets
    from csmine.performance.preparation import prepare
    from csmine.simulation.config import SimulationConfig
    from csmine.simulation.frames import histories_to_frame
    from csmine.simulation.simulate import simulate

    sim = simulate(SimulationConfig(tickets=3000, seed=7))
    df = histories_to_frame(sim.histories, sim.phases, attributes=["satisfaction"])
    sop = load_sop("complaint")
    _, limits = analyse_tickets(prepare(df, sop), sop)
    report = explain_outcome(df, sop, "breach", what_if=0)
    return df, limits, report


@pytest.fixture(scope="module")
def tables(demo):
    """Per ticket (pandas): opened in 00:00-02:00 UTC, breached, priority (last) and channel."""
    df, limits, _ = demo
    breached = limits.groupby("ticket")["breached"].any()
    t = df.sort_values("time:timestamp", kind="stable").groupby("case:concept:name").agg(
        opened=("time:timestamp", "min"), priority=("case:priority", "last"), channel=("case:channel", "first"))
    t = t.join(breached.rename("breach"), how="inner")
    t["group"] = t["opened"].dt.tz_convert("UTC").dt.hour < 2
    by = t.groupby(["priority", "channel"])
    strata = pd.DataFrame({
        "a": by.apply(lambda d: int(d.loc[d.group, "breach"].sum()), include_groups=False),
        "n1": by["group"].sum(),
        "c": by.apply(lambda d: int(d.loc[~d.group, "breach"].sum()), include_groups=False),
        "n0": by["group"].apply(lambda g: int((~g).sum())),
    })
    strata["N"] = strata.n1 + strata.n0
    strata["O"] = strata.a + strata.c
    return t, strata


def test_the_counts(demo, tables):
    _, _, report = demo
    t, strata = tables
    assert (len(t), int(t.breach.sum())) == (report.tickets, report.with_outcome) == (3000, 582)
    c = next(x for x in report.contributors if (x.attribute, x.value) == ("hour", "00:00–02:00"))
    assert (c.support, c.with_outcome) == (int(t.group.sum()), int(t[t.group].breach.sum())) == (565, 121)
    assert len(strata) == 12 and int(strata.a.sum()) == 121 and int(strata.n1.sum()) == 565


def test_crude_lift_and_katz_interval_include_one(demo, tables):
    _, _, report = demo
    c = next(x for x in report.contributors if (x.attribute, x.value) == ("hour", "00:00–02:00"))
    a, n1, cc, n0 = 121, 565, 461, 2435
    lift = (a / n1) / (cc / n0)
    se = math.sqrt(1 / a - 1 / n1 + 1 / cc - 1 / n0)
    assert lift == pytest.approx(1.131188, abs=1e-6) and se == pytest.approx(0.090846, abs=1e-6)
    assert c.lift == pytest.approx(lift)
    assert c.lift_ci == pytest.approx((lift * math.exp(-Z * se), lift * math.exp(Z * se)))
    assert c.lift_ci == pytest.approx((0.946687, 1.351648), abs=1e-6)
    assert c.lift_ci[0] < 1


def test_adjusted_lift_greenland_robins_and_the_exact_test(demo, tables):
    from scipy.stats import hypergeom

    _, _, report = demo
    _, s = tables
    c = next(x for x in report.contributors if (x.attribute, x.value) == ("hour", "00:00–02:00"))
    r = float((s.a * s.n0 / s.N).sum())
    q = float((s.c * s.n1 / s.N).sum())
    p = float(((s.n1 * s.n0 * s.O - s.a * s.c * s.N) / s.N ** 2).sum())
    assert (r, q, p) == pytest.approx((98.594589, 79.710712, 64.288513), abs=1e-6)
    rr, se = r / q, math.sqrt(p / (r * q))
    assert se == pytest.approx(0.090444, abs=1e-6)
    assert c.adjusted_for == ("priority", "channel")
    assert c.adjusted_lift == pytest.approx(rr) == pytest.approx(1.236905, abs=1e-6)
    assert c.adjusted_ci == pytest.approx((rr * math.exp(-Z * se), rr * math.exp(Z * se)))
    assert c.adjusted_ci == pytest.approx((1.035977, 1.476804), abs=1e-6)
    # the exact stratified test: the sum of the strata's hypergeometric counts
    dist, offset = np.array([1.0]), 0
    for row in s.itertuples():
        lo, hi = max(0, row.n1 - (row.N - row.O)), min(row.n1, row.O)
        dist = np.convolve(dist, hypergeom(row.N, row.O, row.n1).pmf(np.arange(lo, hi + 1)))
        offset += lo
    exact = float(dist[121 - offset:].sum())
    assert exact == pytest.approx(0.012460, abs=1e-6)
    assert (c.test, c.tested_effect) == ("exact", "adjusted_lift")
    assert c.p_value == pytest.approx(exact, rel=1e-9)
    # the CMH statistic with the continuity correction agrees
    e = float((s.n1 * s.O / s.N).sum())
    v = float((s.n1 * s.n0 * s.O * (s.N - s.O) / (s.N ** 2 * (s.N - 1))).sum())
    z = (121 - e - 0.5) / math.sqrt(v)
    assert (e, v, z) == pytest.approx((102.116122, 65.583284, 2.270077), abs=1e-6)
    assert c.q_value <= report.alpha and c.q_value >= c.p_value


def test_what_is_shown_is_coherent(demo):
    """Every contributor listed survives Benjamini-Hochberg and the lift its test is about has a
    95% interval above 1; the words show that interval."""
    _, _, report = demo
    assert report.contributors
    for c in report.contributors:
        assert c.q_value <= report.alpha
        lo = c.adjusted_ci[0] if c.tested_effect == "adjusted_lift" and c.adjusted_lift is not None else c.lift_ci[0]
        assert lo > 1, c.name
    c = next(x for x in report.contributors if (x.attribute, x.value) == ("hour", "00:00–02:00"))
    assert ("1.13× as often (95% CI 0.95–1.35; 1.24× after adjusting for priority and channel, "
            "95% CI 1.04–1.48): 21% of 565 vs 19%") in c.words
    d = c.to_dict()
    assert d["tested_effect"] == "adjusted_lift" and d["adjusted_ci"] == [1.036, 1.4768]
