"""The ground truth measured on the generated rows: what the analytics must find."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from csmine.simulation.config import SimulationConfig
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


def _measure(
    config: SimulationConfig, cases: _Cases, tb: _Table, cal: _Calendar
) -> GroundTruth:
    n = cases.opened.size
    phase, category, emotion = cases.phase, cases.category, cases.emotion
    phase_keys = [
        (_PHASE_NAMES[k], k) for k in range(3) if (k < 2 or config.rollout_weeks)
    ]
    phase_keys.append((_NO_PHASE, -1))
    act, tk = tb.activity, tb.ticket

    def has(activity: int) -> np.ndarray:
        out = np.zeros(n, dtype=bool)
        out[tk[act == activity]] = True
        return out

    def rates(
        flag: np.ndarray, mask: np.ndarray, designed: Mapping[str, float]
    ) -> tuple[PhaseRate, ...]:
        out = []
        for name, k in phase_keys:
            sel = mask & (phase == k)
            total, count = int(sel.sum()), int((flag & sel).sum())
            out.append(
                PhaseRate(name, total, count, _share(count, total), designed.get(name))
            )
        return tuple(out)

    # 1. first-response timeouts: first Record per ticket
    rec = np.flatnonzero(act == RECORD)
    first_rec = np.full(n, -1, dtype=np.int64)
    first_of_ticket = np.ones(rec.size, dtype=bool)
    first_of_ticket[1:] = tk[rec][1:] != tk[rec][:-1]
    first_rec[tk[rec][first_of_ticket]] = tb.occurred[rec][first_of_ticket]
    late = (first_rec - cases.opened) > _FIRST_RESPONSE_LIMIT_S
    everyone = np.ones(n, dtype=bool)
    fr_rates = rates(late, everyone, _DESIGNED_TIMEOUT)
    first_response = FirstResponseTruth(
        limit_minutes=_FIRST_RESPONSE_LIMIT_S // 60,
        rates=fr_rates,
        pilot_minus_baseline=_rate_lookup(fr_rates, "pilot").share
        - _rate_lookup(fr_rates, "baseline").share,
    )

    # 2. bottleneck: waiting on each (source, target, target team)
    same = tk[1:] == tk[:-1]
    src, dst = act[:-1][same], act[1:][same]
    team = tb.team[1:][same]
    begin = np.where(tb.started[1:] >= 0, tb.started[1:], tb.occurred[1:])[same]
    wait = (begin - tb.occurred[:-1][same]) / 3600.0
    span = (tb.occurred[1:][same] - tb.occurred[:-1][same]) / 3600.0
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
    bottleneck = BottleneckTruth(
        top=ranking[0],
        designed_top=(ACTIVITIES[ESCALATE], ACTIVITIES[HANDLE], SPECIALIST),
        ranking=tuple(ranking[:5]),
        top_by_timestamps=(
            ACTIVITIES[kt // 64],
            ACTIVITIES[(kt // 4) % 16],
            TEAMS[kt % 4],
        ),
    )

    # 3. callbacks skipped: tickets with no Callback at all
    skipped = ~has(CALLBACK)
    complaint = category == _COMPLAINT
    callback_skips = CallbackSkipTruth(
        category="complaint",
        rates=rates(
            skipped, complaint, {"baseline": 0.20, "pilot": 0.03, "rollout": 0.03}
        ),
        all_categories=rates(skipped, everyone, {}),
    )

    # 4. ping-pong: Handle teams contain Specialist, First line, Specialist
    h = np.flatnonzero(act == HANDLE)
    ht, hteam = tk[h], tb.team[h]
    pp = np.zeros(n, dtype=bool)
    if h.size >= 3:
        tri = (
            (ht[:-2] == ht[2:])
            & (hteam[:-2] == _SP)
            & (hteam[1:-1] == _FL)
            & (hteam[2:] == _SP)
        )
        pp[ht[:-2][tri]] = True
    with_sp = np.zeros(n, dtype=bool)
    with_sp[ht[hteam == _SP]] = True
    ping_pong = PingPongTruth(
        teams=(SPECIALIST, FIRST_LINE),
        pattern=f"{SPECIALIST} -> {FIRST_LINE} -> {SPECIALIST}",
        tickets=int(pp.sum()),
        share=_share(int(pp.sum()), n),
        share_of_specialist_tickets=_share(int(pp.sum()), int(with_sp.sum())),
        designed_share_of_specialist_tickets=_P_PING_PONG,
    )

    # 5. knowledge base down
    kb_date = config.knowledge_base_down
    kb = (kb_date - cal.first_date).days
    h_start = tb.started[h]
    h_min = (tb.occurred[h] - h_start) / 60.0
    h_day = cal.day_index(h_start / 60.0)
    on_kb = h_day == kb
    kb_med, other_med = _median(h_min[on_kb]), _median(h_min[~on_kb])
    knowledge_base_down = KnowledgeBaseTruth(
        date=kb_date.isoformat(),
        designed_factor=_KB_DOWN_FACTOR,
        handles_that_day=int(on_kb.sum()),
        median_handle_minutes_that_day=kb_med,
        median_handle_minutes_other_days=other_med,
        ratio=kb_med / other_med if other_med else float("nan"),
    )

    # 6. reopens and waiting on the customer
    reopened = has(REOPEN)
    reopens = ReopenTruth(
        _P_REOPEN, int(reopened.sum()), _share(int(reopened.sum()), n)
    )
    w_idx = np.flatnonzero(act == WAIT)
    pauses = []
    if w_idx.size:
        # a wait is always followed by the Handle it waits for
        nxt = w_idx + 1
        pauses = ((tb.started[nxt] - tb.occurred[w_idx]) / 3600.0).tolist()
    waited = has(WAIT)
    customer_waits = CustomerWaitTruth(
        designed_share=_P_CUSTOMER_WAIT,
        tickets=int(waited.sum()),
        share=_share(int(waited.sum()), n),
        waits=int(w_idx.size),
        median_pause_hours=_median(np.asarray(pauses)),
    )

    # 7. satisfaction
    c = np.flatnonzero(act == CALLBACK)
    c_t, c_s = tk[c], tb.satisfaction[c].astype(float)

    def mean_where(mask: np.ndarray) -> float:
        sel = mask[c_t]
        return float(c_s[sel].mean()) if sel.any() else float("nan")

    by_phase = []
    for name, k in phase_keys:
        sel = phase[c_t] == k
        by_phase.append(
            PhaseMean(
                name,
                int(sel.sum()),
                float(c_s[sel].mean()) if sel.any() else float("nan"),
                _DESIGNED_SATISFACTION.get(name),
            )
        )
    angry = emotion == _ANGRY
    satisfaction = SatisfactionTruth(
        by_phase=tuple(by_phase),
        late_first_response=mean_where(late),
        on_time_first_response=mean_where(~late),
        angry=mean_where(angry),
        not_angry=mean_where(~angry),
        ping_pong=mean_where(pp),
        no_ping_pong=mean_where(~pp),
    )

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
        bottleneck=bottleneck,
        callback_skips=callback_skips,
        ping_pong=ping_pong,
        knowledge_base_down=knowledge_base_down,
        reopens=reopens,
        customer_waits=customer_waits,
        satisfaction=satisfaction,
        planted=planted,
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
    n = cases.opened.size
    worked = tb.started >= 0
    handling = np.bincount(
        tb.ticket[worked], weights=(tb.occurred - tb.started)[worked], minlength=n
    ).astype(float)
    slow = handling > np.quantile(handling, 0.8)
    day = cal.day_index(cases.opened / 60.0)
    weekdays = np.array([cal.weekday(int(d)) for d in range(int(day.max()) + 1)])[day]
    flags = {
        "slow-team": slow,
        "skip-step": ~has(CLASSIFY),
        "weekday-queue": late,
        "reopen": has(REOPEN),
    }
    out = []
    for cause in config.causes:
        if cause.kind in ("slow-team", "reopen"):
            group = (cases.region == REGIONS.index(str(cause.region))) & _in_category(
                cases.category, cause.category
            )
        elif cause.kind == "skip-step":
            group = cases.channel == CHANNELS.index(str(cause.channel))
        else:
            group = weekdays == cause.weekday
        flag = flags[cause.kind]
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
        out.append(
            PlantedTruth(
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
        )
    return tuple(out)
