"""The demo's events (the simulator behind ``csmine demo``) as posted events, in business-time order."""

from __future__ import annotations

from typing import Any


def demo_events(tickets: int = 300, seed: int = 7) -> list[dict[str, Any]]:
    """Every simulated step as an API event, sorted as ``csmine replay`` orders them."""
    from process_models import load_sop

    from csmine.eventlog.ordering import sop_positions, tie_key
    from csmine.simulation.config import SimulationConfig
    from csmine.simulation.simulate import simulate

    sim = simulate(SimulationConfig(tickets=tickets, seed=seed))
    pos = sop_positions(load_sop("complaint"))
    rows = []
    for h in sim.histories:
        for i, s in enumerate(h.steps):
            e: dict[str, Any] = {"ticket": h.ticket, "activity": s.activity, "timestamp": s.occurred_at.isoformat(),
                                 "event_id": f"{h.ticket}/{i}"}
            if s.actor:
                e["resource"] = s.actor
            if s.team:
                e["team"] = s.team
            for k in ("channel", "priority"):
                if h.case.get(k):
                    e[k] = h.case[k]
            rows.append((s.occurred_at, tie_key(s.activity, pos), len(rows), e))
    rows.sort(key=lambda r: r[:3])
    return [r[3] for r in rows]


def time_batches(events: list[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
    """Batches of about ``size`` events, never splitting events of the same instant."""
    out: list[list[dict[str, Any]]] = []
    batch: list[dict[str, Any]] = []
    for e in events:
        if len(batch) >= size and e["timestamp"] != batch[-1]["timestamp"]:
            out.append(batch)
            batch = []
        batch.append(e)
    if batch:
        out.append(batch)
    return out
