"""The monitors read what was committed from the read model's rows: the same items as decoding the log.

``csmine.live.online.stream_committed`` reads openings and steps from ``tickets`` and
``event_log`` (no event decoded but a corrected step). It must give exactly the items
the decoded notification log gives (``event_store.ingest.read_committed``, the path
before): the same events, values, log positions and commit groups, with corrections and
retractions recorded after the steps (the live monitors do not apply them, so a restart
feeds what the first run fed), alerts in between, Chinese steps, and when read in pages.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def _ev(ticket: str, activity: str, minutes: int, actor: str | None = None):
    from event_store.ingest import IngestEvent

    return IngestEvent(ticket, activity, T0 + timedelta(minutes=minutes), actor, None, {}, {}, None)


def _store(tmp_path):
    from event_store import open_store
    from event_store.alerts import raise_alerts
    from event_store.ingest import Ingestor

    store = open_store(str(tmp_path / "s.db"), create=True)
    ing = Ingestor(store)
    ing.append([[_ev("T-1", "Receive", 0), _ev("T-2", "接收投诉", 1, "坐席-7")], [_ev("T-3", "Receive", 2)]])
    ing.append([[_ev("T-1", "Record", 5, "A-1"), _ev("T-1", "Classify", 9)], [_ev("T-2", "Record", 6)]])
    raise_alerts(store, [("k1", T0, {"ticket": "T-1", "kind": "at_risk"}, {})])
    store.correct("T-1", 2, {"activity": "Resolve", "occurred_at": T0 + timedelta(hours=3), "actor": "X"}, "typo")
    store.retract("T-2", 1, "wrong ticket")
    store.correct("T-3", 0, {"channel": "web"}, "case fix")  # marks every row of T-3 corrected
    ing.append([[_ev("T-3", "Record", 12), _ev("T-4", "Receive", 13)]])
    return store


def _decoded(store, start: int = 0):
    from event_store.ingest import read_committed

    from csmine.monitoring.stream import to_us

    names: dict = {}
    read_committed(store, 0, names)  # the ticket ids, from the openings
    _, committed = read_committed(store, start, names)
    return [(c.position, to_us(c.recorded_at), c.kind, c.ticket, to_us(c.occurred_at), c.activity, c.actor)
            for c in committed]


def _items(store, start: int = 0, limit: int | None = None):
    from event_store.readmodel.queries import committed_rows

    from csmine.live.online import stream_committed

    stamps = {r[0]: r[1] for r in committed_rows(store, 0)[1]}
    out, more = [], True
    while more:
        start, items, more = stream_committed(store, start, None, limit=limit)
        out += [(e.event_id, stamps[e.event_id], e.kind, e.ticket, e.time_us, e.activity, e.actor) for e in items]
    return start, out


def test_the_rows_are_what_was_committed(tmp_path):
    with _store(tmp_path) as store:
        decoded = _decoded(store)
        assert len(decoded) == 4 + 8  # openings, steps (the corrections and the retraction not among them)
        last, items = _items(store)
        # stream order within a commit is replay's; as a set per position the rows equal the decoded log
        assert sorted(items) == decoded
        assert last == store.projection.position()
        # the committed values, not the corrected ones ("Resolve" by X), the retracted step still there
        assert [(i[5], i[6]) for i in items if i[3] == "T-1"] == [(None, None), ("Receive", None),
                                                                 ("Record", "A-1"), ("Classify", None)]
        assert [(i[5], i[6]) for i in items if i[3] == "T-2"][1] == ("接收投诉", "坐席-7")
        assert [i[5] for i in items if i[3] == "T-3"] == [None, "Receive", "Record"]
        for limit in (1, 2, 3, 5):  # in pages: the same items in the same order, no commit cut
            assert _items(store, 0, limit) == (last, items)
        later = _decoded(store, decoded[5][0])
        assert sorted(_items(store, decoded[5][0])[1]) == later


def test_commits_are_grouped_in_replay_order(tmp_path):
    with _store(tmp_path) as store:
        _, items = _items(store)
        groups = [i[1] for i in items]
        assert groups == sorted(groups)  # commit after commit
        first = [i for i in items if i[1] == groups[0]]
        assert [(i[2], i[3]) for i in first] == [("opened", "T-1"), ("activity", "T-1"), ("opened", "T-2"),
                                                 ("activity", "T-2"), ("opened", "T-3"), ("activity", "T-3")]
