from __future__ import annotations

import re

import pytest

from process_models import list_sops, load_sop
from process_models.render import FONT, render_sop, render_sop_image


def test_dot_shows_steps_roles_limits_and_gateways():
    dot = render_sop(load_sop("complaint"))
    assert f'fontname="{FONT}"' in dot
    assert "<B>Record</B><BR/>记录登记" in dot
    assert "agent 客服 · within 30 min of opened 受理" in dot
    assert "specialist 专员 · within 24 h of Classify" in dot
    steps = re.findall(r"<B>([^<]+)</B>", dot)
    # Eight steps in the flow plus Reopen drawn apart, off the SOP.
    assert sorted(steps) == sorted(load_sop("complaint").step_names)
    assert "cluster_off_flow" in dot and "off the SOP 流程外" in dot
    # Escalate: one choice (2 diamonds); the Handle loop: 2 more.
    assert dot.count("shape=diamond") == 4
    assert dot.count('label="×"') == 4  # noqa: RUF001


def test_nested_choices_draw_as_one():
    dot = render_sop(load_sop("it-incident"))
    # optional(loop(Queue)): 2 + 2; loop(seq(Work, optional(xor(6 waits)))): 2 + 2;
    # the closing choice: 2.
    assert dot.count("shape=diamond") == 10


def test_overlay_colours_a_step_and_adds_text():
    dot = render_sop(load_sop("complaint"), {"Callback": ("#f4a3a3", "skipped in 12%")})
    node = next(line for line in dot.splitlines() if "<B>Callback</B>" in line)
    assert 'fillcolor="#f4a3a3"' in node and "skipped in 12%" in node
    other = next(line for line in dot.splitlines() if "<B>Archive</B>" in line)
    assert 'fillcolor="#eaf2fb"' in other


def test_labels_are_escaped():
    dot = render_sop(load_sop("complaint"), {"Record": ("", "<late> & lost")})
    assert "&lt;late&gt; &amp; lost" in dot


@pytest.mark.parametrize("name", list_sops())
def test_every_shipped_sop_renders_to_svg_and_png(name, tmp_path):
    sop = load_sop(name)
    svg = render_sop_image(sop, "svg")
    png = render_sop_image(sop, "png")
    (tmp_path / f"{name}.svg").write_bytes(svg)
    (tmp_path / f"{name}.png").write_bytes(png)
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 20_000
    text = svg.decode("utf-8")
    assert "<svg" in text and FONT in text
    for step in sop.steps:
        assert step.label_zh in text
