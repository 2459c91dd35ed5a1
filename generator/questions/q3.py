"""Question 3: LIME for each class image, read together with the confusion matrix on the validation split. A stage
(see generator/stages.py)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from generator.config import Settings
from generator.estimate import Cost
from generator.explain.confusion import Confusion, confusion_matrix
from generator.explain import methods
from generator.explain.lime_explain import LimeResult
from generator.explain.regions import region_mass
from generator.figures.explanations import confusion_figure, lime_figure, lime_overlay
from generator.stages import StageInputs

TITLE = "lime and confusion matrix"
READS = ("lime",)

CONFUSION_FIGURE = "figures/q3/confusion_matrix.png"


@dataclass(frozen=True)
class Q3Result:
    explanations: list[LimeResult]
    confusion: Confusion
    positive_regions: list  # per class: the face part where the positive superpixels are densest, or None


def lime_passes(settings: Settings) -> float:
    """Forward passes of one LIME explanation, as the method declares them."""
    return methods.method("lime").passes(settings).forward


def cost(settings: Settings, faces: int, model) -> Cost:
    """Per face one LIME explanation and a figure of 3 panels; the confusion matrix (predictions already made)."""
    return Cost(forward=faces * lime_passes(settings), panels=3 * faces + 1)


def analyse(inputs: StageInputs) -> Q3Result:
    settings, seed = inputs.settings.lime, inputs.settings.seed
    explanations, regions = [], []
    for k, (face, target) in enumerate(zip(inputs.faces, inputs.targets)):
        inputs.progress.count("q3: LIME", k, len(inputs.faces))
        result = methods.method("lime").run(inputs.fast, face / 255.0, int(target), inputs.settings, seed + k)
        explanations.append(result)
        positive, _ = result.masks(settings.features)
        regions.append(region_mass(positive.astype(float), inputs.parts[k]).top if positive.any() else None)
    inputs.progress.count("q3: LIME", len(inputs.faces), len(inputs.faces))
    validation = inputs.data.validation
    confusion = confusion_matrix(inputs.data.dataset.labels[validation],
                                 inputs.probabilities[validation].argmax(1))
    return Q3Result(explanations, confusion, regions)


def figure_path(cls: int) -> str:
    return f"figures/q3/lime_{cls}.png"


def figures(inputs: StageInputs, result: Q3Result) -> dict[str, bytes]:
    faces, settings = inputs.faces, inputs.settings.lime
    out = {CONFUSION_FIGURE: confusion_figure(result.confusion.rates, result.confusion.counts)}
    for k, (c, explanation) in enumerate(zip(inputs.targets, result.explanations)):
        gray = faces[k] / 255.0
        positive, negative = explanation.masks(settings.features)
        overlay = lime_overlay(gray, positive, negative, explanation.segments)
        out[figure_path(c)] = lime_figure(gray, explanation.weight_map(), overlay)
    return out


def context(inputs: StageInputs, result: Q3Result) -> dict:
    rows, settings = inputs.rows, inputs.settings.lime
    confusion = result.confusion
    accuracy = confusion.per_class_accuracy
    totals = confusion.counts.sum(axis=1)
    present = [c for c in range(len(accuracy)) if totals[c]]
    best = max(present, key=lambda c: (accuracy[c], -c)) if present else None
    worst = min(present, key=lambda c: (accuracy[c], c)) if present else None
    per_class = []
    for k, (c, explanation) in enumerate(zip(inputs.targets.tolist(), result.explanations)):
        positive, negative = explanation.masks(settings.features)
        per_class.append({
            "cls": c, "figure": figure_path(c), "row": int(rows[k]), "file": inputs.data.name_of(rows[k]),
            "segments": int(explanation.segments.max() + 1),
            "score": explanation.score, "local_pred": explanation.local_pred, "probability": explanation.probability,
            "positive_share": float(positive.mean()), "negative_share": float(negative.mean()),
            "region": result.positive_regions[k], "accuracy": float(accuracy[c]),
            "confused_with": _most_confused_with(confusion, c),
        })
    return {
        "figure": CONFUSION_FIGURE, "per_class": per_class, "settings": settings, "accuracy": confusion.accuracy,
        "per_class_accuracy": [float(a) for a in accuracy], "totals": [int(t) for t in totals],
        "best": best, "worst": worst, "empty_rows": [c for c in range(len(totals)) if not totals[c]],
        "confusions": [{"true": t, "predicted": p, "count": n, "rate": r} for t, p, n, r in confusion.largest_confusions(3)],
        "total": int(confusion.counts.sum()),
        "segment_pixels": int(round(np.mean([e.segments.size / (e.segments.max() + 1) for e in result.explanations]))),
        "segment_count": int(round(np.mean([e.segments.max() + 1 for e in result.explanations]))),
    }


def _most_confused_with(confusion: Confusion, c: int):
    row = confusion.counts[c].copy()
    row[c] = 0
    return int(np.argmax(row)) if row.sum() else None
