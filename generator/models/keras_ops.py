"""The Keras layers without a conv or a Dense weight, as native channels-first modules named like their Keras
class: activations, pooling, padding and cropping, reshaping, merging, the layers that do nothing at inference,
and the preprocessing layers. The layout rule is the one in ``keras_layers``: a 4-D tensor is channels-first,
every other tensor is laid out as Keras lays it out.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from generator.models.keras_layers import Untranslatable, _frozen, _Padded, activation_of


def channel_axis(axis: int, ndim: int) -> int:
    """Where Keras's ``axis`` of a tensor of ``ndim`` dimensions is in the native layout."""
    axis = axis % ndim
    return {0: 0, 1: 2, 2: 3, 3: 1}[axis] if ndim == 4 else axis


def keras_layout(x: torch.Tensor) -> torch.Tensor:
    return x.permute(0, 2, 3, 1) if x.ndim == 4 else x


def native_layout(x: torch.Tensor) -> torch.Tensor:
    return x.permute(0, 3, 1, 2) if x.ndim == 4 else x


class Activation(nn.Module):
    def __init__(self, layer):
        super().__init__()
        self.activation = activation_of(layer)

    def forward(self, x):
        return self.activation(x)


class ReLU(nn.Module):
    """Keras's ReLU layer: max_value, negative_slope below threshold; plain F.relu in the common case."""

    def __init__(self, layer):
        super().__init__()
        self.max_value = None if layer.max_value is None else float(layer.max_value)
        self.negative_slope, self.threshold = float(layer.negative_slope), float(layer.threshold)
        self.activation = ACTIVATION_RELU

    def forward(self, x):
        if self.negative_slope == 0 and self.threshold == 0:
            out = self.activation(x)
        else:
            out = torch.where(x >= self.threshold, x, self.negative_slope * (x - self.threshold))
        return out.clamp_max(self.max_value) if self.max_value is not None else out


ACTIVATION_RELU = activation_of(None, "relu")


class LeakyReLU(nn.Module):
    def __init__(self, layer):
        super().__init__()
        self.negative_slope = float(layer.negative_slope)

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope)


class ELU(nn.Module):
    def __init__(self, layer):
        super().__init__()
        self.alpha = float(layer.alpha)

    def forward(self, x):
        return F.elu(x, self.alpha)


class PReLU(nn.Module):
    """relu(x) - alpha * relu(-x), alpha of the input's shape without the batch (1 on its shared axes)."""

    def __init__(self, layer):
        super().__init__()
        alpha = _frozen(layer.alpha)
        self.alpha = nn.Parameter(alpha.permute(2, 0, 1).contiguous() if alpha.ndim == 3 else alpha,
                                  requires_grad=False)

    def forward(self, x):
        return F.relu(x) - self.alpha * F.relu(-x)


class Softmax(nn.Module):
    def __init__(self, layer):
        super().__init__()
        axis = layer.axis if isinstance(layer.axis, int) else None
        if axis is None:
            raise Untranslatable(f"axis {layer.axis!r}")
        self.axis = axis

    def forward(self, x):
        return torch.softmax(x, dim=channel_axis(self.axis, x.ndim))


class MaxPooling2D(_Padded):
    def __init__(self, layer):
        super().__init__()
        self._setup(layer, layer.pool_size, layer.strides or layer.pool_size)

    def forward(self, x):
        x, padding = self.padded(x, float("-inf"))
        return F.max_pool2d(x, self.kernel_size, self.strides, padding)


class AveragePooling2D(_Padded):
    """Keras's PyTorch backend leaves symmetric "same" padding out of the averages and pads asymmetric padding
    with the edge values, which it counts: this does the same."""

    def __init__(self, layer):
        super().__init__()
        self._setup(layer, layer.pool_size, layer.strides or layer.pool_size)

    def forward(self, x):
        x, padding = self.padded(x, "edge")
        return F.avg_pool2d(x, self.kernel_size, self.strides, padding, count_include_pad=False)


class GlobalAveragePooling2D(nn.Module):
    def __init__(self, layer):
        super().__init__()
        self.keepdims = bool(getattr(layer, "keepdims", False))

    def forward(self, x):
        return x.mean(dim=(2, 3), keepdim=self.keepdims)


class GlobalMaxPooling2D(GlobalAveragePooling2D):
    def forward(self, x):
        return x.amax(dim=(2, 3), keepdim=self.keepdims)


class ZeroPadding2D(nn.Module):
    def __init__(self, layer):
        super().__init__()
        (top, bottom), (left, right) = layer.padding
        self.pad = (int(left), int(right), int(top), int(bottom))

    def forward(self, x):
        return F.pad(x, self.pad)


class Cropping2D(nn.Module):
    def __init__(self, layer):
        super().__init__()
        (self.top, self.bottom), (self.left, self.right) = layer.cropping

    def forward(self, x):
        height, width = x.shape[2], x.shape[3]
        return x[:, :, self.top:height - self.bottom, self.left:width - self.right]


class Flatten(nn.Module):
    """Keras flattens a map channels-last: (row, column, channel), the order the Dense after it expects."""

    def __init__(self, layer=None):
        super().__init__()

    def forward(self, x):
        return keras_layout(x).flatten(1)


class Reshape(nn.Module):
    def __init__(self, layer):
        super().__init__()
        self.shape = tuple(int(size) for size in layer.target_shape)

    def forward(self, x):
        return native_layout(keras_layout(x).reshape(x.shape[0], *self.shape))


class Identity(nn.Module):
    """Dropout, SpatialDropout2D, GaussianNoise and their kin: nothing at inference."""

    def __init__(self, layer=None):
        super().__init__()

    def forward(self, x):
        return x


class Dropout(Identity):
    pass


class SpatialDropout2D(Identity):
    pass


class GaussianNoise(Identity):
    pass  # GaussianDropout and ActivityRegularization translate to Identity too (keras_translate.NATIVE)


def _per_channel(value, ndim_hint: int = 4) -> torch.Tensor | float:
    """A Keras scalar or (broadcast) per-channel array, shaped for a channels-first map."""
    if isinstance(value, (int, float)):
        return float(value)
    tensor = _frozen(value).detach().float()
    if tensor.numel() == 1:
        return float(tensor.reshape(()))
    if tensor.ndim == 4:
        return tensor.permute(0, 3, 1, 2).contiguous()
    return tensor.reshape(-1, 1, 1)


class Rescaling(nn.Module):
    def __init__(self, layer):
        super().__init__()
        self.scale, self.offset = _per_channel(layer.scale), _per_channel(layer.offset)

    def forward(self, x):
        return x * self.scale + self.offset


class Normalization(nn.Module):
    """(x - mean) / max(sqrt(variance), epsilon), as Keras computes it (its epsilon: keras.config.epsilon())."""

    def __init__(self, layer):
        super().__init__()
        import keras
        if getattr(layer, "invert", False):
            raise Untranslatable("invert=True")
        self.mean = _per_channel(layer.mean)
        variance = _per_channel(layer.variance)
        epsilon = keras.config.epsilon()
        self.std = (max(variance ** 0.5, epsilon) if isinstance(variance, float)
                    else variance.sqrt().clamp_min(epsilon))

    def forward(self, x):
        return (x - self.mean) / self.std


class Resizing(nn.Module):
    MODES = {"bilinear": "bilinear", "nearest": "nearest", "bicubic": "bicubic"}

    def __init__(self, layer):
        super().__init__()
        if layer.interpolation not in self.MODES or getattr(layer, "crop_to_aspect_ratio", False) \
                or getattr(layer, "pad_to_aspect_ratio", False) or getattr(layer, "antialias", False):
            raise Untranslatable(f"interpolation {layer.interpolation!r} or aspect-ratio options")
        self.size, self.mode = (int(layer.height), int(layer.width)), self.MODES[layer.interpolation]

    def forward(self, x):
        corners = False if self.mode != "nearest" else None
        return F.interpolate(x, size=self.size, mode=self.mode, align_corners=corners)


class _Merge(nn.Module):
    def __init__(self, layer=None):
        super().__init__()


class Add(_Merge):
    def forward(self, xs):
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


class Subtract(_Merge):
    def forward(self, xs):
        return xs[0] - xs[1]


class Multiply(_Merge):
    def forward(self, xs):
        out = xs[0]
        for x in xs[1:]:
            out = out * x
        return out


class Average(Add):
    def forward(self, xs):
        return super().forward(xs) / len(xs)


class Maximum(_Merge):
    def forward(self, xs):
        return torch.stack(torch.broadcast_tensors(*xs)).amax(dim=0)


class Minimum(_Merge):
    def forward(self, xs):
        return torch.stack(torch.broadcast_tensors(*xs)).amin(dim=0)


class Concatenate(nn.Module):
    def __init__(self, layer):
        super().__init__()
        self.axis = int(layer.axis)

    def forward(self, xs):
        return torch.cat(xs, dim=channel_axis(self.axis, xs[0].ndim))
