"""The model's input geometry (model.input_size, input_channels, resize): the face becomes the model's input inside
the wrapper, and every method still works on the 48x48 face.

References: PIL's own bilinear resize, numpy slicing and padding, autograd on an input resized explicitly, the
wrapper's own forward pass, and whole builds through the command line."""
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from conftest import QUICK, TINY_KWARGS, quick_tables, run_cli, tiny_model, with_random_statistics, write_project
from generator.errors import InputError
from generator.explain.chain import conv_chain
from generator.explain.filters import ascend, feature_maps
from generator.explain.saliency import gradients
from generator.models.check import check_model
from generator.models.cnn import FerCNN
from generator.models.fast import inference_model
from generator.models.geometry import Geometry
from generator.models.hooks import CallRecorder
from generator.models.load import NormalisedModel

GEOMETRIES = [Geometry(64, 64, 3), Geometry(32, 40, 1), Geometry(44, 44, 1, "center-crop"),
              Geometry(45, 47, 3, "center-crop"), Geometry(56, 61, 1, "pad")]
IDS = [f"{g.channels}x{g.height}x{g.width}-{g.resize}" for g in GEOMETRIES]


def small_model(geometry: Geometry, seed: int = 0, dtype=torch.float32) -> NormalisedModel:
    """A conv/BatchNorm/ReLU/pool CNN built for the geometry's input (its Linear fixes the size), wrapped with a
    scaling that is not the identity."""
    torch.manual_seed(seed)
    channels, height, width = geometry.input_shape
    inner = with_random_statistics(nn.Sequential(
        nn.Conv2d(channels, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(6 * (height // 2) * (width // 2), 7)), seed)
    return NormalisedModel(inner.to(dtype), 255.0, 0.5, 0.25, "logits", geometry).eval()


def faces(count: int = 3, seed: int = 0, dtype=torch.float32) -> torch.Tensor:
    return torch.rand(count, 1, 48, 48, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def rgb64_model() -> nn.Module:
    torch.manual_seed(0)
    model = FerCNN(**TINY_KWARGS, size=64)
    model.features[0] = nn.Conv2d(3, 4, 3, padding=1, bias=False)
    return with_random_statistics(model, 0)


def crop44_model() -> nn.Module:
    torch.manual_seed(0)
    return with_random_statistics(FerCNN(**TINY_KWARGS, size=44), 0)


def test_the_default_geometry_adds_no_step():
    """48x48 and one channel: the wrapper computes exactly the scaled model, bit for bit, whatever the resize."""
    for geometry in (Geometry(), Geometry(48, 48, 1, "center-crop"), Geometry(48, 48, 1, "pad")):
        assert geometry.is_identity
        model = small_model(geometry)
        x = faces()
        with torch.no_grad():
            assert torch.equal(model(x), model.inner(x * model.gain - model.shift))


@pytest.mark.parametrize("geometry", [Geometry(64, 64, 1), Geometry(32, 40, 1), Geometry(224, 100, 1)],
                         ids=["up", "down", "up-and-down"])
def test_bilinear_resize_equals_pil(geometry):
    """PIL's bilinear resize (antialiased when it shrinks), on the float face."""
    face = np.random.default_rng(1).random((48, 48)).astype(np.float32)
    ours = geometry.apply(torch.from_numpy(face)[None, None])[0, 0].numpy()
    pil = np.asarray(Image.fromarray(face, mode="F").resize((geometry.width, geometry.height), Image.BILINEAR))
    assert ours.shape == (geometry.height, geometry.width)
    assert np.abs(ours - pil).max() < 1e-5


def test_crop_pad_and_channels_equal_numpy():
    face = np.random.default_rng(2).random((48, 48)).astype(np.float32)
    x = torch.from_numpy(face)[None, None]
    crop = Geometry(45, 40, 3, "center-crop").apply(x)[0].numpy()
    assert crop.shape == (3, 45, 40) and all(np.array_equal(c, face[1:46, 4:44]) for c in crop)
    padded = Geometry(56, 61, 1, "pad").apply(x)[0, 0].numpy()  # the odd pixel of a border goes right and down
    assert np.array_equal(padded, np.pad(face, ((4, 4), (6, 7))))


def test_labels_are_laid_over_the_model_input_like_the_face():
    labels = np.arange(48 * 48).reshape(48, 48)
    assert np.array_equal(Geometry(64, 64, 3).labels_on_input(labels, -1), labels)  # spans the face
    assert np.array_equal(Geometry(45, 40, 1, "center-crop").labels_on_input(labels, -1), labels[1:46, 4:44])
    padded = Geometry(56, 61, 1, "pad").labels_on_input(labels, -1)
    assert padded.shape == (56, 61) and np.array_equal(padded[4:52, 6:54], labels)
    assert (padded == -1).sum() == 56 * 61 - 48 * 48


def _resize_matrix(geometry: Geometry) -> torch.Tensor:
    """The geometry as a matrix R (2304, C * h * w) with input = face @ R: each row the image of one basis face."""
    basis = torch.eye(48 * 48, dtype=torch.float64).reshape(-1, 1, 48, 48)
    return geometry.apply(basis).reshape(48 * 48, -1)


@pytest.mark.parametrize("geometry", GEOMETRIES, ids=IDS)
def test_saliency_through_the_geometry_equals_autograd_on_the_explicitly_resized_input(geometry):
    """d score / d face = R (d score / d input): autograd on the input made by hand, pulled back by the matrix."""
    model = small_model(geometry, dtype=torch.float64)
    x, targets = faces(dtype=torch.float64), torch.tensor([0, 3, 6])
    resize = _resize_matrix(geometry)
    model_input = (x.reshape(len(x), -1) @ resize).reshape(len(x), *geometry.input_shape).requires_grad_(True)
    scores = model.inner(model_input * model.gain - model.shift).gather(1, targets.view(-1, 1)).sum()
    (on_input,) = torch.autograd.grad(scores, model_input)
    expected = (on_input.reshape(len(x), -1) @ resize.T).reshape(x.shape)
    ours = gradients(model, x, targets)
    assert ours.shape == x.shape
    assert torch.allclose(ours, expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("geometry", GEOMETRIES, ids=IDS)
def test_the_fast_path_traces_the_geometry(geometry):
    model = small_model(geometry)
    fast = inference_model(model, notice=lambda line: pytest.fail(line))
    assert isinstance(fast, torch.jit.ScriptModule)
    x = faces(3, seed=4)
    with torch.no_grad():
        assert (fast(x) - model(x)).abs().max() < 1e-4


class BakedBatch(nn.Module):
    """A forward that turns the batch size into a Python int: a trace keeps the example's size."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.LazyLinear(7))

    def forward(self, x):
        return self.net(x) + torch.zeros(int(x.shape[0]), 7)


def test_a_geometry_model_the_tracer_cannot_take_falls_back_with_a_notice():
    inner = BakedBatch()
    inner(torch.zeros(1, 3, 64, 64))  # materialises the lazy layer
    model = NormalisedModel(inner.eval(), 255.0, 0.0, 1.0, "logits", Geometry(64, 64, 3)).eval()
    notices = []
    assert inference_model(model, notices.append) is model
    assert len(notices) == 1 and notices[0].startswith("fast inference path unavailable")


def test_question_2_ascends_the_face_and_shows_the_layer_at_its_own_resolution():
    model = NormalisedModel(rgb64_model(), 255.0, 0.5, 0.25, "logits", Geometry(64, 64, 3)).eval()
    layer = model.inner.features[3]  # the second conv, straight after conv, BatchNorm, ReLU
    assert conv_chain(model, model.inner, layer, faces(2)) is None  # the hand-run chain cannot see the resize
    control = NormalisedModel(tiny_model(), 255.0, 0.5, 0.25, "logits").eval()  # the same layers at 48x48
    assert conv_chain(control, control.inner, control.inner.features[3], faces(2)) is not None
    result = ascend(model, layer, [0, 2, 5], steps=4, seed=1)
    assert result.images.shape == (3, 48, 48) and 0 <= result.images.min() and result.images.max() <= 1
    # the reported activation is the filter's mean output when the ascended face goes through the wrapper
    with torch.no_grad(), CallRecorder([layer]) as recorder:
        model(torch.tensor(result.images, dtype=torch.float32)[:, None])
    means = recorder.outputs(layer)[0].mean(dim=(2, 3))
    assert np.allclose(result.activation, [means[0, 0], means[1, 2], means[2, 5]], atol=1e-5)
    assert feature_maps(model, layer, faces(1)).shape == (8, 64, 64)


def test_a_padded_model_gets_the_face_in_a_black_border():
    """With input_scale 255, mean 0.5 and std 0.25, black reaches the model as -2: the border, and nothing else."""
    model = small_model(Geometry(56, 56, 1, "pad"))
    with CallRecorder([model.inner[0]]) as recorder, torch.no_grad():
        model(torch.ones(1, 1, 48, 48))
    seen = recorder.calls[0].input[0, 0]
    assert torch.all(seen[4:52, 4:52] == 2.0) and (seen == -2.0).sum() == 56 * 56 - 48 * 48


@pytest.mark.parametrize("takes,configured,advice", [
    (Geometry(44, 44, 3), Geometry(), '(3, 44, 44): set model.input_channels = 3 and model.input_size = 44 (with '
                                      'model.resize = "center-crop" if it was trained on crops of the 48x48 face)'),
    (Geometry(32, 32, 1), Geometry(64, 64, 1, "pad"), '(1, 32, 32): set model.input_size = 32 and model.resize = '
                                                      '"bilinear" (or "center-crop" if it was trained on crops of the '
                                                      '48x48 face)'),
    (Geometry(64, 64, 1), Geometry(64, 64, 3), "(1, 64, 64): set model.input_channels = 1"),
])
def test_the_shape_probe_suggests_the_settings_that_fit(takes, configured, advice):
    model = NormalisedModel(small_model(takes).inner, 255.0, 0.0, 1.0, "logits", configured).eval()
    with pytest.raises(InputError) as error:
        check_model(model, Path("model.pt"), "logits")
    assert str(error.value) == f"model.pt: the model takes {advice}"


@pytest.mark.parametrize("build,lines,fed,sentences", [
    (rgb64_model, ["input_size = 64", "input_channels = 3"], "(3, 64, 64)",
     ["the model takes 3 × 64 × 64", "scaled to 64x64 (bilinear), and its gray is copied into each of the 3",
      "以雙線性內插縮放為 64x64，並把灰階複製到全部 3 個通道"]),
    (crop44_model, ["input_size = 44", 'resize = "center-crop"'], "(1, 44, 44)",
     ["the model takes 1 × 44 × 44", "each 48x48 face is cropped to its central 44x44.", "裁切出中央的 44x44。"]),
], ids=["rgb64", "crop44"])
def test_a_model_of_another_geometry_builds_end_to_end(tmp_path, build, lines, fed, sentences):
    project = write_project(tmp_path, build(), model_lines=tuple(lines), **quick_tables(QUICK))
    result = run_cli(project, "build", "--out", "site")
    assert result.returncode == 0, result.stderr
    site = project / "site"
    home = (site / "index.en.md").read_text() + (site / "index.md").read_text()
    assert all(sentence in home for sentence in sentences), home
    settings = (site / "reproducibility.md").read_text()
    assert all(line in settings for line in lines)
    assert len(list((site / "figures" / "q1").glob("*.png"))) == 21  # per class: saliency, methods, class average
    layers = run_cli(project, "layers")
    assert layers.returncode == 0 and f"fed to the model as {fed}" in layers.stdout
    side = fed.strip("()").split(", ")[1]
    assert f"out (4, {side}, {side})" in layers.stdout, layers.stdout
