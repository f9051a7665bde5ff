"""A map cut down to a readable size: the most frequent activities and arcs, kept connected.

A drawn map of more than :data:`MAX_MAP_ACTIVITIES` activities or
:data:`MAX_MAP_PATHS` arcs is simplified (:func:`simplify_map`, used by
:func:`csmine.reports.maps.render_map` unless ``--full``): the rule of Disco's and
pm4py's frequency sliders, with counts as caps instead of shares.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from csmine.errors import MiningError
from csmine.mining.graph import connect, widest_parents
from csmine.mining.maps import END, START, MapSimplification, ProcessMap

if TYPE_CHECKING:
    from collections.abc import Iterable

#: A drawn map with more activities than this is simplified (:func:`simplify_map`).
MAX_MAP_ACTIVITIES = 60
#: A drawn map with more arcs (paths plus start and end arcs) than this is simplified.
MAX_MAP_PATHS = 150


def simplify_map(
    pmap: ProcessMap,
    *,
    max_activities: int = MAX_MAP_ACTIVITIES,
    max_paths: int = MAX_MAP_PATHS,
    keep: Iterable[str | tuple[str, str]] = (),
) -> ProcessMap:
    """The map cut down to a readable size: the most frequent activities and arcs.

    A map with at most ``max_activities`` activities and at most ``max_paths`` arcs
    (paths between activities plus start and end arcs) is returned as it is.
    Otherwise (the rule of Disco's and pm4py's frequency sliders, with counts as caps):

    1. **Activities**: if there are more than ``max_activities``, the activities in
       ``keep`` are shown, then the others by events (most first, ties by name)
       until ``max_activities`` are shown. Hidden activities are removed with their
       arcs (paths are not re-routed around them, unlike the ``activities`` slider
       of :func:`csmine.mining.maps.discover_map`).
    2. **Arcs** among the shown activities, START and END: if there are more than
       ``max_paths``, the shown arcs are the ``keep`` arcs, the ``K`` most frequent
       arcs (events, ties by source and target), and for every shown activity not
       reachable from START through those (or not reaching END) the arcs of its
       widest path from START (to END; the path whose least frequent arc is most
       frequent, as in :func:`csmine.mining.maps.discover_map`). ``K`` is the
       largest number for which all of that is at most ``max_paths`` arcs; if even
       ``K = 0`` is more, the connecting arcs are shown anyway (the cap gives way
       to connectedness). An activity with no path from START (to END) among the
       shown activities stays unconnected.

    Args:
        pmap: a map (see :func:`csmine.mining.maps.discover_map`).
        max_activities: most activities shown (at least 1).
        max_paths: most arcs shown (at least 1).
        keep: activities and ``(source, target)`` arcs always shown (e.g. the
            highlighted bottlenecks); they may push the counts past the caps.

    Returns:
        ``pmap`` itself when it fits, else a map with fewer nodes and arcs whose
        ``simplification`` says what it shows; its ``activity_coverage``,
        ``path_coverage``, ``dropped_activities`` and ``dropped_paths`` include what
        the simplification hid. Node and arc figures are those of ``pmap``.

    Raises:
        MiningError: a cap below 1.
    """
    if max_activities < 1 or max_paths < 1:
        raise MiningError(f"map caps must be at least 1; got {max_activities} activities, {max_paths} paths")
    arcs_all = pmap.all_edges()
    if len(pmap.nodes) <= max_activities and len(arcs_all) <= max_paths:
        return pmap
    keep = tuple(keep)
    forced_arcs = {k for k in keep if isinstance(k, tuple)}
    forced = {k for k in keep if isinstance(k, str)} | {a for arc in forced_arcs for a in arc}
    shown = _shown_activities(pmap, max_activities, forced)
    ends = shown | {START, END}
    arcs = {e.key: e.events for e in arcs_all if e.source in ends and e.target in ends}
    kept = _shown_arcs(arcs, [n.activity for n in pmap.nodes if n.activity in shown], max_paths, forced_arcs)
    return _cut_map(pmap, shown, arcs, kept, max_activities, max_paths)


def _shown_activities(pmap: ProcessMap, max_activities: int, forced: set[str]) -> set[str]:
    """The ``forced`` activities, then the most frequent others up to the cap."""
    shown = {n.activity for n in pmap.nodes if n.activity in forced}
    for node in sorted(pmap.nodes, key=lambda n: (-n.events, n.activity)):
        if len(shown) >= max_activities:
            break
        shown.add(node.activity)
    return shown


def _shown_arcs(arcs: dict[tuple[str, str], int], names: list[str], max_paths: int,
                forced: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """The forced arcs plus the ``K`` most frequent, connected, for the largest ``K``
    that stays within ``max_paths`` (``K = 0`` when even that is over)."""
    if len(arcs) <= max_paths:
        return set(arcs)
    parents = (widest_parents(arcs, START, False), widest_parents(arcs, END, True))
    ranking = sorted(arcs, key=lambda k: (-arcs[k], k))
    base = {k for k in forced if k in arcs}
    kept: set[tuple[str, str]] = set()
    for k in range(max_paths, -1, -1):
        kept = connect(base | set(ranking[:k]), arcs, names, source=START, sink=END, parents=parents)
        if len(kept) <= max_paths:
            break
    return kept


def _cut_map(pmap: ProcessMap, shown: set[str], arcs: dict[tuple[str, str], int], kept: set[tuple[str, str]],
             max_activities: int, max_paths: int) -> ProcessMap:
    """``pmap`` with only the ``shown`` activities and ``kept`` arcs, and what that shows."""
    arcs_all = pmap.all_edges()
    nodes = tuple(n for n in pmap.nodes if n.activity in shown)
    node_events = sum(n.events for n in nodes)
    arc_events = sum(e.events for e in arcs_all)
    kept_events = sum(arcs[k] for k in kept)
    # path_coverage of pmap is over the path occurrences of the activity-filtered log
    base_total = arc_events / pmap.path_coverage if pmap.path_coverage > 0 else arc_events
    return replace(
        pmap,
        nodes=nodes,
        edges=tuple(e for e in pmap.edges if e.key in kept),
        start_edges=tuple(e for e in pmap.start_edges if e.key in kept),
        end_edges=tuple(e for e in pmap.end_edges if e.key in kept),
        activity_coverage=node_events / pmap.events if pmap.events else 0.0,
        path_coverage=kept_events / base_total if base_total else 1.0,
        dropped_activities=pmap.dropped_activities + tuple(n.activity for n in pmap.nodes
                                                           if n.activity not in shown),
        dropped_paths=pmap.dropped_paths + len(arcs_all) - len(kept),
        simplification=MapSimplification(
            activities_shown=len(nodes),
            activities=len(pmap.nodes),
            paths_shown=len(kept),
            paths=len(arcs_all),
            events_covered=node_events / pmap.events if pmap.events else 0.0,
            paths_covered=kept_events / arc_events if arc_events else 1.0,
            max_activities=max_activities,
            max_paths=max_paths,
        ),
    )
