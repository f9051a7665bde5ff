"""The readable list of contributors: forward selection among the discoveries.

The second half of :func:`csmine.explain.contributors.find_contributors` (the rules are in
its module docstring and ``docs/why.md``). :class:`Listing` holds what the steps of the
selection share -- the memberships of the candidates in play, the pattern of the
contributors listed so far (the strata later candidates are compared within), which
candidates are still alive, and what was listed with whom.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from csmine.explain.statistics import exact_upper_p, mantel_haenszel, mantel_haenszel_cells

if TYPE_CHECKING:
    from csmine.explain.evidence import Evidence
    from csmine.explain.features import FeatureSet
    from csmine.explain.measuring import Outcome

__all__ = ["Listing", "MECHANISM_KINDS", "ORDINAL", "SAME"]

#: Overlap (Jaccard) from which two groups count as the same tickets.
SAME = 0.8
#: Kinds listed after the others ("how": who worked on it, its path, the queue it met), given them.
MECHANISM_KINDS = frozenset({"path", "load", "agent"})
#: Ordered attributes: once one range of them is shown, overlapping ranges are listed with it.
ORDINAL = frozenset({"hour", "queue at arrival", "teams"})

#: Per candidate: ``(a_k, n1_k, O_k, N_k)`` over its strata given those listed.
_Table = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
#: Memberships (ticket, candidate) gathered at once when counting many candidates: the
#: counts are summed chunk by chunk, so memory stays bounded whatever the log's size
#: (about 40 bytes each; gathered all at once they took 2.4 GB at 3M events).
CHUNK_MEMBERSHIPS = 2_000_000
#: Cells (candidate x stratum) of the count tables made at once (8 bytes each, a few tables).
CHUNK_CELLS = 4_000_000


def _chunks(codes: np.ndarray, sizes: np.ndarray, limit: int = CHUNK_MEMBERSHIPS,
            most: int | None = None) -> list[np.ndarray]:
    """``codes`` cut into consecutive runs whose ``sizes`` add up to at most ``limit``
    and of at most ``most`` codes (a code larger than ``limit`` alone)."""
    if len(codes) == 0:
        return []
    ends = np.cumsum(sizes[codes])
    out, start, base = [], 0, 0
    while start < len(codes):
        stop = max(int(np.searchsorted(ends, base + limit, side="right")), start + 1)
        if most is not None:
            stop = min(stop, start + max(most, 1))
        out.append(codes[start:stop])
        base, start = int(ends[stop - 1]), stop
    return out


def _compress(codes: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Codes below ``size`` renumbered 0..k-1 over the ones that occur, in order (no sort: a
    lookup), and the codes that occur (``k`` of them)."""
    present = np.zeros(size, dtype=bool)
    present[codes] = True
    remap = np.cumsum(present) - 1
    return remap[codes], np.flatnonzero(present)


def _jaccard(x: np.ndarray, y: np.ndarray, nx: float | None = None) -> float:
    inter = float((x & y).sum())
    union = (float(x.sum()) if nx is None else nx) + float(y.sum()) - inter
    return inter / union if union else 0.0


def _upper_p(a_in: float, n_in: float, a_out: float, n_out: float) -> float:
    """One-sided p-value that the rate inside is above the rate outside: Fisher's exact test,
    or for large counts the normal approximation with a continuity correction."""
    if n_in <= 0 or n_out <= 0:
        return 1.0
    counts = (np.array([[a_in]]), np.array([[n_in]]), np.array([a_in + a_out]), np.array([n_in + n_out]))
    exact = exact_upper_p(counts[0][0], counts[1][0], counts[2], counts[3])
    if exact is not None:
        return exact
    return float(mantel_haenszel(*counts).p[0])


def _sorted_by_code(codes: np.ndarray, n_codes: int) -> np.ndarray:
    """The stable order of ``codes`` (small integers: a radix sort on narrow keys)."""
    narrow = np.int16 if n_codes < 2 ** 15 else np.int32
    return np.argsort(codes.astype(narrow), kind="stable")


class Listing:
    """The forward selection's state over the discoveries of one outcome (see the module docstring)."""

    def __init__(self, outcome: Outcome, features: FeatureSet, ev: Evidence) -> None:
        self.features, self.ev = features, ev
        self.applies, self.y = outcome.applies, ev.counts.y
        self.on = np.flatnonzero(outcome.applies)
        self.n_feat = features.size
        self._index_memberships()
        self.pattern = np.zeros(features.tickets, dtype=np.int64)
        self.shown: list[int] = []
        self.same: dict[int, list[str]] = {}
        self.explains: dict[int, list[str]] = {}
        cand = self._standing_pairs(outcome.flag)
        self.alive = np.zeros(self.n_feat, dtype=bool)
        self.alive[cand] = True
        self._groups()
        tested, pair_of = ev.counts.tested, features.pair_of
        self.pairs_with = np.bincount(pair_of[tested & (pair_of[:, 0] >= 0)].ravel(), minlength=self.n_feat)
        self.crude_lo = np.where(np.isfinite(ev.lift_lo), ev.lift_lo, 0.0)
        self.united = {str(features.attribute[x]) for x in range(self.n_feat)
                       if " or " in str(features.value[x]) or str(features.value[x]).startswith("not ")}

    # -- memberships --------------------------------------------------------------------

    def _index_memberships(self) -> None:
        """The applicable memberships of the discoveries and of their parts, by candidate code."""
        ev, features = self.ev, self.features
        needed = ev.discovered.copy()
        parts = features.pair_of[ev.discovered]
        needed[parts[parts >= 0]] = True
        for code in np.flatnonzero(ev.discovered):
            for part in features.derived.get(int(code), ()):
                needed[part] = True
        f, t = ev.counts.candidate, ev.counts.ticket
        sub = needed[f]
        sub_f = f[sub]
        by_code = _sorted_by_code(sub_f, self.n_feat)
        per_code = np.bincount(sub_f, minlength=self.n_feat)
        del sub_f  # the sorted codes are per_code's runs: no gather of them (tens of millions at 10M events)
        self.sub_t = t[sub][by_code]
        del by_code
        self.bounds = np.concatenate([[0], np.cumsum(per_code)])
        self._members: dict[int, np.ndarray] = {}
        #: per strata group, as the last conditional tables counted: stratum per ticket, size, O_k, N_k
        self._strata: dict[int, tuple[np.ndarray, int, np.ndarray, np.ndarray]] = {}

    def tickets_of(self, code: int) -> np.ndarray:
        """The applicable tickets of a candidate (a derived one: of its parts)."""
        derived, sub_t, bounds = self.features.derived, self.sub_t, self.bounds
        if code in derived:
            return np.concatenate([sub_t[bounds[x]:bounds[x + 1]] for x in derived[code]])
        return sub_t[bounds[code]:bounds[code + 1]]

    def members(self, code: int) -> np.ndarray:
        """Per ticket code: is it an applicable ticket of the candidate?"""
        if code not in self._members:
            out = np.zeros(self.features.tickets, dtype=bool)
            out[self.tickets_of(code)] = True
            self._members[code] = out
        return self._members[code]

    def _standing_pairs(self, flag: np.ndarray) -> np.ndarray:
        """The discoveries in play: a pair only when it stands out within both of its single values."""
        ev, pair_of = self.ev, self.features.pair_of
        inside = np.zeros(self.features.tickets, dtype=bool)  # the pair's tickets (a scratch mark)
        remaining = []
        for code in (int(x) for x in np.flatnonzero(ev.discovered)):
            if pair_of[code, 0] >= 0:
                pair = self.tickets_of(code)
                inside[pair] = True
                stands = True
                for part in pair_of[code]:
                    theirs = self.tickets_of(int(part))
                    rest = theirs[~inside[theirs]]  # the value's tickets outside the pair
                    if _upper_p(ev.counts.a[code], ev.counts.n1[code], float(flag[rest].sum()),
                                float(len(rest))) > 0.05:
                        stands = False
                        break
                inside[pair] = False
                if not stands:
                    continue
            remaining.append(code)
        return np.asarray(remaining, dtype=np.int64)

    def _groups(self) -> None:
        """Per candidate, the strata group it is adjusted over (-1: not tested), and per
        candidate its applicable tickets (a derived one: its parts')."""
        by_index = {by: k for k, by in enumerate(self.ev.stratum_of)}
        self.group_of = np.full(self.n_feat, -1, dtype=np.int64)
        for code in np.flatnonzero(self.ev.counts.tested):
            self.group_of[code] = by_index.get(self.ev.adjusted_for[int(code)], -1)
        self.size_of = np.diff(self.bounds).astype(np.int64)
        for code, parts in self.features.derived.items():
            self.size_of[code] = self.size_of[list(parts)].sum()

    def _rows(self, codes: np.ndarray) -> tuple[list[int], list[list[int]], np.ndarray, np.ndarray]:
        """The memberships behind ``codes``: the candidates that have their own (a derived one's
        parts), for each of ``codes`` the rows it sums, and the memberships (row, ticket)."""
        derived = self.features.derived
        rows = sorted({p for c in codes.tolist() for p in derived.get(c, (c,))})
        row_of = {r: k for k, r in enumerate(rows)}
        pick = [[row_of[p] for p in derived.get(c, (c,))] for c in codes.tolist()]
        starts, ends = self.bounds[rows], self.bounds[np.asarray(rows, dtype=np.int64) + 1]
        tickets = np.concatenate([self.sub_t[s:e] for s, e in zip(starts, ends, strict=True)])
        row = np.repeat(np.arange(len(rows)), ends - starts)
        return rows, pick, row, tickets

    # -- words ---------------------------------------------------------------------------

    def name_of(self, code: int) -> str:
        return f"{self.features.attribute[code]} = {self.features.value[code]}"

    def attach(self, target: dict[int, list[str]], owner: int, code: int) -> None:
        target.setdefault(owner, []).append(self.name_of(code))
        self.alive[code] = False

    def explained(self, code: int) -> None:
        """``code`` is no longer a discovery given those shown: listed with the one it overlaps most."""
        idx = self.tickets_of(code)
        owner = max(self.shown, key=lambda x: int(self.members(x)[idx].sum())) if self.shown else None
        if owner is not None:
            self.attach(self.explains, owner, code)
        else:
            self.alive[code] = False

    # -- the tests given those listed -----------------------------------------------------

    def conditioning(self, code: int) -> np.ndarray:
        """Per ticket, what later candidates are compared within once ``code`` is listed: the
        values of a listed ticket attribute (a union says which values; within it they may
        still differ), else in or out of the listed group."""
        features = self.features
        own = features.involves[code]
        if features.kind[code] == "ticket" and len(own) == 1 and next(iter(own)) in features.strata:
            return features.strata[next(iter(own))]
        return self.members(code).astype(np.int64)

    def conditional_p(self, code: int, extra: np.ndarray, mask: np.ndarray | None = None) -> float:
        """One-sided p-value of ``code`` (or of the tickets ``mask``, in ``code``'s strata) given
        its strata, those listed and ``extra``; NaN where it cannot be tested (no ticket of a
        stratum differs)."""
        stratum = self.ev.stratum_of[self.ev.adjusted_for[code]]
        both = np.unique(self.pattern * (int(extra.max()) + 1) + extra, return_inverse=True)[1]
        g = np.unique(stratum * (int(both.max()) + 1) + both, return_inverse=True)[1]
        size = int(g.max()) + 1
        mine = (self.members(code) if mask is None else mask) & self.applies
        y, on = self.y, self.on
        n1k = np.bincount(g[mine], minlength=size)[None, :]
        ak = np.bincount(g[mine], weights=y[mine], minlength=size)[None, :]
        nk = np.bincount(g[on], minlength=size)
        ok = np.bincount(g[on], weights=y[on], minlength=size)
        mh = mantel_haenszel(ak, n1k, ok, nk)
        if not np.isfinite(mh.z[0]):
            return math.nan
        if mh.z[0] <= 0:
            return 1.0
        exact = exact_upper_p(ak[0], n1k[0], ok, nk)
        return float(mh.p[0]) if exact is None else exact

    def conditional_tables(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every alive candidate's lift adjusted for its strata and for the groups already shown:
        lower bound, CMH statistic and p-value (a candidate's table: :meth:`table`)."""
        cond_lo = np.full(self.n_feat, -np.inf)
        cond_z = np.full(self.n_feat, np.nan)
        cond_p = np.ones(self.n_feat)
        width = int(self.pattern.max()) + 1
        y, on = self.y, self.on
        self._strata.clear()
        for gk, stratum in enumerate(self.ev.stratum_of.values()):
            codes = np.flatnonzero(self.alive & (self.group_of == gk))
            if len(codes) == 0:
                continue
            g, occurring = _compress(stratum * width + self.pattern, int(stratum.max()) * width + width)
            size = len(occurring)
            nk = np.bincount(g[on], minlength=size)
            ok = np.bincount(g[on], weights=y[on], minlength=size)
            self._strata[gk] = (g, size, ok, nk)
            for part in _chunks(codes, self.size_of, most=CHUNK_CELLS // size):
                group, stratum_k, a_cells, n1_cells = self._stratum_cells(part, g, size)
                mh = mantel_haenszel_cells(group, len(part), a_cells, n1_cells, ok[stratum_k], nk[stratum_k])
                cond_lo[part] = np.where(np.isfinite(mh.lo), mh.lo,
                                         np.where(np.isinf(mh.ratio), self.crude_lo[part], 0.0))
                cond_z[part] = mh.z
                cond_p[part] = mh.p
        return cond_lo, cond_z, cond_p

    def table(self, code: int) -> _Table:
        """``code``'s table over its strata given those shown, as the last :meth:`conditional_tables` counted."""
        g, size, ok, nk = self._strata[int(self.group_of[code])]
        ak, n1k = self._stratum_counts(np.array([code], dtype=np.int64), g, size)
        return ak[0], n1k[0], ok, nk

    def _stratum_cells(self, codes: np.ndarray, g: np.ndarray,
                       size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The cells of ``codes``' tables over strata ``g`` that hold tickets, in (candidate,
        stratum) order: each cell's candidate (index into ``codes``), stratum, outcomes and tickets.

        Counted over the strata the candidates' tickets touch only (renumbered in order), so
        the table is candidates x touched strata, not candidates x every stratum."""
        rows, pick, row, tickets = self._rows(codes)
        local, touched = _compress(g[tickets], size)
        ak, n1k = self._stratum_counts(codes, local, len(touched), (rows, pick, row, tickets))
        cells = np.flatnonzero(n1k)  # the rest add nothing to any sum (see mantel_haenszel_cells)
        width = max(len(touched), 1)
        return cells // width, touched[cells % width], ak.ravel()[cells], n1k.ravel()[cells]

    def _stratum_counts(self, codes: np.ndarray, g: np.ndarray, size: int,
                        gathered: tuple | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Per candidate of ``codes`` and stratum ``g`` (0..size-1 per ticket, or per membership of
        ``gathered``, :meth:`_rows` already called): outcomes and tickets inside."""
        rows, pick, row, tickets = self._rows(codes) if gathered is None else gathered
        key = row * size + (g[tickets] if gathered is None else g)
        shape = (len(rows), size)
        n1r = np.bincount(key, minlength=len(rows) * size).reshape(shape)
        ar = np.bincount(key, weights=self.y[tickets], minlength=len(rows) * size).reshape(shape)
        if all(len(ix) == 1 for ix in pick):
            first = np.fromiter((ix[0] for ix in pick), dtype=np.int64, count=len(pick))
            return ar[first], n1r[first]
        # a derived candidate's counts are the sums of its parts' (integers: exact)
        return np.stack([ar[ix].sum(axis=0) for ix in pick]), np.stack([n1r[ix].sum(axis=0) for ix in pick])

    # -- the selection ------------------------------------------------------------------------

    def select(self, pool: np.ndarray, limit: int) -> list[int]:
        """List up to ``limit`` contributors of ``pool``, each adding to those shown before it."""
        self.alive[:] = self.alive & pool
        listed: list[int] = []
        while len(listed) < limit and self.alive.any():
            cond_lo, cond_z, cond_p = self.conditional_tables()
            for code in np.flatnonzero(self.alive & ~((cond_z > 0) & (cond_p <= self.ev.p_star))):
                self.explained(int(code))
            best = self._best(cond_lo)
            if best < 0:
                break
            best = self._parsimony(best, cond_p)
            self.alive[best] = False
            bm = self.members(best)
            nb = float(bm.sum())
            twin = next((x for x in self.shown if _jaccard(bm, self.members(x), nb) >= SAME), None)
            if twin is not None:
                self.same.setdefault(twin, []).append(self.name_of(best))
                continue
            new = self.conditioning(best)
            self.pattern = np.unique(self.pattern * (int(new.max()) + 1) + new,
                                     return_inverse=True)[1].astype(np.int64)
            self.shown.append(best)
            listed.append(best)
            self._list_with(best, bm, nb)
        return listed

    def _best(self, cond_lo: np.ndarray) -> int:
        """The alive candidate with the highest conditional lower bound that, for small counts,
        also passes the exact conditional test (-1: none)."""
        while self.alive.any():
            best = int(np.argmax(np.where(self.alive, cond_lo, -np.inf)))
            exact = exact_upper_p(*self.table(best)) if self.shown else None
            if exact is None or exact <= self.ev.p_star:
                return best
            self.explained(best)
        return -1

    def _parsimony(self, best: int, cond_p: np.ndarray) -> int:
        """A pair gives way to one of its single values still in play (listed now; the pair may
        follow if it stands out given it) when that value has the outcome more often outside
        the pair too (one-sided, given the strata, those listed and the pair, at 5% after
        Bonferroni over the value's pairs tested), or when the value alone has more evidence
        than the pair (a smaller one-sided p-value, given the strata and those listed): then
        the value, not the pair, is what the tickets share."""
        pair_of = self.features.pair_of
        if pair_of[best, 0] < 0:
            return best
        pm = self.members(best)
        parts = sorted((int(x) for x in pair_of[best] if self.alive[int(x)]), key=lambda x: cond_p[x])
        for part in parts:
            bar = 0.05 / max(int(self.pairs_with[part]), 1)
            if cond_p[part] <= cond_p[best] or self.conditional_p(
                    best, pm.astype(np.int64), mask=self.members(part) & ~pm) <= bar:
                return part
        return best

    def _list_with(self, best: int, bm: np.ndarray, nb: float) -> None:
        """Alive candidates listed with ``best``: the same tickets (Jaccard), one range per
        stretch of hours or queue lengths, one entry per attribute whose unions of values are
        tested (the union says which values)."""
        features = self.features
        alive = np.flatnonzero(self.alive)
        if len(alive) == 0:
            return
        attribute = features.attribute[best]
        for code, inter in self._overlaps(alive, bm):
            size = int(self.size_of[code])
            if inter / (size + nb - inter) >= SAME:
                self.attach(self.same, best, code)
            elif features.attribute[code] == attribute and (
                    (attribute in ORDINAL and inter > 0)
                    or (attribute in self.united and features.kind[best] != "pair")):
                self.attach(self.explains, best, code)

    def _overlaps(self, codes: np.ndarray, mask: np.ndarray) -> list[tuple[int, int]]:
        """Per candidate of ``codes``: how many of its applicable tickets ``mask`` holds."""
        out = []
        for part in _chunks(codes, self.size_of):
            rows, pick, row, tickets = self._rows(part)
            inter_row = np.bincount(row, weights=mask[tickets], minlength=len(rows))
            out.extend((code, int(inter_row[ix].sum())) for code, ix in zip(part.tolist(), pick, strict=True))
        return out
