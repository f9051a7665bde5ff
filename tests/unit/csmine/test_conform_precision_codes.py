"""Precision of a conformance pass from the pass's own codes equals precision from a frame."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest
from process_models import load_sop

from csmine.conformance.engines import alignment_net
from csmine.conformance.figures import precision_alignments, trie_precision
from csmine.conformance.trie import trie_from_codes


@pytest.mark.parametrize("name", ["complaint", "it-incident"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_codes_and_frame_give_the_same_precision(name: str, seed: int) -> None:
    sop = load_sop(name)
    net = alignment_net(sop)
    rng = random.Random(seed)
    # steps with one unknown activity and one name no event uses (codes need not all occur)
    steps = [*sop.step_names, "Lunch break", "never used"]
    runs = [list(sop.flow_steps)[: rng.randint(1, len(sop.flow_steps))] for _ in range(30)]
    traces = [[s for s in r if rng.random() > 0.2] + rng.sample(steps[:-1], rng.randint(0, 2)) for r in runs]
    traces = [t or [steps[0]] for t in traces]
    tickets = np.array([f"T{i:03d}" for i in range(len(traces))], dtype=object)  # sorted ids
    lengths = np.array([len(t) for t in traces])
    step_idx = np.array([steps.index(s) for t in traces for s in t], dtype=np.int64)
    frame = pd.DataFrame({"case:concept:name": np.repeat(tickets, lengths),
                          "concept:name": [s for t in traces for s in t],
                          "time:timestamp": pd.Timestamp("2024-01-01", tz="UTC")})
    trie = trie_from_codes(np.repeat(np.arange(len(tickets)), lengths), tickets, step_idx, steps)
    from_codes = trie_precision(trie, *net)
    assert from_codes is not None and 0.0 <= from_codes <= 1.0
    assert from_codes == precision_alignments(frame, *net)


def test_no_figure_when_the_net_is_beyond_the_compiled_size() -> None:
    net = alignment_net(load_sop("complaint"))
    trie = trie_from_codes(np.zeros(1, dtype=np.int64), np.array(["T1"], dtype=object),
                           np.zeros(1, dtype=np.int64), ["a"])
    assert trie_precision(trie, *net, max_states=1) is None
