"""Vanilla gradient saliency: |d score_c / d x|, normalised per image to [0, 1].

The score is the class logit (log-probability for a model that outputs probabilities), as in Simonyan et al.,
"Deep Inside Convolutional Networks", 2014. All images go through one backward pass: the model is in eval mode,
so the images do not interact, and the gradient of the sum of the target scores is each image's own gradient.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from generator.scaling import normalise


def gradients(model: nn.Module, images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """d score_target / d input, shape of ``images``. ``images`` is left unchanged."""
    x = images.detach().clone().requires_grad_(True)
    scores = model(x)
    picked = scores.gather(1, targets.view(-1, 1)).sum()
    (grad,) = torch.autograd.grad(picked, x)
    return grad


def saliency(model: nn.Module, images: torch.Tensor, targets: torch.Tensor) -> np.ndarray:
    """(B, 48, 48) maps in [0, 1]: the absolute input gradient, the channel axis reduced by its maximum."""
    grad = gradients(model, images, targets).abs().amax(dim=1)
    return normalise(grad.numpy().astype(np.float64))
