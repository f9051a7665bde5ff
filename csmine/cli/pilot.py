"""Commands for pilots and rollouts: phase, compare, review, replay."""

from __future__ import annotations

import dataclasses
import sys
import time as _time
from datetime import UTC, datetime, tzinfo
from typing import Any

import click

from csmine.cli.options import (
    choose_sop,
    closing_options,
    echo_json,
    filter_options,
    json_option,
    out_path,
    parse_time,
    preload_pm4py,
    quiet_option,
    sop_option,
    store_option,
    to_jsonable,
)
from csmine.cli.render import console

#: Longest pause of ``replay --speed`` between two alerts (quiet stretches are shortened).
MAX_SLEEP_S = 10.0
#: Breaches listed by ``review --day`` in the terminal (all of them in --json).
MAX_BREACH_ROWS = 25
#: Repeated violations listed by ``review --week`` in the terminal.
MAX_REPEATED_ROWS = 20


def _open(store: str) -> Any:
    from event_store import open_store

    return open_store(store)


#: Dataclasses, datetimes, tuples, numpy values as JSON-ready values (NaN as None).
_plain = to_jsonable


def _zone(name: str) -> tzinfo:
    if name.upper() == "UTC":
        return UTC
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise click.BadParameter(f"unknown time zone {name!r} (use e.g. UTC or Asia/Shanghai)",
                                 param_hint="--tz") from exc


def _cohort_text(cohort: dict[str, tuple[str, ...]]) -> str:
    return ", ".join(f"{k}={'|'.join(v)}" for k, v in sorted(cohort.items())) or "all tickets"


def _load_sop(name: str) -> Any:
    from process_models import load_sop

    return load_sop(name)


def _calendar(spec: str | None) -> Any:
    from csmine.calendar import parse_calendar

    return parse_calendar(spec)


def _is_none(name: str | None) -> bool:
    return name is not None and name.strip().lower() == "none"


def _tickets_json(total: int, status: Any) -> Any:
    """A side's ``tickets`` for --json: ``{"total", "closed", "open", "stale", "rule", ...}``."""
    return _plain(status) if status is not None else {"total": total}


def _counts_text(status: Any) -> str:
    if status is None:
        return ""
    if not status.rule_known:
        return " (every ticket counted as ended)"
    return f" ({status.closed:,} closed, {status.open:,} open, {status.stale:,} stale)"


calendar_option = click.option(
    "--calendar", metavar="SPEC",
    help="Business calendar for limits counted in business hours, e.g. 'hours=8-20,days=mon-fri,tz=Asia/Shanghai'.")
tz_option = click.option("--tz", "tz_name", default="UTC", show_default=True,
                         help="Time zone of business days and printed times.")


# ---------------------------------------------------------------------------------
# phase
# ---------------------------------------------------------------------------------


@click.group("phase")
def phase_group() -> None:
    """Phases of a pilot (baseline, pilot, rollout, ...): windows of opening time plus a cohort.

    A ticket belongs to the first phase (by start) whose window holds its opening
    time and whose cohort it matches. Every change of plan is recorded as an event.

    \b
    Example:
        csmine phase add baseline --from 2025-01-06 --to 2025-02-17
        csmine phase add pilot --from 2025-02-17 --to 2025-03-17 --where region=East
        csmine phase list
    """


@phase_group.command("add")
@click.argument("name")
@click.option("--from", "from_", required=True, metavar="TIME", help="First opening time included.")
@click.option("--to", "to", metavar="TIME", help="First opening time excluded (default: open-ended).")
@click.option("--where", multiple=True, metavar="KEY=VALUE",
              help="Cohort: case attribute the tickets must have (repeatable; KEY=a,b for alternatives).")
@click.option("--note", default="", help="Why the phase is defined this way (kept on record).")
@click.option("--by", "actor", help="Who defines it.")
@click.option("--replace", is_flag=True, help="Redefine an existing phase (the old definition stays on record).")
@json_option
@store_option
def phase_add(name: str, from_: str, to: str | None, where: tuple[str, ...], note: str, actor: str | None,
              replace: bool, as_json: bool, store: str) -> None:
    """Define a phase: tickets opened in [--from, --to) that match the cohort.

    \b
    Example:
        csmine phase add pilot --from 2025-02-17 --to 2025-03-17 --where region=East \\
            --note "complaint v2 in East only"
    """
    from csmine.eventlog import list_phases
    from csmine.filters import parse_where
    from csmine.phases import define_phase, overlapping_phases, phase_infos

    start = parse_time(from_, param="--from")
    end = parse_time(to, param="--to")
    assert start is not None
    with _open(store) as s:
        phase = define_phase(s, name, start, end, parse_where(where), note=note, actor=actor, replace=replace)
        info = next(p for p in phase_infos(s) if p.name == phase.name)
        for other, winner in overlapping_phases(list_phases(s), phase.name):
            click.echo(f"warning: phase {phase.name} overlaps {other}: tickets matching both belong to {winner} "
                       "(the phase that starts first)", err=True)
    if as_json:
        echo_json(_plain(info))
        return
    window = f"{info.start} → {info.end or 'open-ended'}"
    click.echo(f"phase {info.name}: tickets opened {window}, {_cohort_text(info.cohort)} "
               f"({info.tickets:,} tickets in the store now)")


@phase_group.command("list")
@json_option
@store_option
def phase_list(as_json: bool, store: str) -> None:
    """The phases now defined, with the tickets each holds.

    \b
    Example:
        csmine phase list --json
    """
    from csmine.phases import phase_infos

    with _open(store) as s:
        infos = phase_infos(s)
    if as_json:
        echo_json(_plain(infos))
        return
    if not infos:
        click.echo("no phases defined (add one with `csmine phase add NAME --from TIME`)")
        return
    rows = [(p.name, _short_time(p.start), _short_time(p.end) if p.end else "open-ended", _cohort_text(p.cohort),
             f"{p.tickets:,}", p.note) for p in infos]
    console().print(_table(("phase", "from (UTC)", "to (UTC)", "cohort", "tickets", "note"), rows, right=(4,)))


@phase_group.command("history")
@json_option
@store_option
def phase_history_cmd(as_json: bool, store: str) -> None:
    """Every change of the phase plan, oldest first (nothing is ever overwritten).

    \b
    Example:
        csmine phase history
    """
    from csmine.phases import phase_history

    with _open(store) as s:
        changes = phase_history(s)
    if as_json:
        echo_json(_plain(changes))
        return
    if not changes:
        click.echo("the phase plan has no history yet")
        return
    rows = []
    for c in changes:
        window = "" if c.change == "removed" else (
            f"{_short_time(c.start)} → {_short_time(c.end) if c.end else 'open-ended'}")
        cohort = "" if c.change == "removed" else _cohort_text(c.cohort)
        rows.append((c.version, _short_time(c.recorded_at), c.change, c.name, window, cohort, c.actor or "", c.note))
    console().print(_table(("#", "recorded (UTC)", "change", "phase", "window (UTC)", "cohort", "by", "note"), rows,
                           right=(0,)))


@phase_group.command("remove")
@click.argument("name")
@click.option("--note", default="", help="Why (kept on record).")
@click.option("--by", "actor", help="Who removes it.")
@store_option
def phase_remove(name: str, note: str, actor: str | None, store: str) -> None:
    """Remove a phase from the plan (its history stays on record).

    \b
    Example:
        csmine phase remove rollout --note "rollout postponed"
    """
    from csmine.phases import remove_phase

    with _open(store) as s:
        remove_phase(s, name, note=note, actor=actor)
    click.echo(f"removed phase {name}")


# ---------------------------------------------------------------------------------
# formatting
# ---------------------------------------------------------------------------------


def _table(headers: tuple[str, ...], rows: list[tuple[Any, ...]], *, title: str | None = None,
           right: tuple[int, ...] = ()) -> Any:
    from rich.table import Table

    t = Table(title=title, show_header=True, header_style="bold", title_justify="left")
    for i, h in enumerate(headers):
        t.add_column(str(h), justify="right" if i in right else "left", overflow="fold")
    for row in rows:
        t.add_row(*[str(c) for c in row])
    return t


def _isnan(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _fmt(value: Any, unit: str) -> str:
    from csmine.render import human_duration

    if _isnan(value):
        return "-"
    if unit == "share":
        return f"{100 * value:.1f}%"
    if unit == "seconds":
        return human_duration(value)
    return f"{value:.1f}"


def _fmt_diff(value: Any, unit: str) -> str:
    from csmine.render import human_duration

    if _isnan(value):
        return "-"
    if unit == "share":
        return f"{100 * value:+.1f} pts"
    if unit == "seconds":
        text = human_duration(abs(value))
        return ("-" if value < 0 else "+") + text
    return f"{value:+.1f}"


def _fmt_ci(change: Any, unit: str) -> str:
    if not change.enough:
        return "-"
    lo, hi = _fmt_diff(change.ci_low, unit), _fmt_diff(change.ci_high, unit)
    if unit == "share":
        lo, hi = lo.replace(" pts", ""), hi
    return f"[{lo}, {hi}]"


def _fmt_rel(value: Any) -> str:
    return "-" if _isnan(value) else f"{100 * value:+.0f}%"


def _short_time(iso: str | None, tz: tzinfo = UTC) -> str:
    if not iso:
        return "-"
    return datetime.fromisoformat(iso).astimezone(tz).strftime("%Y-%m-%d %H:%M")


def _arrow(change: Any, unit: str = "share") -> str:
    mark = " *" if change.significant else ""
    return f"{_fmt(change.a, unit)} → {_fmt(change.b, unit)}{mark}"


# ---------------------------------------------------------------------------------
# compare
# ---------------------------------------------------------------------------------


def _side_filter(positional: str | None, option: str | None, which: str) -> tuple[str, Any]:
    from csmine.compare import parse_side

    spec = option if option is not None else positional
    if spec is None:
        raise click.UsageError(f"give side {which} as an argument (a phase name) or with --{which.lower()} SPEC")
    return spec, parse_side(spec)


@click.command("compare")
@click.argument("side_a", required=False, metavar="[A]")
@click.argument("side_b", required=False, metavar="[B]")
@click.option("--a", "spec_a", metavar="SPEC", help="Side A as a filter: phase=NAME,from=TIME,to=TIME,KEY=V1|V2 ...")
@click.option("--b", "spec_b", metavar="SPEC", help="Side B as a filter (same syntax).")
@sop_option("sop_name", default_text="the shipped SOP that fits both sides (names their activities, its close and "
            "resolution steps occur), else none; none for no SOP",
            help="SOP giving roles, targets, limits and the flow (the same for both sides)")
@click.option("--out", "out_path", type=out_path, metavar="PATH",
              help="Draw B's map against A's: PATH (paths coloured by change in ticket share) and "
                   "PATH-wait (by change in median waiting time); .svg, .png, .pdf or .dot.")
@click.option("--paths", "paths_share", type=click.FloatRange(0.0, 1.0, min_open=True), default=1.0, show_default=True,
              help="Pictures only: keep the most frequent paths covering this share (e.g. 0.8 on large logs).")
@click.option("--resamples", type=int, default=2000, show_default=True, help="Bootstrap resamples per interval.")
@click.option("--seed", type=int, default=20250301, show_default=True,
              help="Bootstrap seed (same seed, same intervals).")
@click.option("--no-bottlenecks", is_flag=True, help="Skip the bottleneck ranking (faster).")
@calendar_option
@closing_options
@json_option
@quiet_option
@store_option
def compare_cmd(side_a: str | None, side_b: str | None, spec_a: str | None, spec_b: str | None, sop_name: str,
                out_path: str | None, paths_share: float, resamples: int, seed: int, no_bottlenecks: bool,
                calendar: str | None, closing: Any, as_json: bool, quiet: bool, store: str) -> None:
    """Compare two phases (or any two filters): KPIs with 95% bootstrap intervals, conformance
    per step, the process map of B against A, variants and bottlenecks.

    A side is a phase name (baseline) or comma-separated KEY=VALUE terms that must
    all hold: phase=NAME, from=TIME, to=TIME (opening time) or a case attribute
    (region=East, channel=phone|email; | separates alternatives). Without --sop an
    SOP is used only when it fits the log (stderr says which were considered);
    --sop none compares what needs no SOP (times, satisfaction, maps, variants,
    bottlenecks). Open tickets are counted apart (--closed-when): resolution rate,
    handling and throughput times are over closed tickets.

    \b
    Example:
        csmine compare baseline pilot --sop complaint --out pilot-vs-baseline.png
        csmine compare --a "phase=baseline" --b "region=East,from=2025-03-01" --json
        csmine compare baseline pilot --sop none --closed-when Closed
    """
    preload_pm4py()  # the SOP net needs pm4py; import it while the store is read
    from csmine.compare import compare_logs, side_label
    from csmine.eventlog import load_event_log

    if resamples < 100:
        raise click.BadParameter("use at least 100 resamples", param_hint="--resamples")
    text_a, filter_a = _side_filter(side_a, spec_a, "A")
    text_b, filter_b = _side_filter(side_b, spec_b, "B")
    if sop_name and not _is_none(sop_name):
        _load_sop(sop_name)  # an unknown SOP fails before the logs are read
    with _open(store) as s:
        df_a = load_event_log(s, filter_a, attributes=["satisfaction"])
        df_b = load_event_log(s, filter_b, attributes=["satisfaction"])
    import pandas as pd

    sop, note, choice = choose_sop(sop_name, pd.concat([df_a, df_b], ignore_index=True), allow_none=True,
                                   with_choice=True)
    from csmine.ordering import order_events

    df_a = order_events(df_a, sop, filter_a.tie_order)  # ties in the SOP's step order
    df_b = order_events(df_b, sop, filter_b.tie_order)
    if note and not quiet:
        click.echo(note, err=True)
    comparison = compare_logs(
        df_a, df_b, sop, label_a=side_label(text_a, filter_a, "A"), label_b=side_label(text_b, filter_b, "B"),
        filter_a=filter_a.describe(), filter_b=filter_b.describe(), calendar=_calendar(calendar),
        resamples=resamples, seed=seed, bottlenecks=not no_bottlenecks, closing=closing,
    )
    written = _draw_comparison(comparison, out_path, sop, df_b, paths_share) if out_path else []
    if as_json:
        data = _plain(comparison)
        data.pop("map_a", None)
        data.pop("map_b", None)
        for side, obj in (("a", comparison.a), ("b", comparison.b)):
            data[side].pop("status", None)
            data[side]["tickets"] = _tickets_json(obj.tickets, obj.status)
        data["sop_choice"] = choice.to_dict()
        data["maps_written"] = written
        echo_json(data)
        return
    _print_comparison(comparison)
    for path in written:
        click.echo(f"wrote {path}", err=True)


def _draw_comparison(comparison: Any, out_path: str, sop: Any, df_b: Any, paths: float) -> list[str]:
    from pathlib import Path

    from csmine.mining import discover_map
    from csmine.render.maps import dot_to, render_map

    map_a, map_b = comparison.map_a, comparison.map_b
    if paths < 1.0:
        # Simplify B's map only; hold it against A's full map, keeping A's paths that are
        # drawn for B and those B never takes (>= 1% of A's tickets), so "new" and
        # "gone" are never artefacts of simplifying each side on its own.
        full_b = {e.key for e in map_b.all_edges()}
        map_b = discover_map(df_b, paths=paths)
        drawn = {e.key for e in map_b.all_edges()}

        def keep(edges: Any) -> tuple[Any, ...]:
            return tuple(e for e in edges if e.key in drawn or (
                e.key not in full_b and e.cases >= 0.01 * max(map_a.tickets, 1)))

        map_a = dataclasses.replace(map_a, edges=keep(map_a.edges), start_edges=keep(map_a.start_edges),
                                    end_edges=keep(map_a.end_edges))

    target = Path(out_path)
    wait_path = target.with_name(f"{target.stem}-wait{target.suffix}")
    labels = {}
    for step in sop.steps if sop is not None else ():
        labels[step.name] = step.label
    for alias, step in sop.aliases.items() if sop is not None else ():
        if step in labels and alias not in labels:
            labels[alias] = f"{alias}"
    title = f"{comparison.b.label} against {comparison.a.label}"
    written = []
    for mode, path, what in (("frequency", target, "ticket share"), ("performance", wait_path, "median waiting time")):
        dot = render_map(map_b, mode=mode, compare=map_a, title=f"{title}: change in {what}", labels=labels)
        written.append(str(dot_to(dot, path)))
    return written


def _print_comparison(c: Any) -> None:
    from csmine.render import human_duration

    out = console()
    for side, name in ((c.a, "A"), (c.b, "B")):
        click.echo(f"{name} = {side.label} ({side.filter}): {side.tickets:,} tickets{_counts_text(side.status)}, "
                   f"{side.events:,} events, opened {_short_time(side.first_opened)} → "
                   f"{_short_time(side.last_opened)}")
    if c.a.status is not None:
        click.echo(f"open tickets: {c.a.status.rule}" + ("; resolution rate, handling and throughput times are over "
                                                        "closed tickets" if c.a.status.rule_known else ""))
    rows = []
    for k in c.kpis:
        ch = k.change
        verdict = k.verdict if ch.enough else ch.reason.replace("sample too small to conclude: ", "too small: ")
        rows.append((k.label, _fmt(ch.a, k.unit), _fmt(ch.b, k.unit), _fmt_diff(ch.diff, k.unit), _fmt_rel(ch.rel),
                     _fmt_ci(ch, k.unit), verdict))
    out.print(_table(("KPI", c.a.label, c.b.label, "change", "relative", "95% CI", "verdict"), rows,
                     title=f"KPIs, {c.b.label} against {c.a.label} (SOP {c.sop or '-'})", right=(1, 2, 3, 4, 5)))
    if c.steps:
        rows = []
        for st in c.steps:
            late = "-" if st.late is None else _arrow(st.late)
            rows.append((st.label, _arrow(st.skipped), _arrow(st.violated), st.limit or "-", late))
        out.print(_table(("step", "skipped", "other deviations", "time limit", "limit breached"), rows,
                         title="Conformance per step (share of tickets, A → B; * significant)", right=()))
    if c.paths:
        rows = []
        for p in c.paths[:12]:
            change = "-" if p.wait_change is None else f"{100 * p.wait_change:+.0f}%"
            rows.append((f"{p.source} → {p.target}", f"{p.cases_a:,}", f"{p.cases_b:,}", f"{p.share_change_pp:+.1f} pp",
                         human_duration(p.wait_median_a_s), human_duration(p.wait_median_b_s), change, p.status))
        out.print(_table(("path", f"tickets {c.a.label}", f"tickets {c.b.label}", "share change", "median wait A",
                          "median wait B", "wait change", ""), rows,
                         title="Process map: paths that changed most", right=(1, 2, 3, 4, 5, 6)))
    for what, items, total, share, side in (("appeared", c.appeared, c.appeared_total, c.appeared_share, c.b.label),
                                            ("vanished", c.vanished, c.vanished_total, c.vanished_share, c.a.label)):
        click.echo(f"variants that {what}: {total:,} ({100 * share:.1f}% of {side}'s tickets)")
        for v in items[:5]:
            click.echo(f"  {v.tickets:>5,}  {' → '.join(v.activities)}")
    if c.bottlenecks:
        rows = [(b.kind, b.where, b.rank_a or "-", b.rank_b or "-", human_duration(b.impact_a_s),
                 human_duration(b.impact_b_s), b.movement) for b in c.bottlenecks]
        out.print(_table(("kind", "where", f"rank {c.a.label}", f"rank {c.b.label}", "impact A", "impact B", "moved"),
                         rows, title="Bottlenecks (1 = worst; impact per ticket)", right=(2, 3, 4, 5)))
    click.echo(f"95% CI: percentile bootstrap over tickets, {c.resamples:,} resamples, seed {c.seed}; "
               "significant when the interval excludes 0.")
    for note in c.notes:
        click.echo(f"note: {note}", err=True)


# ---------------------------------------------------------------------------------
# review
# ---------------------------------------------------------------------------------


@click.command("review")
@click.option("--day", "day_text", metavar="DATE", help="Review this day (e.g. 2025-03-04).")
@click.option("--week", "week_text", metavar="WEEK", help="Weekly bulletin of this ISO week (e.g. 2025-W10).")
@sop_option("sop_name", default_text="the shipped SOP that fits the log (names its activities, its close and "
            "resolution steps occur), else none; none for no SOP (--day only)",
            help="SOP to review against: a shipped name or a .toml/.bpmn file")
@click.option("--baseline", "baseline_name", metavar="PHASE",
              help="Phase to hold the day's KPIs against (default: the phase named 'baseline', if defined).")
@calendar_option
@tz_option
@filter_options
@closing_options
@json_option
@quiet_option
@store_option
def review_cmd(day_text: str | None, week_text: str | None, sop_name: str, baseline_name: str | None,
               calendar: str | None, tz_name: str, log_filter: Any, closing: Any, as_json: bool, quiet: bool,
               store: str) -> None:
    """The pilot's daily review (--day) or weekly bulletin (--week).

    The day: KPIs of the tickets opened that day against the SOP's targets and the
    baseline, deviations new that day, time limits breached that day (with the
    command to trace each ticket), the top bottleneck, and what changed since the
    previous day. The week: best and worst teams and agents on SOP adherence, and
    violations an agent repeated. Without an SOP (--sop none, or none fits the
    log) the day shows what needs none (times, the bottleneck, the counts); the
    week needs an SOP (exit 4 without one).

    \b
    Example:
        csmine review --day 2025-03-04 --phase pilot --tz Asia/Shanghai
        csmine review --week 2025-W10 --phase pilot
    """
    preload_pm4py()  # the SOP net needs pm4py; import it while the store is read
    from datetime import date

    from csmine.eventlog import list_phases, load_event_log
    from csmine.filters import LogFilter
    from csmine.review import review_day, review_week

    if (day_text is None) == (week_text is None):
        raise click.UsageError("give exactly one of --day DATE and --week WEEK")
    tz = _zone(tz_name)
    if sop_name and not _is_none(sop_name):
        _load_sop(sop_name)  # an unknown SOP fails before the log is read
    cal = _calendar(calendar)
    with _open(store) as s:
        df = load_event_log(s, log_filter, attributes=["satisfaction"])
        baseline = None
        if day_text is not None:
            known = {p.name for p in list_phases(s)}
            name = baseline_name or ("baseline" if "baseline" in known else None)
            if baseline_name and baseline_name not in known:
                raise click.BadParameter(f"no phase {baseline_name!r} (see `csmine phase list`)",
                                         param_hint="--baseline")
            if name and name != log_filter.phase:
                baseline = load_event_log(s, LogFilter(phase=name, tie_order=log_filter.tie_order),
                                          attributes=["satisfaction"])
            else:
                name = None
    if len(df) == 0:
        from csmine.errors import EmptyLogError

        raise EmptyLogError(f"no events for {log_filter.describe()}: check --phase and the filters")
    sop, note, choice = choose_sop(
        sop_name, df, allow_none=day_text is not None, with_choice=True,
        needs="the weekly bulletin ranks teams and agents on SOP adherence (deviations and late steps): it needs "
              "an SOP")
    from csmine.ordering import order_events

    df = order_events(df, sop, log_filter.tie_order)  # ties in the SOP's step order
    if baseline is not None:
        baseline = order_events(baseline, sop, log_filter.tie_order)
    if note and not quiet:
        click.echo(note, err=True)
    if day_text is not None:
        try:
            day = date.fromisoformat(day_text.strip())
        except ValueError as exc:
            raise click.BadParameter(f"cannot read {day_text!r} as a date (use e.g. 2025-03-04)",
                                     param_hint="--day") from exc
        result = review_day(df, sop, day, tz=tz, baseline=baseline, baseline_name=name, phase=log_filter.phase,
                            calendar=cal, closing=closing)
        if as_json:
            echo_json(_plain(result) | {"sop_choice": choice.to_dict()})
            return
        _print_day(result, tz)
    else:
        assert week_text is not None
        bulletin = review_week(df, sop, week_text, tz=tz, phase=log_filter.phase, calendar=cal)
        if as_json:
            echo_json(_plain(bulletin) | {"sop_choice": choice.to_dict()})
            return
        _print_week(bulletin)


def _print_day(r: Any, tz: tzinfo) -> None:
    from csmine.render import human_duration

    out = console()
    scope = f"phase {r.phase}" if r.phase else "all tickets"
    click.echo(f"Daily review {r.day} ({r.tz}), {scope}, SOP {r.sop or '-'}: {r.tickets_opened:,} tickets opened, "
               f"{r.events:,} events; previous active day {r.previous_day or '-'}")
    if r.kpis:
        rows = []
        for k in r.kpis:
            target = "-" if k.target is None else _fmt(k.target, k.unit)
            met = "-" if k.met is None else ("yes" if k.met else "NO")
            base = "-" if k.vs_baseline is None else _fmt(k.baseline, k.unit)
            word = "-"
            if k.vs_baseline is not None:
                word = k.verdict if k.vs_baseline.enough else "too small to conclude"
            rows.append((k.label, _fmt(k.value, k.unit), f"{k.n:,}", target, met, _fmt(k.previous, k.unit), base, word))
        out.print(_table(("KPI", "today", "n", "target", "met", "previous day", r.baseline or "baseline",
                          "vs baseline"), rows, title="KPIs of the tickets opened today", right=(1, 2, 3, 5, 6)))
    if r.sop is None:
        pass  # deviations and breaches need an SOP: the notes say so
    elif r.new_deviations:
        rows = [(d.kind, d.step, d.count, ", ".join(d.tickets)) for d in r.new_deviations]
        out.print(_table(("kind", "step", "today", "tickets"), rows, title="Deviations new today", right=(2,)))
    else:
        click.echo("no deviation new today (every kind and step seen today was seen before)")
    if r.sop is None:
        pass
    elif r.breaches:
        rows = [(b.ticket, b.step, b.limit, _short_time(b.deadline, tz), b.status, human_duration(b.late_s),
                 b.actor or "-", b.trace) for b in r.breaches[:MAX_BREACH_ROWS]]
        out.print(_table(("ticket", "step", "limit", "deadline", "status", "late by", "by", "see"), rows,
                         title=f"Time limits breached today ({len(r.breaches):,})", right=(5,)))
        if len(r.breaches) > MAX_BREACH_ROWS:
            click.echo(f"... and {len(r.breaches) - MAX_BREACH_ROWS:,} more (all of them with --json)")
    else:
        click.echo("no time limit breached today")
    if r.bottleneck:
        b = r.bottleneck
        line = (f"top bottleneck today: {b.source} → {b.target}, {human_duration(b.total_wait_s)} waited in total "
                f"over {b.waits} waits (median {human_duration(b.median_wait_s)})")
        if r.previous_bottleneck:
            p = r.previous_bottleneck
            line += f"; previous day: {p.source} → {p.target} ({human_duration(p.total_wait_s)})"
        click.echo(line)
    rows = [(c.name, f"{c.day:,}", f"{c.previous:,}", f"{c.day - c.previous:+,}") for c in r.changes]
    out.print(_table(("since the previous day", "today", "previous", "change"), rows, right=(1, 2, 3)))
    for note in r.notes:
        click.echo(f"note: {note}", err=True)


def _print_week(w: Any) -> None:
    out = console()
    scope = f"phase {w.phase}" if w.phase else "all tickets"
    from datetime import date, timedelta

    sunday = (date.fromisoformat(w.end) - timedelta(days=1)).isoformat()
    click.echo(f"Weekly bulletin {w.week} (Mon {w.start} to Sun {sunday}, {w.tz}), {scope}, SOP {w.sop}: "
               f"{w.tickets_opened:,} tickets opened, {w.events:,} events")

    def rows(items: Any) -> list[tuple[Any, ...]]:
        return [(a.who, f"{100 * a.adherence:.1f}%", f"{a.steps:,}", a.deviations, a.late) for a in items]

    headers = ("", "adherence", "steps", "deviations", "late")
    for title, items in (("Best teams", w.best_teams), ("Worst teams", w.worst_teams),
                         ("Best agents", w.best_agents), ("Worst agents", w.worst_agents)):
        if items:
            out.print(_table(headers, rows(items), title=title, right=(1, 2, 3, 4)))
    if w.repeated:
        click.echo(f"Repeated violations ({len(w.repeated):,}):")
        for r in w.repeated[:MAX_REPEATED_ROWS]:
            shown = ", ".join(r.tickets[:5]) + (f", +{len(r.tickets) - 5} more" if len(r.tickets) > 5 else "")
            click.echo(f"  {r.text}  ({shown})")
        if len(w.repeated) > MAX_REPEATED_ROWS:
            click.echo(f"  ... and {len(w.repeated) - MAX_REPEATED_ROWS:,} more (all of them with --json)")
    else:
        click.echo("no agent repeated a violation this week")
    click.echo(f"adherence = 1 - (deviations + late steps) / steps; ranked from {_min_steps()} steps "
               "(agents) and 30 (teams)")
    for note in w.notes:
        click.echo(f"note: {note}", err=True)


def _min_steps() -> int:
    from csmine.review import MIN_AGENT_STEPS

    return MIN_AGENT_STEPS


# ---------------------------------------------------------------------------------
# replay
# ---------------------------------------------------------------------------------


def _alert_line(alert: Any, tz: tzinfo, tags: dict[str, str] | None) -> str:
    when = alert.time.astimezone(tz).strftime("%Y-%m-%d %H:%M")
    tag = f"{tags[alert.sop]:<3} " if tags else ""
    return f"{when}  {tag}{alert.ticket:<14} {alert.kind:<12} {alert.step:<20} {alert.detail}"


@click.command("replay")
@sop_option("sop_name", default_text="none: give --sop unless --rebuild",
            help="SOP to monitor: a shipped name or a .toml/.bpmn file")
@click.option("--compare-sop", "compare_name", metavar="OTHER",
              help="Also replay against this (revised) SOP and show the difference.")
@click.option("--speed", type=float, metavar="X",
              help="Play in business time divided by X (3600: one hour per second).")
@click.option("--step", "step_days", is_flag=True, help="Wait for Enter at each new business day (on a terminal).")
@click.option("--at-risk", type=float, default=0.8, show_default=True,
              help="Share of a limit at which a missing step is 'at risk'.")
@click.option("--rebuild", is_flag=True,
              help="Rebuild the read model from the event log and check it matches (exit 5 if not).")
@calendar_option
@tz_option
@filter_options
@json_option
@quiet_option
@store_option
def replay_cmd(sop_name: str | None, compare_name: str | None, speed: float | None, step_days: bool,
               at_risk: float, rebuild: bool, calendar: str | None, tz_name: str, log_filter: Any,
               as_json: bool, quiet: bool, store: str) -> None:
    """Replay recorded events in business-time order through online SOP and SLA monitors.

    Prints each alert as it would have fired (skipped step, out of order, repeated,
    extra step, ticket at risk at 80% of a time limit, limit breached), then a
    summary. With --compare-sop the same events run against a revised SOP too and
    the alerts only one of them raises are counted. Events are read page by page.

    \b
    Example:
        csmine replay --sop complaint --phase pilot
        csmine replay --sop complaint --compare-sop complaint-v2 --from 2025-03-03 --to 2025-03-04
        csmine replay --sop complaint --speed 3600 --tz Asia/Shanghai
        csmine replay --rebuild
    """
    preload_pm4py()  # the SOP net needs pm4py; import it while the store is read
    from csmine.replay import Alert, DayStarted, Replayer, check_rebuild, diff_alerts, rebuild_read_model
    from csmine.replay import stream_events, summarise_alerts

    if rebuild:
        with _open(store) as s:
            report = rebuild_read_model(s)
        _print_rebuild(report, as_json)
        check_rebuild(report)
        return
    if not sop_name:
        raise click.UsageError("give --sop NAME (or --rebuild)")
    needs = ("replay runs every ticket through an SOP's flow and time limits: it needs an SOP")
    for name in (sop_name, compare_name):
        if _is_none(name):
            choose_sop(name, None, needs=needs)  # SopMismatchError, exit 4
    if speed is not None and speed <= 0:
        raise click.BadParameter("must be positive", param_hint="--speed")
    if speed is not None and step_days:
        raise click.UsageError("use either --speed or --step, not both")
    tz = _zone(tz_name)
    sops = [_load_sop(sop_name)]
    if compare_name:
        sops.append(_load_sop(compare_name))
        if sops[1].id == sops[0].id:
            raise click.UsageError(f"--compare-sop names the same SOP as --sop ({sops[0].id})")
    tags = {sops[0].id: "A", sops[1].id: "B"} if len(sops) == 2 else None
    live = not as_json
    interactive = step_days and sys.stdin.isatty()
    if step_days and not interactive and live:
        click.echo("--step needs a terminal on stdin; replaying without pauses", err=True)
    replayer = Replayer(sops, at_risk=at_risk, tz=tz, calendar=_calendar(calendar))
    alerts: list[Any] = []
    shown_day = None
    pending_day = None
    last_time: datetime | None = None
    with _open(store) as s:
        for item in replayer.run(stream_events(s, log_filter, sop=sops[0])):
            if isinstance(item, DayStarted):
                pending_day = item.day
                continue
            assert isinstance(item, Alert)
            alerts.append(item)
            if not live:
                continue
            if speed is not None and last_time is not None:
                gap = (item.time - last_time).total_seconds() / speed
                if gap > 0:
                    _time.sleep(min(gap, MAX_SLEEP_S))
            last_time = item.time
            if pending_day is not None and pending_day != shown_day:
                if interactive and shown_day is not None:
                    click.prompt(f"-- next day {pending_day} (Enter)", default="", show_default=False,
                                 prompt_suffix="", err=True)
                click.echo(f"── {pending_day.isoformat()} ──")
                shown_day = pending_day
            click.echo(_alert_line(item, tz, tags))
    summaries = [summarise_alerts(alerts, sop.id) for sop in sops]
    difference = diff_alerts(alerts, sops[0].id, sops[1].id) if len(sops) == 2 else None
    if as_json:
        echo_json(_plain({
            "sops": [sop.id for sop in sops],
            "filter": log_filter.describe(),
            "events": replayer.events,
            "tickets": replayer.tickets,
            "first": replayer.first,
            "last": replayer.last,
            "alerts": alerts,
            "summaries": summaries,
            "difference": None if difference is None else {
                k: v for k, v in _plain(difference).items() if k not in ("alerts_only_a", "alerts_only_b")
            } | {"alerts_only_a": _plain(difference.alerts_only_a), "alerts_only_b": _plain(difference.alerts_only_b)},
        }))
        return
    _print_replay_summary(replayer, summaries, difference, tz, tags, log_filter)


def _print_replay_summary(replayer: Any, summaries: list[Any], difference: Any, tz: tzinfo,
                          tags: dict[str, str] | None, log_filter: Any) -> None:
    from csmine.replay import ALERT_KINDS

    out = console()
    first = replayer.first.astimezone(tz).strftime("%Y-%m-%d %H:%M") if replayer.first else "-"
    last = replayer.last.astimezone(tz).strftime("%Y-%m-%d %H:%M") if replayer.last else "-"
    click.echo("")
    click.echo(f"replayed {replayer.events:,} events of {replayer.tickets:,} tickets ({log_filter.describe()}), "
               f"{first} → {last}")
    names = [s.sop + (f" ({tags[s.sop]})" if tags else "") for s in summaries]
    rows = [(k, *[f"{s.by_kind[k]:,}" for s in summaries]) for k in ALERT_KINDS]
    rows.append(("all alerts", *[f"{s.alerts:,}" for s in summaries]))
    rows.append(("tickets alerted", *[f"{s.tickets_alerted:,}" for s in summaries]))
    out.print(_table(("alerts", *names), rows, title="Alerts per kind", right=tuple(range(1, len(names) + 1))))
    steps: dict[tuple[str, str], list[int]] = {}
    for i, s in enumerate(summaries):
        for kind, per_step in s.by_step.items():
            for step, n in per_step.items():
                steps.setdefault((kind, step), [0] * len(summaries))[i] = n
    if steps:
        order = sorted(steps, key=lambda k: (ALERT_KINDS.index(k[0]), -max(steps[k]), k[1]))
        out.print(_table(("kind", "step", *names), [(k, st, *[f"{n:,}" for n in steps[(k, st)]]) for k, st in order],
                         title="Alerts per step", right=tuple(range(2, len(names) + 2))))
    if difference is not None:
        rows = []
        for kind in ALERT_KINDS:
            a_steps = difference.only_a_by_step.get(kind, {})
            b_steps = difference.only_b_by_step.get(kind, {})
            for step in sorted(set(a_steps) | set(b_steps)):
                rows.append((kind, step, f"{a_steps.get(step, 0):,}", f"{b_steps.get(step, 0):,}"))
        click.echo(f"{difference.sop_a} (A) against {difference.sop_b} (B): {difference.both:,} alerts in both, "
                   f"{sum(difference.only_a.values()):,} only in A, {sum(difference.only_b.values()):,} only in B")
        if rows:
            out.print(_table(("kind", "step", "only in A", "only in B"), rows, title="What the revision changes",
                             right=(2, 3)))


def _print_rebuild(report: Any, as_json: bool) -> None:
    if as_json:
        echo_json(_plain(report) | {"match": report.match})
        return
    rows = [(t.table, f"{t.rows_before:,}", f"{t.rows_after:,}", t.digest_before[:16], t.digest_after[:16],
             "match" if t.match else f"{t.mismatches:,} rows differ") for t in report.tables]
    console().print(_table(("table", "rows before", "rows after", "digest before", "digest after", "check"), rows,
                           title=f"Read model rebuilt from {report.notifications:,} stored events", right=(1, 2)))
    for t in report.tables:
        for label, keys in (("missing after rebuild", t.missing), ("only after rebuild", t.added),
                            ("changed", t.changed)):
            if keys:
                click.echo(f"{t.table}: {label}: {', '.join(keys)}", err=True)
    click.echo("read model matches the event log" if report.match
               else "MISMATCH: the read model did not match the event log")


def register(cli: click.Group) -> None:
    """Add this module's commands to the root group."""
    cli.add_command(phase_group)
    cli.add_command(compare_cmd)
    cli.add_command(review_cmd)
    cli.add_command(replay_cmd)
