"""The model's input geometry: how the 48x48 gray face the reader sees becomes the input the model was trained on.

Settings ``model.input_size`` (an int or [height, width]), ``model.input_channels`` (1, or 3: the gray copied into
each channel) and ``model.resize``:

- ``bilinear`` scales the whole face to the size (antialiased when it shrinks, as torchvision's ``Resize`` and PIL
  do; scaling up needs no antialiasing);
- ``center-crop`` cuts the central part of the face, for models trained on crops of it (44x44 in the VGG19 FER2013
  recipe); a size of at most 48;
- ``pad`` puts the face in the middle of a black border; a size of at least 48.

Where a crop or a border is not even, the extra pixel goes to the bottom and the right. These are the first,
differentiable steps of ``NormalisedModel``, before the scaling, so every method still works on the 48x48 face:
its gradients, perturbations and maps are defined on the face. The default (48, 1 channel) is the identity and adds
no step at all, so a model built for 48x48 gray faces computes exactly what it computed before.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

FACE = 48  # FER2013 faces are 48x48


@dataclass(frozen=True)
class Geometry:
    height: int = FACE
    width: int = FACE
    channels: int = 1
    resize: str = "bilinear"

    @classmethod
    def from_settings(cls, settings) -> Geometry:
        """From ``ModelSettings`` (already checked by generator/config.py)."""
        size = settings.input_size
        height, width = (size, size) if isinstance(size, int) else size
        return cls(int(height), int(width), int(settings.input_channels), settings.resize)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of what the model receives."""
        return self.channels, self.height, self.width

    @property
    def resizes(self) -> bool:
        return (self.height, self.width) != (FACE, FACE)

    @property
    def is_identity(self) -> bool:
        return not self.resizes and self.channels == 1

    def _offsets(self) -> tuple[int, int]:
        """Where the crop starts on the face (center-crop), or where the face starts in the padded input (pad)."""
        return abs(FACE - self.height) // 2, abs(FACE - self.width) // 2

    def apply(self, faces: torch.Tensor) -> torch.Tensor:
        """(B, 1, 48, 48) faces in [0, 1] -> (B, channels, height, width), still in [0, 1]; differentiable."""
        x = faces
        if self.resizes:
            top, left = self._offsets()
            if self.resize == "center-crop":
                x = x[..., top:top + self.height, left:left + self.width]
            elif self.resize == "pad":  # black: 0 on the [0, 1] pixel scale, before the model's own scaling
                x = F.pad(x, (left, self.width - FACE - left, top, self.height - FACE - top), value=0.0)
            else:
                shrinks = self.height < FACE or self.width < FACE
                x = F.interpolate(x, size=(self.height, self.width), mode="bilinear", align_corners=False,
                                  antialias=shrinks)
        if self.channels != 1:  # a view: the scaling after it makes the new tensor the model receives
            x = x.expand(-1, self.channels, -1, -1)
        return x

    def map_to_face(self, maps: torch.Tensor) -> torch.Tensor:
        """(B, 1, h, w) maps over the model's input (a layer's maps, as Grad-CAM gives them) -> (B, 1, 48, 48) maps
        over the face. Parts of the face a crop cut away get 0: the model never saw them."""
        if self.resize == "bilinear" or not self.resizes:  # the input spans the face exactly
            return F.interpolate(maps, size=(FACE, FACE), mode="bilinear")
        on_input = F.interpolate(maps, size=(self.height, self.width), mode="bilinear")
        top, left = self._offsets()
        if self.resize == "pad":
            return on_input[..., top:top + FACE, left:left + FACE]
        out = on_input.new_zeros(*maps.shape[:-2], FACE, FACE)
        out[..., top:top + self.height, left:left + self.width] = on_input
        return out

    def labels_on_input(self, labels: np.ndarray, fill: int) -> np.ndarray:
        """A (48, 48) label map of the face (its parts) laid over the model's input, ``fill`` on a border: resample
        it (nearest) to a layer's size afterwards. Unchanged for ``bilinear``, whose input spans the face."""
        if self.resize == "bilinear" or not self.resizes:
            return labels
        top, left = self._offsets()
        if self.resize == "center-crop":
            return labels[top:top + self.height, left:left + self.width]
        return np.pad(labels, ((top, self.height - FACE - top), (left, self.width - FACE - left)),
                      constant_values=fill)


IDENTITY = Geometry()
