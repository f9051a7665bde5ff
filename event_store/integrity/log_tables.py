"""Reading the stored log for verification: the events and chain tables, page by page.

:class:`LogTables` hides what differs between SQLite and PostgreSQL (the events
table's name, its position column, how ticket ids are stored, how a snapshot
begins, the recorded chain head). The helpers below look up what a report needs to name a finding: a
ticket's external id, the read model's entries between two positions, and the log
position of the n-th entry.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TYPE_CHECKING
from uuid import UUID

from event_store.domain import PHASE_PLAN_ID, TOPIC_OPENED
from event_store.integrity.chain import ZERO
from event_store.integrity.findings import _PAGE

if TYPE_CHECKING:
    from event_store.application import TicketStore
    from event_store.persistence.db import Cursor


class LogTables:
    """SQL details that differ between SQLite and PostgreSQL."""

    def __init__(self, store: TicketStore) -> None:
        self.store = store
        self.postgres = store.location.kind == "postgres"
        self.table = store.recorder.events_table_name  # type: ignore[attr-defined]
        self.nid = "notification_id" if self.postgres else "rowid"
        self._canon: dict[Any, str] = {}

    def canonical(self, oid: Any) -> str:
        """A stored ticket id as its canonical UUID text."""
        c = self._canon.get(oid)
        if c is None:
            c = str(oid) if isinstance(oid, UUID) else str(UUID(str(oid)))
            self._canon[oid] = c
        return c

    def stored_id(self, canonical: str) -> Any:
        """The canonical UUID text as the events table stores it."""
        u = UUID(canonical)
        return u if self.postgres else u.hex

    def begin(self, cur: Cursor) -> None:
        """Make the transaction a read-only snapshot (SQLite's already is one)."""
        if self.postgres:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")

    def events(self, cur: Cursor, *, after: int = 0) -> Iterator[tuple[Any, ...]]:
        """(position, ticket id, version, topic, state) of every event, in log order."""
        last = after
        sql = (f"SELECT {self.nid}, originator_id, originator_version, topic, state FROM {self.table} "
               f"WHERE {self.nid} > ? ORDER BY {self.nid} LIMIT {_PAGE}")
        while True:
            rows = cur.execute(sql, (last,)).fetchall()
            if not rows:
                return
            yield from rows
            last = rows[-1][0]

    def chain(self, cur: Cursor) -> Iterator[tuple[Any, ...]]:
        """(position, seq, ticket id, version, link) of every chain row, in log order."""
        last = -(2**62)
        sql = ("SELECT notification_id, seq, originator_id, originator_version, link FROM event_chain "
               f"WHERE notification_id > ? ORDER BY notification_id LIMIT {_PAGE * 4}")
        while True:
            rows = cur.execute(sql, (last,)).fetchall()
            if not rows:
                return
            yield from rows
            last = rows[-1][0]

    def recorded_head(self, cur: Cursor) -> tuple[int, bytes]:
        """The chain head as recorded: (size, head hash); (0, zero bytes) for a store without one."""
        row = cur.execute("SELECT size, head FROM chain_head WHERE id = 1").fetchone()
        return (int(row[0]), bytes(row[1])) if row else (0, ZERO)

    def event_count(self, cur: Cursor) -> int:
        """Stored events (rows of the events table)."""
        row = cur.execute(f"SELECT COUNT(*) FROM {self.table}").fetchone()
        return int(row[0]) if row else 0

    def position_of(self, cur: Cursor, entry: int) -> int | None:
        """The log position (notification id) of the ``entry``-th event (1-based)."""
        row = cur.execute(
            f"SELECT {self.nid} FROM {self.table} ORDER BY {self.nid} LIMIT 1 OFFSET ?", (entry - 1,)
        ).fetchone()
        return int(row[0]) if row else None


def ticket_names(store: TicketStore, tables: LogTables, cur: Cursor, oids: set[str]) -> dict[str, str]:
    """External ids of tickets: decoded from their Opened event, else from the read model."""
    from eventsourcing.persistence import StoredEvent

    names: dict[str, str] = {}
    for oid in oids:
        if oid == str(PHASE_PLAN_ID):
            names[oid] = "phase plan"
            continue
        row = cur.execute(
            f"SELECT topic, state FROM {tables.table} WHERE originator_id = ? AND originator_version = 0",
            (tables.stored_id(oid),),
        ).fetchone()
        if row is not None and row[0] == TOPIC_OPENED:
            try:
                event = store.mapper.to_domain_event(StoredEvent(UUID(oid), 0, row[0], bytes(row[1])))
                names[oid] = str(getattr(event, "external_id"))  # noqa: B009 - not on the protocol type
                continue
            except Exception:
                pass
        found = cur.execute("SELECT ticket FROM tickets WHERE ticket_uuid = ?", (oid,)).fetchone()
        if found is not None:
            names[oid] = str(found[0])
    return names


def missing_entries(cur: Cursor, after: int, before: int | None) -> list[tuple[int, str, int]]:
    """Entries the read model knows between two log positions: (position, ticket, version)."""
    params: tuple[Any, ...] = (after,) if before is None else (after, before)
    upper = "" if before is None else " AND notification_id < ?"
    rows = cur.execute(
        f"SELECT notification_id, ticket, version FROM event_log WHERE notification_id > ?{upper} "
        "ORDER BY notification_id LIMIT 20", params,
    ).fetchall()
    rows += cur.execute(
        f"SELECT notification_id, ticket, 0 FROM tickets WHERE notification_id > ?{upper} "
        "ORDER BY notification_id LIMIT 20", params,
    ).fetchall()
    return sorted((int(r[0]), str(r[1]), int(r[2])) for r in rows)


def describe_missing(entries: list[tuple[int, str, int]]) -> str:
    """Words for :func:`missing_entries`' result, as a finding's message ends."""
    if not entries:
        return "the read model does not know them either"
    shown = ", ".join(f"{t} version {v} (position {p})" for p, t, v in entries[:3])
    extra = f" and {len(entries) - 3} more" if len(entries) > 3 else ""
    return f"the read model names {shown}{extra}"


__all__ = ["LogTables", "describe_missing", "missing_entries", "ticket_names"]
