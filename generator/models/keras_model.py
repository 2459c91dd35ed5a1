"""Keras models (.h5, .hdf5, .keras) as PyTorch modules, through Keras 3 and its PyTorch backend (no TensorFlow).

Under that backend a Keras model is already a ``torch.nn.Module``: autograd reaches its input, and torch forward
hooks fire on its layers. ``KerasModel`` adds what the methods expect of every model: channels-first images in,
one tensor of class scores out, and the Keras layer names (``model.layers`` and ``get_layer``, since
``named_modules()`` shows none of them). The weights are frozen: the methods take input gradients only, and a
weight gradient through Keras's channels-last convolutions (a 1x1, stride-2 conv with few input channels) crashes
torch 2.13.0+cpu on AVX-512 CPUs.

A model that ends in a softmax is explained on the softmax's input, the logits, where the graph allows it: the
final ``Activation('softmax')`` or ``Dense(..., activation='softmax')`` of the loaded copy is made linear. A softmax
it cannot open (a ``Softmax`` layer, a bare softmax op, a softmax layer shared with another branch) is explained
on the log of its probabilities. Reading and refusing the files is in ``keras_files``.
"""
from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
from pathlib import Path

import torch
from torch import nn

from generator.errors import InputError
from generator.models.hooks import CallRecorder
from generator.models.keras_files import check_file, import_keras

CONV_KINDS = ("Conv2D", "SeparableConv2D", "DepthwiseConv2D")  # keras.layers class names; also Grad-CAM's
WEIGHT_KINDS = CONV_KINDS + ("Dense",)                           # what the randomisation check re-initialises

# What the model's scores are, for the home page.
LOGITS = "logits"                                   # the input of a final Activation('softmax'), or no softmax
DENSE_LOGITS = "logits of a Dense softmax"          # the last Dense before its softmax activation
LOG_PROBABILITIES = "log-probabilities"             # the log of the model's own softmax output

PROBABILITY_TOLERANCE = 1e-4  # how far from 1 a row of outputs may sum and still count as probabilities


def load_keras(path: Path | str) -> KerasModel:
    """The Keras model in ``path`` as a frozen ``KerasModel``; one InputError line for anything it cannot take."""
    path = Path(path)
    keras = import_keras(path)
    check_file(path)
    try:
        with _without_keras2_only_keys(path) as readable:
            model = keras.saving.load_model(readable, compile=False)
    except Exception as error:  # noqa: BLE001 -- an unknown layer, a damaged file, a Lambda refused by safe mode...
        reason = (str(error).strip().splitlines() or [""])[0]
        raise InputError(f"{path}: Keras cannot load this model ({type(error).__name__}: {reason})") from None
    _check_structure(model, path)
    model.trainable = False  # requires_grad off on every weight: input gradients only
    try:
        output_kind = _open_softmax(model, keras)
    except Exception as error:  # noqa: BLE001 -- the model's own forward may raise anything
        reason = (str(error).strip().splitlines() or [""])[0]
        raise InputError(f"{path}: the Keras model fails on a batch of its own input shape "
                         f"{tuple(model.inputs[0].shape[1:])} ({type(error).__name__}: {reason})") from None
    return KerasModel(model, output_kind)


# tf.keras 2.x saved the plain conv's keys with every SeparableConv2D and DepthwiseConv2D (they derived from Conv
# there); Keras 3's classes refuse them, so a real tf.keras mini-Xception would not load.
KERAS2_ONLY_KEYS = ("groups", "kernel_initializer", "kernel_regularizer", "kernel_constraint")


@contextlib.contextmanager
def _without_keras2_only_keys(path: Path):
    """``path``, or a temporary copy of a Keras 2 .h5 whose architecture has those keys taken out. The copy, not
    custom classes: the loaded layers stay Keras's own, so a deep copy of the model (the randomisation check)
    rebuilds them from their config."""
    import h5py
    if path.suffix == ".keras":
        yield path
        return
    with h5py.File(path, "r") as archive:
        text = archive.attrs.get("model_config")
    config = json.loads(text.decode() if isinstance(text, bytes) else text) if text is not None else None
    inner = (config or {}).get("config", {})
    layers = inner if isinstance(inner, list) else inner.get("layers", [])  # Keras 2.0's Sequential: a list
    separable = [layer["config"] for layer in layers
                 if layer.get("class_name") in ("SeparableConv2D", "DepthwiseConv2D")]
    if not any(key in layer for layer in separable for key in KERAS2_ONLY_KEYS):
        yield path
        return
    for layer in separable:
        for key in KERAS2_ONLY_KEYS:
            layer.pop(key, None)
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / path.name
        shutil.copyfile(path, copy)
        with h5py.File(copy, "r+") as archive:
            archive.attrs["model_config"] = json.dumps(config).encode()
        yield copy


def _check_structure(model, path: Path) -> None:
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise InputError(f"{path}: the Keras model has {len(model.inputs)} input(s) and {len(model.outputs)} "
                         "output(s), expected one image input and one output of 7 class scores")
    first = [layer.name for _, layer in _leaf_layers(model) if getattr(layer, "data_format", "") == "channels_first"]
    if first:
        raise InputError(f"{path}: layer {first[0]!r} is channels_first, expected channels_last (Keras's default): "
                         "rebuild the model with channels_last layers, copy the weights, and save it again")
    shape = tuple(model.inputs[0].shape[1:])
    if len(shape) != 3 or shape[-1] not in (1, 3):
        raise InputError(f"{path}: the Keras model takes input of shape {shape}, expected (height, width, "
                         "channels) images with 1 (gray) or 3 (RGB) channels")


def _leaf_layers(model, prefix: str = ""):
    """(name, layer) in Keras's order (each layer after its inputs), nested models opened as 'outer/inner'."""
    for layer in model.layers:
        if hasattr(layer, "layers") and hasattr(layer, "inputs"):  # a nested Model or Sequential
            yield from _leaf_layers(layer, f"{prefix}{layer.name}/")
        elif type(layer).__name__ != "InputLayer":
            yield prefix + layer.name, layer


def _output_layer(model):
    """What computes the model's output: a layer (looking inside a nested model that ends the graph) or a bare op
    such as ``keras.ops.softmax``."""
    while True:
        operation = model.outputs[0]._keras_history.operation  # noqa: SLF001 -- keras is pinned in pyproject
        if hasattr(operation, "layers") and hasattr(operation, "outputs"):
            model = operation
            continue
        return operation


def _open_softmax(model, keras) -> str:
    """Make the final softmax linear where it is the activation of the output layer; say what the scores are.

    The opened model is checked on a probe batch: its softmax must give the model's own probabilities, which a
    softmax layer shared with another branch of the graph would not; such a model is left as it was."""
    height, width, channels = (size or 48 for size in model.inputs[0].shape[1:])
    probe = torch.rand(4, height, width, channels, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        before = _one_tensor(model(probe, training=False)).double()
    last = _output_layer(model)
    if type(last).__name__ in ("Dense", "Activation") and _activation_name(last) == "softmax":
        kept, last.activation = last.activation, keras.activations.linear
        with torch.inference_mode():
            after = _one_tensor(model(probe, training=False)).double()
        if after.shape == before.shape and torch.allclose(after.softmax(dim=-1), before, atol=1e-5):
            return DENSE_LOGITS if type(last).__name__ == "Dense" else LOGITS
        last.activation = kept
    looks_like_probabilities = bool((before >= 0).all()) and bool(
        ((before.sum(dim=-1) - 1).abs() < PROBABILITY_TOLERANCE).all())
    return LOG_PROBABILITIES if looks_like_probabilities else LOGITS


def _one_tensor(out):
    """Some legacy files give a one-element list as the model's output."""
    return out[0] if isinstance(out, (list, tuple)) and len(out) == 1 else out


class KerasModel(nn.Module):
    """Channels-first images (N, C, H, W) in, class scores (N, 7) out: logits where the model's softmax could be
    opened, else log-probabilities (``output_kind``). ``keras_model`` is the loaded model, frozen."""

    def __init__(self, keras_model, output_kind: str):
        super().__init__()
        self.keras_model = keras_model
        self.output_kind = output_kind

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = _one_tensor(self.keras_model(x.permute(0, 2, 3, 1), training=False))
        if self.output_kind == LOG_PROBABILITIES:
            out = torch.log(out.clamp_min(1e-12))
        return out.to(x.dtype)  # Keras computes in its own dtype (float32 as a rule) and casts the input to it

    @property
    def input_shape(self) -> tuple[int | None, int | None, int]:
        """(height, width, channels) as the model was built; None for a size the model leaves open."""
        return tuple(self.keras_model.inputs[0].shape[1:])

    def named_layers(self) -> list[tuple[str, nn.Module]]:
        """Every layer with its Keras name, inputs first (nested models opened as 'outer/inner')."""
        return list(_leaf_layers(self.keras_model))

    def layer(self, name: str) -> nn.Module:
        """The Keras layer by name; KeyError for a name that is not a layer of the model."""
        return dict(self.named_layers())[name]

    def conv_layers(self) -> list[tuple[str, nn.Module, tuple[int, int, int]]]:
        """Conv2D, SeparableConv2D and DepthwiseConv2D layers in Keras's order, each with its output shape
        (channels, height, width) for one image of the model's input size (48 where the model leaves it open)."""
        convs = {layer: name for name, layer in self.named_layers() if type(layer).__name__ in CONV_KINDS}
        height, width, channels = (size or 48 for size in self.input_shape)
        with torch.inference_mode(), CallRecorder(convs) as recorder:
            self(torch.zeros(1, channels, height, width))
        shapes = {}
        for call in recorder.calls:  # channels-first already: the hooks' adapter turned them
            shapes.setdefault(call.module, tuple(call.output.shape[1:]))
        return [(name, layer, shapes[layer]) for layer, name in convs.items() if layer in shapes]

    def default_gradcam_layer(self) -> tuple[str, nn.Module]:
        """As for a PyTorch model, the rectified maps of the last conv: the conv itself when its own activation
        is a ReLU or when no ReLU follows it, else the first ReLU (Activation('relu') or ReLU) after it."""
        layers = self.named_layers()
        last = max(k for k, (_, layer) in enumerate(layers) if type(layer).__name__ in CONV_KINDS)
        if _activation_name(layers[last][1]) == "relu":
            return layers[last]
        after = [(name, layer) for name, layer in layers[last + 1:] if type(layer).__name__ == "ReLU"
                 or (type(layer).__name__ == "Activation" and _activation_name(layer) == "relu")]
        return after[0] if after else layers[last]

    def weight_layers(self) -> list[tuple[str, KerasWeights]]:
        """The conv and Dense layers, the output side first, each with ``reset_parameters()`` like torch's."""
        layers = [(name, KerasWeights(layer)) for name, layer in self.named_layers()
                  if type(layer).__name__ in WEIGHT_KINDS]
        return layers[::-1]


def _activation_name(layer) -> str:
    return getattr(getattr(layer, "activation", None), "__name__", "")


@contextlib.contextmanager
def linear_activation(layer):
    """While open, ``layer``'s own activation (Conv2D(..., activation='relu')) is skipped, so a hook on it sees
    the filters' own response, as question 2 asks of a PyTorch conv. Restored on the way out, also on error."""
    import keras
    kept = layer.activation
    layer.activation = keras.activations.linear
    try:
        yield layer
    finally:
        layer.activation = kept


class KerasWeights:
    """One Keras layer's weights, for the randomisation check: ``reset_parameters()`` draws them again from the
    layer's own initialisers (Glorot uniform and zeros, as a rule), seeded from torch's global generator as
    torch's own ``reset_parameters`` is, so a check that seeds torch gets the same weights every run."""

    INITIALISERS = {"kernel": ("kernel_initializer", "depthwise_initializer"),
                    "depthwise_kernel": ("depthwise_initializer",), "pointwise_kernel": ("pointwise_initializer",),
                    "bias": ("bias_initializer",)}

    def __init__(self, layer):
        self.layer = layer

    def reset_parameters(self) -> None:
        import keras
        seed = int(torch.randint(0, 2**31 - 1, ()))
        for k, variable in enumerate(self.layer.weights):
            names = self.INITIALISERS.get(variable.name, ())
            initialiser = next((getattr(self.layer, n) for n in names if hasattr(self.layer, n)), None)
            initialiser = initialiser or keras.initializers.GlorotUniform()
            config = initialiser.get_config()
            if "seed" in config:  # an unseeded Keras initialiser draws from Keras's own global state
                initialiser = type(initialiser).from_config({**config, "seed": seed + k})
            variable.assign(initialiser(variable.shape, variable.dtype))  # in place: requires_grad stays off
