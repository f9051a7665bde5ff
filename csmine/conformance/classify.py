"""Deviation classification: a variant's alignment moves read as skipped, extra, out of order,
repeated or wrong branch (see :mod:`csmine.conformance.deviations` for the rules in words).

Each variant is aligned (:mod:`csmine.conformance.engines`) and classified once per SOP
content in this process: :func:`classify_variants` keeps the results in a bounded cache.
For an open ticket (a prefix alignment) a step the SOP still expects next that the ticket
did early is out of order, and the steps allowed next are its *pending* steps.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from csmine.conformance.engines import MoveLike, align_with, alignment_net

if TYPE_CHECKING:
    from process_models import SOP

    from csmine.conformance.results import StepStatus

__all__ = [
    "ClassifiedMove",
    "ClassifiedVariant",
    "classify_moves",
    "classify_variants",
    "describe",
]

#: Variants whose alignment and classification are kept per process (oldest dropped).
_CACHE_SIZE = 50_000


class ClassifiedMove(NamedTuple):
    """A non-silent move of a variant's alignment, classified."""

    move: str  # sync / log / model
    label: str
    position: int  # event position (log/sync) or next event position (model)
    deviation: str | None
    related: str | None  # the other step of a wrong-branch pair
    late: bool | None  # out of order: the event came after where the SOP wanted it
    counted: bool  # a deviation row (paired model moves are not counted again)


class ClassifiedVariant(NamedTuple):
    """A variant's alignment cost and fitness, its classified moves and (open) next steps."""

    cost: int
    fitness: float
    items: list[ClassifiedMove]
    pending: tuple[str, ...] = ()  # open variants: steps allowed next, in SOP order
    required: frozenset[str] = frozenset()  # ... of which every way to the end needs


_CLASSIFIED: OrderedDict[Hashable, ClassifiedVariant] = OrderedDict()


def classify_variants(sop: SOP, engine: str, variants: list[tuple[str, ...]], *,
                      prefix: bool = False) -> list[ClassifiedVariant]:
    """Alignment cost, fitness and classified moves per variant, cached per SOP content.

    With ``prefix`` the variants are open tickets' prefixes (prefix alignments, and
    the steps the SOP allows next as ``pending``).
    """
    key = (sop.fingerprint, engine, "prefix") if prefix else (sop.fingerprint, engine)
    out: list[ClassifiedVariant | None] = [_CLASSIFIED.get((*key, v)) for v in variants]
    todo = [i for i, r in enumerate(out) if r is None]
    if todo:
        flow_steps = frozenset(sop.flow_steps)
        partners = _xor_partners(sop)
        order = {step: i for i, step in enumerate(sop.flow_steps)}
        aligned = align_with(engine, alignment_net(sop), [variants[i] for i in todo], prefix=prefix)
        for i, a in zip(todo, aligned, strict=True):
            pending = tuple(sorted(a.enabled, key=lambda x: (order.get(x, len(order)), x)))
            items = classify_moves(a.moves, flow_steps, partners, frozenset(pending))
            result = ClassifiedVariant(a.cost, a.fitness, items, pending, frozenset(a.required))
            _CLASSIFIED[(*key, variants[i])] = result
            while len(_CLASSIFIED) > _CACHE_SIZE:
                _CLASSIFIED.popitem(last=False)
            out[i] = result
    return [r for r in out if r is not None]


def _xor_partners(sop: SOP) -> dict[str, frozenset[str]]:
    """Step X -> steps Y in another branch of an exclusive choice that has X in one branch."""
    from process_models import FlowNode
    from process_models.model import iter_flow_steps

    pairs: set[tuple[str, str]] = set()

    def walk(node: Any) -> None:
        if not isinstance(node, FlowNode):
            return
        if node.operator == "xor":
            branches = [frozenset(iter_flow_steps(c)) for c in node.children]
            for i, bi in enumerate(branches):
                for j, bj in enumerate(branches):
                    if i == j:
                        continue
                    for x in bi - bj:
                        for y in bj - bi:
                            pairs.add((x, y))
        for child in node.children:
            walk(child)

    walk(sop.flow)
    partners: dict[str, set[str]] = {}
    for x, y in pairs:
        partners.setdefault(x, set()).add(y)
    return {x: frozenset(ys) for x, ys in partners.items()}


_Verdict = tuple[str, str | None, bool | None]  # (kind, related step, late)


class _Pairing:
    """Pairs log moves with model moves of the same alignment (out of order, wrong branch)."""

    def __init__(self, raw: list[tuple[str, str, int]]) -> None:
        self.raw = raw
        self.model_idx = [i for i, (k, _, _) in enumerate(raw) if k == "model"]
        self.paired: dict[int, _Verdict] = {}

    def nearest(self, i: int, accept: frozenset[str]) -> int | None:
        """The unpaired model move closest to move i whose step is in ``accept``."""
        best: int | None = None
        for j in self.model_idx:
            if j in self.paired or self.raw[j][1] not in accept:
                continue
            if best is None or abs(j - i) < abs(best - i):
                best = j
        return best

    def log_move(
        self, i: int, label: str, flow_steps: frozenset[str],
        xor_partners: dict[str, frozenset[str]], pending: frozenset[str], seen: set[str],
    ) -> _Verdict:
        """The deviation of log move ``i`` (pairing a model move when one explains it)."""
        if label not in flow_steps:
            return "extra", None, None
        j = self.nearest(i, frozenset((label,)))
        if j is not None:
            self.paired[j] = ("out_of_order", None, j < i)
            return "out_of_order", None, j < i
        if label in seen:
            return "repeated", None, None
        if label in pending:
            # an open ticket did a step the SOP still expects next: done early
            return "out_of_order", None, False
        j = self.nearest(i, xor_partners.get(label, frozenset()))
        if j is not None:
            self.paired[j] = ("wrong_branch", label, None)
            return "wrong_branch", self.raw[j][1], None
        return "extra", None, None


def classify_moves(
    moves: Sequence[MoveLike], flow_steps: frozenset[str], xor_partners: dict[str, frozenset[str]],
    pending: frozenset[str] = frozenset(),
) -> list[ClassifiedMove]:
    """The non-silent moves of one alignment, each with its deviation kind (None: conforms)."""
    raw: list[tuple[str, str, int]] = []
    pos = 0
    for kind, label in _later_log_moves(moves):
        if kind == "tau" or label is None:
            continue
        raw.append((kind, label, pos))
        if kind != "model":
            pos += 1
    pairing = _Pairing(raw)
    items: list[ClassifiedMove | None] = [None] * len(raw)
    seen: set[str] = set()
    for i, (kind, label, p) in enumerate(raw):
        if kind == "model":
            continue
        if kind == "sync":
            items[i] = ClassifiedMove("sync", label, p, None, None, None, False)
        else:
            dev, related, late = pairing.log_move(i, label, flow_steps, xor_partners, pending, seen)
            items[i] = ClassifiedMove("log", label, p, dev, related, late, True)
        seen.add(label)
    for j in pairing.model_idx:
        label, p = raw[j][1], raw[j][2]
        if j in pairing.paired:
            dev, related, late = pairing.paired[j]
            items[j] = ClassifiedMove("model", label, p, dev, related, late, False)
        else:
            items[j] = ClassifiedMove("model", label, p, "skipped", None, None, True)
    return [it for it in items if it is not None]


def _later_log_moves(moves: Sequence[MoveLike]) -> list[tuple[str, str | None]]:
    """The same alignment with each repeated event's *later* occurrence as the log move.

    When a log move of X is followed (with only log moves in between) by a
    synchronous X, the two can swap: the model fires X at the same marking and the
    trace is unchanged, so the cost is the same. Optimal alignments may put the log
    move on either occurrence; the audit reading is that the later one is the extra.
    """
    out = [(m.kind, m.activity) for m in moves]
    n = len(out)
    j = 0  # the first move after i that is not a log move: it only moves forward (one pass)
    for i in range(n):
        if out[i][0] != "log":
            continue
        j = max(j, i + 1)
        while j < n and out[j][0] == "log":
            j += 1
        if j < n and out[j][0] == "sync" and out[j][1] == out[i][1]:
            out[i], out[j] = out[j], out[i]
    return out


def describe(item: ClassifiedMove, status: StepStatus) -> str:
    """The move in words, e.g. ``"Callback skipped"`` (``status``: the step's, see ``StepConformance``)."""
    x = item.label
    if item.move == "sync":
        return f"{x} as the SOP expects"
    dev = item.deviation
    if dev == "skipped":
        return f"{x} skipped"
    if dev == "extra":
        if status == "unknown":
            return f"extra step {x!r}: not in the SOP"
        if status == "off_flow":
            return f"extra step {x}: off the SOP flow"
        return f"extra step {x}: not allowed at this point"
    if dev == "out_of_order":
        if item.move == "model":
            return f"{x} expected here, done {'earlier' if item.late else 'later'}"
        return f"{x} out of order: done {'later' if item.late else 'earlier'} than the SOP puts it"
    if dev == "repeated":
        return f"{x} repeated"
    if dev == "wrong_branch":
        if item.move == "model":
            return f"{x} expected here, branch {item.related} taken instead"
        return f"wrong branch: {x} instead of {item.related}"
    return x
