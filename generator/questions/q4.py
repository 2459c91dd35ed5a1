"""Question 4: occlusion. A box slides over each class image; the heatmap is the class probability."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from generator.config import OcclusionSettings
from generator.data.synth import PART_ID
from generator.explain.occlusion import OcclusionResult, occlusion
from generator.figures.explanations import occlusion_figure


@dataclass(frozen=True)
class Q4Result:
    occlusions: list[OcclusionResult]
    lowest_parts: list  # per class: the face part under the centre of the lowest-probability box


def analyse(model: torch.nn.Module, settings: OcclusionSettings, faces: np.ndarray, targets: np.ndarray,
            parts: np.ndarray, batch_size: int = 32) -> Q4Result:
    results, lowest_parts = [], []
    names = {v: k for k, v in PART_ID.items()}
    for face, target, part_map in zip(faces, targets, parts):
        result = occlusion(model, face / 255.0, int(target), box=settings.box, stride=settings.stride,
                           fill=settings.fill, batch_size=batch_size)
        results.append(result)
        lowest_parts.append(names[int(part_map[result.lowest])])
    return Q4Result(results, lowest_parts)


def figure_path(cls: int) -> str:
    return f"figures/q4/occlusion_{cls}.png"


def figures(faces: np.ndarray, result: Q4Result) -> dict[str, bytes]:
    return {figure_path(c): occlusion_figure(faces[c] / 255.0, r.heatmap, r.lowest_image, r.lowest)
            for c, r in enumerate(result.occlusions)}


def context(result: Q4Result, rows: np.ndarray, settings: OcclusionSettings) -> dict:
    per_class = []
    for c, r in enumerate(result.occlusions):
        per_class.append({
            "cls": c, "figure": figure_path(c), "row": int(rows[c]), "baseline": r.baseline,
            "lowest_probability": float(r.heatmap.min()), "highest_probability": float(r.heatmap.max()),
            "lowest": r.lowest, "lowest_part": result.lowest_parts[c],
            "drop": r.baseline - float(r.heatmap.min()),
            "fragile": float((r.heatmap < 0.5 * r.baseline).mean()),
        })
    strongest = max(per_class, key=lambda item: item["drop"])
    robust = min(per_class, key=lambda item: item["drop"])
    return {"per_class": per_class, "settings": settings, "strongest": strongest, "robust": robust,
            "positions": int(result.occlusions[0].heatmap.size)}
