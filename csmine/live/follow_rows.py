"""A followed batch's records through the import's readers; bad rows found by halving.

CSV: the file's header and the batch's records are written to a temporary file of the
followed file's name and read by :func:`event_store.io.vendors.read_source`. NDJSON:
each line is one JSON object (a line that is not is rejected on its own); the objects
become a table (nested values as JSON text, a column of mixed types as text), written
as Parquet and read the same way, so the column flags, time zones, renames and limits
are those of ``csmine import``. Line numbers in messages and ``source_ref`` are the
followed file's.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import re
from typing import TYPE_CHECKING, Any

from event_store.errors import ImportFormatError

from csmine.errors import FollowError
from csmine.live.follow_tail import _plain

if TYPE_CHECKING:
    from event_store.io.mapping import ImportMapping
    from event_store.records import TicketHistory

    from csmine.live.follow import Follower
    from csmine.live.follow_types import Rejected
    from csmine.live.follow_tail import _Batch

_NUMBER = re.compile(r"\b(line|row) (\d+)\b")
_BREAK = re.compile(r"\r\n|\r|\n")
#: Messages that are about the whole configuration, not a row (the fix is a flag).
_CONFIG = ("unknown time zone", "unknown encoding", "missing ticket id column", "missing activity column",
           "missing timestamp column", "missing column")


def read_batch(follower: Follower, batch: _Batch, mapping: ImportMapping) -> tuple[list[TicketHistory], list[Rejected]]:
    """The batch's ticket histories and its rejected rows."""
    if not batch.starts:
        return [], []
    reader = _Reader(follower, batch, mapping)
    rejects = reader.prepare()
    histories, more = _halve(reader, reader.good, top=True)
    return histories, rejects + more


def column_values(follower: Follower, batch: _Batch, column: str) -> set[str]:
    """The non-empty values of ``column`` in the batch (for the lifecycle mode)."""
    state = follower.state
    assert state is not None
    enc = state.encoding or "utf-8"
    values: set[str] = set()
    if follower.fmt == "csv":
        text = (state.header_bytes or b"").decode(enc, errors="replace").lstrip("\ufeff") + \
            batch.data.decode(enc, errors="replace")
        rows = csv.reader(io.StringIO(text), delimiter=state.sep or ",")
        header = next(rows, [])
        if column not in header:
            return values
        i = header.index(column)
        values.update(r[i] for r in rows if len(r) > i and r[i])
        return values
    for s, e in zip(batch.starts, batch.ends, strict=True):
        try:
            obj = json.loads(batch.data[s:e])
        except ValueError:
            continue
        if isinstance(obj, dict) and obj.get(column) not in (None, ""):
            values.add(str(obj[column]))
    return values


def unpaired_starts(follower: Follower, batch: _Batch, mapping: ImportMapping, idx: list[int]) -> list[int]:
    """Indices of the ``start`` rows that no later ``complete`` of the same ticket and activity pairs.

    The batch is read again with the lifecycle as part of the activity (``status``), and
    the import's pairing (each ``complete`` takes the earliest open ``start`` of its
    activity, in business-time order) is played on it.
    """
    plain = dataclasses.replace(mapping, lifecycle="status", rename={}, drop=(), collapse_repeats=False)
    reader = _Reader(follower, batch, plain)
    reader.prepare()
    try:
        histories = reader.read([i for i in idx if i in set(reader.good)])
    except ImportFormatError:
        return []  # the rows read the first time; pairing is a refinement
    line_of = {line: i for i, line in enumerate(batch.lines)}
    out: list[int] = []
    for h in histories:
        open_starts: dict[str, list[int]] = {}
        for step in h.steps:
            activity, sep, lc = step.activity.rpartition("/")
            if not sep or lc.lower() not in ("start", "complete"):
                continue
            line = int((step.source_ref or ":0").rsplit(":", 1)[1])
            if lc.lower() == "start":
                open_starts.setdefault(activity, []).append(line_of[line])
            elif open_starts.get(activity):
                open_starts[activity].pop(0)
        out += [i for waiting in open_starts.values() for i in waiting]
    return sorted(out)


def check_header(name: str, mapping: ImportMapping, text: str, sep: str) -> None:
    """A CSV header the mapping can read: no column twice, every column it names there."""
    from event_store.io.table_frame import check_header, header_fields

    fields = [f.lstrip("\ufeff").strip("\r\n") for f in header_fields(text, sep)]
    try:
        check_header(fields, name, "line 1")
    except ImportFormatError as exc:
        raise FollowError(str(exc)) from None
    from event_store.io.read_base import required_columns

    need = required_columns(mapping.columns)
    if mapping.order_column is not None:
        need.append(("order", mapping.order_column, "--mapping FILE ([columns] order)"))
    for role, col, flag in need:
        if col not in fields:
            shown = ", ".join(fields[:12]) + (", ..." if len(fields) > 12 else "")
            raise FollowError(f"{name}: line 1: missing {role} column {col!r} (the header's columns, "
                              f"split with {sep!r}: {shown}); name the right one with {flag} or --sep, or "
                              "give --mapping FILE")


def ndjson_shape(mapping: ImportMapping, batch: _Batch) -> str:
    """``event`` when the NDJSON looks like serve's events and no column flag was given, else ``columns``."""
    from event_store.io.read_base import ColumnMapping

    plain = dataclasses.replace(mapping.columns, tz=None, timestamp_format=None, sep=None, encoding=None)
    if plain != ColumnMapping():
        return "columns"
    for s, e in zip(batch.starts, batch.ends, strict=True):
        try:
            obj = json.loads(batch.data[s:e])
        except ValueError:
            continue
        if isinstance(obj, dict):
            return "event" if "ticket" in obj and "case:concept:name" not in obj else "columns"
    return "columns"


def without_derived_team(histories: list[TicketHistory], known: set[str],
                          mapping: ImportMapping) -> list[TicketHistory]:
    """A ticket already recorded keeps its team: a later batch's first step's team is no case change."""
    if not known or "team" in mapping.columns.case_attrs:
        return histories
    out = []
    for h in histories:
        if h.ticket in known and "team" in h.case and h.case["team"] == next((s.team for s in h.steps if s.team),
                                                                            None):
            h = dataclasses.replace(h, case={k: v for k, v in h.case.items() if k != "team"})
        out.append(h)
    return out


def _halve(reader: _Reader, idx: list[int], *, top: bool = False) -> tuple[list[TicketHistory], list[Rejected]]:
    if not idx:
        return [], []
    try:
        return reader.read(idx), []
    except ImportFormatError as exc:
        message = reader.message(str(exc), idx)
        state = reader.follower.state
        assert state is not None
        if any(p in message for p in _CONFIG) or (top and "have no time zone" in message and state.rows == 0):
            raise FollowError(message) from None
        if len(idx) == 1:
            return [], [reader.reject(idx[0], message)]
        mid = len(idx) // 2
        a, ra = _halve(reader, idx[:mid])
        b, rb = _halve(reader, idx[mid:])
        return a + b, ra + rb


class _Reader:
    def __init__(self, follower: Follower, batch: _Batch, mapping: ImportMapping) -> None:
        self.follower, self.batch, self.mapping = follower, batch, mapping
        state = follower.state
        assert state is not None
        self.state = state
        self.enc = state.encoding or "utf-8"
        self.good = list(range(len(batch.starts)))
        self.objects: dict[int, dict[str, Any]] = {}
        self.columns: list[str] = []
        self.path = os.path.join(follower._tmp.name, follower.name)

    def raw(self, i: int) -> bytes:
        return self.batch.raw(i)

    def reject(self, i: int, reason: str) -> Rejected:
        from csmine.live.follow_types import Rejected
        from csmine.live.follow_tail import _text

        line = self.batch.lines[i]
        if f"line {line}" not in reason:
            reason = reason.replace(f"{self.follower.name}: ", f"{self.follower.name}: line {line}: ", 1) \
                if reason.startswith(f"{self.follower.name}: ") else f"{self.follower.name}: line {line}: {reason}"
        return Rejected(line, self.batch.offsets[i], reason,
                        _text(self.raw(i), self.enc))

    def prepare(self) -> list[Rejected]:
        """NDJSON: parse each line; a line that is not one JSON object is rejected here."""
        if self.follower.fmt == "csv":
            return []
        rejects, good = [], []
        name = self.follower.name
        for i in self.good:
            line = self.batch.lines[i]
            try:
                obj = json.loads(self.raw(i).decode("utf-8"))
            except UnicodeDecodeError as exc:
                rejects.append(self.reject(i, f"{name}: line {line}: not UTF-8 (byte {exc.start + 1} of the line); "
                                              "NDJSON is UTF-8: fix the writer's encoding"))
                continue
            except ValueError as exc:
                rejects.append(self.reject(i, f"{name}: line {line}: not valid JSON ({exc}); each line must be "
                                              "one JSON object"))
                continue
            if not isinstance(obj, dict):
                rejects.append(self.reject(i, f"{name}: line {line}: a JSON {type(obj).__name__}, not an object; "
                                              "each line must be one JSON object"))
                continue
            self.objects[i] = obj
            good.append(i)
        self.good = good
        frame = _frame([self.objects[i] for i in good], self.state.shape == "event", None)
        self.columns = list(frame.columns)  # every half of the batch gets the batch's columns
        return rejects

    def read(self, idx: list[int]) -> list[TicketHistory]:
        from event_store.io.vendors import read_source

        if self.follower.fmt == "csv":
            body = b"".join(self.raw(i) for i in idx)
            newline = "\n".encode(_plain(self.enc))
            if not body.endswith(newline):
                body += newline
            with open(self.path, "wb") as fh:
                fh.write((self.state.header_bytes or b"") + body)
            mapping = self.mapping
        else:
            frame = _frame([self.objects[i] for i in idx], self.state.shape == "event", self.columns)
            try:
                frame.to_parquet(self.path, index=False)
            except (ValueError, TypeError, OverflowError, ArithmeticError) as exc:  # pyarrow's are ValueErrors too
                raise ImportFormatError(f"{self.follower.name}: a value cannot be read as a table cell "
                                        f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}); "
                                        "check the line's types") from None
            mapping = dataclasses.replace(self.mapping, format="parquet")
        read = read_source(self.path, mapping)
        lines = self._lines(idx)
        name = self.follower.name
        def ref(source_ref: str | None) -> str | None:  # "name:k" of the batch file -> the followed file's line
            if not source_ref:
                return source_ref
            k = int(source_ref.rsplit(':', 1)[1])
            return f"{name}:{lines.get(k, k)}"

        out = []
        for h in read.histories:
            steps = tuple(dataclasses.replace(s, source_ref=ref(s.source_ref)) for s in h.steps)
            out.append(dataclasses.replace(h, steps=steps, source_ref=steps[0].source_ref if steps else h.source_ref))
        return out

    def _lines(self, idx: list[int]) -> dict[int, int]:
        """The line (row) of the batch file each record of ``idx`` starts on -> its line in the followed file."""
        if self.follower.fmt != "csv":
            return {k + 1: self.batch.lines[i] for k, i in enumerate(idx)}
        line = 1 + _line_breaks(self.state.header_bytes or b"", self.enc)
        out = {}
        for i in idx:  # a quoted value may hold line breaks: the reader names the line a row starts on
            out[line] = self.batch.lines[i]
            line += _line_breaks(self.raw(i), self.enc)
        return out

    def message(self, text: str, idx: list[int]) -> str:
        """The reader's message with its line (row) numbers turned into the followed file's."""
        lines = self._lines(idx)

        def sub(m: re.Match[str]) -> str:
            k = int(m.group(2))
            return f"line {lines[k]}" if k in lines else m.group(0)

        return _NUMBER.sub(sub, text).replace(self.path, self.follower.path)


def _line_breaks(raw: bytes, enc: str) -> int:
    """Line breaks in ``raw`` as the CSV reader counts them (``\\r\\n``, ``\\r`` or ``\\n``)."""
    return len(_BREAK.findall(raw.decode(enc, errors="replace")))


def _missing(value: Any) -> bool:
    if value is None:
        return True
    return isinstance(value, float) and value != value


def _frame(objects: list[dict[str, Any]], event_shape: bool, columns: list[str] | None) -> Any:
    """JSON objects as a table: ``attrs`` spread into columns (event shape), mixed columns as text;
    the event shape's optional keys (and ``columns``) are columns even when no object has them."""
    import pandas as pd

    from csmine.live.follow import EVENT_KEYS

    rows = []
    for obj in objects:
        if event_shape and isinstance(obj.get("attrs"), dict):
            row = {k: v for k, v in obj.items() if k != "attrs"}
            for k, v in obj["attrs"].items():
                row.setdefault(k, v)
            rows.append(row)
        else:
            rows.append(obj)
    df = pd.DataFrame.from_records(rows)
    wanted = list(columns or [])
    if event_shape:
        wanted += [k for k in ("resource", "team", "started_at", *EVENT_KEYS["case_attrs"]) if k not in wanted]
    df = df.reindex(columns=list(dict.fromkeys([*df.columns, *wanted])))
    for col in df.columns:
        values = df[col].tolist()
        kinds = {type(v) for v in values if not _missing(v)}
        if len(kinds) > 1 or kinds & {dict, list} or not kinds:
            df[col] = pd.Series([None if _missing(v) else json.dumps(v, ensure_ascii=False)
                                 if isinstance(v, (dict, list)) else str(v) for v in values], dtype=object)
        elif kinds == {str}:
            df[col] = pd.Series([None if _missing(v) else v for v in values], dtype=object)
    return df


__all__ = ["check_header", "column_values", "ndjson_shape", "read_batch", "unpaired_starts", "without_derived_team"]
