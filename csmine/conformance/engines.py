"""The SOP's workflow net and the two alignment engines that align ticket variants with it.

``csmine`` is :func:`csmine.conformance.alignments.align_variants` (exact, the
default); ``pm4py`` is pm4py's state-equation A* in one process (same costs,
slower). Both give :class:`Aligned` results whose moves the classifier
(:mod:`csmine.conformance.classify`) reads.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, NamedTuple, Protocol

from csmine.errors import ConformanceError

if TYPE_CHECKING:
    from pm4py.objects.petri_net.obj import Marking, PetriNet

    from process_models import SOP
    from process_models.workflow_net import WorkflowNet

    from csmine.conformance.alignments import Method

__all__ = ["Aligned", "Engine", "MoveLike", "align_with", "alignment_net", "resolve_engine", "sop_net"]

Engine = Literal["auto", "csmine", "pm4py"]

_NETS: OrderedDict[str, tuple[WorkflowNet, Marking, Marking]] = OrderedDict()


def alignment_net(sop: SOP) -> tuple[WorkflowNet, Marking, Marking]:
    """The SOP's workflow net for csmine's engines, built once per SOP content in this process.

    The net of :func:`process_models.workflow_net.flow_to_workflow_net`: the same net
    as ``sop.to_petri_net()`` (pm4py's converter) without importing pm4py, which costs
    about two seconds of CPU; the pm4py paths convert it (``pm4py_engine.as_pm4py``).
    Keeping one per SOP fingerprint lets the alignment caches work across calls.
    """
    from process_models.workflow_net import flow_to_workflow_net

    key = sop.fingerprint
    net = _NETS.get(key)
    if net is None:
        net = flow_to_workflow_net(sop.flow)
        _NETS[key] = net
        while len(_NETS) > 32:
            _NETS.popitem(last=False)
    return net


def sop_net(sop: SOP) -> tuple[PetriNet, Marking, Marking]:
    """The SOP's workflow net as pm4py objects (imports pm4py): :func:`alignment_net` converted,
    with the same place and transition names (so the alignment caches of both agree)."""
    from csmine.conformance.pm4py_engine import as_pm4py

    return as_pm4py(*alignment_net(sop))


class _Move(NamedTuple):
    """A move as pm4py's engine yields it (:class:`csmine.conformance.moves.Move` has the same fields)."""

    kind: str  # sync / log / model / tau
    activity: str | None


class MoveLike(Protocol):
    """What the classifier reads of a move: its kind and activity (or step label)."""

    @property
    def kind(self) -> str: ...

    @property
    def activity(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Aligned:
    """One variant's alignment, from either engine."""

    cost: int
    fitness: float
    moves: Sequence[MoveLike]
    enabled: tuple[str, ...] = ()  # prefix alignments: steps allowed next
    required: tuple[str, ...] = ()  # ... of which every way to the end needs


def resolve_engine(engine: Engine) -> str:
    """``"csmine"`` or ``"pm4py"`` for an ``engine`` option (``auto``: csmine when importable)."""
    if engine == "pm4py":
        return "pm4py"
    if engine not in ("auto", "csmine"):
        raise ConformanceError(f"unknown alignment engine {engine!r} (use 'auto', 'csmine' or 'pm4py')")
    try:
        from csmine.conformance import alignments  # noqa: F401
    except ImportError:
        if engine == "csmine":
            raise
        return "pm4py"
    return "csmine"


def align_with(
    engine: str,
    net: tuple[PetriNet, Marking, Marking],
    variants: list[tuple[str, ...]],
    *,
    prefix: bool = False,
) -> list[Aligned]:
    """Alignments of ``variants`` with ``net`` by the resolved ``engine`` (prefix: open tickets)."""
    if engine == "csmine" or prefix:
        from csmine.conformance.alignments import align_variants

        # pm4py has no prefix alignment: its engine aligns prefixes against
        # csmine.conformance.pm4py_engine.prefix_net (the net with every place drainable)
        method: Method = "pm4py" if engine == "pm4py" else "auto"
        return [
            Aligned(a.cost, a.fitness, a.moves, a.enabled, a.required)
            for a in align_variants(*net, variants, prefix=prefix, method=method)
        ]
    return _align_pm4py(net, variants)


def _align_pm4py(
    net: tuple[PetriNet, Marking, Marking], variants: list[tuple[str, ...]]
) -> list[Aligned]:
    """pm4py's state-equation A* (one process: never pm4py's multiprocessing)."""
    from pm4py.algo.conformance.alignments.petri_net import algorithm as pm_align
    from pm4py.objects.log.obj import Event, EventLog, Trace

    from csmine.conformance.pm4py_engine import as_pm4py

    log = EventLog([Trace([Event({"concept:name": a}) for a in v]) for v in variants])
    results = pm_align.apply(
        log,
        *as_pm4py(*net),
        parameters={pm_align.Parameters.SHOW_PROGRESS_BAR: False},
        variant=pm_align.Variants.VERSION_STATE_EQUATION_A_STAR,
    )
    out = []
    for v, res in zip(variants, results, strict=True):
        if res is None:
            raise ConformanceError(f"pm4py found no alignment for the variant {v!r}")
        moves: list[_Move] = []
        for log_label, model_label in res["alignment"]:
            if log_label == ">>":
                moves.append(_Move("tau", None) if model_label is None else _Move("model", model_label))
            elif model_label == ">>":
                moves.append(_Move("log", log_label))
            else:
                moves.append(_Move("sync", log_label))
        out.append(Aligned(int(res["cost"]), float(res["fitness"]), tuple(moves)))
    return out
