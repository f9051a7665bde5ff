"""Explain: why tickets breach, deviate or wait -- contributors with evidence, what-if, spectrum.

``csmine why OUTCOME`` is :func:`explain_outcome` (the command's call:
:func:`csmine.explain.why.ask_why`): the outcome per ticket (:mod:`~csmine.explain.outcomes`
parses and dispatches, :mod:`~csmine.explain.measuring` measures each kind, on the positions
and waits of :mod:`~csmine.explain.events`), candidate groups of tickets
(:mod:`~csmine.explain.features`, on the codes of :mod:`~csmine.explain.coding`), contributors
with lift, intervals, the Mantel-Haenszel adjusted effect and Benjamini-Hochberg control
(:mod:`~csmine.explain.contributors`: the evidence of every candidate in
:mod:`~csmine.explain.evidence`, the forward selection in :mod:`~csmine.explain.listing`,
formulas in :mod:`~csmine.explain.statistics`),
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
    from csmine.explain.measuring import Outcome
    from csmine.explain.outcomes import OutcomeError, OutcomeSpec, evaluate_outcome, parse_outcome
    from csmine.explain.section import WhySection, review_why, why_section
    from csmine.explain.spectrum import (
        PerformanceSpectrum,
        SpectrumSegment,
        discover_performance_spectrum,
    )
    from csmine.explain.whatif import WhatIf, estimate_what_if
    from csmine.explain.why import WhyReport, ask_why, explain_outcome

_EXPORTS = {
    "explain_outcome": "why",
    "ask_why": "why",
    "WhyReport": "why",
    "parse_outcome": "outcomes",
    "evaluate_outcome": "outcomes",
    "Outcome": "measuring",
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
    "ask_why",
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
