"""What "equal to the local path" means for an engine's results, shared by the engine tests.

Counts exactly; durations (seconds) to :data:`TOL_S` (sums in another order differ in
the last digits); shares to 1e-12.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

TOL_S = 1e-3


def close(a, b) -> bool:
    """Two durations within :data:`TOL_S`, or both missing."""
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= TOL_S


def assert_same_map(m0, m1) -> None:
    """Two process maps with the same nodes and paths, counts exact, durations within TOL_S."""
    assert (m0.tickets, m0.events) == (m1.tickets, m1.events)
    assert [(n.activity, n.events, n.cases) for n in m0.nodes] == [(n.activity, n.events, n.cases) for n in m1.nodes]
    for a, b in zip(m0.nodes, m1.nodes, strict=True):
        assert close(a.work_median_s, b.work_median_s) and close(a.work_mean_s, b.work_mean_s), (a, b)
    key = [(e.source, e.target, e.events, e.cases) for e in m0.all_edges()]
    assert key == [(e.source, e.target, e.events, e.cases) for e in m1.all_edges()]
    for a, b in zip(m0.all_edges(), m1.all_edges(), strict=True):
        for field in ("median_s", "mean_s", "p90_s", "total_s"):
            assert close(getattr(a, field), getattr(b, field)), (field, a, b)
    assert (m0.dropped_activities, m0.dropped_paths) == (m1.dropped_activities, m1.dropped_paths)
    assert m0.activity_coverage == pytest.approx(m1.activity_coverage, abs=1e-12)
    assert m0.path_coverage == pytest.approx(m1.path_coverage, abs=1e-12)


def same_column(a: pd.Series, b: pd.Series) -> bool:
    """Two frame columns equal: floats within TOL_S (NaN equal to NaN), everything else exactly."""
    if a.dtype.kind == "f" or b.dtype.kind == "f":
        return bool(np.allclose(a.astype(float), b.astype(float), atol=TOL_S, rtol=0, equal_nan=True))
    plain = lambda s: s.astype(object).where(s.notna(), None).tolist()  # noqa: E731
    return plain(a) == plain(b)
