"""``csmine stats`` as text: the log's size, time range, open and closed tickets, and counts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from csmine.reports.text.blocks import Block, Para, Text, table

if TYPE_CHECKING:
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
