"""A discrete-event simulation of a service centre: the data behind ``csmine demo``.

The simulator plays a service centre through a baseline, a pilot of the revised
complaint SOP in one region and a rollout to all regions, and writes each ticket's
lifecycle as a :class:`event_store.records.TicketHistory` that the store can import.
It is a queueing model, not noise: tickets arrive as a non-homogeneous Poisson
process with a daily and weekly rhythm, agents work rostered shifts and handle one
ticket at a time, so queues form at the morning and afternoon peaks and overnight.

Seven effects are built in (see ``docs/simulation.md``) and written down, with their
designed value and the value realised on the generated rows, in
:class:`GroundTruth`, so that the analytics can be tested against a known answer.

Example:
    >>> sim = simulate(SimulationConfig(tickets=3000, seed=7))
    >>> sim.truth.first_response.rate("baseline").share  # doctest: +SKIP
    0.16398467432950192
    >>> frame = histories_to_frame(sim.histories, sim.phases)  # doctest: +SKIP
"""

from __future__ import annotations

import gc
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from itertools import repeat
from typing import Any

import numpy as np

from event_store.records import ActivityRow, TicketHistory

from csmine.simulation.config import PhaseSpec, SimulationConfig
from csmine.simulation.engine import _Centre
from csmine.simulation.measure import _Cases, _measure, _Table
from csmine.simulation.parameters import (
    ACTIVITIES, CATEGORIES, CHANNELS, EMOTIONS, FIRST_LINE, PRIORITIES, REGIONS, _ROSTER_TAIL_DAYS, TEAMS,
)
from csmine.simulation.plans import _Agent, _build_agents, _Calendar, _draw_plan, _Plan, _plant
from csmine.simulation.truth import Simulation


# ---------------------------------------------------------------------------
# simulate()
# ---------------------------------------------------------------------------


def _phases(config: SimulationConfig) -> tuple[PhaseSpec, ...]:
    s = config.start
    b = s + timedelta(weeks=config.baseline_weeks)
    p = b + timedelta(weeks=config.pilot_weeks)
    phases = [
        PhaseSpec("baseline", s, b, {}, "complaint"),
        PhaseSpec("pilot", b, p, {"region": config.pilot_region}, "complaint-v2"),
    ]
    if config.rollout_weeks:
        phases.append(PhaseSpec("rollout", p, config.end, {}, "complaint-v2"))
    return tuple(phases)


def phase_of(
    opened_at: datetime, case: Mapping[str, Any], phases: Sequence[PhaseSpec]
) -> str | None:
    """The name of the first phase a ticket belongs to, or ``None``."""
    for phase in phases:
        if phase.contains(opened_at, case):
            return phase.name
    return None


def simulate(config: SimulationConfig | None = None) -> Simulation:
    """Simulate the service centre through baseline, pilot and rollout.

    Args:
        config: what to simulate; ``SimulationConfig()`` (3000 tickets, seed 7) if
            omitted.

    Returns:
        The tickets' histories (ordered by opening time, ids ``T-000001``...), the
        phases, and the ground truth measured on the histories.

    Raises:
        SimulationError: the configuration is invalid, or staffing cannot clear the
            work (only with a very small ``staff_scale``).
    """
    config = config or SimulationConfig()
    weeks = config.baseline_weeks + config.pilot_weeks + config.rollout_weeks
    horizon_min = weeks * 7 * 1440.0
    days = weeks * 7 + _ROSTER_TAIL_DAYS
    cal = _Calendar(config, days)
    sizes = config.site_sizes
    gc_was_enabled = gc.isenabled()
    gc.disable()  # millions of small objects: the cyclic collector only costs time here
    try:
        sites = []
        for k, n in enumerate(sizes):
            tag = str(k + 1) if len(sizes) > 1 else ""
            rng = np.random.default_rng(config.seed if k == 0 else [config.seed, k])
            plan = _draw_plan(
                config, n, rng, cal, horizon_min, f"{tag}-" if tag else ""
            )
            if config.causes:
                _plant(config, plan, np.random.default_rng([config.seed, k, 104729]))
            agents = _build_agents(config, cal, days, config.staff_scale_for(n), tag)
            centre = _Centre(config, plan, cal, agents)
            centre.run()
            sites.append((plan, centre, agents))
        histories, table, cases = _to_histories(config, sites)
        truth = _measure(config, cases, table, cal)
    finally:
        if gc_was_enabled:
            gc.enable()
    return Simulation(histories=histories, truth=truth, phases=_phases(config))






def _to_histories(
    config: SimulationConfig, sites: list[tuple[_Plan, _Centre, list[_Agent]]]
) -> tuple[tuple[TicketHistory, ...], _Table, _Cases]:
    arrival = np.concatenate([np.asarray(p.arrival) for p, _, _ in sites])
    site_of = np.concatenate(
        [np.full(len(p.arrival), k) for k, (p, _, _) in enumerate(sites)]
    )
    local = np.concatenate([np.arange(len(p.arrival)) for p, _, _ in sites])
    order = np.lexsort((local, site_of, arrival))
    n = order.size
    agent_names: list[str | None] = []
    agent_offset = []
    for _, _, agents in sites:
        agent_offset.append(len(agent_names))
        agent_names.extend(a.name for a in agents)
    agent_names.append(None)  # index -1: no actor

    # one flat pass over the rows, in output order
    tk: list[int] = []
    act: list[int] = []
    occ: list[float] = []
    sta: list[float] = []
    who: list[int] = []
    tm: list[int] = []
    sat: list[int] = []
    bounds = [0]
    for g, (k, i) in enumerate(
        zip(site_of[order].tolist(), local[order].tolist(), strict=True)
    ):
        rows = sites[k][1].rows[i]
        off = agent_offset[k]
        for code, t_occ, t_start, agent, team, score in rows:
            act.append(code)
            occ.append(t_occ)
            sta.append(-1.0 if t_start is None else t_start)
            who.append(agent + off if agent >= 0 else -1)
            tm.append(team)
            sat.append(-1 if score is None else score)
        tk.extend([g] * len(rows))
        bounds.append(len(act))
    occurred = np.round(np.asarray(occ) * 60.0).astype(np.int64)
    started_raw = np.asarray(sta)
    started = np.where(started_raw < 0, -1, np.round(started_raw * 60.0)).astype(
        np.int64
    )

    # datetimes: one object per distinct second, shared by the rows
    has_start = started >= 0
    seconds, inverse = np.unique(
        np.concatenate([occurred, started[has_start]]), return_inverse=True
    )
    epoch = config.start.timestamp()
    from_ts = datetime.fromtimestamp
    stamps = [from_ts(epoch + x, UTC) for x in seconds.tolist()]
    occ_dt = list(map(stamps.__getitem__, inverse[: occurred.size].tolist()))
    start_idx = np.full(occurred.size, -1, dtype=np.int64)
    start_idx[has_start] = inverse[occurred.size :]
    stamps.append(None)  # type: ignore[arg-type]  # index -1: no start
    start_dt = list(map(stamps.__getitem__, start_idx.tolist()))

    names = list(map(ACTIVITIES.__getitem__, act))
    actors = list(map(agent_names.__getitem__, who))
    teams = list(map(TEAMS.__getitem__, tm))
    attrs = [{} if x < 0 else {"satisfaction": x} for x in sat]
    steps = list(
        map(ActivityRow, names, occ_dt, actors, teams, start_dt, repeat(None), attrs)
    )

    width = max(6, len(str(n)))
    source = f"csmine-demo seed={config.seed}"
    histories = []
    for g, (k, i) in enumerate(
        zip(site_of[order].tolist(), local[order].tolist(), strict=True)
    ):
        plan = sites[k][0]
        region = REGIONS[plan.region[i]]
        case = {
            "channel": CHANNELS[plan.channel[i]],
            "category": CATEGORIES[plan.category[i]],
            "priority": PRIORITIES[plan.priority[i]],
            "emotion": EMOTIONS[plan.emotion[i]],
            "customer": plan.customer[i],
            "team": f"{FIRST_LINE} {region}",
            "region": region,
        }
        mine = tuple(steps[bounds[g] : bounds[g + 1]])
        histories.append(
            TicketHistory(
                f"T-{g + 1:0{width}d}", mine[0].occurred_at, case, mine, source
            )
        )

    table = _Table(
        ticket=np.asarray(tk, dtype=np.int64),
        activity=np.asarray(act, dtype=np.int8),
        occurred=occurred,
        started=started,
        team=np.asarray(tm, dtype=np.int8),
        satisfaction=np.asarray(sat, dtype=np.int16),
    )

    def column(attr: str) -> np.ndarray:
        return np.concatenate([np.asarray(getattr(p, attr)) for p, _, _ in sites])[
            order
        ]

    cases = _Cases(
        opened=np.round(arrival[order] * 60.0).astype(np.int64),
        phase=column("phase"),
        category=column("category"),
        emotion=column("emotion"),
        region=column("region"),
        channel=column("channel"),
    )
    return tuple(histories), table, cases


__all__ = [
    "phase_of",
    "simulate",
]
