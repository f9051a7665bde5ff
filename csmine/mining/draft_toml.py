"""The drafted SOP as a commented TOML file: what ``csmine sop draft --out`` writes.

``parse_sop_text`` reads it back as the SOP; the comments say where each proposal came
from (the observed P80 of a limit, the team doing most of a step) and mark the targets
to fill in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from process_models.flow import flow_to_list
from process_models.model import format_duration
from process_models.toml_format import flow_lines as toml_flow_lines

if TYPE_CHECKING:
    from csmine.mining.draft import LeftOut
    from csmine.mining.draft_roles import ProposedLimit, StepProfile
    from process_models import SOP


@dataclass(frozen=True, slots=True)
class DraftSummary:
    """What the draft's header comments say about the tickets it came from."""

    tickets: int
    closed: int
    close: tuple[str, ...]
    close_source: str
    variants: int
    kept_variants: int
    kept_tickets: int
    coverage: float
    left: tuple[LeftOut, ...]
    left_tickets: int
    noise: float
    fitness: float | None
    precision: float | None
    notes: tuple[str, ...]


def _q(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%" if x >= 0.1 else f"{100 * x:.1f}%"


def _dur(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    return format_duration(timedelta(seconds=round(seconds / 60) * 60))


def render_draft(sop: SOP, s: DraftSummary, profiles: dict[str, StepProfile], limits: list[ProposedLimit]) -> str:
    """The drafted SOP as a commented TOML file (``parse_sop_text`` reads it back as ``sop``)."""
    lines = _header(s) + _top_keys(sop) + _targets()
    for step in sop.steps:
        p = profiles[step.name]
        lines += ["", "[[steps]]", f"name = {_q(step.name)}", f"role = {_q(step.role)}" + _who(p)]
    for lim in limits:
        lines += [
            "", "[[limits]]", f"step = {_q(lim.step)}",
            f"within = {_q(format_duration(lim.within))}  # PROPOSAL: observed P80 {_dur(lim.p80_s)} (rounded up; "
            f"median {_dur(lim.median_s)}) over {lim.tickets:,} tickets: set your own",
            f"since = {_q(lim.since)}",
        ]
    return "\n".join(lines + _roles(sop)) + "\n"


def _header(s: DraftSummary) -> list[str]:
    """The comments on top: the tickets, what the flow covers and leaves out, its figures, the miner's notes."""
    lines = [
        f"# SOP drafted by `csmine sop draft` from {s.tickets:,} tickets ({s.closed:,} closed): a starting",
        "# point to edit. Step names are the log's own; map other names onto them with [aliases].",
        f"# Closed tickets: those ending in {' or '.join(s.close) or '(no closing step found: all tickets)'}"
        f" ({s.close_source}).",
        f"# The flow covers the variants of {_pct(s.kept_tickets / max(s.closed, 1))} of the closed tickets "
        f"({s.kept_variants:,} of {s.variants:,} variants; --coverage {s.coverage:g}); "
        f"{s.left_tickets:,} closed tickets follow other variants.",
    ]
    if s.left:
        shown = ", ".join(f"{x.activity} ({x.events:,} event{'s' if x.events != 1 else ''})" for x in s.left[:8])
        more = f" and {len(s.left) - 8} more" if len(s.left) > 8 else ""
        lines.append(f"# Left out of the flow (deviations when they happen): {shown}{more}.")
    if s.fitness is not None:
        lines.append(f"# On the tickets it came from: alignment fitness {s.fitness:.3f}, precision "
                     f"{(s.precision or 0):.3f} (as `csmine conform` computes them).")
    lines.append(f"# Discovery: narrow inductive miner (seq, choice, optional, loop; noise {s.noise:g}).")
    return lines + [f"# - {note}" for note in s.notes]


def _top_keys(sop: SOP) -> list[str]:
    """id, title, version, description, the flow and closed_when."""
    lines = [
        f"id = {_q(sop.id)}",
        f"title = {_q(sop.title)}",
        f"version = {_q(sop.version)}",
        f"description = {_q('Drafted from the recorded tickets; edit the flow, roles, limits and targets.')}",
        "",
    ]
    flow_lines = toml_flow_lines(flow_to_list(sop.flow))
    lines.append("flow = " + flow_lines[0])
    lines.extend(flow_lines[1:])
    if sop.closed_when:
        lines.append(f"closed_when = [{', '.join(_q(c) for c in sop.closed_when)}]")
    return lines


def _targets() -> list[str]:
    """The targets table, left to fill in."""
    return [
        "",
        "[targets]",
        "# TO FILL IN: the service targets are yours to set (until then csmine's defaults apply:",
        "# first response 30 min, resolution rate 0.98, satisfaction 90).",
        "# first_response = \"30 min\"",
        "# resolution_rate = 0.98",
        "# satisfaction = 90",
        "# resolution_time = \"5 d\"",
    ]


#: Why the draft proposes each KPI role (a comment beside it).
_ROLE_REASONS = {
    "first_response": "the step most tickets take second",
    "resolution": "the first closing state of a ticket, or the step that nearly always leads to it",
    "close": "the steps tickets end with",
    "waiting": "PROPOSAL from the names: waits on the customer (clocks pause); check it",
}


def _roles(sop: SOP) -> list[str]:
    """The roles table, each role with why it was proposed."""
    if not sop.roles:
        return []
    lines = ["", "[roles]"]
    for role, names in sop.roles.items():
        why = f"  # {_ROLE_REASONS[role]}" if role in _ROLE_REASONS else ""
        lines.append(f"{role} = [{', '.join(_q(n) for n in names)}]" + why)
    return lines


def _who(p: StepProfile) -> str:
    if not p.performers:
        return "  # no team or resource recorded for this step"
    others = ", ".join(f"{k} {_pct(v)}" for k, v in p.performers)
    return f"  # the {p.source} doing most of its {p.events:,} events: {others}"


__all__ = ["DraftSummary", "render_draft"]
