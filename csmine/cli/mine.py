"""Mining commands: discover, bottlenecks, kpi."""

from __future__ import annotations

from typing import Any

import click

from csmine.cli.options import (
    choose_sop,
    closing_options,
    echo_json,
    filter_options,
    json_option,
    out_path,
    quiet_option,
    sop_option,
    store_option,
)
from csmine.cli.render import console

_SHARE = click.FloatRange(0.0, 1.0, min_open=True)


def _load(store: str, log_filter: Any, attributes: list[str] | None = None) -> Any:
    from event_store import open_store

    from csmine.eventlog import load_event_log

    with open_store(store) as s:
        return load_event_log(s, log_filter, attributes=attributes)


def order_events(df: Any, sop: Any, tie_order: str) -> Any:
    from csmine.ordering import order_events as order

    return order(df, sop, tie_order)


def _sop(name: str | None, df: Any) -> tuple[Any, str, Any]:
    """The SOP asked for, the shipped one that fits the log, or none; a note for stderr; the choice."""
    return choose_sop(name, df, allow_none=True, with_choice=True)


def _check_pattern(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    import re

    if value is None:
        return None
    try:
        re.compile(value)
    except re.error as exc:
        raise click.BadParameter(f"{value!r} is not a regular expression ({exc}); e.g. 'Take in charge ticket'")
    return value


#: ``--first-response REGEX``: the SOP-less rule for first response (kpi, report).
first_response_option = click.option(
    "--first-response", "first_response", metavar="REGEX", callback=_check_pattern,
    help="First response = the first event whose activity matches REGEX (case-insensitive, whole name or one "
         "/-part); replaces the SOP's first-response step, works without an SOP.")


def _tickets_line(status: Any) -> str:
    return status.describe() if status is not None else ""


def _calendar(spec: str | None) -> Any:
    from csmine.calendar import parse_calendar

    return parse_calendar(spec)


def table(headers: list[str], rows: list[list[Any]], *, title: str | None = None,
          left: tuple[int, ...] = (0,)) -> Any:
    """A rich table: the ``left`` columns (names) left-aligned, numbers right-aligned."""
    from rich.table import Table

    t = Table(title=title, show_header=True, header_style="bold", title_justify="left")
    for i, h in enumerate(headers):
        t.add_column(str(h), justify="left" if i in left else "right", overflow="fold")
    for row in rows:
        t.add_row(*[str(c) for c in row])
    return t


def _note(text: str) -> None:
    if text:
        click.echo(text, err=True)


def _seq(activities: tuple[str, ...], width: int = 90) -> str:
    from csmine.render.maps import shorten_name

    activities = tuple(shorten_name(a, _NAME_COLUMNS) for a in activities)
    text = " → ".join(activities)
    if len(text) <= width:
        return text
    shown: list[str] = []
    for a in activities:
        if len(" → ".join([*shown, a])) > width - 12:
            break
        shown.append(a)
    if not shown:
        return f"{activities[0]} → … (+{len(activities) - 1})"
    return " → ".join(shown) + f" → … (+{len(activities) - len(shown)})"


def _write_map(dot: str, out: str) -> None:
    from csmine.render.maps import dot_to

    path = dot_to(dot, out)
    click.echo(f"wrote {path}", err=True)


# -- discover ---------------------------------------------------------------------------


@click.command("discover")
@click.option("--activities", type=_SHARE, default=1.0, show_default=True,
              help="Keep the most frequent activities covering this share of events.")
@click.option("--paths", type=_SHARE, default=1.0, show_default=True,
              help="Keep the most frequent paths covering this share (start/end stay connected).")
@click.option("--mode", type=click.Choice(["frequency", "performance"]), default="frequency", show_default=True,
              help="Map overlay: tickets per path, or median waiting time.")
@click.option("--out", type=out_path, metavar="FILE", help="Write the map: .svg, .png, .pdf or .dot.")
@click.option("--direction", type=click.Choice(["TB", "LR"]), default="TB", show_default=True,
              help="Map layout: top to bottom or left to right.")
@click.option("--variants", "n_variants", type=click.IntRange(0), default=10, show_default=True,
              help="How many variants to list.")
@click.option("--bpmn", type=out_path, metavar="FILE", help="Write an inductive-miner model as BPMN 2.0.")
@click.option("--noise", type=click.FloatRange(0.0, 1.0, max_open=True), default=0.2, show_default=True,
              help="Inductive-miner noise threshold (0 keeps every path).")
@click.option("--title", help="Title drawn on the map.")
@click.option("--full", is_flag=True,
              help="Draw every activity and path (no automatic simplification of large maps).")
@filter_options
@json_option
@quiet_option
@store_option
def discover_cmd(activities: float, paths: float, mode: str, out: str | None, direction: str, n_variants: int,
                 bpmn: str | None, noise: float, title: str | None, full: bool, log_filter: Any, as_json: bool,
                 quiet: bool, store: str) -> None:
    """Discover the process map, the variants and (with --bpmn) a BPMN model.

    The map is a directly-follows graph: activities, paths with how many tickets
    take them and how long they wait on them (median, mean, P90). --activities and
    --paths simplify it like Disco's sliders. A drawn map of more than 60
    activities or 150 paths shows only the most frequent ones (said on stderr);
    --full draws everything.

    \b
    Example:
        csmine discover --activities 0.8 --paths 0.6 --out map.svg
        csmine discover --mode performance --out perf.png --phase pilot
        csmine discover --variants 20 --bpmn discovered.bpmn --noise 0.2
    """
    from csmine.mining import discover_map, discover_model, discover_variants, simplify_map
    from csmine.render.maps import render_map

    df = _load(store, log_filter)
    pmap = discover_map(df, activities=activities, paths=paths)
    shown = pmap if full else simplify_map(pmap)
    variants = discover_variants(df, top=n_variants)
    model = discover_model(df, noise=noise) if bpmn else None
    if out:
        label = title or f"Process map ({log_filter.describe()})"
        _write_map(render_map(shown, mode=mode, title=label, rankdir=direction, simplify=False), out)
        if shown.simplification is not None:
            _note(f"map simplified: {shown.simplification.describe()}; --full for all")
    if model is not None and bpmn:
        model.write_bpmn(bpmn)
        click.echo(f"wrote {bpmn}", err=True)
    if as_json:
        echo_json({
            "filter": log_filter.describe(),
            "map": pmap.to_dict(),
            "simplified": _asdict(shown.simplification) if shown.simplification else None,
            "variants": [_asdict(v) for v in variants],
            "model": model.to_dict() if model else None,
        })
        return
    _print_discovery(pmap, variants, model, mode)


def _asdict(obj: Any) -> Any:
    import dataclasses

    return dataclasses.asdict(obj)


#: Activity names longer than this (display columns) end in "…" in the text tables (--json has them whole).
_NAME_COLUMNS = 80


def _print_discovery(pmap: Any, variants: list[Any], model: Any, mode: str) -> None:
    from csmine.render import human_duration as hd
    from csmine.render import human_share as hs
    from csmine.render.maps import shorten_name

    def nm(name: str) -> str:
        return shorten_name(name, _NAME_COLUMNS)

    c = console()
    c.print(f"Process map: {pmap.tickets:,} tickets, {pmap.events:,} events, {len(pmap.nodes)} activities, "
            f"{len(pmap.edges)} paths")
    if pmap.dropped_activities or pmap.dropped_paths:
        c.print(f"simplified: activities cover {hs(pmap.activity_coverage)} of events, paths cover "
                f"{hs(pmap.path_coverage)} of path occurrences; hidden: {len(pmap.dropped_activities)} activities, "
                f"{pmap.dropped_paths} paths")
    c.print(table(["activity", "events", "tickets", "work median"],
                  [[nm(n.activity), f"{n.events:,}", f"{n.cases:,}", hd(n.work_median_s)] for n in pmap.nodes],
                  title="Activities"))
    edges = sorted(pmap.edges, key=lambda e: -(e.median_s or 0)) if mode == "performance" else list(pmap.edges)
    shown = edges[:15]
    c.print(table(["from", "to", "tickets", "times", "median wait", "mean", "P90"],
                  [[nm(e.source), nm(e.target), f"{e.cases:,}", f"{e.events:,}", hd(e.median_s), hd(e.mean_s),
                    hd(e.p90_s)] for e in shown],
                  title=f"Paths ({'slowest' if mode == 'performance' else 'most frequent'} {len(shown)} "
                        f"of {len(pmap.edges)})", left=(0, 1)))
    if variants:
        cover = variants[-1].cumulative_share
        c.print(table(["#", "tickets", "share", "cumulative", "median throughput", "sequence"],
                      [[i, f"{v.tickets:,}", hs(v.share), hs(v.cumulative_share), hd(v.median_throughput_s),
                        _seq(v.activities)] for i, v in enumerate(variants, start=1)],
                      title=f"Variants (top {len(variants)} cover {hs(cover)} of tickets)", left=(5,)))
    if model is not None:
        c.print(f"Inductive-miner model (noise {model.noise:g}): {model.tree_text}")


# -- bottlenecks --------------------------------------------------------------------------


@click.command("bottlenecks")
@sop_option(help="SOP (waiting role, limits): a shipped name or a .toml/.bpmn file; none for no SOP")
@click.option("--calendar", "calendar_spec", metavar="SPEC",
              help="Business calendar, e.g. hours=8-20,days=mon-fri,holidays=2025-01-01;2025-05-01,tz=Asia/Shanghai")
@click.option("--top", type=click.IntRange(1), default=10, show_default=True, help="Rows per table.")
@click.option("--out", type=out_path, metavar="FILE", help="Write the map with the bottlenecks highlighted (.svg/.png/.dot).")
@click.option("--mode", type=click.Choice(["frequency", "performance"]), default="performance", show_default=True,
              help="Overlay of the map written with --out.")
@click.option("--direction", type=click.Choice(["TB", "LR"]), default="TB", show_default=True,
              help="Map layout: top to bottom or left to right.")
@click.option("--activities", type=_SHARE, default=1.0, show_default=True, help="Map simplification (see discover).")
@click.option("--paths", type=_SHARE, default=1.0, show_default=True, help="Map simplification (see discover).")
@filter_options
@closing_options
@json_option
@quiet_option
@store_option
def bottlenecks_cmd(sop: str | None, calendar_spec: str | None, top: int, out: str | None, mode: str,
                    direction: str, activities: float, paths: float, log_filter: Any, closing: Any, as_json: bool,
                    quiet: bool, store: str) -> None:
    """Where tickets wait: steps, transitions, time limits, handovers, ping-pong, rework.

    Bottlenecks are ranked by their impact on throughput time: the time saved if
    every occurrence slower than the median took only the median time. Open and
    closed tickets are counted apart (--closed-when; the SOP's close step); steps
    and waits cover every ticket's recorded time, the median throughput the closed
    ones. Without --sop an SOP is used only when it fits the log (stderr says which
    were considered); --sop none uses none.

    \b
    Example:
        csmine bottlenecks --sop it-incident --out bottlenecks.svg
        csmine bottlenecks --sop complaint --calendar hours=9-18,days=mon-fri,tz=Asia/Shanghai
        csmine bottlenecks --sop none --closed-when Closed
    """
    from csmine.bottlenecks import find_bottlenecks

    df = _load(store, log_filter)
    model, note, choice = _sop(sop, df)
    df = order_events(df, model, log_filter.tie_order)  # ties in the SOP's step order
    _note(note)
    report = find_bottlenecks(df, model, calendar=_calendar(calendar_spec), top=max(top, 20), closing=closing)
    if out:
        from csmine.mining import discover_map
        from csmine.render.maps import render_map

        pmap = discover_map(df, activities=activities, paths=paths, keep=list(report.highlight(5)))
        dot = render_map(pmap, mode=mode, highlight=report.highlight(5), notes=report.highlight_notes(5),
                         title=f"Bottlenecks ({log_filter.describe()}): the 5 largest in purple", rankdir=direction)
        _write_map(dot, out)
    if as_json:
        echo_json({"filter": log_filter.describe(), **report.to_dict(), "sop_choice": choice.to_dict()})
        return
    _print_bottlenecks(report, top)


def _print_bottlenecks(r: Any, top: int) -> None:
    from csmine.render import human_duration as hd
    from csmine.render import human_share as hs

    c = console()
    clock = r.calendar or "wall clock"
    closed = "closed tickets' " if r.status is not None and r.status.rule_known else ""
    c.print(f"Bottlenecks: {r.tickets:,} tickets, {r.events:,} events; SOP {r.sop or '-'}; {clock}; "
            f"{closed}median throughput {hd(r.median_throughput_s)}; "
            f"{'status log (time in each status)' if r.status_log else 'start/complete log'}")
    c.print(_tickets_line(r.status))
    c.print(table(
        ["#", "kind", "where", "impact/ticket", "of throughput", "occurrences", "slow tickets", "median", "P90",
         "waiting"],
        [[b.rank, b.kind, b.where, hd(b.mean_impact_s), hs(b.share_of_throughput), f"{b.occurrences:,}",
          f"{b.tickets:,}", hd(b.median_s), hd(b.p90_s), "-" if b.waiting_share != b.waiting_share
          else hs(b.waiting_share, 0)] for b in r.bottlenecks[:top]],
        title="Top bottlenecks (impact: time saved if slower-than-median occurrences took the median)",
        left=(1, 2)))
    c.print(table(
        ["activity", "SOP step", "waiting", "events", "tickets", "median", "P90", "waiting", "working",
         "queued before", "share of time"],
        [[s.activity, s.step or "-", "yes" if s.waiting else "", f"{s.events:,}", f"{s.tickets:,}", hd(s.median_s),
          hd(s.p90_s), hd(s.waiting_s), hd(s.working_s), hd(s.waiting_before_s), hs(s.share_of_time)]
         for s in r.steps],
        title="Time per step (share of all ticket time)", left=(0, 1, 2)))
    c.print(table(
        ["from", "to", "times", "tickets", "waiting", "median", "mean", "P90", "total"],
        [[t.source, t.target, f"{t.events:,}", f"{t.tickets:,}", "yes" if t.waiting else "", hd(t.median_s),
          hd(t.mean_s), hd(t.p90_s), hd(t.total_s)] for t in r.transitions[:top]],
        title="Transitions with most total time", left=(0, 1, 4)))
    if r.limits:
        c.print(table(
            ["step", "limit", "tickets", "breached", "share", "overdue", "median", "P90"],
            [[lb.step, f"≤ {hd(lb.within_s)} after {lb.since}" + (" (business)" if lb.business_hours else ""),
              f"{lb.tickets:,}", f"{lb.breached:,}", hs(lb.share), f"{lb.overdue:,}", hd(lb.median_elapsed_s),
              hd(lb.p90_elapsed_s)] for lb in r.limits],
            title="SOP time limits (first occurrence; customer waits pause the clock)", left=(0, 1)))
    fl = r.first_line
    if fl.share is not None:
        how = ("teams marked 2nd/3rd are higher lines" if fl.method == "line-marker"
               else "first line = team of the first event")
        res = f"; {hs(fl.resolved_share)} of resolved tickets" if fl.resolved_share is not None else ""
        c.print(f"First line (push to front): {hs(fl.share)} of {fl.tickets:,} tickets never left the first "
                f"line{res} ({how})")
    if r.ping_pong:
        c.print(table(
            ["team A", "team B", "direct A→B→A", "indirect A→B→…→A", "tickets"],
            [[p.team_a, p.team_b, f"{p.direct:,}", f"{p.indirect:,}", f"{p.tickets:,}"] for p in r.ping_pong[:top]],
            title="Ping-pong between teams", left=(0, 1)))
    if r.handovers:
        c.print(table(
            ["from team", "to team", "handovers", "tickets", "median wait"],
            [[h.source_team, h.target_team, f"{h.handovers:,}", f"{h.tickets:,}", hd(h.median_s)]
             for h in r.handovers[:top]],
            title="Most frequent handovers", left=(0, 1)))
    if r.rework:
        c.print(table(
            ["activity", "tickets repeating", "share", "extra events", "self-loops", "max in one ticket"],
            [[w.activity, f"{w.tickets:,}", hs(w.share), f"{w.extra_events:,}", f"{w.self_loops:,}",
              w.max_repetitions] for w in r.rework[:top]],
            title="Rework (activity repeated within a ticket)"))
    for note in r.notes:
        click.echo(f"note: {note}", err=True)
    if r.backlog and r.status is not None and not r.status.rule_known:
        c.print("Backlog: not computed (no closing rule: pass --closed-when ACTIVITY or an SOP with a close step)")
    elif r.backlog:
        peak = max(r.backlog, key=lambda d: d.open)
        last = r.backlog[-1]
        mean = sum(d.open for d in r.backlog) / len(r.backlog)
        c.print(f"Backlog: {last.open:,} open at the end ({last.date}); peak {peak.open:,} on {peak.date}; "
                f"mean {mean:,.1f} open per day over {len(r.backlog):,} days (--json for the daily series)")


# -- kpi ----------------------------------------------------------------------------------


@click.command("kpi")
@sop_option(help="SOP (roles, targets, limits): a shipped name or a .toml/.bpmn file; none for no SOP")
@click.option("--calendar", "calendar_spec", metavar="SPEC",
              help="Business calendar, e.g. hours=8-20,days=mon-fri,holidays=2025-01-01;2025-05-01,tz=Asia/Shanghai")
@click.option("--priority-attr", default=None, metavar="ATTR",
              help="Attribute holding the SLA priority (default: the ticket priority; BPIC 2013: impact).")
@click.option("--tickets", "tickets_out", type=out_path, metavar="FILE", help="Also write the per-ticket KPIs as CSV.")
@first_response_option
@filter_options
@closing_options
@json_option
@quiet_option
@store_option
def kpi_cmd(sop: str | None, calendar_spec: str | None, priority_attr: str | None, tickets_out: str | None,
            first_response: str | None, log_filter: Any, closing: Any, as_json: bool, quiet: bool,
            store: str) -> None:
    """Service KPIs against the SOP's targets: first response, resolution, FCR, SLA, ...

    SLA clocks pause while the ticket waits on the customer (the SOP's waiting
    role); --calendar counts business time only. Open and closed tickets are
    counted apart (the SOP's close step, --closed-when): resolution rate,
    throughput and handling time are over closed tickets, the backlog and the age
    of the open ones are shown on their own. Without --sop an SOP is used only when
    it names the log's activities and its close and resolution steps occur (stderr
    says which were considered); --sop none uses none. Figures that need no SOP
    (throughput, waiting, rework, ping-pong, backlog with --closed-when, first
    response with --first-response) are computed either way.

    \b
    Example:
        csmine kpi --sop complaint
        csmine kpi --sop complaint --calendar hours=9-18,days=mon-fri,tz=Asia/Shanghai --phase pilot
        csmine kpi --sop it-incident --priority-attr impact --json
        csmine kpi --sop none --closed-when Closed --first-response 'Take in charge ticket'
    """
    from csmine.kpi import summarise_kpis, ticket_kpis

    attrs = ["satisfaction"] + ([priority_attr] if priority_attr else [])
    df = _load(store, log_filter, attributes=attrs)
    model, note, choice = _sop(sop, df)
    df = order_events(df, model, log_filter.tie_order)  # ties in the SOP's step order
    _note(note)
    calendar = _calendar(calendar_spec)
    frame = ticket_kpis(df, model, calendar=calendar, priority_key=priority_attr or "case:priority",
                        closing=closing, first_response=first_response)
    report = summarise_kpis(frame, model)
    if tickets_out:
        frame.to_csv(tickets_out)
        click.echo(f"wrote {tickets_out}", err=True)
    if as_json:
        echo_json({"filter": log_filter.describe(), **report.to_dict(), "sop_choice": choice.to_dict()})
        return
    _print_kpis(report)


def _fmt_value(k: Any) -> str:
    from csmine.render import human_duration as hd
    from csmine.render import human_share as hs

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


def _fmt_target(k: Any) -> str:
    from csmine.render import human_duration as hd
    from csmine.render import human_share as hs

    if k.target is None:
        return ""
    if k.unit == "seconds":
        return f"≤ {hd(k.target)}"
    if k.unit == "share":
        return f"≥ {hs(k.target, 0)}" if k.name != "reopen_rate" else f"≤ {hs(k.target, 0)}"
    return f"≥ {k.target:g}"


def _print_kpis(r: Any) -> None:
    from csmine.render import human_duration as hd
    from csmine.render import human_share as hs

    c = console()
    c.print(f"KPIs: {r.tickets:,} tickets; SOP {r.sop or '-'}; {r.calendar or 'wall clock'}")
    c.print(_tickets_line(r.status))
    rows = []
    for k in r.kpis:
        detail = []
        if k.unit == "seconds" and k.value is not None:
            detail.append(f"P90 {hd(k.p90_s)}, mean {hd(k.mean_s)}")
            if k.within_target is not None:
                detail.append(f"{hs(k.within_target)} within target")
        if k.name == "backlog" and k.value is not None:
            detail.append(k.note + (f"; median age {hd(k.median_s)}" if k.median_s is not None else ""))
        if k.value is None or not detail:
            detail.append(k.note)
        met = "-" if k.met is None else ("yes" if k.met else "NO")
        rows.append([k.label, _fmt_value(k), _fmt_target(k), met, f"{k.n:,}", "; ".join(d for d in detail if d)])
    c.print(table(["KPI", "value", "target", "met", "tickets", "detail"], rows, title="Service KPIs", left=(0, 5)))
    if any(s.measured for s in r.sla_by_priority):
        c.print(table(
            ["priority", "tickets", "measured", "SLA met", "first response in target", "resolution in target",
             "limit breaches"],
            [[s.priority, f"{s.tickets:,}", f"{s.measured:,}", hs(s.attainment), hs(s.first_response_within),
              hs(s.resolution_within), f"{s.breaches:,}"] for s in r.sla_by_priority],
            title="SLA attainment per priority"))
    if r.satisfaction_distribution:
        total = sum(r.satisfaction_distribution.values()) or 1
        c.print(table(["score", "tickets", "share"],
                      [[b, f"{n:,}", hs(n / total)] for b, n in r.satisfaction_distribution.items()],
                      title="Satisfaction distribution"))
    for note in r.notes:
        click.echo(f"note: {note}", err=True)


def register(cli: click.Group) -> None:
    """Add this module's commands to the root group."""
    cli.add_command(discover_cmd)
    cli.add_command(bottlenecks_cmd)
    cli.add_command(kpi_cmd)

