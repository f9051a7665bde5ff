"""ServiceNow ``sys_audit`` rows (CSV or the Table API's JSON) as change records."""

from __future__ import annotations

import json
import os
from datetime import datetime
from typing import Any

from event_store.errors import ImportFormatError
from event_store.io.changes import (
    _CONTAINERS, _histories, _json_time, _reads, _Tickets, _wrong_shape, _zone_of, Change, SourceRead,
)
from event_store.io.read_base import ColumnMapping, parse_times
from event_store.io.table_frame import read_frame
from event_store.io.json_stream import iter_json
from event_store.io.mapping import ImportMapping


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
    frame = read_frame(path, name, "csv", sep=cols.sep, encoding=cols.encoding, option="--", min_fields=3)
    df, row_word = frame.df, frame.row_word
    for key in (cols.case, cols.timestamp, *_SN_REQUIRED):
        if key not in df.columns:
            raise _missing_field(f"{name}", key, mapping, columns=[str(c) for c in df.columns])
    times = parse_times(df[cols.timestamp], cols.timestamp_format, zone, name, frame.lines, cols.timestamp, row_word)
    times = times.dt.to_pydatetime().tolist() if hasattr(times.dt, "to_pydatetime") else list(times)
    records = df.to_dict("records")
    lines = frame.lines.at(range(len(records))).tolist()
    for i, item in enumerate(records):
        where = f"{name}:{lines[i]}"
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
