"""ONNX models (.onnx) as PyTorch modules: the graph's nodes become torch layers (generator/models/onnx_ops.py)
that run in the graph's order, each named after its node, so the layer names (``python -m generator layers``,
``filters.layer``, ``attribution.gradcam_layer``) are the node names a viewer such as Netron shows.

Written here rather than taken from onnx2torch: onnx2torch imports torchvision when it is imported, and torchvision
from PyPI replaces the pinned CPU torch with a CUDA build. Only the ``onnx`` package is needed, to read the file.

As for Keras models: one image input (N, C, H, W) with 1 or 3 channels, whose sizes give the geometry, and one
output. A final Softmax node is skipped so that the scores are logits; an output that only looks like
probabilities (no Softmax node to skip) is explained on its logarithm.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from generator.errors import InputError
from generator.models import onnx_ops
from generator.models.keras_model import LOG_PROBABILITIES, LOGITS, PROBABILITY_TOLERANCE

INSTALL_EXTRA = 'pip install -e ".[onnx]"'
FILTER_KINDS = ("Conv2d",)


def is_onnx_path(path: Path) -> bool:
    return path.suffix.lower() == ".onnx"


def _import_onnx(path: Path):
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        raise InputError(f"{path}: an ONNX model needs the onnx extra, which is not installed; install it with "
                         f"{INSTALL_EXTRA}") from None
    return onnx, numpy_helper


def load_onnx(path: Path) -> OnnxModel:
    onnx, numpy_helper = _import_onnx(path)
    if not path.is_file():
        raise InputError(f"{path}: model file not found")
    try:
        proto = onnx.load(str(path))
    except Exception as error:  # noqa: BLE001 -- protobuf raises its own DecodeError, or anything
        raise InputError(f"{path}: not an ONNX model ({type(error).__name__}: {error})") from None
    graph = proto.graph
    constants = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in graph.initializer}
    inputs = [value for value in graph.input if value.name not in constants]  # old exports list weights as inputs
    if len(inputs) != 1 or len(graph.output) != 1:
        raise InputError(f"{path}: the ONNX graph has {len(inputs)} input(s) ({', '.join(v.name for v in inputs)}) "
                         f"and {len(graph.output)} output(s), expected one image input and one output of class scores")
    dims = [d.dim_value if d.HasField("dim_value") else None for d in inputs[0].type.tensor_type.shape.dim]
    if len(dims) != 4 or dims[1] not in (1, 3):
        raise InputError(f"{path}: the ONNX graph's input {inputs[0].name!r} has shape {tuple(dims)}, expected "
                         "(batch, channels, height, width) images with 1 (gray) or 3 (RGB) channels")
    nodes, output = list(graph.node), graph.output[0].name
    kind = LOGITS
    if nodes and nodes[-1].op_type == "Softmax" and list(nodes[-1].output) == [output] and \
            sum(output in n.input for n in nodes) == 0:
        output = nodes[-1].input[0]  # the softmax's input: the logits
        nodes = nodes[:-1]
    model = OnnxModel(_convert(nodes, constants, path, numpy_helper), inputs[0].name, output, tuple(dims[1:]))
    return model.eval().with_kind(kind if output != graph.output[0].name else _output_kind(model))


def _attributes(node) -> dict:
    from onnx import helper
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _convert(nodes, constants: dict, path: Path, numpy_helper) -> list:
    """(name, module, input names, output names) per node that computes at run time; Constant nodes are folded."""
    steps, names = [], set()
    for k, node in enumerate(nodes):
        attrs = {key: (value.decode() if isinstance(value, bytes) else value)
                 for key, value in _attributes(node).items()}
        if node.op_type == "Constant":
            constants[node.output[0]] = torch.from_numpy(numpy_helper.to_array(attrs["value"]).copy())
            continue
        name = node.name or f"{node.op_type}_{k}"
        while name in names:
            name += "_"
        names.add(name)
        try:
            module, runtime = _module(node, attrs, constants)
        except (KeyError, ValueError, TypeError, IndexError) as error:
            raise InputError(f"{path}: node {name!r} ({node.op_type}) cannot be converted ({error})") from None
        if module is None:
            raise InputError(f"{path}: node {name!r} is a {node.op_type} operation, which the ONNX loader does not "
                             f"convert (it converts {', '.join(onnx_ops.CONVERTED)})")
        steps.append((name, module, runtime, [n for n in node.output if n][:1]))
    return steps


def _module(node, attrs: dict, constants: dict):
    """The module of one node and the names of its run-time inputs."""
    given = [name for name in node.input]  # "" marks an optional input left out
    const = [constants.get(name) for name in given]
    op = node.op_type
    if op == "Conv":
        return onnx_ops.conv(attrs, const[1], const[2] if len(const) > 2 else None), [given[0]]
    if op == "BatchNormalization":
        return onnx_ops.batch_norm(attrs, *const[1:5]), [given[0]]
    if op in ("MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool"):
        return onnx_ops.pool(op, attrs), [given[0]]
    if op in onnx_ops.ACTIVATIONS:
        return onnx_ops.ACTIVATIONS[op](attrs), [given[0]]
    if op == "Gemm" and const[1] is not None and not attrs.get("transA", 0) and (len(const) < 3 or const[2] is not
                                                                                   None or not given[2]):
        weight = const[1] if attrs.get("transB", 0) else const[1].T
        bias = const[2] if len(const) > 2 and given[2] else None
        alpha, beta = float(attrs.get("alpha", 1.0)), float(attrs.get("beta", 1.0))
        return onnx_ops.linear(weight * alpha, bias * beta if bias is not None else None), [given[0]]
    if op == "MatMul" and const[1] is not None and const[1].ndim == 2 and const[0] is None:
        return onnx_ops.linear(const[1].T, None), [given[0]]
    fn = onnx_ops.function_of(op, attrs)
    if fn is None:
        return None, []
    slots, values, runtime = [], [], []
    for name, value in zip(given, const):
        if not name:
            slots.append(("none", 0))
        elif value is not None:
            slots.append(("constant", len(values)))
            values.append(value)
        else:
            slots.append(("input", len(runtime)))
            runtime.append(name)
    return onnx_ops.Op(op, fn, slots, values), runtime


def _output_kind(model: OnnxModel) -> str:
    probe = torch.rand(4, *[side or 48 for side in model.input_shape], generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        out = model(probe).double()
    looks_like_probabilities = bool((out >= 0).all()) and bool(((out.sum(-1) - 1).abs() < PROBABILITY_TOLERANCE).all())
    return LOG_PROBABILITIES if looks_like_probabilities else LOGITS


class OnnxModel(nn.Module):
    """The graph's nodes in its order, each a torch module named after its node (``named_layers``)."""

    def __init__(self, steps: list, input_name: str, output_name: str, input_shape: tuple):
        super().__init__()
        self.nodes = nn.ModuleList([module for _, module, _, _ in steps])
        self.names = [name for name, _, _, _ in steps]
        self.wiring = [(ins, outs) for _, _, ins, outs in steps]
        self.input_name, self.output_name = input_name, output_name
        self.input_shape = input_shape  # (channels, height, width); None for a size the graph leaves open
        self.output_kind = LOGITS

    def with_kind(self, kind: str) -> OnnxModel:
        self.output_kind = kind
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values = {self.input_name: x}
        for module, (ins, outs) in zip(self.nodes, self.wiring):
            result = module(*[values[name] for name in ins])
            values[outs[0]] = result[0] if isinstance(result, (tuple, list)) else result
        out = values[self.output_name]
        return torch.log(out.clamp_min(1e-12)) if self.output_kind == LOG_PROBABILITIES else out

    def named_layers(self) -> list[tuple[str, nn.Module]]:
        """Each node's module under the node's name, in the graph's order; a padded layer as its layer."""
        return [(name, getattr(module, "layer", module) if isinstance(module, onnx_ops.Padded) else module)
                for name, module in zip(self.names, self.nodes)]

    def layer(self, name: str) -> nn.Module:
        return dict(self.named_layers())[name]

    def default_gradcam_layer(self) -> tuple[str, nn.Module]:
        """As for a PyTorch model: the first ReLU after the last conv, else the last conv."""
        layers = self.named_layers()
        last = max(k for k, (_, m) in enumerate(layers) if isinstance(m, nn.Conv2d))
        after = [(name, m) for name, m in layers[last + 1:] if isinstance(m, nn.ReLU)]
        return after[0] if after else layers[last]

    def weight_layers(self) -> list[tuple[str, nn.Module]]:
        return [(name, m) for name, m in self.named_layers() if isinstance(m, (nn.Conv2d, nn.Linear))][::-1]


def geometry_shape(model: OnnxModel) -> tuple:
    """(height, width, channels), as the Keras geometry rule reads a model's input."""
    channels, height, width = model.input_shape
    return height, width, channels

