"""``csmine sop list`` and ``csmine sop show`` as text: the shipped SOPs, one SOP in full."""

from __future__ import annotations

from typing import TYPE_CHECKING

from csmine.reports.text.blocks import Block, Para, Text, table

if TYPE_CHECKING:
    from process_models import SOP


def render_sop_list(sops: list[SOP]) -> Text:
    """One row per SOP: name, titles, version, number of steps."""
    return Text((table(("name", "title", "标题", "version", "steps"),
                       [(s.id, s.title, s.title_zh, s.version, len(s.steps)) for s in sops],
                       title="Shipped SOPs", right=(3, 4)),))


def render_sop(sop: SOP) -> Text:
    """The SOP's title, description and flow; its steps (labels, roles, limits, KPI roles),
    targets and aliases."""
    from process_models.model import flow_to_text, format_duration, targets_to_dict

    blocks: list[Block] = [Para(f"{f'{sop.title}  {sop.title_zh}'.strip()}  (id {sop.id}, version {sop.version})")]
    if sop.description:
        blocks.append(Para(sop.description))
    blocks += [Para(""), Para(f"Flow: {flow_to_text(sop.flow)}"), Para("")]
    kpi: dict[str, list[str]] = {}
    for role, names in sop.roles.items():
        for n in names:
            kpi.setdefault(n, []).append(role)
    rows = []
    for s in sop.steps:
        limit = ""
        if s.limit is not None:
            clock = ", business hours" if s.limit.business_hours else ""
            limit = f"{format_duration(s.limit.within)} after {s.limit.since}{clock}"
        rows.append((s.name + (" (off the flow)" if s.off_flow else ""), s.label_zh, s.role, limit,
                     ", ".join(kpi.get(s.name, []))))
    blocks.append(table(("step", "中文", "role", "time limit", "KPI roles"), rows, title="Steps", right=()))
    blocks.append(table(("target", "value"), list(targets_to_dict(sop.targets).items()), title="Targets"))
    if sop.aliases:
        blocks.append(table(("source activity", "step"), list(sop.aliases.items()), title="Aliases", right=()))
    return Text(tuple(blocks))
