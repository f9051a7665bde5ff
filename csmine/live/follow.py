"""Follow a growing export: new rows recorded as they are appended, across rotations and restarts.

A :class:`Follower` tails one file, a CSV table (any delimiter and encoding ``csmine
import`` reads) or NDJSON (one JSON object per line), and hands each batch of new rows
to a sink: :class:`StoreSink` (one store transaction per batch) or :class:`HttpSink`
(``POST /api/events`` of a running ``csmine serve``, with a deterministic ``event_id``
per source row). :meth:`Follower.poll_once` reads what is complete now and returns what
it recorded; the CLI (``csmine follow``) calls it in a loop.

The rows go through the import's own readers (:func:`event_store.io.vendors.read_source`
with the same :class:`~event_store.io.mapping.ImportMapping`), one batch at a time: the
batch's complete records are written, after the file's header, to a private temporary
file of the same name, so the messages, the refusals and the mapping are the import's;
line numbers are translated back to the followed file's.

**What is consumed.** A record is complete when a newline ends it outside double quotes
(a quoted CSV value may hold newlines); a partly written last record waits. After the
sink says the batch is durable (the store committed; the server answered 2xx), the
state file (:class:`FollowState`: file identity, byte offset and line after the last
whole record, header, the pinned dialect) is replaced atomically. A restart resumes at
that offset; a crash between the commit and the state write replays one batch, which
the store's idempotency (same ticket, activity, time and actor records once) or the
server's ``event_id`` absorbs.

**Rotation.** The file at the path replaced by another (another inode, or the same
inode whose first bytes no longer match what was read): the old file is read to its
end, its last record even without a newline, then the new one from the top.
Truncated in place (copytruncate): read again from the top. A file replaced while
nothing followed it is started from the top (a note says so).

**Bad rows** are quarantined: the row (found by halving a batch the reader refuses
until the one row is left) goes to the rejects file as one JSON line with its line,
byte offset, reason and text, and following goes on; ``on_error="stop"`` raises instead.
Configuration errors (a column the mapping names missing from the header, times without
a zone and no ``tz``, the state file of another source) raise :class:`FollowError`.

The state and the record splitting are in :mod:`csmine.live.follow_tail`, the reading of
a batch in :mod:`csmine.live.follow_rows`, the sinks in :mod:`csmine.live.follow_sinks`,
the poll's result and the sink protocol in :mod:`csmine.live.follow_types`.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import os
import re
import tempfile
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from event_store.errors import ImportFormatError

from csmine.errors import FollowError
from csmine.live.follow_sinks import HttpSink, Stopped, StoreSink, step_event
from csmine.live.follow_types import PollResult, Rejected, Sink, _Acc, _add
from csmine.live.follow_tail import (
    FollowState,
    _Batch,
    _fingerprint,
    _lock,
    _plain,
    _print_of,
    _record_ends,
    _records,
    _text,
    _unit,
    default_state_name,
)

if TYPE_CHECKING:
    from event_store.io.case_table import CaseTable
    from event_store.io.mapping import ImportMapping

__all__ = ["FollowState", "Follower", "HttpSink", "StoreSink", "default_state_name", "step_event"]

MAX_ROWS = 20_000
MAX_BYTES = 16 << 20
NDJSON_SUFFIXES = (".ndjson", ".jsonl", ".json")
#: The event shape of ``csmine serve``: NDJSON keys when no column flag says otherwise.
EVENT_KEYS = {"case": "ticket", "activity": "activity", "timestamp": "timestamp", "resource": "resource",
              "team": "team", "start": "started_at", "lifecycle": None,
              "case_attrs": {"channel": "channel", "priority": "priority"}}


class Follower:
    """Tails one export into a sink; :meth:`poll_once` records what is complete now.

    Args:
        path: the followed file.
        mapping: how its rows are read (the import's mapping: columns, time zone,
            dialect, renames, ...).
        sink: where rows go.
        state_path: the state file (locked while the follower is open).
        fmt: ``csv`` or ``ndjson`` (default: from the name; .ndjson, .jsonl and .json
            are NDJSON).
        rejects_path: where rejected rows go (default: the state file's name with
            ``.rejects.ndjson``).
        case_table: a case table joined to every batch.
        on_error: ``reject`` (quarantine bad rows and go on) or ``stop`` (raise the
            first bad row's error; nothing of its batch is delivered).
        max_rows: rows per batch.
    """

    def __init__(self, path: str, mapping: ImportMapping, sink: Sink, *, state_path: str,
                 fmt: str | None = None, rejects_path: str | None = None, case_table: CaseTable | None = None,
                 on_error: str = "reject", max_rows: int = MAX_ROWS) -> None:
        from event_store.io.mapping import CHANGE_FORMATS

        self.path = os.path.abspath(path)
        self.name = os.path.basename(path)
        if path.lower().endswith(".gz"):
            raise FollowError(f"{self.name}: a compressed file cannot grow line by line; follow the "
                              "uncompressed export (or import the .gz with `csmine import`)")
        fmt = fmt or ("ndjson" if self.name.lower().endswith(NDJSON_SUFFIXES) else "csv")
        if fmt not in ("csv", "ndjson") or mapping.format in (*CHANGE_FORMATS, "xes", "parquet"):
            what = mapping.format if mapping.format in (*CHANGE_FORMATS, "xes", "parquet") else fmt
            raise FollowError(f"{self.name}: follow reads CSV tables and NDJSON events, not {what} "
                              f"(import it with `csmine import`)")
        if on_error not in ("reject", "stop"):
            raise FollowError(f"on_error must be 'reject' or 'stop', not {on_error!r}")
        self.fmt, self.sink, self.case_table, self.on_error, self.max_rows = fmt, sink, case_table, on_error, max_rows
        self.mapping = dataclasses.replace(mapping, format=None)
        self.state_path = state_path
        self.rejects_path = rejects_path or re.sub(r"\.json$", "", state_path) + ".rejects.ndjson"
        self._lock_fd = _lock(state_path + ".lock", self.path)
        self._tmp = tempfile.TemporaryDirectory(prefix="csmine-follow-")
        self._fd: int | None = None
        try:
            state = FollowState.load(state_path)
            if state is not None and (state.source != self.path or state.destination != sink.destination):
                raise FollowError(
                    f"state file {state_path} belongs to {state.source} -> {state.destination}, not "
                    f"{self.path} -> {sink.destination}; give another --state FILE")
        except BaseException:
            self.close()
            raise
        self.state = state
        self._opened_once = False

    # -- life cycle --------------------------------------------------------------------

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if getattr(self, "_lock_fd", None) is not None:
            os.close(self._lock_fd)
            self._lock_fd = None  # type: ignore[assignment]
        if hasattr(self, "_tmp"):
            self._tmp.cleanup()

    def __enter__(self) -> Follower:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(self, *, poll: float, stop: threading.Event, once: bool = False,
            on_poll: Callable[[PollResult], None] | None = None,
            on_retry: Callable[[str], None] | None = None) -> PollResult:
        """Poll until ``stop`` is set (or once); the totals. A stop lands between batches.

        Following (not ``once``), a store that is busy or went away for a while
        (:class:`~event_store.errors.TemporaryStoreError`) is waited for, with backoff;
        its batch was not committed and the state not moved, so it is read again.
        """
        from event_store.errors import TemporaryStoreError

        total = _Acc()
        wait = poll
        while not stop.is_set():
            try:
                result = self.poll_once(stop)
            except Stopped:
                break
            except TemporaryStoreError as exc:
                if once:
                    raise
                wait = min(30.0, max(wait * 2, 0.5))
                if on_retry is not None:
                    on_retry(f"{exc}; trying again in {wait:.1f} s")
                stop.wait(wait)
                continue
            wait = poll
            _add(total, result)
            if on_poll is not None:
                on_poll(result)
            if once:
                break
            stop.wait(poll)
        return _result(total, self)

    # -- one look ----------------------------------------------------------------------

    def poll_once(self, stop: threading.Event | None = None) -> PollResult:
        """Read what is complete now, deliver it batch by batch; what was recorded."""
        acc = _Acc()
        if self._fd is None and not self._open(acc):
            return _result(acc, self)
        change = self._change()
        if change == "truncated":
            acc.notes.append(f"{self.name} was truncated in place: reading it again from the top")
            acc.rotations += 1
            self._start_file(self._fd_checked(), acc)
        self._drain(acc, final=False, stop=stop)
        if change == "replaced":
            self._drain(acc, final=True, stop=stop)  # the old file's last record, newline or not
            os.close(self._fd_checked())
            self._fd = None
            if self._open(acc, rotated=True):
                self._drain(acc, final=False, stop=stop)
        return _result(acc, self)

    def _fd_checked(self) -> int:
        assert self._fd is not None
        return self._fd

    def _open(self, acc: _Acc, *, rotated: bool = False) -> bool:
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            if not self._opened_once and self.state is None:
                raise FollowError(f"{self.path}: no such file (follow a file that exists; it may then be "
                                  "rotated)") from None
            return False
        self._fd, self._opened_once = fd, True
        st = os.fstat(fd)
        state = self.state
        if rotated:
            acc.rotations += 1
            self._start_file(fd, acc)
        elif state is None:
            self.state = FollowState(self.path, self.sink.destination)
            self._start_file(fd, acc)
        elif st.st_size < state.offset or _fingerprint(fd, state.fingerprint_len) != state.fingerprint:
            acc.notes.append(f"{self.name} was replaced or rewritten while nothing followed it: reading the new "
                             f"file from the top (rows of the old file after line {state.line} were not seen)")
            acc.rotations += 1
            self._start_file(fd, acc)
        else:
            state.device, state.inode = st.st_dev, st.st_ino
        return True

    def _start_file(self, fd: int, acc: _Acc) -> None:
        """A new file (or the same one truncated) from the top, with a new generation; saved at once."""
        st = os.fstat(fd)
        old = self.state
        assert old is not None
        length, fingerprint = _print_of(fd, 0)
        self.state = FollowState(self.path, self.sink.destination, device=st.st_dev, inode=st.st_ino,
                                 fingerprint=fingerprint, fingerprint_len=length, rows=old.rows,
                                 rejected=old.rejected)
        self.state.save(self.state_path)

    def _change(self) -> str | None:
        """``replaced`` (another file at the path), ``truncated`` (this one shrank or was rewritten), or None."""
        fd, state = self._fd_checked(), self.state
        assert state is not None
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None  # moved away, the new one not there yet: keep reading the old one
        mine = os.fstat(fd)
        if (st.st_dev, st.st_ino) != (mine.st_dev, mine.st_ino):
            return "replaced"
        if mine.st_size < state.offset or _fingerprint(fd, state.fingerprint_len) != state.fingerprint:
            return "truncated"
        return None

    # -- reading -----------------------------------------------------------------------

    def _drain(self, acc: _Acc, *, final: bool, stop: threading.Event | None) -> None:
        while True:
            batch = self._next_batch(acc, final)
            if batch is None:
                return
            self._deliver(batch, acc, final)
            if stop is not None and stop.is_set():
                return

    def _next_batch(self, acc: _Acc, final: bool) -> _Batch | None:
        fd, state = self._fd_checked(), self.state
        assert state is not None
        size = MAX_BYTES
        while True:
            data = os.pread(fd, size, state.offset)
            if self.fmt == "csv" and state.header is None:
                if not self._read_header(data):
                    acc.waiting = len(data)
                    return None
                continue
            width, order = _unit(state.encoding or "utf-8", self.state.header_bytes or b"")
            ends = _record_ends(data, width, order, quoted=self.fmt == "csv")
            if not ends and len(data) == size:
                size *= 4  # one record longer than a read: look further
                continue
            if final and data and len(data) < size and (not ends or ends[-1] < len(data)):
                ends.append(len(data))
            acc.waiting = len(data) - (ends[-1] if ends else 0)
            if not ends:
                return None
            batch = _records(data, ends, width, order, state.line, self.max_rows)
            batch.offsets = [state.offset + x for x in batch.starts]
            if state.pending:
                batch.carry_in(state.pending)
            return batch

    def _read_header(self, data: bytes) -> bool:
        """Take the CSV header (the first record) and pin the encoding and delimiter."""
        from event_store.io.table_frame import SNIFF_BYTES, sniff, text_encoding

        state = self.state
        assert state is not None
        cols = self.mapping.columns
        try:
            enc = text_encoding(data[:SNIFF_BYTES], cols.encoding, self.name, "--")
        except ImportFormatError as exc:
            raise FollowError(str(exc)) from None
        width, order = _unit(enc, data)
        ends = _record_ends(data, width, order, quoted=True)
        if not ends:
            return False
        header = data[: ends[0]]
        sample = data[: SNIFF_BYTES]
        text = sample.decode(enc, errors="replace")
        if len(sample) >= SNIFF_BYTES and "\n" in text:
            text = text[: text.rfind("\n") + 1]
        sep = cols.sep or ("\t" if self.name.lower().endswith(".tsv") else (sniff(text) or ","))
        state.header, state.encoding, state.sep = base64.b64encode(header).decode(), enc, sep
        state.offset, state.line = ends[0], header.count(b"\n" if width == 1 else "\n".encode(_plain(enc)))
        from csmine.live.follow_rows import check_header

        check_header(self.name, self.mapping, header.decode(enc, errors="replace"), sep)
        state.fingerprint_len, state.fingerprint = _print_of(self._fd_checked(), state.offset)
        state.save(self.state_path)
        return True

    # -- parsing and delivering ---------------------------------------------------------

    def _deliver(self, batch: _Batch, acc: _Acc, final: bool) -> None:
        from csmine.live.follow_rows import read_batch, without_derived_team

        state = self.state
        assert state is not None
        mapping = self._pinned(batch)
        histories, rejects = read_batch(self, batch, mapping)
        if rejects and self.on_error == "stop":
            raise ImportFormatError(rejects[0].reason + " (csmine follow --on-error stop: nothing of this "
                                    "batch was recorded; fix the row or follow with --on-error reject)")
        if self.case_table is not None:
            from event_store.io.case_table import join_case_table

            histories = join_case_table(histories, self.case_table).histories
        histories = without_derived_team(histories, self.sink.known([h.ticket for h in histories]), mapping)
        carry = self._unpaired(batch, mapping, rejects, final)
        ids = {f"{self.name}:{line}": _event_id(self.name, off, batch.raw(i))
               for i, (line, off) in enumerate(zip(batch.lines, batch.offsets, strict=True))}
        events, refused = self.sink.deliver(histories, ids) if histories else (0, [])
        for ref, reason in refused:
            line = int(ref.rsplit(":", 1)[1])
            i = batch.lines.index(line)
            rejects.append(Rejected(line, batch.offsets[i], reason, _text(batch.raw(i), state.encoding)))
        rejects.sort(key=lambda r: r.line)
        if rejects:
            self._write_rejects(rejects)
        good = len(batch.starts) - len(rejects) - len(carry)
        state.pending = [[batch.lines[i], batch.offsets[i], base64.b64encode(batch.raw(i)).decode()] for i in carry]
        state.offset += batch.end
        state.line = batch.end_line
        state.rows += good
        state.rejected += len(rejects)
        state.fingerprint_len, state.fingerprint = _print_of(self._fd_checked(), state.offset)
        state.save(self.state_path)
        acc.rows += good
        acc.events += events
        acc.tickets += len(histories)
        acc.batches += 1
        acc.rejected.extend(rejects)

    def _unpaired(self, batch: _Batch, mapping: ImportMapping, rejects: list[Rejected], final: bool) -> list[int]:
        """Start rows whose complete has not come yet (start-complete): carried to the next batch.

        At the end of a file (``final``) there is no next batch: they are left out, as
        ``csmine import`` leaves out a start without its complete.
        """
        if mapping.lifecycle != "start-complete" or final:
            return []
        from csmine.live.follow_rows import unpaired_starts

        bad = {r.line for r in rejects}
        return unpaired_starts(self, batch, mapping, [i for i, line in enumerate(batch.lines) if line not in bad])

    def _pinned(self, batch: _Batch) -> ImportMapping:
        """The mapping with the dialect, lifecycle mode and NDJSON shape of the first batch."""
        from event_store.io.read_base import ColumnMapping, lifecycle_mode

        from csmine.live.follow_rows import ndjson_shape

        state = self.state
        assert state is not None
        m = self.mapping
        if self.fmt == "ndjson" and state.shape is None:
            state.shape = ndjson_shape(m, batch)
        if state.shape == "event":
            m = dataclasses.replace(m, columns=dataclasses.replace(ColumnMapping(**EVENT_KEYS), tz=m.columns.tz,
                                                                   timestamp_format=m.columns.timestamp_format))
        if self.fmt == "csv":
            m = dataclasses.replace(m, columns=dataclasses.replace(m.columns, sep=state.sep,
                                                                   encoding=state.encoding))
        if m.lifecycle == "auto" and state.lifecycle is None and m.columns.lifecycle:
            from csmine.live.follow_rows import column_values

            values = column_values(self, batch, m.columns.lifecycle)
            if values:
                state.lifecycle = lifecycle_mode("auto", values)
        if m.lifecycle == "auto" and state.lifecycle is not None:
            m = dataclasses.replace(m, lifecycle=state.lifecycle)
        return m

    def _write_rejects(self, rejects: list[Rejected]) -> None:
        with open(self.rejects_path, "a", encoding="utf-8") as fh:
            for r in rejects:
                fh.write(json.dumps({"file": self.path, **dataclasses.asdict(r)}, ensure_ascii=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())


# -- helpers ---------------------------------------------------------------------------


def _event_id(name: str, offset: int, record: bytes) -> str:
    """The ``event_id`` of a row: its file's name, byte offset and bytes (the same row, the same id,
    with or without the state file; a different row at that offset of a rotated file, another id)."""
    digest = hashlib.sha256(f"csmine-follow\0{name}\0{offset}\0".encode())
    digest.update(record)
    return digest.hexdigest()[:32]


def _result(acc: _Acc, follower: Follower) -> PollResult:
    offset = follower.state.offset if follower.state is not None else 0
    return PollResult(acc.rows, acc.events, acc.tickets, acc.batches, tuple(acc.rejected), acc.rotations,
                      tuple(acc.notes), acc.waiting, offset)
