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
    assert len(parted.histories) == len(whole.histories) == TICKETS
    assert _view(parted.histories) == _view(whole.histories)  # times as text: offsets compared too
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


def _noted_log(path: Path, bad_at: int | None = None) -> None:
    """4,000 rows whose note names the line each starts on; blank lines and notes over two lines among them."""
    rng = random.Random(7)
    out = ["case:concept:name,concept:name,time:timestamp,note"]
    line = 2
    for i in range(4000):
        while rng.random() < 0.05:
            out.append("")
            line += 1
        two = rng.random() < 0.1
        at = "nine o'clock" if i == bad_at else f"2025-03-10T{8 + i % 8:02d}:00:00+08:00"
        note = f'"line {line}\nand on"' if two else f"line {line}"
        out.append(f"T{i % 400:03d},Step {i % 4},{at},{note}")
        line += 2 if two else 1
    path.write_text("\n".join(out) + "\n", encoding="utf-8")


def test_source_refs_and_errors_name_the_line_a_row_starts_on_read_whole_or_in_partitions(tmp_path, monkeypatch):
    from event_store.errors import ImportFormatError
    from event_store.io.columnar import read_csv_columns
    from event_store.io.columnar_parts import PartitionedLog
    from event_store.io.read_base import ColumnMapping

    path = tmp_path / "export.csv"
    _noted_log(path)
    whole, parted = _both_reads(path, monkeypatch)
    assert isinstance(parted, PartitionedLog) and not isinstance(whole, PartitionedLog)
    for log in (whole, parted):
        steps = [s for h in log.histories for s in h.steps]
        assert len(steps) == 4000
        assert all(s.source_ref == f"export.csv:{s.attrs['note'].split()[1]}" for s in steps)
    parted.close()
    _noted_log(path, bad_at=3900)
    line = next(n for n, text in enumerate(path.read_text(encoding="utf-8").split("\n"), 1) if "nine" in text)
    assert line > 3900 + 100  # blank lines and notes over two lines before it
    for parts in ("1000000", "300"):  # read whole, then in partitions
        monkeypatch.setenv("CSMINE_IMPORT_PARTITION_ROWS", parts)
        with pytest.raises(ImportFormatError, match=rf"^export\.csv: line {line}: cannot read value \"nine o'clock\""):
            read_csv_columns(str(path), lifecycle="auto", mapping=ColumnMapping())


# -- what a whole-column reading decides, and what it refuses, block by block ---------------------


def _plain_log(path: Path, times: list[tuple[str, str]], activity_at: dict[int, str] | None = None) -> None:
    """``case,activity,time,start`` rows in the order given (blocks then see the times as ordered)."""
    lines = ["case:concept:name,concept:name,time:timestamp,start_timestamp"]
    for i, (at, start) in enumerate(times):
        act = (activity_at or {}).get(i, f"Step {i % 4}")
        lines.append(f"T{i % 400:03d},{act},{at},{start}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _view(histories) -> list[tuple]:
    """Everything of the histories as text (aware datetimes with other offsets would compare equal)."""
    def iso(t):
        return None if t is None else t.isoformat()

    return sorted((h.ticket, iso(h.opened_at), sorted(h.case.items()), h.source_ref,
                   tuple((s.activity, iso(s.occurred_at), iso(s.started_at), s.actor, s.team, s.source_ref,
                          sorted(s.attrs.items())) for s in h.steps)) for h in histories)


def _both_reads(path: Path, monkeypatch, tz: str | None = None):
    from event_store.io import columnar_parts
    from event_store.io.columnar import read_csv_columns
    from event_store.io.read_base import ColumnMapping

    mapping = ColumnMapping(tz=tz)
    monkeypatch.delenv("CSMINE_IMPORT_PARTITION_ROWS", raising=False)
    whole = read_csv_columns(str(path), lifecycle="auto", mapping=mapping)
    monkeypatch.setenv("CSMINE_IMPORT_PARTITION_ROWS", "300")
    monkeypatch.setattr(columnar_parts, "BLOCK_BYTES", 8192)
    parted = read_csv_columns(str(path), lifecycle="auto", mapping=mapping)
    return whole, parted


def _summer_winter(n: int) -> list[tuple[str, str]]:
    return [(f"2025-{1 if i < n // 2 else 7:02d}-10T{8 + i % 8:02d}:00:00{'+01:00' if i < n // 2 else '+02:00'}", "")
            for i in range(n)]


@pytest.mark.parametrize("case", ["offsets change with daylight saving", "naive, then with an offset",
                                  "work starts only late in the file", "no work start at all",
                                  "one offset throughout"])
def test_times_read_in_blocks_as_the_whole_column_reads_them(tmp_path, monkeypatch, case):
    from event_store.io.columnar_parts import PartitionedLog

    n = 4000
    tz = None
    if case == "offsets change with daylight saving":
        times = _summer_winter(n)
    elif case == "naive, then with an offset":
        times = [(f"2025-03-10T{8 + i % 8:02d}:00:00{'' if i < n // 2 else '+08:00'}", "") for i in range(n)]
        tz = "Asia/Shanghai"
    elif case == "work starts only late in the file":
        times = [(f"2025-03-10T{8 + i % 8:02d}:30:00+08:00", "" if i < n // 2 else f"2025-03-10T{8 + i % 8:02d}:00:00+08:00")
                 for i in range(n)]
    elif case == "no work start at all":  # (the whole read once failed on it with a TypeError)
        times = [(f"2025-03-10T{8 + i % 8:02d}:00:00+08:00", "") for i in range(n)]
    else:
        times = [(f"2025-03-10T{8 + i % 8:02d}:00:00+05:30", "") for i in range(n)]
    path = tmp_path / "export.csv"
    _plain_log(path, times)
    whole, parted = _both_reads(path, monkeypatch, tz)
    assert isinstance(parted, PartitionedLog) and not isinstance(whole, PartitionedLog)
    expected = _view(whole.histories)
    assert sum(len(h[4]) for h in expected) == n
    assert _view(parted.histories) == expected
    parted.close()


def test_a_time_only_the_object_reader_writes_sends_the_partitioned_read_there_too(tmp_path, monkeypatch):
    """An Excel zero date in Shanghai (+08:05:43, an offset with seconds) late in the file."""
    n = 4000
    times = [(f"2025-03-10T{8 + i % 8:02d}:00:00", "") for i in range(n)]
    times[3500] = ("1899-12-30T00:00:00", "")
    path = tmp_path / "export.csv"
    _plain_log(path, times)
    whole, parted = _both_reads(path, monkeypatch, "Asia/Shanghai")
    assert whole is None and parted is None  # both: the object reader reads the file
    assert not list(tmp_path.glob("csmine-import-*"))


def test_a_field_over_its_limit_late_in_the_file_is_refused_before_the_first_batch(tmp_path, monkeypatch):
    from event_store.errors import InputLimitError
    from event_store.limits import current_limits

    import numpy as np
    import pandas as pd

    from event_store.io.columnar_parts import partitions_for
    from event_store.io.table_frame import read_head

    n = 4000
    path = tmp_path / "export.csv"
    times = [(f"2025-03-10T{8 + i % 8:02d}:00:00+08:00", "") for i in range(n)]
    _plain_log(path, times, activity_at={n - 1: "长" * 2000})  # 6,000 bytes: over the 4 KiB of a field
    # Put it on a ticket of the last partition (the same bytes elsewhere: the same partitions).
    monkeypatch.setenv("CSMINE_IMPORT_PARTITION_ROWS", "300")
    parts = partitions_for(str(path), read_head(str(path), path.name))
    ids = np.array([f"T{t:03d}" for t in range(400)], dtype=object)
    last = [t for t, p in enumerate(pd.util.hash_array(ids) % np.uint64(parts)) if p == parts - 1]
    assert parts > 2 and last
    row = 9 * 400 + last[0]
    _plain_log(path, times, activity_at={row: "长" * 2000})
    whole, parted = _both_reads(path, monkeypatch)
    for log in (whole, parted):
        batches = log.column_batches(50, current_limits())
        with pytest.raises(InputLimitError, match=f"export.csv:{row + 2}: the activity is 6,000 bytes long"):
            next(batches)


def test_folders_of_killed_imports_are_swept_and_running_ones_kept(tmp_path):
    import os
    import subprocess
    import sys

    from event_store.io.columnar_parts import sweep_partition_folders

    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(done.stdout)  # a process that has ended
    killed = tmp_path / f"csmine-import-{dead}-abc_12"
    running = tmp_path / f"csmine-import-{os.getpid()}-xyz"
    other = tmp_path / "csmine-import-q1w2"  # not named by a process: left alone
    for folder in (killed, running, other):
        folder.mkdir()
        (folder / "part-00000.arrow").write_bytes(b"x")
    assert sweep_partition_folders(str(tmp_path)) == [str(killed)]
    assert not killed.exists() and running.exists() and other.exists()
