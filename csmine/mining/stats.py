"""Summary statistics of an event log (``csmine stats``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from csmine.eventlog.lifecycle import ClosingRule, ticket_status
from csmine.eventlog.ordering import tied_tickets
from csmine.mining.encoding import ACTIVITY, CASE_ID, TIMESTAMP, encode_log
from csmine.mining.variants import case_variants

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True, slots=True)
class LogStats:
    """What a log holds.

    Attributes:
        tickets: distinct tickets.  events: lifecycle events.
        activities: distinct activity names.  variants: distinct activity sequences.
        first_event / last_event: ISO times of the earliest and latest event (None if empty).
        activity_counts: events per activity, most frequent first.
        attribute_counts: for each case attribute, tickets per value (top 10).
        tickets_with_ties: tickets with two or more events at the same business time
            (their order is the tie-break's, see :mod:`csmine.eventlog.ordering`).
        status: open / closed / stale tickets and the closing rule
            (:meth:`csmine.eventlog.lifecycle.TicketStatus.summary`).
    """

    tickets: int
    events: int
    activities: int
    variants: int
    first_event: str | None
    last_event: str | None
    activity_counts: dict[str, int]
    attribute_counts: dict[str, dict[str, int]]
    tickets_with_ties: int = 0
    status: dict[str, object] | None = None


def compute_stats(df: pd.DataFrame, closing: ClosingRule | None = None) -> LogStats:
    """Count tickets, events, activities, variants, time range, attribute values,
    tickets with tied timestamps, and open/closed tickets under ``closing``."""
    attrs: dict[str, dict[str, int]] = {}
    if len(df):
        first = df.drop_duplicates(CASE_ID)
        for col in ("case:channel", "case:category", "case:priority", "case:emotion", "case:team",
                    "case:region", "case:phase"):
            if col in first.columns:
                counts = first[col].dropna().value_counts().head(10)
                if len(counts):
                    attrs[col[5:]] = {str(k): int(v) for k, v in counts.items()}
    return LogStats(
        tickets=int(df[CASE_ID].nunique()),
        events=len(df),
        activities=int(df[ACTIVITY].nunique()),
        variants=len(case_variants(encode_log(df))[1]) if len(df) else 0,
        first_event=df[TIMESTAMP].min().isoformat() if len(df) else None,
        last_event=df[TIMESTAMP].max().isoformat() if len(df) else None,
        activity_counts={str(k): int(v) for k, v in df[ACTIVITY].value_counts().items()},
        attribute_counts=attrs,
        tickets_with_ties=tied_tickets(df),
        status=ticket_status(df, None, closing).summary(),
    )
