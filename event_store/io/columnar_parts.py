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
* notes the zone its times came back in, sends the file to the object reader for
  times only that reader writes (years outside 1000-9999, offsets with seconds), and
  notes each kept column's longest value;
* sends each row to one of P partitions by a hash of its ticket id (every row of a
  ticket in the same partition), as Arrow IPC files in a temporary folder: the kept
  columns, the parsed times and the row's number in the file.

Before the blocks, one pass over the file's bytes finds the line each row starts on
(:func:`~event_store.io.csv_lines.scan_lines`): errors name it, and so do the source
references, looked up from the row's number when its partition is built.

As a whole column's reading would, times whose blocks came back in different zones
(offsets that change with daylight saving, naive times beside times with an offset)
are all stored in UTC; and when the longest values could break a field limit, every
partition is checked before the first batch, so a refusal comes before anything is
written.

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

from event_store.io.columnar import (
    ColumnarLog, HistoriesView, build_log, csv_options, lifecycle_values, role_columns, time_columns,
)
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


class PartitionedLog(HistoriesView):
    """A CSV event log in ticket partitions on disk; a :class:`ColumnarLog` is built one partition at a time.

    Attributes:
        name: the file's name. rows / n_events: event rows in the file (every row is a step).
    """

    def __init__(self, name: str, folder: str, parts: list[str], mapping: Any, mode: str, spill: _Spill) -> None:
        self.name = name
        self.rows = spill.rows
        self.n_events = spill.rows
        self._folder = folder
        self._parts = parts
        self._mapping = mapping
        self._mode = mode
        #: Times whose blocks came back in different zones (or any mixed): the whole column's
        #: reading then gives UTC for every value, as :func:`parse_times` does on a whole file.
        self._utc_only = {k for k, zones in spill.zones.items() if len(zones) > 1}
        self._max_len = spill.max_len
        self._header = spill.header
        self._lines = spill.lines
        self._n_tickets: int | None = None
        self._histories: list[Any] | None = None
        self._consumed = False
        self._cleanup = weakref.finalize(self, shutil.rmtree, folder, True)

    @property
    def n_tickets(self) -> int:
        """Distinct tickets (counted from the partitions' ticket columns, once)."""
        if self._n_tickets is None:
            import pyarrow.compute as pc

            self._n_tickets = sum(pc.count_distinct(self._read(p).column(self._mapping.case)).as_py()
                                  for p in self._parts if os.path.exists(p))
        return self._n_tickets

    @property
    def histories(self) -> list[Any]:
        """Every ticket as :class:`~event_store.records.TicketHistory` (the whole log in memory, on demand)."""
        if self._histories is None:
            if self._consumed:
                raise RuntimeError(f"{self.name}: the partitions were imported and deleted; read the file again")
            self._histories = [h for log in self._logs(keep=True) for h in log.histories]
        return self._histories

    def column_batches(self, batch_size: int, limits: Any) -> Iterator[Any]:
        """Batches of ``batch_size`` tickets, partition by partition (each deleted once read).

        The field limits are checked before the first batch, as for a whole read: when
        the longest values seen while spilling could break one, every partition is
        checked first (the refusal then names its ticket before anything is written).
        """
        from event_store.io.columnar import _check_limits

        if self._may_exceed(limits):
            for log in self._logs(keep=True):
                _check_limits(log, limits)
                del log
        counted = 0
        try:
            for log in self._logs(keep=False):
                counted += log.n_tickets
                yield from log.column_batches(batch_size, limits)
                del log  # not held while the next partition is built
            self._n_tickets = counted
        finally:
            self._consumed = True
            self.close()

    def _may_exceed(self, limits: Any) -> bool:
        """Whether a field limit could be broken (from each column's longest value while spilling)."""
        m = self._mapping
        fchars, vchars = limits.max_field_bytes // 4, limits.max_value_bytes // 4
        if any(len(c) > fchars for c in self._header):
            return True
        for col, longest in self._max_len.items():
            if longest > (fchars if col in (m.case, m.activity, m.resource, m.team) else vchars):
                return True
        case_cols, _, _ = role_columns(self._header, m)
        bound = sum(self._max_len.get(c, 0) + len(a) + 8 for a, c in case_cols.items())
        return bound + self._max_len.get(m.team, 0) + 16 > vchars  # the case JSON's longest possible text

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
        lines = self._lines.at(table.column(_ROW).to_numpy())
        times = {k[len(_TIME_PREFIX):]: table.column(k).to_numpy()
                 for k in table.column_names if k.startswith(_TIME_PREFIX)}
        times.setdefault("occurred_missing", None)
        for k in self._utc_only:
            times[f"{k}_local"] = times[f"{k}_utc"]
        data = table.select([c for c in table.column_names if not c.startswith("\x00")])
        del table
        return build_log(data, times, lines, self.name, self._mapping, self._mode)

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

    sweep_partition_folders()
    folder = tempfile.mkdtemp(prefix=f"{_FOLDER_PREFIX}{os.getpid()}-")
    try:
        spill = _Spill(path, name, mapping, folder, parts)
        spill.run()
        mode = lifecycle_mode(lifecycle, spill.lc_values)
        if spill.rows == 0 or mode == "start-complete":
            raise Unsupported
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    finally:
        pa.default_memory_pool().release_unused()
    return PartitionedLog(name, folder, [_part_path(folder, p) for p in range(parts)], mapping, mode, spill)


_FOLDER_PREFIX = "csmine-import-"


def sweep_partition_folders(root: str | None = None) -> list[str]:
    """Delete the partition folders of imports that are no longer running (killed ones
    leave theirs behind): ``csmine-import-<pid>-*`` folders of this user in the temporary
    folder (``root``) whose process is gone. Returns the folders deleted."""
    import re

    root = root or tempfile.gettempdir()
    gone = []
    try:
        entries = list(os.scandir(root))
    except OSError:
        return gone
    for entry in entries:
        m = re.fullmatch(rf"{_FOLDER_PREFIX}(\d+)-\w+", entry.name)
        if m is None or not entry.is_dir(follow_symlinks=False):
            continue
        try:
            if entry.stat(follow_symlinks=False).st_uid != os.getuid():
                continue
            os.kill(int(m.group(1)), 0)  # the import that made it still runs: leave it
            continue
        except ProcessLookupError:
            shutil.rmtree(entry.path, ignore_errors=True)
            gone.append(entry.path)
        except (OSError, OverflowError):  # not ours to judge (no permission to signal, ...)
            continue
    return gone


def _part_path(folder: str, p: int) -> str:
    return os.path.join(folder, f"part-{p:05d}.arrow")


class _Spill:
    """One pass over the file's blocks into the partitions, with what the partitioned log needs to know.

    Attributes:
        rows: rows read. lc_values: the lifecycle column's values. header: the columns.
        lines: the line each row starts on (:func:`~event_store.io.csv_lines.scan_lines`, before the blocks).
        zones: per time (``occurred``, ``started``) the zones its blocks came back in
            (blocks without a value do not count). max_len: each kept column's longest value.
    """

    def __init__(self, path: str, name: str, mapping: Any, folder: str, parts: int) -> None:
        self.path, self.name, self.mapping, self.folder, self.parts = path, name, mapping, folder, parts
        self.rows = 0
        self.lc_values: set[str] = set()
        self.zones: dict[str, set[str]] = {"occurred": set(), "started": set()}
        self.max_len: dict[str, int] = {}
        self.header: list[str] = []
        self.lines: Any = None

    def run(self) -> None:
        import pyarrow as pa
        import pyarrow.csv as pacsv

        from event_store.io.columnar import _check_columns
        from event_store.io.csv_lines import scan_lines

        header, sep, parse, convert = csv_options(self.path, self.name, self.mapping)
        self.header = header
        self.lines = scan_lines(self.path, sep)
        try:
            reader = pacsv.open_csv(self.path, read_options=pacsv.ReadOptions(column_names=header, skip_rows=1,
                                                                              block_size=BLOCK_BYTES),
                                    parse_options=parse, convert_options=convert)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError, UnicodeDecodeError):
            raise Unsupported from None
        _, _, keep = role_columns(header, self.mapping)
        writers: list[Any] = [None] * self.parts
        schema = None
        try:
            while (table := _next_block(reader)) is not None:
                if table.column_names != header:
                    raise Unsupported
                if not table.num_rows:
                    continue
                _check_columns(table, self.mapping)
                self.lc_values |= lifecycle_values(table, self.mapping)
                out = self._block_columns(table, keep)
                schema = out.schema
                _write_parts(out, table.column(self.mapping.case), writers, self.folder, self.parts)
                self.rows += table.num_rows
        finally:
            _close_all([*writers, reader])
        self.lines = self.lines.checked(self.rows)
        for p in range(self.parts):  # a partition no ticket hashed to: an empty file of the same columns
            if writers[p] is None:
                pa.ipc.new_file(_part_path(self.folder, p), schema if schema is not None else pa.schema([])).close()

    def _block_columns(self, table: Any, keep: list[str]) -> Any:
        """A block's kept columns, its parsed times and each row's number in the file (zones and range noted)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        from event_store.io.columnar import _read_times
        from event_store.io.columnar_build import check_iso_range

        ts, start = _read_times(table, self.mapping, self.name, self.lines.after(self.rows))
        for key, series in (("occurred", ts), ("started", start)):
            if series is not None and series.notna().any():
                self.zones[key].add(str(series.dt.tz))
        times = time_columns(ts, start)
        del ts, start
        for key in ("occurred", "started"):
            if f"{key}_utc" in times:  # as written in the block's zone, and in UTC should the zones differ
                utc, missing = times[f"{key}_utc"], times[f"{key}_missing"]
                check_iso_range(utc, times[f"{key}_local"], missing)
                check_iso_range(utc, utc, missing)
        cols = {c: table.column(c) for c in keep}
        for c, col in cols.items():
            longest = pc.max(pc.utf8_length(col)).as_py()
            if longest is not None and longest > self.max_len.get(c, -1):
                self.max_len[c] = longest
        row0 = self.rows
        cols[_ROW] = pa.array(np.arange(row0, row0 + table.num_rows, dtype=np.int64))
        for k, v in times.items():
            if v is not None:
                cols[_TIME_PREFIX + k] = pa.array(v)
        return pa.table(cols)


def _next_block(reader: Any) -> Any:
    """The reader's next block as a table (None at the end; :class:`Unsupported` for what pyarrow refuses)."""
    import pyarrow as pa

    try:
        batch = reader.read_next_batch()
    except StopIteration:
        return None
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError, UnicodeDecodeError):
        raise Unsupported from None
    return pa.Table.from_batches([batch])


def _close_all(things: list[Any]) -> None:
    """Close each (IPC writers, the CSV reader); the first failure is raised after all were tried."""
    first: BaseException | None = None
    for thing in things:
        if thing is None or not hasattr(thing, "close"):
            continue
        try:
            thing.close()
        except Exception as exc:  # each must be tried
            first = first or exc
    if first is not None:
        raise first


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
