"""Explain: why tickets breach, deviate or wait -- contributors with evidence, what-if, spectrum.

``csmine why OUTCOME`` is :func:`explain_outcome`: the outcome per ticket
(:mod:`~csmine.explain.outcomes`), candidate groups of tickets
(:mod:`~csmine.explain.features`), contributors with lift, intervals, the
Mantel-Haenszel adjusted effect and Benjamini-Hochberg control
(:mod:`~csmine.explain.contributors`, formulas in :mod:`~csmine.explain.statistics`),
the KPI if a group behaved like the rest (:mod:`~csmine.explain.whatif`), and the
performance spectrum of the SOP's segments (:mod:`~csmine.explain.spectrum`), and the
report's Why section and the review's why results (:mod:`~csmine.explain.section`).
Renderers live in :mod:`csmine.reports`: ``reports.text.why`` (the terminal) and
``reports.why_html`` (the report's section, the spectrum's SVG). Definitions: ``docs/why.md``.

The public face below is imported lazily (on first use), so importing one module of
the package stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from csmine._lazy import attach

if TYPE_CHECKING:
    from csmine.explain.contributors import find_contributors
    from csmine.explain.results import Contributor, ContributorAnalysis
    from csmine.explain.features import FeatureSet, ticket_features
    from csmine.explain.outcomes import Outcome, OutcomeError, OutcomeSpec, evaluate_outcome, parse_outcome
    from csmine.explain.section import WhySection, review_why, why_section
    from csmine.explain.spectrum import (
        PerformanceSpectrum,
        SpectrumSegment,
        discover_performance_spectrum,
    )
    from csmine.explain.whatif import WhatIf, estimate_what_if
    from csmine.explain.why import WhyReport, explain_outcome

_EXPORTS = {
    "explain_outcome": "why",
    "WhyReport": "why",
    "parse_outcome": "outcomes",
    "evaluate_outcome": "outcomes",
    "Outcome": "outcomes",
    "OutcomeSpec": "outcomes",
    "OutcomeError": "outcomes",
    "ticket_features": "features",
    "FeatureSet": "features",
    "find_contributors": "contributors",
    "Contributor": "results",
    "ContributorAnalysis": "results",
    "estimate_what_if": "whatif",
    "WhatIf": "whatif",
    "discover_performance_spectrum": "spectrum",
    "PerformanceSpectrum": "spectrum",
    "SpectrumSegment": "spectrum",
    "why_section": "section",
    "WhySection": "section",
    "review_why": "section",
}
__all__ = [
    "explain_outcome",
    "WhyReport",
    "parse_outcome",
    "evaluate_outcome",
    "Outcome",
    "OutcomeSpec",
    "OutcomeError",
    "ticket_features",
    "FeatureSet",
    "find_contributors",
    "Contributor",
    "ContributorAnalysis",
    "estimate_what_if",
    "WhatIf",
    "discover_performance_spectrum",
    "PerformanceSpectrum",
    "SpectrumSegment",
    "why_section",
    "WhySection",
    "review_why",
]
__getattr__, __dir__ = attach(__name__, _EXPORTS)
