"""What the data tells about a drafted flow's steps: who does them, their KPI roles, proposed limits.

Part of ``csmine sop draft`` (:mod:`csmine.mining.draft`, point 4 of its docstring).
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import timedelta
from itertools import pairwise
from typing import TYPE_CHECKING

import numpy as np

from process_models.flow import iter_flow_steps

if TYPE_CHECKING:
    from csmine.mining.draft_log import TicketSequences
    from process_models.flow import Flow

#: The percentile proposed limits come from.
LIMIT_PERCENTILE = 80

_WAITING = re.compile(r"(?i)\b(wait|waiting|awaiting|pending|on hold|hold)\b")
_NOT_CUSTOMER = re.compile(r"(?i)vendor|implementation|change|problem|assignment|supplier|third")


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


def step_profiles(log: TicketSequences, activities: list[str]) -> dict[str, StepProfile]:
    """Per activity: the team (else the resource) doing at least half of its events, else ``agent``."""
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


def kpi_roles(log: TicketSequences, flow: Flow, close: tuple[str, ...]) -> dict[str, list[str]]:
    """The KPI roles the data tells: first response, resolution, close, waiting (see :mod:`csmine.mining.draft`)."""
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


def propose_limits(log: TicketSequences, flow: Flow, close: tuple[str, ...]) -> list[ProposedLimit]:
    """P80 proposals, measured as ``kpi`` measures a limit (see the module docstring)."""
    steps = list(dict.fromkeys(iter_flow_steps(flow)))
    roles = kpi_roles(log, flow, close)
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


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=float), q, method="higher"))


def _round_up(seconds: float) -> timedelta:
    """A readable duration at least ``seconds`` long."""
    steps = [(600, 60), (7200, 300), (86400, 3600), (7 * 86400, 6 * 3600)]
    for limit, unit in steps:
        if seconds <= limit:
            return timedelta(seconds=max(unit, math.ceil(seconds / unit) * unit))
    return timedelta(seconds=math.ceil(seconds / 86400) * 86400)


__all__ = ["LIMIT_PERCENTILE", "ProposedLimit", "StepProfile", "kpi_roles", "propose_limits", "step_profiles"]
