"""Guided Backprop and Guided Grad-CAM against Captum's GuidedBackprop and GuidedGradCam."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from captum.attr import GuidedBackprop as CaptumGuidedBackprop
from captum.attr import GuidedGradCam as CaptumGuidedGradCam

from conftest import random_faces
from generator.config import Settings
from generator.explain.attributions import default_gradcam_layer
from generator.explain.methods import REGISTRY
from generator.explain.methods.guided_backprop import guided_gradients
from generator.explain.saliency import gradients, normalise

SETTINGS = Settings()


def _abs_map(attribution: torch.Tensor) -> np.ndarray:
    return normalise(attribution.detach().abs().amax(dim=1).numpy().astype(np.float64))


def test_guided_backprop_equals_captum(wrapped_tiny):
    x, t = random_faces()
    ours = guided_gradients(wrapped_tiny, x, t)
    theirs = CaptumGuidedBackprop(wrapped_tiny).attribute(x.clone().requires_grad_(True), target=t)
    assert torch.allclose(ours, theirs, atol=1e-6, rtol=1e-5)
    assert not torch.allclose(ours, gradients(wrapped_tiny, x, t), atol=1e-6)  # guided, not the plain gradient
    np.testing.assert_allclose(REGISTRY["guided_backprop"].attribute(wrapped_tiny, x, t, SETTINGS, 0),
                               _abs_map(theirs), atol=1e-6)


def test_guided_relu_also_guides_functional_relus():
    """A model that calls F.relu (as a Keras model's layers do) gets the same guided gradient as its twin with
    ReLU modules, which Captum hooks."""
    torch.manual_seed(0)
    conv, linear = torch.nn.Conv2d(1, 4, 3), torch.nn.Linear(4 * 46 * 46, 7)

    class Functional(torch.nn.Module):
        def forward(self, x):
            return linear(F.relu(conv(x)).flatten(1))

    modules = torch.nn.Sequential(conv, torch.nn.ReLU(), torch.nn.Flatten(), linear)
    x, t = random_faces()
    reference = CaptumGuidedBackprop(modules).attribute(x.clone().requires_grad_(True), target=t)
    assert torch.allclose(guided_gradients(Functional(), x, t), reference, atol=1e-6)


def test_guided_gradcam_equals_captum(wrapped_tiny):
    x, t = random_faces()
    _, layer = default_gradcam_layer(wrapped_tiny)
    theirs = CaptumGuidedGradCam(wrapped_tiny, layer).attribute(x.clone().requires_grad_(True), target=t,
                                                          interpolate_mode="bilinear")
    ours = REGISTRY["guided_gradcam"].attribute(wrapped_tiny, x, t, SETTINGS, 0)
    np.testing.assert_allclose(ours, _abs_map(theirs), atol=1e-5)
