"""Errors raised by the event store."""

from __future__ import annotations


class EventStoreError(Exception):
    """Base class for event store errors."""


class StoreConfigError(EventStoreError):
    """The store location is not usable (not a csmine store, bad URL, ...)."""


class TicketNotFoundError(EventStoreError):
    """No ticket with that id is recorded."""


class TicketExistsError(EventStoreError):
    """A ticket with that id is already recorded."""


class ConcurrencyConflictError(EventStoreError):
    """Another writer recorded on the same ticket first."""


class ImportFormatError(EventStoreError):
    """An input file cannot be read as an event log."""


class IntegrityError(EventStoreError):
    """Stored history does not match its hash chain or checkpoint."""


class InvalidEventError(EventStoreError, ValueError):
    """A command or record cannot become an event (e.g. a naive time, an unknown version)."""
