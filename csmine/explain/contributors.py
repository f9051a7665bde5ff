"""Contributors: which groups of tickets have the outcome more often, by how much, how surely.

For every candidate group (:mod:`csmine.explain.features`) with at least
``min_support`` tickets inside and outside, among the tickets the outcome applies to:

* ``share_in`` / ``share_out``: the outcome's rate inside and outside the group;
* ``lift``: ``share_in / share_out`` (the risk ratio), with its 95% Katz log interval;
* ``difference``: ``share_in - share_out`` with Newcombe's hybrid score interval;
* ``adjusted_lift``: the Mantel-Haenszel risk ratio over the strata of the adjustment
  attributes (default priority x channel) with its Greenland-Robins interval -- the
  lift holding the priority and channel mix fixed. A candidate is not adjusted for
  its own attributes (``channel = email`` is adjusted for priority only); one made of
  all of them has no adjusted lift;
* a one-sided p-value over the same strata: the exact stratified (conditional) test for
  small counts, else the Cochran-Mantel-Haenszel statistic with a continuity
  correction; Benjamini-Hochberg over all candidates tested controls the
  false-discovery rate (``alpha``, 5%). Discoveries are the candidates with a q-value
  at most ``alpha`` and more outcomes than their strata predict.

Discoveries overlap (every hour range inside the night, every agent of one team), so they
are listed by forward selection, in two lists: *who and when* (ticket attributes, pairs,
weekday, hour, phase), then *how* (agents, path, queue at arrival), given the first. The
next contributor is the one with the highest lower 95% bound of its lift adjusted for the
strata and for the contributors listed before it (within the values of a listed ticket
attribute, else within and outside a listed group); it is listed only while, so
adjusted, its one-sided p-value is at most the Benjamini-Hochberg cutoff. Candidates
that no longer are, are listed with the contributor they overlap most
(``explained_by_this``). Also:

* a pair is considered only when it stands out within both of its single values
  (Fisher's exact test, one-sided 5%), and gives way to one of them when that value has
  the outcome more often outside the pair too (one-sided, given the strata, those listed
  and the pair, at 5% after Bonferroni over that value's pairs tested);
* a candidate covering the same tickets as one listed (Jaccard >= 0.8) is listed with it
  (``same_as``);
* one entry per attribute whose unions of values are tested (the union says which
  values), one range per stretch of hours or queue lengths.

The listing only removes discoveries; as a subset picked by its own rules its
false-discovery rate is not bounded by the procedure's, so ``benchmarks/bench_why.py``
measures it on logs with nothing planted.

:func:`find_contributors` is one long function on purpose: the forward selection works on a
dozen arrays over candidates and tickets (memberships, strata, the pattern of those listed)
that its inner steps share; split into functions they would pass all of them around.
The result types and their words are in :mod:`csmine.explain.results`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from csmine.explain.results import (  # noqa: F401 -- re-exported: the public face's names
    Contributor,
    ContributorAnalysis,
    contributor_words,
    lift_text,
    lift_texts,
    listed_with,
)
from csmine.explain.statistics import benjamini_hochberg, exact_upper_p, katz, mantel_haenszel, newcombe

if TYPE_CHECKING:
    from csmine.explain.features import FeatureSet
    from csmine.explain.outcomes import Outcome

__all__ = ["DEFAULT_ADJUST", "Contributor", "ContributorAnalysis", "find_contributors", "lift_text", "lift_texts",
           "listed_with"]

#: Attributes the adjusted lift holds fixed.
DEFAULT_ADJUST = ("priority", "channel")
#: Overlap (Jaccard) from which two groups count as the same tickets.
SAME = 0.8
#: Kinds listed after the others ("how": who worked on it, its path, the queue it met), given them.
MECHANISM_KINDS = frozenset({"path", "load", "agent"})
#: Ordered attributes: once one range of them is shown, overlapping ranges are listed with it.
ORDINAL = frozenset({"hour", "queue at arrival", "teams"})


def _stratum(codes: list[np.ndarray], n: int) -> tuple[np.ndarray, int]:
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


def _compress(codes: np.ndarray, size: int) -> tuple[np.ndarray, int]:
    """Codes below ``size`` renumbered 0..k-1 over the ones that occur (no sort: a lookup)."""
    present = np.zeros(size, dtype=bool)
    present[codes] = True
    remap = np.cumsum(present) - 1
    return remap[codes], int(present.sum())


def _jaccard(x: np.ndarray, y: np.ndarray, nx: float | None = None) -> float:
    inter = float((x & y).sum())
    union = (float(x.sum()) if nx is None else nx) + float(y.sum()) - inter
    return inter / union if union else 0.0


def _upper_p(a_in: float, n_in: float, a_out: float, n_out: float) -> float:
    """One-sided p-value that the rate inside is above the rate outside: Fisher's exact test,
    or for large counts the normal approximation with a continuity correction."""
    if n_in <= 0 or n_out <= 0:
        return 1.0
    counts = (np.array([[a_in]]), np.array([[n_in]]), np.array([a_in + a_out]), np.array([n_in + n_out]))
    exact = exact_upper_p(counts[0][0], counts[1][0], counts[2], counts[3])
    if exact is not None:
        return exact
    return float(mantel_haenszel(*counts).p[0])


def find_contributors(
    outcome: Outcome,
    features: FeatureSet,
    *,
    min_support: int = 20,
    alpha: float = 0.05,
    top: int = 10,
    adjust: tuple[str, ...] = DEFAULT_ADJUST,
    mechanisms_last: bool = True,
) -> ContributorAnalysis:
    """Rank the groups of tickets that have ``outcome`` more often (see the module docstring).

    Args:
        outcome: the outcome per ticket (:func:`csmine.explain.outcomes.evaluate_outcome`).
        features: the candidate groups (:func:`csmine.explain.features.ticket_features`).
        min_support: tickets needed inside and outside a group (among those the outcome
            applies to) for it to be tested.
        alpha: the false-discovery rate of the Benjamini-Hochberg procedure.
        top: at most this many contributors shown (of each of the two lists).
        adjust: the attributes whose mix the adjusted lift holds fixed.
        mechanisms_last: list who and when (ticket attributes, pairs, context) first and
            how (path, queue at arrival) after them, given them; False: one list.
    """
    from csmine.explain.features import describe_group

    applies = outcome.applies
    y = outcome.flag.astype(float)
    big_n = int(applies.sum())
    big_o = int(outcome.flag.sum())
    n_feat = features.size
    keep = applies[features.ticket]
    t = features.ticket[keep]
    f = features.candidate[keep]
    present = tuple(name for name in adjust if name in features.strata
                    and len(np.unique(features.strata[name][applies])) > 1)
    # one pass over the memberships: every candidate's tickets and outcomes per stratum of
    # all the adjustment attributes (a candidate's coarser strata are sums of those
    # columns; a derived candidate's rows, sums of its parts' rows)
    full, full_size = _stratum([features.strata[x] for x in present], features.tickets)
    key = f * full_size + full[t]
    n1_full = np.bincount(key, minlength=n_feat * full_size).reshape(n_feat, full_size).astype(float)
    a_full = np.bincount(key, weights=y[t], minlength=n_feat * full_size).reshape(n_feat, full_size)
    for code, parts_ in features.derived.items():
        n1_full[code] = n1_full[list(parts_)].sum(axis=0)
        a_full[code] = a_full[list(parts_)].sum(axis=0)
    n1 = n1_full.sum(axis=1)
    a = a_full.sum(axis=1)
    c = big_o - a
    n0 = big_n - n1
    tested = (n1 >= min_support) & (n0 >= min_support)

    # each candidate is adjusted for the adjustment attributes it is not made of
    groups: dict[tuple[str, ...], list[int]] = {}
    for code in np.flatnonzero(tested):
        own = features.involves[code]
        groups.setdefault(tuple(x for x in present if x not in own), []).append(int(code))
    ratio = np.full(n_feat, np.nan)
    lo_adj = np.full(n_feat, np.nan)
    hi_adj = np.full(n_feat, np.nan)
    z = np.full(n_feat, np.nan)
    p = np.ones(n_feat)
    expected = np.full(n_feat, np.nan)
    exact_test = np.zeros(n_feat, dtype=bool)
    adjusted_for: list[tuple[str, ...]] = [()] * n_feat
    stratum_of: dict[tuple[str, ...], np.ndarray] = {}
    on = np.flatnonzero(applies)
    representative = np.zeros(full_size, dtype=np.int64)
    representative[full[::-1]] = np.arange(features.tickets)[::-1]  # a ticket of each stratum
    for by, codes_list in groups.items():
        codes = np.asarray(codes_list, dtype=np.int64)
        stratum, size = _stratum([features.strata[x] for x in by], features.tickets)
        stratum_of[by] = stratum
        coarse = np.zeros((full_size, size))
        coarse[np.arange(full_size), stratum[representative]] = 1.0
        n1k = n1_full[codes] @ coarse
        ak = a_full[codes] @ coarse
        nk = np.bincount(stratum[on], minlength=size)
        ok = np.bincount(stratum[on], weights=y[on], minlength=size)
        mh = mantel_haenszel(ak, n1k, ok, nk)
        z[codes], p[codes], expected[codes] = mh.z, mh.p, mh.expected
        # small counts: the exact stratified test (the normal one is far too optimistic
        # there); where the normal p-value is above alpha the exact one is too
        for j in np.flatnonzero(np.isfinite(mh.z) & (mh.z > 0) & (mh.p <= alpha)):
            exact = exact_upper_p(ak[j], n1k[j], ok, nk)
            if exact is not None:
                p[codes[j]] = exact
                exact_test[codes[j]] = True
        if by:
            ratio[codes], lo_adj[codes], hi_adj[codes] = mh.ratio, mh.lo, mh.hi
        for code in codes:
            adjusted_for[int(code)] = by
    lift, lift_lo, lift_hi = katz(a, n1, c, n0)
    diff, diff_lo, diff_hi = newcombe(a, n1, c, n0)
    q = np.ones(n_feat)
    idx = np.flatnonzero(tested)
    q[idx] = benjamini_hochberg(p[idx])
    # the test is about the adjusted lift (the crude one where there is nothing to adjust
    # for): a discovery must also have that lift's 95% interval above 1, so that what is
    # listed and the interval shown with it never disagree (the test and the interval are
    # different approximations near the boundary)
    has_adj = np.asarray([bool(x) for x in adjusted_for], dtype=bool)
    effect_lo = np.where(has_adj, lo_adj, lift_lo)
    effect_lo = np.where(np.isfinite(effect_lo), effect_lo,
                         np.where(has_adj & np.isposinf(ratio), lift_lo, 0.0))  # none outside: the crude bound
    discovered = tested & (q <= alpha) & (z > 0) & (effect_lo > 1.0)
    excess = np.where(discovered, a - np.nan_to_num(expected), -np.inf)

    # -- the readable list: forward selection by excess outcomes ------------------------
    pair_of = features.pair_of
    needed = discovered.copy()
    parts = pair_of[discovered]
    needed[parts[parts >= 0]] = True
    derived = features.derived
    for code in np.flatnonzero(discovered):
        for part in derived.get(int(code), ()):
            needed[part] = True
    sub = needed[f]
    sub_f, sub_t = f[sub], t[sub]
    by_code = np.argsort(sub_f, kind="stable")
    sub_f, sub_t = sub_f[by_code], sub_t[by_code]
    bounds = np.searchsorted(sub_f, np.arange(n_feat + 1))
    member_cache: dict[int, np.ndarray] = {}

    def tickets_of(code: int) -> np.ndarray:
        """The applicable tickets of a candidate (a derived one: of its parts)."""
        if code in derived:
            return np.concatenate([sub_t[bounds[x]:bounds[x + 1]] for x in derived[code]])
        return sub_t[bounds[code]:bounds[code + 1]]

    def members(code: int) -> np.ndarray:
        if code not in member_cache:
            out = np.zeros(features.tickets, dtype=bool)
            out[tickets_of(code)] = True
            member_cache[code] = out
        return member_cache[code]

    flag = outcome.flag
    candidates = [int(x) for x in np.flatnonzero(discovered)]
    # a pair must stand out within both of its single values
    # the Benjamini-Hochberg cutoff: a contributor is listed only while, given those
    # listed before it, its one-sided p-value is still at most this
    p_star = float(p[discovered].max()) if discovered.any() else 0.0
    remaining = []
    for code in candidates:
        if pair_of[code, 0] >= 0:
            pm = members(code)
            if not all(_upper_p(a[code], n1[code], float(flag[rest].sum()), float(rest.sum())) <= 0.05
                       for rest in (members(int(part)) & ~pm for part in pair_of[code])):
                continue
        remaining.append(code)
    cand = np.asarray(remaining, dtype=np.int64)
    in_cand = np.zeros(n_feat, dtype=bool)
    in_cand[cand] = True
    # the memberships of the candidates in play (a derived one's: its parts' tickets)
    use = in_cand[sub_f]
    extra = [(code, tickets_of(code)) for code in cand.tolist() if code in derived]
    cf = np.concatenate([sub_f[use]] + [np.full(len(x), code, dtype=np.int64) for code, x in extra])
    ct = np.concatenate([sub_t[use]] + [x for _, x in extra])
    pattern = np.zeros(features.tickets, dtype=np.int64)
    shown: list[int] = []
    same: dict[int, list[str]] = {}
    explains: dict[int, list[str]] = {}
    alive = in_cand.copy()
    on = np.flatnonzero(applies)
    by_index = {by: k for k, by in enumerate(stratum_of)}
    group_of = np.full(n_feat, -1, dtype=np.int64)
    for code in np.flatnonzero(tested):
        group_of[code] = by_index.get(adjusted_for[int(code)], -1)
    cf_group = group_of[cf]
    crude_lo = np.where(np.isfinite(lift_lo), lift_lo, 0.0)

    def name_of(code: int) -> str:
        return f"{features.attribute[code]} = {features.value[code]}"

    def attach(target: dict[int, list[str]], owner: int, code: int) -> None:
        target.setdefault(owner, []).append(name_of(code))
        alive[code] = False

    pairs_with = np.bincount(pair_of[tested & (pair_of[:, 0] >= 0)].ravel(), minlength=n_feat)

    def conditioning(code: int) -> np.ndarray:
        """Per ticket, what later candidates are compared within once ``code`` is listed: the
        values of a listed ticket attribute (a union says which values; within it they may
        still differ), else in or out of the listed group."""
        own = features.involves[code]
        if features.kind[code] == "ticket" and len(own) == 1 and next(iter(own)) in features.strata:
            return features.strata[next(iter(own))]
        return members(code).astype(np.int64)

    def conditional_p(code: int, extra: np.ndarray, mask: np.ndarray | None = None) -> float:
        """One-sided p-value of ``code`` (or of the tickets ``mask``, in ``code``'s strata) given
        its strata, those listed and ``extra``; NaN where it cannot be tested (no ticket of a
        stratum differs)."""
        stratum = stratum_of[adjusted_for[code]]
        both = np.unique(pattern * (int(extra.max()) + 1) + extra, return_inverse=True)[1]
        g = np.unique(stratum * (int(both.max()) + 1) + both, return_inverse=True)[1]
        size = int(g.max()) + 1
        mine = (members(code) if mask is None else mask) & applies
        n1k = np.bincount(g[mine], minlength=size)[None, :]
        ak = np.bincount(g[mine], weights=y[mine], minlength=size)[None, :]
        nk = np.bincount(g[on], minlength=size)
        ok = np.bincount(g[on], weights=y[on], minlength=size)
        mh = mantel_haenszel(ak, n1k, ok, nk)
        if not np.isfinite(mh.z[0]):
            return math.nan
        if mh.z[0] <= 0:
            return 1.0
        exact = exact_upper_p(ak[0], n1k[0], ok, nk)
        return float(mh.p[0]) if exact is None else exact

    def select(pool: np.ndarray, limit: int) -> list[int]:
        nonlocal pattern
        alive[:] = alive & pool
        listed: list[int] = []
        while len(listed) < limit and alive.any():
            # every candidate's lift adjusted for its strata and for the groups already shown
            cond_lo = np.full(n_feat, -np.inf)
            cond_z = np.full(n_feat, np.nan)
            cond_p = np.ones(n_feat)
            tables: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}
            width = int(pattern.max()) + 1
            use = alive[cf]  # the memberships of candidates still in play
            af, at, ag = cf[use], ct[use], cf_group[use]
            for gk, stratum in enumerate(stratum_of.values()):
                codes = np.flatnonzero(alive & (group_of == gk))
                if len(codes) == 0:
                    continue
                g, size = _compress(stratum * width + pattern, int(stratum.max()) * width + width)
                local = np.full(n_feat, -1, dtype=np.int64)
                local[codes] = np.arange(len(codes))
                m = ag == gk
                key = local[af[m]] * size + g[at[m]]
                shape = (len(codes), size)
                n1k = np.bincount(key, minlength=len(codes) * size).reshape(shape)
                ak = np.bincount(key, weights=y[at[m]], minlength=len(codes) * size).reshape(shape)
                nk = np.bincount(g[on], minlength=size)
                ok = np.bincount(g[on], weights=y[on], minlength=size)
                mh = mantel_haenszel(ak, n1k, ok, nk)
                lo_ = np.where(np.isfinite(mh.lo), mh.lo, np.where(np.isinf(mh.ratio), crude_lo[codes], 0.0))
                cond_lo[codes] = lo_
                cond_z[codes] = mh.z
                cond_p[codes] = mh.p
                for j, code in enumerate(codes.tolist()):
                    tables[code] = (ak[j], n1k[j], ok, nk)

            def explained(code: int) -> None:
                idx = tickets_of(code)
                owner = max(shown, key=lambda x: int(members(x)[idx].sum())) if shown else None
                if owner is not None:
                    attach(explains, owner, code)
                else:
                    alive[code] = False

            # explained by those shown: given them, no longer a discovery
            for code in np.flatnonzero(alive & ~((cond_z > 0) & (cond_p <= p_star))):
                explained(int(code))
            best = -1
            while alive.any():
                best = int(np.argmax(np.where(alive, cond_lo, -np.inf)))
                exact = exact_upper_p(*tables[best]) if shown else None
                if exact is None or exact <= p_star:
                    break
                explained(best)  # small counts: the exact conditional test decides
                best = -1
            if best < 0:
                break
            # parsimony: a pair gives way to one of its single values still in play (listed
            # now; the pair may follow if it stands out given it) when that value has the
            # outcome more often outside the pair too (one-sided, given the strata, those
            # listed and the pair, at 5% after Bonferroni over the value's pairs tested), or
            # when the value alone has more evidence than the pair (a smaller one-sided
            # p-value, given the strata and those listed): then the value, not the pair, is
            # what the tickets share
            if pair_of[best, 0] >= 0:
                pm = members(best)
                parts = sorted((int(x) for x in pair_of[best] if alive[int(x)]), key=lambda x: cond_p[x])
                for part in parts:
                    bar = 0.05 / max(int(pairs_with[part]), 1)
                    if cond_p[part] <= cond_p[best] or conditional_p(
                            best, pm.astype(np.int64), mask=members(part) & ~pm) <= bar:
                        best = part
                        break
            alive[best] = False
            bm = members(best)
            nb = float(bm.sum())
            twin = next((x for x in shown if _jaccard(bm, members(x), nb) >= SAME), None)
            if twin is not None:
                same.setdefault(twin, []).append(name_of(best))
                continue
            # later candidates are compared within the values of a listed ticket attribute
            # (a union says which values; within it, they may still differ), else within
            # and outside the listed group
            new = conditioning(best)
            pattern = np.unique(pattern * (int(new.max()) + 1) + new, return_inverse=True)[1].astype(np.int64)
            shown.append(best)
            listed.append(best)
            for code in np.flatnonzero(alive):
                code = int(code)
                idx = tickets_of(code)
                inter = int(bm[idx].sum())
                if inter / (len(idx) + nb - inter) >= SAME:
                    attach(same, best, code)
                elif features.attribute[code] == features.attribute[best] and (
                        (features.attribute[best] in ORDINAL and inter > 0)
                        or (features.attribute[best] in united and features.kind[best] != "pair")):
                    # one range per stretch of hours or queue lengths; one entry per attribute
                    # whose unions of values are tested (the union says which values)
                    attach(explains, best, code)
        return listed

    united = {str(features.attribute[x]) for x in range(n_feat)
              if " or " in str(features.value[x]) or str(features.value[x]).startswith("not ")}
    mechanism = np.isin(features.kind, list(MECHANISM_KINDS))
    everything = alive.copy()
    if mechanisms_last:
        # who and when first; then how (path, queue), given those
        select(everything & ~mechanism, top)
        alive[:] = everything & mechanism
        select(alive.copy(), top)
    else:
        select(everything, top)

    contributors = []
    for code in shown:
        attr, value = str(features.attribute[code]), str(features.value[code])
        by = adjusted_for[code]
        adj = float(ratio[code]) if by and np.isfinite(ratio[code]) else None
        item = Contributor(
            attribute=attr, value=value, kind=str(features.kind[code]), support=int(n1[code]),
            with_outcome=int(a[code]), share_in=float(a[code] / n1[code]), share_out=float(c[code] / n0[code]),
            lift=float(lift[code]) if np.isfinite(lift[code]) else None,
            lift_ci=(float(lift_lo[code]), float(lift_hi[code])),
            difference=float(diff[code]), difference_ci=(float(diff_lo[code]), float(diff_hi[code])),
            adjusted_lift=adj,
            adjusted_ci=(float(lo_adj[code]), float(hi_adj[code])) if adj is not None else (None, None),
            adjusted_for=by, expected=float(expected[code]), p_value=float(p[code]), q_value=float(q[code]),
            test=("exact" if exact_test[code] else "cmh"),
            same_as=tuple(same.get(code, ())), explained_by_this=tuple(explains.get(code, ())),
        )
        contributors.append(contributor_words(item, describe_group(attr, value), outcome.label))
    return ContributorAnalysis(
        contributors=tuple(contributors), tested=int(tested.sum()), discoveries=int(discovered.sum()),
        tickets=big_n, with_outcome=big_o, alpha=alpha, min_support=min_support, adjusted_for=present,
        tested_mask=tested, support=n1, with_outcome_in=a, p=p, q=q, z=z, score=excess,
        members=tuple(members(code) for code in shown),
    )
