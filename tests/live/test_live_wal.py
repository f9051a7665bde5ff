"""The live server's SQLite write path off the acknowledgements: WAL restarts, the warm-up, the lock wait.

* :func:`event_store.live_write.checkpoint` must bring a WAL that two busy writers
  keep from restarting back to its beginning (a PASSIVE checkpoint alone leaves it
  growing) with a one-page write, fall back on a RESTART when that write keeps losing
  the race, and give up, not block, when a reader holds a snapshot.
* The first window of a new :class:`event_store.ingest.Ingestor` must import nothing
  (its one-time imports happen when the ingestor is made, not in an acknowledgement).
* :func:`event_store.persistence.db.begin_immediate` waits for another connection's
  write lock, takes it once released, and fails with SQLite's "locked" after its timeout.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import threading
from datetime import UTC, datetime, timedelta

import pytest

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def _window(k: int, n: int = 40):
    from event_store.ingest import IngestEvent

    return [IngestEvent(f"T{k}-{i}", "接收投诉", T0 + timedelta(seconds=i), "坐席-1", "L1", {"channel": "phone"},
                        {"note": "x" * 200}, f"e{k}-{i}") for i in range(n)]


def _wal_frames(path) -> int:
    """The WAL's last valid frame (``mxFrame`` of the WAL index header in ``-shm``), read without SQLite."""
    header = (path.parent / (path.name + "-shm")).read_bytes()[:48]
    return int.from_bytes(header[16:20], sys.byteorder)


def test_checkpoint_copies_the_wal_and_restarts_it_past_the_threshold(tmp_path):
    from event_store import open_store
    from event_store.ingest import Ingestor
    from event_store.live_write import checkpoint, defer_checkpoints

    path = tmp_path / "live.db"
    store = open_store(str(path), create=True)
    defer_checkpoints(store)
    ingestor = Ingestor(store)
    other = sqlite3.connect(path, isolation_level=None)  # a second writer, as the alerts are
    other.execute("CREATE TABLE IF NOT EXISTS beside (n INTEGER)")
    for k in range(6):
        ingestor.append([_window(k)])
        other.execute("INSERT INTO beside VALUES (?)", (k,))
    frames = _wal_frames(path)
    assert frames > 50
    # Under the threshold: a PASSIVE checkpoint, everything copied, the WAL left as it is; a
    # write while a reader holds the latest snapshot (the monitors read all the time) appends.
    reader = sqlite3.connect(path, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT COUNT(*) FROM beside").fetchone()
    assert checkpoint(store, restart_frames=10**9) == (0, frames, frames)
    assert _wal_frames(path) == frames
    other.execute("INSERT INTO beside VALUES (100)")
    reader.execute("COMMIT")
    reader.close()
    grown = _wal_frames(path)
    assert grown > frames
    # Over it: every frame copied, then a write of one page begun at once starts the WAL
    # from its beginning (no RESTART, no sync under the write lock); the next window follows it.
    result = checkpoint(store, restart_frames=10)
    assert result is not None and result[0] == 0 and result[1] == result[2] <= 2 < grown
    assert _wal_frames(path) <= 2
    ingestor.append([_window(99, n=1)])
    assert 0 < _wal_frames(path) < 40 < grown
    assert store.db.query("SELECT COUNT(*) FROM event_log")[0][0] == 6 * 40 + 1
    assert other.execute("SELECT COUNT(*) FROM beside").fetchone()[0] == 7
    other.close()
    store.close()


def test_checkpoint_gives_up_on_readers_and_never_blocks_for_an_old_snapshot(tmp_path):
    from event_store import open_store
    from event_store.ingest import Ingestor
    from event_store.live_write import checkpoint, defer_checkpoints

    path = tmp_path / "live.db"
    store = open_store(str(path), create=True)
    defer_checkpoints(store)
    ingestor = Ingestor(store)
    ingestor.append([_window(0)])
    reader = sqlite3.connect(path, isolation_level=None)
    reader.execute("BEGIN")
    seen = reader.execute("SELECT COUNT(*) FROM event_log").fetchone()[0]  # the snapshot is taken here
    ingestor.append([_window(1)])
    frames = _wal_frames(path)
    # A reader on an old snapshot: PASSIVE copies what it can, never "busy", and no RESTART is tried.
    for threshold in (10**9, 1):
        passive = checkpoint(store, restart_frames=threshold)
        assert passive is not None and passive[0] == 0 and passive[2] < passive[1] == frames
    ingestor.append([_window(2, n=1)])
    assert _wal_frames(path) > frames  # not restarted under the reader
    assert reader.execute("SELECT COUNT(*) FROM event_log").fetchone()[0] == seen == 40
    reader.execute("COMMIT")
    # A reader on the latest snapshot: everything copied, but the restarting write cannot start
    # the WAL again under it (its one frame is appended, which the reader then keeps from being
    # copied, so not even the fallback's RESTART is tried).
    reader.execute("BEGIN")
    reader.execute("SELECT COUNT(*) FROM event_log").fetchone()
    before = _wal_frames(path)
    assert checkpoint(store, restart_frames=1) == (0, before + 1, before)
    assert _wal_frames(path) == before + 1
    assert checkpoint(store, restart_frames=1, force_frames=1) == (0, before + 1, before)
    reader.execute("COMMIT")
    reader.close()
    result = checkpoint(store, restart_frames=1)
    assert result is not None and result[0] == 0 and result[1] == result[2] <= 2
    assert _wal_frames(path) <= 2
    assert store.db.query("SELECT COUNT(*) FROM event_log")[0][0] == 81


def test_checkpoint_falls_back_on_a_restart_when_another_writer_gets_in_first(tmp_path, monkeypatch):
    """The race the restarting write can lose: another writer whose transaction began before
    the checkpoint (its snapshot inside the WAL) commits between the checkpoint and the write,
    so both frames are appended and the WAL goes on growing; past ``force_frames`` a RESTART
    checkpoint runs. And the write waits only briefly for a lock another process holds."""
    import time

    from event_store import live_write, open_store
    from event_store.ingest import Ingestor
    from event_store.live_write import checkpoint, defer_checkpoints

    path = tmp_path / "live.db"
    store = open_store(str(path), create=True)
    defer_checkpoints(store)
    ingestor = Ingestor(store)
    for k in range(3):
        ingestor.append([_window(k)])
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("CREATE TABLE IF NOT EXISTS beside (n INTEGER)")
    restarting_write = live_write._restarting_write

    def lost_race(s):
        other.execute("COMMIT")  # the alerts' transaction ends first
        restarting_write(s)

    monkeypatch.setattr(live_write, "_restarting_write", lost_race)
    issued: list[str] = []
    pragma = store.db.pragma
    monkeypatch.setattr(store.db, "pragma", lambda statement: issued.append(statement) or pragma(statement))
    for n, force in ((1, 10**9), (2, 10)):
        ingestor.append([_window(10 + n)])  # frames to copy: the other writer's snapshot is inside the WAL
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO beside VALUES (?)", (n,))
        grown = _wal_frames(path)
        issued.clear()
        result = checkpoint(store, restart_frames=10, force_frames=force, attempts=1)
        assert result is not None and result[0] == 0 and result[1] == result[2]
        assert ("wal_checkpoint(RESTART)" in issued) == (n == 2)  # the fallback only past its threshold
        if n == 1:  # the race lost, under the fallback's threshold: the WAL went on growing
            assert result[1] > grown and _wal_frames(path) > grown
    other.execute("INSERT INTO beside VALUES (3)")  # the first write after the RESTART starts the WAL again
    assert _wal_frames(path) <= 2
    # Another process holds the write lock (an import beside serve): the restarting write gives up
    # after RESTART_WRITE_WAIT_S instead of the store's 30 s lock wait; the next round tries again.
    monkeypatch.setattr(live_write, "_restarting_write", restarting_write)
    ingestor.append([_window(13)])
    other.execute("BEGIN IMMEDIATE")
    t = time.monotonic()
    assert checkpoint(store, restart_frames=10) is None
    assert time.monotonic() - t < 5
    other.execute("COMMIT")
    result = checkpoint(store, restart_frames=10)
    assert result is not None and result[1] == result[2] <= 2
    assert other.execute("SELECT COUNT(*) FROM beside").fetchone()[0] == 3
    assert store.db.query("SELECT COUNT(*) FROM event_log")[0][0] == 240
    other.close()
    store.close()


def test_the_first_window_imports_nothing(tmp_path):
    script = textwrap.dedent(f"""
        import sys
        from datetime import UTC, datetime
        from event_store import open_store
        from event_store.ingest import IngestEvent, Ingestor
        store = open_store({str(tmp_path / "live.db")!r}, create=True)
        assert "pandas" not in sys.modules, "the test needs a process without pandas"
        ingestor = Ingestor(store)
        before = set(sys.modules)
        t = datetime(2025, 3, 3, 9, tzinfo=UTC)
        n = ingestor.append([[IngestEvent("T-1", "Receive", t, "a", "L1", {{"channel": "web"}}, {{"k": 1}}, "e1")]])
        assert n == [1], n
        print(sorted(set(sys.modules) - before))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_begin_immediate_waits_for_the_write_lock_and_times_out(tmp_path):
    from event_store.persistence.db import begin_immediate

    path = tmp_path / "lock.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA journal_mode = WAL")
    holder.execute("CREATE TABLE t (n INTEGER)")
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO t VALUES (1)")
    waiter = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    waiter.execute("PRAGMA busy_timeout = 30000")
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        begin_immediate(waiter.cursor(), timeout_s=0.05)
    assert waiter.execute("PRAGMA busy_timeout").fetchone()[0] == 30000  # put back after the tries
    got: list[int] = []

    def wait_and_write() -> None:
        cur = waiter.cursor()
        begin_immediate(cur, timeout_s=30)
        got.append(cur.execute("SELECT COUNT(*) FROM t").fetchone()[0])  # sees the holder's commit
        cur.execute("INSERT INTO t VALUES (2)")
        cur.execute("COMMIT")

    thread = threading.Thread(target=wait_and_write)
    thread.start()
    thread.join(0.2)
    assert thread.is_alive() and not got  # still waiting while the lock is held
    holder.execute("COMMIT")
    thread.join(30)
    assert got == [1]
    assert holder.execute("SELECT n FROM t ORDER BY n").fetchall() == [(1,), (2,)]
    holder.close()
    waiter.close()
