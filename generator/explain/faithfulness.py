"""Deletion and insertion (Petsiuk et al., "RISE", 2018): does the map order pixels by what the model needs?

Pixels are taken in the map's order, ``per_step`` at a time (48 by default, so 48 steps for a 48x48 face).
- Deletion starts from the face and sets the next pixels to the face's mean gray. A faithful map makes the class
  probability fall fast: a low area under the curve.
- Insertion starts from a blurred face and restores the next pixels. A faithful map makes it rise fast: a high
  area under the curve.
AUC = the trapezoid area under p(k) over the removed (or restored) fraction k / steps in [0, 1].
Ties in a map (a LIME superpixel, a flat region) are broken by a seeded random order, so a map is never credited
with an order it does not give. A random map's curves, averaged over several orders, are the reference.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.ndimage import gaussian_filter
from torch import nn

BLUR_SIGMA = 3.0  # pixels: removes the expression's detail from a 48x48 face, keeps its layout


@dataclass(frozen=True)
class Curves:
    deletion: np.ndarray   # (steps + 1,) probability of the class after each step
    insertion: np.ndarray  # (steps + 1,)

    @property
    def deletion_auc(self) -> float:
        return auc(self.deletion)

    @property
    def insertion_auc(self) -> float:
        return auc(self.insertion)


def auc(curve: np.ndarray) -> float:
    return float(np.trapezoid(curve, dx=1.0 / (len(curve) - 1)))


def pixel_order(heatmap: np.ndarray, seed: int) -> np.ndarray:
    """Flat pixel indices, most important first; equal values in a seeded random order."""
    tiebreak = np.random.default_rng(seed).permutation(heatmap.size)
    return np.lexsort((tiebreak, -heatmap.ravel()))


def _probabilities(model: nn.Module, images: np.ndarray, target: int) -> np.ndarray:
    with torch.inference_mode():
        x = torch.from_numpy(images.astype(np.float32))[:, None]
        return torch.softmax(model(x).double(), dim=1)[:, target].numpy()


def curves(model: nn.Module, face: np.ndarray, target: int, order: np.ndarray, per_step: int = 48) -> Curves:
    """Deletion and insertion curves of one face (48, 48) in [0, 1] for one pixel order."""
    steps = int(np.ceil(face.size / per_step))
    gray = np.full(face.size, face.mean())
    blurred = gaussian_filter(face, BLUR_SIGMA, mode="nearest").ravel()
    rank = np.empty(face.size, np.int64)
    rank[order] = np.arange(face.size)
    taken = rank[None, :] < (np.arange(steps + 1)[:, None] * per_step)  # (steps + 1, pixels)
    flat = face.ravel()[None, :]
    deleted = np.where(taken, gray[None, :], flat).reshape(-1, *face.shape)
    inserted = np.where(taken, flat, blurred[None, :]).reshape(-1, *face.shape)
    return Curves(_probabilities(model, deleted, target), _probabilities(model, inserted, target))


def random_curves(model: nn.Module, face: np.ndarray, target: int, seed: int, orders: int = 5,
                  per_step: int = 48) -> Curves:
    """The mean curves of ``orders`` random pixel orders: the reference every map is compared with."""
    runs = [curves(model, face, target, np.random.default_rng([seed, k]).permutation(face.size), per_step)
            for k in range(orders)]
    return Curves(np.mean([r.deletion for r in runs], axis=0), np.mean([r.insertion for r in runs], axis=0))
