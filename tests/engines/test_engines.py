"""Equality is the contract: every engine gives the local path's figures.

The same aggregates (process map, variants, per-ticket KPI figures, limit checks,
waiting per step, rework, SOP alignment figures) on the demo and on BPIC 2013, by
the local in-process path and by DuckDB (over the SQLite store and over the Parquet
export) and PostgreSQL (pushed down to the server). Counts must be equal exactly,
durations to the second (they agree to the microsecond, the tolerance is 1 ms),
fitness to 1e-9.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from event_store import open_store
from process_models import load_sop

from csmine.conformance.deviations import check_conformance
from csmine.engines.base import DuckDBEngine, PostgresEngine
from csmine.engines.results import (
    engine_conformance,
    engine_limit_checks,
    engine_map,
    engine_rework,
    engine_step_waiting,
    engine_ticket_figures,
    engine_variants,
)
from csmine.eventlog.loading import load_event_log
from csmine.eventlog.ordering import order_events
from csmine.mining.encoding import encode_log
from csmine.mining.maps import discover_map
from csmine.mining.variants import discover_variants
from csmine.performance.kpi import ticket_kpis
from csmine.performance.limits import check_limits
from csmine.performance.steps import find_rework
from tests.datasets import BPIC2013, dataset_path
from tests.engines.equality import TOL_S, assert_same_map, close, same_column


def _record_demo(location: str):
    from csmine.simulation.demo import record_demo

    store = open_store(location, create=True)
    record_demo(store, tickets=800, seed=7)
    return store


def _import_bpic(location: str, histories):
    store = open_store(location, create=True)
    store.import_histories(histories)
    return store


@pytest.fixture(scope="module")
def bpic_histories():
    from event_store.io.importing import read_histories

    return read_histories(str(dataset_path(*BPIC2013)))


@pytest.fixture(scope="module")
def logs(request, tmp_path_factory, pg_server, bpic_histories):
    """Per log: (store on SQLite, store on PostgreSQL, Parquet export folder, SOP, local frame)."""
    from event_store.io.parquet_export import export_parquet

    base = tmp_path_factory.mktemp("engines")
    out = {}
    for name, sop, make in (("demo", "complaint", lambda loc: _record_demo(loc)),
                            ("bpic2013", "it-incident", lambda loc: _import_bpic(loc, bpic_histories))):
        sqlite = make(str(base / f"{name}.db"))
        pg = make(pg_server.create_database(f"engines_{name}_{os.getpid()}"))
        export_parquet(sqlite, str(base / f"{name}-lake"), verify="none")
        out[name] = (sqlite, pg, str(base / f"{name}-lake"), load_sop(sop), load_event_log(sqlite))
    yield out
    for sqlite, pg, *_ in out.values():
        sqlite.close()
        pg.close()


ENGINES = ("duckdb-store", "duckdb-parquet", "postgres")
LOGS = ("demo", "bpic2013")


@pytest.fixture(scope="module")
def engines(logs):
    opened = {}
    for log, (sqlite, pg, lake, _, _) in logs.items():
        opened[(log, "duckdb-store")] = DuckDBEngine(sqlite, threads=2)
        opened[(log, "duckdb-parquet")] = DuckDBEngine(lake, threads=2)
        opened[(log, "postgres")] = PostgresEngine(pg)
    yield opened
    for e in opened.values():
        e.close()


@pytest.mark.postgres
@pytest.mark.parametrize("log", LOGS)
@pytest.mark.parametrize("engine", ENGINES)
def test_process_map_and_variants_equal_the_local_path(logs, engines, log, engine):
    df = logs[log][4]
    e = engines[(log, engine)]
    assert_same_map(discover_map(df), engine_map(e))
    # the sliders: activities cut (paths run around them), paths cut and reconnected
    assert_same_map(discover_map(df, activities=0.8, paths=0.6), engine_map(e, activities=0.8, paths=0.6))
    v0, v1 = discover_variants(df), engine_variants(e)
    assert len(v0) > 10
    assert [(v.activities, v.tickets, v.share, v.cumulative_share, v.example_ticket) for v in v0] == \
        [(v.activities, v.tickets, v.share, v.cumulative_share, v.example_ticket) for v in v1]
    assert all(close(a.median_throughput_s, b.median_throughput_s) for a, b in zip(v0, v1, strict=True))


@pytest.mark.postgres
@pytest.mark.parametrize("log", LOGS)
@pytest.mark.parametrize("engine", ENGINES)
def test_ticket_figures_limits_waiting_and_rework_equal_the_local_path(logs, engines, log, engine):
    df, sop = logs[log][4], logs[log][3]
    e = engines[(log, engine)]
    local = ticket_kpis(df, sop).sort_index()
    figures = engine_ticket_figures(e, sop)
    assert list(figures.index) == list(local.index)
    for col in figures.columns:
        assert same_column(local[col], figures[col]), col
    assert figures["ping_pong"].sum() > 0 and figures["rework"].sum() > 0  # the figures are not all empty
    met = check_limits(df, sop)
    met = met[~met["overdue"]].sort_values(["ticket", "step"], kind="stable").reset_index(drop=True)
    limits = engine_limit_checks(e, sop)
    assert len(limits) == len(met) > 0
    assert limits["ticket"].tolist() == met["ticket"].tolist() and limits["step"].tolist() == met["step"].tolist()
    assert np.allclose(limits["elapsed_s"], met["elapsed_s"], atol=TOL_S, rtol=0)
    assert limits["breached"].tolist() == met["breached"].tolist()
    # waiting per step, against pandas on the local frame: a step's start minus the previous completion
    t = df["time:timestamp"].astype("int64") / 1e6
    arrival = df["start_timestamp"].astype("int64").where(df["start_timestamp"].notna()) / 1e6
    arrival = arrival.fillna(t)
    same = df["case:concept:name"].eq(df["case:concept:name"].shift())
    wait = (arrival - t.shift())[same]
    by = wait.groupby(df.loc[same, "concept:name"])
    waiting = engine_step_waiting(e)
    assert waiting["events"].to_dict() == by.size().to_dict()
    assert np.allclose(waiting["total_s"], by.sum().reindex(waiting.index), atol=TOL_S, rtol=0)
    assert np.allclose(waiting["median_s"], by.median().reindex(waiting.index), atol=TOL_S, rtol=0)
    rework = engine_rework(e)
    assert {r.activity: (r.tickets, r.extra_events) for r in find_rework(encode_log(df))} == \
        {a: (int(r.tickets), int(r.repeats)) for a, r in rework.iterrows()}


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.parametrize("log", LOGS)
def test_alignment_figures_equal_the_local_path(logs, engines, log):
    from csmine.eventlog.lifecycle import ClosingRule

    df, sop = logs[log][4], logs[log][3]
    df = order_events(df, sop)
    # every ticket ended, and the command line's default (open tickets get prefix alignments)
    for closing in (None, ClosingRule()):
        report = check_conformance(df, sop, precision=False, closing=closing)
        for engine in ENGINES:
            c = engine_conformance(engines[(log, engine)], sop, closing=closing)
            assert (c.tickets, c.events, c.variants, c.fitting_tickets) == \
                (report.tickets, report.events, report.variants, report.fitting_tickets), engine
            assert c.log_fitness == pytest.approx(report.log_fitness, abs=1e-9)
            assert c.average_fitness == pytest.approx(report.average_fitness, abs=1e-9)
            assert c.unknown_activities == report.unknown_activities
            assert c.open_tickets == (report.closing or {}).get("open", 0)
            assert 0.5 < c.log_fitness < 1.0  # a real mix of fitting and deviating tickets
    if log == "bpic2013":
        assert c.open_tickets > 50  # BPIC 2013 has tickets not closed at the end of the export


# -- the whole per-ticket KPI frame and the KPI report (csmine kpi --engine) ----------------------

def _same_kpi_frames(local: pd.DataFrame, frame: pd.DataFrame) -> None:
    assert list(frame.index) == list(local.index) and list(frame.columns) == list(local.columns)
    for col in local.columns:
        if local[col].dtype.kind == "M":
            a, b = local[col], frame[col]
            assert ((a.isna() & b.isna()) | ((a - b).abs() <= pd.Timedelta(milliseconds=1))).all(), col
        else:
            assert same_column(local[col], frame[col]), col
    attrs = {k: v for k, v in frame.attrs.items() if k not in ("local_only", "engine")}
    assert attrs == local.attrs


@pytest.mark.postgres
@pytest.mark.parametrize("log", LOGS)
@pytest.mark.parametrize("engine", ENGINES)
def test_kpi_frame_and_report_equal_the_local_path(logs, engines, log, engine):
    from datetime import timedelta

    from csmine.engines.kpis import engine_kpi_report, engine_ticket_kpis
    from csmine.eventlog.lifecycle import ClosingRule
    from csmine.eventlog.loading import list_phases
    from csmine.performance.summary import summarise_kpis

    sqlite, _, _, sop, df = logs[log]
    e = engines[(log, engine)]
    closing = ClosingRule(stale_after=timedelta(days=3))
    df = load_event_log(sqlite, attributes=["satisfaction"])  # the score, as `csmine kpi` reads it
    local = ticket_kpis(order_events(df, sop, "auto"), sop, closing=closing).sort_index()  # as `csmine kpi` orders
    frame = engine_ticket_kpis(e, sop, closing=closing, phases=list_phases(sqlite))
    _same_kpi_frames(local, frame)
    # the figures are not empty: limits checked and breached, overdue ones among them, first line
    assert frame["breaches"].sum() > 0 and frame["limits_checked"].sum() > frame["breaches"].sum()
    assert 0 < frame["first_line"].sum() < len(frame) and (frame["handling_s"] > 0).any()
    if log == "bpic2013":  # 99 tickets never reach Completed/Closed, all quiet for more than 3 days
        assert (~frame["closed"]).sum() == frame["stale"].sum() == 99
        assert frame["waiting_status_s"].sum() > frame["handling_s"].sum() > 0
    else:  # the demo's phases come through
        assert {"baseline", "rollout"} <= set(frame["phase"].dropna())
    a, b = summarise_kpis(local, sop).to_dict(), engine_kpi_report(frame, sop).to_dict()
    sat = a["kpis"][10]
    assert sat["name"] == "satisfaction" and (sat["value"] is not None) == (log == "demo")  # BPIC has no scores
    assert json_close(a, b)  # the satisfaction score and its distribution too


def json_close(a, b) -> bool:
    """Plain data equal, floats to 1 ms (the report's times are seconds)."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(json_close(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return isinstance(b, list | tuple) and len(a) == len(b) and all(json_close(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= TOL_S or (np.isnan(a) and np.isnan(b))
    return a == b


@pytest.mark.postgres
@pytest.mark.parametrize("engine", ENGINES)
def test_kpi_frame_without_an_sop_equals_the_local_path(logs, engines, engine):
    """No SOP: --closed-when and --first-response give the clocks and the backlog."""
    from csmine.engines.kpis import engine_ticket_kpis
    from csmine.eventlog.lifecycle import ClosingRule

    df = logs["bpic2013"][4]
    closing = ClosingRule(closed_when="Closed")
    local = ticket_kpis(df, None, closing=closing, first_response="Accepted").sort_index()
    frame = engine_ticket_kpis(engines[("bpic2013", engine)], None, closing=closing, first_response="Accepted")
    _same_kpi_frames(local, frame)
    # by hand: a ticket is open when no Completed/Closed comes after its last other status
    last = df.groupby("case:concept:name")["concept:name"].last()
    assert (~frame["closed"]).sum() == (last != "Completed/Closed").sum() > 1000
    assert frame["first_response_s"].notna().sum() == \
        df[df["concept:name"].str.startswith("Accepted/")]["case:concept:name"].nunique()


@pytest.mark.postgres
@pytest.mark.parametrize("log", LOGS)
@pytest.mark.parametrize("engine", ENGINES)
def test_bottleneck_report_equals_the_local_path(logs, engines, log, engine):
    from csmine.engines.bottlenecks import engine_bottlenecks
    from csmine.eventlog.loading import list_phases
    from csmine.performance.bottlenecks import find_bottlenecks

    sqlite, _, _, sop, df = logs[log]
    local = find_bottlenecks(order_events(df, sop, "auto"), sop, top=20)  # as `csmine bottlenecks` orders
    report = engine_bottlenecks(engines[(log, engine)], sop, top=20, phases=list_phases(sqlite))
    assert json_close(local.to_dict(), report.to_dict())
    # not empty: ranked steps, handovers and ping-pong between teams, rework, a limit breached
    assert len(report.bottlenecks) >= 9 and report.handovers and report.ping_pong and report.rework
    assert any(lim.breached for lim in report.limits)
    # by hand: events per step and rework tickets are plain counts of the log
    assert {s.activity: s.events for s in report.steps} == df["concept:name"].value_counts().to_dict()
    repeats = df.groupby(["concept:name", "case:concept:name"]).size()
    assert {r.activity: r.tickets for r in report.rework} == \
        (repeats[repeats > 1].groupby(level=0).size()).to_dict()
