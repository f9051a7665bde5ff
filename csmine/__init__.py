"""csmine: event-sourced process mining for customer-service tickets.

The library's main entry points, one import away::

    import csmine

    df = csmine.load_event_log(store)
    kpis = csmine.ticket_kpis(df, sop=sop)
    report = csmine.check_conformance(df, sop)

Each name is imported from its package on first use (PEP 562), so ``import csmine``
costs almost nothing. The packages, by the user's job (see docs/architecture.md):
:mod:`csmine.eventlog`, :mod:`csmine.mining`, :mod:`csmine.conformance`,
:mod:`csmine.performance`, :mod:`csmine.pilot`, :mod:`csmine.audit`,
:mod:`csmine.monitoring`, :mod:`csmine.simulation`, :mod:`csmine.reports`;
errors in :mod:`csmine.errors`; the command line in :mod:`csmine.cli`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from csmine._lazy import attach

if TYPE_CHECKING:
    from csmine.audit.sample import audit_sample
    from csmine.audit.trace import trace_ticket
    from csmine.conformance.alignments import align_log
    from csmine.conformance.deviations import analyse_conformance, check_conformance, ticket_deviations
    from csmine.errors import CsmineError
    from csmine.eventlog.filters import LogFilter
    from csmine.eventlog.lifecycle import ClosingRule, ticket_status
    from csmine.eventlog.loading import load_event_log
    from csmine.mining.maps import discover_map
    from csmine.mining.model import discover_model
    from csmine.mining.stats import compute_stats
    from csmine.mining.variants import discover_variants
    from csmine.monitoring.replay import replay
    from csmine.performance.bottlenecks import find_bottlenecks
    from csmine.performance.business_calendar import BusinessCalendar
    from csmine.performance.kpi import ticket_kpis
    from csmine.performance.summary import summarise_kpis
    from csmine.pilot.compare import compare_logs
    from csmine.pilot.review import review_day, review_week
    from csmine.reports.report import build_report
    from csmine.simulation.demo import record_demo
    from csmine.simulation.simulate import simulate

_EXPORTS = {
    # event logs
    "load_event_log": "eventlog.loading",
    "LogFilter": "eventlog.filters",
    "ClosingRule": "eventlog.lifecycle",
    "ticket_status": "eventlog.lifecycle",
    # mining
    "discover_map": "mining.maps",
    "discover_variants": "mining.variants",
    "discover_model": "mining.model",
    "compute_stats": "mining.stats",
    # conformance
    "check_conformance": "conformance.deviations",
    "analyse_conformance": "conformance.deviations",
    "ticket_deviations": "conformance.deviations",
    "align_log": "conformance.alignments",
    # performance
    "ticket_kpis": "performance.kpi",
    "summarise_kpis": "performance.summary",
    "find_bottlenecks": "performance.bottlenecks",
    "BusinessCalendar": "performance.business_calendar",
    # pilot
    "compare_logs": "pilot.compare",
    "review_day": "pilot.review",
    "review_week": "pilot.review",
    # audit
    "audit_sample": "audit.sample",
    "trace_ticket": "audit.trace",
    # monitoring, simulation, reports
    "replay": "monitoring.replay",
    "simulate": "simulation.simulate",
    "record_demo": "simulation.demo",
    "build_report": "reports.report",
    # errors
    "CsmineError": "errors",
}
__all__ = [
    "load_event_log",
    "LogFilter",
    "ClosingRule",
    "ticket_status",
    "discover_map",
    "discover_variants",
    "discover_model",
    "compute_stats",
    "check_conformance",
    "analyse_conformance",
    "ticket_deviations",
    "align_log",
    "ticket_kpis",
    "summarise_kpis",
    "find_bottlenecks",
    "BusinessCalendar",
    "compare_logs",
    "review_day",
    "review_week",
    "audit_sample",
    "trace_ticket",
    "replay",
    "simulate",
    "record_demo",
    "build_report",
    "CsmineError",
]
__getattr__, __dir__ = attach(__name__, _EXPORTS)
