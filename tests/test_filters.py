import numpy as np
import pytest
import torch

from conftest import tiny_model
from generator.errors import InputError
import generator.explain.filters as filters_module
from torch import nn

from generator.explain.chain import conv_chain
from generator.explain.filters import ChannelMean, ascend, feature_maps, find_conv, layer_input
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


def full_conv_mean_and_gradient(layer, inputs, filters):
    """The reference: the whole conv, item b's channel filters[b] averaged, its gradient from autograd."""
    inputs = inputs.clone().requires_grad_(True)
    means = layer(inputs)[torch.arange(len(filters)), filters].mean(dim=(1, 2))
    (gradient,) = torch.autograd.grad(means.sum(), inputs)
    return means.detach(), gradient


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("padding", [0, 1])
def test_channel_mean_and_its_gradient_equal_the_full_convolution(bias, padding):
    torch.manual_seed(1)
    layer = nn.Conv2d(3, 5, 3, padding=padding, bias=bias)
    inputs = torch.rand(4, 3, 10, 12)
    filters = torch.tensor([4, 0, 2, 2])
    channel_mean = ChannelMean(layer, inputs.shape, filters)
    means, gradient = full_conv_mean_and_gradient(layer, inputs, filters)
    assert torch.allclose(channel_mean(inputs), means, atol=1e-5)
    assert torch.allclose(channel_mean.gradient, gradient, atol=1e-5)
    # By hand, item 0 (filter 4), channel 1: with padding 1 the corner pixel is read by outputs (0, 0), (0, 1),
    # (1, 0) and (1, 1) through the kernel's top-left 2 x 2 taps (the others would need output row or column -1);
    # without padding, only by output (0, 0)'s first tap. An interior pixel is read once by every tap.
    w = layer.weight.detach()[4, 1]
    outputs = (10 + 2 * padding - 2) * (12 + 2 * padding - 2)
    corner = w[:2, :2].sum() if padding else w[0, 0]
    assert torch.isclose(channel_mean.gradient[0, 1, 0, 0], corner / outputs, atol=1e-7)
    assert torch.isclose(channel_mean.gradient[0, 1, 5, 6], w.sum() / outputs, atol=1e-7)
    assert not torch.isclose(corner, w.sum(), atol=1e-3)  # the borders differ: the comparison above covers them
    edges = torch.cat([gradient[:, :, 0], gradient[:, :, -1], gradient[:, :, :, 0], gradient[:, :, :, -1]], dim=2)
    assert torch.allclose(torch.cat([channel_mean.gradient[:, :, 0], channel_mean.gradient[:, :, -1],
                                     channel_mean.gradient[:, :, :, 0], channel_mean.gradient[:, :, :, -1]], dim=2),
                          edges, atol=1e-5)


@pytest.mark.parametrize("settings", [dict(stride=2, dilation=2, padding=1, groups=2), dict(padding="same"),
                                      dict(padding=(2, 0), stride=(1, 3))])
def test_channel_mean_follows_stride_dilation_groups_and_same_padding(settings):
    torch.manual_seed(2)
    layer = nn.Conv2d(4, 6, 3, **settings)
    inputs = torch.rand(3, 4, 11, 9)
    filters = torch.tensor([5, 1, 3])
    channel_mean = ChannelMean(layer, inputs.shape, filters)
    means, gradient = full_conv_mean_and_gradient(layer, inputs, filters)
    assert torch.allclose(channel_mean(inputs), means, atol=1e-5)
    assert torch.allclose(channel_mean.gradient, gradient, atol=1e-5)


def test_conv_chain_equals_autograd_through_the_model():
    wrapped = NormalisedModel(tiny_model(), 255.0, 0.5, 0.25, "logits").eval()  # gain 4, shift 2
    _, layer = find_conv(wrapped, "")
    x = torch.rand(5, 1, 48, 48)
    chain = conv_chain(wrapped, wrapped.inner, layer, x)
    assert chain is not None
    filters = torch.tensor([7, 0, 3, 3, 5])
    channel_mean = ChannelMean(layer, (1, layer.in_channels, 48, 48), filters)
    pixels = x.clone().requires_grad_(True)
    expected = layer(layer_input(wrapped, layer, pixels))[torch.arange(5), filters].mean(dim=(1, 2))
    (expected_gradient,) = torch.autograd.grad(expected.sum(), pixels)
    value, gradient = chain.activation_and_gradient(x, channel_mean.gradient, channel_mean.bias)
    assert torch.allclose(value, expected, atol=1e-5)
    assert torch.allclose(gradient, expected_gradient, atol=1e-6)
    assert torch.allclose(chain.layer_input(x).reshape(5, -1, 48, 48), layer_input(wrapped, layer, x), atol=1e-5)


class ShiftedCNN(nn.Module):
    """Adds 0.1 between its modules, which no chain of modules shows."""

    def __init__(self, inner):
        super().__init__()
        self.features = inner.features

    def forward(self, x):
        return self.features[3](self.features[:3](x) + 0.1)


def test_conv_chain_is_refused_where_the_forward_does_more_than_call_modules(wrapped):
    x = torch.rand(2, 1, 48, 48)
    shifted = NormalisedModel(ShiftedCNN(wrapped.inner), 255.0, 0.0, 1.0, "logits").eval()
    assert conv_chain(shifted, shifted.inner, shifted.inner.features[3], x) is None
    # a max-pooling layer before the filter layer: not a chain of conv units
    deeper = NormalisedModel(tiny_model_two_blocks(), 255.0, 0.0, 1.0, "logits").eval()
    name, layer = find_conv(deeper, "features.7")
    assert conv_chain(deeper, deeper.inner, layer, x) is None
    assert conv_chain(wrapped, wrapped.inner, wrapped.inner.features[3], x) is not None


def tiny_model_two_blocks():
    torch.manual_seed(0)
    from generator.models.cnn import FerCNN
    return FerCNN(blocks=[[4, 8], [6]], hidden=8).eval()


def test_ascent_through_the_chain_equals_ascent_through_autograd(wrapped, monkeypatch):
    _, layer = find_conv(wrapped, "")
    by_hand = ascend(wrapped, layer, range(8), steps=20, seed=4)
    monkeypatch.setattr(filters_module, "conv_chain", lambda *args: None)
    by_autograd = ascend(wrapped, layer, range(8), steps=20, seed=4)
    assert np.allclose(by_hand.history, by_autograd.history, atol=1e-4)
    assert np.allclose(by_hand.activation, by_autograd.activation, atol=1e-4)
    assert np.abs(by_hand.images - by_autograd.images).mean() < 1e-3


def test_batched_ascent_equals_each_filter_alone_and_the_objective_rises(wrapped):
    _, layer = find_conv(wrapped, "")
    threads = torch.get_num_threads()
    batched = ascend(wrapped, layer, range(8), steps=30, lr=0.05, seed=3)
    assert torch.get_num_threads() == threads  # ascend runs single-threaded, then restores the caller's setting
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
