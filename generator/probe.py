"""The input probe: before any analysis, check that the model is fed and read the way it was trained.

A wrong class order (a model trained on the image-folder copy numbers its outputs alphabetically) or a wrong
preprocessing (raw 0-255 pixels for a model trained on pixel / 255) leaves a model near chance, and every page
would explain that confidently. So, right after the validation predictions and when the data has real labels, the
validation faces (up to PROBE_FACES, a seeded choice) are scored as configured and under the common alternatives,
one change at a time: the class order (FER2013's, alphabetical), the pixel scale (1, 255), the normalisation
(none, 0.5/0.5, the data set's own mean and std, per face) and, where the model takes both, the channel count.

An alternative is clearly better when it scores at least MIN_GAIN (10 points) more and the 95% bootstrap interval
of the paired difference over the same faces (generator/explain/evidence.py) excludes 0. Then the build stops
with one line that gives both accuracies and the exact settings. Forward passes only: the configured scores are
the build's own predictions, a class order is a permutation of them, and every alternative is first screened on
SCREEN_FACES faces; only one that might still be MIN_GAIN better is scored on the rest.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from generator.config import Settings
from generator.data.fer2013 import as_model_input
from generator.errors import InputError
from generator.explain.evidence import paired_difference
from generator.imageset import predict
from generator.inputs import DataInputs
from generator.models.check import runs_on
from generator.models.classes import SHORTHANDS, resolve
from generator.models.wrapper import PER_FACE_MIN_STD, NormalisedModel

PROBE_FACES = 2000
SCREEN_FACES = 400
MIN_FACES = 50    # fewer validation faces give intervals too wide (and BCa too unreliable) to judge by
MIN_GAIN = 0.10
BATCH = 128


@dataclass(frozen=True)
class Alternative:
    setting: str      # the exact settings, as the user writes them: model.input_scale = 255
    changes: dict     # NormalisedModel.varied's arguments; empty for a class order
    classes: str = ""  # a class order's shorthand

    @property
    def several(self) -> bool:
        return " and " in self.setting


def _number(value: float) -> str:
    return f"{value:.4g}"


def alternatives(model: NormalisedModel, data: DataInputs) -> list[Alternative]:
    """The one-change alternatives to the configured settings, skipping those equal to them."""
    out = []
    if model.classes.outputs == 7:
        for name in SHORTHANDS:
            if resolve(name).order != model.classes.order:
                out.append(Alternative(f'model.classes = "{name}"', {}, name))
    fixed = model.normalise == "fixed"
    if fixed:
        for scale in (1.0, 255.0):
            if scale != model.scale:
                out.append(Alternative(f"model.input_scale = {_number(scale)}", {"scale": scale}))
    pixels = data.dataset.images
    units = 255.0 / model.scale  # the configured scale's value of a white pixel
    data_mean, data_std = float(np.mean(pixels, dtype=np.float64)), float(np.std(pixels, dtype=np.float64))
    pairs = [(0.0, 1.0), (0.5 * units, 0.5 * units), (data_mean / model.scale, data_std / model.scale)]
    for mean, std in pairs:
        mean, std = float(_number(mean)), float(_number(max(std, 1e-6)))
        if fixed and np.isclose(mean, model.mean) and np.isclose(std, model.std):
            continue
        setting = f"model.input_mean = {_number(mean)} and model.input_std = {_number(std)}"
        out.append(Alternative(setting + ("" if fixed else ' and model.normalise = "fixed"'),
                               {"mean": mean, "std": std, "normalise": "fixed"}))
    if fixed:
        out.append(Alternative('model.normalise = "per-face"', {"normalise": "per-face"}))
    shape = model.geometry.input_shape
    other = (4 - shape[0], *shape[1:])
    if runs_on(model, other):
        out.append(Alternative(f"model.input_channels = {other[0]}",
                               {"geometry": replace(model.geometry, channels=other[0])}))
    return out


def _commutes(model: NormalisedModel) -> bool:
    """Whether the geometry commutes with an affine map of the pixels (a resize's weights sum to 1, a crop and a
    channel copy are linear): then an alternative normalisation is the configured model on remapped pixels."""
    return model.normalise == "fixed" and not (model.geometry.resizes and model.geometry.resize == "pad")


def _remapped(model: NormalisedModel, faces: torch.Tensor, changes: dict) -> torch.Tensor:
    """Faces x' such that the configured normalisation of x' is the alternative's normalisation of ``faces``."""
    if changes.get("normalise") == "per-face":
        dims = (1, 2, 3)
        wanted = (faces - faces.mean(dim=dims, keepdim=True)) / faces.std(
            dim=dims, keepdim=True, correction=0).clamp_min(PER_FACE_MIN_STD)
    else:
        scale, mean, std = (changes.get(k, getattr(model, k)) for k in ("scale", "mean", "std"))
        wanted = faces * (255.0 / scale / std) - mean / std
    return (wanted + model.shift) / model.gain


def _predicted(model, fast, images: np.ndarray, alternative: Alternative) -> np.ndarray:
    """The alternative's predicted class of each face (uint8, (N, 48, 48))."""
    changes = alternative.changes
    remap = _commutes(model) and set(changes) <= {"scale", "mean", "std", "normalise"}
    varied = None if remap else model.varied(**changes)
    out = []
    with torch.inference_mode():
        for k in range(0, len(images), BATCH):
            faces = as_model_input(images[k:k + BATCH])
            scores = fast(_remapped(model, faces, changes)) if remap else varied(faces)
            out.append(scores.argmax(1).numpy())
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def _permuted(probabilities: np.ndarray, model: NormalisedModel, name: str) -> np.ndarray:
    """The configured predictions read under another class order: column c holds the model output that the
    other order calls class c."""
    column_of = {output: c for c, output in enumerate(model.classes.order)}
    return probabilities[:, [column_of[output] for output in resolve(name).order]]


def _chosen(data: DataInputs, seed: int) -> np.ndarray:
    """Up to PROBE_FACES validation positions in a seeded random order, so the first SCREEN_FACES are a random
    sample too."""
    return np.random.default_rng(seed).permutation(data.validation)[:PROBE_FACES]


def probe(settings: Settings, model: NormalisedModel, fast, data: DataInputs, probabilities: np.ndarray) -> dict:
    """The probe's table for the reproducibility page; raises InputError when an alternative is clearly better."""
    if not settings.model.probe:
        return _table("off")
    if data.synthetic:  # the demo model was trained on these labels' faces: nothing to learn from them
        return _table("synthetic")
    positions = _chosen(data, settings.seed)
    if len(positions) < MIN_FACES:
        return _table("too_few", faces=int(len(positions)))
    labels = data.dataset.labels[positions]
    configured = probabilities[positions].argmax(1) == labels
    screen = min(SCREEN_FACES, len(positions))
    rows = []
    for alternative in alternatives(model, data):
        if alternative.classes:
            correct = _permuted(probabilities[positions], model, alternative.classes).argmax(1) == labels
        else:
            images = data.dataset.images[positions]
            correct = _predicted(model, fast, images[:screen], alternative) == labels[:screen]
            first = paired_difference(correct, configured[:screen], settings.seed)
            if first.high >= MIN_GAIN and screen < len(positions):  # it might be clearly better: score the rest
                rest = _predicted(model, fast, images[screen:], alternative) == labels[screen:]
                correct = np.concatenate([correct, rest])
        n = len(correct)
        difference = paired_difference(correct, configured[:n], settings.seed)
        rows.append({"setting": alternative.setting, "several": alternative.several, "faces": n,
                     "accuracy": float(correct.mean()), "configured": float(configured[:n].mean()),
                     "difference": difference.as_dict(),
                     "clearly_better": bool(difference.mean >= MIN_GAIN and difference.low > 0)})
    table = _table("checked", faces=int(len(positions)), screen=screen, configured=float(configured.mean()),
                   rows=rows)
    better = [row for row in rows if row["clearly_better"]]
    if better:
        best = max(better, key=lambda row: row["accuracy"])  # the first listed among equals
        raise InputError(f"the model scores {best['configured']:.0%} on {best['faces']:,} validation faces as "
                         f"configured, {best['accuracy']:.0%} with {best['setting']}: set "
                         f"{'them' if best['several'] else 'it'}, or set model.probe = false to build as configured")
    return table


def _table(status: str, **values) -> dict:
    """The probe's table with every key the pages read, whatever the status: checked, off, synthetic, too_few."""
    return {"status": status, "faces": 0, "screen": 0, "configured": None, "rows": [], "min_gain": MIN_GAIN,
            "min_faces": MIN_FACES, **values}


def predict_and_probe(settings: Settings, model: NormalisedModel, fast, data: DataInputs):
    """The build's predictions of every loaded face and the probe's table, computed together: a probe that
    stops the build leaves nothing behind, not even a cache entry."""
    probabilities = predict(fast, data.dataset.images)
    return probabilities, probe(settings, model, fast, data, probabilities)
