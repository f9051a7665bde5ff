"""The hash chain's table without a ticket-and-version index, and stores made before it.

``event_chain`` is keyed by the notification id (one link per event); the events table
already holds each ticket's versions once, so a new store's chain has no second
random-key index on ``(originator_id, originator_version)``, and the predecessors of
continued tickets are found through the events table. A store made with the earlier
layout (that unique index present) must go on working unchanged: appends through every
path, the chain verified, a ticket's own proof.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)

OLD_CHAIN = ("CREATE TABLE event_chain (seq INTEGER PRIMARY KEY, notification_id INTEGER NOT NULL UNIQUE, "
             "originator_id TEXT NOT NULL, originator_version INTEGER NOT NULL, link BLOB NOT NULL, "
             "UNIQUE (originator_id, originator_version))")


def _indexed_columns(path) -> list[list[str]]:
    conn = sqlite3.connect(path)
    try:
        found = []
        for _, name, *_rest in conn.execute("PRAGMA index_list(event_chain)").fetchall():
            found.append([r[2] for r in conn.execute(f"PRAGMA index_info('{name}')").fetchall()])
        return sorted(found)
    finally:
        conn.close()


def _append_every_way(store):
    """Steps of continued tickets through the live window, the import path and the store's own save."""
    from event_store.alerts import raise_alerts
    from event_store.ingest import IngestEvent, Ingestor
    from event_store.records import ActivityRow, TicketHistory

    ingestor = Ingestor(store)
    ev = lambda t, a, m: IngestEvent(t, a, T0 + timedelta(minutes=m), "坐席-1", "L1", {"channel": "web"}, {}, None)
    assert ingestor.append([[ev(f"T-{i}", "接收投诉", i) for i in range(30)]]) == [30]
    assert ingestor.append([[ev(f"T-{i}", "Record", i + 1) for i in reversed(range(30))]]) == [30]
    store.import_histories([TicketHistory(f"T-{i}", T0 + timedelta(minutes=i), {"channel": "web"},
                                          (ActivityRow("接收投诉", T0 + timedelta(minutes=i), "坐席-1"),
                                           ActivityRow("Record", T0 + timedelta(minutes=i + 1), "坐席-1"),
                                           ActivityRow("Classify", T0 + timedelta(minutes=i + 2), "坐席-2")))
                            for i in range(0, 30, 3)], batch_size=4)
    store.record_activity("T-1", "Callback", T0 + timedelta(hours=1), actor="坐席-3")
    assert raise_alerts(store, [("k1", T0, {"ticket": "T-1"}, {"e": 1})]) == 1
    store.correct("T-2", 0, {"channel": "phone"}, "wrong channel")


@pytest.mark.parametrize("layout", ["new", "before"])
def test_a_chain_with_or_without_the_ticket_index_takes_every_append_and_verifies(tmp_path, layout):
    from event_store import open_store
    from event_store.integrity.tickets import ticket_integrity
    from event_store.integrity.verify import verify_store

    path = tmp_path / "s.db"
    open_store(str(path), create=True).close()
    if layout == "before":  # the chain table as stores made before had it; the next open applies the rest
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("DROP TABLE event_chain")
        conn.execute(OLD_CHAIN)
        conn.execute("DELETE FROM csmine_meta WHERE key = 'schema_rev'")
        conn.close()
    with open_store(str(path), create=True) as store:
        _append_every_way(store)
        report = verify_store(store)
        assert report.ok, report
        proof = ticket_integrity(store, "T-0")
        assert proof.ok and [e.version for e in proof.events] == [0, 1, 2, 3]
        assert store.db.query("SELECT COUNT(*) FROM event_log WHERE ticket = 'T-0'") == [(3,)]
        assert store.db.query("SELECT COUNT(*) FROM event_chain")[0][0] == \
            store.db.query("SELECT COUNT(*) FROM stored_events")[0][0] == 60 + 30 + 10 + 3
        triggers = store.db.query("SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'event_chain'")
        assert triggers == [(2,)]  # append-only either way
    expected = [["notification_id"]] + ([["originator_id", "originator_version"]] if layout == "before" else [])
    assert _indexed_columns(path) == sorted(expected)


def test_an_append_refuses_to_extend_a_chain_row_moved_to_its_ticket(tmp_path):
    """The predecessor is found by the event's position; a chain row there that names another
    ticket (two tickets' last links swapped) is not extended: the append is refused, nothing
    is written, and `csmine verify` still reports the swap."""
    from event_store import open_store
    from event_store.errors import IntegrityError
    from event_store.integrity.verify import verify_store

    path = tmp_path / "s.db"
    with open_store(str(path), create=True) as store:
        store.open_ticket("A", T0, {"channel": "web"})
        store.open_ticket("B", T0, {"channel": "web"})
        store.record_activity("A", "Receive", T0 + timedelta(minutes=1))
        store.record_activity("B", "Receive", T0 + timedelta(minutes=2))
    conn = sqlite3.connect(path, isolation_level=None)
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'event_chain'"):
        conn.execute(f"DROP TRIGGER {name}")
    last = conn.execute("SELECT seq, notification_id FROM event_chain ORDER BY seq DESC LIMIT 2").fetchall()
    (seq_b, nid_b), (seq_a, nid_a) = last
    conn.execute("UPDATE event_chain SET notification_id = -1 WHERE seq = ?", (seq_a,))
    conn.execute("UPDATE event_chain SET notification_id = ? WHERE seq = ?", (nid_a, seq_b))
    conn.execute("UPDATE event_chain SET notification_id = ? WHERE seq = ?", (nid_b, seq_a))
    before = conn.execute("SELECT COUNT(*) FROM stored_events").fetchone()[0]
    conn.close()
    with open_store(str(path)) as store:
        with pytest.raises(IntegrityError, match="previous link is missing"):
            store.record_activity("A", "Record", T0 + timedelta(minutes=3))
        assert store.db.query("SELECT COUNT(*) FROM stored_events")[0][0] == before
        assert not verify_store(store).ok
