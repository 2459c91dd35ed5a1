"""Grad-CAM++ against the paper's formulas written out as plain loops. pytorch-grad-cam (the `grad-cam` package)
cannot serve as the oracle here: it requires torchvision, which would pull another torch, and without it the
package does not import (pytorch_grad_cam/utils/image.py imports torchvision.transforms at the top)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from conftest import random_faces
from generator.config import Settings
from generator.explain.attributions import default_gradcam_layer
from generator.explain.methods import REGISTRY
from generator.explain.methods.gradcam_plus_plus import EPS

SETTINGS = Settings()


def _naive_gradcam_plus_plus(model, layer, face: torch.Tensor, target: int) -> np.ndarray:
    """Chattopadhyay et al. 2018, equations 19 and 9, for Y = exp(S) on one face, with loops over the channels and
    positions. After the layer the network is piecewise linear, so dS/dA is constant there and the second and third
    derivatives of Y are exp(S) times the gradient's powers."""
    kept = {}
    handle = layer.register_forward_hook(lambda module, inputs, output: kept.setdefault("a", output))
    score = model(face[None].clone().requires_grad_(True))[0, target]
    handle.remove()
    activation = kept["a"]
    (grad,) = torch.autograd.grad(torch.exp(score), activation)  # dY/dA = exp(S) dS/dA
    exp_s = float(torch.exp(score.detach()))
    a, first = activation[0].detach().double().numpy(), grad[0].double().numpy()
    channels, height, width = a.shape
    cam = np.zeros((height, width))
    for k in range(channels):
        total, weight = a[k].sum(), 0.0
        for i in range(height):
            for j in range(width):
                g = first[k, i, j] / exp_s  # dS/dA
                second, third = exp_s * g ** 2, exp_s * g ** 3
                # with the implementation's guard against a zero denominator (EPS, on the exp-free scale)
                denominator = 2 * second + total * third + EPS * exp_s
                alpha = second / denominator if g != 0 else 0.0
                weight += alpha * max(first[k, i, j], 0.0)
        cam += weight * a[k]
    cam = np.maximum(cam, 0)
    up = F.interpolate(torch.from_numpy(cam)[None, None], size=(48, 48), mode="bilinear")[0, 0].numpy()
    return up / up.max() if up.max() > 0 else up


def test_gradcam_plus_plus_equals_the_papers_formulas(wrapped_tiny):
    x, t = random_faces()
    _, layer = default_gradcam_layer(wrapped_tiny)
    ours = REGISTRY["gradcam_plus_plus"].attribute(wrapped_tiny, x, t, SETTINGS, 0)
    for k in range(len(x)):
        np.testing.assert_allclose(ours[k], _naive_gradcam_plus_plus(wrapped_tiny, layer, x[k], int(t[k])), atol=1e-4)
    gradcam = REGISTRY["gradcam"].attribute(wrapped_tiny, x, t, SETTINGS, 0)
    assert not np.allclose(ours, gradcam, atol=1e-3)  # a different weighting, not Grad-CAM again
