"""Behaviour shared by every command: strict JSON, output paths, --sop, zoned --at."""

from __future__ import annotations

import dataclasses
import json
import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from tests.datasets import dataset_path

REPO = Path(__file__).resolve().parents[2]
TICKETS_CSV = REPO / "docs" / "examples" / "tickets.csv"


def _no_constants(name):
    raise ValueError(f"non-standard JSON constant {name}")


def strict(text):
    return json.loads(text, parse_constant=_no_constants)


@pytest.fixture
def tickets_store(cli, tmp_path):
    store = str(tmp_path / "t.db")
    r = cli("import", TICKETS_CSV, "--case-column", "ticket", "--activity-column", "step", "--timestamp-column",
            "time", "--resource-column", "agent", "--team-column", "team", "--tz", "Asia/Shanghai", "--store", store)
    assert r.exit_code == 0, r.output
    return store


@pytest.fixture
def running_store(cli, tmp_path):
    store = str(tmp_path / "r.db")
    r = cli("import", dataset_path("pm4py_standard", "running-example.xes"), "--store", store, "-q")
    assert r.exit_code == 0, r.output
    return store


# -- 1. strict JSON --------------------------------------------------------------------------


def test_echo_json_is_strict(capsys):
    from csmine.cli.options import echo_json
    from csmine.reports.json import to_jsonable

    @dataclasses.dataclass(frozen=True)
    class Row:
        x: float
        when: datetime
        pair: tuple

    data = {"nan": math.nan, "inf": np.float64("inf"), "n": np.int64(3), "arr": np.array([1.5, np.nan]),
            "row": Row(np.float32(0.5), datetime(2025, 3, 1, 9, tzinfo=UTC), (1, math.nan)), 7: "key"}
    expected = {"nan": None, "inf": None, "n": 3, "arr": [1.5, None],
                "row": {"x": 0.5, "when": "2025-03-01T09:00:00+00:00", "pair": [1, None]}, "7": "key"}
    assert to_jsonable(data) == expected
    echo_json(data)
    assert strict(capsys.readouterr().out) == expected


def test_kpi_json_with_undefined_kpis_is_strict(cli, tickets_store):
    # No shipped SOP fits the example, so the SOP-role KPIs are undefined: null, never NaN.
    r = cli("kpi", "--json", "--store", tickets_store)
    assert r.exit_code == 0, r.output
    data = strict(r.stdout)
    first = {k["name"]: k for k in data["kpis"]}["first_response"]
    assert first["value"] is None and first["n"] == 0
    assert data["tickets"]["total"] == 6 and data["sop"] is None and data["sop_choice"]["chosen"] is None


# -- 2. output paths ---------------------------------------------------------------------------


@pytest.mark.parametrize("args", [
    ["kpi", "--tickets", "/nonexistent/k.csv"],
    ["discover", "--out", "/nonexistent/map.svg"],
    ["discover", "--bpmn", "/nonexistent/m.bpmn"],
    ["bottlenecks", "--out", "/nonexistent/b.svg"],
    ["conform", "--sop", "complaint", "--out", "/nonexistent/c.svg"],
    ["report", "--out", "/nonexistent/r.html"],
    ["export", "/nonexistent/log.csv"],
    ["audit", "sample", "--seed", "s", "--out", "/nonexistent/qa.csv"],
    ["trace", "CS-1001", "--html", "/nonexistent/t.html"],
])
def test_output_folder_must_exist(cli, tmp_path, args):
    # the store does not even exist: the path is refused before anything is opened
    r = cli(*args, "--store", str(tmp_path / "absent.db"))
    assert r.exit_code == 2, r.output
    path = next(a for a in args if a.startswith("/nonexistent/"))
    assert f"cannot write '{path}': folder '/nonexistent' does not exist" in r.output
    assert not (tmp_path / "absent.db").exists()


def test_sop_render_output_folder_must_exist(cli):
    r = cli("sop", "render", "complaint", "--out", "/nonexistent/x.svg")
    assert r.exit_code == 2
    assert "cannot write '/nonexistent/x.svg': folder '/nonexistent' does not exist" in r.output


def test_unwritable_file_is_a_clean_error(cli, tickets_store, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if _can_write(locked):
            pytest.skip("running as a user who can write anywhere (root)")
        r = cli("kpi", "--tickets", locked / "k.csv", "--store", tickets_store)
    finally:
        locked.chmod(0o700)
    assert r.exit_code == 3, r.output
    assert f"Error: cannot write/read '{locked / 'k.csv'}': Permission denied" in r.output


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_disk_full_is_a_clean_error(cli, tickets_store):
    r = cli("kpi", "--tickets", "/dev/full", "--store", tickets_store)
    assert r.exit_code == 3, r.output
    # the error comes from the final flush, which does not know the file name
    assert "Error: cannot write/read" in r.output and "No space left on device" in r.output
    assert "Traceback" not in r.output
    # written in place: an atomic rename would have replaced the device with a file
    import os
    import stat

    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


def _can_write(folder):
    try:
        (folder / ".probe").write_text("")
    except OSError:
        return False
    (folder / ".probe").unlink()
    return True


# -- 3. --sop ----------------------------------------------------------------------------------


def test_unknown_sop_exits_4(cli, tickets_store):
    for args in (["kpi"], ["bottlenecks"], ["review", "--day", "2025-03-03"], ["audit", "sample", "--seed", "s"]):
        r = cli(*args, "--sop", "no-such-sop", "--store", tickets_store)
        assert r.exit_code == 4, (args, r.output)


def test_sop_that_knows_no_activity_exits_4(cli, running_store):
    for args in (["kpi"], ["conform"], ["bottlenecks"], ["audit", "sample", "--seed", "s"]):
        r = cli(*args, "--sop", "complaint", "--store", running_store)
        assert r.exit_code == 4, (args, r.output)
        assert "SOP 'complaint' knows none of the log's activities" in r.output
        assert "--sop" in r.output


def test_review_without_a_fitting_sop_uses_none_and_the_week_exits_4(cli, running_store):
    # no shipped SOP fits the running example: never a silent default SOP. The day is
    # reviewed without one (first event of the example: 2010-12-30); the weekly
    # bulletin ranks SOP adherence, so it cannot do anything without one: exit 4.
    r = cli("review", "--day", "2010-12-30", "--store", running_store)
    assert r.exit_code == 0, r.output
    assert "SOP -:" in r.stdout and "no SOP used: no shipped SOP fits the log" in r.stderr
    r = cli("review", "--week", "2010-W52", "--store", running_store)
    assert r.exit_code == 4, r.output
    assert "weekly bulletin" in r.stderr and "needs an SOP" in r.stderr and "no shipped SOP fits" in r.stderr


def test_kpi_without_sop_falls_back_to_none_with_a_note(cli, tickets_store):
    r = cli("kpi", "--json", "--store", tickets_store)
    assert r.exit_code == 0
    assert strict(r.stdout)["sop"] is None
    assert "no SOP used: no shipped SOP fits the log" in r.stderr and "--sop none" in r.stderr


# -- 4. zoned --at -----------------------------------------------------------------------------


def test_open_and_record_refuse_naive_time(cli, tmp_path):
    store = str(tmp_path / "s.db")
    assert cli("init", "--store", store).exit_code == 0
    r = cli("open", "CS-1", "--at", "2025-03-01T09:00", "--store", store)
    assert r.exit_code == 2
    assert "give a time zone, e.g. 2025-03-01T09:00+08:00" in r.output
    assert cli("open", "CS-1", "--at", "2025-03-01T09:00+08:00", "--store", store).exit_code == 0
    r = cli("record", "CS-1", "Record", "--at", "2025-03-01 09:30", "--store", store)
    assert r.exit_code == 2
    assert "give a time zone" in r.output
    r = cli("record", "CS-1", "Record", "--at", "2025-03-01T01:30Z", "--store", store)
    assert r.exit_code == 0, r.output


def test_filter_help_says_naive_is_utc(cli):
    r = cli("kpi", "--help")
    assert "no zone given: UTC" in " ".join(r.output.split())
