"""Plain records that cross the boundary into the store: what an import produces.

Parsers (XES, CSV, Parquet, the demo simulator) turn their input into
:class:`TicketHistory` objects; :func:`event_store.application.TicketStore.import_histories`
writes them as events. Nothing here knows about files or the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

#: Case attributes that have a column of their own in the read model.
CASE_FIELDS = ("channel", "category", "priority", "emotion", "customer", "team", "region")


@dataclass(frozen=True, slots=True)
class ActivityRow:
    """One lifecycle step of a ticket, as the source recorded it.

    Attributes:
        activity: the step's name in the source's own vocabulary.
        occurred_at: business time, tz-aware.
        actor: who did it (pseudonymous id), if known.
        team: the team that did it, if known (else the ticket's team applies).
        started_at: when work on the step began, if the source says (tz-aware).
        source_ref: where the row came from (file:line, event id, ...).
        attrs: any further attributes (JSON-serialisable values).
    """

    activity: str
    occurred_at: datetime
    actor: str | None = None
    team: str | None = None
    started_at: datetime | None = None
    source_ref: str | None = None
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TicketHistory:
    """A whole ticket from a source: its case attributes and its steps in order.

    Attributes:
        ticket: the source's ticket id (the store derives the aggregate id from it).
        opened_at: business time the ticket was opened (tz-aware); defaults to the
            first step's time when the source has no separate opening time.
        case: case attributes; keys in :data:`CASE_FIELDS` get their own columns,
            anything else is kept as a free attribute.
        steps: the lifecycle steps in source order.
        source_ref: where the ticket came from.
    """

    ticket: str
    opened_at: datetime
    case: dict[str, Any]
    steps: tuple[ActivityRow, ...]
    source_ref: str | None = None
