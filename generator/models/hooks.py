"""Forward hooks on the user's model, in one place: its inner module, recording what layers receive and return,
and stopping the forward pass at a layer.

Hooks outlive the call that registered them unless removed, and a forgotten one runs on every later forward pass
(Grad-CAM's would keep every batch's activations alive). So every hook here belongs to a context manager, or to a
try/finally in the one function that registers it, and is removed explicitly on the way out, also when the
forward pass raises; nothing relies on garbage collection.

Keras layers (``torch.nn.Module``s under Keras's PyTorch backend) compute channels-last, (N, H, W, C). The methods
see channels-first everywhere: ``channels_first`` is the one adapter, used by every hook here.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Iterable

import torch
from torch import nn


def inner_module(model: nn.Module) -> nn.Module:
    """The user's own model inside the normalising wrapper (``NormalisedModel.inner``), else the model itself.

    Layer names come from it, so they are the names the user gave (``features.3``, not ``inner.features.3``)."""
    return getattr(model, "inner", model)


def _is_keras_layer(module: nn.Module) -> bool:
    keras = sys.modules.get("keras")  # a model can only be a Keras one once keras has been imported
    return keras is not None and isinstance(module, keras.layers.Layer)


def channels_first(module: nn.Module, value):
    """A Keras layer's 4-D image tensor (N, H, W, C) as (N, C, H, W), a view in the autograd graph; anything
    else (a PyTorch layer's tensor, a Keras vector) as it is."""
    if isinstance(value, torch.Tensor) and value.ndim == 4 and _is_keras_layer(module):
        return value.permute(0, 3, 1, 2)
    return value


@dataclass(frozen=True)
class Call:
    module: nn.Module
    input: torch.Tensor | None  # the first positional argument, None for a call without one
    output: object              # the module's return value, as the next layer receives it (channels-first if Keras)


class CallRecorder:
    """While open, records every call of ``modules`` in the order the calls return.

    A module that runs twice in one pass (a shared ReLU, say) is recorded twice. The recorded tensors are the
    ones the forward pass uses, still attached to its autograd graph, so a gradient can be taken with respect to
    an output (Grad-CAM). Use it as ``with CallRecorder(layers) as recorder: model(x)``; the hooks go on entry
    and come off on exit, or earlier with ``release()``. An exception in the forward pass is never swallowed.
    """

    def __init__(self, modules: Iterable[nn.Module]):
        self.modules = list(modules)
        self.calls: list[Call] = []
        self._handles: list = []

    def __enter__(self) -> CallRecorder:
        self._handles = [module.register_forward_hook(self._record) for module in self.modules]
        return self

    def __exit__(self, *_exception) -> None:
        self.release()

    def release(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _record(self, module: nn.Module, args: tuple, output):  # returning None leaves the output as is
        recorded = channels_first(module, output)
        self.calls.append(Call(module, channels_first(module, args[0]) if args else None, recorded))
        if recorded is not output:
            # The model goes on from the recorded channels-first tensor, not from a copy of it: a gradient with
            # respect to what was recorded (Grad-CAM's) needs the scores to be computed from it.
            return recorded.permute(0, 2, 3, 1)
        return None

    def outputs(self, module: nn.Module) -> list:
        """What ``module`` returned, one entry per call, in call order."""
        return [call.output for call in self.calls if call.module is module]


class ReachedLayer(BaseException):
    """Raised by a pre-hook to stop the forward pass once a layer's input is known. A BaseException, so a model
    whose forward catches ``Exception`` cannot swallow it and run on."""


def input_of(model: nn.Module, layer: nn.Module, x: torch.Tensor) -> torch.Tensor | None:
    """The tensor that reaches ``layer`` when ``x`` goes through ``model``, or None when the forward pass never
    calls ``layer``. Nothing from ``layer`` on runs, because the methods that ask need only the front of the model
    (filter ascent runs it at every step). Gradients flow as the caller's grad mode allows."""
    return _stop_at(model, layer, x, before=True)


def output_of(model: nn.Module, layer: nn.Module, x: torch.Tensor) -> torch.Tensor | None:
    """What ``layer`` returns when ``x`` goes through ``model`` (channels-first for a Keras layer), or None when
    the forward pass never calls it. Nothing after the layer runs: question 2's ascent of a Keras conv needs only
    the front of the model, at every step. Gradients flow as the caller's grad mode allows."""
    return _stop_at(model, layer, x, before=False)


def _stop_at(model: nn.Module, layer: nn.Module, x: torch.Tensor, before: bool) -> torch.Tensor | None:
    """Run ``x`` through ``model`` until ``layer``'s input (``before``) or output is known; channels-first."""
    reached = []

    def stop(_module, args, output=None):
        reached.append(channels_first(layer, args[0] if before else output))
        raise ReachedLayer

    handle = layer.register_forward_pre_hook(stop) if before else layer.register_forward_hook(stop)
    try:
        model(x)
    except ReachedLayer:
        pass
    finally:
        handle.remove()
    return reached[0] if reached else None
