import numpy as np
import pytest
import torch

from conftest import tiny_model
from generator.errors import InputError
from generator.explain.filters import ascend, feature_maps, find_conv, layer_input, own_channel
from generator.models.load import NormalisedModel


@pytest.fixture
def wrapped():
    return NormalisedModel(tiny_model(), 255.0, 0.0, 1.0, "logits").eval()


def test_default_layer_is_the_second_conv_and_bad_names_are_explained(wrapped):
    name, layer = find_conv(wrapped, "")
    assert name == "features.3" and layer.out_channels == 8
    with pytest.raises(InputError, match=r"'features.33': no such layer; did you mean features.3"):
        find_conv(wrapped, "features.33")
    with pytest.raises(InputError, match=r"'features.1': is a BatchNorm2d, expected a Conv2d"):
        find_conv(wrapped, "features.1")


def test_torchscript_model_is_refused_with_a_reason(model):
    scripted = NormalisedModel(torch.jit.script(model), 255.0, 0.0, 1.0, "logits")
    with pytest.raises(InputError, match="TorchScript model does not allow"):
        find_conv(scripted, "")


def test_grouped_own_channel_equals_the_full_convolution(wrapped):
    _, layer = find_conv(wrapped, "")
    x = torch.rand(5, 1, 48, 48)
    inputs = layer_input(wrapped, layer, x)
    filters = torch.tensor([7, 0, 3, 3, 5])
    full = layer(inputs)[torch.arange(5), filters]
    assert torch.allclose(own_channel(layer, inputs, filters), full, atol=1e-5)


def test_batched_ascent_equals_each_filter_alone_and_the_objective_rises(wrapped):
    _, layer = find_conv(wrapped, "")
    batched = ascend(wrapped, layer, range(8), steps=30, lr=0.05, seed=3)
    for f in (0, 5, 7):
        alone = ascend(wrapped, layer, [f], steps=30, lr=0.05, seed=3)
        assert np.allclose(batched.images[f], alone.images[0], atol=1e-4)
        assert np.isclose(batched.activation[f], alone.activation[0], atol=1e-4)
    early, late = batched.history[:3].mean(0), batched.history[-3:].mean(0)
    assert (late > early).all()
    assert batched.images.min() >= 0 and batched.images.max() <= 1


def test_feature_maps_equal_a_manual_forward(wrapped):
    _, layer = find_conv(wrapped, "")
    image = torch.rand(1, 1, 48, 48)
    with torch.no_grad():
        manual = wrapped.inner.features[:4](image * wrapped.gain - wrapped.shift)[0].numpy()
    assert np.allclose(feature_maps(wrapped, layer, image), manual, atol=1e-6)
