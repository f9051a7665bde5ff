"""The live page in real headless Chromium: events posted while it is open show up without a
reload (new ticket cards, the alert feed), Chinese step names render, no asset from elsewhere."""

from __future__ import annotations

import os
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.live.demo_events import demo_events, time_batches
from tests.live.server import SubprocessServer, ev, wait_for

pytestmark = pytest.mark.browser

CLOSING = {"Callback", "Archive"}


def _scene(n: int = 400) -> tuple[list[dict], datetime]:
    """The demo's events up to a busy moment; tickets of the last two days not closed yet."""
    events = demo_events(n)
    cut = datetime.fromisoformat(events[int(len(events) * 0.9)]["timestamp"])
    first = {}
    for e in events:
        first.setdefault(e["ticket"], datetime.fromisoformat(e["timestamp"]))
    recent = {t for t, at in first.items() if cut - timedelta(days=2) <= at <= cut}
    kept = [e for e in events if datetime.fromisoformat(e["timestamp"]) <= cut
            and not (e["ticket"] in recent and e["activity"] in CLOSING)]
    return kept, cut


def test_the_page_changes_without_reload(tmp_path):
    from tests.live.cdp import Chrome

    events, cut = _scene()
    with SubprocessServer(str(tmp_path / "live.db"), "--sop", "complaint", "--clock", "events",
                          "--public-read") as server:
        for batch in time_batches(events, 300):
            assert server.call("POST", "/api/events", batch).status == 201
        assert server.call("POST", "/api/events", []).status == 201  # behind the last feed of the monitors
        open_before = server.call("GET", "/api/open").body["count"]
        assert open_before >= 5
        with Chrome() as chrome:
            chrome.open(f"http://127.0.0.1:{server.port}/")
            chrome.wait_for(f"document.querySelectorAll('.card').length === {open_before}")
            chrome.wait_for("document.querySelector('#conn').className.includes('on')")
            chrome.evaluate("window.__sameDocument = 'yes'")
            html = chrome.evaluate("document.documentElement.outerHTML")
            assert "接收投诉" in html and "分类定级" in html and "投诉处理" in html
            assert not re.search(r'(src|href)="(https?:)?//', html)  # nothing loaded from elsewhere
            t = cut + timedelta(minutes=5)
            new = [ev(f"NEW-{i}", "Receive", (t + timedelta(seconds=i)).isoformat()) for i in range(3)]
            new.append(ev("NEW-0", "Classify", (t + timedelta(minutes=1)).isoformat()))
            assert server.call("POST", "/api/events", new).body["recorded"] == 4
            chrome.wait_for(f"document.querySelectorAll('.card').length === {open_before + 3}")
            chrome.wait_for("[...document.querySelectorAll('#alerts li')].some("
                            "li => li.textContent.includes('NEW-0') && li.textContent.includes('skipped'))")
            assert chrome.evaluate("window.__sameDocument") == "yes"  # the same document: no reload
            assert chrome.evaluate("document.querySelector('[data-ticket=\"NEW-1\"]').closest('.col').dataset.step"
                                   ) == "Receive"
            # today's KPIs are measured again at most every KPI_TTL (10 s) seconds while events come in
            kpi = wait_for(lambda: (k := server.call("GET", "/api/kpi?window=today").body)["tickets"] >= 3 and k,
                           timeout=20, interval=0.5)
            assert kpi["tickets"] >= 3 and kpi["day"] == t.date().isoformat()
            tiles = chrome.wait_for("[...document.querySelectorAll('#kpis .tile .k')].map(e => e.textContent)")
            measured = [k["label"] for k in kpi["kpis"] if k["value"] is not None]
            assert tiles[0] in measured and "Tickets opened today · 今日工单" in tiles
            shot = chrome.screenshot(tmp_path / "live.png")
            assert shot.stat().st_size > 20_000
            target = os.environ.get("CSMINE_LIVE_SCREENSHOT")
            if target:
                Path(target).write_bytes(shot.read_bytes())
