"""Free attributes spread into columns: only texts that can hold a named key are decoded, same values."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
import pytest

from csmine.eventlog.frames import expand_table_attributes

TEXTS = [
    '{"row":"r1","satisfaction":90}',
    '{"row":"r2"}',                                   # unique per event, no key asked for
    '{"row":"r3","note":"satisfaction was asked"}',   # the key's name in a value only
    None,                                             # no attributes
    "",                                               # an empty text
    '{"满意度":"高","row":"r6"}',                      # a non-ASCII key as the store writes it
    '{"\\u6ee1\\u610f\\u5ea6":"低"}',                  # the same key escaped (ensure_ascii)
    '{"satisfaction":null,"row":"r8"}',
    '{"row":"r1","satisfaction":90}',                 # a repeated text
]


def _reference(keys):
    parsed = [json.loads(t) if t else {} for t in TEXTS]
    return {k: [p.get(k) for p in parsed] for k in keys}


@pytest.mark.parametrize("attributes", [["satisfaction"], ["满意度"], ["satisfaction", "满意度", "missing"]])
def test_named_keys_equal_a_full_decode(attributes):
    df = pd.DataFrame({"x": range(len(TEXTS))})
    decoded: list[str] = []

    def decode(raw: bytes):
        decoded.append(raw.decode())
        return json.loads(raw)

    expand_table_attributes(df, pa.array(TEXTS, pa.string()), attributes, {}, decode)
    for key, values in _reference(attributes).items():
        assert df[key].tolist() == values, key
    # texts without any asked key as a JSON string are not decoded: r2, and r6/r7 unless asked
    assert '{"row":"r2"}' not in decoded
    assert ('{"满意度":"高","row":"r6"}' in decoded) == ("满意度" in attributes)


def test_all_keys_and_filters():
    df = pd.DataFrame({"x": range(len(TEXTS))})
    expand_table_attributes(df, pa.array(TEXTS, pa.string()), "all", {}, lambda raw: json.loads(raw))
    assert sorted(c for c in df.columns if c != "x") == ["note", "row", "satisfaction", "满意度"]
    for key, values in _reference(["note", "row", "satisfaction", "满意度"]).items():
        assert df[key].tolist() == values
    df = pd.DataFrame({"x": range(len(TEXTS))})
    expand_table_attributes(df, pa.array(TEXTS, pa.string()), None, {"row": ("r1",)}, lambda raw: json.loads(raw))
    assert df["row"].tolist() == _reference(["row"])["row"]


@pytest.mark.parametrize("attributes", [["satisfaction"], ["满意度", "row"], "all"])
def test_rows_taken_in_the_frames_order(attributes):
    # the frame's row i holds the column's text at positions[i] (the load sorts the rows)
    import numpy as np

    positions = np.array([8, 3, 0, 6, 1, 4, 7, 2, 5])
    df = pd.DataFrame({"x": range(len(TEXTS))})
    expand_table_attributes(df, pa.array(TEXTS, pa.string()), attributes, {}, lambda raw: json.loads(raw), positions)
    keys = ["note", "row", "satisfaction", "满意度"] if attributes == "all" else attributes
    for key, values in _reference(keys).items():
        assert df[key].tolist() == [values[p] for p in positions], key
    assert df["satisfaction" if "satisfaction" in keys else "row"].notna().sum() > 0
