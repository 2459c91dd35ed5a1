"""A probe forward right after loading: a model that cannot take 48x48 grayscale faces, or that does not give 7
finite scores, stops the build with one line before any analysis runs (instead of a traceback from inside it).
"""
from __future__ import annotations

from pathlib import Path

import torch

from generator.data.fer2013 import NUM_CLASSES
from generator.errors import InputError

EXPECTED_INPUT = (1, 48, 48)
# Input shapes a student's model is often built for; tried only after the 48x48 probe failed, to say which fits.
OTHER_INPUTS = ((3, 48, 48), (1, 64, 64), (3, 64, 64), (1, 32, 32), (3, 32, 32), (1, 28, 28), (1, 96, 96),
                (3, 96, 96), (1, 224, 224), (3, 224, 224))


def _probe_batch() -> torch.Tensor:
    """Black, mid-gray, white and two seeded noise faces in [0, 1]: the extremes a real face set reaches."""
    noise = torch.rand(2, *EXPECTED_INPUT, generator=torch.Generator().manual_seed(0))
    flat = torch.stack([torch.full(EXPECTED_INPUT, v) for v in (0.0, 0.5, 1.0)])
    return torch.cat([flat, noise])


def _runs_on(model: torch.nn.Module, shape: tuple) -> bool:
    try:
        with torch.inference_mode():
            out = model(torch.full((2, *shape), 0.5))
        return isinstance(out, torch.Tensor) and out.ndim == 2 and out.shape[1] == NUM_CLASSES
    except Exception:  # noqa: BLE001 -- any failure means "not this shape"
        return False


def check_model(model: torch.nn.Module, path: Path, output: str) -> None:
    """Raise InputError unless ``model`` maps (B, 1, 48, 48) faces in [0, 1] to (B, 7) finite scores."""
    x = _probe_batch()
    try:
        with torch.inference_mode():
            out = model(x)
    except Exception as error:  # noqa: BLE001 -- the student's forward may raise anything
        fits = [shape for shape in OTHER_INPUTS if _runs_on(model, shape)]
        reason = f"{type(error).__name__}: {(str(error).strip().splitlines() or [''])[0]}"
        if fits:
            raise InputError(f"{path}: the model takes input of shape {fits[0]} (channels, height, width), "
                             f"expected (1, 48, 48): FER2013 faces are 48x48 grayscale ({reason})") from None
        raise InputError(f"{path}: the model fails on 48x48 grayscale faces of shape (B, 1, 48, 48), expected it to "
                         f"take them ({reason})") from None
    if not isinstance(out, torch.Tensor):
        raise InputError(f"{path}: the model returns a {type(out).__name__}, expected one tensor of shape (B, 7) "
                         "(a model returning several outputs needs a wrapper whose forward returns the scores)")
    if tuple(out.shape) != (len(x), NUM_CLASSES):
        raise InputError(f"{path}: the model outputs shape {tuple(out.shape)} for {len(x)} faces, expected "
                         f"({len(x)}, {NUM_CLASSES}): one score per class (0 angry ... 6 neutral)")
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
