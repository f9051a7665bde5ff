"""Teams: handovers, ping-pong and the first support line (push to front).

Who has a ticket is its event's team (``org:group``), or its agent
(``org:resource``) in a log that names no team
(:attr:`csmine.performance.preparation.Prepared.teams`). A **handover** is a change
of team between consecutive events of a ticket; **ping-pong** is a ticket coming
back to a team it had left (see :class:`PingPong`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from csmine.mining.time_split import seconds_between
from csmine.mining.group_stats import impact_stats

if TYPE_CHECKING:
    from csmine.mining.encoding import EncodedLog
    from csmine.performance.business_calendar import BusinessCalendar
    from csmine.performance.preparation import Prepared


@dataclass(frozen=True, slots=True)
class Handover:
    """Work passed from one team to another (consecutive events, team changes).

    Attributes:
        source_team / target_team: the teams.
        handovers: occurrences.  tickets: tickets with it.
        median_s: median time from the source team's event to the target team's.
    """

    source_team: str
    target_team: str
    handovers: int
    tickets: int
    median_s: float


@dataclass(frozen=True, slots=True)
class PingPong:
    """Tickets bouncing between two teams.

    On the sequence of teams of a ticket (consecutive events of the same team
    merged), team ``A`` hands to ``B`` and the ticket later comes back to ``A``:
    **direct** when ``A -> B -> A``, **indirect** when other teams come between
    (``A -> B -> ... -> A``). Counted for the pair ``(A, B)`` of the handover that
    left ``A``.

    Attributes:
        team_a: the team the ticket comes back to.  team_b: the team it went to.
        direct / indirect: occurrences.
        tickets: tickets with either pattern for this pair.
    """

    team_a: str
    team_b: str
    direct: int
    indirect: int
    tickets: int


@dataclass(frozen=True, slots=True)
class FirstLineSummary:
    """Push to front: tickets solved in the first support line.

    Attributes:
        method: ``"line-marker"`` (team names carry 2nd/3rd) or ``"first-team"``.
        tickets: tickets with a team.  first_line: of those, never left the first line.
        share: ``first_line / tickets``.
        resolved_share: the same among resolved tickets (None without a resolution role).
    """

    method: str
    tickets: int
    first_line: int
    share: float | None
    resolved_share: float | None


def team_counts(prep: Prepared) -> tuple[np.ndarray, np.ndarray]:
    """Per ticket code: handovers (changes of team between consecutive events) and distinct teams."""
    log = prep.log
    n_cases = len(log.cases)
    has = pd.notna(prep.teams)
    idx = np.flatnonzero(has)
    if len(idx) == 0:
        return np.zeros(n_cases, dtype=np.int64), np.zeros(n_cases, dtype=np.int64)
    teams = pd.factorize(pd.Series(prep.teams[idx], dtype=object))[0]
    cases = log.case[idx]
    change = np.zeros(len(idx), dtype=bool)
    change[1:] = (cases[1:] == cases[:-1]) & (teams[1:] != teams[:-1])
    handovers = np.bincount(cases[change], minlength=n_cases)
    distinct = pd.DataFrame({"c": cases, "t": teams}).drop_duplicates()
    n_teams = np.bincount(distinct["c"].to_numpy(), minlength=n_cases)
    return handovers.astype(np.int64), n_teams.astype(np.int64)


@dataclass(frozen=True)
class _TeamEvents:
    """The events that name who has the ticket, in log order."""

    idx: np.ndarray     # their positions in the encoded log
    codes: np.ndarray   # team code per event
    names: np.ndarray   # team name per code
    cases: np.ndarray   # ticket code per event

    @property
    def same_case(self) -> np.ndarray:
        """Per consecutive pair of these events: same ticket."""
        return self.cases[1:] == self.cases[:-1]


def team_flows(prep: Prepared, calendar: BusinessCalendar | None, max_rows: int) -> tuple[
        tuple[Handover, ...], tuple[PingPong, ...], pd.DataFrame | None, dict[int, tuple[str, str]]]:
    """Handovers and ping-pong pairs (the ``max_rows`` most frequent of each).

    Returns:
        ``(handovers, ping_pong, stats, names)``: ``stats`` is the
        :func:`~csmine.mining.group_stats.impact_stats` of the handover times per pair
        code (None without handovers), ``names`` the ``(source, target)`` teams per
        pair code, for ranking handovers as bottlenecks.
    """
    log = prep.log
    idx = np.flatnonzero(pd.notna(prep.teams))
    if len(idx) < 2:
        return (), (), None, {}
    team_codes, team_names = pd.factorize(pd.Series(prep.teams[idx], dtype=object))
    teams = _TeamEvents(idx, team_codes, np.asarray(team_names, dtype=object), log.case[idx])
    handovers, stats, names = _handovers(log, teams, calendar, max_rows)
    return handovers, _ping_pong(teams, max_rows), stats, names


def _handovers(log: EncodedLog, teams: _TeamEvents, calendar: BusinessCalendar | None, max_rows: int,
               ) -> tuple[tuple[Handover, ...], pd.DataFrame | None, dict[int, tuple[str, str]]]:
    """From the last event of the old team to the next event of the new one."""
    n_t = len(teams.names)
    change = teams.same_case & (teams.codes[1:] != teams.codes[:-1])
    src_pos, dst_pos = teams.idx[:-1][change], teams.idx[1:][change]
    ho_gap = np.clip(seconds_between(log.ts[src_pos], log.arrival()[dst_pos], calendar), 0, None)
    hkey = teams.codes[:-1][change] * n_t + teams.codes[1:][change]
    if not len(hkey):
        return (), None, {}
    ho_stats = impact_stats(hkey, ho_gap, teams.cases[1:][change])
    ho_names = {int(k): (str(teams.names[k // n_t]), str(teams.names[k % n_t])) for k in ho_stats.index}
    top = ho_stats.assign(_n=[ho_names[int(k)] for k in ho_stats.index])
    top = top.sort_values(["size", "_n"], ascending=[False, True], kind="stable").head(max_rows)
    handovers = tuple(
        Handover(n[0], n[1], int(size), int(tickets), float(med))
        for n, size, tickets, med in zip(top["_n"], top["size"], top["tickets"], top["median"], strict=True)
    )
    return handovers, ho_stats, ho_names


def _ping_pong(teams: _TeamEvents, max_rows: int) -> tuple[PingPong, ...]:
    """Ping-pong on runs of the same team: the next run of the same team, two runs on or later."""
    run_start = np.ones(len(teams.idx), dtype=bool)
    run_start[1:] = ~teams.same_case | (teams.codes[1:] != teams.codes[:-1])
    r_case = teams.cases[run_start]
    r_team = teams.codes[run_start]
    pos = np.arange(len(r_case))
    runs = pd.DataFrame({"c": r_case, "t": r_team, "p": pos})
    nxt_same = runs.groupby(["c", "t"], sort=False)["p"].shift(-1).to_numpy()
    nxt_team = np.full(len(pos), -1)
    nxt_team[:-1] = np.where(r_case[1:] == r_case[:-1], r_team[1:], -1)
    has_back = ~np.isnan(nxt_same)
    direct = has_back & (nxt_same == pos + 2)
    indirect = has_back & (nxt_same > pos + 2)
    pp = pd.DataFrame({"c": r_case, "a": r_team, "b": nxt_team, "d": direct, "i": indirect})
    pp = pp[(pp["d"] | pp["i"]) & (pp["b"] >= 0)]
    if not len(pp):
        return ()
    g = pp.groupby(["a", "b"], sort=True)
    agg = g.agg(direct=("d", "sum"), indirect=("i", "sum"))
    agg["tickets"] = pp.drop_duplicates(["c", "a", "b"]).groupby(["a", "b"]).size()
    agg = agg.reset_index()
    agg["na"] = teams.names[agg["a"].to_numpy()].astype(str)
    agg["nb"] = teams.names[agg["b"].to_numpy()].astype(str)
    agg["total"] = agg["direct"] + agg["indirect"]
    agg = agg.sort_values(["total", "direct", "na", "nb"], ascending=[False, False, True, True],
                          kind="stable").head(max_rows)
    return tuple(PingPong(na, nb, int(d), int(i), int(t)) for na, nb, d, i, t in
                 zip(agg["na"], agg["nb"], agg["direct"], agg["indirect"], agg["tickets"], strict=True))


def first_line_summary(tickets: pd.DataFrame) -> FirstLineSummary:
    """Push to front from a :func:`~csmine.performance.kpi.ticket_kpis` frame (``first_line``, ``resolved``)."""
    fl = tickets["first_line"]
    with_team = fl.notna()
    resolved = tickets["resolved"]
    res_share = None
    if resolved.notna().any():
        base = fl[resolved.fillna(False).to_numpy(dtype=bool) & with_team.to_numpy()]
        res_share = float(base.astype(bool).mean()) if len(base) else None
    return FirstLineSummary(
        method=str(tickets.attrs.get("first_line_method", "")),
        tickets=int(with_team.sum()),
        first_line=int(fl.fillna(False).astype(bool).sum()),
        share=float(fl[with_team].astype(bool).mean()) if with_team.any() else None,
        resolved_share=res_share,
    )
