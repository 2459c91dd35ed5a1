"""Scores against the parts that really decide each class, known only on the synthetic faces.

- Relevance mass accuracy (Arras et al., 2022): the share of a map's (positive) mass inside the decisive parts.
  A uniform map scores the parts' share of the image: that is chance, and the lift is the ratio to it.
- Pointing game (Zhang et al., 2018): does the map's maximum fall inside the decisive parts? Chance is again the
  parts' share of the image.
- Part check: the face is re-rendered with one part made neutral, and the drop in the class probability says how
  much the model relies on that part. A method agrees when it ranks the parts the same way (Spearman over parts).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.stats import spearmanr

from generator.data import synth
from generator.data.fer2013 import as_model_input
from generator.explain.regions import PARTS_OF_FACE


def decisive_mask(parts: np.ndarray, label: int) -> np.ndarray:
    return np.isin(parts, [synth.PART_ID[p] for p in synth.DECISIVE_PARTS[label]])


def relevance_mass_accuracy(heatmap: np.ndarray, mask: np.ndarray) -> float:
    positive = np.clip(heatmap, 0, None)
    total = positive.sum()
    return float(positive[mask].sum() / total) if total > 0 else 0.0


def pointing_hit(heatmap: np.ndarray, mask: np.ndarray) -> bool:
    """Whether the map's maximum lies in the mask. A plateau of equal maxima (a LIME superpixel, an all-zero map)
    counts as a hit only when most of it lies in the mask, not by whichever pixel comes first."""
    peak = heatmap == heatmap.max()
    return bool(mask[peak].mean() > 0.5)


@dataclass(frozen=True)
class PartDrops:
    parts: tuple              # the face parts, in PARTS_OF_FACE order
    drops: np.ndarray         # (4,) P(class) of the face minus P(class) with that part neutral


def part_drops(model: torch.nn.Module, seed: int, row: int, target: int) -> PartDrops:
    """Re-render synthetic face ``row`` with each part neutral in turn; the class probability's drops."""
    spec = synth.make_spec(seed, row)
    faces = [synth.render(spec)[0]] + [synth.render(synth.neutralised(spec, {p}))[0] for p in PARTS_OF_FACE]
    x = as_model_input(np.stack(faces))
    with torch.inference_mode():
        p = torch.softmax(model(x).double(), dim=1)[:, target].numpy()
    return PartDrops(PARTS_OF_FACE, p[0] - p[1:])


def part_rank_agreement(heatmap: np.ndarray, parts: np.ndarray, drops: PartDrops) -> float | None:
    """Spearman between the map's mass per part and the probability drop per part (None if either is flat)."""
    positive = np.clip(heatmap, 0, None)
    mass = np.array([positive[parts == synth.PART_ID[p]].sum() for p in drops.parts])
    if mass.std() == 0 or drops.drops.std() == 0:
        return None
    return float(spearmanr(mass, drops.drops).statistic)
