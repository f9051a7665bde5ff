"""A large CSV read in ticket partitions (event_store.io.columnar_parts) stores what the whole-file read stores.

``CSMINE_IMPORT_PARTITION_ROWS`` makes the partitions small, so a file of a few
thousand rows takes the partitioned path (the tests check it did). The same messy
export (rows shuffled, ties in time, Chinese names, ``;`` as delimiter, a work-start
column, statuses in the lifecycle column, case attributes on some rows only) goes
into one store read whole and into another read in partitions: every event and
ticket row of the read model must be equal, source references (the file's lines)
included, and both stores verify. A bad time late in the file is refused before
anything is written, naming its line; the temporary partitions are removed in every
case; a second run adds nothing.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

CSMINE = str(Path(sys.executable).with_name("csmine"))
TICKETS = 900


def _write_log(path: Path, *, bad_line: int | None = None) -> int:
    """A shuffled ``;`` export of TICKETS tickets; returns its rows."""
    rng = random.Random(5)
    steps = ["受理", "登记", "Classify", "Handle", "回访", "Archive"]
    header = "工单;步骤;时间;开始;处理人;状态;case:channel;备注"
    body = []
    for t in range(TICKETS):
        for k in range(rng.randint(1, 7)):
            minute = rng.choice([0, 0, 30])  # ties inside a ticket
            at = f"2025-03-{1 + t % 28:02d}T{8 + k:02d}:{minute:02d}:00"
            start = f"2025-03-{1 + t % 28:02d}T{7 + k:02d}:50:00" if k == 0 and t % 4 == 0 else ""
            channel = rng.choice(["电话", "web", ""]) if k < 2 else ""
            body.append(f"T{t:04d};{steps[k % 6]};{at};{start};坐席-{t % 9};{rng.choice(['open', 'done'])};"
                        f"{channel};\"n; {k}\"")
    rng.shuffle(body)
    if bad_line is not None:
        fields = body[bad_line - 2].split(";")
        fields[2] = "03/2025 nine o'clock"
        body[bad_line - 2] = ";".join(fields)
    path.write_text("\n".join([header, *body]) + "\n", encoding="utf-8")
    return len(body)


MAPPING = ["--case-column", "工单", "--activity-column", "步骤", "--timestamp-column", "时间", "--start-column", "开始",
           "--resource-column", "处理人", "--lifecycle-column", "状态", "--tz", "Asia/Shanghai"]


def _run(path: Path, store: Path, parts: int | None, tmp: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TMPDIR": str(tmp)}
    env.pop("CSMINE_IMPORT_PARTITION_ROWS", None)
    if parts is not None:
        env["CSMINE_IMPORT_PARTITION_ROWS"] = str(parts)
    return subprocess.run([CSMINE, "import", str(path), "--store", str(store), *MAPPING, "--quiet", *extra],
                          capture_output=True, text=True, timeout=300, env=env)


def _rows(store: Path) -> tuple[list[tuple], list[tuple]]:
    import sqlite3

    conn = sqlite3.connect(store)
    try:
        events = conn.execute("SELECT ticket, version, activity, occurred_at, started_at, actor, team, source_ref, "
                              "attrs, channel, opened_at FROM event_log ORDER BY ticket, version").fetchall()
        tickets = conn.execute("SELECT ticket, opened_at, channel, priority, case_attrs FROM tickets "
                               "ORDER BY ticket").fetchall()
    finally:
        conn.close()
    return events, tickets


def test_the_partitioned_read_stores_what_the_whole_read_stores(tmp_path, monkeypatch):
    from event_store.io.columnar import read_csv_columns
    from event_store.io.columnar_parts import PartitionedLog
    from event_store.io.read_base import ColumnMapping

    path = tmp_path / "export.csv"
    rows = _write_log(path)
    spill = tmp_path / "spill"
    spill.mkdir()
    # The reader really takes the partitioned path here (and leaves nothing behind once read).
    monkeypatch.setenv("CSMINE_IMPORT_PARTITION_ROWS", "400")
    monkeypatch.setenv("TMPDIR", str(spill))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    mapping = ColumnMapping(case="工单", activity="步骤", timestamp="时间", start="开始", resource="处理人",
                            lifecycle="状态", tz="Asia/Shanghai")
    log = read_csv_columns(str(path), lifecycle="auto", mapping=mapping)
    assert isinstance(log, PartitionedLog) and len(log._parts) >= rows // 400
    assert log.n_events == rows and log.n_tickets == TICKETS
    from event_store.limits import current_limits

    batches = list(log.column_batches(100, current_limits()))
    assert sum(len(b.tickets) for b in batches) == TICKETS and sum(b.n_events for b in batches) == rows
    assert list(spill.iterdir()) == []  # the folder went with the last partition

    whole, parted = tmp_path / "whole.db", tmp_path / "parted.db"
    first = _run(path, whole, None, spill)
    assert first.returncode == 0, first.stderr
    second = _run(path, parted, 400, spill)
    assert second.returncode == 0, second.stderr
    assert first.stdout.replace("whole.db", "") == second.stdout.replace("parted.db", "")
    events, tickets = _rows(whole)
    assert len(events) == rows and len(tickets) == TICKETS
    assert _rows(parted) == (events, tickets)
    for store in (whole, parted):
        verify = subprocess.run([CSMINE, "verify", "--store", str(store)], capture_output=True, text=True, timeout=300)
        assert verify.returncode == 0, verify.stdout + verify.stderr
    again = _run(path, parted, 400, spill, "--json")
    assert again.returncode == 0, again.stderr
    assert '"events_added": 0' in again.stdout and '"tickets_added": 0' in again.stdout
    assert list(spill.iterdir()) == []


def test_a_bad_time_late_in_a_partitioned_file_is_refused_before_anything_is_written(tmp_path):
    path = tmp_path / "export.csv"
    rows = _write_log(path, bad_line=3001)
    assert rows > 3001
    spill = tmp_path / "spill"
    spill.mkdir()
    store = tmp_path / "s.db"
    done = _run(path, store, 400, spill)
    assert done.returncode != 0
    assert "export.csv: line 3001: cannot read value \"03/2025 nine o'clock\" in column '时间'" in done.stderr
    assert "Traceback" not in done.stderr
    assert list(spill.iterdir()) == []
    whole = _run(path, tmp_path / "w.db", None, spill)
    assert whole.returncode == done.returncode and whole.stderr == done.stderr  # the same error, read whole
    if store.exists():  # the store may have been made; no event is in it
        import sqlite3

        conn = sqlite3.connect(store)
        try:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            assert "event_log" not in tables or conn.execute("SELECT COUNT(*) FROM event_log").fetchone()[0] == 0
        finally:
            conn.close()


@pytest.mark.parametrize("rows_per_part, parts", [(10**9, 1), (400, None)])
def test_the_number_of_partitions_follows_the_file_size(tmp_path, monkeypatch, rows_per_part, parts):
    from event_store.io.columnar_parts import partitions_for
    from event_store.io.table_frame import read_head

    path = tmp_path / "export.csv"
    rows = _write_log(path)
    monkeypatch.setenv("CSMINE_IMPORT_PARTITION_ROWS", str(rows_per_part))
    got = partitions_for(str(path), read_head(str(path), path.name))
    if parts is not None:
        assert got == parts
    else:  # the rows estimated from the first 64 KB's line length, within 10% of the real count
        assert abs(got - rows / 400) <= 0.1 * rows / 400 + 1


def _mapping():
    from event_store.io.read_base import ColumnMapping

    return ColumnMapping(case="工单", activity="步骤", timestamp="时间", start="开始", resource="处理人",
                         lifecycle="状态", tz="Asia/Shanghai")


def test_small_blocks_and_partitions_give_the_whole_reads_histories(tmp_path, monkeypatch):
    """Blocks of 8 KB (tickets spread over many blocks) and partitions of 300 rows, in-process."""
    from event_store.io import columnar_parts
    from event_store.io.columnar import read_csv_columns

    path = tmp_path / "export.csv"
    rows = _write_log(path)
    monkeypatch.delenv("CSMINE_IMPORT_PARTITION_ROWS", raising=False)
    whole = read_csv_columns(str(path), lifecycle="auto", mapping=_mapping())
    assert not isinstance(whole, columnar_parts.PartitionedLog)
    monkeypatch.setenv("CSMINE_IMPORT_PARTITION_ROWS", "300")
    monkeypatch.setattr(columnar_parts, "BLOCK_BYTES", 8192)
    parted = read_csv_columns(str(path), lifecycle="auto", mapping=_mapping())
    assert isinstance(parted, columnar_parts.PartitionedLog)
    by_ticket = {h.ticket: h for h in parted.histories}
    assert len(by_ticket) == len(whole.histories) == TICKETS
    assert all(by_ticket[h.ticket] == h for h in whole.histories)
    assert sum(len(h.steps) for h in whole.histories) == rows
    parted.close()


def test_a_bad_time_in_a_later_block_names_its_line_in_the_file(tmp_path, monkeypatch):
    from event_store.errors import ImportFormatError
    from event_store.io import columnar_parts
    from event_store.io.columnar import read_csv_columns

    path = tmp_path / "export.csv"
    _write_log(path, bad_line=2999)
    monkeypatch.setenv("CSMINE_IMPORT_PARTITION_ROWS", "300")
    monkeypatch.setattr(columnar_parts, "BLOCK_BYTES", 8192)
    with pytest.raises(ImportFormatError, match=r"export\.csv: line 2999: cannot read value"):
        read_csv_columns(str(path), lifecycle="auto", mapping=_mapping())
