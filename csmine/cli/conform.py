"""``csmine conform``: hold the tickets against an SOP (fitness, precision, deviations)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from csmine.cli.options import (
    choose_sop,
    closing_options,
    echo_json,
    filter_options,
    json_option,
    out_path,
    preload_pm4py,
    quiet_option,
    show_progress,
    sop_option,
    store_option,
)
from csmine.cli.render import console, table

if TYPE_CHECKING:
    from csmine.conformance import ConformanceReport, GroupConformance, StatusConformance
    from csmine.filters import LogFilter
    from csmine.lifecycle import ClosingRule

CHART_FORMATS = (".svg", ".png", ".dot", ".gv")
#: Weeks listed in the terminal table (the JSON has them all).
WEEKS_SHOWN = 12


def _pct(x: float) -> str:
    if 0 < x < 0.001:
        return "<0.1%"
    return f"{x * 100:.1f}%"


def _num(n: int) -> str:
    return f"{n:,}"


def write_chart(dot: str, path: str) -> None:
    """Write DOT source as .dot/.gv text or render it to .svg/.png with Graphviz."""
    suffix = Path(path).suffix.lower()
    if suffix not in CHART_FORMATS:
        raise click.BadParameter(
            f"cannot write a chart to {path!r}: use a name ending in .svg, .png or .dot",
            param_hint="--out",
        )
    target = Path(path)
    if suffix in (".dot", ".gv"):
        target.write_text(dot, encoding="utf-8")
        return
    import graphviz

    try:
        data = graphviz.Source(dot).pipe(format=suffix[1:])
    except graphviz.ExecutableNotFound as exc:
        raise click.ClickException(
            f"cannot render {path}: Graphviz's `dot` is not installed "
            "(install graphviz, or write --out chart.dot)"
        ) from exc
    target.write_bytes(data)


def _left_table(headers: list[str], rows: list[list[Any]], *, left: tuple[int, ...],
                title: str | None = None) -> Any:
    t = table(headers, rows, title=title)
    for i in left:
        t.columns[i].justify = "left"
    return t


def _group_rows(groups: tuple[GroupConformance, ...], top: int) -> list[list[Any]]:
    from csmine.conformance import KIND_WORDS, KINDS

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


def closing_line(closing: dict[str, Any]) -> str:
    """How tickets were judged open or closed, and how many are, in one line."""
    if not closing.get("rule_known"):
        return f"{closing['rule']}"
    stale = f", {_num(closing['stale'])} of them stale" if closing["stale"] else ""
    return (f"{_num(closing['closed'])} closed · {_num(closing['open'])} open{stale} — {closing['rule']}; "
            "open tickets are held against the start of an SOP run (prefix alignment): "
            "their next steps are pending, not skipped")


def _group_cells(g: StatusConformance) -> list[str]:
    from csmine.conformance import KINDS

    if not g.tickets:
        return ["0", "-", "-", "-", "-", *["-" for _ in KINDS]]
    return [
        _num(g.tickets), f"{g.log_fitness:.4f}", f"{g.average_fitness:.4f}",
        f"{_num(g.fitting_tickets)} ({_pct(g.fitting_share or 0.0)})",
        f"{_num(g.deviations)} in {_num(g.deviating_tickets)} tickets",
        *[_num(g.kinds[k]) for k in KINDS],
    ]


def render_text(report: ConformanceReport, log_filter: LogFilter, *, top: int) -> None:
    """Print the report as tables on stdout."""
    from csmine.conformance import KIND_WORDS, KINDS

    out = console()
    out.print(
        f"[bold]SOP {report.sop} v{report.sop_version}[/bold] ({report.sop_title}) · "
        f"{log_filter.describe()} · {_num(report.tickets)} tickets · {_num(report.events)} events · "
        f"{_num(report.variants)} variants"
    )
    out.print(closing_line(report.closing), highlight=False)
    has_open = report.open.tickets > 0
    if has_open:
        every = [
            _num(report.tickets), f"{report.log_fitness:.4f}", f"{report.average_fitness:.4f}",
            f"{_num(report.fitting_tickets)} ({_pct(report.fitting_share)})",
            f"{_num(report.deviations)} in {_num(report.deviating_tickets)} tickets",
            *[_num(report.kinds[k]) for k in KINDS],
        ]
        names = ["tickets", "log fitness", "average trace fitness", "fitting tickets", "deviations",
                 *[f"  {KIND_WORDS[k]}" for k in KINDS]]
        columns = list(zip(every, _group_cells(report.closed), _group_cells(report.open), strict=True))
        summary = [[name, *cells] for name, cells in zip(names, columns, strict=True)]
        summary.insert(4, ["precision", "-" if report.precision is None else f"{report.precision:.4f}", "", ""])
        out.print(table(["conformance", "all tickets", "closed (full alignment)", "open (prefix alignment)"],
                        summary))
    else:
        summary = [
            ["log fitness", f"{report.log_fitness:.4f}"],
            ["average trace fitness", f"{report.average_fitness:.4f}"],
            ["fitting tickets", f"{_num(report.fitting_tickets)} ({_pct(report.fitting_share)})"],
            ["precision", "-" if report.precision is None else f"{report.precision:.4f}"],
            ["deviations", f"{_num(report.deviations)} in {_num(report.deviating_tickets)} tickets"],
        ]
        summary += [[f"  {KIND_WORDS[k]}", _num(report.kinds[k])] for k in KINDS]
        out.print(table(["conformance", "value"], summary))

    step_rows = []
    for s in report.steps:
        if s.status != "flow" and not (s.events or s.deviations):
            continue
        where = {"flow": "", "off_flow": " (off the flow)", "unknown": " (not in the SOP)"}[s.status]
        step_rows.append([
            s.label + where, _num(s.events),
            *[_num(getattr(s, k)) for k in KINDS],
            f"{_num(s.deviating_tickets)} ({_pct(s.deviating_share)})",
            *([_num(s.pending)] if has_open else []),
        ])
    out.print(table(["step", "events", *[KIND_WORDS[k] for k in KINDS], "tickets affected",
                     *(["pending (open tickets)"] if has_open else [])], step_rows,
                    title="Deviations per SOP step"))

    if report.unknown_activities:
        out.print(f"Activities the SOP does not know: {_num(report.unknown_events)} events in "
                  f"{_num(report.unknown_tickets)} tickets, aligned as extra steps")
        out.print(_left_table(
            ["activity", "events", "tickets", "e.g. tickets"],
            [[u.activity, _num(u.events), _num(u.tickets), ", ".join(u.examples)] for u in report.unknown_activities],
            left=(0, 3),
        ))

    headers = ["", "tickets", "fitting", "avg fitness", "deviations", "per ticket", "most often"]
    for title, groups in (("team", report.by_team), ("channel", report.by_channel),
                          ("phase", report.by_phase), ("agent", report.by_agent)):
        if groups:
            more = f" (top {top} of {len(groups):,})" if len(groups) > top else ""
            out.print(table([title, *headers[1:]], _group_rows(groups, top), title=f"By {title}{more}"))

    if report.worst:
        rows = []
        for w in report.worst:
            devs = "; ".join(d.description for d in w.deviations[:6])
            if len(w.deviations) > 6:
                devs += f"; … {len(w.deviations) - 6} more"
            if w.status == "open":
                devs += f" (open; next: {', '.join(w.pending) or 'nothing'})"
            rows.append([w.ticket + (" (open)" if w.status == "open" else ""), f"{w.fitness:.3f}",
                         _num(w.events), devs])
        out.print(_left_table(["ticket", "fitness", "events", "deviations"], rows, title="Worst tickets",
                              left=(0, 3)))

    if report.weeks:
        shown = report.weeks[-WEEKS_SHOWN:]
        earlier = len(report.weeks) - len(shown)
        more = f", last {len(shown)} of {len(report.weeks)} (all with --json)" if earlier else ""
        out.print(table(
            ["week", "from", "tickets", "fitting", "avg fitness", "log fitness", "deviations",
             *(["open"] if has_open else [])],
            [[w.week, w.start, _num(w.tickets), _pct(w.fitting_share), f"{w.average_fitness:.3f}",
              f"{w.log_fitness:.3f}", _num(w.deviations), *([_num(w.open_tickets)] if has_open else [])]
             for w in shown],
            title=f"Conformance per ISO week of opening{more}",
        ))


@click.command("conform")
@sop_option("sop_ref", required=True, help="Shipped SOP name (e.g. complaint, it-incident) or a .toml/.bpmn file")
@click.option("--min-fitness", type=click.FloatRange(0.0, 1.0), metavar="X",
              help="Exit with code 5 when the log fitness is below X (for scripts and CI).")
@click.option("--out", type=out_path, metavar="FILE", help="Write the SOP flowchart coloured by deviations (.svg, .png or .dot).")
@click.option("--worst", default=10, show_default=True, type=click.IntRange(min=0),
              help="How many lowest-fitness tickets to list.")
@click.option("--top", default=10, show_default=True, type=click.IntRange(min=1),
              help="Rows per team/channel/phase/agent table.")
@click.option("--no-aliases", is_flag=True, help="Match activities to steps by exact step name only.")
@filter_options
@closing_options
@json_option
@quiet_option
@store_option
def conform_cmd(sop_ref: str, min_fitness: float | None, out: str | None, worst: int, top: int,
                no_aliases: bool, log_filter: LogFilter, closing: ClosingRule, as_json: bool, quiet: bool,
                store: str) -> None:
    """Check the tickets against an SOP: fitness, precision and deviations.

    Exact alignments (as pm4py's) per variant: log fitness, average trace
    fitness, share of fitting tickets, align-ETC precision; deviations in words
    (skipped, extra, out of order, repeated, wrong branch) per SOP step, by team,
    channel, phase and agent; the worst tickets; conformance per ISO week.
    Activities the SOP does not know are listed and count as extra steps.
    Tickets not closed (the SOP's close step or closed_when, or --closed-when)
    are open: held against the start of an SOP run, their next steps pending,
    with their own figures beside the closed tickets'.

    \b
    Example:
        csmine conform --sop complaint --out sop.svg
        csmine conform --sop it-incident --team V30 --json
        csmine conform --sop my-sop.toml --min-fitness 0.9 || echo "below target"
        csmine conform --sop helpdesk.toml --closed-when Closed --stale-after 60d
    """
    preload_pm4py()  # the SOP net needs pm4py; import it while the store is read
    from csmine.cli.store import open_existing
    from csmine.conformance import check_conformance, render_conformance_dot
    from csmine.errors import CheckFailedError
    from csmine.eventlog import load_event_log
    from csmine.ordering import order_events

    with open_existing(store) as s:
        df = load_event_log(s, log_filter)
    sop, _ = choose_sop(sop_ref, df, needs="conform aligns tickets with an SOP, so it needs one")
    df = order_events(df, sop, log_filter.tie_order)  # ties in the SOP's step order
    if show_progress(quiet):
        click.echo(f"aligning {df['case:concept:name'].nunique():,} tickets with SOP {sop.id} …", err=True)
    report = check_conformance(df, sop, mapping=not no_aliases, worst=worst, closing=closing)
    if out:
        write_chart(render_conformance_dot(sop, report), out)
        if not quiet:
            click.echo(f"wrote {out}", err=True)
    if as_json:
        echo_json({"filter": log_filter.describe(), **dataclasses.asdict(report)})
    else:
        render_text(report, log_filter, top=top)
    if report.unknown_activities:
        names = ", ".join(repr(u.activity) for u in report.unknown_activities[:5])
        more = f" and {len(report.unknown_activities) - 5} more" if len(report.unknown_activities) > 5 else ""
        click.echo(
            f"warning: {len(report.unknown_activities)} activities are not in SOP {sop.id!r} "
            f"({names}{more}; {report.unknown_events:,} events): counted as extra steps — "
            "add them to the SOP's [aliases] if they are steps",
            err=True,
        )
    if min_fitness is not None and report.log_fitness < min_fitness:
        raise CheckFailedError(
            f"log fitness {report.log_fitness:.4f} is below --min-fitness {min_fitness} "
            f"(SOP {sop.id!r}, {report.tickets:,} tickets, {log_filter.describe()})"
        )


def register(cli: click.Group) -> None:
    """Add this module's commands to the root group."""
    cli.add_command(conform_cmd)
