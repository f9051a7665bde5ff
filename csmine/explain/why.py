"""``explain_outcome``: the causes behind one outcome, with their evidence.

One call reads the per-ticket frames csmine already has (KPIs and limits, conformance
deviations when the outcome needs them, open/closed status), measures the outcome
(:mod:`csmine.explain.outcomes`), builds the candidate groups
(:mod:`csmine.explain.features`), ranks the contributors
(:mod:`csmine.explain.contributors`) and, for the top ones, replays the tickets as if
the group behaved like the rest (:mod:`csmine.explain.whatif`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from csmine.explain.contributors import DEFAULT_ADJUST, find_contributors
from csmine.explain.outcomes import OutcomeSpec, evaluate_outcome, parse_outcome
from csmine.explain.results import Contributor

if TYPE_CHECKING:
    import pandas as pd

    from process_models import SOP

    from csmine.eventlog.lifecycle import ClosingRule
    from csmine.explain.features import FeatureSet
    from csmine.explain.measuring import Outcome
    from csmine.explain.results import ContributorAnalysis
    from csmine.explain.spectrum import PerformanceSpectrum
    from csmine.explain.whatif import WhatIf
    from csmine.performance.business_calendar import BusinessCalendar
    from csmine.performance.preparation import Prepared

__all__ = ["WhyReport", "ask_why", "explain_outcome", "zone_of"]


@dataclass(frozen=True)
class WhyReport:
    """Why tickets have an outcome: the contributors that survive, and how they were found.

    Attributes:
        outcome: the outcome as asked (``breach:Record``).
        label: the outcome in words, following "tickets ..." (``breach the Record limit ...``).
        population: which tickets it applies to, in words.
        tickets: how many tickets it applies to.
        with_outcome: of them, with the outcome.
        tested: candidate groups tested (support at least ``min_support`` inside and out).
        discoveries: candidates that survive Benjamini-Hochberg at ``alpha`` with a
            positive adjusted association (before similar ones were listed together).
        contributors: the groups shown, best first.
        what_if: per shown contributor (same order; None beyond ``what_if``), the KPI
            if the group behaved like the rest.
        alpha: the false-discovery rate.  min_support: support asked for.
        adjusted_for: attributes the adjusted lift holds fixed (those the log has).
        sop: the SOP's id (None: none).
        tz: time zone of weekday and hour.
        notes: what the reader should know (left out, merged, caveats).
    """

    outcome: str
    label: str
    population: str
    tickets: int
    with_outcome: int
    tested: int
    discoveries: int
    contributors: tuple[Contributor, ...]
    what_if: tuple[WhatIf | None, ...]
    alpha: float
    min_support: int
    adjusted_for: tuple[str, ...]
    sop: str | None
    tz: str
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def share(self) -> float | None:
        return self.with_outcome / self.tickets if self.tickets else None

    def summary(self) -> str:
        """The finding in one or two plain sentences."""
        from csmine.formatting import human_share

        head = (f"{self.with_outcome:,} of {self.tickets:,} {self.population} "
                f"({human_share(self.share)}) {self.label}.")
        if not self.contributors:
            return (f"{head} No group of tickets has it significantly more often ({self.tested:,} tested, "
                    f"false-discovery rate {self.alpha:.0%}).")
        many = len(self.contributors) != 1
        return (f"{head} {len(self.contributors)} contributor{'s' if many else ''} "
                f"of {self.tested:,} tested survive{'' if many else 's'} the false-discovery control at "
                f"{self.alpha:.0%}; "
                f"first: {self.contributors[0].words}.")

    def to_dict(self) -> dict[str, Any]:
        """The issue's keys (``outcome``, ``tickets``, ``with_outcome``, ``tested``, ``contributors``)
        first, then the method and what-if figures."""
        items = []
        for c, w in zip(self.contributors, self.what_if, strict=True):
            d = c.to_dict()
            d["what_if"] = w.to_dict() if w is not None else None
            items.append(d)
        return {
            "outcome": self.outcome,
            "tickets": self.tickets,
            "with_outcome": self.with_outcome,
            "tested": self.tested,
            "contributors": items,
            "label": self.label,
            "population": self.population,
            "share": None if self.share is None else round(self.share, 6),
            "discoveries": self.discoveries,
            "alpha": self.alpha,
            "min_support": self.min_support,
            "adjusted_for": list(self.adjusted_for),
            "method": {
                "lift_ci": "Katz log interval of the crude lift (0.5 added to each cell of a table with an "
                           "empty cell)",
                "difference_ci": "Newcombe hybrid score interval (Wilson)",
                "adjusted_lift": "Mantel-Haenszel risk ratio over the strata of adjusted_for, Greenland-Robins "
                                 "interval (adjusted_ci)",
                "test": "one-sided test of the adjusted lift (of the crude lift where a group is made of the "
                        "adjustment's attributes: tested_effect): exact stratified (conditional) for small "
                        "counts, else Cochran-Mantel-Haenszel with a continuity correction; Benjamini-Hochberg "
                        "over all tested",
                "listed": "q_value <= alpha and the tested lift's 95% interval above 1",
                "listing": "forward selection by the lower bound of the lift adjusted for the strata and the "
                           "contributors before it; who and when first, then how (agents, path, queue); a pair "
                           "gives way to its single value when it does not stand out within it",
            },
            "sop": self.sop,
            "tz": self.tz,
            "summary": self.summary(),
            "notes": list(self.notes),
        }


def explain_outcome(
    df: pd.DataFrame,
    sop: SOP | None,
    outcome: str | OutcomeSpec,
    *,
    calendar: BusinessCalendar | None = None,
    closing: ClosingRule | None = None,
    tz: str = "UTC",
    min_support: int = 20,
    alpha: float = 0.05,
    top: int = 10,
    pairs: bool = True,
    attributes: list[str] | None = None,
    adjust: tuple[str, ...] = DEFAULT_ADJUST,
    what_if: int = 3,
    resamples: int = 200,
    seed: int = 0,
    priority_key: str = "case:priority",
    first_response: str | None = None,
) -> WhyReport:
    """Why do tickets have ``outcome``? The groups that have it more often, adjusted and controlled.

    Args:
        df: event-log frame (:func:`csmine.eventlog.loading.load_event_log`), events of a
            ticket in time order.
        sop: the SOP (roles, limits, the conformance check); None for outcomes that need none.
        outcome: see :mod:`csmine.explain.outcomes` (``breach:Record``, ``slow``, ...).
        calendar: count business time only (as ``csmine kpi --calendar``).
        closing: the open/closed rule (``--closed-when``, stale horizon).
        tz: time zone for the weekday and hour of opening.
        min_support: tickets needed inside and outside a group for it to be tested.
        alpha: false-discovery rate (Benjamini-Hochberg).  top: at most this many contributors.
        pairs: also test pairs of ticket attributes.  attributes: ticket attributes to use (None: all).
        adjust: attributes whose mix the adjusted lift holds fixed.
        what_if: replay the KPI for this many top contributors (0: none).
        resamples: replicates of the what-if (bootstrap and duration draws).
        seed: random seed of the what-if (the same seed, the same figures).
        priority_key, first_response: ``--priority-attr``, ``--first-response`` (as ``csmine kpi``).

    Raises:
        OutcomeError: the outcome is unknown or cannot be measured on this log.
        EmptyLogError: the log is empty.
    """
    from csmine.explain.features import ticket_features

    spec = parse_outcome(outcome) if isinstance(outcome, str) else outcome
    prep, kpis, result = _measure(df, sop, spec, calendar=calendar, closing=closing, priority_key=priority_key,
                                  first_response=first_response)
    features = ticket_features(prep, kpis, result, tz=tz, attributes=attributes, pairs=pairs)
    analysis = find_contributors(result, features, min_support=min_support, alpha=alpha, top=top, adjust=adjust)
    whatifs = _what_ifs(result, analysis, prep, kpis, features, sop=sop, calendar=calendar, what_if=what_if,
                        resamples=resamples, seed=seed)
    return WhyReport(
        outcome=spec.text, label=result.label, population=result.population, tickets=analysis.tickets,
        with_outcome=analysis.with_outcome, tested=analysis.tested, discoveries=analysis.discoveries,
        contributors=analysis.contributors, what_if=whatifs, alpha=alpha, min_support=min_support,
        adjusted_for=analysis.adjusted_for, sop=sop.id if sop is not None else None, tz=tz,
        notes=_notes(result, features, analysis, tz=tz, adjust=adjust),
    )


def _measure(df: pd.DataFrame, sop: SOP | None, spec: OutcomeSpec, *, calendar: BusinessCalendar | None,
             closing: ClosingRule | None, priority_key: str,
             first_response: str | None) -> tuple[Prepared, pd.DataFrame, Outcome]:
    """The prepared log, its per-ticket KPIs and the outcome measured on every ticket."""
    from csmine.performance.kpi import analyse_tickets
    from csmine.performance.preparation import prepare

    prep = prepare(df, sop, priority_key=priority_key, first_response=first_response)
    kpis, limits = analyse_tickets(prep, sop, calendar, closing=closing)
    deviations = None
    if spec.kind == "deviation" and sop is not None:
        from csmine.conformance.deviations import ticket_deviations

        deviations = ticket_deviations(df, sop, closing=closing)
    return prep, kpis, evaluate_outcome(spec, prep, kpis, limits, sop, deviations=deviations, calendar=calendar)


def _what_ifs(result: Outcome, analysis: ContributorAnalysis, prep: Prepared, kpis: pd.DataFrame,
              features: FeatureSet, *, sop: SOP | None, calendar: BusinessCalendar | None, what_if: int,
              resamples: int, seed: int) -> tuple[WhatIf | None, ...]:
    """The what-if of the first ``what_if`` contributors (None for the others); the outcome's
    measure is cut into parts once for all of them."""
    from csmine.explain.whatif import estimate_what_if, measure_parts

    if not analysis.members[:what_if]:
        return tuple(None for _ in analysis.members)
    parts = measure_parts(result, prep, sop, calendar=calendar)
    return tuple(
        estimate_what_if(result, members, prep, kpis, features, sop=sop, calendar=calendar, resamples=resamples,
                         seed=seed + k, adjust=analysis.adjusted_for, parts=parts) if k < what_if else None
        for k, members in enumerate(analysis.members))


def _notes(result: Outcome, features: FeatureSet, analysis: ContributorAnalysis, *, tz: str,
           adjust: tuple[str, ...]) -> tuple[str, ...]:
    """What the reader should know: the outcome's and the candidates' notes, then the caveats."""
    notes = list(result.notes) + list(features.notes)
    if result.with_outcome == 0:
        notes.append(f"no ticket {result.label}: nothing to explain (check the OUTCOME, the filters and the SOP)")
    if tz == "UTC":
        notes.append("weekday and hour of opening are in UTC (--tz for the centre's local time)")
    if not analysis.adjusted_for:
        notes.append("no adjustment: the log has no " + " or ".join(adjust) + " with more than one value")
    return tuple(notes)


def zone_of(tz: str | None, calendar: BusinessCalendar | None) -> str:
    """The time zone of weekdays and hours: ``tz``, else the calendar's, else UTC."""
    return str(tz or (calendar.tz if calendar is not None and getattr(calendar, "tz", None) else "UTC"))


def ask_why(df: pd.DataFrame, sop: SOP | None, outcome: OutcomeSpec, *, tie_order: Any = None,
            calendar: BusinessCalendar | None = None, closing: ClosingRule | None = None, tz: str | None = None,
            spectrum: bool = False, **options: Any) -> tuple[WhyReport, PerformanceSpectrum | None]:
    """``csmine why``: the events in the SOP's step order where times tie, :func:`explain_outcome`
    in ``tz`` (:func:`zone_of`), and with ``spectrum`` the performance spectrum coloured by the
    outcome. ``options`` are :func:`explain_outcome`'s."""
    from csmine.eventlog.ordering import order_events

    df = order_events(df, sop, tie_order)
    zone = zone_of(tz, calendar)
    report = explain_outcome(df, sop, outcome, calendar=calendar, closing=closing, tz=zone, **options)
    if not spectrum:
        return report, None
    from csmine.explain.spectrum import discover_performance_spectrum

    return report, discover_performance_spectrum(df, sop, outcome=outcome, calendar=calendar, closing=closing,
                                                 tz=zone)
