"""Checking SOP files: syntax, schema, step references, reachability, soundness.

:func:`validate_sop` reports every problem it finds as a :class:`ValidationIssue`
with the line it is on; it raises only when the file cannot be read at all.
:func:`parse_sop_text` is the strict reader behind ``load_sop``.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from process_models.errors import (
    ModelFormatError,
    ModelNotFoundError,
    ProcessModelError,
    UnsupportedConstructError,
)
from process_models.model import (
    KPI_ROLES,
    OPENED,
    OPERATORS,
    SILENT,
    SOP,
    Flow,
    FlowNode,
    Step,
    Targets,
    TimeLimit,
    iter_flow_steps,
    parse_duration,
)
from process_models.toml_format import Locator, locate

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True, slots=True)
class ValidationIssue:
    """One problem found in an SOP file.

    Attributes:
        severity: ``"error"`` (the SOP cannot be used) or ``"warning"``.
        message: What is wrong and how to fix it.
        line: 1-based line in the file, when known.
        step: The step concerned, when there is one.
    """

    severity: str
    message: str
    line: int | None = None
    step: str | None = None

    def format(self, source: str = "") -> str:
        """``"file:12: error: message"`` (the compiler style editors understand)."""
        where = source
        if self.line is not None:
            where = f"{where}:{self.line}" if where else f"line {self.line}"
        return (
            f"{where}: {self.severity}: {self.message}"
            if where
            else (f"{self.severity}: {self.message}")
        )


_ROOT_KEYS = (
    "id",
    "title",
    "title_zh",
    "version",
    "description",
    "flow",
    "targets",
    "steps",
    "limits",
    "roles",
    "aliases",
    "closed_when",
)
_STEP_KEYS = ("name", "label_zh", "role", "description", "off_flow")
_LIMIT_KEYS = ("step", "within", "since", "business_hours")
_RESERVED = (SILENT, OPENED)
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_FLOW_OPERATORS = (*OPERATORS, "optional")
_TOML_LINE = re.compile(r"\(at line (\d+), column (\d+)\)")


@dataclass(slots=True)
class _Checker:
    loc: Locator
    issues: list[ValidationIssue] = field(default_factory=list)

    def error(self, message: str, line: int | None, step: str | None = None) -> None:
        self.issues.append(ValidationIssue(ERROR, message, line, step))

    def warn(self, message: str, line: int | None, step: str | None = None) -> None:
        self.issues.append(ValidationIssue(WARNING, message, line, step))

    def unknown_keys(
        self,
        data: dict[str, Any],
        known: tuple[str, ...],
        table: str,
        index: int | None,
    ) -> None:
        where = (
            f"[[{table}]] #{index + 1}"
            if index is not None
            else (f"[{table}]" if table else "the top level")
        )
        for key in data:
            if key not in known:
                self.error(
                    f"unknown key {key!r} in {where} (expected one of: "
                    f"{', '.join(known)})",
                    self.loc.line(table, index, key),
                )


def _type_name(value: Any) -> str:
    return {
        str: "a string",
        int: "a number",
        float: "a number",
        bool: "true/false",
        list: "an array",
        dict: "a table",
    }.get(type(value), type(value).__name__)


def _read_text(path_or_text: str | Path) -> tuple[str, str]:
    """Return ``(text, source)``; the source is the path or ``"<text>"``."""
    if isinstance(path_or_text, Path):
        path = path_or_text
    elif "\n" in path_or_text or "=" in path_or_text or "<" in path_or_text:
        return path_or_text, "<text>"
    else:
        path = Path(path_or_text)
        if not path.exists():
            from process_models.loading import shipped_path

            shipped = shipped_path(path_or_text)
            if shipped is None:
                raise ModelNotFoundError(
                    f"cannot read SOP {path_or_text!r}: no such file or shipped SOP "
                    "(see `csmine sop list`)"
                )
            path = shipped
    try:
        return path.read_text(encoding="utf-8"), str(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelNotFoundError(f"cannot read SOP file '{path}': {exc}") from exc


def check_toml(
    text: str, source: str | None = None
) -> tuple[SOP | None, list[ValidationIssue]]:
    """Check an SOP's TOML text and build it if it has no errors.

    Returns:
        The SOP (None when there are errors) and every issue found, in file order
        where lines are known. Soundness is not checked here (see
        :func:`validate_sop`).
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = _TOML_LINE.search(str(exc))
        message = _TOML_LINE.sub("", str(exc)).strip()
        return None, [
            ValidationIssue(
                ERROR,
                f"TOML syntax error: {message}"
                + (f" (column {m.group(2)})" if m else ""),
                int(m.group(1)) if m else None,
            )
        ]
    ck = _Checker(locate(text))
    sop = _build(data, ck, source)
    if sop is not None and any(i.severity == ERROR for i in ck.issues):
        sop = None
    return sop, _sorted(ck.issues)


def _sorted(issues: list[ValidationIssue]) -> list[ValidationIssue]:
    return sorted(issues, key=lambda i: (i.line is None, i.line or 0))


def _str(
    ck: _Checker,
    data: dict[str, Any],
    key: str,
    table: str,
    index: int | None,
    *,
    required: bool,
    what: str,
) -> str | None:
    value = data.get(key)
    if value is None:
        if required:
            ck.error(
                f'{what} has no {key!r} (add {key} = "...")', ck.loc.line(table, index)
            )
        return None
    if not isinstance(value, str):
        ck.error(
            f"{key!r} of {what} must be a string, not {_type_name(value)}",
            ck.loc.line(table, index, key),
        )
        return None
    return value


def _build(data: dict[str, Any], ck: _Checker, source: str | None) -> SOP | None:
    loc = ck.loc
    ck.unknown_keys(data, _ROOT_KEYS, "", None)
    sop_id = _str(ck, data, "id", "", None, required=True, what="the SOP") or ""
    if sop_id and not _ID.match(sop_id):
        ck.error(
            f"id {sop_id!r} must start with a letter or digit and hold only letters, "
            "digits, '-', '_' or '.'",
            loc.line("", None, "id"),
        )
    title = _str(ck, data, "title", "", None, required=True, what="the SOP") or ""
    title_zh = (
        _str(ck, data, "title_zh", "", None, required=False, what="the SOP") or ""
    )
    description = _str(
        ck, data, "description", "", None, required=False, what="the SOP"
    )
    version: Any = data.get("version")
    if version is None:
        ck.error("the SOP has no 'version' (add version = \"1\")", 1)
    elif isinstance(version, bool) or not isinstance(version, (str, int)):
        ck.error(
            f"'version' must be a string such as \"2\", not {_type_name(version)}",
            loc.line("", None, "version"),
        )
    steps = _steps(data.get("steps"), ck)
    names = {s["name"] for s in steps}
    limits = _limits(data.get("limits", []), ck, names)
    targets = _targets(data.get("targets", {}), ck)
    roles = _roles(data.get("roles", {}), ck, names)
    aliases = _aliases(data.get("aliases", {}), ck, names)
    closed_when = _closed_when(data.get("closed_when", []), ck)
    off_flow = {s["name"] for s in steps if s["off_flow"]}
    flow: Flow = None
    if "flow" not in data:
        ck.error(
            "the SOP has no 'flow' (add flow = [\"seq\", ...] before any table)", 1
        )
    else:
        flow = _flow(data["flow"], ck, names, off_flow, occurrences={})
        used = set(iter_flow_steps(flow))
        if not used and not any(i.severity == ERROR for i in ck.issues):
            ck.error("the flow has no steps", loc.line("", None, "flow"))
        for s in steps:
            if s["name"] not in used and not s["off_flow"]:
                ck.error(
                    f"step {s['name']!r} is never used in the flow (unreachable): "
                    "add it to flow or mark it off_flow = true",
                    s["line"],
                    s["name"],
                )
    if any(i.severity == ERROR for i in ck.issues):
        return None
    by_step = {lim.step: lim for lim in limits}
    return SOP(
        id=sop_id,
        title=title,
        title_zh=title_zh,
        version=str(version),
        description=description or "",
        steps=tuple(
            Step(
                name=s["name"],
                label_zh=s["label_zh"],
                role=s["role"],
                limit=by_step.get(s["name"]),
                description=s["description"],
                off_flow=s["off_flow"],
            )
            for s in steps
        ),
        flow=flow,
        targets=targets,
        roles=roles,
        aliases=aliases,
        closed_when=closed_when,
        source=source,
    )


def _steps(value: Any, ck: _Checker) -> list[dict[str, Any]]:
    loc = ck.loc
    if value is None:
        ck.error(
            "the SOP has no steps (add [[steps]] tables with name, label_zh, role)", 1
        )
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        ck.error("'steps' must be [[steps]] tables", loc.line("", None, "steps") or 1)
        return []
    out: list[dict[str, Any]] = []
    first_line: dict[str, int | None] = {}
    for i, raw in enumerate(value):
        ck.unknown_keys(raw, _STEP_KEYS, "steps", i)
        what = f"[[steps]] #{i + 1}"
        name = _str(ck, raw, "name", "steps", i, required=True, what=what)
        if name is None:
            continue
        line = loc.line("steps", i, "name")
        if not name.strip() or name != name.strip():
            ck.error(
                f"step name {name!r} must be non-empty without leading or trailing "
                "spaces",
                line,
                name,
            )
            continue
        if name in _RESERVED:
            ck.error(f"{name!r} is reserved and cannot name a step", line, name)
            continue
        if name in first_line:
            ck.error(
                f"duplicate step {name!r} (first defined at line {first_line[name]}); "
                "give each step one [[steps]] table",
                line,
                name,
            )
            continue
        first_line[name] = line
        label = _str(
            ck, raw, "label_zh", "steps", i, required=False, what=f"step {name!r}"
        )
        if not label:
            ck.warn(
                f'step {name!r} has no Chinese label (add label_zh = "...")', line, name
            )
        role = _str(ck, raw, "role", "steps", i, required=False, what=f"step {name!r}")
        if role is None and "role" not in raw:
            ck.warn(
                f'step {name!r} has no responsible role (add role = "agent"); '
                "'agent' is assumed",
                line,
                name,
            )
        desc = _str(
            ck, raw, "description", "steps", i, required=False, what=f"step {name!r}"
        )
        off = raw.get("off_flow", False)
        if not isinstance(off, bool):
            ck.error(
                f"'off_flow' of step {name!r} must be true or false",
                loc.line("steps", i, "off_flow"),
                name,
            )
            off = False
        out.append(
            {
                "name": name,
                "label_zh": label or "",
                "role": role or "agent",
                "description": desc or "",
                "off_flow": off,
                "line": line,
            }
        )
    return out


def _duration(
    ck: _Checker, value: Any, line: int | None, what: str, step: str | None = None
) -> timedelta | None:
    if isinstance(value, bool) or not isinstance(value, str):
        ck.error(
            f'{what} must be a duration string such as "30 min", "2 h" or "3 d", '
            f"not {_type_name(value)}",
            line,
            step,
        )
        return None
    try:
        return parse_duration(value)
    except ModelFormatError as exc:
        ck.error(f"{what}: {exc}", line, step)
        return None


def _limits(value: Any, ck: _Checker, names: set[str]) -> list[TimeLimit]:
    loc = ck.loc
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        ck.error(
            "'limits' must be [[limits]] tables", loc.line("", None, "limits") or 1
        )
        return []
    out: list[TimeLimit] = []
    seen: dict[str, int | None] = {}
    for i, raw in enumerate(value):
        ck.unknown_keys(raw, _LIMIT_KEYS, "limits", i)
        what = f"[[limits]] #{i + 1}"
        step = _str(ck, raw, "step", "limits", i, required=True, what=what)
        line = loc.line("limits", i, "step")
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
        if "within" not in raw:
            ck.error(f"{what} has no 'within' (add within = \"30 min\")", line, step)
            ok = False
            within = None
        else:
            within = _duration(
                ck,
                raw["within"],
                loc.line("limits", i, "within"),
                f"'within' of {what}",
                step,
            )
            ok = ok and within is not None
        since = raw.get("since", OPENED)
        if not isinstance(since, str):
            ck.error(
                f"'since' of {what} must be \"opened\" or a step name",
                loc.line("limits", i, "since"),
                step,
            )
            ok = False
        elif since != OPENED and since not in names:
            ck.error(
                f"unknown step {since!r} in 'since' of {what} "
                f'(use "opened" or one of: {", ".join(sorted(names))})',
                loc.line("limits", i, "since"),
                step,
            )
            ok = False
        elif since == step:
            ck.error(
                f"the limit of step {step!r} cannot start at the step itself",
                loc.line("limits", i, "since"),
                step,
            )
            ok = False
        bh = raw.get("business_hours", False)
        if not isinstance(bh, bool):
            ck.error(
                f"'business_hours' of {what} must be true or false",
                loc.line("limits", i, "business_hours"),
                step,
            )
            ok = False
        if step is not None:
            seen.setdefault(step, line)
        if ok and step is not None and within is not None:
            out.append(TimeLimit(step, within, since, bh))
    return out


def _fraction(ck: _Checker, key: str, value: Any, line: int | None) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        ck.error(f"target {key!r} must be a number, not {_type_name(value)}", line)
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


def _targets(value: Any, ck: _Checker) -> Targets:
    loc = ck.loc
    if not isinstance(value, dict):
        ck.error("'targets' must be a [targets] table", loc.line("", None, "targets"))
        return Targets()
    fields: dict[str, Any] = {}
    other: list[tuple[str, float]] = []
    for key, raw in value.items():
        line = loc.line("targets", None, key)
        if key in ("first_response", "resolution_time"):
            if isinstance(raw, (int, float)) and not isinstance(raw, bool):
                if raw <= 0:
                    ck.error(f"target {key!r} must be longer than zero", line)
                    continue
                fields[key] = timedelta(minutes=raw)
            else:
                td = _duration(ck, raw, line, f"target {key!r}")
                if td is not None:
                    fields[key] = td
        elif key in ("resolution_rate", "first_contact_resolution"):
            frac = _fraction(ck, key, raw, line)
            if frac is not None:
                fields[key] = frac
        elif key == "satisfaction":
            if (
                isinstance(raw, bool)
                or not isinstance(raw, (int, float))
                or not 0 <= raw <= 100
            ):
                ck.error(
                    f"target 'satisfaction' must be a score from 0 to 100, not {raw!r}",
                    line,
                )
            else:
                fields[key] = float(raw)
        elif isinstance(raw, (int, float)) and not isinstance(raw, bool):
            other.append((key, float(raw)))
        else:
            ck.error(f"target {key!r} must be a number, not {_type_name(raw)}", line)
    return Targets(**fields, other=tuple(other))


def _roles(value: Any, ck: _Checker, names: set[str]) -> dict[str, tuple[str, ...]]:
    loc = ck.loc
    if not isinstance(value, dict):
        ck.error("'roles' must be a [roles] table", loc.line("", None, "roles"))
        return {}
    out: dict[str, tuple[str, ...]] = {}
    for role, raw in value.items():
        line = loc.line("roles", None, role)
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
                    loc.literal_line("roles", None, role, s),
                    s,
                )
        out[role] = tuple(steps)
    return out


def _closed_when(value: Any, ck: _Checker) -> tuple[str, ...]:
    """``closed_when = ["Closed", ...]``: source activity (or step) names that close a ticket."""
    line = ck.loc.line("", None, "closed_when")
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        ck.error("'closed_when' must be a list of activity names, e.g. closed_when = [\"Closed\"]", line)
        return ()
    return tuple(dict.fromkeys(v.strip() for v in value))


def _aliases(value: Any, ck: _Checker, names: set[str]) -> dict[str, str]:
    loc = ck.loc
    if not isinstance(value, dict):
        ck.error("'aliases' must be an [aliases] table", loc.line("", None, "aliases"))
        return {}
    out: dict[str, str] = {}
    for source, step in value.items():
        line = loc.line("aliases", None, source)
        if not isinstance(step, str):
            ck.error(f"alias {source!r} must name a step, not {_type_name(step)}", line)
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


def _flow(
    value: Any,
    ck: _Checker,
    names: set[str],
    off_flow: set[str],
    occurrences: dict[str, int],
) -> Flow:
    loc = ck.loc

    def line_of(text: str) -> int | None:
        n = occurrences.get(text, 0)
        occurrences[text] = n + 1
        return loc.literal_line("", None, "flow", text, n)

    if isinstance(value, str):
        line = line_of(value)
        if value == SILENT:
            return None
        if value not in names:
            ck.error(
                f"unknown step {value!r} in flow (steps: {', '.join(sorted(names))}; "
                f'"{SILENT}" for a silent step)',
                line,
                value,
            )
        elif value in off_flow:
            ck.error(
                f"step {value!r} is marked off_flow but used in the flow; "
                "remove off_flow = true or take it out of the flow",
                line,
                value,
            )
        return value
    if not isinstance(value, list) or not value:
        ck.error(
            f'flow entries must be step names or ["operator", ...] arrays, '
            f"not {value!r}",
            loc.line("", None, "flow"),
        )
        return None
    op = value[0]
    if not isinstance(op, str):
        ck.error(
            f"a flow array must start with an operator: {', '.join(_FLOW_OPERATORS)}",
            loc.line("", None, "flow"),
        )
        return None
    line = line_of(op)
    if op not in _FLOW_OPERATORS:
        ck.error(
            f"unknown flow operator {op!r} (use one of: {', '.join(_FLOW_OPERATORS)}); "
            "a flow array starts with its operator",
            line,
        )
        return None
    children = tuple(_flow(v, ck, names, off_flow, occurrences) for v in value[1:])
    arity = len(children)
    if arity == 0:
        ck.error(f"operator {op!r} has no children", line)
        return None
    if op == "optional":
        if arity != 1:
            ck.error(
                f"'optional' takes exactly one child, not {arity} "
                '(wrap several in ["seq", ...])',
                line,
            )
        return FlowNode("xor", (children[0], None))
    if op == "loop" and arity > 2:
        ck.error(
            f"'loop' takes a do part and an optional redo part, not {arity} children "
            '(wrap several in ["seq", ...] or ["xor", ...])',
            line,
        )
    if op == "loop" and arity == 1:
        return FlowNode("loop", (children[0], None))
    return FlowNode(op, children)


# -- object-level checks and the public entry point -----------------------------


def check_sop(sop: SOP) -> list[ValidationIssue]:
    """Checks that need the built SOP (e.g. one imported from BPMN).

    Reports steps without Chinese labels, role and alias targets that are not
    steps, limits on unknown steps, and steps neither in the flow nor off-flow.
    """
    issues: list[ValidationIssue] = []
    names = set(sop.step_names)
    used = set(iter_flow_steps(sop.flow))
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
    for name in used - names:
        issues.append(
            ValidationIssue(ERROR, f"unknown step {name!r} in flow", None, name)
        )
    for role, steps in sop.roles.items():
        for s in steps:
            if s not in names:
                issues.append(
                    ValidationIssue(
                        ERROR, f"unknown step {s!r} in role {role!r}", None, s
                    )
                )
    for source, s in sop.aliases.items():
        if s not in names:
            issues.append(
                ValidationIssue(
                    ERROR, f"alias {source!r} points to unknown step {s!r}", None, s
                )
            )
    for limit in sop.limits:
        if limit.since != OPENED and limit.since not in names:
            issues.append(
                ValidationIssue(
                    ERROR,
                    f"unknown step {limit.since!r} in the limit of {limit.step!r}",
                    None,
                    limit.step,
                )
            )
    return issues


def check_flow_soundness(sop: SOP) -> list[ValidationIssue]:
    """Check that the SOP's workflow net is easy-sound (and sound) with pm4py."""
    from process_models.petri import check_soundness

    net, im, fm = sop.to_petri_net()
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


def validate_sop(
    path_or_text: str | Path, *, soundness: bool = True
) -> list[ValidationIssue]:
    """Check an SOP file (TOML or BPMN) and report every problem found.

    Args:
        path_or_text: A path to a ``.toml`` or ``.bpmn`` file, a shipped SOP name,
            or the TOML (or BPMN XML) text itself.
        soundness: Also build the workflow net and check it is easy-sound and
            sound (pm4py; about 0.1 s).

    Returns:
        The issues, errors and warnings, ordered by line. Empty when the file is
        clean.

    Raises:
        ModelNotFoundError: The file cannot be read.
    """
    text, source = _read_text(path_or_text)
    if source.lower().endswith(".bpmn") or text.lstrip().startswith("<"):
        from process_models.bpmn import parse_bpmn

        try:
            sop: SOP | None = parse_bpmn(text, source=source)
        except UnsupportedConstructError as exc:
            return [ValidationIssue(ERROR, str(exc), exc.line)]
        except ProcessModelError as exc:
            return [ValidationIssue(ERROR, str(exc), getattr(exc, "line", None))]
        assert sop is not None
        issues = check_sop(sop)
    else:
        sop, issues = check_toml(text, source)
    if sop is not None and soundness and not any(i.severity == ERROR for i in issues):
        issues = issues + check_flow_soundness(sop)
    return _sorted(issues)


def parse_sop_text(text: str, source: str | None = None) -> SOP:
    """Read an SOP from TOML text, raising on the first errors.

    Raises:
        ModelFormatError: The text has errors; the message lists up to five of them
            with their lines.
    """
    sop, issues = check_toml(text, source)
    if sop is None:
        errors = [i for i in issues if i.severity == ERROR]
        shown = "; ".join(i.format() for i in errors[:5])
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        name = source or "<text>"
        raise ModelFormatError(
            f"cannot load SOP '{name}': {shown}{more} "
            f"(run `csmine sop validate {name}` for all issues)"
        )
    return sop
