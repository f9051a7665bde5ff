"""Numbers for people, formatted the same way in every output (terminal, DOT, HTML).

A leaf module like :mod:`csmine.errors`: every package may use it and it imports
nothing of csmine's. The renderers themselves live in :mod:`csmine.reports`.
"""

from __future__ import annotations

import math

__all__ = ["human_duration", "human_share"]


def human_duration(seconds: float | None) -> str:
    """A duration for people: ``45s``, ``12m``, ``2h 10m``, ``3d 4h``; ``-`` if missing.

    Negative values keep their sign (``-5m``). Rounded to the shown unit.
    """
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "-"
    sign = "-" if seconds < 0 else ""
    s = abs(float(seconds))
    if s < 59.5:
        return f"{sign}{s:.0f}s"
    minutes = round(s / 60)
    if minutes < 60:
        return f"{sign}{minutes}m"
    if s < 86400 - 30:
        hours, rest = divmod(minutes, 60)
        return f"{sign}{hours}h {rest}m" if rest else f"{sign}{hours}h"
    hours_total = round(s / 3600)
    days, hours = divmod(hours_total, 24)
    return f"{sign}{days}d {hours}h" if hours else f"{sign}{days}d"


def human_share(value: float | None, digits: int = 1) -> str:
    """A share in [0, 1] as a percentage (``12.5%``); ``-`` if missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{100.0 * value:.{digits}f}%"
