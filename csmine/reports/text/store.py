"""``csmine stats`` and ``csmine import`` as text: the log's size, time range, open and closed
tickets and counts; what an import recorded."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from csmine.reports.text.blocks import Block, Para, Text, table

if TYPE_CHECKING:
    from event_store.io.import_file import FileImport
    from event_store.io.mapping import ImportMapping

    from csmine.mining.stats import LogStats


def _status_rows(status: dict[str, Any] | None) -> list[list[str]]:
    if not status:
        return []
    if not status["rule_known"]:
        return [["open / closed", "unknown: no closing rule (give --closed-when, e.g. 'Closed|Resolved')"]]
    return [["closed tickets", f"{status['closed']:,}"],
            ["open tickets", f"{status['open']:,} ({status['stale']:,} stale: no event for {status['stale_after']})"],
            ["closing rule", str(status["rule"])]]


def render_stats(stats: LogStats, filter_text: str, tie_order: str) -> Text:
    """The figures, then events per activity and tickets per value of each attribute."""
    blocks: list[Block] = [Para("", bold=filter_text), table(["", "value"], [
        ["tickets", f"{stats.tickets:,}"], ["events", f"{stats.events:,}"],
        ["activities", f"{stats.activities:,}"], ["variants", f"{stats.variants:,}"],
        ["first event", stats.first_event or "-"], ["last event", stats.last_event or "-"],
        ["tickets with tied times", f"{stats.tickets_with_ties:,} (ordered by --tie-order {tie_order})"],
        *_status_rows(stats.status),
    ])]
    blocks.append(table(["activity", "events"], [[k, f"{v:,}"] for k, v in stats.activity_counts.items()]))
    for attr, counts in stats.attribute_counts.items():
        blocks.append(table([attr, "tickets"], [[k, f"{v:,}"] for k, v in counts.items()]))
    return Text(tuple(blocks))


def render_import(path: str, done: FileImport, mapping: ImportMapping) -> Text:
    """``csmine import``'s summary: what was recorded, collapsed, left out, closed, joined, changed."""
    result, read, case = done.result, done.read, done.case_table
    lines: list[Block] = [
        f"imported {path}: {result.tickets_added:,} new tickets, {result.events_added:,} new events "
        f"({result.tickets_seen:,} tickets / {result.events_seen:,} events in the file, "
        f"{result.tickets_unchanged:,} already complete)"]
    if mapping.collapse_repeats:
        lines.append(f"collapsed {read.rows_collapsed:,} repeated rows into their first")
    if mapping.order_column:
        lines.append(f"steps of a ticket at one time are stored in {mapping.order_column} order; analyse with "
                     "--tie-order file to keep it (the default, auto, orders them by the tie rule: opening steps "
                     "first, then by name)")
    if read.rows_dropped:
        lines.append(f"left out {read.rows_dropped:,} rows (dropped activities, changes of fields that are not "
                     "steps, missing values)")
    if read.closed is not None:
        states = "|".join(mapping.closed_when)
        lines.append(f"{read.closed:,} of {done.tickets:,} tickets end in a closing state ({states}); the others "
                     "are open (`csmine sop draft` takes these states as its closed_when; other commands take "
                     f"an SOP's closed_when or --closed-when '{states}')")
    if case is not None:
        lines.append(f"case table {case.file}: {case.rows:,} rows; {case.matched:,} tickets matched, "
                     f"{case.tickets_without_row:,} tickets with events but no row, "
                     f"{case.rows_without_events:,} rows with no events in {path}")
    if result.tickets_case_changed:
        lines.append(f"case attributes changed on {result.tickets_case_changed:,} tickets "
                     "(recorded as new events; the earlier values stay in the history)")
    return Text(tuple(lines), tuple(f"warning: {note}" for note in read.notes))
