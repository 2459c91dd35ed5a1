"""Exact incremental occlusion (after Nakandala et al., "Incremental and Approximate Inference for Faster
Occlusion-based Deep CNN Explanations", SIGMOD 2019).

A box changes only a small square of the input, so in each conv layer only the outputs whose receptive field meets
the changed square differ from the unoccluded image's. The base activations are computed once per face; for every
batch of box positions each layer recomputes only a fixed-size window around the changed square (the previous
window plus the kernel's halo; for max-pooling, aligned to the pooling windows), gathered from the base
activations with the recomputed window pasted in. Once a window would cover most of a map (``FULL_FROM`` of its
side) the layer is computed whole. The head runs on the full final features. Every recomputed value is the value
a full forward pass would give, so the heatmap equals the batched path's up to float rounding (about 1e-7).

Architectures covered: the model, or the ``inner`` module of a ``NormalisedModel`` (its input normalisation and
``output = "probabilities"`` are applied), must be either

- an ``nn.Sequential`` whose leading layers form the chain below (the rest is the head), or
- a module with an ``nn.Sequential`` ``features`` made of the chain below and a ``classifier`` module, whose output
  equals ``classifier(features(x))`` (checked on random images, FerCNN-style),

where the chain holds only, in eval mode: ``nn.Conv2d`` (stride 1, dilation 1, groups 1, zero padding given as
numbers), ``nn.BatchNorm2d`` directly after a conv (folded into it), ``nn.ReLU``, ``nn.MaxPool2d`` with kernel ==
stride, no padding and a map side it divides, ``nn.Dropout`` and ``nn.Identity``. Anything else (TorchScript
models, strided or grouped convs, other layers, a model in training mode) returns ``None`` from ``prepare``, and
the caller uses the batched path.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from generator.models.load import NormalisedModel

FULL_FROM = 0.8      # a window covering this share of a map's side is computed as the whole map
BATCH_SIZE = 64      # box positions per pass; measured fastest on the demo and the course CNN (2 cores)
AGREEMENT = 1e-5     # largest gap accepted between the folded chain + head and the model itself


@dataclass(frozen=True)
class Conv:
    weight: torch.Tensor  # BatchNorm folded in
    bias: torch.Tensor
    padding: int
    kernel: int


@dataclass(frozen=True)
class Pool:
    kernel: int


class Relu:
    pass


@dataclass(frozen=True)
class Plan:
    steps: list           # Conv, Pool and Relu in forward order
    head: nn.Module       # runs on the full final features
    gain: float           # input normalisation x * gain - shift, as NormalisedModel applies it
    shift: float
    probabilities: bool   # the model outputs probabilities: logits are their logarithm


def _fold(conv: nn.Conv2d, norm: nn.BatchNorm2d | None) -> Conv:
    weight = conv.weight.detach().float()
    bias = conv.bias.detach().float() if conv.bias is not None else torch.zeros(conv.out_channels)
    if norm is not None:
        scale = norm.weight.detach() / torch.sqrt(norm.running_var + norm.eps) if norm.affine else \
            1.0 / torch.sqrt(norm.running_var + norm.eps)
        offset = norm.bias.detach() if norm.affine else torch.zeros_like(scale)
        weight = weight * scale[:, None, None, None]
        bias = (bias - norm.running_mean) * scale + offset
    return Conv(weight.contiguous(memory_format=torch.channels_last), bias.contiguous(), conv.padding[0],
                conv.kernel_size[0])


def _plain_conv(m: nn.Module) -> bool:
    return (type(m) is nn.Conv2d and m.stride == (1, 1) and m.dilation == (1, 1) and m.groups == 1
            and m.padding_mode == "zeros" and not isinstance(m.padding, str) and m.padding[0] == m.padding[1]
            and m.kernel_size[0] == m.kernel_size[1])


def _plain_pool(m: nn.Module) -> bool:
    kernel, stride = m.kernel_size, m.stride if m.stride is not None else m.kernel_size
    return (type(m) is nn.MaxPool2d and isinstance(kernel, int) and stride == kernel and m.padding == 0
            and m.dilation == 1 and not m.ceil_mode and not m.return_indices)


def _chain(layers: list[nn.Module]) -> tuple[list, int]:
    """The steps of the longest leading run of ``layers`` the path understands, and its length."""
    steps, k = [], 0
    while k < len(layers):
        m = layers[k]
        if _plain_conv(m):
            norm = layers[k + 1] if k + 1 < len(layers) and type(layers[k + 1]) is nn.BatchNorm2d else None
            if norm is not None and (norm.training or not norm.track_running_stats):
                break
            steps.append(_fold(m, norm))
            k += 2 if norm is not None else 1
        elif type(m) is nn.ReLU:
            steps.append(Relu())
            k += 1
        elif _plain_pool(m):
            steps.append(Pool(m.kernel_size))
            k += 1
        elif type(m) in (nn.Dropout, nn.Identity):
            k += 1
        else:
            break
    return steps, k


def _shapes_fit(steps: list, size: int) -> bool:
    for step in steps:
        if isinstance(step, Pool):
            if size % step.kernel:
                return False
            size //= step.kernel
        elif isinstance(step, Conv):
            size += 2 * step.padding - step.kernel + 1
    return size > 0


def prepare(model: nn.Module, size: int = 48) -> Plan | None:
    """The incremental plan for ``model``, or None if its architecture is not covered (see the docstring)."""
    inner, gain, shift, probabilities = model, 1.0, 0.0, False
    if isinstance(model, NormalisedModel):
        inner, gain, shift = model.inner, model.gain, model.shift
        probabilities = model.output == "probabilities"
    if isinstance(inner, torch.jit.ScriptModule) or any(m.training for m in inner.modules()):
        return None
    if type(inner) is nn.Sequential:
        layers = list(inner)
        steps, used = _chain(layers)
        head = nn.Sequential(*layers[used:])
    elif isinstance(getattr(inner, "features", None), nn.Sequential) and isinstance(
            getattr(inner, "classifier", None), nn.Module):
        steps, used = _chain(list(inner.features))
        if used < len(inner.features):
            return None
        head = inner.classifier
    else:
        return None
    if not any(isinstance(s, Conv) for s in steps) or not _shapes_fit(steps, size):
        return None
    plan = Plan(steps, head, gain, shift, probabilities)
    probe = torch.rand(3, 1, size, size, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        try:
            gap = float((_logits(plan, _forward_full(plan, probe * gain - shift)) - model(probe)).abs().max())
        except Exception:  # a head that does not take the chain's output: this is not a features -> head model
            return None
    return plan if gap <= AGREEMENT else None


def _forward_full(plan: Plan, x: torch.Tensor) -> torch.Tensor:
    x = x.contiguous(memory_format=torch.channels_last)
    for step in plan.steps:
        x = _apply(step, x)
    return x


def _apply(step, x: torch.Tensor) -> torch.Tensor:
    if isinstance(step, Conv):
        return F.conv2d(x, step.weight, step.bias, padding=step.padding)
    if isinstance(step, Pool):
        return F.max_pool2d(x, step.kernel)
    return torch.relu_(x)


def _logits(plan: Plan, features: torch.Tensor) -> torch.Tensor:
    out = plan.head(features)
    return torch.log(out.clamp_min(1e-12)) if plan.probabilities else out


def _window(base: torch.Tensor, patch: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, side: int,
            at_y: torch.Tensor, at_x: torch.Tensor) -> torch.Tensor:
    """(B, side, side, C): the ``side`` x ``side`` windows of ``base`` (H, W, C) starting at (rows, cols), with
    ``patch`` (B, h, w, C) pasted over them at (at_y, at_x), all in ``base``'s coordinates."""
    span = torch.arange(side)
    out = base[(rows[:, None] + span)[:, :, None], (cols[:, None] + span)[:, None, :]]
    h, w = patch.shape[1:3]
    batch = torch.arange(len(patch))[:, None, None]
    out[batch, (at_y - rows)[:, None, None] + torch.arange(h)[:, None], (at_x - cols)[:, None, None] + torch.arange(w)] = patch
    return out


def heatmap(plan: Plan, face: np.ndarray, target: int, centres: np.ndarray, box: int, fill: float,
            batch_size: int = BATCH_SIZE) -> tuple[np.ndarray, float]:
    """The probability of ``target`` with the box centred at every (y, x) of ``centres`` x ``centres``, as
    (len(centres), len(centres)), and the probability with no box."""
    image = torch.from_numpy(np.asarray(face, np.float32))
    size = image.shape[-1]
    fill_value = torch.tensor(fill, dtype=torch.float32) * plan.gain - plan.shift
    with torch.inference_mode():
        x = (image * plan.gain - plan.shift)[None, None]
        pixels = x[0].permute(1, 2, 0)
        # base[k]: the unoccluded input of step k as (H, W, C), zero-padded by a conv's padding
        base, sides = [], []
        for step in plan.steps:
            pad = step.padding if isinstance(step, Conv) else 0
            base.append(F.pad(x, (pad,) * 4)[0].permute(1, 2, 0).contiguous())
            sides.append(x.shape[-1])
            x = _apply(step, x.contiguous(memory_format=torch.channels_last))
        baseline = float(torch.softmax(_logits(plan, x).double(), 1)[0, target])
        grid = torch.from_numpy(np.stack(np.meshgrid(centres, centres, indexing="ij"), -1).reshape(-1, 2))
        first = min(box, size)
        last = max(k for k, step in enumerate(plan.steps) if not isinstance(step, Relu))  # its output is whole
        probabilities = []
        for k in range(0, len(grid), batch_size):
            ys, xs = grid[k:k + batch_size, 0], grid[k:k + batch_size, 1]
            # the input patch: the box's window (clipped into the image) with the box set to the fill value
            oy, ox = (ys - box // 2).clamp(0, size - first), (xs - box // 2).clamp(0, size - first)
            span = torch.arange(first)
            inside_y = ((oy[:, None] + span) >= ys[:, None] - box // 2) & ((oy[:, None] + span) < ys[:, None] - box // 2 + box)
            inside_x = ((ox[:, None] + span) >= xs[:, None] - box // 2) & ((ox[:, None] + span) < xs[:, None] - box // 2 + box)
            patch = pixels[(oy[:, None] + span)[:, :, None], (ox[:, None] + span)[:, None, :]]
            patch = torch.where((inside_y[:, :, None] & inside_x[:, None, :])[..., None], fill_value, patch)
            side = first
            for k_step, (step, base_in, in_side) in enumerate(zip(plan.steps, base, sides)):
                patch, oy, ox, side = _step(step, base_in, in_side, patch, oy, ox, side, k_step == last)
            features = patch.permute(0, 3, 1, 2)
            probabilities.append(torch.softmax(_logits(plan, features).double(), 1)[:, target])
    return torch.cat(probabilities).numpy().reshape(len(centres), len(centres)), baseline


def _step(step, base_in: torch.Tensor, in_side: int, patch, oy, ox, side: int, last: bool):
    """One step on the windows: returns the new patch (B, s, s, C), its origins and side ``s``."""
    if isinstance(step, Relu):
        return patch.relu_(), oy, ox, side
    if isinstance(step, Conv):
        out_side = in_side + 2 * step.padding - step.kernel + 1
        grow = step.kernel - 1 - step.padding  # an input at i changes the outputs i - grow .. i + padding
        new_side = min(side + step.kernel - 1, out_side)
        start_y, start_x = oy - grow, ox - grow
        halo, unit = step.kernel - 1, 1
    else:
        out_side = in_side // step.kernel
        new_side = min((side - 1) // step.kernel + 2, out_side)
        start_y, start_x = oy // step.kernel, ox // step.kernel
        halo, unit = 0, step.kernel
    if last or new_side >= FULL_FROM * out_side:
        new_side = out_side
    ny, nx = start_y.clamp(0, out_side - new_side), start_x.clamp(0, out_side - new_side)
    pad = step.padding if isinstance(step, Conv) else 0
    if side == in_side:  # the patch is the whole map: no gathering
        window = F.pad(patch.permute(0, 3, 1, 2), (pad,) * 4)
        new_side, ny, nx = out_side, torch.zeros_like(oy), torch.zeros_like(ox)
    else:  # window rows ny*unit .. in the padded input (padded index = unpadded index + pad)
        window = _window(base_in, patch, ny * unit, nx * unit, new_side * unit + halo, oy + pad, ox + pad)
        window = window.permute(0, 3, 1, 2)
    if isinstance(step, Conv):
        out = F.conv2d(window, step.weight, step.bias)
    else:
        out = F.max_pool2d(window, step.kernel)
    return out.permute(0, 2, 3, 1), ny, nx, new_side
