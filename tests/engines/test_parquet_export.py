"""The partitioned Parquet export: layout, manifest, incremental rewrites, the reader's check."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta

import pyarrow.parquet as pq
import pytest

from event_store import open_store
from event_store.errors import ExportCheckError
from event_store.io.parquet_export import check_export, export_parquet, read_manifest

T0 = datetime(2024, 1, 30, 9, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path):
    s = open_store(str(tmp_path / "s.db"), create=True)
    # January: A (3 steps), B (2 steps); February: C (2 steps, Chinese names); March: D
    for ticket, opened, steps in (("A", T0, ["Receive", "Handle", "Archive"]), ("B", T0 + timedelta(hours=1),
                                  ["Receive", "Archive"]), ("C", T0 + timedelta(days=3), ["受理", "处理"]),
                                  ("D", T0 + timedelta(days=40), ["Receive"])):
        s.open_ticket(ticket, opened, {"channel": "phone", "team": "L1"})
        for k, step in enumerate(steps):
            s.record_activity(ticket, step, opened + timedelta(minutes=10 * (k + 1)), team="L1" if k else None)
    yield s
    s.close()


def _rows(directory, kind, month):
    return pq.read_table(os.path.join(directory, kind, f"month={month}", "part-0.parquet")).to_pylist()


def test_partitions_manifest_and_rows(store, tmp_path):
    out = str(tmp_path / "lake")
    done = export_parquet(store, out)
    assert (done.tickets, done.events, done.partitions) == (4, 8, 3)
    assert done.written == ("2024-01", "2024-02", "2024-03")
    m = read_manifest(out)
    assert (m["events"], m["tickets"]) == (8, 4)
    assert {k: (p["events"], p["tickets"]) for k, p in m["partitions"].items()} == \
        {"2024-01": (5, 2), "2024-02": (2, 1), "2024-03": (1, 1)}
    assert m["verified"]["log_size"] == m["position"] == 12  # 4 openings + 8 steps, all verified
    jan = _rows(out, "events", "2024-01")
    assert [(r["ticket"], r["activity"]) for r in jan] == [("A", "Receive"), ("A", "Handle"), ("A", "Archive"),
                                                          ("B", "Receive"), ("B", "Archive")]
    assert jan[0]["occurred_at"] == T0 + timedelta(minutes=10) and jan[0]["team"] is None
    assert jan[0]["case_team"] == "L1" and jan[1]["team"] == "L1"
    assert [r["activity"] for r in _rows(out, "events", "2024-02")] == ["受理", "处理"]
    assert [(r["ticket"], r["events"]) for r in _rows(out, "tickets", "2024-01")] == [("A", 3), ("B", 2)]
    assert check_export(out, store).ok


def test_incremental_rewrites_only_the_touched_months(store, tmp_path):
    out = str(tmp_path / "lake")
    export_parquet(store, out)
    before = read_manifest(out)["partitions"]
    assert export_parquet(store, out).written == ()  # nothing new: nothing written
    # a correction of an old January ticket, a retraction in March, a new April ticket
    store.correct("A", 2, {"activity": "Handle again"}, "typo")
    store.retract("D", 1, "recorded by mistake")
    store.open_ticket("E", T0 + timedelta(days=70), {"channel": "mail"})
    done = export_parquet(store, out)
    assert done.written == ("2024-01", "2024-03", "2024-04")
    after = read_manifest(out)["partitions"]
    assert after["2024-02"] == before["2024-02"]  # untouched: same file, same hash
    assert after["2024-01"]["files"][0]["sha256"] != before["2024-01"]["files"][0]["sha256"]
    assert [r["activity"] for r in _rows(out, "events", "2024-01")][:3] == ["Receive", "Handle again", "Archive"]
    assert _rows(out, "events", "2024-03") == [] and (after["2024-03"]["events"], after["2024-03"]["tickets"]) == (0, 1)
    assert (done.events, done.tickets) == (7, 5)
    assert check_export(out, store).ok


def test_the_check_finds_an_altered_file_and_a_store_that_moved_on(store, tmp_path):
    out = str(tmp_path / "lake")
    export_parquet(store, out)
    path = os.path.join(out, "events", "month=2024-02", "part-0.parquet")
    table = pq.read_table(path)
    pq.write_table(table.slice(0, 1), path)
    store.record_activity("B", "Reopen", T0 + timedelta(days=5))
    check = check_export(out, store)
    assert not check.ok
    assert any("2024-02" in p and "SHA-256" in p for p in check.problems)
    assert any("log size 12" in p and "export again" in p for p in check.problems)
    assert any("8 events" in p and "9" in p for p in check.problems)


def test_a_folder_that_is_not_an_export_is_refused(store, tmp_path):
    out = tmp_path / "busy"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ExportCheckError, match="not empty and holds no csmine export manifest"):
        export_parquet(store, str(out))
    other = open_store(str(tmp_path / "other.db"), create=True)
    export_parquet(other, str(tmp_path / "lake"))
    with pytest.raises(ExportCheckError, match="export of another store"):
        export_parquet(store, str(tmp_path / "lake"))
    other.close()
    assert json.loads((tmp_path / "lake" / "manifest.json").read_text())["events"] == 0
