"""Keras layers as native PyTorch modules, one class per Keras class and named like it, so that the code that
picks layers by their Keras kind (question 2's convs, Grad-CAM's layers, the randomisation check) takes them as it
takes Keras's own. Each is built from a loaded Keras layer by ``native_layer`` and holds a frozen copy of its
weights.

Layout: Keras computes channels-last (N, H, W, C); these modules compute channels-first (N, C, H, W), as torch's
fast kernels and the methods want. A 4-D tensor between them is channels-first; every other tensor is laid out as
Keras lays it out. So ``Flatten`` and ``Reshape`` turn a map channels-last before they flatten it (the ``Dense``
after a ``Flatten`` expects Keras's (row, column, channel) order), and a Keras axis is mapped to its place in
the channels-first tensor.

Keras's ``padding="same"`` pads ``total = (out - 1) * stride + dilated kernel - in`` with the odd pixel at the end
(bottom, right), as its PyTorch backend does; symmetric padding goes into the conv itself, asymmetric padding is
an explicit pad first: zeros for convs, -inf for max pooling, and the edge value for average pooling (which is
what the backend counts in its averages).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class Untranslatable(Exception):
    """A layer, an argument or an activation the translation does not cover; the message says which."""


def _named(function, name: str):
    def activation(x: torch.Tensor) -> torch.Tensor:
        return function(x)
    activation.__name__ = name  # what Keras's own function is called, which the layer pickers read
    return activation


# Keras's activation functions by their __name__; the Keras backend's constants (leaky_relu's slope 0.2, the
# hard sigmoid's relu6(x + 3) / 6). Softmax takes the channel axis: the last axis in Keras's layout.
ACTIVATIONS = {
    "linear": _named(lambda x: x, "linear"),
    "relu": _named(F.relu, "relu"),
    "relu6": _named(F.relu6, "relu6"),
    "elu": _named(lambda x: F.elu(x), "elu"),
    "selu": _named(F.selu, "selu"),
    "leaky_relu": _named(lambda x: F.leaky_relu(x, 0.2), "leaky_relu"),
    "tanh": _named(torch.tanh, "tanh"),
    "sigmoid": _named(torch.sigmoid, "sigmoid"),
    "softmax": _named(lambda x: torch.softmax(x, dim=1), "softmax"),
    "silu": _named(F.silu, "silu"),
    "swish": _named(F.silu, "swish"),
    "softplus": _named(F.softplus, "softplus"),
    "hard_sigmoid": _named(lambda x: F.relu6(x + 3) / 6, "hard_sigmoid"),
}


def activation_of(layer, name: str | None = None):
    """The native function of a Keras layer's ``activation`` (or of the activation ``name``)."""
    name = name or getattr(getattr(layer, "activation", None), "__name__", "linear")
    if name not in ACTIVATIONS:
        raise Untranslatable(f"activation {name!r}")
    return ACTIVATIONS[name]


def _frozen(array, dtype=None) -> nn.Parameter:
    import keras
    tensor = torch.as_tensor(keras.ops.convert_to_numpy(array)).clone()
    return nn.Parameter(tensor.to(dtype) if dtype else tensor, requires_grad=False)


def same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """(before, after) for Keras's padding="same" along one axis of ``size``."""
    effective = (kernel - 1) * dilation + 1
    total = effective - 1 if stride == 1 else max(0, (math.ceil(size / stride) - 1) * stride + effective - size)
    return total // 2, total - total // 2


class _Padded(nn.Module):
    """A conv or pool with Keras's padding: ``self.same`` pads as "same" does, given the input's size."""

    def _setup(self, layer, kernel, strides, dilation=(1, 1)):
        padding = getattr(layer, "padding", "valid")
        if padding not in ("valid", "same"):
            raise Untranslatable(f"padding {padding!r}")
        self.kernel_size, self.strides, self.dilation = tuple(kernel), tuple(strides), tuple(dilation)
        self.same = padding == "same"

    def _pads(self, x: torch.Tensor) -> tuple[tuple[int, int], tuple[int, int]]:
        if not self.same:
            return (0, 0), (0, 0)
        return tuple(same_padding(int(x.shape[2 + k]), self.kernel_size[k], self.strides[k], self.dilation[k])
                     for k in range(2))

    def padded(self, x: torch.Tensor, value: float | str = 0.0) -> tuple[torch.Tensor, tuple[int, int]]:
        """``x`` with any asymmetric padding applied, and the symmetric padding left to the op itself."""
        (top, bottom), (left, right) = self._pads(x)
        if top == bottom and left == right:
            return x, (top, left)
        if value == "edge":
            return F.pad(x, (left, right, top, bottom), mode="replicate"), (0, 0)
        return F.pad(x, (left, right, top, bottom), value=value), (0, 0)


class Conv2D(_Padded):
    def __init__(self, layer):
        super().__init__()
        self._setup(layer, layer.kernel_size, layer.strides, layer.dilation_rate)
        self.groups = getattr(layer, "groups", 1)
        self.weight = nn.Parameter(_frozen(layer.kernel).permute(3, 2, 0, 1).contiguous(), requires_grad=False)
        self.bias = _frozen(layer.bias) if layer.use_bias else None
        self.activation = activation_of(layer)

    @property
    def kernel(self) -> torch.Tensor:
        """The weights as Keras holds them, (kh, kw, in, out): a view, for code written against Keras's layer."""
        return self.weight.permute(2, 3, 1, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, padding = self.padded(x)
        return self.activation(F.conv2d(x, self.weight, self.bias, self.strides, padding, self.dilation,
                                        self.groups))


def _keras_depthwise(weight: torch.Tensor, channels: int) -> torch.Tensor:
    """torch's (in * multiplier, 1, kh, kw) back as Keras's (kh, kw, in, multiplier)."""
    return weight[:, 0].permute(1, 2, 0).reshape(weight.shape[2], weight.shape[3], channels, -1)


def _depthwise_weight(kernel) -> nn.Parameter:
    """Keras's (kh, kw, in, multiplier) as torch's grouped (in * multiplier, 1, kh, kw): output channel
    c * multiplier + m, Keras's order."""
    weight = _frozen(kernel)
    kh, kw, channels, multiplier = weight.shape
    return nn.Parameter(weight.reshape(kh, kw, channels * multiplier).permute(2, 0, 1)[:, None].contiguous(),
                        requires_grad=False)


class DepthwiseConv2D(_Padded):
    def __init__(self, layer):
        super().__init__()
        self._setup(layer, layer.kernel_size, layer.strides, layer.dilation_rate)
        self.weight = _depthwise_weight(layer.kernel)
        self.bias = _frozen(layer.bias) if layer.use_bias else None
        self.activation = activation_of(layer)
        self.channels = int(layer.kernel.shape[2])

    @property
    def kernel(self) -> torch.Tensor:
        return _keras_depthwise(self.weight, self.channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, padding = self.padded(x)
        return self.activation(F.conv2d(x, self.weight, self.bias, self.strides, padding, self.dilation,
                                        int(x.shape[1])))


class SeparableConv2D(_Padded):
    """The depthwise conv then the pointwise 1x1 conv; its output (what question 2's filters are) is the
    pointwise conv's channels, as in Keras."""

    def __init__(self, layer):
        super().__init__()
        self._setup(layer, layer.kernel_size, layer.strides, layer.dilation_rate)
        self.depthwise = _depthwise_weight(layer.depthwise_kernel)
        self.pointwise = nn.Parameter(_frozen(layer.pointwise_kernel).permute(3, 2, 0, 1).contiguous(),
                                      requires_grad=False)
        self.bias = _frozen(layer.bias) if layer.use_bias else None
        self.activation = activation_of(layer)
        self.channels = int(layer.depthwise_kernel.shape[2])

    @property
    def depthwise_kernel(self) -> torch.Tensor:
        return _keras_depthwise(self.depthwise, self.channels)

    @property
    def pointwise_kernel(self) -> torch.Tensor:
        return self.pointwise.permute(2, 3, 1, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, padding = self.padded(x)
        x = F.conv2d(x, self.depthwise, None, self.strides, padding, self.dilation, int(x.shape[1]))
        return self.activation(F.conv2d(x, self.pointwise, self.bias))


class Dense(nn.Module):
    def __init__(self, layer):
        super().__init__()
        self.weight = nn.Parameter(_frozen(layer.kernel).T.contiguous(), requires_grad=False)
        self.bias = _frozen(layer.bias) if layer.use_bias else None
        self.activation = activation_of(layer)

    @property
    def kernel(self) -> torch.Tensor:
        return self.weight.T

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 4:  # Keras's Dense on a map acts on its channels
            return self.activation(F.linear(x.permute(0, 2, 3, 1), self.weight, self.bias)).permute(0, 3, 1, 2)
        return self.activation(F.linear(x, self.weight, self.bias))


class BatchNormalization(nn.Module):
    def __init__(self, layer):
        super().__init__()
        if layer.axis not in (-1, 3) and not (isinstance(layer.axis, (list, tuple)) and list(layer.axis) == [-1]):
            raise Untranslatable(f"axis {layer.axis!r}")
        self.running_mean = _frozen(layer.moving_mean)
        self.running_var = _frozen(layer.moving_variance)
        self.weight = _frozen(layer.gamma) if layer.scale else None
        self.bias = _frozen(layer.beta) if layer.center else None
        self.eps = float(layer.epsilon)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 3:  # (N, steps, channels): Keras's last axis
            return self.forward(x.transpose(1, 2)).transpose(1, 2)
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)
