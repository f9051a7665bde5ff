"""The live floor: ``csmine serve``'s ingest, online monitors, alerts and live page.

Modules: ``ingest`` (posted bodies to events), ``online`` (the replay monitors fed
live, stuck tickets), ``engine`` (the store's one live writer: group commit; the
monitor process's proxy), ``monitor_process`` (the monitors and alert records, in a
child process), ``app`` (the Starlette routes), ``serve`` (the server put together
from ``csmine serve``'s options), ``auth`` (tokens), ``kpi_today`` (the day's KPI
tiles), ``webhook`` (alerts POSTed out), ``static/`` (the page, served by the server
itself). ``follow`` tails a growing export (``follow_tail``, ``follow_rows``,
``follow_sinks``, ``follow_types``).

The face is lazy, like every csmine face.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from csmine._lazy import attach

if TYPE_CHECKING:
    from csmine.live.app import ServeConfig, create_app
    from csmine.live.engine import EngineConfig, LiveEngine
    from csmine.live.online import LiveAlert, OnlineMonitors

_EXPORTS = {
    "ServeConfig": "app",
    "create_app": "app",
    "EngineConfig": "engine",
    "LiveEngine": "engine",
    "LiveAlert": "online",
    "OnlineMonitors": "online",
}
__all__ = ["EngineConfig", "LiveAlert", "LiveEngine", "OnlineMonitors", "ServeConfig", "create_app"]
__getattr__, __dir__ = attach(__name__, _EXPORTS)
