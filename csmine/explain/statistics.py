"""The statistics behind ``csmine why``, vectorised over many 2 x 2 tables at once.

Every contributor is a group of tickets (e.g. *email tickets*) held against the other
tickets of the same question (e.g. *tickets the first-response limit applied to*). Per
group the counts are

====================  ===============  =================
                      with outcome     tickets
====================  ===============  =================
in the group          ``a``            ``n1``
outside the group     ``c``            ``n0``
====================  ===============  =================

and ``p1 = a / n1``, ``p0 = c / n0``. The functions below take numpy arrays of such
counts (one entry per group, or per group and stratum) and return arrays:

* :func:`wilson` -- Wilson's score interval for one proportion;
* :func:`newcombe` -- the difference ``p1 - p0`` with Newcombe's hybrid score interval
  (his method 10, built from the two Wilson intervals; good coverage at 0 and 1);
* :func:`katz` -- the risk ratio (*lift*) ``p1 / p0`` with the Katz log interval
  ``exp(ln RR +- z sqrt(1/a - 1/n1 + 1/c - 1/n0))``; a table with an empty cell gets
  0.5 added to each of its four cells first (Haldane-Anscombe) -- for the interval only;
* :func:`mantel_haenszel` -- the risk ratio adjusted over strata (Mantel-Haenszel
  estimator ``sum(a n0 / N) / sum(c n1 / N)``), its interval from the Greenland-Robins
  (1985) variance of its log, and the Cochran-Mantel-Haenszel test of no association
  within strata (two-sided, no continuity correction);
* :func:`exact_upper_p` -- the exact one-sided p-value ``P(sum a >= observed)`` of the
  stratified test, from the convolution of the strata's hypergeometric distributions
  (Fisher's exact test, stratified); for small counts, where the normal approximation
  of the CMH statistic is far too optimistic;
* :func:`benjamini_hochberg` -- BH-adjusted p-values (q-values).

Formulas and a worked example are in ``docs/why.md``; the unit tests check them on
tables whose answers are worked out by hand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: Two-sided 95% normal quantile.
Z95 = 1.959963984540054
#: Two-sided 90% (one-sided 95%) normal quantile.
Z90 = 1.6448536269514722

__all__ = [
    "Z90",
    "Z95",
    "MantelHaenszel",
    "benjamini_hochberg",
    "exact_upper_p",
    "katz",
    "mantel_haenszel",
    "mantel_haenszel_cells",
    "newcombe",
    "normal_sf2",
    "wilson",
]

_erfc = np.frompyfunc(math.erfc, 1, 1)


def normal_sf2(z: np.ndarray) -> np.ndarray:
    """Two-sided p-value of standard normal statistics: ``P(|Z| >= |z|)``."""
    z = np.abs(np.asarray(z, dtype=float))
    out = np.ones(z.shape)
    ok = np.isfinite(z)
    if ok.any():
        out[ok] = _erfc(z[ok] / math.sqrt(2.0)).astype(float)
    out[np.isinf(z)] = 0.0
    return out


def _f(x: np.ndarray | float) -> np.ndarray:
    return np.asarray(x, dtype=float)


def wilson(x: np.ndarray, n: np.ndarray, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval ``(lo, hi)`` for ``x`` successes out of ``n`` (NaN where n = 0)."""
    x, n = _f(x), _f(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = x / n
        z2 = z * z
        centre = (p + z2 / (2 * n)) / (1 + z2 / n)
        half = z * np.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)


def newcombe(a: np.ndarray, n1: np.ndarray, c: np.ndarray, n0: np.ndarray,
             z: float = Z95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Difference of rates ``p1 - p0`` and Newcombe's hybrid score interval.

    ``lo = d - sqrt((p1 - l1)^2 + (u0 - p0)^2)``, ``hi = d + sqrt((u1 - p1)^2 + (p0 - l0)^2)``
    with ``(l1, u1)``, ``(l0, u0)`` the Wilson intervals of ``p1`` and ``p0``.

    Returns:
        ``(difference, lo, hi)``.
    """
    a, n1, c, n0 = _f(a), _f(n1), _f(c), _f(n0)
    with np.errstate(divide="ignore", invalid="ignore"):
        p1, p0 = a / n1, c / n0
    l1, u1 = wilson(a, n1, z)
    l0, u0 = wilson(c, n0, z)
    d = p1 - p0
    lo = d - np.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2)
    hi = d + np.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2)
    return d, lo, hi


def katz(a: np.ndarray, n1: np.ndarray, c: np.ndarray, n0: np.ndarray,
         z: float = Z95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Risk ratio ``p1 / p0`` with the Katz log interval.

    The ratio itself is the plain one (``inf`` when ``c`` is 0 and ``a`` is not; NaN
    when both are 0). For the interval, a table with an empty cell (``a``, ``n1 - a``,
    ``c`` or ``n0 - c`` zero) has 0.5 added to each of its four cells.

    Returns:
        ``(ratio, lo, hi)``.
    """
    a, n1, c, n0 = _f(a), _f(n1), _f(c), _f(n0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (a / n1) / (c / n0)
        empty = (a == 0) | (c == 0) | (n1 - a == 0) | (n0 - c == 0)
        aa = np.where(empty, a + 0.5, a)
        cc = np.where(empty, c + 0.5, c)
        nn1 = np.where(empty, n1 + 1.0, n1)
        nn0 = np.where(empty, n0 + 1.0, n0)
        log_rr = np.log((aa / nn1) / (cc / nn0))
        se = np.sqrt(1 / aa - 1 / nn1 + 1 / cc - 1 / nn0)
    return ratio, np.exp(log_rr - z * se), np.exp(log_rr + z * se)


@dataclass(frozen=True, slots=True)
class MantelHaenszel:
    """Stratified risk ratios of many groups (arrays, one entry per group).

    Attributes:
        ratio: the Mantel-Haenszel risk ratio ``R / S`` with ``R = sum(a n0 / N)``,
            ``S = sum(c n1 / N)`` over strata (``inf`` when ``S`` is 0, NaN when both are).
        lo, hi: its 95% interval, ``exp(ln RR +- z sqrt(P / (R S)))`` with the
            Greenland-Robins ``P = sum((n1 n0 O - a c N) / N^2)``, ``O = a + c``
            (NaN where the ratio is 0 or infinite).
        z: the Cochran-Mantel-Haenszel statistic
            ``(sum a - sum E) / sqrt(sum V)``, ``E = n1 O / N``,
            ``V = n1 n0 O (N - O) / (N^2 (N - 1))``; positive: more outcomes in the group
            than the strata's rates predict (NaN where ``sum V`` is 0: not testable).
        p: its one-sided p-value ``P(Z >= z)`` with a continuity correction of 1/2,
            ``z_cc = (sum a - sum E - 1/2) / sqrt(sum V)`` (1.0 where not testable).
        expected: ``sum E``, the outcomes the group would have at the overall rate of
            each of its strata.
    """

    ratio: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    z: np.ndarray
    p: np.ndarray
    expected: np.ndarray


def mantel_haenszel(a: np.ndarray, n1: np.ndarray, outcome: np.ndarray, total: np.ndarray,
                    z: float = Z95) -> MantelHaenszel:
    """Mantel-Haenszel risk ratio, Greenland-Robins interval and CMH test, per group.

    Args:
        a: outcomes in the group, shape ``(groups, strata)``.
        n1: tickets of the group, same shape.
        outcome: outcomes of each stratum (``O``), shape ``(strata,)`` or like ``a``.
        total: tickets of each stratum (``N``), same shape as ``outcome``.
        z: normal quantile of the interval.
    """
    a, n1 = _f(a), _f(n1)
    terms = _mh_terms(a, n1, np.broadcast_to(_f(outcome), a.shape), np.broadcast_to(_f(total), a.shape))
    return _mh_figures(*(t.sum(axis=-1) for t in terms), z=z)


def mantel_haenszel_cells(group: np.ndarray, groups: int, a: np.ndarray, n1: np.ndarray, outcome: np.ndarray,
                          total: np.ndarray, z: float = Z95) -> MantelHaenszel:
    """:func:`mantel_haenszel` from the groups' non-empty cells only.

    A cell where the group has no ticket (``n1 = 0``, so ``a = 0``) adds exactly zero to
    every sum, so the tables of many groups over many strata -- nearly all of whose cells
    are empty once the strata are cut fine -- are summed over the cells that hold tickets.
    The figures equal the dense function's up to the order of the additions (the last bits).

    Args:
        group: per cell, its group (0 .. ``groups`` - 1).  groups: how many groups.
        a, n1: per cell, the group's outcomes and tickets in the stratum.
        outcome, total: per cell, the stratum's ``O`` and ``N``.
        z: normal quantile of the interval.
    """
    terms = _mh_terms(_f(a), _f(n1), _f(outcome), _f(total))
    return _mh_figures(*(np.bincount(group, weights=t, minlength=groups) for t in terms), z=z)


def _mh_terms(a: np.ndarray, n1: np.ndarray, big_o: np.ndarray, big_n: np.ndarray) -> tuple[np.ndarray, ...]:
    """Each stratum's share of ``R``, ``S``, ``P``, ``E``, ``V`` and ``a`` (summed over strata by the caller)."""
    c = big_o - a
    n0 = big_n - n1
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = np.where(big_n > 0, 1.0 / big_n, 0.0)
        r = a * n0 * inv
        s = c * n1 * inv
        pp = (n1 * n0 * big_o - a * c * big_n) * inv * inv
        expected_k = n1 * big_o * inv
        var_k = np.where(big_n > 1, n1 * n0 * big_o * (big_n - big_o) * inv * inv / (big_n - 1), 0.0)
    return r, s, pp, expected_k, var_k, a


def _mh_figures(r: np.ndarray, s: np.ndarray, pp: np.ndarray, e: np.ndarray, v: np.ndarray, a_sum: np.ndarray,
                *, z: float) -> MantelHaenszel:
    """The ratio, interval and test of each group from its sums over strata."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = r / s
        se = np.sqrt(pp / (r * s))
        finite = np.isfinite(ratio) & (ratio > 0) & np.isfinite(se)
        lo = np.where(finite, np.exp(np.log(ratio) - z * se), np.nan)
        hi = np.where(finite, np.exp(np.log(ratio) + z * se), np.nan)
        stat = np.where(v > 0, (a_sum - e) / np.sqrt(v), np.nan)
        stat_cc = np.where(v > 0, (a_sum - e - 0.5) / np.sqrt(v), np.nan)
    p = np.where(np.isfinite(stat_cc), normal_upper(stat_cc), 1.0)
    return MantelHaenszel(ratio=ratio, lo=lo, hi=hi, z=stat, p=p, expected=e)


def normal_upper(z: np.ndarray) -> np.ndarray:
    """One-sided p-value of standard normal statistics: ``P(Z >= z)``."""
    z = np.asarray(z, dtype=float)
    out = np.ones(z.shape)
    ok = np.isfinite(z)
    if ok.any():
        out[ok] = 0.5 * _erfc(z[ok] / math.sqrt(2.0)).astype(float)
    out[np.isposinf(z)] = 0.0
    return out


#: The exact test is used when the stratified sum can take at most this many values.
EXACT_MAX_SUPPORT = 2000


def exact_upper_p(a: np.ndarray, n1: np.ndarray, outcome: np.ndarray, total: np.ndarray,
                  *, max_support: int = EXACT_MAX_SUPPORT) -> float | None:
    """Exact one-sided p-value ``P(sum_k A_k >= sum_k a_k)`` of one group over its strata.

    Given each stratum's margins, ``A_k`` (outcomes among the group's ``n1_k`` tickets of
    the stratum's ``N_k``, ``O_k`` with the outcome) is hypergeometric; the strata are
    independent, so the distribution of the sum is the convolution of theirs. With one
    stratum this is Fisher's exact test (``alternative="greater"``).

    Returns:
        The p-value, or None when the sum can take more than ``max_support`` values
        (then the normal approximation is good and cheaper).
    """
    from scipy.special import gammaln

    a, n1, big_o, big_n = (np.asarray(x, dtype=np.int64) for x in (a, n1, outcome, total))
    lo = np.maximum(0, n1 - (big_n - big_o))
    hi = np.minimum(n1, big_o)
    if int((hi - lo).sum()) + 1 > max_support:
        return None
    strata = np.flatnonzero(n1 > 0)
    lengths = (hi - lo + 1)[strata]
    which = np.repeat(strata, lengths)
    k = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths) + np.repeat(lo[strata],
                                                                                                     lengths)
    big_k, nn, nd = big_o[which], n1[which], big_n[which]

    def log_choose(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return gammaln(x + 1.0) - gammaln(y + 1.0) - gammaln(x - y + 1.0)

    pmf_all = np.exp(log_choose(big_k, k) + log_choose(nd - big_k, nn - k) - log_choose(nd, nn))
    dist = np.array([1.0])
    offset = int(lo[strata].sum())
    start = 0
    for length in lengths.tolist():
        dist = np.convolve(dist, pmf_all[start:start + length])
        start += length
    observed = int(a.sum()) - offset
    if observed <= 0:
        return 1.0
    if observed >= len(dist):
        return 0.0
    return float(min(1.0, max(0.0, dist[observed:].sum())))


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values: ``q_(i) = min_{j >= i} p_(j) m / j``, capped at 1.

    A test is a discovery at false-discovery rate ``alpha`` when its q-value is at
    most ``alpha`` (the step-up procedure of Benjamini and Hochberg, 1995).
    """
    p = _f(p)
    m = p.size
    if m == 0:
        return p.copy()
    order = np.argsort(p, kind="stable")
    scaled = p[order] * m / np.arange(1, m + 1)
    q_sorted = np.minimum.accumulate(scaled[::-1])[::-1]
    q = np.empty(m)
    q[order] = np.minimum(q_sorted, 1.0)
    return q
