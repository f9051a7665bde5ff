"""Performance: ticket KPIs and service levels, bottlenecks, business calendars.

The public face below is imported lazily (on first use), so importing one module of
the package stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from csmine._lazy import attach

if TYPE_CHECKING:
    from csmine.performance.backlog import TicketCounts, backlog_series, ticket_counts
    from csmine.performance.bottlenecks import Bottleneck, BottleneckReport, find_bottlenecks
    from csmine.performance.business_calendar import BusinessCalendar, parse_calendar
    from csmine.performance.kpi import ticket_kpis
    from csmine.performance.limits import check_limits
    from csmine.performance.sop_choice import SopChoice, choose_shipped_sop
    from csmine.performance.summary import KpiReport, summarise_kpis

_EXPORTS = {
    "ticket_kpis": "kpi",
    "summarise_kpis": "summary",
    "KpiReport": "summary",
    "ticket_counts": "backlog",
    "TicketCounts": "backlog",
    "check_limits": "limits",
    "backlog_series": "backlog",
    "choose_shipped_sop": "sop_choice",
    "SopChoice": "sop_choice",
    "find_bottlenecks": "bottlenecks",
    "BottleneckReport": "bottlenecks",
    "Bottleneck": "bottlenecks",
    "BusinessCalendar": "business_calendar",
    "parse_calendar": "business_calendar",
}
__all__ = [
    "ticket_kpis",
    "summarise_kpis",
    "KpiReport",
    "ticket_counts",
    "TicketCounts",
    "check_limits",
    "backlog_series",
    "choose_shipped_sop",
    "SopChoice",
    "find_bottlenecks",
    "BottleneckReport",
    "Bottleneck",
    "BusinessCalendar",
    "parse_calendar",
]
__getattr__, __dir__ = attach(__name__, _EXPORTS)
