"""Idempotent appends of single events from many senders, many requests per transaction.

A live feed (``csmine serve``'s ``POST /api/events``, a file follower) sends events
one by one or in small groups and retries what it is not sure was recorded. An
:class:`Ingestor` turns a **window** of such requests into **one transaction**
(group commit) with :meth:`event_store.application.TicketStore.import_histories`
(one batch, so all or nothing) and makes retries harmless:

* an event with an ``event_id`` is recorded once per id (the id is kept as the
  step's ``source_ref``, ``event:<id>``);
* an event without one is recorded once per ``(ticket, activity, time, actor)``.

The keys of what the store holds are read once when the ingestor is made and kept
in memory (a set per kind of key), then updated after each commit; the ingestor is
meant to be the store's one live writer (other writers' events are seen after a
restart). ``import_histories`` itself skips a step whose ``(activity, time,
actor)`` a ticket already holds, counted with multiplicity; two *different*
``event_id`` values with the same ``(activity, time, actor)`` are distinct events,
so the ingestor puts as many copies of that key in front of the new step as the
ticket already holds (they match the stored steps and are not written), and the new
step is appended.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from event_store.domain import TOPIC_ACTIVITY, TOPIC_OPENED, ticket_id
from event_store.records import ActivityRow, TicketHistory

if TYPE_CHECKING:
    from event_store.application import TicketStore

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
        self._load()

    @property
    def events(self) -> int:
        """Steps the store holds (as the ingestor counts them)."""
        return sum(self._counts.values())

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
            histories = [self._history(ticket, events) for ticket, events in per_ticket.items()]
            self._write(histories)
            self._ids |= ids
            self._counts.update(counts)
            self.known_tickets.update(ticket_id(t) for t in per_ticket)
        return recorded

    def _write(self, histories: list[TicketHistory]) -> None:
        """One transaction: :meth:`TicketStore.import_histories` with the window as its one batch."""
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


def read_committed(store: TicketStore, start: int, names: dict[UUID, str],
                   page: int = 5000) -> tuple[int, list[Committed]]:
    """The ticket openings and steps after log position ``start``, in log order, and the last position read.

    ``names`` maps ticket aggregate ids to source ids; it is filled from the openings as
    they pass (pass the same dict on each call). Corrections, retractions and the other
    aggregates' events (phase plans, alerts) are skipped.
    """
    decode = store.mapper.transcoder.decode
    decrypt = store._decrypt
    out: list[Committed] = []
    last = start
    for n in store.iter_notifications(start, page=page):
        last = n.id
        if n.topic == TOPIC_OPENED:
            d = decode(decrypt(bytes(n.state)))
            names[n.originator_id] = d["external_id"]
            out.append(Committed(n.id, d["timestamp"], "opened", d["external_id"], d["occurred_at"]))
        elif n.topic == TOPIC_ACTIVITY:
            d = decode(decrypt(bytes(n.state)))
            out.append(Committed(n.id, d["timestamp"], "activity", names[n.originator_id], d["occurred_at"],
                                 d["activity"], d.get("actor")))
    return last, out


__all__ = ["EVENT_REF", "Committed", "IngestEvent", "Ingestor", "read_committed"]
