"""A large CSV read in ticket partitions: the import's memory bounded whatever the file's size.

:func:`event_store.io.columnar.read_csv_columns` holds a whole file's columns (about
285 MB per million events, more while they are sorted), so memory grew with the
file. For a file of more than about :data:`PARTITION_ROWS` x 1.6 rows,
:func:`read_partitioned` reads it instead as a **stream of blocks** (pyarrow's CSV
reader, the same header, dialect and column types), and for each block:

* checks what the columnar reader checks (mapped columns, no NUL byte, no empty
  ticket id or activity: else None, and the object reader reads the file with its
  exact messages) and parses the business times and work starts (the same
  :func:`~event_store.io.read_base.parse_times`, so a bad time is refused before
  anything is written, naming its line in the file);
* sends each row to one of P partitions by a hash of its ticket id (every row of a
  ticket in the same partition), as Arrow IPC files in a temporary folder: the kept
  columns, the parsed times and the row's line in the file.

:class:`PartitionedLog` then builds one partition at a time into a
:class:`~event_store.io.columnar.ColumnarLog` (rows in file order inside a partition,
so ties in time keep file order, and the source references are the file's lines) and
yields its batches; a partition's file is deleted once read, the folder when the log
is done with or collected. The histories are those of the whole-file read; only the
order of the tickets differs (partition by partition, each in order of first
appearance), which no analysis depends on (they order tickets by id).
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import weakref
from collections.abc import Iterator
from typing import Any

import numpy as np

from event_store.io.columnar import ColumnarLog, build_log, csv_options, lifecycle_values, role_columns, time_columns
from event_store.io.columnar_build import Unsupported

#: Rows a partition aims at (about 35 MB of read columns, 80 MB more while one is built; at 250,000
#: the builds took a 10M import to 520 MB).
PARTITION_ROWS = 150_000
#: Bytes of text a block of the streamed read holds (2 MB: about 9,000 rows of a typical export;
#: 16 MB blocks took the read to 478 MB at 1M events, 4 MB to 349 MB, 2 MB to 269 MB, at the same speed).
BLOCK_BYTES = 2 << 20
_TIME_PREFIX = "\x00t:"
_ROW = "\x00row"


def partition_rows() -> int:
    """:data:`PARTITION_ROWS`, or ``CSMINE_IMPORT_PARTITION_ROWS`` when set (tests make small partitions)."""
    value = os.environ.get("CSMINE_IMPORT_PARTITION_ROWS")
    return int(value) if value and value.isdigit() and int(value) > 0 else PARTITION_ROWS


def partitions_for(path: str, head_bytes: bytes) -> int:
    """How many partitions a file needs, from its size and its first lines' length (1: read it whole)."""
    lines = head_bytes.count(b"\n")
    if lines < 2:
        return 1
    size = os.path.getsize(path) * (5 if path.lower().endswith(".gz") else 1)  # inflated, about
    rows = size / (len(head_bytes) / lines)
    per = partition_rows()
    return 1 if rows <= per * 1.6 else math.ceil(rows / per)


class PartitionedLog:
    """A CSV event log in ticket partitions on disk; a :class:`ColumnarLog` is built one partition at a time.

    Attributes:
        name: the file's name. rows / n_events: event rows in the file (every row is a step).
    """

    def __init__(self, name: str, rows: int, folder: str, parts: list[str], mapping: Any, mode: str) -> None:
        self.name = name
        self.rows = rows
        self.n_events = rows
        self._folder = folder
        self._parts = parts
        self._mapping = mapping
        self._mode = mode
        self._n_tickets: int | None = None
        self._histories: list[Any] | None = None
        self._cleanup = weakref.finalize(self, shutil.rmtree, folder, True)

    @property
    def n_tickets(self) -> int:
        """Distinct tickets (counted from the partitions' ticket columns, once)."""
        if self._n_tickets is None:
            import pyarrow.compute as pc

            self._n_tickets = sum(pc.count_distinct(self._read(p).column(self._mapping.case)).as_py()
                                  for p in self._parts if os.path.exists(p))
        return self._n_tickets

    def __len__(self) -> int:
        return self.n_tickets

    def __iter__(self) -> Iterator[Any]:
        return iter(self.histories)

    def __getitem__(self, index: Any) -> Any:
        return self.histories[index]

    @property
    def histories(self) -> list[Any]:
        """Every ticket as :class:`~event_store.records.TicketHistory` (the whole log in memory, on demand)."""
        if self._histories is None:
            self._histories = [h for log in self._logs(keep=True) for h in log.histories]
        return self._histories

    def column_batches(self, batch_size: int, limits: Any) -> Iterator[Any]:
        """Batches of ``batch_size`` tickets, partition by partition (each deleted once read)."""
        counted = 0
        for log in self._logs(keep=False):
            counted += log.n_tickets
            yield from log.column_batches(batch_size, limits)
            del log  # not held while the next partition is built
        self._n_tickets = counted
        self.close()

    def close(self) -> None:
        """Delete the partitions' folder (also done when the log is collected)."""
        self._cleanup()

    def _logs(self, *, keep: bool) -> Iterator[ColumnarLog]:
        """Each partition built, one at a time (the caller drops one before asking for the next)."""
        import pyarrow as pa

        for part in self._parts:
            log = self._build(part)
            if not keep:
                os.remove(part)
            if log is not None:
                yield log
                del log
            pa.default_memory_pool().release_unused()

    def _build(self, part: str) -> ColumnarLog | None:
        table = self._read(part)
        if not table.num_rows:
            return None
        rows = table.column(_ROW).to_numpy()
        times = {k[len(_TIME_PREFIX):]: table.column(k).to_numpy()
                 for k in table.column_names if k.startswith(_TIME_PREFIX)}
        times.setdefault("occurred_missing", None)
        data = table.select([c for c in table.column_names if not c.startswith("\x00")])
        del table
        return build_log(data, times, rows, self.name, self._mapping, self._mode)

    @staticmethod
    def _read(part: str) -> Any:
        import pyarrow as pa

        with pa.memory_map(part) as source:
            return pa.ipc.open_file(source).read_all()


def read_partitioned(path: str, name: str, lifecycle: str, mapping: Any, parts: int) -> PartitionedLog:
    """Stream ``path`` into ``parts`` ticket partitions (see the module docstring).

    Raises:
        Unsupported: something the object reader must read (the partitions are deleted).
        ImportFormatError: a time that cannot be read (named by its line in the file).
    """
    import pyarrow as pa

    from event_store.io.read_base import lifecycle_mode

    folder = tempfile.mkdtemp(prefix="csmine-import-")
    try:
        rows, lc_values = _spill(path, name, mapping, folder, parts)
        mode = lifecycle_mode(lifecycle, lc_values)
        if rows == 0 or mode == "start-complete":
            raise Unsupported
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    finally:
        pa.default_memory_pool().release_unused()
    return PartitionedLog(name, rows, folder, [_part_path(folder, p) for p in range(parts)], mapping, mode)


def _part_path(folder: str, p: int) -> str:
    return os.path.join(folder, f"part-{p:05d}.arrow")


def _spill(path: str, name: str, mapping: Any, folder: str, parts: int) -> tuple[int, set[str]]:
    """Every block of the file to its partitions; (rows, the lifecycle column's values)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from event_store.io.columnar import _check_columns

    header, _, parse, convert = csv_options(path, name, mapping)
    try:
        reader = pacsv.open_csv(path, read_options=pacsv.ReadOptions(column_names=header, skip_rows=1,
                                                                     block_size=BLOCK_BYTES),
                                parse_options=parse, convert_options=convert)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError, UnicodeDecodeError):
        raise Unsupported from None
    _, _, keep = role_columns(header, mapping)
    writers: list[Any] = [None] * parts
    row0 = 0
    lc_values: set[str] = set()
    try:
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError, UnicodeDecodeError):
                raise Unsupported from None
            table = pa.Table.from_batches([batch])
            del batch
            if table.column_names != header:
                raise Unsupported
            _check_columns(table, mapping)
            lc_values |= lifecycle_values(table, mapping)
            out = _block_columns(table, keep, mapping, name, row0)
            _write_parts(out, table.column(mapping.case), writers, folder, parts)
            row0 += table.num_rows
    finally:
        for w in writers:
            if w is not None:
                w.close()
    for p in range(parts):  # a partition no ticket hashed to: an empty file of the same columns
        if writers[p] is None:
            pa.ipc.new_file(_part_path(folder, p), out.schema if row0 else pa.schema([])).close()
    return row0, lc_values


def _block_columns(table: Any, keep: list[str], mapping: Any, name: str, row0: int) -> Any:
    """A block's kept columns, its parsed times and each row's file row."""
    import pyarrow as pa

    from event_store.io.columnar import _read_times

    ts, start = _read_times(table, mapping, name, line0=row0 + 2)
    times = time_columns(ts, start)
    del ts, start
    cols = {c: table.column(c) for c in keep}
    cols[_ROW] = pa.array(np.arange(row0, row0 + table.num_rows, dtype=np.int64))
    for k, v in times.items():
        if v is not None:
            cols[_TIME_PREFIX + k] = pa.array(v)
    return pa.table(cols)


def _write_parts(block: Any, case: Any, writers: list[Any], folder: str, parts: int) -> None:
    """Each row of ``block`` to the partition its ticket id hashes to."""
    import pandas as pd
    import pyarrow as pa

    ids = case.to_numpy(zero_copy_only=False)
    where = (pd.util.hash_array(np.asarray(ids, dtype=object)) % np.uint64(parts)).astype(np.int64)
    order = np.argsort(where, kind="stable")  # file order kept inside each partition
    bounds = np.searchsorted(where[order], np.arange(parts + 1))
    for p in range(parts):
        lo, hi = int(bounds[p]), int(bounds[p + 1])
        if lo == hi:
            continue
        piece = block.take(pa.array(order[lo:hi]))
        if writers[p] is None:
            writers[p] = pa.ipc.new_file(_part_path(folder, p), piece.schema)
        writers[p].write_table(piece)


__all__ = ["PARTITION_ROWS", "PartitionedLog", "partition_rows", "partitions_for", "read_partitioned"]
