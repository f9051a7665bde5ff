"""The calendar, arrivals and ticket plans (what each ticket will need, causes planted).

The agents' rosters are :mod:`csmine.simulation.rosters`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from csmine.simulation.config import SimulationConfig
from csmine.simulation.parameters import (
    _ANGRY, _ARCHIVE_MEDIAN_MIN, _CALLBACK_DELAY, _CALLBACK_MIN, CATEGORIES, _CATEGORY_BY_CHANNEL,
    _CHANNEL_MIX, CHANNELS, _CHAT, _CLASSIFY_MIN, _COMPLAINT, _EMOTION_BY_CATEGORY, _FL,
    _HANDLE_FL_MIN, _HANDLE_SP_MIN, _HANDLE_SV_MIN, _P1_ESCALATE_FACTOR,
    _P_CUSTOMER_WAIT, _P_ESCALATE, _P_IMPORTANT, _P_PING_PONG, _P_REOPEN, _P_REOPEN_AT_CALLBACK,
    _P_SECOND_WAIT, _P_SKIP_CALLBACK, _P_SUPERVISOR_ANGRY_COMPLAINT, _P_URGENT, _PHONE, _RECORD_MIN,
    _REGION_MIX, REGIONS, _REOPEN_MEDIAN_MIN, _REPLY_MEDIAN_MIN, _REPLY_SIGMA, _SAT_SD,
    _SIGMA_HANDLE, _SIGMA_SHORT, _SP, _SV, _WEEKDAY_FACTOR,
)


# ---------------------------------------------------------------------------
# Calendar
# ---------------------------------------------------------------------------


class _Calendar:
    """Local days as minutes since the simulation start."""

    def __init__(self, config: SimulationConfig, days: int) -> None:
        self.tz = ZoneInfo(config.timezone)
        self.start = config.start
        self.first_date = config.start.astimezone(self.tz).date()
        self.midnights = np.array(
            [
                self._minutes(self.first_date + timedelta(days=d), 0.0)
                for d in range(days + 1)
            ]
        )

    def _minutes(self, day: date, hour: float) -> float:
        local = datetime.combine(day, time(0), tzinfo=self.tz)
        return (local.astimezone(UTC) - self.start).total_seconds() / 60.0 + hour * 60.0

    def date_of(self, day: int) -> date:
        return self.first_date + timedelta(days=day)

    def weekday(self, day: int) -> int:
        return self.date_of(day).weekday()

    def at(self, day: int, hour: float) -> float:
        return float(self.midnights[day]) + hour * 60.0

    def day_index(self, minutes: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.midnights, minutes, side="right") - 1


# ---------------------------------------------------------------------------
# Arrivals and ticket plans
# ---------------------------------------------------------------------------


def _peaks(h: np.ndarray) -> np.ndarray:
    return (
        0.35
        + np.exp(-(((h - 10.0) / 1.3) ** 2))
        + 0.85 * np.exp(-(((h - 15.0) / 1.5) ** 2))
    )


def _channel_intensity(channel: int, h: np.ndarray) -> np.ndarray:
    """Relative arrival intensity by local hour (before the weekday factor)."""
    day = (h >= 8.0) & (h < 20.0)
    if channel == _PHONE:
        return np.where(day, _peaks(h), 0.0)
    if channel == _CHAT:
        evening = (h >= 20.0) & (h < 22.0)
        return np.where(day, _peaks(h), np.where(evening, 0.45, 0.06))
    return np.where(day, 0.6 * _peaks(h) + 0.2, 0.13)


def _draw_arrivals(
    rng: np.random.Generator, tickets: int, cal: _Calendar, horizon_min: float
) -> tuple[np.ndarray, np.ndarray]:
    """Exactly ``tickets`` arrival times (minutes) and their channels, time-sorted.

    Conditional on the count, the points of a non-homogeneous Poisson process are
    i.i.d. with density proportional to the intensity: draw hour bins from a
    multinomial, then uniform positions within the bin.
    """
    n_bins = math.ceil(horizon_min / 60.0)
    centres = np.arange(n_bins) * 60.0 + 30.0
    day = cal.day_index(centres)
    hour = (centres - cal.midnights[day]) / 60.0
    weekday = np.array([cal.weekday(int(d)) for d in range(int(day.max()) + 1)])[day]
    wfactor = np.asarray(_WEEKDAY_FACTOR)[weekday]
    counts = rng.multinomial(tickets, _CHANNEL_MIX)
    times, channels = [], []
    for ch, n in enumerate(counts):
        w = _channel_intensity(ch, hour) * wfactor
        per_bin = rng.multinomial(int(n), w / w.sum())
        bins = np.repeat(np.arange(n_bins), per_bin)
        times.append(bins * 60.0 + rng.random(bins.size) * 60.0)
        channels.append(np.full(bins.size, ch))
    t = np.concatenate(times)
    c = np.concatenate(channels)
    t = np.round(t * 60.0) / 60.0  # whole seconds
    order = np.lexsort((c, t))
    return t[order], c[order]


def _conditional(
    rng: np.random.Generator, cond: np.ndarray, table: Sequence[Sequence[float]]
) -> np.ndarray:
    cum = np.cumsum(np.asarray(table, dtype=float), axis=1)
    u = rng.random(cond.size)
    idx = (u[:, None] >= cum[cond]).sum(axis=1)
    out: np.ndarray = np.minimum(idx, cum.shape[1] - 1)
    return out


def _lognormal(
    rng: np.random.Generator, median: np.ndarray | float, sigma: float, shape: Any
) -> np.ndarray:
    out: np.ndarray = np.asarray(median) * np.exp(sigma * rng.standard_normal(shape))
    return out


@dataclass(slots=True)
class _Plan:
    """Everything random about the tickets, drawn up front (vectorised)."""

    arrival: list[float]
    channel: list[int]
    region: list[int]
    category: list[int]
    emotion: list[int]
    priority: list[int]
    customer: list[str]
    phase: list[int]  # 0 baseline, 1 pilot, 2 rollout, -1 none
    revised: list[bool]
    escalate: list[int]  # -1 none, else team code
    ping_pong: list[bool]
    seg_team: list[list[int]]
    seg_wait: list[list[bool]]
    skip1: list[bool]
    skip2: list[bool]
    reopen: list[int]  # 0 none, 1 at callback, 2 after archive
    d_record: list[float]
    d_classify: list[float]
    d_handle: list[list[float]]
    d_reopen_handle: list[float]
    d_callback: list[list[float]]
    d_reply: list[list[float]]
    d_archive: list[list[float]]
    d_reopen: list[float]
    callback_delay: list[list[float]]
    gaps: list[list[float]]
    sat_noise: list[list[float]]
    skip_classify: list[bool] | None = None  # planted: the ticket skips Classify


def _in_category(category: np.ndarray, name: str | None) -> np.ndarray:
    if name is None:
        return np.ones(category.size, dtype=bool)
    out: np.ndarray = category == CATEGORIES.index(name)
    return out


def _plant(config: SimulationConfig, plan: _Plan, rng: np.random.Generator) -> None:
    """Apply the planted causes that change a ticket's plan (their own random stream)."""
    region = np.asarray(plan.region)
    category = np.asarray(plan.category)
    channel = np.asarray(plan.channel)
    n = region.size
    for cause in config.causes:
        if cause.kind == "slow-team":
            group = np.flatnonzero((region == REGIONS.index(str(cause.region)))
                                   & _in_category(category, cause.category))
            f = cause.strength
            for i in group.tolist():
                plan.d_handle[i] = [d * f if t == _FL else d
                                    for d, t in zip(plan.d_handle[i], plan.seg_team[i], strict=True)]
                plan.d_reopen_handle[i] *= f
        elif cause.kind == "skip-step":
            mine = channel == CHANNELS.index(str(cause.channel))
            if cause.base > 0:
                p = np.where(mine, cause.strength * cause.base, cause.base)
            else:
                p = np.where(mine, cause.strength, 0.0)
            draw = rng.random(n) < p
            before = np.asarray(plan.skip_classify) if plan.skip_classify is not None else np.zeros(n, bool)
            plan.skip_classify = (before | draw).tolist()
        elif cause.kind == "reopen":
            group = (region == REGIONS.index(str(cause.region))) & _in_category(category, cause.category)
            reopen = np.asarray(plan.reopen)
            u, kind_u = rng.random(n), rng.random(n)
            if cause.strength >= 1:
                q = min(1.0, (cause.strength - 1) * _P_REOPEN / (1 - _P_REOPEN))
                extra = group & (reopen == 0) & (u < q)
                kind = np.where((kind_u < _P_REOPEN_AT_CALLBACK) & ~np.asarray(plan.skip1), 1, 2)
                reopen = np.where(extra, kind, reopen)
            else:
                reopen = np.where(group & (reopen > 0) & (u < 1 - cause.strength), 0, reopen)
            plan.reopen = reopen.tolist()


@dataclass(frozen=True, slots=True)
class _Attributes:
    """What a ticket is: region, category, emotion and priority codes (one per ticket)."""

    region: np.ndarray
    category: np.ndarray
    emotion: np.ndarray
    priority: np.ndarray


@dataclass(frozen=True, slots=True)
class _Routing:
    """Where a ticket goes: escalation, ping-pong, customer waits, skipped callbacks, reopens."""

    escalate: np.ndarray  # -1 none, else team code
    ping_pong: np.ndarray
    n_waits: np.ndarray
    wait_pos: np.ndarray  # (n, 2): where each wait falls among the segments
    skip: np.ndarray  # (n, 2): callback skipped, first and second round
    reopen: np.ndarray  # 0 none, 1 at callback, 2 after archive


@dataclass(frozen=True, slots=True)
class _Durations:
    """How long each piece of work takes, in minutes (drawn up front)."""

    record: np.ndarray
    classify: np.ndarray
    z_handle: np.ndarray  # (n, 5): lognormal factors of the handling segments
    fl_median: np.ndarray  # the first line's median handling time per ticket
    reopen_handle: np.ndarray
    callback: np.ndarray
    reply: np.ndarray
    archive: np.ndarray
    reopen: np.ndarray
    callback_delay: np.ndarray
    gaps: np.ndarray
    sat_noise: np.ndarray


def _draw_attributes(rng: np.random.Generator, channel: np.ndarray) -> _Attributes:
    """Region, then category by channel, emotion by category, priority by both."""
    n = channel.size
    region = rng.choice(4, size=n, p=_REGION_MIX)
    category = _conditional(rng, channel, _CATEGORY_BY_CHANNEL)
    emotion = _conditional(rng, category, _EMOTION_BY_CATEGORY)
    important = rng.random(n) < np.asarray(_P_IMPORTANT)[category]
    urgent = rng.random(n) < np.asarray(_P_URGENT)[emotion]
    priority = np.where(
        important & urgent, 0, np.where(urgent, 1, np.where(important, 2, 3))
    )
    return _Attributes(region, category, emotion, priority)


def _draw_customers(rng: np.random.Generator, n: int, site_tag: str) -> list[str]:
    """Customer references: a pool of ids, a few customers calling often (Zipf-like)."""
    pool_size = max(20, int(n * 0.7))
    ids = rng.choice(10 * pool_size, size=pool_size, replace=False)
    weights = 1.0 / (np.arange(pool_size) + 10.0)
    who = rng.choice(pool_size, size=n, p=weights / weights.sum())
    width = max(6, len(str(10 * pool_size)))
    return [f"C-{site_tag}{int(ids[w]):0{width}d}" for w in who]


def _phase_codes(config: SimulationConfig, arrival: np.ndarray, region: np.ndarray) -> np.ndarray:
    """Per ticket: 0 baseline, 1 pilot (its region only), 2 rollout, -1 none."""
    wk = 7 * 1440.0
    b_end = config.baseline_weeks * wk
    p_end = b_end + config.pilot_weeks * wk
    pilot_region = REGIONS.index(config.pilot_region)
    out: np.ndarray = np.where(
        arrival < b_end,
        0,
        np.where(arrival >= p_end, 2, np.where(region == pilot_region, 1, -1)),
    )
    return out


def _draw_routing(rng: np.random.Generator, cases: _Attributes, revised: np.ndarray) -> _Routing:
    """Escalations (to the supervisor for angry complaints), ping-pong, waits, skips, reopens."""
    category, n = cases.category, cases.category.size
    p_esc = np.minimum(
        np.asarray(_P_ESCALATE)[category]
        * np.where(cases.priority == 0, _P1_ESCALATE_FACTOR, 1.0),
        0.95,
    )
    esc = rng.random(n) < p_esc
    to_sv = (
        (category == _COMPLAINT)
        & (cases.emotion == _ANGRY)
        & (rng.random(n) < _P_SUPERVISOR_ANGRY_COMPLAINT)
    )
    escalate = np.where(esc, np.where(to_sv, _SV, _SP), -1)
    ping_pong = (escalate == _SP) & (rng.random(n) < _P_PING_PONG)
    n_waits = np.where(
        rng.random(n) < _P_CUSTOMER_WAIT,
        np.where(rng.random(n) < _P_SECOND_WAIT, 2, 1),
        0,
    )
    wait_pos = rng.random((n, 2))

    is_complaint = category == _COMPLAINT
    p_skip = np.where(
        revised,
        np.where(is_complaint, _P_SKIP_CALLBACK[True][0], _P_SKIP_CALLBACK[True][1]),
        np.where(is_complaint, _P_SKIP_CALLBACK[False][0], _P_SKIP_CALLBACK[False][1]),
    )
    skip = rng.random((n, 2)) < p_skip[:, None]
    reopen = np.where(
        rng.random(n) < _P_REOPEN,
        np.where(rng.random(n) < _P_REOPEN_AT_CALLBACK, 1, 2),
        0,
    )
    reopen = np.where((reopen == 1) & skip[:, 0], 2, reopen)
    return _Routing(escalate, ping_pong, n_waits, wait_pos, skip, reopen)


def _draw_durations(
    rng: np.random.Generator, channel: np.ndarray, category: np.ndarray, revised: np.ndarray
) -> _Durations:
    """Every duration, lognormal around its median (callback delays uniform by SOP)."""
    n = channel.size
    d_record = _lognormal(rng, np.asarray(_RECORD_MIN)[channel], _SIGMA_SHORT, n)
    d_classify = _lognormal(rng, _CLASSIFY_MIN, _SIGMA_SHORT, n)
    z_handle = np.exp(_SIGMA_HANDLE * rng.standard_normal((n, 5)))
    fl_median = np.asarray(_HANDLE_FL_MIN)[category]
    d_reopen_handle = _lognormal(rng, fl_median, _SIGMA_HANDLE, n)
    d_callback = _lognormal(rng, _CALLBACK_MIN, _SIGMA_SHORT, (n, 2))
    d_reply = np.minimum(
        _lognormal(rng, _REPLY_MEDIAN_MIN, _REPLY_SIGMA, (n, 2)), 7 * 1440.0
    )
    d_archive = _lognormal(rng, _ARCHIVE_MEDIAN_MIN, 0.5, (n, 2))
    d_reopen = np.minimum(_lognormal(rng, _REOPEN_MEDIAN_MIN, 0.6, n), 10 * 1440.0)
    lo = np.where(revised, _CALLBACK_DELAY[True][0], _CALLBACK_DELAY[False][0])
    hi = np.where(revised, _CALLBACK_DELAY[True][1], _CALLBACK_DELAY[False][1])
    callback_delay = lo[:, None] + (hi - lo)[:, None] * rng.random((n, 2))
    gaps = 0.2 + 1.3 * rng.random((n, 4))
    sat_noise = _SAT_SD * rng.standard_normal((n, 2))
    return _Durations(d_record, d_classify, z_handle, fl_median, d_reopen_handle, d_callback, d_reply,
                      d_archive, d_reopen, callback_delay, gaps, sat_noise)


def _segments(
    routing: _Routing, durations: _Durations
) -> tuple[list[list[int]], list[list[bool]], list[list[float]]]:
    """Per ticket: the teams of its handling segments (a customer wait splits one in two),
    which segments end in a wait, and each segment's handling time."""
    seg_team: list[list[int]] = []
    seg_wait: list[list[bool]] = []
    d_handle: list[list[float]] = []
    medians = {_SP: _HANDLE_SP_MIN, _SV: _HANDLE_SV_MIN}
    esc_l, pp_l, nw_l, fl_l = (
        routing.escalate.tolist(),
        routing.ping_pong.tolist(),
        routing.n_waits.tolist(),
        durations.fl_median.tolist(),
    )
    wp, zh = routing.wait_pos.tolist(), durations.z_handle.tolist()
    for i in range(len(esc_l)):
        e = esc_l[i]
        teams = [_FL] if e < 0 else ([_SP, _FL, _SP] if pp_l[i] else [e])
        waits = [False] * len(teams)
        for k in range(nw_l[i]):
            j = int(wp[i][k] * len(teams))
            teams.insert(j + 1, teams[j])
            waits.insert(j, True)
        seg_team.append(teams)
        seg_wait.append(waits)
        d_handle.append(
            [medians.get(t, fl_l[i]) * zh[i][k] for k, t in enumerate(teams)]
        )
    return seg_team, seg_wait, d_handle


def _draw_plan(
    config: SimulationConfig,
    tickets: int,
    rng: np.random.Generator,
    cal: _Calendar,
    horizon_min: float,
    site_tag: str,
) -> _Plan:
    """Every random choice about a site's tickets, drawn up front in a fixed order
    (arrivals, cases, customers, routing, durations), so a seed gives one centre."""
    arrival, channel = _draw_arrivals(rng, tickets, cal, horizon_min)
    cases = _draw_attributes(rng, channel)
    customer = _draw_customers(rng, arrival.size, site_tag)
    phase = _phase_codes(config, arrival, cases.region)
    revised = phase >= 1
    routing = _draw_routing(rng, cases, revised)
    d = _draw_durations(rng, channel, cases.category, revised)
    seg_team, seg_wait, d_handle = _segments(routing, d)
    return _Plan(
        arrival=arrival.tolist(),
        channel=channel.tolist(),
        region=cases.region.tolist(),
        category=cases.category.tolist(),
        emotion=cases.emotion.tolist(),
        priority=cases.priority.tolist(),
        customer=customer,
        phase=phase.tolist(),
        revised=revised.tolist(),
        escalate=routing.escalate.tolist(),
        ping_pong=routing.ping_pong.tolist(),
        seg_team=seg_team,
        seg_wait=seg_wait,
        skip1=routing.skip[:, 0].tolist(),
        skip2=routing.skip[:, 1].tolist(),
        reopen=routing.reopen.tolist(),
        d_record=d.record.tolist(),
        d_classify=d.classify.tolist(),
        d_handle=d_handle,
        d_reopen_handle=d.reopen_handle.tolist(),
        d_callback=d.callback.tolist(),
        d_reply=d.reply.tolist(),
        d_archive=d.archive.tolist(),
        d_reopen=d.reopen.tolist(),
        callback_delay=d.callback_delay.tolist(),
        gaps=d.gaps.tolist(),
        sat_noise=d.sat_noise.tolist(),
    )
