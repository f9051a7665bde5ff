"""``csmine sop draft`` as text: what was drafted, from which tickets, what it covers and leaves out."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from csmine.mining.draft import SopDraft


def _pct(a: int, b: int) -> str:
    return f"{100 * a / b:.1f}%" if b else "-"


def render_draft_summary(d: SopDraft, out: str | None) -> str:
    """The draft's summary lines (stderr when the draft itself goes to stdout): the SOP, the
    tickets and their close steps, the flow, its coverage, what it left out, its figures, next step."""
    from process_models.flow import flow_to_text

    closed = "ending in " + " or ".join(d.close_steps) if d.close_steps else "no closing step found: all count"
    left = ""
    if d.left_out:
        left = "; activities " + ", ".join(
            f"{x.activity} ({x.events:,} events, {_pct(x.tickets, d.tickets)} of tickets)" for x in d.left_out[:6]
        ) + (f" and {len(d.left_out) - 6} more" if len(d.left_out) > 6 else "")
    lines = [
        (f"wrote {out}: " if out else "") + f"SOP {d.sop.id!r}, {len(d.sop.steps)} steps, "
        f"{len(d.limits)} proposed limits",
        f"  tickets: {d.tickets:,} ({d.closed_tickets:,} closed: {closed})",
        f"  flow: {flow_to_text(d.sop.flow)}",
        f"  covers: {d.kept_variants:,} of {d.variants:,} variants, {d.kept_tickets:,} of {d.closed_tickets:,} "
        f"closed tickets ({_pct(d.kept_tickets, d.closed_tickets)}; --coverage {d.coverage:g})",
        f"  left out: {d.left_out_tickets:,} closed tickets ({_pct(d.left_out_tickets, d.closed_tickets)}) in other "
        "variants" + left,
    ]
    if d.fitness is not None:
        lines.append(f"  fitness {d.fitness:.3f}, precision {(d.precision or 0):.3f} on the {d.tickets:,} tickets "
                     "(alignments, as `csmine conform` computes them)")
    lines.append(f"  next: edit the roles, limits (PROPOSAL) and targets (TO FILL IN) in {out or 'the file'}, then "
                 f"`csmine report --sop {out or 'FILE'}`")
    return "\n".join(lines)
