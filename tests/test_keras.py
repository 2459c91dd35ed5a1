"""Keras models through Keras 3's PyTorch backend: built here, saved as .h5 and .keras, loaded back, and checked
against Keras itself (sub-models of a separately loaded copy) and against finite differences."""
from __future__ import annotations

import copy
import importlib.util

import numpy as np
import pytest
import torch

if importlib.util.find_spec("keras") is None:
    pytest.skip('keras is not installed: pip install -e ".[keras]"', allow_module_level=True)

from generator.explain.attributions import gradcam_raw  # noqa: E402
from generator.models import keras_model  # noqa: E402
from generator.models.hooks import CallRecorder, input_of  # noqa: E402
from generator.models.keras_model import DENSE_LOGITS, LOG_PROBABILITIES, LOGITS, load_keras  # noqa: E402
from keras_models import BUILDERS, NUMPY2_WARNING, faces, functional_model, keras, layers  # noqa: E402

pytestmark = pytest.mark.filterwarnings(NUMPY2_WARNING)

SEQUENTIAL_CONVS = [("c1", (8, 48, 48)), ("c2", (16, 24, 24))]
FUNCTIONAL_CONVS = [("stem", (8, 64, 64)), ("sep", (16, 64, 64)), ("res", (16, 32, 32)), ("dw", (16, 32, 32)),
                    ("cls", (7, 32, 32))]
CASES = [(kind, suffix) for kind in BUILDERS for suffix in (".h5", ".keras")]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """(kind, suffix, floatx) -> the path of that model saved in that format."""
    folder = tmp_path_factory.mktemp("keras")
    paths = {}
    for kind, build in BUILDERS.items():
        for floatx in ("float32", "float64"):
            model = build(floatx)
            for suffix in (".h5", ".keras"):
                paths[kind, suffix, floatx] = folder / f"{kind}_{floatx}{suffix}"
                model.save(paths[kind, suffix, floatx])
    return paths


def _reference_logits_model(path):
    """A separately loaded Keras copy, frozen, and a function of a channels-last batch giving (the layer outputs
    asked for, the logits), computed from Keras sub-models and the Dense weights, not through KerasModel."""
    reference = keras.saving.load_model(path, compile=False)
    reference.trainable = False
    last = reference.layers[-1]
    dense_softmax = isinstance(last, layers.Dense)

    def run(x_channels_last: torch.Tensor, *layer_names: str):
        if isinstance(reference, keras.Sequential):
            # A loaded Sequential's layers hold one graph node per layer added while it was rebuilt, and
            # ``layer.output`` is the first; a fresh call of the same layers gives one graph holding all outputs.
            inputs = keras.Input(reference.inputs[0].shape[1:])
            tensors, x = {}, inputs
            for layer in reference.layers[:-1]:
                x = tensors[layer.name] = layer(x)
            outputs, before_last = [tensors[n] for n in layer_names], x
        else:
            inputs, outputs = reference.inputs, [reference.get_layer(n).output for n in layer_names]
            before_last = last.input
        sub = keras.Model(inputs, [*outputs, before_last])
        out = sub(x_channels_last, training=False)
        *activations, before = out if isinstance(out, (list, tuple)) else [out]
        logits = before @ last.kernel.value + last.bias.value if dense_softmax else before
        return activations, logits

    return reference, run


@pytest.mark.parametrize("kind, suffix", CASES)
def test_loads_frozen_with_its_input_shape_and_keras_conv_names(saved, kind, suffix):
    model = load_keras(saved[kind, suffix, "float32"])
    assert model.output_kind == (DENSE_LOGITS if kind == "sequential" else LOGITS)
    assert model.input_shape == ((48, 48, 1) if kind == "sequential" else (64, 64, 1))
    listing = [(name, shape) for name, _, shape in model.conv_layers()]
    assert listing == (SEQUENTIAL_CONVS if kind == "sequential" else FUNCTIONAL_CONVS)
    assert all(model.layer(name) is layer for name, layer, _ in model.conv_layers())
    params = list(model.parameters())
    assert params and not any(p.requires_grad for p in params)


@pytest.mark.parametrize("kind, suffix", CASES)
def test_logits_equal_keras_pre_softmax_output(saved, kind, suffix):
    path = saved[kind, suffix, "float32"]
    model = load_keras(path)
    reference, run = _reference_logits_model(path)
    x = faces(model, count=5)
    with torch.inference_mode():
        ours = model(x)
        _, logits = run(x.permute(0, 2, 3, 1).contiguous())
        probabilities = reference(x.permute(0, 2, 3, 1).contiguous(), training=False)
    assert ours.shape == (5, 7)
    assert float(logits.std()) > 1e-3  # not a degenerate model whose logits agree trivially
    torch.testing.assert_close(ours, logits, atol=1e-5, rtol=0)
    torch.testing.assert_close(ours.softmax(dim=1), probabilities, atol=1e-6, rtol=0)


@pytest.fixture
def keras_float64(monkeypatch):
    """Keras 3 on the torch backend demotes float64 to float32 in its dtype promotion (as JAX does without x64),
    so matmul and BatchNormalization compute in float32 even in a float64 model, and finite differences would
    measure float32 rounding. The promotion table is lifted for the test; the models themselves are unchanged."""
    from keras.src.backend.common import dtypes
    monkeypatch.setitem(dtypes.BIT64_TO_BIT32_DTYPE, "float64", "float64")


@pytest.mark.parametrize("kind, suffix", CASES)
def test_input_gradients_match_finite_differences_in_float64(saved, keras_float64, kind, suffix):
    model = load_keras(saved[kind, suffix, "float64"])
    x = faces(model, count=2, dtype=torch.float64)
    targets = torch.tensor([3, 5])
    pixels = x.detach().clone().requires_grad_(True)
    (grads,) = torch.autograd.grad(model(pixels).gather(1, targets.view(-1, 1)).sum(), pixels)
    assert grads.dtype == torch.float64

    rng = np.random.default_rng(0)
    picks = [(int(rng.integers(2)), 0, int(rng.integers(x.shape[2])), int(rng.integers(x.shape[3])))
             for _ in range(40)]
    eps = 1e-6
    steps = torch.zeros(len(picks), *x.shape[1:], dtype=torch.float64)
    for k, (_, c, i, j) in enumerate(picks):
        steps[k, c, i, j] = eps
    images = x[[b for b, *_ in picks]]
    target = targets[[b for b, *_ in picks]].view(-1, 1)
    with torch.inference_mode():
        numeric = (model(images + steps).gather(1, target) - model(images - steps).gather(1, target))[:, 0] / (2 * eps)
    analytic = torch.stack([grads[p] for p in picks])
    scale = float(analytic.abs().max())
    assert scale > 1e-6  # the model's score does depend on these pixels
    torch.testing.assert_close(analytic, numeric, atol=1e-6 * scale, rtol=1e-5)


@pytest.mark.parametrize("kind, suffix", CASES)
def test_gradcam_through_the_hooks_equals_a_keras_submodel(saved, kind, suffix):
    path = saved[kind, suffix, "float32"]
    model = load_keras(path)
    _, run = _reference_logits_model(path)
    names = ["c1", "c2", "relu2"] if kind == "sequential" else ["stem_relu", "sep", "dw", "cls"]
    x, targets = faces(model, count=3, seed=1), torch.tensor([0, 3, 6])
    for name in names:
        ours = gradcam_raw(model, model.layer(name), x, targets)[:, 0]
        x_last = x.permute(0, 2, 3, 1).contiguous().requires_grad_(True)  # else frozen Keras builds no graph
        (activations,), logits = run(x_last, name)
        (grads,) = torch.autograd.grad(logits.gather(1, targets.view(-1, 1)).sum(), activations)
        expected = torch.relu((grads.mean(dim=(1, 2), keepdim=True) * activations).sum(dim=-1)).detach()
        assert ours.shape == expected.shape == activations.shape[:3]
        assert float(expected.max()) > 0, name
        torch.testing.assert_close(ours, expected, atol=1e-5 * float(expected.max()), rtol=1e-4, msg=name)


def test_the_recorded_output_is_channels_first_and_the_model_runs_on_from_it(saved):
    model = load_keras(saved["functional", ".keras", "float32"])
    layer = model.layer("sep")
    x = faces(model, count=2).requires_grad_(True)
    plain = model(x)
    with CallRecorder([layer]) as recorder:
        hooked = model(x)
    (recorded,) = recorder.outputs(layer)
    assert recorded.shape == (2, 16, 64, 64)  # the pointwise conv's 16 channels, channels-first
    torch.testing.assert_close(hooked, plain)
    (grads,) = torch.autograd.grad(hooked[:, 2].sum(), recorded)  # in the graph the scores came from
    assert float(grads.abs().sum()) > 0
    with CallRecorder([model.layer("sep_bn")]) as recorder:
        model(x)
    torch.testing.assert_close(input_of(model, model.layer("pool"), x), recorder.outputs(model.layer("sep_bn"))[0])


def test_linear_activation_shows_the_filters_own_response_and_is_restored(saved):
    model = load_keras(saved["sequential", ".keras", "float32"])
    conv = model.layer("c1")
    x = faces(model, count=2)
    with torch.inference_mode(), CallRecorder([conv]) as recorder:
        model(x)
        with keras_model.linear_activation(conv):
            model(x)
        model(x)
    rectified, own, again = recorder.outputs(conv)
    assert float(own.min()) < 0 <= float(rectified.min())
    torch.testing.assert_close(own.clamp_min(0), rectified)
    torch.testing.assert_close(again, rectified)


def test_randomisation_reinitialises_a_deep_copy_output_side_first(saved):
    model = load_keras(saved["functional", ".keras", "float32"])
    x = faces(model, count=2)
    before = model(x).detach()

    def randomised(seed):
        twin = copy.deepcopy(model)
        layers_ = twin.weight_layers()
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            for _, weights in layers_:
                weights.reset_parameters()
        return twin, layers_

    twin, layers_ = randomised(5)
    assert [name for name, _ in layers_] == ["cls", "dw", "res", "sep", "stem"]
    torch.testing.assert_close(model(x).detach(), before)  # the original is untouched
    assert not torch.allclose(twin(x).detach(), before, atol=1e-3)
    assert not any(p.requires_grad for p in twin.parameters())
    sep = twin.layer("sep")
    assert not np.allclose(keras.ops.convert_to_numpy(sep.pointwise_kernel),
                           keras.ops.convert_to_numpy(model.layer("sep").pointwise_kernel))
    same, _ = randomised(5)
    torch.testing.assert_close(same(x).detach(), twin(x).detach())  # seeded through torch's generator


def test_a_softmax_it_cannot_open_is_explained_on_log_probabilities(tmp_path):
    for end, kind in (("softmax_layer", LOG_PROBABILITIES), ("none", LOGITS)):
        path = tmp_path / f"{end}.keras"
        functional_model(end=end).save(path)
        model = load_keras(path)
        assert model.output_kind == kind
        x = faces(model, count=3)
        with torch.inference_mode():
            keras_out = keras.saving.load_model(path, compile=False)(x.permute(0, 2, 3, 1), training=False)
            expected = keras_out.log() if kind == LOG_PROBABILITIES else keras_out
            torch.testing.assert_close(model(x), expected, atol=1e-5, rtol=0)
