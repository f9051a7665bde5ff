"""The one JSON encoder: analysis results as strict, plain JSON.

Every ``--json`` output and every JSON file csmine writes goes through
:func:`to_jsonable` (and :func:`dumps`), so NaN, numpy, pandas, dates and
dataclasses are turned into JSON the same way everywhere.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import Enum
from pathlib import PurePath
from typing import Any

__all__ = ["dumps", "to_jsonable"]


def to_jsonable(value: Any) -> Any:
    """``value`` as plain JSON data (dict, list, str, int, float, bool, None).

    NaN and infinities become ``None``; numpy scalars and arrays, pandas objects,
    datetimes and dates (ISO 8601), timedeltas (``str``), tuples and sets (lists),
    dataclasses and enums are converted recursively; anything else becomes ``str``.
    """
    kind = type(value)  # the common exact types first (a report holds tens of thousands of values)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is float:
        return value if math.isfinite(value) else None
    if kind is dict:
        return {k if type(k) is str else str(to_jsonable(k)): to_jsonable(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [to_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if type(value).__name__ == "NaTType":
        return None
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    if isinstance(value, Enum):
        return to_jsonable(value.value)
    if isinstance(value, Decimal):
        return to_jsonable(float(value))
    if isinstance(value, PurePath):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(to_jsonable(k)) if not isinstance(k, str) else k: to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, set | frozenset):
        items = [to_jsonable(v) for v in value]
        try:
            return sorted(items)
        except TypeError:
            return items
    module = type(value).__module__.split(".")[0]
    if module == "numpy":
        if hasattr(value, "tolist"):  # ndarray and numpy scalars (item -> python type)
            return to_jsonable(value.tolist())
    if module == "pandas" and hasattr(value, "to_dict"):
        return to_jsonable(value.to_dict())
    return str(value)


def dumps(data: Any) -> str:
    """``data`` as strict JSON text (no NaN/Infinity tokens), indented, UTF-8 kept."""
    return json.dumps(to_jsonable(data), ensure_ascii=False, indent=2, allow_nan=False)
