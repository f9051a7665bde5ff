"""The bulk path of imports: whole new tickets written column by column.

An import batch of tickets that are all new to the store is prepared as columns
(:class:`NewTickets`) and written without building domain events or aggregates:

* the stored state of every event is the library transcoder's JSON, put together
  from pre-escaped pieces in one pass (``Ticket.Opened`` and ``Ticket.ActivityRecorded``
  have fixed keys in a fixed order, so the text is exactly what
  ``JSONTranscoder.encode`` writes for the event's ``__dict__``; the tests check it
  byte for byte and read the events back through the library's mapper);
* the hash chain runs over the prepared bytes in one loop (:func:`chain_links`:
  the same framing as :func:`event_store.integrity.chain.stream_link` and
  :func:`~event_store.integrity.chain.head_link`);
* SQLite gets one ``executemany`` per table over prepared tuples; PostgreSQL one
  ``COPY … (FORMAT csv)`` per table, the CSV rendered by Arrow
  (:mod:`event_store.persistence.pg_copy`).

All of it runs in the caller's transaction, which holds the store's write lock, so
the events, their chain links, the chain head, the read-model rows and the
projection position of a batch are committed together or not at all.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import repeat
from typing import Any

import numpy as np

from event_store.domain import TOPIC_ACTIVITY, TOPIC_OPENED, Ticket
from event_store.integrity.chain import ZERO, _frame
from event_store.persistence.db import Cursor
from event_store.persistence.pg_copy import copy_columns
from event_store.readmodel.chunks import arrow_schema, extend_chunks
from event_store.readmodel.projection import EVENT_LOG_COLUMNS
from event_store.readmodel.projection import NAME as PROJECTION

_STR = json.encoder.encode_basestring  # the library encoder's function (ensure_ascii=False)
_sha256 = hashlib.sha256
_pack = struct.pack
_LEN8 = _pack(">I", 8)
_LEN32 = _pack(">I", 32)
_STREAM_HEAD = _frame(b"csmine/v1/stream") + _LEN32  # tag, then the 32-byte previous link
_HEAD_HEAD = _frame(b"csmine/v1/head") + _LEN32
_DT = '{"_type_":"datetime_iso","_data_":"'


@dataclass(slots=True)
class NewTickets:
    """One import batch of tickets new to the store, whole, as columns.

    Ticket columns have one entry per ticket; step columns one per step, ticket by
    ticket in ticket order, each ticket's steps in the order they are recorded
    (``counts`` says how many each ticket has, at least 1).

    Attributes:
        tickets: the source's ticket ids.  uuids: the aggregate ids (canonical text).
        opened_us / opened_iso: opening time (microseconds since the epoch, UTC /
            ``datetime.isoformat()`` of the tz-aware value).
        case_json: the transcoder's JSON of the (cleaned) case dict.
        case_fields: the :data:`~event_store.records.CASE_FIELDS` values (str or None).
        extra_json: JSON of the case attributes outside ``CASE_FIELDS`` (None: none).
        ticket_refs: each ticket's ``source_ref``.
        counts: steps per ticket.
        activity, actor, team, step_refs: the steps' values (str; None where missing).
        occurred_us / occurred_iso, started_us / started_iso: step times (None: no start).
        attrs_json: the transcoder's JSON of each step's attributes (None: no attributes).
    """

    tickets: list[str]
    uuids: list[str]
    opened_us: list[int]
    opened_iso: list[str]
    case_json: list[str]
    case_fields: list[tuple[Any, ...]]
    extra_json: list[str | None]
    ticket_refs: list[str | None]
    counts: list[int]
    activity: list[str]
    occurred_us: list[int]
    occurred_iso: list[str]
    started_us: list[int | None]
    started_iso: list[str | None]
    actor: list[str | None]
    team: list[str | None]
    step_refs: list[str | None]
    attrs_json: list[str | None]
    #: Makes the batch's TicketHistory objects from it (for tickets the store holds already).
    #: A plain function of the batch, never a closure over it: with the garbage collector
    #: paused during an import, a reference cycle would keep every batch alive.
    rebuild: Any = field(default=None, repr=False)

    @property
    def n_events(self) -> int:
        return len(self.activity)

    def histories(self) -> list[Any]:
        """The batch as :class:`~event_store.records.TicketHistory` objects."""
        return self.rebuild(self)  # type: ignore[no-any-return]


def _escaped(values: Sequence[str | None], memo: bool = True) -> list[str]:
    """JSON text of each value (``null`` for None), memoised for repeated values."""
    if not memo:
        return ["null" if v is None else _STR(v) for v in values]
    cache: dict[str | None, str] = {None: "null"}
    out = []
    append = out.append
    get = cache.get
    for v in values:
        s = get(v)
        if s is None:
            s = cache[v] = _STR(v)  # type: ignore[arg-type]
        append(s)
    return out


def _layout(counts: Sequence[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Positions of the openings and steps in log order, the ticket of each, and the versions."""
    c = np.asarray(counts, dtype=np.int64)
    sizes = c + 1
    starts = np.zeros(len(c), dtype=np.int64)
    np.cumsum(sizes[:-1], out=starts[1:])
    total = int(sizes.sum())
    opened_pos = starts
    is_step = np.ones(total, dtype=bool)
    is_step[opened_pos] = False
    step_pos = np.flatnonzero(is_step)
    owner = np.repeat(np.arange(len(c)), sizes)
    versions = np.arange(total, dtype=np.int64) - np.repeat(starts, sizes)
    return opened_pos, step_pos, owner, versions


def event_states(batch: NewTickets, recorded: datetime) -> tuple[list[bytes], np.ndarray, np.ndarray, np.ndarray]:
    """The stored state bytes of every event of the batch in log order, and the layout.

    Returns (states, owner ticket per event, version per event, positions of the steps).
    """
    stamp = f'{{"timestamp":{_DT}{recorded.isoformat()}"}},'
    topic = _STR(Ticket.TOPIC)
    opened = [
        f'{stamp}"originator_topic":{topic},"external_id":{ext},"occurred_at":{_DT}{iso}"}},"case":{case},'
        f'"actor":null,"source_ref":{ref}}}'.encode()
        for ext, iso, case, ref in zip(_escaped(batch.tickets, memo=False), batch.opened_iso, batch.case_json,
                                       _escaped(batch.ticket_refs, memo=False), strict=True)
    ]
    started = [None if s is None else f'{_DT}{s}"}}' for s in batch.started_iso]
    steps = [
        f'{stamp}"activity":{a},"occurred_at":{_DT}{o}"}},"actor":{ac},"team":{tm},"started_at":{st},'
        f'"source_ref":{rf},"attrs":{at}}}'.encode()
        for a, o, ac, tm, st, rf, at in zip(
            _escaped(batch.activity), batch.occurred_iso, _escaped(batch.actor), _escaped(batch.team),
            ["null" if s is None else s for s in started], _escaped(batch.step_refs, memo=False),
            ["null" if j is None else j for j in batch.attrs_json], strict=True)
    ]
    opened_pos, step_pos, owner, versions = _layout(batch.counts)
    states = np.empty(len(owner), dtype=object)
    states[opened_pos] = opened
    states[step_pos] = steps
    return states.tolist(), owner, versions, step_pos


def chain_links(oids: Sequence[str], versions: Sequence[int], topics: Sequence[str], states: Sequence[bytes],
                prev: dict[str, bytes], size: int, head: bytes) -> tuple[list[bytes], int, bytes]:
    """Chain links of events appended in this order, and the new (size, head).

    ``prev`` holds the last stored link of tickets that already have events; a
    version 0 starts from 32 zero bytes. The same bytes as
    :func:`~event_store.integrity.chain.stream_link` and
    :func:`~event_store.integrity.chain.head_link`, with the framing of repeated
    parts (ids, versions, topics) prepared once.
    """
    id_frames: dict[str, bytes] = {}
    topic_frames: dict[str, bytes] = {}
    version_frames: list[bytes] = []
    links: list[bytes] = []
    append = links.append
    last = dict(prev)
    sha, join, pack = _sha256, b"".join, _pack
    sh, hh, len8 = _STREAM_HEAD, _HEAD_HEAD, _LEN8
    for oid, version, topic, state in zip(oids, versions, topics, states, strict=True):
        f_id = id_frames.get(oid)
        if f_id is None:
            o = oid.encode()
            f_id = id_frames[oid] = pack(">I", len(o)) + o
        f_topic = topic_frames.get(topic)
        if f_topic is None:
            t = topic.encode()
            f_topic = topic_frames[topic] = pack(">I", len(t)) + t + _LEN32
        while version >= len(version_frames):
            version_frames.append(len8 + pack(">q", len(version_frames)))
        before = last.get(oid, ZERO) if version else ZERO
        link = sha(join((sh, before, f_id, version_frames[version], f_topic, sha(state).digest()))).digest()
        last[oid] = link
        size += 1
        head = sha(join((hh, head, len8, pack(">q", size), _LEN32, link))).digest()
        append(link)
    return links, size, head


@dataclass(slots=True)
class Written:
    """What :func:`write_prepared` appended."""

    tickets: int
    events: int
    first_nid: int
    last_nid: int


@dataclass(slots=True)
class Prepared:
    """A batch made ready to write: state bytes, log layout and chain links.

    The links were computed from the chain (size, head) in ``start``; if the store's
    head is another one when the batch is written (a batch before it took the object
    path, another writer got in), :func:`write_prepared` computes them again.
    """

    batch: NewTickets
    states: list[bytes]
    owner: np.ndarray
    step_pos: np.ndarray
    oids: list[str]
    vers: list[int]
    topics: list[str]
    recorded_us: int
    start: tuple[int, bytes]
    links: list[bytes]
    end: tuple[int, bytes]
    #: The ``event_log`` columns after ``notification_id`` (an int: the same for every row),
    #: and the same as Arrow arrays for the columnar copy: made on the preparing thread.
    log_columns: tuple[Any, ...] = ()
    log_arrays: list[Any] = field(default_factory=list)


def prepare(batch: NewTickets, recorded: datetime, start: tuple[int, bytes]) -> Prepared:
    """Everything of a batch that does not need the database: bytes, layout, links from ``start``."""
    from event_store.readmodel.projection import to_us

    states, owner, versions, step_pos = event_states(batch, recorded)
    oids = np.asarray(batch.uuids, dtype=object)[owner].tolist()
    vers = versions.tolist()
    topics = np.where(versions == 0, TOPIC_OPENED, TOPIC_ACTIVITY).astype(object).tolist()
    links, size, head = chain_links(oids, vers, topics, states, {}, *start)
    recorded_us: int = to_us(recorded)  # type: ignore[assignment]
    columns, arrays = _log_rows(batch, owner, step_pos, recorded_us)
    return Prepared(batch, states, owner, step_pos, oids, vers, topics, recorded_us, start, links, (size, head),
                    columns, arrays)


def _log_rows(batch: NewTickets, owner: np.ndarray, step_pos: np.ndarray,
              recorded_us: int) -> tuple[tuple[Any, ...], list[Any]]:
    """The ``event_log`` columns of the steps but their notification ids, as lists and as Arrow arrays."""
    from event_store.readmodel.chunks import arrow_schema

    nt = len(batch.tickets)
    opened_pos = np.zeros(nt, dtype=np.int64)
    np.cumsum(np.asarray(batch.counts, dtype=np.int64)[:-1] + 1, out=opened_pos[1:])
    step_owner = owner[step_pos]

    def per_step(values: Sequence[Any]) -> list[Any]:
        return np.asarray(values, dtype=object)[step_owner].tolist()

    fields = list(zip(*batch.case_fields)) if nt else [()] * 7
    columns = (per_step(batch.tickets), (step_pos - opened_pos[step_owner]).tolist(), batch.activity,
               batch.occurred_us, batch.started_us, recorded_us, batch.actor, [t or None for t in batch.team],
               batch.step_refs, batch.attrs_json, 0, 0, per_step(batch.opened_us), *(per_step(f) for f in fields))
    import pyarrow as pa

    ne = len(step_pos)
    arrays = [pa.array(np.full(ne, c, dtype=np.int64)) if isinstance(c, int) else pa.array(c, type=f.type)
              for c, f in zip(columns, list(arrow_schema())[1:], strict=True)]
    return columns, arrays


def chain_start(cur: Cursor) -> tuple[int, bytes]:
    """The chain's (size, head) as stored."""
    row = cur.execute("SELECT size, head FROM chain_head WHERE id = 1").fetchone()
    return (int(row[0]), bytes(row[1])) if row else (0, ZERO)


def write_prepared(cur: Cursor, table: str, p: Prepared, *, project: bool, channel: str | None = None,
                   chunks: bool = True) -> Written:
    """Append a prepared batch of new tickets: events, chain, chain head and (``project``) the read model.

    The caller holds the write lock in ``cur``'s transaction and has checked that no
    ticket of the batch is stored yet (the events table's primary key refuses a
    duplicate anyway, which rolls the whole batch back). With ``project`` the
    read-model rows are written and the projection position moved to the batch's
    last event; the caller passes it only when the read model was caught up. With
    ``chunks=False`` the columnar chunks the batch completes are left to the first read.
    """
    start = chain_start(cur)
    if start != p.start:  # the links were computed from another head: again, from this one
        p.links, size, head = chain_links(p.oids, p.vers, p.topics, p.states, {}, *start)
        p.start, p.end = start, (size, head)
    size0 = start[0]
    size, head = p.end
    n = len(p.states)
    batch = p.batch
    if cur.postgres:
        first = _copy_events_pg(cur, table, p.oids, p.vers, p.topics, p.states, channel)
    else:
        first = _insert_events_sqlite(cur, table, [u.replace("-", "") for u in batch.uuids], p.owner, p.vers,
                                      p.topics, p.states)
    _put(cur, "event_chain", ("seq", "notification_id", "originator_id", "originator_version", "link"),
         (range(size0 + 1, size + 1), range(first, first + n), p.oids, p.vers, p.links), n)
    if cur.postgres:
        cur.execute("INSERT INTO chain_head (id, size, head) VALUES (1, ?, ?) "
                    "ON CONFLICT (id) DO UPDATE SET size = EXCLUDED.size, head = EXCLUDED.head", (size, head))
    else:
        cur.execute("INSERT OR REPLACE INTO chain_head (id, size, head) VALUES (1, ?, ?)", (size, head))
    if project:
        _project(cur, p, first, chunks)
    return Written(len(batch.tickets), len(batch.activity), first, first + n - 1)


def _insert_events_sqlite(cur: Cursor, table: str, hexes: list[str], owner: np.ndarray, vers: list[int],
                          topics: list[str], states: list[bytes]) -> int:
    row = cur.execute(f"SELECT MAX(rowid) FROM {table}").fetchone()
    first = (int(row[0]) if row and row[0] is not None else 0) + 1
    ids = np.asarray(hexes, dtype=object)[owner].tolist()
    cur.raw.executemany(f"INSERT INTO {table} (originator_id, originator_version, topic, state) VALUES (?, ?, ?, ?)",
                        zip(ids, vers, topics, states))
    row = cur.execute(f"SELECT MAX(rowid) FROM {table}").fetchone()
    last = int(row[0]) if row and row[0] is not None else 0
    if last - first + 1 != len(states):
        raise RuntimeError(f"SQLite assigned {last - first + 1} row ids for {len(states)} events")
    return first


def _copy_events_pg(cur: Cursor, table: str, oids: list[str], vers: list[int], topics: list[str],
                    states: list[bytes], channel: str | None) -> int:
    """COPY the events; their notification ids come from the table's sequence, in row order.

    The caller holds the EXCLUSIVE lock on the table (as the library's own writes
    do), so nobody else draws from the sequence meanwhile: the ids are contiguous,
    which is checked.
    """
    before = cur.execute(f"SELECT COALESCE(MAX(notification_id), 0) FROM {table}").fetchone()
    last_before = int(before[0]) if before else 0
    copy_columns(cur, table, ("originator_id", "originator_version", "topic", "state"), (oids, vers, topics, states),
                 len(states))
    lo, hi, count = cur.execute(
        f"SELECT MIN(notification_id), MAX(notification_id), COUNT(*) FROM {table} WHERE notification_id > ?",
        (last_before,)).fetchone()  # type: ignore[misc]
    if count != len(states) or int(hi) - int(lo) + 1 != count:
        raise RuntimeError("PostgreSQL did not assign contiguous notification ids to a locked import batch")
    if channel:
        cur.execute(f'NOTIFY "{channel}"')
    return int(lo)


def _put(cur: Cursor, table: str, columns: Sequence[str], data: Sequence[Any], n: int) -> None:
    """Rows given as columns (iterables of equal length ``n``): executemany on SQLite, COPY on PostgreSQL
    (:func:`~event_store.persistence.pg_copy.copy_columns`)."""
    if not n:
        return
    if not cur.postgres:
        marks = ", ".join("?" * len(columns))
        cur.raw.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", zip(*data))
        return
    copy_columns(cur, table, columns, data, n)


TICKET_COLUMNS = ("ticket", "ticket_uuid", "opened_at", "recorded_at", "notification_id", "channel", "category",
                  "priority", "emotion", "customer", "team", "region", "case_attrs", "opened_by", "source_ref")


def _project(cur: Cursor, p: Prepared, first: int, chunks: bool = True) -> None:
    """The batch's ``tickets`` and ``event_log`` rows, its columnar chunks and the projection position."""
    import pyarrow as pa

    batch = p.batch
    nt = len(batch.tickets)
    opened_nids = np.zeros(nt, dtype=np.int64)
    np.cumsum(np.asarray(batch.counts, dtype=np.int64)[:-1] + 1, out=opened_nids[1:])
    opened_nids += first
    fields = list(zip(*batch.case_fields)) if nt else [()] * 7
    _put(cur, "tickets", TICKET_COLUMNS, (
        batch.tickets, batch.uuids, batch.opened_us, repeat(p.recorded_us, nt), opened_nids.tolist(),
        *fields, batch.extra_json, repeat(None, nt), batch.ticket_refs), nt)
    ne = len(batch.activity)
    nids = p.step_pos + first
    _put(cur, "event_log", EVENT_LOG_COLUMNS, [nids, *p.log_arrays] if cur.postgres else
         [nids.tolist(), *(repeat(c, ne) if isinstance(c, int) else c for c in p.log_columns)], ne)
    last = first + len(p.owner) - 1
    if ne and chunks:  # the columnar copy of the rows, so that the first report reads chunks only
        extend_chunks(cur, int(nids[0]), pa.Table.from_arrays([pa.array(nids), *p.log_arrays], schema=arrow_schema()))
    row = cur.execute("SELECT position FROM projection_state WHERE name = ?", (PROJECTION,)).fetchone()
    if row is None:
        cur.execute("INSERT INTO projection_state (name, position) VALUES (?, ?)", (PROJECTION, last))
    else:
        cur.execute("UPDATE projection_state SET position = ? WHERE name = ?", (last, PROJECTION))


_PLAIN = (str, type(None))


def from_histories(histories: Sequence[Any], encode: Any, attrs_json: Any) -> NewTickets | None:
    """The columns of whole new tickets from :class:`~event_store.records.TicketHistory` objects.

    ``encode`` is the transcoder's ``encode`` (a value to JSON bytes), ``attrs_json``
    a step's attribute dict to JSON text. None when a value is not a plain string
    (or None) where the fixed layout needs one: the generic path writes such a batch.

    Raises:
        InvalidEventError: a time without a time zone, an empty activity name.
    """
    from event_store.domain import check_aware, ticket_id
    from event_store.readmodel.projection import to_us
    from event_store.records import CASE_FIELDS

    out = NewTickets(*([] for _ in range(18)), rebuild=lambda _batch: list(histories))  # type: ignore[arg-type]
    for h in histories:
        check_aware(h.opened_at, f"ticket {h.ticket}: opened_at")
        if type(h.ticket) is not str or type(h.source_ref) not in _PLAIN:
            return None
        case = {k: (str(v) if k in CASE_FIELDS and v is not None else v) for k, v in h.case.items() if v is not None}
        out.tickets.append(h.ticket)
        out.uuids.append(str(ticket_id(h.ticket)))
        out.opened_us.append(to_us(h.opened_at))  # type: ignore[arg-type]
        out.opened_iso.append(h.opened_at.isoformat())
        out.case_json.append(encode(case).decode())
        out.case_fields.append(tuple(case.get(k) for k in CASE_FIELDS))
        extra = {k: v for k, v in case.items() if k not in CASE_FIELDS}
        out.extra_json.append(encode(extra).decode() if extra else None)
        out.ticket_refs.append(h.source_ref)
        out.counts.append(len(h.steps))
        if not _add_steps(out, h, attrs_json, to_us):
            return None
    return out


def _add_steps(out: NewTickets, h: Any, attrs_json: Any, to_us: Any) -> bool:
    """Append one ticket's steps to the step columns; False when a value is not plain text."""
    from event_store.errors import InvalidEventError

    for row in h.steps:
        occurred = row.occurred_at
        if occurred.tzinfo is None or occurred.utcoffset() is None:
            raise InvalidEventError(f"ticket {h.ticket}: step {row.activity!r} time {occurred} has no time zone")
        if not row.activity:
            raise InvalidEventError(f"ticket {h.ticket}: a step has an empty activity name ({row.source_ref})")
        if (type(row.activity) is not str or type(row.actor) not in _PLAIN or type(row.team) not in _PLAIN
                or type(row.source_ref) not in _PLAIN):
            return False
        out.activity.append(row.activity)
        out.occurred_us.append(to_us(occurred))
        out.occurred_iso.append(occurred.isoformat())
        started = row.started_at
        out.started_us.append(None if started is None else to_us(started))
        out.started_iso.append(None if started is None else started.isoformat())
        out.actor.append(row.actor)
        out.team.append(row.team)
        out.step_refs.append(row.source_ref)
        out.attrs_json.append(attrs_json(row.attrs) if row.attrs else None)
    return True
