"""The SOP files shipped with csmine (``process_models/models/*.toml``), by name.

Only finds files; reading them is :mod:`process_models.loading`'s job. Both
loading and validation resolve shipped names through here, so neither needs the
other for it.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def _models_dir() -> Path:
    return Path(str(resources.files("process_models") / "models"))


def list_sops() -> tuple[str, ...]:
    """Names of the SOPs shipped with csmine, sorted (``complaint``, ...)."""
    return tuple(sorted(p.stem for p in _models_dir().glob("*.toml")))


def shipped_path(name: str) -> Path | None:
    """Path of a shipped SOP file, or None if there is none by that name."""
    path = _models_dir() / f"{name}.toml"
    return path if path.is_file() else None


__all__ = ["list_sops", "shipped_path"]
