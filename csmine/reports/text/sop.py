"""``csmine sop list``, ``show``, ``validate`` and ``diff`` as text (and the plain data of their ``--json``):
the shipped SOPs, one SOP in full, a file's issues, what changed between two SOPs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from csmine.reports.text.blocks import Block, Para, Text, table

if TYPE_CHECKING:
    from process_models import SOP, ValidationIssue
    from process_models.diff import SopDiff


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


def sop_list_data(sops: list[SOP]) -> list[dict[str, Any]]:
    """``csmine sop list --json``: one object per SOP (id, titles, version, steps, flow steps, fingerprint)."""
    return [{"id": s.id, "title": s.title, "title_zh": s.title_zh, "version": s.version, "steps": len(s.steps),
             "flow_steps": list(s.flow_steps), "fingerprint": s.fingerprint} for s in sops]


def render_validation(file: str, issues: list[ValidationIssue]) -> Text:
    """``csmine sop validate``: each issue as ``file:line: severity: message``, then OK when no errors."""
    lines = [issue.format(file) for issue in issues]
    if not any(i.severity == "error" for i in issues):
        lines.append(f"{file}: OK" + (f" ({len(issues)} warnings)" if issues else ""))
    return Text(tuple(lines))


def validation_data(file: str, issues: list[ValidationIssue]) -> dict[str, Any]:
    """``csmine sop validate --json``: the verdict, the counts and every issue."""
    errors = sum(1 for i in issues if i.severity == "error")
    return {"file": file, "valid": not errors, "errors": errors, "warnings": len(issues) - errors,
            "issues": [{"severity": i.severity, "line": i.line, "step": i.step, "message": i.message}
                       for i in issues]}


def render_sop_diff(diff: SopDiff) -> Text:
    """``csmine sop diff``: the two SOPs, one line per change, the count."""
    n = len(diff.changes)
    return Text((f"{diff.a} → {diff.b}", *[f"  {change.describe()}" for change in diff.changes],
                 "no differences" if not n else f"{n} change{'s' if n != 1 else ''}"))


def sop_diff_data(diff: SopDiff) -> dict[str, Any]:
    """``csmine sop diff --json``."""
    import dataclasses

    return {"a": diff.a, "b": diff.b, "identical": diff.identical,
            "changes": [dataclasses.asdict(c) for c in diff.changes]}
