"""The line of the file each CSV row starts on, for messages and source references.

Readers count rows; a person looking at the file counts lines. Blank lines (both CSV
readers skip them), values in double quotes that hold line breaks, and a header that is
not on line 1 make the two differ, so "row + 2" named the wrong line in errors and in
the ``source_ref`` written into the history. :func:`scan_lines` finds each row's first
line from the file's bytes in one vectorised pass (numpy, 8 MB at a time, whatever the
file's size), and :class:`RowLines` keeps the result as the few rows from which the
difference grows, so a row's line costs a ``searchsorted``.

The bytes are read as pyarrow and pandas read them: a line ends at ``\\n``, ``\\r\\n``
or a lone ``\\r``; a double quote opens a quoted value only at the start of a field
(after the delimiter or a line end), inside it ``""`` is a quote and any other quote
closes it, and a quote inside an unquoted value is text (``5" screen``). So only runs of
an odd number of quotes change the state: one at the start of a field flips it (opens
outside, closes inside), any other closes (or stays outside). A line break outside
quotes ends a record; a record with nothing but spaces or tabs is blank, as pandas skips
it. The first record is the header; the rows are the others.

The caller checks the scan's row count against its reader's (:meth:`RowLines.checked`);
should they differ (quoting no two readers agree on), the lines are counted as rows.
"""

from __future__ import annotations

import codecs
import gzip
from typing import Any

import numpy as np

#: Bytes read at a time (then cut after the chunk's last ``\n``).
CHUNK_BYTES = 8 << 20
_QUOTE, _LF, _CR = 34, 10, 13


class RowLines:
    """The line of the file each row starts on: ``first + row`` plus the lines added before it.

    Attributes:
        first: the line of row 0 when nothing comes between the rows (2 after a header
            line; 1 for Parquet rows, which have no lines).
        rows: the rows the scan found (None: not scanned, every row on its own line).
    """

    __slots__ = ("_add", "_from", "first", "offset", "rows")

    def __init__(self, first: int = 2, starts: Any = None, adds: Any = None, rows: int | None = None,
                 offset: int = 0) -> None:
        self.first = first
        self._from = np.zeros(0, np.int64) if starts is None else np.asarray(starts, np.int64)  # rows, ascending
        self._add = np.zeros(0, np.int64) if adds is None else np.asarray(adds, np.int64)  # lines added from there on
        self.rows = rows
        self.offset = offset

    def at(self, rows: Any) -> np.ndarray:
        """The line of each row in ``rows`` (int64 positions)."""
        rows = np.asarray(rows, dtype=np.int64) + self.offset
        out = rows + self.first
        if len(self._from):
            k = np.searchsorted(self._from, rows, side="right") - 1
            out = out + np.where(k >= 0, self._add[np.maximum(k, 0)], 0)
        return out

    def of(self, row: int) -> int:
        """The line of one row."""
        return int(self.at(np.array([row]))[0])

    def after(self, rows: int) -> RowLines:
        """The lines of the rows from ``rows`` on: row 0 of the result is row ``rows`` here."""
        return RowLines(self.first, self._from, self._add, self.rows, self.offset + rows)

    def checked(self, rows: int) -> RowLines:
        """Itself when the scan found ``rows`` rows (what the reader read), else rows counted as lines."""
        return self if self.rows is None or self.rows == rows else RowLines(self.first)


def scan_lines(path: str, sep: str, encoding: str = "utf-8") -> RowLines:
    """Each row's first line in the CSV at ``path`` (``.gz`` inflated), read with ``sep`` and ``encoding``."""
    scan = _Scan(_byte(sep, encoding))
    for segment, last in _segments(path, encoding):
        scan.feed(segment, last)
    return scan.result()


def _byte(sep: str, encoding: str) -> int:
    encoded = sep.encode(_plain(encoding), errors="replace")
    return encoded[-1] if encoded else ord(",")


def _plain(encoding: str) -> str:
    """The codec the bytes are scanned in: the file's when it writes ASCII as ASCII, else UTF-8."""
    return encoding if _ascii_compatible(encoding) else "utf-8"


def _ascii_compatible(encoding: str) -> bool:
    probe = "\n\r\",;|\t "
    try:
        name = codecs.lookup(encoding).name
        return name == "utf-8-sig" or probe.encode(name) == probe.encode("ascii")
    except (LookupError, UnicodeError):
        return False


def _segments(path: str, encoding: str) -> Any:
    """The file's bytes in pieces that end just after a line break (the last: at the end of the file)."""
    opener = gzip.open if path.lower().endswith(".gz") else open
    with opener(path, "rb") as fh:
        if not _ascii_compatible(encoding):  # UTF-16 and the like: scanned as UTF-8 (small files only)
            yield fh.read().decode(encoding, errors="replace").encode("utf-8"), True
            return
        carry = b""
        while chunk := fh.read(CHUNK_BYTES):
            data = carry + chunk
            cut = data.rfind(b"\n") + 1 or data.rfind(b"\r", 0, len(data) - 1) + 1  # (a file of CR line ends)
            if cut:
                yield data[:cut], False
            carry = data[cut:]
        yield carry, True


class _Scan:
    """The state carried from one segment to the next, and the rows' lines found so far."""

    def __init__(self, sep: int) -> None:
        self.sep = sep
        self.first_segment = True
        self.inside = False  # inside a quoted value at the segment's start
        self.breaks = 0  # line breaks before the segment
        self.begin: int | None = 0  # where the open record begins in the next segment (None: before it)
        self.begin_line = 1  # the line it begins on
        self.records = 0  # records with content so far (the header included)
        self.add = 0  # the lines added before the latest row
        self.starts: list[np.ndarray] = []  # the rows from which the lines added grow, and to what
        self.adds: list[np.ndarray] = []

    def feed(self, seg: bytes, last: bool) -> None:
        """One segment: the lines of the records it ends (the one it leaves open carried on)."""
        a = np.frombuffer(seg, dtype=np.uint8)
        bom = 3 if self.first_segment and seg.startswith(codecs.BOM_UTF8) else 0
        self.first_segment = False
        ends, stops = _breaks(a)
        out = np.flatnonzero(~self._inside_at(a, ends, bom))  # the breaks that end a record
        begins = np.empty(len(out) + 1, dtype=np.int64)  # each record's first byte (-1: in an earlier segment)
        lines = np.empty(len(out) + 1, dtype=np.int64)
        begins[0] = -1 if self.begin is None else self.begin
        lines[0] = self.begin_line
        begins[1:] = ends[out] + 1
        lines[1:] = self.breaks + out + 2
        self.breaks += len(ends)
        filled = _filled(a, begins[:-1], stops[out], self.sep, bom)
        self._found(lines[:-1][filled])
        tail, self.begin_line = int(begins[-1]), int(lines[-1])  # the record still open
        if last:
            if tail < 0 or (tail < len(a) and _filled(a, begins[-1:], np.array([len(a)]), self.sep, bom)[0]):
                self._found(lines[-1:])
        else:  # a new record at the next segment's start, or this one going on there (it holds a quote)
            self.begin = 0 if tail == len(a) else None

    def _inside_at(self, a: np.ndarray, ends: np.ndarray, bom: int) -> np.ndarray:
        """Whether each line break is inside a quoted value (the state at the segment's end kept)."""
        q = np.flatnonzero(a == _QUOTE)
        if not len(q):
            return np.full(len(ends), self.inside)
        new = np.r_[True, np.diff(q) != 1]
        run_at = q[new]
        odd = np.diff(np.r_[np.flatnonzero(new), len(q)]) % 2 == 1
        at = run_at[odd]
        if not len(at):  # only "" pairs: nothing opens or closes
            return np.full(len(ends), self.inside)
        prev = np.where(at > 0, a[np.maximum(at - 1, 0)], _LF)  # a segment starts after a line end
        prev[at == bom] = _LF  # (or at the file's start, after its byte-order mark)
        flip = (prev == self.sep) | (prev == _LF) | (prev == _CR)  # at a field's start: opens or closes
        k = np.arange(len(at))
        closed = np.maximum.accumulate(np.where(flip, -1, k))  # the latest run that closes (or stays out)
        flips = np.cumsum(flip)
        since = flips - np.where(closed >= 0, flips[np.maximum(closed, 0)], 0)
        state = (np.where(closed >= 0, 0, int(self.inside)) + since) % 2 == 1  # inside after each run
        j = np.searchsorted(at, ends) - 1
        inside = np.where(j >= 0, state[np.maximum(j, 0)], self.inside)
        self.inside = bool(state[-1])
        return np.asarray(inside, dtype=bool)

    def _found(self, lines: np.ndarray) -> None:
        """Records with content that start on ``lines``: the first is the header, the others rows."""
        if not len(lines):
            return
        if self.records == 0:  # the header
            self.records = 1
            lines = lines[1:]
        row0 = self.records - 1
        add = lines - (2 + row0 + np.arange(len(lines)))
        moved = np.flatnonzero(add != np.r_[self.add, add[:-1]])
        self.starts.append(row0 + moved)
        self.adds.append(add[moved])
        if len(add):
            self.add = int(add[-1])
        self.records += len(lines)

    def result(self) -> RowLines:
        return RowLines(2, np.concatenate([np.zeros(0, np.int64), *self.starts]),
                        np.concatenate([np.zeros(0, np.int64), *self.adds]), max(self.records - 1, 0))


def _breaks(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each line break's last byte, and where the line's content ends (before a ``\\r\\n``'s ``\\r``)."""
    ends = np.flatnonzero(a == _LF)
    cr = np.flatnonzero(a == _CR)
    if not len(cr):
        return ends, ends
    after = np.minimum(cr + 1, len(a) - 1)
    lone = cr[(cr + 1 >= len(a)) | (a[after] != _LF)]
    if len(lone):
        ends = np.sort(np.concatenate([ends, lone]))
    crlf = (a[ends] == _LF) & (ends > 0) & (a[np.maximum(ends - 1, 0)] == _CR)
    return ends, ends - crlf


def _filled(a: np.ndarray, begins: np.ndarray, stops: np.ndarray, sep: int, bom: int) -> np.ndarray:
    """Which records ``[begin, stop)`` have content: not empty, not only spaces and tabs (-1: begun before)."""
    begins = np.where(begins == 0, bom, begins) if bom else begins
    filled = (begins < 0) | (begins < stops)
    at = np.flatnonzero(filled & (begins >= 0))
    if not len(at):
        return filled
    blanks = [b for b in (32, 9) if b != sep]
    first = a[np.minimum(begins[at], len(a) - 1)]
    maybe = at[np.isin(first, blanks)]
    if len(maybe):  # rare: count the other bytes of those records
        other = np.r_[0, np.cumsum(~np.isin(a, blanks), dtype=np.int64 if len(a) >> 31 else np.int32)]
        filled[maybe] = other[stops[maybe]] - other[begins[maybe]] > 0
    return filled


__all__ = ["CHUNK_BYTES", "RowLines", "scan_lines"]
