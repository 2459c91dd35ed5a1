"""A loaded Keras model translated into native PyTorch modules, so that it runs as fast as the same network written
in PyTorch: no transposes between Keras's channels-last layers, and a graph that torch.jit can trace and freeze
(the fast inference path, generator/models/fast.py, which folds BatchNorm and runs channels-last).

The graph is Keras's own, walked node by node (a Sequential's or a functional model's; branches with Add,
Concatenate, Multiply; nested models), each layer replaced by its native twin (keras_layers, keras_ops) with a
copy of its weights. The translation is a ``KerasModel`` to the rest of the generator: the same Keras layer names,
the same layer kinds (class names), the same softmax rule (it translates the Keras model after ``load_keras``
opened its softmax) and the same randomisation (Keras's initialisers, then the weights copied again).

Two checks stand between a translation and a wrong report: a layer, argument or activation without a native
twin, and a translation whose scores differ from Keras's own on a probe batch. Either keeps the Keras path for the
whole model, with one line that says why.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch
from torch import nn

from generator.models import keras_layers, keras_ops
from generator.models.keras_layers import Untranslatable
from generator.models.keras_model import (LOG_PROBABILITIES, WEIGHT_KINDS, KerasModel, KerasWeights, _leaf_layers,
                                          _one_tensor)

AGREEMENT = 1e-5  # largest score difference accepted, relative to the largest score (and at least absolute)

NATIVE = {name: getattr(module, name) for module in (keras_layers, keras_ops) for name in dir(module)
          if isinstance(getattr(module, name), type) and issubclass(getattr(module, name), nn.Module)
          and not name.startswith("_") and name != "Identity"}
NATIVE["ActivityRegularization"] = NATIVE["GaussianDropout"] = keras_ops.Identity


class NoTranslation(Exception):
    def __init__(self, layer, reason: str = ""):
        self.layer, self.reason = layer, reason
        super().__init__(f"layer {layer.name!r} ({type(layer).__name__}) has no native translation"
                         + (f" ({reason})" if reason else ""))


class Graph(nn.Module):
    """Keras's functional graph over native modules: ``steps`` are (module index, input slots, output slot,
    whether the layer takes a list), in Keras's own order of execution."""

    def __init__(self, modules: list[nn.Module], steps: list[tuple[int, tuple[int, ...], int, bool]],
                 output: int):
        super().__init__()
        self.layers = nn.ModuleList(modules)
        self.steps, self.output = steps, output

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values = {0: x}
        for index, inputs, out, as_list in self.steps:
            args = [values[slot] for slot in inputs]
            values[out] = self.layers[index](args if as_list else args[0])
        return values[self.output]


def _graph(model, native: dict) -> Graph:
    """``model``'s graph over the native twins of its layers; ``native`` maps id(keras layer) to its twin and is
    filled on the way (a layer called twice is one module)."""
    functional = getattr(model, "_functional", None) or model  # a Sequential keeps its graph there
    if not hasattr(functional, "_nodes_by_depth"):
        raise NoTranslation(model, "no layer graph (a Sequential built without an input shape)")
    if len(functional.inputs) != 1 or len(functional.outputs) != 1:
        raise NoTranslation(model, "more than one input or output")
    slots = {id(functional.inputs[0]): 0}
    modules, indices, steps = [], {}, []
    for depth in sorted(functional._nodes_by_depth, reverse=True):  # noqa: SLF001 -- keras is pinned
        for node in functional._nodes_by_depth[depth]:  # noqa: SLF001
            layer = node.operation
            if node.is_input or type(layer).__name__ == "InputLayer":
                continue
            if id(layer) not in indices:
                indices[id(layer)] = len(modules)
                modules.append(_twin(layer, native))
            if len(node.outputs) != 1:
                raise NoTranslation(layer, "more than one output")
            args = node.arguments.args if node.arguments is not None else ()
            as_list = bool(args) and isinstance(args[0], (list, tuple))
            inputs = tuple(slots[id(t)] for t in node.input_tensors)
            slots[id(node.outputs[0])] = len(slots)
            steps.append((indices[id(layer)], inputs, slots[id(node.outputs[0])], as_list))
    return Graph(modules, steps, slots[id(functional.outputs[0])])


def _twin(layer, native: dict) -> nn.Module:
    if hasattr(layer, "layers") and hasattr(layer, "inputs"):  # a nested Model or Sequential
        module = _graph(layer, native)
    else:
        kind = NATIVE.get(type(layer).__name__)
        if kind is None or type(layer).__module__.split(".")[0] != "keras":  # a subclass may compute otherwise
            raise NoTranslation(layer)
        if getattr(layer, "data_format", "channels_last") != "channels_last":
            raise NoTranslation(layer, "channels_first")
        try:
            module = kind(layer)
        except Untranslatable as error:
            raise NoTranslation(layer, str(error)) from None
    native[id(layer)] = module
    return module


class TranslatedModel(KerasModel):
    """Channels-first images in, the same scores as ``KerasModel`` out, computed by native modules. The Keras
    model stays beside it, out of torch's view (a tuple is not a submodule): its config gives the input shape
    and its initialisers the randomisation check's weights."""

    prefers_channels_last = True  # the fast path traces a channels-last copy (benchmarks/keras_native.py)

    def __init__(self, keras_model, output_kind: str):
        nn.Module.__init__(self)
        native: dict = {}
        self.graph = _graph(keras_model, native)
        self._keras = (keras_model, {name: (layer, native[id(layer)]) for name, layer in _leaf_layers(keras_model)
                                     if id(layer) in native})
        self.output_kind = output_kind
        self.compute_dtype = next((p.dtype for p in self.graph.parameters()), torch.float32)

    @property
    def keras_model(self):
        return self._keras[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = _one_tensor(self.graph(x.to(self.compute_dtype)))
        if self.output_kind == LOG_PROBABILITIES:
            out = torch.log(out.clamp_min(1e-12))
        return out.to(x.dtype)

    def as_sequential(self) -> nn.Sequential | None:
        return as_sequential(self)

    def named_layers(self) -> list[tuple[str, nn.Module]]:
        return [(name, module) for name, (_, module) in self._keras[1].items()]

    def weight_layers(self) -> list[tuple[str, NativeWeights]]:
        layers = [(name, NativeWeights(*self._keras[1][name])) for name, module in self.named_layers()
                  if type(module).__name__ in WEIGHT_KINDS]
        return layers[::-1]


class NativeWeights:
    """The randomisation check's ``reset_parameters()``: Keras's initialisers draw the Keras layer's weights,
    exactly as on the Keras path, and its native twin takes a copy of them."""

    def __init__(self, layer, module: nn.Module):
        self.layer, self.module = layer, module

    def reset_parameters(self) -> None:
        KerasWeights(self.layer).reset_parameters()
        fresh = type(self.module)(self.layer)
        with torch.no_grad():
            for name, parameter in self.module.named_parameters(recurse=False):
                parameter.copy_(getattr(fresh, name))


def translate(keras_model, output_kind: str) -> TranslatedModel:
    """The native twin of a loaded (frozen, softmax-opened) Keras model; NoTranslation names what it lacks.

    Its conv weights are channels-last, so its maps are too: on this CPU the depthwise and separable convs run
    about twice as fast so, forward and input gradient (benchmarks/keras_native.py). Safe from torch's crash in
    the weight gradient of a channels-last 1x1 stride-2 conv because the weights are frozen: the methods take
    input gradients only."""
    return TranslatedModel(keras_model, output_kind).eval().to(memory_format=torch.channels_last)


def gap_to_keras(native: TranslatedModel, reference: KerasModel, count: int = 4) -> float:
    """The largest score difference on ``count`` random images of the model's input size, relative to the
    largest score where that exceeds 1."""
    height, width, channels = (size or 48 for size in reference.input_shape)
    probe = torch.rand(count, channels, height, width, generator=torch.Generator().manual_seed(20))
    with torch.inference_mode():
        ours, theirs = native(probe).double(), reference(probe).double()
    if ours.shape != theirs.shape:
        return float("inf")
    return float((ours - theirs).abs().max()) / max(1.0, float(theirs.abs().max()))


def native_or_keras(reference: KerasModel, path: Path | str,
                    notice: Callable[[str], None] = print) -> KerasModel:
    """The translation of a loaded Keras model where it exists and agrees with Keras, else ``reference`` itself
    with one line through ``notice`` saying why."""
    try:
        native = translate(reference.keras_model, reference.output_kind)
    except NoTranslation as error:
        notice(f"{path}: {error}; running through Keras (slower)")
        return reference
    gap = gap_to_keras(native, reference)
    if not gap <= AGREEMENT:
        notice(f"{path}: the native translation's scores differ from Keras's by {gap:.2g} (more than "
               f"{AGREEMENT:g}); running through Keras (slower)")
        return reference
    return native


def as_sequential(model: TranslatedModel) -> nn.Sequential | None:
    """A chain-shaped translation (a Keras Sequential, or a functional model without branches) as the
    ``nn.Sequential`` of torch's own layers that a PyTorch model of that architecture would be, sharing the
    weights: plain convs (stride 1, symmetric padding, a ReLU or no activation of their own), BatchNorm, ReLU,
    square max-pooling with stride == pool, dropout; then the rest as it is. Incremental occlusion takes a
    model in this form; None for a graph with branches or a float64 model."""
    graph = model.graph
    if model.compute_dtype != torch.float32 or any(
            as_list or inputs != (out - 1,) for _, inputs, out, as_list in graph.steps):
        return None
    layers: list[nn.Module] = []
    modules = [graph.layers[index] for index, *_ in graph.steps]
    for k, module in enumerate(modules):
        plain = _torch_layers(module)
        if plain is None:
            layers += modules[k:]
            break
        layers += plain
    if model.output_kind == LOG_PROBABILITIES:
        layers.append(_Log())
    return nn.Sequential(*layers).eval()


class _Log(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log(x.clamp_min(1e-12))


def _torch_layers(module: nn.Module) -> list[nn.Module] | None:
    kind = type(module).__name__
    name = getattr(getattr(module, "activation", None), "__name__", "linear")
    if kind == "Conv2D" and name in ("linear", "relu") and module.strides == (1, 1) and module.groups == 1 \
            and module.dilation == (1, 1) and module.kernel_size[0] == module.kernel_size[1] and module.kernel_size[0] % 2:
        conv = nn.Conv2d(module.weight.shape[1], module.weight.shape[0], module.kernel_size,
                         padding=module.kernel_size[0] // 2 if module.same else 0, bias=module.bias is not None)
        conv.weight, conv.bias = module.weight, module.bias
        return [conv.requires_grad_(False)] + ([nn.ReLU()] if name == "relu" else [])
    if kind == "BatchNormalization" and module.weight is not None and module.bias is not None:
        norm = nn.BatchNorm2d(module.running_mean.shape[0], eps=module.eps).eval()
        norm.weight, norm.bias = module.weight, module.bias
        norm.running_mean, norm.running_var = module.running_mean.data, module.running_var.data
        return [norm.requires_grad_(False)]
    if (kind == "Activation" and name == "relu") or (kind == "ReLU" and module.max_value is None
                                                     and module.negative_slope == 0 and module.threshold == 0):
        return [nn.ReLU()]
    if kind == "MaxPooling2D" and not module.same and module.kernel_size == module.strides \
            and module.kernel_size[0] == module.kernel_size[1]:
        return [nn.MaxPool2d(module.kernel_size[0])]
    if kind in ("Dropout", "SpatialDropout2D", "GaussianNoise", "GaussianDropout"):
        return [nn.Dropout(0.0)]
    return None
