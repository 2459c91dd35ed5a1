"""A probe forward right after loading: a model that cannot take 48x48 grayscale faces (through its configured
input geometry), or that does not give one finite score per name of ``model.classes`` (7 by default), stops the
build with one line before any analysis runs (instead of a traceback from inside it). A model built for another
input gets the settings that fit it.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch

from generator.errors import InputError

if TYPE_CHECKING:
    from generator.models.load import NormalisedModel

EXPECTED_INPUT = (1, 48, 48)
# Input sides a student's FER2013 model is often built for (44: the VGG19 recipe's crops; 224 and its kin:
# ImageNet backbones), each tried with 1 and 3 channels, only after the probe failed, to say which settings fit.
OTHER_SIDES = (48, 44, 64, 32, 40, 42, 28, 56, 96, 100, 112, 128, 160, 192, 224, 227, 256, 299)


def _probe_batch() -> torch.Tensor:
    """Black, mid-gray, white and two seeded noise faces in [0, 1]: the extremes a real face set reaches."""
    noise = torch.rand(2, *EXPECTED_INPUT, generator=torch.Generator().manual_seed(0))
    flat = torch.stack([torch.full(EXPECTED_INPUT, v) for v in (0.0, 0.5, 1.0)])
    return torch.cat([flat, noise])


def runs_on(model: NormalisedModel, shape: tuple) -> bool:
    """Whether the model itself, past the wrapper's geometry, takes input of ``shape`` and gives its scores."""
    try:
        with torch.inference_mode():
            out = model.model_outputs(torch.full((2, *shape), 0.5))
        return isinstance(out, torch.Tensor) and out.ndim == 2 and out.shape[1] == model.classes.outputs
    except Exception:  # noqa: BLE001 -- any failure means "not this shape"
        return False


def _candidates(configured: tuple) -> list[tuple]:
    """Input shapes to try, closest to the configured one first: one setting changed before both."""
    shapes = [(channels, side, side) for side in OTHER_SIDES for channels in (1, 3)]
    shapes.insert(0, (4 - configured[0], *configured[1:]))  # the configured size with the other channel count
    shapes = [shape for k, shape in enumerate(shapes) if shape != configured and shape not in shapes[:k]]
    return sorted(shapes, key=lambda s: (s[0] != configured[0]) + (s[1:] != configured[1:]))


def suggestion(shape: tuple, configured: tuple, resize: str = "bilinear") -> str:
    """The settings that give the model input of ``shape`` (channels, height, width), where they differ from the
    configured ones: "set model.input_channels = 3 and model.input_size = 224"."""
    changes, note = [], ""
    if shape[0] != configured[0]:
        changes.append(f"model.input_channels = {shape[0]}")
    if shape[1:] != configured[1:]:
        size = shape[1] if shape[1] == shape[2] else f"[{shape[1]}, {shape[2]}]"
        changes.append(f"model.input_size = {size}")
        crop_fits = max(shape[1:]) <= 48
        crop = "if it was trained on crops of the 48x48 face"
        # generator/config.py refuses a crop larger than the face and a border smaller than it
        if (resize == "center-crop" and not crop_fits) or (resize == "pad" and min(shape[1:]) < 48):
            changes.append('model.resize = "bilinear"')
            note = f' (or "center-crop" {crop})' if crop_fits else ""
        elif resize == "bilinear" and crop_fits:
            note = f' (with model.resize = "center-crop" {crop})'
    return "set " + " and ".join(changes) + note


def check_model(model: NormalisedModel, path: Path, output: str) -> None:
    """Raise InputError unless ``model`` maps (B, 1, 48, 48) faces in [0, 1] to finite scores, one per name of
    ``model.classes`` (checked on all of the model's outputs, before the wrapper drops or reorders any)."""
    x = _probe_batch()
    try:
        with torch.inference_mode():
            out = model.model_outputs(x if model.geometry.is_identity else model.geometry.apply(x))
    except Exception as error:  # noqa: BLE001 -- the student's forward may raise anything
        configured = model.geometry.input_shape
        fits = next((shape for shape in _candidates(configured) if runs_on(model, shape)), None)
        if fits:
            advice = suggestion(fits, configured, model.geometry.resize)
            raise InputError(f"{path}: the model takes {fits}: {advice}") from None
        reason = f"{type(error).__name__}: {(str(error).strip().splitlines() or [''])[0]}"
        raise InputError(f"{path}: the model fails on input of shape (B, {', '.join(map(str, configured))}) "
                         "(model.input_channels, model.input_size), expected it to take it, or one of the common "
                         f"FER2013 input shapes ({reason})") from None
    if not isinstance(out, torch.Tensor):
        raise InputError(f"{path}: the model returns a {type(out).__name__}, expected one tensor of shape (B, 7) "
                         "(a model returning several outputs needs a wrapper whose forward returns the scores)")
    named = model.classes.outputs
    if tuple(out.shape) != (len(x), named):
        if model.classes.kind in ("fer2013", "alphabetical"):
            names = "(0 angry ... 6 neutral)" if model.classes.kind == "fer2013" else "in alphabetical order"
            more = (f"; if its {out.shape[1]} outputs include others (FER+'s contempt), name them all in "
                    "model.classes" if out.ndim == 2 and out.shape[1] > named else "")
            raise InputError(f"{path}: the model outputs shape {tuple(out.shape)} for {len(x)} faces, expected "
                             f"({len(x)}, {named}): one score per class {names}{more}")
        raise InputError(f"{path}: the model outputs shape {tuple(out.shape)} for {len(x)} faces, but "
                         f"model.classes names {named} outputs, expected ({len(x)}, {named}): name every output of "
                         "the model, in its order")
    bad = ~torch.isfinite(out).all(dim=1)
    if bad.any():
        names = ["black", "mid-gray", "white", "noise", "noise"]
        which = ", ".join(sorted({names[k] for k in torch.nonzero(bad).flatten().tolist()}, key=names.index))
        raise InputError(f"{path}: the model outputs NaN or infinite scores (for {which} faces), expected finite "
                         "scores; check the weights and model.input_scale, input_mean, input_std")
    if output == "probabilities":
        sums = out.exp().sum(dim=1)  # the wrapper turned the model's probabilities into log-probabilities
        if not torch.allclose(sums, torch.ones_like(sums), atol=1e-3):
            raise InputError(f"{path}: model.output = 'probabilities', but the outputs of a face sum to "
                             f"{float(sums[0]):.3g}, expected 1; set model.output = 'logits' if the model has "
                             "no softmax at the end")
