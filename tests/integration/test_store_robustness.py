"""Nothing lost, nothing doubled: re-runs, a SIGKILL mid-import, concurrent writers.

Each test runs on SQLite and on the PostgreSQL server the session starts.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from event_store import ConcurrencyConflictError, open_store, ticket_id
from event_store.io.importing import read_histories
from event_store.integrity.chain import ZERO, head_link, stream_link
from event_store.persistence.recorders import canonical_id
from tests.datasets import HELPDESK, dataset_path

CSMINE = str(Path(sys.executable).with_name("csmine"))


def snapshot(store):
    """Counts and the chain head: what 'the store is unchanged' compares."""
    table = store.recorder.events_table_name
    return {
        "events": store.db.query(f"SELECT COUNT(*) FROM {table}")[0][0],
        "chain": store.db.query("SELECT COUNT(*), MAX(seq) FROM event_chain")[0],
        "head": store.db.query("SELECT size, head FROM chain_head"),
        "event_log": store.db.query("SELECT COUNT(*) FROM event_log")[0][0],
        "tickets": store.db.query("SELECT COUNT(*) FROM tickets")[0][0],
        "position": store.db.query("SELECT position FROM projection_state"),
    }


def assert_chain_consistent(store):
    """Recompute every link and the head from the stored rows, in log order."""
    table = store.recorder.events_table_name
    nid = "notification_id" if store.location.kind == "postgres" else "rowid"
    events = store.db.query(
        f"SELECT {nid}, originator_id, originator_version, topic, state FROM {table} ORDER BY {nid}")
    chain = store.db.query("SELECT seq, notification_id, originator_id, originator_version, link "
                           "FROM event_chain ORDER BY seq")
    assert len(chain) == len(events)
    last: dict[str, bytes] = {}
    head = ZERO
    for seq, ((n, oid, version, topic, state), row) in enumerate(zip(events, chain, strict=True), start=1):
        oid = canonical_id(oid)
        link = stream_link(last.get(oid, ZERO), oid, version, topic, bytes(state))
        assert row[:4] == (seq, n, oid, version)
        assert bytes(row[4]) == link
        last[oid] = link
        head = head_link(head, seq, link)
    assert store.db.query("SELECT size, head FROM chain_head") == ([(len(events), head)] if events else [])


def test_reimport_adds_nothing_and_appends_only_new_steps(store_url, tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("case,activity,time,who\n"
                    "A,Receive,2024-03-01T09:00:00+08:00,x\nA,Record,2024-03-01T09:10:00+08:00,y\n"
                    "B,Receive,2024-03-01T10:00:00+08:00,x\n")
    bigger = tmp_path / "bigger.csv"
    bigger.write_text(path.read_text() + "A,Record,2024-03-01T09:10:00+08:00,y\nB,Handle,2024-03-01T11:00:00+08:00,z\n")
    kw = {"fmt": "csv"}
    from event_store.io.read_base import ColumnMapping

    mapping = ColumnMapping(case="case", activity="activity", timestamp="time", resource="who")
    with open_store(store_url, create=True) as store:
        first = store.import_histories(read_histories(str(path), mapping=mapping, **kw))
        assert (first.tickets_added, first.events_added) == (2, 3)
        again = store.import_histories(read_histories(str(path), mapping=mapping, **kw))
        assert (again.tickets_added, again.events_added, again.tickets_unchanged) == (0, 0, 2)
        # A later file with a repeated step and a new one: the repeat counts as new
        # (same activity, time and actor twice), the known steps are not doubled.
        more = store.import_histories(read_histories(str(bigger), mapping=mapping, **kw))
        assert (more.tickets_added, more.events_added, more.tickets_unchanged) == (0, 2, 0)
        rows = store.db.query("SELECT ticket, version, activity FROM event_log ORDER BY ticket, version")
        assert rows == [("A", 1, "Receive"), ("A", 2, "Record"), ("A", 3, "Record"), ("B", 1, "Receive"),
                        ("B", 2, "Handle")]
        assert store.import_histories(read_histories(str(bigger), mapping=mapping, **kw)).events_added == 0
        assert_chain_consistent(store)


@pytest.mark.slow
def test_import_killed_part_way_then_run_again(store_url):
    """SIGKILL a real `csmine import` after its first batches commit; the re-run completes it."""
    source = str(dataset_path(*HELPDESK))
    if not store_url.startswith("postgresql"):
        with open_store(store_url, create=True):
            pass  # create the file first so the poll below can open it
    else:
        open_store(store_url, create=True).close()
    proc = subprocess.Popen([CSMINE, "import", source, "--store", store_url, "--batch-size", "5", "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        with open_store(store_url, catch_up=False) as store:
            deadline = time.monotonic() + 120
            committed = 0
            while time.monotonic() < deadline and proc.poll() is None:
                committed = store.db.query("SELECT COUNT(*) FROM tickets")[0][0]
                if committed >= 50:
                    break
                time.sleep(0.02)
            os.kill(proc.pid, signal.SIGKILL)
            _, err = proc.communicate()  # waits and closes the pipe
            assert proc.returncode == -signal.SIGKILL, err
            partial = snapshot(store)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert 50 <= partial["tickets"] < 4580, "the kill must land part-way through"
    # Whole batches only: every stored ticket has its opening and all its steps.
    assert partial["events"] == partial["chain"][0] == partial["head"][0][0]
    with open_store(store_url) as store:
        tickets_before = {r[0] for r in store.db.query("SELECT ticket FROM tickets")}
        histories = read_histories(source)
        expected = {h.ticket: len(h.steps) for h in histories}
        counts = dict(store.db.query("SELECT ticket, COUNT(*) FROM event_log GROUP BY ticket"))
        assert all(counts[t] == expected[t] for t in tickets_before)
        result = store.import_histories(histories)
        assert result.tickets_unchanged == len(tickets_before)
        assert result.tickets_added == 4580 - len(tickets_before)
        final = snapshot(store)
        assert final["tickets"] == 4580 and final["event_log"] == 21348
        assert final["events"] == 21348 + 4580 == final["chain"][0] == final["head"][0][0]
        assert_chain_consistent(store)


# -- two writers on one ticket ----------------------------------------------------------

ROUNDS = 40


def _writer(store_url: str, name: str, barrier, out: str) -> None:
    ok, conflicts = [], 0
    with open_store(store_url) as store:
        barrier.wait(timeout=60)
        for k in range(ROUNDS):
            try:
                version = store.record_activity("RACE", f"{name}-{k}", datetime(2024, 1, 1, tzinfo=UTC)
                                                + timedelta(minutes=k), actor=name)
                ok.append((f"{name}-{k}", version))
            except ConcurrencyConflictError:
                conflicts += 1
    Path(out).write_text(json.dumps([name, ok, conflicts]))


@pytest.mark.slow
def test_two_processes_recording_on_one_ticket(store_url, tmp_path):
    with open_store(store_url, create=True) as store:
        store.open_ticket("RACE", datetime(2024, 1, 1, tzinfo=UTC), {"channel": "phone"})
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(2)
    outs = [str(tmp_path / f"{n}.json") for n in ("P1", "P2")]
    procs = [ctx.Process(target=_writer, args=(store_url, n, barrier, out)) for n, out in zip(("P1", "P2"), outs)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
        if p.is_alive():
            p.kill()
        assert p.exitcode == 0, "a writer failed (see its traceback above)"
    outcomes = [json.loads(Path(out).read_text()) for out in outs]
    stored_ok = [tuple(item) for _, ok, _ in outcomes for item in ok]
    conflicts = sum(c for _, _, c in outcomes)
    assert len(stored_ok) + conflicts == 2 * ROUNDS  # every attempt either stored or refused, loudly
    with open_store(store_url) as store:
        events = list(store.events.get(ticket_id("RACE")))
        recorded = [(e.activity, e.originator_version) for e in events if hasattr(e, "activity")]
        # Every success is stored exactly once, at the version it reported; nothing else is.
        assert sorted(recorded) == sorted(stored_ok)
        assert [e.originator_version for e in events] == list(range(len(events)))
        assert Counter(a.split("-")[0] for a, _ in recorded) == Counter(
            {n: len(ok) for n, ok, _ in outcomes if ok})
        rows = store.db.query("SELECT activity, version FROM event_log WHERE ticket = 'RACE' ORDER BY version")
        assert rows == sorted(recorded, key=lambda r: r[1])
        assert_chain_consistent(store)
    print(f"{len(stored_ok)} stored, {conflicts} refused with ConcurrencyConflictError")


@pytest.mark.slow
def test_two_processes_importing_the_same_file(store_url, tmp_path):
    """Two imports of one file at once end with the file's events exactly once."""
    path = tmp_path / "log.csv"
    lines = ["case:concept:name,concept:name,time:timestamp"]
    for t in range(300):
        for s in range(4):
            lines.append(f"T{t},step{s},2024-01-01T{s:02d}:{t % 60:02d}:00+00:00")
    path.write_text("\n".join(lines) + "\n")
    open_store(store_url, create=True).close()
    procs = [subprocess.Popen([CSMINE, "import", str(path), "--store", store_url, "--batch-size", "10", "--quiet"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for _ in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=300)  # waits and closes the pipe
        assert p.returncode == 0, err.decode()
    with open_store(store_url) as store:
        state = snapshot(store)
        assert (state["tickets"], state["event_log"], state["events"]) == (300, 1200, 1500)
        assert_chain_consistent(store)
