"""The read model: one ``event_log`` row per recorded activity, kept in the store.

The projection reads the notification log after its last position, decodes the
stored JSON directly (no domain objects), and writes rows and its new position in
one transaction, so it can be interrupted at any point and caught up again. It is
derived data: :meth:`EventLogProjection.rebuild` recreates it from the log.

Times are stored as integer microseconds since the Unix epoch, UTC.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from event_store.persistence.db import Cursor, Database
from event_store.domain import (
    CORRECTABLE_STEP_FIELDS,
    TOPIC_ACTIVITY,
    TOPIC_CASE_CHANGED,
    TOPIC_CORRECTED,
    TOPIC_OPENED,
    TOPIC_PHASE_DEFINED,
    TOPIC_PHASE_REMOVED,
    TOPIC_RETRACTED,
)
from event_store.records import CASE_FIELDS

NAME = "event_log"
PAGE = 20_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)

EVENT_LOG_COLUMNS = (
    "notification_id", "ticket", "version", "activity", "occurred_at", "started_at", "recorded_at",
    "actor", "team", "source_ref", "attrs", "retracted", "corrected", "opened_at",
    "channel", "category", "priority", "emotion", "customer", "case_team", "region",
)


def to_us(value: Any) -> int | None:
    """Microseconds since the epoch for a datetime or the transcoder's encoded form."""
    if value is None:
        return None
    if isinstance(value, dict):
        value = value["_data_"]
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return (value - EPOCH) // _US


def from_us(value: int | None) -> datetime | None:
    return None if value is None else EPOCH + timedelta(microseconds=value)


def _plain(value: Any) -> Any:
    """Turn the transcoder's encoded values back into JSON-friendly plain values."""
    if isinstance(value, dict):
        if set(value) == {"_type_", "_data_"}:
            return value["_data_"]
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def raw_json(value: Any) -> str:
    """JSON text of already-transcoded values (typed values stay wrapped), compact.

    Equal to the library transcoder's encoding of the original Python values, so the
    read model's ``attrs``/``case_attrs`` text is the same whichever path wrote it.
    """
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def case_tuple(external_id: str, opened_us: int, case: dict[str, Any]) -> tuple[Any, ...]:
    """(ticket, opened_at, *CASE_FIELDS) as the projection caches it."""
    return (external_id, opened_us, *(case.get(k) for k in CASE_FIELDS))


def ticket_row(nid: int, oid: str, case: tuple[Any, ...], recorded_us: int | None, extra_json: str | None,
               actor: str | None, source_ref: str | None) -> tuple[Any, ...]:
    """A ``tickets`` row (column order of the INSERT in :meth:`EventLogProjection._flush`)."""
    return (case[0], oid, case[1], recorded_us, nid, *case[2:], extra_json, actor, source_ref)


def activity_row(nid: int, case: tuple[Any, ...], version: int, activity: str, occurred_us: int | None,
                 started_us: int | None, recorded_us: int | None, actor: str | None, team: str | None,
                 source_ref: str | None, attrs_json: str | None) -> tuple[Any, ...]:
    """An ``event_log`` row in :data:`EVENT_LOG_COLUMNS` order."""
    return (nid, case[0], version, activity, occurred_us, started_us, recorded_us, actor, team or None,
            source_ref, attrs_json, 0, 0, case[1], case[2], case[3], case[4], case[5], case[6], case[7], case[8])


INSERT_TICKETS = (
    "INSERT INTO tickets (ticket, ticket_uuid, opened_at, recorded_at, notification_id, channel, category, "
    "priority, emotion, customer, team, region, case_attrs, opened_by, source_ref) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
INSERT_EVENT_LOG = (
    f"INSERT INTO event_log ({', '.join(EVENT_LOG_COLUMNS)}) VALUES ({', '.join('?' * len(EVENT_LOG_COLUMNS))})"
)


COLUMNS_TABLE = "event_log_columns"


def columns_table_ddl(postgres: bool) -> str:
    """DDL of ``event_log_columns``: Arrow IPC chunks of ``event_log`` in notification order.

    Each row covers the notification ids ``first_nid..last_nid`` (inclusive, contiguous
    with the previous chunk) and holds ``rows`` ``event_log`` rows. It is derived data,
    written lazily by :func:`csmine.eventlog.load_event_log`; the projection deletes the
    chunks a correction or retraction touches and empties the table on rebuild.
    """
    big = "BIGINT" if postgres else "INTEGER"
    blob = "BYTEA" if postgres else "BLOB"
    return (f"CREATE TABLE IF NOT EXISTS {COLUMNS_TABLE} (chunk {big} PRIMARY KEY, first_nid {big} NOT NULL, "
            f"last_nid {big} NOT NULL, rows {big} NOT NULL, arrow {blob} NOT NULL)")


def ensure_columns_table(db: Database) -> None:
    """Create ``event_log_columns`` in a store made before it existed (once per connection)."""
    if getattr(db, "_columns_table_ready", False):
        return
    if not db.table_exists(COLUMNS_TABLE):
        with db.transaction(write=True) as cur:
            cur.execute(columns_table_ddl(cur.postgres))
    db._columns_table_ready = True  # type: ignore[attr-defined]


def drop_ticket_chunks(cur: Cursor, ticket: str) -> None:
    """Delete the columnar chunks whose notification range holds any row of ``ticket``."""
    cur.execute(
        f"DELETE FROM {COLUMNS_TABLE} WHERE chunk IN (SELECT c.chunk FROM {COLUMNS_TABLE} c "
        "JOIN event_log e ON e.notification_id BETWEEN c.first_nid AND c.last_nid WHERE e.ticket = ?)",
        (ticket,),
    )


def lock_projection(cur: Cursor) -> None:
    """Serialise writers of the read model (SQLite: the write transaction already does).

    On PostgreSQL, two processes catching up at once would otherwise both write the
    same rows. Bulk imports take the events-table lock first and this one second;
    catch-up takes only this one, so the two cannot deadlock.
    """
    if cur.postgres:
        cur.execute("LOCK TABLE projection_state IN EXCLUSIVE MODE")


class EventLogProjection:
    """Keeps ``tickets``, ``event_log`` and ``phases`` caught up with the event log."""

    def __init__(self, db: Database, recorder: Any, plaintext: Callable[[bytes], bytes] | None = None) -> None:
        self.db = db
        self.recorder = recorder
        self._plaintext = plaintext or (lambda data: data)
        self._case_cache: dict[str, tuple[Any, ...]] = {}
        #: A store opened read-only: catch-up cannot write, the read model stays where it is.
        self.read_only = False

    def _decode(self, state: bytes) -> tuple[bytes, dict[str, Any]]:
        """The stored state as transcoder JSON (decrypted) and parsed without type hooks."""
        data = self._plaintext(bytes(state))
        return data, json.loads(data)

    def position(self) -> int:
        rows = self.db.query("SELECT position FROM projection_state WHERE name = ?", (NAME,))
        return int(rows[0][0]) if rows else 0

    def catch_up(self, progress: Callable[[int], None] | None = None) -> int:
        """Process every notification after the stored position; returns how many."""
        total = 0
        if self.read_only:
            return total
        while True:
            start = self.position()
            items = self.recorder.select_notifications(start, PAGE, inclusive_of_start=False)
            if not items:
                return total
            ensure_columns_table(self.db)
            with self.db.transaction(write=True) as cur:
                lock_projection(cur)
                # Other processes may have corrected tickets: cached case rows are per transaction.
                self._case_cache.clear()
                # Another process may have advanced meanwhile: re-read under the lock.
                row = cur.execute("SELECT position FROM projection_state WHERE name = ?", (NAME,)).fetchone()
                current = int(row[0]) if row else 0
                items = [n for n in items if n.id > current]
                if items:
                    self._apply(cur, items)
                    if row is None:
                        cur.execute("INSERT INTO projection_state (name, position) VALUES (?, ?)", (NAME, items[-1].id))
                    else:
                        cur.execute("UPDATE projection_state SET position = ? WHERE name = ?", (items[-1].id, NAME))
            total += len(items)
            if progress is not None:
                progress(len(items))

    def rebuild(self) -> int:
        """Drop the read model (and its columnar copy) and recreate it from the whole event log."""
        ensure_columns_table(self.db)
        with self.db.transaction(write=True) as cur:
            lock_projection(cur)
            for table in ("event_log", "tickets", "phases", COLUMNS_TABLE):
                cur.execute(f"DELETE FROM {table}")
            cur.execute("DELETE FROM projection_state WHERE name = ?", (NAME,))
        self._case_cache.clear()
        return self.catch_up()

    def case_row(self, cur: Cursor, ticket_uuid: str) -> tuple[Any, ...] | None:
        """The cached (ticket, opened_at, *case fields) of a ticket, read in ``cur``."""
        return self._case_row(cur, ticket_uuid)

    def case_rows(self, cur: Cursor, ticket_uuids: Sequence[str]) -> dict[str, tuple[Any, ...]]:
        """The (ticket, opened_at, *case fields) of these tickets, read in ``cur`` (500 a query).

        Read from ``tickets`` in the caller's transaction, not from the cache: another
        process may have corrected a ticket since this one last looked.
        """
        found: dict[str, tuple[Any, ...]] = {}
        wanted = list(dict.fromkeys(ticket_uuids))
        for i in range(0, len(wanted), 500):
            chunk = wanted[i:i + 500]
            for row in cur.execute(
                    "SELECT ticket_uuid, ticket, opened_at, channel, category, priority, emotion, customer, team, "
                    f"region FROM tickets WHERE ticket_uuid IN ({', '.join('?' * len(chunk))})", chunk).fetchall():
                found[str(row[0])] = tuple(row[1:])
        return found

    def _case_row(self, cur: Cursor, ticket_uuid: str) -> tuple[Any, ...] | None:
        cached = self._case_cache.get(ticket_uuid)
        if cached is not None:
            return cached
        row = self.case_rows(cur, [ticket_uuid]).get(ticket_uuid)
        if row is not None:
            self._case_cache[ticket_uuid] = row
        return row

    def _apply(self, cur: Cursor, items: Sequence[Any]) -> None:
        tickets: list[tuple[Any, ...]] = []
        rows: list[tuple[Any, ...]] = []
        pending_cases: dict[str, tuple[Any, ...]] = {}

        def flush() -> None:
            cur.insert_many(INSERT_TICKETS, tickets)
            cur.insert_many(INSERT_EVENT_LOG, rows)
            tickets.clear()
            rows.clear()

        for n in items:
            topic = n.topic
            oid = str(n.originator_id)
            if topic == TOPIC_ACTIVITY:
                data, d = self._decode(n.state)
                case = pending_cases.get(oid) or self._case_row(cur, oid)
                if case is None:
                    raise RuntimeError(f"activity for unknown ticket {oid} at log position {n.id}")
                # The attributes exactly as transcoded in the event (it is the last key).
                attrs_json = data[data.find(b'"attrs":') + 8 : -1].decode() if d.get("attrs") else None
                rows.append(activity_row(
                    n.id, case, n.originator_version, d["activity"], to_us(d["occurred_at"]),
                    to_us(d.get("started_at")), to_us(d["timestamp"]), d.get("actor"), d.get("team"),
                    d.get("source_ref"), attrs_json,
                ))
            elif topic == TOPIC_OPENED:
                _, d = self._decode(n.state)
                c = d.get("case") or {}
                extra = {k: v for k, v in c.items() if k not in CASE_FIELDS}
                case = case_tuple(d["external_id"], to_us(d["occurred_at"]), c)
                tickets.append(ticket_row(n.id, oid, case, to_us(d["timestamp"]),
                                          raw_json(extra) if extra else None,
                                          d.get("actor"), d.get("source_ref")))
                pending_cases[oid] = case
                self._case_cache[oid] = case
            elif topic in (TOPIC_CORRECTED, TOPIC_RETRACTED):
                flush()
                self._apply_correction(cur, n, oid, self._decode(n.state)[1], topic == TOPIC_RETRACTED)
                pending_cases.clear()
            elif topic == TOPIC_CASE_CHANGED:
                flush()
                self.apply_case_changes(cur, oid, self._decode(n.state)[1].get("changes") or {},
                                        corrected=False, where=n.id)
                pending_cases.clear()
            elif topic in (TOPIC_PHASE_DEFINED, TOPIC_PHASE_REMOVED):
                flush()
                _, d = self._decode(n.state)
                cur.execute("DELETE FROM phases WHERE name = ?", (d["name"],))
                if topic == TOPIC_PHASE_DEFINED:
                    cur.execute(
                        "INSERT INTO phases (name, start_at, end_at, cohort, note, notification_id) VALUES (?, ?, ?, ?, ?, ?)",
                        (d["name"], to_us(d["start"]), to_us(d.get("end")),
                         json.dumps(_plain(d.get("cohort") or {}), ensure_ascii=False), d.get("note"), n.id),
                    )
        flush()

    def apply_case_changes(self, cur: Cursor, oid: str, changes: dict[str, Any], *, corrected: bool,
                           where: int | None = None) -> None:
        """Set new case attribute values of a ticket in ``tickets`` and its ``event_log`` rows.

        ``changes`` hold the values as transcoded (typed values wrapped). ``corrected``
        marks the rows as corrected (a correction of version 0); a change reported by
        the source (``CaseAttributesChanged``) leaves that flag alone.
        """
        case = self._case_row(cur, oid)
        if case is None:
            raise RuntimeError(f"case attributes for unknown ticket {oid} at log position {where}")
        drop_ticket_chunks(cur, case[0])  # the columnar copy of the ticket's rows is stale from here on
        fields = {k: (None if v is None else str(_plain(v))) for k, v in changes.items() if k in CASE_FIELDS}
        extra = {k: v for k, v in changes.items() if k not in CASE_FIELDS}
        if fields:
            cur.execute(f"UPDATE tickets SET {', '.join(f'{k} = ?' for k in fields)} WHERE ticket_uuid = ?",
                        (*fields.values(), oid))
        if fields:
            sets = [f"{'case_team' if k == 'team' else k} = ?" for k in fields]
            if corrected:
                sets.append("corrected = 1")
            cur.execute(f"UPDATE event_log SET {', '.join(sets)} WHERE ticket = ?", (*fields.values(), case[0]))
        if extra:
            row = cur.execute("SELECT case_attrs FROM tickets WHERE ticket_uuid = ?", (oid,)).fetchone()
            merged = json.loads(row[0]) if row and row[0] else {}
            merged.update(extra)
            cur.execute("UPDATE tickets SET case_attrs = ? WHERE ticket_uuid = ?", (raw_json(merged), oid))
        self._case_cache.pop(oid, None)

    def _apply_correction(self, cur: Cursor, n: Any, oid: str, d: dict[str, Any], retract: bool) -> None:
        case = self._case_row(cur, oid)
        if case is None:
            raise RuntimeError(f"correction for unknown ticket {oid} at log position {n.id}")
        target = int(d["target_version"])
        # The columnar copy of the ticket's rows is stale from here on.
        drop_ticket_chunks(cur, case[0])
        if retract:
            cur.execute("UPDATE event_log SET retracted = 1 WHERE ticket = ? AND version = ?", (case[0], target))
            return
        changes = d.get("changes") or {}  # typed values still wrapped, as stored
        if target == 0:
            self.apply_case_changes(cur, oid, changes, corrected=True, where=n.id)
            return
        sets: list[str] = []
        params: list[Any] = []
        for key, value in changes.items():
            if key in CORRECTABLE_STEP_FIELDS:
                sets.append(f"{key} = ?")
                params.append(to_us(value) if key in ("occurred_at", "started_at") else
                              None if value is None else str(_plain(value)))
        extra = {k: v for k, v in changes.items() if k not in CORRECTABLE_STEP_FIELDS}
        if extra:
            row = cur.execute("SELECT attrs FROM event_log WHERE ticket = ? AND version = ?", (case[0], target)).fetchone()
            merged = json.loads(row[0]) if row and row[0] else {}
            merged.update(extra)
            sets.append("attrs = ?")
            params.append(raw_json(merged))
        sets.append("corrected = 1")
        cur.execute(f"UPDATE event_log SET {', '.join(sets)} WHERE ticket = ? AND version = ?",
                    (*params, case[0], target))
