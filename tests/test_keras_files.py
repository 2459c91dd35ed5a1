"""Keras files the loader must refuse with one line, the backend it must not override, and a legacy file laid out
as Keras 2 saved it."""
from __future__ import annotations

import copy
import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

if importlib.util.find_spec("keras") is None:
    pytest.skip('keras is not installed: pip install -e ".[keras]"', allow_module_level=True)

import keras2_h5  # noqa: E402
from conftest import ROOT  # noqa: E402
from generator.errors import InputError  # noqa: E402
from generator.models.keras_model import LOGITS, load_keras  # noqa: E402
from keras_models import NUMPY2_WARNING, faces, keras, layers, sequential_model  # noqa: E402

pytestmark = pytest.mark.filterwarnings(NUMPY2_WARNING)


@pytest.fixture(scope="module")
def good_h5(tmp_path_factory):
    path = tmp_path_factory.mktemp("keras") / "sequential.h5"
    sequential_model().save(path)
    return path


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


def test_a_keras_file_without_the_extra_names_the_extra(good_h5, monkeypatch):
    monkeypatch.setitem(sys.modules, "keras", None)  # what `import keras` meets where keras is not installed
    with pytest.raises(InputError, match=r'sequential\.h5: a Keras model needs the keras extra, which is '
                                         r'not installed; install it with pip install -e "\.\[keras\]"'):
        load_keras(good_h5)


def test_another_keras_backend_is_named_not_overridden(good_h5):
    code = ("from generator.errors import InputError\nfrom generator.models.keras_model import load_keras\n"
            f"try:\n    load_keras({str(good_h5)!r})\n"
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


@pytest.mark.parametrize("keras_version", ["2.0.5", "2.15.0"])
def test_a_keras2_h5_file_loads_with_its_weights_names_and_softmax_opened(tmp_path, keras_version):
    """The acceptance case in miniature: a FER2013 mini-Xception as Keras 2.0.5 saved it (separable convs, a
    separate softmax layer, 64x64 input), written in Keras 2's layout (tests/keras2_h5.py); and as tf.keras 2.x
    saved it, with the plain conv's keys in each SeparableConv2D config, which Keras 3 alone refuses."""
    weights = keras2_h5.random_weights(seed=0)
    path = tmp_path / "fer2013_mini_XCEPTION.102-0.66.hdf5"
    keras2_h5.write(path, weights, keras_version)
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
    x = faces(model, count=4)
    with torch.inference_mode():
        expected = logits(x.permute(0, 2, 3, 1), training=False)
        torch.testing.assert_close(model(x), expected, atol=1e-5, rtol=0)
    assert float(expected.std()) > 1e-3
    with torch.inference_mode():  # the randomisation check deep-copies the model: its layers rebuild from config
        torch.testing.assert_close(copy.deepcopy(model)(x), expected, atol=1e-5, rtol=0)


def test_the_package_versions_list_keras_for_a_keras_model_only():
    from generator.store import versions
    names = lambda path: [name for name, _ in versions(path)]  # noqa: E731
    assert "keras" not in names("model.pt") and "h5py" not in names("")
    for path in ("model.h5", "model.HDF5", "model.keras"):
        assert names(path)[-2:] == ["keras", "h5py"], path
