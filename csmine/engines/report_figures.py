"""The report's figures computed by an engine (``csmine report --engine duckdb|spark|postgres``).

:func:`engine_report_figures` runs, in the engine, every aggregate the report's figures
are made of, and returns them as the local path's result objects: the per-ticket KPI
frame and its summary (:mod:`csmine.engines.kpis`), the bottleneck report
(:mod:`csmine.engines.bottlenecks`), the maps at every slider level and the variants
(:mod:`csmine.engines.results`), the SOP alignment figures (one alignment per distinct
variant), and two report-only aggregates defined here as SQL over ``events``: the
tickets with two events at the same time, and the unusual days (per step and UTC day
of work start, the median working time against the step's median).

What the report draws from single tickets — the ticket traces and the animation's
tokens — comes from the events of the sampled tickets only (:func:`engine_ticket_events`:
a ``WHERE ticket IN (...)`` in the engine, a few thousand tickets at most): no query
moves the whole log into Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from csmine.engines.queries import Dialect

if TYPE_CHECKING:
    from process_models import SOP

    from csmine.engines.base import Engine
    from csmine.engines.results import VariantConformance
    from csmine.eventlog.lifecycle import ClosingRule
    from csmine.eventlog.loading import Phase
    from csmine.mining.maps import ProcessMap
    from csmine.mining.variants import Variant
    from csmine.performance.bottlenecks import BottleneckReport
    from csmine.performance.sop_choice import SopChoice
    from csmine.performance.summary import KpiReport

__all__ = ["EngineReportFigures", "engine_report_figures", "engine_ticket_events", "log_facts", "unusual_day_rows"]


def log_facts(d: Dialect) -> str:
    """Tickets, events, first and last business time (µs), and the tickets with at least two
    events at the same business time (:func:`csmine.eventlog.ordering.tied_tickets`).

    Columns: tickets, events, first_us, last_us, tied.
    """
    return (
        "WITH dup AS (SELECT ticket FROM events GROUP BY ticket, occurred_us HAVING COUNT(*) > 1) "
        "SELECT (SELECT COUNT(DISTINCT ticket) FROM events) AS tickets, (SELECT COUNT(*) FROM events) AS events, "
        "(SELECT MIN(occurred_us) FROM events) AS first_us, (SELECT MAX(occurred_us) FROM events) AS last_us, "
        "(SELECT COUNT(DISTINCT ticket) FROM dup) AS tied"
    )


def unusual_day_rows(d: Dialect, minimum: int = 10) -> str:
    """Per step and UTC day of work start (events with a start): the median working time
    (completion - start, minutes) and its events, on days with at least ``minimum``
    events, beside the step's median over all days (``report_sections.unusual_days``).

    Columns: step, day (days since the epoch), median, count, overall.
    """
    return (
        "WITH w AS (SELECT activity AS step, CAST(FLOOR(started_us / 86400000000.0) AS BIGINT) AS day, "
        "(occurred_us - started_us) / 60000000.0 AS minutes FROM events WHERE started_us IS NOT NULL), "
        f"o AS (SELECT step, {d.percentile('minutes', 0.5)} AS overall FROM w GROUP BY step), "
        f"g AS (SELECT step, day, {d.percentile('minutes', 0.5)} AS median, COUNT(*) AS count FROM w "
        f"GROUP BY step, day HAVING COUNT(*) >= {int(minimum)}) "
        "SELECT g.step, g.day, g.median, g.count, o.overall FROM g JOIN o ON o.step = g.step"
    )


def _ticket_events(tickets: Sequence[str]) -> str:
    names = ", ".join("'" + str(t).replace("'", "''") + "'" for t in tickets)
    return (
        "SELECT e.ticket, e.activity, e.occurred_us, e.started_us, e.actor, e.team, e.channel, e.category, "
        f"e.priority FROM events e JOIN activity_info a ON a.activity = e.activity WHERE e.ticket IN ({names}) "
        "ORDER BY e.ticket, e.occurred_us, a.tie_rank, e.version"
    )


@dataclass(frozen=True)
class EngineReportFigures:
    """What :func:`engine_report_figures` computed.

    Attributes:
        sop: the SOP used (None: none).  choice: how it was chosen.
        tickets / events: the log's size.  first_us / last_us: its first and last business time.
        tied: tickets with two events at the same time.
        unusual_days: ``(step, YYYY-MM-DD, median minutes, events, ratio)``, largest ratio first (five).
        frame: the per-ticket KPI frame (``ticket_kpis``'s, with ``phase``).  limits: its limit checks.
        kpis: the KPI summary of ``frame``.  bottlenecks: the bottleneck report.
        maps: (activities, paths) -> the map.  variants: every variant, most tickets first.
        conformance: the SOP alignment figures (None without an SOP).
        ticket_order: the tickets in the local frame's order (by name), for sampling.
    """

    sop: SOP | None
    choice: SopChoice
    tickets: int
    events: int
    first_us: int
    last_us: int
    tied: int
    unusual_days: tuple[tuple[str, str, float, int, float], ...]
    frame: pd.DataFrame
    limits: pd.DataFrame
    kpis: KpiReport
    bottlenecks: BottleneckReport
    maps: dict[tuple[float, float], ProcessMap]
    variants: list[Variant]
    conformance: VariantConformance | None
    ticket_order: list[str]


def _choose(engine: Engine, sop: SOP | None, auto_sop: bool) -> tuple[SOP | None, SopChoice]:
    """The SOP (given, chosen from the activities' event counts as the local report does, or none)."""
    from process_models import load_sop

    from csmine.engines.kpis import activity_frame
    from csmine.performance.sop_choice import SopChoice, choose_shipped_sop

    if sop is not None:
        return sop, SopChoice(sop.id, "--sop")
    if not auto_sop:
        return None, SopChoice(None, "--sop none")
    choice = choose_shipped_sop(activity_frame(engine, weighted=True))
    return (load_sop(choice.chosen) if choice.chosen else None), choice


def _days(frame: pd.DataFrame) -> tuple[tuple[str, str, float, int, float], ...]:
    """The unusual days from :func:`unusual_day_rows`, ranked as the local report ranks them."""
    import numpy as np

    if frame.empty:
        return ()
    daily = pd.DataFrame({"step": frame["step"].astype(str), "day": frame["day"].astype("int64"),
                          "median": frame["median"].astype(float), "count": frame["count"].astype("int64")})
    daily["ratio"] = daily["median"] / frame["overall"].astype(float)
    daily = daily.sort_values(["step", "day"], kind="stable").reset_index(drop=True)
    daily = daily.sort_values("ratio", ascending=False).head(5)
    dates = daily["day"].to_numpy().astype("datetime64[D]")
    return tuple((str(r.step), str(np.datetime_as_string(day)), float(r.median), int(r.count), float(r.ratio))
                 for r, day in zip(daily.itertuples(), dates, strict=True))


def engine_report_figures(engine: Engine, *, sop: SOP | None = None, auto_sop: bool = True,
                          closing: ClosingRule | None = None, first_response: str | None = None,
                          tie_order: str = "auto", phases: Sequence[Phase] | None = None,
                          activity_levels: Sequence[float] = (1.0,),
                          path_levels: Sequence[float] = (1.0,)) -> EngineReportFigures:
    """The report's figures from ``engine`` (ties in the SOP's step order, as the local report).

    Raises:
        EmptyLogError: the engine's log holds no event.
        EngineError: the engine cannot compute a figure as asked.
    """
    from csmine.engines.bottlenecks import engine_bottlenecks
    from csmine.engines.kpis import engine_kpi_frames, engine_kpi_report
    from csmine.engines.results import engine_conformance, engine_maps, engine_variants

    model, choice = _choose(engine, sop, auto_sop)
    facts, days = engine.run([log_facts(engine.dialect), unusual_day_rows(engine.dialect)], {})
    frame, limits = engine_kpi_frames(engine, model, tie_order=tie_order, closing=closing,
                                      first_response=first_response, phases=list(phases) if phases else None)
    return EngineReportFigures(
        sop=model, choice=choice, tickets=int(facts.at[0, "tickets"]), events=int(facts.at[0, "events"]),
        first_us=int(facts.at[0, "first_us"]), last_us=int(facts.at[0, "last_us"]), tied=int(facts.at[0, "tied"]),
        unusual_days=_days(days), frame=frame, limits=limits, kpis=engine_kpi_report(frame, model),
        bottlenecks=engine_bottlenecks(engine, model, tie_order=tie_order, closing=closing,
                                       phases=list(phases) if phases else None,
                                       frames=(frame, limits) if first_response is None else None),
        maps=engine_maps(engine, activities=activity_levels, paths=path_levels, tie_order=tie_order, tie_sop=model),
        variants=engine_variants(engine, tie_order=tie_order, tie_sop=model),
        conformance=engine_conformance(engine, model) if model is not None else None,
        ticket_order=sorted(str(t) for t in frame.index),
    )


def engine_ticket_events(engine: Engine, tickets: Sequence[str], *, tie_order: str = "auto",
                         tie_sop: SOP | None = None) -> pd.DataFrame:
    """The events of ``tickets`` only (a few thousand tickets at most), as the local frame's
    columns (``case:concept:name``, ``concept:name``, ``time:timestamp``, ``start_timestamp``,
    ``org:resource``, ``org:group``, ``case:channel``, ``case:category``, ``case:priority``),
    by ticket, then in the ticket order (ties in ``tie_sop``'s step order)."""
    from csmine.engines.results import _Session

    columns = ["case:concept:name", "concept:name", "time:timestamp", "start_timestamp", "org:resource",
               "org:group", "case:channel", "case:category", "case:priority"]
    if not tickets:
        return pd.DataFrame({c: [] for c in columns})
    session = _Session(engine, tie_order, tie_sop=tie_sop)
    raw = session.run([_ticket_events(tickets)])[0]
    out = pd.DataFrame({
        "case:concept:name": raw["ticket"].astype(str).to_numpy(dtype=object),
        "concept:name": raw["activity"].astype(str).to_numpy(dtype=object),
        "time:timestamp": pd.to_datetime(raw["occurred_us"].astype("int64"), unit="us", utc=True),
        "start_timestamp": pd.to_datetime(raw["started_us"], unit="us", utc=True),
    })
    for name, col in (("org:resource", "actor"), ("org:group", "team"), ("case:channel", "channel"),
                      ("case:category", "category"), ("case:priority", "priority")):
        out[name] = [v if isinstance(v, str) else None for v in raw[col].tolist()]
    return out
