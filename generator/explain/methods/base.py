"""The shape of an explanation method. Each method is one module of this folder with one subclass of ``Method``;
the registry (``__init__.py``) lists them in the order the report shows them.

A method declares its key (as settings and figure names spell it), its display name (a proper name, the same in
both languages), its kind, the settings section it reads, the passes it makes per face (the estimate adds them up)
and ``attribute``: (N, 1, 48, 48) faces in [0, 1] and (N,) targets -> (N, 48, 48) maps in [0, 1].
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

GRADIENT, PERTURBATION, SURROGATE = "gradient", "perturbation", "surrogate"
Seed = int | Sequence[int]  # one for the batch, or one per face (the class averages batch many faces)


@dataclass(frozen=True)
class Passes:
    """What one face costs a method: passes through the model, forward only or back to the input; and occlusion's
    box positions, which its incremental path times apart (generator/throughput.py)."""
    forward: float = 0
    gradient: float = 0
    occlusion_runs: float = 0
    occlusion_positions: float = 0

    def __add__(self, other: "Passes") -> "Passes":
        return Passes(self.forward + other.forward, self.gradient + other.gradient,
                      self.occlusion_runs + other.occlusion_runs,
                      self.occlusion_positions + other.occlusion_positions)


class Method:
    key: str = ""
    name: str = ""
    kind: str = GRADIENT
    section: str = "attribution"
    # The trust page scores most methods on the evaluation set; a method that costs a second or more per face
    # (LIME) only on the report faces, and it is then left out of the randomisation check
    report_faces_only: bool = False
    seeded: bool = False  # draws random numbers, from the build's seed (the reproducibility page names it)

    def passes(self, settings) -> Passes:
        raise NotImplementedError

    def attribute(self, model: torch.nn.Module, faces: torch.Tensor, targets: torch.Tensor, settings,
                  seed: Seed) -> np.ndarray:
        raise NotImplementedError

    def for_trust(self, settings):
        """The settings the trust page runs this method with (occlusion takes a coarser grid there)."""
        return settings
