"""The contributors' counting (evidence) and forward selection (listing) go chunk by chunk: the same figures."""

from __future__ import annotations

import json

import numpy as np
import pytest

from csmine.explain import evidence, listing
from csmine.explain.listing import _chunks


def test_chunks_keep_order_and_bounds_by_hand():
    codes = np.array([4, 0, 2, 3, 1])
    sizes = np.array([5, 1, 2, 9, 3])  # by code; in the order above: 3, 5, 2, 9, 1
    parts = _chunks(codes, sizes, limit=8)
    assert [p.tolist() for p in parts] == [[4, 0], [2], [3], [1]]  # 3+5 = 8; 2+9 > 8; 9 alone
    assert [p.tolist() for p in _chunks(codes, sizes, limit=100, most=2)] == [[4, 0], [2, 3], [1]]
    assert _chunks(np.array([], dtype=np.int64), sizes) == []


@pytest.fixture(scope="module")
def planted():
    from process_models import load_sop

    from csmine.simulation.config import PlantedCause, SimulationConfig
    from csmine.simulation.frames import histories_to_frame
    from csmine.simulation.simulate import simulate

    cause = PlantedCause("slow-team", 2.5, region="East", category="complaint")
    sim = simulate(SimulationConfig(tickets=3000, seed=21, causes=(cause,)))
    return histories_to_frame(sim.histories, sim.phases), load_sop("complaint"), sim.truth.planted[0].outcome


def test_small_chunks_give_the_same_contributors(planted, monkeypatch):
    from csmine.explain.why import explain_outcome

    df, sop, outcome = planted
    whole = explain_outcome(df, sop, outcome, what_if=0).to_dict()
    assert whole["contributors"], "nothing to compare: the planted cause should be found"
    seen: list[int] = []

    def counted(*args, **kwargs):
        parts = _chunks(*args, **kwargs)
        seen.append(len(parts))
        return parts

    monkeypatch.setattr(evidence, "COUNT_CHUNK", 97)  # thousands of memberships: many pieces
    monkeypatch.setattr(listing, "CHUNK_MEMBERSHIPS", 40)
    monkeypatch.setattr(listing, "CHUNK_CELLS", 64)
    monkeypatch.setattr(listing, "_chunks", lambda codes, sizes, limit=None, most=None: counted(
        codes, sizes, listing.CHUNK_MEMBERSHIPS, most))
    chunked = explain_outcome(df, sop, outcome, what_if=0).to_dict()
    assert max(seen) > 10  # the candidates were really counted in many pieces
    assert json.dumps(chunked, sort_keys=True, default=str) == json.dumps(whole, sort_keys=True, default=str)


@pytest.fixture
def listing_of(planted):
    """The selection's state on the planted outcome, before anything is listed, and its candidates."""
    from csmine.explain.evidence import weigh_candidates
    from csmine.explain.features import ticket_features
    from csmine.explain.listing import Listing
    from csmine.explain.outcomes import parse_outcome
    from csmine.explain.why import _measure

    df, sop, outcome = planted
    prep, kpis, result = _measure(df, sop, parse_outcome(outcome), calendar=None, closing=None,
                                  priority_key="case:priority", first_response=None)
    features = ticket_features(prep, kpis, result)
    evidence = weigh_candidates(result, features, min_support=20, alpha=0.05, adjust=("priority", "channel"))
    return Listing(result, features, evidence), features


def test_table_cells_equal_the_dense_tables(listing_of):
    # the selection counts each chunk over the strata its tickets touch: the same non-empty
    # cells, in the same order, as the full candidates x strata tables
    listing, features = listing_of
    codes = np.flatnonzero(listing.alive)[:25]
    assert len(codes) >= 5
    rng = np.random.default_rng(3)
    size = 500
    g = rng.integers(0, size, features.tickets)  # fine strata: most untouched by a candidate
    ak, n1k = listing._stratum_counts(codes, g, size)
    cells = np.flatnonzero(n1k)
    group, stratum, a, n1 = listing._stratum_cells(codes, g, size)
    assert (group == cells // size).all() and (stratum == cells % size).all()
    assert (a == ak.ravel()[cells]).all() and (n1 == n1k.ravel()[cells]).all()
    assert 0 < len(cells) < n1k.size


def test_conditional_tables_equal_the_dense_mantel_haenszel(listing_of):
    # every alive candidate's conditional figures, summed over its non-empty cells, against
    # the dense Mantel-Haenszel of its whole table (a cell left out or misplaced changes them)
    from csmine.explain.statistics import mantel_haenszel

    listing, _ = listing_of
    best = int(np.flatnonzero(listing.alive)[0])  # condition on one, so the strata are cut finer
    listing.pattern = listing.conditioning(best)
    cond_lo, cond_z, cond_p = listing.conditional_tables()
    checked = 0
    for code in np.flatnonzero(listing.alive):
        ak, n1k, ok, nk = listing.table(int(code))
        dense = mantel_haenszel(ak[None, :], n1k[None, :], ok, nk)
        assert cond_z[code] == pytest.approx(dense.z[0], rel=1e-9, nan_ok=True)
        assert cond_p[code] == pytest.approx(dense.p[0], rel=1e-9)
        checked += 1
    assert checked >= 5
