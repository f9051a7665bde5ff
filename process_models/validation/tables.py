"""Checks of the TOML tables of an SOP: steps, limits, targets, roles, aliases.

``[[steps]]``, ``[[limits]]``, ``[targets]``, ``[roles]``, ``[aliases]`` and the
``closed_when`` list. Each ``check_*`` reads its part of the parsed TOML, reports
what is wrong to the :class:`~process_models.validation.issues.Checker` and
returns what it could read.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from process_models.flow import SILENT
from process_models.model import KPI_ROLES, OPENED, Targets, TimeLimit
from process_models.validation.issues import (
    Checker,
    read_duration,
    read_str,
    type_name,
)

_STEP_KEYS = ("name", "label_zh", "role", "description", "off_flow")
_LIMIT_KEYS = ("step", "within", "since", "business_hours")
_RESERVED = (SILENT, OPENED)


# -- [[steps]] -------------------------------------------------------------------


def check_steps(
    value: Any, ck: Checker, languages: tuple[str, ...] | None = None
) -> list[dict[str, Any]]:
    """The ``[[steps]]`` tables as dicts; steps with a bad name are left out.

    Each dict has ``name``, ``label_zh``, ``role``, ``description``, ``off_flow``
    and ``line`` (of its name, for later messages about the step). A step without
    a Chinese label is a warning when the SOP declares ``languages`` with ``"zh"``,
    or, without ``languages``, when other steps have one (a half-translated SOP).
    """
    if value is None:
        ck.error(
            "the SOP has no steps (add [[steps]] tables with name, label_zh, role)", 1
        )
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        ck.error(
            "'steps' must be [[steps]] tables", ck.loc.line("", None, "steps") or 1
        )
        return []
    out: list[dict[str, Any]] = []
    first_line: dict[str, int | None] = {}
    for i, raw in enumerate(value):
        ck.unknown_keys(raw, _STEP_KEYS, "steps", i)
        named = _step_name(ck, raw, i, first_line)
        if named is not None:
            out.append(_step_entry(ck, raw, i, *named))
    wanted = "zh" in languages if languages is not None else any(e["label_zh"] for e in out)
    for entry in out:
        if wanted and not entry["label_zh"]:
            ck.warn(
                f'step {entry["name"]!r} has no Chinese label (add label_zh = "...")',
                entry["line"],
                entry["name"],
            )
    return out


def _step_name(
    ck: Checker, raw: dict[str, Any], i: int, first_line: dict[str, int | None]
) -> tuple[str, int | None] | None:
    what = f"[[steps]] #{i + 1}"
    name = read_str(ck, raw, "name", "steps", i, required=True, what=what)
    if name is None:
        return None
    line = ck.loc.line("steps", i, "name")
    if not name.strip() or name != name.strip():
        ck.error(
            f"step name {name!r} must be non-empty without leading or trailing spaces",
            line,
            name,
        )
        return None
    if name in _RESERVED:
        ck.error(f"{name!r} is reserved and cannot name a step", line, name)
        return None
    if name in first_line:
        ck.error(
            f"duplicate step {name!r} (first defined at line {first_line[name]}); "
            "give each step one [[steps]] table",
            line,
            name,
        )
        return None
    first_line[name] = line
    return name, line


def _step_entry(
    ck: Checker, raw: dict[str, Any], i: int, name: str, line: int | None
) -> dict[str, Any]:
    what = f"step {name!r}"
    label = read_str(ck, raw, "label_zh", "steps", i, required=False, what=what)
    role = read_str(ck, raw, "role", "steps", i, required=False, what=what)
    if role is None and "role" not in raw:
        ck.warn(
            f'step {name!r} has no responsible role (add role = "agent"); '
            "'agent' is assumed",
            line,
            name,
        )
    desc = read_str(ck, raw, "description", "steps", i, required=False, what=what)
    off = raw.get("off_flow", False)
    if not isinstance(off, bool):
        ck.error(
            f"'off_flow' of step {name!r} must be true or false",
            ck.loc.line("steps", i, "off_flow"),
            name,
        )
        off = False
    return {
        "name": name,
        "label_zh": label or "",
        "role": role or "agent",
        "description": desc or "",
        "off_flow": off,
        "line": line,
    }


# -- [[limits]] ------------------------------------------------------------------


def check_limits(value: Any, ck: Checker, names: set[str]) -> list[TimeLimit]:
    """The ``[[limits]]`` tables that are correct, as TimeLimits."""
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        ck.error(
            "'limits' must be [[limits]] tables", ck.loc.line("", None, "limits") or 1
        )
        return []
    out: list[TimeLimit] = []
    seen: dict[str, int | None] = {}
    for i, raw in enumerate(value):
        limit = _limit(ck, raw, i, names, seen)
        if limit is not None:
            out.append(limit)
    return out


def _limit(
    ck: Checker,
    raw: dict[str, Any],
    i: int,
    names: set[str],
    seen: dict[str, int | None],
) -> TimeLimit | None:
    ck.unknown_keys(raw, _LIMIT_KEYS, "limits", i)
    what = f"[[limits]] #{i + 1}"
    step, line, ok = _limit_step(ck, raw, i, what, names, seen)
    within = _limit_within(ck, raw, i, what, line, step)
    since = raw.get("since", OPENED)
    since_line = ck.loc.line("limits", i, "since")
    since_ok = _limit_since(ck, since, since_line, what, names, step)
    bh = raw.get("business_hours", False)
    if not isinstance(bh, bool):
        ck.error(
            f"'business_hours' of {what} must be true or false",
            ck.loc.line("limits", i, "business_hours"),
            step,
        )
    if step is not None:
        seen.setdefault(step, line)
    clock_ok = isinstance(bh, bool)
    if ok and since_ok and clock_ok and step is not None and within is not None:
        return TimeLimit(step, within, since, bh)
    return None


def _limit_step(
    ck: Checker,
    raw: dict[str, Any],
    i: int,
    what: str,
    names: set[str],
    seen: dict[str, int | None],
) -> tuple[str | None, int | None, bool]:
    """(step, its line, whether it names a step without a limit yet)."""
    step = read_str(ck, raw, "step", "limits", i, required=True, what=what)
    line = ck.loc.line("limits", i, "step")
    ok = step is not None
    if step is not None and step not in names:
        ck.error(
            f"unknown step {step!r} in {what} (steps: {', '.join(sorted(names))})",
            line,
            step,
        )
        ok = False
    if step is not None and step in seen:
        ck.error(
            f"step {step!r} has a second time limit (first at line {seen[step]}); "
            "keep one [[limits]] table per step",
            line,
            step,
        )
        ok = False
    return step, line, ok


def _limit_within(
    ck: Checker,
    raw: dict[str, Any],
    i: int,
    what: str,
    line: int | None,
    step: str | None,
) -> timedelta | None:
    if "within" not in raw:
        ck.error(f"{what} has no 'within' (add within = \"30 min\")", line, step)
        return None
    line_within = ck.loc.line("limits", i, "within")
    return read_duration(ck, raw["within"], line_within, f"'within' of {what}", step)


def _limit_since(
    ck: Checker,
    since: Any,
    line: int | None,
    what: str,
    names: set[str],
    step: str | None,
) -> bool:
    if not isinstance(since, str):
        ck.error(f"'since' of {what} must be \"opened\" or a step name", line, step)
        return False
    if since != OPENED and since not in names:
        ck.error(
            f"unknown step {since!r} in 'since' of {what} "
            f'(use "opened" or one of: {", ".join(sorted(names))})',
            line,
            step,
        )
        return False
    if since == step:
        ck.error(
            f"the limit of step {step!r} cannot start at the step itself", line, step
        )
        return False
    return True


# -- [targets] -------------------------------------------------------------------


def check_targets(value: Any, ck: Checker) -> Targets:
    """The ``[targets]`` table; targets with errors keep their defaults."""
    if not isinstance(value, dict):
        ck.error(
            "'targets' must be a [targets] table", ck.loc.line("", None, "targets")
        )
        return Targets()
    fields: dict[str, Any] = {}
    other: list[tuple[str, float]] = []
    for key, raw in value.items():
        line = ck.loc.line("targets", None, key)
        if key in ("first_response", "resolution_time"):
            td = _target_duration(ck, key, raw, line)
            if td is not None:
                fields[key] = td
        elif key in ("resolution_rate", "first_contact_resolution"):
            frac = _fraction(ck, key, raw, line)
            if frac is not None:
                fields[key] = frac
        elif key == "satisfaction":
            score = _score(ck, raw, line)
            if score is not None:
                fields[key] = score
        elif isinstance(raw, (int, float)) and not isinstance(raw, bool):
            other.append((key, float(raw)))
        else:
            ck.error(f"target {key!r} must be a number, not {type_name(raw)}", line)
    return Targets(**fields, other=tuple(other))


def _target_duration(
    ck: Checker, key: str, raw: Any, line: int | None
) -> timedelta | None:
    """A duration string, or a bare number of minutes."""
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        if raw <= 0:
            ck.error(f"target {key!r} must be longer than zero", line)
            return None
        return timedelta(minutes=raw)
    return read_duration(ck, raw, line, f"target {key!r}")


def _fraction(ck: Checker, key: str, value: Any, line: int | None) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        ck.error(f"target {key!r} must be a number, not {type_name(value)}", line)
        return None
    if 1 < value <= 100:
        ck.error(
            f"target {key!r} = {value} looks like a percentage; write it as a "
            f"fraction ({value / 100:g})",
            line,
        )
        return None
    if not 0 <= value <= 1:
        ck.error(f"target {key!r} must be between 0 and 1, not {value}", line)
        return None
    return float(value)


def _score(ck: Checker, raw: Any, line: int | None) -> float | None:
    number = isinstance(raw, (int, float)) and not isinstance(raw, bool)
    if not number or not 0 <= raw <= 100:
        ck.error(
            f"target 'satisfaction' must be a score from 0 to 100, not {raw!r}", line
        )
        return None
    return float(raw)


# -- [roles], [aliases], closed_when ---------------------------------------------


def check_roles(
    value: Any, ck: Checker, names: set[str]
) -> dict[str, tuple[str, ...]]:
    """The ``[roles]`` table: KPI role -> step names."""
    if not isinstance(value, dict):
        ck.error("'roles' must be a [roles] table", ck.loc.line("", None, "roles"))
        return {}
    out: dict[str, tuple[str, ...]] = {}
    for role, raw in value.items():
        line = ck.loc.line("roles", None, role)
        if role not in KPI_ROLES:
            ck.warn(
                f"unknown KPI role {role!r} (csmine uses: {', '.join(KPI_ROLES)})", line
            )
        steps = [raw] if isinstance(raw, str) else raw
        if not isinstance(steps, list) or not all(isinstance(s, str) for s in steps):
            ck.error(
                f'role {role!r} must list step names, e.g. {role} = ["Record"]', line
            )
            continue
        for s in steps:
            if s not in names:
                ck.error(
                    f"unknown step {s!r} in role {role!r} "
                    f"(steps: {', '.join(sorted(names))})",
                    ck.loc.literal_line("roles", None, role, s),
                    s,
                )
        out[role] = tuple(steps)
    return out


def check_aliases(value: Any, ck: Checker, names: set[str]) -> dict[str, str]:
    """The ``[aliases]`` table: source activity name -> step name."""
    if not isinstance(value, dict):
        ck.error(
            "'aliases' must be an [aliases] table", ck.loc.line("", None, "aliases")
        )
        return {}
    out: dict[str, str] = {}
    for source, step in value.items():
        line = ck.loc.line("aliases", None, source)
        if not isinstance(step, str):
            ck.error(f"alias {source!r} must name a step, not {type_name(step)}", line)
            continue
        if step not in names:
            ck.error(
                f"alias {source!r} points to unknown step {step!r} "
                f"(steps: {', '.join(sorted(names))})",
                line,
                step,
            )
            continue
        if source in names and source != step:
            ck.error(
                f"alias {source!r} would rename step {source!r} to {step!r}; "
                "an alias cannot shadow a step name",
                line,
                step,
            )
            continue
        out[source] = step
    return out


def check_closed_when(value: Any, ck: Checker) -> tuple[str, ...]:
    """``closed_when = ["Closed", ...]``: activity (or step) names closing a ticket."""
    line = ck.loc.line("", None, "closed_when")
    if not isinstance(value, list) or not all(
        isinstance(v, str) and v.strip() for v in value
    ):
        ck.error(
            "'closed_when' must be a list of activity names, "
            'e.g. closed_when = ["Closed"]',
            line,
        )
        return ()
    return tuple(dict.fromkeys(v.strip() for v in value))
