"""Load the checkpoints students actually have, and wrap them in one interface.

Formats: a state_dict with an architecture import path (``package.module:Class`` plus kwargs); a dict holding the
state_dict under a key; a whole pickled module; a TorchScript file; a Keras file (.h5, .hdf5, .keras, through
generator/models/keras_model.py, which needs the keras extra). The wrapper (generator/models/wrapper.py) takes
images in [0, 1] of shape (B, 1, 48, 48), turns them into the input the model takes (its geometry: size, channels,
resize; generator/models/geometry.py), applies the configured normalisation, and always returns 7 logits in
FER2013's order (``model.classes`` says the model's own order).
"""
from __future__ import annotations

import hashlib
import importlib
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from generator.config import ModelSettings, check_geometry
from generator.errors import InputError
from generator.models.check import check_model
from generator.models.classes import resolve
from generator.models.geometry import FACE, Geometry
from generator.models.keras_files import is_keras_path
from generator.models.layers import conv_listing
from generator.models.onnx_model import is_onnx_path
from generator.models.train import DEMO_WEIGHTS
from generator.models.wrapper import NormalisedModel, geometry_of  # noqa: F401 -- imported from here by others

STATE_DICT_KEYS = ("state_dict", "model", "network", "model_state_dict", "net")

# The student's PyTorch model runs in float64. torch picks its CPU kernels at start-up (AVX-512, AVX2 or none, and
# oneDNN's own choice), and each sums in its own order: in float32 the maps and probabilities then differ in the
# last bits, about 1e-7, and a value that close to one of a figure's colour steps or to a printed rounding flips
# (a few pixels and numbers per demo build, measured). In float64 the kernels still differ, by about 1e-16: a
# flip is then some 1e9 times rarer. benchmarks/float64.py measures the price against float32.
COMPUTE_DTYPE = torch.float64


@dataclass(frozen=True)
class LoadedModel:
    model: NormalisedModel
    description: str      # what was loaded, for the home page
    sha256: str           # of the checkpoint file
    path: Path
    keras_output: str | None = None  # a Keras model's scores (keras_model.LOGITS...); None for PyTorch


def import_object(spec: str, where: str):
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise InputError(f"{where}: architecture {spec!r}: expected 'package.module:Class'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise InputError(f"{where}: architecture {spec!r}: cannot import {module_name} ({error})") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise InputError(f"{where}: architecture {spec!r}: {module_name} has no {attr}") from None


def _is_torchscript(path: Path) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(name.endswith("constants.pkl") or "/code/" in name for name in archive.namelist())


def _torch_load(path: Path, fmt: str):
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        if fmt not in ("auto", "module"):  # weights were promised: do not run the file's pickled code
            raise InputError(f"{path}: cannot load as plain weights (model.format = '{fmt}'): {error}") from None
    # A pickled module, or a checkpoint holding other objects: this runs the file's pickle code, so load only
    # checkpoints you trust (your own).
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:
        reason = (str(error).strip().splitlines() or [""])[0]
        raise InputError(f"{path}: not a PyTorch checkpoint, expected a file written by torch.save or "
                         f"torch.jit.save ({type(error).__name__}: {reason})") from None


def _state_dict_of(obj: dict, settings: ModelSettings, path: Path) -> tuple[dict, str]:
    if all(isinstance(v, torch.Tensor) for v in obj.values()):
        return obj, "state_dict"
    keys = (settings.state_dict_key,) if settings.state_dict_key else STATE_DICT_KEYS
    for key in keys:
        if isinstance(obj.get(key), dict):
            return obj[key], f"checkpoint dict, key '{key}'"
        if isinstance(obj.get(key), nn.Module):
            return obj[key].state_dict(), f"checkpoint dict, module under '{key}'"
    raise InputError(f"{path}: checkpoint dict has no state_dict under {', '.join(repr(k) for k in keys)} "
                     f"(its keys: {', '.join(map(str, obj))}); set model.state_dict_key")


def _build_from_state_dict(state: dict, architecture: str, kwargs: dict, path: Path) -> nn.Module:
    where = "[tool.generator.model]"
    if not architecture:
        raise InputError(f"{path}: holds only weights; set model.architecture to 'package.module:Class'")
    cls = import_object(architecture, where)
    try:
        model = cls(**kwargs)
    except TypeError as error:
        raise InputError(f"{where}: cannot build {architecture} with kwargs {kwargs}: {error}") from None
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    resized = [f"{k} {tuple(state[k].shape)} in the file, {tuple(v.shape)} in the model"
               for k, v in expected.items() if k in state and tuple(state[k].shape) != tuple(v.shape)]
    if missing or unexpected or resized:
        found = "; ".join(_listed(what, names) for what, names in
                          (("missing", missing), ("unexpected", unexpected), ("wrong shape", resized)) if names)
        raise InputError(f"{path}: the weights do not fit {architecture}({_kwargs_text(kwargs)}): {found} "
                         "(check model.architecture and model.kwargs)")
    model.load_state_dict(state)
    return model


def _listed(what: str, names: list, shown: int = 4) -> str:
    """"3 missing: a, b, c" or "40 missing: a, b, c, d and 36 more": a checkpoint can hold hundreds of keys."""
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return f"{len(names)} {what}: {', '.join(names[:shown])}{more}"


def _kwargs_text(kwargs: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in kwargs.items())


def load_model(settings: ModelSettings, root: Path, device: str = "cpu",
               notice: Callable[[str], None] = lambda _: None) -> LoadedModel:
    """The model of ``settings``, wrapped; ``notice`` hears a one-line notice (a Keras model that keeps Keras's
    slower path, and why)."""
    if device == "cuda" and not torch.cuda.is_available():
        raise InputError(f"--device cuda: no CUDA device is available to torch {torch.__version__} here, expected "
                         "a machine with an NVIDIA GPU and a CUDA build of torch; use --device cpu")
    path = (root / settings.path).resolve() if settings.path else DEMO_WEIGHTS
    if is_keras_path(path):  # before is_file: a SavedModel is a folder, refused with its own message
        return _load_keras(settings, path, notice)
    if is_onnx_path(path):
        return _load_onnx(settings, path)
    if not path.is_file():
        raise InputError(f"{path}: model file not found")
    fmt = settings.format
    scale, mean, std, output = settings.input_scale, settings.input_mean, settings.input_std, settings.output
    if fmt == "torchscript" or (fmt == "auto" and _is_torchscript(path)):
        try:
            inner, kind = torch.jit.load(str(path), map_location="cpu"), "TorchScript"
        except Exception as error:
            raise InputError(f"{path}: not a TorchScript file ({error})") from None
    else:
        obj = _torch_load(path, fmt)
        if isinstance(obj, nn.Module):
            if fmt not in ("auto", "module"):
                raise InputError(f"{path}: holds a whole pickled module, but model.format is '{fmt}'")
            inner, kind = obj, "pickled module"
        elif isinstance(obj, dict):
            state, kind = _state_dict_of(obj, settings, path)
            architecture = settings.architecture or obj.get("architecture", "")
            kwargs = settings.kwargs or obj.get("kwargs", {})
            inner = _build_from_state_dict(state, architecture, kwargs, path)
            kind = f"{kind} + {architecture}"
            if not settings.path and isinstance(obj.get("input"), dict):  # the demo checkpoint says how it scales
                scale, mean, std = obj["input"]["scale"], obj["input"]["mean"], obj["input"]["std"]
        else:
            raise InputError(f"{path}: expected a state_dict, a checkpoint dict or a module, found {type(obj).__name__}")
    inner.eval()  # loaded on the CPU: build() moves a copy for the forward-only methods to --device
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    wrapped = _wrap(inner, settings, scale, mean, std, output, Geometry.from_settings(settings))
    check_model(wrapped, path, output)  # in float32, as trained: an error names the student's own model
    in_float64(wrapped)
    return LoadedModel(wrapped, kind, digest, path)


def _wrap(inner: nn.Module, settings: ModelSettings, scale: float, mean: float, std: float, output: str,
          geometry: Geometry) -> NormalisedModel:
    return NormalisedModel(inner, scale, mean, std, output, geometry, settings.normalise,
                           resolve(settings.classes)).eval()


def in_float64(model: NormalisedModel) -> NormalisedModel:
    """The model's weights made float64 in place (COMPUTE_DTYPE), unless it cannot run so (a TorchScript model
    with float32 written into its code, say): then it stays float32, as loaded."""
    model.inner.to(COMPUTE_DTYPE)
    try:
        with torch.inference_mode():
            out = model(torch.full((2, 1, 48, 48), 0.5))
        if out.dtype != COMPUTE_DTYPE or not torch.isfinite(out).all():
            raise ValueError(out.dtype)
    except Exception:  # noqa: BLE001 -- any model that does not take float64: float32 is always correct
        model.inner.to(torch.float32)
    return model


def conv_layers(model: nn.Module) -> list[tuple[str, nn.Module, tuple]]:
    """Every conv layer of the model in forward order (Conv2d; Keras's Conv2D, SeparableConv2D and
    DepthwiseConv2D), with its output shape (channels, height, width) for one 48x48 face, which the wrapper turns
    into the model's own input first. Names are those of the user's own model (inside the normalising wrapper)."""
    return [(conv.name, conv.layer, conv.shape) for conv in conv_listing(model)]


def _load_keras(settings: ModelSettings, path: Path, notice: Callable[[str], None]) -> LoadedModel:
    """A Keras file: its scores are logits or log-probabilities already (KerasModel), and its input shape gives
    the geometry, so model.input_size and input_channels are not needed (and must agree where set). It runs as
    native PyTorch modules where it translates (keras_translate.py), else through Keras."""
    from generator.models.keras_model import load_keras
    from generator.models.keras_translate import native_or_keras
    inner = native_or_keras(load_keras(path), path, notice)
    geometry = _file_geometry(settings, inner.input_shape, path, "Keras")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    wrapped = _wrap(inner, settings, settings.input_scale, settings.input_mean, settings.input_std, "logits",
                    geometry)
    check_model(wrapped, path, "logits")
    return LoadedModel(wrapped, f"Keras model ({path.suffix.lstrip('.')})", digest, path, inner.output_kind)


def _load_onnx(settings: ModelSettings, path: Path) -> LoadedModel:
    """An ONNX graph, under the rules of a Keras file: its input shape gives the geometry, and its scores are
    logits (a final Softmax node skipped) or log-probabilities already."""
    from generator.models.onnx_model import geometry_shape, load_onnx
    inner = load_onnx(path)
    geometry = _file_geometry(settings, geometry_shape(inner), path, "ONNX")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    wrapped = _wrap(inner, settings, settings.input_scale, settings.input_mean, settings.input_std, "logits",
                    geometry)
    check_model(wrapped, path, "logits")
    return LoadedModel(wrapped, "ONNX model", digest, path, inner.output_kind)


def _file_geometry(settings: ModelSettings, shape: tuple, path: Path, kind: str) -> Geometry:
    """The model's own input shape; a size the model leaves open (None) comes from the settings. A setting that
    differs from its default and from the model's shape is a mistake worth one line, not a silent override."""
    configured = Geometry.from_settings(settings)
    height, width = shape[0] or configured.height, shape[1] or configured.width
    channels = shape[2]
    if (configured.height, configured.width) not in ((FACE, FACE), (height, width)):
        raise InputError(f"{path}: model.input_size = {settings.input_size!r}, but the {kind} model takes "
                         f"{height}x{width} images (its input shape {shape}); remove model.input_size, which a "
                         f"{kind} model does not need")
    if configured.channels not in (1, channels):
        raise InputError(f"{path}: model.input_channels = {configured.channels}, but the {kind} model takes "
                         f"{channels} channel(s) (its input shape {shape}); remove model.input_channels, which a "
                         f"{kind} model does not need")
    size = height if height == width else [height, width]
    check_geometry(replace(settings, input_size=size, input_channels=channels),
                   f"{path} (a {kind} model that takes {height}x{width}) model")
    return Geometry(height, width, channels, settings.resize)
