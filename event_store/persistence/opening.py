"""Opening a store: is the location a csmine store, is its schema this version's.

:func:`event_store.application.open_store` is the way in; these are its checks of
the location before the library opens it (:func:`check_sqlite_store`,
:func:`check_postgres_store`), the schema upgrade by revision (:func:`ensure_schema`)
and the marks of a store just created (:func:`mark_new_store`).
"""

from __future__ import annotations

import dataclasses
import os
from contextlib import nullcontext, suppress
from datetime import UTC, datetime

from event_store.errors import StorageError, StoreConfigError
from event_store.persistence.bulk import create_indexes, missing_indexes
from event_store.persistence.db import Database
from event_store.persistence.failures import classify
from event_store.persistence.recorders import (
    SCHEMA_VERSION,
    StoreLocation,
    check_sqlite_file,
    schema_revision,
    schema_statements,
    sqlite_access,
)


def ensure_schema(db: Database, events_table: str, read_only: bool) -> None:
    """Bring csmine's own tables and indexes of an existing store up to this version.

    The statements are idempotent (``IF NOT EXISTS``); they run only when the
    store's ``schema_rev`` differs from this code's, in one write transaction. The
    read model's secondary indexes an import into the empty store had not created
    yet (it was stopped before its end) are created. A store opened read-only is
    left as it is.
    """
    if read_only:
        return
    postgres = db.postgres
    rev = schema_revision(postgres, events_table)
    rows = db.query("SELECT value FROM csmine_meta WHERE key = ?", ("schema_rev",))
    if rows and rows[0][0] == rev:
        if missing_indexes(db):
            with suppress(Exception) if postgres else nullcontext():  # an application role: no DDL
                create_indexes(db)
        return
    try:
        with db.transaction(write=True) as cur:
            for statement in schema_statements(postgres, events_table):
                cur.execute(statement)
            if postgres:
                cur.execute("INSERT INTO csmine_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE "
                            "SET value = EXCLUDED.value", ("schema_rev", rev))
            else:
                cur.execute("INSERT OR REPLACE INTO csmine_meta (key, value) VALUES (?, ?)", ("schema_rev", rev))
    except Exception:
        if not postgres:
            raise
        # An append-only application role may not run DDL (docs/event-store.md): the
        # schema owner applies the upgrade by opening the store once.


def check_sqlite_store(loc: StoreLocation, create: bool) -> tuple[StoreLocation, bool]:
    """The SQLite file is a csmine store (or, with ``create``, may become one): (location, fresh)."""
    assert loc.sqlite_path is not None
    check_sqlite_file(loc.sqlite_path, create=create)
    if os.path.exists(loc.sqlite_path):
        read_only, immutable = sqlite_access(loc.sqlite_path)
        if read_only:
            loc = dataclasses.replace(loc, read_only=True, immutable=immutable)
    db = loc.database()
    try:
        fresh = not db.table_exists("csmine_meta")
        if fresh and db.query("SELECT COUNT(*) FROM sqlite_master")[0][0]:
            raise StoreConfigError(
                f"{loc.display!r} is an SQLite database but not a csmine store (it holds other tables): "
                "choose another --store path"
            )
        if fresh and not create:
            raise StoreConfigError(
                f"{loc.display!r} is an empty SQLite file, not a csmine store: run "
                f"`csmine init --store {loc.display}` or choose another --store path"
            )
    except StoreConfigError:
        raise
    except Exception as exc:  # sqlite3.DatabaseError: file is not a database
        if classify(exc) in ("readonly", "cantopen", "permission", "io", "locked", "full"):
            raise  # a storage failure, worded by open_store
        raise StoreConfigError(f"{loc.display!r} is not a csmine store ({exc}): choose another --store path") from exc
    finally:
        db.close()
    if fresh and loc.read_only:
        raise StorageError(
            f"store {loc.display}: the file is read-only, so csmine cannot create its tables there. "
            "Nothing was written. To go on: choose a writable --store path.")
    return loc, fresh


def check_postgres_store(loc: StoreLocation, create: bool) -> bool:
    """The server is reachable and holds a csmine store (or ``create``): whether it is fresh."""
    db = loc.database()
    try:
        fresh = not db.table_exists("csmine_meta")
    except Exception as exc:
        raise StoreConfigError(
            f"cannot reach PostgreSQL store {loc.display}: {str(exc).strip()} "
            "(is the server running and the database created?)"
        ) from exc
    finally:
        db.close()
    if fresh and not create:
        raise StoreConfigError(f"no csmine store in {loc.display}: run `csmine init --store URL` first")
    return fresh


def mark_new_store(db: Database) -> None:
    """Record the schema version and creation time of a store just created."""
    upsert = ("INSERT INTO csmine_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING"
              if db.postgres else "INSERT OR IGNORE INTO csmine_meta (key, value) VALUES (?, ?)")
    with db.transaction(write=True) as cur:
        cur.execute(upsert, ("schema_version", SCHEMA_VERSION))
        cur.execute(upsert, ("created_at", datetime.now(UTC).isoformat()))
