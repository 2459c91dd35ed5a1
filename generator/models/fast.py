"""One fast inference path for every method that only runs the model forward (LIME, occlusion, deletion and
insertion, predictions): the model traced, frozen (BatchNorm folded into the convs, constants inlined) and
optimised for inference. Its logits must agree with the eager model's within ``AGREEMENT`` on a probe batch.
Gradient methods keep the eager model, which autograd needs. The trace covers the whole wrapper: the input geometry
(resize, crop or border, channels; generator/models/geometry.py) as well as the scaling.

A model the path cannot take (tracing fails, or the traced model disagrees with the eager one on a batch of
another size) falls back to eager mode, with a one-line notice.
"""
from __future__ import annotations

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
            traced = torch.jit.trace(model.eval(), example, check_trace=False)
            fast = torch.jit.optimize_for_inference(torch.jit.freeze(traced.eval()))
            gap = float((fast(probe) - model(probe)).abs().max())
        if not gap <= AGREEMENT:
            raise ValueError(f"its outputs differ from the eager model's by {gap:.2g}")
        return fast
    except Exception as error:  # any model the tracer cannot take: eager mode is always correct
        notice(f"fast inference path unavailable ({type(error).__name__}: {error}); using eager mode")
        return model
