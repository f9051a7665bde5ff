"""The lean write of a live window (event_store.live_write) against the import path it replaced.

The same windows go into one store through the ingestor (one transaction a window,
columnar writer for new tickets, the store's encoder for continued ones, case changes)
and into another through ``import_histories`` (the path before); both stores must
verify (chain and read model re-derived from the events) and hold the same tickets,
steps and read-model rows. Alerts recorded in bulk in between must leave the read
model in step, read back through the repository, and be acknowledged.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def _ev(ticket: str, activity: str, minutes: int, **kw):
    from event_store.ingest import IngestEvent

    return IngestEvent(ticket, activity, T0 + timedelta(minutes=minutes), kw.get("actor"), kw.get("team"),
                       kw.get("case", {}), kw.get("attrs", {}), kw.get("event_id"))


WINDOWS = [
    [[_ev("T-1", "Receive", 0, case={"channel": "phone"}, event_id="a1"),
      _ev("T-2", "接收投诉", 1, case={"channel": "web", "vip": True}, actor="坐席-7", event_id="b1")],
     [_ev("T-3", "Receive", 2)]],
    [[_ev("T-1", "Record", 5, actor="A-1", team="L1", attrs={"note": "客户来电", "n": 2}, event_id="a2"),
      _ev("T-1", "Classify", 9, case={"priority": "high"}, event_id="a3")],  # a case change, then a step
     [_ev("T-2", "Record", 6, actor="A-2", event_id="b2"),
      _ev("T-4", "Receive", 7, case={"channel": "mail"}),
      _ev("T-4", "Record", 8)]],
    [[_ev("T-1", "Record", 5, actor="A-1", event_id="a2"),  # a retry: nothing new
      _ev("T-3", "Record", 10), _ev("T-3", "Record", 10),  # the same key twice in a window: once
      _ev("T-2", "Record", 6, actor="A-2", event_id="b9")]],  # same key as b2, another id: a second step
]
EXPECTED_NEW = [[2, 1], [2, 3], [2]]


def _import_path():
    from event_store.ingest import Ingestor

    class ImportPath(Ingestor):
        """The path before: a window through ``import_histories`` as one batch."""

        def _write(self, per_ticket):
            histories = [self._history(ticket, events) for ticket, events in per_ticket.items()]
            self.store.import_histories(histories, batch_size=len(histories))

    return ImportPath


def _rows(store):
    rows = store.db.query(
        "SELECT ticket, version, activity, occurred_at, actor, team, source_ref, attrs, channel, priority "
        "FROM event_log ORDER BY ticket, version")
    tickets = store.db.query("SELECT ticket, opened_at, channel, priority, case_attrs FROM tickets ORDER BY ticket")
    return rows, tickets


def test_a_live_window_writes_what_the_import_path_writes(tmp_path):
    from event_store import open_store
    from event_store.alerts import acknowledge_alert, alert_id, iter_alerts, raise_alerts
    from event_store.ingest import Ingestor
    from event_store.integrity.verify import verify_store

    with open_store(str(tmp_path / "live.db"), create=True) as live, \
            open_store(str(tmp_path / "import.db"), create=True) as imported:
        ingestor = Ingestor(live)
        _ImportPath = _import_path()
        reference = _ImportPath(imported)
        for i, window in enumerate(WINDOWS):
            assert ingestor.append(window) == EXPECTED_NEW[i]
            assert reference.append(window) == EXPECTED_NEW[i]
            if i == 0:  # alerts in bulk between two windows, one of them twice
                fired = T0 + timedelta(minutes=3)
                alerts = [(f"k{j}", fired, {"ticket": "T-1", "kind": "at_risk"}, {"event": j}) for j in range(3)]
                assert raise_alerts(live, [*alerts, alerts[0]]) == 3
                assert raise_alerts(live, alerts) == 0  # recorded once, across calls too
        ack = acknowledge_alert(live, alert_id("k1"), actor="组长", note="已回电")
        assert ack["actor"] == "组长"
        assert [a["event"] for a in iter_alerts(live)] == ["raised", "raised", "raised", "acknowledged"]

        report = verify_store(live)
        assert report.ok, report
        assert verify_store(imported).ok
        assert _rows(live) == _rows(imported)
        rows, tickets = _rows(live)
        assert len(rows) == 10 and len(tickets) == 4
        t1 = live.get_ticket("T-1")  # the aggregate reads the window's bytes back
        assert [s["activity"] for _, s in sorted(t1["steps"].items())] == ["Receive", "Record", "Classify"]
        assert t1["case"] == {"channel": "phone", "priority": "high"}
        assert live.get_ticket("T-2")["case"] == {"channel": "web", "vip": True}
        assert [r[6] for r in rows if r[0] == "T-2"] == ["event:b1", "event:b2", "event:b9"]
        assert ingestor.events == 10

        reopened = Ingestor(live)  # the keys come back from the store: a retry after a restart records nothing
        assert reopened.append(WINDOWS[1]) == [0, 0]


def test_a_live_window_leaves_the_chunks_it_completes_to_the_first_read(tmp_path, monkeypatch):
    """The columnar copy is not built in a window's commit (the acknowledgement waits for that
    commit); the first read builds the chunks from the rows, and reads what the rows hold."""
    from event_store import open_store
    from event_store.ingest import Ingestor
    from event_store.readmodel import chunks

    monkeypatch.setattr(chunks, "CHUNK", 8)
    with open_store(str(tmp_path / "live.db"), create=True) as live:
        Ingestor(live).append([[_ev(f"T-{i}", "Receive", i), _ev(f"T-{i}", "Record", i + 1)] for i in range(10)])
        assert live.db.query("SELECT COUNT(*) FROM event_log_columns") == [(0,)]
        table = chunks.read_columnar(live)
        assert table.num_rows == 20
        assert sorted(table.column("ticket").to_pylist()) == sorted(r[0] for r in _rows(live)[0])
        assert live.db.query("SELECT COUNT(*) FROM event_log_columns") == [(2,)]


def test_a_window_reads_case_attributes_another_writer_corrected(tmp_path):
    """A correction made through another connection (``csmine correct`` in another process)
    reaches the read-model rows of the ticket's next live steps: the window reads the case
    rows of the tickets it continues in its own transaction, not from an earlier one."""
    from event_store import open_store
    from event_store.ingest import Ingestor
    from event_store.integrity.verify import verify_store

    path = str(tmp_path / "live.db")
    with open_store(path, create=True) as live, open_store(path) as other:
        ingestor = Ingestor(live)
        assert ingestor.append([[_ev("T-1", "Receive", 0, case={"channel": "phone"})]]) == [1]
        assert ingestor.append([[_ev("T-1", "Record", 1)]]) == [1]  # the ticket's case row read once here
        other.correct("T-1", 0, {"channel": "web"}, "wrong channel at intake")
        assert ingestor.append([[_ev("T-1", "Classify", 2)]]) == [1]
        rows = live.db.query("SELECT version, activity, channel FROM event_log WHERE ticket = 'T-1' ORDER BY version")
        assert rows == [(1, "Receive", "web"), (2, "Record", "web"), (4, "Classify", "web")]
        assert verify_store(live).ok


def test_a_window_continuing_many_tickets_chains_each_on_its_own_last_link(tmp_path):
    """1,100 tickets continued in one window (three look-up queries of 400 and one of 500 case rows):
    every link continues its own ticket's last one, as the chain check re-derives them."""
    from event_store import open_store
    from event_store.ingest import Ingestor
    from event_store.integrity.verify import verify_store

    with open_store(str(tmp_path / "live.db"), create=True) as live:
        ingestor = Ingestor(live)
        n = 1100
        assert ingestor.append([[_ev(f"T-{i}", "Receive", i, case={"channel": "web"}) for i in range(n)]]) == [n]
        assert ingestor.append([[_ev(f"T-{i}", "Record", i + 1) for i in reversed(range(n))]]) == [n]
        assert ingestor.append([[_ev(f"T-{i}", "Classify", i + 2) for i in range(0, n, 2)]]) == [n // 2]
        assert verify_store(live).ok
        counts = live.db.query("SELECT COUNT(*), COUNT(DISTINCT ticket) FROM event_log WHERE channel = 'web'")
        assert counts == [(n * 2 + n // 2, n)]
