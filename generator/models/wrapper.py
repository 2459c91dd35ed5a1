"""The one interface every method sees: ``NormalisedModel`` takes faces in [0, 1] of shape (B, 1, 48, 48) and
returns 7 logits in FER2013's order, whatever the student's model takes and gives.

Its steps, all differentiable, so every method's gradients and maps stay defined on the 48x48 face:
1. the input geometry (size, channels, resize; generator/models/geometry.py);
2. the normalisation: ``fixed``, (pixel / scale - mean) / std, or ``per-face``, each face minus its own mean,
   divided by its own standard deviation (both taken over the 48x48 face);
3. the student's model, untouched (on its device);
4. its outputs as logits: probabilities become log-probabilities, which softmax maps back to the same
   probabilities;
5. the outputs in FER2013's order (``model.classes``; generator/models/classes.py): an output that is none of the
   7 classes is dropped here, so its logit takes no part in any softmax.
The identity steps (48x48 gray, FER2013's order) add no operation.
"""
from __future__ import annotations

import torch
from torch import nn

from generator.models.classes import FER2013, ClassOrder, resolve
from generator.models.geometry import IDENTITY, Geometry

PER_FACE_MIN_STD = 1e-6  # on the [0, 1] scale: a flat face (all one gray) becomes all zeros, not NaN


class NormalisedModel(nn.Module):
    """[0, 1] pixels of 48x48 faces in, logits in FER2013's order out. ``inner`` is the student's model."""

    def __init__(self, inner: nn.Module, scale: float, mean: float, std: float, output: str,
                 geometry: Geometry = IDENTITY, normalise: str = "fixed", classes: ClassOrder | None = None):
        super().__init__()
        self.inner = inner
        self.scale, self.mean, self.std = float(scale), float(mean), float(std)
        # pixels p in [0, 255] reach the model as (p / scale - mean) / std; our input is x = p / 255.
        self.gain = 255.0 / scale / std
        self.shift = mean / std
        self.output = output
        self.geometry = geometry
        self.normalise = normalise
        self.classes = classes or resolve(list(FER2013))
        # Plain ints, not a tensor: the fast path's trace keeps them as constant indices
        self.order = None if self.classes.is_identity else list(self.classes.order)

    @property
    def is_affine(self) -> bool:
        """Whether the model's input is ``x * gain - shift`` of the face: what the hand-written fast paths
        (question 2's conv chain, incremental occlusion) compute before the model's layers."""
        return self.normalise == "fixed" and self.geometry.is_identity

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._in_compute_dtype(x)
        model_input = x if self.geometry.is_identity else self.geometry.apply(x)
        return self._select(self._scores(self._normalised(model_input, x)))

    def on_model_input(self, x: torch.Tensor) -> torch.Tensor:
        """Logits for ``x`` already of the model's input shape, pixels in [0, 1]: the scaling and the output only.
        The shape probe calls it to try other input shapes than the configured one."""
        return self._select(self.model_outputs(x))

    def model_outputs(self, x: torch.Tensor) -> torch.Tensor:
        """All of the model's outputs, in its own order (dropped ones included), for input of its own shape."""
        x = self._in_compute_dtype(x)
        return self._scores(self._normalised(x, x))

    def _in_compute_dtype(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` in the dtype of the model's weights (float64 after load_model): faces arrive as float32, and
        autograd carries the gradient back through the cast."""
        dtype = next((p.dtype for p in self.inner.parameters() if p.is_floating_point()), None)
        return x.to(dtype) if dtype is not None and x.is_floating_point() and x.dtype != dtype else x

    def _normalised(self, model_input: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
        if self.normalise == "per-face":
            dims = tuple(range(1, faces.ndim))
            mean = faces.mean(dim=dims, keepdim=True)
            std = faces.std(dim=dims, keepdim=True, correction=0).clamp_min(PER_FACE_MIN_STD)
            return (model_input - mean) / std
        return model_input * self.gain - self.shift

    def _scores(self, model_input: torch.Tensor) -> torch.Tensor:
        # On a GPU (--device cuda) the faces move there and the scores come back: the methods stay on the CPU,
        # and autograd carries gradients through both moves. On the CPU both moves are no-ops.
        device = next((p.device for p in self.inner.parameters()), model_input.device)
        out = self.inner(model_input.to(device))
        if self.output == "probabilities":
            out = torch.log(out.clamp_min(1e-12))
        return out.to(model_input.device)

    def _select(self, out):
        if self.order is None or not isinstance(out, torch.Tensor) or out.ndim != 2:
            return out  # check_model says what is wrong with an output of another shape
        return out[:, self.order]

    def varied(self, **changes) -> NormalisedModel:
        """The same model under other settings (scale, mean, std, normalise, geometry, classes): the probe's
        alternatives. The student's model is shared, not copied."""
        kept = {"scale": self.scale, "mean": self.mean, "std": self.std, "output": self.output,
                "geometry": self.geometry, "normalise": self.normalise, "classes": self.classes}
        return NormalisedModel(self.inner, **{**kept, **changes}).eval()


def geometry_of(model: nn.Module) -> Geometry:
    """The input geometry of a wrapped model; a bare module takes the 48x48 gray faces as they are."""
    return model.geometry if isinstance(model, NormalisedModel) else IDENTITY
