"""Use cases of the write side: open, record, correct, retract, import, phases.

:func:`open_store` is the one way in: it parses the location, refuses anything
that is not a csmine store, never falls back to an in-memory store, and catches
the read model up.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError as LibraryIntegrityError
from eventsourcing.persistence import RecordConflictError

from eventsourcing.persistence import StoredEvent

from event_store.persistence.db import Cursor, Database
from event_store.domain import (
    PHASE_PLAN_ID,
    TOPIC_ACTIVITY,
    TOPIC_CASE_CHANGED,
    TOPIC_OPENED,
    PhasePlan,
    Ticket,
    check_aware,
    ticket_id,
)
from event_store.errors import (
    ConcurrencyConflictError,
    InvalidEventError,
    StorageError,
    StoreConfigError,
    TicketExistsError,
    TicketNotFoundError,
)
from event_store.persistence.recorders import (
    SCHEMA_VERSION,
    sqlite_access,
    StoreLocation,
    check_sqlite_file,
    insert_stored_events,
    parse_location,
    schema_revision,
    schema_statements,
    write_chain,
)
from event_store.readmodel.projection import (
    INSERT_EVENT_LOG,
    INSERT_TICKETS,
    EventLogProjection,
    activity_row,
    case_tuple,
    lock_projection,
    ticket_row,
    to_us,
)
from event_store.readmodel.projection import NAME as PROJECTION
from event_store.records import CASE_FIELDS, ActivityRow, TicketHistory
from event_store.persistence.bulk import pause_gc
from event_store.persistence.bulk_write import NewTickets, Prepared, background, from_histories, prepare, write_prepared
from event_store.integrity.chain import ZERO
from event_store.persistence.failures import RETRY_BUDGET, Retry, classify, storage_errors
from event_store.limits import InputLimits, check_event, check_history, current_limits

#: PostgreSQL advisory lock key held while a process creates or checks the schema.
SCHEMA_LOCK = 0x63736D696E65  # "csmine"


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What an import changed.

    Attributes:
        tickets_seen: tickets in the source.
        events_seen: lifecycle events in the source.
        tickets_added: tickets new to the store.
        events_added: lifecycle events written (new tickets' steps plus steps
            appended to tickets already in the store).
        tickets_unchanged: tickets already stored with every step and every case
            attribute value of the source.
        tickets_case_changed: tickets already stored whose case attributes the source
            now gives new or other values for (one ``CaseAttributesChanged`` event each).
    """

    tickets_seen: int
    events_seen: int
    tickets_added: int
    events_added: int
    tickets_unchanged: int
    tickets_case_changed: int = 0


class TicketStore(Application):
    """The event-sourced ticket store (one database: events, chain, read model)."""

    name = "TicketStore"
    is_snapshotting_enabled = False

    def __init__(self, location: StoreLocation, env: dict[str, str], *, retry_budget: float = RETRY_BUDGET,
                 limits: InputLimits | None = None) -> None:
        super().__init__(env=env)
        self.location = location
        self.db: Database = location.database()
        self.projection = EventLogProjection(self.db, self.recorder, self._decrypt)
        self.projection.read_only = location.read_only
        self._attrs_cache: dict[tuple[Any, ...], str] = {}
        #: Seconds a write retries after conflicts (see :mod:`event_store.persistence.failures`).
        self.retry_budget = retry_budget
        self._limits = limits

    @property
    def limits(self) -> InputLimits:
        """Field limits for what is written (:mod:`event_store.limits`; default: those in force)."""
        return self._limits or current_limits()

    # -- life cycle -------------------------------------------------------------------

    def close(self) -> None:
        self.db.close()
        super().close()

    def __enter__(self) -> TicketStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _guard(self, committed: str = "Nothing was written.") -> Any:
        """Raw database failures inside the block become csmine's storage errors."""
        return storage_errors(self.location.display, committed)

    def _catch_up(self) -> int:
        """Catch the read model up after a write (the write itself is committed)."""
        with storage_errors(self.location.display,
                            "What this command wrote is committed; the read model lags behind and catches up "
                            "when the store is opened next."):
            return self.projection.catch_up()

    # -- tickets ----------------------------------------------------------------------

    def _get(self, external_id: str) -> Ticket:
        try:
            ticket = self.repository.get(ticket_id(external_id))
        except AggregateNotFoundError:
            raise TicketNotFoundError(
                f"no ticket {external_id!r} in {self.location.display} "
                f"(open it first: `csmine open {external_id}`)"
            ) from None
        assert isinstance(ticket, Ticket)
        return ticket

    def has_ticket(self, external_id: str) -> bool:
        return bool(self.recorder.select_events(ticket_id(external_id), limit=1))

    def open_ticket(
        self,
        external_id: str,
        occurred_at: datetime,
        case: dict[str, Any],
        *,
        actor: str | None = None,
        source_ref: str | None = None,
    ) -> UUID:
        """Open a ticket; raises TicketExistsError if the id is taken."""
        check_aware(occurred_at, "occurred_at")
        check_event(f"ticket {external_id[:40]!r}", self.limits, command="open", ticket=external_id, actor=actor,
                    attrs=case)
        ticket = Ticket(external_id=external_id, occurred_at=occurred_at, case=case,
                        actor=actor, source_ref=source_ref)
        try:
            with self._guard():
                self.save(ticket)
        except RecordConflictError:
            raise TicketExistsError(f"ticket {external_id!r} is already recorded in {self.location.display}") from None
        self._catch_up()
        return ticket.id

    def _retrying(self, external_id: str, command: Callable[[Ticket], None]) -> int:
        """Run a command on a fresh copy of the ticket, retrying on a concurrent write.

        A failed save empties the aggregate's pending events, so every attempt
        reloads the ticket and runs the command again.
        """
        retry = Retry(self.retry_budget)
        with self._guard():
            while True:
                ticket = self._get(external_id)
                command(ticket)
                try:
                    self.save(ticket)
                except RecordConflictError:
                    if retry.wait():
                        continue
                    raise ConcurrencyConflictError(
                        f"store {self.location.display}: ticket {external_id!r} kept changing under this write "
                        f"({retry.attempts + 1} attempts in {retry.elapsed:.1f} s, the retry budget is "
                        f"{self.retry_budget:g} s): other writers are recording on it. Nothing was written. "
                        "Run the same command again."
                    ) from None
                break
        self._catch_up()
        return int(ticket.version)

    def record_activity(
        self,
        external_id: str,
        activity: str,
        occurred_at: datetime,
        *,
        actor: str | None = None,
        team: str | None = None,
        started_at: datetime | None = None,
        source_ref: str | None = None,
        attrs: dict[str, Any] | None = None,
    ) -> int:
        """Record one lifecycle step; returns the new event's version."""
        check_aware(occurred_at, "occurred_at")
        check_aware(started_at, "started_at")
        if not activity.strip():
            raise InvalidEventError("activity name is empty")
        check_event(f"ticket {external_id[:40]!r}", self.limits, command="record", ticket=external_id,
                    activity=activity, actor=actor, team=team, attrs=attrs)
        return self._retrying(
            external_id,
            lambda t: t.record_activity(activity, occurred_at, actor=actor, team=team,
                                        started_at=started_at, source_ref=source_ref, attrs=attrs or {}),
        )

    def correct(self, external_id: str, target_version: int, changes: dict[str, Any], reason: str,
                *, actor: str | None = None, occurred_at: datetime | None = None) -> int:
        """Record a correction of one event's fields (version 0: the case attributes)."""
        if not changes:
            raise InvalidEventError("a correction needs at least one field=value change")
        check_event(f"ticket {external_id[:40]!r}", self.limits, command="correct", ticket=external_id,
                    actor=actor, attrs={**changes, "reason": reason})

        def command(t: Ticket) -> None:
            t.check_step(target_version)
            t.correct(target_version, changes, reason, occurred_at or datetime.now(UTC), actor=actor)

        return self._retrying(external_id, command)

    def retract(self, external_id: str, target_version: int, reason: str, *,
                actor: str | None = None, occurred_at: datetime | None = None) -> int:
        """Record that an event was recorded in error (it stays in history)."""
        if target_version == 0:
            raise InvalidEventError("the opening of a ticket cannot be retracted; correct its attributes instead")

        def command(t: Ticket) -> None:
            t.check_step(target_version)
            t.retract(target_version, reason, occurred_at or datetime.now(UTC), actor=actor)

        return self._retrying(external_id, command)

    def get_ticket(self, external_id: str, *, version: int | None = None) -> dict[str, Any]:
        """The ticket's state as plain data (optionally as of a version)."""
        self._get(external_id)
        ticket = self.repository.get(ticket_id(external_id), version=version)
        return {
            "ticket": ticket.external_id,
            "id": str(ticket.id),
            "version": ticket.version,
            "opened_at": ticket.opened_at,
            "case": dict(ticket.case),
            "steps": {v: dict(s) for v, s in ticket.steps.items()},
            "retracted": dict(ticket.retracted),
        }

    def ticket_events(self, external_id: str) -> list[Any]:
        """Every stored event of a ticket, decoded, in version order."""
        self._get(external_id)
        return list(self.events.get(ticket_id(external_id)))

    # -- import -----------------------------------------------------------------------

    def import_histories(
        self,
        histories: Iterable[TicketHistory],
        *,
        batch_size: int = 500,
        progress: Callable[[int, int], None] | None = None,
    ) -> ImportResult:
        """Write whole ticket histories, batch by batch, idempotently.

        Each batch of ``batch_size`` tickets is **one transaction** holding the store's
        write lock (SQLite ``BEGIN IMMEDIATE``; PostgreSQL the library's ``EXCLUSIVE``
        lock on the events table): it checks which tickets exist, appends the new
        events, their hash-chain links and, when the read model is caught up, their
        ``event_log`` rows and the projection position. A batch is all or nothing, so
        an import killed part-way leaves whole tickets, and running it again adds
        exactly what is missing.

        Tickets already in the store are not opened again; a step they already hold
        (same activity, business time and actor, counted with multiplicity) is not
        written again; other steps are appended after the stored ones. Case attributes
        whose value differs from what the source said before (the opening's values,
        updated by earlier ``CaseAttributesChanged`` events; manual corrections do not
        count, so a re-import never undoes them unless the source changes that value)
        are recorded as one ``CaseAttributesChanged`` event before the new steps. An
        attribute the source no longer gives is left as it is.

        The events are built directly (no aggregate replay) and encoded with the
        application's own transcoder, so the stored bytes are exactly those that
        ``Ticket`` would have produced, and ``repository.get`` reads them.

        Args:
            histories: the tickets, e.g. from :func:`event_store.io.importing.read_histories`.
            batch_size: tickets per transaction (100-1000 is a good range).
            progress: called after each committed batch with (tickets, events) in it.

        Returns:
            What was seen and what was added.
        """
        if batch_size < 1:
            raise InvalidEventError(f"batch size must be at least 1, got {batch_size}")
        with pause_gc(), self._bulk_checkpoints():
            return self._import(histories, batch_size, progress)

    @contextmanager
    def _bulk_checkpoints(self) -> Iterator[None]:
        """On SQLite, checkpoint the WAL every 64 MB instead of every 4 MB during an import.

        A checkpoint copies the WAL's pages into the database file and syncs both; with
        the default every batch of an import paid one (about 0.1 s each on BPIC 2013),
        copying the same index pages again and again. Durability is unchanged: every
        batch is still committed to the WAL. The default is restored afterwards and
        the WAL checkpointed once.
        """
        if self.location.kind == "postgres":
            yield
            return
        conn = self.db._connect()
        conn.execute("PRAGMA wal_autocheckpoint = 16384")
        try:
            yield
        finally:
            conn.execute("PRAGMA wal_autocheckpoint = 1000")
            with suppress(sqlite3.OperationalError):  # a reader in the way: the next writer checkpoints
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def _import(self, histories: Iterable[TicketHistory] | Any, batch_size: int,
                progress: Callable[[int, int], None] | None) -> ImportResult:
        """Batches are prepared on a second thread while the previous one is written.

        The preparing thread (reading columns, building the state bytes, hashing the
        chain from the head the batch before it will leave) touches no database; the
        writing thread holds the transaction. SQLite and Arrow release the GIL in
        their C work, so the two overlap on two cores. At most two prepared batches
        wait, so memory stays bounded.
        """
        self._catch_up()
        seen_t = seen_e = added_t = added_e = unchanged = changed = batches = 0

        def committed() -> str:
            if not batches:
                return "Nothing of this import was committed (the store is as it was)."
            return (f"{batches:,} batch{'es' if batches != 1 else ''} had been committed, each whole "
                    f"(the first {seen_t:,} tickets of the source: {added_t:,} new tickets and "
                    f"{added_e:,} new events written); running the same import again adds exactly the rest.")

        with self._guard():
            start = self.db.query("SELECT size, head FROM chain_head WHERE id = 1")
        head = (int(start[0][0]), bytes(start[0][1])) if start else (0, ZERO)
        with storage_errors(self.location.display, committed):
            for work in background(self._prepared(histories, batch_size, head)):
                t, e, u, c = self._write_batch(work)
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
        self._catch_up()
        return ImportResult(seen_t, seen_e, added_t, added_e, unchanged, changed)

    def _prepared(self, histories: Iterable[TicketHistory] | Any, batch_size: int,
                  head: tuple[int, bytes]) -> Iterator[Prepared | list[TicketHistory]]:
        """The import's batches, made ready for :meth:`_write_batch` (runs on the preparing thread)."""
        for work in self._batches(histories, batch_size):
            columns = work
            if not isinstance(work, NewTickets):
                columns = from_histories(work, self.mapper.transcoder.encode, self._attrs_json) \
                    if self._plain_bytes else None
            if columns is None or not self._plain_bytes:
                yield work if isinstance(work, list) else work.histories()
                continue
            prepared = prepare(columns, datetime.now(UTC), head)  # type: ignore[arg-type]
            head = prepared.end
            yield prepared

    def _batches(self, histories: Iterable[TicketHistory] | Any,
                 batch_size: int) -> Iterator[NewTickets | list[TicketHistory]]:
        column_batches = getattr(histories, "column_batches", None)
        if column_batches is not None:  # a columnar source (event_store.io.columnar)
            yield from column_batches(batch_size, self.limits)
            return
        batch: list[TicketHistory] = []
        in_batch: set[str] = set()
        for history in histories:
            if history.ticket in in_batch:  # the same ticket twice: its second part goes in a later batch
                yield batch
                batch, in_batch = [], set()
            check_history(history, self.limits)
            batch.append(history)
            in_batch.add(history.ticket)
            if len(batch) >= batch_size:
                yield batch
                batch, in_batch = [], set()
        if batch:
            yield batch

    def _encode(self, state: dict[str, Any]) -> bytes:
        """Stored bytes of an event state, exactly as the library's mapper makes them."""
        return self._protect(self.mapper.transcoder.encode(state))

    def _attrs_json(self, attrs: dict[str, Any]) -> str:
        """Transcoded JSON text of a step's attributes (memoised: values repeat a lot)."""
        try:
            key = tuple(attrs.items())
            cached = self._attrs_cache.get(key)
        except TypeError:  # unhashable values (lists, dicts)
            return self.mapper.transcoder.encode(attrs).decode()
        if cached is None:
            if len(self._attrs_cache) > 100_000:
                self._attrs_cache.clear()
            cached = self._attrs_cache[key] = self.mapper.transcoder.encode(attrs).decode()
        return cached

    def _protect(self, data: bytes) -> bytes:
        """Compress and encrypt transcoded bytes when the store is configured to."""
        if self.mapper.compressor:
            data = self.mapper.compressor.compress(data)
        if self.mapper.cipher:
            data = self.mapper.cipher.encrypt(data)
        return data

    @property
    def _plain_bytes(self) -> bool:
        """Stored bytes are the transcoder's JSON as is (no compression or cipher)."""
        return not self.mapper.compressor and not self.mapper.cipher

    def _write_batch(self, batch: list[TicketHistory] | Prepared) -> tuple[int, int, int, int]:
        retry = Retry(self.retry_budget)
        while True:
            try:
                with self.db.transaction(write=True) as cur:
                    if cur.postgres:
                        cur.execute(f"LOCK TABLE {self._events_table()} IN EXCLUSIVE MODE")
                        lock_projection(cur)
                    return self._write_batch_in(cur, batch)
            except Exception as exc:
                if not _is_conflict(exc):
                    raise
                if not retry.wait():
                    raise ConcurrencyConflictError(
                        f"store {self.location.display}: other writers kept changing the same tickets during "
                        f"the import ({retry.attempts + 1} attempts in {retry.elapsed:.1f} s, the retry budget "
                        f"is {self.retry_budget:g} s)"
                    ) from exc

    def _write_batch_in(self, cur: Cursor, work: list[TicketHistory] | Prepared) -> tuple[int, int, int, int]:
        """One batch in the caller's locked transaction: the bulk path when every ticket is new.

        A batch holding a ticket the store has already (a re-run, a later export)
        goes through :meth:`_write_batch_locked`, which appends only what is missing.
        """
        if isinstance(work, Prepared):
            if not self._any_stored(cur, work.batch.uuids):
                table = self._events_table()
                before = cur.execute(
                    f"SELECT MAX({'notification_id' if cur.postgres else 'rowid'}) FROM {table}").fetchone()
                last_before = int(before[0]) if before and before[0] is not None else 0
                position = cur.execute("SELECT position FROM projection_state WHERE name = ?",
                                       (PROJECTION,)).fetchone()
                done = write_prepared(cur, table, work, project=(int(position[0]) if position else 0) == last_before,
                                      channel=self._notify_channel())
                return done.tickets, done.events, 0, 0
            return self._write_batch_locked(cur, work.batch.histories())
        return self._write_batch_locked(cur, work)

    def _any_stored(self, cur: Cursor, uuids: list[str]) -> bool:
        """Whether the store holds events of any of these tickets (primary-key lookups)."""
        table = self._events_table()
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

    def _events_table(self) -> str:
        table = str(self.recorder.events_table_name)  # type: ignore[attr-defined]
        if self.location.kind == "postgres":
            schema = self.recorder.datastore.schema  # type: ignore[attr-defined]
            return f'"{schema}"."{table}"'
        return table

    def _stored_state(self, cur: Cursor, ids: list[UUID]) -> dict[UUID, _Stored]:
        """For tickets already stored: last version, the recorded steps' keys (with counts)
        and the case attributes as the source gave them (opening plus source changes)."""
        table = self._events_table()
        postgres = cur.postgres
        found: dict[UUID, _Stored] = {}
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            if postgres:
                rows = cur.execute(
                    f"SELECT originator_id, MAX(originator_version) FROM {table} WHERE originator_id = ANY(?) "
                    "GROUP BY originator_id", (chunk,)).fetchall()
            else:
                marks = ",".join("?" * len(chunk))
                rows = cur.execute(
                    f"SELECT originator_id, MAX(originator_version) FROM {table} WHERE originator_id IN ({marks}) "
                    "GROUP BY originator_id", [u.hex for u in chunk]).fetchall()
            for oid, version in rows:
                found[oid if isinstance(oid, UUID) else UUID(oid)] = _Stored(int(version), {}, {})
        if not found:
            return found
        existing = list(found)
        topics = (TOPIC_ACTIVITY, TOPIC_OPENED, TOPIC_CASE_CHANGED)
        decode = self.mapper.transcoder.decode
        for i in range(0, len(existing), 500):
            chunk = existing[i : i + 500]
            if postgres:
                rows = cur.execute(
                    f"SELECT originator_id, topic, state FROM {table} WHERE originator_id = ANY(?) "
                    "AND topic = ANY(?) ORDER BY originator_id, originator_version",
                    (chunk, list(topics))).fetchall()
            else:
                marks = ",".join("?" * len(chunk))
                rows = cur.execute(
                    f"SELECT originator_id, topic, state FROM {table} WHERE originator_id IN ({marks}) "
                    "AND topic IN (?, ?, ?) ORDER BY originator_id, originator_version",
                    [*(u.hex for u in chunk), *topics]).fetchall()
            for oid, topic, state in rows:
                d = decode(self._decrypt(bytes(state)))
                entry = found[oid if isinstance(oid, UUID) else UUID(oid)]
                if topic == TOPIC_ACTIVITY:
                    key = (d["activity"], d["occurred_at"], d.get("actor"))
                    entry.steps[key] = entry.steps.get(key, 0) + 1
                elif topic == TOPIC_OPENED:
                    entry.case.update(d.get("case") or {})
                else:
                    entry.case.update(d.get("changes") or {})
        return found

    def _decrypt(self, data: bytes) -> bytes:
        if self.mapper.cipher:
            data = self.mapper.cipher.decrypt(data)
        if self.mapper.compressor:
            data = self.mapper.compressor.decompress(data)
        return data

    def _write_batch_locked(self, cur: Cursor, batch: list[TicketHistory]) -> tuple[int, int, int, int]:
        ids = [ticket_id(h.ticket) for h in batch]
        stored_before = self._stored_state(cur, ids)
        now = datetime.now(UTC)
        stamp = {"_type_": "datetime_iso", "_data_": now.isoformat()}
        stamp_json = f'{{"timestamp":{{"_type_":"datetime_iso","_data_":"{now.isoformat()}"}},"activity":'
        recorded_us = to_us(now)
        encode = self._encode
        encode_plain = self._protect
        attrs_text = self._attrs_json
        stored: list[StoredEvent] = []
        # What the read model needs, in the same order as ``stored``.
        plan: list[tuple[str, Any, Any]] = []
        added_t = added_e = unchanged = changed = 0
        for history, tid in zip(batch, ids, strict=True):
            oid = str(tid)
            if tid in stored_before:
                known = stored_before[tid]
                version, have = known.version, known.steps
                steps: list[ActivityRow] = []
                for row in history.steps:
                    key = (row.activity, row.occurred_at, row.actor)
                    if have.get(key):
                        have[key] -= 1
                    else:
                        steps.append(row)
                case_changes = _case_changes(known.case, _clean_case(history.case)) if history.case else {}
                if not steps and not case_changes:
                    unchanged += 1
                    continue
                plan_case: Any = None  # read from the tickets table below
                if case_changes:
                    version += 1
                    changed += 1
                    state = {
                        "timestamp": stamp,
                        "changes": case_changes,
                        "reason": "case attributes changed in the source",
                        "occurred_at": stamp,
                        "actor": None,
                        "source_ref": history.source_ref,
                    }
                    data = encode(state)
                    stored.append(StoredEvent(tid, version, TOPIC_CASE_CHANGED, data))
                    # The read model takes the values as transcoded (typed values wrapped).
                    wrapped = json.loads(self.mapper.transcoder.encode(case_changes))
                    plan.append(("case", None, (oid, wrapped)))
            else:
                check_aware(history.opened_at, f"ticket {history.ticket}: opened_at")
                case = _clean_case(history.case)
                state = {
                    "timestamp": stamp,
                    "originator_topic": Ticket.TOPIC,
                    "external_id": history.ticket,
                    "occurred_at": _iso(history.opened_at),
                    "case": case,
                    "actor": None,
                    "source_ref": history.source_ref,
                }
                stored.append(StoredEvent(tid, 0, TOPIC_OPENED, encode(state)))
                extra = {k: v for k, v in case.items() if k not in CASE_FIELDS}
                plan_case = case_tuple(history.ticket, to_us(history.opened_at), case)
                extra_json = self.mapper.transcoder.encode(extra).decode() if extra else None
                plan.append(("ticket", plan_case, (oid, extra_json, history.source_ref)))
                version = 0
                added_t += 1
                steps = list(history.steps)
            plain = self._plain_bytes
            for row in steps:
                occurred = row.occurred_at
                if occurred.tzinfo is None or occurred.utcoffset() is None:
                    raise InvalidEventError(f"ticket {history.ticket}: step {row.activity!r} time {occurred} has no time zone")
                if not row.activity:
                    raise InvalidEventError(f"ticket {history.ticket}: a step has an empty activity name ({row.source_ref})")
                version += 1
                attrs = row.attrs
                attrs_json = attrs_text(attrs) if attrs else "null"
                data = _activity_json(stamp_json, row, attrs_json)
                if data is None:  # a value the shortcut does not cover: the generic path
                    started = row.started_at
                    data = self.mapper.transcoder.encode({
                        "timestamp": stamp, "activity": row.activity, "occurred_at": _iso(occurred),
                        "actor": row.actor, "team": row.team,
                        "started_at": None if started is None else _iso(started),
                        "source_ref": row.source_ref, "attrs": attrs or None,
                    })
                stored.append(StoredEvent(tid, version, TOPIC_ACTIVITY, data if plain else encode_plain(data)))
                plan.append(("step", plan_case, (oid, version, row, None if attrs_json == "null" else attrs_json)))
                added_e += 1
        if not stored:
            return 0, 0, unchanged, 0
        table = self._events_table()
        before = cur.execute(
            f"SELECT MAX({'notification_id' if cur.postgres else 'rowid'}) FROM {table}").fetchone()
        last_before = int(before[0]) if before and before[0] is not None else 0
        nids = insert_stored_events(cur, table, stored, channel=self._notify_channel())
        write_chain(cur, stored, nids)
        position = cur.execute("SELECT position FROM projection_state WHERE name = ?", (PROJECTION,)).fetchone()
        if (int(position[0]) if position else 0) == last_before:
            self._project(cur, plan, nids, recorded_us, position is None)
        return added_t, added_e, unchanged, changed

    def _notify_channel(self) -> str | None:
        if self.location.kind != "postgres":
            return None
        return str(self.recorder.events_table_name).replace(".", "_")  # type: ignore[attr-defined]

    def _project(self, cur: Cursor, plan: list[tuple[str, Any, Any]], nids: list[int], recorded_us: int,
                 insert_position: bool) -> None:
        """Write the batch's read-model rows and position in the batch's own transaction."""
        tickets: list[tuple[Any, ...]] = []
        rows: list[tuple[Any, ...]] = []
        cases: dict[str, tuple[Any, ...]] = {}
        for (kind, case, data), nid in zip(plan, nids, strict=True):
            if kind == "ticket":
                oid, extra_json, source_ref = data
                tickets.append(ticket_row(nid, oid, case, recorded_us, extra_json, None, source_ref))
                continue
            if kind == "case":
                # A ticket of an earlier import: its rows are in the tables already (a
                # batch holds each ticket once), and its new steps follow this event.
                oid, wrapped = data
                self.projection.apply_case_changes(cur, oid, wrapped, corrected=False, where=nid)
                cases.pop(oid, None)
                continue
            oid, version, row, attrs_json = data
            if case is None:
                case = cases.get(oid)
                if case is None:
                    case = self.projection.case_row(cur, oid)
                    if case is None:
                        raise RuntimeError(f"read model has no ticket {oid}: run `csmine` with a rebuild")
                    cases[oid] = case
            started = row.started_at
            rows.append(activity_row(nid, case, version, row.activity, to_us(row.occurred_at),
                                     None if started is None else to_us(started), recorded_us, row.actor,
                                     row.team, row.source_ref, attrs_json))
        cur.insert_many(INSERT_TICKETS, tickets)
        cur.insert_many(INSERT_EVENT_LOG, rows)
        if insert_position:
            cur.execute("INSERT INTO projection_state (name, position) VALUES (?, ?)", (PROJECTION, nids[-1]))
        else:
            cur.execute("UPDATE projection_state SET position = ? WHERE name = ?", (nids[-1], PROJECTION))

    # -- phases -----------------------------------------------------------------------

    def _plan(self) -> PhasePlan:
        try:
            plan = self.repository.get(PHASE_PLAN_ID)
        except AggregateNotFoundError:
            plan = PhasePlan()
        assert isinstance(plan, PhasePlan)
        return plan

    def define_phase(self, name: str, start: datetime, end: datetime | None,
                     cohort: dict[str, list[str]] | None = None, *, note: str = "",
                     actor: str | None = None) -> None:
        """Record a phase (a window of opening times plus an optional cohort)."""
        check_aware(start, "phase start")
        check_aware(end, "phase end")
        if end is not None and end <= start:
            raise InvalidEventError(f"phase {name!r}: end {end.isoformat()} is not after start {start.isoformat()}")
        retry = Retry(self.retry_budget)
        with self._guard():
            while True:
                plan = self._plan()
                plan.define_phase(name, start, end, {k: list(v) for k, v in (cohort or {}).items()}, note, actor)
                try:
                    self.save(plan)
                except RecordConflictError:
                    if retry.wait():
                        continue
                    raise ConcurrencyConflictError(
                        f"store {self.location.display}: the phase plan kept changing under this write "
                        f"({retry.attempts + 1} attempts in {retry.elapsed:.1f} s). Nothing was written. "
                        "Run the same command again.") from None
                break
        self._catch_up()

    def remove_phase(self, name: str, *, note: str = "", actor: str | None = None) -> None:
        plan = self._plan()
        if name not in plan.phases:
            raise TicketNotFoundError(f"no phase {name!r} (see `csmine phase list`)")
        plan.remove_phase(name, note, actor)
        try:
            with self._guard():
                self.save(plan)
        except RecordConflictError:
            raise ConcurrencyConflictError(
                f"store {self.location.display}: the phase plan changed under this write. Nothing was written. "
                "Run the same command again.") from None
        self._catch_up()

    def phase_history(self) -> list[dict[str, Any]]:
        """Every change of the phase plan, oldest first (plain data)."""
        out = []
        for e in self.events.get(PHASE_PLAN_ID):
            name = type(e).__name__
            if name == "Created":
                continue
            out.append({"change": name, "recorded_at": e.timestamp, "version": e.originator_version,
                        **{k: getattr(e, k) for k in ("name", "start", "end", "cohort", "note", "actor") if hasattr(e, k)}})
        return out

    # -- notifications ------------------------------------------------------------------

    def iter_notifications(self, start: int = 0, stop: int | None = None, page: int = 5000) -> Iterator[Any]:
        """Stored events in log order, page by page (never all in memory)."""
        position = start
        while True:
            items = self.recorder.select_notifications(position, page, stop=stop, inclusive_of_start=False)
            if not items:
                return
            yield from items
            position = items[-1].id


_STR = json.encoder.encode_basestring  # the function the library's encoder uses (ensure_ascii=False)
_TYPES_OK = (str, type(None))


def _activity_json(head: str, row: ActivityRow, attrs_json: str) -> bytes | None:
    """The transcoder's bytes for an ActivityRecorded state, built as text.

    Equal byte for byte to ``JSONTranscoder.encode`` of the event's ``__dict__``
    (same key order, compact separators, non-ASCII kept, datetimes as
    ``{"_type_":"datetime_iso","_data_":isoformat}``), which the tests check;
    ``None`` when a value is not a plain string/None and the generic path must run.
    """
    activity, actor, team, ref, started = row.activity, row.actor, row.team, row.source_ref, row.started_at
    if (type(activity) is not str or type(actor) not in _TYPES_OK or type(team) not in _TYPES_OK
            or type(ref) not in _TYPES_OK):
        return None
    return "".join((
        head, _STR(activity),
        ',"occurred_at":{"_type_":"datetime_iso","_data_":"', row.occurred_at.isoformat(),
        '"},"actor":', "null" if actor is None else _STR(actor),
        ',"team":', "null" if team is None else _STR(team),
        ',"started_at":', "null" if started is None else
        '{"_type_":"datetime_iso","_data_":"' + started.isoformat() + '"}',
        ',"source_ref":', "null" if ref is None else _STR(ref),
        ',"attrs":', attrs_json, "}",
    )).encode()


def _sizes(work: list[TicketHistory] | Prepared) -> tuple[int, int]:
    if isinstance(work, Prepared):
        return len(work.batch.tickets), work.batch.n_events
    return len(work), sum(len(h.steps) for h in work)


def _iso(value: datetime) -> dict[str, str]:
    """A datetime as the library's JSON transcoder writes it."""
    return {"_type_": "datetime_iso", "_data_": value.isoformat()}


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


@dataclass(slots=True)
class _Stored:
    """What the store holds of a ticket an import meets again."""

    version: int
    steps: dict[tuple[Any, ...], int]
    case: dict[str, Any]


_ABSENT = object()


def _case_changes(known: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The attributes of ``new`` whose value (or type: 1 is not "1") differs from ``known``."""
    out = {}
    for key, value in new.items():
        old = known.get(key, _ABSENT)
        if old is _ABSENT or type(old) is not type(value) or old != value:
            out[key] = value
    return out


def _clean_case(case: dict[str, Any]) -> dict[str, Any]:
    return {k: (str(v) if k in CASE_FIELDS and v is not None else v) for k, v in case.items() if v is not None}


def ensure_schema(store: TicketStore) -> None:
    """Bring csmine's own tables and indexes of an existing store up to this version.

    The statements are idempotent (``IF NOT EXISTS``); they run only when the
    store's ``schema_rev`` differs from this code's, in one write transaction.
    A store opened read-only is left as it is.
    """
    rev = schema_revision(store.location.kind == "postgres", store.recorder.events_table_name)  # type: ignore[attr-defined]
    rows = store.db.query("SELECT value FROM csmine_meta WHERE key = ?", ("schema_rev",))
    if rows and rows[0][0] == rev:
        return
    postgres = store.location.kind == "postgres"
    if store.location.read_only:
        return
    try:
        with store.db.transaction(write=True) as cur:
            for statement in schema_statements(postgres, store.recorder.events_table_name):  # type: ignore[attr-defined]
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


_OPENING = "Nothing was written."


def open_store(location: str, *, create: bool = False, catch_up: bool = True,
               retry_budget: float = RETRY_BUDGET) -> TicketStore:
    """Open (or, with ``create``, make) the csmine store at ``location``.

    A SQLite store that cannot be written (read-only file, folder or mount, an
    immutable file) is opened read-only: reading commands work, and the first write
    fails with :class:`~event_store.errors.StorageError`.

    Raises:
        StoreConfigError: not a csmine store, missing, or unreachable.
        StorageError: the store cannot be read (permissions, damaged file), or a
            store being created cannot be written.
    """
    loc = parse_location(location)
    with storage_errors(loc.display, _OPENING):
        return _open_store(loc, create, catch_up, retry_budget)


def _open_store(loc: StoreLocation, create: bool, catch_up: bool, retry_budget: float) -> TicketStore:
    if loc.kind == "sqlite":
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
            db.close()
            raise
        except Exception as exc:  # sqlite3.DatabaseError: file is not a database
            db.close()
            if classify(exc) in ("readonly", "cantopen", "permission", "io", "locked", "full"):
                raise  # a storage failure, worded by open_store
            raise StoreConfigError(f"{loc.display!r} is not a csmine store ({exc}): choose another --store path") from exc
        db.close()
        if fresh and loc.read_only:
            raise StorageError(
                f"store {loc.display}: the file is read-only, so csmine cannot create its tables there. "
                "Nothing was written. To go on: choose a writable --store path.")
    else:
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
            raise StoreConfigError(
                f"no csmine store in {loc.display}: run `csmine init --store URL` first"
            )
    try:
        if loc.kind == "postgres" and not fresh:
            # An existing store is opened without DDL: an application role that may
            # only read and append (docs/event-store.md) has no CREATE privilege.
            store = TicketStore(loc, {**loc.library_env(), "CREATE_TABLE": "false"}, retry_budget=retry_budget)
        elif loc.kind == "postgres":
            # Creating tables and functions at the same moment from two processes
            # fails in PostgreSQL ("tuple concurrently updated"): one at a time.
            guard = loc.database()
            try:
                guard.query("SELECT pg_advisory_lock(?)", (SCHEMA_LOCK,))
                store = TicketStore(loc, loc.library_env(), retry_budget=retry_budget)
            finally:
                guard.close()  # ends the session, which releases the lock
        elif not fresh:
            # An existing SQLite store is opened without the library's DDL, which
            # would wait for the write lock behind a running import; csmine's own
            # schema changes are applied once, by revision (see ensure_schema).
            store = TicketStore(loc, {**loc.library_env(), "CREATE_TABLE": "false"}, retry_budget=retry_budget)
        else:
            store = TicketStore(loc, loc.library_env(), retry_budget=retry_budget)
    except Exception as exc:
        if classify(exc) is not None:
            raise
        raise StoreConfigError(f"cannot open store {loc.display}: {exc}") from exc
    try:
        ensure_schema(store)
        if fresh:
            with store.db.transaction(write=True) as cur:
                if loc.kind == "postgres":
                    cur.execute("INSERT INTO csmine_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
                                ("schema_version", SCHEMA_VERSION))
                    cur.execute("INSERT INTO csmine_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
                                ("created_at", datetime.now(UTC).isoformat()))
                else:
                    cur.execute("INSERT OR IGNORE INTO csmine_meta (key, value) VALUES (?, ?)",
                                ("schema_version", SCHEMA_VERSION))
                    cur.execute("INSERT OR IGNORE INTO csmine_meta (key, value) VALUES (?, ?)",
                                ("created_at", datetime.now(UTC).isoformat()))
        if catch_up and not loc.read_only:
            with storage_errors(loc.display, "Nothing was written: the read model lags behind the events and "
                                             "catches up when the store can be written."):
                store.projection.catch_up()
    except BaseException:
        store.close()
        raise
    return store
