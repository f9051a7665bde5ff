"""The Spark engine (local[2]) gives the local path's figures, on the demo and on BPIC 2013.

Counts exactly, durations to the millisecond (the issue asks for the second), fitness
to 1e-9: the process map (with and without the sliders), variants, per-ticket KPI
figures, SOP time limits, waiting per step, rework, the alignment figures; a filtered
log; the CLI's ``discover --engine spark`` against ``--engine local``; and the errors
a user meets (no export, no Java, no PySpark) with their exit code and fix.

One SparkSession serves the module (started once, stopped at the end); the CLI test
runs in it too (the engine reuses a running session and leaves it running).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from event_store import open_store
from process_models import load_sop

from csmine.conformance.deviations import check_conformance
from csmine.engines.results import (
    engine_conformance,
    engine_limit_checks,
    engine_map,
    engine_rework,
    engine_step_waiting,
    engine_ticket_figures,
    engine_variants,
)
from csmine.errors import EmptyLogError, EngineError
from csmine.eventlog.filters import LogFilter
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

pytestmark = pytest.mark.spark

ROOT = Path(__file__).resolve().parents[2]
LOGS = ("demo", "bpic2013")


def _need_spark() -> None:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            raise
        pytest.skip("PySpark not installed (scripts/bootstrap.sh --test installs it and Java)")


@pytest.fixture(scope="module")
def spark():
    _need_spark()
    from csmine.engines.spark import start_session

    session, owned = start_session("local[2]", {"spark.driver.memory": "2g"}, app_name="csmine-tests")
    yield session
    if owned:
        session.stop()


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    """Per log: (SQLite store, Parquet export folder, SOP, the local frame)."""
    from event_store.io.importing import read_histories
    from event_store.io.parquet_export import export_parquet

    from csmine.simulation.demo import record_demo

    base = tmp_path_factory.mktemp("spark")
    out = {}
    demo = open_store(str(base / "demo.db"), create=True)
    record_demo(demo, tickets=600, seed=11)
    bpic = open_store(str(base / "bpic2013.db"), create=True)
    bpic.import_histories(read_histories(str(dataset_path(*BPIC2013))))
    for name, store, sop in (("demo", demo, "complaint"), ("bpic2013", bpic, "it-incident")):
        lake = str(base / f"{name}-lake")
        export_parquet(store, lake, verify="none")
        out[name] = (store, lake, load_sop(sop), load_event_log(store))
    yield out
    demo.close()
    bpic.close()


@pytest.fixture(scope="module")
def engines(spark, logs):
    from csmine.engines.spark import SparkEngine

    opened = {name: SparkEngine(lake, session=spark) for name, (_, lake, _, _) in logs.items()}
    yield opened
    for e in opened.values():
        e.close()


@pytest.mark.parametrize("log", LOGS)
def test_process_map_and_variants_equal_the_local_path(logs, engines, log):
    df, e = logs[log][3], engines[log]
    m0, m1 = discover_map(df), engine_map(e)
    assert_same_map(m0, m1)
    # an independent count of the busiest path: pandas over the local frame
    top = m1.edges[0]
    nxt = df.groupby("case:concept:name", sort=False)["concept:name"].shift(-1)
    assert top.events == int(((df["concept:name"] == top.source) & (nxt == top.target)).sum())
    assert m1.events == len(df) and m1.tickets == df["case:concept:name"].nunique()
    if log == "demo":  # the sliders' pruning is the local code's (tested on DuckDB and PostgreSQL on both logs)
        assert_same_map(discover_map(df, activities=0.8, paths=0.6), engine_map(e, activities=0.8, paths=0.6))
    v0, v1 = discover_variants(df), engine_variants(e)
    assert len(v0) > 10
    assert [(v.activities, v.tickets, v.share, v.cumulative_share, v.example_ticket) for v in v0] == \
        [(v.activities, v.tickets, v.share, v.cumulative_share, v.example_ticket) for v in v1]
    assert all(close(a.median_throughput_s, b.median_throughput_s) for a, b in zip(v0, v1, strict=True))
    if log == "bpic2013":
        assert len(v1) == 2278  # the dataset's published variant count (shared/datasets/README.md)


# on the demo only: the same SQL texts run on DuckDB and PostgreSQL are checked on both logs
# (tests/engines/test_engines.py); Spark's start-up cost per query makes each log here ~40 s
@pytest.mark.parametrize("log", ["demo"])
def test_ticket_figures_limits_waiting_and_rework_equal_the_local_path(logs, engines, log):
    df, sop, e = logs[log][3], logs[log][2], engines[log]
    local = ticket_kpis(df, sop).sort_index()
    figures = engine_ticket_figures(e, sop)
    assert list(figures.index) == list(local.index)
    for col in figures.columns:
        assert same_column(local[col], figures[col]), col
    assert figures["ping_pong"].sum() > 0 and figures["rework"].sum() > 0
    met = check_limits(df, sop)
    met = met[~met["overdue"]].sort_values(["ticket", "step"], kind="stable").reset_index(drop=True)
    limits = engine_limit_checks(e, sop)
    assert len(limits) == len(met) > 0
    assert limits["ticket"].tolist() == met["ticket"].tolist() and limits["step"].tolist() == met["step"].tolist()
    assert np.allclose(limits["elapsed_s"], met["elapsed_s"], atol=TOL_S, rtol=0)
    assert limits["breached"].tolist() == met["breached"].tolist()
    # waiting per step against pandas on the local frame: a step's start minus the previous completion
    t = df["time:timestamp"].astype("int64") / 1e6
    arrival = (df["start_timestamp"].astype("int64").where(df["start_timestamp"].notna()) / 1e6).fillna(t)
    same = df["case:concept:name"].eq(df["case:concept:name"].shift())
    by = (arrival - t.shift())[same].groupby(df.loc[same, "concept:name"])
    waiting = engine_step_waiting(e)
    assert waiting["events"].to_dict() == by.size().to_dict()
    assert np.allclose(waiting["total_s"], by.sum().reindex(waiting.index), atol=TOL_S, rtol=0)
    assert np.allclose(waiting["median_s"], by.median().reindex(waiting.index), atol=TOL_S, rtol=0)
    assert np.allclose(waiting["p90_s"], by.quantile(0.9).reindex(waiting.index), atol=TOL_S, rtol=0)
    rework = engine_rework(e)
    assert {r.activity: (r.tickets, r.extra_events) for r in find_rework(encode_log(df))} == \
        {a: (int(r.tickets), int(r.repeats)) for a, r in rework.iterrows()}


@pytest.mark.slow
@pytest.mark.parametrize("log", LOGS)
def test_alignment_figures_equal_the_local_path(logs, engines, log):
    df, sop, e = logs[log][3], logs[log][2], engines[log]
    report = check_conformance(order_events(df, sop), sop, precision=False)
    c = engine_conformance(e, sop)
    assert (c.tickets, c.events, c.variants, c.fitting_tickets) == \
        (report.tickets, report.events, report.variants, report.fitting_tickets)
    assert c.log_fitness == pytest.approx(report.log_fitness, abs=1e-9)
    assert c.average_fitness == pytest.approx(report.average_fitness, abs=1e-9)
    assert c.unknown_activities == report.unknown_activities
    assert 0.5 < c.log_fitness < 1.0  # a real mix of fitting and deviating tickets


def test_a_filtered_log_equals_the_local_path_on_the_same_filter(spark, logs):
    from csmine.engines.spark import SparkEngine

    store, lake, _, df = logs["demo"]
    opened = pd.to_datetime(df["case:opened_at"])
    cut = opened.quantile(0.5).to_pydatetime()
    channel = df["case:channel"].value_counts().index[0]
    log_filter = LogFilter(start=cut, where={"channel": (channel,)})
    local = load_event_log(store, log_filter)
    assert 0 < local["case:concept:name"].nunique() < df["case:concept:name"].nunique() / 2
    with SparkEngine(lake, log_filter, session=spark) as e:
        assert_same_map(discover_map(local), engine_map(e))
    before = LogFilter(end=datetime(2000, 1, 1, tzinfo=UTC))
    with SparkEngine(lake, before, session=spark) as e, pytest.raises(EmptyLogError, match="empty"):
        engine_map(e)


def test_discover_on_the_command_line_equals_the_local_path(spark, logs, cli):
    store, lake, _, _ = logs["demo"]
    path = store.location.display
    local = cli("discover", "--store", path, "--json")
    assert local.exit_code == 0, local.output
    on_spark = cli("discover", "--store", path, "--engine", "spark", "--parquet", lake, "--spark-master", "local[2]",
                   "--json")
    assert on_spark.exit_code == 0, on_spark.output
    a, b = json.loads(local.stdout), json.loads(on_spark.stdout)
    _same_json(a, b)
    assert spark.sparkContext._jsc is not None  # the CLI's engine left the shared session running


def _same_json(a, b, where="") -> None:
    if isinstance(a, float) or isinstance(b, float):
        assert a == pytest.approx(b, abs=TOL_S), where
    elif isinstance(a, dict):
        assert sorted(a) == sorted(b), where
        for k in a:
            _same_json(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same_json(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


def test_a_folder_without_an_export_is_a_clear_error(spark, tmp_path, cli):
    from csmine.engines.spark import SparkEngine

    with pytest.raises(EngineError, match="csmine export DIR --format parquet --partition month"):
        SparkEngine(str(tmp_path), session=spark)
    result = cli("discover", "--store", str(tmp_path / "none.db"), "--engine", "spark", "--parquet", str(tmp_path))
    assert result.exit_code == 3, result.output
    assert "holds no Parquet export" in result.stderr and "Traceback" not in result.output


def _csmine(args: list[str], env: dict[str, str], prelude: str = "") -> subprocess.CompletedProcess[str]:
    code = f"{prelude}import sys; from csmine.cli import cli; sys.argv = ['csmine', *sys.argv[1:]]; cli()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=180,
                          cwd=ROOT, env={**os.environ, **env})


def test_without_java_the_error_names_the_fix(logs):
    _need_spark()
    lake = logs["demo"][1]
    proc = _csmine(["discover", "--engine", "spark", "--parquet", lake, "--spark-master", "local[1]"],
                   {"JAVA_HOME": "/nonexistent-java"})
    assert proc.returncode == 3, proc.stderr
    assert "could not start Java" in proc.stderr and "default-jre-headless" in proc.stderr
    assert "scripts/bootstrap.sh --test" in proc.stderr and "Traceback" not in proc.stderr


def test_without_pyspark_the_error_names_the_fix(logs):
    lake = logs["demo"][1]
    # a Python where `import pyspark` fails, as it does before `pip install 'csmine[spark]'`
    proc = _csmine(["discover", "--engine", "spark", "--parquet", lake], {},
                   prelude="import sys; sys.modules['pyspark'] = None; ")
    assert proc.returncode == 3, proc.stderr
    assert "needs PySpark" in proc.stderr and "pip install 'csmine[spark]'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_an_export_that_does_not_match_its_manifest_is_refused(spark, logs, tmp_path, cli):
    import shutil

    from csmine.engines.spark import SparkEngine, check_remote_export

    lake = str(tmp_path / "lake")
    shutil.copytree(logs["demo"][1], lake)
    month = sorted(os.listdir(os.path.join(lake, "events")))[0]
    path = os.path.join(lake, "events", month, "part-0.parquet")
    extra = os.path.join(lake, "events", month, "part-9.parquet")
    shutil.copy(path, extra)  # a file the manifest does not list: Spark would read its rows twice
    with pytest.raises(EngineError, match="part-9.parquet is not in the manifest.*csmine export"):
        SparkEngine(lake, session=spark)
    result = cli("discover", "--store", str(tmp_path / "none.db"), "--engine", "spark", "--parquet", lake)
    assert result.exit_code == 3, result.output
    assert "does not match its manifest" in result.stderr and "Traceback" not in result.output
    # a cluster URI: the manifest is read through Spark and compared with the files Spark lists
    files = spark.read.parquet(os.path.join(lake, "events")).inputFiles()
    with pytest.raises(EngineError, match=f"events/{month}/part-9.parquet is not in the manifest"):
        check_remote_export(spark, "file://" + lake, files)
    os.remove(extra)
    check_remote_export(spark, "file://" + lake, spark.read.parquet(os.path.join(lake, "events")).inputFiles())
    os.remove(os.path.join(lake, "manifest.json"))
    with pytest.raises(EngineError, match="no readable manifest.json"):
        check_remote_export(spark, "file://" + lake, files)


def test_the_report_on_spark_has_the_local_findings(spark, logs):
    from csmine.engines.spark import SparkEngine
    from csmine.reports.report import build_report
    from tests.engines.test_engine_report import close

    store, lake, _, _ = logs["demo"]
    local = build_report(store, parallel=False).findings.to_dict()
    engine = SparkEngine(lake, session=spark)
    try:
        other = build_report(store, engine=engine).findings.to_dict()
    finally:
        engine.close()
    assert local.pop("why")["questions"] and "why" not in other  # the one figure left to --engine local
    close(local, other, "findings")
    assert local["comparison"] and local["conformance"]["precision"] and local["kpis"]["satisfaction"]
