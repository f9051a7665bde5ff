"""Readers that turn event-log files into :class:`TicketHistory` records.

* XES (``.xes``, ``.xes.gz``): streamed with lxml ``iterparse``; typed attributes.
* CSV (``.csv``, ``.csv.gz``, ``.tsv``): pandas, with a column mapping (case,
  activity, timestamp, resource, team, start timestamp, case attributes), a
  timestamp format and a time zone for naive timestamps. The dialect is detected
  unless given: a byte-order mark names the encoding (UTF-8, UTF-16 LE/BE), else
  UTF-8; the delimiter is sniffed among ``,`` ``;`` tab ``|`` on the first 64 KB
  (the one that splits every line into the header's number of fields), tab for
  ``.tsv``.
* Parquet: pyarrow/pandas, same mapping as CSV; typed columns.

**Business time is the truth of order.** Inside each ticket the rows are sorted by
their timestamp before anything else happens (a stable sort: rows with the same
time keep their file order), in every reader. A ticket's opening time is its
earliest step (or an earlier work start); each case attribute comes from the
earliest row that has a value for it; the steps are recorded in that order. So a copy of a
CSV or Parquet file with its rows shuffled gives the same ticket histories: only the
line numbers in ``source_ref`` differ, the order of rows with the same ticket and
the same time, and the order of the tickets themselves (order of first appearance
in the file, as for XES traces; analytics order tickets by id).

Suspect input is refused rather than guessed at: a header with the same column
name twice (pandas would silently rename the second ``name.1``), a NUL byte in a
value, a line that does not decode in the encoding.

Lifecycle values: in many logs ``lifecycle:transition`` holds *statuses* (BPIC 2013:
"In Progress", "Awaiting Assignment", ...), not the XES start/complete model. With
``lifecycle="auto"`` (the default) the reader looks at the values: if any is outside
the XES standard transitions, the activity becomes ``concept:name/lifecycle``;
if they are start/complete pairs, a ``start`` is folded into the next ``complete``
of the same activity as its ``started_at``; otherwise the lifecycle is ignored.

``collapse_repeats`` merges consecutive rows of a ticket (in time order) with the
same activity (and lifecycle transition) into the first of them; that step gets the
attributes ``last_at`` (the last row's time, ISO 8601) and ``repeats`` (how many
rows it stands for).

A case table (:func:`read_case_table`, :func:`join_case_table`) adds case attributes
from a separate file with one row per ticket; its values win over the events file's.

**Bounded input** (:mod:`event_store.limits`): a compressed file is inflated as a
stream and refused past the size and ratio limits before it is parsed; XES larger than
:data:`FAST_SCAN_MAX` is parsed as a stream; every ticket id, activity, actor, team,
attribute name and value is checked against the field limits before anything is
returned. A CSV that csmine exported itself (its manifest matches, see
:mod:`event_store.io.files`) has the quotes csmine added before formula-like cells removed.

Every error names the file, the line (or trace) and what to do.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import gzip
import io
import os
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from event_store.persistence.bulk import pause_gc
from event_store.errors import ImportFormatError
from event_store.io.files import read_manifest, restore_frame
from event_store.limits import InputLimits, LimitedReader, check_history, current_limits, inflated_size
from event_store.records import CASE_FIELDS, ActivityRow, TicketHistory

XES_LIFECYCLE_STANDARD = {
    "schedule", "assign", "reassign", "start", "suspend", "resume", "autoskip", "manualskip",
    "complete", "withdraw", "ate_abort", "pi_abort", "unknown",
}
LIFECYCLE_MODES = ("auto", "status", "start-complete", "ignore")

CASE_KEY = "case:concept:name"
ACTIVITY_KEY = "concept:name"
TIME_KEY = "time:timestamp"
LIFECYCLE_KEY = "lifecycle:transition"
RESOURCE_KEY = "org:resource"
TEAM_KEY = "org:group"
START_KEY = "start_timestamp"

#: Step attributes ``collapse_repeats`` sets on a merged step.
LAST_AT_ATTR = "last_at"
REPEATS_ATTR = "repeats"
#: Delimiters the CSV sniffer chooses among, in order of preference on a tie.
DELIMITERS = (",", ";", "\t", "|")
SNIFF_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class ColumnMapping:
    """Which columns of a table hold what (CSV and Parquet), and the CSV dialect.

    Attributes:
        case: ticket id column.  activity: activity column.  timestamp: business time.
        resource: actor column.  team: team column.  start: work-start column.
        lifecycle: lifecycle/status column combined as for XES.
        case_attrs: ticket attribute -> column (e.g. ``{"channel": "Channel"}``);
            columns named ``case:<name>`` are taken as ticket attributes as well.
        timestamp_format: ``strptime`` format (default: ISO 8601, inferred).
        tz: time zone for naive timestamps (IANA name, e.g. ``Asia/Shanghai``).
        sep: CSV delimiter, one character (None: sniffed; tab for ``.tsv``).
        encoding: CSV text encoding (None: what a byte-order mark says, else UTF-8).
    """

    case: str = CASE_KEY
    activity: str = ACTIVITY_KEY
    timestamp: str = TIME_KEY
    resource: str | None = RESOURCE_KEY
    team: str | None = TEAM_KEY
    start: str | None = START_KEY
    lifecycle: str | None = LIFECYCLE_KEY
    case_attrs: dict[str, str] = field(default_factory=dict)
    timestamp_format: str | None = None
    tz: str | None = None
    sep: str | None = None
    encoding: str | None = None


@dataclass(frozen=True, slots=True)
class ReadResult:
    """What reading an event-log file gave.

    Attributes:
        histories: the tickets (order: see the module docstring).
        rows: event rows (XES: events) in the file.
        rows_collapsed: rows merged into the row before them by ``collapse_repeats``
            (0 without it): ``rows - rows_collapsed`` rows remain.
    """

    histories: list[TicketHistory]
    rows: int
    rows_collapsed: int = 0


@dataclass(frozen=True, slots=True)
class CaseTable:
    """Case attributes per ticket from a case table (one row per ticket).

    Attributes:
        source: the file's name.
        key: the ticket id column.
        attributes: the attribute names its other columns give (``case:`` stripped).
        rows: ticket id -> its attributes (empty cells left out).
    """

    source: str
    key: str
    attributes: tuple[str, ...]
    rows: dict[str, dict[str, Any]]


@dataclass(frozen=True, slots=True)
class CaseTableJoin:
    """Ticket histories with a case table's attributes, and how the two files matched.

    Attributes:
        histories: the tickets, in the same order; case-table values win.
        matched: tickets with events and a row in the case table.
        without_row: tickets with events but no row in the case table.
        without_events: case-table rows whose ticket has no events in the events file.
    """

    histories: list[TicketHistory]
    matched: int
    without_row: int
    without_events: int


def _zone(name: str | None, source: str) -> tzinfo | None:
    if name is None:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ImportFormatError(f"{source}: unknown time zone {name!r} (use an IANA name such as Europe/Brussels or UTC)") from None


def detect_format(path: str) -> str:
    lower = path.lower()
    if lower.endswith((".xes", ".xes.gz")):
        return "xes"
    if lower.endswith((".csv", ".csv.gz", ".tsv", ".tsv.gz")):
        return "csv"
    if lower.endswith((".parquet", ".pq")):
        return "parquet"
    raise ImportFormatError(f"cannot tell the format of {path!r} from its name: use --format xes|csv|parquet")


def parse_sep(value: str | None, option: str = "--sep") -> str | None:
    """The delimiter ``value`` names: one character, ``tab`` (or ``\\t``) for a tab."""
    if value is None:
        return None
    sep = "\t" if value.lower() in ("tab", "\\t") else value
    if len(sep) != 1 or sep in ('"', "\n", "\r"):
        raise ImportFormatError(f"{option} {value!r}: give one character, e.g. ',', ';', '|', or tab")
    return sep


def _check_file(path: str, what: str = "an event-log file (.xes, .xes.gz, .csv, .parquet)") -> None:
    if os.path.isdir(path):
        raise ImportFormatError(f"{path!r} is a directory: give {what}")
    if not os.path.exists(path):
        raise ImportFormatError(f"no such file: {path!r} (check the path)")
    if os.path.getsize(path) == 0:
        raise ImportFormatError(f"{os.path.basename(path)} is empty: nothing to import (check the export that made it)")


def read_log(path: str, *, fmt: str | None = None, lifecycle: str = "auto", mapping: ColumnMapping | None = None,
             collapse_repeats: bool = False) -> ReadResult:
    """Read a whole event-log file into ticket histories (raises ImportFormatError).

    Args:
        path: the file (XES, CSV or Parquet; ``fmt`` or the name says which).
        fmt: ``xes``, ``csv`` or ``parquet`` (default: from the file name).
        lifecycle: how to read ``lifecycle:transition`` (see the module docstring).
        mapping: columns and CSV dialect of a table; ``tz`` applies to XES too.
        collapse_repeats: merge consecutive rows of a ticket with the same activity.
    """
    _check_file(path)
    if lifecycle not in LIFECYCLE_MODES:
        raise ImportFormatError(f"unknown lifecycle mode {lifecycle!r}: use one of {', '.join(LIFECYCLE_MODES)}")
    fmt = fmt or detect_format(path)
    if fmt in ("servicenow-audit", "zendesk-audits", "jira-changelog"):  # change records: event_store.io.vendors
        from event_store.io.vendors import read_vendor

        return read_vendor(path, fmt, mapping=mapping, collapse_repeats=collapse_repeats)
    if fmt == "xes":
        return _read_xes(path, lifecycle=lifecycle, tz=(mapping.tz if mapping else None),
                         collapse_repeats=collapse_repeats)
    if fmt in ("csv", "parquet"):
        return _read_table(path, fmt=fmt, lifecycle=lifecycle, mapping=mapping or ColumnMapping(),
                           collapse_repeats=collapse_repeats)
    raise ImportFormatError(f"unknown format {fmt!r}: use xes, csv or parquet")


def read_histories(path: str, *, fmt: str | None = None, lifecycle: str = "auto",
                   mapping: ColumnMapping | None = None, collapse_repeats: bool = False) -> list[TicketHistory]:
    """Read a whole file into ticket histories (raises ImportFormatError); see :func:`read_log`."""
    histories = read_log(path, fmt=fmt, lifecycle=lifecycle, mapping=mapping,
                         collapse_repeats=collapse_repeats).histories
    return histories if isinstance(histories, list) else list(histories)


def count_events(histories: Any) -> int:
    """Steps in ``histories`` (a list of TicketHistory, or a columnar read: without building objects)."""
    n = getattr(histories, "n_events", None)
    return int(n) if n is not None else sum(len(h.steps) for h in histories)


# -- XES ------------------------------------------------------------------------------------


#: XES up to this size (inflated) is read whole by the fast scanner; larger files are
#: parsed as a stream by lxml, so memory follows the parsed tickets, not the file.
FAST_SCAN_MAX = 256 * 1024 * 1024


def _unreadable(path: str, exc: BaseException, what: str) -> ImportFormatError:
    gz = "gzipped " if path.lower().endswith(".gz") else ""
    return ImportFormatError(f"{os.path.basename(path)}: cannot read ({exc}); is it really a {gz}{what} file? "
                             "(check the file is complete)")


def _inflated(path: str, limits: InputLimits, what: str) -> int:
    """The size a file gives when read: a ``.gz`` is inflated as a stream within the limits."""
    if not path.lower().endswith(".gz"):
        return os.path.getsize(path)
    try:
        return inflated_size(path, limits)
    except (OSError, EOFError, zlib.error) as exc:
        raise _unreadable(path, exc, what) from None


def _read_bytes(path: str, limits: InputLimits | None = None) -> bytes:
    try:
        if path.lower().endswith(".gz"):
            with LimitedReader(path, limits or current_limits()) as fh:
                return fh.read()
        with open(path, "rb") as fh:
            return fh.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise _unreadable(path, exc, "XES") from None


def read_xes(path: str, *, lifecycle: str = "auto", tz: str | None = None, fast: bool = True,
             collapse_repeats: bool = False) -> list[TicketHistory]:
    """Parse an XES file (optionally gzipped) into ticket histories, traces in file order.

    Args:
        path: the file.
        lifecycle: how to read ``lifecycle:transition`` (see the module docstring).
        tz: time zone for dates without an offset.
        fast: use the fast scanner where the layout allows (lxml otherwise).
        collapse_repeats: merge consecutive events of a trace with the same activity.
    """
    return _read_xes(path, lifecycle=lifecycle, tz=tz, fast=fast, collapse_repeats=collapse_repeats).histories


def _row_time(item: tuple[ActivityRow, str | None]) -> datetime:
    return item[0].occurred_at


def _read_xes(path: str, *, lifecycle: str = "auto", tz: str | None = None, fast: bool = True,
              collapse_repeats: bool = False) -> ReadResult:
    from event_store.io.xes import scan_lxml, scan_xes

    zone = _zone(tz, path)
    name = os.path.basename(path)
    limits = current_limits()
    size = _inflated(path, limits, "XES")
    n_rows = collapsed = 0
    with pause_gc():
        if size <= FAST_SCAN_MAX:
            raw = _read_bytes(path, limits)
            if not raw.strip():
                raise ImportFormatError(f"{name} is empty: nothing to import")
            traces = scan_xes(raw, name, zone, fast=fast)
            del raw
        else:
            try:
                with (LimitedReader(path, limits) if path.lower().endswith(".gz") else open(path, "rb")) as fh:
                    traces = scan_lxml(fh, name, zone)
            except (OSError, EOFError, zlib.error) as exc:
                raise _unreadable(path, exc, "XES") from None
        if not traces:
            raise ImportFormatError(f"{name}: no <trace> elements: not an XES event log, or an empty one")
        lifecycles = {str(a[LIFECYCLE_KEY]) for t in traces for a, _ in t.events if LIFECYCLE_KEY in a}
        mode = _lifecycle_mode(lifecycle, lifecycles)
        out: list[TicketHistory] = []
        seen: set[str] = set()
        for trace in traces:
            tattrs = trace.attrs
            case_id = tattrs.pop("concept:name", None)
            if case_id is None:
                raise ImportFormatError(f"{name}:{trace.line}: trace without concept:name (every ticket needs an id)")
            case_id = str(case_id)
            if case_id in seen:
                raise ImportFormatError(f"{name}:{trace.line}: ticket id {case_id!r} appears in two traces")
            seen.add(case_id)
            rows = [_row_from_attrs(attrs, mode, name, line) for attrs, line in trace.events]
            n_rows += len(rows)
            rows.sort(key=_row_time)  # stable: events at the same time keep file order
            if collapse_repeats:
                rows, merged = _collapse_rows(rows)
                collapsed += merged
            steps = _fold_lifecycle(rows, mode)
            if not steps:
                continue
            case = _case_from(tattrs, steps)
            out.append(TicketHistory(case_id, _opened_at(steps, True), case, tuple(s for s, _ in steps),
                                     f"{name}:{trace.line}"))
    for history in out:
        check_history(history, limits)
    return ReadResult(out, n_rows, collapsed)


def _lifecycle_mode(requested: str, values: set[str]) -> str:
    if requested != "auto":
        return requested
    if not values:
        return "ignore"
    lowered = {v.lower() for v in values}
    if not lowered <= XES_LIFECYCLE_STANDARD:
        return "status"
    if "start" in lowered and "complete" in lowered:
        return "start-complete"
    return "ignore"


def _row_from_attrs(attrs: dict[str, Any], mode: str, name: str, line: int) -> tuple[ActivityRow, str | None]:
    activity = attrs.pop(ACTIVITY_KEY, None)
    if activity is None:
        raise ImportFormatError(f"{name}:{line}: event without concept:name (the activity); add it or drop the event")
    ts = attrs.pop(TIME_KEY, None)
    if ts is None:
        raise ImportFormatError(f"{name}:{line}: event without time:timestamp; add it or drop the event")
    if not isinstance(ts, datetime):
        raise ImportFormatError(f"{name}:{line}: time:timestamp is not a <date> (it is {ts!r})")
    lc = attrs.pop(LIFECYCLE_KEY, None)
    if lc is not None:
        if mode == "status":
            activity = f"{activity}/{lc}"
        elif mode == "ignore" and str(lc).lower() != "complete":
            attrs[LIFECYCLE_KEY] = lc
    started = attrs.pop(START_KEY, None)
    actor = attrs.pop(RESOURCE_KEY, None)
    team = attrs.pop(TEAM_KEY, None)
    row = ActivityRow(
        str(activity),
        ts,
        None if actor is None else str(actor),
        None if team is None else str(team),
        started if isinstance(started, datetime) else None,
        f"{name}:{line}",
        attrs,
    )
    return row, (str(lc).lower() if lc is not None and mode == "start-complete" else None)


def _collapse_rows(rows: list[tuple[ActivityRow, str | None]]) -> tuple[list[tuple[ActivityRow, str | None]], int]:
    """Merge runs of rows with the same activity and lifecycle into their first row."""
    out: list[tuple[ActivityRow, str | None]] = []
    merged = 0
    i, n = 0, len(rows)
    while i < n:
        row, lc = rows[i]
        key = (row.activity, lc, row.attrs.get(LIFECYCLE_KEY))
        j = i + 1
        while j < n and (rows[j][0].activity, rows[j][1], rows[j][0].attrs.get(LIFECYCLE_KEY)) == key:
            j += 1
        if j - i > 1:
            attrs = {**row.attrs, LAST_AT_ATTR: rows[j - 1][0].occurred_at.isoformat(), REPEATS_ATTR: j - i}
            row = dataclasses.replace(row, attrs=attrs)
            merged += j - i - 1
        out.append((row, lc))
        i = j
    return out, merged


def _fold_lifecycle(rows: list[tuple[ActivityRow, str | None]], mode: str) -> list[tuple[ActivityRow, str | None]]:
    if mode != "start-complete":
        return rows
    out: list[tuple[ActivityRow, str | None]] = []
    open_starts: dict[str, list[datetime]] = {}
    for row, lc in rows:
        if lc == "start":
            open_starts.setdefault(row.activity, []).append(row.occurred_at)
            continue
        starts = open_starts.get(row.activity)
        if lc == "complete" and starts:
            started = starts.pop(0)
            row = ActivityRow(row.activity, row.occurred_at, row.actor, row.team, started, row.source_ref, row.attrs)
        out.append((row, lc))
    return out


def _opened_at(steps: list[tuple[ActivityRow, str | None]], has_starts: bool) -> datetime:
    """The earliest business time of a ticket's steps (sorted by time), work starts included."""
    first = steps[0][0].occurred_at
    if not has_starts:
        return first
    starts = [s.started_at for s, _ in steps if s.started_at is not None]
    return min(first, *starts) if starts else first


def _case_from(case: dict[str, Any], steps: list[tuple[ActivityRow, str | None]]) -> dict[str, Any]:
    out = {}
    for k, v in case.items():
        key = k[5:] if k.startswith("case:") else k
        out[key] = v
    if "team" not in out:
        first_team = next((s.team for s, _ in steps if s.team), None)  # the earliest step with a team
        if first_team is not None:
            out["team"] = first_team
    return out


# -- CSV and Parquet: reading the frame --------------------------------------------------


@dataclass(slots=True)
class _Frame:
    """A table as read, with what is needed for messages."""

    df: Any
    line0: int  # line (CSV) or row (Parquet) number of the first data row
    row_word: str
    sep: str | None = None  # the delimiter used (CSV)
    sniffed: str | None = None  # the delimiter the sample suggests (CSV)
    option: str = "--"

    def sep_hint(self) -> str:
        """'; the file looks ;-separated: pass --sep ';'' when the sample suggests another delimiter."""
        if self.sniffed is None or self.sep is None or self.sniffed == self.sep:
            return ""
        return f"; the file looks {_sep_word(self.sniffed)}-separated: pass {self.option}sep {_sep_arg(self.sniffed)}"


def _sep_word(sep: str) -> str:
    return "tab" if sep == "\t" else sep


def _sep_arg(sep: str) -> str:
    return "tab" if sep == "\t" else f"'{sep}'"


def _listing(numbers: list[int]) -> str:
    return ", ".join(map(str, numbers[:-1])) + f" and {numbers[-1]}" if len(numbers) > 1 else str(numbers[0])


def _read_frame(path: str, name: str, fmt: str, *, sep: str | None, encoding: str | None, option: str,
                min_fields: int) -> _Frame:
    """Read a CSV or Parquet file into a DataFrame; suspect input refused (see the module docstring)."""
    import pandas as pd

    if fmt == "csv":
        frame = _read_csv(path, name, sep=sep, encoding=encoding, option=option, min_fields=min_fields)
    else:
        import pyarrow.parquet as pq

        try:
            names = [str(n) for n in pq.read_schema(path).names]
            _check_header(names, name, "schema")
            df = pq.read_table(path).to_pandas(types_mapper={}.get, timestamp_as_object=False)
        except ImportFormatError:
            raise
        except Exception as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ImportFormatError(f"{name}: cannot read as PARQUET: {first} (is it really a PARQUET file?)") from None
        frame = _Frame(df, 1, "row", option=option)
    if frame.df.empty:
        raise ImportFormatError(f"{name}: no rows to import (only a header?)")
    _check_nul(frame.df, name, frame.line0, frame.row_word, pd)
    return frame


def _read_csv(path: str, name: str, *, sep: str | None, encoding: str | None, option: str,
              min_fields: int) -> _Frame:
    import pandas as pd

    sep = parse_sep(sep, f"{option}sep")
    _inflated(path, current_limits(), "CSV")  # a compressed file is refused before pandas inflates it
    manifest = read_manifest(path)
    head = _head(path, name)
    enc = _encoding(head, encoding, name, option)
    text = head.decode(enc, errors="replace")
    if len(head) >= SNIFF_BYTES and text.rfind("\n") > 0:
        text = text[: text.rfind("\n") + 1]  # whole lines only
    sniffed = _sniff(text)
    if sep is None:
        sep = "\t" if path.lower().endswith((".tsv", ".tsv.gz")) else (sniffed or ",")
    frame = _Frame(None, 2, "line", sep, sniffed, option)  # line 1 is the header
    header = _header_fields(text, sep)
    if len(header) < min_fields and frame.sep_hint():
        raise ImportFormatError(
            f"{name}: line 1 splits into {len(header)} column{'' if len(header) == 1 else 's'} "
            f"with {option}sep {_sep_arg(sep)}{frame.sep_hint()}"
        )
    _check_header(header, name, "line 1")
    try:
        frame.df = pd.read_csv(path, sep=sep, encoding=enc, dtype=str, keep_default_na=False, na_values=[""])
    except UnicodeDecodeError:
        raise ImportFormatError(_encoding_message(path, name, enc, option)) from None
    except pd.errors.EmptyDataError:
        raise ImportFormatError(f"{name} is empty: nothing to import (check the export that made it)") from None
    except pd.errors.ParserError as exc:
        raise ImportFormatError(_parser_message(name, str(exc), frame)) from None
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ImportFormatError(f"{name}: cannot read as CSV: {first} (is it really a CSV file?)") from None
    if manifest is not None and manifest.get("cells") == "neutralised":
        # csmine's own export: take off the quotes it put before formula-like cells
        frame.df = restore_frame(frame.df)
    return frame


def _open_binary(path: str) -> Any:
    return gzip.open(path, "rb") if path.lower().endswith(".gz") else open(path, "rb")


def _head(path: str, name: str) -> bytes:
    try:
        with _open_binary(path) as fh:
            return bytes(fh.read(SNIFF_BYTES))
    except (OSError, EOFError, zlib.error) as exc:
        gz = "gzipped " if path.lower().endswith(".gz") else ""
        raise ImportFormatError(f"{name}: cannot read ({exc}); is it really a {gz}CSV file? "
                                "(check the file is complete)") from None


def _encoding(head: bytes, encoding: str | None, name: str, option: str) -> str:
    """The codec to read with: the one given, else what a byte-order mark says, else UTF-8."""
    if encoding is not None:
        try:
            codec = codecs.lookup(encoding).name
        except LookupError:
            raise ImportFormatError(f"{name}: unknown encoding {encoding!r} ({option}encoding takes a Python codec "
                                    "name such as utf-8, latin-1, cp1252 or utf-16)") from None
        return "utf-8-sig" if codec == "utf-8" and head.startswith(codecs.BOM_UTF8) else encoding
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    return "utf-8"


def _sniff(text: str) -> str | None:
    """The delimiter that splits the sample's lines most consistently into the header's field count."""
    best: str | None = None
    best_score: tuple[float, int] | None = None
    for cand in DELIMITERS:
        try:
            counts = [len(r) for r in csv.reader(io.StringIO(text), delimiter=cand) if r]
        except csv.Error:
            continue
        if not counts or counts[0] < 2:
            continue
        score = (sum(1 for c in counts if c == counts[0]) / len(counts), counts[0])
        if best_score is None or score > best_score:
            best, best_score = cand, score
    return best


def _header_fields(text: str, sep: str) -> list[str]:
    try:
        return next(csv.reader(io.StringIO(text), delimiter=sep), [])
    except csv.Error:
        return []


def _check_header(names: list[str], name: str, where: str) -> None:
    positions: dict[str, list[int]] = {}
    for i, col in enumerate(names, 1):
        if "\x00" in col:
            raise ImportFormatError(f"{name}: {where}, column {i}: the column name holds a NUL byte (\\0): "
                                    "the file is damaged or partly binary; re-export it")
        if col != "":  # pandas names empty headers "Unnamed: N", uniquely
            positions.setdefault(col, []).append(i)
    for col, pos in positions.items():
        if len(pos) > 1:
            raise ImportFormatError(
                f"{name}: {where}: column name {col!r} appears {len(pos)} times (columns {_listing(pos)}); "
                "give each column its own name"
                + (f" (read as is, the second would silently become {col + '.1'!r})" if where == "line 1" else "")
            )


def _check_nul(df: Any, name: str, line0: int, row_word: str, pd: Any) -> None:
    for col in df.columns:
        series = df[col]
        if not (series.dtype == object or isinstance(series.dtype, pd.StringDtype)):
            continue
        try:
            hit = series.str.contains("\x00", regex=False, na=False)
        except (AttributeError, TypeError):  # an object column without text
            continue
        if hit.any():
            i = int(hit.to_numpy(dtype=bool).nonzero()[0][0])
            raise ImportFormatError(
                f"{name}: {row_word} {i + line0}, column {col!r}: the value holds a NUL byte (\\0), which a "
                "text export never should: the file is damaged or partly binary; clean or re-export it"
            )


def _encoding_message(path: str, name: str, enc: str, option: str) -> str:
    """Which line does not decode, and what to pass (only run when reading failed)."""
    where, detail = "a line", ""
    try:
        decoder = codecs.getincrementaldecoder(enc)()
        with _open_binary(path) as fh:
            for lineno, line in enumerate(fh, 1):
                try:
                    decoder.decode(line)
                except UnicodeDecodeError as exc:
                    where = f"line {lineno}"
                    if 0 <= exc.start < len(line):
                        detail = f" (byte 0x{line[exc.start]:02X} at byte {exc.start + 1} of the line)"
                    break
    except (OSError, EOFError, zlib.error, LookupError):
        pass
    codec = codecs.lookup(enc).name
    if codec in ("utf-8", "utf-8-sig"):
        return f"{name}: {where} is not valid UTF-8{detail}: pass {option}encoding latin-1 (or cp1252)"
    return (f"{name}: {where} is not valid {enc}{detail}: pass the file's encoding with {option}encoding, "
            "e.g. utf-8, latin-1 or cp1252")


def _parser_message(name: str, message: str, frame: _Frame) -> str:
    sep = frame.sep or ","
    hint = frame.sep_hint() or (f"; a value holding {_sep_word(sep)!r} must be in double quotes "
                                "(check the quoting on that line)")
    m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", message)
    if m:
        return f"{name}: line {m.group(2)} has {m.group(3)} fields, the header {m.group(1)}{hint}"
    first = message.strip().splitlines()[0] if message.strip() else "parse error"
    return f"{name}: cannot read as CSV: {first}{hint}"


# -- CSV and Parquet: event rows ----------------------------------------------------------


def read_table(path: str, *, fmt: str, lifecycle: str, mapping: ColumnMapping,
               collapse_repeats: bool = False) -> list[TicketHistory]:
    """Read CSV or Parquet with a column mapping into ticket histories.

    Inside a ticket the rows are sorted by business time (ties keep file order);
    tickets come out in order of first appearance. CSV values are text; Parquet columns
    keep their types (ints, floats, booleans, times), missing cells are left out of
    the attributes.
    """
    histories = _read_table(path, fmt=fmt, lifecycle=lifecycle, mapping=mapping,
                            collapse_repeats=collapse_repeats).histories
    return histories if isinstance(histories, list) else list(histories)


def _read_table(path: str, *, fmt: str, lifecycle: str, mapping: ColumnMapping,
                collapse_repeats: bool) -> ReadResult:
    if fmt == "csv" and not collapse_repeats and os.environ.get("CSMINE_COLUMNAR", "1") != "0":
        from event_store.io.columnar import read_csv_columns

        log = read_csv_columns(path, lifecycle=lifecycle, mapping=mapping)
        if log is not None:  # the common case, read as columns (histories built only if asked for)
            return ReadResult(log, log.rows, 0)  # type: ignore[arg-type]
    return _read_table_rows(path, fmt=fmt, lifecycle=lifecycle, mapping=mapping, collapse_repeats=collapse_repeats)


def _read_table_rows(path: str, *, fmt: str, lifecycle: str, mapping: ColumnMapping,
                     collapse_repeats: bool) -> ReadResult:
    import numpy as np
    import pandas as pd

    name = os.path.basename(path)
    frame = _read_frame(path, name, fmt, sep=mapping.sep, encoding=mapping.encoding, option="--", min_fields=3)
    df, line0, row_word = frame.df, frame.line0, frame.row_word
    _check_table_columns(df, mapping, name, frame)
    zone = _zone(mapping.tz, name)
    ts = _parse_times(df[mapping.timestamp], mapping.timestamp_format, zone, name, line0, mapping.timestamp, row_word)
    start = None
    if mapping.start and mapping.start in df.columns:
        start = _parse_times(df[mapping.start], mapping.timestamp_format, zone, name, line0, mapping.start,
                             row_word, allow_missing=True)
    bad = df[mapping.case].isna() | df[mapping.activity].isna()
    if bad.any():
        i = int(bad.to_numpy().nonzero()[0][0])
        which = "ticket id" if pd.isna(df[mapping.case].iloc[i]) else "activity"
        raise ImportFormatError(f"{name}: {row_word} {i + line0}: empty {which}; fill it in or drop the {row_word}")
    special = {mapping.case, mapping.activity, mapping.timestamp, mapping.resource, mapping.team, mapping.start,
               mapping.lifecycle, *mapping.case_attrs.values()}
    case_cols = dict(mapping.case_attrs)
    for col in df.columns:
        if isinstance(col, str) and col.startswith("case:") and col != mapping.case and col not in special:
            case_cols.setdefault(col[5:], col)
    attr_cols = [c for c in df.columns if c not in special and c not in case_cols.values() and not str(c).startswith("@@")]
    has_lc = mapping.lifecycle is not None and mapping.lifecycle in df.columns
    lc_values = {str(v) for v in df[mapping.lifecycle].dropna().unique()} if has_lc else set()
    mode = _lifecycle_mode(lifecycle, lc_values)
    # Business time is the truth of order: a stable sort by (ticket, time), so rows
    # with the same ticket and time keep file order. Tickets keep their order of first
    # appearance (an export re-imported keeps the store's order).
    n = len(df)
    codes, uniques = pd.factorize(df[mapping.case], sort=False)
    tkey = ts.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().view("int64")
    order = np.lexsort((np.arange(n), tkey, codes))
    keep, collapsed = order, 0
    extra_attrs: list[tuple[str, list[Any]]] = []
    if collapse_repeats and n > 1:
        keep, collapsed, extra_attrs = _collapse_table(df, mapping, mode, has_lc, codes, order, ts)
    by_case = _rows_by_ticket(df, mapping, mode, codes, keep, ts, start, f"{name}:", line0, attr_cols, extra_attrs)

    # Each case attribute from the earliest row (in time order, every row) that has a value.
    case_lists: list[tuple[str, list[Any]]] = []
    if case_cols:
        cols = list(dict.fromkeys(case_cols.values()))
        firsts = df[cols].take(order).groupby(codes[order], sort=False).first()
        case_lists = [(a, _column(firsts, c) or []) for a, c in case_cols.items()]
    has_starts = start is not None or mode == "start-complete"
    out = []
    for code, rows in by_case.items():
        steps = _fold_lifecycle(rows, mode)
        if not steps:
            continue
        case_values = {a: values[code] for a, values in case_lists if values[code] is not None}
        out.append(TicketHistory(str(uniques[code]), _opened_at(steps, has_starts), _case_from(case_values, steps),
                                 tuple(s for s, _ in steps), steps[0][0].source_ref))
    for history in out:
        check_history(history, current_limits())
    return ReadResult(out, n, collapsed)


def _check_table_columns(df: Any, mapping: ColumnMapping, name: str, frame: _Frame) -> None:
    """The mapped ticket, activity, timestamp and case-attribute columns are in the table."""
    for role, col, opt in (("ticket id", mapping.case, "--case-column"),
                           ("activity", mapping.activity, "--activity-column"),
                           ("timestamp", mapping.timestamp, "--timestamp-column")):
        if col not in df.columns:
            raise ImportFormatError(
                f"{name}: missing {role} column {col!r} (columns are: {', '.join(map(str, df.columns[:12]))}"
                f"{', ...' if len(df.columns) > 12 else ''}; name the right one with {opt}){frame.sep_hint()}"
            )
    for attr, col in mapping.case_attrs.items():
        if col not in df.columns:
            raise ImportFormatError(
                f"{name}: missing column {col!r} mapped to ticket attribute {attr!r} "
                f"(columns are: {', '.join(map(str, df.columns[:12]))}; fix --case-attr {attr}=COLUMN)"
            )


def _rows_by_ticket(df: Any, mapping: ColumnMapping, mode: str, codes: Any, keep: Any, ts: Any, start: Any,
                    ref: str, line0: int, attr_cols: list[Any],
                    extra_attrs: list[tuple[str, list[Any]]]) -> dict[int, list[tuple[ActivityRow, str | None]]]:
    """The kept rows (in ``keep`` order) as steps per ticket code, with their lifecycle for folding."""
    import numpy as np
    import pandas as pd

    n = len(df)
    identity = len(keep) == n and bool(np.array_equal(keep, np.arange(n)))
    rows_df = df if identity else df.take(keep)
    rows_ts = ts if identity else ts.take(keep)
    rows_start = None if start is None else (start if identity else start.take(keep))
    tickets = codes[keep].tolist()
    activities = [str(v) for v in rows_df[mapping.activity].tolist()]
    times = rows_ts.dt.to_pydatetime().tolist() if hasattr(rows_ts.dt, "to_pydatetime") else list(rows_ts)
    starts = ([None if pd.isna(v) else v for v in rows_start.dt.to_pydatetime().tolist()]
              if rows_start is not None else None)
    refs = [f"{ref}{k}" for k in (keep + line0).tolist()]
    lc_col = _column(rows_df, mapping.lifecycle)
    actors = _column(rows_df, mapping.resource)
    teams = _column(rows_df, mapping.team)
    attr_values = [(str(c), _column(rows_df, c)) for c in attr_cols]
    for key, values in extra_attrs:  # collapse_repeats: set on merged steps only
        at = next((k for k, (c, _) in enumerate(attr_values) if c == key), None)
        if at is None:
            attr_values.append((key, values))
        else:
            old = attr_values[at][1]
            assert old is not None
            attr_values[at] = (key, [v if v is not None else o for v, o in zip(values, old, strict=True)])
    by_case: dict[int, list[tuple[ActivityRow, str | None]]] = {}
    for i in range(len(tickets)):
        activity = activities[i]
        lc = lc_col[i] if lc_col is not None else None
        lc = None if lc is None else str(lc)
        attrs = {c: col[i] for c, col in attr_values if col[i] is not None}  # type: ignore[index]
        if lc is not None:
            if mode == "status":
                activity = f"{activity}/{lc}"
            elif mode == "ignore" and lc.lower() != "complete":
                attrs[LIFECYCLE_KEY] = lc
        actor = actors[i] if actors is not None else None
        team = teams[i] if teams is not None else None
        row = ActivityRow(activity, times[i], None if actor is None else str(actor), None if team is None else str(team),
                          starts[i] if starts is not None else None, refs[i], attrs)
        by_case.setdefault(tickets[i], []).append((row, lc.lower() if (lc and mode == "start-complete") else None))
    return by_case


def _collapse_table(df: Any, mapping: ColumnMapping, mode: str, has_lc: bool, codes: Any, order: Any,
                    ts: Any) -> tuple[Any, int, list[tuple[str, list[Any]]]]:
    """Rows to keep (positions, in order), rows merged, and the ``last_at``/``repeats`` columns."""
    import numpy as np
    import pandas as pd

    key = df[mapping.activity].astype("string")
    if has_lc:
        lc = df[mapping.lifecycle].astype("string")
        if mode == "status":
            key = key.where(lc.isna(), key + "/" + lc)
        elif mode == "start-complete":
            key = key + "\x1f" + lc.str.lower().fillna("")
        else:  # ignore: a non-complete transition stays an attribute, so it tells rows apart
            key = key + "\x1f" + lc.where(lc.str.lower().ne("complete").fillna(False), "")
    kcodes = pd.factorize(key, sort=False)[0][order]
    ccodes = codes[order]
    n = len(order)
    same = np.zeros(n, dtype=bool)
    same[1:] = (ccodes[1:] == ccodes[:-1]) & (kcodes[1:] == kcodes[:-1])
    if not same.any():
        return order, 0, []
    first = np.flatnonzero(~same)
    last = np.r_[first[1:], n] - 1
    count = last - first + 1
    merged = count > 1
    last_times = ts.take(order[last[merged]]).dt.to_pydatetime()
    last_at = np.full(len(first), None, dtype=object)
    last_at[merged] = [t.isoformat() for t in last_times]
    repeats = np.full(len(first), None, dtype=object)
    repeats[merged] = count[merged].tolist()
    return order[first], int(n - len(first)), [(LAST_AT_ATTR, last_at.tolist()), (REPEATS_ATTR, repeats.tolist())]


# -- case tables -----------------------------------------------------------------------------


def read_case_table(path: str, key: str, *, fmt: str | None = None, sep: str | None = None,
                    encoding: str | None = None) -> CaseTable:
    """Read a case table: one row per ticket, its other columns case attributes.

    Columns named like :data:`CASE_FIELDS` (after stripping a ``case:`` prefix) fill
    those fields; the others become free case attributes. Empty cells give no value.
    CSV dialect detection and the refusals are those of the events file; an empty
    ticket id and a ticket id on two rows are refused too.

    Args:
        path: CSV or Parquet file.
        key: the column holding the ticket id.
        fmt: ``csv`` or ``parquet`` (default: from the name).
        sep: CSV delimiter (default: sniffed).
        encoding: CSV encoding (default: byte-order mark, else UTF-8).
    """
    import numpy as np

    _check_file(path, "a case table (.csv, .parquet)")
    name = os.path.basename(path)
    fmt = fmt or detect_format(path)
    if fmt not in ("csv", "parquet"):
        raise ImportFormatError(f"case table {name}: give a CSV or Parquet file with one row per ticket")
    frame = _read_frame(path, name, fmt, sep=sep, encoding=encoding, option="--case-", min_fields=2)
    df, line0, row_word = frame.df, frame.line0, frame.row_word
    if key not in df.columns:
        raise ImportFormatError(
            f"case table {name}: missing ticket id column {key!r} (columns are: "
            f"{', '.join(map(str, df.columns[:12]))}{', ...' if len(df.columns) > 12 else ''}; "
            f"name it with --case-key){frame.sep_hint()}"
        )
    empty = df[key].isna().to_numpy(dtype=bool)
    if empty.any():
        i = int(empty.nonzero()[0][0])
        raise ImportFormatError(f"case table {name}: {row_word} {i + line0}: empty ticket id in column {key!r}; "
                                f"fill it in or drop the {row_word}")
    keys = [str(v) for v in df[key].tolist()]
    ids = df[key].astype(str)
    dup = ids.duplicated(keep=False).to_numpy(dtype=bool)
    if dup.any():
        first = ids[dup].iloc[0]
        lines = (np.flatnonzero((ids == first).to_numpy(dtype=bool)) + line0).tolist()
        others = int(ids[dup].nunique()) - 1
        more = f"; {others} more ticket id{'s' if others != 1 else ''} repeat" if others else ""
        raise ImportFormatError(f"case table {name}: ticket {first!r} has {len(lines)} rows ({row_word}s "
                                f"{_listing(lines)}){more}: keep one row per ticket")
    columns: dict[str, str] = {}
    for col in df.columns:
        if col == key:
            continue
        attr = str(col)[5:] if str(col).startswith("case:") else str(col)
        if attr in columns:
            raise ImportFormatError(f"case table {name}: columns {columns[attr]!r} and {col!r} both give case "
                                    f"attribute {attr!r}; drop or rename one")
        columns[attr] = col
    values = [(attr, _column(df, col) or []) for attr, col in columns.items()]
    rows = {k: {a: vals[i] for a, vals in values if vals[i] is not None} for i, k in enumerate(keys)}
    return CaseTable(name, key, tuple(columns), rows)


def join_case_table(histories: list[TicketHistory], table: CaseTable) -> CaseTableJoin:
    """Add a case table's attributes to the histories (the case table's values win)."""
    out: list[TicketHistory] = []
    matched = 0
    seen: set[str] = set()
    for history in histories:
        seen.add(history.ticket)
        extra = table.rows.get(history.ticket)
        if extra is None:
            out.append(history)
            continue
        matched += 1
        out.append(dataclasses.replace(history, case={**history.case, **extra}) if extra else history)
    without_events = sum(1 for k in table.rows if k not in seen)
    return CaseTableJoin(out, matched, len(histories) - matched, without_events)


def _column(df: Any, col: str | None) -> list[Any] | None:
    """A column as Python values, missing cells as None (None when there is no such column)."""
    import pandas as pd

    if col is None or col not in df.columns:
        return None
    series = df[col]
    if pd.api.types.is_datetime64_any_dtype(series):
        values = series.dt.to_pydatetime().tolist()
        return [None if pd.isna(v) else v for v in values]
    mask = series.isna().tolist()
    return [None if m else _py(v) for v, m in zip(series.tolist(), mask, strict=True)]


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        import pandas as pd

        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _py(value: Any) -> Any:
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            return value.item()
        except (ValueError, AttributeError):
            pass
    if hasattr(value, "to_pydatetime"):
        return value.to_pydatetime()
    return value


def _parse_times(col: Any, fmt: str | None, zone: tzinfo | None, name: str, line0: int, column: str,
                 row_word: str = "line", *, allow_missing: bool = False) -> Any:
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(col):
        parsed = col
        if getattr(parsed.dt, "tz", None) is None:
            parsed = _localize(parsed, col, zone, name, line0, column, row_word)
        return parsed
    text = col.astype("string")
    try:
        parsed = pd.to_datetime(text, format=fmt or "ISO8601", errors="coerce", utc=False)
    except (ValueError, TypeError):
        parsed = None  # mixed offsets (or mixed naive and aware): sorted out below
    if parsed is None or getattr(parsed.dt, "tz", None) is None and fmt is None:
        aware = text.str.contains(r"(?:Z|[+-]\d\d(?::?\d\d)?)\s*$", regex=True).fillna(False).to_numpy(dtype=bool)
        if aware.any() and not aware[text.notna().to_numpy(dtype=bool)].all():
            naive_rows = (~aware & text.notna().to_numpy(dtype=bool)).nonzero()[0]
            if zone is None:
                i = int(naive_rows[0])
                raise ImportFormatError(
                    f"{name}: {row_word} {i + line0}: time {str(col.iloc[i])!r} in column {column!r} has no time "
                    "zone while others have one; give --tz for the naive ones, e.g. --tz UTC"
                )
            naive = pd.to_datetime(text.where(~pd.Series(aware, index=text.index)), format="ISO8601", errors="coerce")
            naive = naive.dt.tz_localize(zone, ambiguous="NaT", nonexistent="NaT").dt.tz_convert("UTC")
            withtz = pd.to_datetime(text.where(pd.Series(aware, index=text.index)), format="ISO8601",
                                    errors="coerce", utc=True)
            parsed = withtz.where(pd.Series(aware, index=text.index), naive)
        elif parsed is None:
            parsed = pd.to_datetime(text, format=fmt or "ISO8601", errors="coerce", utc=True)
    bad = parsed.isna() & text.notna()
    if not allow_missing:
        bad = bad | text.isna()
    if bad.any():
        i = int(bad.to_numpy().nonzero()[0][0])
        value = col.iloc[i]
        if pd.isna(value) or not str(value).strip():
            # No format helps an empty cell: every event needs its time.
            raise ImportFormatError(
                f"{name}: {row_word} {i + line0}: the time in column {column!r} is empty; every event needs "
                f"one: fill it in or drop the {row_word}"
            )
        hint = f"--timestamp-format {fmt!r} does not match" if fmt else "give --timestamp-format, e.g. '%d.%m.%Y %H:%M'"
        raise ImportFormatError(
            f"{name}: {row_word} {i + line0}: cannot read value {value!r} in column {column!r} as a time ({hint})"
        )
    if getattr(parsed.dt, "tz", None) is None and parsed.notna().any():
        parsed = _localize(parsed, col, zone, name, line0, column, row_word)
    return parsed


def _localize(parsed: Any, col: Any, zone: tzinfo | None, name: str, line0: int, column: str,
              row_word: str) -> Any:
    if zone is None:
        first = col.dropna()
        example = f" (e.g. {str(first.iloc[0])!r} on {row_word} {int(first.index[0]) + line0})" if len(first) else ""
        raise ImportFormatError(
            f"{name}: times in column {column!r} have no time zone{example}; "
            "give --tz, e.g. --tz UTC or --tz Asia/Shanghai"
        )
    before = parsed.notna()
    out = parsed.dt.tz_localize(zone, ambiguous="NaT", nonexistent="NaT")
    lost = before & out.isna()
    if lost.any():
        i = int(lost.to_numpy().nonzero()[0][0])
        raise ImportFormatError(
            f"{name}: {row_word} {i + line0}: time {str(col.iloc[i])!r} does not exist or is ambiguous in "
            f"time zone {zone} (a daylight-saving change); give the time with its UTC offset"
        )
    return out


def iter_histories(histories: list[TicketHistory]) -> Iterator[TicketHistory]:
    yield from histories


__all__ = [
    "CASE_FIELDS", "CaseTable", "CaseTableJoin", "ColumnMapping", "ReadResult", "count_events", "detect_format",
    "join_case_table", "parse_sep", "read_case_table", "read_histories", "read_log", "read_table", "read_xes",
]
