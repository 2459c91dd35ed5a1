"""A Keras model inside the generator: loaded through load_model, its layers found by their Keras names for Grad-CAM
and question 2, and the randomisation check run on it. References: the same network written in PyTorch (the demo
CNN and its Keras twin), Keras sub-models, and a plain F.conv2d."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

if importlib.util.find_spec("keras") is None:
    pytest.skip('keras is not installed: pip install -e ".[keras]"', allow_module_level=True)

from generator.config import ModelSettings  # noqa: E402
from generator.data import synth  # noqa: E402
from generator.errors import InputError  # noqa: E402
from generator.explain.attributions import gradcam, module_named  # noqa: E402
from generator.explain.filters import ascend, feature_maps, find_conv  # noqa: E402
from generator.explain.saliency import normalise, saliency  # noqa: E402
from generator.explain.sanity import cascading_randomisation, weight_layers  # noqa: E402
from generator.models.load import load_model  # noqa: E402
from keras_models import NUMPY2_WARNING, functional_model, keras, keras_twin, sequential_model  # noqa: E402
from test_trust import edge_detector  # noqa: E402

pytestmark = pytest.mark.filterwarnings(NUMPY2_WARNING)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """The demo CNN's Keras twin, the Sequential at 48x48 and the functional model at 64x64, saved."""
    out = tmp_path_factory.mktemp("keras")
    keras_twin(load_model(ModelSettings(), Path(".")).model.inner).save(out / "demo.keras")
    sequential_model().save(out / "sequential.keras")
    functional_model().save(out / "functional.h5")
    return out


def _load(folder, name, **settings):
    return load_model(ModelSettings(path=name, **settings), folder).model


@pytest.fixture(scope="module")
def faces():
    images, labels, _ = synth.render_dataset(0, [49, 99, 59])  # angry, disgust, happy validation faces
    return torch.from_numpy(images.astype(np.float32) / 255)[:, None], torch.from_numpy(labels)


def test_the_keras_twin_of_the_demo_cnn_gives_its_logits(folder, faces):
    demo = load_model(ModelSettings(), Path(".")).model
    twin = _load(folder, "demo.keras")
    with torch.inference_mode():
        gap = (twin(faces[0]) - demo(faces[0])).abs().max()
    assert float(gap) < 1e-4  # the Dense softmax was opened: logits, not probabilities


def test_randomisation_fails_an_edge_detector_and_passes_saliency_on_a_keras_model(folder, faces):
    images, labels = faces
    twin = _load(folder, "demo.keras")
    before = twin(images).detach()
    results = cascading_randomisation(twin, {"edges": edge_detector, "saliency": saliency}, images, labels, seed=0)
    assert results["edges"].layers == ["predictions", "fc", "conv11", "conv7", "conv3", "conv0"]
    assert results["edges"].layers == [name for name, _ in weight_layers(twin)]
    assert np.allclose(results["edges"].spearman, 1.0) and not results["edges"].passed
    assert results["saliency"].passed and results["saliency"].final_spearman < 0.5
    torch.testing.assert_close(twin(images).detach(), before)  # the randomised model was a copy


def test_gradcam_on_a_keras_layer_by_name_equals_a_keras_submodel_on_the_resized_face(folder, faces):
    model = _load(folder, "functional.h5")  # 64x64: the wrapper scales the 48x48 face up first
    images, labels = faces
    name, layer = find_conv(model, "sep", gradcam=True)
    assert layer is module_named(model, "sep")
    ours = gradcam(model, images, labels, layer)

    reference = keras.saving.load_model(folder / "functional.h5", compile=False)
    reference.trainable = False
    sub = keras.Model(reference.inputs, [reference.get_layer("sep").output, reference.get_layer("gap").output])
    resized = F.interpolate(images, size=(64, 64), mode="bilinear", align_corners=False)
    x = resized.permute(0, 2, 3, 1).contiguous().requires_grad_(True)
    activations, logits = sub(x, training=False)  # the logits: the input of the separate softmax layer
    (grads,) = torch.autograd.grad(logits.gather(1, labels.view(-1, 1)).sum(), activations)
    cam = torch.relu((grads.mean(dim=(1, 2), keepdim=True) * activations).sum(dim=-1, keepdim=True))
    expected = F.interpolate(cam.permute(0, 3, 1, 2).detach(), size=(48, 48), mode="bilinear")[:, 0]
    expected = normalise(expected.numpy().astype(np.float64))
    assert float(np.abs(expected).max()) > 0
    np.testing.assert_allclose(ours, expected, atol=1e-4)


def test_question2_on_a_keras_conv_ascends_its_own_response_before_its_relu(folder, faces):
    model = _load(folder, "sequential.keras")
    name, layer = find_conv(model, "c1")  # Conv2D(8, 3, padding="same", activation="relu")
    result = ascend(model, layer, range(8), steps=15, seed=0)
    kernel = torch.from_numpy(keras.ops.convert_to_numpy(layer.kernel)).permute(3, 2, 0, 1)
    bias = torch.from_numpy(keras.ops.convert_to_numpy(layer.bias))
    images = torch.from_numpy(result.images).float()[:, None]
    own = F.conv2d(images, kernel, bias, padding=1)  # before the ReLU; the wrapper's scaling is 1 here
    np.testing.assert_allclose(result.activation, own[torch.arange(8), torch.arange(8)].mean(dim=(1, 2)),
                               atol=1e-5)
    assert (result.history[-1] > result.history[0]).sum() >= 6  # the ascent raises most filters
    maps = feature_maps(model, layer, faces[0][:1])
    expected = F.conv2d(faces[0][:1], kernel, bias, padding=1)[0].numpy()
    np.testing.assert_allclose(maps, expected, atol=1e-5)
    assert maps.min() < 0  # the filters' own response, not the rectified output
    assert layer.activation.__name__ == "relu"  # restored after


def test_question2_on_a_separable_conv_uses_its_pointwise_channels(folder):
    model = _load(folder, "functional.h5")
    name, layer = find_conv(model, "")  # the second conv of the model: "sep"
    assert name == "sep"
    result = ascend(model, layer, range(16), steps=3, seed=0)
    reference = keras.saving.load_model(folder / "functional.h5", compile=False)
    sub = keras.Model(reference.inputs, reference.get_layer("sep").output)
    resized = F.interpolate(torch.from_numpy(result.images).float()[:, None], size=(64, 64), mode="bilinear")
    with torch.inference_mode():
        out = sub(resized.permute(0, 2, 3, 1).contiguous(), training=False)  # (16, 64, 64, 16)
    expected = out[torch.arange(16), :, :, torch.arange(16)].mean(dim=(1, 2))
    np.testing.assert_allclose(result.activation, expected.numpy(), atol=1e-5)


def test_keras_layer_names_in_errors(folder):
    model = _load(folder, "sequential.keras")
    with pytest.raises(InputError, match=r"'bn1': is a BatchNormalization, expected a Conv2D or SeparableConv2D or "
                                         r"DepthwiseConv2D"):
        find_conv(model, "bn1")
    with pytest.raises(InputError, match=r"'c3': no such layer; conv layers: c1, c2"):
        find_conv(model, "c3")
    assert find_conv(model, "relu2", gradcam=True)[0] == "relu2"


@pytest.mark.parametrize("settings, expected", [
    ({"input_size": 100}, r"model\.input_size = 100, but the Keras model takes 64x64 images .*remove model\."
                          r"input_size"),
    ({"input_channels": 3}, r"model\.input_channels = 3, but the Keras model takes 1 channel"),
    ({"resize": "center-crop"}, r"\(a Keras model that takes 64x64\) model: resize = 'center-crop' with "
                                r"input_size = 64: expected a size of at most 48"),
])
def test_geometry_settings_that_disagree_with_the_keras_model(folder, settings, expected):
    with pytest.raises(InputError, match=expected):
        _load(folder, "functional.h5", **settings)


def test_geometry_comes_from_the_keras_model(folder):
    model = _load(folder, "functional.h5", input_size=64)  # agreeing is allowed
    assert (model.geometry.height, model.geometry.width, model.geometry.channels) == (64, 64, 1)
    assert model.output == "logits"
