"""A shuffled copy of a log gives identical output, for every analytic command's --json.

Real exports are rarely sorted: rows of one ticket come out of time order, tickets are
interleaved, and several events share a timestamp. The same events written in another
row order must give the same figures. Only what names a row of the file or a position
in the store may differ (source references, notification ids, versions, the store's
path and the time of the run); everything else must be equal.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tests.datasets import HELPDESK, dataset_path

ROOT_DATA = "tests/data/kpi/complaint_small.csv"
#: Keys that name the file row, the store position or the run, not the process.
VOLATILE = {"store", "generated_at", "source", "source_ref", "event_id", "event_ids", "notification_id",
            "version", "versions", "nid", "first_event_id", "recorded_at", "path", "elapsed_s",
            "opened_event_id", "opened_recorded_at", "integrity"}


def _strip(value):
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def _import(cli, csv, db, *extra):
    result = cli("import", csv, "--store", db, "--quiet", *extra)
    assert result.exit_code == 0, result.output


def _json(cli, db, *args):
    result = cli(*args, "--json", "--store", db)
    assert result.exit_code == 0, f"{args}: {result.output}"
    return _strip(json.loads(result.stdout))


def _copies(tmp_path, frame, seed):
    """The frame as written, and shuffled with every ticket's rows reversed and interleaved."""
    sorted_csv, shuffled_csv = tmp_path / "sorted.csv", tmp_path / "shuffled.csv"
    frame.to_csv(sorted_csv, index=False)
    frame.iloc[::-1].sample(frac=1, random_state=seed).to_csv(shuffled_csv, index=False)
    return sorted_csv, shuffled_csv


COMPLAINT_COMMANDS = [
    ("stats",),
    ("stats", "--closed-when", "Archive"),
    ("kpi", "--sop", "complaint"),
    ("bottlenecks", "--sop", "complaint"),
    ("discover",),
    ("conform", "--sop", "complaint"),
    ("trace", "T2", "--sop", "complaint"),
    ("trace", "T4", "--sop", "complaint"),
    ("replay", "--sop", "complaint"),
]


@pytest.mark.parametrize("args", COMPLAINT_COMMANDS, ids=lambda a: " ".join(a))
def test_complaint_log_shuffled_gives_identical_json(cli, tmp_path, args):
    frame = pd.read_csv(ROOT_DATA, dtype=str, keep_default_na=False)
    a, b = _copies(tmp_path, frame, seed=3)
    _import(cli, a, tmp_path / "a.db")
    _import(cli, b, tmp_path / "b.db")
    assert _json(cli, tmp_path / "a.db", *args) == _json(cli, tmp_path / "b.db", *args)


@pytest.fixture(scope="module")
def helpdesk_stores(tmp_path_factory):
    """The shared Helpdesk log as CSV, sorted and shuffled (random_state 7), in two stores."""
    import pm4py

    from csmine.cli import cli as root
    from click.testing import CliRunner

    tmp = tmp_path_factory.mktemp("helpdesk")
    df = pm4py.read_xes(str(dataset_path(*HELPDESK)))[
        ["case:concept:name", "concept:name", "time:timestamp", "org:resource"]]
    df.to_csv(tmp / "sorted.csv", index=False)
    df.sample(frac=1, random_state=7).to_csv(tmp / "shuffled.csv", index=False)
    runner = CliRunner()
    stores = []
    for name in ("sorted", "shuffled"):
        db = tmp / f"{name}.db"
        result = runner.invoke(root, ["import", str(tmp / f"{name}.csv"), "--store", str(db), "--quiet"])
        assert result.exit_code == 0, result.output
        stores.append(db)
    return df, stores


@pytest.mark.parametrize("args", [
    ("stats",),
    ("stats", "--closed-when", "Closed"),
    ("kpi", "--sop", "none"),
    ("kpi", "--sop", "none", "--closed-when", "Closed"),
    ("bottlenecks", "--sop", "none"),
    ("discover",),
], ids=lambda a: " ".join(a))
def test_helpdesk_shuffled_gives_identical_json(cli, helpdesk_stores, args):
    _, (a, b) = helpdesk_stores
    assert _json(cli, a, *args) == _json(cli, b, *args)


def test_helpdesk_figures_equal_an_independent_pandas_count(cli, helpdesk_stores):
    """Throughput median and variants of the shuffled copy, against pandas on the original."""
    df, (_, shuffled) = helpdesk_stores
    ordered = df.sort_values(["case:concept:name", "time:timestamp"], kind="stable")
    span = ordered.groupby("case:concept:name")["time:timestamp"].agg(["min", "max"])
    median_days = (span["max"] - span["min"]).median() / pd.Timedelta(days=1)
    stats = _json(cli, shuffled, "stats")
    assert stats["tickets"] == 4580 and stats["events"] == 21348
    # 129 tickets have two events at the same second (pandas: duplicated case+time)
    dup = df.duplicated(["case:concept:name", "time:timestamp"], keep=False)
    assert stats["tickets_with_ties"] == df.loc[dup, "case:concept:name"].nunique() == 129
    kpi = _json(cli, shuffled, "kpi", "--sop", "none")
    throughput = next(k for k in kpi["kpis"] if k["name"] == "throughput_time")
    assert round(median_days, 1) == 39.9  # the sorted log's median, in days
    # no closing rule: every ticket counts as ended with its last event
    assert throughput["median_s"] == pytest.approx(median_days * 86400, abs=1)
