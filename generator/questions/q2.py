"""Question 2: what activates each filter of one conv layer, and what the filters output for one face. A stage (see
generator/stages.py)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from torch import nn

from generator.config import Settings
from generator.data.fer2013 import as_model_input
from generator.data.synth import PART_ID
from generator.estimate import Cost
from generator.explain.filters import AscentResult, ascend, feature_maps, find_conv
from generator.explain.regions import PARTS_OF_FACE, region_mass, template_parts
from generator.figures.common import FLAT_BELOW, is_flat
from generator.figures.filters import grid_figure, pairs_figure
from generator.models import layers
from generator.models.load import geometry_of
from generator.stages import StageInputs

TITLE = "filters"
READS = ("filters",)

FIGURES = {"patterns": "figures/q2/filters.png", "outputs": "figures/q2/feature_maps.png",
           "pairs": "figures/q2/top_filters.png"}


@dataclass(frozen=True)
class Q2Result:
    layer: str
    ascent: AscentResult
    maps: np.ndarray         # (F, H, W) the layer's output for the face
    face_row: int
    face_rule: str           # "configured" (filters.image_row) or "fallback" (first face of the image set)
    top: np.ndarray          # indices of the filters with the highest ascent activation
    map_regions: list        # per filter: the face part where its (positive) output is densest
    dead: int                # filters whose output is <= 0 everywhere on the face
    separable: bool          # a Keras SeparableConv2D: the filters are its pointwise output channels


def shown_face(inputs: StageInputs) -> tuple[np.ndarray, int, str, np.ndarray]:
    """The face whose feature maps are shown, its row, the rule that chose it, and its part map: the configured
    row when the data has it, else the first face of the image set."""
    found = inputs.data.face_at_row(inputs.settings.filters.image_row)
    if found is None:
        return inputs.faces[0], int(inputs.rows[0]), "fallback", template_parts()
    face, part_map = found
    row = inputs.data.row_of(inputs.settings.filters.image_row)  # a folder's path as its row
    return face, row, "configured", part_map if part_map is not None else template_parts()


def cost(settings: Settings, faces: int, model: nn.Module) -> Cost:
    """Every filter of the layer ascends ``filters.steps`` steps, each through the front of the network only
    (timed as such); the figures show each filter's pattern and output, and the top ones twice more. One face."""
    _, layer = find_conv(model, settings.filters.layer, settings.where("filters.layer"))
    filters = layers.filter_count(model, layer)
    top = min(settings.filters.top, filters)
    return Cost(ascent=filters * settings.filters.steps, panels=2 * filters + 2 * top)


def analyse(inputs: StageInputs) -> Q2Result:
    model, settings, seed = inputs.model, inputs.settings.filters, inputs.settings.seed
    face, face_row, face_rule, parts = shown_face(inputs)
    name, layer = find_conv(model, settings.layer)
    image = as_model_input(face[None])
    maps = feature_maps(model, layer, image)  # at the layer's own resolution, over the model's own input
    ascent = ascend(model, layer, range(len(maps)), steps=settings.steps, lr=settings.lr,
                    start=settings.start, l2=settings.l2, tv=settings.tv, jitter=settings.jitter, seed=seed,
                    image=image[0])
    top = np.argsort(-ascent.activation, kind="stable")[: settings.top]
    layer_parts = parts_at(geometry_of(model).labels_on_input(parts, PART_ID["background"]), maps.shape[1:])
    regions = [region_mass(np.clip(channel, 0, None), layer_parts).top if channel.max() > 0 else None
               for channel in maps]  # None: the filter is silent on this face
    dead = int(sum(channel.max() <= 0 for channel in maps))
    return Q2Result(name, ascent, maps, face_row, face_rule, top, regions, dead, layers.is_separable(layer))


def parts_at(parts: np.ndarray, shape: tuple) -> np.ndarray:
    """The part map resampled (nearest) to a layer's spatial size, e.g. 24x24 after a pooling."""
    rows = ((np.arange(shape[0]) + 0.5) * parts.shape[0] / shape[0]).astype(int)
    cols = ((np.arange(shape[1]) + 0.5) * parts.shape[1] / shape[1]).astype(int)
    return parts[np.ix_(rows, cols)]


def figures(inputs: StageInputs, result: Q2Result) -> dict[str, bytes]:
    act = result.ascent.activation
    labels = [f"{f}: {act[f]:.2f}" for f in range(len(act))]
    return {
        FIGURES["patterns"]: grid_figure(result.ascent.images, labels),
        FIGURES["outputs"]: grid_figure(result.maps, [str(f) for f in range(len(result.maps))], cmap="viridis"),
        FIGURES["pairs"]: pairs_figure(result.ascent.images[result.top], result.maps[result.top],
                                       [labels[f] for f in result.top]),
    }


def context(inputs: StageInputs, result: Q2Result) -> dict:
    settings = inputs.settings.filters
    act = result.ascent.activation
    region_counts = {part: sum(r == part for r in result.map_regions) for part in PARTS_OF_FACE}
    located = [p for p in PARTS_OF_FACE if region_counts[p]]
    history = result.ascent.history
    return {
        "layer": result.layer, "separable": result.separable, "filters": len(act), "steps": settings.steps, "settings": settings,
        "face_row": result.face_row, "face_file": inputs.data.name_of(result.face_row), "face_rule": result.face_rule,
        "figures": FIGURES,
        "top": [{"index": int(f), "activation": float(act[f]),
                 "region": result.map_regions[f]} for f in result.top],
        "weakest": [{"index": int(f), "activation": float(act[f])} for f in np.argsort(act, kind="stable")[:3]],
        "positive": int((act > 0).sum()), "dead": result.dead,
        "flat": sum(is_flat(m) for m in result.maps), "flat_below": FLAT_BELOW,
        "rise": float(np.mean(history[-1] - history[0])), "rising": int((history[-1] > history[0]).sum()),
        "region_counts": region_counts, "region_order": sorted(located, key=lambda p: -region_counts[p]),
    }
