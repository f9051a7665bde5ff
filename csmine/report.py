"""The HTML report: every analysis of a set of tickets on one self-contained page.

:func:`build_report` runs the analyses (KPIs, process maps at several simplification
levels, conformance, bottlenecks, the optional phase comparison, variants, backlog,
a sample of traces, the animation) and returns the page as text. Rendering of
each map goes through Graphviz ``dot`` once; everything is inlined.
"""

from __future__ import annotations

import contextlib
import math
import os
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from csmine.errors import CsmineError, EmptyLogError
from csmine.filters import LogFilter

if TYPE_CHECKING:
    import pandas as pd

    from event_store.application import TicketStore
    from process_models import SOP

    from csmine.lifecycle import ClosingRule

ACTIVITY_LEVELS = (1.0, 0.9, 0.75)
PATH_LEVELS = (1.0, 0.8, 0.6)
ANIMATED_TICKETS = 3000


@dataclass(frozen=True, slots=True)
class ReportResult:
    """What :func:`build_report` produced.

    Attributes:
        html: the page.  tickets / events: size of the analysed log.
        sop: SOP id used.  sections: section ids present.
        findings: headline figures (plain data, also used by tests and --json).
    """

    html: str
    tickets: int
    events: int
    sop: str | None
    sections: tuple[str, ...]
    findings: dict[str, Any]


def _svg(dot: str) -> str:
    import shutil
    import subprocess

    exe = shutil.which("dot")
    if exe is None:
        raise CsmineError("the report needs Graphviz `dot` to draw maps: install graphviz (scripts/bootstrap.sh does)")
    proc = subprocess.run([exe, "-Tsvg"], input=dot.encode(), capture_output=True, timeout=300, check=False)
    if proc.returncode != 0:
        raise CsmineError(f"Graphviz failed to draw a map: {proc.stderr.decode(errors='replace')[:300]}")
    svg = proc.stdout.decode("utf-8")
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else svg


def _fmt_value(k: Any) -> tuple[str, str]:
    from csmine.render import human_duration, human_share

    if k.value is None:
        return "–", ""
    if k.unit == "seconds":
        value = human_duration(k.value)
        target = f"target ≤ {human_duration(k.target)}" if k.target is not None else ""
        if k.within_target is not None:
            target += f" · {human_share(k.within_target)} within"
        return value, target
    if k.unit == "share":
        return human_share(k.value), (f"target ≥ {human_share(k.target)}" if k.target is not None else "")
    if k.unit == "points":
        return f"{k.value:.1f}", (f"target ≥ {k.target:.0f}" if k.target is not None else "")
    if k.unit == "count":  # a mean per ticket (handovers): "0.54", not "1"
        return f"{k.value:,.2f}", ""
    return f"{k.value:,.0f}", ""


def _change_text(unit: str, c: Any) -> tuple[str, str, str, str]:
    from csmine.render import human_duration

    def v(x: float) -> str:
        if x is None or (isinstance(x, float) and math.isnan(x)):
            return "–"
        if unit == "share":
            return f"{100 * x:.1f}%"
        if unit == "seconds":
            return human_duration(x)
        return f"{x:.1f}"

    def d(x: float) -> str:
        if x is None or (isinstance(x, float) and math.isnan(x)):
            return "–"
        if unit == "share":
            return f"{100 * x:+.1f} pts"
        if unit == "seconds":
            return ("+" if x >= 0 else "−") + human_duration(abs(x))
        return f"{x:+.1f}"

    ci = f"[{d(c.ci_low)}, {d(c.ci_high)}]" if not math.isnan(c.ci_low) else "–"
    return v(c.a), v(c.b), d(c.diff), ci


def _animation(df: pd.DataFrame, pmap: Any) -> dict[str, Any]:
    """Token moves ``[edge title, start ms, end ms]`` for a sample of tickets."""
    import numpy as np

    from csmine.mining import END, START

    from csmine.render.maps import node_ids

    ids = node_ids(pmap)
    edges = {(e.source, e.target) for e in pmap.all_edges()}
    cases = df["case:concept:name"].drop_duplicates()
    if len(cases) > ANIMATED_TICKETS:
        idx = np.linspace(0, len(cases) - 1, ANIMATED_TICKETS).round().astype(int)
        cases = cases.iloc[idx]
    sub = df[df["case:concept:name"].isin(set(cases))]
    ms = (sub["time:timestamp"].astype("int64") // 1000).to_numpy()
    case = sub["case:concept:name"].to_numpy()
    act = sub["concept:name"].to_numpy()
    moves: list[list[Any]] = []
    lead = 30 * 60 * 1000
    for i in range(len(sub)):
        first = i == 0 or case[i - 1] != case[i]
        last = i == len(sub) - 1 or case[i + 1] != case[i]
        if first and (START, act[i]) in edges:
            moves.append([f"{ids[START]}->{ids[act[i]]}", int(ms[i] - lead), int(ms[i])])
        if not last and (act[i], act[i + 1]) in edges and act[i] in ids and act[i + 1] in ids:
            moves.append([f"{ids[act[i]]}->{ids[act[i + 1]]}", int(ms[i]), int(ms[i + 1])])
        if last and (act[i], END) in edges and act[i] in ids:
            moves.append([f"{ids[act[i]]}->{ids[END]}", int(ms[i]), int(ms[i] + lead)])
    start = int(ms.min() - lead) if len(ms) else 0
    end = int(ms.max() + lead) if len(ms) else 1
    return {"start": start, "end": end, "moves": moves,
            "note": f"{len(cases):,} tickets sampled evenly over the period; each dot is a ticket travelling a path "
                    "between two steps, so dots that linger show where tickets wait. Drag the time slider to a day, "
                    "choose a speed and press play."}


def unusual_days(df: pd.DataFrame, *, minimum: int = 10) -> list[dict[str, Any]]:
    """Days on which a step's working time jumped: per step and UTC day of work start,
    the median working time (completion - start) against the step's median over all
    days; days with at least ``minimum`` events, largest ratio first."""
    import pandas as pd

    if "start_timestamp" not in df.columns:
        return []
    work = df[df["start_timestamp"].notna()]
    if work.empty:
        return []
    minutes = (work["time:timestamp"] - work["start_timestamp"]).dt.total_seconds() / 60.0
    # The calendar day of work start in the column's own time zone, as a datetime64 day
    # (formatting a million dates as text takes seconds; only the chosen days are).
    start = work["start_timestamp"]
    if start.dt.tz is not None:
        start = start.dt.tz_localize(None)
    frame = pd.DataFrame({"step": work["concept:name"].to_numpy(),
                          "day": start.to_numpy().astype("datetime64[D]"),
                          "minutes": minutes.to_numpy()})
    overall = frame.groupby("step")["minutes"].median()
    daily = frame.groupby(["step", "day"])["minutes"].agg(["median", "count"]).reset_index()
    daily = daily[daily["count"] >= minimum]
    if daily.empty:  # (an empty string column cannot be divided: no day qualifies)
        return []
    daily["ratio"] = daily["median"] / daily["step"].map(overall)
    daily = daily.sort_values("ratio", ascending=False).head(5)
    return [{"step": r.step, "date": r.day.strftime("%Y-%m-%d"), "median_minutes": float(r.median),
             "events": int(r.count),
             "ratio": float(r.ratio)} for r in daily.itertuples()]


def build_report(
    store: TicketStore,
    log_filter: LogFilter | None = None,
    *,
    sop: SOP | None = None,
    compare: tuple[str, str] | None = None,
    progress: Callable[[str], None] | None = None,
    sample: int = 8,
    parallel: bool | None = None,
    auto_sop: bool = True,
    closing: ClosingRule | None = None,
    first_response: str | None = None,
) -> ReportResult:
    """Analyse the tickets and render the report page.

    Args:
        store: the store.  log_filter: which tickets.
        sop: the SOP to hold the tickets against; None: with ``auto_sop`` the
            shipped SOP that fits the log (:func:`csmine.kpi.choose_shipped_sop`:
            names its activities and its close and resolution steps occur), else
            none. ``findings["sop_choice"]`` says which were considered and why.
        compare: two phase names (A = baseline, B = pilot) to compare; default:
            ``baseline`` and ``pilot`` when both phases exist (skipped, with a note on
            the page, when one of them holds no tickets; an explicit pair fails then).
        progress: called with a short label before each stage.
        sample: how many ticket traces to show.
        parallel: check conformance and compare the phases in a forked process on
            the second core while this one does the other sections; None (the default) does so
            for logs of :data:`PARALLEL_MIN_EVENTS` or more on a machine with two or
            more cores, unless ``CSMINE_PARALLEL=0``. The page is the same either way.
        auto_sop: without ``sop``, choose a shipped SOP that fits (False: no SOP, ``--sop none``).
        closing: ``--closed-when`` and the stale horizon (which tickets are open).
        first_response: the SOP-less first-response rule (an activity pattern, see
            :func:`csmine.kpi.ticket_kpis`).
    """
    from csmine.kpi import reuse_preparation

    started: list[_Pending] = []
    try:
        with reuse_preparation():
            return _build_report(store, log_filter, sop=sop, compare=compare, progress=progress, sample=sample,
                                 parallel=parallel, started=started, auto_sop=auto_sop, closing=closing,
                                 first_response=first_response)
    finally:
        for job in started:  # a failure before a child's result was read: do not leave it behind
            job.close()


#: Events from which the report checks conformance and compares phases on a second core.
PARALLEL_MIN_EVENTS = 200_000


def _parallel(events: int, requested: bool | None) -> bool:
    if not hasattr(os, "fork"):
        return False
    if requested is not None:
        return requested
    if os.environ.get("CSMINE_PARALLEL", "1") == "0":
        return False
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return cores >= 2 and events >= PARALLEL_MIN_EVENTS


class _Pending:
    """A computation running in a forked child (or already done in this process)."""

    def __init__(self, fn: Callable[[], Any], forked: bool) -> None:
        self._fn = fn
        self._value: Any = None
        self._pid = 0
        self._fd = -1
        if not forked:
            self._value = fn()
            return
        import pickle
        import threading

        # A thread importing a module while we fork would leave that module's import
        # lock held forever in the child: let the background pm4py import finish.
        for thread in threading.enumerate():
            if thread.name == "csmine-preload-pm4py":
                thread.join()
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: compute, send the result, leave without any clean-up
            os.close(read_fd)
            try:
                try:
                    payload = pickle.dumps(("ok", fn()), protocol=pickle.HIGHEST_PROTOCOL)
                except BaseException as exc:  # noqa: BLE001 -- handed to the parent
                    try:
                        payload = pickle.dumps(("error", exc), protocol=pickle.HIGHEST_PROTOCOL)
                    except Exception:  # noqa: BLE001
                        payload = pickle.dumps(("error", RuntimeError(repr(exc))))
                with os.fdopen(write_fd, "wb") as fh:
                    fh.write(payload)
            finally:
                # Never return into the parent's code, run its atexit hooks or close
                # its database connections (a PostgreSQL connection closed here
                # would end the parent's session).
                os._exit(0)
        os.close(write_fd)
        self._pid, self._fd = pid, read_fd

    def close(self) -> None:
        """Stop a child whose result will not be read (no-op once it has been)."""
        if self._pid == 0:
            return
        import signal

        os.close(self._fd)
        with contextlib.suppress(ProcessLookupError):
            os.kill(self._pid, signal.SIGKILL)
        os.waitpid(self._pid, 0)
        self._pid = 0

    def result(self) -> Any:
        if self._pid == 0:
            return self._value
        import pickle

        with os.fdopen(self._fd, "rb") as fh:
            data = fh.read()
        os.waitpid(self._pid, 0)
        self._pid = 0
        if not data:  # the child died (killed, out of memory): compute it here
            self._value = self._fn()
            return self._value
        kind, value = pickle.loads(data)
        if kind == "error":
            raise value
        self._value = value
        return value


def _start(fn: Callable[[], Any], *, parallel: bool, started: list[_Pending]) -> _Pending:
    job = _Pending(fn, parallel)
    started.append(job)
    return job


def _sop_checks(df: pd.DataFrame, sop: SOP, tickets: pd.DataFrame,
                sides: tuple[pd.DataFrame, pd.DataFrame, str, str, pd.DataFrame] | None,
                closing: ClosingRule | None = None) -> tuple[Any, str, Any]:
    """Conformance of ``df`` against ``sop`` (report, SOP overlay SVG) and the phase comparison."""
    from csmine.compare import compare_logs
    from csmine.conformance import analyse_conformance, render_conformance_dot

    analysis = analyse_conformance(df, sop)
    sop_svg = _svg(render_conformance_dot(sop, analysis.report))
    cmp = None
    if sides is not None:
        df_a, df_b, a, b, limits_all = sides
        cmp = compare_logs(df_a, df_b, sop, label_a=a, label_b=b, filter_a=f"phase {a}", filter_b=f"phase {b}",
                           ticket_kpis_all=tickets, deviations=analysis.deviations, limits_all=limits_all,
                           closing=closing)
    return analysis.report, sop_svg, cmp


def _build_report(store: TicketStore, log_filter: LogFilter | None, *, sop: SOP | None,
                  compare: tuple[str, str] | None, progress: Callable[[str], None] | None,
                  sample: int, parallel: bool | None, started: list[_Pending], auto_sop: bool = True,
                  closing: ClosingRule | None = None, first_response: str | None = None) -> ReportResult:
    import pandas as pd

    from csmine.bottlenecks import find_bottlenecks
    from csmine.demo import demo_truth
    from csmine.eventlog import list_phases, load_event_log
    from csmine.kpi import SopChoice, backlog_series, check_limits, choose_shipped_sop, summarise_kpis, ticket_kpis
    from csmine.mining import discover_maps, discover_variants
    from csmine.render import human_duration, human_share
    from csmine.render.html_report import line_chart_svg, render_report_html
    from csmine.ordering import order_events
    from csmine.render.maps import render_map
    from process_models import load_sop

    step = progress or (lambda _label: None)
    step("loading events")
    log_filter = log_filter or LogFilter()
    df = load_event_log(store, log_filter, attributes=["satisfaction"])
    if df.empty:
        raise EmptyLogError(f"no tickets match {log_filter.describe()} in {store.location.display}: nothing to report")
    if sop is not None:
        choice = SopChoice(sop.id, "--sop")
    elif auto_sop:
        choice = choose_shipped_sop(df)
        sop = load_sop(choice.chosen) if choice.chosen else None
    else:
        choice = SopChoice(None, "--sop none")
    df = order_events(df, sop, log_filter.tie_order)  # ties in the SOP's step order
    labels = {s.name: sop.label(s.name) for s in sop.steps} if sop else {}
    findings: dict[str, Any] = {"tickets": int(df["case:concept:name"].nunique()), "events": len(df),
                                "sop": sop.id if sop else None, "sop_choice": choice.to_dict()}

    step("KPIs")
    tickets = ticket_kpis(df, sop, closing=closing, first_response=first_response)
    kpis = summarise_kpis(tickets, sop)
    kpi_tiles = []
    for k in kpis.kpis:
        value, target = _fmt_value(k)
        if k.value is None:  # say why, never "n = 0"
            kpi_tiles.append({"name": k.label, "value": value, "target": target, "met": None, "why": k.note})
            continue
        kpi_tiles.append({"name": k.label, "value": value, "target": target, "met": k.met,
                          "detail": f"n = {k.n:,}" + (f" · P90 {human_duration(k.p90_s)}" if k.p90_s else "")})
    findings["kpis"] = {k.name: k.value for k in kpis.kpis}
    status = kpis.status
    findings["ticket_status"] = dataclasses.asdict(status) if status is not None else None
    findings["kpi_notes"] = list(kpis.notes)
    kpi_note = " ".join(x for x in (
        (status.describe() + ".") if status is not None else "",
        ("Rates and times that need a ticket to have ended are over the closed tickets; the backlog and the age "
         "of the open ones are shown apart.") if status is not None and status.rule_known else
        "Pass --closed-when ACTIVITY (or an SOP with a close step) to count open tickets apart.",
        " ".join(f"{n[0].upper()}{n[1:]}." for n in kpis.notes),
    ) if x)

    step("conformance")
    phases = {p.name for p in list_phases(store)}
    chosen_compare = compare is None and {"baseline", "pilot"} <= phases
    if chosen_compare:
        compare = ("baseline", "pilot")
    comparison = None
    compare_svg = None
    if compare is not None:
        a, b = compare

        def phase_log(name: str) -> pd.DataFrame:
            # Without a time window or phase filter, ``df`` already holds every ticket the
            # phase filter would read (same attribute filters, same columns and order):
            # take its rows instead of reading the store again (a third of the report's
            # time at 1M events). Otherwise, and for an unknown phase (the error), read.
            if log_filter.start is None and log_filter.end is None and not log_filter.phase and name in phases:
                return df[(df["case:phase"] == name).to_numpy(dtype=bool)].reset_index(drop=True)
            return order_events(load_event_log(store, LogFilter(phase=name, where=log_filter.where,
                                                                tie_order=log_filter.tie_order),
                                               attributes=["satisfaction"]), sop, log_filter.tie_order)

        df_a = phase_log(a)
        df_b = phase_log(b)
        empty_sides = [n for n, d in ((a, df_a), (b, df_b)) if len(d) == 0]
        if chosen_compare and empty_sides:
            # Chosen for the user (both phases exist), not asked for: a side without
            # tickets skips the section instead of failing the whole report.
            note = (f"Comparison of {b} against {a} skipped: phase {' and '.join(empty_sides)} holds no tickets"
                    f"{' matching ' + log_filter.describe() if log_filter.where else ''} "
                    "(see `csmine phase list`; ask for another pair with --compare A B).")
            comparison = {"summary": note, "headers": [], "rows": []}
            findings["comparison_skipped"] = note
            compare = None
    # Conformance and the phase comparison need only the frames computed so far: on a
    # large log they run in a forked process on the second core while this one does the
    # bottlenecks and maps (see ``parallel``).
    conformance = None
    sop_svg = None
    pending: _Pending | None = None
    cmp = None
    if sop is not None:
        sides = None
        if compare is not None:
            a, b = compare
            sides = (df_a, df_b, a, b, check_limits(df, sop, closing=closing))
        pending = _start(lambda: _sop_checks(df, sop, tickets, sides, closing), parallel=_parallel(len(df), parallel),
                         started=started)
    elif compare is not None:  # no SOP: the KPIs that need none, maps, variants, bottlenecks
        from csmine.compare import compare_logs

        a, b = compare
        cmp = compare_logs(df_a, df_b, None, label_a=a, label_b=b, filter_a=f"phase {a}", filter_b=f"phase {b}",
                           ticket_kpis_all=tickets, conformance=False, closing=closing)

    step("bottlenecks")
    bn = find_bottlenecks(df, sop, closing=closing)
    highlight = bn.highlight(3)
    notes = bn.highlight_notes(3)

    days = unusual_days(df)
    findings["unusual_days"] = days
    if days:
        findings["slowest_handle_day"] = days[0]
        bottlenecks_days = [[d["date"], labels.get(d["step"], d["step"]), f"{d['median_minutes']:.0f} min",
                             f"×{d['ratio']:.1f}", d["events"]] for d in days]
    else:
        bottlenecks_days = []

    step("process maps")
    map_svgs: dict[str, str] = {}
    full_map = None
    maps = discover_maps(df, activities=ACTIVITY_LEVELS, paths=PATH_LEVELS)
    for i, a in enumerate(ACTIVITY_LEVELS):
        for j, p in enumerate(PATH_LEVELS):
            pmap = maps[(a, p)]
            if i == 0 and j == 0:
                full_map = pmap
            for mode in ("frequency", "performance"):
                dot = render_map(pmap, mode=mode, labels=labels,
                                 highlight=highlight if mode == "performance" else None,
                                 notes=notes if mode == "performance" else None)
                map_svgs[f"{mode}-{i}-{j}"] = _svg(dot)
    assert full_map is not None
    anim_svg = _svg(render_map(full_map, mode="frequency", labels=labels))

    bottlenecks = {
        "headers": ["#", "where", "kind", "time saved per ticket", "share of throughput", "median", "P90",
                    "occurrences"],
        "rows": [[b.rank, labels.get(b.where, b.where), b.kind, human_duration(b.mean_impact_s),
                  human_share(b.share_of_throughput), human_duration(b.median_s), human_duration(b.p90_s),
                  f"{b.occurrences:,}"] for b in bn.bottlenecks[:10]],
        "pingpong_title": "Ping-pong between " + ("agents (the log names no teams)"
                                                  if bn.handover_key not in (None, "org:group") else "teams"),
        "pingpong_headers": ["agent" if bn.handover_key not in (None, "org:group") else "team", "bounced to",
                             "direct (A→B→A)", "indirect", "tickets"],
        "pingpong": [[p.team_a, p.team_b, p.direct, p.indirect, p.tickets] for p in bn.ping_pong[:6]],
        "days_headers": ["day", "step", "median work", "vs usual", "events"],
        "days": bottlenecks_days,
    }
    findings["bottlenecks"] = [{"kind": b.kind, "where": b.where, "key": list(b.key), "impact_s": b.impact_s}
                               for b in bn.bottlenecks[:5]]
    findings["ping_pong"] = [[p.team_a, p.team_b, p.direct, p.indirect] for p in bn.ping_pong[:5]]

    step("variants and backlog")
    all_variants = discover_variants(df)  # every variant once: the table's top 15 and the count
    variants = all_variants[:15]
    vrows = [[" → ".join(v.activities), v.share, f"{v.tickets:,}", human_duration(v.median_throughput_s)]
             for v in variants]
    cover = variants[-1].cumulative_share if variants else 0.0
    series = backlog_series(tickets)
    points = [(str(d)[:10], float(o)) for d, o in zip(series["date"], series["open"], strict=True)]
    marks = [(p.start.astimezone(UTC).isoformat(), p.name) for p in list_phases(store)]
    backlog_svg = line_chart_svg(points, label="open tickets per day", marks=marks)

    step("comparison")
    if pending is not None:
        conf, sop_svg, cmp = pending.result()
        rows = [[r.label, f"{r.tickets:,}", human_share(r.skipped_share), r.extra, r.out_of_order, r.repeated,
                 r.wrong_branch] for r in conf.steps]
        conformance = {
            "summary": (f"SOP {sop.title} (v{sop.version}): fitness {conf.log_fitness:.3f}, "
                        f"{human_share(conf.fitting_share)} of tickets follow it exactly"
                        + (f", precision {conf.precision:.3f}" if conf.precision is not None else "")
                        + f"; {conf.deviations:,} deviations in {conf.deviating_tickets:,} tickets."),
            "step_headers": ["step", "tickets", "skipped", "extra", "out of order", "repeated", "wrong branch"],
            "step_rows": rows,
            "unknown": ", ".join(u.activity for u in conf.unknown_activities[:10]),
        }
        findings["conformance"] = {"fitness": conf.log_fitness, "fitting_share": conf.fitting_share,
                                   "precision": conf.precision,
                                   "skipped": {r.step: r.skipped_share for r in conf.steps}}
        worst = [w.ticket for w in conf.worst]
    else:
        worst = []
    if cmp is not None and compare is not None:
        a, b = compare
        rows = []
        for k in cmp.kpis:
            va, vb, diff, ci = _change_text(k.unit, k.change)
            rows.append([k.label, va, vb, diff, ci, k.verdict])
        comparison = {
            "summary": f"{b} ({cmp.b.tickets:,} tickets) against {a} ({cmp.a.tickets:,} tickets); "
                       f"95% bootstrap intervals over tickets ({cmp.resamples:,} resamples).",
            "headers": ["KPI", a, b, "change", "95% interval", "verdict"],
            "rows": rows,
            "map_note": f"Map of {b} against {a}: paths coloured by the change in their share of tickets "
                        "(red = more, blue = fewer); dashed paths no longer occur.",
            "variants": f"{cmp.appeared_total} variants appeared ({human_share(cmp.appeared_share)} of {b}'s tickets), "
                        f"{cmp.vanished_total} vanished ({human_share(cmp.vanished_share)} of {a}'s).",
        }
        if cmp.map_a is not None and cmp.map_b is not None:
            compare_svg = _svg(render_map(cmp.map_b, compare=cmp.map_a, labels=labels))
        findings["comparison"] = {k.key: {"a": k.change.a, "b": k.change.b, "diff": k.change.diff,
                                          "ci": [k.change.ci_low, k.change.ci_high],
                                          "significant": k.change.significant} for k in cmp.kpis}

    step("ticket traces")
    chosen = list(dict.fromkeys(worst[: sample // 2]))
    all_cases = df["case:concept:name"].drop_duplicates().tolist()
    stride = max(1, len(all_cases) // max(1, sample))
    for c in all_cases[::stride]:
        if len(chosen) >= sample:
            break
        if c not in chosen:
            chosen.append(c)
    traces = []
    for c in chosen:
        t = df[df["case:concept:name"] == c]
        times = t["time:timestamp"].tolist()
        rows = []
        for i, (_, r) in enumerate(t.iterrows()):
            wait = human_duration((times[i] - times[i - 1]).total_seconds()) if i else ""
            rows.append([times[i].strftime("%Y-%m-%d %H:%M"), labels.get(r["concept:name"], r["concept:name"]),
                         r["org:resource"] if isinstance(r["org:resource"], str) else "",
                         r["org:group"] if isinstance(r["org:group"], str) else "", wait])
        first = t.iloc[0]
        summary = ", ".join(str(first[k]) for k in ("case:channel", "case:category", "case:priority")
                            if isinstance(first.get(k), str))
        traces.append({"ticket": c, "summary": f"{summary} · {len(t)} events"
                       + (" · among the least conforming" if c in worst else ""), "rows": rows})

    truth_rows = None
    truth = demo_truth(store)
    if truth is not None:
        truth_rows = _truth_rows(truth, findings, labels)

    step("writing the page")
    first_t, last_t = df["time:timestamp"].min(), df["time:timestamp"].max()
    data = {
        "title": "csmine report" + (f" — {sop.title}" if sop else ""),
        "kpi_title": "KPIs against the SOP targets" if sop else "KPIs (no SOP: the figures that need none)",
        "kpi_note": kpi_note,
        "sop_note": choice.describe() if sop is None else "",
        "backlog_note": status.describe() if status is not None else "",
        "subtitle": (f"{findings['tickets']:,} tickets, {len(df):,} events, {first_t:%Y-%m-%d} to {last_t:%Y-%m-%d}; "
                     f"{log_filter.describe()}; store {store.location.display}; generated "
                     f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"),
        "kpis": kpi_tiles,
        "levels": {"activities": list(ACTIVITY_LEVELS), "paths": list(PATH_LEVELS)},
        "map_note": "Frequency: numbers are tickets per path; Performance: median waiting time per path, "
                    "the top bottlenecks drawn in purple. Sliders keep the activities/paths that cover the "
                    "given share of events (like Disco).",
        "animation": _animation(df, full_map),
        "conformance": conformance,
        "bottlenecks": bottlenecks,
        "comparison": comparison,
        "variants": {"rows": vrows, "note": f"The {len(variants)} most frequent of "
                     f"{len(all_variants):,} variants "
                     f"cover {human_share(cover)} of tickets."},
        "backlog_svg": backlog_svg,
        "tickets": traces,
        "truth": truth_rows,
        "footer": "Made by csmine from the event store; every figure can be reproduced with the CLI "
                  "(csmine kpi, discover, conform, bottlenecks, compare, trace).",
    }
    text = " ".join(labels.values()) + " ".join(map_svgs.values())[:0]
    page = render_report_html(data, map_svgs=map_svgs, anim_svg=anim_svg, sop_svg=sop_svg,
                              compare_svg=compare_svg, font_text=text)
    sections = tuple(k for k in ("kpis", "map", "animation", "sop", "bottlenecks", "compare", "variants",
                                 "backlog", "tickets", "truth") if k != "truth" or truth_rows)
    return ReportResult(html=page, tickets=findings["tickets"], events=len(df), sop=sop.id if sop else None,
                        sections=sections, findings=findings)


def _truth_rows(truth: dict[str, Any], findings: dict[str, Any], labels: dict[str, str]) -> list[list[str]]:
    """Designed vs realised vs found, for the demo's built-in effects."""
    from csmine.render import human_share

    rows: list[list[str]] = []
    rates = {r["phase"]: r for r in truth["first_response"]["rates"]}
    found = findings.get("comparison", {}).get("first_response_timeouts")
    found_text = (f"{human_share(found['a'])} → {human_share(found['b'])} "
                  f"(change {100 * found['diff']:+.1f} pts, 95% CI {100 * found['ci'][0]:+.1f} to {100 * found['ci'][1]:+.1f})"
                  if found else "–")
    rows.append(["first-response timeouts, baseline → pilot",
                 f"{human_share(rates['baseline']['designed'])} → {human_share(rates['pilot']['designed'])}",
                 f"{human_share(rates['baseline']['share'])} → {human_share(rates['pilot']['share'])}", found_text])
    top = truth["bottleneck"]["top"]
    fb = findings.get("bottlenecks") or []
    rows.append(["top bottleneck", " → ".join(truth["bottleneck"]["designed_top"][:2]) + f" ({top['team']})",
                 f"median wait {top['median_wait_hours']:.1f} h",
                 fb[0]["where"] if fb else "–"])
    cb = {r["phase"]: r for r in truth["callback_skips"]["rates"]}
    skipped = (findings.get("conformance") or {}).get("skipped", {}).get("Callback")
    rows.append(["callbacks skipped (complaints, baseline → pilot)",
                 f"{human_share(cb['baseline']['designed'])} → {human_share(cb['pilot']['designed'])}",
                 f"{human_share(cb['baseline']['share'])} → {human_share(cb['pilot']['share'])}",
                 f"all tickets, all phases: {human_share(skipped)}" if skipped is not None else "–"])
    pp = truth["ping_pong"]
    found_pp = findings.get("ping_pong") or []
    rows.append(["ping-pong pair", " ⇄ ".join(pp["teams"]),
                 f"{pp['tickets']:,} tickets ({human_share(pp['share'])})",
                 " ⇄ ".join(found_pp[0][:2]) + f" ({found_pp[0][2]} direct)" if found_pp else "–"])
    kb = truth["knowledge_base_down"]
    day = findings.get("slowest_handle_day")
    rows.append(["knowledge base down", f"{kb['date']}, Handle work ×{kb['designed_factor']:.0f}",
                 f"median Handle {kb['median_handle_minutes_that_day']:.0f} min vs "
                 f"{kb['median_handle_minutes_other_days']:.0f} min (×{kb['ratio']:.1f})",
                 f"slowest day: {day['date']} (median {day['median_minutes']:.0f} min)" if day else "–"])
    return rows
