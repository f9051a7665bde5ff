"""Validation issues, and the collector the checks report them to.

:class:`ValidationIssue` is the public result type. :class:`Checker` and the
value readers below are shared by the check modules of this package: each check
reads one part of the parsed TOML, reports what is wrong through the checker
(with the line :class:`~process_models.toml_format.Locator` found) and returns
what it could read, so one pass reports every problem.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from process_models.errors import ModelFormatError
from process_models.model import parse_duration
from process_models.toml_format import Locator

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


def sorted_issues(issues: list[ValidationIssue]) -> list[ValidationIssue]:
    """Issues in file order; those without a line last (a stable sort)."""
    return sorted(issues, key=lambda i: (i.line is None, i.line or 0))


def has_errors(issues: list[ValidationIssue]) -> bool:
    """Whether any issue is an error (warnings leave an SOP usable)."""
    return any(i.severity == ERROR for i in issues)


@dataclass(slots=True)
class Checker:
    """Collects the issues of one TOML text; ``loc`` gives their lines."""

    loc: Locator
    issues: list[ValidationIssue] = field(default_factory=list)

    def error(self, message: str, line: int | None, step: str | None = None) -> None:
        """Report an error (the SOP cannot be built)."""
        self.issues.append(ValidationIssue(ERROR, message, line, step))

    def warn(self, message: str, line: int | None, step: str | None = None) -> None:
        """Report a warning (the SOP can still be built)."""
        self.issues.append(ValidationIssue(WARNING, message, line, step))

    def unknown_keys(
        self,
        data: dict[str, Any],
        known: tuple[str, ...],
        table: str,
        index: int | None,
    ) -> None:
        """Report every key of ``data`` not in ``known`` (typos such as ``whithin``)."""
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


def type_name(value: Any) -> str:
    """How a TOML value's type reads in a message (``"a string"``, ``"a table"``)."""
    return {
        str: "a string",
        int: "a number",
        float: "a number",
        bool: "true/false",
        list: "an array",
        dict: "a table",
    }.get(type(value), type(value).__name__)


def read_str(
    ck: Checker,
    data: dict[str, Any],
    key: str,
    table: str,
    index: int | None,
    *,
    required: bool,
    what: str,
) -> str | None:
    """``data[key]`` if it is a string; report it missing or of the wrong type."""
    value = data.get(key)
    if value is None:
        if required:
            ck.error(
                f'{what} has no {key!r} (add {key} = "...")', ck.loc.line(table, index)
            )
        return None
    if not isinstance(value, str):
        ck.error(
            f"{key!r} of {what} must be a string, not {type_name(value)}",
            ck.loc.line(table, index, key),
        )
        return None
    return value


def read_duration(
    ck: Checker, value: Any, line: int | None, what: str, step: str | None = None
) -> timedelta | None:
    """A duration string (``"30 min"``) as a timedelta; report anything else."""
    if isinstance(value, bool) or not isinstance(value, str):
        ck.error(
            f'{what} must be a duration string such as "30 min", "2 h" or "3 d", '
            f"not {type_name(value)}",
            line,
            step,
        )
        return None
    try:
        return parse_duration(value)
    except ModelFormatError as exc:
        ck.error(f"{what}: {exc}", line, step)
        return None
