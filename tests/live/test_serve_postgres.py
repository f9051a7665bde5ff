"""The same ingest on PostgreSQL: group commits, idempotent retries, nothing of a bad request, restart."""

from __future__ import annotations

import threading

import pytest

from tests.live.server import ev

pytestmark = pytest.mark.postgres


def _events_in(url: str) -> int:
    from event_store import open_store

    from csmine.eventlog.loading import load_event_log

    with open_store(url) as store:
        return len(load_event_log(store))


def test_ingest_on_postgres(live_server, pg_url):
    with live_server(pg_url) as s:
        batches = [[ev(f"T{c}-{i}", "Receive", f"2025-03-03T09:{i:02d}:00+08:00", event_id=f"{c}/{i}")
                    for i in range(50)] for c in range(8)]
        replies = []

        def post(batch):
            replies.append(s.call("POST", "/api/events", batch))

        threads = [threading.Thread(target=post, args=(b,)) for b in batches]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(r.body["recorded"] for r in replies) == [50] * 8
        assert s.call("POST", "/api/events", batches[3]).body == {"recorded": 0, "received": 50}
        bad = s.call("POST", "/api/events", [ev("X1", "Receive", "2025-03-03T09:00:00Z"), {"ticket": "X2"}])
        assert bad.status == 400 and (bad.body["index"], bad.body["field"]) == (1, "activity")
        # PostgreSQL text holds no NUL: refused at the edge (it was a 500 from the writer)
        nul = s.call("POST", "/api/events", [ev("X3", "Rec\u0000eive", "2025-03-03T09:00:00Z")])
        assert nul.status == 400 and (nul.body["index"], nul.body["field"]) == (0, "activity")
        assert s.call("POST", "/api/events", [ev("T0-0", "Record", "2025-03-03T09:01:00+08:00")]).status == 201
        skipped = [a for a in s.call("GET", "/api/alerts").body["alerts"] if a["kind"] == "skipped"]
        assert skipped == []  # Receive then Record: in the flow
    assert _events_in(pg_url) == 401
    with live_server(pg_url) as s:
        assert s.call("POST", "/api/events", batches[0]).body["recorded"] == 0
        assert s.call("GET", "/api/health").body["events"] == 401
