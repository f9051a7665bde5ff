"""Use cases of the write side: open, record, correct, retract, import, phases.

:func:`open_store` is the one way in: it parses the location, refuses anything
that is not a csmine store, never falls back to an in-memory store, and catches
the read model up.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError as LibraryIntegrityError
from eventsourcing.persistence import RecordConflictError

from event_store.db import Database
from event_store.domain import PHASE_PLAN_ID, PhasePlan, Ticket, check_aware, ticket_id
from event_store.errors import (
    ConcurrencyConflictError,
    StoreConfigError,
    TicketExistsError,
    TicketNotFoundError,
)
from event_store.persistence import SCHEMA_VERSION, StoreLocation, check_sqlite_file, parse_location
from event_store.projection import EventLogProjection
from event_store.records import CASE_FIELDS, TicketHistory

RETRIES = 5


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What an import changed.

    Attributes:
        tickets_seen: tickets in the source.
        events_seen: lifecycle events in the source.
        tickets_added: tickets new to the store.
        events_added: lifecycle events written (new tickets' steps plus steps
            appended to tickets already in the store).
        tickets_unchanged: tickets already stored with every step of the source.
    """

    tickets_seen: int
    events_seen: int
    tickets_added: int
    events_added: int
    tickets_unchanged: int


class TicketStore(Application):
    """The event-sourced ticket store (one database: events, chain, read model)."""

    name = "TicketStore"
    is_snapshotting_enabled = False

    def __init__(self, location: StoreLocation, env: dict[str, str]) -> None:
        super().__init__(env=env)
        self.location = location
        self.db: Database = location.database()
        self.projection = EventLogProjection(self.db, self.recorder)

    # -- life cycle -------------------------------------------------------------------

    def close(self) -> None:
        self.db.close()
        super().close()

    def __enter__(self) -> TicketStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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
        ticket = Ticket(external_id=external_id, occurred_at=occurred_at, case=case,
                        actor=actor, source_ref=source_ref)
        try:
            self.save(ticket)
        except RecordConflictError:
            raise TicketExistsError(f"ticket {external_id!r} is already recorded in {self.location.display}") from None
        self.projection.catch_up()
        return ticket.id

    def _retrying(self, external_id: str, command: Callable[[Ticket], None]) -> int:
        """Run a command on a fresh copy of the ticket, retrying on a concurrent write.

        A failed save empties the aggregate's pending events, so every attempt
        reloads the ticket and runs the command again.
        """
        for attempt in range(RETRIES):
            ticket = self._get(external_id)
            command(ticket)
            try:
                self.save(ticket)
            except RecordConflictError:
                time.sleep(0.01 * (attempt + 1))
                continue
            self.projection.catch_up()
            return int(ticket.version)
        raise ConcurrencyConflictError(
            f"ticket {external_id!r} kept changing under this write ({RETRIES} attempts): "
            "another writer is recording on it; run the command again"
        )

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
            raise ValueError("activity name is empty")
        return self._retrying(
            external_id,
            lambda t: t.record_activity(activity, occurred_at, actor=actor, team=team,
                                        started_at=started_at, source_ref=source_ref, attrs=attrs or {}),
        )

    def correct(self, external_id: str, target_version: int, changes: dict[str, Any], reason: str,
                *, actor: str | None = None, occurred_at: datetime | None = None) -> int:
        """Record a correction of one event's fields (version 0: the case attributes)."""
        if not changes:
            raise ValueError("a correction needs at least one field=value change")

        def command(t: Ticket) -> None:
            t.check_step(target_version)
            t.correct(target_version, changes, reason, occurred_at or datetime.now(UTC), actor=actor)

        return self._retrying(external_id, command)

    def retract(self, external_id: str, target_version: int, reason: str, *,
                actor: str | None = None, occurred_at: datetime | None = None) -> int:
        """Record that an event was recorded in error (it stays in history)."""
        if target_version == 0:
            raise ValueError("the opening of a ticket cannot be retracted; correct its attributes instead")

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

        Each batch is one transaction. Tickets already in the store are not opened
        again; steps they already hold (same activity, time and source reference)
        are not written again, others are appended. Running the same import twice,
        or again after it was killed part-way, ends with exactly the source's events.
        """
        seen_t = seen_e = added_t = added_e = unchanged = 0
        batch: list[TicketHistory] = []

        def flush() -> None:
            nonlocal added_t, added_e, unchanged
            t, e, u = self._write_batch(batch)
            added_t += t
            added_e += e
            unchanged += u
            if progress is not None:
                progress(len(batch), sum(len(h.steps) for h in batch))
            batch.clear()

        for history in histories:
            seen_t += 1
            seen_e += len(history.steps)
            batch.append(history)
            if len(batch) >= batch_size:
                flush()
        if batch:
            flush()
        self.projection.catch_up()
        return ImportResult(seen_t, seen_e, added_t, added_e, unchanged)

    def _existing(self, ids: list[UUID]) -> set[UUID]:
        table = self.recorder.events_table_name  # type: ignore[attr-defined]
        out: set[UUID] = set()
        postgres = self.location.kind == "postgres"
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            marks = ",".join("?" * len(chunk))
            params = [u if postgres else u.hex for u in chunk]
            rows = self.db.query(
                f"SELECT DISTINCT originator_id FROM {table} WHERE originator_id IN ({marks})", params
            )
            out.update(r[0] if isinstance(r[0], UUID) else UUID(r[0]) for r in rows)
        return out

    def _write_batch(self, batch: list[TicketHistory]) -> tuple[int, int, int]:
        for attempt in range(RETRIES):
            ids = [ticket_id(h.ticket) for h in batch]
            existing = self._existing(ids)
            aggregates: list[Ticket] = []
            added_t = added_e = unchanged = 0
            for history, tid in zip(batch, ids, strict=True):
                if tid in existing:
                    ticket = self.repository.get(tid)
                    have: dict[tuple[Any, ...], int] = {}
                    for step in ticket.steps.values():
                        key = (step["activity"], step["occurred_at"], step["source_ref"])
                        have[key] = have.get(key, 0) + 1
                    fresh = []
                    for row in history.steps:
                        key = (row.activity, row.occurred_at, row.source_ref)
                        if have.get(key):
                            have[key] -= 1
                        else:
                            fresh.append(row)
                    if not fresh:
                        unchanged += 1
                        continue
                    steps: Iterable[Any] = fresh
                else:
                    check_aware(history.opened_at, f"ticket {history.ticket}: opened_at")
                    ticket = Ticket(external_id=history.ticket, occurred_at=history.opened_at,
                                    case=_clean_case(history.case), source_ref=history.source_ref)
                    added_t += 1
                    steps = history.steps
                for row in steps:
                    ticket.record_activity(row.activity, row.occurred_at, actor=row.actor, team=row.team,
                                           started_at=row.started_at, source_ref=row.source_ref,
                                           attrs=row.attrs or None)
                    added_e += 1
                aggregates.append(ticket)
            if not aggregates:
                return 0, 0, unchanged
            try:
                self.save(*aggregates)
            except (RecordConflictError, LibraryIntegrityError):
                # Another writer got there first; pending events are gone, so rebuild.
                time.sleep(0.05 * (attempt + 1))
                continue
            return added_t, added_e, unchanged
        raise ConcurrencyConflictError(
            "another writer kept changing the same tickets during the import; run it again"
        )

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
            raise ValueError(f"phase {name!r}: end {end.isoformat()} is not after start {start.isoformat()}")
        for _ in range(RETRIES):
            plan = self._plan()
            plan.define_phase(name, start, end, {k: list(v) for k, v in (cohort or {}).items()}, note, actor)
            try:
                self.save(plan)
            except RecordConflictError:
                continue
            self.projection.catch_up()
            return
        raise ConcurrencyConflictError("the phase plan kept changing; run the command again")

    def remove_phase(self, name: str, *, note: str = "", actor: str | None = None) -> None:
        plan = self._plan()
        if name not in plan.phases:
            raise TicketNotFoundError(f"no phase {name!r} (see `csmine phase list`)")
        plan.remove_phase(name, note, actor)
        self.save(plan)
        self.projection.catch_up()

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


def _clean_case(case: dict[str, Any]) -> dict[str, Any]:
    return {k: (str(v) if k in CASE_FIELDS and v is not None else v) for k, v in case.items() if v is not None}


def open_store(location: str, *, create: bool = False, catch_up: bool = True) -> TicketStore:
    """Open (or, with ``create``, make) the csmine store at ``location``.

    Raises:
        StoreConfigError: not a csmine store, missing, or unreachable.
    """
    loc = parse_location(location)
    if loc.kind == "sqlite":
        assert loc.sqlite_path is not None
        check_sqlite_file(loc.sqlite_path, create=create)
        db = loc.database()
        try:
            fresh = not db.table_exists("csmine_meta")
            if fresh and (db.table_exists("stored_events") or not create):
                raise StoreConfigError(
                    f"{loc.display!r} is an SQLite database but not a csmine store: "
                    "choose another --store path"
                )
        except StoreConfigError:
            db.close()
            raise
        except Exception as exc:  # sqlite3.DatabaseError: file is not a database
            db.close()
            raise StoreConfigError(f"{loc.display!r} is not a csmine store ({exc}): choose another --store path") from exc
        db.close()
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
        store = TicketStore(loc, loc.library_env())
    except Exception as exc:
        raise StoreConfigError(f"cannot open store {loc.display}: {exc}") from exc
    if fresh:
        with store.db.transaction(write=True) as cur:
            if loc.kind == "postgres":
                cur.execute("INSERT INTO csmine_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
                            ("schema_version", SCHEMA_VERSION))
                cur.execute("INSERT INTO csmine_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
                            ("created_at", datetime.now(UTC).isoformat()))
            else:
                cur.execute("INSERT OR IGNORE INTO csmine_meta (key, value) VALUES (?, ?)", ("schema_version", SCHEMA_VERSION))
                cur.execute("INSERT OR IGNORE INTO csmine_meta (key, value) VALUES (?, ?)", ("created_at", datetime.now(UTC).isoformat()))
    if catch_up:
        store.projection.catch_up()
    return store
