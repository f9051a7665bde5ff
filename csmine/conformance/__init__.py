"""Conformance: the log against its SOP (deviations, fitness) and exact alignments.

The public face below is imported lazily (on first use), so importing one module of
the package stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from csmine._lazy import attach

if TYPE_CHECKING:
    from csmine.conformance.alignments import align_log, align_variants, compile_model
    from csmine.conformance.deviations import (
        analyse_conformance,
        check_conformance,
        ticket_alignment,
        ticket_deviations,
        ticket_fitness,
    )
    from csmine.conformance.moves import Alignment
    from csmine.conformance.results import (
        ConformanceAnalysis,
        ConformanceReport,
        TicketDeviation,
    )

_EXPORTS = {
    "check_conformance": "deviations",
    "analyse_conformance": "deviations",
    "ConformanceReport": "results",
    "ConformanceAnalysis": "results",
    "ticket_deviations": "deviations",
    "TicketDeviation": "results",
    "ticket_alignment": "deviations",
    "ticket_fitness": "deviations",
    "align_log": "alignments",
    "align_variants": "alignments",
    "compile_model": "alignments",
    "Alignment": "moves",
}
__all__ = [
    "check_conformance",
    "analyse_conformance",
    "ConformanceReport",
    "ConformanceAnalysis",
    "ticket_deviations",
    "TicketDeviation",
    "ticket_alignment",
    "ticket_fitness",
    "align_log",
    "align_variants",
    "compile_model",
    "Alignment",
]
__getattr__, __dir__ = attach(__name__, _EXPORTS)
