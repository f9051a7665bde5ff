"""Checks of a built SOP: its references, and the soundness of its workflow net.

These run on an :class:`~process_models.model.SOP` rather than on TOML text:
:func:`check_sop` on SOPs imported from BPMN (the TOML reader checks the same
references with line numbers), :func:`check_flow_soundness` on every SOP that
has no errors.
"""

from __future__ import annotations

from process_models.flow import iter_flow_steps
from process_models.model import OPENED, SOP
from process_models.petri import check_soundness, flow_to_petri_net
from process_models.validation.issues import ERROR, WARNING, ValidationIssue


def check_sop(sop: SOP) -> list[ValidationIssue]:
    """Checks that need the built SOP (e.g. one imported from BPMN).

    Reports steps without Chinese labels, role and alias targets that are not
    steps, limits on unknown steps, and steps neither in the flow nor off-flow.
    """
    names = set(sop.step_names)
    used = set(iter_flow_steps(sop.flow))
    issues = _step_issues(sop, used)
    for name in used - names:
        issues.append(
            ValidationIssue(ERROR, f"unknown step {name!r} in flow", None, name)
        )
    issues += _reference_issues(sop, names)
    return issues


def _step_issues(sop: SOP, used: set[str]) -> list[ValidationIssue]:
    issues: list[ValidationIssue] = []
    for step in sop.steps:
        if not step.label_zh:
            issues.append(
                ValidationIssue(
                    WARNING, f"step {step.name!r} has no Chinese label", None, step.name
                )
            )
        if step.name not in used and not step.off_flow:
            issues.append(
                ValidationIssue(
                    ERROR,
                    f"step {step.name!r} is never used in the flow (unreachable)",
                    None,
                    step.name,
                )
            )
    return issues


def _reference_issues(sop: SOP, names: set[str]) -> list[ValidationIssue]:
    """Roles, aliases and limit clocks that name no step."""
    issues = [
        ValidationIssue(ERROR, f"unknown step {s!r} in role {role!r}", None, s)
        for role, steps in sop.roles.items()
        for s in steps
        if s not in names
    ]
    issues += [
        ValidationIssue(
            ERROR, f"alias {source!r} points to unknown step {s!r}", None, s
        )
        for source, s in sop.aliases.items()
        if s not in names
    ]
    issues += [
        ValidationIssue(
            ERROR,
            f"unknown step {limit.since!r} in the limit of {limit.step!r}",
            None,
            limit.step,
        )
        for limit in sop.limits
        if limit.since != OPENED and limit.since not in names
    ]
    return issues


def check_flow_soundness(sop: SOP) -> list[ValidationIssue]:
    """Check that the SOP's workflow net is easy-sound (and sound) with pm4py."""
    net, im, fm = flow_to_petri_net(sop.flow)
    result = check_soundness(net, im, fm)
    if not result.easy_sound:
        return [
            ValidationIssue(
                ERROR,
                f"the workflow net of the flow is not easy-sound: {result.message}; "
                "alignments need a reachable end",
                None,
            )
        ]
    if result.sound is False:
        return [
            ValidationIssue(
                WARNING,
                f"the workflow net is easy-sound but not sound: {result.message}",
                None,
            )
        ]
    return []
