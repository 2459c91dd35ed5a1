"""Question 1: saliency maps per class, and where their mass falls on the face; each gradient method's mean map
over many faces of each class (generator/explain/class_average.py). A stage (see generator/stages.py)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from generator.config import AttributionSettings, Settings
from generator.data import synth
from generator.data.fer2013 import NUM_CLASSES, as_model_input
from generator.estimate import Cost
from generator.explain.attributions import default_gradcam_layer, gradient_methods
from generator.explain.class_average import ClassAverage, class_averages
from generator.explain.filters import find_conv
from generator.explain.methods import GRADIENT_METHODS, METHOD_NAMES
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


def methods_for(model: torch.nn.Module, settings: AttributionSettings, seed: int) -> tuple[dict, str]:
    """The four gradient methods with their settings, and the Grad-CAM layer's name."""
    layer_name = (find_conv(model, settings.gradcam_layer, "[tool.generator.attribution] gradcam_layer",
                            gradcam=True)[0]
                  if settings.gradcam_layer else default_gradcam_layer(model)[0])
    return gradient_methods(settings.smoothgrad_samples, settings.smoothgrad_noise, settings.ig_baseline,
                            settings.ig_steps, layer_name, seed), layer_name


def gradient_passes(settings: AttributionSettings) -> int:
    """Input-gradient passes per face of the four methods: saliency, SmoothGrad, IG, and Grad-CAM (whose backward
    stops at its layer: counted whole)."""
    return 1 + settings.smoothgrad_samples + settings.ig_steps + 1


def cost(settings: Settings, faces: int, model: torch.nn.Module) -> Cost:
    """Per face: the four methods' gradient passes; the saliency figure's 3 panels and one per method beside the
    face in the methods figure. The class averages: the same passes for the evaluation set, up to
    ``trust.faces_per_class`` faces of each class (fewer where a class has fewer correct faces: this counts the
    most), and a figure of 5 panels per class."""
    averaged = faces * settings.trust.faces_per_class  # the evaluation set: the classes of the report faces
    return Cost(gradient=(faces + averaged) * gradient_passes(settings.attribution),
                panels=faces * (3 + 1 + len(GRADIENT_METHODS)) + NUM_CLASSES * (1 + len(GRADIENT_METHODS)))


def analyse(inputs: StageInputs) -> Q1Result:
    methods, layer_name = methods_for(inputs.model, inputs.settings.attribution, inputs.settings.seed)
    x, targets = as_model_input(inputs.faces), torch.from_numpy(inputs.targets)
    all_maps = {name: f(inputs.model, x, targets) for name, f in methods.items()}
    masses = [region_mass(m, p) for m, p in zip(all_maps["saliency"], inputs.parts)]
    tops = {name: [region_mass(m, p).top for m, p in zip(maps, inputs.parts)] for name, maps in all_maps.items()}
    class_averages_, evaluation_maps = averages(inputs, layer_name)
    return Q1Result(all_maps, masses, tops, "masks" if inputs.masks is not None else "template", layer_name,
                    class_averages_, evaluation_maps)


def seeded_methods(settings: AttributionSettings, layer_name: str):
    """The four gradient methods for a batch of faces, given SmoothGrad's seed of each face
    (class_average.face_seeds): a face's map is then the same in any batch, on any model."""
    def methods(seeds):
        return gradient_methods(settings.smoothgrad_samples, settings.smoothgrad_noise, settings.ig_baseline,
                                settings.ig_steps, layer_name, seeds)
    return methods


def averages(inputs: StageInputs, layer_name: str) -> tuple[list[ClassAverage], dict]:
    """Each class's average over its faces of the evaluation set (generator/evaluation.py: up to
    ``trust.faces_per_class`` correctly classified validation faces per class), and each face's maps, which the
    trust stage scores rather than computing them twice."""
    settings, seed, dataset, evaluation = inputs.settings.attribution, inputs.settings.seed, inputs.data.dataset, \
        inputs.evaluation
    chosen = [evaluation.positions[evaluation.targets == c] for c in range(NUM_CLASSES)]
    assert np.array_equal(np.concatenate(chosen), evaluation.positions), "the evaluation set goes class by class"
    return class_averages(inputs.model, seeded_methods(settings, layer_name), dataset.images, inputs.data.rows,
                          dataset.parts, chosen, list(evaluation.available), seed, settings.smoothgrad_samples,
                          lambda done, total: inputs.progress.count("q1: class averages", done, total))


def figure_path(cls: int) -> str:
    return f"figures/q1/saliency_{cls}.png"


def methods_path(cls: int) -> str:
    return f"figures/q1/methods_{cls}.png"


def average_path(cls: int) -> str:
    return f"figures/q1/average_{cls}.png"


def figures(inputs: StageInputs, result: Q1Result) -> dict[str, bytes]:
    """Each face's figures, named by its class (a class absent from the data has none)."""
    faces, saliency = inputs.faces, result.methods["saliency"]
    out = {figure_path(c): saliency_figure(faces[k] / 255.0, saliency[k]) for k, c in enumerate(inputs.targets)}
    for k, c in enumerate(inputs.targets):
        out[methods_path(c)] = methods_figure(faces[k] / 255.0, [result.methods[m][k] for m in GRADIENT_METHODS])
    for average in result.averages:
        out[average_path(average.cls)] = class_average_figure(average.mean_face,
                                                              [average.maps[m] for m in GRADIENT_METHODS])
    return out


def context(inputs: StageInputs, result: Q1Result) -> dict:
    rows, probabilities = inputs.rows, inputs.images.probabilities
    per_class = [{"cls": c, "figure": figure_path(c), "methods_figure": methods_path(c), "row": int(rows[k]),
                  "file": inputs.data.name_of(rows[k]), "probability": float(probabilities[k]), "share": mass.share,
                  "area": mass.area, "top": mass.top,
                  "lift": mass.lift(mass.top), "method_tops": {m: result.method_tops[m][k] for m in GRADIENT_METHODS}}
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
            "method_names": {m: METHOD_NAMES[m] for m in GRADIENT_METHODS},
            "gradcam_layer": result.gradcam_layer,
            **average_context(result, inputs.settings.trust.faces_per_class), "seed": inputs.settings.seed}


def average_context(result: Q1Result, per_class: int) -> dict:
    """The class averages for the page: each class's n and figure, and each method's densest part with its
    interval; on synthetic faces, how often saliency's densest part is one that decides the class."""
    averages = [{"cls": a.cls, "figure": average_path(a.cls), "n": a.n, "available": a.available,
                 "densest": {m: a.densest[m].as_dict() for m in GRADIENT_METHODS}} for a in result.averages]
    decisive = None
    if result.parts_source == "masks":
        expressive = [a for a in result.averages if synth.DECISIVE_PARTS[a.cls] and a.n]
        decisive = {"hits": sum(a.densest["saliency"].top in synth.DECISIVE_PARTS[a.cls] for a in expressive),
                    "total": len(expressive)}
    return {"averages": averages, "average_faces": per_class, "average_total": sum(a["n"] for a in averages),
            "average_decisive": decisive}
