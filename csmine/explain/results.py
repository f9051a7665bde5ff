"""What ``find_contributors`` returns: one contributor's figures and words, and the analysis.

The figures are defined in :mod:`csmine.explain.contributors` and ``docs/why.md``; the
words (:func:`contributor_words`) follow the issue's form: "email tickets breach the
first-response limit 3.1× as often (95% CI 2.6–3.7; 2.4× after adjusting for priority,
95% CI 2.0–2.9)", the group in words from :func:`describe_group`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

__all__ = ["Contributor", "ContributorAnalysis", "contributor_words", "describe_group", "lift_text", "lift_texts",
           "listed_with"]


def _num(x: Any, digits: int = 6) -> float | None:
    if x is None:
        return None
    x = float(x)
    if math.isnan(x) or math.isinf(x):
        return None
    return round(x, digits)


@dataclass(frozen=True, slots=True)
class Contributor:
    """One group of tickets that has the outcome more often.

    Attributes:
        attribute: what the group shares (``channel``, ``team & category``, ``agent``, ``step`` ...).
        value: its value (``email``; for a pair ``First line North & after-sales``).
        kind: ``ticket``, ``pair``, ``context`` (who and when); ``agent``, ``load``, ``path`` (how).
        support: tickets of the group the outcome applies to.
        with_outcome: of them, with the outcome.
        share_in: ``with_outcome / support``.
        share_out: the rate among the other tickets.
        lift: ``share_in / share_out`` (None when ``share_out`` is 0: only this group has it).
        lift_ci: 95% Katz log interval of the lift (0.5 added to each cell of a table with
            an empty cell).
        difference: ``share_in - share_out``.
        difference_ci: its 95% Newcombe hybrid score interval.
        adjusted_lift: Mantel-Haenszel risk ratio over the strata of ``adjusted_for``
            (None when there is nothing to adjust for or it is infinite).
        adjusted_ci: its 95% Greenland-Robins interval.
        adjusted_for: the attributes held fixed.
        expected: outcomes the group would have at its strata's overall rates.
        p_value: one-sided p-value of the test of the *adjusted* lift (of the crude lift
            when ``adjusted_for`` is empty): the exact stratified (conditional) test where
            ``test`` is ``exact``, else the Cochran-Mantel-Haenszel statistic with a
            continuity correction of 1/2 (``cmh``).
        q_value: Benjamini-Hochberg adjusted p-value over all candidates tested. A
            contributor has ``q_value <= alpha`` and the 95% interval of the tested lift
            (``adjusted_ci``, else ``lift_ci``) above 1.
        test: ``exact`` or ``cmh`` (see ``p_value``).
        same_as: other groups covering the same tickets (``attribute = value``).
        explained_by_this: groups listed with this one because it explains them.
        words: the finding in plain words.
    """

    attribute: str
    value: str
    kind: str
    support: int
    with_outcome: int
    share_in: float
    share_out: float
    lift: float | None
    lift_ci: tuple[float | None, float | None]
    difference: float
    difference_ci: tuple[float, float]
    adjusted_lift: float | None
    adjusted_ci: tuple[float | None, float | None]
    adjusted_for: tuple[str, ...]
    expected: float
    p_value: float
    q_value: float
    test: str = "cmh"
    same_as: tuple[str, ...] = ()
    explained_by_this: tuple[str, ...] = ()
    words: str = ""

    @property
    def name(self) -> str:
        return f"{self.attribute} = {self.value}"

    @property
    def tested_effect(self) -> str:
        """The lift the test (``p_value``, ``q_value``) is about: ``adjusted_lift`` or ``lift``."""
        return "adjusted_lift" if self.adjusted_for else "lift"

    def to_dict(self) -> dict[str, Any]:
        """The issue's keys first (``ci`` is the lift's interval), then the rest."""
        return {
            "attribute": self.attribute,
            "value": self.value,
            "share_in": _num(self.share_in),
            "share_out": _num(self.share_out),
            "lift": _num(self.lift, 4),
            "ci": [_num(self.lift_ci[0], 4), _num(self.lift_ci[1], 4)],
            "adjusted_lift": _num(self.adjusted_lift, 4),
            "support": self.support,
            "kind": self.kind,
            "with_outcome": self.with_outcome,
            "difference": _num(self.difference),
            "difference_ci": [_num(self.difference_ci[0]), _num(self.difference_ci[1])],
            "adjusted_ci": [_num(self.adjusted_ci[0], 4), _num(self.adjusted_ci[1], 4)],
            "adjusted_for": list(self.adjusted_for),
            "tested_effect": self.tested_effect,
            "test": self.test,
            "p_value": float(f"{self.p_value:.4g}"),
            "q_value": float(f"{self.q_value:.4g}"),
            "same_as": list(self.same_as),
            "explained_by_this": list(self.explained_by_this),
            "words": self.words,
        }


@dataclass(frozen=True)
class ContributorAnalysis:
    """Every candidate's figures (arrays over candidates) and the contributors shown.

    Attributes:
        contributors: the groups shown, best first.
        tested: candidates tested (support at least ``min_support`` inside and outside).
        discoveries: candidates with q <= alpha and a positive adjusted association,
            before the readable list was made.
        tickets: tickets the outcome applies to.  with_outcome: of them, with it.
        alpha: the false-discovery rate.  min_support: the support asked for.
        adjusted_for: the adjustment attributes (those the log has).
        tested_mask, support, with_outcome_in, p, q, z, score: per candidate (of the feature set).
        members: per shown contributor, its tickets (bool per ticket code).
    """

    contributors: tuple[Contributor, ...]
    tested: int
    discoveries: int
    tickets: int
    with_outcome: int
    alpha: float
    min_support: int
    adjusted_for: tuple[str, ...]
    tested_mask: np.ndarray = field(repr=False)
    support: np.ndarray = field(repr=False)
    with_outcome_in: np.ndarray = field(repr=False)
    p: np.ndarray = field(repr=False)
    q: np.ndarray = field(repr=False)
    z: np.ndarray = field(repr=False)
    score: np.ndarray = field(repr=False)
    members: tuple[np.ndarray, ...] = field(default=(), repr=False)


def lift_texts(*values: float | None) -> list[str]:
    """Lifts or bounds in words, with the same decimals: two when the smallest is below 2 (so
    that 1.04 is not read as 1.0), one below 10, none above (at most one for a value of 10 or
    more, none from 100); a value above 1 never shows as 1.00.
    """
    finite = [v for v in values if v is not None and math.isfinite(v)]
    smallest = min(finite) if finite else 0.0
    digits = 2 if smallest < 2 else 1 if smallest < 10 else 0
    while any(v > 1 and round(v, digits) <= 1 for v in finite) and digits < 4:
        digits += 1

    def one(v: float | None) -> str:
        if v is None or math.isnan(v):
            return "-"
        if math.isinf(v):
            return "∞"
        return f"{v:.{min(digits, 0 if v >= 100 else 1 if v >= 10 else digits)}f}"

    return [one(v) for v in values]


def lift_text(*values: float | None) -> str:
    """:func:`lift_texts` joined with an en dash (``lift_text(lo, hi)``: an interval)."""
    return "–".join(lift_texts(*values))


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%" if 0 < abs(value) < 0.1 else f"{100 * value:.0f}%"


def contributor_words(c: Contributor, group: str, label: str) -> Contributor:
    group = group[:1].upper() + group[1:]
    if c.adjusted_for:
        held = " and ".join(c.adjusted_for)
        if c.adjusted_lift is not None:
            lo_a, hi_a = c.adjusted_ci
            v, lo_t, hi_t = lift_texts(c.adjusted_lift, lo_a, hi_a)
            adj = f"{v}× after adjusting for {held}, 95% CI {lo_t}–{hi_t}"
        else:
            adj = f"still more often after adjusting for {held}"
    else:
        adj = "not adjusted: it is made of the adjustment's own attributes"
    if c.lift is None:
        head = (f"{group} {label} ({_pct(c.share_in)} of {c.support:,}; {adj}); no other ticket does "
                f"(0 of the rest)")
    else:
        lo, hi = c.lift_ci
        v, lo_t, hi_t = lift_texts(c.lift, lo, hi)
        head = (f"{group} {label} {v}× as often (95% CI {lo_t}–{hi_t}; {adj}): "
                f"{_pct(c.share_in)} of {c.support:,} vs {_pct(c.share_out)}")
    lo_d, hi_d = c.difference_ci
    diff = f"{100 * c.difference:+.0f} points (95% CI {100 * lo_d:+.0f} to {100 * hi_d:+.0f})"
    return replace(c, words=f"{head}; {diff}")


def listed_with(c: Contributor, limit: int = 4) -> str:
    """What is listed with a contributor, in words (empty when nothing)."""
    def some(names: tuple[str, ...]) -> str:
        shown = ", ".join(names[:limit])
        return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")

    parts = []
    if c.same_as:
        parts.append(f"the same tickets as {some(c.same_as)}")
    if c.explained_by_this:
        parts.append(f"explains {some(c.explained_by_this)}")
    return "; ".join(parts)


def describe_group(attribute: str, value: str) -> str:
    """A group of tickets in words, to start a sentence ("email tickets ...")."""
    if " & " in attribute:
        first, second = attribute.split(" & ", 1)
        v1, _, v2 = value.partition(" & ")
        return f"{describe_group(first, v1)} with {second} {v2}"
    if " or " in value or value.startswith("not "):
        return {"channel": f"{value} tickets", "category": f"{value} tickets",
                "priority": f"{value} tickets"}.get(attribute, f"tickets with {attribute} {value}")
    words: dict[str, Any] = {
        "channel": f"{value} tickets",
        "category": f"{value} tickets",
        "priority": f"{value} tickets",
        "team": f"team {value}'s tickets",
        "region": f"region {value}'s tickets",
        "emotion": f"tickets of {value} customers",
        "agent": f"tickets handled by {value}",
        "weekday": f"tickets opened on a {value}",
        "hour": f"tickets opened {value}",
        "queue at arrival": f"tickets opened with {value.split(' ', 1)[-1].strip('()')} tickets of their team "
                            f"open ({value.split(' ', 1)[0]} of the queue)",
        "phase": f"{value}-phase tickets" if value != "(no phase)" else "tickets outside every phase",
        "step": f"tickets that passed through {value}",
        "teams": f"tickets handled by {value} team{'s' if value != '1' else ''}",
        "handled by team": f"tickets handled by team {value}",
    }
    return str(words.get(attribute, f"tickets with {attribute} {value}"))
