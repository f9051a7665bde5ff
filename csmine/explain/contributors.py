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

:func:`find_contributors` runs the two halves: :mod:`csmine.explain.evidence` counts, tests
and controls every candidate; :mod:`csmine.explain.listing` makes the readable list (its
:class:`~csmine.explain.listing.Listing` holds the arrays the steps of the forward
selection share). The result types and their words are in :mod:`csmine.explain.results`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from csmine.explain.evidence import weigh_candidates
from csmine.explain.listing import MECHANISM_KINDS, Listing
from csmine.explain.results import Contributor, ContributorAnalysis, contributor_words, describe_group

if TYPE_CHECKING:
    from csmine.explain.evidence import Evidence
    from csmine.explain.features import FeatureSet
    from csmine.explain.measuring import Outcome

__all__ = ["DEFAULT_ADJUST", "find_contributors"]

#: Attributes the adjusted lift holds fixed.
DEFAULT_ADJUST = ("priority", "channel")


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
    ev = weigh_candidates(outcome, features, min_support=min_support, alpha=alpha, adjust=adjust)
    listing = Listing(outcome, features, ev)
    everything = listing.alive.copy()
    if mechanisms_last:
        # who and when first; then how (path, queue), given those
        mechanism = np.isin(features.kind, list(MECHANISM_KINDS))
        listing.select(everything & ~mechanism, top)
        listing.alive[:] = everything & mechanism
        listing.select(listing.alive.copy(), top)
    else:
        listing.select(everything, top)
    counts = ev.counts
    return ContributorAnalysis(
        contributors=tuple(_contributor(code, features, ev, listing, outcome.label) for code in listing.shown),
        tested=int(counts.tested.sum()), discoveries=int(ev.discovered.sum()), tickets=int(outcome.applies.sum()),
        with_outcome=int(outcome.flag.sum()), alpha=alpha, min_support=min_support, adjusted_for=counts.present,
        tested_mask=counts.tested, support=counts.n1, with_outcome_in=counts.a, p=ev.p, q=ev.q, z=ev.z,
        score=ev.excess, members=tuple(listing.members(code) for code in listing.shown),
    )


def _contributor(code: int, features: FeatureSet, ev: Evidence, listing: Listing, label: str) -> Contributor:
    """One listed candidate's figures and words."""
    attr, value = str(features.attribute[code]), str(features.value[code])
    by = ev.adjusted_for[code]
    adj = float(ev.ratio[code]) if by and np.isfinite(ev.ratio[code]) else None
    n1, a, c, n0 = ev.counts.n1, ev.counts.a, ev.counts.c, ev.counts.n0
    item = Contributor(
        attribute=attr, value=value, kind=str(features.kind[code]), support=int(n1[code]),
        with_outcome=int(a[code]), share_in=float(a[code] / n1[code]), share_out=float(c[code] / n0[code]),
        lift=float(ev.lift[code]) if np.isfinite(ev.lift[code]) else None,
        lift_ci=(float(ev.lift_lo[code]), float(ev.lift_hi[code])),
        difference=float(ev.diff[code]), difference_ci=(float(ev.diff_lo[code]), float(ev.diff_hi[code])),
        adjusted_lift=adj,
        adjusted_ci=(float(ev.lo_adj[code]), float(ev.hi_adj[code])) if adj is not None else (None, None),
        adjusted_for=by, expected=float(ev.expected[code]), p_value=float(ev.p[code]), q_value=float(ev.q[code]),
        test=("exact" if ev.exact_test[code] else "cmh"),
        same_as=tuple(listing.same.get(code, ())), explained_by_this=tuple(listing.explains.get(code, ())),
    )
    return contributor_words(item, describe_group(attr, value), label)
