"""The units of the estimate: what a stage will do (``Cost``), counted from the settings, and this machine's seconds
per unit of each (``Rates``), measured by generator/throughput.py. Apart from both, so neither imports the other."""
from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True)
class Cost:
    """The work a stage will do, in the units generator/throughput.py times."""
    forward: float = 0               # faces through the fast model, forward only (LIME, deletion/insertion)
    gradient: float = 0              # faces through the eager model and back to the input (question 1, sanity)
    ascent: float = 0                # question 2's filter-steps: the front of the network, forward and back
    occlusion_runs: float = 0        # occlusion runs, one per face: each sets up its path and unoccluded face
    occlusion_positions: float = 0   # box positions, on the path this model takes (incremental or batched)
    panels: float = 0                # figure panels drawn

    def __add__(self, other: Cost) -> Cost:
        return Cost(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    def scaled(self, factor: float) -> Cost:
        return Cost(**{f.name: getattr(self, f.name) * factor for f in fields(self)})


@dataclass(frozen=True)
class Rates:
    """Seconds per unit of each field of ``Cost``, measured on this machine with this model."""
    forward: float
    gradient: float
    ascent: float
    occlusion_runs: float
    occlusion_positions: float
    panels: float

    def seconds(self, cost: Cost) -> float:
        return sum(getattr(cost, f.name) * getattr(self, f.name) for f in fields(Cost))
