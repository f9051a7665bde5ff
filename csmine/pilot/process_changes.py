"""How the process itself changed between two sets of tickets: paths, variants, bottlenecks.

The parts of :func:`csmine.pilot.compare.compare_logs` that need no SOP: the process
map of B against A path by path (:func:`compare_maps`), the variants that appeared
or vanished (:func:`compare_variants`), and the bottlenecks that moved in rank
(:func:`compare_bottlenecks`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from csmine.mining.maps import ProcessMap


@dataclass(frozen=True, slots=True)
class PathChange:
    """One path of the process map on both sides.

    Attributes:
        source: activity before (``(start)`` for start arcs).  target: activity after.
        cases_a: tickets taking the path in A.  cases_b: in B.
        share_a: ``cases_a / tickets of A`` (0-1).  share_b: likewise.
        share_change_pp: ``100 * (share_b - share_a)``, percentage points.
        wait_median_a_s: median waiting time on the path in A (None for start/end
            arcs or when absent).  wait_median_b_s: in B.
        wait_change: ``wait_median_b_s / wait_median_a_s - 1`` (None when undefined).
        status: ``new`` (only in B), ``gone`` (only in A) or ``both``.
    """

    source: str
    target: str
    cases_a: int
    cases_b: int
    share_a: float
    share_b: float
    share_change_pp: float
    wait_median_a_s: float | None
    wait_median_b_s: float | None
    wait_change: float | None
    status: str


@dataclass(frozen=True, slots=True)
class VariantChange:
    """A variant seen on one side only.

    Attributes:
        activities: the activity sequence.
        tickets: tickets following it on the side where it is seen.
        share: their share of that side's tickets (0-1).
    """

    activities: tuple[str, ...]
    tickets: int
    share: float


@dataclass(frozen=True, slots=True)
class BottleneckMove:
    """A bottleneck's rank on each side (1 = worst).

    Attributes:
        kind: bottleneck kind (as :func:`csmine.performance.bottlenecks.find_bottlenecks` names it).
        where: the step or path.
        rank_a: rank in A (None: not among A's bottlenecks).  rank_b: in B.
        impact_a_s: its impact per ticket of A, seconds (``mean_impact_s`` of the
            bottleneck report: time saved per ticket if every slower-than-median
            occurrence took the median time), so sides of different size compare.
        impact_b_s: the same in B.
        movement: ``new``, ``gone``, ``up N`` (worse: N places higher), ``down N`` or ``same``.
    """

    kind: str
    where: str
    rank_a: int | None
    rank_b: int | None
    impact_a_s: float | None
    impact_b_s: float | None
    movement: str


def compare_maps(map_a: ProcessMap, map_b: ProcessMap) -> list[PathChange]:
    """Every path of either map with its share and median wait on both sides,
    largest absolute share change first (ties: by path)."""
    ea = {e.key: e for e in map_a.all_edges()}
    eb = {e.key: e for e in map_b.all_edges()}
    out = []
    for key in set(ea) | set(eb):
        a, b = ea.get(key), eb.get(key)
        sa = a.cases / map_a.tickets if a and map_a.tickets else 0.0
        sb = b.cases / map_b.tickets if b and map_b.tickets else 0.0
        wa = a.median_s if a else None
        wb = b.median_s if b else None
        change = (wb / wa - 1.0) if wa and wb is not None else None
        out.append(PathChange(key[0], key[1], a.cases if a else 0, b.cases if b else 0, sa, sb, 100.0 * (sb - sa),
                              wa, wb, change, "both" if a and b else ("new" if b else "gone")))
    out.sort(key=lambda p: (-abs(p.share_change_pp), p.source, p.target))
    return out


def compare_variants(df_a: pd.DataFrame, df_b: pd.DataFrame, *, top: int = 10
                     ) -> tuple[list[VariantChange], int, float, list[VariantChange], int, float]:
    """Variants only in B (appeared) and only in A (vanished).

    Returns:
        ``(appeared[:top], appeared_total, share of B's tickets on appeared variants,
        vanished[:top], vanished_total, share of A's tickets on vanished variants)``.
    """
    from csmine.mining.variants import discover_variants

    va = {v.activities: v for v in discover_variants(df_a)}
    vb = {v.activities: v for v in discover_variants(df_b)}
    appeared = [VariantChange(k, v.tickets, v.share) for k, v in vb.items() if k not in va]
    vanished = [VariantChange(k, v.tickets, v.share) for k, v in va.items() if k not in vb]
    appeared.sort(key=lambda v: (-v.tickets, v.activities))
    vanished.sort(key=lambda v: (-v.tickets, v.activities))
    return (appeared[:top], len(appeared), float(sum(v.share for v in appeared)),
            vanished[:top], len(vanished), float(sum(v.share for v in vanished)))


def _where(value: Any) -> str:
    if isinstance(value, tuple | list):
        return " → ".join(str(v) for v in value)
    return str(value)


def _ranked(report: Any, top: int) -> dict[tuple[str, str], tuple[int, float | None]]:
    """(kind, where) -> (rank, impact per ticket) of a report's top bottlenecks."""
    out: dict[tuple[str, str], tuple[int, float | None]] = {}
    for i, b in enumerate(getattr(report, "bottlenecks", ())[:top], start=1):
        key = (str(b.kind), _where(b.where))
        if key not in out:
            impact = getattr(b, "mean_impact_s", getattr(b, "impact_s", None))
            out[key] = (int(getattr(b, "rank", i)), None if impact is None else float(impact))
    return out


def compare_bottlenecks(report_a: Any, report_b: Any, *, top: int = 10) -> list[BottleneckMove]:
    """Ranks of the top bottlenecks of either side (see :class:`BottleneckMove`)."""
    ra, rb = _ranked(report_a, top), _ranked(report_b, top)
    moves = []
    for key in list(rb) + [k for k in ra if k not in rb]:
        a, b = ra.get(key), rb.get(key)
        if a is None:
            movement = "new"
        elif b is None:
            movement = "gone"
        elif b[0] < a[0]:
            movement = f"up {a[0] - b[0]}"
        elif b[0] > a[0]:
            movement = f"down {b[0] - a[0]}"
        else:
            movement = "same"
        moves.append(BottleneckMove(key[0], key[1], a[0] if a else None, b[0] if b else None,
                                    a[1] if a else None, b[1] if b else None, movement))
    return moves


__all__ = [
    "BottleneckMove",
    "PathChange",
    "VariantChange",
    "compare_bottlenecks",
    "compare_maps",
    "compare_variants",
]
