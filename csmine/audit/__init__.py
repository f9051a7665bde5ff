"""Audit: reproducible ticket samples with a checklist, and one ticket's full trace.

The public face below is imported lazily (on first use), so importing one module of
the package stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from csmine._lazy import attach

if TYPE_CHECKING:
    from csmine.audit.checklist import audit_tickets
    from csmine.audit.sample import AuditSample, audit_sample, sample_tickets
    from csmine.audit.trace import TicketTrace, trace_ticket

_EXPORTS = {
    "audit_sample": "sample",
    "AuditSample": "sample",
    "sample_tickets": "sample",
    "audit_tickets": "checklist",
    "trace_ticket": "trace",
    "TicketTrace": "trace",
}
__all__ = [
    "audit_sample",
    "AuditSample",
    "sample_tickets",
    "audit_tickets",
    "trace_ticket",
    "TicketTrace",
]
__getattr__, __dir__ = attach(__name__, _EXPORTS)
