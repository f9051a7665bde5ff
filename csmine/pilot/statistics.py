"""Two-sample statistics for pilot comparisons: bootstrap intervals and sample-size rules.

A comparison of phase A (e.g. the baseline) with phase B (e.g. the pilot) reports,
for each KPI, the value on each side, the change ``B - A`` (absolute and relative),
a 95% confidence interval for the change and whether it is significant.

Algorithm: the percentile bootstrap over tickets. Each side is resampled with
replacement ``resamples`` times (independently: the two phases hold different
tickets), the statistic is computed on every resample, and the interval is read
from the 2.5th and 97.5th percentiles of the ``B* - A*`` differences. Resampling is
vectorised: a ``(chunk, n)`` matrix of random indices is drawn at once and the
statistic is taken along its rows; chunks bound the memory used on large logs.
Medians and P90s need no resampling matrix at all. A resample is ``n`` uniform
draws ``U`` mapped to the sorted sample by ``sorted[floor(U·n)]``, a non-decreasing
map, so the resample's ``r``-th smallest value is ``sorted[floor(U_(r)·n)]`` with
``U_(r)`` the ``r``-th order statistic of ``n`` uniforms, which is
``Beta(r, n - r + 1)``; the next one is ``U_(r) + (1 - U_(r))·Beta(1, n - r)`` (the
other draws are uniform above it). Two Beta draws per resample give exactly the
distribution of ``np.quantile`` (linear interpolation) over resamples, at a cost
that does not grow with ``n``.
A mean over few distinct values (satisfaction scores) draws how often each value
is picked, ``Multinomial(n, shares)``, per resample: again exactly the bootstrap
distribution; other means resample indices in bounded chunks.
For a rate (0/1 values) the mean of a resample is exactly ``Binomial(n, k/n) / n``
(each draw picks a 1 with probability ``k/n``), so rates draw that directly: the
same bootstrap distribution at a cost of ``resamples`` draws instead of
``resamples x n``.
The generator is seeded from ``seed`` and the metric's name, so the same inputs
give the same interval on every run, whatever the order the metrics are computed in.

Sample-size rules (documented in ``docs/pilot.md``). A change is only judged when
each side has enough observations for its statistic; otherwise the verdict is
"sample too small to conclude":

* rates (shares of tickets, 0/1 values): at least :data:`MIN_N_RATE` tickets per side
  and at least :data:`MIN_EVENTS` tickets with and without the property over both
  sides together (the usual ``n·p ≥ 5`` rule for a proportion);
* medians: at least :data:`MIN_N_MEDIAN` observations per side;
* 90th percentiles: at least :data:`MIN_N_P90` observations per side (so that at
  least five observations lie above the P90);
* means (e.g. satisfaction scores): at least :data:`MIN_N_MEAN` observations per side.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np

#: Tickets per side below which a rate is not judged.
MIN_N_RATE = 30
#: Tickets with (and without) the property, both sides together, below which a rate is not judged.
MIN_EVENTS = 5
#: Observations per side below which a median is not judged.
MIN_N_MEDIAN = 20
#: Observations per side below which a 90th percentile is not judged.
MIN_N_P90 = 50
#: Observations per side below which a mean is not judged.
MIN_N_MEAN = 30
#: Bootstrap resamples per metric.
DEFAULT_RESAMPLES = 2000
#: Seed of the bootstrap generator (combined with the metric name).
DEFAULT_SEED = 20250301
#: Confidence level of the intervals.
DEFAULT_CONFIDENCE = 0.95
#: Cells (resamples x observations) drawn at once; bounds the memory of a chunk.
_CHUNK_CELLS = 4_000_000

#: Minimum observations per side for each statistic.
MIN_N: dict[str, int] = {"rate": MIN_N_RATE, "mean": MIN_N_MEAN, "median": MIN_N_MEDIAN, "p90": MIN_N_P90}


@dataclass(frozen=True, slots=True)
class Change:
    """A statistic on two samples and the bootstrap interval of its change.

    Attributes:
        statistic: ``rate`` (share of 1s among 0/1 values, 0.0-1.0), ``mean``,
            ``median`` or ``p90`` (90th percentile, linear interpolation).
        a: value on sample A (NaN if A is empty).
        b: value on sample B (NaN if B is empty).
        n_a: observations in A (missing values dropped).
        n_b: observations in B.
        diff: ``b - a`` (NaN if either is NaN).
        rel: ``(b - a) / |a|``; NaN when ``a`` is 0 or NaN.
        ci_low: lower end of the confidence interval of ``diff`` (NaN when not judged).
        ci_high: upper end of the interval.
        rel_ci_low: lower end of the interval of ``rel`` (NaN when ``a`` can be 0).
        rel_ci_high: upper end of the interval of ``rel``.
        confidence: the interval's level (0.95).
        resamples: bootstrap resamples used.
        enough: both samples meet the sample-size rule of the statistic.
        significant: the interval excludes 0; None when not ``enough``.
        reason: why the change is not judged ("" when it is).
    """

    statistic: str
    a: float
    b: float
    n_a: int
    n_b: int
    diff: float
    rel: float
    ci_low: float
    ci_high: float
    rel_ci_low: float
    rel_ci_high: float
    confidence: float
    resamples: int
    enough: bool
    significant: bool | None
    reason: str


def point_statistic(values: np.ndarray, statistic: str) -> float:
    """The statistic of one sample (NaN for an empty sample).

    Args:
        values: observations (missing values already removed).
        statistic: ``rate``, ``mean``, ``median`` or ``p90``.
    """
    if len(values) == 0:
        return math.nan
    if statistic in ("rate", "mean"):
        return float(np.mean(values))
    if statistic == "median":
        return float(np.median(values))
    if statistic == "p90":
        return float(np.quantile(values, 0.9))
    raise ValueError(f"unknown statistic {statistic!r} (use rate, mean, median or p90)")


def sample_size_reason(statistic: str, a: np.ndarray, b: np.ndarray) -> str:
    """Why two samples are too small to judge a change of ``statistic`` ("" if they are not).

    See the module docstring for the rules.
    """
    need = MIN_N[statistic]
    small = [f"{side} has {len(x)}" for side, x in (("A", a), ("B", b)) if len(x) < need]
    if small:
        return f"sample too small to conclude: {' and '.join(small)}, need at least {need} per side"
    if statistic == "rate":
        ones = float(np.sum(a) + np.sum(b))
        zeros = len(a) + len(b) - ones
        if min(ones, zeros) < MIN_EVENTS:
            return (
                f"sample too small to conclude: only {round(min(ones, zeros))} tickets "
                f"{'with' if ones < zeros else 'without'} it over both sides, need at least {MIN_EVENTS}"
            )
    return ""


def _rng(seed: int, name: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(name.encode("utf-8"))])


def bootstrap_statistic(values: np.ndarray, statistic: str, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """The statistic on ``resamples`` bootstrap resamples of ``values`` (vectorised).

    Returns:
        Array of length ``resamples``.
    """
    n = len(values)
    if statistic not in ("rate", "mean", "median", "p90"):
        raise ValueError(f"unknown statistic {statistic!r} (use rate, mean, median or p90)")
    if statistic == "rate" and n and bool(np.all((values == 0) | (values == 1))):
        return rng.binomial(n, float(values.mean()), size=resamples) / n
    if statistic in ("median", "p90"):
        return _bootstrap_quantile(np.sort(values), 0.5 if statistic == "median" else 0.9, resamples, rng)
    distinct, counts = np.unique(values, return_counts=True)
    if len(distinct) <= _MULTINOMIAL_MAX:
        picks = rng.multinomial(n, counts / n, size=resamples)
        return (picks @ distinct) / n
    out = np.empty(resamples, dtype=float)
    chunk = max(1, min(resamples, _CHUNK_CELLS // max(n, 1)))
    for lo in range(0, resamples, chunk):
        hi = min(resamples, lo + chunk)
        out[lo:hi] = values[rng.integers(0, n, size=(hi - lo, n))].mean(axis=1)
    return out


#: Distinct values up to which a mean is bootstrapped by multinomial counts.
_MULTINOMIAL_MAX = 200


def _bootstrap_quantile(ordered: np.ndarray, q: float, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Quantile ``q`` (linear interpolation, numpy's default) of bootstrap resamples.

    ``np.quantile`` of a resample of size ``n`` reads its order statistics of
    (0-based) ranks ``k = floor((n-1)q)`` and ``k + 1``. With the resample drawn as
    ``ordered[floor(U_i·n)]`` for uniforms ``U_i``, those are ``ordered[floor(U_(k+1)·n)]``
    and ``ordered[floor(U_(k+2)·n)]`` (1-based order statistics of the uniforms):
    ``U_(k+1) ~ Beta(k+1, n-k)`` and, given it, ``U_(k+2) = U_(k+1) + (1-U_(k+1))·Beta(1, n-k-1)``.
    The result has exactly the distribution of ``np.quantile(ordered[idx], q)`` over
    uniformly random index vectors ``idx`` (the tests check it against that).
    """
    n = len(ordered)
    h = (n - 1) * q
    k = int(np.floor(h))
    frac = h - k
    u = rng.beta(k + 1, n - k, size=resamples)
    value = ordered[np.minimum((u * n).astype(np.int64), n - 1)]
    if frac > 0 and k + 1 < n:
        u_next = u + (1.0 - u) * rng.beta(1, n - k - 1, size=resamples)
        upper = ordered[np.minimum((u_next * n).astype(np.int64), n - 1)]
        value = value + frac * (upper - value)
    return value


def compare_samples(
    a: np.ndarray,
    b: np.ndarray,
    statistic: str,
    *,
    name: str = "",
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    confidence: float = DEFAULT_CONFIDENCE,
) -> Change:
    """Compare a statistic between two independent samples with a bootstrap interval.

    Args:
        a: sample A (e.g. the baseline); NaN values are dropped. Rates take 0/1 values.
        b: sample B (e.g. the pilot).
        statistic: ``rate``, ``mean``, ``median`` or ``p90``.
        name: the metric's name; seeds the generator together with ``seed``.
        resamples: bootstrap resamples.
        seed: base seed; the same seed and inputs give the same interval.
        confidence: level of the interval (0.95 gives the 2.5th-97.5th percentiles).

    Returns:
        The :class:`Change`; when a side is below the sample-size rule the interval is
        NaN, ``significant`` is None and ``reason`` says why.
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    a = a[~np.isnan(a)]
    b = b[~np.isnan(b)]
    va, vb = point_statistic(a, statistic), point_statistic(b, statistic)
    diff = vb - va
    rel = diff / abs(va) if va and not math.isnan(va) else math.nan
    reason = sample_size_reason(statistic, a, b)
    nan = math.nan
    if reason:
        return Change(statistic, va, vb, len(a), len(b), diff, rel, nan, nan, nan, nan, confidence,
                      0, False, None, reason)
    rng = _rng(seed, name or statistic)
    boot_a = bootstrap_statistic(a, statistic, resamples, rng)
    boot_b = bootstrap_statistic(b, statistic, resamples, rng)
    tail = (1.0 - confidence) / 2.0 * 100.0
    lo, hi = np.percentile(boot_b - boot_a, [tail, 100.0 - tail])
    rel_lo = rel_hi = nan
    if not np.any(boot_a == 0):
        rel_lo, rel_hi = np.percentile((boot_b - boot_a) / np.abs(boot_a), [tail, 100.0 - tail])
    significant = bool(lo > 0 or hi < 0)
    return Change(statistic, va, vb, len(a), len(b), diff, rel, float(lo), float(hi), float(rel_lo),
                  float(rel_hi), confidence, resamples, True, significant, "")


__all__ = [
    "DEFAULT_CONFIDENCE",
    "DEFAULT_RESAMPLES",
    "DEFAULT_SEED",
    "MIN_EVENTS",
    "MIN_N",
    "MIN_N_MEAN",
    "MIN_N_MEDIAN",
    "MIN_N_P90",
    "MIN_N_RATE",
    "Change",
    "bootstrap_statistic",
    "compare_samples",
    "point_statistic",
    "sample_size_reason",
]
