"""Question 1: saliency maps per class, and where their mass falls on the face.

``analyse`` computes (no drawing, no disk), ``figures`` draws, ``context`` gives the templates plain numbers.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from generator.data import synth
from generator.explain.regions import REGIONS, TEMPLATE, RegionMass, region_mass, template_parts
from generator.explain.saliency import saliency
from generator.figures.saliency import saliency_figure


@dataclass(frozen=True)
class Q1Result:
    maps: np.ndarray          # (7, 48, 48) in [0, 1]
    masses: list[RegionMass]  # per class
    parts_source: str         # "masks" (synthetic ground truth) or "template" (aligned real faces)


def analyse(model: torch.nn.Module, faces: np.ndarray, targets: np.ndarray, parts: np.ndarray | None) -> Q1Result:
    x = torch.from_numpy(faces).float().div_(255.0).unsqueeze(1)
    maps = saliency(model, x, torch.from_numpy(targets))
    part_maps = parts if parts is not None else [template_parts()] * len(maps)
    masses = [region_mass(m, p) for m, p in zip(maps, part_maps)]
    return Q1Result(maps, masses, "masks" if parts is not None else "template")


def figure_path(cls: int) -> str:
    return f"figures/q1/saliency_{cls}.png"


def figures(faces: np.ndarray, result: Q1Result) -> dict[str, bytes]:
    return {figure_path(c): saliency_figure(faces[c] / 255.0, result.maps[c]) for c in range(len(result.maps))}


def context(result: Q1Result, rows: np.ndarray, probabilities: np.ndarray) -> dict:
    per_class = [{"cls": c, "figure": figure_path(c), "row": int(rows[c]), "probability": float(probabilities[c]),
                  "share": mass.share, "area": mass.area, "top": mass.top, "lift": mass.lift(mass.top)}
                 for c, mass in enumerate(result.masses)]
    by_region: dict[str, list[int]] = {}
    for item in per_class:
        by_region.setdefault(item["top"], []).append(item["cls"])
    top_counts = sorted(({"region": r, "count": len(cs), "classes": cs} for r, cs in by_region.items()),
                        key=lambda t: (-t["count"], REGIONS.index(t["region"])))
    decisive = None
    if result.parts_source == "masks":
        expressive = [i for i in per_class if synth.DECISIVE_PARTS[i["cls"]]]
        decisive = {"hits": sum(i["top"] in synth.DECISIVE_PARTS[i["cls"]] for i in expressive),
                    "total": len(expressive)}
    return {"per_class": per_class, "regions": REGIONS, "top_counts": top_counts, "decisive": decisive,
            "parts_source": result.parts_source, "template": TEMPLATE}
