"""Loading SOPs: shipped ones by name, files by path (TOML or BPMN)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from process_models.errors import ModelNotFoundError
from process_models.model import SOP

_SUFFIXES = (".toml", ".bpmn")


def _models_dir() -> Path:
    return Path(str(resources.files("process_models") / "models"))


def list_sops() -> tuple[str, ...]:
    """Names of the SOPs shipped with csmine, sorted (``complaint``, ...)."""
    return tuple(sorted(p.stem for p in _models_dir().glob("*.toml")))


def shipped_path(name: str) -> Path | None:
    """Path of a shipped SOP file, or None if there is none by that name."""
    path = _models_dir() / f"{name}.toml"
    return path if path.is_file() else None


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
        from process_models.bpmn import parse_bpmn

        return parse_bpmn(text, source=source)
    from process_models.validation import parse_sop_text

    return parse_sop_text(text, source=source)
