"""Deletion and insertion (Petsiuk et al., "RISE", 2018): does the map order pixels by what the model needs?

Pixels are taken in the map's order, ``per_step`` at a time (48 by default, so 48 steps for a 48x48 face).
- Deletion starts from the face and removes the next pixels. A faithful map makes the class probability fall fast:
  a low area under the curve.
- Insertion starts with every pixel removed and restores the next pixels. A faithful map makes it rise fast: a high
  area under the curve.
What a removed pixel becomes is the ``imputation``:
- "road" (the default): ROAD's noisy linear imputation from the pixels still there (generator/explain/imputation.py),
  so the shape of the removed region does not tell the model which pixels were taken; with no pixel there
  (insertion's start, deletion's end), the face's mean gray.
- "mean": deletion fills the face's mean gray, insertion starts from the face blurred (``BLUR_SIGMA``): the simpler
  fill, kept for comparison with ROAD.
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

from generator.explain.imputation import NOISE_STD, impute

BLUR_SIGMA = 3.0  # pixels: removes the expression's detail from a 48x48 face, keeps its layout
IMPUTATIONS = ("road", "mean")
PAIRS_PER_CHUNK = 16   # (face, order) pairs imputed together: 16 x 2 curves x 49 steps = 1568 images, ~30 MB
FORWARD_BATCH = 256    # images per forward pass: bounds the activations (~150 MB for the demo CNN)


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


def random_orders(seed: int, count: int, size: int = 48 * 48) -> np.ndarray:
    """``count`` seeded random pixel orders (count, size): the random map's reference orders."""
    return np.stack([np.random.default_rng([seed, k]).permutation(size) for k in range(count)])


def _noise(seed: int, face: int, order: int, shape: tuple) -> np.ndarray:
    """The imputation noise of one (face, order) pair, (2, steps + 1, H, W): deletion, then insertion. Seeded by
    the pair, so a curve's noise does not depend on which other faces or orders are computed with it."""
    return np.random.default_rng([seed, face, order]).normal(0.0, NOISE_STD, (2, *shape))


def taken_masks(order: np.ndarray, per_step: int, shape: tuple[int, int]) -> np.ndarray:
    """(steps + 1, H, W): True where a pixel is taken after each step (none at the start, all at the end)."""
    size = shape[0] * shape[1]
    rank = np.empty(size, np.int64)
    rank[order] = np.arange(size)
    steps = -(-size // per_step)
    return (rank[None, :] < (np.arange(steps + 1)[:, None] * per_step)).reshape(-1, *shape)


def _mean_fill(face: np.ndarray, order: np.ndarray, per_step: int) -> np.ndarray:
    """The "mean" images of one face and order, (2, steps + 1, H, W): deletion to mean gray, insertion from blur."""
    taken = taken_masks(order, per_step, face.shape)
    blurred = gaussian_filter(face, BLUR_SIGMA, mode="nearest")
    return np.stack([np.where(taken, face.mean(), face), np.where(taken, face, blurred)])


def _road_fill(faces: np.ndarray, orders: np.ndarray, pairs: list, per_step: int, seed: int) -> np.ndarray:
    """The "road" images of several (face, order) pairs, (pairs, 2, steps + 1, H, W), imputed in one call (numba
    spreads the images over the threads). Deletion removes the pixels taken; insertion those not yet restored."""
    removed, noise = [], []
    for n, m in pairs:
        taken = taken_masks(orders[n, m], per_step, faces.shape[1:])
        removed.append(np.stack([taken, ~taken]))
        noise.append(_noise(seed, n, m, taken.shape))
    removed, noise = np.stack(removed), np.stack(noise)
    index = np.array([n for n, _ in pairs])
    images = np.broadcast_to(faces[index][:, None, None], removed.shape)
    grays = np.broadcast_to(faces[index].mean(axis=(1, 2))[:, None, None], removed.shape[:3])
    flat = (-1, *faces.shape[1:])
    out = impute(images.reshape(flat), removed.reshape(flat), grays.reshape(-1), noise.reshape(flat))
    return out.reshape(removed.shape)


def _probabilities(model: nn.Module, images: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """P(target) of each image (B, H, W), FORWARD_BATCH images a pass."""
    out = []
    with torch.inference_mode():
        for start in range(0, len(images), FORWARD_BATCH):
            x = torch.from_numpy(images[start:start + FORWARD_BATCH].astype(np.float32))[:, None]
            p = torch.softmax(model(x).double(), dim=1)
            out.append(p[torch.arange(len(x)), torch.from_numpy(targets[start:start + FORWARD_BATCH])].numpy())
    return np.concatenate(out)


def curves_many(model: nn.Module, faces: np.ndarray, targets: np.ndarray, orders: np.ndarray, per_step: int = 48,
                imputation: str = "road", seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Deletion and insertion curves of N faces (N, H, W) in [0, 1] for M pixel orders each (N, M, H * W).
    Returns two float64 arrays (N, M, steps + 1): P(target) after each step. The images of PAIRS_PER_CHUNK
    (face, order) pairs are imputed together and go through the model FORWARD_BATCH at a time."""
    if imputation not in IMPUTATIONS:
        raise ValueError(f"imputation {imputation!r}: expected one of {', '.join(IMPUTATIONS)}")
    faces = np.asarray(faces, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.int64)
    orders = np.asarray(orders)
    count, kinds, size = orders.shape
    steps = -(-size // per_step)
    pairs = [(n, m) for n in range(count) for m in range(kinds)]
    result = np.empty((count, kinds, 2, steps + 1))
    for start in range(0, len(pairs), PAIRS_PER_CHUNK):
        chunk = pairs[start:start + PAIRS_PER_CHUNK]
        if imputation == "mean":
            images = np.stack([_mean_fill(faces[n], orders[n, m], per_step) for n, m in chunk])
        else:
            images = _road_fill(faces, orders, chunk, per_step, seed)
        labels = np.repeat([targets[n] for n, _ in chunk], 2 * (steps + 1))
        probabilities = _probabilities(model, images.reshape(-1, *faces.shape[1:]), labels)
        for (n, m), p in zip(chunk, probabilities.reshape(len(chunk), 2, steps + 1)):
            result[n, m] = p
    return result[:, :, 0], result[:, :, 1]


def curves(model: nn.Module, face: np.ndarray, target: int, order: np.ndarray, per_step: int = 48,
           imputation: str = "mean", seed: int = 0) -> Curves:
    """Deletion and insertion curves of one face (48, 48) in [0, 1] for one pixel order."""
    deletion, insertion = curves_many(model, face[None], np.array([target]), np.asarray(order)[None, None],
                                      per_step, imputation, seed)
    return Curves(deletion[0, 0], insertion[0, 0])


def random_curves(model: nn.Module, face: np.ndarray, target: int, seed: int, orders: int = 5,
                  per_step: int = 48, imputation: str = "mean") -> Curves:
    """The mean curves of ``orders`` random pixel orders: the reference every map is compared with."""
    orders = random_orders(seed, orders, face.size)[None]
    deletion, insertion = curves_many(model, face[None], np.array([target]), orders, per_step, imputation, seed)
    return Curves(deletion[0].mean(axis=0), insertion[0].mean(axis=0))
