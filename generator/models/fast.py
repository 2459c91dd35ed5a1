"""One fast inference path for every method that only runs the model forward (LIME, occlusion, deletion and
insertion, predictions): the model traced, frozen (BatchNorm folded into the convs, constants inlined) and
optimised for inference. Its logits must agree with the eager model's within ``AGREEMENT`` on a probe batch.
Gradient methods keep the eager model, which autograd needs. The trace covers the whole wrapper: the input geometry
(resize, crop or border, channels; generator/models/geometry.py) as well as the scaling.

A model that asks for it (``prefers_channels_last``: a Keras model translated into native modules, whose
separable and depthwise convs run faster so on this CPU) is traced from a channels-last copy; the eager model,
which the gradient methods use, stays as it is.

A model the path cannot take (tracing fails, or the traced model disagrees with the eager one on a batch of
another size) falls back to eager mode, with a one-line notice.
"""
from __future__ import annotations

import copy
import warnings
from typing import Callable

import torch
from torch import nn

AGREEMENT = 1e-4  # largest logit difference accepted between the fast and the eager model


def inference_model(model: nn.Module, notice: Callable[[str], None] = lambda _: None) -> nn.Module:
    generator = torch.Generator().manual_seed(0)
    example = torch.rand(8, 1, 48, 48, generator=generator)
    probe = torch.rand(5, 1, 48, 48, generator=generator)  # another batch size: catches sizes baked into a trace
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # torch.jit's deprecation and tracer warnings: the probe decides
            traced = torch.jit.trace(_traceable(model).eval(), example, check_trace=False)
            fast = torch.jit.optimize_for_inference(torch.jit.freeze(traced.eval()))
            gap = float((fast(probe) - model(probe)).abs().max())
        if not gap <= AGREEMENT:
            raise ValueError(f"its outputs differ from the eager model's by {gap:.2g}")
        return fast
    except Exception as error:  # any model the tracer cannot take: eager mode is always correct
        notice(f"fast inference path unavailable ({type(error).__name__}: {error}); using eager mode")
        return model


def _traceable(model: nn.Module) -> nn.Module:
    """``model``, or a channels-last copy of it where its own module asks for one."""
    if not getattr(getattr(model, "inner", model), "prefers_channels_last", False):
        return model
    return copy.deepcopy(model).to(memory_format=torch.channels_last)
