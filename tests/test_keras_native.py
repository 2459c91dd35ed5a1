"""The native translation of Keras models (generator/models/keras_translate.py): its scores against Keras's own
pre-softmax output, the two traps (asymmetric "same" padding, channels-last flattening), the layers it covers,
the fallback to the Keras path with its one line, and the names and kinds the rest of the generator sees."""
from __future__ import annotations

import copy
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

if importlib.util.find_spec("keras") is None:
    pytest.skip('keras is not installed: pip install -e ".[keras]"', allow_module_level=True)

import keras2_h5  # noqa: E402
from generator.config import ModelSettings  # noqa: E402
from generator.explain.attributions import gradcam_raw  # noqa: E402
from generator.models import keras_translate  # noqa: E402
from generator.models.fast import inference_model  # noqa: E402
from generator.models.keras_layers import same_padding  # noqa: E402
from generator.models.keras_model import KerasModel, _without_keras2_only_keys, load_keras  # noqa: E402
from generator.models.keras_translate import TranslatedModel, native_or_keras  # noqa: E402
from generator.models.layers import conv_listing, default_gradcam_layer, named_layers  # noqa: E402
from generator.models.load import load_model  # noqa: E402
from keras_models import (NUMPY2_WARNING, faces, functional_model, keras, keras_twin, layers,  # noqa: E402
                          mini_xception, sequential_model, trap_flatten_model, trap_padding_model, zoo_model)

pytestmark = pytest.mark.filterwarnings(NUMPY2_WARNING)


def _pre_softmax(model, x_channels_last: torch.Tensor) -> torch.Tensor:
    """Keras's own output before the model's final softmax, from a fresh copy of the model: the input of a final
    Activation('softmax'), or the last Dense's kernel applied by hand; the output itself where there is none."""
    last = model.layers[-1]
    name = getattr(getattr(last, "activation", None), "__name__", "")
    with torch.inference_mode():
        if type(last).__name__ == "Activation" and name == "softmax":
            return keras.Model(model.inputs, last.input)(x_channels_last, training=False)
        if type(last).__name__ == "Dense" and name == "softmax":
            before = keras.Model(model.inputs, last.input)(x_channels_last, training=False)
            return before @ last.kernel.value + last.bias.value
        return model(x_channels_last, training=False)


def _fresh(path):
    """The model as Keras loads it, not the copy whose softmax the loader opened (tf.keras's extra keys taken out
    as the loader takes them out)."""
    with _without_keras2_only_keys(Path(path)) as readable:
        return keras.saving.load_model(readable, compile=False)


def _models(tmp):
    """Every Keras model of the tests, saved as a user would have it: name -> path."""
    from generator.models.train import DEMO_WEIGHTS  # noqa: F401 -- the demo checkpoint the twin copies
    paths = {}
    demo = load_model(ModelSettings(), Path(".")).model.inner
    for name, model in (("demo_twin.keras", keras_twin(demo)), ("sequential.h5", sequential_model()),
                        ("sequential.keras", sequential_model()), ("functional.h5", functional_model()),
                        ("functional.keras", functional_model()),
                        ("functional_none.keras", functional_model(end="none")),
                        ("functional_softmax_layer.keras", functional_model(end="softmax_layer")),
                        ("mini_xception.keras", mini_xception()), ("trap_padding.keras", trap_padding_model()),
                        ("trap_flatten.keras", trap_flatten_model()), ("zoo.keras", zoo_model())):
        model.save(tmp / name)
        paths[name] = tmp / name
    for version in ("2.0.5", "2.3.1"):
        paths[f"keras2_{version}.h5"] = tmp / f"keras2_{version}.h5"
        keras2_h5.write(paths[f"keras2_{version}.h5"], keras2_h5.random_weights(0), version)
    return paths


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    return _models(tmp_path_factory.mktemp("native"))


MODELS = ["demo_twin.keras", "sequential.h5", "sequential.keras", "functional.h5", "functional.keras",
          "functional_none.keras", "functional_softmax_layer.keras", "mini_xception.keras", "trap_padding.keras",
          "trap_flatten.keras", "zoo.keras", "keras2_2.0.5.h5", "keras2_2.3.1.h5"]


@pytest.mark.parametrize("name", MODELS)
def test_translated_scores_equal_keras_pre_softmax_output(saved, name):
    path = saved[name]
    lines = []
    reference = load_keras(path)
    native = native_or_keras(reference, path, lines.append)
    assert lines == [] and isinstance(native, TranslatedModel), lines
    x = faces(native, count=6, seed=3)
    with torch.inference_mode():
        ours = native(x)
        fresh = _fresh(path)
        expected = _pre_softmax(fresh, x.permute(0, 2, 3, 1).contiguous())
    if native.output_kind == "log-probabilities":
        expected = expected.clamp_min(1e-12).log()
    assert float(expected.std()) > 1e-3  # a model whose scores do depend on the face
    torch.testing.assert_close(ours, expected.to(ours.dtype), atol=1e-5, rtol=0)
    assert not any(p.requires_grad for p in native.parameters())


def test_same_padding_is_asymmetric_for_even_kernels_and_strides():
    assert same_padding(48, 3, 1) == (1, 1)
    assert same_padding(48, 4, 1) == (1, 2)           # even kernel: the odd pixel at the end
    assert same_padding(48, 3, 2) == (0, 1)           # stride 2 on an even side
    assert same_padding(47, 3, 2) == (1, 1)
    assert same_padding(48, 1, 2) == (0, 0)
    assert same_padding(48, 2, 2) == (0, 0)
    assert same_padding(47, 2, 2) == (0, 1)


def test_padding_trap_model_pads_as_keras_and_max_pools_over_minus_infinity(saved):
    """Even kernels, strides 2, odd sides, pooling over negative maps (zero padding would win the max there)."""
    native = translated(saved["trap_padding.keras"])
    x = faces(native, count=4, seed=5)
    with torch.inference_mode():
        expected = _pre_softmax(_fresh(saved["trap_padding.keras"]),
                                x.permute(0, 2, 3, 1).contiguous())
        torch.testing.assert_close(native(x), expected, atol=1e-5, rtol=0)
        pool = native.layer("pool_same")
        reached = []
        handle = pool.register_forward_hook(lambda _m, args, out: reached.append((args[0], out)))
        native(x)
        handle.remove()
    into, out = reached[0]
    assert pool._pads(into) == ((0, 1), (0, 1))  # the odd pixel of padding at the bottom and the right
    assert float(into.max()) < 0  # every value negative: a zero pad would show up as zeros in the output
    assert float(out.max()) < 0


def test_flatten_trap_dense_weights_expect_channels_last_order(saved, monkeypatch):
    native = translated(saved["trap_flatten.keras"])
    x = faces(native, count=4, seed=6)
    with torch.inference_mode():
        expected = _pre_softmax(_fresh(saved["trap_flatten.keras"]),
                                x.permute(0, 2, 3, 1).contiguous())
        torch.testing.assert_close(native(x), expected, atol=1e-5, rtol=0)
        from generator.models import keras_ops
        monkeypatch.setattr(keras_ops.Flatten, "forward", lambda self, t: t.flatten(1))  # channels-first order
        assert float((native(x) - expected).abs().max()) > 1e-2  # the order matters: the test can fail
        lines = []
        fallback = native_or_keras(load_keras(saved["trap_flatten.keras"]), "trap.keras", lines.append)
    assert type(fallback) is KerasModel
    assert len(lines) == 1 and lines[0].startswith("trap.keras: the native translation's scores differ from "
                                                   "Keras's by ") and lines[0].endswith("running through Keras (slower)")


def translated(path) -> TranslatedModel:
    lines = []
    native = native_or_keras(load_keras(path), path, lines.append)
    assert lines == [] and isinstance(native, TranslatedModel), lines
    return native


@keras.saving.register_keras_serializable(package="tests")
class MyLayer(keras.layers.Layer):
    def call(self, x):
        return x * 2.0


def test_an_unknown_layer_keeps_the_keras_path_with_one_line(tmp_path):
    inputs = keras.Input((48, 48, 1))
    x = layers.Conv2D(4, 3, name="c")(inputs)
    x = MyLayer(name="custom_1")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    keras.Model(inputs, layers.Dense(7, activation="softmax", name="out")(x)).save(tmp_path / "model.h5")
    lines = []
    loaded = load_model(ModelSettings(path="model.h5"), tmp_path, notice=lines.append)
    path = (tmp_path / "model.h5").resolve()
    assert lines == [f"{path}: layer 'custom_1' (MyLayer) has no native translation; running through Keras (slower)"]
    assert type(loaded.model.inner) is KerasModel
    assert loaded.model(torch.rand(2, 1, 48, 48)).shape == (2, 7)


@pytest.mark.parametrize("name", ["sequential.keras", "functional.h5", "mini_xception.keras", "keras2_2.3.1.h5"])
def test_the_layers_listing_names_and_kinds_are_keras_own(saved, name):
    native = load_model(ModelSettings(path=name), saved[name].parent).model
    assert isinstance(native.inner, TranslatedModel)
    # the Keras path inside the same wrapper (its geometry resizes the 48x48 face to a 64x64 model's input)
    reference = load_model(ModelSettings(path=name), saved[name].parent).model
    reference.inner = load_keras(saved[name])
    ours, theirs = conv_listing(native), conv_listing(reference)
    assert [(c.name, c.kind, c.in_channels, c.shape) for c in ours] == \
           [(c.name, c.kind, c.in_channels, c.shape) for c in theirs]
    assert [(n, type(m).__name__) for n, m in named_layers(native)] == \
           [(n, type(m).__name__) for n, m in named_layers(reference)]
    assert default_gradcam_layer(native)[0] == default_gradcam_layer(reference)[0]


def test_gradcam_and_a_separable_conv_match_the_keras_path(saved):
    path = saved["functional.keras"]
    native, reference = translated(path), load_keras(path)
    x, targets = faces(native, count=3, seed=1), torch.tensor([0, 3, 6])
    for name in ("stem_bn", "stem_relu", "sep", "dw", "cls"):
        ours = gradcam_raw(native, native.layer(name), x, targets)
        theirs = gradcam_raw(reference, reference.layer(name), x, targets)
        torch.testing.assert_close(ours, theirs, atol=1e-5 * float(theirs.abs().max()), rtol=1e-4, msg=name)
    assert dict((n, s) for n, _, s in native.conv_layers())["sep"] == (16, 64, 64)  # the pointwise channels


def test_randomisation_draws_the_keras_paths_weights(saved):
    path = saved["functional.keras"]
    x = faces(load_keras(path), count=2)

    def randomised(model):
        twin = copy.deepcopy(model)
        with torch.random.fork_rng():
            torch.manual_seed(5)
            for _, weights in twin.weight_layers():
                weights.reset_parameters()
        return twin

    native, reference = translated(path), load_keras(path)
    assert [n for n, _ in native.weight_layers()] == [n for n, _ in reference.weight_layers()]
    twin_native, twin_reference = randomised(native), randomised(reference)
    with torch.inference_mode():
        torch.testing.assert_close(twin_native(x), twin_reference(x), atol=1e-5, rtol=0)
        assert not torch.allclose(twin_native(x), native(x), atol=1e-3)


def test_the_fast_path_takes_the_translation_and_keeps_its_scores(saved):
    wrapped = load_model(ModelSettings(path="mini_xception.keras"), saved["mini_xception.keras"].parent).model
    lines = []
    fast = inference_model(wrapped, lines.append)
    assert lines == [] and isinstance(fast, torch.jit.ScriptModule)
    x = torch.rand(6, 1, 48, 48, generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        torch.testing.assert_close(fast(x), wrapped(x), atol=1e-4, rtol=0)


def test_input_gradients_of_the_translation_equal_the_keras_paths(saved):
    path = saved["keras2_2.0.5.h5"]
    native, reference = translated(path), load_keras(path)
    x = faces(native, count=2, seed=4)
    grads = []
    for model in (native, reference):
        pixels = x.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(model(pixels)[:, 2].sum(), pixels)
        grads.append(grad)
    torch.testing.assert_close(grads[0], grads[1], atol=1e-5 * float(grads[1].abs().max()), rtol=1e-4)
    assert float(np.abs(grads[0].numpy()).max()) > 0


@pytest.mark.parametrize("name, covered", [("demo_twin.keras", True), ("sequential.keras", True),
                                           ("functional.keras", False)])
def test_incremental_occlusion_covers_a_chain_shaped_translation(saved, name, covered):
    """As for the same network in PyTorch: a chain of plain convs, BatchNorm, ReLU and pooling at 48x48 is
    covered (the demo CNN's twin, the Sequential); a graph with branches (the functional model) is not."""
    from generator.explain import occlusion_incremental as incremental
    from generator.explain.occlusion import batched_heatmap, occlusion
    wrapped = load_model(ModelSettings(path=name), saved[name].parent).model
    assert isinstance(wrapped.inner, TranslatedModel)
    assert (incremental.prepare(wrapped) is not None) == covered
    if not covered:
        return
    face = torch.rand(48, 48, generator=torch.Generator().manual_seed(8)).numpy()
    result = occlusion(wrapped, face, 3, box=15, stride=4, fill=1.0)
    expected, baseline = batched_heatmap(load_keras_wrapped(saved[name]), torch.from_numpy(face)[None], 3,
                                         np.arange(0, 48, 4), 15, 1.0, 64)
    np.testing.assert_allclose(result.heatmap, expected, atol=2e-6)
    assert abs(result.baseline - baseline) < 2e-6


def load_keras_wrapped(path):
    """The Keras path inside the same wrapper as the translation (identity geometry at 48x48)."""
    model = load_model(ModelSettings(path=path.name), path.parent).model
    model.inner = load_keras(path)
    return model


@pytest.mark.parametrize("name", ["trap_padding.keras", "zoo.keras", "functional.keras"])
def test_the_native_layers_show_their_weights_in_keras_layout(saved, name):
    """Code written against a Keras layer (``layer.kernel``, a separable conv's two kernels) reads the same arrays
    from its native twin, depth multipliers included."""
    native, fresh = translated(saved[name]), _fresh(saved[name])
    seen = 0
    for layer_name, module in native.named_layers():
        layer = fresh.get_layer(layer_name)
        for attr in ("kernel", "depthwise_kernel", "pointwise_kernel"):
            if type(layer).__name__ in ("Conv2D", "Dense", "DepthwiseConv2D", "SeparableConv2D") \
                    and hasattr(layer, attr):
                theirs = torch.as_tensor(keras.ops.convert_to_numpy(getattr(layer, attr)))
                torch.testing.assert_close(getattr(module, attr), theirs, atol=0, rtol=0, msg=layer_name)
                seen += 1
    assert seen >= 3
