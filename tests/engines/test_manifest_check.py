"""An engine reads a Parquet export only when it matches its manifest (DuckDB here; Spark in
``test_spark.py``): an altered, removed or added event file is a clear error (exit 3 on the
command line), and the export's integer ``ticket_key`` gives the same figures as names."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from event_store import open_store
from event_store.io.parquet_export import export_parquet

from csmine.engines.base import DuckDBEngine, check_parquet_export
from csmine.engines.queries import ACTIVITY_INFO_COLUMNS, activity_info_rows, directly_follows_counts
from csmine.errors import EngineError

T0 = datetime(2024, 1, 30, 9, 0, tzinfo=UTC)


@pytest.fixture
def lake(tmp_path):
    s = open_store(str(tmp_path / "s.db"), create=True)
    # A: Receive Handle Handle Archive; B: Receive Archive (February); C: 受理 处理
    for ticket, opened, steps in (("A", T0, ["Receive", "Handle", "Handle", "Archive"]),
                                  ("B", T0 + timedelta(days=3), ["Receive", "Archive"]),
                                  ("C", T0 + timedelta(hours=2), ["受理", "处理"])):
        s.open_ticket(ticket, opened, {"channel": "phone"})
        for k, step in enumerate(steps):
            s.record_activity(ticket, step, opened + timedelta(minutes=10 * (k + 1)))
    out = str(tmp_path / "lake")
    export_parquet(s, out)
    s.close()
    return out


def _dfg(engine):
    acts = ["Receive", "Handle", "Archive", "受理", "处理"]
    frame = engine.run([directly_follows_counts(engine.dialect)],
                       {"activity_info": (ACTIVITY_INFO_COLUMNS, activity_info_rows(acts))})[0]
    return {(r.source, r.target): int(r.events) for r in frame.itertuples()}


def test_the_export_carries_an_integer_ticket_key_and_the_counts_are_the_hand_counts(lake):
    table = pq.read_table(os.path.join(lake, "events", "month=2024-01", "part-0.parquet"))
    keys = dict(zip(table["ticket"].to_pylist(), table["ticket_key"].to_pylist(), strict=True))
    assert table.schema.field("ticket_key").type == pa.int64()
    assert len(set(keys.values())) == 2  # A and C, one integer each
    with DuckDBEngine(lake) as engine:
        assert _dfg(engine) == {("Receive", "Handle"): 1, ("Handle", "Handle"): 1, ("Handle", "Archive"): 1,
                                ("Receive", "Archive"): 1, ("受理", "处理"): 1}


def test_an_export_without_ticket_key_partitions_by_the_ticket_name(lake, tmp_path):
    old = str(tmp_path / "old")
    shutil.copytree(lake, old)
    for root, _, files in os.walk(os.path.join(old, "events")):
        for f in files:
            path = os.path.join(root, f)
            pq.write_table(pq.read_table(path).drop(["ticket_key"]), path)
    with DuckDBEngine(old, check=False) as engine:
        assert sum(_dfg(engine).values()) == 5


def test_an_altered_file_is_refused_with_the_fix(lake, cli):
    path = os.path.join(lake, "events", "month=2024-01", "part-0.parquet")
    table = pq.read_table(path)
    pq.write_table(table.slice(0, 3), path)  # a partial rewrite: 3 of its 6 rows
    with pytest.raises(EngineError, match="does not match its manifest.*SHA-256.*csmine export"):
        DuckDBEngine(lake)
    result = cli("discover", "--store", os.path.join(os.path.dirname(lake), "s.db"), "--engine", "duckdb",
                 "--parquet", lake)
    assert result.exit_code == 3, result.output
    assert "does not match its manifest" in result.stderr and "Traceback" not in result.output


def test_a_missing_or_extra_file_and_a_missing_manifest_are_refused(lake):
    extra = os.path.join(lake, "events", "month=2024-01", "part-1.parquet")
    shutil.copy(os.path.join(lake, "events", "month=2024-02", "part-0.parquet"), extra)
    with pytest.raises(EngineError, match="part-1.parquet is not in the manifest"):
        check_parquet_export(lake)
    os.remove(extra)
    check_parquet_export(lake)  # back as exported
    os.remove(os.path.join(lake, "events", "month=2024-02", "part-0.parquet"))
    with pytest.raises(EngineError, match="2024-02.*is missing"):
        check_parquet_export(lake)
    os.remove(os.path.join(lake, "manifest.json"))
    with pytest.raises(EngineError, match="holds no manifest.json.*csmine export"):
        DuckDBEngine(lake)


def test_an_export_written_before_ticket_key_is_rewritten_whole(lake, tmp_path):
    import json

    path = os.path.join(lake, "manifest.json")
    with open(path, encoding="utf-8") as fh:
        manifest = json.load(fh)
    manifest.pop("event_columns")  # as written before the column existed
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(manifest, fh)
    store = open_store(str(tmp_path / "s.db"))
    try:
        done = export_parquet(store, lake)  # nothing new in the store: only the layout changed
    finally:
        store.close()
    assert done.written == ("2024-01", "2024-02")
    check_parquet_export(lake)
