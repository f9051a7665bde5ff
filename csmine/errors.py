"""Every error csmine's analytics raise: one base class, one subclass per kind of failure.

Exit codes are the CLI's business and are mapped in one place, :mod:`csmine.cli.errors`.
"""

from __future__ import annotations

__all__ = [
    "CsmineError", "EmptyLogError", "FilterError", "CheckFailedError",
    "MiningError",
    "AlignmentError",
    "ConformanceError",
    "KpiError",
    "CalendarError",
    "PhaseError",
    "CompareError",
    "ReviewError",
    "OutcomeError",
    "AuditError",
    "TraceError",
    "ReplayError",
    "FollowError",
    "FollowDeliveryError",
    "SimulationError",
    "RenderError",
    "GraphvizError",
    "SopMismatchError",
]


class CsmineError(Exception):
    """Base class for analytics errors."""


class EmptyLogError(CsmineError):
    """The (filtered) event log holds no events."""


class FilterError(CsmineError):
    """A filter expression cannot be understood."""


class CheckFailedError(CsmineError):
    """A check asked for on the command line did not pass (e.g. --min-fitness)."""


# -- eventlog and mining -------------------------------------------------------

class MiningError(CsmineError):
    """Discovery could not be done on this log (bad parameters or columns)."""


# -- conformance ---------------------------------------------------------------

class EngineError(CsmineError):
    """A query engine (``--engine duckdb|spark|postgres``) cannot run the analysis as asked."""


class AlignmentError(CsmineError):
    """A model or log cannot be aligned."""


class ConformanceError(CsmineError):
    """An event log cannot be checked against an SOP (missing columns, bad input)."""


# -- performance ---------------------------------------------------------------

class KpiError(CsmineError):
    """KPIs could not be computed on this log."""


class CalendarError(CsmineError):
    """A business calendar specification cannot be understood."""


# -- pilot ---------------------------------------------------------------------

class PhaseError(CsmineError):
    """A phase cannot be defined, found or removed as asked."""


class CompareError(CsmineError):
    """Two sides cannot be compared (e.g. one holds no tickets)."""


class ReviewError(CsmineError):
    """A review cannot be made (e.g. an unreadable week or no activity)."""


# -- explain -------------------------------------------------------------------

class OutcomeError(CsmineError):
    """An OUTCOME for ``csmine why`` cannot be understood or measured on this log (a usage error: exit 2)."""


# -- audit ---------------------------------------------------------------------

class AuditError(CsmineError):
    """A sample or checklist cannot be made as asked (bad rate, missing columns)."""


class TraceError(CsmineError):
    """A ticket cannot be traced as asked (e.g. not yet opened at ``as_of``)."""


# -- monitoring ----------------------------------------------------------------

class ReplayError(CsmineError):
    """The replay cannot run (e.g. an SOP net too large to monitor)."""


class LiveError(CsmineError):
    """``csmine serve`` / ``watch`` cannot start as asked (a token file readable by others, no token, a bad option)."""


class LiveInputError(LiveError):
    """A posted event is not valid: ``index`` (0-based), ``field`` and ``line`` (NDJSON) say where."""

    def __init__(self, message: str, *, index: int | None = None, field: str | None = None,
                 line: int | None = None) -> None:
        super().__init__(message)
        self.index = index
        self.field = field
        self.line = line


class FollowError(CsmineError):
    """``csmine follow`` cannot go on as asked (a missing column, a state file of another source, a refused token)."""


class FollowDeliveryError(FollowError):
    """``csmine follow --to`` could not deliver within its retry time; nothing was lost: run it again (exit 75)."""


# -- simulation ----------------------------------------------------------------

class SimulationError(CsmineError):
    """The simulation cannot run with the given configuration."""


# -- reports -------------------------------------------------------------------

class RenderError(CsmineError):
    """A map could not be drawn or written."""


class GraphvizError(RenderError):
    """Graphviz's ``dot`` is not installed, failed, or took too long (the message names the fix)."""


# -- SOP choice (the CLI maps it to exit code 4) -------------------------------

class SopMismatchError(CsmineError):
    """The SOP chosen for a command cannot be used on this log (it knows none of its
    activities, or no shipped SOP fits and the command needs one). Exit code 4."""
