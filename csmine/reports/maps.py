"""Process maps as Graphviz DOT (drawn to files by :func:`csmine.reports.graphviz.dot_to`).

:func:`render_map` is pure: a :class:`~csmine.mining.maps.ProcessMap` in, DOT source
out. Frequency mode shades activities by their number of events and draws paths
thicker the more often they are taken, labelled with the tickets taking them.
Performance mode labels paths with the median waiting time and colours and thickens
them by it. Bottlenecks can be highlighted, and a second map (e.g. the baseline of
a pilot) can be compared against. Every text uses the "Noto Sans CJK SC" font so
Chinese step names render.

A map past a readable size (:data:`csmine.mining.simplify.MAX_MAP_ACTIVITIES` activities or
:data:`csmine.mining.simplify.MAX_MAP_PATHS` arcs) is drawn simplified
(:func:`csmine.mining.simplify.simplify_map`) unless ``simplify=False``. Activity names are
wrapped and cut to :data:`~csmine.reports.labels.LABEL_LINES` lines of
:data:`~csmine.reports.labels.LABEL_WIDTH` columns (:mod:`csmine.reports.labels`); the
whole name stays in the node's tooltip.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

from csmine.errors import RenderError
from csmine.formatting import human_duration
from csmine.reports.labels import display_label, shorten_name

if TYPE_CHECKING:
    from csmine.mining.maps import MapEdge, MapNode, ProcessMap

FONT = "Noto Sans CJK SC"
_BLUES = ("#f3f7fc", "#deebf7", "#c6dbef", "#9ecae1", "#6baed6", "#4292c6", "#2171b5", "#08519c", "#08306b")
_REDS = ("#fff5f0", "#fee0d2", "#fcbba1", "#fc9272", "#fb6a4a", "#ef3b2c", "#cb181d", "#a50f15", "#67000d")
_EDGE_GREYS = ("#b0b0b0", "#9a9a9a", "#858585", "#707070", "#5c5c5c", "#474747", "#333333")
_EDGE_HEAT = ("#9e9e9e", "#c7a17a", "#e0853d", "#e8622b", "#d7301f", "#b30000", "#7f0000")
_MORE = "#c62828"
_LESS = "#1565c0"

#: Graphviz ``nslimit``: at most this many network-simplex passes per node when ``dot``
#: places nodes side by side. Unbounded, that step took most of the 36 s of a 36-activity,
#: 517-arc map and 8 s of a 60-step chain whose every step can end the ticket; at 100
#: those take 9 s and 1.5 s, and maps of usual size (the receipt log, the simplified
#: 36-activity map) come out byte-identical, as the limit is not reached.
NSLIMIT = 100

#: What a highlight key may be: an activity name or a ``(source, target)`` path.
HighlightKey = str | tuple[str, str]


#: Characters per piece of a long quoted DOT string: Graphviz refuses quoted strings
#: of more than 16384 bytes, so longer ones are written as ``"..." + "..."``.
_DOT_PIECE = 3000


def _q(text: str) -> str:
    text = str(text)
    pieces = [text[i:i + _DOT_PIECE] for i in range(0, len(text), _DOT_PIECE)] or [""]
    return " + ".join('"' + p.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
                      for p in pieces)


def _n(count: int, word: str) -> str:
    return f"{count:,} {word}" + ("" if count == 1 else "s")


def _h(text: str) -> str:
    return html.escape(str(text), quote=False)


def _level(value: float, lo: float, hi: float, n: int) -> int:
    if not math.isfinite(value) or hi <= lo:
        return n - 1 if hi > 0 and value >= hi else 0
    t = (math.log1p(max(value, 0)) - math.log1p(max(lo, 0))) / (math.log1p(hi) - math.log1p(max(lo, 0)))
    return max(0, min(n - 1, int(round(t * (n - 1)))))


def _node_id(name: str, ids: dict[str, str]) -> str:
    if name not in ids:
        ids[name] = f"n{len(ids)}"
    return ids[name]


def node_ids(pmap: ProcessMap) -> dict[str, str]:
    """The DOT node id :func:`render_map` gives each activity (and ``start`` / ``end``).

    Graphviz writes these ids into SVG titles (``n2``, edges ``n2->n3``), which is how
    the report's animation finds the path between two activities.
    """
    from csmine.mining.maps import END, START

    ids: dict[str, str] = {START: "start", END: "end"}
    for node in pmap.nodes:
        _node_id(node.activity, ids)
    return ids


def render_map(
    pmap: ProcessMap,
    *,
    mode: str = "frequency",
    highlight: Mapping[HighlightKey, str] | None = None,
    compare: ProcessMap | None = None,
    title: str | None = None,
    rankdir: str = "TB",
    labels: Mapping[str, str] | None = None,
    notes: Mapping[HighlightKey, str] | None = None,
    simplify: bool = True,
) -> str:
    """Draw a process map as Graphviz DOT source.

    Args:
        pmap: the map (see :func:`csmine.mining.maps.discover_map`).
        mode: ``"frequency"`` (shade and width by events; paths labelled ``N cases``)
            or ``"performance"`` (paths labelled ``median 2h 10m``, coloured and
            thickened by median waiting time; activities by median work time when
            start times exist).
        highlight: activity names or ``(source, target)`` paths -> colour
            (e.g. bottlenecks in red); they are drawn thick in that colour.
        compare: a second map (e.g. the baseline); elements are coloured by the
            change of their ticket share (frequency mode, red = more tickets now,
            blue = fewer, in percentage points) or of their median waiting time
            (performance mode, red = slower by > 10 %, blue = faster by > 10 %);
            paths only in ``compare`` are drawn dashed.
        title: a line shown above the map.
        rankdir: ``"TB"`` (top to bottom) or ``"LR"`` (left to right).
        labels: display names per activity (e.g. ``"Record / 记录登记"``).
        notes: activity names or paths -> an extra line on their label (e.g.
            ``"#1 bottleneck: 2d 4h per ticket"``).
        simplify: draw a map of more than :data:`~csmine.mining.simplify.MAX_MAP_ACTIVITIES`
            activities or :data:`~csmine.mining.simplify.MAX_MAP_PATHS` arcs simplified by
            :func:`csmine.mining.simplify.simplify_map` (the ``highlight`` and ``notes`` keys
            always shown; the caption says what is shown). False draws everything.

    Activity names are drawn as :func:`~csmine.reports.labels.display_label` wraps them;
    the full name is in the node's tooltip (SVG ``xlink:title``). Node ids are those
    of :func:`node_ids` of ``pmap``, whether or not it is simplified.

    Returns:
        DOT source (UTF-8 text).

    Raises:
        RenderError: unknown ``mode`` or ``rankdir``.
    """
    from csmine.mining.simplify import simplify_map

    _check_options(mode, rankdir)
    highlight = dict(highlight or {})
    notes = dict(notes or {})
    ids = node_ids(pmap)  # before simplifying: the ids do not depend on what is shown
    shown = simplify_map(pmap, keep=[*highlight, *notes]) if simplify else pmap
    out = [*_graph_lines(shown, mode, compare, title, rankdir),
           *_node_lines(shown, ids, mode, highlight, compare, dict(labels or {}), notes),
           *_edge_lines(shown, ids, mode, highlight, compare, notes),
           *(_gone_lines(pmap, shown, compare, ids) if compare is not None else ()), "}"]
    return "\n".join(out) + "\n"


def _check_options(mode: str, rankdir: str) -> None:
    if mode not in ("frequency", "performance"):
        raise RenderError(f"unknown map mode {mode!r}: use frequency or performance")
    if rankdir not in ("TB", "LR", "BT", "RL"):
        raise RenderError(f"unknown direction {rankdir!r}: use TB or LR")


def _graph_lines(pmap: ProcessMap, mode: str, compare: ProcessMap | None, title: str | None,
                 rankdir: str) -> list[str]:
    """The graph's opening: defaults, the caption, and the start and end nodes."""
    caption = _caption(pmap, mode, compare)
    head = f"<B>{_h(title)}</B><BR/>" if title else ""
    return [
        "digraph process_map {",
        f"  graph [rankdir={rankdir}, fontname={_q(FONT)}, fontsize=13, nodesep=0.35, ranksep=0.5, "
        f'bgcolor="white", pad=0.3, splines=true, outputorder=edgesfirst, nslimit={NSLIMIT}];',
        f"  node [fontname={_q(FONT)}, fontsize=12, shape=box, style=\"rounded,filled\", "
        'color="#4a4a4a", penwidth=1.2, margin="0.18,0.08"];',
        f"  edge [fontname={_q(FONT)}, fontsize=10, arrowsize=0.7, color=\"#8a8a8a\"];",
        f'  labelloc="t"; labeljust="l"; label=<{head}<FONT POINT-SIZE="10">{_h(caption)}</FONT>>;',
        f'  start [label="", shape=circle, width=0.28, style=filled, fillcolor="#2e7d32", '
        f'color="#1b5e20", tooltip={_q("start")}];',
        f'  end [label="", shape=doublecircle, width=0.22, style=filled, fillcolor="#c62828", '
        f'color="#8e0000", tooltip={_q("end")}];',
    ]


def _node_lines(pmap: ProcessMap, ids: dict[str, str], mode: str, highlight: Mapping[HighlightKey, str],
                compare: ProcessMap | None, labels: Mapping[str, str],
                notes: Mapping[HighlightKey, str]) -> list[str]:
    base_nodes = {n.activity: n for n in compare.nodes} if compare else {}
    events = [n.events for n in pmap.nodes] or [1]
    works = [n.work_median_s for n in pmap.nodes if n.work_median_s is not None]
    return ["  " + _node_line(node, _node_id(node.activity, ids), mode, min(events), max(events),
                              (min(works), max(works)) if works else None, highlight.get(node.activity),
                              base_nodes.get(node.activity) if compare else None, compare is not None,
                              pmap, compare, labels.get(node.activity, node.activity),
                              notes.get(node.activity))
            for node in pmap.nodes]


def _edge_lines(pmap: ProcessMap, ids: dict[str, str], mode: str, highlight: Mapping[HighlightKey, str],
                compare: ProcessMap | None, notes: Mapping[HighlightKey, str]) -> list[str]:
    base_edges = {(e.source, e.target): e for e in compare.all_edges()} if compare else {}
    edge_events = [e.events for e in pmap.all_edges()] or [1]
    medians = [e.median_s for e in pmap.edges if e.median_s is not None and math.isfinite(e.median_s)]
    out = []
    for edge in pmap.all_edges():
        key = (edge.source, edge.target)
        out.append("  " + _edge_line(edge, ids, mode, max(edge_events),
                                      (min(medians), max(medians)) if medians else None, highlight.get(key),
                                      base_edges.get(key) if compare else None, compare is not None,
                                      pmap, compare, notes.get(key)))
    return out


def _gone_lines(full: ProcessMap, shown: ProcessMap, compare: ProcessMap, ids: dict[str, str]) -> list[str]:
    """Paths of ``compare`` that ``full`` no longer has, dashed, among the activities
    shown, most frequent first, within what is left of the arc cap when simplified."""
    from csmine.mining.maps import END, START

    present = {(e.source, e.target) for e in full.all_edges()}
    kept = {n.activity for n in shown.nodes} | {START, END}
    base_edges = {(e.source, e.target): e for e in compare.all_edges()}
    gone = sorted((old for key, old in base_edges.items()
                   if key not in present and key[0] in kept and key[1] in kept),
                  key=lambda e: (-e.events, e.source, e.target))
    if shown.simplification is not None:
        gone = gone[: max(0, shown.simplification.max_paths - len(shown.all_edges()))]
    out = []
    for old in gone:
        src, dst = _node_id(old.source, ids), _node_id(old.target, ids)
        out.append(f'  {src} -> {dst} [style=dashed, color="#9e9e9e", fontcolor="#757575", '
                   f'label={_q(f" gone ({old.cases:,} cases before) ")}, penwidth=1];')
    return out

def _caption(pmap: ProcessMap, mode: str, compare: ProcessMap | None) -> str:
    parts = [f"{pmap.tickets:,} tickets, {pmap.events:,} events"]
    simple = pmap.simplification
    if simple is not None:
        acts = (f"all {simple.activities:,} activities" if simple.activities_shown == simple.activities
                else f"the most frequent {simple.activities_shown:,} of {simple.activities:,} activities")
        # the map's own coverage: of all events, and of the path occurrences before any path was hidden
        parts.append(f"simplified: {acts} and {simple.paths_shown:,} of {simple.paths:,} paths "
                     f"({pmap.activity_coverage:.0%} of events, {pmap.path_coverage:.0%} of path occurrences)")
    elif pmap.activities < 1.0 or pmap.paths < 1.0:
        parts.append(f"activities {pmap.activity_coverage:.0%} of events, paths {pmap.path_coverage:.0%}")
    if mode == "frequency":
        parts.append("shade and width = frequency; labels = tickets")
    else:
        parts.append("labels = median waiting time; colour and width = waiting time")
    if compare is not None:
        what = "ticket share" if mode == "frequency" else "median waiting time"
        parts.append(f"compared with {compare.tickets:,} tickets: red = {'more' if mode == 'frequency' else 'slower'}, "
                     f"blue = {'fewer' if mode == 'frequency' else 'faster'} ({what})")
    return " · ".join(parts)


def _name_html(name: str) -> str:
    return "<BR/>".join(f"<B>{_h(line)}</B>" for line in display_label(name))


def _share_delta(cases: int, tickets: int, old_cases: int, old_tickets: int) -> float:
    now = cases / tickets if tickets else 0.0
    before = old_cases / old_tickets if old_tickets else 0.0
    return 100.0 * (now - before)


def _node_line(node: MapNode, nid: str, mode: str, lo: int, hi: int, work_range: tuple[float, float] | None,
               color: str | None, old: MapNode | None, comparing: bool, pmap: ProcessMap,
               compare: ProcessMap | None, display: str, note: str | None = None) -> str:
    if mode == "performance" and work_range is not None and node.work_median_s is not None:
        level = _level(node.work_median_s, work_range[0], work_range[1], len(_REDS))
        fill = _REDS[level]
        stats = f"work median {human_duration(node.work_median_s)} · {_n(node.events, 'event')}"
    elif mode == "performance":
        level = 1
        fill = "#f5f5f5"
        stats = f"{_n(node.events, 'event')} · {_n(node.cases, 'case')}"
    else:
        level = min(len(_BLUES) - 1, int(round(math.sqrt(node.events / hi) * (len(_BLUES) - 1)))) if hi else 0
        fill = _BLUES[level]
        stats = f"{_n(node.events, 'event')} · {_n(node.cases, 'case')}"
    font = "white" if level >= 5 else "#1a1a1a"
    border = "#4a4a4a"
    width = 1.2
    extra = ""
    if comparing and compare is not None:
        if old is None:
            extra = "new"
            border, width = _MORE, 2.5
        else:
            delta = _share_delta(node.cases, pmap.tickets, old.cases, compare.tickets)
            extra = f"{delta:+.1f} pp tickets"
            if delta > 1.0:
                border, width = _MORE, 2.5
            elif delta < -1.0:
                border, width = _LESS, 2.5
    if color:
        border, width = color, 3.5
    lines = [_name_html(display), f'<FONT POINT-SIZE="10">{_h(stats)}</FONT>']
    if extra:
        lines.append(f'<FONT POINT-SIZE="10">{_h(extra)}</FONT>')
    if note:
        lines.append(f'<FONT POINT-SIZE="10" COLOR="{color or _MORE}"><B>{_h(note)}</B></FONT>')
    name = node.activity if display == node.activity else f"{display} ({node.activity})"
    tooltip = f"{name}: {node.events:,} events in {node.cases:,} tickets"
    return (f'{nid} [label=<{"<BR/>".join(lines)}>, fillcolor="{fill}", fontcolor="{font}", '
            f'color="{border}", penwidth={width:.1f}, tooltip={_q(tooltip)}];')


def _edge_line(edge: MapEdge, ids: dict[str, str], mode: str, max_events: int,
               median_range: tuple[float, float] | None, color: str | None, old: MapEdge | None,
               comparing: bool, pmap: ProcessMap, compare: ProcessMap | None, note: str | None = None) -> str:
    src, dst = _node_id(edge.source, ids), _node_id(edge.target, ids)
    endpoint = edge.median_s is None
    ratio = math.sqrt(edge.events / max_events) if max_events else 0.0
    if mode == "frequency" or endpoint:
        width = 1.0 + 6.0 * ratio
        shade = _EDGE_GREYS[min(len(_EDGE_GREYS) - 1, int(round(ratio * (len(_EDGE_GREYS) - 1))))]
        label = _n(edge.cases, "case") if mode == "frequency" or not endpoint else ""
        if mode == "performance":
            shade, width = "#c8c8c8", 1.0
    else:
        lo, hi = median_range or (0.0, 1.0)
        level = _level(edge.median_s or 0.0, lo, hi, len(_EDGE_HEAT))
        shade = _EDGE_HEAT[level]
        width = 1.0 + 6.0 * level / (len(_EDGE_HEAT) - 1)
        label = f"median {human_duration(edge.median_s)}"
    fontcolor = "#333333"
    style = "solid"
    if comparing and compare is not None and not (mode == "performance" and endpoint):
        if old is None:
            label += " (new)"
            shade = _MORE
        elif mode == "frequency":
            delta = _share_delta(edge.cases, pmap.tickets, old.cases, compare.tickets)
            label += f" ({delta:+.1f} pp)"
            if delta > 1.0:
                shade = _MORE
            elif delta < -1.0:
                shade = _LESS
        elif old.median_s and edge.median_s is not None:
            change = edge.median_s / old.median_s - 1.0
            label += f" ({change:+.0%})"
            if change > 0.10:
                shade = _MORE
            elif change < -0.10:
                shade = _LESS
        fontcolor = shade if shade in (_MORE, _LESS) else fontcolor
    if color:
        shade, fontcolor = color, color
        width = max(width, 4.0)
        label = f"<B>{_h(label)}</B>"
    else:
        label = _h(label)
    if note:
        label += f'<BR/><FONT POINT-SIZE="10" COLOR="{color or _MORE}"><B>{_h(note)}</B></FONT>'

    parts = [f"{edge.events:,} times in {edge.cases:,} tickets"]
    if not endpoint:
        parts.append(f"waiting median {human_duration(edge.median_s)}, mean {human_duration(edge.mean_s)}, "
                     f"P90 {human_duration(edge.p90_s)}")
    tooltip = f"{shorten_name(edge.source)} → {shorten_name(edge.target)}: " + "; ".join(parts)
    label_attr = f"label=< {label} >, " if label else ""
    return (f'{src} -> {dst} [{label_attr}color="{shade}", fontcolor="{fontcolor}", '
            f'penwidth={width:.2f}, style={style}, tooltip={_q(tooltip)}];')
