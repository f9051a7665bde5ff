"""Simulation: a synthetic contact centre with known ground truth, and the recorded demo.

The ``simulate`` function lives at :func:`csmine.simulation.simulate.simulate` (and
``csmine.simulate``): its name is the module's, so this face does not re-export it.

The public face below is imported lazily (on first use), so importing one module of
the package stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from csmine._lazy import attach

if TYPE_CHECKING:
    from csmine.simulation.demo import DemoRun, demo_truth, record_demo
    from csmine.simulation.config import SimulationConfig
    from csmine.simulation.frames import histories_to_frame
    from csmine.simulation.truth import GroundTruth, Simulation

_EXPORTS = {
    "SimulationConfig": "config",
    "Simulation": "truth",
    "GroundTruth": "truth",
    "histories_to_frame": "frames",
    "record_demo": "demo",
    "demo_truth": "demo",
    "DemoRun": "demo",
}
__all__ = [
    "SimulationConfig",
    "Simulation",
    "GroundTruth",
    "histories_to_frame",
    "record_demo",
    "demo_truth",
    "DemoRun",
]
__getattr__, __dir__ = attach(__name__, _EXPORTS)
