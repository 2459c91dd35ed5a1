"""One torch module per ONNX node, for the operations FER2013 CNNs use (generator/models/onnx_model.py runs them).

Convolutions, BatchNorm, activations, pooling and the dense layers become torch's own layers (nn.Conv2d, nn.ReLU,
nn.BatchNorm2d, nn.Linear...), so every method (filters, Grad-CAM, the randomisation check) treats them as it
treats a PyTorch model's. Each module's forward takes the node's non-constant inputs in order; weights and other
constant inputs (initializers, Constant nodes) are bound into the module at conversion.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class Op(nn.Module):
    """An operation without weights of its own: ``fn(*inputs)``, with constant inputs at fixed positions."""

    def __init__(self, op_type: str, fn: Callable, slots: list, constants: list[torch.Tensor]):
        super().__init__()
        # slots: ("input", k), ("constant", k), or ("none", 0) for an optional input the node leaves out
        self.op_type, self.fn, self.slots = op_type, fn, slots
        for k, value in enumerate(constants):
            self.register_buffer(f"constant{k}", value)

    def forward(self, *inputs):
        args = [inputs[k] if kind == "input" else getattr(self, f"constant{k}") if kind == "constant" else None
                for kind, k in self.slots]
        return self.fn(*args)


class BatchNorm2d(nn.BatchNorm2d):
    """ONNX's BatchNormalization on any (N, C, ...) input: after a Flatten it normalises features as BatchNorm1d."""

    def _check_input_dim(self, input):
        if input.dim() < 2:
            raise ValueError(f"expected an (N, C, ...) input, got {input.dim()}-D")


class Padded(nn.Module):
    """ONNX pads that torch's layers cannot take (uneven, or "SAME"): pad first, then the layer with no padding."""

    def __init__(self, layer: nn.Module, pads: list[int] | None, auto_pad: str, value: float = 0.0):
        super().__init__()
        self.layer, self.pads, self.auto_pad, self.value = layer, pads, auto_pad, value

    def forward(self, x):
        pads = self.pads if self.pads is not None else _same_pads(x.shape[-2:], self.layer, self.auto_pad)
        return self.layer(F.pad(x, (pads[1], pads[3], pads[0], pads[2]), value=self.value))


def _same_pads(size, layer, auto_pad: str) -> list[int]:
    kernel, stride = _pair(layer.kernel_size), _pair(layer.stride)
    dilation = _pair(getattr(layer, "dilation", 1))
    pads = []
    for n, k, s, d in zip(size, kernel, stride, dilation):
        total = max((-(-int(n) // s) - 1) * s + (k - 1) * d + 1 - int(n), 0)
        pads.append((total // 2, total - total // 2) if auto_pad == "SAME_UPPER" else (total - total // 2, total // 2))
    return [pads[0][0], pads[1][0], pads[0][1], pads[1][1]]


def _pair(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def _with_pads(layer: nn.Module, attrs: dict, value: float = 0.0) -> nn.Module:
    """``layer`` with ONNX's pads ([top, left, bottom, right]) as its own padding where they are even."""
    auto_pad = attrs.get("auto_pad", "NOTSET")
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        return Padded(layer, None, auto_pad, value)
    pads = list(attrs.get("pads", [0, 0, 0, 0])) if auto_pad != "VALID" else [0, 0, 0, 0]
    if pads[:2] == pads[2:]:
        layer.padding = tuple(pads[:2])
        return layer
    return Padded(layer, pads, auto_pad, value)


def conv(attrs, weight, bias):
    out_channels, in_per_group, *kernel = weight.shape
    if len(kernel) != 2:
        raise ValueError(f"a {len(kernel)}-D convolution; only 2-D is converted")
    group = int(attrs.get("group", 1))
    layer = nn.Conv2d(in_per_group * group, out_channels, tuple(kernel), stride=tuple(attrs.get("strides", [1, 1])),
                      dilation=tuple(attrs.get("dilations", [1, 1])), groups=group, bias=bias is not None)
    with torch.no_grad():
        layer.weight.copy_(weight)
        if bias is not None:
            layer.bias.copy_(bias)
    return _with_pads(layer, attrs)


def batch_norm(attrs, scale, bias, mean, var):
    layer = BatchNorm2d(len(scale), eps=float(attrs.get("epsilon", 1e-5)))
    with torch.no_grad():
        layer.weight.copy_(scale)
        layer.bias.copy_(bias)
        layer.running_mean.copy_(mean)
        layer.running_var.copy_(var)
    return layer.eval()


def pool(op_type: str, attrs: dict) -> nn.Module:
    if op_type == "GlobalAveragePool":
        return nn.AdaptiveAvgPool2d(1)
    if op_type == "GlobalMaxPool":
        return nn.AdaptiveMaxPool2d(1)
    kernel = tuple(attrs["kernel_shape"])
    stride = tuple(attrs.get("strides", [1] * len(kernel)))
    ceil = bool(attrs.get("ceil_mode", 0))
    if op_type == "MaxPool":
        layer = nn.MaxPool2d(kernel, stride, dilation=tuple(attrs.get("dilations", [1, 1])), ceil_mode=ceil)
        return _with_pads(layer, attrs, float("-inf"))
    layer = nn.AvgPool2d(kernel, stride, ceil_mode=ceil, count_include_pad=bool(attrs.get("count_include_pad", 0)))
    return _with_pads(layer, attrs)


def linear(weight: torch.Tensor, bias: torch.Tensor | None) -> nn.Linear:
    """``weight`` (out, in), as torch's Linear holds it."""
    layer = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
    with torch.no_grad():
        layer.weight.copy_(weight)
        if bias is not None:
            layer.bias.copy_(bias.reshape(-1).expand(weight.shape[0]))
    return layer


ACTIVATIONS = {
    "Relu": lambda a: nn.ReLU(), "Sigmoid": lambda a: nn.Sigmoid(), "Tanh": lambda a: nn.Tanh(),
    "LeakyRelu": lambda a: nn.LeakyReLU(float(a.get("alpha", 0.01))),
    "Elu": lambda a: nn.ELU(float(a.get("alpha", 1.0))),
    "Identity": lambda a: nn.Identity(), "Dropout": lambda a: nn.Dropout(0.0),  # inference: Dropout passes through
}


def _reshape(x, shape, allowzero: int = 0):
    shape = [int(v) for v in shape.tolist()]
    shape = [x.shape[k] if v == 0 and not allowzero else v for k, v in enumerate(shape)]
    # A graph exported for a batch of 1 bakes that 1 into its Reshape: read it as the batch, so batches run
    if shape and shape[0] == 1 and x.shape[0] != 1:
        shape[0] = x.shape[0]
    return x.reshape(shape)


def _flatten(x, axis: int):
    axis = axis % x.ndim if x.ndim else 0
    return x.reshape(int(np.prod(x.shape[:axis])) if axis else 1, -1) if axis != 1 else torch.flatten(x, 1)


def _pad(attrs):
    mode = {"constant": "constant", "reflect": "reflect", "edge": "replicate"}[attrs.get("mode", "constant")]

    def pad(x, pads=None, value=None, axes=None):
        pads = [int(v) for v in (pads.tolist() if pads is not None else attrs["pads"])]
        half = len(pads) // 2
        axes = [int(a) % x.ndim for a in axes.tolist()] if axes is not None else list(range(x.ndim - half, x.ndim))
        per_axis = {axis: (pads[k], pads[k + half]) for k, axis in enumerate(axes)}
        order = []
        for axis in reversed(range(x.ndim)):  # torch pads the last axis first
            order += list(per_axis.get(axis, (0, 0)))
        while len(order) > 2 and order[-2:] == [0, 0]:  # torch's reflect and edge pads take the last axes only
            order = order[:-2]
        if mode != "constant":
            return F.pad(x, order, mode=mode)
        fill = float(value) if value is not None and value.numel() else float(attrs.get("value", 0.0))
        return F.pad(x, order, value=fill)
    return pad


def function_of(op_type: str, attrs: dict) -> Callable | None:
    """The function of a weightless operation, or None for one this converter does not know."""
    simple = {
        "Add": torch.add, "Sub": torch.sub, "Mul": torch.mul, "Div": torch.div, "MatMul": torch.matmul,
        "Softmax": lambda x: torch.softmax(x, int(attrs.get("axis", -1))),
        "Flatten": lambda x: _flatten(x, int(attrs.get("axis", 1))),
        "Reshape": lambda x, shape: _reshape(x, shape, int(attrs.get("allowzero", 0))),
        "Concat": lambda *xs: torch.cat(xs, int(attrs["axis"])),
        "Transpose": lambda x: x.permute(*(attrs.get("perm") or reversed(range(x.ndim)))),
        "Clip": lambda x, low=None, high=None: torch.clamp(
            x, low if low is not None else attrs.get("min"), high if high is not None else attrs.get("max")),
        "Shape": lambda x: torch._shape_as_tensor(x),  # noqa: SLF001 -- traced as the input's shape, not a constant
        "Gather": lambda x, index: torch.index_select(x, int(attrs.get("axis", 0)), index.reshape(-1)).reshape(
            *x.shape[:int(attrs.get("axis", 0))], *index.shape, *x.shape[int(attrs.get("axis", 0)) + 1:]),
        "Unsqueeze": lambda x, axes=None: _unsqueeze(x, attrs.get("axes") if axes is None else axes.tolist()),
        "Squeeze": lambda x, axes=None: _squeeze(x, attrs.get("axes") if axes is None else axes.tolist()),
        "Pad": _pad(attrs),
    }
    return simple.get(op_type)


def _unsqueeze(x, axes):
    for axis in sorted(int(a) % (x.ndim + len(axes)) for a in axes):
        x = x.unsqueeze(axis)
    return x


def _squeeze(x, axes):
    if axes is None:
        return x.squeeze()
    for axis in sorted((int(a) % x.ndim for a in axes), reverse=True):
        x = x.squeeze(axis)
    return x


CONVERTED = ("Conv", "BatchNormalization", "Gemm", "MatMul", "MaxPool", "AveragePool", "GlobalAveragePool",
             "GlobalMaxPool", *ACTIVATIONS, "Add", "Sub", "Mul", "Div", "Softmax", "Flatten", "Reshape", "Concat",
             "Transpose", "Clip", "Shape", "Gather", "Unsqueeze", "Squeeze", "Pad", "Constant")
