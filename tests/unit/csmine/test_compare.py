"""compare: a baseline and a pilot built with known answers, the bootstrap, the side syntax."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from event_store import open_store
from process_models import load_sop
from tests.unit.csmine.pilot_data import build_pilot_store

from csmine.errors import FilterError
from csmine.eventlog.loading import load_event_log
from csmine.pilot.compare import compare_logs, parse_side
from csmine.pilot.kpis import as_float, verdict
from csmine.pilot.statistics import (
    MIN_N_MEDIAN,
    MIN_N_RATE,
    bootstrap_statistic,
    compare_samples,
    point_statistic,
    sample_size_reason,
)


@pytest.fixture(scope="module")
def pilot_store(tmp_path_factory):
    return build_pilot_store(str(tmp_path_factory.mktemp("pilot") / "pilot.db"))


@pytest.fixture(scope="module")
def comparison(pilot_store):
    with open_store(pilot_store) as s:
        df_a = load_event_log(s, parse_side("baseline"))
        df_b = load_event_log(s, parse_side("phase=pilot"))
    return compare_logs(df_a, df_b, load_sop("complaint"), label_a="baseline", label_b="pilot")


@pytest.mark.slow
def test_sides_hold_the_tickets_built(comparison):
    assert comparison.a.tickets == 400 and comparison.b.tickets == 400
    assert comparison.a.label == "baseline" and comparison.sop == "complaint"


@pytest.mark.slow
def test_first_response_timeouts_15_to_5_percent_with_a_ci_holding_the_truth(comparison):
    k = comparison.kpi("first_response_timeouts")
    ch = k.change
    assert (ch.a, ch.b, ch.n_a, ch.n_b) == (0.15, 0.05, 400, 400)
    assert ch.diff == pytest.approx(-0.10)
    assert ch.rel == pytest.approx(-2 / 3)
    assert ch.ci_low < -0.10 < ch.ci_high < 0          # holds the truth, excludes 0
    # the interval's width is about 2 x 1.96 x the standard error of the difference
    se = np.sqrt(0.15 * 0.85 / 400 + 0.05 * 0.95 / 400)
    assert ch.ci_high - ch.ci_low == pytest.approx(2 * 1.96 * se, rel=0.15)
    assert ch.significant is True and k.verdict == "improved" and k.better == "lower"


@pytest.mark.slow
def test_times_are_medians_and_p90s(comparison):
    # baseline: 340 tickets answered after 10 min, 60 after 45 min; pilot: 380 and 20
    assert comparison.kpi("first_response_median").change.a == 600.0
    assert comparison.kpi("first_response_median").change.b == 600.0
    assert comparison.kpi("first_response_median").verdict == "no significant change"
    p90 = comparison.kpi("first_response_p90").change
    assert (p90.a, p90.b) == (2700.0, 600.0)
    assert p90.significant is True


@pytest.mark.slow
def test_too_small_samples_are_said_so(comparison):
    esc = comparison.kpi("escalation_rate")  # 0 of 400 against 4 of 400
    assert (esc.change.a, esc.change.b) == (0.0, 0.01)
    assert esc.verdict == "sample too small to conclude"
    assert esc.change.significant is None and np.isnan(esc.change.ci_low)
    assert "only 4 tickets with it" in esc.change.reason


@pytest.mark.slow
def test_conformance_per_step(comparison):
    callback = comparison.step("Callback")
    assert (callback.skipped.a, callback.skipped.b) == (0.10, 0.025)   # 40 and 10 of 400
    assert callback.skipped.significant is True
    record = comparison.step("Record")
    assert record.limit == "≤ 30 min after opened"
    assert (record.late.a, record.late.b) == (0.15, 0.05)
    assert record.skipped.a == 0.0 and not record.skipped.enough   # no skip on either side
    assert comparison.step("Receive").late is None


@pytest.mark.slow
def test_variants_that_appeared_and_vanished(comparison):
    assert comparison.appeared_total == 1 and comparison.vanished_total == 1
    assert comparison.appeared[0].activities == ("Receive", "Record", "Classify", "Escalate", "Handle", "Callback",
                                                 "Archive")
    assert comparison.appeared[0].tickets == 4 and comparison.appeared_share == 0.01
    assert comparison.vanished[0].activities == ("Receive", "Record", "Classify", "Handle", "Wait for customer",
                                                 "Handle", "Callback", "Archive")
    assert comparison.vanished[0].tickets == 5 and comparison.vanished_share == 0.0125


@pytest.mark.slow
def test_map_paths_changed(comparison):
    paths = {(p.source, p.target): p for p in comparison.paths}
    new = paths[("Classify", "Escalate")]
    assert (new.status, new.cases_a, new.cases_b) == ("new", 0, 4)
    assert new.share_change_pp == pytest.approx(1.0)
    gone = paths[("Handle", "Wait for customer")]
    assert (gone.status, gone.cases_a, gone.cases_b) == ("gone", 5, 0)
    skip = paths[("Handle", "Archive")]   # 40 -> 10 tickets skip the callback
    assert skip.share_change_pp == pytest.approx(-7.5)
    assert paths[("Handle", "Callback")].wait_median_a_s == 240 * 60.0


@pytest.mark.slow
def test_bottlenecks_are_ranked_on_both_sides(comparison):
    assert comparison.bottlenecks
    for b in comparison.bottlenecks:
        assert b.rank_a is not None or b.movement == "new"
        assert b.rank_b is not None or b.movement == "gone"


@pytest.mark.slow
def test_comparison_from_the_whole_log_frames_equals_computing_each_side(pilot_store, comparison):
    # The report passes the whole log's per-ticket KPIs and deviations; each side's rows
    # of those must give exactly the comparison computed side by side.
    from csmine.conformance.deviations import ticket_deviations
    from csmine.performance.kpi import ticket_kpis
    from csmine.performance.limits import check_limits

    sop = load_sop("complaint")
    with open_store(pilot_store) as s:
        whole = load_event_log(s)
        df_a = load_event_log(s, parse_side("baseline"))
        df_b = load_event_log(s, parse_side("pilot"))
    reused = compare_logs(df_a, df_b, sop, label_a="baseline", label_b="pilot",
                          ticket_kpis_all=ticket_kpis(whole, sop), deviations=ticket_deviations(whole, sop),
                          limits_all=check_limits(whole, sop))
    assert reused.kpis == comparison.kpis
    assert reused.steps == comparison.steps
    assert reused.bottlenecks == comparison.bottlenecks and len(reused.bottlenecks) > 3
    assert len(whole["case:concept:name"].unique()) == reused.a.tickets + reused.b.tickets == 800  # both sides


@pytest.mark.slow
def test_comparison_is_deterministic(pilot_store, comparison):
    with open_store(pilot_store) as s:
        df_a = load_event_log(s, parse_side("baseline"))
        df_b = load_event_log(s, parse_side("pilot"))
    again = compare_logs(df_a, df_b, load_sop("complaint"), label_a="baseline", label_b="pilot")
    assert again.kpis == comparison.kpis and again.steps == comparison.steps
    other_seed = compare_logs(df_a, df_b, load_sop("complaint"), seed=1, bottlenecks=False, conformance=False)
    def interval(c):
        ch = c.kpi("first_response_timeouts").change
        return (ch.ci_low, ch.ci_high, ch.rel_ci_low, ch.rel_ci_high)

    assert interval(other_seed) != interval(comparison)


# -- the statistics ------------------------------------------------------------------


def test_point_statistics_by_hand():
    x = np.arange(1.0, 11.0)
    assert point_statistic(x, "median") == 5.5
    assert point_statistic(x, "p90") == pytest.approx(9.1)
    assert point_statistic(x, "mean") == 5.5
    assert np.isnan(point_statistic(np.array([]), "median"))


def test_sample_size_rules():
    ones = np.ones(MIN_N_RATE)
    half = np.r_[np.ones(15), np.zeros(15)]
    assert sample_size_reason("rate", half, half) == ""
    assert "A has 29" in sample_size_reason("rate", half[:29], half)
    assert "only 0 tickets without it" in sample_size_reason("rate", ones, ones)
    assert sample_size_reason("median", np.arange(MIN_N_MEDIAN), np.arange(MIN_N_MEDIAN)) == ""
    assert "need at least 50" in sample_size_reason("p90", np.arange(49), np.arange(60))


def test_bootstrap_is_seeded_and_handles_missing_values():
    rng = np.random.default_rng(0)
    a = rng.exponential(100, 300)
    b = np.r_[rng.exponential(60, 300), [np.nan] * 10]
    c1 = compare_samples(a, b, "median", name="x")
    c2 = compare_samples(a, b, "median", name="x")
    assert c1 == c2 and c1.n_b == 300 and c1.significant is True
    assert c1.ci_low < c1.diff < c1.ci_high
    assert compare_samples(a, b, "median", name="y").ci_low != c1.ci_low


def test_rate_bootstrap_has_the_same_distribution_as_resampling_indices():
    values = np.r_[np.ones(60), np.zeros(340)]
    binomial = bootstrap_statistic(values, "rate", 20000, np.random.default_rng(1))
    resampled = bootstrap_statistic(values, "mean", 20000, np.random.default_rng(2))
    assert binomial.mean() == pytest.approx(0.15, abs=0.001)
    assert binomial.std() == pytest.approx(np.sqrt(0.15 * 0.85 / 400), rel=0.03)
    assert np.percentile(binomial, [2.5, 97.5]) == pytest.approx(np.percentile(resampled, [2.5, 97.5]), abs=0.0051)


@pytest.mark.parametrize("statistic,q", [("median", 0.5), ("p90", 0.9)])
@pytest.mark.parametrize("n", [1, 2, 37, 40])
def test_quantile_bootstrap_has_the_distribution_of_np_quantile_on_resampled_indices(statistic, q, n):
    # The order-statistic sampler against the definition: np.quantile of uniformly
    # resampled index vectors. Same distribution: the two CDFs agree within sampling noise.
    rng = np.random.default_rng(5)
    values = np.round(rng.exponential(10, n), 0)  # ties included
    draws = 40_000
    fast = bootstrap_statistic(values, statistic, draws, np.random.default_rng(1))
    idx = np.random.default_rng(2).integers(0, n, size=(draws, n))
    slow = np.quantile(values[idx], q, axis=1)
    grid = np.unique(np.r_[fast, slow])
    cdf_fast = np.searchsorted(np.sort(fast), grid, side="right") / draws
    cdf_slow = np.searchsorted(np.sort(slow), grid, side="right") / draws
    assert np.abs(cdf_fast - cdf_slow).max() < 0.015  # KS distance; about 3x its sampling noise
    assert fast.min() >= values.min() and fast.max() <= values.max()


def test_mean_bootstrap_over_few_distinct_values_matches_resampling_indices():
    values = np.r_[np.full(50, 60.0), np.full(150, 80.0), np.full(100, 100.0)]  # scores, mean 83.33
    fast = bootstrap_statistic(values, "mean", 20000, np.random.default_rng(1))
    idx = np.random.default_rng(2).integers(0, len(values), size=(20000, len(values)))
    slow = values[idx].mean(axis=1)
    assert fast.mean() == pytest.approx(250 / 3, abs=0.05)
    assert fast.std() == pytest.approx(values.std() / np.sqrt(len(values)), rel=0.03)
    assert np.percentile(fast, [2.5, 97.5]) == pytest.approx(np.percentile(slow, [2.5, 97.5]), abs=0.15)


def test_verdict_words():
    ch = compare_samples(np.r_[np.ones(60), np.zeros(340)], np.r_[np.ones(20), np.zeros(380)], "rate", name="v")
    assert verdict(ch, "lower") == "improved" and verdict(ch, "higher") == "worse" and verdict(ch, None) == "changed"


def test_as_float_reads_nullable_booleans():
    import pandas as pd

    s = pd.Series(pd.array([True, False, pd.NA], dtype="boolean"))
    assert np.array_equal(as_float(s), [1.0, 0.0, np.nan], equal_nan=True)
    assert np.array_equal(as_float(s, "not"), [0.0, 1.0, np.nan], equal_nan=True)
    assert np.array_equal(as_float(pd.Series([0, 2, 1]), "positive"), [0.0, 1.0, 1.0])


# -- side syntax ---------------------------------------------------------------------


def test_side_syntax():
    assert parse_side("pilot").phase == "pilot"
    f = parse_side("region=East|North,from=2025-03-01,to=2025-04-01T08:00+08:00,channel=phone")
    assert f.where == {"region": ("East", "North"), "channel": ("phone",)}
    assert f.start == datetime(2025, 3, 1, tzinfo=UTC)
    assert f.end == datetime(2025, 4, 1, 0, 0, tzinfo=UTC)
    assert parse_side("phase=baseline|pilot").where == {"phase": ("baseline", "pilot")}
    for bad in ("", "region=", "from=yesterday", "phase=pilot,East"):
        with pytest.raises(FilterError):
            parse_side(bad)


@pytest.mark.slow
def test_simulated_pilot_matches_the_ground_truth():
    from csmine.simulation.frames import histories_to_frame
    from csmine.simulation.simulate import simulate

    sim = simulate()
    df = histories_to_frame(sim.histories, sim.phases)
    a = df[df["case:phase"] == "baseline"]
    b = df[df["case:phase"] == "pilot"]
    c = compare_logs(a, b, load_sop("complaint"), bottlenecks=False, conformance=False)
    ch = c.kpi("first_response_timeouts").change
    truth = sim.truth.first_response
    assert ch.a == pytest.approx(truth.rate("baseline").share, abs=1e-6)
    assert ch.b == pytest.approx(truth.rate("pilot").share, abs=1e-6)
    designed = truth.rate("pilot").designed - truth.rate("baseline").designed
    assert ch.ci_low < designed < ch.ci_high < 0
