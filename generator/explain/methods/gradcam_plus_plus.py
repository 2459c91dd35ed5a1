"""Grad-CAM++ (Chattopadhyay et al., 2018): Grad-CAM whose channel weights sum each location's positive gradient
weighted by alpha, so that several instances of a feature each count (the closed form of their equation 19, for a
score passed through an exponential: alpha = g^2 / (2 g^2 + sum(A) g^3), 0 where g is 0)."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from generator.explain.attributions import module_named
from generator.explain.methods.base import GRADIENT, Method, Passes
from generator.explain.methods.gradcam import layer_name
from generator.explain.saliency import normalise
from generator.models.hooks import CallRecorder
from generator.models.load import geometry_of

EPS = 1e-6  # keeps alpha finite where the denominator vanishes (as pytorch-grad-cam does)


def gradcam_plus_plus_raw(model, layer, images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """(B, 1, h, w) at the layer's own resolution, before upsampling; the layer's last call."""
    x = images.detach().clone().requires_grad_(True)
    with CallRecorder([layer]) as recorder:
        scores = model(x).gather(1, targets.view(-1, 1)).sum()
    activations = recorder.outputs(layer)[-1]
    (grads,) = torch.autograd.grad(scores, activations)
    squared = grads ** 2
    alpha = squared / (2 * squared + activations.sum(dim=(2, 3), keepdim=True) * squared * grads + EPS)
    alpha = torch.where(grads != 0, alpha, torch.zeros_like(alpha))
    weights = (alpha * F.relu(grads)).sum(dim=(2, 3), keepdim=True)
    return F.relu((weights * activations).sum(dim=1, keepdim=True)).detach()


class GradCAMPlusPlus(Method):
    key, name, kind, section = "gradcam_plus_plus", "Grad-CAM++", GRADIENT, "attribution"

    def passes(self, settings) -> Passes:
        return Passes(gradient=1)

    def attribute(self, model, faces, targets, settings, seed):
        layer = module_named(model, layer_name(model, settings.attribution))
        cam = geometry_of(model).map_to_face(gradcam_plus_plus_raw(model, layer, faces, targets))
        return normalise(cam[:, 0].numpy().astype(np.float64))
