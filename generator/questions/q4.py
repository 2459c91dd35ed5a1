"""Question 4: occlusion. A box slides over each class image; the heatmap is the class probability. A stage (see
generator/stages.py)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from generator.config import Settings
from generator.data.synth import PART_ID
from generator.estimate import Cost
from generator.explain import methods
from generator.explain.occlusion import OcclusionResult, box_bounds
from generator.explain.regions import PARTS_OF_FACE
from generator.figures.explanations import occlusion_figure
from generator.questions import q1
from generator.stages import StageInputs

TITLE = "occlusion"
READS = ("occlusion",)


@dataclass(frozen=True)
class Q4Result:
    occlusions: list[OcclusionResult]
    lowest_parts: list  # per class: the face part the lowest-probability box covers the largest share of


def cost(settings: Settings, faces: int, model) -> Cost:
    """Per face occlusion's passes as it declares them (one run over every box position), and a figure of 3
    panels."""
    p = methods.method("occlusion").passes(settings)
    return Cost(occlusion_runs=faces * p.occlusion_runs, occlusion_positions=faces * p.occlusion_positions,
                panels=3 * faces)


def analyse(inputs: StageInputs) -> Q4Result:
    """The incremental occlusion path reads the eager model's layers; the fast model runs the batched path for an
    architecture it does not cover."""
    settings = inputs.settings.occlusion
    results, lowest_parts = [], []
    for face, target, part_map in zip(inputs.faces, inputs.targets, inputs.parts):
        result = methods.method("occlusion").run(inputs.model, face / 255.0, int(target), inputs.settings,
                                                 batched_model=inputs.fast)
        results.append(result)
        lowest_parts.append(covered_part(part_map, result.lowest, settings.box))
    return Q4Result(results, lowest_parts)


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


def figures(inputs: StageInputs, result: Q4Result) -> dict[str, bytes]:
    return {figure_path(c): occlusion_figure(inputs.faces[k] / 255.0, r.heatmap, r.lowest_image, r.lowest)
            for k, (c, r) in enumerate(zip(inputs.targets, result.occlusions))}


def context(inputs: StageInputs, result: Q4Result) -> dict:
    rows, settings = inputs.rows, inputs.settings.occlusion
    per_class = []
    for k, (c, r) in enumerate(zip(inputs.targets.tolist(), result.occlusions)):
        per_class.append({
            "cls": c, "figure": figure_path(c), "row": int(rows[k]), "baseline": r.baseline,
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
    return {"per_class": per_class, "settings": settings, "strongest": strongest, "robust": robust,
            "positions": int(result.occlusions[0].heatmap.size), "no_average": absent}
