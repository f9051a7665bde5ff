"""Use cases of the write side: open, record, correct, retract, import, phases.

:func:`open_store` is the one way in: it parses the location, refuses anything
that is not a csmine store, never falls back to an in-memory store, and catches
the read model up.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import RecordConflictError

from event_store.domain import PHASE_PLAN_ID, PhasePlan, Ticket, check_aware, ticket_id
from event_store.errors import (
    ConcurrencyConflictError,
    InvalidEventError,
    StoreConfigError,
    TicketExistsError,
    TicketNotFoundError,
)
from event_store.limits import InputLimits, check_event, current_limits
from event_store.persistence.bulk import pause_gc
from event_store.persistence.db import Database
from event_store.persistence.failures import RETRY_BUDGET, Retry, classify, storage_errors
from event_store.persistence.import_run import bulk_checkpoints, run_import
from event_store.persistence.opening import check_postgres_store, check_sqlite_store, ensure_schema, mark_new_store
from event_store.persistence.recorders import StoreLocation, parse_location
from event_store.readmodel.projection import EventLogProjection
from event_store.records import TicketHistory

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
        refuse_misread: bool = False,
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
            refuse_misread: refuse a batch where stored tickets get none of their stored
                steps but the same steps shifted by one offset or with other actors (a file
                read otherwise than at its first import: ``csmine import`` asks for this;
                a followed or posted stream may repeat steps and does not).

        Returns:
            What was seen and what was added.
        """
        if batch_size < 1:
            raise InvalidEventError(f"batch size must be at least 1, got {batch_size}")
        with pause_gc(), bulk_checkpoints(self):
            return ImportResult(*run_import(self, histories, batch_size, progress, refuse_misread=refuse_misread))

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

    def _events_table(self) -> str:
        table = str(self.recorder.events_table_name)  # type: ignore[attr-defined]
        if self.location.kind == "postgres":
            schema = self.recorder.datastore.schema  # type: ignore[attr-defined]
            return f'"{schema}"."{table}"'
        return table

    def _decrypt(self, data: bytes) -> bytes:
        if self.mapper.cipher:
            data = self.mapper.cipher.decrypt(data)
        if self.mapper.compressor:
            data = self.mapper.compressor.decompress(data)
        return data

    def _notify_channel(self) -> str | None:
        if self.location.kind != "postgres":
            return None
        return str(self.recorder.events_table_name).replace(".", "_")  # type: ignore[attr-defined]

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
        loc, fresh = check_sqlite_store(loc, create)
    else:
        fresh = check_postgres_store(loc, create)
    store = _make_store(loc, fresh, retry_budget)
    try:
        ensure_schema(store.db, store.recorder.events_table_name, loc.read_only)  # type: ignore[attr-defined]
        if fresh:
            mark_new_store(store.db)
        if catch_up and not loc.read_only:
            with storage_errors(loc.display, "Nothing was written: the read model lags behind the events and "
                                             "catches up when the store can be written."):
                store.projection.catch_up()
    except BaseException:
        store.close()
        raise
    return store


def _make_store(loc: StoreLocation, fresh: bool, retry_budget: float) -> TicketStore:
    try:
        if loc.kind == "postgres" and fresh:
            # Creating tables and functions at the same moment from two processes
            # fails in PostgreSQL ("tuple concurrently updated"): one at a time.
            guard = loc.database()
            try:
                guard.query("SELECT pg_advisory_lock(?)", (SCHEMA_LOCK,))
                guard.create_schema()
                return TicketStore(loc, loc.library_env(), retry_budget=retry_budget)
            finally:
                guard.close()  # ends the session, which releases the lock
        if not fresh:
            # An existing store is opened without the library's DDL: on PostgreSQL an
            # application role that may only read and append (docs/event-store.md) has no
            # CREATE privilege; on SQLite the DDL would wait for the write lock behind a
            # running import. csmine's own schema changes are applied once, by revision
            # (see ensure_schema).
            return TicketStore(loc, {**loc.library_env(), "CREATE_TABLE": "false"}, retry_budget=retry_budget)
        return TicketStore(loc, loc.library_env(), retry_budget=retry_budget)
    except Exception as exc:
        if classify(exc) is not None:
            raise
        raise StoreConfigError(f"cannot open store {loc.display}: {exc}") from exc
