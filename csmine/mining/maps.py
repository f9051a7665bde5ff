"""The process map: the directly-follows graph with frequencies and waiting times.

Computed column-wise on the :class:`~csmine.mining.encoding.EncodedLog`: the
directly-follows pairs come from shifting the code arrays by one inside each
ticket, and counts and times are grouped by the encoded pair. No Python loop runs
per ticket or per event; the only Python loops are over the map's activities and
arcs (a few dozen to a few hundred).

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
  whose least frequent arc is most frequent; :mod:`csmine.mining.graph`).

A map too big to read is cut down when drawn by
:func:`csmine.mining.simplify.simplify_map`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from csmine.errors import EmptyLogError, MiningError
from csmine.mining.encoding import ACTIVITY, CASE_ID, START_TS, TIMESTAMP, EncodedLog, encode_log, unique_ints
from csmine.mining.group_stats import impact_stats
from csmine.mining.graph import connect

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

#: Name of the artificial start node of a map (arcs to the first activities).
START = "(start)"
#: Name of the artificial end node of a map (arcs from the last activities).
END = "(end)"


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
    """What a map cut down to a readable size shows (:func:`~csmine.mining.simplify.simplify_map`).

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
            :func:`~csmine.mining.simplify.simplify_map`).
        dropped_paths: number of arcs left out by the path slider (and by
            :func:`~csmine.mining.simplify.simplify_map`).
        simplification: set on a map made by :func:`~csmine.mining.simplify.simplify_map`
            to fit a readable size: what it shows of the map it was made from; None
            otherwise.
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


def _dfg_arrays(log: EncodedLog) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Paths, start arcs and end arcs of an encoded log as frames with codes."""
    n_act = len(log.activities)
    i, j = log.pairs()
    key = log.act[i].astype(np.int64) * n_act + log.act[j]
    gap = log.arrival()[j] - log.ts[i]
    stats = impact_stats(key, gap, log.case[i], impact=False)  # one sort: counts, tickets, quantiles
    codes = stats.index.to_numpy()
    paths = pd.DataFrame({
        "source": codes // n_act,
        "target": codes % n_act,
        "events": stats["size"].to_numpy(),
        "cases": stats["tickets"].to_numpy(),
        "median": stats["median"].to_numpy(),
        "mean": stats["mean"].to_numpy(),
        "p90": stats["p90"].to_numpy(),
        "sum": stats["sum"].to_numpy(),
    })
    starts = pd.Series(log.act[log.first]).value_counts(sort=False).sort_index()
    ends = pd.Series(log.act[log.last]).value_counts(sort=False).sort_index()
    start_frame = pd.DataFrame({"target": starts.index.to_numpy(), "events": starts.to_numpy()})
    end_frame = pd.DataFrame({"source": ends.index.to_numpy(), "events": ends.to_numpy()})
    return paths, start_frame, end_frame


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
        df: event log frame (one row per event; see :mod:`csmine.eventlog.loading`).
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
    encoded: EncodedLog | None = None,
) -> dict[tuple[float, float], ProcessMap]:
    """:func:`discover_map` at every pair of slider levels, sharing the work.

    The log is encoded once and the directly-follows counts and waiting times are
    computed once per activity level; each path level only filters those paths.
    ``encoded``: ``df`` already encoded with these columns (the report's prepared log),
    not encoded again.

    Returns:
        ``{(activities, paths): map}`` for every pair of levels.
    """
    for a in activities:
        _check_share("activities", a)
    for p in paths:
        _check_share("paths", p)
    if len(df) == 0:
        raise EmptyLogError("the event log is empty: nothing to discover (check the filters)")
    log = encoded if encoded is not None else encode_log(
        df, case_id_key=case_id_key, activity_key=activity_key, timestamp_key=timestamp_key,
        start_timestamp_key=start_timestamp_key)
    keep = tuple(keep)
    out: dict[tuple[float, float], ProcessMap] = {}
    for a in activities:
        out.update(_maps_at(log, a, paths, keep))
    return out


@dataclass(frozen=True, slots=True)
class _ActivityCut:
    """The activities one ``activities`` slider level keeps."""

    events: np.ndarray          # events per activity code, in the whole log
    kept: list[int]             # kept activity codes, most frequent first
    covered: int                # events of the kept activities
    dropped: tuple[str, ...]    # names of the activities left out, most frequent first


def _cut_activities(log: EncodedLog, activities: float, forced: set[str]) -> _ActivityCut:
    """The most frequent activities covering ``activities`` of the events, plus ``forced``."""
    names = log.activities
    act_events = np.bincount(log.act, minlength=len(names))
    # most frequent first; ties by name so the result does not depend on row order
    ranking = sorted(range(len(names)), key=lambda a: (-act_events[a], str(names[a])))
    total = int(act_events.sum())
    keep_codes: list[int] = []
    covered = 0
    for a in ranking:
        if keep_codes and covered >= activities * total - 1e-9:
            break
        keep_codes.append(a)
        covered += int(act_events[a])
    chosen = set(keep_codes) | {a for a in ranking if str(names[a]) in forced}
    keep_codes = [a for a in ranking if a in chosen]
    return _ActivityCut(events=act_events, kept=keep_codes, covered=int(act_events[keep_codes].sum()),
                        dropped=tuple(str(names[a]) for a in ranking if a not in chosen))


def _arc_counts(names: np.ndarray, path_frame: pd.DataFrame, start_frame: pd.DataFrame,
                end_frame: pd.DataFrame) -> dict[tuple[str, str], int]:
    """Occurrences of every arc by name: paths, start arcs and end arcs."""
    arcs: dict[tuple[str, str], int] = {}
    for s, t, e in zip(path_frame["source"], path_frame["target"], path_frame["events"], strict=True):
        arcs[(str(names[s]), str(names[t]))] = int(e)
    for t, e in zip(start_frame["target"], start_frame["events"], strict=True):
        arcs[(START, str(names[t]))] = int(e)
    for s, e in zip(end_frame["source"], end_frame["events"], strict=True):
        arcs[(str(names[s]), END)] = int(e)
    return arcs


def _map_nodes(sub: EncodedLog, cut: _ActivityCut) -> tuple[MapNode, ...]:
    """The kept activities with their events (whole log), tickets and work times (``sub``)."""
    names = sub.activities
    span = int(sub.case.max()) + 1 if sub.n else 1
    node_cases = np.bincount(unique_ints(sub.act.astype(np.int64) * span + sub.case) // span,
                             minlength=len(names))  # tickets per activity: distinct (activity, ticket)
    work_median: dict[int, float] = {}
    work_mean: dict[int, float] = {}
    if sub.has_start:
        has = np.isfinite(sub.start)
        w = pd.DataFrame({"a": sub.act[has], "w": sub.ts[has] - sub.start[has]}).groupby("a")["w"]
        work_median = {int(k): float(v) for k, v in w.median().items()}
        work_mean = {int(k): float(v) for k, v in w.mean().items()}
    return tuple(
        MapNode(
            activity=str(names[a]),
            events=int(cut.events[a]),
            cases=int(node_cases[a]),
            work_median_s=work_median.get(a),
            work_mean_s=work_mean.get(a),
        )
        for a in cut.kept
    )


def _keep_paths(arcs: dict[tuple[str, str], int], paths: float, forced: set[tuple[str, str]],
                nodes: list[str]) -> set[tuple[str, str]]:
    """The most frequent arcs covering ``paths`` of the occurrences, ``forced``, and the
    widest paths that connect every node to the start and the end."""
    if paths >= 1.0:
        return set(arcs)
    arc_total = sum(arcs.values())
    kept: set[tuple[str, str]] = set()
    running = 0
    for arc, w in sorted(arcs.items(), key=lambda kv: (-kv[1], kv[0])):
        if kept and running >= paths * arc_total - 1e-9:
            break
        kept.add(arc)
        running += w
    kept |= {arc for arc in forced if arc in arcs}
    return connect(kept, arcs, nodes, source=START, sink=END)


def _map_edges(names: np.ndarray, frames: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame],
               kept: set[tuple[str, str]]) -> tuple[list[MapEdge], list[MapEdge], list[MapEdge]]:
    """The kept paths, start arcs and end arcs as edges, most frequent first."""
    path_frame, start_frame, end_frame = frames
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
    return edges, start_edges, end_edges


def _maps_at(log: EncodedLog, activities: float, path_levels: Sequence[float],
             keep: tuple[str | tuple[str, str], ...]) -> dict[tuple[float, float], ProcessMap]:
    """The maps at one ``activities`` level and every ``paths`` level."""
    names = log.activities
    forced_paths = {k for k in keep if isinstance(k, tuple)}
    forced = {k for k in keep if isinstance(k, str)} | {a for p in forced_paths for a in p}
    cut = _cut_activities(log, activities, forced)
    total = int(cut.events.sum())
    sub = log if not cut.dropped else log.subset(np.isin(log.act, cut.kept))
    frames = _dfg_arrays(sub)
    arcs = _arc_counts(names, *frames)
    arc_total = sum(arcs.values())
    nodes = _map_nodes(sub, cut)
    node_names = [str(names[a]) for a in cut.kept]
    out: dict[tuple[float, float], ProcessMap] = {}
    for paths in path_levels:
        kept = _keep_paths(arcs, paths, forced_paths, node_names)
        edges, start_edges, end_edges = _map_edges(names, frames, kept)
        out[(activities, paths)] = ProcessMap(
            nodes=nodes,
            edges=tuple(edges),
            start_edges=tuple(start_edges),
            end_edges=tuple(end_edges),
            tickets=len(log.cases),
            events=log.n,
            activity_coverage=cut.covered / total if total else 0.0,
            path_coverage=sum(arcs[a] for a in kept) / arc_total if arc_total else 1.0,
            activities=activities,
            paths=paths,
            dropped_activities=cut.dropped,
            dropped_paths=len(arcs) - len(kept),
        )
    return out
