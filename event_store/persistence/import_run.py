"""How an import runs: batches prepared on a second thread, each written in one transaction.

:func:`run_import` is :meth:`event_store.application.TicketStore.import_histories`'s
work. A batch whose tickets are all new takes the column path
(:mod:`event_store.persistence.bulk_write`); one holding a ticket the store has already
takes the object path (:mod:`event_store.persistence.import_objects`), which appends
only what is missing. Every batch is one transaction holding the write lock, retried
on a conflict with another writer within the store's retry budget. An import into an
empty store creates the read model's secondary indexes at its end
(:func:`event_store.persistence.bulk.deferred_indexes`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from eventsourcing.persistence import IntegrityError as LibraryIntegrityError
from eventsourcing.persistence import RecordConflictError

from event_store.errors import ConcurrencyConflictError
from event_store.integrity.chain import ZERO
from event_store.limits import check_history
from event_store.persistence.bulk import deferred_indexes
from event_store.persistence.bulk_write import NewTickets, Prepared, from_histories, prepare, write_prepared
from event_store.persistence.db import Cursor
from event_store.persistence.failures import Retry, storage_errors
from event_store.persistence.import_objects import write_histories
from event_store.readmodel.projection import NAME as PROJECTION
from event_store.readmodel.projection import lock_projection
from event_store.records import TicketHistory

if TYPE_CHECKING:
    from event_store.application import TicketStore


@contextmanager
def bulk_checkpoints(store: TicketStore) -> Iterator[None]:
    """On SQLite, checkpoint the WAL every 64 MB instead of every 4 MB during an import.

    A checkpoint copies the WAL's pages into the database file and syncs both; with
    the default every batch of an import paid one (about 0.1 s each on BPIC 2013),
    copying the same index pages again and again. Durability is unchanged: every
    batch is still committed to the WAL. The default is restored afterwards and
    the WAL checkpointed once.
    """
    if store.location.kind == "postgres":
        yield
        return
    conn = store.db._connect()
    conn.execute("PRAGMA wal_autocheckpoint = 16384")
    try:
        yield
    finally:
        conn.execute("PRAGMA wal_autocheckpoint = 1000")
        with suppress(sqlite3.OperationalError):  # a reader in the way: the next writer checkpoints
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")


def run_import(store: TicketStore, histories: Iterable[TicketHistory] | Any, batch_size: int,
               progress: Callable[[int, int], None] | None, *,
               refuse_misread: bool = False) -> tuple[int, int, int, int, int, int]:
    """Write the batches; (tickets seen, events seen, tickets added, events added, unchanged, case changed).

    Batches are prepared on a second thread while the previous one is written.

    The preparing thread (reading columns, building the state bytes, hashing the
    chain from the head the batch before it will leave) touches no database; the
    writing thread holds the transaction. SQLite and Arrow release the GIL in
    their C work, so the two overlap on two cores. One prepared batch waits while
    the next is made (writing is the slower side, so more waiting would only hold
    memory: about 70 MB per 5,000-ticket batch), so memory stays bounded.
    """
    store._catch_up()
    seen_t = seen_e = added_t = added_e = unchanged = changed = batches = 0

    def committed() -> str:
        if not batches:
            return "Nothing of this import was committed (the store is as it was)."
        return (f"{batches:,} batch{'es' if batches != 1 else ''} had been committed, each whole "
                f"(the first {seen_t:,} tickets of the source: {added_t:,} new tickets and "
                f"{added_e:,} new events written); running the same import again adds exactly the rest.")

    with store._guard():
        start = store.db.query("SELECT size, head FROM chain_head WHERE id = 1")
    head = (int(start[0][0]), bytes(start[0][1])) if start else (0, ZERO)
    with storage_errors(store.location.display, committed), deferred_indexes(store.db, head[0] == 0):
        for work in background(_prepared(store, histories, batch_size, head)):
            t, e, u, c = _write_batch(store, work, refuse_misread)
            added_t += t
            added_e += e
            unchanged += u
            changed += c
            batches += 1
            n_t, n_e = _sizes(work)
            seen_t += n_t
            seen_e += n_e
            if progress is not None:
                progress(n_t, n_e)
            del work  # written: not held while the next batch is awaited
    store._catch_up()
    return seen_t, seen_e, added_t, added_e, unchanged, changed


def _prepared(store: TicketStore, histories: Iterable[TicketHistory] | Any, batch_size: int,
              head: tuple[int, bytes]) -> Iterator[Prepared | list[TicketHistory]]:
    """The import's batches, made ready for :func:`_write_batch` (runs on the preparing thread)."""
    for work in _batches(store, histories, batch_size):
        columns = work
        if not isinstance(work, NewTickets):
            columns = from_histories(work, store.mapper.transcoder.encode, store._attrs_json) \
                if store._plain_bytes else None
        if columns is None or not store._plain_bytes:
            yield work if isinstance(work, list) else work.histories()
            continue
        prepared = prepare(columns, datetime.now(UTC), head)  # type: ignore[arg-type]
        head = prepared.end
        yield prepared


def _batches(store: TicketStore, histories: Iterable[TicketHistory] | Any,
             batch_size: int) -> Iterator[NewTickets | list[TicketHistory]]:
    column_batches = getattr(histories, "column_batches", None)
    if column_batches is not None:  # a columnar source (event_store.io.columnar)
        yield from column_batches(batch_size, store.limits)
        return
    batch: list[TicketHistory] = []
    in_batch: set[str] = set()
    for history in histories:
        if history.ticket in in_batch:  # the same ticket twice: its second part goes in a later batch
            yield batch
            batch, in_batch = [], set()
        check_history(history, store.limits)
        batch.append(history)
        in_batch.add(history.ticket)
        if len(batch) >= batch_size:
            yield batch
            batch, in_batch = [], set()
    if batch:
        yield batch


def _write_batch(store: TicketStore, batch: list[TicketHistory] | Prepared,
                 refuse_misread: bool = False) -> tuple[int, int, int, int]:
    retry = Retry(store.retry_budget)
    while True:
        try:
            with store.db.transaction(write=True) as cur:
                if cur.postgres:
                    cur.execute(f"LOCK TABLE {store._events_table()} IN EXCLUSIVE MODE")
                    lock_projection(cur)
                return _write_batch_in(store, cur, batch, refuse_misread)
        except Exception as exc:
            if not _is_conflict(exc):
                raise
            if not retry.wait():
                raise ConcurrencyConflictError(
                    f"store {store.location.display}: other writers kept changing the same tickets during "
                    f"the import ({retry.attempts + 1} attempts in {retry.elapsed:.1f} s, the retry budget "
                    f"is {store.retry_budget:g} s)"
                ) from exc


def _write_batch_in(store: TicketStore, cur: Cursor, work: list[TicketHistory] | Prepared,
                    refuse_misread: bool = False) -> tuple[int, int, int, int]:
    """One batch in the caller's locked transaction: the bulk path when every ticket is new.

    A batch holding a ticket the store has already (a re-run, a later export)
    goes through :func:`~event_store.persistence.import_objects.write_histories`, which appends only what is missing.
    """
    if isinstance(work, Prepared):
        if not _any_stored(store, cur, work.batch.uuids):
            table = store._events_table()
            before = cur.execute(
                f"SELECT MAX({'notification_id' if cur.postgres else 'rowid'}) FROM {table}").fetchone()
            last_before = int(before[0]) if before and before[0] is not None else 0
            position = cur.execute("SELECT position FROM projection_state WHERE name = ?",
                                   (PROJECTION,)).fetchone()
            done = write_prepared(cur, table, work, project=(int(position[0]) if position else 0) == last_before,
                                  channel=store._notify_channel())
            return done.tickets, done.events, 0, 0
        return write_histories(store, cur, work.batch.histories(), refuse_misread=refuse_misread)
    return write_histories(store, cur, work, refuse_misread=refuse_misread)


def _any_stored(store: TicketStore, cur: Cursor, uuids: list[str]) -> bool:
    """Whether the store holds events of any of these tickets (primary-key lookups)."""
    table = store._events_table()
    # Every stored ticket has its opening at version 0: full primary-key lookups. No
    # LIMIT: with one, PostgreSQL's planner may scan the whole table hoping for an early hit.
    for i in range(0, len(uuids), 500):
        chunk = uuids[i : i + 500]
        if cur.postgres:
            row = cur.execute(f"SELECT COUNT(*) FROM {table} WHERE originator_id = ANY(?::uuid[]) "
                              "AND originator_version = 0", (chunk,)).fetchone()
        else:
            marks = ",".join("?" * len(chunk))
            row = cur.execute(f"SELECT COUNT(*) FROM {table} WHERE originator_id IN ({marks}) "
                              "AND originator_version = 0", [u.replace("-", "") for u in chunk]).fetchone()
        row = row if row and row[0] else None
        if row is not None:
            return True
    return False


def _sizes(work: list[TicketHistory] | Prepared) -> tuple[int, int]:
    if isinstance(work, Prepared):
        return len(work.batch.tickets), work.batch.n_events
    return len(work), sum(len(h.steps) for h in work)


def _is_conflict(exc: BaseException) -> bool:
    """A unique-key clash or a lock timeout: another writer got in first; try again."""
    import sqlite3

    if isinstance(exc, (sqlite3.IntegrityError, LibraryIntegrityError, RecordConflictError)):
        return True
    if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
        return True
    try:
        import psycopg.errors
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, (psycopg.errors.UniqueViolation, psycopg.errors.LockNotAvailable,
                            psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected))


_DONE = object()


def background(items: Any, depth: int = 1) -> Any:
    """Iterate ``items`` on a second thread, at most ``depth`` items ahead of the consumer.

    Exceptions raised while producing reach the consumer at the item where they
    happened. If the consumer stops early (an error while writing), the thread is
    told to stop and the items it has made are dropped.
    """
    import contextvars
    import queue
    import threading

    q: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    return
        except BaseException as exc:  # handed to the consumer
            put((_DONE, exc))
            return
        put((_DONE, None))

    # The caller's context (the input limits in force, ...) goes with the work.
    context = contextvars.copy_context()
    thread = threading.Thread(target=context.run, args=(run,), name="csmine-import-prepare", daemon=True)
    thread.start()
    try:
        while True:
            item, exc = q.get()
            if item is _DONE:
                if exc is not None:
                    raise exc
                return
            yield item
            del item  # the consumer is done with it: not held while the next one is awaited
    finally:
        stop.set()
        thread.join(timeout=5)
