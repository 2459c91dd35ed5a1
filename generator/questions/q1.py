"""Question 1: saliency maps per class, and where their mass falls on the face; each gradient method's mean map
over many faces of each class (generator/explain/class_average.py). A stage (see generator/stages.py)."""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
import torch

from generator.config import Settings
from generator.data import synth
from generator.data.fer2013 import NUM_CLASSES, as_model_input
from generator.estimate import Cost
from generator.explain import methods
from generator.explain.class_average import ClassAverage, class_averages
from generator.explain.methods.gradcam import layer_name
from generator.explain.regions import REGIONS, TEMPLATE, RegionMass, region_mass
from generator.figures.saliency import class_average_figure, methods_figure, saliency_figure
from generator.stages import StageInputs

TITLE = "saliency and gradient methods"
READS = ("attribution",)


@dataclass(frozen=True)
class Q1Result:
    methods: dict             # method -> (7, 48, 48) maps in [0, 1], vanilla saliency included
    masses: list[RegionMass]  # per class, of the saliency map
    method_tops: dict         # method -> per class, the densest face part
    parts_source: str         # "masks" (synthetic ground truth) or "template" (aligned real faces)
    gradcam_layer: str
    averages: list[ClassAverage]  # per class, every method's mean map over correctly classified validation faces
    evaluation_maps: dict         # method -> (n, 48, 48): each evaluation-set face's map, in the set's order


def shown(settings: Settings) -> tuple[str, ...]:
    """The methods question 1 shows, in the registry's order."""
    return tuple(methods.ordered(settings.attribution.methods))


def methods_for(model: torch.nn.Module, settings: Settings, seed) -> tuple[dict, str]:
    """Question 1's methods as f(model, images, targets) -> maps with their settings, and the Grad-CAM layer's
    name. ``seed``: SmoothGrad's, one for the batch or one per face (see attributions.smoothgrad_raw)."""
    return ({key: partial(methods.method(key).attribute, settings=settings, seed=seed) for key in shown(settings)},
            layer_name(model, settings.attribution))


def gradient_passes(settings: Settings) -> float:
    """Input-gradient passes per face of question 1's methods, as they declare them."""
    return methods.total_passes(shown(settings), settings).gradient


def cost(settings: Settings, faces: int, model: torch.nn.Module) -> Cost:
    """Per face: the methods' gradient passes; the saliency figure's 3 panels and one per method beside the
    face in the methods figure. The class averages: the same passes for the evaluation set, up to
    ``trust.faces_per_class`` faces of each class (fewer where a class has fewer correct faces: this counts the
    most), and a figure of 5 panels per class."""
    averaged = faces * settings.trust.faces_per_class  # the evaluation set: the classes of the report faces
    count = len(shown(settings))
    return Cost(gradient=(faces + averaged) * gradient_passes(settings),
                panels=faces * (3 + 1 + count) + NUM_CLASSES * (1 + count))


def analyse(inputs: StageInputs) -> Q1Result:
    chosen, layer = methods_for(inputs.model, inputs.settings, inputs.settings.seed)
    x, targets = as_model_input(inputs.faces), torch.from_numpy(inputs.targets)
    all_maps = {name: f(inputs.model, x, targets) for name, f in chosen.items()}
    masses = [region_mass(m, p) for m, p in zip(all_maps["saliency"], inputs.parts)]
    tops = {name: [region_mass(m, p).top for m, p in zip(maps, inputs.parts)] for name, maps in all_maps.items()}
    class_averages_, evaluation_maps = averages(inputs)
    return Q1Result(all_maps, masses, tops, "masks" if inputs.masks is not None else "template", layer,
                    class_averages_, evaluation_maps)


def seeded_methods(settings: Settings):
    """Question 1's methods for a batch of faces, given SmoothGrad's seed of each face (class_average.face_seeds):
    a face's map is then the same in any batch, on any model."""
    def for_seeds(seeds):
        return {key: partial(methods.method(key).attribute, settings=settings, seed=seeds) for key in shown(settings)}
    return for_seeds


def averages(inputs: StageInputs) -> tuple[list[ClassAverage], dict]:
    """Each class's average over its faces of the evaluation set (generator/evaluation.py: up to
    ``trust.faces_per_class`` correctly classified validation faces per class), and each face's maps, which the
    trust stage scores rather than computing them twice."""
    settings, seed, dataset, evaluation = inputs.settings, inputs.settings.seed, inputs.data.dataset, inputs.evaluation
    chosen = [evaluation.positions[evaluation.targets == c] for c in range(NUM_CLASSES)]
    assert np.array_equal(np.concatenate(chosen), evaluation.positions), "the evaluation set goes class by class"
    return class_averages(inputs.model, seeded_methods(settings), dataset.images, inputs.data.rows,
                          dataset.parts, chosen, list(evaluation.available), seed,
                          settings.attribution.smoothgrad_samples,
                          lambda done, total: inputs.progress.count("q1: class averages", done, total))


def figure_path(cls: int) -> str:
    return f"figures/q1/saliency_{cls}.png"


def methods_path(cls: int) -> str:
    return f"figures/q1/methods_{cls}.png"


def average_path(cls: int) -> str:
    return f"figures/q1/average_{cls}.png"


def figures(inputs: StageInputs, result: Q1Result) -> dict[str, bytes]:
    """Each face's figures, named by its class (a class absent from the data has none)."""
    faces, saliency, keys = inputs.faces, result.methods["saliency"], shown(inputs.settings)
    out = {figure_path(c): saliency_figure(faces[k] / 255.0, saliency[k]) for k, c in enumerate(inputs.targets)}
    for k, c in enumerate(inputs.targets):
        out[methods_path(c)] = methods_figure(faces[k] / 255.0, [result.methods[m][k] for m in keys])
    for average in result.averages:
        out[average_path(average.cls)] = class_average_figure(average.mean_face,
                                                              [average.maps[m] for m in keys])
    return out


def context(inputs: StageInputs, result: Q1Result) -> dict:
    rows, probabilities, keys = inputs.rows, inputs.images.probabilities, shown(inputs.settings)
    per_class = [{"cls": c, "figure": figure_path(c), "methods_figure": methods_path(c), "row": int(rows[k]),
                  "file": inputs.data.name_of(rows[k]), "probability": float(probabilities[k]), "share": mass.share,
                  "area": mass.area, "top": mass.top,
                  "lift": mass.lift(mass.top), "method_tops": {m: result.method_tops[m][k] for m in keys}}
                 for k, (c, mass) in enumerate(zip(inputs.targets.tolist(), result.masses))]
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
            "parts_source": result.parts_source, "template": TEMPLATE,
            "method_names": {m: methods.NAMES[m] for m in keys},
            "gradcam_layer": result.gradcam_layer, "ig_baseline": inputs.settings.attribution.ig_baseline,
            **average_context(result, inputs.settings.trust.faces_per_class, keys), "seed": inputs.settings.seed}


def average_context(result: Q1Result, per_class: int, keys) -> dict:
    """The class averages for the page: each class's n and figure, and each method's densest part with its
    interval; on synthetic faces, how often saliency's densest part is one that decides the class."""
    averages = [{"cls": a.cls, "figure": average_path(a.cls), "n": a.n, "available": a.available,
                 "densest": {m: a.densest[m].as_dict() for m in keys}} for a in result.averages]
    decisive = None
    if result.parts_source == "masks":
        expressive = [a for a in result.averages if synth.DECISIVE_PARTS[a.cls] and a.n]
        decisive = {"hits": sum(a.densest["saliency"].top in synth.DECISIVE_PARTS[a.cls] for a in expressive),
                    "total": len(expressive)}
    return {"averages": averages, "average_faces": per_class, "average_total": sum(a["n"] for a in averages),
            "average_decisive": decisive}
