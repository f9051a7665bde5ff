"""``csmine discover`` as text: the map's activities and paths, the variants, the model."""

from __future__ import annotations

from typing import TYPE_CHECKING

from csmine.formatting import human_duration as hd
from csmine.formatting import human_share as hs
from csmine.reports.labels import shorten_name
from csmine.reports.text.blocks import Block, Para, Text, table

if TYPE_CHECKING:
    from csmine.mining.maps import ProcessMap
    from csmine.mining.model import DiscoveredModel
    from csmine.mining.variants import Variant

#: Activity names longer than this (display columns) end in "…" in the tables (--json has them whole).
NAME_COLUMNS = 80
#: Paths listed.
PATHS_SHOWN = 15


def sequence_text(activities: tuple[str, ...], width: int = 90) -> str:
    """A variant's activities joined by arrows, cut with ``… (+N)`` past ``width`` columns."""
    activities = tuple(shorten_name(a, NAME_COLUMNS) for a in activities)
    text = " → ".join(activities)
    if len(text) <= width:
        return text
    shown: list[str] = []
    for a in activities:
        if len(" → ".join([*shown, a])) > width - 12:
            break
        shown.append(a)
    if not shown:
        return f"{activities[0]} → … (+{len(activities) - 1})"
    return " → ".join(shown) + f" → … (+{len(activities) - len(shown)})"


def render_discovery(pmap: ProcessMap, variants: list[Variant], model: DiscoveredModel | None, mode: str) -> Text:
    """The map in numbers (activities, the most frequent or slowest paths), the variants and the model."""
    def nm(name: str) -> str:
        return shorten_name(name, NAME_COLUMNS)

    blocks: list[Block] = [Para(f"Process map: {pmap.tickets:,} tickets, {pmap.events:,} events, "
                                f"{len(pmap.nodes)} activities, {len(pmap.edges)} paths")]
    if pmap.dropped_activities or pmap.dropped_paths:
        blocks.append(Para(f"simplified: activities cover {hs(pmap.activity_coverage)} of events, paths cover "
                           f"{hs(pmap.path_coverage)} of path occurrences; hidden: "
                           f"{len(pmap.dropped_activities)} activities, {pmap.dropped_paths} paths"))
    blocks.append(table(["activity", "events", "tickets", "work median"],
                        [[nm(n.activity), f"{n.events:,}", f"{n.cases:,}", hd(n.work_median_s)] for n in pmap.nodes],
                        title="Activities"))
    slowest = mode == "performance"
    edges = sorted(pmap.edges, key=lambda e: -(e.median_s or 0)) if slowest else list(pmap.edges)
    shown = edges[:PATHS_SHOWN]
    blocks.append(table(["from", "to", "tickets", "times", "median wait", "mean", "P90"],
                        [[nm(e.source), nm(e.target), f"{e.cases:,}", f"{e.events:,}", hd(e.median_s), hd(e.mean_s),
                          hd(e.p90_s)] for e in shown],
                        title=f"Paths ({'slowest' if slowest else 'most frequent'} {len(shown)} of {len(pmap.edges)})",
                        left=(0, 1)))
    if variants:
        cover = variants[-1].cumulative_share
        blocks.append(table(["#", "tickets", "share", "cumulative", "median throughput", "sequence"],
                            [[i, f"{v.tickets:,}", hs(v.share), hs(v.cumulative_share), hd(v.median_throughput_s),
                              sequence_text(v.activities)] for i, v in enumerate(variants, start=1)],
                            title=f"Variants (top {len(variants)} cover {hs(cover)} of tickets)", left=(5,)))
    if model is not None:
        blocks.append(Para(f"Inductive-miner model (noise {model.noise:g}): {model.tree_text}"))
    return Text(tuple(blocks))
