"""The SOP model: frozen dataclasses for steps, time limits, targets, and durations.

An :class:`SOP` is the designed process a service team should follow. Its flow is a
process tree (sequence, exclusive choice, parallel, loop) over step names (see
:mod:`process_models.flow`); each step has an English name (the activity name used
in event logs), a Chinese label, the role responsible for it and optionally a time
limit. ``roles`` tells the KPI code which steps play which part (first response,
resolution, ...); ``aliases`` map a source system's activity names onto the steps.

Imports point one way, ``model`` → ``petri`` → ``flow``: :meth:`SOP.to_petri_net`
and :meth:`SOP.to_process_tree` are kept as methods because csmine's conformance,
replay and the benchmarks call them on an SOP; they only delegate to
:mod:`process_models.petri`, which knows the flow and nothing of the SOP.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from process_models.errors import ModelFormatError, UnknownStepError
from process_models.flow import Flow, flow_to_list, flow_to_text, iter_flow_steps
from process_models.petri import flow_to_petri_net, flow_to_process_tree

if TYPE_CHECKING:
    from pm4py.objects.petri_net.obj import Marking, PetriNet
    from pm4py.objects.process_tree.obj import ProcessTree

#: KPI roles the rest of csmine knows about.
KPI_ROLES = (
    "first_response",
    "resolution",
    "callback",
    "reopen",
    "close",
    "waiting",
    "escalation",
)

#: ``since`` value of a limit whose clock starts when the ticket is opened.
OPENED = "opened"


@dataclass(frozen=True, slots=True)
class TimeLimit:
    """How soon a step must happen.

    Attributes:
        step: The step the limit applies to.
        within: Allowed time from the start event to the step.
        since: ``"opened"`` (the clock starts when the ticket is opened) or the name of
            an earlier step (the clock starts at its most recent occurrence before
            ``step``).
        business_hours: Count only business hours (the calendar is chosen by the
            analysis); ``False`` counts wall-clock time.
    """

    step: str
    within: timedelta
    since: str = OPENED
    business_hours: bool = False

    def describe(self) -> str:
        """Short English description, e.g. ``"≤ 30 min after opened"``."""
        clock = " (business hours)" if self.business_hours else ""
        return f"≤ {format_duration(self.within)} after {self.since}{clock}"


@dataclass(frozen=True, slots=True)
class Step:
    """One step of an SOP.

    Attributes:
        name: English name; the activity name recorded in event logs.
        label_zh: Chinese label shown next to the English name.
        role: Who is responsible (agent, specialist, supervisor, system, ...).
        limit: The step's time limit, if it has one.
        description: What is done in this step.
        off_flow: The SOP names the step but does not expect it in the flow (e.g.
            ``Reopen``); mining counts it as a deviation, KPIs may still use it.
    """

    name: str
    label_zh: str
    role: str
    limit: TimeLimit | None = None
    description: str = ""
    off_flow: bool = False

    @property
    def label(self) -> str:
        """``"English / 中文"`` (just the English name without a Chinese label)."""
        return f"{self.name} / {self.label_zh}" if self.label_zh else self.name


@dataclass(frozen=True, slots=True)
class Targets:
    """Service targets the SOP is held to.

    Defaults are the service standards of the source manuals.

    Attributes:
        first_response: Longest allowed time to first response (default 30 min).
        resolution_rate: Share of tickets that must be resolved, 0.0-1.0 (default 0.98).
        satisfaction: Lowest acceptable mean satisfaction score, 0-100 (default 90).
        resolution_time: Longest allowed time from opened to resolution, if set.
        first_contact_resolution: Share of tickets resolved on first contact, 0.0-1.0.
        other: Further named targets as ``(name, value)`` pairs.
    """

    first_response: timedelta | None = timedelta(minutes=30)
    resolution_rate: float | None = 0.98
    satisfaction: float | None = 90.0
    resolution_time: timedelta | None = None
    first_contact_resolution: float | None = None
    other: tuple[tuple[str, float], ...] = ()

    def get(self, name: str) -> float | timedelta | None:
        """Return a target by name (a field or one of ``other``), or None."""
        if name in _TARGET_FIELDS:
            value: float | timedelta | None = getattr(self, name)
            return value
        return dict(self.other).get(name)


_TARGET_FIELDS = (
    "first_response",
    "resolution_rate",
    "satisfaction",
    "resolution_time",
    "first_contact_resolution",
)


@dataclass(frozen=True, slots=True)
class SOP:
    """A standard operating procedure: the designed flow and its rules.

    Attributes:
        id: Short name (``complaint``); shipped SOPs are loaded by it.
        title: English title.
        version: Version string, e.g. ``"1"`` or ``"2"``.
        steps: All steps, in document order (off-flow steps included).
        flow: The process tree over step names.
        targets: Service targets.
        roles: KPI role -> step names (see :data:`KPI_ROLES`).
        aliases: Source activity name -> step name.
        closed_when: Source activity names (or step names) that close a ticket, besides
            the steps of the ``close`` role (e.g. a ticket system's ``Closed`` status).
        languages: the languages the step names and labels are in (``("en", "zh")``
            makes a missing Chinese label a warning); empty when not declared.
        title_zh: Chinese title.
        description: Free text.
        source: Where the SOP was read from (a path); not part
            of the content or the fingerprint.
    """

    id: str
    title: str
    version: str
    steps: tuple[Step, ...]
    flow: Flow
    targets: Targets = field(default_factory=Targets)
    roles: dict[str, tuple[str, ...]] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    closed_when: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    title_zh: str = ""
    description: str = ""
    source: str | None = field(default=None, compare=False)

    def __hash__(self) -> int:
        return hash(self.fingerprint)

    # -- steps and vocabulary -------------------------------------------------

    @property
    def step_names(self) -> tuple[str, ...]:
        """Names of all steps, in document order."""
        return tuple(s.name for s in self.steps)

    @property
    def flow_steps(self) -> tuple[str, ...]:
        """Names of the steps used in the flow, in order of first appearance."""
        return tuple(dict.fromkeys(iter_flow_steps(self.flow)))

    @property
    def limits(self) -> tuple[TimeLimit, ...]:
        """Time limits of all steps that have one, in step order."""
        return tuple(s.limit for s in self.steps if s.limit is not None)

    def step(self, name: str) -> Step:
        """Return the step called ``name``.

        Raises:
            UnknownStepError: No such step in this SOP.
        """
        for s in self.steps:
            if s.name == name:
                return s
        raise UnknownStepError(
            f"SOP '{self.id}' has no step {name!r} "
            f"(its steps: {', '.join(self.step_names)})"
        )

    def label(self, step: str) -> str:
        """Display label ``"English / 中文"`` of a step."""
        return self.step(step).label

    def activity_map(self) -> dict[str, str]:
        """Source activity -> step name: each step to itself, plus the aliases.

        Use it with ``Series.map`` to translate a whole log at once.
        """
        mapping = {name: name for name in self.step_names}
        mapping.update(self.aliases)
        return mapping

    def map_activity(self, name: str) -> str | None:
        """Step name for a source activity (a step name, an alias), else None."""
        if name in self.aliases:
            return self.aliases[name]
        return name if name in self.step_names else None

    def role_steps(self, role: str) -> tuple[str, ...]:
        """Steps that play a KPI role (empty if none)."""
        return self.roles.get(role, ())

    # -- identity ---------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready content of the SOP (durations as strings)."""
        return {
            "id": self.id,
            "title": self.title,
            "title_zh": self.title_zh,
            "version": self.version,
            "description": self.description,
            "flow": flow_to_list(self.flow),
            "steps": [
                {
                    "name": s.name,
                    "label_zh": s.label_zh,
                    "role": s.role,
                    "description": s.description,
                    "off_flow": s.off_flow,
                    "limit": None
                    if s.limit is None
                    else {
                        "within": format_duration(s.limit.within),
                        "since": s.limit.since,
                        "business_hours": s.limit.business_hours,
                    },
                }
                for s in self.steps
            ],
            "targets": targets_to_dict(self.targets),
            "roles": {k: list(v) for k, v in self.roles.items()},
            "aliases": dict(self.aliases),
            # only when set, so SOPs without it keep their fingerprints
            **({"closed_when": list(self.closed_when)} if self.closed_when else {}),
            **({"languages": list(self.languages)} if self.languages else {}),
        }

    @property
    def fingerprint(self) -> str:
        """sha256 (hex) of the canonical content; equal SOPs have equal prints.

        Independent of where the SOP was read from and of the file's formatting,
        so it can key caches of conformance results.
        """
        canonical = json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    # -- pm4py views -------------------------------------------------------------

    def to_process_tree(self) -> ProcessTree:
        """The flow as a pm4py ``ProcessTree`` (leaves labelled with step names)."""
        return flow_to_process_tree(self.flow)

    def to_petri_net(self) -> tuple[PetriNet, Marking, Marking]:
        """The flow as a workflow net ``(net, initial marking, final marking)``.

        The net is derived from the process tree, so it is sound (and easy-sound):
        one source place, one sink place, visible transitions labelled with step
        names, silent transitions labelled None. Each call builds a new net.
        """
        return flow_to_petri_net(self.flow)


def targets_to_dict(targets: Targets) -> dict[str, Any]:
    """Targets as a plain dict (durations as strings, unset targets left out)."""
    out: dict[str, Any] = {}
    for name in _TARGET_FIELDS:
        value = getattr(targets, name)
        if value is None:
            continue
        out[name] = format_duration(value) if isinstance(value, timedelta) else value
    out.update(dict(targets.other))
    return out


# -- durations -----------------------------------------------------------------

_UNITS: Mapping[str, int] = {
    "s": 1,
    "sec": 1,
    "secs": 1,
    "second": 1,
    "seconds": 1,
    "m": 60,
    "min": 60,
    "mins": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hr": 3600,
    "hrs": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
    "w": 604800,
    "week": 604800,
    "weeks": 604800,
}
_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]+)\s*")


def parse_duration(text: str) -> timedelta:
    """Parse ``"30 min"``, ``"2 h"``, ``"48 h"``, ``"3 d"``, ``"1 h 30 min"``.

    Units: s, min (m), h, d, w and their long forms (minutes, hours, days, ...).

    Raises:
        ModelFormatError: The text is not a positive duration.
    """
    pos, seconds = 0, 0.0
    text_s = text.strip()
    if not text_s:
        raise ModelFormatError("empty duration (write e.g. '30 min', '2 h' or '3 d')")
    while pos < len(text_s):
        m = _PART.match(text_s, pos)
        if not m or m.group(2).lower() not in _UNITS:
            raise ModelFormatError(
                f"cannot read duration {text!r} "
                "(write a number and a unit: '30 min', '2 h', '48 h', '3 d')"
            )
        seconds += float(m.group(1)) * _UNITS[m.group(2).lower()]
        pos = m.end()
    if seconds <= 0:
        raise ModelFormatError(f"duration {text!r} must be longer than zero")
    return timedelta(seconds=seconds)


_FORMAT_UNITS = (("d", 86400), ("h", 3600), ("min", 60), ("s", 1))


def _duration_parts(value: timedelta) -> list[tuple[int, str]]:
    total = round(value.total_seconds())
    parts = []
    for unit, size in _FORMAT_UNITS:
        # Days only beyond three days: "72 h" reads better than "3 d" for SLA clocks.
        if unit == "d" and total <= 3 * 86400:
            continue
        if total >= size:
            parts.append((total // size, unit))
            total %= size
    return parts or [(0, "s")]


def format_duration(value: timedelta) -> str:
    """Format a duration the way the SOP files write it (``"30 min"``, ``"48 h"``)."""
    return " ".join(f"{n} {unit}" for n, unit in _duration_parts(value))


__all__ = [
    "KPI_ROLES",
    "OPENED",
    "SOP",
    "Step",
    "Targets",
    "TimeLimit",
    # Flow helpers live in process_models.flow; re-exported here because csmine's
    # CLI and conformance import them from this module.
    "flow_to_text",
    "format_duration",
    "iter_flow_steps",
    "parse_duration",
    "targets_to_dict",
]
