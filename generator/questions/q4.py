"""Question 4: the author's own choice of method (``q4.method``, any registered method; occlusion by default). For
occlusion a box slides over each class image and the heatmap is the class probability; any other method shows its
map of each class image, and a perturbation method also the face with its strongest cut. A stage (see
generator/stages.py)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from generator.config import Settings
from generator.data.fer2013 import as_model_input
from generator.data.synth import PART_ID
from generator.estimate import Cost
from generator.explain import methods
from generator.explain.occlusion import OcclusionResult, box_bounds
from generator.explain.regions import PARTS_OF_FACE, region_mass
from generator.figures.explanations import occlusion_figure
from generator.figures.saliency import map_figure
from generator.questions import q1
from generator.stages import StageInputs

TITLE = "author's method"
READS = ("q4", *methods.SECTIONS)


@dataclass(frozen=True)
class Q4Result:
    occlusions: list[OcclusionResult]  # occlusion's whole results (empty for another method)
    lowest_parts: list  # per class: the face part the lowest-probability box covers the largest share of
    maps: np.ndarray | None = None     # another method's (7, 48, 48) maps
    cuts: list | None = None           # a perturbation method's strongest cut per face: (face, probability)


def cost(settings: Settings, faces: int, model) -> Cost:
    """Per face the method's passes as it declares them (occlusion: one run over every box position), and a figure
    of 3 panels (4 with a strongest cut)."""
    method = methods.method(settings.q4.method)
    p = method.passes(settings)
    panels = 3 + (settings.q4.method != "occlusion" and hasattr(method, "strongest_cut"))
    return Cost(forward=faces * p.forward, gradient=faces * p.gradient, occlusion_runs=faces * p.occlusion_runs,
                occlusion_positions=faces * p.occlusion_positions, panels=panels * faces)


def analyse(inputs: StageInputs) -> Q4Result:
    """The incremental occlusion path reads the eager model's layers; the fast model runs the batched path for an
    architecture it does not cover."""
    key = inputs.settings.q4.method
    if key != "occlusion":
        return _analyse_other(inputs, methods.method(key))
    settings = inputs.settings.occlusion
    results, lowest_parts = [], []
    for face, target, part_map in zip(inputs.faces, inputs.targets, inputs.parts):
        result = methods.method("occlusion").run(inputs.model, face / 255.0, int(target), inputs.settings,
                                                 batched_model=inputs.fast)
        results.append(result)
        lowest_parts.append(covered_part(part_map, result.lowest, settings.box))
    return Q4Result(results, lowest_parts)


def _analyse_other(inputs: StageInputs, method) -> Q4Result:
    x, targets, seed = as_model_input(inputs.faces), torch.from_numpy(inputs.targets), inputs.settings.seed
    maps = method.attribute(inputs.model, x, targets, inputs.settings, seed)
    cuts = ([method.strongest_cut(inputs.model, face / 255.0, int(t), inputs.settings, seed)
             for face, t in zip(inputs.faces, inputs.targets)] if hasattr(method, "strongest_cut") else None)
    tops = [region_mass(np.clip(m, 0, None), p).top for m, p in zip(maps, inputs.parts)]
    return Q4Result([], tops, maps, cuts)


def covered_part(part_map: np.ndarray, centre: tuple[int, int], box: int) -> str | None:
    """The face part of which the box centred at ``centre`` hides the largest share (None if it hides none)."""
    covered = np.zeros(part_map.shape, bool)
    covered[slice(*box_bounds(centre[0], box)), slice(*box_bounds(centre[1], box))] = True
    shares = {p: (covered & (part_map == PART_ID[p])).sum() / max((part_map == PART_ID[p]).sum(), 1)
              for p in PARTS_OF_FACE}
    best = max(PARTS_OF_FACE, key=lambda p: shares[p])
    return best if shares[best] > 0 else None


def figure_path(cls: int) -> str:
    return f"figures/q4/occlusion_{cls}.png"


def method_path(key: str, cls: int) -> str:
    return f"figures/q4/{key}_{cls}.png"


def figures(inputs: StageInputs, result: Q4Result) -> dict[str, bytes]:
    if result.maps is not None:
        key = inputs.settings.q4.method
        return {method_path(key, c): map_figure(inputs.faces[k] / 255.0, np.clip(result.maps[k], 0, None),
                                                result.cuts[k][0] if result.cuts else None)
                for k, c in enumerate(inputs.targets)}
    return {figure_path(c): occlusion_figure(inputs.faces[k] / 255.0, r.heatmap, r.lowest_image, r.lowest)
            for k, (c, r) in enumerate(zip(inputs.targets, result.occlusions))}


def context(inputs: StageInputs, result: Q4Result) -> dict:
    if result.maps is not None:
        return _other_context(inputs, result)
    rows, settings = inputs.rows, inputs.settings.occlusion
    per_class = []
    for k, (c, r) in enumerate(zip(inputs.targets.tolist(), result.occlusions)):
        per_class.append({
            "cls": c, "figure": figure_path(c), "row": int(rows[k]), "file": inputs.data.name_of(rows[k]),
            "baseline": r.baseline,
            "lowest_probability": float(r.heatmap.min()), "highest_probability": float(r.heatmap.max()),
            "lowest": r.lowest, "lowest_part": result.lowest_parts[k],
            "kept": float(r.heatmap.min()) / r.baseline if r.baseline > 0 else 1.0,
            "fragile": float((r.heatmap < 0.5 * r.baseline).mean()),
        })
    # Widest effect: most box positions halve P. Most robust: the worst box keeps the largest share of P.
    strongest = max(per_class, key=lambda item: (item["fragile"], -item["cls"]))
    robust = max(per_class, key=lambda item: (item["kept"], -item["cls"]))
    # Why occlusion has no class average (question 1 has them): it would repeat this stage faces_per_class times.
    absent = {"per_class": inputs.settings.trust.faces_per_class,
              "gradient_passes": q1.gradient_passes(inputs.settings)}
    return {"method": "occlusion", "name": methods.NAMES["occlusion"], "has_cut": False, "per_class": per_class,
            "settings": settings,
            "strongest": strongest, "robust": robust, "positions": int(result.occlusions[0].heatmap.size),
            "no_average": absent}


def _other_context(inputs: StageInputs, result: Q4Result) -> dict:
    key = inputs.settings.q4.method
    per_class = [{"cls": c, "figure": method_path(key, c), "row": int(inputs.rows[k]), "top": result.lowest_parts[k],
                  "cut_probability": float(result.cuts[k][1]) if result.cuts else None}
                 for k, c in enumerate(inputs.targets.tolist())]
    return {"method": key, "name": methods.NAMES[key], "kind": methods.method(key).kind, "per_class": per_class,
            "has_cut": result.cuts is not None, "seed": inputs.settings.seed}
