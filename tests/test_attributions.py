"""Our SmoothGrad, Integrated Gradients and Grad-CAM against Captum on the same model and inputs."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from conftest import tiny_model
from generator.explain.attributions import (default_gradcam_layer, gradcam, gradcam_raw, integrated_gradients,
                                            integrated_gradients_raw, smoothgrad, smoothgrad_raw)
from generator.explain.saliency import normalise
from generator.models.geometry import Geometry
from generator.models.load import NormalisedModel


@pytest.fixture
def wrapped():
    return NormalisedModel(tiny_model(), 255.0, 0.0, 1.0, "logits").eval()


@pytest.fixture
def batch():
    torch.manual_seed(11)
    return torch.rand(3, 1, 48, 48), torch.tensor([0, 3, 6])


def test_smoothgrad_mean_gradient_equals_captum_noise_tunnel(wrapped, batch):
    """Same noise: our generator seeded 5 draws what Captum draws from the global generator seeded 5."""
    from captum.attr import NoiseTunnel, Saliency
    images, targets = batch
    ours = smoothgrad_raw(wrapped, images, targets, samples=6, noise=0.2, seed=5)
    torch.manual_seed(5)
    theirs = NoiseTunnel(Saliency(wrapped)).attribute(images, nt_type="smoothgrad", nt_samples=6, stdevs=0.2,
                                                     target=targets, abs=False)
    assert torch.allclose(ours, theirs, atol=1e-5)
    # Captum's usual SmoothGrad averages |gradient|; ours averages first (the paper). They differ, and ours is
    # the absolute value of the averaged gradient:
    torch.manual_seed(5)
    abs_first = NoiseTunnel(Saliency(wrapped)).attribute(images, nt_type="smoothgrad", nt_samples=6, stdevs=0.2,
                                                        target=targets, abs=True)
    assert not torch.allclose(ours.abs(), abs_first, atol=1e-5)
    expected = normalise(ours.abs()[:, 0].numpy().astype(np.float64))
    assert np.allclose(smoothgrad(wrapped, images, targets, samples=6, noise=0.2, seed=5), expected)


@pytest.mark.parametrize("baseline", ["black", 0.5])
def test_integrated_gradients_equal_captum_riemann_middle(wrapped, batch, baseline):
    from captum.attr import IntegratedGradients
    images, targets = batch
    ours = integrated_gradients_raw(wrapped, images, targets, baseline=baseline, steps=20)
    base = torch.zeros_like(images) if baseline == "black" else torch.full_like(images, 0.5)
    theirs = IntegratedGradients(wrapped).attribute(images, baselines=base, target=targets, n_steps=20,
                                                    method="riemann_middle")
    assert torch.allclose(ours, theirs, atol=1e-5)
    assert integrated_gradients(wrapped, images, targets, baseline, 20).shape == (3, 48, 48)


def test_integrated_gradients_complete_to_the_score_difference(wrapped, batch):
    """Completeness: the attributions sum to score(x) - score(baseline), up to the Riemann error."""
    images, targets = batch
    attribution = integrated_gradients_raw(wrapped, images, targets, "black", steps=200)
    with torch.no_grad():
        gap = (wrapped(images) - wrapped(torch.zeros_like(images))).gather(1, targets.view(-1, 1))[:, 0]
    assert torch.allclose(attribution.sum(dim=(1, 2, 3)), gap, rtol=0.02, atol=1e-3)


def test_gradcam_equals_captum_layer_gradcam(wrapped, batch):
    from captum.attr import LayerAttribution, LayerGradCam
    images, targets = batch
    name, layer = default_gradcam_layer(wrapped)
    assert name == "features.5" and isinstance(layer, torch.nn.ReLU)  # the rectified maps of the last conv
    ours = gradcam_raw(wrapped, layer, images, targets)
    theirs = LayerGradCam(wrapped, layer).attribute(images, target=targets, relu_attributions=True)
    assert torch.allclose(ours, theirs, atol=1e-5)
    up = LayerAttribution.interpolate(theirs, (48, 48), "bilinear")[:, 0].detach().numpy().astype(np.float64)
    assert np.allclose(gradcam(wrapped, images, targets, layer), normalise(up), atol=1e-5)


@pytest.mark.parametrize("geometry", [Geometry(64, 64, 3), Geometry(44, 40, 1, "center-crop"),
                                      Geometry(56, 61, 1, "pad")], ids=lambda g: f"{g.input_shape}-{g.resize}")
def test_gradcam_through_a_geometry_is_drawn_on_the_48x48_face(batch, geometry):
    """Captum's Grad-CAM on the model's own input (resized, cropped or padded here by hand), upsampled to that
    input and laid over the face: ours, from the 48x48 faces through the wrapper, must be the same map."""
    from captum.attr import LayerAttribution, LayerGradCam
    images, targets = batch
    torch.manual_seed(12)
    channels, height, width = geometry.input_shape
    inner = nn.Sequential(nn.Conv2d(channels, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(4, 6, 3, padding=1), nn.ReLU(), nn.Flatten(),
                          nn.Linear(6 * (height // 2) * (width // 2), 7)).eval()
    model = NormalisedModel(inner, 255.0, 0.5, 0.25, "logits", geometry).eval()
    on_input = NormalisedModel(inner, 255.0, 0.5, 0.25, "logits").eval()  # takes the model's input as it is
    layer = inner[4]
    if geometry.resize == "center-crop":  # rows 2..45 and columns 4..43 of the face: offsets (48 - size) // 2
        model_input = images[..., 2:46, 4:44]
    elif geometry.resize == "pad":  # 4 rows of black above and below; 6 columns left, 7 right (the odd one)
        model_input = F.pad(images, (6, 7, 4, 4))
    else:
        model_input = F.interpolate(images, size=(64, 64), mode="bilinear").expand(-1, 3, -1, -1)
    theirs = LayerGradCam(on_input, layer).attribute(model_input, target=targets, relu_attributions=True)
    up = LayerAttribution.interpolate(theirs, (height, width), "bilinear")[:, 0]
    if geometry.resize == "center-crop":  # the parts of the face the crop cut away get 0
        expected = torch.zeros(len(images), 48, 48)
        expected[:, 2:46, 4:44] = up
    elif geometry.resize == "pad":
        expected = up[:, 4:52, 6:54]
    else:  # the input spans the face: straight from the layer to 48x48
        expected = LayerAttribution.interpolate(theirs, (48, 48), "bilinear")[:, 0]
    ours = gradcam(model, images, targets, layer)
    assert ours.shape == (3, 48, 48)
    assert np.abs(ours - normalise(expected.detach().numpy().astype(np.float64))).max() < 1e-5
