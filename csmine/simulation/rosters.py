"""The rosters: a site's agents (four regional first lines, specialists, supervisors) and their shifts."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from csmine.simulation.config import SimulationConfig
from csmine.simulation.parameters import (
    _FL, _FL_REVISED_EXTRA, _FL_WEEKDAY, _FL_WEEKEND, _REGION_LETTER, REGIONS, _SP, _SPECIALIST_DESKS,
    _SUPERVISOR_DESKS, _SV,
)
from csmine.simulation.plans import _Calendar


@dataclass(slots=True)
class _Agent:
    name: str
    team: int
    pool: int
    starts: list[float] = field(default_factory=list)
    ends: list[float] = field(default_factory=list)
    ptr: int = 0
    busy: bool = False
    idle: bool = False


def _scaled(desks: Iterable[tuple[int, int]], scale: float) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for desk in desks:
        out.extend([desk] * max(1, round(scale)))
    return out


def _build_agents(
    config: SimulationConfig, cal: _Calendar, days: int, scale: float, site_tag: str
) -> list[_Agent]:
    """A site's agents: four regional first lines, specialists, supervisors."""
    wk = 7 * 1440.0
    pilot_start = config.baseline_weeks * wk
    rollout_start = pilot_start + config.pilot_weeks * wk
    pilot_region = config.pilot_region
    agents: list[_Agent] = []
    for p, region in enumerate(REGIONS):
        days_desks: list[list[tuple[int, int]]] = []
        for d in range(days):
            noon = cal.at(d, 12.0)  # the day's roster follows the SOP in force at noon
            revised = noon >= rollout_start or (
                pilot_start <= noon and region == pilot_region
            )
            base = _FL_WEEKDAY[region] if cal.weekday(d) < 5 else _FL_WEEKEND
            desks = list(base) + (list(_FL_REVISED_EXTRA) if revised else [])
            days_desks.append(_scaled(desks, scale))
        n = max(len(x) for x in days_desks) + 2
        pool = [
            _Agent(f"A-{_REGION_LETTER[p]}{site_tag}-{k + 1:02d}", _FL, p)
            for k in range(n)
        ]
        for d, desks in enumerate(days_desks):
            for j, (h0, h1) in enumerate(desks):
                a = pool[(d * len(desks) + j) % n]
                a.starts.append(cal.at(d, h0))
                a.ends.append(cal.at(d, h1))
        agents.extend(pool)
    for p, team, site_desks, prefix in (
        (4, _SP, _SPECIALIST_DESKS, "A-SP"),
        (5, _SV, _SUPERVISOR_DESKS, "A-SV"),
    ):
        scaled = _scaled(site_desks, scale)
        pool = [
            _Agent(f"{prefix}{site_tag}-{k + 1:02d}", team, p)
            for k in range(len(scaled))
        ]
        for d in range(days):
            if cal.weekday(d) >= 5:
                continue
            for a, (h0, h1) in zip(pool, scaled, strict=True):
                a.starts.append(cal.at(d, h0))
                a.ends.append(cal.at(d, h1))
        agents.extend(pool)
    for a in agents:  # shifts in time order (rotation may interleave days)
        order = sorted(range(len(a.starts)), key=a.starts.__getitem__)
        a.starts = [a.starts[k] for k in order]
        a.ends = [a.ends[k] for k in order]
    return agents
