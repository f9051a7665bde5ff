"""Event logs: the store's read model as pandas frames, filters, tie order and the open/closed rule.

The public face below is imported lazily (on first use), so importing one module of
the package stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from csmine._lazy import attach

if TYPE_CHECKING:
    from csmine.eventlog.filters import LogFilter, parse_where
    from csmine.eventlog.lifecycle import ClosingRule, TicketStatus, ticket_status
    from csmine.eventlog.loading import Phase, assign_phases, list_phases, load_event_log
    from csmine.eventlog.ordering import check_tie_order, order_events

_EXPORTS = {
    "load_event_log": "loading",
    "list_phases": "loading",
    "assign_phases": "loading",
    "Phase": "loading",
    "LogFilter": "filters",
    "parse_where": "filters",
    "order_events": "ordering",
    "check_tie_order": "ordering",
    "ClosingRule": "lifecycle",
    "TicketStatus": "lifecycle",
    "ticket_status": "lifecycle",
}
__all__ = [
    "load_event_log",
    "list_phases",
    "assign_phases",
    "Phase",
    "LogFilter",
    "parse_where",
    "order_events",
    "check_tie_order",
    "ClosingRule",
    "TicketStatus",
    "ticket_status",
]
__getattr__, __dir__ = attach(__name__, _EXPORTS)
