"""Errors raised by csmine's analytics."""

from __future__ import annotations


class CsmineError(Exception):
    """Base class for analytics errors."""


class EmptyLogError(CsmineError):
    """The (filtered) event log holds no events."""


class FilterError(CsmineError):
    """A filter expression cannot be understood."""


class CheckFailedError(CsmineError):
    """A check asked for on the command line did not pass (e.g. --min-fitness)."""
