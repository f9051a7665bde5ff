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


class ImportFormatError(EventStoreError):
    """An input file cannot be read as an event log."""


class InputLimitError(ImportFormatError):
    """An input file exceeds a size limit (field length, decompressed size or ratio)."""


class IntegrityError(EventStoreError):
    """Stored history does not match its hash chain or checkpoint."""


class ReadModelError(IntegrityError):
    """The read model is not the projection of the verified events."""


class ExportCheckError(EventStoreError):
    """A Parquet export folder is not what it should be (another store's, not an export, altered files)."""


class InvalidEventError(EventStoreError, ValueError):
    """A command or record cannot become an event (e.g. a naive time, an unknown version)."""


class StorageError(EventStoreError):
    """The store's database failed: read-only, disk full, I/O error, damaged file."""


class TemporaryStoreError(EventStoreError):
    """The store was busy or went away; the same command can be run again."""


class ConcurrencyConflictError(TemporaryStoreError):
    """Another writer recorded on the same ticket first, for longer than the retry budget."""


class StoreLockedError(TemporaryStoreError):
    """Another process held the store's write lock for longer than the lock timeout."""


class ConnectionLostError(TemporaryStoreError):
    """The connection to the database server was lost (server stopped or restarted)."""


class OutputExistsError(EventStoreError):
    """An output file exists and replacing it was not asked for."""
