"""The pictures the commands write: process maps and the SOP flowchart, drawn to files.

Each function takes analysis results, decides what to draw (which map, how
simplified, what highlighted, under which title), renders DOT with
:mod:`csmine.reports.maps` or the conformance overlay, and writes the file with
:func:`csmine.reports.graphviz.dot_to` (the extension picks the format). They return
what the caller reports: the paths written, and how a map was simplified.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from csmine.reports.graphviz import dot_to
from csmine.reports.maps import render_map

if TYPE_CHECKING:
    import pandas as pd

    from process_models import SOP

    from csmine.conformance.results import ConformanceReport
    from csmine.mining.maps import MapEdge, ProcessMap
    from csmine.performance.bottlenecks import BottleneckReport
    from csmine.pilot.compare import Comparison

#: Bottlenecks highlighted on ``bottlenecks --out``.
HIGHLIGHTED = 5
#: ``compare --out --paths``: A's paths that B never takes are kept from this share of A's tickets.
GONE_PATH_SHARE = 0.01


def draw_map(pmap: ProcessMap, out: str | Path, *, mode: str = "frequency", title: str | None = None,
             direction: str = "TB") -> None:
    """Draw ``pmap`` to ``out`` as it is (simplify it first with
    :func:`csmine.mining.simplify.simplify_map` for a readable size)."""
    dot_to(render_map(pmap, mode=mode, title=title, rankdir=direction, simplify=False), out)


def draw_bottleneck_map(df: pd.DataFrame, report: BottleneckReport, out: str | Path, *, mode: str = "performance",
                        title: str | None = None, direction: str = "TB", activities: float = 1.0,
                        paths: float = 1.0) -> None:
    """The map of ``df`` with the :data:`HIGHLIGHTED` largest bottlenecks drawn in purple (kept
    on the map however it is simplified)."""
    from csmine.mining.maps import discover_map

    highlight = report.highlight(HIGHLIGHTED)
    pmap = discover_map(df, activities=activities, paths=paths, keep=list(highlight))
    dot_to(render_map(pmap, mode=mode, highlight=highlight, notes=report.highlight_notes(HIGHLIGHTED), title=title,
                      rankdir=direction), out)


def draw_conformance(sop: SOP, report: ConformanceReport, out: str | Path) -> None:
    """The SOP flowchart, each step coloured by how often it is skipped or violated."""
    from csmine.reports.conformance_dot import render_conformance_dot

    dot_to(render_conformance_dot(sop, report), out, dpi=None)  # PNG at Graphviz's 96 dpi, as always


def draw_comparison(comparison: Comparison, out: str | Path, sop: SOP | None, df_b: pd.DataFrame,
                    paths: float = 1.0) -> list[str]:
    """B's map against A's, twice: ``out`` coloured by the change in ticket share, and
    ``out``'s name with ``-wait`` by the change in median waiting time.

    With ``paths`` below 1, only B's map is simplified; A's keeps the paths drawn for B
    and those B never takes (from :data:`GONE_PATH_SHARE` of A's tickets), so "new"
    and "gone" are never artefacts of simplifying each side on its own.

    Returns:
        The two paths written.
    """
    map_a, map_b = comparison.map_a, comparison.map_b
    if paths < 1.0:
        map_a, map_b = _trimmed(map_a, map_b, df_b, paths)
    target = Path(out)
    wait_path = target.with_name(f"{target.stem}-wait{target.suffix}")
    labels = {step.name: step.label for step in sop.steps} if sop is not None else {}
    for alias, step in sop.aliases.items() if sop is not None else ():
        if step in labels and alias not in labels:
            labels[alias] = alias
    title = f"{comparison.b.label} against {comparison.a.label}"
    written = []
    for mode, path, what in (("frequency", target, "ticket share"), ("performance", wait_path, "median waiting time")):
        dot = render_map(map_b, mode=mode, compare=map_a, title=f"{title}: change in {what}", labels=labels)
        written.append(str(dot_to(dot, path)))
    return written


def _trimmed(map_a: ProcessMap, map_b: ProcessMap, df_b: pd.DataFrame,
             paths: float) -> tuple[ProcessMap, ProcessMap]:
    from csmine.mining.maps import discover_map

    full_b = {e.key for e in map_b.all_edges()}
    map_b = discover_map(df_b, paths=paths)
    drawn = {e.key for e in map_b.all_edges()}

    def keep(edges: tuple[MapEdge, ...]) -> tuple[MapEdge, ...]:
        return tuple(e for e in edges if e.key in drawn or (
            e.key not in full_b and e.cases >= GONE_PATH_SHARE * max(map_a.tickets, 1)))

    map_a = dataclasses.replace(map_a, edges=keep(map_a.edges), start_edges=keep(map_a.start_edges),
                                end_edges=keep(map_a.end_edges))
    return map_a, map_b
