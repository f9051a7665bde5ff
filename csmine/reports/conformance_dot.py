"""The SOP flowchart with the conformance overlay, as Graphviz DOT source.

Each step is coloured by the share of tickets with a deviation on it
(:func:`share_colour`); activities the SOP does not know are drawn apart, and a
legend gives the colour bands and the report's headline figures.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from csmine.errors import ConformanceError

if TYPE_CHECKING:
    from process_models import SOP

    from csmine.conformance.results import ConformanceReport, StepConformance

__all__ = ["SHARE_COLOURS", "render_conformance_dot", "share_colour"]

#: Colours of a step by the share of tickets with a deviation on it: (upper bound, fill).
SHARE_COLOURS: tuple[tuple[float, str], ...] = (
    (0.0, "#e3f2e1"),
    (0.05, "#fff2b8"),
    (0.20, "#ffc27a"),
    (0.50, "#f27c5c"),
    (1.01, "#c8372d"),
)


def share_colour(share: float) -> str:
    """Fill colour for a step whose deviating share is ``share`` (0-1).

    Green: no deviation; yellow: under 5% of tickets; orange: 5-20%; red: 20-50%;
    dark red: 50% or more.
    """
    if share <= 0.0:
        return SHARE_COLOURS[0][1]
    for bound, colour in SHARE_COLOURS[1:]:
        if share < bound:
            return colour
    return SHARE_COLOURS[-1][1]


def _pct(x: float) -> str:
    if x == 0:
        return "0%"
    if x < 0.001:
        return "<0.1%"
    return f"{x * 100:.1f}%"


def render_conformance_dot(sop: SOP, report: ConformanceReport) -> str:
    """The SOP flowchart with each step coloured by how often it is skipped or violated.

    Drawn by :func:`process_models.render.render_sop` with an overlay: each step's
    fill goes from green (no deviation) through yellow and orange to red by the
    share of tickets with a deviation on it (see :func:`share_colour`), and steps
    with deviations get a line "skipped x% · violated y%" (shares of all checked
    tickets; violated = extra, out of order, repeated or wrong branch). Activities
    the SOP does not know are added apart, dashed, with their extra-step counts; a
    legend gives the colour bands and the report's headline figures. Fonts are Noto
    Sans CJK SC, so Chinese labels render.

    Returns:
        Graphviz DOT source (render with ``dot -Tsvg`` or ``-Tpng``).

    Raises:
        ConformanceError: the flowchart source does not end as expected.
    """
    from process_models.render import FONT, render_sop

    overlay: dict[str, tuple[str, str]] = {}
    for row in report.steps:
        if row.status == "unknown":
            continue
        text = ""
        if row.deviations:
            text = f"skipped {_pct(row.skipped_share)} · violated {_pct(row.violated_share)}"
            if row.status == "off_flow":
                text = f"extra {row.extra:,} in {_pct(row.deviating_share)} of tickets"
        overlay[row.step] = (share_colour(row.deviating_share), text)
    body = render_sop(sop, overlay).rstrip()
    if not body.endswith("}"):
        raise ConformanceError("cannot add the conformance overlay: unexpected flowchart source")
    lines = [body[:-1].rstrip()]
    unknown = [row for row in report.steps if row.status == "unknown"]
    if unknown:
        lines += _unknown_cluster(unknown, FONT)
    lines.append(_legend(report))
    return "\n".join([*lines, "}"]) + "\n"


def _unknown_cluster(unknown: list[StepConformance], font: str) -> list[str]:
    """A dashed cluster with one node per activity the SOP does not know."""
    lines = [
        "  subgraph cluster_unknown {",
        f'    label="not in the SOP 未知活动" fontsize=11 style="dashed,rounded" '
        f'color="#999999" fontname="{font}";',
    ]
    for i, row in enumerate(unknown):
        lines.append(
            f'    unknown{i} [shape=box style="rounded,filled,dashed" '
            f'fillcolor="{share_colour(row.deviating_share)}" color="#8b1a1a" '
            f'label=<<B>{html.escape(row.step)}</B><BR/><FONT POINT-SIZE="10">{row.events:,} events, '
            f"{row.deviating_tickets:,} tickets ({html.escape(_pct(row.deviating_share))})</FONT>>];"
        )
    lines.append("  }")
    return lines


def _legend(report: ConformanceReport) -> str:
    """The legend node: headline figures and the colour bands."""
    headline = html.escape(
        f"{report.tickets:,} tickets · log fitness {report.log_fitness:.3f} · "
        f"fitting {_pct(report.fitting_share)}"
        + (f" · precision {report.precision:.3f}" if report.precision is not None else "")
    )
    cells = "".join(
        f'<TD BGCOLOR="{colour}">{text}</TD>'
        for text, colour in zip(
            ("0", "&lt;5%", "5-20%", "20-50%", "≥50%"), (c for _, c in SHARE_COLOURS), strict=True
        )
    )
    return (
        '  legend [shape=plaintext style="" label=<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" '
        f'CELLPADDING="3"><TR><TD COLSPAN="5"><B>{headline}</B></TD></TR>'
        '<TR><TD COLSPAN="5"><FONT POINT-SIZE="10">tickets with a deviation on the step '
        f"偏差工单占比</FONT></TD></TR><TR>{cells}</TR></TABLE>>];"
    )
