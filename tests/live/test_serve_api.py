"""`csmine serve`'s HTTP API against a real server on a loopback port: auth, idempotent
ingest, bad events, body limit, alerts and their acknowledgement."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.live.server import ROOT, TOKEN, ev


def _count(store: str) -> tuple[int, int]:
    """(tickets, events) in the store's read model, counted independently of the server."""
    import sqlite3

    con = sqlite3.connect(store)
    try:
        return (con.execute("SELECT COUNT(*) FROM tickets").fetchone()[0],
                con.execute("SELECT COUNT(*) FROM event_log").fetchone()[0])
    finally:
        con.close()


def barrier(server) -> None:
    """A request through the engine's queue: everything queued before it is done when it returns."""
    assert server.call("POST", "/api/events", []).status == 201


def test_writes_need_a_token_reads_too_unless_public(live_server):
    with live_server() as s:
        assert s.call("GET", "/api/health", token=None).status == 200
        body = [ev("T1", "Receive", "2025-03-03T09:00:00+08:00")]
        assert s.call("POST", "/api/events", body, token=None).status == 401
        assert s.call("POST", "/api/events", body, token="wrong-token-0123456789").status == 401
        assert s.call("POST", "/api/events", body, token=None,
                      headers={"Authorization": "Basic " + TOKEN}).status == 401
        for path in ("/api/alerts", "/api/open", "/api/kpi?window=today", "/api/stream"):
            assert s.call("GET", path, token=None).status == 401, path
        assert s.call("GET", "/api/health", token=None).body["events"] == 0
    with live_server(public_read=True) as s:
        assert s.call("GET", "/api/open", token=None).status == 200
        assert s.call("POST", "/api/events", [], token=None).status == 401


def test_retries_record_once_by_event_id_or_by_key(live_server, tmp_path):
    store = str(tmp_path / "live.db")
    with live_server(store) as s:
        a = [ev("T1", "Receive", "2025-03-03T09:00:00+08:00", event_id="e1", channel="phone"),
             ev("T1", "Record", "2025-03-03T09:05:00+08:00", resource="A-1")]
        r = s.call("POST", "/api/events", a)
        assert (r.status, r.body) == (201, {"recorded": 2, "received": 2})
        r = s.call("POST", "/api/events", a)  # the retry
        assert (r.status, r.body) == (201, {"recorded": 0, "received": 2})
        # Same key, another resource: another event. Same key as a stored one but its own id: another event.
        b = [ev("T1", "Record", "2025-03-03T09:05:00+08:00", resource="A-2"),
             ev("T1", "Receive", "2025-03-03T09:00:00+08:00", event_id="e2")]
        assert s.call("POST", "/api/events", b).body == {"recorded": 2, "received": 2}
        # NDJSON, with a duplicate inside the same request and one of an earlier request.
        nd = "\n".join([
            '{"ticket": "T2", "activity": "Receive", "timestamp": "2025-03-03T01:00:00Z", "event_id": 7}',
            '{"ticket": "T2", "activity": "Receive", "timestamp": "2025-03-03T01:00:00Z", "event_id": 7}',
            '{"ticket": "T1", "activity": "Receive", "timestamp": "2025-03-03T09:00:00+08:00", "event_id": "e1"}',
        ]).encode()
        r = s.call("POST", "/api/events", raw=nd, headers={"Content-Type": "application/x-ndjson"})
        assert r.body == {"recorded": 1, "received": 3}
        assert s.call("GET", "/api/health").body["events"] == 5
    assert _count(store) == (2, 5)
    with live_server(store) as s:  # after a restart the keys are known again
        assert s.call("POST", "/api/events", a + b).body == {"recorded": 0, "received": 4}
    assert _count(store) == (2, 5)


def test_a_bad_event_names_index_and_field_and_records_nothing(live_server, tmp_path):
    store = str(tmp_path / "live.db")
    with live_server(store) as s:
        good = ev("T1", "Receive", "2025-03-03T09:00:00+08:00")
        cases = [
            ([good, ev("T2", "Receive", "2025-03-03T09:00:00")], 1, "timestamp", "no time zone"),
            ([good, good, {"ticket": "T3", "timestamp": "2025-03-03T09:00:00Z"}], 2, "activity", "missing"),
            ([good, ev("T4", "Receive", "yesterday")], 1, "timestamp", "not an ISO 8601"),
            ([ev("T5", "Receive", "2025-03-03T09:00:00Z", priorty="P1")], 0, "priorty", "unknown field"),
            ([good, ev("T6", "Receive", "2025-03-03T09:00:00Z", attrs=[1])], 1, "attrs", "must be an object"),
            ([good, ev("T7", "Receive", "2025-03-03T09:00:00Z", resource=["x"])], 1, "resource", "must be a string"),
            ([good, ev("T8", "x" * 5000, "2025-03-03T09:00:00Z")], 1, "activity", "over the limit"),
            ([good, 42], 1, None, "expected an object"),
            ([ev("T\u0000", "Receive", "2025-03-03T09:00:00Z")], 0, "ticket", "NUL character"),
            ([good, ev("T10", "Receive", "2025-03-03T09:00:00Z", channel="pho\u0000ne")], 1, "channel", "NUL"),
            ([good, ev("T11", "Receive", "2025-03-03T09:00:00Z", attrs={"k": ["a", "\u0000"]})], 1, "attrs", "NUL"),
        ]
        for body, index, field, words in cases:
            r = s.call("POST", "/api/events", body)
            assert r.status == 400, body
            assert (r.body["index"], r.body["field"]) == (index, field), r.body
            assert words in r.body["error"] and f"event {index}" in r.body["error"]
        nd = b'{"ticket": "T9", "activity": "Receive", "timestamp": "2025-03-03T01:00:00Z"}\n{"ticket": "T9",'
        r = s.call("POST", "/api/events", raw=nd)
        assert r.status == 400 and (r.body["index"], r.body["line"]) == (1, 2)
        r = s.call("POST", "/api/events", raw=b"[1, 2")
        assert r.status == 400 and "not valid JSON" in r.body["error"]
        assert s.call("GET", "/api/health").body["events"] == 0
    assert _count(store) == (0, 0)


def test_too_large_a_body_is_413_and_records_nothing(live_server, tmp_path):
    store = str(tmp_path / "live.db")
    with live_server(store, max_body=4096) as s:
        body = [ev(f"T{i}", "Receive", "2025-03-03T09:00:00Z", event_id=f"e{i}") for i in range(100)]
        r = s.call("POST", "/api/events", body)
        assert r.status == 413 and "limit of 4,096" in r.body["error"]
        # Without a Content-Length (chunked), the limit holds while reading.
        import http.client
        import json

        conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30)
        conn.putrequest("POST", "/api/events")
        conn.putheader("Authorization", f"Bearer {TOKEN}")
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        data = json.dumps(body).encode()
        for i in range(0, len(data), 1000):
            part = data[i:i + 1000]
            conn.send(f"{len(part):x}\r\n".encode() + part + b"\r\n")
        conn.send(b"0\r\n\r\n")
        assert conn.getresponse().status == 413
        conn.close()
        assert s.call("POST", "/api/events", body[:10]).body["recorded"] == 10
    assert _count(store) == (10, 10)


def test_alerts_since_ack_and_open_tickets(live_server):
    with live_server() as s:
        s.call("POST", "/api/events", [ev("T1", "Receive", "2025-03-03T09:00:00+08:00"),
                                       ev("T1", "Classify", "2025-03-03T09:10:00+08:00")])
        barrier(s)
        alerts = s.call("GET", "/api/alerts").body["alerts"]
        assert [(a["kind"], a["step"]) for a in alerts] == [("skipped", "Record")]
        live_server.clock.t = live_server.clock.t.replace(minute=16)  # 09:16: past 50% of Record's 30 min
        s.live.engine.poke()
        barrier(s)
        alerts = s.call("GET", "/api/alerts").body["alerts"]
        assert [(a["kind"], a["step"], a["time"]) for a in alerts][1:] == [
            ("at_risk", "Record", "2025-03-03T01:15:00+00:00")]
        assert s.call("GET", "/api/alerts?since=2025-03-03T09:12:00%2B08:00").body["count"] == 1
        assert s.call("GET", "/api/alerts?since=yesterday").status == 400
        opened = s.call("GET", "/api/open").body
        assert opened["count"] == 1
        t = opened["tickets"][0]
        assert (t["ticket"], t["step"], t["label"]) == ("T1", "Classify", "Classify / 分类定级")
        record = next(c for c in t["clocks"] if c["step"] == "Record")
        assert abs(record["share"] - 16 / 30) < 1e-6 and record["left_s"] == 14 * 60
        assert t["next_due"]["step"] == "Record"
        aid = alerts[1]["id"]
        assert s.call("POST", f"/api/alerts/{aid}/ack", {"actor": "lead"}, token=None).status == 401
        r = s.call("POST", f"/api/alerts/{aid}/ack", {"actor": "lead", "note": "called"})
        assert r.status == 200 and r.body["acknowledged"]["actor"] == "lead"
        assert s.call("POST", "/api/alerts/00000000-0000-0000-0000-000000000000/ack", {}).status == 404
        s.call("POST", "/api/events", [ev("T1", "Archive", "2025-03-03T09:20:00+08:00")])
        barrier(s)
        assert s.call("GET", "/api/open").body["count"] == 0
    with live_server() as s:  # the acknowledgement is in the store
        alerts = s.call("GET", "/api/alerts").body["alerts"]
        assert [a["acknowledged"]["note"] if a["acknowledged"] else None for a in alerts][:2] == [None, "called"]


def test_serve_refuses_a_token_file_others_can_read(tmp_path):
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n")
    os.chmod(token, 0o644)
    env = {k: v for k, v in os.environ.items() if k != "CSMINE_TOKEN"}
    proc = subprocess.run([sys.executable, "-m", "csmine", "serve", "--store", str(tmp_path / "s.db"),
                           "--token-file", str(token), "--port", "0"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 3
    assert "mode 0644" in proc.stderr and f"chmod 600 {token}" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "csmine", "serve", "--store", str(tmp_path / "s.db"),
                           "--port", "0"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 3 and "no token" in proc.stderr


def test_serve_with_a_0600_token_file(tmp_path):
    from tests.live.server import SubprocessServer

    token = tmp_path / "token"
    token.write_text("# the pilot room\n" + TOKEN + "\n")
    os.chmod(token, 0o600)
    env = {k: v for k, v in os.environ.items() if k != "CSMINE_TOKEN"}
    server = SubprocessServer(str(tmp_path / "s.db"), token_file=token)
    server.env = env
    with server:
        assert server.call("POST", "/api/events", [ev("T1", "Receive", "2025-03-03T09:00:00Z")]).status == 201
        assert server.call("POST", "/api/events", [], token=None).status == 401


def test_watch_prints_tickets_near_a_limit_and_the_alerts(live_server):
    with live_server() as s:
        s.call("POST", "/api/events", [ev("T1", "Receive", "2025-03-03T09:00:00+08:00"),
                                       ev("T2", "Receive", "2025-03-03T09:10:00+08:00"),
                                       ev("T2", "Classify", "2025-03-03T09:12:00+08:00")])
        live_server.clock.t = live_server.clock.t.replace(minute=24)  # T1: 24 of 30 min to Record
        s.live.engine.poke()
        barrier(s)
        env = {**os.environ, "CSMINE_TOKEN": TOKEN}
        proc = subprocess.run([sys.executable, "-m", "csmine", "watch", "--once", "--url",
                               f"http://127.0.0.1:{s.port}", "--tz", "Asia/Shanghai"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        out = proc.stdout
        assert "T1" in out and "80%" in out and "6m left" in out and "记录登记" in out
        assert "T2" in out and "skipped" in out and "Classify recorded without Record before it" in out
        assert "at_risk 75%" in out and "03-03 09:22" in out  # 75% of 30 min after 09:00, Shanghai time
        env.pop("CSMINE_TOKEN")
        proc = subprocess.run([sys.executable, "-m", "csmine", "watch", "--once", "--url",
                               f"http://127.0.0.1:{s.port}"], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 3 and "needs a token" in proc.stderr
