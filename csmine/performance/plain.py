"""Plain JSON-ready data from the performance results (``to_dict()`` of each report).

``dataclasses.asdict`` leaves NaN floats and numpy scalars in place; :func:`plain`
turns them into ``None`` and Python numbers, and tuples into lists.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def plain(value: Any) -> Any:
    """``value`` (``asdict`` output) with NaN as None, numpy scalars as Python ones, tuples as lists."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, np.generic):
        return plain(value.item())
    return value
