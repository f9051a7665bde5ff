"""The ground truth measured on the generated rows: what the analytics must find."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from csmine.simulation.config import PlantedCause, SimulationConfig
from csmine.simulation.parameters import (
    ACTIVITIES, _ANGRY, CALLBACK, CATEGORIES, CHANNELS, CLASSIFY, _COMPLAINT, _DESIGNED_SATISFACTION,
    _DESIGNED_TIMEOUT, ESCALATE, FIRST_LINE, _FIRST_RESPONSE_LIMIT_S, _FL, HANDLE, _KB_DOWN_FACTOR,
    _NO_PHASE, _P_CUSTOMER_WAIT, _P_PING_PONG, _P_REOPEN, _PHASE_NAMES, RECORD, REGIONS, REOPEN, _SP,
    SPECIALIST, TEAMS, WAIT,
)
from csmine.simulation.plans import _Calendar, _in_category
from csmine.simulation.truth import (
    BottleneckTruth, CallbackSkipTruth, CustomerWaitTruth, FirstResponseTruth, GroundTruth,
    KnowledgeBaseTruth, PhaseMean, PhaseRate, PingPongTruth, PlantedTruth, _rate_lookup, ReopenTruth,
    SatisfactionTruth, TransitionWait,
)


# ---------------------------------------------------------------------------
# Ground truth, measured on the rows
# ---------------------------------------------------------------------------


@dataclass(slots=True)
class _Table:
    """All rows as parallel numpy arrays (seconds since start), for measuring."""

    ticket: np.ndarray
    activity: np.ndarray
    occurred: np.ndarray
    started: np.ndarray  # -1 where no work
    team: np.ndarray
    satisfaction: np.ndarray  # -1 where absent


@dataclass(slots=True)
class _Cases:
    """Per-ticket arrays in output order."""

    opened: np.ndarray  # seconds since start
    phase: np.ndarray
    category: np.ndarray
    emotion: np.ndarray
    region: np.ndarray
    channel: np.ndarray


def _median(x: np.ndarray) -> float:
    return float(np.median(x)) if x.size else float("nan")


def _share(count: int, total: int) -> float:
    return count / total if total else float("nan")


@dataclass
class _Rows:
    """What every measurement of :func:`_measure` reads: the generated rows and tickets."""

    config: SimulationConfig
    cases: _Cases
    tb: _Table
    cal: _Calendar
    phase_keys: list[tuple[str, int]]

    @property
    def n(self) -> int:
        return int(self.cases.opened.size)

    @property
    def phase(self) -> np.ndarray:
        return self.cases.phase

    @property
    def category(self) -> np.ndarray:
        return self.cases.category

    @property
    def emotion(self) -> np.ndarray:
        return self.cases.emotion

    @property
    def act(self) -> np.ndarray:
        return self.tb.activity

    @property
    def tk(self) -> np.ndarray:
        return self.tb.ticket

    @property
    def everyone(self) -> np.ndarray:
        return np.ones(self.n, dtype=bool)

    def has(self, activity: int) -> np.ndarray:
        """Per ticket: has a row of ``activity``."""
        out = np.zeros(self.n, dtype=bool)
        out[self.tk[self.act == activity]] = True
        return out

    def rates(self, flag: np.ndarray, mask: np.ndarray, designed: Mapping[str, float]) -> tuple[PhaseRate, ...]:
        """The share of ``flag`` among the tickets of ``mask``, per phase."""
        out = []
        for name, k in self.phase_keys:
            sel = mask & (self.phase == k)
            total, count = int(sel.sum()), int((flag & sel).sum())
            out.append(PhaseRate(name, total, count, _share(count, total), designed.get(name)))
        return tuple(out)


def _measure(
    config: SimulationConfig, cases: _Cases, tb: _Table, cal: _Calendar
) -> GroundTruth:
    """Each built-in effect measured on the rows (one function per effect, below)."""
    phase_keys = [
        (_PHASE_NAMES[k], k) for k in range(3) if (k < 2 or config.rollout_weeks)
    ]
    phase_keys.append((_NO_PHASE, -1))
    r = _Rows(config, cases, tb, cal, phase_keys)
    first_response, late = _first_response(r)
    ping_pong, pp = _ping_pong(r)
    n, phase, category, act, has = r.n, r.phase, r.category, r.act, r.has
    escalated = has(ESCALATE)
    escalation_share = {
        name: _share(
            int((escalated & (category == k)).sum()), int((category == k).sum())
        )
        for k, name in enumerate(CATEGORIES)
    }
    escalation_share["all"] = _share(int(escalated.sum()), n)
    planted = _measure_planted(config, cases, tb, cal, late, has) if config.causes else ()
    return GroundTruth(
        seed=config.seed,
        tickets=n,
        events=int(act.size),
        timezone=config.timezone,
        start=config.start.isoformat(),
        end=config.end.isoformat(),
        phase_tickets={name: int((phase == k).sum()) for name, k in phase_keys},
        escalation_share=escalation_share,
        first_response=first_response,
        bottleneck=_bottleneck(r),
        callback_skips=_callback_skips(r),
        ping_pong=ping_pong,
        knowledge_base_down=_knowledge_base(r),
        reopens=_reopens(r),
        customer_waits=_customer_waits(r),
        satisfaction=_satisfaction(r, late, pp),
        planted=planted,
    )


def _first_response(r: _Rows) -> tuple[FirstResponseTruth, np.ndarray]:
    """1. First-response timeouts (the first Record per ticket); and which tickets were late."""
    rec = np.flatnonzero(r.act == RECORD)
    first_rec = np.full(r.n, -1, dtype=np.int64)
    first_of_ticket = np.ones(rec.size, dtype=bool)
    first_of_ticket[1:] = r.tk[rec][1:] != r.tk[rec][:-1]
    first_rec[r.tk[rec][first_of_ticket]] = r.tb.occurred[rec][first_of_ticket]
    late = (first_rec - r.cases.opened) > _FIRST_RESPONSE_LIMIT_S
    fr_rates = r.rates(late, r.everyone, _DESIGNED_TIMEOUT)
    first_response = FirstResponseTruth(
        limit_minutes=_FIRST_RESPONSE_LIMIT_S // 60,
        rates=fr_rates,
        pilot_minus_baseline=_rate_lookup(fr_rates, "pilot").share
        - _rate_lookup(fr_rates, "baseline").share,
    )
    return first_response, late


def _bottleneck(r: _Rows) -> BottleneckTruth:
    """2. The bottleneck: waiting on each (source, target, target team)."""
    same = r.tk[1:] == r.tk[:-1]
    src, dst = r.act[:-1][same], r.act[1:][same]
    team = r.tb.team[1:][same]
    begin = np.where(r.tb.started[1:] >= 0, r.tb.started[1:], r.tb.occurred[1:])[same]
    wait = (begin - r.tb.occurred[:-1][same]) / 3600.0
    span = (r.tb.occurred[1:][same] - r.tb.occurred[:-1][same]) / 3600.0
    key = (src.astype(np.int64) * 16 + dst) * 4 + team
    total_all = float(wait.sum())
    ranking = []
    for k in np.unique(key):
        w = wait[key == k]
        ranking.append(
            TransitionWait(
                source=ACTIVITIES[k // 64],
                target=ACTIVITIES[(k // 4) % 16],
                team=TEAMS[k % 4],
                occurrences=int(w.size),
                median_wait_hours=_median(w),
                p90_wait_hours=float(np.percentile(w, 90)),
                total_wait_hours=float(w.sum()),
                share_of_total_wait=float(w.sum()) / total_all
                if total_all
                else float("nan"),
            )
        )
    ranking.sort(key=lambda r: -r.total_wait_hours)
    span_totals = {int(k): float(span[key == k].sum()) for k in np.unique(key)}
    kt = max(span_totals, key=span_totals.__getitem__)
    return BottleneckTruth(
        top=ranking[0],
        designed_top=(ACTIVITIES[ESCALATE], ACTIVITIES[HANDLE], SPECIALIST),
        ranking=tuple(ranking[:5]),
        top_by_timestamps=(
            ACTIVITIES[kt // 64],
            ACTIVITIES[(kt // 4) % 16],
            TEAMS[kt % 4],
        ),
    )


def _callback_skips(r: _Rows) -> CallbackSkipTruth:
    """3. Callbacks skipped: tickets with no Callback at all."""
    skipped = ~r.has(CALLBACK)
    complaint = r.category == _COMPLAINT
    return CallbackSkipTruth(
        category="complaint",
        rates=r.rates(
            skipped, complaint, {"baseline": 0.20, "pilot": 0.03, "rollout": 0.03}
        ),
        all_categories=r.rates(skipped, r.everyone, {}),
    )


def _ping_pong(r: _Rows) -> tuple[PingPongTruth, np.ndarray]:
    """4. Ping-pong: Handle teams contain Specialist, First line, Specialist; and which tickets."""
    h = np.flatnonzero(r.act == HANDLE)
    ht, hteam = r.tk[h], r.tb.team[h]
    pp = np.zeros(r.n, dtype=bool)
    if h.size >= 3:
        tri = (
            (ht[:-2] == ht[2:])
            & (hteam[:-2] == _SP)
            & (hteam[1:-1] == _FL)
            & (hteam[2:] == _SP)
        )
        pp[ht[:-2][tri]] = True
    with_sp = np.zeros(r.n, dtype=bool)
    with_sp[ht[hteam == _SP]] = True
    ping_pong = PingPongTruth(
        teams=(SPECIALIST, FIRST_LINE),
        pattern=f"{SPECIALIST} -> {FIRST_LINE} -> {SPECIALIST}",
        tickets=int(pp.sum()),
        share=_share(int(pp.sum()), r.n),
        share_of_specialist_tickets=_share(int(pp.sum()), int(with_sp.sum())),
        designed_share_of_specialist_tickets=_P_PING_PONG,
    )
    return ping_pong, pp


def _knowledge_base(r: _Rows) -> KnowledgeBaseTruth:
    """5. The day the knowledge base was down: Handle took longer."""
    h = np.flatnonzero(r.act == HANDLE)
    kb_date = r.config.knowledge_base_down
    kb = (kb_date - r.cal.first_date).days
    h_start = r.tb.started[h]
    h_min = (r.tb.occurred[h] - h_start) / 60.0
    h_day = r.cal.day_index(h_start / 60.0)
    on_kb = h_day == kb
    kb_med, other_med = _median(h_min[on_kb]), _median(h_min[~on_kb])
    return KnowledgeBaseTruth(
        date=kb_date.isoformat(),
        designed_factor=_KB_DOWN_FACTOR,
        handles_that_day=int(on_kb.sum()),
        median_handle_minutes_that_day=kb_med,
        median_handle_minutes_other_days=other_med,
        ratio=kb_med / other_med if other_med else float("nan"),
    )


def _reopens(r: _Rows) -> ReopenTruth:
    """6a. Reopened tickets."""
    reopened = r.has(REOPEN)
    return ReopenTruth(_P_REOPEN, int(reopened.sum()), _share(int(reopened.sum()), r.n))


def _customer_waits(r: _Rows) -> CustomerWaitTruth:
    """6b. Waiting on the customer."""
    w_idx = np.flatnonzero(r.act == WAIT)
    pauses = []
    if w_idx.size:
        # a wait is always followed by the Handle it waits for
        nxt = w_idx + 1
        pauses = ((r.tb.started[nxt] - r.tb.occurred[w_idx]) / 3600.0).tolist()
    waited = r.has(WAIT)
    return CustomerWaitTruth(
        designed_share=_P_CUSTOMER_WAIT,
        tickets=int(waited.sum()),
        share=_share(int(waited.sum()), r.n),
        waits=int(w_idx.size),
        median_pause_hours=_median(np.asarray(pauses)),
    )


def _satisfaction(r: _Rows, late: np.ndarray, pp: np.ndarray) -> SatisfactionTruth:
    """7. Satisfaction on Callback, by phase and by what went wrong."""
    c = np.flatnonzero(r.act == CALLBACK)
    c_t, c_s = r.tk[c], r.tb.satisfaction[c].astype(float)

    def mean_where(mask: np.ndarray) -> float:
        sel = mask[c_t]
        return float(c_s[sel].mean()) if sel.any() else float("nan")

    by_phase = []
    for name, k in r.phase_keys:
        sel = r.phase[c_t] == k
        by_phase.append(
            PhaseMean(
                name,
                int(sel.sum()),
                float(c_s[sel].mean()) if sel.any() else float("nan"),
                _DESIGNED_SATISFACTION.get(name),
            )
        )
    angry = r.emotion == _ANGRY
    return SatisfactionTruth(
        by_phase=tuple(by_phase),
        late_first_response=mean_where(late),
        on_time_first_response=mean_where(~late),
        angry=mean_where(angry),
        not_angry=mean_where(~angry),
        ping_pong=mean_where(pp),
        no_ping_pong=mean_where(~pp),
    )


def _measure_planted(
    config: SimulationConfig,
    cases: _Cases,
    tb: _Table,
    cal: _Calendar,
    late: np.ndarray,
    has: Any,
) -> tuple[PlantedTruth, ...]:
    """Each planted cause's outcome in its group and outside, measured on the rows as csmine
    defines the outcome (every simulated ticket is closed and resolved)."""
    flags = _planted_flags(cases, tb, late, has)
    day = cal.day_index(cases.opened / 60.0)
    weekdays = np.array([cal.weekday(int(d)) for d in range(int(day.max()) + 1)])[day]
    return tuple(
        _planted_truth(cause, flags[cause.kind], _cause_group(cause, cases, weekdays), cases)
        for cause in config.causes
    )


def _planted_flags(cases: _Cases, tb: _Table, late: np.ndarray, has: Any) -> dict[str, np.ndarray]:
    """Per kind of cause, the tickets showing its outcome: handling over P80, Classify
    skipped, first response late, reopened."""
    n = cases.opened.size
    worked = tb.started >= 0
    handling = np.bincount(
        tb.ticket[worked], weights=(tb.occurred - tb.started)[worked], minlength=n
    ).astype(float)
    return {
        "slow-team": handling > np.quantile(handling, 0.8),
        "skip-step": ~has(CLASSIFY),
        "weekday-queue": late,
        "reopen": has(REOPEN),
    }


def _cause_group(cause: PlantedCause, cases: _Cases, weekdays: np.ndarray) -> np.ndarray:
    """The tickets a cause acts on."""
    if cause.kind in ("slow-team", "reopen"):
        group: np.ndarray = (cases.region == REGIONS.index(str(cause.region))) & _in_category(
            cases.category, cause.category
        )
        return group
    if cause.kind == "skip-step":
        out: np.ndarray = cases.channel == CHANNELS.index(str(cause.channel))
        return out
    opened_that_day: np.ndarray = weekdays == cause.weekday
    return opened_that_day


def _planted_truth(cause: PlantedCause, flag: np.ndarray, group: np.ndarray, cases: _Cases) -> PlantedTruth:
    """The outcome's share in the group and outside it; the effect against the same
    category at the other teams when the cause names a category."""
    n_in, n_out = int(group.sum()), int((~group).sum())
    share_in = _share(int((flag & group).sum()), n_in)
    share_out = _share(int((flag & ~group).sum()), n_out)
    effect = share_in / share_out if share_out > 0 else None
    compared_with = "the other tickets"
    if cause.kind in ("slow-team", "reopen") and cause.category is not None:
        same = (cases.category == CATEGORIES.index(cause.category)) & ~group
        base = _share(int((flag & same).sum()), int(same.sum()))
        effect = share_in / base if base > 0 else None
        compared_with = f"{cause.category} tickets of the other teams"
    return PlantedTruth(
        kind=cause.kind,
        description=cause.describe(),
        outcome=cause.outcome,
        group=cause.group,
        strength=cause.strength,
        affected=n_in,
        share_in=share_in,
        share_out=share_out,
        lift=share_in / share_out if share_out > 0 else None,
        effect=effect,
        compared_with=compared_with,
    )
