"""Loading SOPs: shipped ones by name, files by path (TOML or BPMN).

Loading is validation that refuses: a TOML file goes through
:func:`process_models.validation.parse_sop_text`, a BPMN file through
:func:`process_models.bpmn.parse_bpmn`. Nothing in the package imports this
module back, so the arrows point one way: ``loading`` → ``validation``, ``bpmn``,
``shipped``.
"""

from __future__ import annotations

from pathlib import Path

from process_models.bpmn import parse_bpmn
from process_models.errors import ModelNotFoundError
from process_models.model import SOP
from process_models.shipped import list_sops, shipped_path
from process_models.validation import parse_sop_text

_SUFFIXES = (".toml", ".bpmn")


def load_sop(name_or_path: str | Path) -> SOP:
    """Load an SOP by shipped name (``"complaint"``) or from a ``.toml``/``.bpmn`` file.

    A string that names an existing file, or ends in ``.toml``/``.bpmn``, is read
    as a path; otherwise it is looked up among the shipped SOPs.

    Raises:
        ModelNotFoundError: No such file or shipped SOP.
        ModelFormatError: The file has errors (the message gives their lines).
        UnsupportedConstructError: A BPMN file uses an element csmine cannot map.
    """
    path = Path(name_or_path)
    is_path = (
        isinstance(name_or_path, Path)
        or path.suffix.lower() in _SUFFIXES
        or (path.exists() and path.is_file())
    )
    if not is_path:
        shipped = shipped_path(str(name_or_path))
        if shipped is None:
            raise ModelNotFoundError(
                f"no SOP called {str(name_or_path)!r}: shipped SOPs are "
                f"{', '.join(list_sops())}; or give a path to a .toml or .bpmn file"
            )
        return _load_file(shipped, source=str(shipped))
    if not path.is_file():
        raise ModelNotFoundError(
            f"SOP file '{path}' does not exist (shipped SOPs: {', '.join(list_sops())})"
        )
    return _load_file(path, source=str(path))


def _load_file(path: Path, *, source: str) -> SOP:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelNotFoundError(f"cannot read SOP file '{path}': {exc}") from exc
    if path.suffix.lower() == ".bpmn":
        return parse_bpmn(text, source=source)
    return parse_sop_text(text, source=source)


__all__ = ["load_sop"]
