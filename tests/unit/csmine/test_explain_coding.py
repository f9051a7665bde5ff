"""Values as codes in text order (csmine.explain.coding): a text column factorized as it is
numbers its values as the sorted factorize of the values as text does (the candidates' order)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


@pytest.mark.parametrize("dtype", ["str", object])
def test_encode_column_numbers_the_values_in_text_order_with_missing_as_a_value(dtype: object) -> None:
    from csmine.explain.coding import MISSING, encode_column

    values = pd.Series(["phone", None, "email", "phone", "online chat", "email"], dtype=dtype)
    codes, labels = encode_column(values)
    # by hand: "(missing)" < "email" < "online chat" < "phone" (as Python sorts text)
    assert labels == [MISSING, "email", "online chat", "phone"]
    assert codes.tolist() == [3, 0, 1, 3, 2, 1]


@pytest.mark.parametrize("dtype", ["str", object])
def test_encode_column_names_the_missing_value_as_asked(dtype: object) -> None:
    from csmine.explain.coding import encode_column

    codes, labels = encode_column(pd.Series(["pilot", None, "baseline"], dtype=dtype), missing="(no phase)")
    assert labels == ["(no phase)", "baseline", "pilot"]
    assert codes.tolist() == [2, 0, 1]


def test_present_keeps_only_the_values_that_occur_in_text_order() -> None:
    from csmine.explain.coding import present, value_codes

    column = pd.Series(["Wang", "Li", None, "Zhao", "Li", "Chen"], dtype="str")
    codes, names = value_codes(column)
    assert codes.tolist() == [0, 1, -1, 2, 1, 3]  # first appearance, -1 missing
    mask = np.array([True, True, False, False, True, False])  # Wang, Li, Li
    local, labels = present(codes[mask], names)
    assert labels == ["Li", "Wang"]
    assert local.tolist() == [1, 0, 0]
    # the same as a sorted factorize of the values themselves
    expected_codes, expected_uniques = pd.factorize(np.asarray(column, dtype=object)[mask], sort=True)
    assert local.tolist() == expected_codes.tolist() and labels == list(expected_uniques)
