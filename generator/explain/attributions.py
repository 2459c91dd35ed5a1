"""Gradient attribution methods beside vanilla saliency: SmoothGrad, Integrated Gradients, Grad-CAM.

Every method takes (model, images (B, 1, 48, 48) in [0, 1], targets (B,)) and returns (B, 48, 48) maps in [0, 1],
like ``saliency``. Definitions follow the papers and match Captum where the definitions agree (tests check it):
- SmoothGrad (Smilkov et al., 2017): the mean of the raw gradients at ``samples`` noisy copies of the image
  (Gaussian, standard deviation ``noise`` on the [0, 1] pixel scale), then the absolute value. Captum's
  NoiseTunnel over Saliency(abs=True) averages absolute gradients instead; ours averages first, as the paper does.
- Integrated Gradients (Sundararajan et al., 2017): (x - baseline) times the mean gradient at the midpoints of
  ``steps`` equal steps from the baseline to x (Captum's "riemann_middle"), then the absolute value.
- Grad-CAM (Selvaraju et al., 2017): ReLU of the channel sum of a conv layer's output weighted by the spatial mean
  of its gradient, upsampled bilinearly to 48x48. The layer's maps cover the model's own input: for a model that
  takes a crop of the face or the face with a border (``model.resize``), they are laid back over the face
  (``Geometry.map_to_face``), so every map is defined on the 48x48 face the reader sees.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from generator.explain.saliency import gradients, normalise, saliency
from generator.models import layers
from generator.models.hooks import CallRecorder
from generator.models.load import geometry_of


def _abs_map(attribution: torch.Tensor) -> np.ndarray:
    return normalise(attribution.abs().amax(dim=1).detach().numpy().astype(np.float64))


def _noise(shape: tuple, noise: float, seed: int) -> torch.Tensor:
    return torch.normal(0.0, torch.full(shape, float(noise)), generator=torch.Generator().manual_seed(seed))


def smoothgrad_raw(model: nn.Module, images: torch.Tensor, targets: torch.Tensor, samples: int = 25,
                   noise: float = 0.15, seed: int | Sequence[int] = 0) -> torch.Tensor:
    """The mean raw gradient over noisy copies, shape of ``images``. Noise is drawn for all copies at once, image
    by image (copy k of image b is row b * samples + k), from a generator seeded with ``seed``. With one seed per
    image, image b's copies come from its own generator: the same noise as that image explained alone with its
    seed, whatever batch it is in (the class averages batch many faces and must match the faces one by one)."""
    expanded = images.repeat_interleave(samples, dim=0)
    if isinstance(seed, (int, np.integer)):
        drawn = _noise(expanded.shape, noise, int(seed))
    else:
        drawn = torch.cat([_noise((samples, *images.shape[1:]), noise, int(s)) for s in seed])
    noisy = expanded + drawn
    grads = gradients(model, noisy, targets.repeat_interleave(samples))
    return grads.view(len(images), samples, *images.shape[1:]).mean(dim=1)


def smoothgrad(model, images, targets, samples: int = 25, noise: float = 0.15,
               seed: int | Sequence[int] = 0) -> np.ndarray:
    return _abs_map(smoothgrad_raw(model, images, targets, samples, noise, seed))


def baseline_image(images: torch.Tensor, baseline: str | float) -> torch.Tensor:
    """"black" (0), "gray" (0.5), "mean" (each image's own mean gray), or a number in [0, 1]."""
    if baseline == "black":
        return torch.zeros_like(images)
    if baseline == "mean":
        return images.mean(dim=(1, 2, 3), keepdim=True).expand_as(images).clone()
    if baseline == "gray":
        return torch.full_like(images, 0.5)
    return torch.full_like(images, float(baseline))


def integrated_gradients_raw(model: nn.Module, images: torch.Tensor, targets: torch.Tensor,
                             baseline: str | float = "black", steps: int = 50) -> torch.Tensor:
    base = baseline_image(images, baseline)
    alphas = (torch.arange(steps, dtype=images.dtype) + 0.5) / steps
    total = torch.zeros_like(images)
    for alpha in alphas:  # one image batch per step keeps memory flat for any step count
        total += gradients(model, base + alpha * (images - base), targets)
    return (images - base) * total / steps


def integrated_gradients(model, images, targets, baseline: str | float = "black", steps: int = 50) -> np.ndarray:
    return _abs_map(integrated_gradients_raw(model, images, targets, baseline, steps))


def gradcam_raw(model: nn.Module, layer: nn.Module, images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Grad-CAM at the layer's own resolution, (B, 1, h, w), before upsampling. A layer that runs more than once
    in the forward pass (a shared ReLU module) is explained at its last call."""
    x = images.detach().clone().requires_grad_(True)
    with CallRecorder([layer]) as recorder:
        scores = model(x).gather(1, targets.view(-1, 1)).sum()
    activations = recorder.outputs(layer)[-1]
    (grads,) = torch.autograd.grad(scores, activations)
    weights = grads.mean(dim=(2, 3), keepdim=True)
    return F.relu((weights * activations).sum(dim=1, keepdim=True)).detach()


def gradcam(model: nn.Module, images: torch.Tensor, targets: torch.Tensor, layer: nn.Module) -> np.ndarray:
    cam = geometry_of(model).map_to_face(gradcam_raw(model, layer, images, targets))
    return normalise(cam[:, 0].numpy().astype(np.float64))


default_gradcam_layer = layers.default_gradcam_layer  # the rectified maps of the last conv, PyTorch or Keras
module_named = layers.layer_named                     # so a method finds its layer in a randomised copy too
