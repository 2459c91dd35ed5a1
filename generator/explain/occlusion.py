"""Occlusion: a box of a fixed value slides over the face; the heatmap holds the class probability with the box
centred on each position. Near the borders the box is clipped to the image.

For a box of side ``box``, the box centred at (y, x) covers rows y - box//2 .. y + (box-1)//2 (and columns alike),
so an odd box is exactly centred. Positions run over every ``stride``-th pixel from 0.

Two paths give the same heatmap (within 1e-6): the incremental one (occlusion_incremental.py), which recomputes
only the part of each layer a box changes and covers plain conv/BatchNorm/ReLU/max-pool CNNs given as eager
modules; and the batched one, one full forward pass per position, for every other model.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from generator.explain import occlusion_incremental as incremental

BATCH_SIZE = 32  # positions per forward pass on the batched path


def box_bounds(centre: int, box: int, size: int = 48) -> tuple[int, int]:
    """[start, end) of the box centred at ``centre``, clipped to the image."""
    start = centre - box // 2
    return max(start, 0), min(start + box, size)


def occluded(face: torch.Tensor, y: int, x: int, box: int, fill: float) -> torch.Tensor:
    """A copy of ``face`` (1, H, W) with the box centred at (y, x) set to ``fill``."""
    out = face.clone()
    y0, y1 = box_bounds(y, box, face.shape[-2])
    x0, x1 = box_bounds(x, box, face.shape[-1])
    out[..., y0:y1, x0:x1] = fill
    return out


@dataclass(frozen=True)
class OcclusionResult:
    heatmap: np.ndarray       # (ny, nx) probability of the target class with the box centred at each position
    baseline: float           # the probability with no box
    lowest: tuple[int, int]   # (y, x) of the centre with the lowest probability
    lowest_image: np.ndarray  # (48, 48) the face with that box


def occlusion(model: nn.Module, face: np.ndarray, target: int, box: int = 15, stride: int = 1, fill: float = 1.0,
              batch_size: int | None = None, batched_model: nn.Module | None = None) -> OcclusionResult:
    """``face`` is (48, 48) in [0, 1]. Every box position is scored, ``batch_size`` positions per pass (default:
    the chosen path's ``BATCH_SIZE``). ``model`` is the eager model: the incremental path needs its layers. If its
    architecture is not covered, the batched path runs ``batched_model`` (e.g. the traced fast model) or ``model``."""
    image = torch.from_numpy(np.asarray(face, np.float32))[None]
    size = image.shape[-1]
    centres = np.arange(0, size, stride)
    plan = incremental.prepare(model, size)
    if plan is not None:
        heatmap, baseline = incremental.heatmap(plan, image[0].numpy(), target, centres, box, fill,
                                                batch_size or incremental.BATCH_SIZE)
    else:
        heatmap, baseline = batched_heatmap(batched_model or model, image, target, centres, box, fill,
                                            batch_size or BATCH_SIZE)
    iy, ix = np.unravel_index(int(np.argmin(heatmap)), heatmap.shape)
    lowest = (int(centres[iy]), int(centres[ix]))
    lowest_image = occluded(image, *lowest, box, fill)[0].numpy().astype(np.float64)
    return OcclusionResult(heatmap, baseline, lowest, lowest_image)


def batched_heatmap(model: nn.Module, image: torch.Tensor, target: int, centres: np.ndarray, box: int, fill: float,
                    batch_size: int) -> tuple[np.ndarray, float]:
    """One full forward pass per box position, ``batch_size`` positions per call; and the probability with no box."""
    grid = [(int(y), int(x)) for y in centres for x in centres]
    probabilities = []
    with torch.inference_mode():
        for k in range(0, len(grid), batch_size):
            batch = torch.stack([occluded(image, y, x, box, fill) for y, x in grid[k:k + batch_size]])
            probabilities.append(torch.softmax(model(batch).double(), dim=1)[:, target])
        baseline = float(torch.softmax(model(image[None]).double(), dim=1)[0, target])
    return torch.cat(probabilities).numpy().reshape(len(centres), len(centres)), baseline
