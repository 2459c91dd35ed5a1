"""BatchNorm folded into the conv before it, for the fast paths that run a model's conv layers by hand (question
2's conv chain, `generator/explain/chain.py`, and incremental occlusion, `generator/explain/occlusion_incremental.py`).

In eval mode BatchNorm is an affine map per channel, so a conv followed by a BatchNorm is one conv with a scaled
weight and a shifted bias: the fast paths then run one conv where the model runs two layers, and save one pass
over the activations.
"""
from __future__ import annotations

import torch
from torch import nn


def can_fold(norm: nn.BatchNorm2d) -> bool:
    """Whether ``norm`` normalises with fixed statistics: in eval mode and holding running statistics. Otherwise
    it normalises each batch by that batch's own statistics, which no fixed conv can do."""
    return not norm.training and norm.running_mean is not None and norm.running_var is not None


def fold_batchnorm(conv: nn.Conv2d, norm: nn.BatchNorm2d | None) -> tuple[torch.Tensor, torch.Tensor]:
    """The weight (out, in / groups, kh, kw) and the bias (out,) of the one conv that computes ``norm(conv(x))``;
    ``conv``'s own when ``norm`` is None. ``norm`` must pass ``can_fold``. Both are detached from the model;
    without ``norm`` they may share the conv's storage, so copy them before changing them in place."""
    weight = conv.weight.detach()
    bias = conv.bias.detach() if conv.bias is not None else torch.zeros(conv.out_channels, dtype=conv.weight.dtype)
    if norm is None:
        return weight, bias
    # The report's bytes depend on these exact float operations, in this order: change them and every figure that
    # goes through a fast path may move in its last bit.
    scale = (norm.weight.detach() if norm.affine else 1) / torch.sqrt(norm.running_var + norm.eps)
    shift = norm.bias.detach() if norm.affine else 0
    return weight * scale[:, None, None, None], (bias - norm.running_mean) * scale + shift
