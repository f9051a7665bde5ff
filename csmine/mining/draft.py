"""A first SOP from the recorded tickets: ``csmine sop draft``.

What is drafted, and how:

1. **Which tickets.** Tickets are *closed* when their last event closes them: the
   activities ``closing`` names (``--closed-when``, or the import mapping's
   ``closed_when``), or else the *terminal* activities of the log (those that end at
   least 5% of the tickets and most of whose events end one: ``Closed``, BPIC 2013's
   ``Completed/Closed`` and ``Completed/In Call``; not ``Resolve ticket``, which is
   followed by ``Closed``). Without any, every ticket counts.
2. **Which behaviour.** The variants (activity sequences) of the closed tickets, most
   frequent first, until they make up ``coverage`` of them (0.9: the variants of 90% of
   the closed tickets). Activities in fewer than ``min_activity_share`` of those
   tickets are left out of the flow. What is left out is reported.
3. **The flow.** A *narrow inductive miner* over those variants, in csmine's own
   vocabulary only (seq, choice, optional, loop; no parallel): recursively, as
   pm4py's inductive miner (infrequent, IMf) does, an exclusive-choice cut (parts of
   the directly-follows graph that never follow each other), a sequence cut
   (strongly connected parts in their order), else a **hub loop**: status logs
   revolve around one status (``Accepted/In Progress``, ``Take in charge ticket``)
   that tickets leave and come back to, so the flow becomes *what comes before the
   hub* → (*hub* ↺ *what happens between two visits*) → *what comes after the last
   visit*; each of those three parts is a choice among its few frequent segments
   (a repeated status a loop), else mined again. Then IMf's loop cut, and a last
   resort: a repeatable choice of the remaining activities (a "flower", reported).
   Directly-follows edges weaker than ``noise`` times the strongest edge out of an
   activity are ignored (IMf's filter), but every activity keeps its strongest edge in
   and out. **Choices are kept to ``max_choice`` branches** (the heaviest ones); wider
   ones are cut and their activities reported as left out, since a choice of 30
   activities, or a loop around one, says "anything goes" (precision 0.25 on one
   public log) rather than what the floor does.
   The miner runs at a few noise levels (:data:`NOISE_LEVELS`); with an ``evaluate``
   function (alignment fitness and precision, as ``csmine conform`` computes them),
   the draft with the best harmonic mean of the two is kept.
4. **What the data tells.** Step names as in the log. A role per step: the team
   (``org:group``) that performs most of its events, else the resource. The close
   steps as the ``close`` role and ``closed_when``; ``resolution``: per closed ticket
   the first of its final closing states (``Resolved`` before ``Closed``), or the step
   right before a single close step when it (nearly, 80%) always leads to it
   (``Resolve ticket`` before ``Closed``; not ``Accepted/In Progress`` before
   ``Completed/In Call``); ``first_response``: the step most tickets take second;
   ``waiting``: proposed from the names (wait, pending, hold; not vendor, change,
   implementation). Time limits proposed from
   the observed 80th percentile (P80, wall clock, rounded up) of exactly what
   ``kpi`` measures for a limit: from the most recent ``since`` step (the step's most
   frequent predecessor, or the opening for the first response) to the step's first
   occurrence. Each is marked as a proposal; targets are left to fill in.

The id is the given name (or the output file's stem), never a UUID.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter, defaultdict
from itertools import pairwise
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from csmine.errors import EmptyLogError, MiningError
from process_models.flow import FlowNode, flow_to_list, flow_to_text, iter_flow_steps
from process_models.model import format_duration
from process_models.toml_format import flow_lines as toml_flow_lines

if TYPE_CHECKING:
    import pandas as pd

    from csmine.eventlog.lifecycle import ClosingRule
    from process_models import SOP
    from process_models.flow import Flow

CASE_ID = "case:concept:name"
ACTIVITY = "concept:name"
TIMESTAMP = "time:timestamp"

#: IMf noise levels the miner tries (each draft is evaluated when it can be).
NOISE_LEVELS = (0.1, 0.2, 0.3)
#: A choice wider than this is cut to its heaviest branches.
MAX_CHOICE = 5
#: Activities in fewer than this share of the covered tickets are left out.
MIN_ACTIVITY_SHARE = 0.01
#: An empty part (or a repeat) this often (share of its traces) makes it optional (a loop).
OPTIONAL_SHARE = 0.05
#: The percentile proposed limits come from.
LIMIT_PERCENTILE = 80

_ID = re.compile(r"[^A-Za-z0-9_.-]+")
_WAITING = re.compile(r"(?i)\b(wait|waiting|awaiting|pending|on hold|hold)\b")
_NOT_CUSTOMER = re.compile(r"(?i)vendor|implementation|change|problem|assignment|supplier|third")

Log = dict[tuple[str, ...], int]
Evaluate = Callable[["SOP"], tuple[float, float | None]]


# -- result types -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StepProfile:
    """Who performs a drafted step, from its events.

    Attributes:
        step: the step (activity) name.
        events: its events in the log.  tickets: tickets with it.
        role: the team (else resource) performing most of its events; ``agent`` when
            the log names neither.
        source: ``team``, ``resource`` or None (nothing recorded).
        performers: the top performers and their share of the step's events (0-1).
    """

    step: str
    events: int
    tickets: int
    role: str
    source: str | None
    performers: tuple[tuple[str, float], ...]


@dataclass(frozen=True, slots=True)
class ProposedLimit:
    """A time limit proposed from the observed durations.

    Attributes:
        step: the limited step.  since: ``opened`` or the step the clock starts at.
        within: the proposal: the P80 duration, rounded up.
        p80_s: the observed 80th percentile, seconds.  median_s: the median, seconds.
        tickets: tickets measured (with the step and, for a step, its ``since``).
    """

    step: str
    since: str
    within: timedelta
    p80_s: float
    median_s: float
    tickets: int


@dataclass(frozen=True, slots=True)
class DraftCandidate:
    """One flow the miner found, and how it did.

    Attributes:
        noise: the IMf noise level.  flow: the flow in one line.
        fitness: alignment log fitness (0-1) on the tickets, None if not evaluated.
        precision: align-ETC precision (0-1), None if not evaluated.
    """

    noise: float
    flow: str
    fitness: float | None
    precision: float | None


@dataclass(frozen=True, slots=True)
class LeftOut:
    """An activity the drafted flow leaves out.

    Attributes:
        activity: its name.  events: its events in the log.  tickets: tickets with it.
        why: ``rare`` (too few of the covered tickets), ``choice`` (a choice was cut to
            its heaviest branches), or ``variants`` (only in variants beyond the coverage).
    """

    activity: str
    events: int
    tickets: int
    why: str


@dataclass(frozen=True, slots=True)
class SopDraft:
    """An SOP drafted from recorded tickets (see the module docstring).

    Attributes:
        sop: the drafted SOP (as read back from ``text``).
        text: the SOP file (TOML), with the proposals and what to fill in as comments.
        tickets: tickets in the log.  closed_tickets: closed ones (all when no closing rule).
        close_steps: the activities that close a ticket.  close_inferred: found from the
            data (True) or from ``--closed-when`` (False).
        variants: variants of the closed tickets.  kept_variants: those making up the
            coverage.  kept_tickets: closed tickets following them.
        coverage: the coverage asked for (0-1).
        left_out: activities of the log the flow does not have.
        left_out_tickets: closed tickets whose variant is beyond the coverage.
        noise: the noise level of the chosen flow.
        fitness: alignment log fitness of the draft on all the tickets (0-1), None
            without an ``evaluate`` function.  precision: its align-ETC precision.
        candidates: every flow tried.
        steps: who performs each step.  limits: the proposed limits.
        notes: what the miner did that a reader should know (hub loops, cut choices).
    """

    sop: SOP
    text: str
    tickets: int
    closed_tickets: int
    close_steps: tuple[str, ...]
    close_inferred: bool
    variants: int
    kept_variants: int
    kept_tickets: int
    coverage: float
    left_out: tuple[LeftOut, ...]
    left_out_tickets: int
    noise: float
    fitness: float | None
    precision: float | None
    candidates: tuple[DraftCandidate, ...]
    steps: tuple[StepProfile, ...]
    limits: tuple[ProposedLimit, ...]
    notes: tuple[str, ...] = field(default=())


# -- the narrow inductive miner ----------------------------------------------------------------


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


# -- the tickets ------------------------------------------------------------------------------


@dataclass(slots=True)
class _Tickets:
    """The log as ticket sequences (one pass over the frame)."""

    ids: list[str]
    traces: list[tuple[str, ...]]
    times: list[np.ndarray]  # seconds since the epoch, per event
    teams: list[list[Any]]
    resources: list[list[Any]]


def _tickets(df: pd.DataFrame) -> _Tickets:
    import pandas as pd

    cases = df[CASE_ID].astype(str).to_numpy()
    acts = df[ACTIVITY].astype(str).to_numpy(dtype=object)
    ts = pd.to_datetime(df[TIMESTAMP], utc=True)
    secs = (ts.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[us]").astype(np.int64) / 1e6)

    def column(name: str) -> np.ndarray:
        if name not in df.columns:
            return np.full(len(df), None, dtype=object)
        values = df[name].astype(object).to_numpy(dtype=object)
        return np.array([None if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA or v == ""
                         else str(v) for v in values], dtype=object)

    teams = column("org:group")
    resources = column("org:resource")
    codes, uniques = pd.factorize(cases, sort=False)
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.r_[True, np.diff(codes[order]) != 0, True])
    out = _Tickets([], [], [], [], [])
    for s, e in pairwise(bounds):
        rows = order[s:e]
        out.ids.append(str(uniques[codes[rows[0]]]))
        out.traces.append(tuple(acts[rows]))
        out.times.append(secs[rows])
        out.teams.append(list(teams[rows]))
        out.resources.append(list(resources[rows]))
    return out


def _terminal(traces: list[tuple[str, ...]]) -> tuple[str, ...]:
    """Activities that end tickets: 5% of the endings or more, and most of their events end one."""
    n = len(traces)
    ends = Counter(t[-1] for t in traces if t)
    events = Counter(a for t in traces for a in t)
    found = [a for a, k in ends.items() if k >= 0.05 * n and k > 0.5 * events[a]]
    return tuple(sorted(found, key=lambda a: (-ends[a], a)))


def _covered(closed: list[tuple[str, ...]], coverage: float) -> tuple[Log, int]:
    counts = Counter(closed)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    kept: Log = {}
    total = len(closed)
    running = 0
    for variant, k in ranked:
        if kept and running >= coverage * total:
            break
        kept[variant] = k
        running += k
    return kept, running


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=float), q, method="higher"))


def _round_up(seconds: float) -> timedelta:
    """A readable duration at least ``seconds`` long."""
    steps = [(600, 60), (7200, 300), (86400, 3600), (7 * 86400, 6 * 3600)]
    for limit, unit in steps:
        if seconds <= limit:
            return timedelta(seconds=max(unit, math.ceil(seconds / unit) * unit))
    return timedelta(seconds=math.ceil(seconds / 86400) * 86400)


# -- drafting -----------------------------------------------------------------------------------


def sop_id(name: str) -> str:
    """A valid SOP id from a name or file stem: letters, digits, ``-``, ``_``, ``.``."""
    cleaned = _ID.sub("-", name.strip()).strip("-.") or "draft"
    return cleaned if cleaned[0].isalnum() else f"sop-{cleaned}"


def draft_sop(
    df: pd.DataFrame,
    *,
    name: str,
    coverage: float = 0.9,
    closing: ClosingRule | None = None,
    evaluate: Evaluate | None = None,
    max_choice: int = MAX_CHOICE,
    min_activity_share: float = MIN_ACTIVITY_SHARE,
    noise_levels: Sequence[float] = NOISE_LEVELS,
    title: str | None = None,
    close_source: str = "--closed-when",
) -> SopDraft:
    """Draft an SOP from an event log (see the module docstring).

    Args:
        df: event-log frame, a ticket's events in time order (as
            :func:`csmine.eventlog.loading.load_event_log` and ``order_events`` give it).
        name: the SOP's id (cleaned to letters, digits, ``-``, ``_``, ``.``).
        coverage: share (0-1] of the closed tickets whose variants the flow covers.
        closing: ``--closed-when`` (its regex names the close steps); None or no regex:
            the terminal activities close tickets.
        close_source: where ``closing``'s regex came from, in words (for the file).
        evaluate: SOP -> (alignment log fitness, precision) on the tickets, e.g.
            :func:`csmine.conformance.deviations.check_conformance`'s figures; picks
            the best flow among the noise levels. None: the 0.2 noise level is kept and
            the figures are None.
        max_choice: the widest choice drafted.
        min_activity_share: activities in fewer of the covered tickets are left out.
        noise_levels: IMf noise levels to try.
        title: the SOP's title (default: ``<id> (draft)``).

    Raises:
        EmptyLogError: the log has no events.
        MiningError: ``coverage`` or ``max_choice`` out of range.
    """
    if not 0 < coverage <= 1:
        raise MiningError(f"--coverage must be in (0, 1], e.g. 0.9; got {coverage!r}")
    if max_choice < 2:
        raise MiningError(f"--max-choice must be 2 or more; got {max_choice!r}")
    if len(df) == 0:
        raise EmptyLogError("the event log is empty: nothing to draft from (check the filters)")
    from process_models.validation import parse_sop_text

    sid = sop_id(name)
    log = _tickets(df)
    activities = sorted({a for t in log.traces for a in t})
    if closing is not None and closing.closed_when:
        close = tuple(a for a in activities if closing.matches(a))
        inferred = False
    else:
        close, inferred = _terminal(log.traces), True
    closed_idx = [i for i, t in enumerate(log.traces) if not close or t[-1] in close]
    closed = [log.traces[i] for i in closed_idx]
    variants = len(set(closed))
    kept, kept_tickets = _covered(closed, coverage)

    having: Counter[str] = Counter()
    for t, w in kept.items():
        for a in set(t):
            having[a] += w
    rare = {a for a, k in having.items() if k < min_activity_share * kept_tickets and a not in close}
    sub: Log = defaultdict(int)
    for t, w in kept.items():
        sub[tuple(a for a in t if a not in rare)] += w

    tried: list[tuple[float, Flow, list[str], Counter[str], float | None, float | None]] = []
    seen: dict[str, tuple[float | None, float | None]] = {}
    profiles = _profiles(log, activities)
    for noise in noise_levels:
        flow, notes, cut = discover_flow(sub, noise=noise, max_choice=max_choice)
        if flow is None:
            continue
        key = flow_to_text(flow)
        if key not in seen:
            fit = prec = None
            if evaluate is not None:
                candidate = _assemble(sid, flow, log, close, profiles, title, with_limits=False)
                fit, prec = evaluate(candidate)
            seen[key] = (fit, prec)
        tried.append((noise, flow, notes, cut, *seen[key]))
    if not tried:
        raise EmptyLogError("no ticket has a step to draft from (check the filters and --closed-when)")
    chosen = max(tried, key=lambda c: (_f1(c[4], c[5]), c[0] == 0.2, c[0])) if evaluate else \
        next((c for c in tried if c[0] == 0.2), tried[0])
    noise, flow, notes, cut, fitness, precision = chosen

    in_flow = set(iter_flow_steps(flow))
    limits = _limits(log, flow, close)
    draft_sop_ = _assemble(sid, flow, log, close, profiles, title, with_limits=True, limits=limits)
    ticket_counts = Counter(a for t in log.traces for a in set(t))
    event_counts = Counter(a for t in log.traces for a in t)
    covered_acts = {a for t in kept for a in t}
    left = tuple(
        LeftOut(a, event_counts[a], ticket_counts[a],
                "rare" if a in rare else "choice" if a in cut or a in covered_acts else "variants")
        for a in sorted(activities, key=lambda a: (-event_counts[a], a)) if a not in in_flow
    )
    summary = _Summary(len(log.ids), len(closed), close, "their last events in the log" if inferred else close_source,
                       variants, len(kept), kept_tickets, coverage, left, len(closed) - kept_tickets, noise, fitness,
                       precision, tuple(dict.fromkeys(notes)))
    text = render_draft(draft_sop_, summary, profiles, limits)
    sop = parse_sop_text(text, f"{sid}.toml")
    candidates = tuple(DraftCandidate(n, flow_to_text(f), fi, pr) for n, f, _no, _c, fi, pr in tried)
    return SopDraft(
        sop=sop, text=text, tickets=len(log.ids), closed_tickets=len(closed), close_steps=close,
        close_inferred=inferred, variants=variants, kept_variants=len(kept), kept_tickets=kept_tickets,
        coverage=coverage, left_out=left, left_out_tickets=len(closed) - kept_tickets, noise=noise,
        fitness=fitness, precision=precision, candidates=candidates,
        steps=tuple(profiles[s] for s in dict.fromkeys(iter_flow_steps(flow))), limits=tuple(limits),
        notes=tuple(dict.fromkeys(notes)),
    )


def _f1(fitness: float | None, precision: float | None) -> float:
    if not fitness or not precision:
        return 0.0
    return 2 * fitness * precision / (fitness + precision)


def _profiles(log: _Tickets, activities: list[str]) -> dict[str, StepProfile]:
    events: Counter[str] = Counter()
    tickets: Counter[str] = Counter()
    by_team: dict[str, Counter[str]] = defaultdict(Counter)
    by_resource: dict[str, Counter[str]] = defaultdict(Counter)
    for trace, teams, resources in zip(log.traces, log.teams, log.resources, strict=True):
        for a in set(trace):
            tickets[a] += 1
        for a, team, res in zip(trace, teams, resources, strict=True):
            events[a] += 1
            if team is not None:
                by_team[a][team] += 1
            if res is not None:
                by_resource[a][res] += 1
    out = {}
    for a in activities:
        for source, counts in (("team", by_team[a]), ("resource", by_resource[a])):
            if counts and sum(counts.values()) >= 0.5 * events[a]:
                top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
                performers = tuple((k, v / events[a]) for k, v in top)
                out[a] = StepProfile(a, events[a], tickets[a], top[0][0], source, performers)
                break
        else:
            out[a] = StepProfile(a, events[a], tickets[a], "agent", None, ())
    return out


def _kpi_roles(log: _Tickets, flow: Flow, close: tuple[str, ...]) -> dict[str, list[str]]:
    steps = list(dict.fromkeys(iter_flow_steps(flow)))
    in_flow = set(steps)
    roles: dict[str, list[str]] = {}
    second = Counter(t[1] for t in log.traces if len(t) > 1 and t[1] in in_flow and t[1] not in close)
    if second:
        roles["first_response"] = [min(second, key=lambda a: (-second[a], a))]
    follows: dict[str, Counter[str]] = defaultdict(Counter)
    for t in log.traces:
        for a, b in pairwise(t):
            follows[a][b] += 1
    resolution: Counter[str] = Counter()
    closing = set(close)
    for t in log.traces:
        if not t or t[-1] not in closing:
            continue
        k = len(t) - 1
        while k > 0 and t[k - 1] in closing:
            k -= 1  # the final run of closing states: the first of them resolved it
        first = t[k]
        if k == len(t) - 1 and k > 0:
            pred = t[k - 1]
            nexts = follows.get(pred, Counter())
            if pred in in_flow and nexts[first] >= 0.8 * sum(nexts.values()):
                first = pred  # a step that (nearly) only ever leads to the close: Resolve ticket
        if first in in_flow:
            resolution[first] += 1
    total = sum(resolution.values())
    kept = [a for a, k in sorted(resolution.items(), key=lambda kv: (-kv[1], kv[0])) if k >= 0.05 * total]
    if kept:
        roles["resolution"] = kept
    if any(c in in_flow for c in close):
        roles["close"] = [c for c in close if c in in_flow]
    waiting = [s for s in steps if _WAITING.search(s) and not _NOT_CUSTOMER.search(s)]
    if waiting:
        roles["waiting"] = waiting
    return roles


def _limits(log: _Tickets, flow: Flow, close: tuple[str, ...]) -> list[ProposedLimit]:
    """P80 proposals, measured as ``kpi`` measures a limit (see the module docstring)."""
    steps = list(dict.fromkeys(iter_flow_steps(flow)))
    roles = _kpi_roles(log, flow, close)
    responding = roles.get("first_response")
    first_response = responding[0] if responding else None
    out: list[ProposedLimit] = []
    for step in steps:
        firsts = [(i, t.index(step)) for i, t in enumerate(log.traces) if step in t]
        if not firsts:
            continue
        if step == first_response:
            since = "opened"
        else:
            if sum(1 for _i, p in firsts if p == 0) >= 0.5 * len(firsts):
                continue  # it opens most tickets: nothing to limit
            before = Counter(log.traces[i][p - 1] for i, p in firsts if p > 0 and log.traces[i][p - 1] != step)
            if not before:
                continue
            since = min(before, key=lambda a: (-before[a], a))
        elapsed = []
        for i, p in firsts:
            times = log.times[i]
            if since == "opened":
                elapsed.append(float(times[p] - times[0]))
                continue
            trace = log.traces[i]
            start = next((q for q in range(p - 1, -1, -1) if trace[q] == since), None)
            if start is not None:
                elapsed.append(float(times[p] - times[start]))
        if len(elapsed) < min(5, max(2, len(log.traces) // 10)):
            continue
        p80 = _percentile(elapsed, LIMIT_PERCENTILE)
        if p80 <= 0:
            continue
        out.append(ProposedLimit(step, since, _round_up(p80), p80, float(np.median(elapsed)), len(elapsed)))
    return out


def _assemble(sid: str, flow: Flow, log: _Tickets, close: tuple[str, ...], profiles: dict[str, StepProfile],
              title: str | None, *, with_limits: bool, limits: list[ProposedLimit] | None = None) -> SOP:
    from process_models import SOP, Step, TimeLimit

    steps = list(dict.fromkeys(iter_flow_steps(flow)))
    by_step = {lim.step: TimeLimit(lim.step, lim.within, lim.since) for lim in (limits or [])} if with_limits else {}
    roles = _kpi_roles(log, flow, close)
    return SOP(
        id=sid, title=title or f"{sid} (draft)", version="0.1",
        steps=tuple(Step(s, "", profiles[s].role, by_step.get(s)) for s in steps),
        flow=flow, roles={k: tuple(v) for k, v in roles.items()},
        closed_when=tuple(c for c in close if c in steps),
    )


# -- the TOML file ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Summary:
    tickets: int
    closed: int
    close: tuple[str, ...]
    close_source: str
    variants: int
    kept_variants: int
    kept_tickets: int
    coverage: float
    left: tuple[LeftOut, ...]
    left_tickets: int
    noise: float
    fitness: float | None
    precision: float | None
    notes: tuple[str, ...]


def _q(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%" if x >= 0.1 else f"{100 * x:.1f}%"


def _dur(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    return format_duration(timedelta(seconds=round(seconds / 60) * 60))


def render_draft(sop: SOP, s: _Summary, profiles: dict[str, StepProfile], limits: list[ProposedLimit]) -> str:
    """The drafted SOP as a commented TOML file (``parse_sop_text`` reads it back as ``sop``)."""
    lines = [
        f"# SOP drafted by `csmine sop draft` from {s.tickets:,} tickets ({s.closed:,} closed): a starting",
        "# point to edit. Step names are the log's own; map other names onto them with [aliases].",
        f"# Closed tickets: those ending in {' or '.join(s.close) or '(no closing step found: all tickets)'}"
        f" ({s.close_source}).",
        f"# The flow covers the variants of {_pct(s.kept_tickets / max(s.closed, 1))} of the closed tickets "
        f"({s.kept_variants:,} of {s.variants:,} variants; --coverage {s.coverage:g}); "
        f"{s.left_tickets:,} closed tickets follow other variants.",
    ]
    if s.left:
        shown = ", ".join(f"{x.activity} ({x.events:,} event{'s' if x.events != 1 else ''})" for x in s.left[:8])
        more = f" and {len(s.left) - 8} more" if len(s.left) > 8 else ""
        lines.append(f"# Left out of the flow (deviations when they happen): {shown}{more}.")
    if s.fitness is not None:
        lines.append(f"# On the tickets it came from: alignment fitness {s.fitness:.3f}, precision "
                     f"{(s.precision or 0):.3f} (as `csmine conform` computes them).")
    lines.append(f"# Discovery: narrow inductive miner (seq, choice, optional, loop; noise {s.noise:g}).")
    lines += [f"# - {note}" for note in s.notes]
    lines += [
        f"id = {_q(sop.id)}",
        f"title = {_q(sop.title)}",
        f"version = {_q(sop.version)}",
        f"description = {_q('Drafted from the recorded tickets; edit the flow, roles, limits and targets.')}",
        "",
    ]
    flow_lines = toml_flow_lines(flow_to_list(sop.flow))
    lines.append("flow = " + flow_lines[0])
    lines.extend(flow_lines[1:])
    if sop.closed_when:
        lines.append(f"closed_when = [{', '.join(_q(c) for c in sop.closed_when)}]")
    lines += [
        "",
        "[targets]",
        "# TO FILL IN: the service targets are yours to set (until then csmine's defaults apply:",
        "# first response 30 min, resolution rate 0.98, satisfaction 90).",
        "# first_response = \"30 min\"",
        "# resolution_rate = 0.98",
        "# satisfaction = 90",
        "# resolution_time = \"5 d\"",
    ]
    for step in sop.steps:
        p = profiles[step.name]
        lines += ["", "[[steps]]", f"name = {_q(step.name)}", f"role = {_q(step.role)}" + _who(p)]
    for lim in limits:
        lines += [
            "", "[[limits]]", f"step = {_q(lim.step)}",
            f"within = {_q(format_duration(lim.within))}  # PROPOSAL: observed P80 {_dur(lim.p80_s)} (rounded up; "
            f"median {_dur(lim.median_s)}) over {lim.tickets:,} tickets: set your own",
            f"since = {_q(lim.since)}",
        ]
    if sop.roles:
        lines += ["", "[roles]"]
        why = {
            "first_response": "the step most tickets take second",
            "resolution": "the first closing state of a ticket, or the step that nearly always leads to it",
            "close": "the steps tickets end with",
            "waiting": "PROPOSAL from the names: waits on the customer (clocks pause); check it",
        }
        for role, names in sop.roles.items():
            lines.append(f"{role} = [{', '.join(_q(n) for n in names)}]" + (f"  # {why[role]}" if role in why else ""))
    return "\n".join(lines) + "\n"


def _who(p: StepProfile) -> str:
    if not p.performers:
        return "  # no team or resource recorded for this step"
    others = ", ".join(f"{k} {_pct(v)}" for k, v in p.performers)
    return f"  # the {p.source} doing most of its {p.events:,} events: {others}"


__all__ = [
    "MAX_CHOICE", "NOISE_LEVELS", "DraftCandidate", "LeftOut", "ProposedLimit", "SopDraft", "StepProfile",
    "discover_flow", "draft_sop", "render_draft", "simplify_flow", "sop_id",
]
