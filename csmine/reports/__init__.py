"""Reports: pure renderers from results to JSON, DOT/SVG maps and HTML pages; the one
Graphviz runner (:mod:`csmine.reports.graphviz`) and the report builder.

The public face below is imported lazily (on first use), so importing one module of
the package stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from csmine._lazy import attach

if TYPE_CHECKING:
    from csmine.reports.findings import ReportFindings
    from csmine.reports.graphviz import dot_to
    from csmine.reports.html_report import render_report_html
    from csmine.reports.json import dumps, to_jsonable
    from csmine.reports.maps import render_map
    from csmine.reports.report import ReportResult, build_report
    from csmine.reports.trace_html import render_trace_html

_EXPORTS = {
    "build_report": "report",
    "ReportResult": "report",
    "ReportFindings": "findings",
    "render_map": "maps",
    "dot_to": "graphviz",
    "render_report_html": "html_report",
    "render_trace_html": "trace_html",
    "to_jsonable": "json",
    "dumps": "json",
}
__all__ = [
    "build_report",
    "ReportResult",
    "ReportFindings",
    "render_map",
    "dot_to",
    "render_report_html",
    "render_trace_html",
    "to_jsonable",
    "dumps",
]
__getattr__, __dir__ = attach(__name__, _EXPORTS)
