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
3. **The flow.** A *narrow inductive miner* (:mod:`csmine.mining.inductive`) over those variants, in csmine's own
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
from csmine.mining.draft_toml import DraftSummary, render_draft
from csmine.mining.inductive import MAX_CHOICE, Log, discover_flow
from process_models.flow import flow_to_text, iter_flow_steps

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
#: Activities in fewer than this share of the covered tickets are left out.
MIN_ACTIVITY_SHARE = 0.01
#: The percentile proposed limits come from.
LIMIT_PERCENTILE = 80

_ID = re.compile(r"[^A-Za-z0-9_.-]+")
_WAITING = re.compile(r"(?i)\b(wait|waiting|awaiting|pending|on hold|hold)\b")
_NOT_CUSTOMER = re.compile(r"(?i)vendor|implementation|change|problem|assignment|supplier|third")

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
    summary = DraftSummary(len(log.ids), len(closed), close, "their last events in the log" if inferred else close_source,
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


__all__ = [
    "NOISE_LEVELS", "DraftCandidate", "LeftOut", "ProposedLimit", "SopDraft", "StepProfile", "draft_sop", "sop_id",
]
