"""The report page's embedded font: a subset of Noto Sans CJK, cached on disk."""

from __future__ import annotations

import base64
import io
import os

import pytest

from csmine.reports import html_report


@pytest.fixture
def font_cache(tmp_path):
    if not os.path.exists(html_report.CJK_FONT):
        pytest.skip("Noto Sans CJK not installed (scripts/bootstrap.sh installs fonts-noto-cjk)")
    return tmp_path / "csmine" / "fonts"


def test_subset_covers_the_text_and_is_cached_by_character_set(font_cache):
    from fontTools.ttLib import TTFont

    first = html_report.subset_font("回访 Callback 回访", font_cache)
    font = TTFont(io.BytesIO(base64.b64decode(first)))
    cmap = font.getBestCmap()
    assert {ord(c) for c in "回访Calbk "} <= set(cmap)
    assert ord("接") not in cmap  # only the characters asked for
    assert len(list(font_cache.iterdir())) == 1
    # Same characters in another order: read from the cache, same bytes.
    assert html_report.subset_font("Callback 访回", font_cache) == first
    assert len(list(font_cache.iterdir())) == 1
    # New characters: a new subset next to the first.
    assert html_report.subset_font("接收投诉", font_cache) != first
    assert len(list(font_cache.iterdir())) == 2


def test_unwritable_cache_still_gives_the_subset(font_cache):
    font_cache.parent.mkdir(parents=True)
    font_cache.write_text("a file where the folder should be")
    assert base64.b64decode(html_report.subset_font("归档", font_cache)).startswith(b"OTTO")
