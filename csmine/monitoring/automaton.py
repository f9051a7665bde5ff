"""The SOP's workflow net as an automaton over sets of markings: the online conformance check.

A ticket's prefix is tracked as the set of markings of the SOP's workflow net it
can be in (silent transitions closed). A recorded step is *allowed* when a
transition with its name is enabled in one of them. Otherwise the automaton looks
for the fewest steps the model would have to do first (a breadth-first search over
the reachability graph): if there are such steps they were **skipped**; if the step
cannot occur any more it is **out of order** (first time) or **repeated** (done
before in this ticket: rework); steps that are not in the SOP's flow are **extra**.
After a step that is out of order or repeated, the automaton keeps both readings
(the step was a stray one, or the ticket went back to it), so one deviation raises
one alert, not a cascade. The net is explored lazily and outcomes are cached per
(prefix state, step): each distinct prefix state is analysed once.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from csmine.errors import ReplayError

if TYPE_CHECKING:
    from process_models import SOP

#: Reachable markings explored per SOP net before giving up (unbounded nets).
MAX_MARKINGS = 50_000


@dataclass(frozen=True, slots=True)
class StepOutcome:
    """What the conformance monitor makes of one step after a prefix.

    Attributes:
        state: the prefix state after the step (an interned set of markings).
        kind: ``ok``, ``skipped``, ``out_of_order``, ``repeated`` or ``extra``.
        skipped: steps the model had to do first (for ``skipped``), in order.
    """

    state: int
    kind: str
    skipped: tuple[str, ...] = ()


class SopAutomaton:
    """The SOP's workflow net explored lazily, with per-(state, step) outcomes cached.

    A *state* is the set of markings a ticket's prefix can have reached (closed
    under silent transitions), interned as an int. :meth:`advance` gives the
    outcome of recording a step in a state.
    """

    def __init__(self, sop: SOP, *, max_markings: int = MAX_MARKINGS) -> None:
        net, im, fm = sop.to_petri_net()
        places = sorted(net.places, key=lambda p: p.name)
        index = {p: i for i, p in enumerate(places)}
        self.sop = sop
        self.max_markings = max_markings
        self.flow_steps = frozenset(sop.flow_steps)
        trans = []
        for t in net.transitions:
            pre = tuple(sorted((index[a.source], int(a.weight)) for a in t.in_arcs))
            post = tuple(sorted((index[a.target], int(a.weight)) for a in t.out_arcs))
            trans.append((t.label or "", t.label is None, pre, post))
        trans.sort(key=lambda x: (x[1], x[0], x[2], x[3]))
        self._trans = [(None if silent else label, pre, post) for label, silent, pre, post in trans]
        self._n = len(places)
        self._markings: dict[tuple[int, ...], int] = {}
        self._marking_list: list[tuple[int, ...]] = []
        self._succ: dict[int, list[tuple[str | None, int]]] = {}
        self._closure: dict[int, frozenset[int]] = {}
        self._states: dict[frozenset[int], int] = {}
        self._state_list: list[frozenset[int]] = []
        self._cache: dict[tuple[int, str], StepOutcome] = {}
        self._jump: dict[str, frozenset[int]] = {}
        start = [0] * self._n
        for p, c in im.items():
            start[index[p]] += int(c)
        final = [0] * self._n
        for p, c in fm.items():
            final[index[p]] += int(c)
        self.final_marking = self._marking(tuple(final))
        self.initial = self._state(self._close({self._marking(tuple(start))}))

    # -- markings ----------------------------------------------------------------

    def _marking(self, m: tuple[int, ...]) -> int:
        mid = self._markings.get(m)
        if mid is None:
            if len(self._marking_list) >= self.max_markings:
                raise ReplayError(
                    f"SOP '{self.sop.id}': its net has more than {self.max_markings} reachable markings "
                    "(unbounded or very wide parallel blocks); simplify the flow to replay against it"
                )
            mid = len(self._marking_list)
            self._markings[m] = mid
            self._marking_list.append(m)
        return mid

    def _successors(self, mid: int) -> list[tuple[str | None, int]]:
        out = self._succ.get(mid)
        if out is None:
            m = self._marking_list[mid]
            out = []
            for label, pre, post in self._trans:
                if all(m[p] >= w for p, w in pre):
                    nxt = list(m)
                    for p, w in pre:
                        nxt[p] -= w
                    for p, w in post:
                        nxt[p] += w
                    out.append((label, self._marking(tuple(nxt))))
            self._succ[mid] = out
        return out

    def _close(self, mids: Iterable[int]) -> frozenset[int]:
        result: set[int] = set()
        for mid in mids:
            closed = self._closure.get(mid)
            if closed is None:
                seen = {mid}
                queue = deque([mid])
                while queue:
                    cur = queue.popleft()
                    for label, nxt in self._successors(cur):
                        if label is None and nxt not in seen:
                            seen.add(nxt)
                            queue.append(nxt)
                closed = frozenset(seen)
                self._closure[mid] = closed
            result |= closed
        return frozenset(result)

    def _state(self, markings: frozenset[int]) -> int:
        sid = self._states.get(markings)
        if sid is None:
            sid = len(self._state_list)
            self._states[markings] = sid
            self._state_list.append(markings)
        return sid

    def _fire(self, markings: Iterable[int], step: str) -> frozenset[int]:
        return self._close(nxt for mid in markings for label, nxt in self._successors(mid) if label == step)

    def is_complete(self, state: int) -> bool:
        """Whether the prefix can be a complete run (the final marking is reached)."""
        return self.final_marking in self._state_list[state]

    def _shortest_skip(self, state: int, step: str) -> tuple[tuple[str, ...], frozenset[int]] | None:
        """Fewest visible model moves after which ``step`` is enabled (lexicographically
        smallest sequence of skipped steps among them), and the markings reached."""
        start = self._state_list[state]
        paths: dict[int, tuple[str, ...]] = dict.fromkeys(start, ())
        frontier = sorted(start)
        while frontier:
            hits = [m for m in frontier if any(label == step for label, _ in self._successors(m))]
            if hits:
                best = min(paths[m] for m in hits)
                chosen = [m for m in hits if paths[m] == best]
                return best, self._fire(chosen, step)
            layer: dict[int, tuple[str, ...]] = {}
            for mid in frontier:
                base = paths[mid]
                for label, nxt in self._successors(mid):
                    if label is None:
                        continue
                    for reached in self._close([nxt]):
                        if reached in paths:
                            continue
                        path = (*base, label)
                        if reached not in layer or path < layer[reached]:
                            layer[reached] = path
            paths.update(layer)
            frontier = sorted(layer, key=lambda m: layer[m])
        return None

    def _jump_target(self, step: str) -> frozenset[int]:
        """Every marking right after ``step`` anywhere in the net (for rework)."""
        cached = self._jump.get(step)
        if cached is None:
            seen = set(self._state_list[self.initial])
            queue = deque(sorted(seen))
            while queue:
                cur = queue.popleft()
                for _label, nxt in self._successors(cur):
                    if nxt not in seen:
                        seen.add(nxt)
                        queue.append(nxt)
            cached = self._fire(seen, step)
            self._jump[step] = cached
        return cached

    def advance(self, state: int, step: str, *, seen_before: bool) -> StepOutcome:
        """The outcome of recording ``step`` after a prefix in ``state``.

        Args:
            state: the prefix state.
            step: the SOP step recorded (a flow step; other names are ``extra``).
            seen_before: the ticket has recorded this step before (decides between
                ``repeated`` and ``out_of_order`` when the step cannot occur now).
        """
        if step not in self.flow_steps:
            return StepOutcome(state, "extra")
        key = (state, step)
        out = self._cache.get(key)
        if out is None:
            out = self._advance(state, step)
            self._cache[key] = out
        if out.kind in ("out_of_order", "repeated"):
            kind = "repeated" if seen_before else "out_of_order"
            if kind != out.kind:
                out = StepOutcome(out.state, kind)
        return out

    def _advance(self, state: int, step: str) -> StepOutcome:
        markings = self._state_list[state]
        fired = self._fire(markings, step)
        if fired:
            return StepOutcome(self._state(fired), "ok")
        skip = self._shortest_skip(state, step)
        if skip is not None:
            labels, reached = skip
            return StepOutcome(self._state(reached), "skipped", labels)
        # Cannot occur any more: keep both readings (stray step, or back to it).
        return StepOutcome(self._state(markings | self._jump_target(step)), "out_of_order")


__all__ = [
    "MAX_MARKINGS",
    "SopAutomaton",
    "StepOutcome",
]
