"""Monitoring: events as a stream through SOP monitors (replay today; the live floor builds on it).

The modules, in the order the events flow: ``stream`` (the event source),
``automaton`` (the SOP net's marking automaton), ``monitors`` (one SOP's
conformance and SLA monitors), ``replayer`` (the ``Replayer``, fed one event
at a time or a whole stream), ``summary`` (counts and SOP differences), ``replay``
(a whole replay), ``clocks`` (the same SLA clocks over a frame, offline) and
``rebuild`` (the read-model rebuild check, on its way to ``event_store``).

The ``replay`` function lives at :func:`csmine.monitoring.replay.replay` (and ``csmine.replay``):
its name is the module's, so this face does not re-export it.

The public face below is imported lazily (on first use), so importing one module of
the package stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from csmine._lazy import attach

if TYPE_CHECKING:
    from csmine.monitoring.automaton import SopAutomaton
    from csmine.monitoring.clocks import limit_clocks
    from csmine.monitoring.monitors import Alert
    from csmine.monitoring.rebuild import check_rebuild, rebuild_read_model
    from csmine.monitoring.replayer import Replayer
    from csmine.monitoring.stream import events_from_frame, stream_events
    from csmine.monitoring.summary import ReplayResult, ReplaySummary, summarise_alerts

_EXPORTS = {
    "Replayer": "replayer",
    "ReplayResult": "summary",
    "ReplaySummary": "summary",
    "Alert": "monitors",
    "SopAutomaton": "automaton",
    "stream_events": "stream",
    "events_from_frame": "stream",
    "limit_clocks": "clocks",
    "summarise_alerts": "summary",
    "rebuild_read_model": "rebuild",
    "check_rebuild": "rebuild",
}
__all__ = [
    "Replayer",
    "ReplayResult",
    "ReplaySummary",
    "Alert",
    "SopAutomaton",
    "stream_events",
    "events_from_frame",
    "limit_clocks",
    "summarise_alerts",
    "rebuild_read_model",
    "check_rebuild",
]
__getattr__, __dir__ = attach(__name__, _EXPORTS)
