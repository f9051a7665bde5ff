"""The statistics of ``csmine why`` on tables worked out by hand.

The table, tickets the first-response limit applied to, split by priority (the
adjustment strata) and channel (the group: email)::

                 email            phone           stratum
    priority  breach / tickets  breach / tickets   O / N
    P1            3 / 4            1 / 4           4 / 8
    P2            2 / 4            1 / 8           3 / 12
    all           5 / 8            2 / 12          7 / 20

Crude, email vs the rest: p1 = 5/8 = 0.625, p0 = 2/12 = 0.166667.

* lift = 0.625 / 0.166667 = 3.75. Katz: SE(ln RR) = sqrt(1/5 - 1/8 + 1/2 - 1/12)
  = sqrt(0.491667) = 0.701189; ln 3.75 = 1.321756; 1.959964 x 0.701189 = 1.374306;
  95% CI exp(1.321756 -+ 1.374306) = 0.948807 .. 14.821250.
* Wilson 5/8: centre (0.625 + 3.841459/16) / (1 + 3.841459/8) = 0.865091 / 1.480182
  = 0.584449; half 1.959964 sqrt(0.625 x 0.375 / 8 + 3.841459 / 256) / 1.480182
  = 1.959964 x 0.210483 / 1.480182 = 0.278707; so 0.305742 .. 0.863156.
  Wilson 2/12: centre (0.166667 + 3.841459/24) / (1 + 3.841459/12) = 0.326728 / 1.320122
  = 0.247498; half 1.959964 x sqrt(0.011574 + 0.006669) / 1.320122 = 0.200533;
  so 0.046965 .. 0.448031.
* Newcombe difference: d = 0.458333; lo = d - sqrt((0.625 - 0.305742)^2 +
  (0.448031 - 0.166667)^2) = 0.458333 - 0.425548 = 0.032785; hi = d + sqrt((0.863156 -
  0.625)^2 + (0.166667 - 0.046965)^2) = 0.458333 + 0.266546 = 0.724879.

Adjusted for priority (channel is the group's own attribute), Mantel-Haenszel risk ratio:

* R = sum a n0 / N = 3 x 4 / 8 + 2 x 8 / 12 = 1.5 + 1.333333 = 2.833333;
  S = sum c n1 / N = 1 x 4 / 8 + 1 x 4 / 12 = 0.5 + 0.333333 = 0.833333; RR_MH = 3.4.
* Greenland-Robins: P = sum (n1 n0 O - a c N) / N^2 = (64 - 24) / 64 + (96 - 24) / 144
  = 0.625 + 0.5 = 1.125; Var ln RR = P / (R S) = 1.125 / 2.361111 = 0.476471,
  SE = 0.690268; 95% CI exp(1.223775 -+ 1.352901) = 0.878863 .. 13.153354.
* CMH: E = 4 x 4 / 8 + 4 x 3 / 12 = 3; V = 4 x 4 x 4 x 4 / (64 x 7) + 4 x 8 x 3 x 9 /
  (144 x 11) = 0.571429 + 0.545455 = 1.116883; z = (5 - 3) / 1.056827 = 1.892457;
  with the continuity correction (5 - 3 - 0.5) / 1.056827 = 1.419343, one-sided
  p = 1 - Phi(1.419343) = 0.077900.
* Exact, stratified: A1 ~ Hypergeometric(N=8, O=4, n=4): 1, 16, 36, 16, 1 (/70);
  A2 ~ Hypergeometric(N=12, O=3, n=4): 126, 252, 108, 9 (/495). P(A1 + A2 >= 5)
  = (36 x 9 + 16 x 117 + 1 x 369) / (70 x 495) = 2565 / 34650 = 0.074026.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from csmine.explain.statistics import (
    benjamini_hochberg,
    exact_upper_p,
    katz,
    mantel_haenszel,
    mantel_haenszel_cells,
    newcombe,
    normal_upper,
    wilson,
)

A, N1, C, N0 = 5, 8, 2, 12
AK, N1K = np.array([[3, 2]]), np.array([[4, 4]])
OK, NK = np.array([4, 3]), np.array([8, 12])
HAS_SCIPY = importlib.util.find_spec("scipy") is not None


def test_wilson_intervals_by_hand():
    lo, hi = wilson(np.array([5, 2]), np.array([8, 12]))
    assert lo == pytest.approx([0.305742, 0.046965], abs=1e-6)
    assert hi == pytest.approx([0.863156, 0.448031], abs=1e-6)


def test_wilson_at_zero_and_all():
    lo, hi = wilson(np.array([0, 10]), np.array([10, 10]))
    assert lo[0] == 0.0 and hi[1] == pytest.approx(1.0)
    assert 0 < hi[0] < 0.35 and 0.65 < lo[1] < 1


def test_newcombe_difference_by_hand():
    d, lo, hi = newcombe(np.array([A]), np.array([N1]), np.array([C]), np.array([N0]))
    assert d[0] == pytest.approx(0.458333, abs=1e-6)
    assert lo[0] == pytest.approx(0.032785, abs=1e-6)
    assert hi[0] == pytest.approx(0.724879, abs=1e-6)


def test_katz_lift_by_hand():
    rr, lo, hi = katz(np.array([A]), np.array([N1]), np.array([C]), np.array([N0]))
    assert rr[0] == pytest.approx(3.75)
    assert lo[0] == pytest.approx(0.948807, abs=1e-6)
    assert hi[0] == pytest.approx(14.821250, abs=1e-5)


def test_katz_with_an_empty_cell_adds_one_half():
    # 4/10 vs 0/10: ratio infinite; interval from (4.5/11) / (0.5/11) = 9,
    # SE = sqrt(1/4.5 - 1/11 + 1/0.5 - 1/11) = sqrt(2.040404) = 1.428427
    rr, lo, hi = katz(np.array([4]), np.array([10]), np.array([0]), np.array([10]))
    assert np.isinf(rr[0])
    assert lo[0] == pytest.approx(9 * np.exp(-1.959964 * 1.428427), rel=1e-5)
    assert hi[0] == pytest.approx(9 * np.exp(1.959964 * 1.428427), rel=1e-5)


@pytest.mark.skipif(not HAS_SCIPY, reason="scipy not installed")
def test_katz_agrees_with_scipy():
    from scipy.stats.contingency import relative_risk

    res = relative_risk(A, N1, C, N0)
    ci = res.confidence_interval(0.95)
    rr, lo, hi = katz(np.array([A]), np.array([N1]), np.array([C]), np.array([N0]))
    assert rr[0] == pytest.approx(res.relative_risk)
    assert (lo[0], hi[0]) == pytest.approx((ci.low, ci.high))


def test_mantel_haenszel_by_hand():
    mh = mantel_haenszel(AK, N1K, OK, NK)
    assert mh.ratio[0] == pytest.approx(3.4)
    assert mh.lo[0] == pytest.approx(0.878863, abs=1e-6)
    assert mh.hi[0] == pytest.approx(13.153354, abs=1e-5)
    assert mh.expected[0] == pytest.approx(3.0)
    assert mh.z[0] == pytest.approx(1.892457, abs=1e-6)
    assert mh.p[0] == pytest.approx(0.077900, abs=1e-6)


def test_mantel_haenszel_of_one_stratum_is_the_crude_ratio():
    mh = mantel_haenszel(np.array([[A]]), np.array([[N1]]), np.array([A + C]), np.array([N1 + N0]))
    assert mh.ratio[0] == pytest.approx(3.75)


def test_mantel_haenszel_many_groups_at_once():
    ak = np.array([[3, 2], [1, 1], [0, 0]])
    n1k = np.array([[4, 4], [4, 8], [0, 0]])
    mh = mantel_haenszel(ak, n1k, OK, NK)
    # the second group is the complement (phone): 1/3.4
    assert mh.ratio[1] == pytest.approx(1 / 3.4)
    assert mh.z[1] == pytest.approx(-mh.z[0])
    assert np.isnan(mh.z[2]) and mh.p[2] == 1.0


def test_mantel_haenszel_from_the_non_empty_cells_by_hand():
    # the hand-worked table above, as its two cells, beside a group with one cell in the
    # second stratum and a group with none (not testable)
    mh = mantel_haenszel_cells(np.array([0, 0, 1]), 3, np.array([3, 2, 1]), np.array([4, 4, 8]),
                               OK[[0, 1, 1]], NK[[0, 1, 1]])
    assert mh.ratio[0] == pytest.approx(3.4)
    assert mh.z[0] == pytest.approx(1.892457, abs=1e-6)
    assert mh.p[0] == pytest.approx(0.077900, abs=1e-6)
    # group 1: 1 of 8 in stratum 2 (3 of 12): E = 8 x 3 / 12 = 2
    assert mh.expected[1] == pytest.approx(2.0)
    assert np.isnan(mh.z[2]) and mh.p[2] == 1.0


def test_mantel_haenszel_from_cells_equals_the_dense_tables():
    rng = np.random.default_rng(7)
    groups, strata = 40, 300
    nk = rng.integers(0, 60, strata)
    ok = rng.binomial(nk, 0.3)
    n1k = rng.binomial(nk, 0.05, size=(groups, strata)) * (rng.random((groups, strata)) < 0.1)  # mostly empty
    ak = np.minimum(rng.binomial(n1k, 0.5), ok)
    dense = mantel_haenszel(ak, n1k, ok, nk)
    cells = np.flatnonzero(n1k)
    k = cells % strata
    sparse = mantel_haenszel_cells(cells // strata, groups, ak.ravel()[cells], n1k.ravel()[cells], ok[k], nk[k])
    assert 0.01 < len(cells) / n1k.size < 0.2
    for field in ("ratio", "lo", "hi", "z", "p", "expected"):
        np.testing.assert_allclose(getattr(sparse, field), getattr(dense, field), rtol=1e-12, equal_nan=True)


def test_exact_stratified_p_by_hand():
    assert exact_upper_p(AK[0], N1K[0], OK, NK) == pytest.approx(2565 / 34650, abs=1e-12)


@pytest.mark.skipif(not HAS_SCIPY, reason="scipy not installed")
def test_exact_p_of_one_stratum_is_fishers():
    from scipy.stats import fisher_exact

    table = [[7, 13], [23, 157]]
    expected = fisher_exact(table, alternative="greater")[1]
    assert exact_upper_p(np.array([7]), np.array([20]), np.array([30]), np.array([200])) == pytest.approx(expected)


def test_exact_p_gives_way_to_the_normal_for_large_counts():
    assert exact_upper_p(np.array([500]), np.array([1000]), np.array([1500]), np.array([3000]), max_support=100) is None


def test_normal_upper_tail():
    assert normal_upper(np.array([0.0, 1.644854, np.inf])) == pytest.approx([0.5, 0.05, 0.0], abs=1e-6)


def test_benjamini_hochberg_by_hand():
    # m = 5, sorted p: 0.01 0.02 0.03 0.04 0.5; p m / rank: 0.05 0.05 0.05 0.05 0.5;
    # running minimum from the end: 0.05 0.05 0.05 0.05 0.5
    q = benjamini_hochberg(np.array([0.04, 0.5, 0.01, 0.03, 0.02]))
    assert q == pytest.approx([0.05, 0.5, 0.05, 0.05, 0.05])
    # one small p among nulls: 0.001 x 4 / 1 = 0.004
    q = benjamini_hochberg(np.array([0.9, 0.001, 0.6, 0.7]))
    assert q[1] == pytest.approx(0.004)
    assert benjamini_hochberg(np.array([])).size == 0
