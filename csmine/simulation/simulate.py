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
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import chain, repeat
from typing import Any

import numpy as np

from event_store.records import ActivityRow, TicketHistory

from csmine.simulation.config import PhaseSpec, SimulationConfig
from csmine.simulation.engine import _Centre
from csmine.simulation.measure import _Cases, _measure, _Table
from csmine.simulation.parameters import (
    ACTIVITIES, CATEGORIES, CHANNELS, EMOTIONS, FIRST_LINE, PRIORITIES, REGIONS, _ROSTER_TAIL_DAYS, TEAMS,
)
from csmine.simulation.plans import _Calendar, _draw_plan, _Plan, _plant
from csmine.simulation.rosters import _Agent, _build_agents
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


_Site = tuple[_Plan, _Centre, list[_Agent]]


@dataclass(frozen=True, slots=True)
class _Order:
    """The tickets of every site in output order (by arrival; ties by site, then plan index)."""

    index: np.ndarray  # output ticket -> its position in the sites' plans concatenated
    site: np.ndarray  # per output ticket: its site
    local: np.ndarray  # per output ticket: its index in the site's plan
    arrival: np.ndarray  # per output ticket: arrival, minutes
    agent_names: list[str | None]  # every site's agents, then None (index -1: no actor)
    agent_offset: list[int]  # per site: the index of its first agent in ``agent_names``

    def pairs(self) -> zip[tuple[int, int]]:
        """(site, plan index) of each output ticket."""
        return zip(self.site.tolist(), self.local.tolist(), strict=True)


@dataclass(frozen=True, slots=True)
class _Flat:
    """Every generated row in output order, as columns, and where each ticket's rows begin."""

    table: _Table
    actor: np.ndarray  # per row: index into ``_Order.agent_names`` (-1: no actor)
    bounds: np.ndarray  # output ticket g's rows are bounds[g]:bounds[g + 1]


def _to_histories(
    config: SimulationConfig, sites: list[_Site]
) -> tuple[tuple[TicketHistory, ...], _Table, _Cases]:
    """The sites' tickets as histories in output order, with the rows and cases to measure."""
    order = _output_order(sites)
    flat = _flat_rows(sites, order)
    steps = _steps(config, flat, order.agent_names)
    histories = _histories(config, sites, order, steps, flat.bounds)
    return histories, flat.table, _cases(sites, order)


def _output_order(sites: list[_Site]) -> _Order:
    arrival = np.concatenate([np.asarray(p.arrival) for p, _, _ in sites])
    site_of = np.concatenate(
        [np.full(len(p.arrival), k) for k, (p, _, _) in enumerate(sites)]
    )
    local = np.concatenate([np.arange(len(p.arrival)) for p, _, _ in sites])
    order = np.lexsort((local, site_of, arrival))
    agent_names: list[str | None] = []
    agent_offset = []
    for _, _, agents in sites:
        agent_offset.append(len(agent_names))
        agent_names.extend(a.name for a in agents)
    agent_names.append(None)
    return _Order(order, site_of[order], local[order], arrival[order], agent_names, agent_offset)


def _flat_rows(sites: list[_Site], order: _Order) -> _Flat:
    """The engine's rows (a list of tuples per ticket) transposed into columns, with no loop per row."""
    per_ticket = [sites[k][1].rows[i] for k, i in order.pairs()]
    lengths = np.fromiter(map(len, per_ticket), dtype=np.int64, count=len(per_ticket))
    code, t_occ, t_start, agent, team, score = list(zip(*chain.from_iterable(per_ticket), strict=True))
    started = np.array(t_start, dtype=float)  # None (no work) becomes NaN
    satisfaction = np.array(score, dtype=float)  # None (no score) becomes NaN
    agent_of = np.array(agent, dtype=np.int64)
    offset = np.repeat(np.asarray(order.agent_offset, dtype=np.int64)[order.site], lengths)
    table = _Table(
        ticket=np.repeat(np.arange(len(per_ticket), dtype=np.int64), lengths),
        activity=np.asarray(code, dtype=np.int8),
        occurred=np.round(np.asarray(t_occ, dtype=float) * 60.0).astype(np.int64),
        started=np.where(np.isnan(started), -1, np.round(started * 60.0)).astype(np.int64),
        team=np.asarray(team, dtype=np.int8),
        satisfaction=np.where(np.isnan(satisfaction), -1, satisfaction).astype(np.int16),
    )
    actor = np.where(agent_of >= 0, agent_of + offset, -1)
    return _Flat(table, actor, np.concatenate([[0], np.cumsum(lengths)]))


def _steps(config: SimulationConfig, flat: _Flat, agent_names: list[str | None]) -> list[ActivityRow]:
    """One :class:`ActivityRow` per row; one datetime object per distinct second, shared by the rows."""
    occurred, started = flat.table.occurred, flat.table.started
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

    names = list(map(ACTIVITIES.__getitem__, flat.table.activity.tolist()))
    actors = list(map(agent_names.__getitem__, flat.actor.tolist()))
    teams = list(map(TEAMS.__getitem__, flat.table.team.tolist()))
    attrs = [{} if x < 0 else {"satisfaction": x} for x in flat.table.satisfaction.tolist()]
    return list(
        map(ActivityRow, names, occ_dt, actors, teams, start_dt, repeat(None), attrs)
    )


def _histories(config: SimulationConfig, sites: list[_Site], order: _Order, steps: list[ActivityRow],
               bounds: np.ndarray) -> tuple[TicketHistory, ...]:
    """Each ticket's history: ids ``T-000001``... in output order, its case attributes and steps."""
    width = max(6, len(str(order.site.size)))
    source = f"csmine-demo seed={config.seed}"
    at = bounds.tolist()
    histories = []
    for g, (k, i) in enumerate(order.pairs()):
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
        mine = tuple(steps[at[g] : at[g + 1]])
        histories.append(
            TicketHistory(
                f"T-{g + 1:0{width}d}", mine[0].occurred_at, case, mine, source
            )
        )
    return tuple(histories)


def _cases(sites: list[_Site], order: _Order) -> _Cases:
    """Per-ticket arrays in output order, for measuring."""
    def column(attr: str) -> np.ndarray:
        merged = np.concatenate([np.asarray(getattr(p, attr)) for p, _, _ in sites])
        return merged[order.index]

    return _Cases(
        opened=np.round(order.arrival * 60.0).astype(np.int64),
        phase=column("phase"),
        category=column("category"),
        emotion=column("emotion"),
        region=column("region"),
        channel=column("channel"),
    )


__all__ = [
    "phase_of",
    "simulate",
]
