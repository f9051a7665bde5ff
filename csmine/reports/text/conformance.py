"""``csmine conform`` as text: fitness and precision, deviations per step, by group, the
worst tickets, per ISO week; and the warning about activities the SOP does not know."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from csmine.reports.text.blocks import Block, Para, Table, Text, table

if TYPE_CHECKING:
    from csmine.conformance.results import (
        ConformanceReport,
        GroupConformance,
        StatusConformance,
    )

#: Weeks listed (the JSON has them all).
WEEKS_SHOWN = 12


def _pct(x: float) -> str:
    if 0 < x < 0.001:
        return "<0.1%"
    return f"{x * 100:.1f}%"


def _num(n: int) -> str:
    return f"{n:,}"


def closing_line(closing: dict[str, Any]) -> str:
    """How tickets were judged open or closed, and how many are, in one line."""
    if not closing.get("rule_known"):
        return f"{closing['rule']}"
    stale = f", {_num(closing['stale'])} of them stale" if closing["stale"] else ""
    return (f"{_num(closing['closed'])} closed · {_num(closing['open'])} open{stale} — {closing['rule']}; "
            "open tickets are held against the start of an SOP run (prefix alignment): "
            "their next steps are pending, not skipped")


def render_conformance(report: ConformanceReport, filter_text: str, *, top: int) -> Text:
    """Every table of the report; the groups (team, channel, phase, agent) ``top`` rows each."""
    blocks: list[Block] = [
        Para(f" ({report.sop_title}) · {filter_text} · {_num(report.tickets)} tickets · {_num(report.events)} "
             f"events · {_num(report.variants)} variants", bold=f"SOP {report.sop} v{report.sop_version}"),
        Para(closing_line(report.closing)),
        _summary(report), _steps(report),
    ]
    if report.unknown_activities:
        blocks.append(Para(f"Activities the SOP does not know: {_num(report.unknown_events)} events in "
                           f"{_num(report.unknown_tickets)} tickets, aligned as extra steps"))
        blocks.append(table(["activity", "events", "tickets", "e.g. tickets"],
                            [[u.activity, _num(u.events), _num(u.tickets), ", ".join(u.examples)]
                             for u in report.unknown_activities], left=(0, 3)))
    headers = ["", "tickets", "fitting", "avg fitness", "deviations", "per ticket", "most often"]
    for title, groups in (("team", report.by_team), ("channel", report.by_channel),
                          ("phase", report.by_phase), ("agent", report.by_agent)):
        if groups:
            more = f" (top {top} of {len(groups):,})" if len(groups) > top else ""
            blocks.append(table([title, *headers[1:]], _group_rows(groups, top), title=f"By {title}{more}"))
    if report.worst:
        blocks.append(_worst(report))
    if report.weeks:
        blocks.append(_weeks(report))
    return Text(tuple(blocks))


def _status_cells(g: StatusConformance) -> list[str]:
    from csmine.conformance.results import KINDS

    if not g.tickets:
        return ["0", "-", "-", "-", "-", *["-" for _ in KINDS]]
    return [
        _num(g.tickets), f"{g.log_fitness:.4f}", f"{g.average_fitness:.4f}",
        f"{_num(g.fitting_tickets)} ({_pct(g.fitting_share or 0.0)})",
        f"{_num(g.deviations)} in {_num(g.deviating_tickets)} tickets",
        *[_num(g.kinds[k]) for k in KINDS],
    ]


def _summary(report: ConformanceReport) -> Table:
    """Fitness, precision and deviations; with open tickets, all / closed / open side by side."""
    from csmine.conformance.results import KIND_WORDS, KINDS

    precision = "-" if report.precision is None else f"{report.precision:.4f}"
    if report.open.tickets > 0:
        every = [
            _num(report.tickets), f"{report.log_fitness:.4f}", f"{report.average_fitness:.4f}",
            f"{_num(report.fitting_tickets)} ({_pct(report.fitting_share)})",
            f"{_num(report.deviations)} in {_num(report.deviating_tickets)} tickets",
            *[_num(report.kinds[k]) for k in KINDS],
        ]
        names = ["tickets", "log fitness", "average trace fitness", "fitting tickets", "deviations",
                 *[f"  {KIND_WORDS[k]}" for k in KINDS]]
        columns = list(zip(every, _status_cells(report.closed), _status_cells(report.open), strict=True))
        summary = [[name, *cells] for name, cells in zip(names, columns, strict=True)]
        summary.insert(4, ["precision", precision, "", ""])
        return table(["conformance", "all tickets", "closed (full alignment)", "open (prefix alignment)"], summary)
    rows = [
        ["log fitness", f"{report.log_fitness:.4f}"],
        ["average trace fitness", f"{report.average_fitness:.4f}"],
        ["fitting tickets", f"{_num(report.fitting_tickets)} ({_pct(report.fitting_share)})"],
        ["precision", precision],
        ["deviations", f"{_num(report.deviations)} in {_num(report.deviating_tickets)} tickets"],
    ]
    rows += [[f"  {KIND_WORDS[k]}", _num(report.kinds[k])] for k in KINDS]
    return table(["conformance", "value"], rows)


def _steps(report: ConformanceReport) -> Table:
    from csmine.conformance.results import KIND_WORDS, KINDS

    has_open = report.open.tickets > 0
    rows = []
    for s in report.steps:
        if s.status != "flow" and not (s.events or s.deviations):
            continue
        where = {"flow": "", "off_flow": " (off the flow)", "unknown": " (not in the SOP)"}[s.status]
        rows.append([
            s.label + where, _num(s.events),
            *[_num(getattr(s, k)) for k in KINDS],
            f"{_num(s.deviating_tickets)} ({_pct(s.deviating_share)})",
            *([_num(s.pending)] if has_open else []),
        ])
    return table(["step", "events", *[KIND_WORDS[k] for k in KINDS], "tickets affected",
                  *(["pending (open tickets)"] if has_open else [])], rows, title="Deviations per SOP step")


def _group_rows(groups: tuple[GroupConformance, ...], top: int) -> list[list[Any]]:
    from csmine.conformance.results import KIND_WORDS, KINDS

    rows = []
    for g in groups[:top]:
        counts = {k: getattr(g, k) for k in KINDS}
        main = max(KINDS, key=lambda k: counts[k])
        rows.append([
            g.value, _num(g.tickets), _pct(g.fitting_share), f"{g.average_fitness:.3f}",
            _num(g.deviations), f"{g.deviations_per_ticket:.2f}",
            f"{KIND_WORDS[main]} ({counts[main]:,})" if counts[main] else "-",
        ])
    return rows


def _worst(report: ConformanceReport) -> Table:
    rows = []
    for w in report.worst:
        devs = "; ".join(d.description for d in w.deviations[:6])
        if len(w.deviations) > 6:
            devs += f"; … {len(w.deviations) - 6} more"
        if w.status == "open":
            devs += f" (open; next: {', '.join(w.pending) or 'nothing'})"
        rows.append([w.ticket + (" (open)" if w.status == "open" else ""), f"{w.fitness:.3f}", _num(w.events), devs])
    return table(["ticket", "fitness", "events", "deviations"], rows, title="Worst tickets", left=(0, 3))


def _weeks(report: ConformanceReport) -> Table:
    has_open = report.open.tickets > 0
    shown = report.weeks[-WEEKS_SHOWN:]
    earlier = len(report.weeks) - len(shown)
    more = f", last {len(shown)} of {len(report.weeks)} (all with --json)" if earlier else ""
    return table(
        ["week", "from", "tickets", "fitting", "avg fitness", "log fitness", "deviations",
         *(["open"] if has_open else [])],
        [[w.week, w.start, _num(w.tickets), _pct(w.fitting_share), f"{w.average_fitness:.3f}",
          f"{w.log_fitness:.3f}", _num(w.deviations), *([_num(w.open_tickets)] if has_open else [])]
         for w in shown],
        title=f"Conformance per ISO week of opening{more}")


def unknown_activities_warning(report: ConformanceReport) -> str | None:
    """The stderr warning about activities the SOP does not know (None when it knows them all)."""
    if not report.unknown_activities:
        return None
    names = ", ".join(repr(u.activity) for u in report.unknown_activities[:5])
    more = f" and {len(report.unknown_activities) - 5} more" if len(report.unknown_activities) > 5 else ""
    return (f"warning: {len(report.unknown_activities)} activities are not in SOP {report.sop!r} "
            f"({names}{more}; {report.unknown_events:,} events): counted as extra steps — "
            "add them to the SOP's [aliases] if they are steps")
