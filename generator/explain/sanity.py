"""Sanity check by cascading model randomisation (Adebayo et al., "Sanity Checks for Saliency Maps", 2018).

The weight layers (Conv2d and Linear; a Keras model's conv and Dense layers) are re-initialised from the top down, one at a time, cumulatively. After
each step every method's map is compared with its map on the trained model: Spearman rank correlation of the
absolute values, and SSIM. A map that depends on the model must change: its similarity falls. A map that stays
the same (an edge detector on the input would) explains the image, not the model.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from scipy.stats import spearmanr
from skimage.metrics import structural_similarity
from torch import nn

from generator.models import layers

PASS_BELOW = 0.5  # a method passes when, with every layer randomised, the mean Spearman rho is below this


@dataclass(frozen=True)
class SanityResult:
    layers: list[str]          # randomised in this order (top first)
    spearman: np.ndarray       # (steps + 1, images): step 0 is the trained model (1 by definition)
    ssim: np.ndarray           # (steps + 1, images)

    @property
    def final_spearman(self) -> float:
        """Mean over the faces whose maps are not constant (a constant map has no ranking to compare)."""
        final = self.spearman[-1]
        return float(np.nanmean(final)) if np.isfinite(final).any() else float("nan")

    @property
    def passed(self) -> bool:
        return bool(self.final_spearman < PASS_BELOW)


def weight_layers(model: nn.Module) -> list[tuple[str, object]]:
    """The weight layers of the user's model, top (output side) first: Conv2d and Linear, or a Keras model's conv
    and Dense layers (generator/models/layers.py)."""
    return layers.weight_layers(model)


def similarity(reference: np.ndarray, other: np.ndarray) -> tuple[float, float]:
    """(Spearman rho of |values|, SSIM) of two maps in [0, 1]. Rho is NaN when either map is constant (Grad-CAM
    gives an all-zero map when no channel's weighted sum is positive): such a face is left out of the means."""
    a, b = np.abs(reference).ravel(), np.abs(other).ravel()
    rho = float("nan") if a.std() == 0 or b.std() == 0 else float(spearmanr(a, b).statistic)
    return rho, float(structural_similarity(reference, other, data_range=1.0))


def cascading_randomisation(model: nn.Module, methods: dict[str, Callable], images: torch.Tensor,
                            targets: torch.Tensor, seed: int,
                            reference: dict | None = None) -> dict[str, SanityResult]:
    """For every method f(model, images, targets) -> maps, the similarity curves as layers are randomised.
    ``reference``: the methods' maps on the trained model where the caller has them already (method -> maps)."""
    randomised = copy.deepcopy(model)
    layers = weight_layers(randomised)
    reference = reference or {}
    reference = {name: reference[name] if name in reference else f(model, images, targets)
                 for name, f in methods.items()}
    scores = {name: [[1.0] * len(maps)] for name, maps in reference.items()}  # a map equals itself
    ssims = {name: [[1.0] * len(maps)] for name, maps in reference.items()}
    for step, (_, layer) in enumerate(layers):
        _randomise(layer, seed, step)
        for name, f in methods.items():
            maps = f(randomised, images, targets)
            pairs = [similarity(r, m) for r, m in zip(reference[name], maps)]
            scores[name].append([p[0] for p in pairs])
            ssims[name].append([p[1] for p in pairs])
    names = [name for name, _ in layers]
    return {name: SanityResult(names, np.array(scores[name]), np.array(ssims[name])) for name in methods}


def _randomise(layer, seed: int, step: int) -> None:
    with torch.random.fork_rng():  # reset_parameters draws from the global generator: keep it seeded, local
        torch.manual_seed(seed * 1000 + step)
        layer.reset_parameters()


def fully_randomised(model: nn.Module, seed: int) -> nn.Module:
    """A copy of ``model`` with every weight layer re-initialised: the last model of the cascade with ``seed``."""
    randomised = copy.deepcopy(model)
    for step, (_, layer) in enumerate(weight_layers(randomised)):
        _randomise(layer, seed, step)
    return randomised


def final_similarity(reference: np.ndarray, randomised: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per face, (Spearman rho, SSIM) of the map on the trained model and on the fully randomised one."""
    pairs = [similarity(r, m) for r, m in zip(reference, randomised)]
    return np.array([p[0] for p in pairs], dtype=np.float64), np.array([p[1] for p in pairs], dtype=np.float64)
