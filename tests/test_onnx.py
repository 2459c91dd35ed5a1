"""ONNX models built here with the onnx package's helper API (no exporter), loaded through load_model: their
logits against onnxruntime's, Grad-CAM through a named node against a hand computation, and the one-line
errors."""
from pathlib import Path

import numpy as np
import pytest
import torch

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from generator.config import ModelSettings  # noqa: E402
from generator.errors import InputError  # noqa: E402
from generator.explain.attributions import gradcam_raw  # noqa: E402
from generator.explain.filters import find_conv  # noqa: E402
from generator.models import layers  # noqa: E402
from generator.models.load import load_model  # noqa: E402

RNG = np.random.default_rng(0)


def _init(name, shape, scale=0.3):
    return numpy_helper.from_array((RNG.normal(0, scale, shape)).astype(np.float32), name)


def fer_graph(path: Path, softmax: bool = True, side: int = 48, channels: int = 1, outputs: int = 7,
              batch="N") -> Path:
    """Conv (uneven pads) -> BatchNorm -> Relu -> MaxPool -> Conv -> LeakyRelu -> GlobalAveragePool -> Flatten ->
    Gemm -> Dropout -> [Softmax]; a Constant-fed Mul and Add on the way, as exporters write them."""
    nodes = [
        helper.make_node("Mul", ["image", "two"], ["scaled"], name="scale"),
        helper.make_node("Conv", ["scaled", "w1", "b1"], ["c1"], name="conv1", kernel_shape=[3, 3],
                         pads=[1, 1, 2, 2], strides=[1, 1]),
        helper.make_node("BatchNormalization", ["c1", "g1", "beta1", "m1", "v1"], ["n1"], name="bn1", epsilon=1e-5),
        helper.make_node("Relu", ["n1"], ["r1"], name="relu1"),
        helper.make_node("MaxPool", ["r1"], ["p1"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p1", "w2"], ["c2"], name="conv2", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("LeakyRelu", ["c2"], ["r2"], name="relu2", alpha=0.1),
        helper.make_node("GlobalAveragePool", ["r2"], ["gap"], name="gap"),
        helper.make_node("Flatten", ["gap"], ["flat"], name="flatten", axis=1),
        helper.make_node("Gemm", ["flat", "wf", "bf"], ["fc"], name="fc", transB=1),
        helper.make_node("Dropout", ["fc"], ["logits"], name="drop"),
    ]
    if softmax:
        nodes.append(helper.make_node("Softmax", ["logits"], ["scores"], name="softmax", axis=1))
    inits = [numpy_helper.from_array(np.array(2.0, np.float32), "two"), _init("w1", (4, channels, 3, 3)),
             _init("b1", (4,), 0.1), _init("g1", (4,), 0.2), _init("beta1", (4,), 0.1), _init("m1", (4,), 0.1),
             numpy_helper.from_array(RNG.uniform(0.5, 1.5, 4).astype(np.float32), "v1"),
             _init("w2", (6, 4, 3, 3)), _init("wf", (outputs, 6)), _init("bf", (outputs,), 0.1)]
    graph = helper.make_graph(
        nodes, "fer", [helper.make_tensor_value_info("image", TensorProto.FLOAT, [batch, channels, side, side])],
        [helper.make_tensor_value_info("scores" if softmax else "logits", TensorProto.FLOAT, [batch, outputs])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def _runtime_logits(path: Path, x: np.ndarray, output: str) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    proto = onnx.load(str(path))
    if output != proto.graph.output[0].name:  # ask onnxruntime for the softmax's input as well
        proto.graph.output.append(helper.make_tensor_value_info(output, TensorProto.FLOAT, None))
        session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run([output], {"image": x})[0]


@pytest.mark.parametrize("softmax", [True, False])
def test_logits_equal_onnxruntime(tmp_path, softmax):
    path = fer_graph(tmp_path / "fer.onnx", softmax=softmax)
    loaded = load_model(ModelSettings(path="fer.onnx"), tmp_path)
    assert loaded.description == "ONNX model" and loaded.keras_output == "logits"
    faces = torch.rand(5, 1, 48, 48, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        ours = loaded.model(faces).numpy()
    expected = _runtime_logits(path, faces.numpy(), "logits")  # the default scaling: the faces as they are
    assert np.abs(ours - expected).max() < 1e-5


def test_layer_names_are_node_names_everywhere(tmp_path):
    fer_graph(tmp_path / "fer.onnx")
    model = load_model(ModelSettings(path="fer.onnx"), tmp_path).model
    assert [name for name, _ in layers.convs(model)] == ["conv1", "conv2"]
    assert find_conv(model, "conv1")[0] == "conv1"
    assert find_conv(model, "relu1", gradcam=True)[0] == "relu1"
    assert layers.default_gradcam_layer(model)[0] == "conv2"  # a LeakyRelu, not a ReLU, follows the last conv
    with pytest.raises(InputError, match="'relu1': is a ReLU, expected a Conv2d"):
        find_conv(model, "relu1")


def test_gradcam_through_a_named_node_equals_a_hand_computation(tmp_path):
    """Grad-CAM at relu2, whose maps reach the scores through a global average and a Gemm: the gradient of
    score c at every position is W[c, k] / (h * w), so the weights are that and the map is ReLU(sum_k w_k A_k)."""
    fer_graph(tmp_path / "fer.onnx", softmax=False)
    model = load_model(ModelSettings(path="fer.onnx"), tmp_path).model
    layer = layers.layer_named(model, "relu2")
    faces = torch.rand(3, 1, 48, 48, generator=torch.Generator().manual_seed(2))
    targets = torch.tensor([0, 3, 6])
    cam = gradcam_raw(model, layer, faces, targets)
    proto = onnx.load(str(tmp_path / "fer.onnx"))
    wf = numpy_helper.to_array(next(t for t in proto.graph.initializer if t.name == "wf"))
    activations = _runtime_logits(tmp_path / "fer.onnx", faces.numpy(), "r2")  # (3, 6, 24, 24), from onnxruntime
    area = activations.shape[2] * activations.shape[3]
    weights = wf[targets.numpy()] / area  # (3, 6)
    expected = np.maximum((weights[:, :, None, None] * activations).sum(axis=1, keepdims=True), 0)
    assert cam.shape == (3, 1, 24, 24)
    assert np.abs(cam.numpy() - expected).max() < 1e-5 * max(1.0, float(np.abs(expected).max()))


def test_geometry_comes_from_the_graph(tmp_path):
    fer_graph(tmp_path / "rgb64.onnx", side=64, channels=3, batch=1)  # a batch-1 export, as many are
    loaded = load_model(ModelSettings(path="rgb64.onnx"), tmp_path)
    assert loaded.model.geometry.input_shape == (3, 64, 64)
    faces = torch.rand(4, 1, 48, 48)
    with torch.inference_mode():
        assert loaded.model(faces).shape == (4, 7)
    with pytest.raises(InputError, match="model.input_channels = 1, but|model.input_size = 44, but the ONNX model"):
        load_model(ModelSettings(path="rgb64.onnx", input_size=44, resize="center-crop"), tmp_path)


def test_an_eight_output_graph_with_contempt_dropped(tmp_path):
    fer_graph(tmp_path / "ferplus.onnx", outputs=8, softmax=False)
    names = ["neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt"]
    loaded = load_model(ModelSettings(path="ferplus.onnx", classes=names), tmp_path)
    faces = torch.rand(3, 1, 48, 48)
    raw = _runtime_logits(tmp_path / "ferplus.onnx", faces.numpy(), "logits")
    with torch.inference_mode():
        ours = loaded.model(faces).numpy()
    fer_order = [4, 5, 6, 1, 3, 2, 0]  # angry disgust fear happy sad surprise neutral in FER+'s order
    assert np.abs(ours - raw[:, fer_order]).max() < 1e-5


def test_errors(tmp_path):
    graph = helper.make_graph(
        [helper.make_node("Add", ["a", "b"], ["c"], name="add")], "two",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 1, 48, 48]) for n in "ab"],
        [helper.make_tensor_value_info("c", TensorProto.FLOAT, [1, 1, 48, 48])])
    onnx.save(helper.make_model(graph), tmp_path / "two.onnx")
    with pytest.raises(InputError, match=r"two.onnx: the ONNX graph has 2 input\(s\) \(a, b\) and 1 output"):
        load_model(ModelSettings(path="two.onnx"), tmp_path)
    graph = helper.make_graph(
        [helper.make_node("Resize", ["x"], ["y"], name="up"), helper.make_node("Flatten", ["y"], ["z"])], "odd",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 48, 48])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 2304])])
    onnx.save(helper.make_model(graph), tmp_path / "odd.onnx")
    with pytest.raises(InputError, match="odd.onnx: node 'up' is a Resize operation, which the ONNX loader does "
                                         "not convert"):
        load_model(ModelSettings(path="odd.onnx"), tmp_path)
    (tmp_path / "bad.onnx").write_bytes(b"not a graph at all")
    with pytest.raises(InputError, match="bad.onnx: not an ONNX model"):
        load_model(ModelSettings(path="bad.onnx"), tmp_path)


def test_without_the_extra_one_line_names_it(tmp_path, monkeypatch):
    import builtins
    real = builtins.__import__

    def no_onnx(name, *args, **kwargs):
        if name == "onnx" or name.startswith("onnx."):
            raise ImportError(f"No module named {name!r}")
        return real(name, *args, **kwargs)

    fer_graph(tmp_path / "fer.onnx")
    monkeypatch.setattr(builtins, "__import__", no_onnx)
    with pytest.raises(InputError, match=r'fer.onnx: an ONNX model needs the onnx extra, which is not installed; '
                                         r'install it with pip install -e "\.\[onnx\]"'):
        load_model(ModelSettings(path="fer.onnx"), tmp_path)
