"""Reading event-log files into :class:`TicketHistory` records: the entry points and the rules.

:func:`read_log` (and :func:`read_histories`) read a whole file; the readers live in
:mod:`event_store.io.xes_read` (XES), :mod:`event_store.io.table_frame` (a CSV or
Parquet file into a checked frame), :mod:`event_store.io.table_read` (its event rows)
and :mod:`event_store.io.case_table` (case tables), over the vocabulary of
:mod:`event_store.io.read_base` (column mapping, results, key names, time parsing).

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
in the file, as for XES traces, or partition by partition for a large CSV read in
ticket partitions, :mod:`event_store.io.columnar_parts`; analytics order tickets by id).

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

A case table (:func:`~event_store.io.case_table.read_case_table`,
:func:`~event_store.io.case_table.join_case_table`) adds case attributes
from a separate file with one row per ticket; its values win over the events file's.

**Bounded input** (:mod:`event_store.limits`): a compressed file is inflated as a
stream and refused past the size and ratio limits before it is parsed; XES larger than
:data:`~event_store.io.xes_read.FAST_SCAN_MAX` is parsed as a stream; every ticket id, activity, actor, team,
attribute name and value is checked against the field limits before anything is
returned. A CSV that csmine exported itself (its manifest matches, see
:mod:`event_store.io.files`) has the quotes csmine added before formula-like cells removed.

Every error names the file, the line (or trace) and what to do.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from event_store.errors import ImportFormatError
from event_store.io.read_base import LIFECYCLE_MODES, ColumnMapping, ReadResult, check_file, detect_format
from event_store.io.table_read import read_table_log
from event_store.io.xes_read import read_xes_log
from event_store.records import TicketHistory


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
    check_file(path)
    if lifecycle not in LIFECYCLE_MODES:
        raise ImportFormatError(f"unknown lifecycle mode {lifecycle!r}: use one of {', '.join(LIFECYCLE_MODES)}")
    fmt = fmt or detect_format(path)
    if fmt in ("servicenow-audit", "zendesk-audits", "jira-changelog"):  # change records: event_store.io.vendors
        from event_store.io.vendors import read_vendor

        return read_vendor(path, fmt, mapping=mapping, collapse_repeats=collapse_repeats)
    if fmt == "xes":
        return read_xes_log(path, lifecycle=lifecycle, tz=(mapping.tz if mapping else None),
                            collapse_repeats=collapse_repeats)
    if fmt in ("csv", "parquet"):
        return read_table_log(path, fmt=fmt, lifecycle=lifecycle, mapping=mapping or ColumnMapping(),
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


def iter_histories(histories: list[TicketHistory]) -> Iterator[TicketHistory]:
    yield from histories


__all__ = ["count_events", "iter_histories", "read_histories", "read_log"]
