"""SIGKILL the bulk import path in the middle of a batch, then run it again: exact counts.

A real ``csmine import`` of a CSV (read as columns, written by the bulk path: one
transaction per batch holding the events, their chain links, the chain head, the
read-model rows and the projection position) is killed while it writes its big
batches. What survives must be whole batches of whole tickets, with the chain, the
head and the read model agreeing; the re-run must end with exactly the file's rows
and tickets (counted by pandas on the file) and a chain that verifies. Runs on
SQLite and on the session's PostgreSQL server, with the file read whole and read in
ticket partitions (:mod:`event_store.io.columnar_parts`, five of about 17,000 rows).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from event_store import open_store
from tests.integration.test_store_robustness import assert_chain_consistent, snapshot

CSMINE = str(Path(sys.executable).with_name("csmine"))
TICKETS = 12_000


def _write_log(path: Path) -> None:
    """About 84,000 rows of 12,000 tickets, shuffled, with Chinese activity names."""
    rng = random.Random(11)
    steps = ["受理", "Classify", "Assign", "Resolve", "Close"]
    lines = ["case:concept:name,concept:name,time:timestamp,org:resource,case:channel,note"]
    for t in range(TICKETS):
        for k in range(rng.randint(3, 11)):
            lines.append(f"K{t:05d},{steps[k % 5]},2024-02-{1 + t % 28:02d}T{k:02d}:{t % 60:02d}:00+08:00,"
                         f"a{t % 17},{'phone' if t % 3 else 'chat'},\"n, {k}\"")
    body = lines[1:]
    rng.shuffle(body)
    path.write_text("\n".join([lines[0], *body]) + "\n", encoding="utf-8")


def _import(path: Path, store_url: str, batch: int, parts: int | None = None) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CSMINE_PARALLEL": "0"}
    if parts is not None:  # the file read in ticket partitions of about this many rows
        env["CSMINE_IMPORT_PARTITION_ROWS"] = str(parts)
        env["TMPDIR"] = str(path.parent)  # the killed run's partitions stay behind: in the test's folder
    return subprocess.Popen([CSMINE, "import", str(path), "--store", store_url, "--batch-size", str(batch),
                             "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)


def _last_notification(store_url: str) -> int:
    with open_store(store_url, catch_up=False) as store:
        table = store.recorder.events_table_name
        nid = "notification_id" if store.location.kind == "postgres" else "rowid"
        return int(store.db.query(f"SELECT MAX({nid}) FROM {table}")[0][0])


@pytest.mark.slow
@pytest.mark.parametrize("parts", [None, 20_000], ids=["whole", "partitioned"])
def test_bulk_import_killed_mid_batch_then_run_again(store_url, tmp_path, parts):
    import pandas as pd

    path = tmp_path / "tickets.csv"
    _write_log(path)
    df = pd.read_csv(path)
    rows, tickets = len(df), df["case:concept:name"].nunique()
    assert tickets == TICKETS
    open_store(store_url, create=True).close()
    proc = _import(path, store_url, 1500, parts)
    try:
        with open_store(store_url, catch_up=False) as store:
            deadline = time.monotonic() + 180
            committed = 0
            while time.monotonic() < deadline and proc.poll() is None:
                committed = store.db.query("SELECT COUNT(*) FROM tickets")[0][0]
                if committed >= 1500:  # the first batch is in: the next one is being written
                    break
                time.sleep(0.005)
            time.sleep(0.05)
            os.kill(proc.pid, signal.SIGKILL)
            _, err = proc.communicate()
            assert proc.returncode == -signal.SIGKILL, err
            partial = snapshot(store)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert 1500 <= partial["tickets"] < TICKETS, "the kill must land part-way through"
    if parts is None:  # (partitioned, a partition's last batch holds what is left of it)
        assert partial["tickets"] % 1500 == 0, "whole batches only"
    # Events, chain links, chain head and read model all stop at the same batch.
    assert partial["events"] == partial["chain"][0] == partial["head"][0][0]
    assert partial["events"] == partial["event_log"] + partial["tickets"]
    assert partial["position"][0][0] == _last_notification(store_url)
    per_ticket = df.groupby("case:concept:name").size()
    with open_store(store_url) as store:
        stored = dict(store.db.query("SELECT ticket, COUNT(*) FROM event_log GROUP BY ticket"))
        assert len(stored) == partial["tickets"]
        assert all(per_ticket[t] == n for t, n in stored.items()), "a ticket was stored without all its steps"
    again = _import(path, store_url, 1500, parts)
    _, err = again.communicate(timeout=600)
    assert again.returncode == 0, err.decode()
    with open_store(store_url) as store:
        final = snapshot(store)
        assert final["tickets"] == tickets and final["event_log"] == rows
        assert final["events"] == rows + tickets == final["chain"][0] == final["head"][0][0]
        # the projection stands at the last event; on PostgreSQL notification ids come from a
        # sequence, and the killed batch\'s ids stay unused (a rolled-back nextval is not reused)
        assert final["position"][0][0] == _last_notification(store_url)
        counts = dict(store.db.query("SELECT ticket, COUNT(*) FROM event_log GROUP BY ticket"))
        assert counts == per_ticket.to_dict()
        assert_chain_consistent(store)
    verify = subprocess.run([CSMINE, "verify", "--store", store_url], capture_output=True, text=True, timeout=600)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    # A third run adds nothing.
    third = subprocess.run([CSMINE, "import", str(path), "--store", store_url, "--json", "--quiet"],
                           capture_output=True, text=True, timeout=600,
                           env={**os.environ, "CSMINE_IMPORT_PARTITION_ROWS": str(parts or 10**9)})
    assert third.returncode == 0, third.stderr
    assert '"events_added": 0' in third.stdout and '"tickets_added": 0' in third.stdout
