"""Process discovery: maps, variants, models, where time goes, and log statistics.

The public face below is imported lazily (on first use), so importing one module of
the package stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from csmine._lazy import attach

if TYPE_CHECKING:
    from csmine.mining.first_line import first_line_tickets
    from csmine.mining.maps import ProcessMap, discover_map, discover_maps
    from csmine.mining.model import DiscoveredModel, discover_model
    from csmine.mining.simplify import simplify_map
    from csmine.mining.stats import LogStats, compute_stats
    from csmine.mining.time_split import TimeSplit, split_time
    from csmine.mining.variants import Variant, discover_variants

_EXPORTS = {
    "discover_map": "maps",
    "discover_maps": "maps",
    "simplify_map": "simplify",
    "ProcessMap": "maps",
    "discover_variants": "variants",
    "Variant": "variants",
    "discover_model": "model",
    "DiscoveredModel": "model",
    "first_line_tickets": "first_line",
    "split_time": "time_split",
    "TimeSplit": "time_split",
    "compute_stats": "stats",
    "LogStats": "stats",
}
__all__ = [
    "discover_map",
    "discover_maps",
    "simplify_map",
    "ProcessMap",
    "discover_variants",
    "Variant",
    "discover_model",
    "DiscoveredModel",
    "first_line_tickets",
    "split_time",
    "TimeSplit",
    "compute_stats",
    "LogStats",
]
__getattr__, __dir__ = attach(__name__, _EXPORTS)
