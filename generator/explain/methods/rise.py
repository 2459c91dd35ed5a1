"""RISE (Petsiuk et al., 2018): the class probability of the face under many random masks, each mask weighted by
it. A mask is a coarse grid of cells kept with probability KEEP, upsampled bilinearly and shifted by a random
fraction of a cell. The masks are drawn once from the build's seed (the reproducibility page gives it), the same
masks for every face, and scored BATCH masked faces per forward pass."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from generator.explain.methods.base import PERTURBATION, Method, Passes

MASKS, CELLS, KEEP, BATCH = 1000, 6, 0.5, 100  # 6x6 cells of 8 pixels on a 48x48 face
SIZE = 48


def masks(seed: int, count: int = MASKS, cells: int = CELLS, keep: float = KEEP, size: int = SIZE) -> np.ndarray:
    """(count, size, size) soft masks in [0, 1], from a generator seeded with ``seed``."""
    rng = np.random.default_rng(seed)
    cell = -(-size // cells)
    grid = (rng.random((count, 1, cells, cells)) < keep).astype(np.float32)
    up = F.interpolate(torch.from_numpy(grid), size=((cells + 1) * cell,) * 2, mode="bilinear",
                       align_corners=False)[:, 0].numpy()
    shifts = rng.integers(0, cell, size=(count, 2))
    cropped = np.stack([up[k, y:y + size, x:x + size] for k, (y, x) in enumerate(shifts)]).astype(np.float64)
    return np.clip(cropped, 0.0, 1.0)  # float32 interpolation overshoots 1 by a rounding error


def probabilities(model, face: torch.Tensor, target: int, drawn: np.ndarray, batch: int = BATCH) -> np.ndarray:
    """P(target) of ``face`` (1, 48, 48) under each mask, ``batch`` masked faces per forward pass."""
    out = []
    with torch.inference_mode():
        for k in range(0, len(drawn), batch):
            masked = face[None] * torch.from_numpy(drawn[k:k + batch, None]).to(face.dtype)
            out.append(torch.softmax(model(masked).double(), dim=1)[:, target])
    return torch.cat(out).numpy()


class Rise(Method):
    key, name, kind, section = "rise", "RISE", PERTURBATION, "attribution"
    seeded = True

    def passes(self, settings) -> Passes:
        return Passes(forward=MASKS)

    def attribute(self, model, faces, targets, settings, seed):
        """The mask-weighted mean probability of each face, scaled to [0, 1] from its own minimum: RISE's maps sit
        on a floor of about P(class), which says nothing about where the model looks."""
        drawn = masks(settings.seed)
        maps = []
        for face, target in zip(faces, targets.tolist()):
            saliency = np.tensordot(probabilities(model, face, target, drawn), drawn, axes=1) / (len(drawn) * KEEP)
            low, high = saliency.min(), saliency.max()
            maps.append((saliency - low) / (high - low) if high > low else np.zeros_like(saliency))
        return np.stack(maps) if maps else np.zeros((0, SIZE, SIZE))

    def strongest_cut(self, model, face: np.ndarray, target: int, settings, seed):
        """The face under the mask that lowers P(class) most, and that probability."""
        drawn = masks(settings.seed)
        scores = probabilities(model, torch.from_numpy(np.asarray(face, np.float32))[None], target, drawn)
        worst = int(np.argmin(scores))
        return face * drawn[worst], float(scores[worst])
