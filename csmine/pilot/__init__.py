"""Pilots: phases of a change, before/after comparison, daily and weekly reviews, statistics.

The public face below is imported lazily (on first use), so importing one module of
the package stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from csmine._lazy import attach

if TYPE_CHECKING:
    from csmine.pilot.compare import Comparison, compare_logs
    from csmine.pilot.phases import (
        PhaseInfo,
        define_phase,
        find_phase,
        phase_history,
        phase_infos,
        remove_phase,
    )
    from csmine.pilot.review import DayReview, WeekBulletin, review_day, review_week
    from csmine.pilot.statistics import Change, compare_samples

_EXPORTS = {
    "define_phase": "phases",
    "remove_phase": "phases",
    "phase_history": "phases",
    "phase_infos": "phases",
    "find_phase": "phases",
    "PhaseInfo": "phases",
    "compare_logs": "compare",
    "Comparison": "compare",
    "review_day": "review",
    "DayReview": "review",
    "review_week": "review",
    "WeekBulletin": "review",
    "compare_samples": "statistics",
    "Change": "statistics",
}
__all__ = [
    "define_phase",
    "remove_phase",
    "phase_history",
    "phase_infos",
    "find_phase",
    "PhaseInfo",
    "compare_logs",
    "Comparison",
    "review_day",
    "DayReview",
    "review_week",
    "WeekBulletin",
    "compare_samples",
    "Change",
]
__getattr__, __dir__ = attach(__name__, _EXPORTS)
