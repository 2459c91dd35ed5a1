"""Keras models through Keras 3's PyTorch backend: built here, saved as .h5 and .keras, loaded back, and checked
against Keras itself (sub-models of a separately loaded copy) and against finite differences."""
from __future__ import annotations

import contextlib
import copy
import importlib.util
import os
import random
import subprocess
import sys

import numpy as np
import pytest
import torch

if importlib.util.find_spec("keras") is None:
    pytest.skip('keras is not installed: pip install -e ".[keras]"', allow_module_level=True)

from conftest import ROOT  # noqa: E402
from generator.errors import InputError  # noqa: E402
from generator.explain.attributions import gradcam_raw  # noqa: E402
import keras2_h5  # noqa: E402
from generator.models import keras_files, keras_model  # noqa: E402
from generator.models.hooks import CallRecorder, input_of  # noqa: E402
from generator.models.keras_model import DENSE_LOGITS, LOG_PROBABILITIES, LOGITS, load_keras  # noqa: E402

keras = keras_files.import_keras("tests")
layers = keras.layers
# Keras 3.15's torch backend calls np.array(tensor) in saving and set_weights, which numpy 2 flags; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy:DeprecationWarning")

SEQUENTIAL_CONVS = [("c1", (8, 48, 48)), ("c2", (16, 24, 24))]
FUNCTIONAL_CONVS = [("stem", (8, 64, 64)), ("sep", (16, 64, 64)), ("res", (16, 32, 32)), ("dw", (16, 32, 32)),
                    ("cls", (7, 32, 32))]


@contextlib.contextmanager
def _seeded(seed: int, floatx: str = "float32"):
    """Layers built in ``floatx``. keras.utils.set_random_seed seeds Python's, numpy's and torch's global
    generators, and Keras keeps its default dtype policy globally: give all of them back after."""
    python_state, numpy_state = random.getstate(), np.random.get_state()
    kept_floatx, kept_policy = keras.config.floatx(), keras.config.dtype_policy()
    keras.config.set_floatx(floatx)
    keras.config.set_dtype_policy(floatx)  # the policy, once read, no longer follows floatx
    try:
        with torch.random.fork_rng():
            keras.utils.set_random_seed(seed)
            yield
    finally:
        keras.config.set_floatx(kept_floatx)
        keras.config.set_dtype_policy(kept_policy)
        random.setstate(python_state)
        np.random.set_state(numpy_state)


def _trained_looking_batchnorm(model, seed: int) -> None:
    """Statistics and scales away from 0 and 1, so that inference-mode BatchNorm is tested for real."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, n), rng.normal(0, 0.3, n), rng.normal(0, 0.5, n),
                               rng.uniform(0.5, 2.0, n)])


def sequential_model(floatx: str = "float32"):
    """The course-homework shape: conv, BatchNorm, max-pool, Dense, and a Dense softmax at the end."""
    with _seeded(11, floatx):
        model = keras.Sequential([
            keras.Input((48, 48, 1)),
            layers.Conv2D(8, 3, padding="same", activation="relu", name="c1"),
            layers.BatchNormalization(name="bn1"),
            layers.MaxPooling2D(name="pool1"),
            layers.Conv2D(16, 3, padding="same", name="c2"),
            layers.BatchNormalization(name="bn2"),
            layers.Activation("relu", name="relu2"),
            layers.MaxPooling2D(name="pool2"),
            layers.Flatten(name="flatten"),
            layers.Dense(32, activation="relu", name="fc"),
            layers.Dense(7, activation="softmax", name="out"),
        ])
        _trained_looking_batchnorm(model, 11)
    return model


def functional_model(floatx: str = "float32", end: str = "activation"):
    """The small Xception-style shape at 64x64: separable and depthwise convs, a strided 1x1 residual, an Add,
    a class conv, global pooling and a separate softmax layer (``end``: "activation", "softmax_layer", "none")."""
    with _seeded(12, floatx):
        inputs = keras.Input((64, 64, 1))
        x = layers.Conv2D(8, 3, padding="same", name="stem")(inputs)
        x = layers.BatchNormalization(name="stem_bn")(x)
        x = layers.Activation("relu", name="stem_relu")(x)
        residual = layers.Conv2D(16, 1, strides=2, padding="same", name="res")(x)
        x = layers.SeparableConv2D(16, 3, padding="same", name="sep")(x)
        x = layers.BatchNormalization(name="sep_bn")(x)
        x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool")(x)
        x = layers.Add(name="add")([x, residual])
        x = layers.DepthwiseConv2D(3, padding="same", activation="relu", name="dw")(x)
        x = layers.Conv2D(7, 3, padding="same", name="cls")(x)
        x = layers.GlobalAveragePooling2D(name="gap")(x)
        if end == "activation":
            x = layers.Activation("softmax", name="predictions")(x)
        elif end == "softmax_layer":
            x = layers.Softmax(name="predictions")(x)
        model = keras.Model(inputs, x)
        _trained_looking_batchnorm(model, 12)
    return model


BUILDERS = {"sequential": sequential_model, "functional": functional_model}
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


def _faces(model, count: int = 3, seed: int = 0, dtype=torch.float32) -> torch.Tensor:
    height, width, channels = model.input_shape
    return torch.rand(count, channels, height, width, generator=torch.Generator().manual_seed(seed), dtype=dtype)


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
    x = _faces(model, count=5)
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
    x = _faces(model, count=2, dtype=torch.float64)
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
    x, targets = _faces(model, count=3, seed=1), torch.tensor([0, 3, 6])
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
    x = _faces(model, count=2).requires_grad_(True)
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
    x = _faces(model, count=2)
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
    x = _faces(model, count=2)
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
        x = _faces(model, count=3)
        with torch.inference_mode():
            keras_out = keras.saving.load_model(path, compile=False)(x.permute(0, 2, 3, 1), training=False)
            expected = keras_out.log() if kind == LOG_PROBABILITIES else keras_out
            torch.testing.assert_close(model(x), expected, atol=1e-5, rtol=0)


def _saved_model_folder(tmp_path):
    folder = tmp_path / "exported"
    (folder / "variables").mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(b"\x08\x01")
    return folder


def _weights_only(tmp_path):
    sequential_model().save_weights(tmp_path / "w.weights.h5")
    return (tmp_path / "w.weights.h5").rename(tmp_path / "weights.h5")


def _channels_first(tmp_path):
    model = keras.Sequential([keras.Input((1, 48, 48)), layers.Conv2D(4, 3, data_format="channels_first", name="cf"),
                              layers.GlobalAveragePooling2D(data_format="channels_first"), layers.Dense(7)])
    model.save(tmp_path / "cf.keras")
    return tmp_path / "cf.keras"


def _text(name):
    def write(tmp_path):
        (tmp_path / name).write_text("epoch 12: val acc 0.61\n")
        return tmp_path / name
    return write


@pytest.mark.parametrize("make, expected", [
    (_saved_model_folder, r"exported: a TensorFlow SavedModel folder, which is not supported .*expected a \.keras "
                          r"or \.h5 file; .*load_model\('exported'\)\.save\('model\.keras'\)"),
    (_weights_only, r"weights\.h5: holds only weights, no architecture .*expected a whole model saved with "
                    r"model\.save"),
    (_channels_first, r"cf\.keras: layer 'cf' is channels_first, expected channels_last"),
    (_text("notes.h5"), r"notes\.h5: not an HDF5 file, expected a Keras model saved with model\.save"),
    (_text("notes.keras"), r"notes\.keras: not a \.keras archive"),
], ids=["saved_model", "weights_only", "channels_first", "not_hdf5", "not_zip"])
def test_bad_keras_files_stop_with_one_line(tmp_path, make, expected):
    path = make(tmp_path)
    with pytest.raises(InputError, match=expected) as caught:
        load_keras(path)
    assert "\n" not in str(caught.value) and str(tmp_path) in str(caught.value)


def test_a_keras_file_without_the_extra_names_the_extra(saved, monkeypatch):
    monkeypatch.setitem(sys.modules, "keras", None)  # what `import keras` meets where keras is not installed
    path = saved["sequential", ".h5", "float32"]
    with pytest.raises(InputError, match=r'sequential_float32\.h5: a Keras model needs the keras extra, which is '
                                         r'not installed; install it with pip install -e "\.\[keras\]"'):
        load_keras(path)


def test_another_keras_backend_is_named_not_overridden(saved):
    code = ("from generator.errors import InputError\nfrom generator.models.keras_model import load_keras\n"
            f"try:\n    load_keras({str(saved['sequential', '.h5', 'float32'])!r})\n"
            "except InputError as error:\n    print(error)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                            env=dict(os.environ, PYTHONPATH=str(ROOT), KERAS_BACKEND="jax"))
    assert result.returncode == 0, result.stderr
    assert "KERAS_BACKEND is set to 'jax', expected 'torch'" in result.stdout
    assert result.stdout.count("\n") == 1


def _keras3_twin(weights):
    """The architecture of keras2_h5.MINI_XCEPTION built anew with Keras 3's own API, given the same weights."""
    inputs = keras.Input(keras2_h5.INPUT_SHAPE)
    tensors = {"input_1": inputs}
    for name, kind, spec, sources in keras2_h5.MINI_XCEPTION:
        if kind == "Conv2D":
            layer = layers.Conv2D(spec["filters"], tuple(spec["kernel_size"]),
                                  strides=tuple(spec.get("strides", (1, 1))), padding=spec.get("padding", "valid"),
                                  use_bias=spec["use_bias"], name=name)
        elif kind == "SeparableConv2D":
            layer = layers.SeparableConv2D(spec["filters"], 3, padding="same", use_bias=False, name=name)
        elif kind == "MaxPooling2D":
            layer = layers.MaxPooling2D(3, strides=2, padding="same", name=name)
        elif kind == "Activation":
            layer = layers.Activation(spec["activation"], name=name)
        else:
            layer = getattr(layers, kind)(name=name)
        inbound = [tensors[s] for s in sources]
        tensors[name] = layer(inbound if kind == "Add" else inbound[0])
    twin = keras.Model(inputs, tensors["predictions"])
    for name, arrays in weights.items():
        if arrays:
            twin.get_layer(name).set_weights([value for _, value in arrays])
    return twin


def test_a_keras2_h5_file_loads_with_its_weights_names_and_softmax_opened(tmp_path):
    """The acceptance case in miniature: a FER2013 mini-Xception as Keras 2.0.5 saved it (separable convs, a
    separate softmax layer, 64x64 input), written in Keras 2's layout (tests/keras2_h5.py)."""
    weights = keras2_h5.random_weights(seed=0)
    path = tmp_path / "fer2013_mini_XCEPTION.102-0.66.hdf5"
    keras2_h5.write(path, weights)
    model = load_keras(path)
    assert model.output_kind == LOGITS
    assert model.input_shape == (64, 64, 1)
    assert [(name, shape) for name, _, shape in model.conv_layers()] == [
        ("conv2d_1", (8, 62, 62)), ("separable_conv2d_1", (16, 62, 62)), ("separable_conv2d_2", (16, 62, 62)),
        ("conv2d_2", (16, 31, 31)), ("conv2d_3", (7, 31, 31))]
    for name, arrays in weights.items():  # each array reached the layer of its own name
        loaded = [keras.ops.convert_to_numpy(v) for v in model.layer(name).weights]
        assert len(loaded) == len(arrays) and all(np.array_equal(a, v) for (_, v), a in zip(arrays, loaded)), name
    twin = _keras3_twin(weights)
    logits = keras.Model(twin.inputs, twin.get_layer("predictions").input)
    x = _faces(model, count=4)
    with torch.inference_mode():
        expected = logits(x.permute(0, 2, 3, 1), training=False)
        torch.testing.assert_close(model(x), expected, atol=1e-5, rtol=0)
    assert float(expected.std()) > 1e-3
