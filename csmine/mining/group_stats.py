"""Group statistics: per key (a path of the map, a step, a transition, a handover) how its occurrences spread.

:func:`impact_stats` gives, per key, the count, tickets, median, mean, P90 and total
of its occurrences' times and, unless asked not to, its **impact**: the time saved if
every occurrence slower than the median took only the median time,
``sum(max(0, t - median(t)))`` (see :mod:`csmine.performance.bottlenecks`). The process
map's paths (:mod:`csmine.mining.maps`) are the same figures without the impact.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from csmine.mining.encoding import unique_ints


def impact_stats(keys: np.ndarray, values: np.ndarray, cases: np.ndarray, *, impact: bool = True) -> pd.DataFrame:
    """Per key: count, tickets, median, mean, p90, total, impact (excess over median), tickets slower.

    Integer keys and ticket codes without missing values (the usual case) are done in
    one sort: group bounds, quantiles read at their ranks (linear interpolation, as
    pandas), distinct (key, ticket) pairs by sorting; anything else goes through
    pandas (:func:`impact_stats_pandas`, the same figures).

    Returns:
        One row per key (index ``k``, sorted) with columns ``size``, ``median``,
        ``mean``, ``sum``, ``p90``, ``impact``, ``slow_tickets`` and ``tickets`` (``impact=False``:
        without ``impact`` and ``slow_tickets``).
    """
    keys = np.asarray(keys)
    values = np.asarray(values, dtype=float)
    cases = np.asarray(cases)
    if (len(keys) == 0 or keys.dtype.kind not in "iu" or cases.dtype.kind not in "iu"
            or bool(np.isnan(values).any()) or int(cases.min()) < 0):
        out = impact_stats_pandas(keys, values, cases)
        return out if impact else out.drop(columns=["impact", "slow_tickets"])
    order = np.lexsort((values, keys))
    k, v, c = keys[order], values[order], cases[order]
    starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
    sizes = np.diff(np.r_[starts, len(k)])
    groups = len(starts)

    def quantile(q: float) -> np.ndarray:
        h = (sizes - 1) * q
        lo = np.floor(h).astype(np.int64)
        frac = h - lo
        a = v[starts + lo]
        b = v[starts + np.minimum(lo + 1, sizes - 1)]
        return a + frac * (b - a)

    lo = (sizes - 1) // 2
    median = (v[starts + lo] + v[starts + sizes // 2]) / 2.0  # the middle value, or the mean of the two
    total = np.add.reduceat(v, starts)
    group_of = np.repeat(np.arange(groups, dtype=np.int64), sizes)
    span = int(c.max()) + 1
    pair_key = group_of * span + c
    columns: dict[str, np.ndarray] = {"size": sizes.astype(np.int64), "median": median, "mean": total / sizes,
                                      "sum": total, "p90": quantile(0.9)}
    if impact:
        excess = np.clip(v - np.repeat(median, sizes), 0, None)
        columns["impact"] = np.add.reduceat(excess, starts)
        columns["slow_tickets"] = np.bincount(unique_ints(pair_key[excess > 0]) // span,
                                              minlength=groups).astype(np.int64)
    columns["tickets"] = np.bincount(unique_ints(pair_key) // span, minlength=groups).astype(np.int64)
    return pd.DataFrame(columns, index=pd.Index(k[starts], name="k"))


def impact_stats_pandas(keys: np.ndarray, values: np.ndarray, cases: np.ndarray) -> pd.DataFrame:
    """:func:`impact_stats` by pandas group-bys (any key and ticket types, NaN values)."""
    frame = pd.DataFrame({"k": keys, "v": values, "c": cases})
    g = frame.groupby("k", sort=True)["v"]
    out = g.agg(["size", "median", "mean", "sum"])
    out["p90"] = g.quantile(0.9)
    med = g.transform("median").to_numpy()
    excess = np.clip(values - med, 0, None)
    frame["x"] = excess
    out["impact"] = frame.groupby("k", sort=True)["x"].sum()
    slow = frame[excess > 0]
    out["slow_tickets"] = slow.drop_duplicates(["k", "c"]).groupby("k").size().reindex(out.index, fill_value=0)
    out["tickets"] = frame.drop_duplicates(["k", "c"]).groupby("k").size()
    return out
