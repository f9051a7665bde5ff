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
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from event_store.errors import ImportFormatError
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
    if not os.path.exists(path):
        raise ImportFormatError(f"no such file: {path!r}")
    if os.path.getsize(path) == 0:
        raise ImportFormatError(f"{path!r} is empty: nothing to import")
    if lifecycle not in LIFECYCLE_MODES:
        raise ImportFormatError(f"unknown lifecycle mode {lifecycle!r}: use one of {', '.join(LIFECYCLE_MODES)}")
    fmt = fmt or detect_format(path)
    if fmt == "xes":
        return read_xes(path, lifecycle=lifecycle, tz=(mapping.tz if mapping else None))
    if fmt in ("csv", "parquet"):
        return read_table(path, fmt=fmt, lifecycle=lifecycle, mapping=mapping or ColumnMapping())
    raise ImportFormatError(f"unknown format {fmt!r}: use xes, csv or parquet")


# -- XES ------------------------------------------------------------------------------------


def _xes_value(tag: str, value: str | None, zone: tzinfo | None, where: str) -> Any:
    if value is None:
        return None
    if tag == "date":
        try:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ImportFormatError(f"{where}: cannot read date {value!r} (expected ISO 8601)") from None
        if dt.tzinfo is None:
            if zone is None:
                raise ImportFormatError(f"{where}: date {value!r} has no time zone (give --tz, e.g. --tz UTC)")
            dt = dt.replace(tzinfo=zone)
        return dt
    if tag == "int":
        try:
            return int(value)
        except ValueError:
            raise ImportFormatError(f"{where}: {value!r} is not an int") from None
    if tag == "float":
        try:
            return float(value)
        except ValueError:
            raise ImportFormatError(f"{where}: {value!r} is not a float") from None
    if tag == "boolean":
        return value.strip().lower() == "true"
    return value


def read_xes(path: str, *, lifecycle: str = "auto", tz: str | None = None) -> list[TicketHistory]:
    """Parse an XES file (optionally gzipped) into ticket histories, in file order."""
    from lxml import etree

    zone = _zone(tz, path)
    opener = gzip.open if path.lower().endswith(".gz") else open
    traces: list[tuple[dict[str, Any], list[tuple[dict[str, Any], int]], int]] = []
    trace_attrs: dict[str, Any] = {}
    events: list[tuple[dict[str, Any], int]] = []
    depth_in_event = False
    lifecycles: set[str] = set()
    name = os.path.basename(path)
    try:
        with opener(path, "rb") as fh:
            context = etree.iterparse(fh, events=("start", "end"), huge_tree=True, remove_comments=True)
            for action, elem in context:
                tag = elem.tag
                if "}" in tag:
                    tag = tag.rsplit("}", 1)[1]
                if action == "start":
                    if tag == "event":
                        depth_in_event = True
                    elif tag == "trace":
                        trace_attrs = {}
                        events = []
                    continue
                if tag == "event":
                    attrs: dict[str, Any] = {}
                    line = elem.sourceline or 0
                    where = f"{name}:{line}"
                    for child in elem:
                        ctag = child.tag.rsplit("}", 1)[-1] if isinstance(child.tag, str) else ""
                        key = child.get("key")
                        if key is None or ctag in ("list", "container"):
                            continue
                        attrs[key] = _xes_value(ctag, child.get("value"), zone, where)
                    lc = attrs.get(LIFECYCLE_KEY)
                    if lc is not None:
                        lifecycles.add(str(lc))
                    events.append((attrs, line))
                    depth_in_event = False
                    elem.clear()
                elif tag == "trace":
                    traces.append((trace_attrs, events, elem.sourceline or 0))
                    elem.clear()
                    while elem.getprevious() is not None:
                        del elem.getparent()[0]
                elif not depth_in_event and tag in ("string", "date", "int", "float", "boolean", "id"):
                    parent = elem.getparent()
                    if parent is not None and parent.tag.rsplit("}", 1)[-1] == "trace":
                        key = elem.get("key")
                        if key is not None:
                            trace_attrs[key] = _xes_value(tag, elem.get("value"), zone,
                                                          f"{name}:{elem.sourceline}")
    except etree.XMLSyntaxError as exc:
        raise ImportFormatError(f"{name}: malformed XML at line {exc.lineno}: {exc.msg} (is the file complete?)") from None
    except (OSError, EOFError) as exc:
        raise ImportFormatError(f"{name}: cannot read ({exc}); is it really {'gzipped ' if opener is gzip.open else ''}XES?") from None
    if not traces:
        raise ImportFormatError(f"{name}: no <trace> elements: not an XES event log, or an empty one")
    mode = _lifecycle_mode(lifecycle, lifecycles)
    out: list[TicketHistory] = []
    seen: set[str] = set()
    for tattrs, evs, tline in traces:
        case_id = tattrs.pop("concept:name", None)
        if case_id is None:
            raise ImportFormatError(f"{name}:{tline}: trace without concept:name (every ticket needs an id)")
        case_id = str(case_id)
        if case_id in seen:
            raise ImportFormatError(f"{name}:{tline}: ticket id {case_id!r} appears in two traces")
        seen.add(case_id)
        rows = []
        for attrs, line in evs:
            rows.append(_row_from_attrs(attrs, mode, f"{name}:{line}"))
        steps = _fold_lifecycle(rows, mode)
        if not steps:
            continue
        case = {k: v for k, v in tattrs.items()}
        case = _case_from(case, steps)
        out.append(TicketHistory(case_id, _opened_at(steps), case, tuple(s for s, _ in steps), f"{name}:{tline}"))
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


def _row_from_attrs(attrs: dict[str, Any], mode: str, where: str) -> tuple[ActivityRow, str | None]:
    activity = attrs.pop(ACTIVITY_KEY, None)
    if activity is None:
        raise ImportFormatError(f"{where}: event without concept:name (the activity)")
    ts = attrs.pop(TIME_KEY, None)
    if ts is None:
        raise ImportFormatError(f"{where}: event without time:timestamp")
    if not isinstance(ts, datetime):
        raise ImportFormatError(f"{where}: time:timestamp is not a date")
    lc = attrs.pop(LIFECYCLE_KEY, None)
    if mode == "status" and lc is not None:
        activity = f"{activity}/{lc}"
    elif mode == "ignore" and lc is not None and str(lc).lower() not in ("complete",):
        attrs[LIFECYCLE_KEY] = lc
    started = attrs.pop(START_KEY, None)
    actor = attrs.pop(RESOURCE_KEY, None)
    team = attrs.pop(TEAM_KEY, None)
    row = ActivityRow(
        activity=str(activity),
        occurred_at=ts,
        actor=None if actor is None else str(actor),
        team=None if team is None else str(team),
        started_at=started if isinstance(started, datetime) else None,
        source_ref=where,
        attrs=attrs,
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
    """Read CSV or Parquet with a column mapping into ticket histories."""
    import pandas as pd

    name = os.path.basename(path)
    try:
        if fmt == "csv":
            sep = "\t" if path.lower().endswith(".tsv") else None
            df = pd.read_csv(path, sep=sep, engine="python" if sep is None else "c", dtype=str,
                             keep_default_na=False, na_values=[""])
        else:
            df = pd.read_parquet(path)
    except Exception as exc:
        raise ImportFormatError(f"{name}: cannot read as {fmt.upper()}: {exc}") from None
    if df.empty:
        raise ImportFormatError(f"{name}: no rows to import")
    line0 = 2 if fmt == "csv" else 1  # CSV: header is line 1
    for role, col, opt in (("ticket id", mapping.case, "--case-column"),
                           ("activity", mapping.activity, "--activity-column"),
                           ("timestamp", mapping.timestamp, "--timestamp-column")):
        if col not in df.columns:
            raise ImportFormatError(
                f"{name}: missing {role} column {col!r} (columns are: {', '.join(map(str, df.columns[:12]))}; "
                f"use {opt})"
            )
    for attr, col in mapping.case_attrs.items():
        if col not in df.columns:
            raise ImportFormatError(f"{name}: missing column {col!r} mapped to ticket attribute {attr!r} (fix --case-attr)")
    zone = _zone(mapping.tz, name)
    ts = _parse_times(df[mapping.timestamp], mapping.timestamp_format, zone, name, line0, mapping.timestamp)
    start = None
    if mapping.start and mapping.start in df.columns:
        start = _parse_times(df[mapping.start], mapping.timestamp_format, zone, name, line0, mapping.start, allow_missing=True)
    bad = df[mapping.case].isna() | df[mapping.activity].isna()
    if bad.any():
        i = int(bad.to_numpy().nonzero()[0][0])
        raise ImportFormatError(f"{name}: line {i + line0}: empty ticket id or activity")

    special = {mapping.case, mapping.activity, mapping.timestamp, mapping.resource, mapping.team, mapping.start,
               mapping.lifecycle, *mapping.case_attrs.values()}
    case_cols = {attr: col for attr, col in mapping.case_attrs.items()}
    for col in df.columns:
        if isinstance(col, str) and col.startswith("case:") and col != mapping.case and col not in special:
            case_cols.setdefault(col[5:], col)
    attr_cols = [c for c in df.columns if c not in special and c not in case_cols.values() and not str(c).startswith("@@")]

    lc_values: set[str] = set()
    if mapping.lifecycle and mapping.lifecycle in df.columns:
        lc_values = {str(v) for v in df[mapping.lifecycle].dropna().unique()}
    mode = _lifecycle_mode(lifecycle, lc_values)

    records = df.to_dict("records")
    ts_list = ts.tolist()
    start_list = start.tolist() if start is not None else None
    by_case: dict[str, list[tuple[ActivityRow, str | None]]] = {}
    case_values: dict[str, dict[str, Any]] = {}
    for i, rec in enumerate(records):
        where = f"{name}:{i + line0}"
        cid = str(rec[mapping.case])
        activity = str(rec[mapping.activity])
        lc = rec.get(mapping.lifecycle) if mapping.lifecycle else None
        lc = None if _missing(lc) else str(lc)
        attrs = {str(c): _py(rec[c]) for c in attr_cols if not _missing(rec[c])}
        if mode == "status" and lc is not None:
            activity = f"{activity}/{lc}"
        elif mode == "ignore" and lc is not None and lc.lower() != "complete":
            attrs[LIFECYCLE_KEY] = lc
        actor = rec.get(mapping.resource) if mapping.resource else None
        team = rec.get(mapping.team) if mapping.team else None
        started = start_list[i] if start_list is not None else None
        row = ActivityRow(
            activity=activity,
            occurred_at=ts_list[i].to_pydatetime(),
            actor=None if _missing(actor) else str(actor),
            team=None if _missing(team) else str(team),
            started_at=None if started is None or pd.isna(started) else started.to_pydatetime(),
            source_ref=where,
            attrs=attrs,
        )
        by_case.setdefault(cid, []).append((row, lc.lower() if (lc and mode == "start-complete") else None))
        if cid not in case_values:
            case_values[cid] = {a: _py(rec[c]) for a, c in case_cols.items() if not _missing(rec[c])}
    out = []
    for cid, rows in by_case.items():
        steps = _fold_lifecycle(rows, mode)
        if not steps:
            continue
        out.append(TicketHistory(cid, _opened_at(steps), _case_from(case_values[cid], steps),
                                 tuple(s for s, _ in steps), f"{name}:{steps[0][0].source_ref}"))
    return out


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
                 *, allow_missing: bool = False) -> Any:
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(col):
        parsed = col
    else:
        text = col.astype("string")
        try:
            parsed = pd.to_datetime(text, format=fmt or "ISO8601", errors="coerce", utc=False)
        except (ValueError, TypeError):
            # mixed offsets: parse to UTC directly
            parsed = pd.to_datetime(text, format=fmt or "ISO8601", errors="coerce", utc=True)
        bad = parsed.isna() & text.notna()
        if not allow_missing:
            bad = bad | text.isna()
        if bad.any():
            i = int(bad.to_numpy().nonzero()[0][0])
            hint = f"--timestamp-format {fmt!r} does not match" if fmt else "give --timestamp-format, e.g. '%d.%m.%Y %H:%M'"
            raise ImportFormatError(
                f"{name}: line {i + line0}: cannot read {column!r} value {col.iloc[i]!r} as a time ({hint})"
            )
    if getattr(parsed.dt, "tz", None) is None:
        if zone is None:
            raise ImportFormatError(
                f"{name}: timestamps in {column!r} have no time zone (e.g. {str(col.dropna().iloc[0])!r}); "
                "give --tz, e.g. --tz UTC or --tz Asia/Shanghai"
            )
        parsed = parsed.dt.tz_localize(zone, ambiguous="NaT", nonexistent="shift_forward")
    return parsed


def iter_histories(histories: list[TicketHistory]) -> Iterator[TicketHistory]:
    yield from histories


__all__ = ["CASE_FIELDS", "ColumnMapping", "detect_format", "read_histories", "read_table", "read_xes"]
