"""On the wall clock the monitors fire a deadline when it falls due, not at the server's next tick.

The engine's ticker is set to tick once an hour, so only the monitors' own timer (they
wake at the next deadline, :data:`csmine.live.monitor_process.MIN_ROUND_S` apart at
most) can fire the 50% risk of complaint's 30-minute Record limit, due 2 s after the
ticket's opening; it must arrive once, recorded, with the threshold's time, not before it.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest


@pytest.mark.parametrize("monitors", ["process", "thread"])
def test_a_deadline_fires_when_due_without_a_tick(tmp_path, monitors):
    from event_store.ingest import IngestEvent
    from process_models import load_sop

    from csmine.live.engine import EngineConfig, LiveEngine, wall_clock

    engine = LiveEngine(EngineConfig(store=str(tmp_path / "s.db"), sop=load_sop("complaint"), clock=wall_clock,
                                     tick_s=3600.0, stuck=False, monitors=monitors))
    got: list[tuple[float, dict]] = []
    arrived = threading.Event()

    def on(kind, data):
        if kind == "alert":
            got.append((time.time(), data))
            arrived.set()

    engine.start()
    try:
        engine.subscribe(on)
        opened = datetime.now(UTC) - timedelta(minutes=15) + timedelta(seconds=2)
        assert engine.submit([IngestEvent("T-1", "Receive", opened, None, None, {}, {}, None)]).result(30) == 1
        assert arrived.wait(20), "the 50% risk did not fire without a tick"
        time.sleep(0.5)
    finally:
        engine.stop()
    assert len(got) == 1
    at, alert = got[0]
    threshold = opened + timedelta(minutes=15)
    assert (alert["kind"], alert["step"], alert["share"]) == ("at_risk", "Record", 0.5)
    assert datetime.fromisoformat(alert["time"]) == threshold
    assert at >= threshold.timestamp()  # never before its time
