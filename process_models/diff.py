"""What changed between two SOPs, step by step: ``csmine sop diff A B``.

For a designer comparing a draft with their edit, or two versions of an SOP
(``complaint`` and ``complaint-v2``). :func:`diff_sops` compares, in this order:

* the header: ``id``, ``title``, ``title_zh``, ``version``, ``description``;
* the flow as a whole (its one-line reading), then, per step, where it stands in it:
  required, optional, repeatable, one branch of a choice;
* the steps, in the order of the first SOP's flow, then the ones only the second has:
  added, removed, and for the others their Chinese label, role, description,
  off-flow mark, time limit and KPI roles;
* the service targets, the KPI roles, the aliases and ``closed_when``.

Two SOPs that read the same give no change (:attr:`SopDiff.identical`).
"""

from __future__ import annotations

from dataclasses import dataclass

from process_models.flow import Flow, flow_to_text, iter_flow_steps
from process_models.model import SOP, TimeLimit, format_duration, targets_to_dict


@dataclass(frozen=True, slots=True)
class SopChange:
    """One difference between two SOPs.

    Attributes:
        part: ``sop`` (a header key), ``flow``, ``step``, ``target``, ``role``,
            ``alias`` or ``closed_when``.
        subject: what in that part: the header key, ``flow``, the step, target, role or
            alias source name.
        change: ``added``, ``removed`` or what changed (``label_zh``, ``role``,
            ``description``, ``off_flow``, ``limit``, ``roles``, ``place``, ``value``).
        before: the first SOP's value in words (None when added).
        after: the second SOP's value in words (None when removed).
    """

    part: str
    subject: str
    change: str
    before: str | None
    after: str | None

    def describe(self) -> str:
        """One line: ``step 'Handle': limit 24 h after Classify → 8 h after Classify``."""
        name = f"{self.part} {self.subject!r}" if self.part not in ("flow", "sop") else (
            "flow" if self.part == "flow" else self.subject)
        if self.change == "added":
            return f"{name}: added" + (f" ({self.after})" if self.after else "")
        if self.change == "removed":
            return f"{name}: removed" + (f" (was {self.before})" if self.before else "")
        what = "" if self.change in ("value", "flow") or self.part == "sop" else f"{self.change} "
        return f"{name}: {what}{self.before or '-'} → {self.after or '-'}"


@dataclass(frozen=True, slots=True)
class SopDiff:
    """The differences from SOP ``a`` to SOP ``b``.

    Attributes:
        a: the first SOP's id and version (``complaint v1``).
        b: the second's.
        changes: every difference, in the order of the module docstring.
    """

    a: str
    b: str
    changes: tuple[SopChange, ...]

    @property
    def identical(self) -> bool:
        """No difference at all."""
        return not self.changes


def _limit_text(limit: TimeLimit | None) -> str | None:
    if limit is None:
        return None
    clock = ", business hours" if limit.business_hours else ""
    return f"{format_duration(limit.within)} after {limit.since}{clock}"


def _places(flow: Flow) -> dict[str, str]:
    """Each step's place in the flow in words (steps that occur twice: their places joined)."""
    out: dict[str, list[str]] = {}

    def walk(node: Flow, optional: bool, repeat: bool, choice: bool) -> None:
        if node is None:
            return
        if isinstance(node, str):
            words = [w for w, on in (("optional", optional), ("repeatable", repeat),
                                     ("one branch of a choice", choice and not optional)) if on]
            out.setdefault(node, []).append(", ".join(words) or "required")
            return
        kids = node.children
        if node.operator == "xor":
            silent = any(k is None for k in kids)
            branches = [k for k in kids if k is not None]
            for k in branches:
                walk(k, optional or silent, repeat, choice or len(branches) > 1)
        elif node.operator == "loop":
            walk(kids[0], optional, True, choice)
            if len(kids) > 1:
                walk(kids[1], True, True, choice)
        else:
            for child in kids:
                walk(child, optional, repeat, choice)

    walk(flow, False, False, False)
    return {step: "; ".join(dict.fromkeys(places)) for step, places in out.items()}


def _kpi_roles(sop: SOP) -> dict[str, str]:
    by_step: dict[str, list[str]] = {}
    for role, steps in sop.roles.items():
        for s in steps:
            by_step.setdefault(s, []).append(role)
    return {s: ", ".join(sorted(r)) for s, r in by_step.items()}


def _header(a: SOP, b: SOP) -> list[SopChange]:
    out = []
    for key in ("id", "title", "title_zh", "version", "description"):
        va, vb = getattr(a, key), getattr(b, key)
        if va != vb:
            out.append(SopChange("sop", key, "value", repr(va) if va else None, repr(vb) if vb else None))
    return out


def _flow(a: SOP, b: SOP) -> list[SopChange]:
    if a.flow == b.flow:
        return []
    out = [SopChange("flow", "flow", "flow", flow_to_text(a.flow), flow_to_text(b.flow))]
    pa, pb = _places(a.flow), _places(b.flow)
    for step in dict.fromkeys([*pa, *pb]):
        if step in pa and step in pb and pa[step] != pb[step]:
            out.append(SopChange("step", step, "place", pa[step], pb[step]))
    return out


def _steps(a: SOP, b: SOP) -> list[SopChange]:
    out: list[SopChange] = []
    names_a = {s.name for s in a.steps}
    names_b = {s.name for s in b.steps}
    order = list(dict.fromkeys([*iter_flow_steps(a.flow), *(s.name for s in a.steps),
                                *iter_flow_steps(b.flow), *(s.name for s in b.steps)]))
    roles_a, roles_b = _kpi_roles(a), _kpi_roles(b)
    for name in order:
        if name not in names_b:
            out.append(SopChange("step", name, "removed", f"role {a.step(name).role}", None))
            continue
        if name not in names_a:
            out.append(SopChange("step", name, "added", None, f"role {b.step(name).role}"))
            continue
        sa, sb = a.step(name), b.step(name)
        for key in ("label_zh", "role", "description"):
            va, vb = getattr(sa, key), getattr(sb, key)
            if va != vb:
                out.append(SopChange("step", name, key, va or None, vb or None))
        if sa.off_flow != sb.off_flow:
            out.append(SopChange("step", name, "off_flow", str(sa.off_flow).lower(), str(sb.off_flow).lower()))
        if _limit_text(sa.limit) != _limit_text(sb.limit):
            out.append(SopChange("step", name, "limit", _limit_text(sa.limit), _limit_text(sb.limit)))
        if roles_a.get(name) != roles_b.get(name):
            out.append(SopChange("step", name, "roles", roles_a.get(name), roles_b.get(name)))
    return out


def _tables(a: SOP, b: SOP) -> list[SopChange]:
    out: list[SopChange] = []
    ta, tb = targets_to_dict(a.targets), targets_to_dict(b.targets)
    for key in dict.fromkeys([*ta, *tb]):
        if ta.get(key) != tb.get(key):
            before = None if ta.get(key) is None else str(ta[key])
            after = None if tb.get(key) is None else str(tb[key])
            change = "added" if before is None else "removed" if after is None else "value"
            out.append(SopChange("target", key, change, before, after))
    for role in dict.fromkeys([*a.roles, *b.roles]):
        ra, rb = a.roles.get(role, ()), b.roles.get(role, ())
        if tuple(ra) != tuple(rb):
            out.append(SopChange("role", role, "value", ", ".join(ra) or None, ", ".join(rb) or None))
    for source in dict.fromkeys([*a.aliases, *b.aliases]):
        va, vb = a.aliases.get(source), b.aliases.get(source)
        if va != vb:
            change = "added" if va is None else "removed" if vb is None else "value"
            out.append(SopChange("alias", source, change, va, vb))
    if tuple(a.closed_when) != tuple(b.closed_when):
        out.append(SopChange("closed_when", "closed_when", "value", ", ".join(a.closed_when) or None,
                             ", ".join(b.closed_when) or None))
    return out


def diff_sops(a: SOP, b: SOP) -> SopDiff:
    """The differences from ``a`` to ``b`` (see the module docstring)."""
    changes = [*_header(a, b), *_flow(a, b), *_steps(a, b), *_tables(a, b)]
    return SopDiff(f"{a.id} v{a.version}", f"{b.id} v{b.version}", tuple(changes))


__all__ = ["SopChange", "SopDiff", "diff_sops"]
