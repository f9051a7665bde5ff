"""Every candidate's evidence: counts per stratum, lifts, the adjusted test, discoveries.

The first half of :func:`csmine.explain.contributors.find_contributors` (the definitions
are in its module docstring and ``docs/why.md``): one pass over the memberships counts
every candidate's tickets and outcomes per stratum of all the adjustment attributes
(a candidate's coarser strata are sums of those columns; a derived candidate's rows, sums
of its parts' rows); each candidate is then adjusted for the adjustment attributes it is
not made of (Mantel-Haenszel, exact stratified test for small counts), and
Benjamini-Hochberg over all tested ones picks the discoveries. Arrays are over candidate
codes of the :class:`~csmine.explain.features.FeatureSet`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from csmine.explain.statistics import benjamini_hochberg, exact_upper_p, katz, mantel_haenszel, newcombe

if TYPE_CHECKING:
    from csmine.explain.features import FeatureSet
    from csmine.explain.measuring import Outcome

__all__ = ["Counts", "Evidence", "stratum_codes", "weigh_candidates"]


def stratum_codes(codes: list[np.ndarray], n: int) -> tuple[np.ndarray, int]:
    """Per ticket the code of its combination of ``codes`` (0..size-1 over those that occur), and size."""
    out = np.zeros(n, dtype=np.int64)
    size = 1
    for c in codes:
        k = int(c.max(initial=0)) + 1
        out = out * k + c
        size *= k
    if size > 1:
        _, out = np.unique(out, return_inverse=True)
        size = int(out.max()) + 1
    return out.astype(np.int64), size


@dataclass(frozen=True)
class Counts:
    """The applicable memberships and every candidate's counts.

    Attributes:
        ticket, candidate: the memberships of tickets the outcome applies to.
        y: per ticket code, 1.0 with the outcome.
        present: the adjustment attributes the applicable tickets have more than one value of.
        n1, a: per candidate, tickets and outcomes inside; ``c``, ``n0``: outside.
        n1_full, a_full: the same per stratum of all of ``present`` (candidates x strata).
        full, full_size: per ticket its stratum of all of ``present``, and their number.
        tested: at least ``min_support`` tickets inside and outside.
    """

    ticket: np.ndarray
    candidate: np.ndarray
    y: np.ndarray
    present: tuple[str, ...]
    n1: np.ndarray
    a: np.ndarray
    c: np.ndarray
    n0: np.ndarray
    n1_full: np.ndarray
    a_full: np.ndarray
    full: np.ndarray
    full_size: int
    tested: np.ndarray


@dataclass(frozen=True)
class Evidence:
    """Every candidate's figures (arrays over candidates; NaN or 1.0 where not tested).

    Attributes:
        counts: the counts they rest on.
        adjusted_for: per candidate, the adjustment attributes it is adjusted for.
        stratum_of: per such tuple of attributes, per ticket its stratum.
        ratio, lo_adj, hi_adj: Mantel-Haenszel risk ratio and Greenland-Robins interval.
        z, p, expected: the CMH statistic, the one-sided p-value (exact where
            ``exact_test``), the outcomes the strata predict.
        lift, lift_lo, lift_hi: crude lift and Katz interval.  diff, diff_lo, diff_hi: the
            difference of shares and Newcombe's interval.
        q: Benjamini-Hochberg over the tested.  discovered: a discovery.
        excess: outcomes above the expected ones, for discoveries (-inf elsewhere).
        p_star: the Benjamini-Hochberg cutoff (the largest p-value among the discoveries).
    """

    counts: Counts
    adjusted_for: list[tuple[str, ...]]
    stratum_of: dict[tuple[str, ...], np.ndarray]
    ratio: np.ndarray
    lo_adj: np.ndarray
    hi_adj: np.ndarray
    z: np.ndarray
    p: np.ndarray
    expected: np.ndarray
    exact_test: np.ndarray
    lift: np.ndarray
    lift_lo: np.ndarray
    lift_hi: np.ndarray
    diff: np.ndarray
    diff_lo: np.ndarray
    diff_hi: np.ndarray
    q: np.ndarray
    discovered: np.ndarray
    excess: np.ndarray
    p_star: float


#: Memberships counted at once by :func:`count_candidates`.
COUNT_CHUNK = 4_000_000


def weigh_candidates(outcome: Outcome, features: FeatureSet, *, min_support: int, alpha: float,
                     adjust: tuple[str, ...]) -> Evidence:
    """Count, test and control every candidate (see the module docstring)."""
    counts = count_candidates(outcome, features, min_support=min_support, adjust=adjust)
    return _discoveries(counts, *_adjusted_tests(counts, outcome, features, alpha), alpha=alpha)


def count_candidates(outcome: Outcome, features: FeatureSet, *, min_support: int,
                     adjust: tuple[str, ...]) -> Counts:
    """Every candidate's tickets and outcomes, inside and outside, and per stratum."""
    applies = outcome.applies
    y = outcome.flag.astype(float)
    big_n, big_o = int(applies.sum()), int(outcome.flag.sum())
    n_feat = features.size
    keep = applies[features.ticket]
    if keep.all():  # the outcome applies to every ticket: the memberships as they are (no copies)
        t, f = features.ticket, features.candidate
    else:
        t, f = features.ticket[keep], features.candidate[keep]
    present = tuple(name for name in adjust if name in features.strata
                    and len(np.unique(features.strata[name][applies])) > 1)
    full, full_size = stratum_codes([features.strata[x] for x in present], features.tickets)
    cells = n_feat * full_size
    n1_full, a_full = np.zeros(cells), np.zeros(cells)
    for start in range(0, len(t), COUNT_CHUNK):  # bounded temporaries; the sums are of integers: exact
        tt = t[start:start + COUNT_CHUNK]
        key = f[start:start + COUNT_CHUNK].astype(np.int64) * full_size + full[tt]
        n1_full += np.bincount(key, minlength=cells)
        a_full += np.bincount(key, weights=y[tt], minlength=cells)
    n1_full, a_full = n1_full.reshape(n_feat, full_size), a_full.reshape(n_feat, full_size)
    for code, parts in features.derived.items():
        n1_full[code] = n1_full[list(parts)].sum(axis=0)
        a_full[code] = a_full[list(parts)].sum(axis=0)
    n1, a = n1_full.sum(axis=1), a_full.sum(axis=1)
    c, n0 = big_o - a, big_n - n1
    return Counts(ticket=t, candidate=f, y=y, present=present, n1=n1, a=a, c=c, n0=n0, n1_full=n1_full,
                  a_full=a_full, full=full, full_size=full_size, tested=(n1 >= min_support) & (n0 >= min_support))


def _adjusted_tests(counts: Counts, outcome: Outcome, features: FeatureSet,
                    alpha: float) -> tuple[dict[str, np.ndarray], list[tuple[str, ...]], dict[tuple[str, ...], np.ndarray]]:
    """Each tested candidate adjusted for the adjustment attributes it is not made of: the
    Mantel-Haenszel figures per candidate, what each is adjusted for, the strata of each."""
    n_feat = features.size
    groups: dict[tuple[str, ...], list[int]] = {}
    for code in np.flatnonzero(counts.tested):
        own = features.involves[code]
        groups.setdefault(tuple(x for x in counts.present if x not in own), []).append(int(code))
    figures = {name: np.full(n_feat, np.nan) for name in ("ratio", "lo_adj", "hi_adj", "z", "expected")}
    figures["p"] = np.ones(n_feat)
    figures["exact_test"] = np.zeros(n_feat, dtype=bool)
    adjusted_for: list[tuple[str, ...]] = [()] * n_feat
    stratum_of: dict[tuple[str, ...], np.ndarray] = {}
    on = np.flatnonzero(outcome.applies)
    representative = np.zeros(counts.full_size, dtype=np.int64)
    representative[counts.full[::-1]] = np.arange(features.tickets)[::-1]  # a ticket of each stratum
    for by, codes_list in groups.items():
        codes = np.asarray(codes_list, dtype=np.int64)
        stratum, size = stratum_codes([features.strata[x] for x in by], features.tickets)
        stratum_of[by] = stratum
        coarse = np.zeros((counts.full_size, size))
        coarse[np.arange(counts.full_size), stratum[representative]] = 1.0
        _test_group(figures, codes, counts.n1_full[codes] @ coarse, counts.a_full[codes] @ coarse,
                    np.bincount(stratum[on], weights=counts.y[on], minlength=size),
                    np.bincount(stratum[on], minlength=size), alpha, adjusted=bool(by))
        for code in codes:
            adjusted_for[int(code)] = by
    return figures, adjusted_for, stratum_of


def _test_group(figures: dict[str, np.ndarray], codes: np.ndarray, n1k: np.ndarray, ak: np.ndarray,
                ok: np.ndarray, nk: np.ndarray, alpha: float, *, adjusted: bool) -> None:
    """The candidates ``codes`` over the same strata: CMH, and for small counts the exact
    stratified test (the normal one is far too optimistic there); where the normal p-value
    is above ``alpha`` the exact one is too."""
    mh = mantel_haenszel(ak, n1k, ok, nk)
    figures["z"][codes], figures["p"][codes], figures["expected"][codes] = mh.z, mh.p, mh.expected
    for j in np.flatnonzero(np.isfinite(mh.z) & (mh.z > 0) & (mh.p <= alpha)):
        exact = exact_upper_p(ak[j], n1k[j], ok, nk)
        if exact is not None:
            figures["p"][codes[j]] = exact
            figures["exact_test"][codes[j]] = True
    if adjusted:
        figures["ratio"][codes], figures["lo_adj"][codes], figures["hi_adj"][codes] = mh.ratio, mh.lo, mh.hi


def _discoveries(counts: Counts, figures: dict[str, np.ndarray], adjusted_for: list[tuple[str, ...]],
                 stratum_of: dict[tuple[str, ...], np.ndarray], *, alpha: float) -> Evidence:
    """Crude figures, the false-discovery control and the discoveries.

    The test is about the adjusted lift (the crude one where there is nothing to adjust
    for): a discovery must also have that lift's 95% interval above 1, so that what is
    listed and the interval shown with it never disagree (the test and the interval are
    different approximations near the boundary).
    """
    a, n1, c, n0, tested = counts.a, counts.n1, counts.c, counts.n0, counts.tested
    lift, lift_lo, lift_hi = katz(a, n1, c, n0)
    diff, diff_lo, diff_hi = newcombe(a, n1, c, n0)
    p = figures["p"]
    q = np.ones(len(p))
    idx = np.flatnonzero(tested)
    q[idx] = benjamini_hochberg(p[idx])
    has_adj = np.asarray([bool(x) for x in adjusted_for], dtype=bool)
    ratio, lo_adj = figures["ratio"], figures["lo_adj"]
    effect_lo = np.where(has_adj, lo_adj, lift_lo)
    effect_lo = np.where(np.isfinite(effect_lo), effect_lo,
                         np.where(has_adj & np.isposinf(ratio), lift_lo, 0.0))  # none outside: the crude bound
    discovered = tested & (q <= alpha) & (figures["z"] > 0) & (effect_lo > 1.0)
    excess = np.where(discovered, a - np.nan_to_num(figures["expected"]), -np.inf)
    return Evidence(
        counts=counts, adjusted_for=adjusted_for, stratum_of=stratum_of, ratio=ratio, lo_adj=lo_adj,
        hi_adj=figures["hi_adj"], z=figures["z"], p=p, expected=figures["expected"],
        exact_test=figures["exact_test"], lift=lift, lift_lo=lift_lo, lift_hi=lift_hi, diff=diff, diff_lo=diff_lo,
        diff_hi=diff_hi, q=q, discovered=discovered, excess=excess,
        p_star=float(p[discovered].max()) if discovered.any() else 0.0)
