"""Process discovery: the process map (directly-follows graph), variants, a model.

Everything here is computed column-wise: events are encoded as integer activity
and ticket codes, the directly-follows pairs come from shifting those arrays by
one inside each ticket, and counts / times are grouped by the encoded pair. No
Python loop runs per ticket or per event; the only Python loops are over the
activities of the map (a few dozen) when it is simplified.

Definitions (also in ``docs/analytics.md``):

* **Directly-follows path** ``a -> b``: inside one ticket, an event of ``a`` is
  immediately followed (in time order) by an event of ``b``. ``events`` counts the
  occurrences, ``cases`` the tickets with at least one occurrence.
* **Waiting time on a path**: from the completion of ``a`` (its ``time:timestamp``)
  to the start of ``b`` (its ``start_timestamp`` when known, else its
  ``time:timestamp``). Without start timestamps this equals pm4py's performance DFG.
* **Simplification** (like Disco's sliders): ``activities`` keeps the most
  frequent activities until they cover that share of all events; the other
  activities' events are taken out and the map is recomputed on what is left, so
  paths run around removed activities. ``paths`` then keeps the most frequent
  paths (start and end arcs included) until they cover that share of all path
  occurrences, and adds back the paths needed so that every kept activity is
  reachable from the start and can reach the end (the widest path, i.e. the one
  whose least frequent arc is most frequent).
* **Readable size** (:func:`simplify_map`, applied when a map is drawn): a map of
  more than :data:`MAX_MAP_ACTIVITIES` activities or :data:`MAX_MAP_PATHS` arcs
  shows only the most frequent activities and arcs, kept connected.
"""

from __future__ import annotations

import heapq
import math
import re
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from csmine.errors import CsmineError, EmptyLogError

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

CASE_ID = "case:concept:name"
ACTIVITY = "concept:name"
TIMESTAMP = "time:timestamp"
START_TS = "start_timestamp"
GROUP = "org:group"

#: Name of the artificial start node of a map (arcs to the first activities).
START = "(start)"
#: Name of the artificial end node of a map (arcs from the last activities).
END = "(end)"

#: A drawn map with more activities than this is simplified (:func:`simplify_map`).
MAX_MAP_ACTIVITIES = 60
#: A drawn map with more arcs (paths plus start and end arcs) than this is simplified.
MAX_MAP_PATHS = 150


class MiningError(CsmineError):
    """Discovery could not be done on this log (bad parameters or columns)."""


# -- encoded log -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EncodedLog:
    """A log as numpy arrays, sorted by ticket then time (internal building block).

    Attributes:
        case: ticket code per event (0..n_cases-1, contiguous blocks).
        act: activity code per event.
        ts: completion time per event, epoch seconds (float).
        start: work start per event, epoch seconds, NaN when unknown.
        cases: ticket id per code.  activities: activity name per code.
        order: positions of the events in the input frame (for joining columns).
        first: True on the first event of each ticket.  last: True on the last.
    """

    case: np.ndarray
    act: np.ndarray
    ts: np.ndarray
    start: np.ndarray
    cases: np.ndarray
    activities: np.ndarray
    order: np.ndarray
    first: np.ndarray
    last: np.ndarray

    @property
    def n(self) -> int:
        return len(self.case)

    @property
    def has_start(self) -> bool:
        return bool(np.isfinite(self.start).any())

    def pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """Positions ``(i, i+1)`` of every directly-follows pair inside a ticket."""
        i = np.flatnonzero(~self.last)
        return i, i + 1

    def arrival(self) -> np.ndarray:
        """Per event: when work on it began (start if known, else completion)."""
        return np.where(np.isnan(self.start), self.ts, self.start)

    def subset(self, mask: np.ndarray) -> EncodedLog:
        """The events where ``mask`` holds (tickets left empty disappear)."""
        case = self.case[mask]
        first, last = _bounds(case)
        return EncodedLog(case, self.act[mask], self.ts[mask], self.start[mask], self.cases,
                          self.activities, self.order[mask], first, last)


def unique_ints(values: np.ndarray) -> np.ndarray:
    """The sorted distinct values of an integer array (``np.unique`` without options).

    numpy 2.3+ answers a plain ``np.unique`` of a large integer array by hashing,
    about fifty times slower than sorting on a million keys; this sorts.
    """
    a = np.sort(np.asarray(values).ravel())
    if len(a) < 2:
        return a
    keep = np.empty(len(a), dtype=bool)
    keep[0] = True
    np.not_equal(a[1:], a[:-1], out=keep[1:])
    return a[keep]


def epoch_seconds(values: Any) -> np.ndarray:
    """Float seconds since 1970-01-01 UTC for a datetime column (NaN for NaT).

    Naive timestamps are taken as UTC.
    """
    s = pd.Series(values) if not isinstance(values, pd.Series) else values
    if not isinstance(s.dtype, pd.DatetimeTZDtype):
        s = pd.to_datetime(s, utc=True)
    ns = s.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
    out = ns.astype("int64").astype(float) / 1e9
    out[np.isnat(ns)] = np.nan
    return out


def _bounds(case: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = len(case)
    first = np.ones(n, dtype=bool)
    last = np.ones(n, dtype=bool)
    if n > 1:
        same = case[1:] == case[:-1]
        first[1:] = ~same
        last[:-1] = ~same
    return first, last


def encode_log(
    df: pd.DataFrame,
    *,
    case_id_key: str = CASE_ID,
    activity_key: str = ACTIVITY,
    timestamp_key: str = TIMESTAMP,
    start_timestamp_key: str | None = START_TS,
) -> EncodedLog:
    """Encode a log frame as arrays (sorted by ticket, then time, stably).

    Raises:
        MiningError: A needed column is missing.
    """
    for key in (case_id_key, activity_key, timestamp_key):
        if key not in df.columns:
            raise MiningError(
                f"the event log has no column {key!r} (columns: {', '.join(map(str, df.columns))}); "
                "load it with csmine.eventlog.load_event_log or pass the column name"
            )
    case_codes, cases = pd.factorize(df[case_id_key].astype(str), sort=False)
    act_codes, activities = pd.factorize(df[activity_key].astype(str), sort=False)
    ts = epoch_seconds(df[timestamp_key])
    if start_timestamp_key and start_timestamp_key in df.columns:
        start = epoch_seconds(df[start_timestamp_key])
    else:
        start = np.full(len(df), np.nan)
    order = np.arange(len(df))
    n = len(df)
    sorted_ok = n < 2 or bool(
        np.all(np.diff(case_codes) >= 0)
        and np.all((np.diff(ts) >= 0) | (case_codes[1:] != case_codes[:-1]))
    )
    if not sorted_ok:
        order = np.lexsort((order, ts, case_codes))
        case_codes, act_codes, ts, start = case_codes[order], act_codes[order], ts[order], start[order]
    first, last = _bounds(case_codes)
    return EncodedLog(
        case=np.asarray(case_codes, dtype=np.int64),
        act=np.asarray(act_codes, dtype=np.int64),
        ts=ts,
        start=start,
        cases=np.asarray(cases, dtype=object),
        activities=np.asarray(activities, dtype=object),
        order=order,
        first=first,
        last=last,
    )


# -- process map ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MapNode:
    """An activity of the map.

    Attributes:
        activity: activity name.
        events: how many events of this activity (absolute frequency).
        cases: tickets with at least one event of it (case frequency).
        work_median_s: median working time ``time:timestamp - start_timestamp`` of
            its events with a start timestamp, seconds; None without start times.
        work_mean_s: mean of the same; None without start times.
    """

    activity: str
    events: int
    cases: int
    work_median_s: float | None = None
    work_mean_s: float | None = None


@dataclass(frozen=True, slots=True)
class MapEdge:
    """A directly-follows path (or a start/end arc).

    Attributes:
        source: activity before (:data:`START` for start arcs).
        target: activity after (:data:`END` for end arcs).
        events: occurrences of the path.
        cases: tickets in which it occurs at least once.
        median_s: median waiting time on the path in seconds (completion of the
            source to start of the target; see the module doc); None on start/end arcs.
        mean_s: arithmetic mean of the same.
        p90_s: 90th percentile (linear interpolation between order statistics).
        total_s: sum over all occurrences.
    """

    source: str
    target: str
    events: int
    cases: int
    median_s: float | None = None
    mean_s: float | None = None
    p90_s: float | None = None
    total_s: float | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.source, self.target)


@dataclass(frozen=True, slots=True)
class MapSimplification:
    """What a map simplified to a readable size shows (see :func:`simplify_map`).

    Attributes:
        activities_shown: activities drawn.
        activities: activities of the map it was made from (after the sliders).
        paths_shown: arcs drawn (paths between activities plus start and end arcs).
        paths: arcs of the map it was made from.
        events_covered: share of all events of the log that belong to the activities
            drawn (0-1).
        paths_covered: share of the path occurrences of the map it was made from
            (start and end arcs included) carried by the arcs drawn (0-1).
        max_activities: the activity cap used.  max_paths: the arc cap used.
    """

    activities_shown: int
    activities: int
    paths_shown: int
    paths: int
    events_covered: float
    paths_covered: float
    max_activities: int
    max_paths: int

    def describe(self) -> str:
        """One line: ``40 of 120 activities, 150 of 475 paths (start/end arcs included) shown, covering ...``."""
        return (f"{self.activities_shown:,} of {self.activities:,} activities, {self.paths_shown:,} of "
                f"{self.paths:,} paths (start/end arcs included) shown, covering "
                f"{100 * self.events_covered:.1f}% of events and {100 * self.paths_covered:.1f}% of path occurrences")


@dataclass(frozen=True, slots=True)
class ProcessMap:
    """A (possibly simplified) directly-follows process map.

    Attributes:
        nodes: kept activities, most frequent first.
        edges: kept paths between activities, most frequent first.
        start_edges: arcs from :data:`START` to the first activity of tickets.
        end_edges: arcs from the last activity of tickets to :data:`END`.
        tickets: tickets in the log.  events: events in the log.
        activity_coverage: share of all events that belong to kept activities (0-1).
        path_coverage: share of the path occurrences (start/end arcs included) of the
            activity-filtered log that the kept paths carry (0-1).
        activities: the ``activities`` slider value asked for.
        paths: the ``paths`` slider value asked for.
        dropped_activities: activities left out by the activity slider (and by
            :func:`simplify_map`).
        dropped_paths: number of arcs left out by the path slider (and by
            :func:`simplify_map`).
        simplification: set on a map made by :func:`simplify_map` to fit a readable
            size: what it shows of the map it was made from; None otherwise.
    """

    nodes: tuple[MapNode, ...]
    edges: tuple[MapEdge, ...]
    start_edges: tuple[MapEdge, ...]
    end_edges: tuple[MapEdge, ...]
    tickets: int
    events: int
    activity_coverage: float
    path_coverage: float
    activities: float = 1.0
    paths: float = 1.0
    dropped_activities: tuple[str, ...] = ()
    dropped_paths: int = 0
    simplification: MapSimplification | None = None

    def node(self, activity: str) -> MapNode:
        """The node of an activity (KeyError if not kept)."""
        for n in self.nodes:
            if n.activity == activity:
                return n
        raise KeyError(activity)

    def edge(self, source: str, target: str) -> MapEdge:
        """The edge ``source -> target`` (start/end arcs included; KeyError if absent)."""
        for e in self.all_edges():
            if e.source == source and e.target == target:
                return e
        raise KeyError((source, target))

    def all_edges(self) -> tuple[MapEdge, ...]:
        """Start arcs, paths and end arcs together."""
        return self.start_edges + self.edges + self.end_edges

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data."""
        return asdict(self)


def _group_stats(keys: np.ndarray, values: np.ndarray) -> pd.DataFrame:
    frame = pd.DataFrame({"key": keys, "v": values})
    g = frame.groupby("key", sort=True)["v"]
    out = g.agg(["median", "mean", "sum"])
    out["p90"] = g.quantile(0.9)
    return out


def _cases_per_key(case: np.ndarray, key: np.ndarray) -> pd.Series:
    pairs = pd.DataFrame({"c": case, "k": key}).drop_duplicates()
    return pairs.groupby("k", sort=True).size()


def _dfg_arrays(log: EncodedLog) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Paths, start arcs and end arcs of an encoded log as frames with codes."""
    n_act = len(log.activities)
    i, j = log.pairs()
    key = log.act[i] * n_act + log.act[j]
    gap = log.arrival()[j] - log.ts[i]
    counts = pd.Series(key).value_counts(sort=False).sort_index()
    stats = _group_stats(key, gap)
    cases = _cases_per_key(log.case[i], key)
    paths = pd.DataFrame({
        "source": counts.index.to_numpy() // n_act,
        "target": counts.index.to_numpy() % n_act,
        "events": counts.to_numpy(),
        "cases": cases.reindex(counts.index).to_numpy(),
        "median": stats["median"].reindex(counts.index).to_numpy(),
        "mean": stats["mean"].reindex(counts.index).to_numpy(),
        "p90": stats["p90"].reindex(counts.index).to_numpy(),
        "sum": stats["sum"].reindex(counts.index).to_numpy(),
    })
    starts = pd.Series(log.act[log.first]).value_counts(sort=False).sort_index()
    ends = pd.Series(log.act[log.last]).value_counts(sort=False).sort_index()
    start_frame = pd.DataFrame({"target": starts.index.to_numpy(), "events": starts.to_numpy()})
    end_frame = pd.DataFrame({"source": ends.index.to_numpy(), "events": ends.to_numpy()})
    return paths, start_frame, end_frame


def _widest_parents(arcs: dict[tuple[str, str], int], root: str, reverse: bool) -> dict[str, tuple[str, str]]:
    """For each node, the arc by which the widest path from ``root`` reaches it."""
    adj: dict[str, list[tuple[str, int, tuple[str, str]]]] = defaultdict(list)
    for (a, b), w in sorted(arcs.items()):
        if reverse:
            adj[b].append((a, w, (a, b)))
        else:
            adj[a].append((b, w, (a, b)))
    best: dict[str, float] = {root: math.inf}
    parent: dict[str, tuple[str, str]] = {}
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


def _reachable(arcs: Iterable[tuple[str, str]], root: str, reverse: bool) -> set[str]:
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


def _connect(kept: set[tuple[str, str]], arcs: dict[tuple[str, str], int], nodes: list[str],
             parents: tuple[dict[str, tuple[str, str]], dict[str, tuple[str, str]]] | None = None,
             ) -> set[tuple[str, str]]:
    """Add widest-path arcs until every node is reachable from START and reaches END.

    ``parents``: the widest-path trees of ``arcs`` from START and to END, when the
    caller connects several sets over the same arcs.
    """
    kept = set(kept)
    if parents is None:
        parents = (_widest_parents(arcs, START, False), _widest_parents(arcs, END, True))
    for (root, reverse), parent in zip(((START, False), (END, True)), parents, strict=True):
        reach = _reachable(kept, root, reverse)
        for node in nodes:
            if node in reach:
                continue
            path: list[tuple[str, str]] = []
            v = node
            while v not in reach and v in parent:
                arc = parent[v]
                path.append(arc)
                v = arc[1] if reverse else arc[0]
            if v in reach:
                kept.update(path)
                reach = _reachable(kept, root, reverse)
    return kept


def _check_share(name: str, value: float) -> None:
    if not (0.0 < value <= 1.0):
        raise MiningError(f"--{name} must be a share in (0, 1], e.g. 0.8; got {value!r}")


def discover_map(
    df: pd.DataFrame,
    *,
    activities: float = 1.0,
    paths: float = 1.0,
    case_id_key: str = CASE_ID,
    activity_key: str = ACTIVITY,
    timestamp_key: str = TIMESTAMP,
    start_timestamp_key: str | None = START_TS,
    keep: Iterable[str | tuple[str, str]] = (),
) -> ProcessMap:
    """Discover the directly-follows process map, simplified like Disco's sliders.

    Args:
        df: event log frame (one row per event; see :mod:`csmine.eventlog`).
        activities: share of events the kept activities must cover, in (0, 1];
            1.0 keeps every activity.
        paths: share of path occurrences the kept paths must cover, in (0, 1];
            1.0 keeps every path. Paths needed to connect kept activities to
            the start and the end are always kept.
        case_id_key: ticket id column.  activity_key: activity column.
        timestamp_key: completion time column.
        start_timestamp_key: work start column (used for waiting times when present).
        keep: activities and ``(source, target)`` paths shown whatever the sliders
            say (e.g. the bottlenecks to highlight).

    Returns:
        The map with frequency (events, cases) and performance (median, mean,
        P90, total waiting seconds) on every path.

    Raises:
        EmptyLogError: The log has no events.
        MiningError: A slider is outside (0, 1] or a column is missing.
    """
    return discover_maps(df, activities=(activities,), paths=(paths,), case_id_key=case_id_key,
                         activity_key=activity_key, timestamp_key=timestamp_key,
                         start_timestamp_key=start_timestamp_key, keep=keep)[(activities, paths)]


def discover_maps(
    df: pd.DataFrame,
    *,
    activities: Sequence[float] = (1.0,),
    paths: Sequence[float] = (1.0,),
    case_id_key: str = CASE_ID,
    activity_key: str = ACTIVITY,
    timestamp_key: str = TIMESTAMP,
    start_timestamp_key: str | None = START_TS,
    keep: Iterable[str | tuple[str, str]] = (),
) -> dict[tuple[float, float], ProcessMap]:
    """:func:`discover_map` at every pair of slider levels, sharing the work.

    The log is encoded once and the directly-follows counts and waiting times are
    computed once per activity level; each path level only filters those paths.

    Returns:
        ``{(activities, paths): map}`` for every pair of levels.
    """
    for a in activities:
        _check_share("activities", a)
    for p in paths:
        _check_share("paths", p)
    if len(df) == 0:
        raise EmptyLogError("the event log is empty: nothing to discover (check the filters)")
    log = encode_log(df, case_id_key=case_id_key, activity_key=activity_key,
                     timestamp_key=timestamp_key, start_timestamp_key=start_timestamp_key)
    keep = tuple(keep)
    out: dict[tuple[float, float], ProcessMap] = {}
    for a in activities:
        out.update(_maps_at(log, a, paths, keep))
    return out


def _maps_at(log: EncodedLog, activities: float, path_levels: Sequence[float],
             keep: tuple[str | tuple[str, str], ...]) -> dict[tuple[float, float], ProcessMap]:
    names = log.activities
    act_events = np.bincount(log.act, minlength=len(names))
    # most frequent first; ties by name so the result does not depend on row order
    ranking = sorted(range(len(names)), key=lambda a: (-act_events[a], str(names[a])))
    total = int(act_events.sum())
    forced_paths = {k for k in keep if isinstance(k, tuple)}
    forced = {k for k in keep if isinstance(k, str)} | {a for p in forced_paths for a in p}
    keep_codes: list[int] = []
    covered = 0
    for a in ranking:
        if keep_codes and covered >= activities * total - 1e-9:
            break
        keep_codes.append(a)
        covered += int(act_events[a])
    chosen = set(keep_codes) | {a for a in ranking if str(names[a]) in forced}
    keep_codes = [a for a in ranking if a in chosen]
    covered = int(act_events[keep_codes].sum())
    dropped = tuple(str(names[a]) for a in ranking if a not in chosen)
    sub = log if not dropped else log.subset(np.isin(log.act, keep_codes))

    path_frame, start_frame, end_frame = _dfg_arrays(sub)
    arcs: dict[tuple[str, str], int] = {}
    for s, t, e in zip(path_frame["source"], path_frame["target"], path_frame["events"], strict=True):
        arcs[(str(names[s]), str(names[t]))] = int(e)
    for t, e in zip(start_frame["target"], start_frame["events"], strict=True):
        arcs[(START, str(names[t]))] = int(e)
    for s, e in zip(end_frame["source"], end_frame["events"], strict=True):
        arcs[(str(names[s]), END)] = int(e)
    arc_total = sum(arcs.values())
    node_cases = pd.DataFrame({"c": sub.case, "a": sub.act}).drop_duplicates().groupby("a").size()
    work_median: dict[int, float] = {}
    work_mean: dict[int, float] = {}
    if sub.has_start:
        has = np.isfinite(sub.start)
        w = pd.DataFrame({"a": sub.act[has], "w": sub.ts[has] - sub.start[has]}).groupby("a")["w"]
        work_median = {int(k): float(v) for k, v in w.median().items()}
        work_mean = {int(k): float(v) for k, v in w.mean().items()}
    nodes = tuple(
        MapNode(
            activity=str(names[a]),
            events=int(act_events[a]),
            cases=int(node_cases.get(a, 0)),
            work_median_s=work_median.get(a),
            work_mean_s=work_mean.get(a),
        )
        for a in keep_codes
    )
    out: dict[tuple[float, float], ProcessMap] = {}
    for paths in path_levels:
        if paths < 1.0:
            kept: set[tuple[str, str]] = set()
            running = 0
            for arc, w in sorted(arcs.items(), key=lambda kv: (-kv[1], kv[0])):
                if kept and running >= paths * arc_total - 1e-9:
                    break
                kept.add(arc)
                running += w
            kept |= {arc for arc in forced_paths if arc in arcs}
            kept = _connect(kept, arcs, [str(names[a]) for a in keep_codes])
        else:
            kept = set(arcs)
        kept_total = sum(arcs[a] for a in kept)

        edges = []
        for row in path_frame.itertuples(index=False):
            arc = (str(names[row.source]), str(names[row.target]))
            if arc not in kept:
                continue
            edges.append(MapEdge(arc[0], arc[1], int(row.events), int(row.cases), float(row.median),
                                 float(row.mean), float(row.p90), float(row[7])))
        edges.sort(key=lambda e: (-e.events, e.source, e.target))
        start_edges = sorted(
            (MapEdge(START, str(names[t]), int(e), int(e)) for t, e in
             zip(start_frame["target"], start_frame["events"], strict=True) if (START, str(names[t])) in kept),
            key=lambda e: (-e.events, e.target),
        )
        end_edges = sorted(
            (MapEdge(str(names[s]), END, int(e), int(e)) for s, e in
             zip(end_frame["source"], end_frame["events"], strict=True) if (str(names[s]), END) in kept),
            key=lambda e: (-e.events, e.source),
        )
        out[(activities, paths)] = ProcessMap(
            nodes=nodes,
            edges=tuple(edges),
            start_edges=tuple(start_edges),
            end_edges=tuple(end_edges),
            tickets=len(log.cases),
            events=log.n,
            activity_coverage=covered / total if total else 0.0,
            path_coverage=kept_total / arc_total if arc_total else 1.0,
            activities=activities,
            paths=paths,
            dropped_activities=dropped,
            dropped_paths=len(arcs) - len(kept),
        )
    return out


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
       of :func:`discover_map`).
    2. **Arcs** among the shown activities, START and END: if there are more than
       ``max_paths``, the shown arcs are the ``keep`` arcs, the ``K`` most frequent
       arcs (events, ties by source and target), and for every shown activity not
       reachable from START through those (or not reaching END) the arcs of its
       widest path from START (to END; the path whose least frequent arc is most
       frequent, as in :func:`discover_map`). ``K`` is the largest number for which
       all of that is at most ``max_paths`` arcs; if even ``K = 0`` is more, the
       connecting arcs are shown anyway (the cap gives way to connectedness). An
       activity with no path from START (to END) among the shown activities stays
       unconnected.

    Args:
        pmap: a map (see :func:`discover_map`).
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

    shown = {n.activity for n in pmap.nodes if n.activity in forced}
    for node in sorted(pmap.nodes, key=lambda n: (-n.events, n.activity)):
        if len(shown) >= max_activities:
            break
        shown.add(node.activity)
    ends = shown | {START, END}
    arcs = {e.key: e.events for e in arcs_all if e.source in ends and e.target in ends}
    if len(arcs) <= max_paths:
        kept = set(arcs)
    else:
        names = [n.activity for n in pmap.nodes if n.activity in shown]
        parents = (_widest_parents(arcs, START, False), _widest_parents(arcs, END, True))
        ranking = sorted(arcs, key=lambda k: (-arcs[k], k))
        base = {k for k in forced_arcs if k in arcs}
        kept = set()
        for k in range(max_paths, -1, -1):
            kept = _connect(base | set(ranking[:k]), arcs, names, parents)
            if len(kept) <= max_paths:
                break

    nodes = tuple(n for n in pmap.nodes if n.activity in shown)
    node_events = sum(n.events for n in nodes)
    arc_events = sum(e.events for e in arcs_all)
    kept_events = sum(arcs[k] for k in kept)
    # path_coverage of pmap is over the path occurrences of the activity-filtered log
    base_total = arc_events / pmap.path_coverage if pmap.path_coverage > 0 else arc_events
    return ProcessMap(
        nodes=nodes,
        edges=tuple(e for e in pmap.edges if e.key in kept),
        start_edges=tuple(e for e in pmap.start_edges if e.key in kept),
        end_edges=tuple(e for e in pmap.end_edges if e.key in kept),
        tickets=pmap.tickets,
        events=pmap.events,
        activity_coverage=node_events / pmap.events if pmap.events else 0.0,
        path_coverage=kept_events / base_total if base_total else 1.0,
        activities=pmap.activities,
        paths=pmap.paths,
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


# -- variants ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Variant:
    """A distinct activity sequence and the tickets that follow it.

    Attributes:
        activities: the sequence.
        tickets: tickets with exactly this sequence.
        share: ``tickets`` over all tickets (0-1).
        cumulative_share: share of tickets covered by this and all more frequent
            variants (0-1); the coverage of the top-k list.
        median_throughput_s: median time from the first event's start (or
            completion) to the last event's completion, seconds.
        example_ticket: one ticket of the variant (the first in the log).
    """

    activities: tuple[str, ...]
    tickets: int
    share: float
    cumulative_share: float
    median_throughput_s: float
    example_ticket: str = ""


def variant_ids(codes: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Variant index per ticket and the code sequence of each variant.

    ``codes[starts[t]:starts[t] + lengths[t]]`` is ticket ``t``'s sequence. Tickets are
    grouped by length; within a length the code rows are made unique with numpy, so
    no Python work is done per ticket (variants are numbered by length, then by rows).
    """
    variant_of = np.empty(len(starts), dtype=np.int64)
    sequences: list[np.ndarray] = []
    for length in unique_ints(lengths):
        members = np.flatnonzero(lengths == length)
        rows = codes[starts[members][:, None] + np.arange(length)[None, :]]
        uniq, inverse = np.unique(rows, axis=0, return_inverse=True)
        variant_of[members] = len(sequences) + inverse.reshape(-1)
        sequences.extend(uniq)
    return variant_of, sequences


def case_variants(log: EncodedLog) -> tuple[np.ndarray, list[tuple[str, ...]]]:
    """Per ticket code its variant code, and the variants' activity tuples.

    Variants are numbered in the order their first ticket appears.
    """
    if log.n == 0:
        return np.array([], dtype=np.int64), []
    starts = np.flatnonzero(log.first)
    lengths = np.diff(np.append(starts, log.n))
    variant_of, sequences = variant_ids(log.act, starts, lengths)
    first_ticket = np.full(len(sequences), len(starts), dtype=np.int64)
    np.minimum.at(first_ticket, variant_of, np.arange(len(starts)))
    by_appearance = np.argsort(first_ticket, kind="stable")
    renumber = np.empty(len(sequences), dtype=np.int64)
    renumber[by_appearance] = np.arange(len(sequences))
    names = np.asarray(log.activities, dtype=object)
    tuples = [tuple(names[sequences[v]].tolist()) for v in by_appearance]
    return renumber[variant_of], tuples


def case_throughput(log: EncodedLog) -> np.ndarray:
    """Per ticket code: last completion minus first start (or completion), seconds."""
    arrival = log.arrival()
    begin = np.minimum.reduceat(np.where(np.isnan(arrival), log.ts, arrival), np.flatnonzero(log.first))
    end = np.maximum.reduceat(log.ts, np.flatnonzero(log.first))
    return np.asarray(end - begin, dtype=float)


def discover_variants(
    df: pd.DataFrame,
    top: int | None = None,
    *,
    case_id_key: str = CASE_ID,
    activity_key: str = ACTIVITY,
    timestamp_key: str = TIMESTAMP,
    start_timestamp_key: str | None = START_TS,
) -> list[Variant]:
    """Variants (distinct activity sequences), most frequent first.

    Args:
        df: event log frame.
        top: keep only the ``top`` most frequent (None: all).

    Returns:
        Variants ordered by tickets (descending), then by sequence; shares are of
        all tickets, so the last ``cumulative_share`` is the top-k coverage.
    """
    if len(df) == 0:
        return []
    log = encode_log(df, case_id_key=case_id_key, activity_key=activity_key,
                     timestamp_key=timestamp_key, start_timestamp_key=start_timestamp_key)
    codes, tuples = case_variants(log)
    thr = case_throughput(log)
    n_var = len(tuples)
    counts = np.bincount(codes, minlength=n_var)
    medians = pd.Series(thr).groupby(codes).median().reindex(range(n_var)).to_numpy(dtype=float)
    firsts = np.full(n_var, len(codes), dtype=np.int64)
    np.minimum.at(firsts, codes, np.arange(len(codes)))
    n_cases = len(codes)
    order = sorted(range(n_var), key=lambda v: (-int(counts[v]), tuples[v]))
    if top is not None:
        order = order[: max(top, 0)]
    out = []
    running = 0
    for v in order:
        running += int(counts[v])
        out.append(Variant(
            activities=tuples[v],
            tickets=int(counts[v]),
            share=int(counts[v]) / n_cases,
            cumulative_share=running / n_cases,
            median_throughput_s=float(medians[v]),
            example_ticket=str(log.cases[int(firsts[v])]),
        ))
    return out


# -- discovered model ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DiscoveredModel:
    """A process model found by the inductive miner (infrequent variant, IMf).

    Attributes:
        noise: the noise threshold used (0 keeps all behaviour, 0.2 is the
            usual filter of infrequent paths).
        activities: activities the model contains.
        tree_text: the process tree in pm4py notation (``->`` sequence, ``X``
            choice, ``+`` parallel, ``*`` loop, ``tau`` silent step).
        tree: the pm4py ``ProcessTree`` (not part of equality or JSON).
    """

    noise: float
    activities: tuple[str, ...]
    tree_text: str
    tree: Any = field(repr=False, compare=False, default=None)

    def to_bpmn(self) -> Any:
        """The model as a pm4py BPMN graph."""
        import pm4py

        return pm4py.convert_to_bpmn(self.tree)

    def to_petri_net(self) -> tuple[Any, Any, Any]:
        """The model as a workflow net ``(net, initial marking, final marking)``."""
        import pm4py

        net, im, fm = pm4py.convert_to_petri_net(self.tree)
        return net, im, fm

    def write_bpmn(self, path: str) -> None:
        """Write the model as a BPMN 2.0 file with a laid-out diagram (needs ``dot``)."""
        import pm4py

        pm4py.write_bpmn(self.to_bpmn(), path, auto_layout=True)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data (without the pm4py object)."""
        return {"noise": self.noise, "activities": list(self.activities), "tree": self.tree_text}


def discover_model(
    df: pd.DataFrame,
    noise: float = 0.2,
    *,
    case_id_key: str = CASE_ID,
    activity_key: str = ACTIVITY,
    timestamp_key: str = TIMESTAMP,
) -> DiscoveredModel:
    """Discover a block-structured model with pm4py's inductive miner.

    Args:
        df: event log frame.
        noise: noise threshold in [0, 1) (IMf); 0 gives a model that fits every ticket.

    Raises:
        EmptyLogError: The log has no events.
        MiningError: ``noise`` outside [0, 1).
    """
    if not (0.0 <= noise < 1.0):
        raise MiningError(f"--noise must be in [0, 1), e.g. 0.2; got {noise!r}")
    if len(df) == 0:
        raise EmptyLogError("the event log is empty: nothing to discover (check the filters)")
    import pm4py

    frame = pd.DataFrame({
        CASE_ID: df[case_id_key].astype(str).to_numpy(dtype=object),
        ACTIVITY: df[activity_key].astype(str).to_numpy(dtype=object),
        TIMESTAMP: df[timestamp_key].to_numpy(),
    })
    tree = pm4py.discover_process_tree_inductive(frame, noise_threshold=noise, multi_processing=False)
    labels = sorted({str(leaf.label) for leaf in _leaves(tree) if leaf.label is not None})
    return DiscoveredModel(noise=noise, activities=tuple(labels), tree_text=str(tree), tree=tree)


def _leaves(tree: Any) -> list[Any]:
    out = []
    stack = [tree]
    while stack:
        node = stack.pop()
        if node.children:
            stack.extend(node.children)
        else:
            out.append(node)
    return out


# -- support lines (push to front) ----------------------------------------------------------

_LINE = re.compile(r"(?i)(?:^|[\s_\-/])([123])(?:st|nd|rd)(?:$|[\s_\-/])")


def support_line_of(teams: pd.Series) -> pd.Series:
    """Support line (1, 2, 3) of each team name, from a ``2nd``/``3rd`` marker.

    Team names carrying ``1st``, ``2nd`` or ``3rd`` (as in BPIC 2013: ``"G230 2nd"``)
    get that line; names without a marker are first line. Missing teams are NA.
    """
    codes, uniques = pd.factorize(teams, sort=False)
    digit = pd.Series(pd.Index(uniques).astype(str), dtype="string").str.extract(_LINE, expand=False)
    line_of = pd.to_numeric(digit, errors="coerce").fillna(1).astype("int64").to_numpy()
    out = pd.array(np.where(codes >= 0, line_of[np.maximum(codes, 0)] if len(line_of) else 1, 0), dtype="Int64")
    out[codes < 0] = pd.NA
    return pd.Series(out, index=teams.index)


@dataclass(frozen=True, slots=True)
class FirstLine:
    """Which tickets stayed in the first support line.

    Attributes:
        method: ``"line-marker"`` when team names mark their support line
            (``2nd``/``3rd``; unmarked teams are first line), else ``"first-team"``:
            the first line of a ticket is the team of its first event.
        tickets: per ticket id, True if every event with a team was done by a
            first-line team (resp. by the ticket's first team).
    """

    method: str
    tickets: pd.Series


def first_line_tickets(
    df: pd.DataFrame, *, case_id_key: str = CASE_ID, group_key: str = GROUP
) -> FirstLine:
    """Tickets handled in the first support line only (push-to-front measure)."""
    if group_key not in df.columns or df[group_key].isna().all():
        return FirstLine("none", pd.Series(pd.NA, index=pd.Index(df[case_id_key].unique()), dtype="boolean"))
    teams = df[group_key]
    lines = support_line_of(teams)
    cases = df[case_id_key].astype(str)
    if (lines > 1).any():
        other = (lines > 1).fillna(False).astype(bool)
        method = "line-marker"
    else:
        first_team = teams.groupby(cases, sort=False).transform("first")
        other = (teams.notna() & (teams.astype(str) != first_team.astype(str))).astype(bool)
        method = "first-team"
    left = other.groupby(cases, sort=False).any()
    return FirstLine(method, ~left)


# -- waiting and working time ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TimeSplit:
    """Every second of every ticket attributed to one event, as waiting or working.

    Built by :func:`split_time`. For consecutive events ``e`` and ``f`` of a ticket,
    the *gap* runs from ``e``'s completion to ``f``'s start (its completion when it
    has no start). How the gap counts depends on the kind of log:

    * **status logs** (no event has a start time; e.g. BPIC 2013): an event opens
      a status that lasts until the next event, so the gap is time spent *in the
      status* ``e`` -- waiting if ``e`` is a waiting status, else working;
    * **start/complete logs** (some events have a start time): work happens only
      inside an event's own interval ``[start, completion]``; the gap is waiting,
      time spent in ``e`` when ``e`` is a waiting status (e.g. waiting for the
      customer), else *waiting before* ``f`` (the ticket queued for the next step).

    An event's own interval is working time (waiting time for a waiting status).
    Negative gaps (overlapping work) count as zero.

    Attributes:
        wait_s: per event, waiting seconds attributed to it.
        work_s: per event, working seconds attributed to it.
        gap_s: per event, the gap after it (0 on a ticket's last event).
        gap_waiting: per event, whether the gap after it is waiting time.
        gap_owner: per event, the position of the event the gap after it belongs to.
    """

    wait_s: np.ndarray
    work_s: np.ndarray
    gap_s: np.ndarray
    gap_waiting: np.ndarray
    gap_owner: np.ndarray


def seconds_between(a: np.ndarray, b: np.ndarray, calendar: Any = None) -> np.ndarray:
    """``b - a`` for epoch-second arrays; business seconds with a calendar."""
    if calendar is None:
        return np.asarray(b - a, dtype=float)
    ok = np.isfinite(a) & np.isfinite(b)
    out = np.full(len(a), np.nan)
    if ok.any():
        ta = pd.to_datetime(a[ok], unit="s", utc=True)
        tb = pd.to_datetime(b[ok], unit="s", utc=True)
        out[ok] = calendar.business_seconds(ta, tb)
    return out


def split_time(log: EncodedLog, waiting: np.ndarray, calendar: Any = None) -> TimeSplit:
    """Attribute each ticket's time to its events as waiting or working (see :class:`TimeSplit`).

    Args:
        log: the encoded log.
        waiting: per event, True when the event opens a waiting status.
        calendar: a :class:`~csmine.calendar.BusinessCalendar` to count business
            seconds only (None: wall clock).
    """
    n = log.n
    waiting = np.asarray(waiting, dtype=bool)
    arrival = log.arrival()
    own = np.zeros(n)
    has = np.isfinite(log.start)
    if has.any():
        own[has] = np.clip(seconds_between(log.start[has], log.ts[has], calendar), 0, None)
    gap = np.zeros(n)
    gap_waiting = np.zeros(n, dtype=bool)
    owner = np.arange(n)
    i, j = log.pairs()
    if len(i):
        gap[i] = np.clip(seconds_between(log.ts[i], arrival[j], calendar), 0, None)
        status_log = not has.any()
        owner[i] = np.where(waiting[i] | status_log, i, j)
        gap_waiting[i] = waiting[i] | (not status_log)
    wait_s = np.where(waiting, own, 0.0)
    work_s = np.where(waiting, 0.0, own)
    wait_s = wait_s + np.bincount(owner, weights=np.where(gap_waiting, gap, 0.0), minlength=n)
    work_s = work_s + np.bincount(owner, weights=np.where(gap_waiting, 0.0, gap), minlength=n)
    return TimeSplit(wait_s=wait_s, work_s=work_s, gap_s=gap, gap_waiting=gap_waiting, gap_owner=owner)


#: Activity names that mean the ticket waits in a queue (counted as waiting time).
QUEUE_PATTERN = r"(?i)(\bqueue[ds]?\b|\bawaiting\b|\bpending\b|\bon[ -]hold\b|\bbacklog\b|排队|待分派|挂起)"
#: Activity names that mean the ticket waits (used when no SOP says which steps wait).
WAIT_PATTERN = r"(?i)(\bwait(ing)?\b|\bqueue[ds]?\b|\bawaiting\b|\bpending\b|\bon[ -]hold\b|\bbacklog\b|等待|排队|挂起)"
