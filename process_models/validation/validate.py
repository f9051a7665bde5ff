"""The entry point of validation: one SOP file (TOML or BPMN), every issue in it.

:func:`validate_sop` takes a path, a shipped SOP's name or the text itself, reads
TOML through :func:`~process_models.validation.document.check_toml` and BPMN
through :func:`process_models.bpmn.parse_bpmn` plus
:func:`~process_models.validation.semantic.check_sop`, then checks the soundness
of the workflow net when nothing else is wrong.
"""

from __future__ import annotations

from pathlib import Path

from process_models.bpmn import parse_bpmn
from process_models.errors import (
    ModelNotFoundError,
    ProcessModelError,
    UnsupportedConstructError,
)
from process_models.model import SOP
from process_models.shipped import shipped_path
from process_models.validation.document import check_toml
from process_models.validation.issues import (
    ERROR,
    ValidationIssue,
    has_errors,
    sorted_issues,
)
from process_models.validation.semantic import check_flow_soundness, check_sop


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
    sop: SOP | None
    if source.lower().endswith(".bpmn") or text.lstrip().startswith("<"):
        sop, issues = _check_bpmn(text, source)
    else:
        sop, issues = check_toml(text, source)
    if sop is not None and soundness and not has_errors(issues):
        issues = issues + check_flow_soundness(sop)
    return sorted_issues(issues)


def _check_bpmn(text: str, source: str) -> tuple[SOP | None, list[ValidationIssue]]:
    try:
        sop = parse_bpmn(text, source=source)
    except UnsupportedConstructError as exc:
        return None, [ValidationIssue(ERROR, str(exc), exc.line)]
    except ProcessModelError as exc:
        return None, [ValidationIssue(ERROR, str(exc), getattr(exc, "line", None))]
    return sop, check_sop(sop)


def _read_text(path_or_text: str | Path) -> tuple[str, str]:
    """Return ``(text, source)``; the source is the path or ``"<text>"``."""
    if isinstance(path_or_text, Path):
        path = path_or_text
    elif "\n" in path_or_text or "=" in path_or_text or "<" in path_or_text:
        return path_or_text, "<text>"
    else:
        path = Path(path_or_text)
        if not path.exists():
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
