"""SOP adherence of teams and agents, and the violations an agent repeated.

The pieces of the weekly bulletin (:func:`csmine.pilot.review.review_week`): who did
how many steps, how many of them deviated from the SOP or came late, the resulting
adherence share and ranking, and the violations one agent committed more than once
("A-E-03: 3 late first responses"). Who is missing (no agent or team recorded) is
counted as ``"(none)"``, listed but never ranked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from process_models import SOP

#: Who is counted when an event names no agent or team.
NOBODY = "(none)"


@dataclass(frozen=True, slots=True)
class Adherence:
    """SOP adherence of a team or an agent in the week.

    Attributes:
        who: team or agent.
        steps: steps they recorded in the week.
        deviations: deviations counted for them (see :class:`csmine.conformance.deviations.GroupConformance`).
        late: time limits breached by a late step of theirs or by a clock that
            stopped at their event (see :class:`csmine.pilot.review.Breach`).
        adherence: ``1 - (deviations + late) / steps``, floored at 0.
        ranked: they did enough steps to be ranked
            (:data:`csmine.pilot.review.MIN_AGENT_STEPS` /
            :data:`csmine.pilot.review.MIN_TEAM_STEPS`); steps without a recorded
            agent or team (``"(none)"``) are listed, never ranked.
    """

    who: str
    steps: int
    deviations: int
    late: int
    adherence: float
    ranked: bool


@dataclass(frozen=True, slots=True)
class RepeatedViolation:
    """A violation one agent committed more than once in the week.

    Attributes:
        agent: the agent.  kind: deviation kind or ``late``.  step: the step.
        count: how often.  text: e.g. ``"A-E-03: 3 late first responses"``.
        tickets: the tickets (sorted).
    """

    agent: str
    kind: str
    step: str
    count: int
    text: str
    tickets: tuple[str, ...]


_KIND_WORDS = {
    "skipped": "skipped {step}",
    "extra": "extra {step}",
    "out_of_order": "{step} out of order",
    "repeated": "{step} repeated",
    "wrong_branch": "{step} instead of another branch",
}


def violation_text(agent: str, kind: str, step: str, count: int, sop: SOP) -> str:
    """``"A-E-03: 3 late first responses"``-style words for a repeated violation."""
    if kind == "late":
        if step in sop.role_steps("first_response"):
            what = "late first response" + ("s" if count != 1 else "")
        elif step in sop.role_steps("callback"):
            what = "late callback" + ("s" if count != 1 else "")
        else:
            what = f"late {step}"
    else:
        what = _KIND_WORDS.get(kind, "{step} " + kind).format(step=step)
    return f"{agent}: {count} {what}"


def who_column(frame: pd.DataFrame, name: str) -> pd.Series:
    """The column ``name`` with missing values (or a missing column) as ``"(none)"``."""
    if name in frame.columns:
        return frame[name].astype(object).where(frame[name].notna(), NOBODY)
    return pd.Series(NOBODY, index=frame.index, dtype=object)


def tally(frame: pd.DataFrame, name: str) -> pd.Series:
    """Rows of ``frame`` per value of its column ``name`` (see :func:`who_column`)."""
    return who_column(frame, name).value_counts() if len(frame) else pd.Series(dtype=int)


def team_steps(events: pd.DataFrame) -> pd.Series:
    """Steps per team: the event's team (``org:group``), else the ticket's (``case:team``)."""
    team_col = events["org:group"] if "org:group" in events.columns else None
    if team_col is None or team_col.isna().all():
        team_col = events["case:team"] if "case:team" in events.columns else pd.Series(None, index=events.index)
    return team_col.astype(object).where(team_col.notna(), NOBODY).value_counts()


def rank_adherence(steps: pd.Series, devs: pd.Series, late: pd.Series, minimum: int) -> list[Adherence]:
    """Adherence of everyone in any of the tallies, best first (ties: more steps, then
    by name); ranked when they did at least ``minimum`` steps."""
    names = sorted(set(steps.index) | set(devs.index) | set(late.index))
    out = []
    for who in names:
        n = int(steps.get(who, 0))
        d = int(devs.get(who, 0))
        lt = int(late.get(who, 0))
        share = max(0.0, 1.0 - (d + lt) / n) if n else 0.0
        out.append(Adherence(str(who), n, d, lt, share, n >= minimum and who != NOBODY))
    out.sort(key=lambda a: (-a.adherence, -a.steps, a.who))
    return out


def worst_of(ranked: Sequence[Adherence], top: int) -> tuple[Adherence, ...]:
    """The ``top`` worst of ``ranked`` (best first), never repeating its ``top`` best."""
    best = {a.who for a in ranked[:top]}
    rest = [a for a in ranked if a.who not in best]
    return tuple(sorted(rest, key=lambda a: (a.adherence, -a.steps, a.who))[:top])


def repeated_violations(dev: pd.DataFrame, late: pd.DataFrame, sop: SOP) -> list[RepeatedViolation]:
    """Deviations (by ``agent``) and late steps (by ``actor``) an agent committed at
    least twice, most first (ties: by agent, kind, step)."""
    parts = []
    if len(dev):
        parts.append(pd.DataFrame({"agent": who_column(dev, "agent").to_numpy(), "kind": dev["kind"].to_numpy(),
                                   "step": dev["step"].astype(str).to_numpy(),
                                   "ticket": dev["ticket"].astype(str).to_numpy()}))
    if len(late):
        parts.append(pd.DataFrame({"agent": who_column(late, "actor").to_numpy(), "kind": "late",
                                   "step": late["step"].astype(str).to_numpy(),
                                   "ticket": late["ticket"].astype(str).to_numpy()}))
    if not parts:
        return []
    allv = pd.concat(parts, ignore_index=True)
    allv = allv[allv["agent"] != NOBODY]
    repeated = []
    for (agent, kind, step), grp in allv.groupby(["agent", "kind", "step"], sort=True):
        if len(grp) >= 2:
            repeated.append(RepeatedViolation(str(agent), str(kind), str(step), len(grp),
                                              violation_text(str(agent), str(kind), str(step), len(grp), sop),
                                              tuple(sorted(set(grp["ticket"])))))
    repeated.sort(key=lambda r: (-r.count, r.agent, r.kind, r.step))
    return repeated


__all__ = [
    "NOBODY",
    "Adherence",
    "RepeatedViolation",
    "rank_adherence",
    "repeated_violations",
    "tally",
    "team_steps",
    "violation_text",
    "who_column",
    "worst_of",
]
