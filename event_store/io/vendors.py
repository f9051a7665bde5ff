"""Readers for ticket systems' own export shapes, and imports driven by a mapping file.

Three shapes of *change records* (one record per changed field) become
:class:`~event_store.records.TicketHistory` records, like the table and XES readers of
:mod:`event_store.io.importing` make them:

* ``servicenow-audit``: ``sys_audit`` rows (``documentkey``, ``fieldname``,
  ``oldvalue``, ``newvalue``, ``sys_created_on``, ``user``; ``tablename`` and
  ``record_checkpoint`` when present), as a CSV export or the Table API's JSON
  (``{"result": [...]}``);
* ``zendesk-audits``: the Ticket Audits API (``{"audits": [...]}``: each audit's
  ``created_at``, ``author_id``, ``via.channel`` and ``events[]`` of type ``Create``
  and ``Change`` with ``field_name``, ``value``, ``previous_value``), as pages (one,
  several concatenated, or in an array) or one audit per line (NDJSON); also the
  incremental ticket event export (``{"ticket_events": [...]}`` with ``child_events``);
* ``jira-changelog``: a Jira search result with ``expand=changelog``
  (``{"issues": [...]}``: each issue's ``key``, ``fields.created`` and
  ``changelog.histories[]`` with ``created``, ``author`` and ``items[]`` of ``field``,
  ``fromString``, ``toString``), or one issue per line.

JSON is read as a stream: an incremental decoder over
:meth:`json.JSONDecoder.raw_decode` yields one audit (issue, row) at a time, so memory
is bounded by the largest single object, never the file.

A ticket's records are put in business-time order (ties: the audit's, history's or
checkpoint's number, then file order), so a shuffled export gives the same tickets.
Then, in that order, each change of a field in ``[changes] steps`` is a step whose
activity is the new value (or ``"field: value"``); the ``[changes] team`` field's
value is the team of the steps from its change on; ``[changes] attributes`` fields'
values are step attributes; ``[changes.case]`` fields give ticket attributes their
earliest value. Jira records no status change at creation: the issue's first status
(the ``fromString`` of its first status change, else its status) is a step at
``fields.created``. Renames, drops and collapsing repeats follow, with the same
functions the table readers use.

:func:`read_source` reads any export with an :class:`~event_store.io.mapping.ImportMapping`
(tables and XES through :func:`event_store.io.importing.read_log`, then renames, drops,
missing values and ``"field: value"`` applied the same way).
"""

from __future__ import annotations

import codecs
import dataclasses
import json
import os
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any, NamedTuple

from event_store.errors import ImportFormatError
from event_store.io.importing import (
    ColumnMapping,
    ReadResult,
    _case_from,
    _check_file,
    _collapse_rows,
    _encoding,
    _head,
    _header_fields,
    _inflated,
    _opened_at,
    _parse_times,
    _read_frame,
    _sniff,
    _zone,
    detect_format,
    read_log,
)
from event_store.limits import LimitedReader, check_history, current_limits
from event_store.io.mapping import CHANGE_FORMATS, ImportMapping, load_preset
from event_store.records import ActivityRow, TicketHistory

#: Formats read here (the importing hook dispatches them) and the preset each defaults to.
VENDOR_FORMATS = {"servicenow-audit": "servicenow-audit", "zendesk-audits": "zendesk", "jira-changelog": "jira"}

#: What each change-record format expects, for messages about a file of another shape.
SHAPES = {
    "servicenow-audit": ("ServiceNow sys_audit rows: a CSV export of sys_audit with the columns documentkey, "
                         "fieldname, oldvalue, newvalue, sys_created_on, user, or the Table API's JSON "
                         "{\"result\": [{\"documentkey\": ..., \"fieldname\": ..., ...}]}"),
    "zendesk-audits": ("the Zendesk Ticket Audits API's JSON: {\"audits\": [{\"ticket_id\", \"created_at\", "
                       "\"author_id\", \"via\", \"events\": [...]}]} as GET /api/v2/tickets/{id}/audits or "
                       "/api/v2/ticket_audits returns it (pages concatenated or in an array), one audit per line "
                       "(NDJSON), or the incremental ticket event export {\"ticket_events\": [...]}"),
    "jira-changelog": ("a Jira search result with the changelog: {\"issues\": [{\"key\", \"fields\": "
                       "{\"created\", ...}, \"changelog\": {\"histories\": [...]}}]} as GET "
                       "/rest/api/2/search?jql=...&expand=changelog returns it, or one issue per line"),
}
_CONTAINERS = {"servicenow-audit": ("result", "records"), "zendesk-audits": ("audits", "ticket_events"),
               "jira-changelog": ("issues",)}
_GUESS = {"issues": "a Jira search result (--preset jira)", "audits": "Zendesk ticket audits (--preset zendesk)",
          "ticket_events": "a Zendesk incremental ticket event export (--preset zendesk)",
          "result": "a ServiceNow Table API result (--preset servicenow-audit, for sys_audit)"}
_CHUNK = 1 << 16
_NUMBER_TAIL = re.compile(r"[0-9.eE+-]*")


@dataclass(frozen=True, slots=True)
class SourceRead:
    """What reading an export with a mapping gave.

    Attributes:
        histories: the tickets, in order of first appearance.
        rows: records (rows, events, changelog items) read from the file.
        rows_collapsed: rows merged into the row before them (collapse_repeats).
        rows_dropped: rows left out: dropped activities, changes of fields that are not
            steps, sys_audit rows of other tables.
        closed: tickets whose last step closes them (``closed_when``); None without it.
        notes: things the reader wants said (truncated changelogs, ...).
    """

    histories: list[TicketHistory]
    rows: int
    rows_collapsed: int = 0
    rows_dropped: int = 0
    closed: int | None = None
    notes: tuple[str, ...] = ()

    def as_read_result(self) -> ReadResult:
        """The :class:`~event_store.io.importing.ReadResult` view (for ``read_log``)."""
        return ReadResult(self.histories, self.rows, self.rows_collapsed)


# -- streaming JSON ------------------------------------------------------------------------------


class JsonStream:
    """Top-level JSON values of a file, decoded one object at a time.

    The file may hold one value, several concatenated (NDJSON, or pages one after
    another). :meth:`items` walks top-level objects and arrays key by key and yields
    the elements of the arrays named in ``containers`` one by one; any other top-level
    object, or element of a top-level array, is an item itself. The buffer holds what
    is not consumed yet: one chunk plus the object being decoded.
    """

    def __init__(self, read: Callable[[int], bytes], name: str) -> None:
        self._read = read
        self.name = name
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")()
        self._json = json.JSONDecoder()
        self.buf = ""
        self.pos = 0
        self.eof = False
        self._lines = 0  # newlines in the text dropped from the buffer
        self.bytes_read = 0
        self.top_keys: list[str] = []

    def _more(self, size: int | None = None) -> bool:
        if self.eof:
            return False
        data = self._read(size or _CHUNK)
        self.bytes_read += len(data)
        try:
            text = self._decoder.decode(data, final=not data)
        except UnicodeDecodeError as exc:
            at = self.bytes_read - len(data) + exc.start
            raise ImportFormatError(f"{self.name}: byte {at + 1} is not UTF-8 (0x{data[exc.start]:02X}): JSON "
                                    "exports are UTF-8; re-export the file") from None
        if not data:
            self.eof = True
        if self.pos > _CHUNK:
            self._lines += self.buf.count("\n", 0, self.pos)
            self.buf = self.buf[self.pos:]
            self.pos = 0
        self.buf += text
        return bool(data) or bool(text)

    def line(self) -> int:
        """Line of the next unread character (1-based)."""
        return self._lines + self.buf.count("\n", 0, self.pos) + 1

    def _error(self, what: str, pos: int | None = None) -> ImportFormatError:
        if pos is not None:
            self.pos = min(pos, len(self.buf))
        return ImportFormatError(f"{self.name}: line {self.line()}: not valid JSON ({what}); is the export complete?")

    def peek(self) -> str:
        """The next character that is not white space ("" at the end)."""
        while True:
            buf, n = self.buf, len(self.buf)
            while self.pos < n and buf[self.pos] in " \t\r\n":
                self.pos += 1
            if self.pos < n:
                return buf[self.pos]
            if not self._more():
                return ""

    def take(self, char: str) -> None:
        found = self.peek()
        if found != char:
            raise self._error(f"expected {char!r}, found {found or 'the end of the file'!r}")
        self.pos += 1

    def value(self) -> Any:
        """Decode the next value; reads more of the file until it is complete."""
        self.peek()
        size = _CHUNK
        while True:
            try:
                value, end = self._json.raw_decode(self.buf, self.pos)
                # a number at the end of what is read may go on ("1." of "1.5")
                open_number = isinstance(value, (int, float)) and not isinstance(value, bool) \
                    and _NUMBER_TAIL.fullmatch(self.buf, end) is not None
                if self.eof or (end < len(self.buf) and not open_number):
                    self.pos = end
                    return value
            except json.JSONDecodeError as exc:
                # Truncated input fails at the end of the buffer (or in an open string);
                # anything else is broken JSON, reported without reading further.
                if self.eof or (exc.pos < len(self.buf) - 16 and not exc.msg.startswith("Unterminated string")):
                    raise self._error(exc.msg, exc.pos) from None
            self._more(size)
            size = min(size * 2, 1 << 26)

    def items(self, containers: tuple[str, ...]) -> Iterator[tuple[str | None, Any, int]]:
        """``(container, item, line)`` for every item (see the class docstring)."""
        while True:
            c = self.peek()
            if c == "":
                return
            if c == "{":
                yield from self._object(containers)
            elif c == "[":
                self.take("[")
                if self.peek() == "]":
                    self.take("]")
                    continue
                while True:
                    if self.peek() == "{":
                        yield from self._object(containers)
                    else:
                        line = self.line()
                        yield None, self.value(), line
                    if self.peek() == ",":
                        self.take(",")
                        continue
                    self.take("]")
                    break
            else:  # a bare value on its own (a line of NDJSON): an item
                line = self.line()
                yield None, self.value(), line

    def _object(self, containers: tuple[str, ...]) -> Iterator[tuple[str | None, Any, int]]:
        line = self.line()
        self.take("{")
        rest: dict[str, Any] = {}
        found = False
        if self.peek() == "}":
            self.take("}")
            yield None, rest, line
            return
        while True:
            if self.peek() != '"':
                raise self._error("expected a key in double quotes")
            key = self.value()
            self.take(":")
            if key not in self.top_keys and len(self.top_keys) < 50:
                self.top_keys.append(key)
            if key in containers and self.peek() == "[":
                found = True
                self.take("[")
                if self.peek() == "]":
                    self.take("]")
                else:
                    while True:
                        at = self.line()
                        yield key, self.value(), at
                        if self.peek() == ",":
                            self.take(",")
                            continue
                        self.take("]")
                        break
            else:
                rest[key] = self.value()
            if self.peek() == ",":
                self.take(",")
                continue
            self.take("}")
            break
        if not found:
            yield None, rest, line


def _open_binary(path: str) -> Any:
    if path.lower().endswith(".gz"):
        return LimitedReader(path, current_limits())
    return open(path, "rb")


def iter_json(path: str, containers: tuple[str, ...],
              top_keys: list[str] | None = None) -> Iterator[tuple[str | None, Any, int]]:
    """Stream the items of a JSON or NDJSON file (``.gz`` inflated within the input limits).

    Args:
        path: the file.
        containers: keys of top-level objects whose arrays hold the items.
        top_keys: filled with the keys of the top-level objects seen (for messages).
    """
    name = os.path.basename(path)
    try:
        with _open_binary(path) as fh:
            stream = JsonStream(fh.read, name)
            if top_keys is not None:
                stream.top_keys = top_keys
            yield from stream.items(containers)
    except (OSError, EOFError, zlib.error) as exc:
        raise ImportFormatError(f"{name}: cannot read ({exc}); is it a complete JSON file?") from None


# -- change records -----------------------------------------------------------------------------


class Change(NamedTuple):
    """One field's change (or value at creation) in a ticket's history."""

    time: datetime
    order: int  # audit / history / checkpoint number, the tie-break at equal times
    seq: int  # file order
    actor: str | None
    field: str
    old: Any
    new: Any
    kind: str  # "create" (set at creation), "change", "meta" (how it came in), "current" (today's value)
    ref: str


def _missing(value: Any, missing: frozenset[str]) -> bool:
    return value is None or value == "" or (isinstance(value, str) and value in missing)


def _text(value: Any) -> str:
    if isinstance(value, dict):
        for key in ("name", "value", "displayName", "key", "id"):
            if value.get(key) not in (None, ""):
                return str(value[key])
        return json.dumps(value, sort_keys=True)
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _plain(value: Any) -> Any:
    """A JSON value as a step or case attribute: scalars as they are, objects as text."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return _text(value)


class _Tickets:
    """Change records gathered per ticket, in order of first appearance."""

    def __init__(self) -> None:
        self.by_ticket: dict[str, list[Change]] = {}
        self.refs: dict[str, str] = {}
        self.seq = 0

    def add(self, ticket: str, change: Change) -> None:
        records = self.by_ticket.get(ticket)
        if records is None:
            records = self.by_ticket[ticket] = []
            self.refs[ticket] = change.ref
        records.append(change._replace(seq=self.seq))
        self.seq += 1


def _fold(ticket: str, records: list[Change], mapping: ImportMapping, missing: frozenset[str],
          source_ref: str) -> tuple[TicketHistory | None, int, int, int]:
    """One ticket's records, in time order, as a history; and records, rows collapsed, rows dropped."""
    rules = mapping.changes
    steps_fields = set(rules.steps)
    records.sort(key=lambda r: (r.time, r.order, r.seq))
    current: dict[str, Any] = {}
    earliest: dict[str, Any] = {}
    today: dict[str, Any] = {}
    rows: list[tuple[ActivityRow, str | None]] = []
    dropped = 0
    i, n = 0, len(records)
    while i < n:
        # One update (same time and audit): apply all its values first, so a status
        # changed with the group in one update is a step of the new group.
        j = i + 1
        while j < n and records[j].time == records[i].time and records[j].order == records[i].order:
            j += 1
        batch = records[i:j]
        for r in batch:
            if r.kind == "current":
                today[r.field] = r.new
                continue
            if r.field not in earliest:
                first = r.old if r.kind == "change" and not _missing(r.old, missing) else r.new
                earliest[r.field] = first
            current[r.field] = r.new
        for r in batch:
            if r.kind in ("current", "meta"):
                continue
            if r.field not in steps_fields or _missing(r.new, missing):
                dropped += 1
                continue
            value = _text(r.new)
            activity = value if mapping.activity_form == "value" else f"{r.field}: {value}"
            activity = mapping.rename.get(activity, activity)
            if activity in mapping.drop:
                dropped += 1
                continue
            team = current.get(rules.team) if rules.team else None
            team = None if _missing(team, missing) else _text(team)
            attrs = {a: _plain(current[a]) for a in rules.attributes
                     if a in current and not _missing(current[a], missing)}
            actor = None if _missing(r.actor, missing) else r.actor
            rows.append((ActivityRow(activity, r.time, actor, team, None, r.ref, attrs), None))
        i = j
    counted = sum(1 for r in records if r.kind in ("create", "change"))
    if not rows:
        return None, counted, 0, dropped
    collapsed = 0
    if mapping.collapse_repeats:
        rows, collapsed = _collapse_rows(rows)
    case: dict[str, Any] = {}
    for attr, fld in rules.case.items():
        first = earliest.get(fld, today.get(fld))
        if not _missing(first, missing):
            case[attr] = _plain(first)
    return (TicketHistory(ticket, _opened_at(rows, False), _case_from(case, rows), tuple(r for r, _ in rows),
                          source_ref), counted, collapsed, dropped)


def _histories(tickets: _Tickets, mapping: ImportMapping, skipped: int, notes: list[str]) -> SourceRead:
    """The tickets' histories; ``skipped``: records left out before folding (other tables)."""
    missing = frozenset(mapping.missing_values)
    out: list[TicketHistory] = []
    rows, collapsed, dropped = skipped, 0, skipped
    limits = current_limits()
    for ticket, records in tickets.by_ticket.items():
        history, n, c, d = _fold(ticket, records, mapping, missing, tickets.refs[ticket])
        rows += n
        collapsed += c
        dropped += d
        if history is not None:
            check_history(history, limits)
            out.append(history)
    return SourceRead(out, rows, collapsed, dropped, _closed(out, mapping), tuple(notes))


def _closed(histories: list[TicketHistory], mapping: ImportMapping) -> int | None:
    if not mapping.closed_when:
        return None
    return sum(1 for h in histories if h.steps and mapping.closes(h.steps[-1].activity))


def _zone_of(mapping: ImportMapping, name: str) -> tzinfo | None:
    return _zone(mapping.columns.tz, name)


def _json_time(value: Any, mapping: ImportMapping, zone: tzinfo | None, where: str, key: str) -> datetime:
    if isinstance(value, bool) or value is None or value == "":
        raise ImportFormatError(f"{where}: no time in {key!r}; every change needs one ({_reads(mapping)})")
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, UTC)
    text = str(value).strip()
    try:
        if mapping.columns.timestamp_format:
            parsed = datetime.strptime(text, mapping.columns.timestamp_format)
        else:
            parsed = datetime.fromisoformat(text)
    except ValueError:
        fmt = mapping.columns.timestamp_format
        hint = f"--timestamp-format {fmt!r} does not match" if fmt else "give --timestamp-format"
        raise ImportFormatError(f"{where}: cannot read {text!r} in {key!r} as a time ({hint})") from None
    if parsed.tzinfo is None:
        if zone is None:
            raise ImportFormatError(f"{where}: the time {text!r} in {key!r} has no time zone; give --tz "
                                    "(e.g. --tz UTC)")
        parsed = parsed.replace(tzinfo=zone)
    return parsed


def _reads(mapping: ImportMapping) -> str:
    fmt = mapping.format or ""
    fields = {
        "servicenow-audit": "documentkey, fieldname, oldvalue, newvalue, sys_created_on, user",
        "zendesk-audits": "each audit's ticket_id, created_at, author_id, via and events[]",
        "jira-changelog": "each issue's key, fields.created and changelog.histories[] (created, author, items[])",
    }.get(fmt, "")
    return f"{mapping.label} reads {fields}" if fields else mapping.label


def _wrong_shape(name: str, fmt: str, mapping: ImportMapping, what: str, top_keys: list[str]) -> ImportFormatError:
    guess = next((g for k, g in _GUESS.items() if k in top_keys and k not in _CONTAINERS[fmt]), None)
    keys = f" (its keys: {', '.join(top_keys[:8])})" if top_keys else ""
    looks = f"; it looks like {guess}" if guess else ""
    return ImportFormatError(f"{name}: {what}{keys}, not the shape {mapping.label} reads: expected "
                             f"{SHAPES[fmt]}{looks}")


# -- ServiceNow sys_audit ----------------------------------------------------------------------


_SN_REQUIRED = ("fieldname", "newvalue")


def _servicenow_audit(path: str, mapping: ImportMapping) -> SourceRead:
    name = os.path.basename(path)
    cols = mapping.columns
    tickets = _Tickets()
    skipped = 0
    table = mapping.changes.table
    zone = _zone_of(mapping, name)
    if path.lower().endswith((".json", ".json.gz", ".ndjson", ".jsonl")):
        stream_keys: list[str] = []
        rows = 0
        for _container, item, line in iter_json(path, _CONTAINERS["servicenow-audit"], stream_keys):
            where = f"{name}:{line}"
            if not isinstance(item, dict) or "fieldname" not in item:
                keys = list(item)[:8] if isinstance(item, dict) else stream_keys
                raise _wrong_shape(name, "servicenow-audit", mapping, f"line {line} is not a sys_audit row", keys)
            rows += 1
            for key in (cols.case, cols.timestamp, *_SN_REQUIRED):
                if key not in item:
                    raise _missing_field(where, key, mapping)
            if table and "tablename" in item and item["tablename"] != table:
                skipped += 1
                continue
            time = _json_time(item[cols.timestamp], mapping, zone, where, cols.timestamp)
            _sn_add(tickets, str(item[cols.case]), time, item, cols, where)
        if rows == 0:
            raise _wrong_shape(name, "servicenow-audit", mapping, "no sys_audit rows", stream_keys)
        return _histories(tickets, mapping, skipped, [])
    frame = _read_frame(path, name, "csv", sep=cols.sep, encoding=cols.encoding, option="--", min_fields=3)
    df, line0, row_word = frame.df, frame.line0, frame.row_word
    for key in (cols.case, cols.timestamp, *_SN_REQUIRED):
        if key not in df.columns:
            raise _missing_field(f"{name}", key, mapping, columns=[str(c) for c in df.columns])
    times = _parse_times(df[cols.timestamp], cols.timestamp_format, zone, name, line0, cols.timestamp, row_word)
    times = times.dt.to_pydatetime().tolist() if hasattr(times.dt, "to_pydatetime") else list(times)
    records = df.to_dict("records")
    for i, item in enumerate(records):
        where = f"{name}:{i + line0}"
        if table and item.get("tablename") not in (None, table):
            skipped += 1
            continue
        ticket = item.get(cols.case)
        if ticket is None or (isinstance(ticket, float) and ticket != ticket):
            raise ImportFormatError(f"{where}: empty {cols.case!r}: every sys_audit row needs the ticket's "
                                    f"sys_id ({_reads(mapping)})")
        clean = {k: (None if isinstance(v, float) and v != v else v) for k, v in item.items()}
        _sn_add(tickets, str(ticket), times[i], clean, cols, where)
    return _histories(tickets, mapping, skipped, [])


def _sn_add(tickets: _Tickets, ticket: str, time: datetime, item: dict[str, Any], cols: ColumnMapping,
            where: str) -> None:
    old = item.get("oldvalue")
    checkpoint = item.get("record_checkpoint")
    try:
        order = int(checkpoint) if checkpoint not in (None, "") else 0
    except (TypeError, ValueError):
        order = 0
    actor = item.get(cols.resource) if cols.resource else None
    tickets.add(ticket, Change(time, order, 0, None if actor in (None, "") else str(actor), str(item["fieldname"]),
                               old, item.get("newvalue"), "change" if old not in (None, "") else "create", where))


def _missing_field(where: str, key: str, mapping: ImportMapping, columns: list[str] | None = None) -> ImportFormatError:
    cols = f" (its columns: {', '.join(columns[:12])}{', ...' if len(columns) > 12 else ''})" if columns else ""
    return ImportFormatError(f"{where}: missing field {key!r}{cols}, which {_reads(mapping)}; "
                             "export those fields, or name the right ones with --mapping or the column flags")


# -- Zendesk ----------------------------------------------------------------------------------


def _zendesk(path: str, mapping: ImportMapping) -> SourceRead:
    name = os.path.basename(path)
    zone = _zone_of(mapping, name)
    tickets = _Tickets()
    items = 0
    seen: list[str] = []
    for container, item, line in iter_json(path, _CONTAINERS["zendesk-audits"], seen):
        where = f"{name}:{line}"
        if not isinstance(item, dict):
            raise _wrong_shape(name, "zendesk-audits", mapping, f"line {line} holds {type(item).__name__}", [])
        if container == "ticket_events" or "child_events" in item:
            _zendesk_event(tickets, item, mapping, zone, where)
        elif container == "audits" or "events" in item:
            _zendesk_audit(tickets, item, mapping, zone, where)
        elif items == 0 and container is None:
            raise _wrong_shape(name, "zendesk-audits", mapping, "the file holds no audits", list(item)[:8])
        else:
            raise ImportFormatError(f"{where}: this object has no 'events' (keys: {', '.join(list(item)[:8])}): "
                                    f"not a ticket audit; expected {SHAPES['zendesk-audits']}")
        items += 1
    if items == 0:
        raise _wrong_shape(name, "zendesk-audits", mapping, "the file holds no audits", seen)
    if COMMENT_FIELD in mapping.changes.steps:
        _name_replies(tickets)
    return _histories(tickets, mapping, 0, [])


#: The pseudo field of a Zendesk public comment; list it in ``[changes] steps`` to make
#: replies steps (the zendesk preset does).
COMMENT_FIELD = "comment"
AGENT_REPLY = "Agent reply"
CUSTOMER_REPLY = "Customer reply"
_PUBLIC_COMMENT = "\0public comment"  # placeholder value until the requester is known


def _public_comment(tickets: _Tickets, ticket: str, comment: dict[str, Any], time: datetime, order: int,
                    author: Any, where: str) -> int:
    """Record a public comment (a reply) with its author; private notes are not replies."""
    if comment.get("public") is not True:
        return 0
    author = comment.get("author_id", author)
    if author in (None, "", -1):
        return 0  # the system's own comments are not replies
    tickets.add(ticket, Change(time, order, 0, str(author), COMMENT_FIELD, None, _PUBLIC_COMMENT, "change", where))
    return 1


def _name_replies(tickets: _Tickets) -> None:
    """Name each public comment by who wrote it: the requester (the author of the ticket's
    first audit) writes a *Customer reply*, anyone else an *Agent reply*. The requester's
    comment in that first audit is the ticket's description, not a reply: it is left out.
    Zendesk's first reply time is the time to the first *Agent reply*."""
    for ticket, records in tickets.by_ticket.items():
        if not any(r.field == COMMENT_FIELD for r in records):
            continue
        first = min(records, key=lambda r: (r.time, r.order, r.seq))
        requester = first.actor
        kept = []
        for r in records:
            if r.field == COMMENT_FIELD:
                if r.actor == requester and (r.time, r.order) == (first.time, first.order):
                    continue
                r = r._replace(new=CUSTOMER_REPLY if r.actor == requester else AGENT_REPLY)
            kept.append(r)
        tickets.by_ticket[ticket] = kept


def _number(value: Any) -> int:
    """An audit's or event's id as a number (ids grow with time: the tie-break), else 0."""
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _need(item: dict[str, Any], key: str, where: str, mapping: ImportMapping, what: str) -> Any:
    if item.get(key) in (None, ""):
        raise ImportFormatError(f"{where}: {what} without {key!r}, which {_reads(mapping)}")
    return item[key]


def _zendesk_audit(tickets: _Tickets, audit: dict[str, Any], mapping: ImportMapping, zone: tzinfo | None,
                   where: str) -> int:
    ticket = str(_need(audit, "ticket_id", where, mapping, "an audit"))
    time = _json_time(_need(audit, "created_at", where, mapping, "an audit"), mapping, zone, where, "created_at")
    order = _number(audit.get("id"))
    actor = audit.get("author_id")
    actor = None if actor in (None, "", -1) else str(actor)
    if isinstance(audit.get("id"), (int, str)) and audit.get("id") != "":
        where = f"{where} audit {audit['id']}"
    events = audit.get("events")
    if not isinstance(events, list):
        raise ImportFormatError(f"{where}: the audit's 'events' is not a list ({_reads(mapping)})")
    via = audit.get("via")
    channel = via.get("channel") if isinstance(via, dict) else via
    if channel not in (None, ""):
        tickets.add(ticket, Change(time, order, 0, actor, "via.channel", None, channel, "meta", where))
    n = 0
    replies = COMMENT_FIELD in mapping.changes.steps
    for event in events:
        if replies and isinstance(event, dict) and event.get("type") == "Comment":
            n += _public_comment(tickets, ticket, event, time, order, audit.get("author_id"), where)
            continue
        if not isinstance(event, dict) or event.get("type") not in ("Create", "Change"):
            continue  # notifications, satisfaction ratings, ...: not field values
        fld = event.get("field_name")
        if fld in (None, ""):
            continue
        n += 1
        kind = "create" if event["type"] == "Create" else "change"
        tickets.add(ticket, Change(time, order, 0, actor, str(fld), event.get("previous_value"), event.get("value"),
                                   kind, where))
    return n


_CHILD_KEYS = {"id", "via", "via_reference_id", "event_type", "type", "previous_value", "audit_id", "created_at",
               "author_id", "field_name", "value", "public", "body", "html_body", "plain_body", "attachments",
               "comment_present", "comment_public", "metadata", "recipients", "subject"}


def _zendesk_event(tickets: _Tickets, event: dict[str, Any], mapping: ImportMapping, zone: tzinfo | None,
                   where: str) -> int:
    ticket = str(_need(event, "ticket_id", where, mapping, "a ticket event"))
    raw_time = event.get("created_at", event.get("timestamp"))
    time = _json_time(raw_time, mapping, zone, where, "created_at")
    order = _number(event.get("id"))
    actor = event.get("updater_id")
    actor = None if actor in (None, "", -1) else str(actor)
    if isinstance(event.get("id"), (int, str)) and event.get("id") != "":
        where = f"{where} event {event['id']}"
    via = event.get("via")
    channel = via.get("channel") if isinstance(via, dict) else via
    if channel not in (None, ""):
        tickets.add(ticket, Change(time, order, 0, actor, "via.channel", None, channel, "meta", where))
    n = 0
    replies = COMMENT_FIELD in mapping.changes.steps
    for child in event.get("child_events") or ():
        if replies and isinstance(child, dict) and child.get("event_type", child.get("type")) == "Comment":
            n += _public_comment(tickets, ticket, child, time, order, event.get("updater_id"), where)
            continue
        if not isinstance(child, dict) or child.get("event_type", child.get("type")) not in ("Create", "Change"):
            continue
        if child.get("field_name"):
            fld, value = str(child["field_name"]), child.get("value")
        else:
            keys = [k for k in child if k not in _CHILD_KEYS]
            if len(keys) != 1:
                continue
            fld, value = keys[0], child[keys[0]]
        n += 1
        kind = "create" if child.get("event_type", child.get("type")) == "Create" else "change"
        tickets.add(ticket, Change(time, order, 0, actor, fld, child.get("previous_value"), value, kind, where))
    return n


# -- Jira --------------------------------------------------------------------------------------


def _jira(path: str, mapping: ImportMapping) -> SourceRead:
    name = os.path.basename(path)
    zone = _zone_of(mapping, name)
    tickets = _Tickets()
    rules = mapping.changes
    wanted = {*rules.steps, *rules.case.values(), *rules.attributes, *([rules.team] if rules.team else [])}
    issues = truncated = 0
    seen: list[str] = []
    for _container, item, line in iter_json(path, _CONTAINERS["jira-changelog"], seen):
        where = f"{name}:{line}"
        if not isinstance(item, dict) or ("key" not in item and "fields" not in item and "changelog" not in item):
            keys = list(item)[:8] if isinstance(item, dict) else []
            raise _wrong_shape(name, "jira-changelog", mapping,
                               "the file holds no issues" if issues == 0 else f"line {line} is not an issue", keys)
        issues += 1
        _jira_issue(tickets, item, mapping, zone, where, wanted)
        log = item.get("changelog") or {}
        total, histories = log.get("total"), log.get("histories") or []
        if isinstance(total, int) and total > len(histories):
            truncated += 1
    if issues == 0:
        raise _wrong_shape(name, "jira-changelog", mapping, "the file holds no issues", seen)
    notes = []
    if truncated:
        notes.append(f"{truncated} issue{'s' if truncated != 1 else ''} with a truncated changelog (the search "
                     "returns at most 100 histories per issue): fetch GET /rest/api/2/issue/KEY/changelog for "
                     "those, or their later steps are missing")
    return _histories(tickets, mapping, 0, notes)


def _jira_issue(tickets: _Tickets, issue: dict[str, Any], mapping: ImportMapping, zone: tzinfo | None,
                where: str, wanted: set[str]) -> int:
    key = str(_need(issue, "key", where, mapping, "an issue"))
    fields = issue.get("fields")
    if not isinstance(fields, dict):
        raise ImportFormatError(f"{where}: issue {key} without 'fields', which {_reads(mapping)}")
    created = _json_time(_need(fields, "created", where, mapping, f"issue {key}'s fields"), mapping, zone, where,
                         "fields.created")
    log = issue.get("changelog")
    if not isinstance(log, dict) or not isinstance(log.get("histories"), list):
        raise ImportFormatError(f"{where}: issue {key} has no changelog.histories: run the search with "
                                f"expand=changelog ({_reads(mapping)})")
    changes: list[tuple[datetime, int, str | None, dict[str, Any], str]] = []
    for h in log["histories"]:
        if not isinstance(h, dict):
            continue
        at = _json_time(h.get("created"), mapping, zone, where, "changelog.histories[].created")
        author = h.get("author") or {}
        actor = next((str(author[k]) for k in ("accountId", "name", "key", "displayName")
                      if isinstance(author, dict) and author.get(k)), None)
        try:
            order = int(h.get("id") or 0)
        except (TypeError, ValueError):
            order = 0
        ref = f"{where} history {h['id']}" if h.get("id") not in (None, "") else where
        for item in h.get("items") or ():
            if isinstance(item, dict) and item.get("field"):
                changes.append((at, order, actor, item, ref))
    changes.sort(key=lambda c: (c[0], c[1]))
    reporter = fields.get("reporter") or fields.get("creator") or {}
    opener = next((str(reporter[k]) for k in ("accountId", "name", "key", "displayName")
                   if isinstance(reporter, dict) and reporter.get(k)), None)
    # Jira records no change at creation: each wanted field's value then is the
    # fromString of its first change, else its value today.
    for fld in sorted(wanted):
        first = next((c for c in changes if str(c[3]["field"]) == fld), None)
        value = first[3].get("fromString") if first is not None else _jira_value(fields.get(fld))
        if value not in (None, ""):
            tickets.add(key, Change(created, -1, 0, opener, fld, None, value, "create", where))
    for at, order, actor, item, ref in changes:
        tickets.add(key, Change(at, order, 0, actor, str(item["field"]), item.get("fromString"),
                                item.get("toString"), "change", ref))
    return len(changes)


def _jira_value(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return _text(value)


# -- tables and XES with a mapping --------------------------------------------------------------


def _refine(read: ReadResult, mapping: ImportMapping) -> SourceRead:
    """Renames, drops, missing values, ``"field: value"`` and the tie column, then collapsing."""
    missing = frozenset(mapping.missing_values)
    column = mapping.columns.activity
    order = mapping.order_column
    out: list[TicketHistory] = []
    collapsed = dropped = 0
    for h in read.histories:
        steps = list(h.steps)
        if order is not None:
            steps.sort(key=lambda s: (s.occurred_at, _rank(s.attrs.get(order))))  # stable: then file order
        rows: list[tuple[ActivityRow, str | None]] = []
        for step in steps:
            if step.activity in missing:
                dropped += 1
                continue
            activity = step.activity if mapping.activity_form == "value" else f"{column}: {step.activity}"
            activity = mapping.rename.get(activity, activity)
            if activity in mapping.drop:
                dropped += 1
                continue
            attrs = {k: v for k, v in step.attrs.items() if not (isinstance(v, str) and v in missing)}
            actor = None if step.actor in missing else step.actor
            team = None if step.team in missing else step.team
            if (activity, attrs, actor, team) != (step.activity, step.attrs, step.actor, step.team):
                step = dataclasses.replace(step, activity=activity, attrs=attrs, actor=actor, team=team)
            rows.append((step, None))
        if not rows:
            continue
        if mapping.collapse_repeats:
            rows, merged = _collapse_rows(rows)
            collapsed += merged
        case = {k: v for k, v in h.case.items() if not (isinstance(v, str) and v in missing)}
        derived = next((s.team for s in h.steps if s.team), None)
        if "team" in case and case["team"] == derived:
            del case["team"]  # it came from the first step with a team: derive it again
        starts = any(s.started_at is not None for s, _ in rows)
        out.append(dataclasses.replace(h, opened_at=_opened_at(rows, starts), case=_case_from(case, rows),
                                       steps=tuple(s for s, _ in rows)))
    return SourceRead(out, read.rows, read.rows_collapsed + collapsed, dropped, _closed(out, mapping))


def _rank(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("inf")


def _check_columns(path: str, fmt: str, mapping: ImportMapping) -> None:
    """A table without a column the mapping reads fails naming the column and the mapping."""
    name = os.path.basename(path)
    c = mapping.columns
    if fmt == "parquet":
        import pyarrow.parquet as pq

        try:
            columns = [str(n) for n in pq.read_schema(path).names]
        except Exception:  # the table reader words it
            return
    else:
        _inflated(path, current_limits(), "CSV")
        head = _head(path, name)
        text = head.decode(_encoding(head, c.encoding, name, "--"), errors="replace")
        sep = c.sep or ("\t" if path.lower().endswith((".tsv", ".tsv.gz")) else (_sniff(text) or ","))
        columns = _header_fields(text, sep)
        if len(columns) < 3:
            return  # the table reader explains the dialect
    needed = [("ticket id", c.case, "--case-column"), ("activity", c.activity, "--activity-column"),
              ("timestamp", c.timestamp, "--timestamp-column"),
              *((f"ticket attribute {a!r}", col, f"--case-attr {a}=COLUMN") for a, col in c.case_attrs.items())]
    for role, col, flag in needed:
        if col not in columns:
            raise ImportFormatError(
                f"{name}: missing {role} column {col!r}, which {mapping.label} reads (the file's columns: "
                f"{', '.join(columns[:12])}{', ...' if len(columns) > 12 else ''}); is this the export "
                f"{mapping.label} is for? Name the right column with {flag}, or give --mapping FILE"
            )


def detect_dialect(path: str, mapping: ImportMapping) -> dict[str, str]:
    """The delimiter and encoding a CSV export looks like (for ``--print-mapping``); {} otherwise."""
    try:
        fmt = mapping.format or detect_format(path)
    except ImportFormatError:
        return {}
    if fmt not in ("csv", "servicenow-audit") or not os.path.isfile(path) or path.lower().endswith(".json"):
        return {}
    name = os.path.basename(path)
    try:
        head = _head(path, name)
        enc = _encoding(head, mapping.columns.encoding, name, "--")
    except ImportFormatError:
        return {}
    sep = _sniff(head.decode(enc, errors="replace"))
    out = {"encoding": "utf-8" if enc == "utf-8-sig" else enc}
    if sep is not None:
        out["delimiter"] = "tab" if sep == "\t" else sep
    return out


def read_source(path: str, mapping: ImportMapping) -> SourceRead:
    """Read an export as ``mapping`` says (raises ImportFormatError naming the mapping on a mismatch).

    Tables and XES are read by :func:`event_store.io.importing.read_log`; change records
    by this module's readers. Renames, drops, missing values and the
    ``"field: value"`` form apply to every format, before repeats are collapsed. The
    case table (``mapping.case_table``) is not joined here (see
    :func:`event_store.io.importing.join_case_table`).
    """
    _check_file(path, "an export file (.csv, .json, .ndjson, .xes, .parquet)")
    fmt = mapping.format or _detect(path)
    if fmt in CHANGE_FORMATS:
        mapping = dataclasses.replace(mapping, format=fmt)
        reader = {"servicenow-audit": _servicenow_audit, "zendesk-audits": _zendesk, "jira-changelog": _jira}[fmt]
        return reader(path, mapping)
    if fmt in ("csv", "parquet") and (mapping.name or mapping.source):
        _check_columns(path, fmt, mapping)  # the plain flags keep the table reader's own messages
    refine = mapping.refines()
    read = read_log(path, fmt=fmt, lifecycle=mapping.lifecycle, mapping=mapping.columns,
                    collapse_repeats=mapping.collapse_repeats and not refine)
    if refine:
        return _refine(read, mapping)
    return SourceRead(read.histories, read.rows, read.rows_collapsed, 0, _closed(read.histories, mapping))


def _detect(path: str) -> str:
    if path.lower().endswith((".json", ".json.gz", ".ndjson", ".jsonl", ".ndjson.gz", ".jsonl.gz")):
        raise ImportFormatError(f"{os.path.basename(path)}: a JSON export: say which system made it with "
                                "--preset zendesk, --preset jira or --preset servicenow-audit")
    return detect_format(path)


def read_vendor(path: str, fmt: str, *, mapping: ColumnMapping | None = None,
                collapse_repeats: bool = False) -> ReadResult:
    """Read a change-record export with its format's preset (the hook of ``read_log``).

    Args:
        path: the file.
        fmt: one of :data:`VENDOR_FORMATS`.
        mapping: columns that override the preset's (time zone, time format, ...);
            None keeps the preset's.
        collapse_repeats: merge repeated states (on top of the preset's choice).
    """
    preset = load_preset(VENDOR_FORMATS[fmt])
    if mapping is not None:
        preset = dataclasses.replace(preset, columns=mapping)
    if collapse_repeats:
        preset = dataclasses.replace(preset, collapse_repeats=True)
    return read_source(path, preset).as_read_result()


__all__ = ["SHAPES", "VENDOR_FORMATS", "JsonStream", "SourceRead", "detect_dialect", "iter_json", "read_source",
           "read_vendor"]
