"""The object path of an import batch: tickets the store may hold already.

:func:`write_histories` writes a batch of :class:`~event_store.records.TicketHistory`
objects in the caller's locked transaction, appending only what the store lacks:
tickets it holds are not opened again, steps it holds (same activity, business time
and actor, counted with multiplicity) are not written again, and case attributes the
source now gives other values for become one ``CaseAttributesChanged`` event. For a file
import (``refuse_misread``), a stored ticket whose steps in the file match none of its
stored ones, yet are the same steps at times shifted by one offset or with other actors,
is refused (:func:`read_differently`):
the file was read otherwise than the first import (another ``--tz``, time format or actor
column), and appending would record every step twice. The
stored bytes are built as the library's transcoder writes them (:func:`_activity_json`),
the chain is extended and, when the read model was caught up, its rows and position
are written in the same transaction. Whole new tickets take the column path
(:mod:`event_store.persistence.bulk_write`) instead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from event_store.domain import TOPIC_ACTIVITY, TOPIC_CASE_CHANGED, TOPIC_OPENED, Ticket, check_aware, ticket_id
from event_store.errors import ImportFormatError, InvalidEventError
from event_store.persistence.db import Cursor
from event_store.persistence.recorders import insert_stored_events, write_chain
from event_store.readmodel.projection import (
    INSERT_EVENT_LOG,
    INSERT_TICKETS,
    activity_row,
    case_tuple,
    ticket_row,
    to_us,
)
from event_store.readmodel.projection import NAME as PROJECTION
from event_store.records import CASE_FIELDS, ActivityRow, TicketHistory

if TYPE_CHECKING:
    from event_store.application import TicketStore


@dataclass(slots=True)
class _Batch:
    """What :func:`write_histories` builds: the stored events and, in the same order, the read-model plan."""

    store: TicketStore
    now: datetime
    stored: list[StoredEvent] = field(default_factory=list)
    plan: list[tuple[str, Any, Any]] = field(default_factory=list)
    added_t: int = 0
    added_e: int = 0
    unchanged: int = 0
    changed: int = 0
    #: look for stored tickets whose file steps look like the stored ones read another way
    check_misread: bool = False
    #: those found: (ticket, how)
    misread: list[tuple[str, str]] = field(default_factory=list)

    @property
    def stamp(self) -> dict[str, str]:
        return _iso(self.now)


def write_histories(store: TicketStore, cur: Cursor, batch: list[TicketHistory], *,
                    refuse_misread: bool = False) -> tuple[int, int, int, int]:
    """Append what the store lacks of ``batch``; (tickets added, events added, unchanged, case changed).

    ``refuse_misread``: raise ImportFormatError, writing nothing, when stored tickets look
    read another way (:func:`read_differently`; for file imports).
    """
    ids = [ticket_id(h.ticket) for h in batch]
    stored_before = stored_state(store, cur, ids)
    b = _Batch(store, datetime.now(UTC), check_misread=refuse_misread)
    stamp_json = f'{{"timestamp":{{"_type_":"datetime_iso","_data_":"{b.now.isoformat()}"}},"activity":'
    for history, tid in zip(batch, ids, strict=True):
        if tid in stored_before:
            found = _known_ticket(b, history, tid, stored_before[tid])
            if found is None:
                continue
            steps, version, plan_case = found
        else:
            steps, version, plan_case = _new_ticket(b, history, tid)
        _steps(b, history, tid, steps, version, plan_case, stamp_json)
    if b.misread:
        ticket, how = b.misread[0]
        raise ImportFormatError(
            f"{len(b.misread):,} ticket{'s' if len(b.misread) != 1 else ''} already in the store (the first: "
            f"{ticket}) match none of their stored steps, yet the file has the same steps {how}: it is read "
            "otherwise than when they were imported (another --tz, time format, actor or team column, or "
            "mapping?). Appending would record each step twice, so this batch was not written: import with "
            "the first import's flags or mapping (steps recorded wrongly can be amended with `csmine correct`).")
    if not b.stored:
        return 0, 0, b.unchanged, 0
    table = store._events_table()
    before = cur.execute(
        f"SELECT MAX({'notification_id' if cur.postgres else 'rowid'}) FROM {table}").fetchone()
    last_before = int(before[0]) if before and before[0] is not None else 0
    nids = insert_stored_events(cur, table, b.stored, channel=store._notify_channel())
    write_chain(cur, b.stored, nids, table)
    position = cur.execute("SELECT position FROM projection_state WHERE name = ?", (PROJECTION,)).fetchone()
    if (int(position[0]) if position else 0) == last_before:
        _project(store, cur, b.plan, nids, to_us(b.now), position is None)  # type: ignore[arg-type]
    return b.added_t, b.added_e, b.unchanged, b.changed


def _known_ticket(b: _Batch, history: TicketHistory, tid: UUID,
                  known: _Stored) -> tuple[list[ActivityRow], int, Any] | None:
    """A ticket the store holds: its missing steps and the case change event (None: nothing new)."""
    version, have = known.version, known.steps
    steps: list[ActivityRow] = []
    for row in history.steps:
        key = (row.activity, row.occurred_at, row.actor)
        if have.get(key):
            have[key] -= 1
        else:
            steps.append(row)
    if b.check_misread and have and len(steps) == len(history.steps):  # nothing matched (``have`` as stored)
        how = read_differently(history.steps, have)
        if how is not None:
            b.misread.append((history.ticket, how))
            return None
    case_changes = _case_changes(known.case, _clean_case(history.case)) if history.case else {}
    if not steps and not case_changes:
        b.unchanged += 1
        return None
    if case_changes:
        version += 1
        b.changed += 1
        stamp = b.stamp
        state = {"timestamp": stamp, "changes": case_changes, "reason": "case attributes changed in the source",
                 "occurred_at": stamp, "actor": None, "source_ref": history.source_ref}
        b.stored.append(StoredEvent(tid, version, TOPIC_CASE_CHANGED, b.store._encode(state)))
        # The read model takes the values as transcoded (typed values wrapped).
        wrapped = json.loads(b.store.mapper.transcoder.encode(case_changes))
        b.plan.append(("case", None, (str(tid), wrapped)))
    return steps, version, None  # the case row is read from the tickets table by _project


def read_differently(rows: Any, stored: dict[tuple[Any, ...], int]) -> str | None:
    """How ``rows`` (a stored ticket's steps in the file, none matching) hold every stored
    step read another way: ``"with other actors"`` (same activities and times), or ``"at
    times shifted by ..."`` (as many steps, two or more, all shifted by one offset); None
    when they do not."""
    from collections import Counter

    want = Counter()
    for (activity, at, _actor), n in stored.items():
        want[(activity, at)] += n
    have = Counter((r.activity, r.occurred_at) for r in rows)
    if not want - have:
        return "at the same times with other actors"
    if sum(want.values()) < 2 or sum(have.values()) != sum(want.values()):
        return None  # one step repeated later, or a longer history: a later export, not the same one
    first_activity, first_at = min(want, key=lambda k: k[1])
    for activity, at in have:
        if activity != first_activity or at == first_at:
            continue
        shift = at - first_at
        if not Counter({(a, t + shift): n for (a, t), n in want.items()}) - have:
            sign = "-" if shift.total_seconds() < 0 else "+"
            return f"at times shifted by {sign}{abs(shift)}"
    return None


def _new_ticket(b: _Batch, history: TicketHistory, tid: UUID) -> tuple[list[ActivityRow], int, Any]:
    """A ticket new to the store: its opening event; all its steps follow."""
    check_aware(history.opened_at, f"ticket {history.ticket}: opened_at")
    case = _clean_case(history.case)
    state = {"timestamp": b.stamp, "originator_topic": Ticket.TOPIC, "external_id": history.ticket,
             "occurred_at": _iso(history.opened_at), "case": case, "actor": None, "source_ref": history.source_ref}
    b.stored.append(StoredEvent(tid, 0, TOPIC_OPENED, b.store._encode(state)))
    extra = {k: v for k, v in case.items() if k not in CASE_FIELDS}
    plan_case = case_tuple(history.ticket, to_us(history.opened_at), case)  # type: ignore[arg-type]
    extra_json = b.store.mapper.transcoder.encode(extra).decode() if extra else None
    b.plan.append(("ticket", plan_case, (str(tid), extra_json, history.source_ref)))
    b.added_t += 1
    return list(history.steps), 0, plan_case


def _steps(b: _Batch, history: TicketHistory, tid: UUID, steps: list[ActivityRow], version: int, plan_case: Any,
           stamp_json: str) -> None:
    """The ``ActivityRecorded`` events of ``steps``, after ``version``."""
    store = b.store
    plain = store._plain_bytes
    oid = str(tid)
    for row in steps:
        occurred = row.occurred_at
        if occurred.tzinfo is None or occurred.utcoffset() is None:
            raise InvalidEventError(f"ticket {history.ticket}: step {row.activity!r} time {occurred} has no time zone")
        if not row.activity:
            raise InvalidEventError(f"ticket {history.ticket}: a step has an empty activity name ({row.source_ref})")
        version += 1
        attrs = row.attrs
        attrs_json = store._attrs_json(attrs) if attrs else "null"
        data = _activity_json(stamp_json, row, attrs_json)
        if data is None:  # a value the shortcut does not cover: the generic path
            started = row.started_at
            data = store.mapper.transcoder.encode({
                "timestamp": b.stamp, "activity": row.activity, "occurred_at": _iso(occurred),
                "actor": row.actor, "team": row.team, "started_at": None if started is None else _iso(started),
                "source_ref": row.source_ref, "attrs": attrs or None,
            })
        b.stored.append(StoredEvent(tid, version, TOPIC_ACTIVITY, data if plain else store._protect(data)))
        b.plan.append(("step", plan_case, (oid, version, row, None if attrs_json == "null" else attrs_json)))
        b.added_e += 1


def stored_state(store: TicketStore, cur: Cursor, ids: list[UUID]) -> dict[UUID, _Stored]:
    """For tickets already stored: last version, the recorded steps' keys (with counts)
    and the case attributes as the source gave them (opening plus source changes)."""
    table = store._events_table()
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
    decode = store.mapper.transcoder.decode
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
            d = decode(store._decrypt(bytes(state)))
            entry = found[oid if isinstance(oid, UUID) else UUID(oid)]
            if topic == TOPIC_ACTIVITY:
                key = (d["activity"], d["occurred_at"], d.get("actor"))
                entry.steps[key] = entry.steps.get(key, 0) + 1
            elif topic == TOPIC_OPENED:
                entry.case.update(d.get("case") or {})
            else:
                entry.case.update(d.get("changes") or {})
    return found


def _project(store: TicketStore, cur: Cursor, plan: list[tuple[str, Any, Any]], nids: list[int], recorded_us: int,
             insert_position: bool) -> None:
    """Write the batch's read-model rows and position in the batch's own transaction."""
    tickets: list[tuple[Any, ...]] = []
    rows: list[tuple[Any, ...]] = []
    # The case rows of the tickets continued here, read in this transaction (one query per 500).
    cases: dict[str, tuple[Any, ...]] = store.projection.case_rows(
        cur, [data[0] for kind, case, data in plan if kind == "step" and case is None])
    for (kind, case, data), nid in zip(plan, nids, strict=True):
        if kind == "ticket":
            oid, extra_json, source_ref = data
            tickets.append(ticket_row(nid, oid, case, recorded_us, extra_json, None, source_ref))
            continue
        if kind == "case":
            # A ticket of an earlier import: its rows are in the tables already (a
            # batch holds each ticket once), and its new steps follow this event.
            oid, wrapped = data
            store.projection.apply_case_changes(cur, oid, wrapped, corrected=False, where=nid)
            cases.pop(oid, None)
            continue
        oid, version, row, attrs_json = data
        if case is None:
            case = cases.get(oid)
            if case is None:
                case = store.projection.case_row(cur, oid)
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


def _iso(value: datetime) -> dict[str, str]:
    """A datetime as the library's JSON transcoder writes it."""
    return {"_type_": "datetime_iso", "_data_": value.isoformat()}


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

