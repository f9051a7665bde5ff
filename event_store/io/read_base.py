"""What every event-log reader shares: the key names, the column mapping, the results, the checks.

* The XES attribute keys a reader looks for (:data:`CASE_KEY` ...) and the lifecycle
  modes (:data:`LIFECYCLE_MODES`, chosen from the values by :func:`lifecycle_mode`).
* :class:`ColumnMapping` (which columns of a table hold what) and :class:`ReadResult`.
* File and option checks: :func:`detect_format`, :func:`parse_sep`, :func:`check_file`,
  :func:`inflated` (a ``.gz`` inflated as a stream within the input limits), :func:`time_zone`.
* Rows into ticket histories, the same for every reader: :func:`collapse_rows`,
  :func:`fold_lifecycle`, :func:`opened_at`, :func:`case_from`.
* Table values: :func:`column_values` and :func:`parse_times` (times in a column,
  naive ones localised in the given zone, every failure naming the row and the fix).

Used by :mod:`event_store.io.xes_read`, :mod:`event_store.io.table_frame`,
:mod:`event_store.io.table_read`, :mod:`event_store.io.case_table` and
:mod:`event_store.io.importing` (the entry points, with the reading rules), and by the
change-record and columnar readers. It imports none of them.
"""

from __future__ import annotations

import dataclasses
import os
import zlib
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from event_store.errors import ImportFormatError
from event_store.limits import InputLimits, inflated_size
from event_store.records import ActivityRow, TicketHistory

if TYPE_CHECKING:
    from event_store.io.csv_lines import RowLines

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
        named: the optional roles (``resource``, ``team``, ``start``, ``lifecycle``)
            named outright, by a flag, a mapping file or a preset: their columns must be
            in the table (:func:`required_columns`). A role whose column is not its
            default name is always named; one left at its default is read when the
            table has it.
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
    named: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        named = {r for r in self.named if getattr(self, r) is not None}
        named |= {r for r, col in _OPTIONAL_DEFAULTS.items() if getattr(self, r) not in (None, col)}
        if named != self.named:
            object.__setattr__(self, "named", frozenset(named))


#: The optional roles, their default columns (read when the table has them), and the words
#: and flag a message names them with.
_OPTIONAL_DEFAULTS = {"resource": RESOURCE_KEY, "team": TEAM_KEY, "start": START_KEY, "lifecycle": LIFECYCLE_KEY}
_OPTIONAL_WORDS = {"resource": ("resource", "--resource-column"), "team": ("team", "--team-column"),
                   "start": ("work-start", "--start-column"), "lifecycle": ("lifecycle", "--lifecycle-column")}


def required_columns(mapping: ColumnMapping) -> list[tuple[str, str, str]]:
    """Every column a table read with ``mapping`` must have, as ``(role, column, flag)``.

    The ticket id, activity and timestamp; the optional roles named outright
    (:attr:`ColumnMapping.named`); each case attribute's column (role ``ticket
    attribute 'channel'``). A mapping's ``order`` column is the caller's to add.
    """
    out = [("ticket id", mapping.case, "--case-column"), ("activity", mapping.activity, "--activity-column"),
           ("timestamp", mapping.timestamp, "--timestamp-column")]
    for role, (words, flag) in _OPTIONAL_WORDS.items():
        column = getattr(mapping, role)
        if role in mapping.named and column is not None:
            out.append((words, column, flag))
    out += [(f"ticket attribute {a!r}", col, f"--case-attr {a}=COLUMN") for a, col in mapping.case_attrs.items()]
    return out


@dataclass(frozen=True, slots=True)
class ReadResult:
    """What reading an event-log file gave.

    Attributes:
        histories: the tickets (order: see :mod:`event_store.io.importing`).
        rows: event rows (XES: events) in the file.
        rows_collapsed: rows merged into the row before them by ``collapse_repeats``
            (0 without it): ``rows - rows_collapsed`` rows remain.
    """

    histories: list[TicketHistory]
    rows: int
    rows_collapsed: int = 0


def time_zone(name: str | None, source: str) -> tzinfo | None:
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


def check_file(path: str, what: str = "an event-log file (.xes, .xes.gz, .csv, .parquet)") -> None:
    if os.path.isdir(path):
        raise ImportFormatError(f"{path!r} is a directory: give {what}")
    if not os.path.exists(path):
        raise ImportFormatError(f"no such file: {path!r} (check the path)")
    if os.path.getsize(path) == 0:
        raise ImportFormatError(f"{os.path.basename(path)} is empty: nothing to import (check the export that made it)")


def unreadable(path: str, exc: BaseException, what: str) -> ImportFormatError:
    gz = "gzipped " if path.lower().endswith(".gz") else ""
    return ImportFormatError(f"{os.path.basename(path)}: cannot read ({exc}); is it really a {gz}{what} file? "
                             "(check the file is complete)")


def inflated(path: str, limits: InputLimits, what: str) -> int:
    """The size a file gives when read: a ``.gz`` is inflated as a stream within the limits."""
    if not path.lower().endswith(".gz"):
        return os.path.getsize(path)
    try:
        return inflated_size(path, limits)
    except (OSError, EOFError, zlib.error) as exc:
        raise unreadable(path, exc, what) from None


def lifecycle_mode(requested: str, values: set[str]) -> str:
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


def collapse_rows(rows: list[tuple[ActivityRow, str | None]]) -> tuple[list[tuple[ActivityRow, str | None]], int]:
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


def fold_lifecycle(rows: list[tuple[ActivityRow, str | None]], mode: str) -> list[tuple[ActivityRow, str | None]]:
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


def opened_at(steps: list[tuple[ActivityRow, str | None]], has_starts: bool) -> datetime:
    """The earliest business time of a ticket's steps (sorted by time), work starts included."""
    first = steps[0][0].occurred_at
    if not has_starts:
        return first
    starts = [s.started_at for s, _ in steps if s.started_at is not None]
    return min(first, *starts) if starts else first


def case_from(case: dict[str, Any], steps: list[tuple[ActivityRow, str | None]]) -> dict[str, Any]:
    out = {}
    for k, v in case.items():
        key = k[5:] if k.startswith("case:") else k
        out[key] = v
    if "team" not in out:
        first_team = next((s.team for s, _ in steps if s.team), None)  # the earliest step with a team
        if first_team is not None:
            out["team"] = first_team
    return out


def column_values(df: Any, col: str | None) -> list[Any] | None:
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


def _py(value: Any) -> Any:
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            return value.item()
        except (ValueError, AttributeError):
            pass
    if hasattr(value, "to_pydatetime"):
        return value.to_pydatetime()
    return value


def parse_times(col: Any, fmt: str | None, zone: tzinfo | None, name: str, lines: RowLines, column: str,
                row_word: str = "line", *, allow_missing: bool = False) -> Any:
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(col):
        parsed = col
        if getattr(parsed.dt, "tz", None) is None:
            parsed = _localize(parsed, col, zone, name, lines, column, row_word)
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
                    f"{name}: {row_word} {lines.of(i)}: time {str(col.iloc[i])!r} in column {column!r} has no time "
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
                f"{name}: {row_word} {lines.of(i)}: the time in column {column!r} is empty; every event needs "
                f"one: fill it in or drop the {row_word}"
            )
        hint = f"--timestamp-format {fmt!r} does not match" if fmt else "give --timestamp-format, e.g. '%d.%m.%Y %H:%M'"
        raise ImportFormatError(
            f"{name}: {row_word} {lines.of(i)}: cannot read value {value!r} in column {column!r} as a time ({hint})"
        )
    if getattr(parsed.dt, "tz", None) is None and parsed.notna().any():
        parsed = _localize(parsed, col, zone, name, lines, column, row_word)
    return parsed


def _localize(parsed: Any, col: Any, zone: tzinfo | None, name: str, lines: RowLines, column: str,
              row_word: str) -> Any:
    if zone is None:
        first = col.dropna()
        example = f" (e.g. {str(first.iloc[0])!r} on {row_word} {lines.of(int(first.index[0]))})" if len(first) else ""
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
            f"{name}: {row_word} {lines.of(i)}: time {str(col.iloc[i])!r} does not exist or is ambiguous in "
            f"time zone {zone} (a daylight-saving change); give the time with its UTC offset"
        )
    return out
