"""Widest paths over a map's arcs: the arcs that keep a cut-down map connected.

A map's arcs are a weighted digraph (``(source, target) -> occurrences``). When the
path slider (:func:`csmine.mining.maps.discover_map`) or the readable-size cut
(:func:`csmine.mining.simplify.simplify_map`) leaves an activity unreachable from
the start node, or unable to reach the end node, :func:`connect` adds back the
arcs of its **widest path**: the path whose least frequent arc is most frequent.
"""

from __future__ import annotations

import heapq
import math
from collections import defaultdict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

Arc = tuple[str, str]
#: For each node, the arc by which the widest path from (or to) the root reaches it.
Parents = dict[str, Arc]


def widest_parents(arcs: dict[Arc, int], root: str, reverse: bool) -> Parents:
    """For each node, the arc by which the widest path from ``root`` reaches it.

    ``reverse``: follow the arcs backwards (the widest paths *to* ``root``).
    """
    adj: dict[str, list[tuple[str, int, Arc]]] = defaultdict(list)
    for (a, b), w in sorted(arcs.items()):
        if reverse:
            adj[b].append((a, w, (a, b)))
        else:
            adj[a].append((b, w, (a, b)))
    best: dict[str, float] = {root: math.inf}
    parent: Parents = {}
    heap: list[tuple[float, str]] = [(-math.inf, root)]
    while heap:
        neg, u = heapq.heappop(heap)
        if -neg < best.get(u, -1.0):
            continue
        for v, w, arc in adj[u]:
            cap = min(-neg, float(w))
            if cap > best.get(v, -1.0):
                best[v] = cap
                parent[v] = arc
                heapq.heappush(heap, (-cap, v))
    return parent


def reachable(arcs: Iterable[Arc], root: str, reverse: bool) -> set[str]:
    """The nodes reachable from ``root`` over ``arcs`` (``reverse``: that reach it)."""
    adj: dict[str, list[str]] = defaultdict(list)
    for a, b in arcs:
        if reverse:
            adj[b].append(a)
        else:
            adj[a].append(b)
    seen = {root}
    stack = [root]
    while stack:
        u = stack.pop()
        for v in adj[u]:
            if v not in seen:
                seen.add(v)
                stack.append(v)
    return seen


def connect(kept: set[Arc], arcs: dict[Arc, int], nodes: list[str], *, source: str, sink: str,
            parents: tuple[Parents, Parents] | None = None) -> set[Arc]:
    """Add widest-path arcs until every node is reachable from ``source`` and reaches ``sink``.

    Args:
        kept: the arcs kept so far (a subset of ``arcs``).
        arcs: every arc and its occurrences.
        nodes: the nodes that must be connected, in the order they are connected.
        source / sink: the map's start and end nodes.
        parents: the widest-path trees of ``arcs`` from ``source`` and to ``sink``
            (:func:`widest_parents`), when the caller connects several sets over
            the same arcs.

    Returns:
        ``kept`` with the connecting arcs added (a new set). A node with no path
        from ``source`` (to ``sink``) in ``arcs`` stays unconnected.
    """
    kept = set(kept)
    if parents is None:
        parents = (widest_parents(arcs, source, False), widest_parents(arcs, sink, True))
    for (root, reverse), parent in zip(((source, False), (sink, True)), parents, strict=True):
        reach = reachable(kept, root, reverse)
        for node in nodes:
            if node in reach:
                continue
            path: list[Arc] = []
            v = node
            while v not in reach and v in parent:
                arc = parent[v]
                path.append(arc)
                v = arc[1] if reverse else arc[0]
            if v in reach:
                kept.update(path)
                reach = reachable(kept, root, reverse)
    return kept
