"""``csmine kpi`` as text: the service KPIs against their targets, SLA per priority, satisfaction."""

from __future__ import annotations

from typing import TYPE_CHECKING

from csmine.formatting import human_duration as hd
from csmine.formatting import human_share as hs
from csmine.reports.text.blocks import Block, Para, Text, table

if TYPE_CHECKING:
    from csmine.performance.summary import Kpi, KpiReport


def value_text(k: Kpi) -> str:
    """A KPI's value in words: ``median 2h 10m``, ``87.5%``, ``4.2``, ``1,234``."""
    if k.value is None:
        return "-"
    if k.unit == "seconds":
        return f"median {hd(k.value)}"
    if k.unit == "share":
        return hs(k.value)
    if k.unit == "points":
        return f"{k.value:.1f}"
    if k.unit == "tickets":
        return f"{k.value:,.0f}"
    return f"{k.value:.2f}"


def target_text(k: Kpi) -> str:
    """A KPI's target: ``≤ 4h``, ``≥ 90%`` (``≤`` for the reopen rate), or empty."""
    if k.target is None:
        return ""
    if k.unit == "seconds":
        return f"≤ {hd(k.target)}"
    if k.unit == "share":
        return f"≥ {hs(k.target, 0)}" if k.name != "reopen_rate" else f"≤ {hs(k.target, 0)}"
    return f"≥ {k.target:g}"


def _detail(k: Kpi) -> str:
    detail = []
    if k.unit == "seconds" and k.value is not None:
        detail.append(f"P90 {hd(k.p90_s)}, mean {hd(k.mean_s)}")
        if k.within_target is not None:
            detail.append(f"{hs(k.within_target)} within target")
    if k.name == "backlog" and k.value is not None:
        detail.append(k.note + (f"; median age {hd(k.median_s)}" if k.median_s is not None else ""))
    if k.value is None or not detail:
        detail.append(k.note)
    return "; ".join(d for d in detail if d)


def render_kpis(r: KpiReport) -> Text:
    """The KPI table, SLA attainment per priority (when measured) and the satisfaction scores."""
    blocks: list[Block] = [Para(f"KPIs: {r.tickets:,} tickets; SOP {r.sop or '-'}; {r.calendar or 'wall clock'}"),
                           Para(r.status.describe() if r.status is not None else "")]
    rows = [[k.label, value_text(k), target_text(k), "-" if k.met is None else ("yes" if k.met else "NO"),
             f"{k.n:,}", _detail(k)] for k in r.kpis]
    blocks.append(table(["KPI", "value", "target", "met", "tickets", "detail"], rows, title="Service KPIs",
                        left=(0, 5)))
    if any(s.measured for s in r.sla_by_priority):
        blocks.append(table(
            ["priority", "tickets", "measured", "SLA met", "first response in target", "resolution in target",
             "limit breaches"],
            [[s.priority, f"{s.tickets:,}", f"{s.measured:,}", hs(s.attainment), hs(s.first_response_within),
              hs(s.resolution_within), f"{s.breaches:,}"] for s in r.sla_by_priority],
            title="SLA attainment per priority"))
    if r.satisfaction_distribution:
        total = sum(r.satisfaction_distribution.values()) or 1
        blocks.append(table(["score", "tickets", "share"],
                            [[b, f"{n:,}", hs(n / total)] for b, n in r.satisfaction_distribution.items()],
                            title="Satisfaction distribution"))
    return Text(tuple(blocks), tuple(f"note: {note}" for note in r.notes))
