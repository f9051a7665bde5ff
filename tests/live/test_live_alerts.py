"""Online SLA alerts at 50% / 75% / breach on a business calendar (clock injected), fired by
the timer with no event arriving; restarts refire nothing; the webhook gets each alert."""

from __future__ import annotations

import json
import threading
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.live.server import ev, wait_for

SOP_TOML = """
id = "bh-complaint"
title = "Complaint, handled within 8 business hours"
title_zh = "投诉处理（工作时间）"
version = "1"
flow = ["seq", "Receive", "Record", "Classify", "Handle", "Archive"]

[[steps]]
name = "Receive"
label_zh = "接收投诉"
role = "agent"
[[steps]]
name = "Record"
label_zh = "记录登记"
role = "agent"
[[steps]]
name = "Classify"
label_zh = "分类定级"
role = "agent"
[[steps]]
name = "Handle"
label_zh = "处理"
role = "specialist"
[[steps]]
name = "Archive"
label_zh = "归档"
role = "agent"

[[limits]]
step = "Handle"
within = "8 h"
since = "Classify"
business_hours = true

[roles]
close = ["Archive"]
"""


def _sop(tmp_path):
    from process_models import load_sop

    path = tmp_path / "bh.toml"
    path.write_text(SOP_TOML, encoding="utf-8")
    return load_sop(str(path))


def _calendar():
    from csmine.performance.business_calendar import parse_calendar

    return parse_calendar("hours=9-18,days=mon-fri,tz=Asia/Shanghai")


def _tick(server, clock, when: str) -> list[tuple[str, str, float | None]]:
    clock.t = datetime.fromisoformat(when)
    server.live.engine.poke()
    assert server.call("POST", "/api/events", []).status == 201  # a barrier behind the tick
    return [(a["kind"], a["time"], a["share"]) for a in server.call("GET", "/api/alerts").body["alerts"]]


@pytest.mark.parametrize("monitors", ["process", "thread"])
def test_risk_at_50_75_and_breach_at_the_business_minute(live_server, tmp_path, monitors):
    clock = live_server.clock
    clock.t = datetime.fromisoformat("2025-03-07T16:00:00+08:00")  # a Friday
    with live_server(sop=_sop(tmp_path), calendar=_calendar(), monitors=monitors) as s:
        s.call("POST", "/api/events", [ev("T1", "Receive", "2025-03-07T15:00:00+08:00"),
                                       ev("T1", "Record", "2025-03-07T15:05:00+08:00"),
                                       ev("T1", "Classify", "2025-03-07T16:00:00+08:00")])
        # 8 business hours after Fri 16:00 on 09-18 Mon-Fri: Fri 2 h, then Mon 09:00 + 6 h = Mon 15:00.
        # 50% (4 h): Mon 11:00; 75% (6 h): Mon 13:00 (all +08:00).
        assert _tick(s, clock, "2025-03-08T12:00:00+08:00") == []  # Saturday: 20 wall hours, 2 business
        assert _tick(s, clock, "2025-03-10T10:59:59+08:00") == []
        assert _tick(s, clock, "2025-03-10T11:00:01+08:00") == [("at_risk", "2025-03-10T03:00:00+00:00", 0.5)]
        share = s.call("GET", "/api/open").body["tickets"][0]["next_due"]["share"]
        assert abs(share - (4 * 3600 + 1) / (8 * 3600)) < 1e-6  # business seconds used / the limit
        assert _tick(s, clock, "2025-03-10T13:00:01+08:00")[1:] == [("at_risk", "2025-03-10T05:00:00+00:00", 0.75)]
        assert _tick(s, clock, "2025-03-10T14:59:59+08:00")[2:] == []
        fired = _tick(s, clock, "2025-03-10T15:00:01+08:00")
        assert fired[2:] == [("breach", "2025-03-10T07:00:00+00:00", None)]
        details = [a["detail"] for a in s.call("GET", "/api/alerts").body["alerts"]]
        assert "50% of its 8 h limit after Classify (business hours)" in details[0]
    with live_server(sop=_sop(tmp_path), calendar=_calendar(), monitors=monitors) as s:  # restart: nothing refires
        assert _tick(s, clock, "2025-03-11T09:00:00+08:00") == fired


def test_restart_with_the_wall_clock_refires_nothing_and_fires_what_came_due_meanwhile(live_server):
    clock = live_server.clock  # Mon 2025-03-03 09:00 +08
    with live_server() as s:
        s.call("POST", "/api/events", [ev("T1", "Receive", "2025-03-03T09:00:00+08:00"),
                                       ev("T2", "Receive", "2025-03-03T09:00:00+08:00")])
        first = _tick(s, clock, "2025-03-03T09:20:00+08:00")
        assert sorted(first) == sorted([("at_risk", "2025-03-03T01:15:00+00:00", 0.5)] * 2)
    clock.t = datetime.fromisoformat("2025-03-03T09:40:00+08:00")  # the server was down past 75% and the breach
    with live_server() as s:
        after = _tick(s, clock, "2025-03-03T09:40:00+08:00")
        kinds = sorted((k, t) for k, t, _ in after)
        assert kinds == sorted([("at_risk", "2025-03-03T01:15:00+00:00"), ("at_risk", "2025-03-03T01:22:30+00:00"),
                                ("breach", "2025-03-03T01:30:00+00:00")] * 2)
        ids = [a["id"] for a in s.call("GET", "/api/alerts").body["alerts"]]
        assert len(set(ids)) == len(ids) == 6


class _Receiver(BaseHTTPRequestHandler):
    got: list = []
    fail_first = 0

    def do_POST(self):  # noqa: N802
        data = self.rfile.read(int(self.headers["Content-Length"]))
        if type(self).fail_first > 0:
            type(self).fail_first -= 1
            self.send_response(503)
            self.end_headers()
            return
        type(self).got.append(json.loads(data))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_webhook_gets_each_alert_retried_after_a_failure(live_server):
    _Receiver.got = []
    _Receiver.fail_first = 1
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=receiver.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
        with live_server(webhook=url) as s:
            s.call("POST", "/api/events", [ev("T1", "Receive", "2025-03-03T09:00:00+08:00"),
                                           ev("T1", "Classify", "2025-03-03T09:10:00+08:00")])
            alerts = _tick(s, live_server.clock, "2025-03-03T09:16:00+08:00")
            assert len(alerts) == 2
            wait_for(lambda: len(_Receiver.got) == 2, timeout=30)
            stored = s.call("GET", "/api/alerts").body["alerts"]
        assert [(g["kind"], g["step"], g["id"]) for g in _Receiver.got] == [
            (a["kind"], a["step"], a["id"]) for a in stored]
        assert _Receiver.got[0]["detail"] == "Classify recorded without Record before it"
        assert _Receiver.fail_first == 0  # the first delivery failed (503) and was retried
    finally:
        receiver.shutdown()
        receiver.server_close()
