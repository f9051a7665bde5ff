"""What a replay raised: alerts counted per SOP, and two SOPs' alerts on the same events matched.

:func:`summarise_alerts` counts one SOP's alerts per kind and per (kind, step);
:func:`diff_alerts` matches the alerts an SOP and its revision raised on the same
events (:class:`SopDifference`); :class:`ReplayResult` holds a whole replay
(:func:`csmine.monitoring.replay.replay`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from csmine.monitoring.monitors import ALERT_KINDS, Alert


@dataclass(frozen=True, slots=True)
class ReplaySummary:
    """What one SOP's monitors raised over a replay.

    Attributes:
        sop: SOP id.
        alerts: total alerts.
        tickets_alerted: tickets with at least one alert.
        by_kind: alerts per kind (every kind of :data:`~csmine.monitoring.monitors.ALERT_KINDS`, zeros included).
        by_step: ``{kind: {step: alerts}}``, steps by count then name.
    """

    sop: str
    alerts: int
    tickets_alerted: int
    by_kind: dict[str, int]
    by_step: dict[str, dict[str, int]]


@dataclass(frozen=True, slots=True)
class SopDifference:
    """Alerts of SOP A and SOP B on the same events, matched.

    Alerts are matched on (ticket, kind, step, n-th such alert of the ticket), so
    a breach that fires at a different time under the two SOPs still matches.

    Attributes:
        sop_a: id of A.  sop_b: id of B.
        both: matched alerts.
        only_a: ``{kind: count}`` of alerts only A raises.
        only_b: ``{kind: count}`` of alerts only B raises.
        only_a_by_step: ``{kind: {step: count}}`` for A.
        only_b_by_step: ``{kind: {step: count}}`` for B.
        alerts_only_a: the alerts only A raises, in firing order.
        alerts_only_b: the alerts only B raises.
    """

    sop_a: str
    sop_b: str
    both: int
    only_a: dict[str, int]
    only_b: dict[str, int]
    only_a_by_step: dict[str, dict[str, int]]
    only_b_by_step: dict[str, dict[str, int]]
    alerts_only_a: tuple[Alert, ...]
    alerts_only_b: tuple[Alert, ...]


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """A whole replay.

    Attributes:
        sops: ids of the SOPs replayed against (A first).
        events: steps replayed.  tickets: tickets seen.
        first: business time of the first item (ISO) or None.  last: of the last.
        alerts: every alert in firing order (all SOPs interleaved).
        summaries: one per SOP.
        difference: A against B when two SOPs were replayed, else None.
    """

    sops: tuple[str, ...]
    events: int
    tickets: int
    first: str | None
    last: str | None
    alerts: tuple[Alert, ...]
    summaries: tuple[ReplaySummary, ...]
    difference: SopDifference | None


def _by_step(alerts: Iterable[Alert]) -> dict[str, dict[str, int]]:
    counts: dict[str, Counter[str]] = {}
    for a in alerts:
        counts.setdefault(a.kind, Counter())[a.step] += 1
    return {k: dict(sorted(counts[k].items(), key=lambda kv: (-kv[1], kv[0]))) for k in ALERT_KINDS if k in counts}


def summarise_alerts(alerts: Sequence[Alert], sop: str) -> ReplaySummary:
    """Count one SOP's alerts per kind and per (kind, step)."""
    mine = [a for a in alerts if a.sop == sop]
    kinds = Counter(a.kind for a in mine)
    return ReplaySummary(sop, len(mine), len({a.ticket for a in mine}),
                         {k: kinds.get(k, 0) for k in ALERT_KINDS}, _by_step(mine))


def _keyed(alerts: Iterable[Alert]) -> dict[tuple[str, str, str, int], Alert]:
    counter: Counter[tuple[str, str, str]] = Counter()
    out = {}
    for a in alerts:
        base = (a.ticket, a.kind, a.step)
        out[(*base, counter[base])] = a
        counter[base] += 1
    return out


def diff_alerts(alerts: Sequence[Alert], sop_a: str, sop_b: str) -> SopDifference:
    """Match the alerts two SOPs raised on the same events (see :class:`SopDifference`)."""
    ka = _keyed(a for a in alerts if a.sop == sop_a)
    kb = _keyed(a for a in alerts if a.sop == sop_b)
    only_a = [ka[k] for k in ka if k not in kb]
    only_b = [kb[k] for k in kb if k not in ka]
    order = {id(a): i for i, a in enumerate(alerts)}
    only_a.sort(key=lambda a: order[id(a)])
    only_b.sort(key=lambda a: order[id(a)])
    ca, cb = Counter(a.kind for a in only_a), Counter(a.kind for a in only_b)
    return SopDifference(sop_a, sop_b, len(ka.keys() & kb.keys()),
                         {k: ca.get(k, 0) for k in ALERT_KINDS}, {k: cb.get(k, 0) for k in ALERT_KINDS},
                         _by_step(only_a), _by_step(only_b), tuple(only_a), tuple(only_b))


__all__ = [
    "ReplayResult",
    "ReplaySummary",
    "SopDifference",
    "diff_alerts",
    "summarise_alerts",
]
