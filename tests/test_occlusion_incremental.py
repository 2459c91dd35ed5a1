"""The incremental occlusion path against a naive loop of full forward passes, written here independently."""
import numpy as np
import pytest
import torch
from torch import nn

from generator.config import ModelSettings
from generator.explain import occlusion_incremental as incremental
from generator.explain.occlusion import occlusion
from generator.models.cnn import FerCNN
from generator.models.fast import inference_model
from generator.models.geometry import Geometry
from generator.models.load import NormalisedModel, load_model

from conftest import ROOT, with_random_statistics


def small_deep_cnn(seed: int = 0) -> NormalisedModel:
    torch.manual_seed(seed)
    inner = with_random_statistics(FerCNN(blocks=((4, 4), (6,), (8,)), hidden=8), seed, affine=True)
    return NormalisedModel(inner, 255.0, 0.5, 0.25, "logits").eval()


def naive_heatmap(model, face, target, box, centres, fill):
    """Each box written by hand with explicit clipping; full forward passes, 256 images per call."""
    images = []
    for y in centres:
        for x in centres:
            image = face.copy()
            top, left = max(y - box // 2, 0), max(x - box // 2, 0)
            image[top:max(y - box // 2 + box, 0), left:max(x - box // 2 + box, 0)] = fill  # numpy clips the ends
            images.append(image)
    stack = torch.tensor(np.array(images), dtype=torch.float32)[:, None]
    with torch.inference_mode():
        logits = torch.cat([model(stack[k:k + 256]) for k in range(0, len(stack), 256)])
    return torch.softmax(logits.double(), 1)[:, target].numpy().reshape(len(centres), len(centres))


@pytest.fixture
def face():
    return np.random.default_rng(7).uniform(0, 1, (48, 48))


def test_demo_cnn_question_4_settings(face):
    model = load_model(ModelSettings(), ROOT).model
    assert incremental.prepare(model) is not None
    result = occlusion(model, face, 3, box=15, stride=1, fill=1.0)
    assert np.abs(result.heatmap - naive_heatmap(model, face, 3, 15, range(48), 1.0)).max() < 1e-5
    assert abs(result.baseline - naive_heatmap(model, face, 3, 0, [0], 1.0)[0, 0]) < 1e-5


def test_course_sized_cnn_at_the_borders(face):
    torch.manual_seed(1)
    model = NormalisedModel(with_random_statistics(FerCNN(), 1, affine=True), 255.0, 0.0, 1.0, "logits").eval()
    plan = incremental.prepare(model)
    assert plan is not None
    centres = np.array([0, 1, 6, 24, 41, 46, 47])
    for box, fill in ((15, 1.0), (4, 0.0), (47, 0.5)):
        heatmap, _ = incremental.heatmap(plan, face, 5, centres, box, fill)
        assert np.abs(heatmap - naive_heatmap(model, face, 5, box, centres, fill)).max() < 1e-5, (box, fill)


@pytest.mark.parametrize("box", [15, 4, 47])
@pytest.mark.parametrize("stride", [1, 5])
@pytest.mark.parametrize("fill", [0.0, 0.5, 1.0])
def test_boxes_strides_and_fills(face, box, stride, fill):
    model = small_deep_cnn()
    result = occlusion(model, face, 2, box=box, stride=stride, fill=fill, batch_size=50)
    expected = naive_heatmap(model, face, 2, box, range(0, 48, stride), fill)
    assert result.heatmap.shape == expected.shape
    assert np.abs(result.heatmap - expected).max() < 1e-5


def test_probabilities_output_and_a_sequential_model(face):
    """A student model ending in softmax, given as one nn.Sequential, with its own input normalisation."""
    torch.manual_seed(2)
    inner = with_random_statistics(nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 8, 3, padding=0, bias=False), nn.ReLU(), nn.Dropout(0.5), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(8 * 11 * 11, 7), nn.Softmax(dim=1)), 2, affine=True)
    model = NormalisedModel(inner, 1.0, 0.5, 0.2, "probabilities").eval()
    assert incremental.prepare(model) is not None
    result = occlusion(model, face, 4, box=9, stride=2, fill=0.0)
    assert np.abs(result.heatmap - naive_heatmap(model, face, 4, 9, range(0, 48, 2), 0.0)).max() < 1e-5


class SkipCNN(nn.Module):
    """features and classifier, but the forward adds the input's mean to some scores: not classifier(features(x))."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(4 * 24 * 24, 7))

    def forward(self, x):
        return self.classifier(self.features(x)) + x.mean(dim=(1, 2, 3))[:, None] * torch.arange(7.0)


def strided():
    return nn.Sequential(nn.Conv2d(1, 4, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 24 * 24, 7))


def unknown_layer():
    model = FerCNN(blocks=((4,),), hidden=8)
    model.features[2] = nn.LeakyReLU()  # in place of the ReLU
    return model


def torchscript():
    return torch.jit.script(FerCNN(blocks=((4,),), hidden=8).eval())


@pytest.mark.parametrize("build", [strided, unknown_layer, torchscript, SkipCNN])
def test_other_models_fall_back_and_stay_correct(face, build):
    torch.manual_seed(3)
    model = NormalisedModel(build().eval(), 255.0, 0.0, 1.0, "logits").eval()
    assert incremental.prepare(model) is None
    result = occlusion(model, face, 1, box=15, stride=4, fill=1.0)
    assert np.abs(result.heatmap - naive_heatmap(model, face, 1, 15, range(0, 48, 4), 1.0)).max() < 1e-5


def test_a_sequential_model_runs_layers_after_an_unknown_one_as_the_head(face):
    torch.manual_seed(4)
    inner = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.LeakyReLU(), nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(),
                          nn.Flatten(), nn.Linear(4 * 48 * 48, 7))
    model = NormalisedModel(inner.eval(), 255.0, 0.0, 1.0, "logits").eval()
    plan = incremental.prepare(model)
    assert len(plan.steps) == 1 and isinstance(plan.head[0], nn.LeakyReLU)
    result = occlusion(model, face, 6, box=15, stride=4, fill=1.0)
    assert np.abs(result.heatmap - naive_heatmap(model, face, 6, 15, range(0, 48, 4), 1.0)).max() < 1e-5


def test_a_model_in_training_mode_falls_back():
    model = small_deep_cnn().train()
    assert incremental.prepare(model) is None


def test_batched_model_serves_the_fallback(face):
    """The eager model's architecture is not covered: the batched path runs the model given for it."""
    model = NormalisedModel(strided().eval(), 255.0, 0.0, 1.0, "logits").eval()
    calls = []

    def counting(x):
        calls.append(len(x))
        return model(x)
    occlusion(model, face, 1, box=15, stride=8, batched_model=counting)
    assert sum(calls) == 36 + 1  # every position, and the unoccluded face


@pytest.mark.parametrize("geometry", [Geometry(64, 64, 1), Geometry(48, 48, 3), Geometry(44, 44, 1, "center-crop"),
                                      Geometry(56, 56, 1, "pad")], ids=lambda g: f"{g.input_shape}-{g.resize}")
def test_a_wrapper_that_resizes_or_replicates_takes_the_batched_path(face, geometry):
    """The same covered architecture (a FerCNN chain), built for the geometry's input: with the identity geometry
    the plan takes it; with a resize, a crop, a border or three channels the batched path must, and it must equal
    the naive loop, which calls the wrapper on each occluded 48x48 face."""
    torch.manual_seed(5)
    inner = with_random_statistics(FerCNN(blocks=((4,), (6,)), hidden=8, size=geometry.height), 5, affine=True)
    if geometry.channels == 3:
        inner.features[0] = nn.Conv2d(3, 4, 3, padding=1)
    model = NormalisedModel(inner.eval(), 255.0, 0.5, 0.25, "logits", geometry).eval()
    assert incremental.prepare(model) is None
    plain = with_random_statistics(FerCNN(blocks=((4,), (6,)), hidden=8), 5, affine=True)
    control = NormalisedModel(plain, 255.0, 0.5, 0.25, "logits").eval()
    assert incremental.prepare(control) is not None
    result = occlusion(model, face, 3, box=15, stride=4, fill=1.0, batched_model=inference_model(model))
    assert np.abs(result.heatmap - naive_heatmap(model, face, 3, 15, range(0, 48, 4), 1.0)).max() < 1e-5
