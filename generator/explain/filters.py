"""What activates a filter: gradient ascent on the input for every filter of one conv layer at once, and the
layer's feature maps for one image.

The objective of filter f is the mean of its conv output channel (before any BatchNorm or ReLU), as in the
reference report. Batch item f ascends filter f, so all filters share one optimisation. Each item needs only its
own output channel: the forward stops at the layer's input, and a grouped convolution computes one channel per
batch item. Every operation is per item (eval mode, per-pixel Adam, a jitter shift shared by the batch), so the
batched result equals ascending each filter alone.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from generator.errors import InputError


class _ReachedLayer(BaseException):
    """Raised by a pre-hook to stop the forward pass once the layer's input is known. A BaseException, so a
    model whose forward catches ``Exception`` cannot swallow it and run on."""


def find_conv(model: nn.Module, name: str, where: str = "[tool.generator.filters] layer",
              kinds: tuple = (nn.Conv2d,)) -> tuple[str, nn.Module]:
    """The conv layer by name (as `python -m generator layers` prints it); empty: the second Conv2d."""
    if isinstance(_inner(model), torch.jit.ScriptModule):
        raise InputError(f"{where}: question 2 hooks into the model's layers, which a TorchScript model does not "
                         "allow; load the state_dict with model.architecture instead")
    convs = [(n, m) for n, m in _inner(model).named_modules() if isinstance(m, nn.Conv2d)]
    if not name:
        if len(convs) < 2:
            raise InputError(f"{where}: the model has {len(convs)} Conv2d layer(s); set filters.layer")
        return convs[1]
    modules = dict(_inner(model).named_modules())
    if name not in modules:
        close = difflib.get_close_matches(name, [n for n, _ in convs], n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; conv layers: {', '.join(n for n, _ in convs)}"
        raise InputError(f"{where} = {name!r}: no such layer{hint}")
    if not isinstance(modules[name], kinds):
        expected = " or ".join(k.__name__ for k in kinds)
        raise InputError(f"{where} = {name!r}: is a {type(modules[name]).__name__}, expected a {expected} "
                         f"(run `python -m generator layers`)")
    return name, modules[name]


def _inner(model: nn.Module) -> nn.Module:
    """The user's own model inside the normalising wrapper, so layer names match theirs."""
    return getattr(model, "inner", model)


def layer_input(model: nn.Module, layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The tensor that reaches ``layer`` when ``x`` goes through ``model``; the rest of the model is skipped."""
    captured = {}

    def stop(_module, args):
        captured["input"] = args[0]
        raise _ReachedLayer

    handle = layer.register_forward_pre_hook(stop)
    try:
        model(x)
    except _ReachedLayer:
        pass
    finally:
        handle.remove()
    if "input" not in captured:
        raise InputError("the filter layer was not reached by the forward pass")
    return captured["input"]


def own_channel(layer: nn.Conv2d, inputs: torch.Tensor, filters: torch.Tensor) -> torch.Tensor:
    """Output channel ``filters[b]`` of ``layer`` for batch item b only: (B, H, W), one grouped convolution."""
    b, c, h, w = inputs.shape
    if layer.groups != 1:  # a grouped layer: compute all channels, then pick (correct, just not cheaper)
        return layer(inputs)[torch.arange(b), filters]
    weight = layer.weight[filters]  # (B, C, k, k)
    bias = layer.bias[filters] if layer.bias is not None else None
    if layer.padding_mode != "zeros":
        raise InputError(f"filter layer: padding_mode {layer.padding_mode!r} is not supported, expected 'zeros'")
    out = F.conv2d(inputs.reshape(1, b * c, h, w), weight, bias, layer.stride, layer.padding, layer.dilation, groups=b)
    return out[0]


@dataclass(frozen=True)
class AscentResult:
    images: np.ndarray      # (F, 48, 48) in [0, 1]
    activation: np.ndarray  # (F,) final mean activation of each filter on its own image
    history: np.ndarray     # (steps, F) mean activation at each step


def _start(filters, start: str, seed: int, image: torch.Tensor | None) -> torch.Tensor:
    out = []
    for f in filters:  # each filter's start depends only on (seed, f): a batch of any composition agrees
        rng = np.random.default_rng([seed, int(f)])
        if start == "noise":
            out.append(rng.uniform(0, 1, (1, 48, 48)))
        elif start == "image" and image is not None:
            out.append(image.numpy()[0] + rng.normal(0, 0.01, (1, 48, 48)))
        else:
            out.append(0.5 + rng.normal(0, 0.05, (1, 48, 48)))
    return torch.tensor(np.clip(np.stack(out), 0, 1), dtype=torch.float32)


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Per-item mean absolute difference of neighbouring pixels, (B,)."""
    return (x[..., 1:, :] - x[..., :-1, :]).abs().mean(dim=(1, 2, 3)) + \
        (x[..., :, 1:] - x[..., :, :-1]).abs().mean(dim=(1, 2, 3))


def ascend(model: nn.Module, layer: nn.Conv2d, filters, steps: int = 100, lr: float = 0.05, start: str = "gray",
           l2: float = 0.01, tv: float = 0.05, jitter: int = 1, seed: int = 0,
           image: torch.Tensor | None = None) -> AscentResult:
    """Gradient ascent on the input for each filter in ``filters``, all in one batch."""
    filters = torch.as_tensor(list(filters), dtype=torch.long)
    x = _start(filters.tolist(), start, seed, image).requires_grad_(True)
    optimiser = torch.optim.Adam([x], lr=lr)
    shifts = np.random.default_rng([seed, 1 << 20]).integers(-jitter, jitter + 1, (steps, 2))
    history = np.zeros((steps, len(filters)))
    for step in range(steps):
        dy, dx = (int(v) for v in shifts[step])
        shifted = torch.roll(x, shifts=(dy, dx), dims=(2, 3)) if jitter else x
        activation = own_channel(layer, layer_input(model, layer, shifted), filters).mean(dim=(1, 2))
        objective = activation - l2 * ((x - 0.5) ** 2).mean(dim=(1, 2, 3)) - tv * total_variation(x)
        # Only the pixels need a gradient: the model's own parameters collect none.
        (x.grad,) = torch.autograd.grad(-objective.sum(), x)
        optimiser.step()
        with torch.no_grad():
            x.clamp_(0, 1)
        history[step] = activation.detach().numpy()
    with torch.no_grad():
        final = own_channel(layer, layer_input(model, layer, x), filters).mean(dim=(1, 2))
    return AscentResult(x.detach()[:, 0].numpy().astype(np.float64), final.numpy().astype(np.float64), history)


def feature_maps(model: nn.Module, layer: nn.Conv2d, image: torch.Tensor) -> np.ndarray:
    """The layer's output for one image (1, 1, 48, 48): (C, H, W), captured by a forward hook."""
    captured = {}

    def keep(_module, _inputs, output):  # returns None, so the output passes on unchanged
        captured["output"] = output.detach()

    handle = layer.register_forward_hook(keep)
    try:
        with torch.inference_mode():
            model(image)
    finally:
        handle.remove()
    return captured["output"][0].numpy().astype(np.float64)
