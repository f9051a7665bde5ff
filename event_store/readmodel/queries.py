"""The read model's query API: every SQL statement the read side runs against the store.

Analyses, monitors and commands outside ``event_store`` read the store through these
functions (and :func:`event_store.readmodel.chunks.read_columnar` for the columnar copy),
never through the tables, ``store.db``, the recorder or the mapper. Results are plain
rows, times integer microseconds since the Unix epoch (UTC), attribute values decoded.

Filters the read model can apply in SQL are given as a :class:`RowFilter` (an opening-time
window and case-column values); everything else is the caller's.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from event_store.errors import IntegrityError
from event_store.readmodel.projection import EPOCH, _US
from event_store.records import CASE_FIELDS

if TYPE_CHECKING:
    from event_store.application import TicketStore

EVENT_ROW_COLUMNS = (
    "notification_id", "ticket", "version", "activity", "occurred_at", "started_at", "recorded_at", "actor", "team",
    "source_ref", "attrs", "opened_at", "channel", "category", "priority", "emotion", "customer", "case_team", "region",
)
"""The columns of :func:`event_rows`, in order."""

TICKET_ROW_COLUMNS = ("ticket", "opened_at", "notification_id", "case_attrs", *CASE_FIELDS)
"""The columns of :func:`ticket_page` and :func:`ticket_rows_for` (``case_attrs`` is JSON text)."""

STEP_ROW_COLUMNS = ("occurred_at", "notification_id", "ticket", "activity", "actor")
"""The columns of :func:`step_page`."""

#: Read-model tables and the key that identifies a row (for the rebuild check).
READ_MODEL_TABLES = (("event_log", "notification_id"), ("tickets", "ticket"), ("phases", "name"))


@dataclass(frozen=True, slots=True)
class RowFilter:
    """What the read model filters in SQL.

    Attributes:
        start_us: first opening time kept (microseconds), or None.
        end_us: first opening time excluded, or None.
        case: case field (one of :data:`~event_store.records.CASE_FIELDS`) -> accepted values.
    """

    start_us: int | None = None
    end_us: int | None = None
    case: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = [k for k in self.case if k not in CASE_FIELDS]
        if unknown:
            raise ValueError(f"not a case field: {unknown[0]!r} (case fields: {', '.join(CASE_FIELDS)})")

    def sql(self, *, team_column: str = "team") -> tuple[str, list[Any]]:
        """`` AND ...`` conditions and their parameters (``team`` is ``case_team`` in ``event_log``)."""
        sql, params = "", []
        if self.start_us is not None:
            sql += " AND opened_at >= ?"
            params.append(self.start_us)
        if self.end_us is not None:
            sql += " AND opened_at < ?"
            params.append(self.end_us)
        for key, values in self.case.items():
            column = team_column if key == "team" else key
            sql += f" AND {column} IN ({','.join('?' * len(values))})"
            params.extend(values)
        return sql, params


def to_us(value: datetime) -> int:
    """Microseconds since the epoch of a tz-aware datetime."""
    return (value - EPOCH) // _US


def from_us(value: int) -> datetime:
    """The tz-aware UTC datetime of microseconds since the epoch."""
    return EPOCH + value * _US


# -- attribute values ---------------------------------------------------------------------


def attribute_decoder(store: TicketStore) -> Callable[[bytes], dict[str, Any]]:
    """The function that decodes the read model's ``attrs``/``case_attrs`` JSON bytes
    into values (datetimes and other typed values restored)."""
    return store.mapper.transcoder.decode


def case_attribute_texts(store: TicketStore) -> list[tuple[str, str]]:
    """``(ticket, case_attrs JSON text)`` for every ticket with free case attributes."""
    with store.db.transaction() as cur:
        rows = cur.execute("SELECT ticket, case_attrs FROM tickets WHERE case_attrs IS NOT NULL").fetchall()
    return [(str(t), text) for t, text in rows if text]


def _keys_of(store: TicketStore, sql: str) -> set[str]:
    decode = attribute_decoder(store)
    keys: set[str] = set()
    for (text,) in store.db.query(sql):
        if text:
            keys.update(decode(text.encode()))
    return keys


def case_attribute_keys(store: TicketStore) -> set[str]:
    """The keys of the free case attributes in the store."""
    return _keys_of(store, "SELECT DISTINCT case_attrs FROM tickets WHERE case_attrs IS NOT NULL")


def attribute_key_sets(store: TicketStore) -> tuple[set[str], set[str]]:
    """The keys of the free case attributes and of the step attributes in the store."""
    step_keys = _keys_of(store, "SELECT DISTINCT attrs FROM event_log WHERE attrs IS NOT NULL AND retracted = 0")
    return case_attribute_keys(store), step_keys


def step_attribute_rows(store: TicketStore, row_filter: RowFilter = RowFilter()) -> list[tuple[str, str]]:
    """``(ticket, attrs JSON text)`` of the live steps with attributes, within the filter."""
    sql, params = row_filter.sql(team_column="case_team")
    with store.db.transaction() as cur:
        cur.execute(f"SELECT ticket, attrs FROM event_log WHERE retracted = 0 AND attrs IS NOT NULL{sql}", params)
        return [(t, text) for t, text in cur.raw.fetchall() if text]


# -- events and tickets ---------------------------------------------------------------------


def event_rows(store: TicketStore, row_filter: RowFilter = RowFilter()) -> list[tuple[Any, ...]]:
    """The live ``event_log`` rows (:data:`EVENT_ROW_COLUMNS`) within the filter, unsorted."""
    sql, params = row_filter.sql(team_column="case_team")
    with store.db.transaction() as cur:
        cur.execute(f"SELECT {', '.join(EVENT_ROW_COLUMNS)} FROM event_log WHERE retracted = 0{sql}", params)
        return cur.raw.fetchall()


def ticket_activities(store: TicketStore, ticket: str) -> list[str]:
    """The live activities of one ticket, in notification order."""
    rows = store.db.query(
        "SELECT activity FROM event_log WHERE ticket = ? AND retracted = 0 ORDER BY notification_id", (ticket,))
    return [r[0] for r in rows]


def ticket_count(store: TicketStore) -> int:
    """How many tickets the read model holds."""
    return int(store.db.query("SELECT COUNT(*) FROM tickets")[0][0])


def has_tickets(store: TicketStore) -> bool:
    """Whether the read model holds any ticket."""
    return bool(store.db.query("SELECT 1 FROM tickets LIMIT 1"))


def ticket_table(store: TicketStore) -> list[tuple[Any, ...]]:
    """Every ticket as ``(ticket, opened_at, case_attrs, *CASE_FIELDS)``, by opening time then ticket."""
    cols = ", ".join(CASE_FIELDS)
    return store.db.query(f"SELECT ticket, opened_at, case_attrs, {cols} FROM tickets ORDER BY opened_at, ticket")


def last_occurred_at(store: TicketStore, known_at: int | None = None) -> int | None:
    """The latest business time of a live step (up to log position ``known_at``), or None."""
    sql = "SELECT MAX(occurred_at) FROM event_log WHERE retracted = 0"
    params: tuple[Any, ...] = ()
    if known_at is not None:
        sql += " AND notification_id <= ?"
        params = (known_at,)
    rows = store.db.query(sql, params)
    value = rows[0][0] if rows else None
    return None if value is None else int(value)


_TICKET_SELECT = f"SELECT {', '.join(TICKET_ROW_COLUMNS)} FROM tickets"


def ticket_page(store: TicketStore, after: tuple[int, int], row_filter: RowFilter, limit: int) -> list[tuple[Any, ...]]:
    """Up to ``limit`` tickets (:data:`TICKET_ROW_COLUMNS`) after ``(opened_at, notification_id)``, in that order."""
    sql, params = row_filter.sql()
    with store.db.transaction() as cur:
        cur.execute(f"{_TICKET_SELECT} WHERE (opened_at, notification_id) > (?, ?){sql} "
                    "ORDER BY opened_at, notification_id LIMIT ?", (after[0], after[1], *params, limit))
        return cur.fetchall()


def ticket_rows_for(store: TicketStore, ticket: str, row_filter: RowFilter) -> list[tuple[Any, ...]]:
    """The ticket's row (:data:`TICKET_ROW_COLUMNS`) if it passes the filter, else nothing."""
    sql, params = row_filter.sql()
    with store.db.transaction() as cur:
        cur.execute(f"{_TICKET_SELECT} WHERE ticket = ?{sql}", (ticket, *params))
        return cur.fetchall()


def step_page(store: TicketStore, after: tuple[int, int], row_filter: RowFilter, limit: int) -> list[tuple[Any, ...]]:
    """Up to ``limit`` live steps (:data:`STEP_ROW_COLUMNS`) after ``(occurred_at, notification_id)``, in that order."""
    sql, params = row_filter.sql(team_column="case_team")
    with store.db.transaction() as cur:
        cur.execute(f"SELECT {', '.join(STEP_ROW_COLUMNS)} FROM event_log WHERE retracted = 0 "
                    f"AND (occurred_at, notification_id) > (?, ?){sql} ORDER BY occurred_at, notification_id LIMIT ?",
                    (after[0], after[1], *params, limit))
        return cur.fetchall()


# -- phases -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PhaseRow:
    """A phase as the read model holds it (times tz-aware UTC)."""

    name: str
    start: datetime
    end: datetime | None
    cohort: dict[str, tuple[str, ...]]
    note: str


def phase_rows(store: TicketStore) -> list[PhaseRow]:
    """The phases currently defined, by start then name."""
    rows = store.db.query("SELECT name, start_at, end_at, cohort, note FROM phases ORDER BY start_at, name")
    return [PhaseRow(name, from_us(start), None if end is None else from_us(end),
                     {k: tuple(v) for k, v in json.loads(cohort).items()}, note or "")
            for name, start, end, cohort, note in rows]


# -- one ticket's stored events (for the audit trail) -----------------------------------------------


def stored_ticket_events(store: TicketStore, oid: UUID) -> list[tuple[int, Any]]:
    """The ticket aggregate's stored events as ``(notification id, domain event)``, by version."""
    from eventsourcing.persistence import StoredEvent

    postgres = store.location.kind == "postgres"
    table = store.recorder.events_table_name  # type: ignore[attr-defined]
    nid = "notification_id" if postgres else "rowid"
    rows = store.db.query(
        f"SELECT {nid}, originator_version, topic, state FROM {table} WHERE originator_id = ? "
        "ORDER BY originator_version",
        (oid if postgres else oid.hex,),
    )
    out = []
    for n, version, topic, state in rows:
        try:
            out.append((int(n), store.mapper.to_domain_event(StoredEvent(oid, int(version), topic, bytes(state)))))
        except Exception as exc:  # the library's topic, cipher, compressor or JSON error
            raise IntegrityError(
                f"stored event at position {n} (version {version}) of ticket aggregate {oid} cannot be read "
                f"({type(exc).__name__}: {exc}): its topic or stored bytes were altered. Run `csmine verify` to "
                "see what changed.") from None
    return out


# -- what was committed after a log position (the live monitors) -----------------------------------

COMMITTED_ROW_COLUMNS = ("notification_id", "recorded_at", "ticket", "occurred_at", "activity", "actor", "corrected")
"""The columns of :func:`committed_rows` (``activity`` None for an opening)."""


def committed_rows(store: TicketStore, start: int,
                   limit: int | None = None) -> tuple[int, list[tuple[Any, ...]], bool]:
    """The ticket openings and steps after log position ``start`` (:data:`COMMITTED_ROW_COLUMNS`), in log order,
    the log position read to, and whether the read model holds more after it (only with ``limit``).

    Read from ``tickets`` and ``event_log`` (no event is decoded), up to the read model's
    position, or with ``limit`` up to the ``limit``-th notification after ``start``. The
    steps include the retracted ones; a step with ``corrected`` set holds corrected
    values: what was committed is :func:`committed_steps`. Openings come by their log
    position from the events table (``tickets`` has no index on it), then by ticket id.
    """
    from event_store.domain import TOPIC_OPENED
    from event_store.readmodel.projection import NAME as PROJECTION

    postgres = store.location.kind == "postgres"
    table = store.recorder.events_table_name  # type: ignore[attr-defined]
    nid = "notification_id" if postgres else "rowid"
    with store.db.transaction() as cur:
        row = cur.execute("SELECT position FROM projection_state WHERE name = ?", (PROJECTION,)).fetchone()
        end = int(row[0]) if row else 0
        more = False
        if limit is not None:
            row = cur.execute(f"SELECT {nid} FROM {table} WHERE {nid} > ? AND {nid} <= ? ORDER BY {nid} "
                              "LIMIT 1 OFFSET ?", (start, end, limit - 1)).fetchone()
            if row is not None and int(row[0]) < end:
                end, more = int(row[0]), True
        if end <= start:
            return start, [], False
        rows = cur.execute("SELECT notification_id, recorded_at, ticket, occurred_at, activity, actor, corrected "
                           "FROM event_log WHERE notification_id > ? AND notification_id <= ?", (start, end)).fetchall()
        opened = cur.execute(f"SELECT originator_id FROM {table} WHERE {nid} > ? AND {nid} <= ? AND topic = ?",
                             (start, end, TOPIC_OPENED)).fetchall()
        uuids = [str(o if postgres else UUID(o)) for o, in opened]
        for i in range(0, len(uuids), 500):
            part = uuids[i:i + 500]
            rows += cur.execute("SELECT notification_id, recorded_at, ticket, opened_at, NULL, NULL, 0 FROM tickets "
                                f"WHERE ticket_uuid IN ({','.join('?' * len(part))})", part).fetchall()
    rows.sort(key=lambda r: r[0])
    return end, rows, more


def committed_steps(store: TicketStore, nids: Sequence[int]) -> dict[int, tuple[int, str, str | None]]:
    """The steps at these log positions as committed: ``{position: (occurred_at, activity, actor)}``."""
    from eventsourcing.persistence import StoredEvent

    postgres = store.location.kind == "postgres"
    table = store.recorder.events_table_name  # type: ignore[attr-defined]
    nid = "notification_id" if postgres else "rowid"
    out: dict[int, tuple[int, str, str | None]] = {}
    for i in range(0, len(nids), 500):
        part = list(nids[i:i + 500])
        rows = store.db.query(f"SELECT {nid}, originator_id, originator_version, topic, state FROM {table} "
                              f"WHERE {nid} IN ({','.join('?' * len(part))})", part)
        for n, oid, version, topic, state in rows:
            ev = store.mapper.to_domain_event(StoredEvent(oid if postgres else UUID(oid), int(version), topic,
                                                          bytes(state)))
            out[int(n)] = (to_us(ev.occurred_at), ev.activity, getattr(ev, "actor", None))
    return out


# -- whole tables (the rebuild check) --------------------------------------------------------------


def table_rows(store: TicketStore, table: str, key: str, batch: int = 20_000) -> Iterator[tuple[Sequence[str], list]]:
    """A read-model table's rows by key, in batches, with the column names."""
    if (table, key) not in READ_MODEL_TABLES:
        raise ValueError(f"not a read-model table: {table!r}")
    with store.db.transaction() as cur:
        cur.execute(f"SELECT * FROM {table} ORDER BY {key}")
        names = [d[0] for d in cur.description]
        while True:
            rows = cur.raw.fetchmany(batch)
            if not rows:
                return
            yield names, rows


# -- the store's meta values ---------------------------------------------------------------------


def meta_value(store: TicketStore, key: str) -> str | None:
    """A value of the store's meta table (not part of the hash-chained history)."""
    rows = store.db.query("SELECT value FROM csmine_meta WHERE key = ?", (key,))
    return rows[0][0] if rows else None


def set_meta_value(store: TicketStore, key: str, value: str) -> None:
    """Set a value of the store's meta table (a hint, not history: it is not hash-chained)."""
    with store.db.transaction(write=True) as cur:
        if store.location.kind == "postgres":
            cur.execute("INSERT INTO csmine_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE "
                        "SET value = EXCLUDED.value", (key, value))
        else:
            cur.execute("INSERT OR REPLACE INTO csmine_meta (key, value) VALUES (?, ?)", (key, value))


__all__ = [
    "COMMITTED_ROW_COLUMNS", "EVENT_ROW_COLUMNS", "READ_MODEL_TABLES", "STEP_ROW_COLUMNS", "TICKET_ROW_COLUMNS", "PhaseRow", "RowFilter",
    "attribute_decoder", "attribute_key_sets", "case_attribute_keys", "case_attribute_texts", "committed_rows",
    "committed_steps", "event_rows", "from_us", "has_tickets",
    "last_occurred_at", "meta_value", "phase_rows", "set_meta_value", "step_attribute_rows", "step_page",
    "stored_ticket_events", "table_rows", "ticket_activities", "ticket_count", "ticket_page", "ticket_rows_for",
    "ticket_table", "to_us",
]
