"""``csmine why`` as text: the finding in words first, then the contributors' table."""

from __future__ import annotations

from typing import TYPE_CHECKING

from csmine.formatting import human_share
from csmine.reports.text.blocks import Block, Para, Text, table

if TYPE_CHECKING:
    from csmine.explain.results import Contributor
    from csmine.explain.why import WhyReport

#: The two lists of contributors: who and when (ticket attributes, context), then how.
_HOW = ("path", "load", "agent")


def _lift(value: float | None, lo: float | None, hi: float | None) -> str:
    from csmine.explain.results import lift_texts

    if value is None:
        return "only these"
    v, lo_t, hi_t = lift_texts(value, lo, hi)
    return f"{v} ({lo_t}–{hi_t})"


def contributor_row(n: int, c: Contributor) -> list[str]:
    """One row of the contributors' table."""
    adjusted = "-" if c.adjusted_lift is None else _lift(c.adjusted_lift, *c.adjusted_ci)
    if not c.adjusted_for:
        adjusted = "not adjusted"
    return [str(n), c.attribute, c.value, f"{c.support:,}", human_share(c.share_in), human_share(c.share_out),
            _lift(c.lift, *c.lift_ci), adjusted, f"{c.q_value:.2g}"]


def render_why(r: WhyReport) -> Text:
    """The report in words first (each contributor's sentence, its what-if, what it explains),
    then the table; the method in the notes."""
    from csmine.explain.results import listed_with
    from csmine.explain.results import describe_group

    blocks: list[Block] = []
    head = (f"{r.with_outcome:,} of {r.tickets:,} {r.population} ({human_share(r.share)}) {r.label}. "
            f"{r.tested:,} groups tested, {r.discoveries:,} survive the false-discovery control at {r.alpha:.0%}")
    blocks.append(Para(head + (f"; listed: the {len(r.contributors)} that each add to those before them."
                               if r.contributors else "; none is listed.")))
    if not r.contributors:
        blocks.append("No group of tickets has this outcome significantly more often.")
    sections = (("Who and when", lambda c: c.kind not in _HOW),
                ("How: agents, path, queue at arrival", lambda c: c.kind in _HOW))
    rows = []
    n = 0
    for title, keep in sections:
        items = [(c, w) for c, w in zip(r.contributors, r.what_if, strict=True) if keep(c)]
        if not items:
            continue
        blocks.append(title)
        for c, w in items:
            n += 1
            blocks.append(Para(c.words, bold=f"{n}. "))
            if w is not None:
                blocks.append(Para("   " + w.words(describe_group(c.attribute, c.value))))
            also = listed_with(c)
            if also:
                blocks.append(Para(f"   Listed with it: {also}."))
            rows.append(contributor_row(n, c))
    if rows:
        blocks.append(table(["#", "attribute", "value", "tickets", "share in", "share out", "lift (95% CI)",
                             "adjusted (95% CI)", "q"], rows, title="Contributors", left=(1, 2)))
    adjusted = " x ".join(r.adjusted_for) if r.adjusted_for else "nothing"
    notes = [f"note: {x}" for x in r.notes]
    notes.append(f"note: lift: crude risk ratio, 95% CI Katz (log); adjusted: Mantel-Haenszel risk ratio over "
                 f"{adjusted}, 95% CI Greenland-Robins. The test is about the adjusted lift (the crude one where "
                 f"a group is made of the adjustment's attributes): one-sided, exact stratified for small counts, "
                 f"else Cochran-Mantel-Haenszel; q: Benjamini-Hochberg over the {r.tested:,} tested at "
                 f"{r.alpha:.0%}. A group is listed only with q <= {r.alpha:g} and the tested lift's 95% CI "
                 f"above 1; at least {r.min_support} tickets inside and outside")
    return Text(tuple(blocks), tuple(notes))
