"""The layers before the filter layer, forward and backward by hand, when they are a plain chain of
Conv2d -> BatchNorm2d -> ReLU units: the first block of the course CNNs, in front of their default filter layer.

Question 2's gradient ascent spends all its time in these layers (the filter layer itself is a dot product, see
`filters.ChannelMean`). Autograd runs them as about ten passes over the (B, 64, 48, 48) activations; by hand
each unit is one matrix product on the unfolded input (BatchNorm folded into the conv, `models.fold`), one fused
ReLU-mask pass and one matrix product back.

The chain is read from the model by recording which leaf modules run, and it is used only when every module's
input is the previous module's output (so the model's forward does nothing between them) and the chain's output
equals the tensor that reaches the filter layer. Any other model, and any model whose wrapper resizes the face or
copies it into several channels (``model.input_size``, ``input_channels``), takes autograd's path, with the same
results.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from generator.models.fold import can_fold, fold_batchnorm
from generator.models.hooks import CallRecorder, input_of
from generator.models.load import NormalisedModel

AGREEMENT = 1e-4  # largest difference accepted between the chain's output and the model's own layer input


@dataclass(frozen=True)
class _Unit:
    conv: nn.Conv2d
    weight: torch.Tensor  # (out channels, in channels * kernel + 1): BatchNorm folded in, the bias last

    def columns(self, inputs: torch.Tensor) -> torch.Tensor:
        """The unfolded input (B, in channels * kernel + 1, L), a row of ones last for the bias.

        One strided copy from the padded input, where F.unfold and a concatenation would copy the columns twice.
        """
        c = self.conv
        (kh, kw), (sh, sw), (dh, dw), (ph, pw) = c.kernel_size, c.stride, c.dilation, c.padding
        padded = F.pad(inputs, (pw, pw, ph, ph)).contiguous()
        batch, channels, height, width = padded.shape
        out_h, out_w = (height - dh * (kh - 1) - 1) // sh + 1, (width - dw * (kw - 1) - 1) // sw + 1
        step_b, step_c, step_h, step_w = padded.stride()
        windows = padded.as_strided((batch, channels, kh, kw, out_h, out_w),
                                    (step_b, step_c, dh * step_h, dw * step_w, sh * step_h, sw * step_w))
        columns = inputs.new_empty(batch, channels * kh * kw + 1, out_h, out_w)
        columns[:, -1] = 1
        columns[:, :-1].view(batch, channels, kh, kw, out_h, out_w).copy_(windows)
        return columns.view(batch, channels * kh * kw + 1, out_h * out_w)

    def fold(self, columns: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """The gradient with respect to the unit's input, from the one with respect to its columns."""
        c = self.conv
        return F.fold(columns[:, :-1], size, c.kernel_size, c.dilation, c.padding, c.stride)


class ConvChain:
    """Pixels x -> gain * x + offset -> units, each a conv (BatchNorm folded in) then a ReLU if ``relu[k]``.

    ``sizes`` are the units' input sizes; outputs are flat, (B, C, H * W), as the filter layer's input.
    """

    def __init__(self, gain: float, offset: float, units: list[_Unit], relu: list[bool],
                 sizes: list[tuple[int, int]]):
        self.gain, self.offset, self.units, self.relu, self.sizes = gain, offset, units, relu, sizes

    @property
    def dtype(self) -> torch.dtype:
        """The model's dtype (float64 after load_model), in which the chain runs whatever the pixels' dtype."""
        return self.units[0].weight.dtype

    def layer_input(self, pixels: torch.Tensor) -> torch.Tensor:
        out = pixels.to(self.dtype) * self.gain + self.offset
        for unit, relu, size in zip(self.units, self.relu, self.sizes):
            out = torch.matmul(unit.weight, unit.columns(out.reshape(len(pixels), -1, *size)))
            out = out.clamp_min(0) if relu else out
        return out

    def activation_and_gradient(self, pixels: torch.Tensor, direction: torch.Tensor,
                                bias: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """For the linear objective <direction, layer input> + bias: its value (B,) and its gradient with
        respect to the pixels (B, 1, H, W)."""
        out, saved = pixels.to(self.dtype) * self.gain + self.offset, []
        for unit, relu, size in zip(self.units, self.relu, self.sizes):
            columns = unit.columns(out.reshape(len(pixels), -1, *size))
            before_relu = torch.matmul(unit.weight, columns)
            saved.append((columns, before_relu))
            if unit is not self.units[-1]:  # the last ReLU's output is never needed, only its mask
                out = before_relu.clamp_min(0) if relu else before_relu
        gradient = direction.reshape(before_relu.shape)
        value = None
        for unit, relu, size, (columns, before_relu) in reversed(list(zip(self.units, self.relu, self.sizes,
                                                                          saved))):
            if relu:  # one pass: the gradient where the ReLU's input is positive, else 0
                gradient = torch.ops.aten.threshold_backward(gradient, before_relu, 0)
            back = torch.matmul(unit.weight.t(), gradient)
            if value is None:
                # <direction, relu(W c)> = <masked direction, W c> = <W^T masked direction, c>: a dot product
                # over (kernel + 1) x L numbers, not out channels x L.
                value = (back * columns).sum(dim=(1, 2)) + bias
            gradient = unit.fold(back, size)
        return value, gradient * self.gain


def _leaf_calls(model: nn.Module, inner: nn.Module, layer: nn.Module, example: torch.Tensor):
    """The calls of the leaf modules that run before ``layer``, in order, inner's input and ``layer``'s input."""
    leaves = [module for module in inner.modules() if module is not layer and not list(module.children())]
    with torch.no_grad():
        inner_input = input_of(model, inner, example)
        if inner_input is None:
            return [], None, None
        # inner runs on the very tensor the wrapper hands it: the caller's identity check then tells whether
        # inner's forward passes its input straight to its first leaf
        with CallRecorder(leaves) as recorder:
            layer_input = input_of(inner, layer, inner_input)
    return recorder.calls, inner_input, layer_input


def _plain_conv(module: nn.Module) -> bool:
    return (type(module) is nn.Conv2d and module.groups == 1 and module.padding_mode == "zeros"
            and not isinstance(module.padding, str))


def _units(modules: list[nn.Module]) -> tuple[list[_Unit], list[bool]] | None:
    """Conv2d [BatchNorm2d in eval mode] [ReLU] units, BatchNorm folded into the conv, and whether each ends in
    a ReLU; None for anything else."""
    units, relus, k = [], [], 0
    while k < len(modules):
        conv = modules[k]
        if not _plain_conv(conv):
            return None
        k += 1
        norm = modules[k] if k < len(modules) and type(modules[k]) is nn.BatchNorm2d else None
        if norm is not None:
            if not can_fold(norm):
                return None
            k += 1
        weight, bias = fold_batchnorm(conv, norm)
        weight = weight.reshape(conv.out_channels, -1)
        relu = k < len(modules) and type(modules[k]) is nn.ReLU
        k += relu
        units.append(_Unit(conv, torch.cat([weight, bias[:, None]], dim=1).contiguous()))
        relus.append(relu)
    return (units, relus) if units else None


def conv_chain(model: nn.Module, inner: nn.Module, layer: nn.Module, example: torch.Tensor) -> ConvChain | None:
    """The chain in front of ``layer`` if the model is such a chain there (checked on ``example``), else None."""
    calls, inner_input, layer_input = _leaf_calls(model, inner, layer, example)
    if not calls or inner_input is None or layer_input is None or calls[0].input is not inner_input:
        return None
    if any(calls[k].input is not calls[k - 1].output for k in range(1, len(calls))) or \
            calls[-1].output is not layer_input:
        return None  # the forward computes something between the modules: only autograd can follow it
    found = _units([call.module for call in calls])
    if found is None:
        return None
    if model is inner:
        gain, shift = 1.0, 0.0
    elif isinstance(model, NormalisedModel) and model.is_affine:
        gain, shift = model.gain, model.shift
    else:
        return None
    sizes = [tuple(call.input.shape[-2:]) for call in calls if type(call.module) is nn.Conv2d]
    chain = ConvChain(float(gain), -float(shift), *found, sizes)
    with torch.no_grad():
        out = chain.layer_input(example)
    if out.numel() != layer_input.numel():
        return None
    gap = float((out.reshape(layer_input.shape) - layer_input).abs().max())
    return chain if gap <= AGREEMENT * max(1.0, float(layer_input.abs().max())) else None
