"""A process model discovered from the log by pm4py's inductive miner (IMf).

pm4py is imported inside the functions, so importing this module stays cheap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from csmine.errors import EmptyLogError, MiningError
from csmine.mining.encoding import ACTIVITY, CASE_ID, TIMESTAMP


@dataclass(frozen=True, slots=True)
class DiscoveredModel:
    """A process model found by the inductive miner (infrequent variant, IMf).

    Attributes:
        noise: the noise threshold used (0 keeps all behaviour, 0.2 is the
            usual filter of infrequent paths).
        activities: activities the model contains.
        tree_text: the process tree in pm4py notation (``->`` sequence, ``X``
            choice, ``+`` parallel, ``*`` loop, ``tau`` silent step).
        tree: the pm4py ``ProcessTree`` (not part of equality or JSON).
    """

    noise: float
    activities: tuple[str, ...]
    tree_text: str
    tree: Any = field(repr=False, compare=False, default=None)

    def to_bpmn(self) -> Any:
        """The model as a pm4py BPMN graph."""
        import pm4py

        return pm4py.convert_to_bpmn(self.tree)

    def to_petri_net(self) -> tuple[Any, Any, Any]:
        """The model as a workflow net ``(net, initial marking, final marking)``."""
        import pm4py

        net, im, fm = pm4py.convert_to_petri_net(self.tree)
        return net, im, fm

    def write_bpmn(self, path: str) -> None:
        """Write the model as a BPMN 2.0 file with a laid-out diagram (needs ``dot``)."""
        import pm4py

        pm4py.write_bpmn(self.to_bpmn(), path, auto_layout=True)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data (without the pm4py object)."""
        return {"noise": self.noise, "activities": list(self.activities), "tree": self.tree_text}


def discover_model(
    df: pd.DataFrame,
    noise: float = 0.2,
    *,
    case_id_key: str = CASE_ID,
    activity_key: str = ACTIVITY,
    timestamp_key: str = TIMESTAMP,
) -> DiscoveredModel:
    """Discover a block-structured model with pm4py's inductive miner.

    Args:
        df: event log frame.
        noise: noise threshold in [0, 1) (IMf); 0 gives a model that fits every ticket.

    Raises:
        EmptyLogError: The log has no events.
        MiningError: ``noise`` outside [0, 1).
    """
    if not (0.0 <= noise < 1.0):
        raise MiningError(f"--noise must be in [0, 1), e.g. 0.2; got {noise!r}")
    if len(df) == 0:
        raise EmptyLogError("the event log is empty: nothing to discover (check the filters)")
    import pm4py

    frame = pd.DataFrame({
        CASE_ID: df[case_id_key].astype(str).to_numpy(dtype=object),
        ACTIVITY: df[activity_key].astype(str).to_numpy(dtype=object),
        TIMESTAMP: df[timestamp_key].to_numpy(),
    })
    tree = pm4py.discover_process_tree_inductive(frame, noise_threshold=noise, multi_processing=False)
    labels = sorted({str(leaf.label) for leaf in _leaves(tree) if leaf.label is not None})
    return DiscoveredModel(noise=noise, activities=tuple(labels), tree_text=str(tree), tree=tree)


def _leaves(tree: Any) -> list[Any]:
    out = []
    stack = [tree]
    while stack:
        node = stack.pop()
        if node.children:
            stack.extend(node.children)
        else:
            out.append(node)
    return out
