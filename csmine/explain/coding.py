"""Values as integer codes, in text order: what the candidate groups are built from.

A column is factorized as it is -- an Arrow text column without a Python object per row --
and its codes renumbered so that the values are in text order, as a sorted factorize of
the values as text would number them (the candidates' order, and so the listing's ties,
follow it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from csmine.performance.preparation import Prepared

__all__ = ["MISSING", "encode_column", "present", "step_labels", "value_codes"]

#: The value shown for a missing attribute.
MISSING = "(missing)"


def _text(values: np.ndarray) -> np.ndarray:
    out = np.asarray(values, dtype=object)
    missing = pd.isna(out)
    if missing.any():
        out = out.copy()
        out[missing] = MISSING
    return np.asarray([str(v) for v in out], dtype=object) if out.size and not isinstance(out[0], str) else out


def _encode(values: np.ndarray) -> tuple[np.ndarray, list[str]]:
    codes, uniques = pd.factorize(pd.Series(_text(values), dtype=object), sort=True)
    return codes.astype(np.int64), [str(u) for u in uniques]


def _text_order(codes: np.ndarray, names: list[str]) -> tuple[np.ndarray, list[str]]:
    """``codes`` renumbered so that their names are in text order (as a sorted factorize)."""
    order = np.argsort(np.asarray(names, dtype=object), kind="stable")
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return rank[codes], [names[i] for i in order]


def value_codes(values: Any) -> tuple[np.ndarray, list[str]]:
    """Codes of the values (-1: missing) and each code's text, factorized on the column itself
    (an Arrow text column is encoded without a Python object per row)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    if isinstance(uniques.dtype, pd.StringDtype):  # already text: no str() per value
        return np.asarray(codes, dtype=np.int64), np.asarray(uniques, dtype=object).tolist()
    return np.asarray(codes, dtype=np.int64), [str(u) for u in uniques]


def present(codes: np.ndarray, names: list[str]) -> tuple[np.ndarray, list[str]]:
    """Codes (none missing) renumbered over the values that occur, in text order: what a sorted
    factorize of the values themselves gives, on integers."""
    used = np.zeros(len(names), dtype=bool)
    used[codes] = True
    idx = np.flatnonzero(used)
    remap = np.full(len(names), -1, dtype=np.int64)
    remap[idx] = np.arange(len(idx))
    return _text_order(remap[codes], [names[i] for i in idx])


def encode_column(values: pd.Series, missing: str = MISSING) -> tuple[np.ndarray, list[str]]:
    """Per row its value's code, the values in text order, a missing one as ``missing`` (a value
    too). A text column is factorized as it is (no Python object per ticket); any other goes
    through its values as text."""
    if not isinstance(values.dtype, pd.StringDtype):
        raw = values.to_numpy(dtype=object)
        return _encode(np.where(pd.isna(raw), missing, raw) if missing != MISSING else raw)
    codes, names = value_codes(values)
    if (codes < 0).any():
        if missing not in names:
            names.append(missing)
        codes = np.where(codes < 0, names.index(missing), codes)
    return _text_order(codes, names)


def step_labels(prep: Prepared) -> tuple[np.ndarray, list[str]]:
    """Per activity code the code of its label -- the SOP step it maps to, else the activity --
    and the labels (an activity and a step of the same name share one)."""
    log = prep.log
    activities = log.activities.astype(object)
    first = np.full(len(activities), -1, dtype=np.int64)  # an event of each activity
    first[log.act[::-1]] = np.arange(log.n)[::-1]
    label = [str(activities[k]) if first[k] < 0 or pd.isna(prep.step[first[k]]) else str(prep.step[first[k]])
             for k in range(len(activities))]
    index: dict[str, int] = {}
    code_of = np.asarray([index.setdefault(x, len(index)) for x in label], dtype=np.int64)
    return code_of, list(index)
