"""The ``csmine:sop`` extension element: what BPMN cannot say about an SOP.

:func:`write_extension` stores the SOP's id, titles, version, Chinese labels,
roles, descriptions, limits, targets, KPI roles, aliases and off-flow steps in
``csmine:`` elements (namespace :data:`~process_models.bpmn.namespaces.CSMINE_NS`)
inside the process; :func:`sop_from_extension` reads them back. Both directions
live here so the round trip TOML → BPMN → TOML gives back the same SOP.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from process_models.bpmn.namespaces import bpmn_tag, csmine_tag
from process_models.errors import ModelFormatError
from process_models.flow import Flow
from process_models.model import (
    OPENED,
    SOP,
    Step,
    Targets,
    TimeLimit,
    format_duration,
    parse_duration,
    targets_to_dict,
)


@dataclass(frozen=True, slots=True)
class Defaults:
    """What the BPMN process itself says, for what the extension leaves out."""

    id: str
    title: str
    version: str
    description: str


# -- reading -------------------------------------------------------------------


def sop_from_extension(
    sop_el: Any, defaults: Defaults, flow: Flow, steps: dict[str, Step], name: str
) -> SOP:
    """The SOP from a ``csmine:sop`` element, the reduced flow and the tasks' steps.

    Tasks drawn in since csmine wrote the file are kept; steps whose tasks were
    deleted are dropped, and so are the roles and aliases that name them.

    Raises:
        ModelFormatError: A limit's ``within`` is not a duration.
    """
    ordered = _steps(sop_el, steps, _limits(sop_el, name))
    known = set(ordered)
    return SOP(
        id=sop_el.get("id", defaults.id),
        title=sop_el.get("title", defaults.title),
        version=sop_el.get("version", defaults.version),
        steps=tuple(
            s
            if s.limit is None or s.limit.since == OPENED or s.limit.since in known
            else Step(s.name, s.label_zh, s.role, None, s.description, s.off_flow)
            for s in ordered.values()
        ),
        flow=flow,
        targets=_targets(sop_el),
        roles=_roles(sop_el, known),
        aliases={
            al.get("source", ""): al.get("step", "")
            for al in sop_el.iter(csmine_tag("alias"))
            if al.get("step", "") in known
        },
        title_zh=sop_el.get("titleZh", ""),
        description=sop_el.get("description", defaults.description),
        source=name,
    )


def _limits(sop_el: Any, name: str) -> dict[str, TimeLimit]:
    limits: dict[str, TimeLimit] = {}
    for lim in sop_el.iter(csmine_tag("limit")):
        step_name = lim.get("step", "")
        try:
            within = parse_duration(lim.get("within", ""))
        except ModelFormatError as exc:
            raise ModelFormatError(
                f"cannot import '{name}': limit of {step_name!r} at line "
                f"{lim.sourceline}: {exc}",
                line=lim.sourceline,
            ) from exc
        limits[step_name] = TimeLimit(
            step_name, within, lim.get("since", OPENED), _bool(lim.get("businessHours"))
        )
    return limits


def _steps(
    sop_el: Any, drawn: dict[str, Step], limits: dict[str, TimeLimit]
) -> dict[str, Step]:
    """The extension's steps that are still drawn (or off the flow), then new tasks."""
    ordered: dict[str, Step] = {}
    for st in sop_el.iter(csmine_tag("step")):
        step_name = st.get("name", "")
        off = _bool(st.get("offFlow"))
        if not off and step_name not in drawn:
            continue
        ordered[step_name] = Step(
            step_name,
            st.get("labelZh", ""),
            st.get("role", "agent"),
            limits.get(step_name),
            st.get("description", ""),
            off_flow=off,
        )
    for step_name, step in drawn.items():
        ordered.setdefault(step_name, step)
    return ordered


def _roles(sop_el: Any, known: set[str]) -> dict[str, tuple[str, ...]]:
    roles: dict[str, tuple[str, ...]] = {}
    for role in sop_el.iter(csmine_tag("role")):
        roles[role.get("name", "")] = tuple(
            r.text or ""
            for r in role.iter(csmine_tag("stepRef"))
            if (r.text or "") in known
        )
    return roles


def _targets(sop_el: Any) -> Targets:
    fields: dict[str, Any] = {}
    other: list[tuple[str, float]] = []
    present = False
    for t in sop_el.iter(csmine_tag("target")):
        present = True
        key, value = t.get("name", ""), t.get("value", "")
        if key in ("first_response", "resolution_time"):
            fields[key] = parse_duration(value)
        elif key in ("resolution_rate", "first_contact_resolution", "satisfaction"):
            fields[key] = float(value)
        else:
            other.append((key, float(value)))
    if not present:
        return Targets()
    # Targets written by csmine are complete: a missing default was unset.
    for key in ("first_response", "resolution_rate", "satisfaction"):
        fields.setdefault(key, None)
    return Targets(**fields, other=tuple(other))


def _bool(value: str | None) -> bool:
    return (value or "").strip().lower() in ("true", "1", "yes")


# -- writing -------------------------------------------------------------------


def write_extension(process: Any, sop: SOP) -> None:
    """Add ``extensionElements`` with the ``csmine:sop`` element to a process."""
    from lxml import etree

    ext = etree.SubElement(process, bpmn_tag("extensionElements"))
    meta = etree.SubElement(
        ext,
        csmine_tag("sop"),
        id=sop.id,
        title=sop.title,
        titleZh=sop.title_zh,
        version=sop.version,
        description=sop.description,
    )
    for key, value in targets_to_dict(sop.targets).items():
        etree.SubElement(meta, csmine_tag("target"), name=key, value=str(value))
    for role, steps in sop.roles.items():
        r = etree.SubElement(meta, csmine_tag("role"), name=role)
        for s in steps:
            etree.SubElement(r, csmine_tag("stepRef")).text = s
    for source, target in sop.aliases.items():
        etree.SubElement(meta, csmine_tag("alias"), source=source, step=target)
    for step in sop.steps:
        etree.SubElement(
            meta,
            csmine_tag("step"),
            name=step.name,
            labelZh=step.label_zh,
            role=step.role,
            description=step.description,
            offFlow="true" if step.off_flow else "false",
        )
    for limit in sop.limits:
        etree.SubElement(
            meta,
            csmine_tag("limit"),
            step=limit.step,
            within=format_duration(limit.within),
            since=limit.since,
            businessHours="true" if limit.business_hours else "false",
        )
