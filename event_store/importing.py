"""Readers that turn event-log files into :class:`TicketHistory` records.

* XES (``.xes``, ``.xes.gz``): streamed with lxml ``iterparse``; typed attributes.
* CSV: pandas, with a column mapping (case, activity, timestamp, resource, team,
  start timestamp, case attributes), a timestamp format and a time zone for
  naive timestamps.
* Parquet: pyarrow/pandas, same mapping as CSV; typed columns.

Lifecycle values: in many logs ``lifecycle:transition`` holds *statuses* (BPIC 2013:
"In Progress", "Awaiting Assignment", ...), not the XES start/complete model. With
``lifecycle="auto"`` (the default) the reader looks at the values: if any is outside
the XES standard transitions, the activity becomes ``concept:name/lifecycle``;
if they are start/complete pairs, a ``start`` is folded into the next ``complete``
of the same activity as its ``started_at``; otherwise the lifecycle is ignored.

Every error names the file, the line (or trace) and what to do.
"""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from event_store.errors import ImportFormatError
from event_store.records import CASE_FIELDS, ActivityRow, TicketHistory
from event_store.bulk import pause_gc

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


@dataclass(frozen=True, slots=True)
class ColumnMapping:
    """Which columns of a table hold what (CSV and Parquet).

    Attributes:
        case: ticket id column.  activity: activity column.  timestamp: business time.
        resource: actor column.  team: team column.  start: work-start column.
        lifecycle: lifecycle/status column combined as for XES.
        case_attrs: ticket attribute -> column (e.g. ``{"channel": "Channel"}``);
            columns named ``case:<name>`` are taken as ticket attributes as well.
        timestamp_format: ``strptime`` format (default: ISO 8601, inferred).
        tz: time zone for naive timestamps (IANA name, e.g. ``Asia/Shanghai``).
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
    if lower.endswith((".csv", ".csv.gz", ".tsv")):
        return "csv"
    if lower.endswith((".parquet", ".pq")):
        return "parquet"
    raise ImportFormatError(f"cannot tell the format of {path!r} from its name: use --format xes|csv|parquet")


def read_histories(path: str, *, fmt: str | None = None, lifecycle: str = "auto",
                   mapping: ColumnMapping | None = None) -> list[TicketHistory]:
    """Read a whole file into ticket histories (raises ImportFormatError)."""
    if os.path.isdir(path):
        raise ImportFormatError(f"{path!r} is a directory: give an event-log file (.xes, .xes.gz, .csv, .parquet)")
    if not os.path.exists(path):
        raise ImportFormatError(f"no such file: {path!r} (check the path)")
    if os.path.getsize(path) == 0:
        raise ImportFormatError(f"{os.path.basename(path)} is empty: nothing to import (check the export that made it)")
    if lifecycle not in LIFECYCLE_MODES:
        raise ImportFormatError(f"unknown lifecycle mode {lifecycle!r}: use one of {', '.join(LIFECYCLE_MODES)}")
    fmt = fmt or detect_format(path)
    if fmt == "xes":
        return read_xes(path, lifecycle=lifecycle, tz=(mapping.tz if mapping else None))
    if fmt in ("csv", "parquet"):
        return read_table(path, fmt=fmt, lifecycle=lifecycle, mapping=mapping or ColumnMapping())
    raise ImportFormatError(f"unknown format {fmt!r}: use xes, csv or parquet")


# -- XES ------------------------------------------------------------------------------------


def _read_bytes(path: str) -> bytes:
    name = os.path.basename(path)
    try:
        if path.lower().endswith(".gz"):
            with gzip.open(path, "rb") as fh:
                return fh.read()
        with open(path, "rb") as fh:
            return fh.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise ImportFormatError(
            f"{name}: cannot read ({exc}); is it really a {'gzipped ' if path.lower().endswith('.gz') else ''}"
            "XES file? (check the file is complete)"
        ) from None


def read_xes(path: str, *, lifecycle: str = "auto", tz: str | None = None, fast: bool = True) -> list[TicketHistory]:
    """Parse an XES file (optionally gzipped) into ticket histories, in file order.

    Args:
        path: the file.
        lifecycle: how to read ``lifecycle:transition`` (see the module docstring).
        tz: time zone for dates without an offset.
        fast: use the fast scanner where the layout allows (lxml otherwise).
    """
    from event_store.xes import scan_xes

    zone = _zone(tz, path)
    name = os.path.basename(path)
    raw = _read_bytes(path)
    if not raw.strip():
        raise ImportFormatError(f"{name} is empty: nothing to import")
    with pause_gc():
        traces = scan_xes(raw, name, zone, fast=fast)
        del raw
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
            steps = _fold_lifecycle(rows, mode)
            if not steps:
                continue
            case = _case_from(tattrs, steps)
            out.append(TicketHistory(case_id, _opened_at(steps), case, tuple(s for s, _ in steps), f"{name}:{trace.line}"))
    return out


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


def _opened_at(steps: list[tuple[ActivityRow, str | None]]) -> datetime:
    first = steps[0][0]
    return min(first.occurred_at, first.started_at) if first.started_at else first.occurred_at


def _case_from(case: dict[str, Any], steps: list[tuple[ActivityRow, str | None]]) -> dict[str, Any]:
    out = {}
    for k, v in case.items():
        key = k[5:] if k.startswith("case:") else k
        out[key] = v
    if "team" not in out:
        first_team = next((s.team for s, _ in steps if s.team), None)
        if first_team is not None:
            out["team"] = first_team
    return out


# -- CSV and Parquet ----------------------------------------------------------------------


def read_table(path: str, *, fmt: str, lifecycle: str, mapping: ColumnMapping) -> list[TicketHistory]:
    """Read CSV or Parquet with a column mapping into ticket histories.

    Rows are grouped by ticket in order of first appearance; within a ticket they
    keep file order. CSV values are text; Parquet columns keep their types (ints,
    floats, booleans, times), missing cells are left out of the attributes.
    """
    import pandas as pd

    name = os.path.basename(path)
    try:
        if fmt == "csv":
            sep = "\t" if path.lower().endswith(".tsv") else ","
            df = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, na_values=[""])
        else:
            import pyarrow.parquet as pq

            df = pq.read_table(path).to_pandas(types_mapper={}.get, timestamp_as_object=False)
    except pd.errors.EmptyDataError:
        raise ImportFormatError(f"{name} is empty: nothing to import (check the export that made it)") from None
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ImportFormatError(
            f"{name}: cannot read as {fmt.upper()}: {first} (is it really a {fmt.upper()} file?)"
        ) from None
    if df.empty:
        raise ImportFormatError(f"{name}: no rows to import (only a header?)")
    line0 = 2 if fmt == "csv" else 1  # CSV: the header is line 1
    row_word = "line" if fmt == "csv" else "row"
    for role, col, opt in (("ticket id", mapping.case, "--case-column"),
                           ("activity", mapping.activity, "--activity-column"),
                           ("timestamp", mapping.timestamp, "--timestamp-column")):
        if col not in df.columns:
            raise ImportFormatError(
                f"{name}: missing {role} column {col!r} (columns are: {', '.join(map(str, df.columns[:12]))}"
                f"{', ...' if len(df.columns) > 12 else ''}; name the right one with {opt})"
            )
    for attr, col in mapping.case_attrs.items():
        if col not in df.columns:
            raise ImportFormatError(
                f"{name}: missing column {col!r} mapped to ticket attribute {attr!r} "
                f"(columns are: {', '.join(map(str, df.columns[:12]))}; fix --case-attr {attr}=COLUMN)"
            )
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

    lc_col = _column(df, mapping.lifecycle)
    lc_values = {str(v) for v in lc_col if v is not None} if lc_col is not None else set()
    mode = _lifecycle_mode(lifecycle, lc_values)

    cases = [str(v) for v in df[mapping.case].tolist()]
    activities = [str(v) for v in df[mapping.activity].tolist()]
    times = ts.dt.to_pydatetime().tolist() if hasattr(ts.dt, "to_pydatetime") else list(ts)
    starts = [None if pd.isna(v) else v for v in start.dt.to_pydatetime().tolist()] if start is not None else None
    actors = _column(df, mapping.resource)
    teams = _column(df, mapping.team)
    attr_values = [(str(c), _column(df, c)) for c in attr_cols]
    case_values_cols = [(a, _column(df, c)) for a, c in case_cols.items()]
    by_case: dict[str, list[tuple[ActivityRow, str | None]]] = {}
    case_values: dict[str, dict[str, Any]] = {}
    for i in range(len(df)):
        cid = cases[i]
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
        row = ActivityRow(
            activity,
            times[i],
            None if actor is None else str(actor),
            None if team is None else str(team),
            starts[i] if starts is not None else None,
            f"{name}:{i + line0}",
            attrs,
        )
        steps = by_case.get(cid)
        if steps is None:
            steps = by_case[cid] = []
            case_values[cid] = {a: col[i] for a, col in case_values_cols if col[i] is not None}  # type: ignore[index]
        steps.append((row, lc.lower() if (lc and mode == "start-complete") else None))
    out = []
    for cid, rows in by_case.items():
        steps = _fold_lifecycle(rows, mode)
        if not steps:
            continue
        out.append(TicketHistory(cid, _opened_at(steps), _case_from(case_values[cid], steps),
                                 tuple(s for s, _ in steps), steps[0][0].source_ref))
    return out


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
        hint = f"--timestamp-format {fmt!r} does not match" if fmt else "give --timestamp-format, e.g. '%d.%m.%Y %H:%M'"
        value = col.iloc[i]
        what = "an empty cell" if pd.isna(value) else f"value {value!r}"
        raise ImportFormatError(
            f"{name}: {row_word} {i + line0}: cannot read {what} in column {column!r} as a time ({hint})"
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


__all__ = ["CASE_FIELDS", "ColumnMapping", "detect_format", "read_histories", "read_table", "read_xes"]
