"""``csmine replay`` as text: an alert per line, the summary per kind and step, the
difference a revised SOP makes; and ``replay --rebuild``'s check of the read model."""

from __future__ import annotations

from datetime import tzinfo
from typing import TYPE_CHECKING

from csmine.reports.text.blocks import Block, Text, table

if TYPE_CHECKING:
    from csmine.monitoring.monitors import Alert
    from csmine.monitoring.rebuild import RebuildReport
    from csmine.monitoring.replayer import Replayer
    from csmine.monitoring.summary import ReplaySummary, SopDifference


def alert_line(alert: Alert, tz: tzinfo, tags: dict[str, str] | None) -> str:
    """One alert as it fires: time, SOP tag (A/B when two are replayed), ticket, kind, step, detail."""
    when = alert.time.astimezone(tz).strftime("%Y-%m-%d %H:%M")
    tag = f"{tags[alert.sop]:<3} " if tags else ""
    return f"{when}  {tag}{alert.ticket:<14} {alert.kind:<12} {alert.step:<20} {alert.detail}"


def render_replay_summary(replayer: Replayer, summaries: list[ReplaySummary], difference: SopDifference | None,
                          tz: tzinfo, tags: dict[str, str] | None, filter_text: str) -> Text:
    """What was replayed, alerts per kind and per step for each SOP, and what the revision changes."""
    from csmine.monitoring.monitors import ALERT_KINDS

    first = replayer.first.astimezone(tz).strftime("%Y-%m-%d %H:%M") if replayer.first else "-"
    last = replayer.last.astimezone(tz).strftime("%Y-%m-%d %H:%M") if replayer.last else "-"
    blocks: list[Block] = ["", f"replayed {replayer.events:,} events of {replayer.tickets:,} tickets ({filter_text}), "
                               f"{first} → {last}"]
    names = [s.sop + (f" ({tags[s.sop]})" if tags else "") for s in summaries]
    rows = [(k, *[f"{s.by_kind[k]:,}" for s in summaries]) for k in ALERT_KINDS]
    rows.append(("all alerts", *[f"{s.alerts:,}" for s in summaries]))
    rows.append(("tickets alerted", *[f"{s.tickets_alerted:,}" for s in summaries]))
    blocks.append(table(("alerts", *names), rows, title="Alerts per kind", right=range(1, len(names) + 1)))
    steps: dict[tuple[str, str], list[int]] = {}
    for i, s in enumerate(summaries):
        for kind, per_step in s.by_step.items():
            for step, n in per_step.items():
                steps.setdefault((kind, step), [0] * len(summaries))[i] = n
    if steps:
        order = sorted(steps, key=lambda k: (ALERT_KINDS.index(k[0]), -max(steps[k]), k[1]))
        blocks.append(table(("kind", "step", *names), [(k, st, *[f"{n:,}" for n in steps[(k, st)]])
                                                       for k, st in order],
                            title="Alerts per step", right=range(2, len(names) + 2)))
    if difference is not None:
        blocks += _difference(difference)
    return Text(tuple(blocks))


def _difference(difference: SopDifference) -> list[Block]:
    from csmine.monitoring.monitors import ALERT_KINDS

    rows = []
    for kind in ALERT_KINDS:
        a_steps = difference.only_a_by_step.get(kind, {})
        b_steps = difference.only_b_by_step.get(kind, {})
        for step in sorted(set(a_steps) | set(b_steps)):
            rows.append((kind, step, f"{a_steps.get(step, 0):,}", f"{b_steps.get(step, 0):,}"))
    blocks: list[Block] = [
        f"{difference.sop_a} (A) against {difference.sop_b} (B): {difference.both:,} alerts in both, "
        f"{sum(difference.only_a.values()):,} only in A, {sum(difference.only_b.values()):,} only in B"]
    if rows:
        blocks.append(table(("kind", "step", "only in A", "only in B"), rows, title="What the revision changes",
                            right=(2, 3)))
    return blocks


def render_rebuild(report: RebuildReport) -> Text:
    """Each read-model table before and after the rebuild, the keys that differ, the verdict."""
    rows = [(t.table, f"{t.rows_before:,}", f"{t.rows_after:,}", t.digest_before[:16], t.digest_after[:16],
             "match" if t.match else f"{t.mismatches:,} rows differ") for t in report.tables]
    notes = [f"{t.table}: {label}: {', '.join(keys)}" for t in report.tables
             for label, keys in (("missing after rebuild", t.missing), ("only after rebuild", t.added),
                                 ("changed", t.changed)) if keys]
    return Text((
        table(("table", "rows before", "rows after", "digest before", "digest after", "check"), rows,
              title=f"Read model rebuilt from {report.notifications:,} stored events", right=(1, 2)),
        "read model matches the event log" if report.match else "MISMATCH: the read model did not match the event log",
    ), tuple(notes))
