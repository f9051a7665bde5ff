"""One ticket's stored events read back as its history: steps, amendments applied, timing.

:func:`read_history` reads the ticket's **stored events** (not the read model), up to
a log position (``known_at``, recording time) and a business time (``as_of``),
and applies each correction or retraction to the event it amends, keeping the
original values visible. :func:`timed_steps` orders the steps in business time
(ties as everywhere else, :mod:`csmine.eventlog.ordering`) and times them: the
**wait** before each step and the **work** on it. :func:`stored_log_end` is the
end of the whole log, the reference for stale tickets and overdue steps.

The trace (:func:`csmine.audit.trace.trace_ticket`) shows this history and its
verdicts on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from event_store.domain import (
    CORRECTABLE_STEP_FIELDS,
    TOPIC_ACTIVITY,
    TOPIC_CASE_CHANGED,
    TOPIC_CORRECTED,
    TOPIC_OPENED,
    TOPIC_RETRACTED,
    ticket_id,
)
from event_store.errors import IntegrityError, TicketNotFoundError
from event_store.readmodel import queries

from csmine.errors import TraceError
from csmine.eventlog.ordering import sop_positions, tie_key

if TYPE_CHECKING:
    from event_store.application import TicketStore
    from process_models import SOP


@dataclass(frozen=True, slots=True)
class Amendment:
    """A correction or retraction recorded about an earlier event.

    Attributes:
        kind: ``"corrected"``, ``"retracted"`` or ``"case_changed"`` (the source reported
            new case attributes on a re-import).
        version: the amending event's own version in the ticket.
        event_id: its log position (notification id).
        target_version: the version it amends (0: the ticket's attributes).
        occurred_at: business time given for the amendment.
        recorded_at: when it was recorded.
        actor: who recorded it.
        changes: field -> new value (corrections only).
        reason: why, as recorded.
    """

    kind: str
    version: int
    event_id: int
    target_version: int
    occurred_at: datetime
    recorded_at: datetime
    actor: str | None
    changes: dict[str, Any]
    reason: str


@dataclass(frozen=True, slots=True)
class TraceStep:
    """One recorded activity of the ticket, with its amendments and timing.

    Attributes:
        version: version within the ticket (1, 2, ...).
        event_id: log position (notification id).
        activity: the activity, corrections applied.
        step: the SOP step it maps to (None: unknown to the SOP, or no SOP).
        occurred_at: business time, corrections applied.
        started_at: when work on it started, if recorded.
        recorded_at: when it was recorded (library timestamp).
        actor: who did it.  team: the team that did it (the ticket's team if none).
        attrs: free attributes, corrections applied.
        source_ref: where the row came from.
        original: the first-recorded values of the fields later corrected.
        corrections: corrections of this event, oldest first.
        retracted: the retraction, if the event was recorded in error.
        wait_s: seconds from the previous step (the opening for the first) to this
            step's start (or its time when no start is known); None when retracted.
        work_s: seconds from start to completion, when a start is known.
        deviation: the alignment's verdict on this event (None: conforming, or no SOP).
    """

    version: int
    event_id: int
    activity: str
    step: str | None
    occurred_at: datetime
    started_at: datetime | None
    recorded_at: datetime
    actor: str | None
    team: str | None
    attrs: dict[str, Any]
    source_ref: str | None
    original: dict[str, Any] = field(default_factory=dict)
    corrections: tuple[Amendment, ...] = ()
    retracted: Amendment | None = None
    wait_s: float | None = None
    work_s: float | None = None
    deviation: str | None = None


@dataclass
class History:
    """A ticket's stored events read back (see :func:`read_history`).

    Attributes:
        oid: the ticket's aggregate id.
        opened: the opening event.  opened_event_id: its log position.
        case: ticket attributes, corrections applied.  case_original: first-recorded
            values of corrected attributes.  case_corrections: those corrections.
        steps: the recorded activities as dicts of :class:`TraceStep` fields,
            amendments applied, in version order (retracted ones too).
        hidden: events left out by ``as_of`` / ``known_at``.
    """

    oid: UUID
    opened: Any
    opened_event_id: int
    case: dict[str, Any]
    case_original: dict[str, Any]
    case_corrections: list[Amendment]
    steps: list[dict[str, Any]]
    hidden: int


def read_history(store: TicketStore, ticket: str, *, known_at: int | None = None,
                 as_of: datetime | None = None) -> History:
    """The ticket's stored events up to log position ``known_at``, the steps up to
    business time ``as_of``, amendments applied.

    Raises:
        TicketNotFoundError: no such ticket (or none recorded by ``known_at``).
        TraceError: the ticket was not yet opened at ``as_of``.
    """
    oid = ticket_id(ticket)
    try:
        events, hidden = _stored_events(store, oid, known_at)
    except IntegrityError as exc:  # an event that no longer reads as any kind
        raise IntegrityError(f"ticket {ticket}: {exc}") from None
    opened = next(((n, e) for n, e in events if e.originator_version == 0), None)
    if opened is None:
        where = f" by log position {known_at}" if known_at is not None else ""
        raise TicketNotFoundError(
            f"no ticket {ticket!r} recorded in {store.location.display}{where} "
            "(list tickets with `csmine stats`, or check the id)"
        )
    o_nid, o_event = opened
    if o_event.__class__.__name__ != "Opened" and getattr(o_event, "external_id", None) is None:
        raise TicketNotFoundError(f"ticket {ticket!r}: its first stored event is not an opening")
    if as_of is not None and o_event.occurred_at > as_of:
        raise TraceError(
            f"ticket {ticket} was opened at {o_event.occurred_at.isoformat()}, after --as-of "
            f"{as_of.isoformat()}: choose a later time"
        )
    history = History(oid, o_event, o_nid, dict(o_event.case), {}, [], [], hidden)
    raw_steps, corrections, retractions = _collect(events, history, ticket)
    for version, raw in raw_steps.items():
        step = _amended(raw, corrections.get(version, []))
        if as_of is not None and step["occurred_at"] > as_of:
            history.hidden += 1
            continue
        step.update(version=version, corrections=tuple(corrections.get(version, ())),
                    retracted=retractions.get(version))
        history.steps.append(step)
    return history


def _stored_events(store: TicketStore, oid: UUID, known_at: int | None) -> tuple[list[tuple[int, Any]], int]:
    """The ticket's events (notification id, decoded event) up to ``known_at``; and how many were after it."""
    events = queries.stored_ticket_events(store, oid)
    kept = [(n, e) for n, e in events if known_at is None or n <= known_at]
    return kept, len(events) - len(kept)


def _topic(event: Any) -> str:
    name = type(event).__name__
    return {
        "Opened": TOPIC_OPENED, "ActivityRecorded": TOPIC_ACTIVITY, "Corrected": TOPIC_CORRECTED,
        "Retracted": TOPIC_RETRACTED, "CaseAttributesChanged": TOPIC_CASE_CHANGED,
    }.get(name, name)


def _amendment(kind: str, nid: int, e: Any) -> Amendment:
    return Amendment(
        kind=kind, version=int(e.originator_version), event_id=nid,
        target_version=int(getattr(e, "target_version", 0)),
        occurred_at=e.occurred_at, recorded_at=e.timestamp, actor=getattr(e, "actor", None),
        changes=dict(getattr(e, "changes", None) or {}), reason=str(e.reason),
    )


def _collect(events: list[tuple[int, Any]], history: History, ticket: str) -> tuple[
        dict[int, dict[str, Any]], dict[int, list[Amendment]], dict[int, Amendment]]:
    """The recorded steps by version, and the corrections and retractions of each;
    corrections of the ticket's attributes are applied to ``history.case`` on the way."""
    raw_steps: dict[int, dict[str, Any]] = {}
    corrections: dict[int, list[Amendment]] = {}
    retractions: dict[int, Amendment] = {}
    for n, e in events:
        try:
            _collect_one(n, e, history, raw_steps, corrections, retractions)
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            # a stored event whose content does not fit its kind: the store was altered
            raise IntegrityError(
                f"ticket {ticket}: stored event at position {n} (version {e.originator_version}) does not "
                f"read as a {_topic(e)} event ({type(exc).__name__}: {exc}): the event store was altered. "
                "Run `csmine verify` to see what changed.") from None
    return raw_steps, corrections, retractions


def _collect_one(n: int, e: Any, history: History, raw_steps: dict[int, dict[str, Any]],
                 corrections: dict[int, list[Amendment]], retractions: dict[int, Amendment]) -> None:
    """One stored event into the steps, corrections or retractions (see :func:`_collect`)."""
    topic = _topic(e)
    if topic == TOPIC_ACTIVITY:
        raw_steps[int(e.originator_version)] = {
            "event_id": n, "activity": e.activity, "occurred_at": e.occurred_at,
            "started_at": e.started_at, "recorded_at": e.timestamp, "actor": e.actor, "team": e.team,
            "attrs": dict(e.attrs or {}), "source_ref": e.source_ref,
        }
    elif topic in (TOPIC_CORRECTED, TOPIC_CASE_CHANGED):
        a = _amendment("corrected" if topic == TOPIC_CORRECTED else "case_changed", n, e)
        if a.target_version == 0:
            for key, value in a.changes.items():
                history.case_original.setdefault(key, history.case.get(key))
                history.case[key] = value
            history.case_corrections.append(a)
        else:
            corrections.setdefault(a.target_version, []).append(a)
    elif topic == TOPIC_RETRACTED:
        a = _amendment("retracted", n, e)
        retractions[a.target_version] = a


def _amended(raw: dict[str, Any], corrections: list[Amendment]) -> dict[str, Any]:
    """A recorded step with its corrections applied, and the values they replaced (``original``)."""
    eff = dict(raw)
    eff["attrs"] = dict(raw["attrs"])
    original: dict[str, Any] = {}
    for a in corrections:
        for key, value in a.changes.items():
            if key in CORRECTABLE_STEP_FIELDS:
                original.setdefault(key, raw.get(key))
                eff[key] = value
            else:
                original.setdefault(key, raw["attrs"].get(key))
                eff["attrs"][key] = value
    eff["original"] = original
    return eff


def timed_steps(history: History, sop: SOP | None, tie_order: str = "auto") -> list[dict[str, Any]]:
    """The history's steps in business-time order, each with its team (the ticket's
    when none), SOP step, wait before it and work on it (None when retracted).

    Ties at the same business time as everywhere else (``auto``,
    :mod:`csmine.eventlog.ordering`, the SOP's step order included), then record
    order; ``file``: record order only.
    """
    steps = list(history.steps)
    sop_pos = sop_positions(sop) if tie_order == "auto" else None
    steps.sort(key=lambda s: (s["occurred_at"], tie_key(str(s["activity"]), sop_pos) if sop_pos is not None else (),
                              s["version"]))
    mapping = sop.activity_map() if sop is not None else {}
    prev = history.opened.occurred_at
    for s in steps:
        s["team"] = s["team"] or history.case.get("team")
        s["step"] = mapping.get(s["activity"]) if sop is not None else None
        if s["retracted"] is not None:
            s["wait_s"] = s["work_s"] = None
            continue
        begin = s["started_at"] or s["occurred_at"]
        s["wait_s"] = (begin - prev).total_seconds()
        s["work_s"] = (s["occurred_at"] - s["started_at"]).total_seconds() if s["started_at"] else None
        prev = s["occurred_at"]
    return steps


def stored_log_end(store: TicketStore, known_at: int | None) -> datetime | None:
    """The latest business time in the store's read model (up to log position ``known_at``)."""
    try:
        value = queries.last_occurred_at(store, known_at)
    except Exception:  # noqa: BLE001 -- no read model: fall back to the ticket's own events
        return None
    return None if value is None else queries.from_us(value)


__all__ = [
    "Amendment",
    "History",
    "TraceStep",
    "read_history",
    "stored_log_end",
    "timed_steps",
]
