"""Guided Backpropagation (Springenberg et al., 2015): the input gradient with every ReLU's backward pass letting
through only positive gradients where its input was positive. Equal to Captum's ``GuidedBackprop`` on a model whose
ReLUs are modules (tested); here every ReLU call is guided, a functional ``F.relu`` or a Keras model's too, through
a torch function mode rather than module hooks."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from generator.explain.methods.base import GRADIENT, Method, Passes
from generator.explain.saliency import gradients, normalise


class _GuidedReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad.clamp(min=0) * (x > 0).to(grad.dtype)


class GuidedReLUs(TorchFunctionMode):
    """While open, every ReLU of the forward pass is a guided one (the in-place ones too, out of place)."""
    RELUS = {F.relu, F.relu_, torch.relu, torch.relu_, torch.Tensor.relu, torch.Tensor.relu_}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in self.RELUS:
            return _GuidedReLU.apply(args[0])
        return func(*args, **(kwargs or {}))


def guided_gradients(model: torch.nn.Module, images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The guided input gradient, shape of ``images``, signed."""
    with GuidedReLUs():
        return gradients(model, images, targets)


class GuidedBackprop(Method):
    key, name, kind, section = "guided_backprop", "Guided Backprop", GRADIENT, "attribution"

    def passes(self, settings) -> Passes:
        return Passes(gradient=1)

    def attribute(self, model, faces, targets, settings, seed):
        grads = guided_gradients(model, faces, targets).abs().amax(dim=1)
        return normalise(grads.numpy().astype(np.float64))
