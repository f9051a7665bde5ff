"""The read model's columnar copy: ``event_log`` as Arrow IPC chunks kept in the store.

:func:`read_columnar` returns the whole ``event_log`` as one Arrow table (columns
:data:`~event_store.readmodel.projection.EVENT_LOG_COLUMNS`, times as integer
microseconds, text as strings) from ``event_log_columns``: lz4-compressed chunks of
:data:`CHUNK` rows in notification order. Chunks missing (a new store, invalidated by a
correction or retraction, emptied by a rebuild) are rebuilt from ``event_log`` rows
and written in a short transaction; rows newer than the last full chunk are read with
SQL, and once they are :data:`TAIL_MIN` or more they are kept as a last, partial chunk
(replaced by full chunks as the log grows), so a store whose size is not a multiple of
:data:`CHUNK` is not read row by row on every load. A million events load in about a second.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from event_store.readmodel.projection import COLUMNS_TABLE, EVENT_LOG_COLUMNS, NAME, ensure_columns_table, lock_projection

if TYPE_CHECKING:
    from event_store.application import TicketStore

CHUNK = 16_384
"""Rows per persisted Arrow chunk of ``event_log``."""

TAIL_MIN = 2_048
"""Rows after the last full chunk from which they are kept as a partial chunk (fewer are read with SQL)."""

INT_COLUMNS = frozenset({
    "notification_id", "version", "occurred_at", "started_at", "recorded_at", "retracted", "corrected", "opened_at",
})
"""The integer columns of the columnar copy (the rest are strings)."""

_CHUNK_SELECT = f"SELECT {', '.join(EVENT_LOG_COLUMNS)} FROM event_log"
_COMPRESSION: str | None = "lz4"  # a third of the bytes: SQLite reads blob pages one by one, lz4 is faster


def arrow_schema() -> Any:
    """The Arrow schema of the columnar copy."""
    import pyarrow as pa

    return pa.schema([(c, pa.int64() if c in INT_COLUMNS else pa.string()) for c in EVENT_LOG_COLUMNS])


def rows_to_arrow(rows: Sequence[Sequence[Any]]) -> Any:
    """``event_log`` rows (in :data:`EVENT_LOG_COLUMNS` order) as an Arrow table."""
    import pyarrow as pa

    schema = arrow_schema()
    cols = list(zip(*rows, strict=True)) if rows else [()] * len(EVENT_LOG_COLUMNS)
    return pa.Table.from_arrays([pa.array(c, type=f.type) for c, f in zip(cols, schema, strict=True)], schema=schema)


def extend_chunks(cur: Any, first: int, new: Any) -> None:
    """Persist the full chunks that new ``event_log`` rows complete (a bulk import batch).

    ``new`` holds the rows just written, from log position ``first`` on, as an Arrow
    table of :func:`arrow_schema`. The chunks are cut exactly as :func:`read_columnar`
    cuts the rows after the last chunk (full :data:`CHUNK` pieces, the remainder left
    in the tail), so the first report after an import reads chunks instead of rows.
    Nothing is done when the copy is not kept up to date (more than a chunk of older
    rows without one).
    """
    import pyarrow as pa

    row = cur.execute(f"SELECT first_nid, last_nid, rows FROM {COLUMNS_TABLE} ORDER BY last_nid DESC LIMIT 1").fetchone()
    covered = int(row[1]) if row else 0
    partial = row is not None and int(row[2]) < CHUNK
    if partial:  # a partial last chunk is cut again with the new rows
        covered = int(row[0]) - 1
    row = cur.execute("SELECT COUNT(*) FROM event_log WHERE notification_id > ? AND notification_id < ?",
                      (covered, first)).fetchone()
    older = int(row[0]) if row else 0
    if older + new.num_rows < CHUNK or older >= CHUNK:
        return
    if partial:
        cur.execute(f"DELETE FROM {COLUMNS_TABLE} WHERE first_nid = ?", (covered + 1,))
    if older:
        new = pa.concat_tables([rows_to_arrow(_gap_rows(cur, covered + 1, first - 1)), new])
    nids = new.column("notification_id")
    start = covered + 1
    pieces = []
    for offset in range(0, new.num_rows - CHUNK + 1, CHUNK):
        end = nids[offset + CHUNK - 1].as_py()
        pieces.append((start, start, end, CHUNK, _to_ipc(new.slice(offset, CHUNK))))
        start = end + 1
    cur.executemany(f"INSERT INTO {COLUMNS_TABLE} (chunk, first_nid, last_nid, rows, arrow) VALUES (?, ?, ?, ?, ?)",
                    pieces)


def _to_ipc(table: Any) -> bytes:
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema, options=pa.ipc.IpcWriteOptions(compression=_COMPRESSION)) as w:
        w.write_table(table)
    return sink.getvalue().to_pybytes()


def _from_ipc(blob: bytes) -> Any:
    import pyarrow as pa

    return pa.ipc.open_stream(pa.py_buffer(blob)).read_all()


def read_columnar(store: TicketStore) -> Any:
    """The whole ``event_log`` as one Arrow table, from stored chunks plus SQL for the rest.

    Reads in one snapshot; chunks found missing are built from the rows read and
    written afterwards in a short write transaction, unless the read model moved on
    meanwhile (then they are left for the next load) or the store is read-only. A
    partial last chunk is cut again, with the rows after it, when there are any.
    """
    import pyarrow as pa

    db = store.db
    ensure_columns_table(db)
    tables: list[tuple[int, Any]] = []
    new_chunks: list[tuple[int, int, int, bytes]] = []
    with db.transaction() as cur:
        if cur.postgres:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        row = cur.execute("SELECT position FROM projection_state WHERE name = ?", (NAME,)).fetchone()
        position = int(row[0]) if row else 0
        chunks = cur.execute(
            f"SELECT first_nid, last_nid, rows, arrow FROM {COLUMNS_TABLE} ORDER BY first_nid"
        ).fetchall()
        covered = 0  # highest notification id covered so far
        gaps: list[tuple[int, int | None]] = []  # (first id, last id or None for the tail)
        for first, last, _, blob in chunks:
            if first > covered + 1:
                gaps.append((covered + 1, first - 1))
            tables.append((first, _from_ipc(bytes(blob))))
            covered = max(covered, last)
        gaps.append((covered + 1, None))
        for lo, hi in gaps:
            rows = _gap_rows(cur, lo, hi)
            if not rows:
                continue
            part = rows_to_arrow(rows)
            if hi is None and chunks and int(chunks[-1][2]) < CHUNK and int(chunks[-1][1]) == covered:
                lo, head = tables.pop()  # the partial last chunk and the new rows are cut again
                part = pa.concat_tables([head, part])
            tables.append((lo, part))
            new_chunks.extend(_pieces(part, lo, hi))
    if new_chunks:
        _write_chunks(store, position, new_chunks)
    tables.sort(key=lambda t: t[0])
    if not tables:
        return arrow_schema().empty_table()
    return pa.concat_tables([t for _, t in tables])


def _gap_rows(cur: Any, lo: int, hi: int | None) -> list[tuple[Any, ...]]:
    if hi is None:
        return cur.execute(f"{_CHUNK_SELECT} WHERE notification_id >= ? ORDER BY notification_id", (lo,)).fetchall()
    return cur.execute(
        f"{_CHUNK_SELECT} WHERE notification_id >= ? AND notification_id <= ? ORDER BY notification_id", (lo, hi),
    ).fetchall()


def _pieces(part: Any, lo: int, hi: int | None) -> list[tuple[int, int, int, bytes]]:
    """Chunks of :data:`CHUNK` rows to persist; a middle gap is persisted whole, the tail's remainder
    only when it holds :data:`TAIL_MIN` rows or more (a partial chunk)."""
    out = []
    start = lo
    nids = part.column("notification_id")
    total = part.num_rows
    for offset in range(0, total, CHUNK):
        n = min(CHUNK, total - offset)
        if hi is None and n < CHUNK and n < TAIL_MIN:
            break
        end = hi if (hi is not None and offset + CHUNK >= total) else int(nids[offset + n - 1].as_py())
        out.append((start, end, n, _to_ipc(part.slice(offset, n))))
        start = end + 1
    return out


def _write_chunks(store: TicketStore, position: int, chunks: Sequence[tuple[int, int, int, bytes]]) -> None:
    if store.location.read_only:
        return  # a read-only store is read as it is; the chunks are built by a writer
    with store.db.transaction(write=True) as cur:
        lock_projection(cur)
        row = cur.execute("SELECT position FROM projection_state WHERE name = ?", (NAME,)).fetchone()
        if (int(row[0]) if row else 0) != position:
            return  # the read model changed since the rows were read: build on the next load
        for first, last, _, _ in chunks:
            cur.execute(f"DELETE FROM {COLUMNS_TABLE} WHERE first_nid <= ? AND last_nid >= ?", (last, first))
        cur.executemany(
            f"INSERT INTO {COLUMNS_TABLE} (chunk, first_nid, last_nid, rows, arrow) VALUES (?, ?, ?, ?, ?)",
            [(first, first, last, n, blob) for first, last, n, blob in chunks],
        )


__all__ = ["CHUNK", "INT_COLUMNS", "TAIL_MIN", "arrow_schema", "read_columnar", "rows_to_arrow"]
