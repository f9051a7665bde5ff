"""Net compilation: an accepting Petri net as an explicit reachability graph.

The reachability graph of the net (markings as integer tuples, silent transitions
included) is built once per net, bounded by ``max_states``; the alignment engines
(:mod:`csmine.conformance.dense`, :mod:`csmine.conformance.astar`) search it. The
graph also answers the questions the results need: where a prefix alignment ends
and what the model allows next (:meth:`ReachabilityGraph.end_of`), which labels can
still occur from a marking (the A* heuristic) and which are enabled after silent
moves (align-ETC precision, :mod:`csmine.conformance.figures`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from csmine.conformance.moves import TAU_MOVE_COST, End, Move, MoveKind
from csmine.errors import AlignmentError

if TYPE_CHECKING:
    from pm4py.objects.petri_net.obj import Marking, PetriNet

__all__ = ["ReachabilityGraph", "net_fingerprint"]

#: A marking as token counts, one per place (places sorted by name).
_Vector = tuple[int, ...]


def net_fingerprint(
    net: PetriNet, initial_marking: Marking, final_marking: Marking
) -> str:
    """Stable hash of an accepting Petri net (places, arcs, labels, markings).

    Two nets with the same place names, transitions (name, label, weighted arcs) and
    markings get the same fingerprint, across processes. If place names are not
    unique the structure is ambiguous, and the fingerprint is made unique to this
    net object instead.

    Returns:
        A hex SHA-256 digest.
    """
    digest = hashlib.sha256()
    place_names = [str(p.name) for p in net.places]
    if len(set(place_names)) != len(place_names):
        digest.update(f"object:{id(net)}".encode())
    digest.update(repr(sorted(place_names)).encode())
    rows = []
    for t in net.transitions:
        pre = sorted((str(a.source.name), int(a.weight)) for a in t.in_arcs)
        post = sorted((str(a.target.name), int(a.weight)) for a in t.out_arcs)
        rows.append(repr((str(t.name), t.label, pre, post)))
    digest.update(repr(sorted(rows)).encode())
    for marking in (initial_marking, final_marking):
        digest.update(
            repr(sorted((str(p.name), int(c)) for p, c in marking.items())).encode()
        )
    return digest.hexdigest()


class _Arcs(NamedTuple):
    """Per transition: tokens taken and marking change; per place: its consumers."""

    pre: list[tuple[tuple[int, int], ...]]  # (place, weight) the transition needs
    delta: list[tuple[tuple[int, int], ...]]  # (place, change) when it fires
    consumers: list[list[int]]  # per place: transitions taking tokens from it
    free: list[int]  # transitions without input places (always enabled)


def _arcs(transitions: list[Any], pidx: dict[Any, int]) -> _Arcs:
    arcs = _Arcs([], [], [[] for _ in pidx], [])
    for ti, t in enumerate(transitions):
        arcs_in: dict[int, int] = {}
        for a in t.in_arcs:
            arcs_in[pidx[a.source]] = arcs_in.get(pidx[a.source], 0) + int(a.weight)
        change: dict[int, int] = {p: -w for p, w in arcs_in.items()}
        for a in t.out_arcs:
            change[pidx[a.target]] = change.get(pidx[a.target], 0) + int(a.weight)
        arcs.pre.append(tuple(sorted(arcs_in.items())))
        arcs.delta.append(tuple((p, d) for p, d in sorted(change.items()) if d != 0))
        for p in arcs_in:
            arcs.consumers[p].append(ti)
        if not arcs_in:
            arcs.free.append(ti)
    return arcs


def _encode(marking: Marking, pidx: dict[Any, int]) -> _Vector:
    vec = [0] * len(pidx)
    for p, c in marking.items():
        if p not in pidx:
            raise AlignmentError(
                f"cannot align: marking place {p.name!r} is not in the net "
                "(pass the net's own initial and final markings)"
            )
        vec[pidx[p]] = int(c)
    return tuple(vec)


def _explore(
    start: _Vector, arcs: _Arcs, limit: int
) -> tuple[list[_Vector], dict[_Vector, int], list[list[tuple[int, int]]]] | None:
    """Breadth-first search: states, their index, (transition, successor) per state.

    None when more than ``limit`` markings are reachable.
    """
    pre, delta, consumers, free = arcs
    index: dict[_Vector, int] = {start: 0}
    states = [start]
    out: list[list[tuple[int, int]]] = []
    i = 0
    while i < len(states):
        m = states[i]
        cand = set(free)
        for p, c in enumerate(m):
            if c:
                cand.update(consumers[p])
        succ: list[tuple[int, int]] = []
        for ti in sorted(cand):
            if all(m[p] >= w for p, w in pre[ti]):
                nm = list(m)
                for p, d in delta[ti]:
                    nm[p] += d
                key = tuple(nm)
                j = index.get(key)
                if j is None:
                    if len(states) >= limit:
                        return None
                    j = len(states)
                    index[key] = j
                    states.append(key)
                succ.append((ti, j))
        out.append(succ)
        i += 1
    return states, index, out


class ReachabilityGraph:
    """An accepting Petri net's transitions, labels and (if small) reachability graph.

    States are reachable markings by index (``s0`` the initial, ``sf`` the final
    one); transitions are sorted by (name, label) and referred to by index.

    Attributes:
        fingerprint: :func:`net_fingerprint` of the net.
        n_states: number of reachable markings, or ``None`` when the graph exceeded
            ``max_states`` (or the net is unbounded): then only the labels are known.
        labels: the visible labels, sorted; ``label_index`` maps them to codes.
    """

    def __init__(
        self,
        net: PetriNet,
        initial_marking: Marking,
        final_marking: Marking,
        *,
        max_states: int,
        fingerprint: str | None = None,
    ) -> None:
        self.net = net
        self.initial_marking = initial_marking
        self.final_marking = final_marking
        self.max_states = max_states
        self.fingerprint = fingerprint or net_fingerprint(
            net, initial_marking, final_marking
        )
        transitions = sorted(net.transitions, key=lambda t: (str(t.name), str(t.label)))
        self.t_name: list[str] = [str(t.name) for t in transitions]
        self.t_label: list[str | None] = [t.label for t in transitions]
        self.labels: list[str] = sorted(
            {lab for lab in self.t_label if lab is not None}
        )
        self.label_index: dict[str, int] = {lab: i for i, lab in enumerate(self.labels)}
        self.t_label_idx: list[int] = [
            -1 if lab is None else self.label_index[lab] for lab in self.t_label
        ]
        self._masks: list[int] | None = None
        self._eventually: dict[int, frozenset[str]] = {}
        self._tau_reach: dict[int, tuple[tuple[int, int], ...]] = {}
        self._moves: dict[tuple[Any, ...], Move] = {}
        self._ends: dict[int, End] = {}
        self.n_states = self._build_graph(transitions)

    def _build_graph(self, transitions: list[Any]) -> int | None:
        places = sorted(self.net.places, key=lambda p: str(p.name))
        pidx = {p: i for i, p in enumerate(places)}
        arcs = _arcs(transitions, pidx)
        start = _encode(self.initial_marking, pidx)
        final = _encode(self.final_marking, pidx)
        explored = _explore(start, arcs, self.max_states)
        if explored is None:
            return None
        states, index, out = explored
        if final not in index:
            raise AlignmentError(
                "cannot align: the final marking is not reachable from the initial "
                "marking, so the net is not easy sound (check the model's flow, e.g. "
                "with pm4py.check_soundness)"
            )
        self.s0 = 0
        self.sf = index[final]
        self.out = out
        self.states = states
        self.place_names = [str(p.name) for p in places]
        n = len(states)
        self.tau_out: list[list[int]] = [[] for _ in range(n)]
        self.sync_out: list[dict[int, list[tuple[int, int]]]] = [{} for _ in range(n)]
        self.fire: list[dict[int, int]] = [{} for _ in range(n)]
        for s, succ in enumerate(out):
            for ti, j in succ:
                self.fire[s][ti] = j
                li = self.t_label_idx[ti]
                if li < 0:
                    self.tau_out[s].append(j)
                else:
                    self.sync_out[s].setdefault(li, []).append((ti, j))
        return n

    # -- moves and codes ------------------------------------------------------------

    def move(self, kind: MoveKind, activity: str | None, ti: int | None) -> Move:
        """The (interned) move of ``kind`` firing transition ``ti`` (None: none)."""
        key = (kind, activity, ti)
        mv = self._moves.get(key)
        if mv is None:
            mv = Move(kind, activity, None if ti is None else self.t_name[ti])
            self._moves[key] = mv
        return mv

    def model_move(self, ti: int) -> Move:
        """The model move (tau for a silent transition) firing transition ``ti``."""
        lab = self.t_label[ti]
        return self.move("tau" if lab is None else "model", lab, ti)

    def code(self, variant: Sequence[Hashable]) -> tuple[int, ...]:
        """Label codes of a variant's activities (-1: no transition has the label)."""
        get = self.label_index.get
        return tuple(get(a, -1) if isinstance(a, str) else -1 for a in variant)

    # -- where a prefix alignment ends ------------------------------------------------

    def end_of(self, s: int) -> End:
        """(marking, enabled labels, required labels) of reachable state ``s``.

        ``enabled``: labels of visible transitions enabled in ``s`` or in a state
        reached from it by silent moves. ``required``: those of them that every
        path from ``s`` to the final marking fires (found by searching the graph
        without that label's transitions).
        """
        hit = self._ends.get(s)
        if hit is not None:
            return hit
        marking = tuple(
            (self.place_names[p], int(c)) for p, c in enumerate(self.states[s]) if c
        )
        labels: set[int] = set()
        for u, _ in self.tau_reach(s):
            labels.update(self.sync_out[u])
        enabled = tuple(sorted(self.labels[li] for li in labels))
        required = tuple(
            self.labels[li] for li in sorted(labels, key=lambda x: self.labels[x])
            if not self._reaches_final_without(s, li)
        )
        hit = (marking, enabled, required)
        self._ends[s] = hit
        return hit

    def _reaches_final_without(self, s: int, label: int) -> bool:
        """The final marking is reachable from ``s`` without firing ``label``."""
        if s == self.sf:
            return True
        seen = {s}
        stack = [s]
        label_idx = self.t_label_idx
        out = self.out
        while stack:
            u = stack.pop()
            for ti, j in out[u]:
                if label_idx[ti] == label or j in seen:
                    continue
                if j == self.sf:
                    return True
                seen.add(j)
                stack.append(j)
        return False

    def state_after(self, moves: Sequence[Move]) -> int:
        """The state reached from the initial marking by the model side of ``moves``."""
        by_name = {name: ti for ti, name in enumerate(self.t_name)}
        s = self.s0
        for mv in moves:
            if mv.transition is None:
                continue
            ti = by_name.get(mv.transition)
            j = self.fire[s].get(ti) if ti is not None else None
            if j is None:
                raise AlignmentError(
                    f"cannot replay the alignment: transition {mv.transition!r} is not "
                    "enabled where the alignment fires it"
                )
            s = j
        return s

    # -- labels still possible (the A* heuristic) -------------------------------------

    def label_masks(self) -> list[int]:
        """Per state, bitmask of labels of transitions still reachable from it."""
        if self._masks is not None:
            return self._masks
        from scipy.sparse import csr_matrix
        from scipy.sparse.csgraph import connected_components

        n = self.n_states or 0
        src = [s for s, succ in enumerate(self.out) for _ in succ]
        dst = [j for succ in self.out for _, j in succ]
        graph = csr_matrix((np.ones(len(src), dtype=np.int8), (src, dst)), shape=(n, n))
        n_comp, comp = connected_components(graph, directed=True, connection="strong")
        own = [0] * n_comp
        succ_comp: list[set[int]] = [set() for _ in range(n_comp)]
        for s, succ in enumerate(self.out):
            cs = int(comp[s])
            for ti, j in succ:
                li = self.t_label_idx[ti]
                if li >= 0:
                    own[cs] |= 1 << li
                cj = int(comp[j])
                if cj != cs:
                    succ_comp[cs].add(cj)
        mask = _propagate_to_predecessors(own, succ_comp)
        self._masks = [mask[int(comp[s])] for s in range(n)]
        return self._masks

    # -- silent moves (precision, prefix ends) ----------------------------------------

    def eventually_enabled_labels(self, s: int) -> frozenset[str]:
        """Labels of visible transitions enabled in state ``s`` or after silent steps.

        Follows pm4py's exploration order exactly (enabled transitions sorted by
        name; the marking remembered per transition is the last one it was found
        enabled in), so precision figures match pm4py's align-ETC.
        """
        hit = self._eventually.get(s)
        if hit is not None:
            return hit
        queue = [ti for ti, _ in self.out[s]]
        where = dict.fromkeys(queue, s)
        visible: set[str] = set()
        visited: set[tuple[int, int]] = set()
        i = 0
        while i < len(queue):
            ti = queue[i]
            m = where[ti]
            key = (ti, m)
            if key not in visited:
                lab = self.t_label[ti]
                if lab is not None:
                    visible.add(lab)
                else:
                    nm = self.fire[m][ti]
                    for t2, _ in self.out[nm]:
                        queue.append(t2)
                        where[t2] = nm
                visited.add(key)
            i += 1
        result = frozenset(visible)
        self._eventually[s] = result
        return result

    def tau_reach(self, s: int) -> tuple[tuple[int, int], ...]:
        """States reachable from ``s`` by silent moves, with the fewest moves needed."""
        hit = self._tau_reach.get(s)
        if hit is not None:
            return hit
        seen = {s: 0}
        frontier = [s]
        depth = 0
        tau_out = self.tau_out
        while frontier:
            depth += 1
            nxt = []
            for u in frontier:
                for j in tau_out[u]:
                    if j not in seen:
                        seen[j] = depth
                        nxt.append(j)
            frontier = nxt
        hit = tuple(seen.items())
        self._tau_reach[s] = hit
        return hit

    def tau_closure(self, init: dict[int, int]) -> dict[int, int]:
        """Cheapest costs after any silent moves (cost 1 each) from ``init``."""
        dist: dict[int, int] = {}
        get = dist.get
        for s, g in init.items():
            for u, d in self.tau_reach(s):
                v = g + d * TAU_MOVE_COST
                if v < get(u, v + 1):
                    dist[u] = v
        return dist


def _propagate_to_predecessors(own: list[int], succ_comp: list[set[int]]) -> list[int]:
    """OR each component's bitmask into its predecessors (Kahn's algorithm)."""
    n_comp = len(own)
    n_succ = [len(x) for x in succ_comp]
    preds: list[list[int]] = [[] for _ in range(n_comp)]
    for c, succs in enumerate(succ_comp):
        for d in succs:
            preds[d].append(c)
    stack = [c for c in range(n_comp) if n_succ[c] == 0]
    mask = list(own)
    while stack:
        c = stack.pop()
        for p in preds[c]:
            mask[p] |= mask[c]
            n_succ[p] -= 1
            if n_succ[p] == 0:
                stack.append(p)
    return mask
