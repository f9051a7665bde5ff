"""Reading an SOP's TOML text: syntax, the top-level keys, and building the SOP.

:func:`check_toml` is the one pass over a TOML text: it parses it with
:mod:`tomllib`, runs the table checks (:mod:`~process_models.validation.tables`)
and the flow checks (:mod:`~process_models.validation.flow`), and builds the
:class:`~process_models.model.SOP` when nothing is wrong. :func:`parse_sop_text`
is the strict reader behind ``load_sop``.
"""

from __future__ import annotations

import re
import tomllib
from typing import Any

from process_models.errors import ModelFormatError
from process_models.model import SOP, Step, TimeLimit
from process_models.toml_format import locate
from process_models.validation.flow import check_flow
from process_models.validation.issues import (
    ERROR,
    Checker,
    ValidationIssue,
    has_errors,
    read_str,
    sorted_issues,
    type_name,
)
from process_models.validation.tables import (
    check_aliases,
    check_closed_when,
    check_limits,
    check_roles,
    check_steps,
    check_targets,
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
    "languages",
)
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_TOML_LINE = re.compile(r"\(at line (\d+), column (\d+)\)")


def check_toml(
    text: str, source: str | None = None
) -> tuple[SOP | None, list[ValidationIssue]]:
    """Check an SOP's TOML text and build it if it has no errors.

    Returns:
        The SOP (None when there are errors) and every issue found, in file order
        where lines are known. Soundness is not checked here (see
        :func:`~process_models.validation.validate_sop`).
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return None, [_syntax_issue(exc)]
    ck = Checker(locate(text))
    sop = _build(data, ck, source)
    if sop is not None and has_errors(ck.issues):
        sop = None
    return sop, sorted_issues(ck.issues)


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


def _syntax_issue(exc: tomllib.TOMLDecodeError) -> ValidationIssue:
    m = _TOML_LINE.search(str(exc))
    message = _TOML_LINE.sub("", str(exc)).strip()
    return ValidationIssue(
        ERROR,
        f"TOML syntax error: {message}" + (f" (column {m.group(2)})" if m else ""),
        int(m.group(1)) if m else None,
    )


def _build(data: dict[str, Any], ck: Checker, source: str | None) -> SOP | None:
    ck.unknown_keys(data, _ROOT_KEYS, "", None)
    sop_id, title, title_zh, version, description = _header(data, ck)
    languages = _languages(data, ck)
    steps = check_steps(data.get("steps"), ck, languages)
    names = {s["name"] for s in steps}
    limits = check_limits(data.get("limits", []), ck, names)
    targets = check_targets(data.get("targets", {}), ck)
    roles = check_roles(data.get("roles", {}), ck, names)
    aliases = check_aliases(data.get("aliases", {}), ck, names)
    closed_when = check_closed_when(data.get("closed_when", []), ck)
    flow = check_flow(data, ck, steps)
    if has_errors(ck.issues):
        return None
    by_step = {lim.step: lim for lim in limits}
    return SOP(
        id=sop_id,
        title=title,
        title_zh=title_zh,
        version=version,
        description=description,
        steps=tuple(_step(s, by_step.get(s["name"])) for s in steps),
        flow=flow,
        targets=targets,
        roles=roles,
        aliases=aliases,
        closed_when=closed_when,
        languages=languages or (),
        source=source,
    )


def _languages(data: dict[str, Any], ck: Checker) -> tuple[str, ...] | None:
    """``languages = ["en", "zh"]``: the languages the step names and labels are in."""
    value = data.get("languages")
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        ck.error(
            "'languages' must be a list of language codes, e.g. [\"en\", \"zh\"]",
            ck.loc.line("", None, "languages"),
        )
        return None
    return tuple(v.lower() for v in value)


def _header(data: dict[str, Any], ck: Checker) -> tuple[str, str, str, str, str]:
    """(id, title, title_zh, version, description) of the SOP.

    Absent optional keys read as ``""``. Anything wrong is reported to ``ck``, and
    then no SOP is built from these values.
    """

    def text(key: str, *, required: bool) -> str:
        value = read_str(ck, data, key, "", None, required=required, what="the SOP")
        return value or ""

    sop_id = text("id", required=True)
    if sop_id and not _ID.match(sop_id):
        ck.error(
            f"id {sop_id!r} must start with a letter or digit and hold only letters, "
            "digits, '-', '_' or '.'",
            ck.loc.line("", None, "id"),
        )
    title = text("title", required=True)
    title_zh = text("title_zh", required=False)
    description = text("description", required=False)
    version: Any = data.get("version")
    if version is None:
        ck.error("the SOP has no 'version' (add version = \"1\")", 1)
    elif isinstance(version, bool) or not isinstance(version, (str, int)):
        ck.error(
            f"'version' must be a string such as \"2\", not {type_name(version)}",
            ck.loc.line("", None, "version"),
        )
    return sop_id, title, title_zh, str(version), description


def _step(entry: dict[str, Any], limit: TimeLimit | None) -> Step:
    return Step(
        name=entry["name"],
        label_zh=entry["label_zh"],
        role=entry["role"],
        limit=limit,
        description=entry["description"],
        off_flow=entry["off_flow"],
    )
