"""Exact incremental occlusion (after Nakandala et al., "Incremental and Approximate Inference for Faster
Occlusion-based Deep CNN Explanations", SIGMOD 2019).

A box changes only a small square of the input, so in each conv layer only the outputs whose receptive field meets
the changed square differ from the unoccluded image's. The base activations are computed once per face; for every
batch of box positions each layer recomputes only a fixed-size window around the changed square (the previous
window plus the kernel's halo; for max-pooling, aligned to the pooling windows), gathered from the base
activations with the recomputed window pasted in. Once a window would cover most of a map (``FULL_FROM`` of its
side) the layer is computed whole. The head runs on the full final features. Every recomputed value is the value
a full forward pass would give, so the heatmap equals the batched path's up to float rounding (BatchNorm folded
into the convs; within 1.2e-6 on the demo CNN).

Architectures covered: the model, or the ``inner`` module of a ``NormalisedModel`` (its input normalisation and
``output = "probabilities"`` are applied; its input geometry must be the identity, 48x48 and one channel, since
the plan runs the face itself through the chain, not a resized, cropped, padded or multi-channel copy), must be
either

- an ``nn.Sequential`` whose leading layers form the chain below (the rest is the head), or
- a module with an ``nn.Sequential`` ``features`` made of the chain below and a ``classifier`` module, whose output
  equals ``classifier(features(x))`` (checked on random images, FerCNN-style),

where the chain holds only, in eval mode: ``nn.Conv2d`` (square kernel, stride 1, dilation 1, groups 1, the same
zero padding on every side, given as a number), ``nn.BatchNorm2d`` directly after a conv (folded into it),
``nn.ReLU``, ``nn.MaxPool2d`` with kernel == stride, no padding and a map side it divides, ``nn.Dropout`` and
``nn.Identity``. A Keras model translated into native modules (generator/models/keras_translate.py) is covered as the same
network written in PyTorch would be. Anything else (TorchScript models, strided or grouped convs, other layers, a model in training
mode) returns ``None`` from ``prepare``, and the caller uses the batched path.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from generator.models.fold import can_fold, fold_batchnorm
from generator.models.load import NormalisedModel

FULL_FROM = 0.9      # a window covering this share of a map's side is computed as the whole map (on the course
                     # CNN a window of 11 of 12 measured about as fast either way; smaller windows pay)
BATCH_SIZE = 64      # box positions per pass: 32, 64 and 128 measured within 10% of each other, 64 the fastest
AGREEMENT = 1e-5     # largest probability gap accepted between the folded chain + head and the model itself
# oneDNN's conv with a fused ReLU (what torch.compile uses on CPU); without it, conv then ReLU
FUSED_CONV = getattr(torch.ops.mkldnn, "_convolution_pointwise", None) if torch.backends.mkldnn.is_available() else None


@dataclass(frozen=True)
class Conv:
    weight: torch.Tensor  # BatchNorm folded in
    bias: torch.Tensor
    padding: int
    kernel: int
    relu: bool = False    # a ReLU follows, fused in


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
    order: list | None = None  # the model's output for each FER2013 class (model.classes), None: as they are

    @property
    def dtype(self) -> torch.dtype:
        """The model's own dtype (its first conv's), in which the chain runs: float64 after load_model."""
        return next(step.weight.dtype for step in self.steps if isinstance(step, Conv))


def _folded_conv(conv: nn.Conv2d, norm: nn.BatchNorm2d | None) -> Conv:
    weight, bias = fold_batchnorm(conv, norm)
    dtype = conv.weight.dtype
    return Conv(weight.to(dtype).contiguous(memory_format=torch.channels_last), bias.to(dtype).contiguous(),
                conv.padding[0], conv.kernel_size[0])


def _plain_conv(m: nn.Module) -> bool:
    return (type(m) is nn.Conv2d and m.stride == (1, 1) and m.dilation == (1, 1) and m.groups == 1
            and m.padding_mode == "zeros" and not isinstance(m.padding, str) and m.padding[0] == m.padding[1]
            and m.kernel_size[0] == m.kernel_size[1])


def _plain_pool(m: nn.Module) -> bool:
    if type(m) is not nn.MaxPool2d:
        return False
    kernel, stride = m.kernel_size, m.stride if m.stride is not None else m.kernel_size
    return (isinstance(kernel, int) and stride == kernel and m.padding == 0 and m.dilation == 1
            and not m.ceil_mode and not m.return_indices)


def _chain(layers: list[nn.Module]) -> tuple[list, int]:
    """The steps of the longest leading run of ``layers`` the path understands, and its length."""
    steps, k = [], 0
    while k < len(layers):
        m = layers[k]
        if _plain_conv(m):
            norm = layers[k + 1] if k + 1 < len(layers) and type(layers[k + 1]) is nn.BatchNorm2d else None
            if norm is not None and not can_fold(norm):
                break
            steps.append(_folded_conv(m, norm))
            k += 2 if norm is not None else 1
        elif type(m) is nn.ReLU:
            if steps and isinstance(steps[-1], Conv) and not steps[-1].relu:
                steps[-1] = replace(steps[-1], relu=True)
            else:
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
    inner, gain, shift, probabilities, order = model, 1.0, 0.0, False, None
    if isinstance(model, NormalisedModel):
        if not model.is_affine:  # the plan computes x * gain - shift itself
            return None
        inner, gain, shift = model.inner, model.gain, model.shift
        probabilities = model.output == "probabilities"
        order = model.order
    if isinstance(inner, torch.jit.ScriptModule) or any(m.training for m in inner.modules()):
        return None
    if hasattr(inner, "as_sequential"):  # a Keras model translated into native modules, if chain-shaped
        inner = inner.as_sequential()
        if inner is None:
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
    plan = Plan(steps, head, gain, shift, probabilities, order)
    probe = torch.rand(3, 1, size, size, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        try:
            ours = torch.softmax(_logits(plan, _forward_full(plan, probe.to(plan.dtype) * gain - shift)).double(), 1)
            gap = float((ours - torch.softmax(model(probe).double(), 1)).abs().max())
        except Exception:  # a head that does not take the chain's output: this is not a features -> head model
            return None
    return plan if gap <= AGREEMENT else None


def _forward_full(plan: Plan, x: torch.Tensor) -> torch.Tensor:
    x = x.contiguous(memory_format=torch.channels_last)
    for step in plan.steps:
        x = _apply(step, x, step.padding if isinstance(step, Conv) else 0)
    return x


def _apply(step, x: torch.Tensor, padding: int = 0) -> torch.Tensor:
    """``step`` on a channels-last batch; a conv pads by ``padding`` (0 when its window is already padded)."""
    if isinstance(step, Conv):
        if FUSED_CONV is not None and x.dtype == torch.float32:  # oneDNN's conv with the ReLU fused in: one pass
            # over the output, not two (oneDNN has no float64 conv)
            return FUSED_CONV(x, step.weight, step.bias, [padding] * 2, [1, 1], [1, 1], 1,
                              "relu" if step.relu else "none", [], "")
        out = F.conv2d(x, step.weight, step.bias, padding=padding)
        return out.relu_() if step.relu else out
    if isinstance(step, Pool):
        return F.max_pool2d(x, step.kernel)
    return torch.relu(x)


def _logits(plan: Plan, features: torch.Tensor) -> torch.Tensor:
    out = plan.head(features)
    out = torch.log(out.clamp_min(1e-12)) if plan.probabilities else out
    return out if plan.order is None else out[:, plan.order]


def _windows(base: torch.Tensor, starts: list, side: int, patch: torch.Tensor, at: list) -> torch.Tensor:
    """(B, C, side, side) channels-last: the windows of ``base`` (H, W, C) at ``starts`` [(row, col)], with
    ``patch`` (B, h, w, C) pasted over each at ``at`` [(row, col)], all in ``base``'s coordinates. Slice copies
    in a loop: each copies whole rows, where advanced indexing would compute and read an index per element."""
    out = torch.empty(len(starts), side, side, base.shape[-1], dtype=base.dtype)
    h, w = patch.shape[1:3]
    for b, ((y, x), (py, px)) in enumerate(zip(starts, at)):
        out[b] = base[y:y + side, x:x + side]
        out[b, py - y:py - y + h, px - x:px - x + w] = patch[b]
    return out.permute(0, 3, 1, 2)


def heatmap(plan: Plan, face: np.ndarray, target: int, centres: np.ndarray, box: int, fill: float,
            batch_size: int = BATCH_SIZE) -> tuple[np.ndarray, float]:
    """The probability of ``target`` with the box centred at every (y, x) of ``centres`` x ``centres``, as
    (len(centres), len(centres)), and the probability with no box."""
    dtype = plan.dtype  # the model's own (float64 after load_model; see generator/models/load.py)
    image = torch.from_numpy(np.asarray(face, np.float32)).to(dtype)  # the same pixels as the batched path's
    size = image.shape[-1]
    fill_value = float(torch.tensor(fill, dtype=torch.float32).to(dtype) * plan.gain - plan.shift)
    last = max(k for k, step in enumerate(plan.steps) if not isinstance(step, Relu))  # its output is whole
    with torch.inference_mode():
        x = (image * plan.gain - plan.shift)[None, None]
        pixels = x[0].permute(1, 2, 0).contiguous()
        base, sides = [], []  # each step's unoccluded input as (H, W, C), zero-padded by a conv's padding
        for step in plan.steps:
            pad = step.padding if isinstance(step, Conv) else 0
            base.append(F.pad(x, (pad,) * 4)[0].permute(1, 2, 0).contiguous())
            sides.append(x.shape[-1])
            x = _apply(step, x.contiguous(memory_format=torch.channels_last), pad)
        baseline = float(torch.softmax(_logits(plan, x).double(), 1)[0, target])
        grid = [(int(y), int(x)) for y in centres for x in centres]
        first = min(box, size)
        probabilities = []
        for k in range(0, len(grid), batch_size):
            boxes = [(y - box // 2, x - box // 2) for y, x in grid[k:k + batch_size]]
            # the input patch: the box's window, shifted into the image, with the clipped box set to the fill
            origins = [(min(max(y, 0), size - first), min(max(x, 0), size - first)) for y, x in boxes]
            patch = torch.empty(len(boxes), first, first, 1, dtype=dtype)
            for b, ((y, x), (oy, ox)) in enumerate(zip(boxes, origins)):
                patch[b] = pixels[oy:oy + first, ox:ox + first]
                patch[b, max(y - oy, 0):y + box - oy, max(x - ox, 0):x + box - ox] = fill_value
            side = first
            for index, (step, base_in, in_side) in enumerate(zip(plan.steps, base, sides)):
                patch, origins, side = _step(step, base_in, in_side, patch, origins, side, index == last)
            probabilities.append(torch.softmax(_logits(plan, patch.permute(0, 3, 1, 2)).double(), 1)[:, target])
    return torch.cat(probabilities).numpy().reshape(len(centres), len(centres)), baseline


def _step(step, base_in: torch.Tensor, in_side: int, patch: torch.Tensor, origins: list, side: int, last: bool):
    """One step on the batch's windows: the patch (B, s, s, C) with origins [(row, col)] and side s in; the
    step's output patch, origins and side out. The window grows by the conv's halo or shrinks by the pooling."""
    if isinstance(step, Relu):
        return patch.relu_(), origins, side
    if isinstance(step, Conv):
        out_side = in_side + 2 * step.padding - step.kernel + 1
        grow = step.kernel - 1 - step.padding  # an input at i changes the outputs i - grow .. i + padding
        new_side, halo, unit, pad = min(side + step.kernel - 1, out_side), step.kernel - 1, 1, step.padding
        wanted = [(y - grow, x - grow) for y, x in origins]
    else:
        out_side = in_side // step.kernel
        new_side, halo, unit, pad = min((side - 1) // step.kernel + 2, out_side), 0, step.kernel, 0
        wanted = [(y // step.kernel, x // step.kernel) for y, x in origins]
    if side == in_side:  # the patch is the whole map: no gathering
        window = F.pad(patch.permute(0, 3, 1, 2), (pad,) * 4)
        new_side, starts = out_side, [(0, 0)] * len(origins)
    else:
        if last or new_side >= FULL_FROM * out_side:
            new_side = out_side
        starts = [(min(max(y, 0), out_side - new_side), min(max(x, 0), out_side - new_side)) for y, x in wanted]
        # the input window of an output window at o starts at o * unit in the padded input (padded = unpadded + pad)
        window = _windows(base_in, [(y * unit, x * unit) for y, x in starts], new_side * unit + halo, patch,
                          [(y + pad, x + pad) for y, x in origins])
    return _apply(step, window).permute(0, 2, 3, 1), starts, new_side
