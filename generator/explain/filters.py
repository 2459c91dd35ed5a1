"""What activates a filter: gradient ascent on the input for every filter of one conv layer at once, and the
layer's feature maps for one image.

The objective of filter f is the mean of its conv output channel, before any BatchNorm or ReLU: the filter's own
response. A BatchNorm after it would only scale and shift the channel, and a ReLU would give no gradient wherever
the output is negative. Batch item f ascends filter f, so all filters share one optimisation. Each item needs
only its own output channel's mean, which is linear in the layer's input: the forward stops at the layer's input
and takes one dot product with the channel's constant gradient (`ChannelMean`). The layers before it run by hand
when they are a plain conv/BatchNorm/ReLU chain (`chain.ConvChain`), else through autograd. Every operation is
per item (eval mode, per-pixel Adam, a jitter shift shared by the batch), so the batched result equals ascending
each filter alone, and the batch runs in chunks of `CHUNK` images. README's benchmark table compares it with one
filter at a time through the whole network.

A Keras conv (Conv2D, SeparableConv2D, DepthwiseConv2D; generator/models/layers.py) takes autograd's path on its
own output, channels-first through the hooks' adapter, with its own activation skipped: the filter's own response,
as for a Conv2d. A SeparableConv2D's filters are its pointwise convolution's output channels.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from generator.errors import InputError
from generator.explain.chain import ConvChain, conv_chain
from generator.models import layers
from generator.models.hooks import CallRecorder, input_of, inner_module, output_of


# Images per pass through the layers before the filter layer. A chunk's activations (8 x 64 x 48 x 48 floats,
# 4.7 MB, in the course CNN) stay in cache and below glibc's 32 MB mmap threshold; a whole 64-image batch
# (38 MB per tensor) spent most of its time allocating fresh pages and faulting them in.
CHUNK = 8


def find_conv(model: nn.Module, name: str, where: str = "[tool.generator.filters] layer",
              gradcam: bool = False) -> tuple[str, nn.Module]:
    """The conv layer by name (as `python -m generator layers` prints it); empty: the second conv. With
    ``gradcam``, any layer Grad-CAM takes (a conv, a BatchNorm, a ReLU). PyTorch and Keras names alike."""
    if isinstance(inner_module(model), torch.jit.ScriptModule):
        raise InputError(f"{where}: question 2 hooks into the model's layers, which a TorchScript model does not "
                         "allow; load the state_dict with model.architecture instead")
    convs = layers.convs(model)
    if not name:
        if len(convs) < 2:
            raise InputError(f"{where}: the model has {len(convs)} conv layer(s); set filters.layer")
        return convs[1]
    named = dict(layers.named_layers(model))
    if name not in named:
        close = difflib.get_close_matches(name, [n for n, _ in convs], n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; conv layers: {', '.join(n for n, _ in convs)}"
        raise InputError(f"{where} = {name!r}: no such layer{hint}")
    kinds = (layers.GRADCAM_KINDS if gradcam else layers.FILTER_KINDS)[layers.framework(model)]
    if layers.kind_of(named[name]) not in kinds:
        raise InputError(f"{where} = {name!r}: is a {layers.kind_of(named[name])}, expected a {' or '.join(kinds)} "
                         f"(run `python -m generator layers`)")
    return name, named[name]


def layer_input(model: nn.Module, layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The tensor that reaches ``layer`` when ``x`` goes through ``model``; the rest of the model is skipped."""
    reached = input_of(model, layer, x)
    if reached is None:
        raise InputError("the filter layer was not reached by the forward pass")
    return reached


def _tap_hits(size: int, out_size: int, kernel: int, stride: int, before: int, dilation: int) -> torch.Tensor:
    """(kernel, size): 1 where kernel tap u reads input position i for some output position, else 0 (padding)."""
    hits = torch.zeros(kernel, size)
    for u in range(kernel):
        read = torch.arange(out_size) * stride - before + u * dilation
        hits[u, read[(read >= 0) & (read < size)]] = 1.0
    return hits


def _padding(layer: nn.Conv2d, axis: int) -> tuple[int, int]:
    """(padding before, total padding) along one axis; 'same' pads the odd extra pixel after, as torch does."""
    if layer.padding == "valid":
        return 0, 0
    if layer.padding == "same":
        total = layer.dilation[axis] * (layer.kernel_size[axis] - 1)
        return total // 2, total
    return layer.padding[axis], 2 * layer.padding[axis]


class ChannelMean:
    """The mean of output channel ``filters[b]`` of ``layer`` for batch item b: one dot product per item.

    The conv is linear in its input, so the gradient of a channel's mean with respect to the input is the same
    for every input: the filter's weights summed over the output positions that read each input pixel, divided by
    their count. It is the filter itself at interior pixels and loses taps at the borders. Computing it once turns
    the layer's forward into a dot product and its backward into a multiplication by a constant.
    """

    def __init__(self, layer: nn.Conv2d, input_shape: tuple[int, ...], filters: torch.Tensor):
        if layer.padding_mode != "zeros":
            raise InputError(f"filter layer: padding_mode {layer.padding_mode!r} is not supported, expected 'zeros'")
        channels, height, width = input_shape[-3:]
        (kh, kw), (sh, sw), (dh, dw) = layer.kernel_size, layer.stride, layer.dilation
        (top, pad_h), (left, pad_w) = _padding(layer, 0), _padding(layer, 1)
        out_h = (height + pad_h - dh * (kh - 1) - 1) // sh + 1
        out_w = (width + pad_w - dw * (kw - 1) - 1) // sw + 1
        weight = layer.weight.detach()[filters]  # (B, C / groups, kh, kw), in the model's dtype
        rows = _tap_hits(height, out_h, kh, sh, top, dh).to(weight.dtype)
        cols = _tap_hits(width, out_w, kw, sw, left, dw).to(weight.dtype)
        # sum over taps (u, v) of weight[b, c, u, v] * rows[u, i] * cols[v, j], as two matrix products; at most
        # kh * kw terms per pixel, so float32 loses nothing that matters
        own = torch.matmul(rows.t(), torch.matmul(weight, cols)) / (out_h * out_w)  # (B, C / groups, H, W)
        # A grouped layer's filter reads only its group's input channels; the others get a zero gradient.
        group_size = channels // layer.groups
        if layer.groups == 1:
            self.gradient = own.contiguous()
        else:
            first = filters // (layer.out_channels // layer.groups) * group_size
            self.gradient = torch.zeros(len(filters), channels, height, width, dtype=weight.dtype)
            for b in range(len(filters)):
                self.gradient[b, first[b]:first[b] + group_size] = own[b]
        self.bias = (layer.bias.detach()[filters] if layer.bias is not None
                     else torch.zeros(len(filters), dtype=weight.dtype))

    def __call__(self, inputs: torch.Tensor, items: slice = slice(None)) -> torch.Tensor:
        """The channel means for ``inputs``, the layer inputs of batch ``items``; autograd's backward multiplies by
        ``gradient``."""
        flat = inputs.reshape(len(inputs), 1, -1).to(self.gradient.dtype)
        return torch.bmm(flat, self.gradient[items].reshape(len(inputs), -1, 1))[:, 0, 0] + self.bias[items]


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
    threads = torch.get_num_threads()
    # Single-threaded: every op here is small (one chunk), and on 2 cores shared with other jobs a second
    # thread made a step 5-15x slower (each op waits for both threads); the whole ascent takes seconds anyway.
    torch.set_num_threads(1)
    try:
        with layers.own_response(model, layer):
            return _ascend(model, layer, filters, steps, lr, start, l2, tv, jitter, seed, image)
    finally:
        torch.set_num_threads(threads)


def _ascend(model, layer, filters, steps, lr, start, l2, tv, jitter, seed, image) -> AscentResult:
    filters = torch.as_tensor(list(filters), dtype=torch.long)
    x = _start(filters.tolist(), start, seed, image).requires_grad_(True)
    optimiser = torch.optim.Adam([x], lr=lr)
    shifts = np.random.default_rng([seed, 1 << 20]).integers(-jitter, jitter + 1, (steps, 2))
    history = np.zeros((steps, len(filters)))
    objective, channel_mean, chain = _objective(model, layer, filters, x.detach()[:CHUNK])
    for step in range(steps):
        dy, dx = (int(v) for v in shifts[step])
        with torch.no_grad():
            shifted = torch.roll(x, shifts=(dy, dx), dims=(2, 3))
        activation, shifted_gradient = _activation_and_gradient(objective, channel_mean, chain, shifted)
        penalty = l2 * ((x - 0.5) ** 2).mean(dim=(1, 2, 3)) + tv * total_variation(x)
        (penalty_gradient,) = torch.autograd.grad(penalty.sum(), x)
        # The activation saw x rolled by (dy, dx): its gradient rolls back. Adam minimises, so both signs flip.
        x.grad = penalty_gradient - torch.roll(shifted_gradient, shifts=(-dy, -dx), dims=(2, 3))
        optimiser.step()
        with torch.no_grad():
            x.clamp_(0, 1)
        history[step] = activation.numpy()
    with torch.no_grad():
        final = torch.cat([objective(x[part], part) for part in _chunks(len(x))])
    return AscentResult(x.detach()[:, 0].numpy().astype(np.float64), final.numpy().astype(np.float64), history)


def _objective(model: nn.Module, layer: nn.Module, filters: torch.Tensor, example: torch.Tensor):
    """(objective(pixels, items) -> each item's filter activation, the ChannelMean, the hand-run chain or None).

    A Conv2d's channel mean is one dot product at its input (``ChannelMean``). A Keras conv (Conv2D, its separable
    and depthwise kin) is run itself, its output taken channels-first through the hooks' adapter, by autograd."""
    if layers.is_keras(model):
        def keras_mean(pixels: torch.Tensor, items: slice) -> torch.Tensor:
            out = output_of(model, layer, pixels)
            if out is None:
                raise InputError("the filter layer was not reached by the forward pass")
            return out[torch.arange(len(out)), filters[items]].mean(dim=(1, 2))
        return keras_mean, None, None
    with torch.no_grad():
        channel_mean = ChannelMean(layer, layer_input(model, layer, example[:1]).shape, filters)
    chain = conv_chain(model, inner_module(model), layer, example)

    def torch_mean(pixels: torch.Tensor, items: slice) -> torch.Tensor:
        reached = layer_input(model, layer, pixels) if chain is None else chain.layer_input(pixels)
        return channel_mean(reached, items)
    return torch_mean, channel_mean, chain


def _chunks(count: int) -> list[slice]:
    return [slice(first, min(first + CHUNK, count)) for first in range(0, count, CHUNK)]


def _activation_and_gradient(objective, channel_mean: ChannelMean | None, chain: ConvChain | None,
                             images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each item's filter activation (B,) and its gradient with respect to the item's pixels, chunk by chunk."""
    activation = torch.empty(len(images))
    gradient = torch.empty_like(images)
    for part in _chunks(len(images)):
        if chain is not None:
            with torch.no_grad():
                activation[part], gradient[part] = chain.activation_and_gradient(
                    images[part], channel_mean.gradient[part], channel_mean.bias[part])
            continue
        pixels = images[part].detach().requires_grad_(True)
        value = objective(pixels, part)
        # Only the pixels need a gradient: the model's own parameters collect none.
        (gradient[part],) = torch.autograd.grad(value.sum(), pixels)
        activation[part] = value.detach()
    return activation, gradient


def feature_maps(model: nn.Module, layer: nn.Module, image: torch.Tensor) -> np.ndarray:
    """The layer's output for one image (1, 1, 48, 48): (C, H, W), before any activation of its own (a Keras
    conv's). A layer that runs more than once in the forward pass shows its last output."""
    with torch.inference_mode(), layers.own_response(model, layer), CallRecorder([layer]) as recorder:
        model(image)
    return recorder.outputs(layer)[-1].detach()[0].numpy().astype(np.float64)
