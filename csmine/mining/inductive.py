"""The narrow inductive miner behind ``csmine sop draft``: a flow in csmine's own vocabulary.

Recursively, as pm4py's inductive miner (infrequent, IMf) does: an exclusive-choice cut
(parts of the directly-follows graph that never follow each other), a sequence cut
(strongly connected parts in their order), else a **hub loop** (status logs revolve around
one status that tickets leave and come back to: *before the hub* -> (*hub* loop *between
two visits*) -> *after the last visit*), then IMf's loop cut, and a last resort: a
repeatable choice of the remaining activities (a "flower", reported). Only seq, choice,
optional and loop; no parallel. Directly-follows edges weaker than ``noise`` times the
strongest edge out of an activity are ignored (IMf's filter), but every activity keeps
its strongest edge in and out; choices are kept to ``max_choice`` branches. See
:mod:`csmine.mining.draft` for how the tickets and the noise level are chosen.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from process_models.flow import FlowNode

if TYPE_CHECKING:
    from process_models.flow import Flow

#: A choice wider than this is cut to its heaviest branches.
MAX_CHOICE = 5
#: An empty part (or a repeat) this often (share of its traces) makes it optional (a loop).
OPTIONAL_SHARE = 0.05

Log = dict[tuple[str, ...], int]
"""Variants (activity sequences) with their ticket counts."""


def _dfg(log: Log) -> tuple[Counter[tuple[str, str]], Counter[str], Counter[str], Counter[str]]:
    edges: Counter[tuple[str, str]] = Counter()
    starts: Counter[str] = Counter()
    ends: Counter[str] = Counter()
    occ: Counter[str] = Counter()
    for t, w in log.items():
        if not t:
            continue
        starts[t[0]] += w
        ends[t[-1]] += w
        for a in t:
            occ[a] += w
        for a, b in pairwise(t):
            edges[a, b] += w
    return edges, starts, ends, occ


def _loop(body: Flow, redo: Flow = None) -> FlowNode:
    return FlowNode("loop", (body, redo))


def _optional(flow: Flow) -> Flow:
    return None if flow is None else FlowNode("xor", (flow, None))


def _choice(kids: Sequence[Flow]) -> Flow:
    return kids[0] if len(kids) == 1 else FlowNode("xor", tuple(kids))


class _Miner:
    """One run of the narrow inductive miner at one noise level."""

    def __init__(self, noise: float, max_choice: int) -> None:
        self.noise = noise
        self.width = max_choice
        self.optional = min(noise, OPTIONAL_SHARE)
        self.cut: Counter[str] = Counter()  # activities left out of cut choices, by weight
        self.notes: list[str] = []

    def mine(self, log: Log) -> Flow:
        total = sum(log.values())
        empty = log.get((), 0)
        if total == 0 or empty == total:
            return None
        if empty:
            log = {t: w for t, w in log.items() if t}
            if empty / total >= self.optional:
                return _optional(self.mine(log))
            total -= empty
        edges, starts, ends, occ = _dfg(log)
        acts = sorted(occ, key=lambda a: (-occ[a], a))
        if len(acts) == 1:
            repeated = sum(w for t, w in log.items() if len(t) > 1)
            return _loop(acts[0]) if repeated / total >= self.optional else acts[0]
        kept, kstarts, kends = self._filter(edges, starts, ends)
        found = self._xor(log, acts, kept)
        if found is None:
            found = self._seq(log, acts, kept)
        if found is None:
            found = self._hub(log, acts, total)
        if found is None:
            found = self._loop_cut(log, acts, kept, kstarts, kends)
        if found is None:
            found = self._flower(acts, occ)
        return found

    def _filter(self, edges: Counter[tuple[str, str]], starts: Counter[str],
                ends: Counter[str]) -> tuple[set[tuple[str, str]], set[str], set[str]]:
        out_max: Counter[str] = Counter()
        in_max: Counter[str] = Counter()
        best_out: dict[str, tuple[tuple[str, str], int]] = {}
        best_in: dict[str, tuple[tuple[str, str], int]] = {}
        for (a, b), w in sorted(edges.items()):
            out_max[a] = max(out_max[a], w)
            in_max[b] = max(in_max[b], w)
            if a != b:
                if a not in best_out or w > best_out[a][1]:
                    best_out[a] = ((a, b), w)
                if b not in best_in or w > best_in[b][1]:
                    best_in[b] = ((a, b), w)
        for a, w in ends.items():
            out_max[a] = max(out_max[a], w)
        for a, w in starts.items():
            in_max[a] = max(in_max[a], w)
        kept = {(a, b) for (a, b), w in edges.items() if w >= self.noise * out_max[a]}
        # every activity keeps its strongest way in and out, so none is cut off
        kept.update(e for b, (e, w) in best_in.items() if w >= starts.get(b, 0))
        kept.update(e for a, (e, w) in best_out.items() if w >= ends.get(a, 0))
        kends = {a for a, w in ends.items() if w >= self.noise * out_max[a]}
        kstarts = {a for a, w in starts.items() if w >= self.noise * in_max[a]}
        return kept, kstarts, kends

    def _cap(self, parts: list[tuple[int, int, set[str]]]) -> list[tuple[int, int, set[str]]]:
        """The ``width`` heaviest branches of a choice; the others' activities are left out."""
        parts = sorted(parts, key=lambda p: (-p[1], p[0]))
        if len(parts) > self.width:
            dropped = sorted(a for _i, _w, acts in parts[self.width:] for a in acts)
            for _i, w, acts in parts[self.width:]:
                for a in acts:
                    self.cut[a] += w
            self.notes.append(f"a choice of {len(parts)} branches was cut to its {self.width} most frequent "
                              f"(left out: {', '.join(dropped)})")
        return parts[: self.width]

    def _xor(self, log: Log, acts: list[str], kept: set[tuple[str, str]]) -> Flow:
        import networkx as nx

        g = nx.Graph()
        g.add_nodes_from(acts)
        g.add_edges_from((a, b) for a, b in sorted(kept) if a != b)
        comps = sorted((set(c) for c in nx.connected_components(g)), key=lambda c: min(acts.index(a) for a in c))
        if len(comps) < 2:
            return None
        index = {a: i for i, c in enumerate(comps) for a in c}
        subs: list[Log] = [defaultdict(int) for _ in comps]
        weight = [0] * len(comps)
        for t, w in log.items():
            counts = Counter(index[a] for a in t)
            best = max(counts, key=lambda i: (counts[i], -i))
            subs[best][tuple(a for a in t if index[a] == best)] += w
            weight[best] += w
        parts = self._cap([(i, weight[i], comps[i]) for i in range(len(comps)) if weight[i] > 0])
        return _choice([self.mine(dict(subs[i])) for i, _w, _a in parts])

    def _seq(self, log: Log, acts: list[str], kept: set[tuple[str, str]]) -> Flow:
        import networkx as nx

        g = nx.DiGraph()
        g.add_nodes_from(acts)
        g.add_edges_from(sorted(kept))  # sets iterate in hash order: sort, so drafts repeat
        sccs = [frozenset(c) for c in nx.strongly_connected_components(g)]
        if len(sccs) < 2:
            return None
        cond = nx.condensation(g, sccs)
        reach = {n: nx.descendants(cond, n) for n in cond.nodes}
        n = len(sccs)
        parent = list(range(n))

        def find(x: int) -> int:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        # components neither of which reaches the other go in one stage
        for i in range(n):
            for j in range(i + 1, n):
                if j not in reach[i] and i not in reach[j]:
                    parent[find(i)] = find(j)
        groups: dict[int, set[int]] = defaultdict(set)
        for i in range(n):
            groups[find(i)].add(i)
        nodes = list(groups.values())
        if len(nodes) < 2:
            return None

        def reaches(x: int, y: int) -> bool:
            return any(j in reach[i] for i in nodes[x] for j in nodes[y])

        order = sorted(range(len(nodes)), key=lambda k: -sum(reaches(k, m) for m in range(len(nodes)) if m != k))
        stages: list[set[str]] = []
        last = -1
        for k in order:
            members = set().union(*(sccs[i] for i in nodes[k]))
            if stages and not (reaches(last, k) and not reaches(k, last)):
                stages[-1] |= members  # not strictly after the previous stage: merge
            else:
                stages.append(members)
            last = k
        if len(stages) < 2:
            return None
        index = {a: i for i, s in enumerate(stages) for a in s}
        subs: list[Log] = [defaultdict(int) for _ in stages]
        for t, w in log.items():
            for i in range(len(stages)):
                subs[i][tuple(a for a in t if index[a] == i)] += w
        kids = [self.mine(dict(s)) for s in subs]
        kids = [k for k in kids if k is not None]
        return kids[0] if len(kids) == 1 else FlowNode("seq", tuple(kids)) if kids else None

    def _hub(self, log: Log, acts: list[str], total: int) -> Flow:
        hub = acts[0]  # the most frequent activity
        with_hub = sum(w for t, w in log.items() if hub in t)
        if with_hub / total < 1 - self.noise:
            return None
        heads: Log = defaultdict(int)
        tails: Log = defaultdict(int)
        between: Log = defaultdict(int)
        runs: Log = defaultdict(int)
        for t, w in log.items():
            if hub not in t:
                continue  # a ticket without the hub: its events are deviations
            first = t.index(hub)
            last = len(t) - 1 - t[::-1].index(hub)
            heads[t[:first]] += w
            tails[t[last + 1:]] += w
            i = first
            while i <= last:
                j = i
                while j <= last and t[j] == hub:
                    j += 1
                runs[t[i:j]] += w
                k = j
                while k <= last and t[k] != hub:
                    k += 1
                if k > j:
                    between[t[j:k]] += w
                i = k
        self.notes.append(f"{hub!r} is a hub: tickets leave it and come back; drafted as a loop around it")
        body = self.mine(dict(runs))
        core: Flow = _loop(body, self._segments(dict(between))) if between else body
        parts = [p for p in (self._segments(dict(heads)), core, self._segments(dict(tails))) if p is not None]
        return parts[0] if len(parts) == 1 else FlowNode("seq", tuple(parts))

    def _segments(self, log: Log) -> Flow:
        """A choice of the few frequent segments (a repeated status as a loop); else mine them."""
        total = sum(log.values())
        if total == 0:
            return None
        merged: Counter[tuple[str, ...]] = Counter()
        repeats: dict[tuple[str, ...], list[int]] = {}
        for t, w in log.items():
            items: list[list[Any]] = []
            for a in t:
                if items and items[-1][0] == a:
                    items[-1][1] = True
                else:
                    items.append([a, False])
            key = tuple(a for a, _r in items)
            merged[key] += w
            reps = repeats.setdefault(key, [0] * len(key))
            for i, (_a, rep) in enumerate(items):
                if rep:
                    reps[i] += w
        empty = merged.pop((), 0)
        top = sorted(merged.items(), key=lambda kv: (-kv[1], kv[0]))[: self.width]
        covered = (empty + sum(w for _k, w in top)) / total
        if not top or covered < 1 - self.noise or any(len(k) > 3 for k, _w in top):
            return self.mine(log)
        kids: list[Flow] = []
        for key, w in top:
            steps = tuple(_loop(a) if repeats[key][i] / w >= self.optional else a for i, a in enumerate(key))
            kids.append(steps[0] if len(steps) == 1 else FlowNode("seq", steps))
        choice = _choice(kids)
        return _optional(choice) if empty / total >= self.optional else choice

    def _loop_cut(self, log: Log, acts: list[str], kept: set[tuple[str, str]], kstarts: set[str],
                  kends: set[str]) -> Flow:
        import networkx as nx

        do = set(kstarts) | set(kends)
        rest = [a for a in acts if a not in do]
        if not rest or not do:
            return None
        g = nx.Graph()
        g.add_nodes_from(rest)
        g.add_edges_from((a, b) for a, b in sorted(kept) if a in g and b in g and a != b)
        redo: list[set[str]] = []
        for comp in sorted((set(c) for c in nx.connected_components(g)), key=lambda c: min(acts.index(a) for a in c)):
            if all(b in kstarts for a, b in kept if a in comp and b in do) and \
                    all(a in kends for a, b in kept if b in comp and a in do):
                redo.append(comp)
            else:
                do |= comp
        if not redo:
            return None
        index = {a: i for i, c in enumerate(redo) for a in c}
        do_log: Log = defaultdict(int)
        subs: list[Log] = [defaultdict(int) for _ in redo]
        weight = [0] * len(redo)
        for t, w in log.items():
            segments: list[tuple[bool, list[str]]] = []
            for a in t:
                in_do = a in do
                if segments and segments[-1][0] == in_do:
                    segments[-1][1].append(a)
                else:
                    segments.append((in_do, [a]))
            if not segments or not segments[0][0]:
                segments.insert(0, (True, []))
            if not segments[-1][0]:
                segments.append((True, []))
            for in_do, seg in segments:
                if in_do:
                    do_log[tuple(seg)] += w
                    continue
                counts = Counter(index[a] for a in seg)
                best = max(counts, key=lambda i: (counts[i], -i))
                subs[best][tuple(a for a in seg if index[a] == best)] += w
                weight[best] += w
        parts = self._cap([(i, weight[i], redo[i]) for i in range(len(redo)) if weight[i] > 0])
        return _loop(self.mine(dict(do_log)), _choice([self.mine(dict(subs[i])) for i, _w, _a in parts]))

    def _flower(self, acts: list[str], occ: Counter[str]) -> Flow:
        parts = self._cap([(i, occ[a], {a}) for i, a in enumerate(acts)])
        self.notes.append(f"no structure found among {', '.join(acts)}: drafted as a repeatable choice")
        return _loop(_choice([acts[i] for i, _w, _a in parts]))


def simplify_flow(flow: Flow) -> Flow:
    """Flatten nested sequences and choices, drop silent steps where they change nothing."""
    if flow is None or isinstance(flow, str):
        return flow
    kids = [simplify_flow(c) for c in flow.children]
    if flow.operator == "seq":
        items: list[Flow] = []
        for k in kids:
            if isinstance(k, FlowNode) and k.operator == "seq":
                items.extend(k.children)
            elif k is not None:
                items.append(k)
        return None if not items else items[0] if len(items) == 1 else FlowNode("seq", tuple(items))
    if flow.operator == "xor":
        options: list[Flow] = []
        silent = False
        for k in kids:
            flat = k.children if isinstance(k, FlowNode) and k.operator == "xor" else (k,)
            for c in flat:
                if c is None:
                    silent = True
                elif c not in options:
                    options.append(c)
        if not options:
            return None
        choice = _choice(options)
        return _optional(choice) if silent else choice
    if flow.operator == "loop":
        body, redo = kids[0], kids[1] if len(kids) > 1 else None
        if body is None and redo is None:
            return None
        if body is None:
            return _optional(_loop(redo))
        if redo is None and isinstance(body, FlowNode) and body.operator == "loop" and body.children[1] is None:
            return body
        return _loop(body, redo)
    return FlowNode(flow.operator, tuple(kids))


def _choice_width(flow: Flow) -> int:
    if flow is None or isinstance(flow, str):
        return 0
    own = sum(1 for c in flow.children if c is not None) if flow.operator == "xor" else 0
    return max([own, *(_choice_width(c) for c in flow.children)])


def discover_flow(variants: Log, *, noise: float = 0.2,
                  max_choice: int = MAX_CHOICE) -> tuple[Flow, list[str], Counter[str]]:
    """The narrow inductive miner on variants (see the module docstring).

    Args:
        variants: activity sequence -> how many tickets follow it.
        noise: IMf's noise level in [0, 1).
        max_choice: the widest choice drafted.

    Returns:
        The flow, notes on what the miner did, and the activities it left out of cut
        choices (with the number of tickets whose branch was cut).
    """
    miner = _Miner(noise, max_choice)
    flow = simplify_flow(miner.mine(dict(variants)))
    return flow, miner.notes, miner.cut


__all__ = ["MAX_CHOICE", "OPTIONAL_SHARE", "Log", "discover_flow", "simplify_flow"]
