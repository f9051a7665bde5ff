"""Idempotent appends of single events from many senders, many requests per transaction.

A live feed (``csmine serve``'s ``POST /api/events``, a file follower) sends events
one by one or in small groups and retries what it is not sure was recorded. An
:class:`Ingestor` turns a **window** of such requests into **one transaction**
(group commit, :func:`event_store.live_write.append_window`: the events, their
hash-chain links and the read model's rows and position together, all or nothing)
and makes retries harmless:

* an event with an ``event_id`` is recorded once per id (the id is kept as the
  step's ``source_ref``, ``event:<id>``);
* an event without one is recorded once per ``(ticket, activity, time, actor)``.

The keys of what the store holds are read once when the ingestor is made and kept
in memory (a set per kind of key, and each ticket's case attributes as the sources
gave them), then updated after each commit; the ingestor is meant to be the store's
one live writer. Another writer that appends to a ticket of the window meanwhile
makes the window's transaction fail on the store's unique key (nothing written);
the window is then written through
:meth:`event_store.application.TicketStore.import_histories`, which matches what
the store holds: it skips a step whose ``(activity, time, actor)`` a ticket already
holds, counted with multiplicity, so the ingestor puts as many copies of that key in
front of the new step as the ticket already holds (two *different* ``event_id``
values with the same key are distinct events).

:func:`event_store.live_write.append_window` is the lean path of a live window: the
import's per-call set-up (a preparing thread, checkpoint settings, catch-ups before and after) is
for imports of many batches; a window writes its new tickets with the import's
columnar writer (:mod:`event_store.persistence.bulk_write`) and the steps of
tickets the store holds with the store's own encoder, in the same transaction.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from event_store.domain import TOPIC_ACTIVITY, TOPIC_CASE_CHANGED, TOPIC_OPENED
from event_store.domain import ticket_id as _ticket_id
from event_store.records import ActivityRow, TicketHistory

if TYPE_CHECKING:
    from event_store.application import TicketStore

#: The aggregate id of a source ticket id (a uuid5: memoised, a live window asks for each several times).
ticket_id = lru_cache(maxsize=65_536)(_ticket_id)

#: ``source_ref`` prefix of a step that came with an event id.
EVENT_REF = "event:"


@dataclass(frozen=True, slots=True)
class IngestEvent:
    """One event as a live sender gives it.

    Attributes:
        ticket: source ticket id.
        activity: the step's name.
        occurred_at: business time (tz-aware).
        actor: who did it, if known.
        team: the team that did it, if known.
        case: case attributes the sender gives with it (channel, priority, ...).
        attrs: further attributes of the step.
        event_id: the sender's id of the event, if it has one.
    """

    ticket: str
    activity: str
    occurred_at: datetime
    actor: str | None = None
    team: str | None = None
    case: dict[str, Any] = field(default_factory=dict)
    attrs: dict[str, Any] = field(default_factory=dict)
    event_id: str | None = None


def _key(tid: UUID, activity: str, occurred_at: datetime, actor: str | None) -> tuple[Any, ...]:
    return (tid, activity, occurred_at.astimezone(UTC), actor)


class Ingestor:
    """Group commits of live events into one store, idempotent by event id or by key.

    Args:
        store: an open store (written through :meth:`append`).
    """

    def __init__(self, store: TicketStore) -> None:
        self.store = store
        self._ids: set[str] = set()
        self._counts: Counter[tuple[Any, ...]] = Counter()
        self.known_tickets: set[UUID] = set()
        #: Case attributes of each stored ticket as its sources gave them (opening plus
        #: source changes; manual corrections do not count), for the change events.
        self._case: dict[UUID, dict[str, Any]] = {}
        self._load()
        self._events = sum(self._counts.values())
        from event_store.live_write import warm_up

        warm_up(store)  # the first window's one-time costs here, not in its acknowledgements

    @property
    def events(self) -> int:
        """Steps the store holds (as the ingestor counts them; safe to read from any thread)."""
        return self._events

    def _load(self) -> None:
        decode = self.store.mapper.transcoder.decode
        decrypt = self.store._decrypt
        for n in self.store.iter_notifications():
            if n.topic == TOPIC_ACTIVITY:
                d = decode(decrypt(bytes(n.state)))
                self._counts[_key(n.originator_id, d["activity"], d["occurred_at"], d.get("actor"))] += 1
                ref = d.get("source_ref")
                if ref and ref.startswith(EVENT_REF):
                    self._ids.add(ref[len(EVENT_REF):])
            elif n.topic == TOPIC_OPENED:
                self.known_tickets.add(n.originator_id)
                case = decode(decrypt(bytes(n.state))).get("case")
                if case:
                    self._case[n.originator_id] = dict(case)
            elif n.topic == TOPIC_CASE_CHANGED:
                changes = decode(decrypt(bytes(n.state))).get("changes")
                if changes:
                    self._case.setdefault(n.originator_id, {}).update(changes)

    def append(self, requests: Sequence[Sequence[IngestEvent]]) -> list[int]:
        """Record the new events of several requests in one transaction.

        Returns:
            For each request, how many of its events were new (the others were
            recorded before, or earlier in the same window).

        Raises:
            EventStoreError: the transaction failed; nothing of the window was written.
        """
        ids: set[str] = set()
        counts: Counter[tuple[Any, ...]] = Counter()
        per_ticket: dict[str, list[IngestEvent]] = {}
        recorded: list[int] = []
        for request in requests:
            new = 0
            for ev in request:
                tid = ticket_id(ev.ticket)
                key = _key(tid, ev.activity, ev.occurred_at, ev.actor)
                if ev.event_id is not None:
                    if ev.event_id in self._ids or ev.event_id in ids:
                        continue
                    ids.add(ev.event_id)
                elif self._counts[key] or counts[key]:
                    continue
                counts[key] += 1
                per_ticket.setdefault(ev.ticket, []).append(ev)
                new += 1
            recorded.append(new)
        if per_ticket:
            self._write(per_ticket)
            self._ids |= ids
            self._counts.update(counts)
            self._events += sum(counts.values())
            self.known_tickets.update(ticket_id(t) for t in per_ticket)
        return recorded

    def _write(self, per_ticket: dict[str, list[IngestEvent]]) -> None:
        """One transaction (:func:`event_store.live_write.append_window`); the import path if another writer got in."""
        from event_store.live_write import _is_conflict, append_window

        try:
            append_window(self.store, per_ticket, self._case)
        except Exception as exc:
            if not _is_conflict(exc):
                raise
            # Another writer appended to one of these tickets meanwhile: the import path
            # matches what the store holds and appends only the rest.
            histories = [self._history(ticket, events) for ticket, events in per_ticket.items()]
            self.store.import_histories(histories, batch_size=len(histories))

    def _history(self, ticket: str, events: list[IngestEvent]) -> TicketHistory:
        tid = ticket_id(ticket)
        case: dict[str, Any] = {}
        steps: list[ActivityRow] = []
        padded: set[tuple[Any, ...]] = set()
        for ev in events:
            case.update(ev.case)
            key = _key(tid, ev.activity, ev.occurred_at, ev.actor)
            held = self._counts[key]
            if held and key not in padded:  # copies the store holds: matched, not written again
                padded.add(key)
                steps.extend([ActivityRow(ev.activity, ev.occurred_at, ev.actor)] * held)
            ref = None if ev.event_id is None else EVENT_REF + ev.event_id
            steps.append(ActivityRow(ev.activity, ev.occurred_at, ev.actor, ev.team, None, ref, dict(ev.attrs)))
        opened = min(ev.occurred_at for ev in events)
        return TicketHistory(ticket, opened, case, tuple(steps), "api")


@dataclass(frozen=True, slots=True)
class Committed:
    """A ticket event as it was committed, for a live follower of the store's log.

    Attributes:
        position: its log position (notification id).
        recorded_at: when its transaction wrote it (every event of one commit shares it).
        kind: ``opened`` or ``activity``.
        ticket: source ticket id.
        occurred_at: business time (the opening time for ``opened``).
        activity: the step (None for ``opened``).
        actor: who did it, if known.
    """

    position: int
    recorded_at: datetime
    kind: str
    ticket: str
    occurred_at: datetime
    activity: str | None = None
    actor: str | None = None


def read_committed(store: TicketStore, start: int, names: dict[UUID, str], page: int = 5000,
                   limit: int | None = None) -> tuple[int, list[Committed]]:
    """The ticket openings and steps after log position ``start``, in log order, and the last position read.

    ``names`` maps ticket aggregate ids to source ids; it is filled from the openings as
    they pass (pass the same dict on each call). Corrections, retractions and the other
    aggregates' events (phase plans, alerts) are skipped. With ``limit``, reading stops
    at the end of the first page that brings the events to at least ``limit`` (call
    again from the position returned for the rest).
    """
    decode = store.mapper.transcoder.decode
    decrypt = store._decrypt
    out: list[Committed] = []
    last = start
    while True:
        items = store.recorder.select_notifications(last, page, inclusive_of_start=False)
        if not items:
            return last, out
        for n in items:
            if n.topic == TOPIC_OPENED:
                d = decode(decrypt(bytes(n.state)))
                names[n.originator_id] = d["external_id"]
                out.append(Committed(n.id, d["timestamp"], "opened", d["external_id"], d["occurred_at"]))
            elif n.topic == TOPIC_ACTIVITY:
                d = decode(decrypt(bytes(n.state)))
                out.append(Committed(n.id, d["timestamp"], "activity", names[n.originator_id], d["occurred_at"],
                                     d["activity"], d.get("actor")))
        last = items[-1].id
        if limit is not None and len(out) >= limit:
            return last, out


__all__ = ["EVENT_REF", "Committed", "IngestEvent", "Ingestor", "read_committed", "ticket_id"]
