"""Keras models for the tests, built with fixed seeds: the course-homework Sequential at 48x48 and a small
Xception-style functional model at 64x64. Import it only where keras is installed (the test modules skip first)."""
from __future__ import annotations

import contextlib
import random

import numpy as np
import torch

from generator.models.keras_files import import_keras

keras = import_keras("tests")
layers = keras.layers
# Keras 3.15's torch backend calls np.array(tensor) in saving and set_weights, which numpy 2 flags; not ours to fix.
NUMPY2_WARNING = "ignore:__array__ implementation doesn't accept a copy:DeprecationWarning"


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


def faces(model, count: int = 3, seed: int = 0, dtype=torch.float32) -> torch.Tensor:
    height, width, channels = model.input_shape
    return torch.rand(count, channels, height, width, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def keras_twin(fer_cnn):
    """The same network as a ``generator.models.cnn.FerCNN`` (the demo CNN, say) written as a Keras Sequential
    at 48x48x1, with its weights: conv kernels (out, in, h, w) -> (h, w, in, out), BatchNorm's four arrays, and
    the first Dense's rows reordered from PyTorch's (channel, row, column) flattening to Keras's (row, column,
    channel). It ends in a Dense softmax, as course homework does."""
    def array(tensor):
        return tensor.detach().double().numpy()

    stack, weights, size = [keras.Input((48, 48, 1))], [], 48
    for k, module in enumerate(fer_cnn.features):
        kind = type(module).__name__
        if kind == "Conv2d":
            stack.append(layers.Conv2D(module.out_channels, 3, padding="same", use_bias=False, name=f"conv{k}"))
            weights.append([array(module.weight).transpose(2, 3, 1, 0)])
        elif kind == "BatchNorm2d":
            stack.append(layers.BatchNormalization(epsilon=module.eps, name=f"bn{k}"))
            weights.append([array(module.weight), array(module.bias), array(module.running_mean),
                            array(module.running_var)])
        elif kind == "ReLU":
            stack.append(layers.Activation("relu", name=f"relu{k}"))
        elif kind == "MaxPool2d":
            stack.append(layers.MaxPooling2D(2, name=f"pool{k}"))
            size //= 2
    hidden, scores = [m for m in fer_cnn.classifier if type(m).__name__ == "Linear"]
    channels = hidden.in_features // (size * size)
    stack += [layers.Flatten(name="flatten"), layers.Dense(hidden.out_features, activation="relu", name="fc"),
              layers.Dense(scores.out_features, activation="softmax", name="predictions")]
    first = array(hidden.weight).reshape(-1, channels, size, size).transpose(2, 3, 1, 0).reshape(hidden.in_features, -1)
    weights += [[first, array(hidden.bias)], [array(scores.weight).T, array(scores.bias)]]
    model = keras.Sequential(stack)
    for layer, arrays in zip([layer for layer in model.layers if layer.weights], weights):
        layer.set_weights(arrays)
    return model
