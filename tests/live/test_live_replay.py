"""Live equals replay: the demo's events through a running `csmine serve` give exactly the
alerts `csmine replay` computes on the same events; a restart refires none."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from datetime import datetime

from tests.live.demo_events import demo_events, time_batches
from tests.live.server import ROOT, SubprocessServer


def _key(a: dict) -> tuple:
    return (datetime.fromisoformat(a["time"]), a["ticket"], a["kind"], a["step"], a["detail"], a["sop"],
            a["event_id"])


def _replay(store: str, share: float) -> list[dict]:
    proc = subprocess.run([sys.executable, "-m", "csmine", "replay", "--sop", "complaint", "--at-risk", str(share),
                           "--json", "--store", store], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)["alerts"]


def test_live_equals_replay_on_the_demo_and_restart_refires_nothing(tmp_path):
    store = str(tmp_path / "live.db")
    events = demo_events(300)
    args = ("--sop", "complaint", "--clock", "events", "--public-read")
    with SubprocessServer(store, *args) as server:
        recorded = 0
        for batch in time_batches(events, 150):
            reply = server.call("POST", "/api/events", batch)
            assert reply.status == 201, reply.body
            recorded += reply.body["recorded"]
        # A retry of the last request goes through the engine after the previous feed: a barrier.
        assert server.call("POST", "/api/events", batch).body == {"recorded": 0, "received": len(batch)}
        live = server.call("GET", "/api/alerts").body["alerts"]
    assert recorded == len(events) == 2008

    expected = _replay(store, 0.5) + [a for a in _replay(store, 0.75) if a["kind"] == "at_risk"]
    assert len(expected) > 100
    kinds = Counter(a["kind"] for a in live)
    assert kinds["breach"] and kinds["at_risk"] and kinds["skipped"] + kinds["out_of_order"] + kinds["extra"]
    assert "stuck" not in kinds  # a fresh store has no history to measure a step's P90 on
    assert Counter(map(_key, live)) == Counter(map(_key, expected))
    assert len({a["id"] for a in live}) == len(live)

    with SubprocessServer(store, *args) as server:  # restart: the stored log fed again, nothing refired
        again = server.call("GET", "/api/alerts").body["alerts"]
        health = server.call("GET", "/api/health", token=None).body
    assert sorted(a["id"] for a in again) == sorted(a["id"] for a in live)
    assert health["events"] == len(events)
