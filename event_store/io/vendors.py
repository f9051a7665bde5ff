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

The readers are :mod:`event_store.io.servicenow`, :mod:`event_store.io.zendesk` and
:mod:`event_store.io.jira`, over :mod:`event_store.io.json_stream` and the fold of
:mod:`event_store.io.changes`. :func:`read_source` reads any export with an
:class:`~event_store.io.mapping.ImportMapping`
(tables and XES through :func:`event_store.io.importing.read_log`, then renames, drops,
missing values and ``"field: value"`` applied the same way).
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

from event_store.errors import ImportFormatError
from event_store.io.changes import _closed, SHAPES, SourceRead, VENDOR_FORMATS
from event_store.io.importing import read_log
from event_store.io.read_base import (
    case_from, check_file, collapse_rows, ColumnMapping, detect_format, inflated, opened_at, ReadResult,
    required_columns,
)
from event_store.io.table_frame import header_fields, read_head, sniff, text_encoding
from event_store.io.jira import _jira
from event_store.io.json_stream import iter_json, JsonStream
from event_store.io.mapping import CHANGE_FORMATS, ImportMapping, load_preset
from event_store.io.servicenow import _servicenow_audit
from event_store.io.zendesk import _zendesk
from event_store.limits import current_limits
from event_store.records import ActivityRow, TicketHistory


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
            rows, merged = collapse_rows(rows)
            collapsed += merged
        case = {k: v for k, v in h.case.items() if not (isinstance(v, str) and v in missing)}
        derived = next((s.team for s in h.steps if s.team), None)
        if "team" in case and case["team"] == derived:
            del case["team"]  # it came from the first step with a team: derive it again
        starts = any(s.started_at is not None for s, _ in rows)
        out.append(dataclasses.replace(h, opened_at=opened_at(rows, starts), case=case_from(case, rows),
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
        inflated(path, current_limits(), "CSV")
        head = read_head(path, name)
        text = head.decode(text_encoding(head, c.encoding, name, "--"), errors="replace")
        sep = c.sep or ("\t" if path.lower().endswith((".tsv", ".tsv.gz")) else (sniff(text) or ","))
        columns = header_fields(text, sep)
        if len(columns) < 3:
            return  # the table reader explains the dialect
    needed = required_columns(c)
    if mapping.order_column is not None:
        needed.append(("order", mapping.order_column, ""))
    for role, col, flag in needed:
        if col not in columns:
            fix = (f"with {flag}, or give --mapping FILE" if flag
                   else "as order in a mapping's [columns] (--mapping FILE)")
            raise ImportFormatError(
                f"{name}: missing {role} column {col!r}, which {mapping.label} reads (the file's columns: "
                f"{', '.join(columns[:12])}{', ...' if len(columns) > 12 else ''}); is this the export "
                f"{mapping.label} is for? Name the right column {fix}"
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
        head = read_head(path, name)
        enc = text_encoding(head, mapping.columns.encoding, name, "--")
    except ImportFormatError:
        return {}
    sep = sniff(head.decode(enc, errors="replace"))
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
    :func:`event_store.io.case_table.join_case_table`).
    """
    check_file(path, "an export file (.csv, .json, .ndjson, .xes, .parquet)")
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


__all__ = [
    "detect_dialect",
    "read_source",
    "read_vendor",
]
