"""Where the events live: store locations, the hash-chaining recorders, the schema.

A store is a SQLite file (the embedded default) or a PostgreSQL database. The
``eventsourcing`` library owns the events table; csmine adds, in the same database:

* ``event_chain`` / ``chain_head``: the per-ticket hash chain and the log head,
  written **in the same transaction** as the events by the recorders below;
* ``event_log`` / ``tickets`` / ``phases`` / ``projection_state``: the read model
  (``event_log_columns``: a derived columnar copy of ``event_log``);
* ``csmine_meta``: marks the database as a csmine store (schema version).

On SQLite, triggers refuse UPDATE and DELETE on the events and chain tables.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder

from event_store.persistence.db import Cursor, Database
from event_store.errors import StoreConfigError
from event_store.integrity.chain import ZERO, head_link, stream_link
from event_store.readmodel.projection import columns_table_ddl

SCHEMA_VERSION = "1"
#: Seconds to wait for a PostgreSQL server before giving up (URL ``?connect_timeout=``).
CONNECT_TIMEOUT = 5
SQLITE_HEADER = b"SQLite format 3\x00"


@dataclass(frozen=True, slots=True)
class StoreLocation:
    """A parsed ``--store`` value.

    Attributes:
        kind: ``"sqlite"`` or ``"postgres"``.
        display: the location as shown to users (password removed).
        sqlite_path: the file, for SQLite.
        pg: connection settings for PostgreSQL (dbname, host, port, user, password, schema).
    """

    kind: str
    display: str
    sqlite_path: str | None = None
    pg: dict[str, str] | None = None
    #: SQLite: opened read-only (a read-only file, folder or mount, an immutable file).
    read_only: bool = False
    #: SQLite read-only: the file cannot change (no -wal to read), so no locking at all.
    immutable: bool = False

    def sqlite_uri(self) -> str | None:
        """The read-only SQLite URI (None when the store is opened for writing)."""
        if self.kind != "sqlite" or not self.read_only:
            return None
        assert self.sqlite_path is not None
        from urllib.parse import quote

        return f"file:{quote(self.sqlite_path)}?mode=ro" + ("&immutable=1" if self.immutable else "")

    def library_env(self) -> dict[str, str]:
        """The ``eventsourcing`` settings for this location (never in-memory)."""
        recorder = "event_store.persistence.recorders:"
        if self.kind == "sqlite":
            assert self.sqlite_path is not None
            return {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": self.sqlite_uri() or self.sqlite_path,
                "SQLITE_LOCK_TIMEOUT": "30",
                "APPLICATION_RECORDER_TOPIC": recorder + "ChainedSQLiteApplicationRecorder",
                "IS_SNAPSHOTTING_ENABLED": "no",
            }
        assert self.pg is not None
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": self.pg["dbname"],
            "POSTGRES_HOST": self.pg["host"],
            "POSTGRES_PORT": self.pg["port"],
            "POSTGRES_USER": self.pg["user"],
            "POSTGRES_PASSWORD": self.pg["password"],
            "POSTGRES_SCHEMA": self.pg["schema"],
            "POSTGRES_LOCK_TIMEOUT": "30",
            "POSTGRES_CONNECT_TIMEOUT": self.pg["connect_timeout"],
            "APPLICATION_RECORDER_TOPIC": "event_store.persistence.postgres:ChainedPostgresApplicationRecorder",
            "IS_SNAPSHOTTING_ENABLED": "no",
        }
        return env

    def database(self) -> Database:
        if self.kind == "sqlite":
            return Database(sqlite_path=self.sqlite_path, sqlite_uri=self.sqlite_uri())
        assert self.pg is not None
        p = self.pg
        from psycopg.conninfo import make_conninfo

        conninfo = make_conninfo(dbname=p["dbname"], host=p["host"], port=p["port"], user=p["user"],
                                 password=p["password"] or None, connect_timeout=p["connect_timeout"])
        return Database(pg_conninfo=conninfo, pg_schema=p["schema"])


def parse_location(value: str) -> StoreLocation:
    """Parse a path (SQLite) or a ``postgresql://`` URL.

    Raises:
        StoreConfigError: for an unusable value (e.g. an unknown URL scheme).
    """
    value = value.strip()
    if not value:
        raise StoreConfigError("empty --store: give a file path or a postgresql:// URL")
    if value.startswith(("postgresql://", "postgres://")):
        url = urlparse(value)
        query = parse_qs(url.query)
        dbname = unquote(url.path.lstrip("/")) or "csmine"
        try:
            port = url.port
            host = url.hostname or query.get("host", ["127.0.0.1"])[0]
            timeout = int(query.get("connect_timeout", [str(CONNECT_TIMEOUT)])[0])
        except ValueError as exc:
            raise StoreConfigError(
                f"cannot read store URL {_hide_password(value)!r}: {exc} "
                "(expected postgresql://USER[:PASSWORD]@HOST[:PORT]/DBNAME)"
            ) from None
        schema = query.get("schema", ["public"])[0]
        if not schema.replace("_", "").isalnum():
            raise StoreConfigError(f"schema {schema!r} in the store URL is not a plain SQL name")
        pg = {
            "dbname": dbname,
            "host": host,
            "port": str(port or query.get("port", ["5432"])[0]),
            "user": unquote(url.username or os.environ.get("PGUSER", "postgres")),
            "password": unquote(url.password or ""),
            "schema": schema,
            "connect_timeout": str(max(1, timeout)),
        }
        shown = f"postgresql://{pg['user']}@{host}:{pg['port']}/{dbname}"
        if schema != "public":
            shown += f"?schema={schema}"
        return StoreLocation("postgres", shown, pg=pg)
    if "://" in value:
        scheme = value.split("://", 1)[0]
        raise StoreConfigError(
            f"unknown store URL scheme {scheme!r} in {value!r}: use a file path for SQLite "
            "or a postgresql:// URL"
        )
    return StoreLocation("sqlite", value, sqlite_path=os.path.abspath(value))


def _hide_password(url: str) -> str:
    parsed = urlparse(url)
    if parsed.password:
        return url.replace(f":{parsed.password}@", ":***@", 1)
    return url


def check_sqlite_file(path: str, *, create: bool) -> None:
    """Refuse paths that are not (and cannot become) a csmine SQLite store."""
    if os.path.isdir(path):
        raise StoreConfigError(f"store path {path!r} is a directory: give a file such as {os.path.join(path, 'csmine.db')!r}")
    if not os.path.exists(path):
        if not create:
            raise StoreConfigError(
                f"no csmine store at {path!r}: run `csmine init --store {path}` or "
                f"`csmine import FILE --store {path}` first"
            )
        parent = os.path.dirname(path) or "."
        if not os.path.isdir(parent):
            raise StoreConfigError(f"cannot create store {path!r}: folder {parent!r} does not exist")
        return
    try:
        with open(path, "rb") as fh:
            header = fh.read(16)
    except OSError as exc:
        from event_store.errors import StorageError

        raise StorageError(
            f"store {path}: cannot read the file ({exc.strerror or exc}). Nothing was read or written. "
            "To go on: give this user read access to the file (and write access to write), or use a copy."
        ) from exc
    if header and header != SQLITE_HEADER:
        raise StoreConfigError(
            f"{path!r} is not a csmine store (not an SQLite database): choose another --store path"
        )


def sqlite_access(path: str) -> tuple[bool, bool]:
    """(read_only, immutable) for an existing SQLite store file.

    Read-only when the file cannot be written (permissions, an immutable file, a
    read-only mount), or when its folder cannot be written and SQLite could not make
    its ``-wal`` and ``-shm`` files there. Immutable (no locking, no WAL) when, on top,
    there is no ``-wal`` with content to read.

    Raises:
        StorageError: read-only with a ``-wal`` holding commits but no ``-shm``: the
            newest commits cannot be read safely.
    """
    folder = os.path.dirname(path) or "."
    try:
        mount_ro = bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):
        mount_ro = False
    wal, shm = path + "-wal", path + "-shm"
    has_wal = os.path.exists(wal) and os.path.getsize(wal) > 0
    sidecars_ok = os.path.exists(shm) and os.path.exists(wal) and os.access(shm, os.W_OK) and os.access(wal, os.W_OK)
    read_only = mount_ro or not os.access(path, os.W_OK) or (not os.access(folder, os.W_OK) and not sidecars_ok)
    if not read_only:
        return False, False
    if has_wal and not os.path.exists(shm):
        from event_store.errors import StorageError

        raise StorageError(
            f"store {path}: the store is read-only and its write-ahead log {os.path.basename(wal)} holds commits "
            f"that SQLite cannot read without {os.path.basename(shm)}. Nothing was read or written. To go on: "
            "open it once where it is writable (that folds the log into the file), or copy the three files "
            "somewhere writable."
        )
    return True, not has_wal


#: The read model's secondary indexes by name. An import into an empty store creates them
#: after its rows are in (:func:`event_store.persistence.bulk.deferred_indexes`).
READ_MODEL_INDEXES = {
    "event_log_ticket": "CREATE INDEX IF NOT EXISTS event_log_ticket ON event_log (ticket, version)",
    "tickets_uuid": "CREATE UNIQUE INDEX IF NOT EXISTS tickets_uuid ON tickets (ticket_uuid)",
    "event_log_opened": "CREATE INDEX IF NOT EXISTS event_log_opened ON event_log (opened_at)",
    # replay pages through the log in business-time order
    "event_log_occurred": "CREATE INDEX IF NOT EXISTS event_log_occurred ON event_log (occurred_at, notification_id)",
    "tickets_opened": "CREATE INDEX IF NOT EXISTS tickets_opened ON tickets (opened_at, notification_id)",
}


def schema_statements(postgres: bool, events_table: str) -> list[str]:
    """DDL for csmine's own tables (idempotent)."""
    blob = "BYTEA" if postgres else "BLOB"
    big = "BIGINT" if postgres else "INTEGER"
    statements = [
        "CREATE TABLE IF NOT EXISTS csmine_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        f"CREATE TABLE IF NOT EXISTS event_chain (seq {big} PRIMARY KEY, notification_id {big} NOT NULL UNIQUE, "
        f"originator_id TEXT NOT NULL, originator_version {big} NOT NULL, link {blob} NOT NULL)",
        f"CREATE TABLE IF NOT EXISTS chain_head (id INTEGER PRIMARY KEY CHECK (id = 1), size {big} NOT NULL, head {blob} NOT NULL)",
        "CREATE TABLE IF NOT EXISTS projection_state (name TEXT PRIMARY KEY, position "
        f"{big} NOT NULL)",
        f"CREATE TABLE IF NOT EXISTS tickets (ticket TEXT PRIMARY KEY, ticket_uuid TEXT NOT NULL, "
        f"opened_at {big} NOT NULL, recorded_at {big} NOT NULL, notification_id {big} NOT NULL, "
        "channel TEXT, category TEXT, priority TEXT, emotion TEXT, customer TEXT, team TEXT, region TEXT, "
        "case_attrs TEXT, opened_by TEXT, source_ref TEXT)",
        f"CREATE TABLE IF NOT EXISTS event_log (notification_id {big} PRIMARY KEY, ticket TEXT NOT NULL, "
        f"version {big} NOT NULL, activity TEXT NOT NULL, occurred_at {big} NOT NULL, started_at {big}, "
        f"recorded_at {big} NOT NULL, actor TEXT, team TEXT, source_ref TEXT, attrs TEXT, "
        "retracted INTEGER NOT NULL DEFAULT 0, corrected INTEGER NOT NULL DEFAULT 0, "
        f"opened_at {big} NOT NULL, channel TEXT, category TEXT, priority TEXT, emotion TEXT, "
        "customer TEXT, case_team TEXT, region TEXT)",
        *READ_MODEL_INDEXES.values(),
        f"CREATE TABLE IF NOT EXISTS phases (name TEXT PRIMARY KEY, start_at {big} NOT NULL, end_at {big}, "
        f"cohort TEXT NOT NULL, note TEXT, notification_id {big} NOT NULL)",
        columns_table_ddl(postgres),
    ]
    if not postgres:
        for table in (events_table, "event_chain"):
            for op in ("UPDATE", "DELETE"):
                statements.append(
                    f"CREATE TRIGGER IF NOT EXISTS {table}_append_only_{op.lower()} BEFORE {op} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, 'csmine: {table} is append-only ({op} refused)'); END"
                )
    else:
        statements += postgres_append_only_statements(events_table)
    return statements


def postgres_append_only_statements(events_table: str) -> list[str]:
    """PostgreSQL triggers refusing UPDATE, DELETE and TRUNCATE on the events and chain tables.

    The same guard SQLite stores get: created by ``csmine init`` (and by the schema
    owner's next open of an older store), owned by the table owner, so an application
    role that only inserts can neither change history nor drop the guard. Idempotent
    and for PostgreSQL 11 and later (no ``CREATE OR REPLACE TRIGGER``).
    """
    statements = [
        "CREATE OR REPLACE FUNCTION csmine_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN RAISE EXCEPTION 'csmine: % is append-only (% refused)', TG_TABLE_NAME, TG_OP; END $$",
    ]
    for table in (events_table, "event_chain"):
        for name, timing in ((f"{table}_append_only", "BEFORE UPDATE OR DELETE ON {t} FOR EACH ROW"),
                             (f"{table}_no_truncate", "BEFORE TRUNCATE ON {t} FOR EACH STATEMENT")):
            statements.append(
                "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = '" + name + "' "
                "AND tgrelid = to_regclass('" + table + "')) THEN "
                f"CREATE TRIGGER {name} {timing.format(t=table)} EXECUTE FUNCTION csmine_append_only(); "
                "END IF; END $$"
            )
    return statements


def insert_stored_events(cur: Cursor, table: str, stored_events: Sequence[StoredEvent], *,
                         channel: str | None = None) -> list[int]:
    """Append stored events in the caller's transaction; returns their notification ids.

    The caller must hold the store's write lock (SQLite ``BEGIN IMMEDIATE``;
    PostgreSQL ``LOCK TABLE ... IN EXCLUSIVE MODE``, as the library takes it), so
    ids are assigned in insertion order and commit order equals id order. This is
    the bulk path of imports; the rows are the library's own (same table, columns and
    encodings), and the caller writes the hash chain with :func:`write_chain` in the
    same transaction. ``stored_events`` are returned ordered by the ids.
    """
    if not stored_events:
        return []
    if cur.postgres:
        before = cur.execute(f"SELECT COALESCE(MAX(notification_id), 0) FROM {table}").fetchone()
        cur.insert_many(
            f"INSERT INTO {table} (originator_id, originator_version, topic, state) VALUES (?, ?, ?, ?)",
            [(s.originator_id, s.originator_version, s.topic, s.state) for s in stored_events],
        )
        rows = cur.execute(
            f"SELECT notification_id, originator_id, originator_version FROM {table} "
            "WHERE notification_id > ? ORDER BY notification_id",
            (int(before[0]) if before else 0,),
        ).fetchall()
        if len(rows) != len(stored_events):
            raise RuntimeError("another writer appended during a locked import batch")
        by_key = {(r[1], int(r[2])): int(r[0]) for r in rows}
        ids = [by_key[(s.originator_id, s.originator_version)] for s in stored_events]
        if ids != sorted(ids):
            raise RuntimeError("PostgreSQL assigned notification ids out of insertion order")
        if channel:
            cur.execute(f'NOTIFY "{channel}"')
        return ids
    row = cur.execute(f"SELECT MAX(rowid) FROM {table}").fetchone()
    first = (int(row[0]) if row and row[0] is not None else 0) + 1
    cur.executemany(
        f"INSERT INTO {table} (originator_id, originator_version, topic, state) VALUES (?, ?, ?, ?)",
        [(s.originator_id.hex if isinstance(s.originator_id, UUID) else s.originator_id,
          s.originator_version, s.topic, s.state) for s in stored_events],
    )
    row = cur.execute(f"SELECT MAX(rowid) FROM {table}").fetchone()
    last = int(row[0]) if row and row[0] is not None else 0
    if last - first + 1 != len(stored_events):
        raise RuntimeError(f"SQLite assigned {last - first + 1} row ids for {len(stored_events)} events")
    return list(range(first, last + 1))


def schema_revision(postgres: bool, events_table: str) -> str:
    """A fingerprint of csmine's DDL: a store whose recorded revision differs gets it applied."""
    import hashlib

    return hashlib.sha256("\n".join(schema_statements(postgres, events_table)).encode()).hexdigest()[:16]


def canonical_id(originator_id: UUID | str) -> str:
    """Ticket ids are hashed in canonical UUID form on every backend."""
    if isinstance(originator_id, UUID):
        return str(originator_id)
    try:
        return str(UUID(originator_id))
    except ValueError:
        return originator_id


def _stored_links(cur: Cursor, events_table: str,
                  wanted: Sequence[tuple[str, int]]) -> dict[str, tuple[int, bytes]]:
    """The stored chain links of these ``(ticket id, version)`` pairs, by ticket id (400 pairs a query).

    One query joins a ``VALUES`` list to the events table's key and each event to its
    chain row by notification id (two index look-ups per pair, on both databases)
    instead of a query per ticket. The chain has no index of its own on the ticket and
    version: its key is the notification id (one link per event), and the events table
    already holds each ticket's versions once; a second random-key index on the chain
    cost every appended event about a third of its written pages.
    """
    found: dict[str, tuple[int, bytes]] = {}
    # The chain row at the event's position must also name that ticket and version: a row
    # moved or rewritten there (tampering) is left out, so the caller refuses to extend it.
    columns = "SELECT e.originator_id, e.originator_version, c.link, c.originator_id, c.originator_version FROM "
    for i in range(0, len(wanted), 400):
        chunk = wanted[i:i + 400]
        if cur.postgres:  # PostgreSQL names the list's columns as given, stores ticket ids as uuid
            marks = ", ".join(["(CAST(? AS uuid), CAST(? AS bigint))"] * len(chunk))
            sql = (f"{columns}(VALUES {marks}) AS v (oid, version) "
                   f"JOIN {events_table} AS e ON e.originator_id = v.oid AND e.originator_version = v.version "
                   "JOIN event_chain AS c ON c.notification_id = e.notification_id")
            params = [x for oid, version in chunk for x in (oid, version)]
        else:  # SQLite: column1, column2; CROSS JOIN keeps this order (the list, then the indexes)
            marks = ", ".join(["(?, ?)"] * len(chunk))
            sql = (f"{columns}(VALUES {marks}) AS v "
                   f"CROSS JOIN {events_table} AS e ON e.originator_id = v.column1 AND e.originator_version = v.column2 "
                   "CROSS JOIN event_chain AS c ON c.notification_id = e.rowid")
            params = [x for oid, version in chunk for x in (UUID(oid).hex, version)]
        for oid, version, link, chain_oid, chain_version in cur.execute(sql, params).fetchall():
            canonical = canonical_id(oid)
            if canonical_id(chain_oid) == canonical and int(chain_version) == int(version):
                found[canonical] = (int(version), bytes(link))
    return found


def write_chain(cur: Cursor, stored_events: Sequence[StoredEvent], notification_ids: Sequence[int],
                events_table: str) -> None:
    """Append chain links and advance the head, inside the caller's transaction.

    ``events_table``: the events table's name as SQL (schema-qualified on PostgreSQL when
    needed), where the predecessors of the tickets continued are looked up.
    """
    if not stored_events:
        return
    row = cur.execute("SELECT size, head FROM chain_head WHERE id = 1").fetchone()
    size, head = (int(row[0]), bytes(row[1])) if row else (0, ZERO)
    last: dict[str, tuple[int, bytes]] = {}
    oids = [canonical_id(s.originator_id) for s in stored_events]
    # The stored predecessor of each ticket's first event in this batch; a ticket
    # opened in this batch (first event version 0) has none to look up.
    first: dict[str, int] = {}
    for oid, s in zip(oids, stored_events, strict=True):
        first.setdefault(oid, s.originator_version)
    need = [(oid, version - 1) for oid, version in first.items() if version > 0]
    last.update(_stored_links(cur, events_table, need))
    rows = []
    for s, nid, oid in zip(stored_events, notification_ids, oids, strict=True):
        prev_version, prev = last.get(oid, (-1, ZERO))
        if s.originator_version > 0 and prev_version != s.originator_version - 1:
            # Missing predecessor link: the chain is broken; refuse to extend it.
            from event_store.errors import IntegrityError

            raise IntegrityError(
                f"cannot chain ticket {oid} version {s.originator_version}: "
                "its previous link is missing (run `csmine verify`)"
            )
        link = stream_link(prev, oid, s.originator_version, s.topic, s.state)
        last[oid] = (s.originator_version, link)
        size += 1
        head = head_link(head, size, link)
        rows.append((size, nid, oid, s.originator_version, link))
    cur.insert_many(
        "INSERT INTO event_chain (seq, notification_id, originator_id, originator_version, link) "
        "VALUES (?, ?, ?, ?, ?)",
        rows,
    )
    if cur.postgres:
        cur.execute(
            "INSERT INTO chain_head (id, size, head) VALUES (1, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET size = EXCLUDED.size, head = EXCLUDED.head",
            (size, head),
        )
    else:
        cur.execute("INSERT OR REPLACE INTO chain_head (id, size, head) VALUES (1, ?, ?)", (size, head))


class ChainedSQLiteApplicationRecorder(SQLiteApplicationRecorder):
    """The library's SQLite recorder, plus hash chain and schema, in one transaction."""

    def construct_create_table_statements(self) -> list[str]:
        return super().construct_create_table_statements() + schema_statements(False, self.events_table_name)

    def _insert_events(self, c: Any, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        ids = super()._insert_events(c, stored_events, **kwargs)
        assert ids is not None
        write_chain(Cursor(c, False), stored_events, ids, self.events_table_name)
        return ids
