"""The report page's sections as plain data: analysis results in, rows and texts out.

Each function here turns one analysis result (KPIs, bottlenecks, conformance, the phase
comparison, variants, sample traces, the demo's ground truth) into the dicts and rows
that :func:`csmine.reports.html_report.render_report_html` lays out, and the typed
figures of :mod:`csmine.reports.findings` that go with them. Pure: no store, no Graphviz.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from csmine.formatting import human_duration, human_share
from csmine.reports.findings import BottleneckFinding, ConformanceFinding, KpiChange, PingPongFinding, UnusualDay

if TYPE_CHECKING:
    import pandas as pd

    from process_models import SOP

    from csmine.conformance.results import ConformanceReport
    from csmine.mining.maps import ProcessMap
    from csmine.mining.variants import Variant
    from csmine.performance.bottlenecks import BottleneckReport
    from csmine.performance.summary import KpiReport
    from csmine.pilot.compare import Comparison
    from csmine.reports.findings import ReportFindings

#: Tickets whose moves the animation plays (sampled evenly).
ANIMATED_TICKETS = 3000


def _tile_value(k: Any) -> tuple[str, str]:
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


def kpi_tiles(kpis: KpiReport) -> list[dict[str, Any]]:
    """One tile per KPI: value, target, met; a tile without a value says why (never "n = 0")."""
    tiles = []
    for k in kpis.kpis:
        value, target = _tile_value(k)
        if k.value is None:
            tiles.append({"name": k.label, "value": value, "target": target, "met": None, "why": k.note})
            continue
        tiles.append({"name": k.label, "value": value, "target": target, "met": k.met,
                      "detail": f"n = {k.n:,}" + (f" · P90 {human_duration(k.p90_s)}" if k.p90_s else "")})
    return tiles


def kpi_note(kpis: KpiReport, tied: int, tie_order: str, has_sop: bool) -> str:
    """The note above the tiles: open and closed tickets, the KPIs' caveats, tied times."""
    status = kpis.status
    order = ("file order" if tie_order == "file"
             else "opening/ending names, " + ("the SOP step order, " if has_sop else "") + "then name")
    ties = (f"{tied:,} tickets have two or more events at the same time; they are ordered by {order}"
            " (--tie-order).") if tied else ""
    return " ".join(x for x in (
        (status.describe() + ".") if status is not None else "",
        ("Rates and times that need a ticket to have ended are over the closed tickets; the backlog and the age "
         "of the open ones are shown apart.") if status is not None and status.rule_known else
        "Pass --closed-when ACTIVITY (or an SOP with a close step) to count open tickets apart.",
        " ".join(f"{n[0].upper()}{n[1:]}." for n in kpis.notes),
        ties,
    ) if x)


def unusual_days(df: pd.DataFrame, *, minimum: int = 10) -> tuple[UnusualDay, ...]:
    """Days on which a step's working time jumped: per step and UTC day of work start,
    the median working time (completion - start) against the step's median over all
    days; days with at least ``minimum`` events, largest ratio first (five at most)."""
    import numpy as np
    import pandas as pd

    if "start_timestamp" not in df.columns:
        return ()
    # only the three columns read, then the rows with a start (not a copy of every column)
    work = df[["time:timestamp", "start_timestamp", "concept:name"]]
    work = work[work["start_timestamp"].notna().to_numpy(dtype=bool)]
    if work.empty:
        return ()
    minutes = (work["time:timestamp"] - work["start_timestamp"]).dt.total_seconds() / 60.0
    # The calendar day of work start in the column's own time zone, as a datetime64 day
    # (formatting a million dates as text takes seconds; only the chosen days are).
    start = work["start_timestamp"]
    if start.dt.tz is not None:
        start = start.dt.tz_localize(None)
    # grouped by integer codes (step code, day number): grouping a million strings is slow
    codes, steps = pd.factorize(work["concept:name"])
    frame = pd.DataFrame({"step": codes, "day": start.to_numpy().astype("datetime64[D]").astype("int64"),
                          "minutes": minutes.to_numpy()})
    overall = frame.groupby("step")["minutes"].median()
    daily = frame.groupby(["step", "day"])["minutes"].agg(["median", "count"]).reset_index()
    daily = daily[daily["count"] >= minimum]
    if daily.empty:  # (no day qualifies)
        return ()
    daily["ratio"] = daily["median"] / daily["step"].map(overall)
    daily["step"] = np.asarray(steps, dtype=object)[daily["step"].to_numpy()]
    daily["day"] = daily["day"].to_numpy().astype("datetime64[D]")
    daily = daily.sort_values(["step", "day"], kind="stable").reset_index(drop=True)  # the order grouping by text gave
    daily = daily.sort_values("ratio", ascending=False).head(5)
    return tuple(UnusualDay(step=r.step, date=r.day.strftime("%Y-%m-%d"), median_minutes=float(r.median),
                            events=int(r.count), ratio=float(r.ratio)) for r in daily.itertuples())


def bottleneck_section(bn: BottleneckReport, days: tuple[UnusualDay, ...],
                       labels: dict[str, str]) -> tuple[dict[str, Any], tuple[BottleneckFinding, ...],
                                                        tuple[PingPongFinding, ...]]:
    """The bottleneck tables (ranked bottlenecks, ping-pong, unusual days) and their findings."""
    agents = bn.handover_key not in (None, "org:group")
    section = {
        "headers": ["#", "where", "kind", "time saved per ticket", "share of throughput", "median", "P90",
                    "occurrences"],
        "rows": [[b.rank, labels.get(b.where, b.where), b.kind, human_duration(b.mean_impact_s),
                  human_share(b.share_of_throughput), human_duration(b.median_s), human_duration(b.p90_s),
                  f"{b.occurrences:,}"] for b in bn.bottlenecks[:10]],
        "pingpong_title": "Ping-pong between " + ("agents (the log names no teams)" if agents else "teams"),
        "pingpong_headers": ["agent" if agents else "team", "bounced to", "direct (A→B→A)", "indirect", "tickets"],
        "pingpong": [[p.team_a, p.team_b, p.direct, p.indirect, p.tickets] for p in bn.ping_pong[:6]],
        "days_headers": ["day", "step", "median work", "vs usual", "events"],
        "days": [[d.date, labels.get(d.step, d.step), f"{d.median_minutes:.0f} min", f"×{d.ratio:.1f}", d.events]
                 for d in days],
    }
    top = tuple(BottleneckFinding(b.kind, b.where, tuple(b.key), b.impact_s) for b in bn.bottlenecks[:5])
    pairs = tuple(PingPongFinding(p.team_a, p.team_b, p.direct, p.indirect) for p in bn.ping_pong[:5])
    return section, top, pairs


def conformance_section(conf: ConformanceReport, sop: SOP) -> tuple[dict[str, Any], ConformanceFinding]:
    """The SOP section's summary and per-step deviation table, and its findings."""
    rows = [[r.label, f"{r.tickets:,}", human_share(r.skipped_share), r.extra, r.out_of_order, r.repeated,
             r.wrong_branch] for r in conf.steps]
    section = {
        "summary": (f"SOP {sop.title} (v{sop.version}): fitness {conf.log_fitness:.3f}, "
                    f"{human_share(conf.fitting_share)} of tickets follow it exactly"
                    + (f", precision {conf.precision:.3f}" if conf.precision is not None else "")
                    + f"; {conf.deviations:,} deviations in {conf.deviating_tickets:,} tickets."),
        "step_headers": ["step", "tickets", "skipped", "extra", "out of order", "repeated", "wrong branch"],
        "step_rows": rows,
        "unknown": ", ".join(u.activity for u in conf.unknown_activities[:10]),
    }
    finding = ConformanceFinding(fitness=conf.log_fitness, fitting_share=conf.fitting_share,
                                 precision=conf.precision, skipped={r.step: r.skipped_share for r in conf.steps})
    return section, finding


def _change_text(unit: str, c: Any) -> tuple[str, str, str, str]:
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


def comparison_section(cmp: Comparison, a: str, b: str) -> tuple[dict[str, Any], dict[str, KpiChange]]:
    """The pilot-against-baseline table and notes, and the KPI changes."""
    rows = []
    for k in cmp.kpis:
        va, vb, diff, ci = _change_text(k.unit, k.change)
        rows.append([k.label, va, vb, diff, ci, k.verdict])
    section = {
        "summary": f"{b} ({cmp.b.tickets:,} tickets) against {a} ({cmp.a.tickets:,} tickets); "
                   f"95% bootstrap intervals over tickets ({cmp.resamples:,} resamples).",
        "headers": ["KPI", a, b, "change", "95% interval", "verdict"],
        "rows": rows,
        "map_note": f"Map of {b} against {a}: paths coloured by the change in their share of tickets "
                    "(red = more, blue = fewer); dashed paths no longer occur.",
        "variants": f"{cmp.appeared_total} variants appeared ({human_share(cmp.appeared_share)} of {b}'s tickets), "
                    f"{cmp.vanished_total} vanished ({human_share(cmp.vanished_share)} of {a}'s).",
    }
    changes = {k.key: KpiChange(a=k.change.a, b=k.change.b, diff=k.change.diff,
                                ci=(k.change.ci_low, k.change.ci_high), significant=k.change.significant)
               for k in cmp.kpis}
    return section, changes


def variants_section(all_variants: list[Variant]) -> dict[str, Any]:
    """The 15 most frequent variants and how much of the log they cover."""
    variants = all_variants[:15]
    rows = [[" → ".join(v.activities), v.share, f"{v.tickets:,}", human_duration(v.median_throughput_s)]
            for v in variants]
    cover = variants[-1].cumulative_share if variants else 0.0
    return {"rows": rows, "note": f"The {len(variants)} most frequent of {len(all_variants):,} variants "
                                  f"cover {human_share(cover)} of tickets."}


def sample_tickets(df: pd.DataFrame, worst: list[str], sample: int) -> list[str]:
    """Up to ``sample`` tickets: half of them among ``worst``, the rest spread evenly over the log."""
    chosen = list(dict.fromkeys(worst[: sample // 2]))
    all_cases = df["case:concept:name"].drop_duplicates().tolist()
    stride = max(1, len(all_cases) // max(1, sample))
    for c in all_cases[::stride]:
        if len(chosen) >= sample:
            break
        if c not in chosen:
            chosen.append(c)
    return chosen


def trace_rows(df: pd.DataFrame, chosen: list[str], worst: list[str], labels: dict[str, str]) -> list[dict[str, Any]]:
    """Each chosen ticket's events (time, step, actor, team, wait) and a one-line summary."""
    import numpy as np

    traces = []
    # one pass over the ticket column for all chosen tickets (not one per ticket)
    hit = np.flatnonzero(df["case:concept:name"].isin(chosen).to_numpy(dtype=bool))
    part = df.iloc[hit]
    ticket_of = part["case:concept:name"].to_numpy(dtype=object)
    for c in chosen:
        t = part[ticket_of == c]
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
    return traces


def animation(df: pd.DataFrame, pmap: ProcessMap) -> dict[str, Any]:
    """Token moves ``[edge title, start ms, end ms]`` for a sample of tickets."""
    import numpy as np

    from csmine.mining.maps import END, START
    from csmine.reports.maps import node_ids

    ids = node_ids(pmap)
    edges = {(e.source, e.target) for e in pmap.all_edges()}
    cases = df["case:concept:name"].drop_duplicates()
    if len(cases) > ANIMATED_TICKETS:
        idx = np.linspace(0, len(cases) - 1, ANIMATED_TICKETS).round().astype(int)
        cases = cases.iloc[idx]
    sub = df[["case:concept:name", "time:timestamp", "concept:name"]]  # the columns read, not all
    sub = sub[sub["case:concept:name"].isin(set(cases)).to_numpy(dtype=bool)]
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


def truth_rows(truth: dict[str, Any], findings: ReportFindings) -> list[list[str]]:
    """Designed vs realised vs found, for the demo's built-in effects."""
    hs = human_share
    rates = {r["phase"]: r for r in truth["first_response"]["rates"]}
    found = (findings.comparison or {}).get("first_response_timeouts")
    found_text = (f"{hs(found.a)} → {hs(found.b)} (change {100 * found.diff:+.1f} pts, "
                  f"95% CI {100 * found.ci[0]:+.1f} to {100 * found.ci[1]:+.1f})" if found else "–")
    rows = [["first-response timeouts, baseline → pilot",
             f"{hs(rates['baseline']['designed'])} → {hs(rates['pilot']['designed'])}",
             f"{hs(rates['baseline']['share'])} → {hs(rates['pilot']['share'])}", found_text]]
    top = truth["bottleneck"]["top"]
    rows.append(["top bottleneck", " → ".join(truth["bottleneck"]["designed_top"][:2]) + f" ({top['team']})",
                 f"median wait {top['median_wait_hours']:.1f} h",
                 findings.bottlenecks[0].where if findings.bottlenecks else "–"])
    cb = {r["phase"]: r for r in truth["callback_skips"]["rates"]}
    skipped = findings.conformance.skipped.get("Callback") if findings.conformance is not None else None
    rows.append(["callbacks skipped (complaints, baseline → pilot)",
                 f"{hs(cb['baseline']['designed'])} → {hs(cb['pilot']['designed'])}",
                 f"{hs(cb['baseline']['share'])} → {hs(cb['pilot']['share'])}",
                 f"all tickets, all phases: {hs(skipped)}" if skipped is not None else "–"])
    pp = truth["ping_pong"]
    pair = findings.ping_pong[0] if findings.ping_pong else None
    rows.append(["ping-pong pair", " ⇄ ".join(pp["teams"]), f"{pp['tickets']:,} tickets ({hs(pp['share'])})",
                 f"{pair.team_a} ⇄ {pair.team_b} ({pair.direct} direct)" if pair else "–"])
    kb = truth["knowledge_base_down"]
    day = findings.slowest_handle_day
    rows.append(["knowledge base down", f"{kb['date']}, Handle work ×{kb['designed_factor']:.0f}",
                 f"median Handle {kb['median_handle_minutes_that_day']:.0f} min vs "
                 f"{kb['median_handle_minutes_other_days']:.0f} min (×{kb['ratio']:.1f})",
                 f"slowest day: {day.date} (median {day.median_minutes:.0f} min)" if day else "–"])
    return rows
