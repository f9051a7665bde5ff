"""The discrete-event engine: agents on rostered shifts work the queues of the simulated centre."""

from __future__ import annotations

import heapq
from bisect import bisect_left
from collections import deque

from csmine.errors import SimulationError
from csmine.simulation.config import SimulationConfig
from csmine.simulation.parameters import (
    ARCHIVE, CALLBACK, _CHAT, CLASSIFY, ESCALATE, _FIRST_RESPONSE_LIMIT_S, _FL, HANDLE, _KB_DOWN_FACTOR,
    _PHONE, RECEIVE, RECORD, REGIONS, REOPEN, _SAT_BASE, _SAT_EMOTION, _SAT_LATE, _SAT_PING_PONG,
    _SAT_REOPEN_AT_CALLBACK, _SAT_REVISED_BONUS, _SAT_SECOND_ROUND, _SAT_SLOW, _SP,
    _SPECIALIST_ROUTING_HOUR, WAIT,
)
from csmine.simulation.plans import _Calendar, _Plan
from csmine.simulation.rosters import _Agent


# ---------------------------------------------------------------------------
# The discrete-event engine
# ---------------------------------------------------------------------------

_K_INTAKE, _K_HANDLE, _K_CALLBACK = range(3)
_EV_READY, _EV_FREE, _EV_SHIFT = range(3)
_BIG = 1.0e8  # separates queue classes in a single float key

# A row: (activity code, occurred minutes, started minutes or None, agent index or -1,
# team code, satisfaction or None)
_Row = tuple[int, float, float | None, int, int, int | None]


class _Centre:
    """The service centre: pools of agents, queues, tickets in flight."""

    def __init__(
        self,
        config: SimulationConfig,
        plan: _Plan,
        cal: _Calendar,
        agents: list[_Agent],
    ) -> None:
        self.plan = plan
        self.agents = agents
        self.heap: list[tuple[float, int, int, int]] = []
        self.seq = 0
        self.queues: list[list[tuple[float, int, int]]] = [[] for _ in range(6)]
        self.idle: list[deque[int]] = [deque() for _ in range(6)]
        n = len(plan.arrival)
        self.rows: list[list[_Row]] = [[] for _ in range(n)]
        self.seg = [0] * n
        self.reopened = [False] * n
        self.callbacks = [0] * n
        self.first_response = [0.0] * n
        wk = 7 * 1440.0
        self.pilot_start = config.baseline_weeks * wk
        self.rollout_start = self.pilot_start + config.pilot_weeks * wk
        self.pilot_pool = REGIONS.index(config.pilot_region)
        self.routing = [
            cal.at(d, _SPECIALIST_ROUTING_HOUR)
            for d in range(len(cal.midnights) - 1)
            if cal.weekday(d) < 5
        ]
        kb = (config.knowledge_base_down - cal.first_date).days
        self.kb_window = (
            (cal.at(kb, 0.0), cal.at(kb + 1, 0.0))
            if 0 <= kb < len(cal.midnights) - 1
            else (0.0, 0.0)
        )
        for idx, a in enumerate(agents):
            for s in a.starts:
                self._push(s, _EV_SHIFT, idx)
        # planted weekday queue: first-line work factor per local day (None: no cause)
        self.midnights = cal.midnights.tolist()
        self.fl_factor: list[float] | None = None
        for cause in config.causes:
            if cause.kind == "weekday-queue":
                if self.fl_factor is None:
                    self.fl_factor = [1.0] * len(self.midnights)
                for d in range(len(self.midnights) - 1):
                    if cal.weekday(d) == cause.weekday:
                        self.fl_factor[d] *= cause.strength

    def _fl_work(self, t: float) -> float:
        """The planted factor on first-line work started at ``t`` (1.0 without one)."""
        if self.fl_factor is None:
            return 1.0
        d = bisect_left(self.midnights, t + 1e-9) - 1
        return self.fl_factor[d] if 0 <= d < len(self.fl_factor) else 1.0

    # -- plumbing --------------------------------------------------------
    def _push(self, t: float, kind: int, payload: int) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (t, self.seq, kind, payload))

    def _revised_at(self, pool: int, t: float) -> bool:
        return t >= self.rollout_start or (
            pool == self.pilot_pool and t >= self.pilot_start
        )

    def _ready(self, pool: int, t: float, ticket: int, kind: int) -> None:
        self._push(t, _EV_READY, (ticket * 4 + kind) * 8 + pool)

    def _enqueue(self, pool: int, t: float, ticket: int, kind: int) -> None:
        plan = self.plan
        if pool < 4:
            if kind == _K_INTAKE and (
                plan.channel[ticket] == _PHONE or self._revised_at(pool, t)
            ):
                cls = 0  # live calls always; every new ticket under the revised SOP
            else:
                cls = 1
        else:
            cls = 0 if plan.priority[ticket] == 0 else 1
        self.seq += 1
        heapq.heappush(self.queues[pool], (cls * _BIG + t, self.seq, ticket * 4 + kind))

    def _in_shift(self, a: _Agent, t: float) -> bool:
        ends = a.ends
        p = a.ptr
        while p < len(ends) and ends[p] <= t:
            p += 1
        a.ptr = p
        return p < len(ends) and a.starts[p] <= t

    def _dispatch(self, pool: int, t: float) -> None:
        queue, idle, agents = self.queues[pool], self.idle[pool], self.agents
        while queue and idle:
            idx = idle.popleft()
            a = agents[idx]
            a.idle = False
            if not self._in_shift(a, t):
                continue
            _, _, code = heapq.heappop(queue)
            end = self._execute(idx, code >> 2, code & 3, t)
            a.busy = True
            self._push(end, _EV_FREE, idx)

    def run(self) -> None:
        plan = self.plan
        arrival = plan.arrival
        n = len(arrival)
        heap = self.heap
        i = 0
        while i < n or heap:
            if i < n and (not heap or arrival[i] <= heap[0][0]):
                t = arrival[i]
                pool = plan.region[i]
                self.rows[i].append((RECEIVE, t, None, -1, _FL, None))
                self._enqueue(pool, t, i, _K_INTAKE)
                self._dispatch(pool, t)
                i += 1
                continue
            t, _, kind, payload = heapq.heappop(heap)
            if kind == _EV_READY:
                pool = payload & 7
                code = payload >> 3
                self._enqueue(pool, t, code >> 2, code & 3)
                self._dispatch(pool, t)
                continue
            a = self.agents[payload]
            if kind == _EV_FREE:
                a.busy = False
            if not a.busy and not a.idle and self._in_shift(a, t):
                a.idle = True
                self.idle[a.pool].append(payload)
                self._dispatch(a.pool, t)
        if any(self.queues):
            waiting = sum(len(q) for q in self.queues)
            raise SimulationError(
                f"{waiting} tasks still queued when the rosters ended: staffing is "
                "too low for this many tickets (raise staff_scale)"
            )

    # -- the ticket flow -------------------------------------------------
    def _execute(self, agent: int, i: int, kind: int, t: float) -> float:
        """Do one task for ticket ``i`` from ``t``; return when the agent is free."""
        plan, rows = self.plan, self.rows[i]
        if kind == _K_INTAKE:
            f = self._fl_work(t) if self.fl_factor is not None else 1.0
            t1 = t + plan.d_record[i] * f
            rows.append((RECORD, t1, t, agent, _FL, None))
            self.first_response[i] = t1 - plan.arrival[i]
            if plan.skip_classify is not None and plan.skip_classify[i]:
                t2 = t1  # planted: Classify skipped
            else:
                t2 = t1 + plan.d_classify[i] * f
                rows.append((CLASSIFY, t2, t1, agent, _FL, None))
            esc = plan.escalate[i]
            if esc >= 0:
                te = t2 + plan.gaps[i][0]
                rows.append((ESCALATE, te, None, agent, _FL, None))
                if esc == _SP:
                    self._ready(
                        4, self.routing[bisect_left(self.routing, te)], i, _K_HANDLE
                    )
                else:
                    self._ready(5, te, i, _K_HANDLE)
                return t2
            ch = plan.channel[i]
            if ch == _PHONE or (
                ch == _CHAT and not self._revised_at(plan.region[i], t)
            ):
                return self._handle(agent, i, t2 + plan.gaps[i][0], _FL)
            self._ready(plan.region[i], t2, i, _K_HANDLE)
            return t2
        if kind == _K_HANDLE:
            return self._handle(agent, i, t, self.agents[agent].team)
        return self._callback(agent, i, t)

    def _handle(self, agent: int, i: int, t: float, team: int) -> float:
        plan, rows = self.plan, self.rows[i]
        j = self.seg[i]
        self.seg[i] = j + 1
        teams = plan.seg_team[i]
        d = plan.d_handle[i][j] if j < len(teams) else plan.d_reopen_handle[i]
        if self.kb_window[0] <= t < self.kb_window[1]:
            d *= _KB_DOWN_FACTOR
        if self.fl_factor is not None and team == _FL:
            d *= self._fl_work(t)
        end = t + d
        rows.append((HANDLE, end, t, agent, team, None))
        if j < len(teams) and plan.seg_wait[i][j]:
            tw = end + plan.gaps[i][1]
            rows.append((WAIT, tw, None, agent, team, None))
            k = sum(plan.seg_wait[i][:j])
            self._ready(
                self._pool_of(i, teams[j + 1]), tw + plan.d_reply[i][k], i, _K_HANDLE
            )
        elif j + 1 < len(teams):
            self._ready(
                self._pool_of(i, teams[j + 1]), end + plan.gaps[i][2], i, _K_HANDLE
            )
        else:
            self._resolved(agent, i, end, team)
        return end

    def _pool_of(self, i: int, team: int) -> int:
        return self.plan.region[i] if team == _FL else (4 if team == _SP else 5)

    def _resolved(self, agent: int, i: int, t: float, team: int) -> None:
        plan = self.plan
        rnd = 1 if self.reopened[i] else 0
        # a ticket closed once without a callback is closed so again after a reopen
        skip = plan.skip1[i] or (rnd == 1 and plan.skip2[i])
        if skip:
            self._archive(agent, i, t + plan.d_archive[i][rnd], team)
        else:
            self._ready(plan.region[i], t + plan.callback_delay[i][rnd], i, _K_CALLBACK)

    def _archive(self, agent: int, i: int, t: float, team: int) -> None:
        plan, rows = self.plan, self.rows[i]
        rows.append((ARCHIVE, t, None, agent, team, None))
        if plan.reopen[i] and not self.reopened[i]:
            self.reopened[i] = True
            tr = t + plan.d_reopen[i]
            rows.append((REOPEN, tr, None, -1, _FL, None))
            self._ready(plan.region[i], tr, i, _K_HANDLE)

    def _callback(self, agent: int, i: int, t: float) -> float:
        plan, rows = self.plan, self.rows[i]
        rnd = self.callbacks[i]
        self.callbacks[i] = rnd + 1
        end = t + plan.d_callback[i][rnd] * (self._fl_work(t) if self.fl_factor is not None else 1.0)
        reopen_now = plan.reopen[i] == 1 and not self.reopened[i]
        rows.append(
            (CALLBACK, end, t, agent, _FL, self._satisfaction(i, end, rnd, reopen_now))
        )
        if reopen_now:
            self.reopened[i] = True
            tr = end + plan.gaps[i][3]
            rows.append((REOPEN, tr, None, agent, _FL, None))
            self._ready(plan.region[i], tr, i, _K_HANDLE)
        else:
            self._archive(agent, i, end + plan.d_archive[i][rnd], _FL)
        return end

    def _satisfaction(self, i: int, t: float, rnd: int, reopen_now: bool) -> int:
        plan = self.plan
        s = _SAT_BASE + (_SAT_REVISED_BONUS if plan.revised[i] else 0.0)
        if self.first_response[i] > _FIRST_RESPONSE_LIMIT_S / 60.0:
            s -= _SAT_LATE
        s -= _SAT_EMOTION[plan.emotion[i]]
        if plan.ping_pong[i]:
            s -= _SAT_PING_PONG
        if t - plan.arrival[i] > 48 * 60.0:
            s -= _SAT_SLOW
        if reopen_now:
            s -= _SAT_REOPEN_AT_CALLBACK
        if rnd:
            s -= _SAT_SECOND_ROUND
        s += plan.sat_noise[i][rnd]
        return int(min(100.0, max(0.0, round(s))))
