"""The lean write of a live window: one transaction for events, chain links and read-model rows.

:func:`append_window` writes the new events of a window of live requests (chosen by
:class:`event_store.ingest.Ingestor`) in one locked transaction, with the guarantees
of an import batch (the hash chain, the read model in the same transaction, all or
nothing) but without an import's per-call set-up. :func:`defer_checkpoints` and
:func:`checkpoint` move SQLite's WAL checkpoints off the commits' path. The alert
records (:mod:`event_store.alerts`) use the same helpers.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from event_store.domain import TOPIC_ACTIVITY, TOPIC_CASE_CHANGED, TOPIC_OPENED
from event_store.ingest import EVENT_REF, IngestEvent, ticket_id
from event_store.records import CASE_FIELDS, ActivityRow, TicketHistory

if TYPE_CHECKING:
    from event_store.application import TicketStore
    from event_store.persistence.db import Cursor


def append_window(store: TicketStore, per_ticket: dict[str, list[IngestEvent]],
                  source_case: dict[UUID, dict[str, Any]]) -> int:
    """Write a window's new events in **one transaction**: events, chain links, read-model rows.

    The lean path of a live window: no preparing thread, no checkpoint settings, no
    catch-up before and after (a bulk import pays those once per import; a live
    window is an import of its own, many times a second). In one locked transaction
    (SQLite ``BEGIN IMMEDIATE``; PostgreSQL the events table's ``EXCLUSIVE`` lock and
    the read model's lock, as the import takes them): the last version of each ticket
    the window continues, the new events (a ``TicketOpened`` for a new ticket, a
    ``CaseAttributesChanged`` when the sender's case attributes differ from what the
    sources said before, the steps), their hash-chain links and, when the read model
    was caught up, its rows and position. The events' bytes are those ``Ticket``
    would store (the application's own transcoder, compressor and cipher). The
    caller decides which events are new (:class:`Ingestor`); the unique key of
    ticket and version refuses a clash with another writer (nothing is written).

    ``source_case`` is updated with the case attributes written. Returns the events written.
    """
    from event_store.limits import check_history
    from event_store.persistence.failures import storage_errors

    histories = [TicketHistory(t, min(ev.occurred_at for ev in evs), _merged_case(evs),
                               tuple(ActivityRow(ev.activity, ev.occurred_at, ev.actor, ev.team, None,
                                                 None if ev.event_id is None else EVENT_REF + ev.event_id,
                                                 dict(ev.attrs)) for ev in evs), "api")
                 for t, evs in per_ticket.items()]
    limits = store.limits
    for h in histories:
        check_history(h, limits)
    histories_in = histories
    with storage_errors(store.location.display), store.db.transaction(write=True) as cur:
        table = _events_table(store)
        if cur.postgres:
            from event_store.readmodel.projection import lock_projection

            cur.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")
            lock_projection(cur)
        stamp = datetime.now(UTC)
        versions = _versions(cur, table, [ticket_id(h.ticket) for h in histories])
        written, histories = _write_fresh(store, cur, table, histories, versions, stamp)
        stored, plan, cases = _window_events(store, cur, table, histories, source_case, versions, stamp)
        written += _insert_window(store, cur, table, stored, plan, _us(stamp))
    for h in fresh_of(histories_in, versions):
        if h.case:
            source_case.setdefault(ticket_id(h.ticket), {}).update(h.case)
    for oid, case in cases.items():
        source_case.setdefault(oid, {}).update(case)
    return written


#: A live writer's own checkpoint threshold (pages): only reached when :func:`checkpoint` has
#: failed to restart the WAL for a long time (1 GB at SQLite's 4 KB pages).
WRITER_CHECKPOINT_PAGES = 262_144
#: WAL frames past which :func:`checkpoint` starts the WAL again from its beginning (64 MB).
RESTART_FRAMES = 16_384
#: WAL frames past which :func:`checkpoint` falls back on a RESTART checkpoint (512 MB), see there.
FORCE_RESTART_FRAMES = 131_072
#: How long a restarting checkpoint waits for the write lock and for readers (milliseconds).
RESTART_WAIT_MS = 10
#: How long the restarting write waits for the write lock (seconds): longer than a live
#: window's transaction, far shorter than the store's 30 s (an import beside serve).
RESTART_WRITE_WAIT_S = 0.1


def defer_checkpoints(store: TicketStore, pages: int = WRITER_CHECKPOINT_PAGES) -> None:
    """SQLite: this store's commits leave the WAL checkpoint to :func:`checkpoint` (up to ``pages`` pages).

    By default SQLite checkpoints in the commit that takes the WAL past 1,000 pages
    (4 MB): that commit copies the WAL into the database file and syncs it, some tens
    of milliseconds, which a live window's acknowledgement would wait for every few
    windows. The live server checkpoints from its monitor process instead; past
    ``pages`` a commit still does it itself (the bound on the WAL's size should the
    monitors' checkpoints keep failing). Durability is unchanged: a commit is in the
    WAL either way.
    """
    if store.location.kind != "postgres":
        store.db.pragma(f"wal_autocheckpoint = {int(pages)}")


def checkpoint(store: TicketStore, restart_frames: int = RESTART_FRAMES,
               force_frames: int = FORCE_RESTART_FRAMES, attempts: int = 3) -> tuple[int, int, int] | None:
    """SQLite: copy what the WAL holds into the database file beside the writers; no-op on PostgreSQL.

    First a PASSIVE checkpoint (never blocks a writer; the copy and the database
    file's sync). A WAL only starts again from its beginning when a write transaction
    begins with every frame copied and no reader on a snapshot inside the WAL, which
    two writers that commit many times a second (the ingest and the alerts) seldom
    leave room for: the transaction after a checkpoint has usually begun during it.
    The WAL would grow until a commit reached :data:`WRITER_CHECKPOINT_PAGES` and paid
    a whole checkpoint in an acknowledgement. So once the WAL holds over
    ``restart_frames`` frames, all of them copied, this connection begins such a write
    at once (:func:`_restarting_write`: one page and the new WAL header's sync, a few
    ms under the write lock). If a transaction that began during the checkpoint commits
    first (likely after a long copy), the write only appends its frame: the few frames
    added are copied by another PASSIVE checkpoint, short, right before the write is
    tried again, ``attempts`` times in all. (Measured: a write after the long first copy
    seldom restarts the WAL, one after the short second copy usually does.) After a
    restart that PASSIVE copies the new frame too, so the next commit may start the WAL
    again itself, with the same header sync. When that keeps missing and the WAL
    passes ``force_frames``, a RESTART checkpoint runs instead: it waits at most
    :data:`RESTART_WAIT_MS` for the write lock and for the readers, copies the frames
    committed meanwhile and syncs, all under the write lock
    (10-90 ms at 5,000 events/s, growing with the database: run every second at 64 MB
    it was the acknowledgements' p99). When the PASSIVE one could not copy every frame
    (a reader on an old snapshot), nothing more is tried.

    Returns SQLite's ``(busy, frames in the WAL, frames copied)`` of the last checkpoint
    run; None on PostgreSQL, or when the database or its write lock was busy.
    """
    import sqlite3

    if store.location.kind == "postgres":
        return None
    try:
        busy, frames, copied = store.db.pragma("wal_checkpoint(PASSIVE)")[0]
    except sqlite3.OperationalError:  # a reader in the way: the next round does it
        return None
    if frames <= restart_frames or copied < frames:  # a reader holds old frames: nothing would restart
        return busy, frames, copied
    for _ in range(attempts):
        try:
            _restarting_write(store)
            busy, frames, copied = store.db.pragma("wal_checkpoint(PASSIVE)")[0]
        except sqlite3.OperationalError:  # another writer held the lock (an import beside serve): next round
            return None
        if frames <= restart_frames or copied < frames:  # started again (or a reader came: next round)
            return busy, frames, copied
    if frames <= force_frames:
        return busy, frames, copied
    from event_store.persistence.db import BUSY_TIMEOUT_MS

    try:
        store.db.pragma(f"busy_timeout = {RESTART_WAIT_MS}")
        busy, frames, copied = store.db.pragma("wal_checkpoint(RESTART)")[0]
    except sqlite3.OperationalError:
        return None
    finally:
        store.db.pragma(f"busy_timeout = {BUSY_TIMEOUT_MS}")
    return busy, frames, copied


def _restarting_write(store: TicketStore) -> None:
    """A write transaction of one page that changes nothing (the header's ``user_version`` set to itself).

    Begun right after a checkpoint that copied every frame, it reads the database file
    alone (SQLite's read mark 0), and its frame then starts the WAL from its beginning
    (when no reader holds a snapshot inside the WAL; SQLite syncs the new WAL header);
    otherwise it appends one frame. It waits at most :data:`RESTART_WRITE_WAIT_S` for
    the write lock (``sqlite3.OperationalError`` after). csmine does not use
    ``user_version``; nothing of the log, the chain or the read model is touched.
    """
    with store.db.transaction(write=True, lock_timeout_s=RESTART_WRITE_WAIT_S) as cur:
        row = cur.execute("PRAGMA user_version").fetchone()
        cur.execute(f"PRAGMA user_version = {int(row[0]) if row else 0}")


def warm_up(store: TicketStore) -> None:
    """Run a window's preparation once on a made-up ticket (nothing is written).

    The first window otherwise pays the imports its columnar path makes on first use
    (pandas, through pyarrow's conversions: about 0.3 s), in the acknowledgement of
    the first requests a server takes.
    """
    from event_store.integrity.chain import ZERO
    from event_store.persistence.bulk_write import from_histories, prepare

    mapper = store.mapper
    if mapper.compressor or mapper.cipher:
        return
    at = datetime(2000, 1, 1, tzinfo=UTC)
    encode = mapper.transcoder.encode
    columns = from_histories([TicketHistory("warm-up", at, {"channel": "x"},
                                            (ActivityRow("x", at, "x", "x", None, EVENT_REF + "x", {"k": "v"}),),
                                            "api")], encode, lambda attrs: encode(attrs).decode())
    if columns is not None:
        prepare(columns, at, (0, ZERO))


def fresh_of(histories: list[TicketHistory], versions: dict[UUID, int]) -> list[TicketHistory]:
    """The histories of tickets the store did not hold."""
    return [h for h in histories if ticket_id(h.ticket) not in versions]


def _write_fresh(store: TicketStore, cur: Cursor, table: str, histories: list[TicketHistory],
                 versions: dict[UUID, int], stamp: datetime) -> tuple[int, list[TicketHistory]]:
    """The window's new tickets through the import's columnar writer (bytes, chain and read-model
    rows built in bulk); returns the events written and the histories left for the generic path."""
    from event_store.persistence.bulk_write import chain_start, from_histories, prepare, write_prepared

    mapper = store.mapper
    fresh = fresh_of(histories, versions)
    if not fresh or mapper.compressor or mapper.cipher:
        return 0, histories
    encode = mapper.transcoder.encode
    columns = from_histories(fresh, encode, lambda attrs: encode(attrs).decode())
    if columns is None:  # a value the columnar layout does not take: the generic path writes them
        return 0, histories
    caught_up = _caught_up(cur, table)
    channel = _channel(store, cur)
    done = write_prepared(cur, table, prepare(columns, stamp, chain_start(cur)), project=caught_up, channel=channel,
                          chunks=False)  # the chunks a window completes: built by the first read, off the ack path
    return done.tickets + done.events, [h for h in histories if ticket_id(h.ticket) in versions]


def _caught_up(cur: Cursor, table: str) -> bool:
    """Whether the read model's position is the log's last event (so new rows go in with the events)."""
    from event_store.readmodel.projection import NAME as PROJECTION

    before = cur.execute(f"SELECT MAX({'notification_id' if cur.postgres else 'rowid'}) FROM {table}").fetchone()
    row = cur.execute("SELECT position FROM projection_state WHERE name = ?", (PROJECTION,)).fetchone()
    return (int(row[0]) if row else 0) == (int(before[0]) if before and before[0] is not None else 0)


def _merged_case(events: list[IngestEvent]) -> dict[str, Any]:
    case: dict[str, Any] = {}
    for ev in events:
        case.update(ev.case)
    return {k: (str(v) if k in CASE_FIELDS and v is not None else v) for k, v in case.items() if v is not None}


def _events_table(store: TicketStore) -> str:
    table = str(store.recorder.events_table_name)  # type: ignore[attr-defined]
    if store.location.kind == "postgres":
        return f'"{store.recorder.datastore.schema}"."{table}"'  # type: ignore[attr-defined]
    return table


def _protector(store: TicketStore) -> Any:
    """Compress and encrypt transcoded bytes as the store's mapper does (identity when plain)."""
    mapper = store.mapper

    def protect(data: bytes) -> bytes:
        if mapper.compressor:
            data = mapper.compressor.compress(data)
        if mapper.cipher:
            data = mapper.cipher.encrypt(data)
        return data

    return protect


def advance_read_model(cur: Cursor, last_before: int, last: int) -> bool:
    """Move the read model's position to ``last`` if it was at ``last_before`` (caught up); whether it was."""
    from event_store.readmodel.projection import NAME as PROJECTION

    row = cur.execute("SELECT position FROM projection_state WHERE name = ?", (PROJECTION,)).fetchone()
    if (int(row[0]) if row else 0) != last_before:
        return False
    if row is None:
        cur.execute("INSERT INTO projection_state (name, position) VALUES (?, ?)", (PROJECTION, last))
    else:
        cur.execute("UPDATE projection_state SET position = ? WHERE name = ?", (last, PROJECTION))
    return True


def _channel(store: TicketStore, cur: Cursor) -> str | None:
    """PostgreSQL: the channel the store's listeners wait on (NOTIFY after appending)."""
    return str(store.recorder.events_table_name).replace(".", "_") if cur.postgres else None  # type: ignore[attr-defined]


def _versions(cur: Cursor, table: str, ids: list[UUID]) -> dict[UUID, int]:
    """Last stored version of each of these tickets (those the store holds)."""
    found: dict[UUID, int] = {}
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        if cur.postgres:
            rows = cur.execute(f"SELECT originator_id, MAX(originator_version) FROM {table} "
                               "WHERE originator_id = ANY(?) GROUP BY originator_id", (chunk,)).fetchall()
        else:
            rows = cur.execute(f"SELECT originator_id, MAX(originator_version) FROM {table} WHERE originator_id "
                               f"IN ({','.join('?' * len(chunk))}) GROUP BY originator_id",
                               [u.hex for u in chunk]).fetchall()
        for oid, version in rows:
            found[oid if isinstance(oid, UUID) else UUID(oid)] = int(version)
    return found


def _window_events(store: TicketStore, cur: Cursor, table: str, histories: list[TicketHistory],
                   source_case: dict[UUID, dict[str, Any]], versions: dict[UUID, int],
                   stamp: datetime) -> tuple[list[Any], list[tuple[Any, ...]],
                                                                     dict[UUID, dict[str, Any]]]:
    """The stored events of a window and, in the same order, what the read model needs."""
    from eventsourcing.persistence import StoredEvent

    from event_store.domain import Ticket
    from event_store.readmodel.projection import case_tuple

    encode = store.mapper.transcoder.encode
    protect = _protector(store)
    ids = [ticket_id(h.ticket) for h in histories]
    stored: list[Any] = []
    plan: list[tuple[Any, ...]] = []
    cases: dict[UUID, dict[str, Any]] = {}
    for h, tid in zip(histories, ids, strict=True):
        oid = str(tid)
        version = versions.get(tid)
        case_row: Any = None
        if version is None:
            state = {"timestamp": stamp, "originator_topic": Ticket.TOPIC, "external_id": h.ticket,
                     "occurred_at": h.opened_at, "case": h.case, "actor": None, "source_ref": h.source_ref}
            stored.append(StoredEvent(tid, 0, TOPIC_OPENED, protect(encode(state))))
            extra = {k: v for k, v in h.case.items() if k not in CASE_FIELDS}
            case_row = case_tuple(h.ticket, _us(h.opened_at), h.case)
            plan.append(("ticket", case_row, (oid, encode(extra).decode() if extra else None, h.source_ref)))
            version = 0
            cases[tid] = dict(h.case)
        else:
            known = source_case.get(tid, {})
            changes = {k: v for k, v in h.case.items() if k not in known or type(known[k]) is not type(v)
                       or known[k] != v}
            if changes:
                version += 1
                state = {"timestamp": stamp, "changes": changes, "reason": "case attributes changed in the source",
                         "occurred_at": stamp, "actor": None, "source_ref": h.source_ref}
                stored.append(StoredEvent(tid, version, TOPIC_CASE_CHANGED, protect(encode(state))))
                plan.append(("case", None, (oid, json.loads(encode(changes)))))
                cases[tid] = changes
        for row in h.steps:
            version += 1
            state = {"timestamp": stamp, "activity": row.activity, "occurred_at": row.occurred_at,
                     "actor": row.actor, "team": row.team, "started_at": None, "source_ref": row.source_ref,
                     "attrs": row.attrs or None}
            stored.append(StoredEvent(tid, version, TOPIC_ACTIVITY, protect(encode(state))))
            plan.append(("step", case_row, (oid, version, row, encode(row.attrs).decode() if row.attrs else None)))
    return stored, plan, cases


def _insert_window(store: TicketStore, cur: Cursor, table: str, stored: list[Any],
                   plan: list[tuple[Any, ...]], recorded_us: int) -> int:
    """Events and chain links; the read-model rows and position when it was caught up."""
    from event_store.persistence.recorders import insert_stored_events, write_chain
    from event_store.readmodel.projection import INSERT_EVENT_LOG, INSERT_TICKETS, activity_row, ticket_row
    from event_store.readmodel.projection import NAME as PROJECTION

    if not stored:
        return 0
    before = cur.execute(f"SELECT MAX({'notification_id' if cur.postgres else 'rowid'}) FROM {table}").fetchone()
    last_before = int(before[0]) if before and before[0] is not None else 0
    channel = _channel(store, cur)
    nids = insert_stored_events(cur, table, stored, channel=channel)
    write_chain(cur, stored, nids, table)
    position = cur.execute("SELECT position FROM projection_state WHERE name = ?", (PROJECTION,)).fetchone()
    if (int(position[0]) if position else 0) != last_before:
        return len(stored)  # the read model lags: it catches up from the log (same rows)
    # (the rows first: the position moves in the same transaction, below)
    projection = store.projection
    tickets: list[tuple[Any, ...]] = []
    rows: list[tuple[Any, ...]] = []
    # The case rows of the tickets the window continues, in one query per 500 (not one each).
    cached: dict[str, tuple[Any, ...]] = projection.case_rows(
        cur, [data[0] for kind, case, data in plan if kind == "step" and case is None])
    for (kind, case, data), nid in zip(plan, nids, strict=True):
        if kind == "ticket":
            oid, extra_json, source_ref = data
            tickets.append(ticket_row(nid, oid, case, recorded_us, extra_json, None, source_ref))
            cached[oid] = case
        elif kind == "case":
            oid, wrapped = data
            if rows or tickets:  # the change must see the rows written before it
                cur.insert_many(INSERT_TICKETS, tickets)
                cur.insert_many(INSERT_EVENT_LOG, rows)
                tickets, rows = [], []
            projection.apply_case_changes(cur, oid, wrapped, corrected=False, where=nid)
            cached.pop(oid, None)
        else:
            oid, version, row, attrs_json = data
            if case is None:
                case = cached.get(oid) or projection.case_row(cur, oid)
                if case is None:
                    raise RuntimeError(f"read model has no ticket {oid}: run `csmine` with a rebuild")
                cached[oid] = case
            rows.append(activity_row(nid, case, version, row.activity, _us(row.occurred_at), None, recorded_us,
                                     row.actor, row.team, row.source_ref, attrs_json))
    cur.insert_many(INSERT_TICKETS, tickets)
    cur.insert_many(INSERT_EVENT_LOG, rows)
    if position is None:
        cur.execute("INSERT INTO projection_state (name, position) VALUES (?, ?)", (PROJECTION, nids[-1]))
    else:
        cur.execute("UPDATE projection_state SET position = ? WHERE name = ?", (nids[-1], PROJECTION))
    return len(stored)


def _us(value: datetime) -> int:
    from event_store.readmodel.projection import to_us

    us = to_us(value)
    assert us is not None
    return us


def _is_conflict(exc: BaseException) -> bool:
    """A unique-key clash (another writer took a version) or a lock timeout."""
    import sqlite3

    from eventsourcing.persistence import IntegrityError as LibraryIntegrityError
    from eventsourcing.persistence import RecordConflictError

    from event_store.errors import ConcurrencyConflictError, StoreLockedError

    seen: BaseException | None = exc
    while seen is not None:  # storage_errors wraps the driver's error
        if isinstance(seen, (sqlite3.IntegrityError, LibraryIntegrityError, RecordConflictError,
                             ConcurrencyConflictError, StoreLockedError)):
            return True
        if type(seen).__name__ in ("UniqueViolation", "LockNotAvailable", "SerializationFailure"):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


__all__ = ["advance_read_model", "append_window", "checkpoint", "defer_checkpoints"]
