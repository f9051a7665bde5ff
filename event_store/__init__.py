"""The write side of csmine: ticket events, the store, integrity, import and export."""

from event_store.application import ImportResult, TicketStore, open_store
from event_store.domain import PhasePlan, Ticket, ticket_id
from event_store.errors import (
    ConcurrencyConflictError,
    ConnectionLostError,
    EventStoreError,
    ImportFormatError,
    InputLimitError,
    IntegrityError,
    InvalidEventError,
    OutputExistsError,
    ReadModelError,
    StorageError,
    StoreConfigError,
    StoreLockedError,
    TemporaryStoreError,
    TicketExistsError,
    TicketNotFoundError,
)
from event_store.limits import InputLimits
from event_store.records import CASE_FIELDS, ActivityRow, TicketHistory

__all__ = [
    "CASE_FIELDS",
    "ActivityRow",
    "ConcurrencyConflictError",
    "ConnectionLostError",
    "EventStoreError",
    "ImportFormatError",
    "ImportResult",
    "InputLimitError",
    "InputLimits",
    "IntegrityError",
    "InvalidEventError",
    "OutputExistsError",
    "PhasePlan",
    "ReadModelError",
    "StorageError",
    "StoreConfigError",
    "StoreLockedError",
    "TemporaryStoreError",
    "Ticket",
    "TicketExistsError",
    "TicketHistory",
    "TicketNotFoundError",
    "TicketStore",
    "open_store",
    "ticket_id",
]
