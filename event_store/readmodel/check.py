"""Proof that the read model is exactly the projection of the verified events.

Everything the analytics and ``csmine export`` show comes from the read model
(``tickets``, ``event_log``, ``phases``, and ``event_log_columns``, the columnar copy
of ``event_log``), not from the events. The hash chain protects the events only, so
an ``UPDATE event_log ...`` would change every figure while the chain still
verified. :class:`ShadowProjection` closes that gap:

1. while :func:`event_store.integrity.verify.verify_store` re-hashes the events, it feeds the
   same stored rows (the same snapshot) into the projection's own code, writing into
   a private temporary SQLite database: the read model *as the events say it must
   be*, up to the read model's recorded position;
2. :meth:`ShadowProjection.compare` then walks both copies in log order, row by row
   and column by column (``tickets``, ``event_log``, ``phases``), checks that each
   stored columnar chunk equals the rows it claims to cover, and that the recorded
   position is a real one;
3. every difference is a finding of kind ``read_model`` naming the log position,
   the ticket (as the events name it), the version, the table and the column.

A full comparison is the default. ``sample_rate`` (``csmine verify --fast``) checks
a random share of the tickets instead (a new random choice on every run, so nobody
can know in advance which tickets are looked at); the phase plan is always checked.

The comparison needs the events to verify first: against tampered events a
difference in the read model proves nothing, so it is skipped then (with a warning).
The read model being *behind* the events (its position lags: a writer is still
catching up) is not a finding; it is compared up to its position.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from event_store.persistence.db import Cursor, Database
from event_store.domain import PHASE_PLAN_ID
from event_store.persistence.recorders import schema_statements
from event_store.readmodel.projection import COLUMNS_TABLE, EVENT_LOG_COLUMNS, EventLogProjection

if TYPE_CHECKING:
    from event_store.application import TicketStore

#: Read-model differences kept (the rest are counted).
MAX_DIFFERENCES = 200
_PAGE = 5000
_INT_COLUMNS = frozenset({
    "notification_id", "version", "occurred_at", "started_at", "recorded_at", "retracted", "corrected", "opened_at",
})
TICKET_COLUMNS = (
    "notification_id", "ticket", "ticket_uuid", "opened_at", "recorded_at", "channel", "category", "priority",
    "emotion", "customer", "team", "region", "case_attrs", "opened_by", "source_ref",
)
PHASE_COLUMNS = ("name", "start_at", "end_at", "cohort", "note", "notification_id")
_UNUSED_INDEXES = ("event_log_opened", "event_log_occurred", "tickets_opened")
REBUILD_HINT = ("the read model was edited, or the events were rewritten with their chain: check the events "
                "against a checkpoint, then rebuild (`csmine verify --checkpoint FILE --rebuild`)")


@dataclass(frozen=True, slots=True)
class ReadModelCheck:
    """What the read-model comparison covered.

    Attributes:
        mode: ``full``, ``sample`` or ``skipped`` (the events did not verify).
        position: the read model's recorded position (last log position it applied).
        lag: stored events after that position (not yet in the read model; not a fault).
        tickets: tickets compared.
        rows: ``event_log`` rows compared (from the events' side).
        chunks: columnar chunks compared.
        sample_rate: share of tickets drawn (``sample`` mode), else None.
        differences: read-model findings (also in the report's findings).
        seconds: time spent projecting and comparing (the re-hashing not included).
    """

    mode: str
    position: int
    lag: int
    tickets: int
    rows: int
    chunks: int
    sample_rate: float | None
    differences: int
    seconds: float


class _Item:
    """A stored event as the projection reads it."""

    __slots__ = ("id", "originator_id", "originator_version", "state", "topic")

    def __init__(self, nid: int, oid: str, version: int, topic: str, state: bytes) -> None:
        self.id = nid
        self.originator_id = oid
        self.originator_version = version
        self.topic = topic
        self.state = state


@dataclass(frozen=True, slots=True)
class Difference:
    """One place where the read model is not the projection of the events."""

    position: int | None
    ticket: str | None
    version: int | None
    message: str


def _shadow_database() -> Database:
    # "" is a private temporary database on disk (memory bounded by SQLite's cache).
    db = Database(sqlite_path="")
    conn = db._connect()
    conn.execute("PRAGMA journal_mode = OFF")  # a scratch copy: nothing to recover
    conn.execute("PRAGMA synchronous = OFF")
    with db.transaction(write=True) as cur:
        for statement in schema_statements(False, "stored_events"):
            # The projection's own lookups need the primary keys, tickets_uuid and
            # event_log_ticket; the other indexes only slow the inserts down.
            if "TRIGGER" in statement or any(f"EXISTS {name} " in statement for name in _UNUSED_INDEXES):
                continue
            cur.execute(statement)
    return db


class ShadowProjection:
    """The read model recomputed from stored events, then compared with the real one.

    Args:
        store: the store being verified (its decryption, its backend).
        position: the read model's recorded position; events after it are not projected.
        sample_rate: None for all tickets, else the share of tickets to check.
    """

    def __init__(self, store: TicketStore, position: int, *, sample_rate: float | None = None) -> None:
        self._spent = 0.0
        self.store = store
        self.position = position
        self.sample_rate = sample_rate
        self._salt = secrets.token_bytes(16)
        self._threshold = None if sample_rate is None else int(min(1.0, max(0.0, sample_rate)) * 2**64)
        self._drawn: dict[str, bool] = {}
        self._plan = str(PHASE_PLAN_ID)
        self.db = _shadow_database()
        self.projection = EventLogProjection(self.db, None, store._decrypt)
        self._pending: list[_Item] = []
        self.max_nid = 0
        self.lag = 0
        self.error: str | None = None

    def drawn(self, oid: str) -> bool:
        """Whether the ticket with aggregate id ``oid`` is checked."""
        if self._threshold is None or oid == self._plan:
            return True
        found = self._drawn.get(oid)
        if found is None:
            digest = hashlib.sha256(self._salt + oid.encode()).digest()
            found = self._drawn[oid] = int.from_bytes(digest[:8], "big") < self._threshold
        return found

    def feed(self, nid: int, oid: str, version: int, topic: str, state: bytes) -> None:
        """One stored event, in log order (``oid`` canonical UUID text)."""
        self.max_nid = max(self.max_nid, nid)
        if nid > self.position:
            self.lag += 1
            return
        if self.error is not None or not self.drawn(oid):
            return
        self._pending.append(_Item(nid, oid, version, topic, state))
        if len(self._pending) >= _PAGE:
            self._flush()

    def _flush(self) -> None:
        if not self._pending or self.error is not None:
            self._pending.clear()
            return
        started = time.perf_counter()
        try:
            with self.db.transaction(write=True) as cur:
                self.projection._case_cache.clear()
                self.projection._apply(cur, self._pending)
        except Exception as exc:  # events that do not project (an opening missing, ...)
            self.error = f"{type(exc).__name__}: {exc}"
        self._pending.clear()
        self._spent += time.perf_counter() - started

    def close(self) -> None:
        self.db.close()

    # -- comparing -------------------------------------------------------------------

    def compare(self, cur: Cursor) -> tuple[list[Difference], int, ReadModelCheck]:
        """Compare with the real read model read through ``cur`` (the verify snapshot).

        Returns the differences (at most :data:`MAX_DIFFERENCES`), how many more
        there were, and a summary.
        """
        self._flush()
        started = time.perf_counter()
        out: list[Difference] = []
        more = 0

        def add(diff: Difference) -> None:
            nonlocal more
            if len(out) >= MAX_DIFFERENCES:
                more += 1
            else:
                out.append(diff)

        if self.error is not None:
            add(Difference(None, None, None, f"the events do not project into a read model ({self.error})"))
        if self.position > self.max_nid:
            add(Difference(self.position, None, None,
                           f"the read model records position {self.position} in projection_state, but the log "
                           f"ends at {self.max_nid}; {REBUILD_HINT}"))
        sampled = self._threshold is not None
        with self.db.transaction() as shadow:
            names = {str(r[0]): str(r[1]) for r in shadow.execute(
                "SELECT ticket_uuid, ticket FROM tickets").fetchall()}
            drawn_names = set(names.values())
            n_rows = self._compare_table(
                cur, shadow, "tickets", TICKET_COLUMNS, add, sampled=sampled,
                keep=lambda row: str(row[2]) in names or str(row[1]) in drawn_names,
                name=lambda row: (str(row[1]), 0))
            del n_rows
            rows = self._compare_table(
                cur, shadow, "event_log", EVENT_LOG_COLUMNS, add, sampled=sampled,
                keep=lambda row: str(row[1]) in drawn_names,
                name=lambda row: (str(row[1]), int(row[2])))
            self._compare_phases(cur, shadow, add)
            chunks = self._compare_chunks(cur, shadow, add, sampled=sampled)
        check = ReadModelCheck(
            mode="sample" if sampled else "full", position=self.position, lag=self.lag, tickets=len(names),
            rows=rows, chunks=chunks, sample_rate=self.sample_rate, differences=len(out) + more,
            seconds=self._spent + time.perf_counter() - started)
        return out, more, check

    def _compare_table(self, cur: Cursor, shadow: Cursor, table: str, columns: Sequence[str], add: Any, *,
                       sampled: bool, keep: Any, name: Any) -> int:
        """Merge-join both copies of ``table`` on notification_id; returns rows compared."""
        cols = ", ".join(columns)
        expected = _pages(shadow, f"SELECT {cols} FROM {table}", self.position)
        actual = _pages(cur, f"SELECT {cols} FROM {table}", None)
        e = next(expected, None)
        a = next(actual, None)
        compared = 0
        while e is not None or a is not None:
            if a is not None and sampled and (e is None or a[0] != e[0]) and not keep(a):
                a = next(actual, None)  # a row of a ticket not drawn
                continue
            if e is not None and (a is None or e[0] < a[0]):
                ticket, version = name(e)
                add(Difference(int(e[0]), ticket, version,
                               f"{table} lacks the row the events give for log position {e[0]} (ticket {ticket} "
                               f"version {version}); {REBUILD_HINT}"))
                compared += 1
                e = next(expected, None)
            elif e is None or (a is not None and a[0] < e[0]):
                assert a is not None
                ticket, version = name(a)
                add(Difference(int(a[0]), ticket, version,
                               f"{table} has a row for log position {a[0]} (claiming ticket {ticket} version "
                               f"{version}) that the events do not give; {REBUILD_HINT}"))
                a = next(actual, None)
            else:
                assert a is not None
                compared += 1
                if tuple(e) != tuple(a):
                    ticket, version = name(e)
                    changed = [(c, x, y) for c, x, y in zip(columns, a, e, strict=True) if x != y]
                    what = "; ".join(f"{c} is {_show(x)} in the read model but {_show(y)} per the events"
                                     for c, x, y in changed[:3])
                    add(Difference(int(e[0]), ticket, version,
                                   f"{table} at log position {e[0]} (ticket {ticket} version {version}): {what}; "
                                   f"{REBUILD_HINT}"))
                e = next(expected, None)
                a = next(actual, None)
        return compared

    def _compare_phases(self, cur: Cursor, shadow: Cursor, add: Any) -> None:
        cols = ", ".join(PHASE_COLUMNS)
        expected = {r[0]: r for r in shadow.execute(f"SELECT {cols} FROM phases").fetchall()}
        actual = {r[0]: r for r in cur.execute(f"SELECT {cols} FROM phases").fetchall()}
        for key in sorted(set(expected) | set(actual), key=str):
            e, a = expected.get(key), actual.get(key)
            if e == a:
                continue
            position = int((e or a)[5])  # type: ignore[index]
            what = ("is missing" if a is None else "was not defined by the events" if e is None
                    else "differs from what the events define")
            add(Difference(position, "phase plan", None, f"phases: phase {key!r} {what}; {REBUILD_HINT}"))

    def _compare_chunks(self, cur: Cursor, shadow: Cursor, add: Any, *, sampled: bool) -> int:
        """Each stored columnar chunk must equal the event_log rows (per the events) it covers."""
        rows = cur.execute(f"SELECT first_nid, last_nid, rows, arrow FROM {COLUMNS_TABLE} ORDER BY first_nid").fetchall()
        if not rows:
            return 0
        import pyarrow as pa

        schema = pa.schema([(c, pa.int64() if c in _INT_COLUMNS else pa.string()) for c in EVENT_LOG_COLUMNS])
        compared = 0
        for first, last, count, blob in rows:
            first, last = int(first), int(last)
            if last > self.position:
                add(Difference(first, None, None,
                               f"{COLUMNS_TABLE}: a chunk covers log positions {first}-{last}, beyond the read "
                               f"model's position {self.position}; {REBUILD_HINT}"))
                continue
            try:
                table = pa.ipc.open_stream(pa.py_buffer(bytes(blob))).read_all()
            except Exception as exc:
                add(Difference(first, None, None, f"{COLUMNS_TABLE}: the chunk for log positions {first}-{last} "
                                                  f"cannot be read ({exc}); {REBUILD_HINT}"))
                continue
            expected_rows = shadow.execute(
                f"SELECT {', '.join(EVENT_LOG_COLUMNS)} FROM event_log WHERE notification_id BETWEEN ? AND ? "
                "ORDER BY notification_id", (first, last)).fetchall()
            if sampled:
                # Only the drawn tickets' rows are known: compare those.
                known = {int(r[0]) for r in expected_rows}
                ids = table.column("notification_id").to_pylist() if "notification_id" in table.column_names else []
                mask = pa.array([i in known for i in ids], type=pa.bool_())
                table = table.filter(mask) if len(ids) == table.num_rows else table
            cols = list(zip(*expected_rows, strict=True)) if expected_rows else [()] * len(EVENT_LOG_COLUMNS)
            want = pa.Table.from_arrays([pa.array(c, type=f.type) for c, f in zip(cols, schema, strict=True)],
                                        schema=schema)
            compared += 1
            same = table.schema.equals(schema) and table.num_rows == want.num_rows and table.equals(want)
            if not same or (not sampled and int(count) != len(expected_rows)):
                where = _first_chunk_difference(table, want)
                add(Difference(where if where is not None else first, None, None,
                               f"{COLUMNS_TABLE}: the chunk for log positions {first}-{last} (what the analytics "
                               f"read) differs from the rows the events give"
                               + (f", first at log position {where}" if where is not None else "")
                               + f"; {REBUILD_HINT}"))
        return compared


def _first_chunk_difference(table: Any, want: Any) -> int | None:
    try:
        got = table.to_pylist()
        expected = want.to_pylist()
    except Exception:
        return None
    for g, w in zip(got, expected, strict=False):
        if g != w:
            return int(w.get("notification_id") or g.get("notification_id") or 0) or None
    if len(got) != len(expected):
        longer = got if len(got) > len(expected) else expected
        return int(longer[min(len(got), len(expected))].get("notification_id") or 0) or None
    return None


def _pages(cur: Cursor, select: str, upto: int | None) -> Iterator[tuple[Any, ...]]:
    """Rows of ``select`` (whose first column is notification_id) in log order, page by page."""
    last = -(2**62)
    bound = "" if upto is None else f" AND notification_id <= {int(upto)}"
    sql = f"{select} WHERE notification_id > ?{bound} ORDER BY notification_id LIMIT {_PAGE}"
    while True:
        rows = cur.execute(sql, (last,)).fetchall()
        if not rows:
            return
        yield from rows
        last = rows[-1][0]


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


__all__ = ["MAX_DIFFERENCES", "REBUILD_HINT", "Difference", "ReadModelCheck", "ShadowProjection"]
