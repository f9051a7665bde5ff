"""What a :class:`csmine.live.follow.Follower` poll gives back, and where its rows go (the sink protocol)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from event_store.records import TicketHistory


@dataclass(frozen=True, slots=True)
class Rejected:
    """A source row that was not recorded.

    Attributes:
        line: its first line in the followed file (1-based; the header is line 1).
        offset: its byte offset in the file.
        reason: the reader's (or the server's) message, naming the line and field.
        record: the row's text as read.
    """

    line: int
    offset: int
    reason: str
    record: str


@dataclass(frozen=True, slots=True)
class PollResult:
    """What one :meth:`Follower.poll_once` did.

    Attributes:
        rows: source rows consumed and delivered (rejected rows not counted).
        events: events the destination newly recorded (repeats it already held: 0).
        tickets: tickets the delivered rows belong to (summed over batches).
        batches: batches delivered (each one transaction or one request).
        rejected: rows quarantined, in file order.
        rotations: files switched to (replaced or truncated) during the poll.
        notes: things to tell the user (a file replaced while stopped, ...).
        waiting_bytes: bytes of an incomplete last record left for later.
        offset: byte offset reached in the current file.
    """

    rows: int = 0
    events: int = 0
    tickets: int = 0
    batches: int = 0
    rejected: tuple[Rejected, ...] = ()
    rotations: int = 0
    notes: tuple[str, ...] = ()
    waiting_bytes: int = 0
    offset: int = 0


class Sink(Protocol):
    """Where delivered rows go (:class:`StoreSink`, :class:`HttpSink`)."""

    destination: str

    def known(self, tickets: list[str]) -> set[str]: ...

    def deliver(self, histories: list[TicketHistory],
                event_ids: dict[str, str]) -> tuple[int, list[tuple[str, str]]]: ...


@dataclass(slots=True)
class _Acc:
    rows: int = 0
    events: int = 0
    tickets: int = 0
    batches: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    rotations: int = 0
    notes: list[str] = field(default_factory=list)
    waiting: int = 0


def _add(total: _Acc, r: PollResult) -> None:
    total.rows += r.rows
    total.events += r.events
    total.tickets += r.tickets
    total.batches += r.batches
    total.rejected.extend(r.rejected)
    total.rotations += r.rotations
    total.notes.extend(r.notes)
    total.waiting = r.waiting_bytes


__all__ = ["PollResult", "Rejected", "Sink"]
