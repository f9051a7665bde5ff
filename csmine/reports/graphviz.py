"""The one Graphviz runner: DOT source to SVG, PNG or PDF with the ``dot`` program.

Every picture csmine draws (process maps, SOP flowcharts, the report's maps, a
ticket's path) goes through :func:`run_dot`, so a missing or slow ``dot`` fails the
same way everywhere: a :class:`~csmine.errors.GraphvizError` (exit code 3) whose
message names the fix (install Graphviz, or simplify the map). :func:`dot_to` writes
a file whose extension picks the format (``.dot``/``.gv`` are the source itself and
need no Graphviz); :func:`dot_to_svg` returns an inline ``<svg>`` element for HTML pages.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from event_store.io.files import write_bytes, write_text

from csmine.errors import GraphvizError, RenderError

__all__ = ["DRAWN_FORMATS", "SOURCE_FORMATS", "TIMEOUT_S", "dot_to", "dot_to_svg", "run_dot"]

#: Formats ``dot`` draws; :data:`SOURCE_FORMATS` are written as DOT text.
DRAWN_FORMATS = ("svg", "png", "pdf")
SOURCE_FORMATS = ("dot", "gv")
#: Longest a single ``dot`` run may take, in seconds.
TIMEOUT_S = 300.0

INSTALL_HINT = "install Graphviz: apt-get install graphviz"
TOO_BIG_HINT = "use simplification (--activities/--paths; a map drawn with --full shows everything)"


def run_dot(dot: str, fmt: str = "svg", *, what: str = "the map", dpi: int | None = None,
            timeout: float = TIMEOUT_S, or_else: str = "") -> bytes:
    """Draw DOT source with Graphviz ``dot``.

    Args:
        dot: DOT source.
        fmt: one of :data:`DRAWN_FORMATS`.
        what: what is drawn, for the error message (e.g. ``"'map.svg'"``).
        dpi: resolution of raster output (``-Gdpi``); None: Graphviz's default.
        timeout: seconds before ``dot`` is stopped.
        or_else: another way out, added to the message when ``dot`` is missing.

    Returns:
        The drawing's bytes.

    Raises:
        GraphvizError: ``dot`` is not on ``PATH``, took longer than ``timeout``, or failed.
    """
    exe = shutil.which("dot")
    if exe is None:
        raise GraphvizError(f"cannot draw {what}: Graphviz's `dot` program is not on PATH; {INSTALL_HINT}{or_else}")
    args = [exe, f"-T{fmt}", *([f"-Gdpi={int(dpi)}"] if dpi is not None else [])]
    try:
        proc = subprocess.run(args, input=dot.encode("utf-8"), capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise GraphvizError(f"{what} is too big for Graphviz's `dot`: it took over {timeout:.0f} s; "
                            f"{TOO_BIG_HINT}") from exc
    if proc.returncode != 0 or not proc.stdout:
        message = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GraphvizError(f"Graphviz's `dot` could not draw {what}: {message[-1] if message else 'no output'}")
    return proc.stdout


def dot_to_svg(dot: str, *, what: str = "the map") -> str:
    """DOT source drawn as an inline ``<svg>`` element (no XML prolog), for HTML pages."""
    svg = run_dot(dot, "svg", what=what).decode("utf-8")
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else svg


def dot_to(dot: str, path: str | Path, *, dpi: int | None = 144) -> Path:
    """Write DOT source to ``path``: ``.dot``/``.gv`` as text, ``.svg``/``.png``/``.pdf`` drawn by ``dot``.

    Args:
        dot: DOT source.
        path: output file; the extension picks the format.
        dpi: resolution of PNG output (None: Graphviz's default, 96).

    Returns:
        The path written.

    Raises:
        RenderError: unknown extension.
        GraphvizError: Graphviz missing, too slow, or failed.
    """
    target = Path(path)
    ext = target.suffix.lower().lstrip(".")
    if ext in SOURCE_FORMATS:
        write_text(str(target), dot, force=True)
        return target
    if ext not in DRAWN_FORMATS:
        raise RenderError(f"cannot write a drawing to {str(path)!r}: use a .svg, .png, .pdf or .dot file name")
    write_bytes(str(target), run_dot(dot, ext, what=repr(str(path)), dpi=dpi if ext == "png" else None,
                                     or_else=" (or write the DOT source with a .dot file name)"), force=True)
    return target
