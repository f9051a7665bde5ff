"""A thin adapter over the two SQL backends, for csmine's own tables.

The event tables belong to the ``eventsourcing`` library; the read model
(``event_log``, ``tickets``, ``phases``), the hash chain and the metadata are
csmine's. SQL is written with ``?`` placeholders and translated for PostgreSQL.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

#: Milliseconds any statement waits on a locked SQLite database before it fails ("busy").
BUSY_TIMEOUT_MS = 30_000
#: Longest sleep between two tries for SQLite's write lock (seconds). SQLite's own busy
#: handler sleeps 1, 2, 5, 10, 15, 20, 25 ... 100 ms between tries, so a writer that found
#: the lock held for 3 ms resumed 18-80 ms later (a live ingest's acknowledgements waited
#: that behind the monitors' alert transactions); see :func:`begin_immediate`.
WRITE_POLL_MAX_S = 0.001

_INSERT_RE = re.compile(r"\s*INSERT INTO (\S+) \(([^)]*)\) VALUES \((?:\?, )*\?\)\s*$")


def _in_pipeline(raw: Any) -> bool:
    """A psycopg cursor whose connection is in pipeline mode (the library's writes)."""
    from psycopg import pq

    return bool(raw.connection.pgconn.pipeline_status != pq.PipelineStatus.OFF)


class Cursor:
    """A cursor that speaks ``?`` placeholders on both backends."""

    def __init__(self, raw: Any, postgres: bool) -> None:
        self.raw = raw
        self.postgres = postgres

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.postgres else sql

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        if params:
            self.raw.execute(self._sql(sql), params)
        else:  # no placeholders to fill: psycopg then sends the text as is (DDL may hold '%')
            self.raw.execute(sql)
        return self

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self.raw.executemany(self._sql(sql), rows)

    def insert_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Rows of a plain ``INSERT INTO t (columns) VALUES (...)``: on PostgreSQL one ``COPY``.

        ``executemany`` sends one statement per row; a bulk import of a million events
        spent most of its time there. ``COPY`` streams the rows in one statement, in
        the same transaction, with the same constraints and triggers.
        """
        if not rows:
            return
        if not self.postgres or _in_pipeline(self.raw):  # COPY cannot run inside a pipeline
            self.executemany(sql, rows)
            return
        m = _INSERT_RE.match(sql)
        if m is None:
            raise ValueError(f"not a plain INSERT ... VALUES statement: {sql[:80]}")
        with self.raw.copy(f"COPY {m.group(1)} ({m.group(2)}) FROM STDIN") as copy:
            write = copy.write_row
            for row in rows:
                write(row)

    def fetchall(self) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self.raw.fetchall()]

    def fetchone(self) -> tuple[Any, ...] | None:
        row = self.raw.fetchone()
        return None if row is None else tuple(row)

    @property
    def description(self) -> Any:
        return self.raw.description


def begin_immediate(raw: sqlite3.Cursor, timeout_s: float = BUSY_TIMEOUT_MS / 1000) -> None:
    """``BEGIN IMMEDIATE``, trying again every 0.05-1 ms while another connection writes.

    The connection's busy timeout is set to 0 for the tries (a try then fails at once
    instead of entering SQLite's sleeping busy handler) and put back after, so the other
    statements keep their :data:`BUSY_TIMEOUT_MS`. After ``timeout_s`` the last try's
    ``database is locked`` error is raised, as SQLite's own timeout would.
    """
    began = False
    try:
        raw.execute("PRAGMA busy_timeout = 0")
        deadline = time.monotonic() + timeout_s
        pause = 0.00005
        while True:
            try:
                raw.execute("BEGIN IMMEDIATE")
                began = True
                return
            except sqlite3.OperationalError as exc:
                if ("locked" not in str(exc) and "busy" not in str(exc)) or time.monotonic() >= deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, WRITE_POLL_MAX_S)
    finally:
        try:
            raw.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        except BaseException:
            if began:  # the lock was taken but the caller will not get the transaction
                with suppress(sqlite3.Error):
                    raw.execute("ROLLBACK")
            raise


class Database:
    """Connections to the store's database for csmine's own reads and writes."""

    def __init__(self, *, sqlite_path: str | None = None, pg_conninfo: str | None = None,
                 pg_schema: str = "public", sqlite_uri: str | None = None) -> None:
        if (sqlite_path is None) == (pg_conninfo is None):
            raise ValueError("give exactly one of sqlite_path and pg_conninfo")
        self.sqlite_path = sqlite_path
        #: A ``file:`` URI to open instead of the path (read-only stores).
        self.sqlite_uri = sqlite_uri
        self.pg_conninfo = pg_conninfo
        self.pg_schema = pg_schema
        self.postgres = pg_conninfo is not None
        self._conn: Any = None

    def _connect(self) -> Any:
        if self._conn is None:
            if self.postgres:
                import psycopg

                self._conn = psycopg.connect(self.pg_conninfo, autocommit=False)
                # Always, "public" too: the default "$user", public would put a store's
                # tables in a schema named after the role.
                with self._conn.cursor() as c:
                    c.execute(f'SET search_path TO "{self.pg_schema}"')
                self._conn.commit()
            else:
                assert self.sqlite_path is not None
                target = self.sqlite_uri or self.sqlite_path
                self._conn = sqlite3.connect(target, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                                             check_same_thread=False, uri=self.sqlite_uri is not None)
                self._conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                # A bigger page cache for bulk writes into the indexes (per connection).
                self._conn.execute("PRAGMA cache_size = -65536")
                self._conn.execute("PRAGMA synchronous = NORMAL")
        return self._conn

    @contextmanager
    def transaction(self, *, write: bool = False, lock_timeout_s: float | None = None) -> Iterator[Cursor]:
        """A transaction; on SQLite a write transaction takes the write lock up front.

        ``lock_timeout_s``: SQLite, how long a write transaction waits for the write lock
        (default :data:`BUSY_TIMEOUT_MS`; ``sqlite3.OperationalError`` "locked" after).
        """
        conn = self._connect()
        if self.postgres:
            try:
                with conn.cursor() as raw:
                    yield Cursor(raw, True)
                conn.commit()
            except BaseException:
                # A lost connection cannot roll back: the server has already done it.
                with suppress(Exception):
                    conn.rollback()
                raise
        else:
            raw = conn.cursor()
            if write:
                begin_immediate(raw) if lock_timeout_s is None else begin_immediate(raw, lock_timeout_s)
            else:
                raw.execute("BEGIN")
            try:
                yield Cursor(raw, False)
                raw.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    with suppress(sqlite3.Error):
                        raw.execute("ROLLBACK")
                raise
            finally:
                raw.close()

    def pragma(self, statement: str) -> list[tuple[Any, ...]]:
        """SQLite: ``PRAGMA statement`` on this connection, outside any transaction (a checkpoint needs that)."""
        if self.postgres:
            raise ValueError("PRAGMA is SQLite's")
        return list(self._connect().execute(f"PRAGMA {statement}").fetchall())

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self.transaction() as c:
            return c.execute(sql, params).fetchall()

    def table_exists(self, name: str) -> bool:
        if self.postgres:
            # to_regclass sees tables the current role has no privilege on (an
            # append-only application role), unlike information_schema.
            rows = self.query("SELECT to_regclass(?)", (f'"{self.pg_schema}"."{name}"',))
            return bool(rows and rows[0][0] is not None)
        else:
            rows = self.query("SELECT 1 FROM sqlite_master WHERE type='table' AND name = ?", (name,))
        return bool(rows)

    def create_schema(self) -> None:
        """PostgreSQL: create the store's schema if it is missing (a new store in its own schema).

        Only when missing: ``CREATE SCHEMA IF NOT EXISTS`` would still ask for the
        database's CREATE privilege, which a role owning just its schema lacks.
        """
        if not self.postgres or self.pg_schema == "public":
            return
        if not self.query("SELECT 1 FROM pg_namespace WHERE nspname = ?", (self.pg_schema,)):
            with self.transaction(write=True) as cur:
                cur.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.pg_schema}"')

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
