"""The demo: a simulated service centre recorded into a store, with its phases.

:func:`record_demo` simulates the centre (:mod:`csmine.simulation.simulate`), imports the
tickets as events, and records the baseline, pilot and rollout phases in the
store's phase plan. The ground truth of the simulation is returned and kept in
the store's metadata so that the report can show it next to what csmine found.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from event_store.readmodel import queries

from csmine.errors import CsmineError

if TYPE_CHECKING:
    from event_store.application import ImportResult, TicketStore

META_KEY = "demo"


@dataclass(frozen=True, slots=True)
class DemoRun:
    """What the demo recorded.

    Attributes:
        seed: simulation seed.  tickets: tickets simulated.
        imported: the import result (all zero when the store already held this demo).
        truth: the simulation's ground truth (plain dict).
        phases: phase name -> SOP it runs on.
    """

    seed: int
    tickets: int
    imported: ImportResult
    truth: dict[str, Any]
    phases: dict[str, str]


def discard_store(location: str) -> bool:
    """Delete the SQLite store at ``location`` (with its ``-wal`` and ``-shm`` files), for
    ``csmine demo --replace``; a PostgreSQL store or a missing file is left alone.

    Returns:
        Whether a store file was there and was deleted.
    """
    from event_store.persistence.recorders import parse_location

    loc = parse_location(location)
    path = loc.sqlite_path
    if loc.kind != "sqlite" or not path or not os.path.exists(path):
        return False
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    return True


def demo_truth(store: TicketStore) -> dict[str, Any] | None:
    """The ground truth stored by an earlier demo run, if any."""
    value = queries.meta_value(store, META_KEY)
    return None if value is None else json.loads(value)


def record_demo(store: TicketStore, *, tickets: int = 3000, seed: int = 7,
                progress: Callable[[int, int], None] | None = None) -> DemoRun:
    """Simulate the centre into ``store`` (idempotent for the same seed and size).

    Raises:
        CsmineError: the store already holds other data (another demo or real tickets).
    """
    from csmine.simulation.config import SimulationConfig
    from csmine.simulation.simulate import simulate

    previous = demo_truth(store)
    held = queries.ticket_count(store)
    if previous is not None and (previous["seed"] != seed or previous["tickets"] != tickets):
        raise CsmineError(
            f"store {store.location.display} holds the demo with seed {previous['seed']} and "
            f"{previous['tickets']} tickets: use another --store, or --replace to start afresh"
        )
    if previous is None and held:
        raise CsmineError(
            f"store {store.location.display} already holds {held:,} tickets that are not from the demo: "
            "use another --store (e.g. --store demo.db)"
        )
    sim = simulate(SimulationConfig(tickets=tickets, seed=seed))
    imported = store.import_histories(sim.histories, progress=progress)
    phases = {}
    for phase in sim.phases:
        cohort = {k: [str(v)] for k, v in phase.cohort.items()}
        existing = {p["name"]: p for p in _current_phases(store)}
        if phase.name not in existing:
            store.define_phase(phase.name, phase.start, phase.end, cohort, note=f"runs SOP {phase.sop}",
                               actor="csmine demo")
        phases[phase.name] = phase.sop
    truth = sim.truth.to_dict()
    truth["phase_sops"] = phases
    queries.set_meta_value(store, META_KEY, json.dumps(truth))
    return DemoRun(seed=seed, tickets=tickets, imported=imported, truth=truth, phases=phases)


def _current_phases(store: TicketStore) -> list[dict[str, Any]]:
    return [{"name": p.name} for p in queries.phase_rows(store)]
