from __future__ import annotations

from datetime import datetime

import pytest

from tests.live.server import TOKEN, FakeClock, InProcessServer


@pytest.fixture
def live_server(tmp_path):
    """A server on a fresh SQLite store, SOP complaint, clock injected (starts Mon 2025-03-03 09:00 +08)."""
    from process_models import load_sop

    from csmine.live.app import ServeConfig
    from csmine.live.engine import EngineConfig

    clock = FakeClock(datetime.fromisoformat("2025-03-03T09:00:00+08:00"))

    def make(store: str | None = None, *, sop=None, calendar=None, public_read=False, webhook=None,
             max_body=1 << 20, shares=(0.5, 0.75), monitors="process"):
        engine = EngineConfig(store=store or str(tmp_path / "live.db"), sop=sop or load_sop("complaint"),
                              shares=shares, calendar=calendar, tz=calendar.tz if calendar else None,
                              clock=clock, tick_s=0.05, monitors=monitors)
        return InProcessServer(ServeConfig(engine, (TOKEN,), public_read=public_read, max_body=max_body,
                                           webhook=webhook))

    make.clock = clock
    return make
