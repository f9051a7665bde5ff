"""Helpers for bulk work (imports): memory management, indexes built after a bulk load."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from event_store.persistence.db import Database

# The index names and statements live with the schema (recorders), imported when used:
# the CSV reader imports pause_gc and must not load the storage library.


@contextmanager
def pause_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many small objects.

    Bulk import creates hundreds of thousands of short-lived tuples and dicts while
    the parsed log stays alive; every generation-2 collection would walk all of it.
    Nothing here creates reference cycles, so reference counting frees everything.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


@contextmanager
def deferred_indexes(db: Database, empty: bool) -> Iterator[bool]:
    """Load an empty store without the read model's secondary indexes; create them at the end.

    Inserting rows into five B-trees one by one costs more than sorting each once
    afterwards. Only the indexes are deferred: every batch still commits its events,
    chain links, read-model rows and position together, so the read model matches
    the events at every commit. If the import is killed before the end, the next
    :func:`event_store.application.open_store` of a writable store creates the
    missing indexes (:func:`missing_indexes`). Yields whether the indexes were dropped
    (not when the store holds read-model rows, or the role may not run DDL).
    """
    from event_store.persistence.recorders import READ_MODEL_INDEXES

    dropped = False
    if empty:
        with suppress(Exception):
            with db.transaction(write=True) as cur:
                _ddl_lock(db, cur)
                if cur.execute("SELECT notification_id FROM event_log LIMIT 1").fetchone() is None:
                    for name in READ_MODEL_INDEXES:
                        cur.execute(f"DROP INDEX IF EXISTS {name}")
                    dropped = True
    if not dropped:
        yield False
        return
    try:
        yield True
    except BaseException:
        with suppress(Exception):  # the store may be unreachable: the next open creates them
            create_indexes(db)
        raise
    create_indexes(db)


def missing_indexes(db: Database) -> list[str]:
    """The read model's secondary indexes the store lacks (an import was stopped before its end)."""
    from event_store.persistence.recorders import READ_MODEL_INDEXES

    names = list(READ_MODEL_INDEXES)
    marks = ", ".join("?" * len(names))
    if db.postgres:
        sql = f"SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND indexname IN ({marks})"
    else:
        sql = f"SELECT name FROM sqlite_master WHERE type = 'index' AND name IN ({marks})"
    have = {r[0] for r in db.query(sql, names)}
    return [n for n in names if n not in have]


def create_indexes(db: Database) -> None:
    """Create the read model's secondary indexes that are missing, in one transaction."""
    from event_store.persistence.recorders import READ_MODEL_INDEXES

    with db.transaction(write=True) as cur:
        _ddl_lock(db, cur)
        for statement in READ_MODEL_INDEXES.values():
            cur.execute(statement)


def _ddl_lock(db: Database, cur: Any) -> None:
    """PostgreSQL: one process at a time drops or creates the indexes, until its transaction ends.

    ``CREATE INDEX IF NOT EXISTS`` is not safe against a concurrent creator (two
    imports into one empty store both finish): the second fails on the catalogue's
    unique key instead of seeing the first's index. On SQLite the write lock taken
    by ``BEGIN IMMEDIATE`` already serialises them.
    """
    if db.postgres:
        from event_store.application import SCHEMA_LOCK

        cur.execute("SELECT pg_advisory_xact_lock(?)", (SCHEMA_LOCK,))
