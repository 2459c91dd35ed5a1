"""The layers of the user's model by name, for a PyTorch and a Keras model alike: the one place that tells the two
apart. Everything that finds a layer (question 2's filter layer, Grad-CAM's layer, the `layers` command, the
randomisation check) asks here.

A PyTorch model's layers are its ``named_modules()`` (``features.3``). A Keras model's are not modules of it as
torch sees them: they are Keras layers with the names ``model.summary()`` prints (``conv2d_1``), found through
``KerasModel`` (generator/models/keras_model.py). The hooks module turns their channels-last outputs
channels-first, so once found, a layer of either kind is hooked alike.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from torch import nn

from generator.models.hooks import CallRecorder, inner_module
from generator.models.keras_model import CONV_KINDS, KerasModel, linear_activation
from generator.models.onnx_model import OnnxModel

# What each role takes, by class name: question 2 needs a conv (its filters); Grad-CAM any layer of feature maps
# between the convs and the classifier that the report's default might pick.
# An ONNX model's nodes are torch layers (generator/models/onnx_ops.py), named after the nodes.
FILTER_KINDS = {"torch": ("Conv2d",), "keras": CONV_KINDS, "onnx": ("Conv2d",)}
GRADCAM_KINDS = {"torch": ("Conv2d", "ReLU", "BatchNorm2d"),
                 "keras": CONV_KINDS + ("BatchNormalization", "Activation", "ReLU"),
                 "onnx": ("Conv2d", "ReLU", "BatchNorm2d", "LeakyReLU", "ELU")}


def is_keras(model: nn.Module) -> bool:
    """Whether the user's model (inside the normalising wrapper) is a Keras model."""
    return isinstance(inner_module(model), KerasModel)


def framework(model: nn.Module) -> str:
    own = inner_module(model)
    return "keras" if isinstance(own, KerasModel) else "onnx" if isinstance(own, OnnxModel) else "torch"


def _named(own: nn.Module) -> bool:
    """A model that names its own layers (Keras's layer names, an ONNX graph's node names)."""
    return isinstance(own, (KerasModel, OnnxModel))


def named_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Every layer with the name the user knows it by, in the model's order."""
    own = inner_module(model)
    return own.named_layers() if _named(own) else list(own.named_modules())


def layer_named(model: nn.Module, name: str) -> nn.Module:
    """A layer by name, so a method finds its layer in a randomised copy of the model too; KeyError if absent."""
    own = inner_module(model)
    return own.layer(name) if _named(own) else dict(own.named_modules())[name]


def kind_of(layer: nn.Module) -> str:
    """The layer's class name as its framework spells it: Conv2d, SeparableConv2D, BatchNormalization..."""
    return type(layer).__name__


def convs(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The conv layers question 2 can take, in the model's order (no forward pass)."""
    kinds = FILTER_KINDS[framework(model)]
    return [(name, layer) for name, layer in named_layers(model) if kind_of(layer) in kinds]


def default_gradcam_layer(model: nn.Module) -> tuple[str, nn.Module]:
    """The rectified feature maps of the last conv (Selvaraju et al.): the first ReLU after the last conv, or the
    conv itself when none follows (or, in Keras, when the conv's own activation is the ReLU). A raw conv output is
    signed (before BatchNorm and ReLU), and Grad-CAM on it can come out all zero."""
    own = inner_module(model)
    if _named(own):
        return own.default_gradcam_layer()
    modules = list(own.named_modules())
    last = max(k for k, (_, m) in enumerate(modules) if isinstance(m, nn.Conv2d))
    after = [(name, m) for name, m in modules[last + 1:] if isinstance(m, nn.ReLU)]
    return after[0] if after else modules[last]


def weight_layers(model: nn.Module) -> list[tuple[str, object]]:
    """The layers the randomisation check re-initialises, top (output side) first, each with
    ``reset_parameters()``: Conv2d and Linear in PyTorch; the conv and Dense layers in Keras."""
    own = inner_module(model)
    if _named(own):
        return own.weight_layers()
    layers = [(name, m) for name, m in own.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    return layers[::-1]


def own_response(model: nn.Module, layer: nn.Module):
    """A context in which ``layer``'s output is the filters' own response, before any activation. A PyTorch
    Conv2d has no activation of its own; a Keras conv may (Conv2D(..., activation='relu')), skipped while open."""
    return linear_activation(layer) if is_keras(model) else contextlib.nullcontext(layer)


def is_separable(layer: nn.Module) -> bool:
    """A Keras SeparableConv2D: its filters, for question 2, are its pointwise convolution's output channels."""
    return kind_of(layer) == "SeparableConv2D"


@dataclass(frozen=True)
class ConvLayer:
    name: str
    layer: nn.Module
    kind: str
    in_channels: int
    shape: tuple  # (channels, height, width) of its output for one face, channels-first

    @property
    def out_channels(self) -> int:
        return self.shape[0]


def conv_listing(model: nn.Module) -> list[ConvLayer]:
    """Every conv layer that runs, in the order it first runs, with its input channels and its output shape for
    one 48x48 face (which the wrapper turns into the model's own input first). A conv that runs more than once
    shows its first call."""
    own = inner_module(model)
    if isinstance(own, torch.jit.ScriptModule):
        from generator.errors import InputError
        raise InputError("a TorchScript model does not allow hooks on its layers, so its conv layers cannot be "
                         "listed; load the state_dict with model.architecture instead")
    names = {layer: name for name, layer in convs(model)}
    with torch.inference_mode(), CallRecorder(names) as recorder:
        model(torch.zeros(1, 1, 48, 48))
    first = {}
    for call in recorder.calls:  # in the order the convs ran; the hooks' adapter made Keras's channels-first
        first.setdefault(call.module, call)
    return [ConvLayer(names[layer], layer, kind_of(layer), int(call.input.shape[1]), tuple(call.output.shape[1:]))
            for layer, call in first.items()]


def filter_count(model: nn.Module, layer: nn.Module) -> int:
    """How many filters a conv layer has: the channels of its output, for a PyTorch or a Keras conv alike (a Keras
    DepthwiseConv2D's count depends on its input, so it is read off one forward pass)."""
    return next(conv.out_channels for conv in conv_listing(model) if conv.layer is layer)
