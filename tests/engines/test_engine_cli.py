"""``--engine`` on the command line: the same output as the local path, clear errors otherwise."""

from __future__ import annotations

import json

import pytest

from event_store import open_store


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from csmine.simulation.demo import record_demo

    path = tmp_path_factory.mktemp("engine-cli") / "demo.db"
    store = open_store(str(path), create=True)
    record_demo(store, tickets=400, seed=11)
    store.close()
    return str(path)


def test_discover_renders_the_same_on_every_engine(cli, demo, tmp_path):
    lake = tmp_path / "lake"
    exported = cli("export", lake, "--format", "parquet", "--partition", "month", "--store", demo)
    assert exported.exit_code == 0, exported.output
    assert "400 tickets" in exported.output and "verified" in exported.output
    again = cli("export", lake, "--partition", "month", "--store", demo)
    assert "0 written" in again.output  # nothing changed: nothing rewritten
    local = cli("discover", "--store", demo, "--variants", "5", "--activities", "0.9")
    assert local.exit_code == 0 and "Process map: 400 tickets" in local.output
    for args in (("--engine", "duckdb"), ("--engine", "duckdb", "--parquet", lake)):
        other = cli("discover", "--store", demo, "--variants", "5", "--activities", "0.9", *args)
        assert other.exit_code == 0, other.output
        assert other.output == local.output, args
    as_json = json.loads(cli("discover", "--store", demo, "--json", "--engine", "duckdb", "--channel", "phone").output)
    local_json = json.loads(cli("discover", "--store", demo, "--json", "--channel", "phone").output)
    assert as_json["map"]["tickets"] == local_json["map"]["tickets"] < 400  # the filter ran in the engine
    assert [v["tickets"] for v in as_json["variants"]] == [v["tickets"] for v in local_json["variants"]]


def test_conform_in_an_engine_gives_the_local_figures(cli, demo):
    local = json.loads(cli("conform", "--sop", "complaint", "--store", demo, "--json").output)
    result = cli("conform", "--sop", "complaint", "--store", demo, "--json", "--engine", "duckdb")
    assert result.exit_code == 0, result.output
    engine = json.loads(result.output)
    assert engine["engine"] == "duckdb"
    for key in ("tickets", "events", "variants", "fitting_tickets"):
        assert engine[key] == local[key], key
    assert engine["log_fitness"] == pytest.approx(local["log_fitness"], abs=1e-9)
    below = cli("conform", "--sop", "complaint", "--store", demo, "--engine", "duckdb", "--min-fitness", "0.999")
    assert below.exit_code == 5 and "below --min-fitness 0.999" in below.output


def test_what_an_engine_cannot_do_is_said(cli, demo):
    pg = cli("discover", "--store", demo, "--engine", "postgres")
    assert pg.exit_code == 3 and "needs a PostgreSQL store" in pg.output and "Traceback" not in pg.output
    phase = cli("discover", "--store", demo, "--engine", "duckdb", "--phase", "pilot")
    assert phase.exit_code == 3 and "--phase is not supported with --engine duckdb" in phase.output
    spark = cli("discover", "--store", demo, "--engine", "spark")
    assert spark.exit_code == 3 and "--parquet DIR" in spark.output
    bpmn = cli("discover", "--store", demo, "--engine", "duckdb", "--bpmn", "m.bpmn")
    assert bpmn.exit_code == 2 and "--engine local" in bpmn.output
    empty = cli("discover", "--engine", "duckdb", "--parquet", demo.rsplit("/", 1)[0])
    assert empty.exit_code == 3 and "holds no Parquet export" in empty.output
